package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCredentialsDirectory: a *_file secret may start with $CREDENTIALS_DIRECTORY (or
// ${CREDENTIALS_DIRECTORY}), the directory systemd fills from the unit's LoadCredential=
// lines, so /etc/ynagw/ynagw.yaml can be world-readable and hold no secret (issue 11:
// with DynamicUser=yes the service could not read a root-only configuration). Loaded
// from a file, such a path is not made relative to the file's directory; unset, the
// variable is an error naming the field.
func TestCredentialsDirectory(t *testing.T) {
	creds := t.TempDir()
	for name, v := range map[string]string{"store_key": testKey + "\n", "client_secret": "from-creds\n", "admin_password": "adm\n"} {
		if err := os.WriteFile(filepath.Join(creds, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pem, err := os.ReadFile(popKeyPath(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(creds, "pop.pem"), pem, 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := baseYAML(t)
	for _, e := range [][2]string{
		{"  key: " + testKey, "  key_file: ${CREDENTIALS_DIRECTORY}/store_key"},
		{"  client_secret: shh", "  client_secret_file: $CREDENTIALS_DIRECTORY/client_secret"},
		{"  pop_key_file: " + popKeyPath(t), "  pop_key_file: ${CREDENTIALS_DIRECTORY}/pop.pem"},
		{"store:", "admin:\n  username: admin\n  password_file: ${CREDENTIALS_DIRECTORY}/admin_password\nstore:"},
	} {
		if !strings.Contains(yaml, e[0]) {
			t.Fatalf("%q not in the base configuration", e[0])
		}
		yaml = strings.Replace(yaml, e[0], e[1], 1)
	}
	// Loaded from a file in another directory, as /etc/ynagw/ynagw.yaml is.
	cfgPath := filepath.Join(t.TempDir(), "ynagw.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	c, err := Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Key != testKey || c.Yna.ClientSecret != "from-creds" || c.Admin.Password != "adm" ||
		!strings.HasPrefix(c.Yna.PoPKey, "-----BEGIN") {
		t.Errorf("secrets not read from the credentials directory: key %q secret %q admin %q", c.Store.Key, c.Yna.ClientSecret, c.Admin.Password)
	}

	// Unset: every such field is named.
	_, err = Parse([]byte(yaml), noEnv)
	var paths []string
	for _, fe := range FieldErrors(err) {
		if strings.Contains(fe.Msg, "CREDENTIALS_DIRECTORY") {
			paths = append(paths, fe.Path)
		}
	}
	want := []string{"yna.client_secret_file", "yna.pop_key_file", "store.key_file", "admin.password_file"}
	for _, w := range want {
		found := false
		for _, p := range paths {
			found = found || p == w
		}
		if !found {
			t.Errorf("unset CREDENTIALS_DIRECTORY: no error naming %s (got %v; err %v)", w, paths, err)
		}
	}
	if err == nil || !errors.As(err, new(*FieldError)) {
		t.Errorf("unset CREDENTIALS_DIRECTORY: err %v, want field errors", err)
	}
}
