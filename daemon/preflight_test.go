package daemon

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/ynagw/ynagw/config"
	"github.com/ynagw/ynagw/store"
)

// startStage is what `ynagw run` does before it serves: load, logger, options, New and
// Start (then it is closed again). Its error is the one run would exit with.
func startStage(t *testing.T, path string) error {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	log, lvl, err := NewLogger(&bytes.Buffer{}, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return err
	}
	ctx := ctxT(t, 30e9)
	opts, err := Preflight(ctx, cfg)
	if err != nil {
		return err
	}
	opts.Logger, opts.Level, opts.Version = log, &lvl, "test"
	d, err := New(ctx, opts)
	if err != nil {
		return err
	}
	defer func() { _ = d.Close(context.Background()) }()
	return d.Start(ctx)
}

// TestCheckConfigAgreesWithRun: for every class of configuration error, check-config
// fails exactly when run's start stage does, and names the field.
func TestCheckConfigAgreesWithRun(t *testing.T) {
	base := t.TempDir()
	type setup func(t *testing.T, dir, y string) string // returns the YAML to use
	repl := func(old, new string) setup {
		return func(t *testing.T, _ string, y string) string {
			if !strings.Contains(y, old) {
				t.Fatalf("base YAML lacks %q", old)
			}
			return strings.Replace(y, old, new, 1)
		}
	}
	cases := []struct {
		name  string
		setup setup
		field string // "" = valid
		words string
	}{
		{"valid", func(_ *testing.T, _ string, y string) string { return y }, "", ""},
		{"bad value", repl(`"+1 425 555 0100"`, `"123"`), "lines[0].msisdn", ""},
		{"unknown option", func(_ *testing.T, _ string, y string) string { return y + "bogus: 1\n" }, "bogus", ""},
		{"PoP key file missing", repl("pop_key_file: pop.pem", "pop_key_file: nope.pem"), "yna.pop_key_file", "no such file"},
		{"env secret unset", repl("client_secret: secret", "client_secret_env: YNAGW_TEST_SURELY_UNSET"), "yna.client_secret_env", ""},
		{"secret file missing", repl("client_secret: secret", "client_secret_file: nope.txt"), "yna.client_secret_file", "no such file"},
		{"TLS certificate missing", repl(`listen: [{transport: udp, bind: "127.0.0.1:0"}]`,
			`listen: [{transport: udp, bind: "127.0.0.1:0"}, {transport: tls, bind: "127.0.0.1:0", cert_file: nope.crt, key_file: nope.key}]`),
			"sip.listen[1].cert_file", "no such file"},
		{"user password file missing", repl("    password: pw", "    password_file: nope.pw"), "users[0].password_file", "no such file"},
		{"CA file not PEM", func(t *testing.T, dir, y string) string {
			if err := os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("not a certificate"), 0o600); err != nil {
				t.Fatal(err)
			}
			return strings.Replace(y, "  domain: ynagw.test\n", "  domain: ynagw.test\n  ca_file: ca.pem\n", 1)
		}, "sip.ca_file", "no PEM certificate"},
		{"admin token env unset", repl("admin:\n  listen: 127.0.0.1:0\n", "admin:\n  listen: 127.0.0.1:0\n  token_env: YNAGW_TEST_SURELY_UNSET_TOKEN\n"),
			"admin.token_env", ""},
		{"store directory missing", repl("path: ynagw.db", "path: no/such/dir/ynagw.db"), "store.path", "no such directory"},
		{"store directory is a file", func(t *testing.T, dir, y string) string {
			if err := os.WriteFile(filepath.Join(dir, "afile"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return strings.Replace(y, "path: ynagw.db", "path: afile/ynagw.db", 1)
		}, "store.path", "not a directory"},
		{"store of another key", func(t *testing.T, dir, y string) string {
			other := make([]byte, 32)
			other[0] = 1
			st, err := store.OpenSQLite(ctxT(t, 10e9), filepath.Join(dir, "ynagw.db"), other)
			if err != nil {
				t.Fatal(err)
			}
			_ = st.Close()
			return y
		}, "store.key", "another key"},
		{"store directory read-only", func(t *testing.T, dir, y string) string {
			ro := filepath.Join(dir, "ro")
			if err := os.Mkdir(ro, 0o755); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", ro).CombinedOutput(); err != nil {
				t.Skipf("cannot mount a read-only tmpfs (%v: %s)", err, out)
			}
			t.Cleanup(func() { _ = exec.Command("umount", ro).Run() })
			return strings.Replace(y, "path: ynagw.db", "path: ro/ynagw.db", 1)
		}, "store.path", "read-only"},
		{"SIP port in use", func(t *testing.T, _ string, y string) string {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = pc.Close() })
			return strings.Replace(y, `bind: "127.0.0.1:0"`, `bind: "`+pc.LocalAddr().String()+`"`, 1)
		}, "sip.listen[0].bind", "address in use — is ynagw already running?"},
		{"admin port in use", func(t *testing.T, _ string, y string) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ln.Close() })
			return strings.Replace(y, "admin:\n  listen: 127.0.0.1:0\n", "admin:\n  listen: "+ln.Addr().String()+"\n", 1)
		}, "admin.listen", "address in use — is ynagw already running?"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(base, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			y := strings.Replace(validYAML(t, dir), "timers:", "admin:\n  listen: 127.0.0.1:0\ntimers:", 1)
			y = tc.setup(t, dir, y)
			p := filepath.Join(dir, "ynagw.yaml")
			if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			checkErr := CheckConfig(p, &out)
			runErr := startStage(t, p)
			if (checkErr == nil) != (runErr == nil) {
				t.Fatalf("case %d: check-config says %v (%s), run says %v", i, checkErr, out.String(), runErr)
			}
			if (tc.field == "") != (checkErr == nil) {
				t.Fatalf("check-config: %v\n%s", checkErr, out.String())
			}
			if tc.field != "" && !strings.Contains(out.String(), tc.field+" ") && !strings.Contains(out.String(), tc.field+":") {
				t.Errorf("check-config output lacks %s:\n%s", tc.field, out.String())
			}
			if tc.field != "" && !strings.Contains(out.String(), tc.field+" (line ") {
				t.Errorf("check-config output does not say the line of %s:\n%s", tc.field, out.String())
			}
			if tc.words != "" && !strings.Contains(out.String(), tc.words) {
				t.Errorf("check-config output lacks %q:\n%s", tc.words, out.String())
			}
		})
	}
}

