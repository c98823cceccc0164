package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
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
	if err := decode(data, c); err != nil {
		return nil, err
	}
	c.baseDir = baseDir
	unresolved, credErr := c.expandCredentials(lookupEnv)
	c.resolvePaths()
	secretErr := c.resolveSecrets(lookupEnv, unresolved)
	c.Init()
	if err := errors.Join(credErr, secretErr, c.Validate()); err != nil {
		return nil, err
	}
	return c, nil
}

// decode is a strict YAML decode: unknown keys, wrong types and a second document are
// errors (wrapping ErrSyntax) naming the line.
func decode(data []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // empty document: Validate reports what is missing
		}
		return fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: more than one YAML document", ErrSyntax)
	}
	return nil
}
