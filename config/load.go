package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Load reads the YAML file at path, resolves relative paths against the file's
// directory, expands secrets from the environment (os.LookupEnv) and files, fills
// defaults and validates.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := parse(data, os.LookupEnv, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML, expands secrets (lookupEnv nil: os.LookupEnv), fills defaults and
// validates. Relative paths stay relative to the working directory.
func Parse(data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	return parse(data, lookupEnv, "")
}

func parse(data []byte, lookupEnv func(string) (string, bool), baseDir string) (*Config, error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	c := &Config{}
	ln, probs := decode(data, c)
	if len(probs) > 0 && probs[0].Path == "" {
		return nil, probs[0] // the file is not YAML (or not one document): nothing more to say
	}
	c.baseDir = baseDir
	c.lines = ln
	unresolved, credErr := c.expandCredentials(lookupEnv)
	c.resolvePaths()
	secretErr := c.resolveSecrets(lookupEnv, unresolved)
	c.Init()
	for _, fe := range FieldErrors(errors.Join(credErr, secretErr, c.validate())) {
		if shadowed(fe.Path, probs) {
			continue // the option's YAML is wrong: it was left out, its checks say nothing new
		}
		if fe.Line == 0 {
			fe.Line = ln.at(fe.Path)
		}
		probs = append(probs, fe)
	}
	if len(probs) == 0 {
		probs = c.crossCheck()
	}
	if len(probs) > 0 {
		sortProblems(probs)
		errs := make([]error, len(probs))
		for i, p := range probs {
			errs[i] = p
		}
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// shadowed reports whether a value problem at path follows from a YAML problem of the
// same option (or of a section above it, or of a secret's _env/_file variant).
func shadowed(path string, yamlProbs []*FieldError) bool {
	for _, b := range yamlProbs {
		if b.Path == "" {
			continue
		}
		base := strings.TrimSuffix(strings.TrimSuffix(b.Path, "_env"), "_file")
		if within(path, b.Path) || within(path, base) {
			return true
		}
	}
	return false
}