// TestCheckConfigBesideRunningDaemon (issue 11): check-config on the configuration of a
// running daemon (same store, same fixed SIP and admin ports) says OK, with a note per
// listen address that the running ynagw (holder of the store lock) has it; stopped, the
// addresses are checked again and free.
func TestCheckConfigBesideRunningDaemon(t *testing.T) {
	dir := t.TempDir()
	free := func(network string) string {
		if network == "udp" {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			return pc.LocalAddr().String()
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	sipAddr, adminAddr := free("udp"), free("tcp")
	y := strings.Replace(validYAML(t, dir), `bind: "127.0.0.1:0"`, `bind: "`+sipAddr+`"`, 1)
	y = strings.Replace(y, "timers:", "admin:\n  listen: "+adminAddr+"\ntimers:", 1)
	p := filepath.Join(dir, "ynagw.yaml")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 30e9)
	opts, err := Preflight(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	opts.Logger = zap.NewNop()
	d, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		_ = d.Close(context.Background())
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = CheckConfig(p, &out)
	if err != nil || !strings.HasPrefix(out.String(), "OK\n") ||
		!strings.Contains(out.String(), "note: sip.listen[0].bind: udp "+sipAddr+" is in use by the running ynagw (pid ") ||
		!strings.Contains(out.String(), "note: admin.listen: tcp "+adminAddr+" is in use by the running ynagw") {
		t.Errorf("check-config beside the running daemon: %v\n%s", err, out.String())
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := CheckConfig(p, &out); err != nil || out.String() != "OK\n" {
		t.Errorf("check-config after the daemon stopped: %v\n%s", err, out.String())
	}
}
