package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// A secret can be given in one of three ways (exactly one):
//
//	client_secret: "literal value"           # in the file itself
//	client_secret_env: YNAGW_CLIENT_SECRET   # name of an environment variable
//	client_secret_file: /run/secrets/yna     # path of a file (trailing newlines dropped)
//
// Resolution copies the value into the plain field; the _env/_file fields stay as written.
type secretRef struct {
	path           string // YAML path of the plain field, e.g. "yna.client_secret"
	val, env, file *string
}

func (r secretRef) set() bool { return *r.val != "" || *r.env != "" || *r.file != "" }

// secrets lists every secret of c.
func (c *Config) secrets() []secretRef {
	refs := []secretRef{
		{path: "yna.client_secret", val: &c.Yna.ClientSecret, env: &c.Yna.ClientSecretEnv, file: &c.Yna.ClientSecretFile},
		{path: "yna.pop_key", val: &c.Yna.PoPKey, env: &c.Yna.PoPKeyEnv, file: &c.Yna.PoPKeyFile},
		{path: "store.key", val: &c.Store.Key, env: &c.Store.KeyEnv, file: &c.Store.KeyFile},
		{path: "store.dsn", val: &c.Store.DSN, env: &c.Store.DSNEnv, file: &c.Store.DSNFile},
		{path: "admin.password", val: &c.Admin.Password, env: &c.Admin.PasswordEnv, file: &c.Admin.PasswordFile},
		{path: "admin.token", val: &c.Admin.Token, env: &c.Admin.TokenEnv, file: &c.Admin.TokenFile},
	}
	for i := range c.Users {
		u := &c.Users[i]
		refs = append(refs, secretRef{path: fmt.Sprintf("users[%d].password", i), val: &u.Password, env: &u.PasswordEnv, file: &u.PasswordFile})
	}
	for i := range c.Trunks {
		t := &c.Trunks[i]
		refs = append(refs,
			secretRef{path: fmt.Sprintf("trunks[%d].password", i), val: &t.Password, env: &t.PasswordEnv, file: &t.PasswordFile},
			secretRef{path: fmt.Sprintf("trunks[%d].out_password", i), val: &t.OutPassword, env: &t.OutPasswordEnv, file: &t.OutPasswordFile})
	}
	return refs
}

// resolveSecrets fills every secret given by _env or _file (files in skip are not read:
// their path is already reported). Errors name the field.
func (c *Config) resolveSecrets(lookupEnv func(string) (string, bool), skip map[*string]bool) error {
	var p problems
	for _, r := range c.secrets() {
		n := 0
		for _, s := range []string{*r.val, *r.env, *r.file} {
			if s != "" {
				n++
			}
		}
		if n > 1 {
			p.add(r.path, "set only one of %s, %s_env and %s_file", leaf(r.path), leaf(r.path), leaf(r.path))
			continue
		}
		switch {
		case *r.env != "":
			v, ok := lookupEnv(*r.env)
			if !ok {
				p.add(r.path+"_env", "environment variable %s is not set", *r.env)
				continue
			}
			if v == "" {
				p.add(r.path+"_env", "environment variable %s is empty", *r.env)
				continue
			}
			*r.val = v
		case skip[r.file]:
		case *r.file != "":
			b, err := readSecretFile(*r.file)
			if err != nil {
				p.add(r.path+"_file", "%s", fileProblem(*r.file, err))
				continue
			}
			v := strings.TrimRight(string(b), "\r\n")
			if v == "" {
				p.add(r.path+"_file", "file %s is empty", *r.file)
				continue
			}
			*r.val = v
		}
	}
	return p.err()
}

// maxSecretFile bounds a secret file (a PEM key is a few KiB).
const maxSecretFile = 1 << 20

// readSecretFile reads a regular file of at most maxSecretFile bytes (never a FIFO or
// device that could block or never end).
func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxSecretFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxSecretFile)
	}
	return b, nil
}

// leaf returns the last element of a YAML path.
func leaf(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// resolvePaths makes every relative file path absolute against c.baseDir.
func (c *Config) resolvePaths() {
	if c.baseDir == "" {
		return
	}
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(c.baseDir, *p)
		}
	}
	for _, f := range c.filePaths() {
		abs(f.p)
	}
	if !strings.HasPrefix(c.Store.Path, ":") && !strings.HasPrefix(c.Store.Path, "file:") { // :memory:, SQLite URIs
		abs(&c.Store.Path)
	}
}
