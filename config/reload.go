package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// Reloadable compares c (running) with other (freshly loaded) and tells what a SIGHUP
// may apply without a restart: users (the desk phone accounts) and routing (each line's
// ring, ring_trunk, outbound and prefix, and the dial plan). Any other difference returns
// an error listing every field that needs a restart (*FieldError each); users and routing
// are still reported.
func (c *Config) Reloadable(other *Config) (users, routing bool, err error) {
	users = !reflect.DeepEqual(c.Users, other.Users)
	routing = !reflect.DeepEqual(c.DialPlan, other.DialPlan)
	a, b := c.restartPart(), other.restartPart()
	if len(c.Lines) == len(other.Lines) {
		for i := range c.Lines {
			if !reflect.DeepEqual(routingOf(c.Lines[i]), routingOf(other.Lines[i])) {
				routing = true
			}
		}
	} else {
		routing = true
	}
	var changed []string
	diff(reflect.ValueOf(a), reflect.ValueOf(b), "", &changed)
	if len(changed) == 0 {
		return users, routing, nil
	}
	var errs []error
	for _, path := range changed {
		errs = append(errs, &FieldError{Path: path, Msg: "changed; needs a restart"})
	}
	return users, routing, fmt.Errorf("config: reload needs a restart (%s): %w", strings.Join(changed, ", "), errors.Join(errs...))
}

// routingOf is the reloadable part of a line.
func routingOf(l Line) Line {
	return Line{Ring: l.Ring, RingTrunk: l.RingTrunk, Outbound: l.Outbound, Prefix: l.Prefix}
}

// restartPart is c without users and routing (which a reload may change).
func (c *Config) restartPart() Config {
	cp := *c
	cp.Users = nil
	cp.DialPlan = DialPlan{}
	cp.baseDir = ""
	cp.lines = nil
	cp.Log.Level = ""
	cp.Lines = make([]Line, len(c.Lines))
	for i, l := range c.Lines {
		cp.Lines[i] = Line{MSISDN: l.MSISDN, Name: l.Name}
	}
	return cp
}

// diff appends the YAML paths where a and b differ.
func diff(a, b reflect.Value, path string, out *[]string) {
	switch a.Kind() {
	case reflect.Struct:
		t := a.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			diff(a.Field(i), b.Field(i), p, out)
		}
	case reflect.Slice:
		if a.Len() != b.Len() {
			*out = append(*out, path)
			return
		}
		for i := 0; i < a.Len(); i++ {
			diff(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i), out)
		}
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*out = append(*out, path)
		}
	}
}
