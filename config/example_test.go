package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// yamlKeys lists every YAML key of t's fields, recursively ("sip.listen.bind", ...).
func yamlKeys(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t.PkgPath() != reflect.TypeOf(Config{}).PkgPath() {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "" {
			continue
		}
		p := name
		if prefix != "" {
			p = prefix + "." + name
		}
		*out = append(*out, p)
		yamlKeys(f.Type, p, out)
	}
}

// TestExampleDocumentsEveryOption: every option of Config appears in configs/ynagw.yaml
// (as a key, or in a comment for the _env/_file/inline alternatives of secrets), and
// the first occurrence of every key there carries a comment.
func TestExampleDocumentsEveryOption(t *testing.T) {
	ex, err := os.ReadFile("../configs/ynagw.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	yamlKeys(reflect.TypeOf(Config{}), "", &keys)
	if len(keys) < 80 {
		t.Fatalf("only %d keys found: %v", len(keys), keys)
	}
	for _, k := range keys {
		leafKey := k[strings.LastIndexByte(k, '.')+1:]
		if !regexp.MustCompile(`\b` + regexp.QuoteMeta(leafKey) + `\b`).Match(ex) {
			t.Errorf("option %s is not in the example", k)
		}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(ex, &root); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var walk func(n *yaml.Node, path string, commented bool)
	walk = func(n *yaml.Node, path string, commented bool) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path, false)
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, path, commented)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := strings.TrimPrefix(path+"."+k.Value, ".")
				has := k.HeadComment != "" || k.LineComment != "" || v.LineComment != "" || v.HeadComment != "" ||
					(v.Kind != yaml.ScalarNode && len(v.Content) > 0 && v.Content[0].HeadComment != "")
				if !seen[p] && !has && v.Kind == yaml.ScalarNode {
					t.Errorf("example key %s (line %d) has no comment", p, k.Line)
				}
				seen[p] = true
				walk(v, p, has)
			}
		}
	}
	walk(&root, "", false)
}
