package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The YAML layer of the checks. The file is parsed into a node tree first; walking it
// against the Config type finds every unknown option and every value of the wrong kind
// (each with its field path and line, in plain words), and remembers the line of every
// option so the value checks that come later can name it too. Only then is the tree
// decoded into Config (the bad values stay zero and their value checks are skipped).

// lines maps a YAML path ("sip.listen[0].bind") to the line it is written on.
type lines map[string]int

// at returns the line of path, or of its nearest ancestor written in the file (a
// missing option is reported at its section); 0 when none is.
func (l lines) at(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if n, ok := l[p]; ok {
			return n
		}
	}
	return 0
}

// LineOf returns the line of the file the option at path (e.g. "store.path") is written
// on, or of its nearest section written in the file; 0 when unknown. For problems found
// after Load (daemon.Preflight) to say where, as Load's own do.
func (c *Config) LineOf(path string) int { return c.lines.at(path) }

// parentPath is "a.b" for "a.b.c" and "a.b[2]", "" for "a".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// within reports whether path is p or below it.
func within(path, p string) bool {
	return path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[")
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a YAML parser error into a problem with its line.
func syntaxError(err error) *FieldError {
	msg := err.Error()
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	return &FieldError{Line: line, Msg: "not valid YAML: " + msg, kind: ErrSyntax}
}

// decode parses data into c. Syntax errors, unknown options and values of the wrong kind
// are FieldErrors wrapping ErrSyntax; the returned lines locate every option written.
// Options with a YAML problem are left zero in c (and are listed in bad).
func decode(data []byte, c *Config) (lines, []*FieldError) {
	ln := lines{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return ln, nil // empty file: the value checks say what is missing
		}
		return ln, []*FieldError{syntaxError(err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		fe := &FieldError{Line: extra.Line, Msg: "a second YAML document (---): the file must hold one", kind: ErrSyntax}
		if err != nil {
			fe = syntaxError(err)
		}
		return ln, []*FieldError{fe}
	}
	w := &walker{lines: ln}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	w.walk(root, reflect.TypeOf(Config{}), "")
	// Every bad value is now a null node and every unknown or repeated option is gone, so
	// the decode sets everything else and leaves the bad options zero.
	if err := root.Decode(c); err != nil { // the walk mirrors the decoder: should not happen
		w.probs = append(w.probs, &FieldError{Line: root.Line, Msg: err.Error(), kind: ErrSyntax})
	}
	return ln, w.probs
}

// fieldByKey finds the struct field whose yaml tag is key.
func fieldByKey(t reflect.Type, key string) (int, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name == key {
			return i, true
		}
	}
	return 0, false
}

// yamlKeysOf lists the yaml keys of struct type t in declaration order.
func yamlKeysOf(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); f.IsExported() && name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

type walker struct {
	lines lines
	probs []*FieldError
}

// add records a problem with node n and turns n into a null value, so the decode
// leaves the option at zero instead of failing.
func (w *walker) add(n *yaml.Node, path, format string, args ...any) {
	w.probs = append(w.probs, &FieldError{Path: path, Line: n.Line, Msg: fmt.Sprintf(format, args...), kind: ErrSyntax})
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
}

var durationType = reflect.TypeOf(time.Duration(0))

// isNull: an empty value or ~/null, which leaves the option at its default.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe says in plain words what n is, for "found ..." messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a group of options (key: value lines)"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if isNull(n) {
		return
	}
	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			w.add(n, path, "expected a duration such as 30s, 5m or 1h30m, found %s", describe(n))
			return
		}
		var d time.Duration
		if err := n.Decode(&d); err != nil {
			if _, nerr := strconv.ParseFloat(n.Value, 64); nerr == nil {
				w.add(n, path, "%s has no unit: write a duration such as %ss, 5m or 1h30m (units: ms, s, m, h)", n.Value, n.Value)
			} else {
				w.add(n, path, "%q is not a duration: write a number and a unit, such as 30s, 5m or 1h30m (units: ms, s, m, h)", n.Value)
			}
		}
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.add(n, path, "expected a group of options (%s), found %s", keyHint(t), describe(n))
			return
		}
		w.mapping(n, t, path)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.add(n, path, "expected a list (write [a, b] or one \"- item\" line per entry), found %s", describe(n))
			return
		}
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			w.lines[p] = item.Line
			w.walk(item, t.Elem(), p)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			w.add(n, path, "expected a single value, found %s", describe(n))
			return
		}
		v := reflect.New(t)
		if err := n.Decode(v.Interface()); err != nil {
			switch t.Kind() {
			case reflect.Bool:
				w.add(n, path, "%q is not true or false", n.Value)
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
				reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
				w.add(n, path, "%q is not a whole number", n.Value)
			default:
				w.add(n, path, "%q is not a valid value", n.Value)
			}
		}
	}
}

// mapping walks the options of a struct section. Unknown and repeated options are
// reported and dropped from n.
func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string) {
	seen := map[string]int{}
	kept := n.Content[:0:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "<<" && k.ShortTag() == "!!merge" { // merge key: the aliased options apply here
			for _, m := range mergeSources(v) {
				w.mapping(m, t, path)
			}
			kept = append(kept, k, v)
			continue
		}
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		if first, dup := seen[k.Value]; dup {
			w.probs = append(w.probs, &FieldError{Path: p, Line: k.Line, Msg: fmt.Sprintf("set twice (first on line %d)", first), kind: ErrSyntax})
			continue
		}
		seen[k.Value] = k.Line
		f, ok := fieldByKey(t, k.Value)
		if !ok {
			w.probs = append(w.probs, &FieldError{Path: p, Line: k.Line,
				Msg: fmt.Sprintf("unknown option %q%s", k.Value, suggest(k.Value, t, path)), kind: ErrSyntax})
			continue
		}
		w.lines[p] = k.Line
		w.walk(v, t.Field(f).Type, p)
		kept = append(kept, k, v)
	}
	n.Content = kept
}

func mergeSources(v *yaml.Node) []*yaml.Node {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	switch v.Kind {
	case yaml.MappingNode:
		return []*yaml.Node{v}
	case yaml.SequenceNode:
		var out []*yaml.Node
		for _, c := range v.Content {
			out = append(out, mergeSources(c)...)
		}
		return out
	}
	return nil
}

// keyHint names a few options of t ("domain, listen, ...").
func keyHint(t reflect.Type) string {
	keys := yamlKeysOf(t)
	if len(keys) > 4 {
		return strings.Join(keys[:4], ", ") + ", ..."
	}
	return strings.Join(keys, ", ")
}

// suggest proposes the option meant by an unknown key: a close spelling, else the list.
func suggest(key string, t reflect.Type, path string) string {
	keys := yamlKeysOf(t)
	norm := func(s string) string { return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s)) }
	best, bestD := "", 3
	for _, k := range keys {
		if norm(k) == norm(key) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	where := "here"
	if path == "" {
		where = "at the top level"
	} else {
		where = "in " + path
	}
	sorted := append([]string(nil), keys...)
	sort.Strings(sorted)
	return fmt.Sprintf("; the options %s are: %s", where, strings.Join(sorted, ", "))
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
