package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
)

// FieldError is one configuration problem. Path is the YAML path of the field, e.g.
// "lines[1].msisdn" or "yna.client_secret_env" ("" for a problem of the file as a whole,
// such as a YAML syntax error). Line is the line of the file the field is written on (or
// of its section when the field is missing; 0 when not known, e.g. nothing of it is in
// the file). Msg says what is wrong in plain words.
type FieldError struct {
	Path string
	Line int
	Msg  string

	kind error // ErrSyntax for YAML-level problems (errors.Is)
}

// Error is "path (line N): message" (parts that are unknown left out).
func (e *FieldError) Error() string {
	where := e.Path
	switch {
	case e.Line > 0 && where != "":
		where += " (line " + strconv.Itoa(e.Line) + ")"
	case e.Line > 0:
		where = "line " + strconv.Itoa(e.Line)
	case where == "":
		return e.Msg
	}
	return where + ": " + e.Msg
}

// Unwrap returns ErrSyntax for YAML syntax, unknown-option and wrong-kind problems.
func (e *FieldError) Unwrap() error { return e.kind }

// ErrSyntax is wrapped by the YAML-level problems: syntax errors, unknown options and
// values of the wrong kind (a word where a number goes, a duration without a unit, ...).
var ErrSyntax = errors.New("config: invalid YAML")

// problems collects FieldErrors.
type problems []error

func (p *problems) add(path, format string, args ...any) {
	*p = append(*p, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (p problems) err() error { return errors.Join(p...) }

// FieldErrors returns every *FieldError in err (a joined error from Validate/Parse/Load).
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if fe, ok := e.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// sortProblems orders problems by line (those without a line last), then path.
func sortProblems(ps []*FieldError) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if (a.Line == 0) != (b.Line == 0) {
			return a.Line != 0
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Path < b.Path
	})
}
