package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ynagw/ynagw/yna"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// buildBinary builds cmd/ynasim into a temp dir once per test.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ynasim")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startBinary runs the binary and returns the banner fields once "ready" is printed.
func startBinary(t *testing.T, bin string, args ...string) (*exec.Cmd, map[string]string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				_ = cmd.Wait()
				t.Fatalf("ynasim exited before ready; got %v", fields)
			}
			if k, v, found := strings.Cut(strings.TrimSpace(l), ":"); found {
				fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
			if strings.HasPrefix(l, "ynasim: ready") {
				go func() {
					for range lines { // drain until the process exits
					}
				}()
				return cmd, fields
			}
		case <-deadline:
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatal("ynasim did not print its banner")
		}
	}
}

func stop(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("ynasim did not stop on SIGTERM")
	}
}

func TestBinaryPrintsCredentialsAndStops(t *testing.T) {
	bin := buildBinary(t)
	state := filepath.Join(t.TempDir(), "state")
	cmd, f := startBinary(t, bin, "-addr", "127.0.0.1:0", "-state-dir", state)
	for _, k := range []string{"base URL", "client id", "client secret", "private key", "link URL"} {
		if f[k] == "" {
			t.Errorf("banner lacks %q: %v", k, f)
		}
	}
	keyPath := strings.Fields(f["private key"])[0]
	pemBytes, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(pemBytes), "/n") || !strings.HasPrefix(string(pemBytes), "-----BEGIN PRIVATE KEY-----") {
		t.Fatalf("key PEM unusable by the SDK:\n%s", pemBytes)
	}
	if _, err := yna.ParsePrivateKeyPEM(pemBytes); err != nil {
		t.Fatal(err)
	}
	// It serves: the demo app and account are registered.
	res, err := http.Get(f["base URL"] + "/sim/accounts/demo")
	if err != nil {
		t.Fatal(err)
	}
	var acct struct{ Lines []string }
	_ = json.NewDecoder(res.Body).Decode(&acct)
	res.Body.Close()
	if len(acct.Lines) != 1 || acct.Lines[0] != demoLine {
		t.Fatalf("demo account %+v", acct)
	}
	res, err = http.Get(f["link URL"])
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("link URL: %d", res.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
	stop(t, cmd)

	// A second run loads the same credentials.
	cmd2, f2 := startBinary(t, bin, "-addr", "127.0.0.1:0", "-state-dir", state, "-lax-pop")
	if f2["client id"] != f["client id"] || f2["client secret"] != f["client secret"] || f2["PoP checks"] != "lax" {
		t.Errorf("second run: %v vs %v", f2, f)
	}
	stop(t, cmd2)
}

func TestCredsNoSlashN(t *testing.T) {
	dir := t.TempDir()
	c, created, err := loadOrCreateCreds(dir)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	c2, created, err := loadOrCreateCreds(dir)
	if err != nil || created || c2.ClientID != c.ClientID || c2.PublicPEM != c.PublicPEM {
		t.Fatalf("load: %v %v %+v", created, err, c2)
	}
	if err := os.WriteFile(filepath.Join(dir, credsFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadOrCreateCreds(dir); err == nil {
		t.Fatal("corrupt app.json accepted")
	}
}

// TestRetentionFlags: the simulator's memory bound is configurable from the command line
// (issue 10 point 4) and nonsense is refused before anything starts.
func TestRetentionFlags(t *testing.T) {
	var out, errb strings.Builder
	if err := run([]string{"-h"}, &out, &errb); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, f := range []string{"-retention", "-call-history"} {
		if !strings.Contains(errb.String(), f) {
			t.Errorf("usage lacks %s:\n%s", f, errb.String())
		}
	}
	for _, args := range [][]string{{"-retention", "0s"}, {"-call-history", "-1"}, {"-retention", "ten"}} {
		if err := run(append(args, "-state-dir", t.TempDir()), &out, &errb); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}
