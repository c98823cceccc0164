package systemd

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/internal/testpeer"
	"github.com/ynagw/ynagw/internal/ynagwproc"
)

// serviceUID is the unprivileged uid the test runs the daemon as (systemd's dynamic
// user is some such uid with no access to root-only files).
const serviceUID = 65534

// unit is the shipped unit with the drop-in the README installs, parsed.
func unit(t *testing.T) map[string]map[string][]string {
	t.Helper()
	var text string
	for _, f := range []string{unitFile, "ynagw.service.d/passwords.conf"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text += string(b) + "\n"
	}
	return directives(t, text)
}

func one(t *testing.T, d map[string]map[string][]string, key string) string {
	t.Helper()
	v := d["Service"][key]
	if len(v) != 1 {
		t.Fatalf("[Service] %s = %q, want one value", key, v)
	}
	return v[0]
}

func mode(t *testing.T, d map[string]map[string][]string, key string) os.FileMode {
	t.Helper()
	m, err := strconv.ParseUint(one(t, d, key), 8, 32)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return os.FileMode(m)
}

// TestServiceUserLayout installs ynagw as the unit and the README lay it out — under a
// temporary root: the configuration directory (ConfigurationDirectoryMode, root-owned)
// with systemd/ynagw.yaml (0644, no secret), the secrets root-only (0700 directory,
// 0600 files) in /etc/ynagw/credentials, the state directory owned by the service user
// (StateDirectoryMode) — then does what systemd does: copies each LoadCredential= file
// into a credentials directory only the service user can read, and starts ExecStart
// as an unprivileged uid (setpriv) with CREDENTIALS_DIRECTORY, NOTIFY_SOCKET and
// WATCHDOG_USEC, UMask, WorkingDirectory. ynasim is the network. It must start, send
// READY=1 and a WATCHDOG=1, answer /healthz, keep its database private, and stop on
// SIGTERM with STOPPING=1 (issue 11: with ConfigurationDirectoryMode=0750 the dynamic
// user got `config: open …/ynagw.yaml: permission denied`).
func TestServiceUserLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the ynagw binary")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to lay out root-owned files and switch to an unprivileged uid")
	}
	setpriv := testpeer.Require(t, "setpriv")
	d := unit(t)

	root := worldTempDir(t)
	under := func(p string) string { return filepath.Join(root, p) }
	bin := ynagwproc.Build(t, worldTempDir(t))

	// ExecStart=/usr/local/bin/ynagw run -config /etc/ynagw/ynagw.yaml
	exec0 := strings.Fields(one(t, d, "ExecStart"))
	if len(exec0) != 4 || exec0[0] != installed || exec0[1] != "run" || exec0[2] != "-config" {
		t.Fatalf("ExecStart %q is not %s run -config FILE", exec0, installed)
	}
	cfgPath := under(exec0[3])
	confDir := under("/etc/" + one(t, d, "ConfigurationDirectory"))
	if filepath.Dir(cfgPath) != confDir {
		t.Fatalf("the configuration %s is not in ConfigurationDirectory %s", exec0[3], confDir)
	}
	stateDir := under("/var/lib/" + one(t, d, "StateDirectory"))
	if wd := one(t, d, "WorkingDirectory"); under(wd) != stateDir {
		t.Fatalf("WorkingDirectory %s is not the StateDirectory", wd)
	}
	mkdir(t, confDir, mode(t, d, "ConfigurationDirectoryMode"), 0)
	mkdir(t, stateDir, mode(t, d, "StateDirectoryMode"), serviceUID) // systemd chowns it to the dynamic user

	// The configuration: systemd/ynagw.yaml, with the test's network and ports.
	sim := ynagwproc.NewSim(t)
	tmpl, err := os.ReadFile("ynagw.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^\s*(client_secret|pop_key|key|password|token|out_password):`).Find(tmpl); m != nil {
		t.Fatalf("systemd/ynagw.yaml holds a secret inline: %q", m)
	}
	cfg := editYAML(t, tmpl, map[string]string{
		"sip.listen.0.bind":     "127.0.0.1:0",
		"rtp.bind_ip":           "127.0.0.1",
		"rtp.advertise_ip":      "127.0.0.1",
		"webrtc.allow_loopback": "true",
		"yna.base_url":          sim.URL(),
		"yna.client_id":         testenv.ClientID,
		"yna.redirect_uri":      testenv.Redirect,
		"lines.0.msisdn":        ynagwproc.Line,
		"store.path":            filepath.Join(stateDir, "ynagw.db"),
		"admin.listen":          "127.0.0.1:0",
		"log.format":            "json",
	})
	writeFile(t, cfgPath, cfg, 0o644, 0)

	// The secrets: every ${CREDENTIALS_DIRECTORY}/ID of the configuration is a
	// LoadCredential=ID:/etc/ynagw/credentials/ID of the unit (or its drop-in).
	s := ynagwproc.NewSecrets(t)
	values := map[string][]byte{"client_secret": []byte(s.ClientSecret + "\n"), "pop.pem": s.PoPKeyPEM,
		"store_key": []byte(s.StoreKey + "\n"), "admin_password": []byte(s.AdminPassword + "\n"), "user-201": []byte("pw-201\n")}
	loaded := map[string]string{} // id -> source path
	for _, lc := range d["Service"]["LoadCredential"] {
		id, src, ok := strings.Cut(lc, ":")
		if !ok || !filepath.IsAbs(src) {
			t.Fatalf("LoadCredential=%s: want ID:/absolute/path", lc)
		}
		loaded[id] = src
	}
	for _, m := range regexp.MustCompile(`\$\{CREDENTIALS_DIRECTORY\}/([A-Za-z0-9._-]+)`).FindAllSubmatch(tmpl, -1) {
		if _, ok := loaded[string(m[1])]; !ok {
			t.Errorf("systemd/ynagw.yaml uses the credential %s but no LoadCredential= loads it", m[1])
		}
	}
	credsDir := under("/run/credentials/ynagw.service")
	mkdir(t, filepath.Dir(credsDir), 0o755, 0)
	mkdir(t, credsDir, 0o500, 0)
	for id, src := range loaded {
		v, ok := values[id]
		if !ok {
			t.Fatalf("LoadCredential=%s: the test has no value for it", id)
		}
		mkdir(t, filepath.Dir(under(src)), 0o700, 0)
		writeFile(t, under(src), v, 0o600, 0)
		// systemd: a private copy only the service's user may read.
		writeFile(t, filepath.Join(credsDir, id), v, 0o400, serviceUID)
	}
	if err := os.Chown(credsDir, serviceUID, serviceUID); err != nil {
		t.Fatal(err)
	}

	// The secrets' sources are out of the service user's reach.
	for _, src := range loaded {
		if out, err := exec.Command(setpriv, "--reuid="+strconv.Itoa(serviceUID), "--regid="+strconv.Itoa(serviceUID),
			"--clear-groups", "cat", under(src)).CombinedOutput(); err == nil {
			t.Fatalf("uid %d can read %s: %q", serviceUID, src, out)
		}
	}

	// As the service user would: the configuration check, then the daemon.
	umask := one(t, d, "UMask")
	asService := func(args ...string) *exec.Cmd {
		a := append([]string{"-c", `umask "$0" && exec "$@"`, umask, setpriv,
			"--reuid=" + strconv.Itoa(serviceUID), "--regid=" + strconv.Itoa(serviceUID), "--clear-groups", bin}, args...)
		cmd := exec.Command("/bin/sh", a...)
		cmd.Dir = stateDir
		cmd.Env = []string{"PATH=/usr/bin:/bin", "CREDENTIALS_DIRECTORY=" + credsDir}
		return cmd
	}
	if out, err := asService("check-config", "-config", cfgPath).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "OK" {
		t.Errorf("check-config as uid %d: %v\n%s", serviceUID, err, out)
	}

	ns := listenNotify(t)
	notify := one(t, d, "Type") == "notify"
	if !notify {
		t.Errorf("Type=%s, want notify", one(t, d, "Type"))
	}
	cmd := asService("run", "-config", cfgPath)
	cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+ns.path)
	var wd time.Duration
	if v := d["Service"]["WatchdogSec"]; len(v) == 1 {
		if wd, err = time.ParseDuration(v[0] + "s"); err != nil {
			t.Fatal(err)
		}
		cmd.Env = append(cmd.Env, "WATCHDOG_USEC="+strconv.FormatInt(wd.Microseconds(), 10))
	} else {
		t.Errorf("WatchdogSec = %q, want one value", v)
	}
	p := ynagwproc.Start(t, cmd)
	admin := p.Started(30 * time.Second)
	if notify {
		ns.wait(t, "READY=1", 10*time.Second)
	}
	if wd > 0 {
		ns.wait(t, "WATCHDOG=1", 10*time.Second) // the first ping is at once
	}

	if uid := procUID(t, p.Cmd.Process.Pid); uid != serviceUID {
		t.Errorf("ynagw runs as uid %d, want %d", uid, serviceUID)
	}
	res, err := http.Get("http://" + admin + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %s", res.Status)
	}
	st, err := os.Stat(filepath.Join(stateDir, "ynagw.db"))
	if err != nil {
		t.Fatal(err)
	}
	if sys := st.Sys().(*syscall.Stat_t); sys.Uid != serviceUID || st.Mode().Perm()&0o077 != 0 {
		t.Errorf("ynagw.db owner %d mode %v, want %d and no group/other access (UMask=%s)", sys.Uid, st.Mode().Perm(), serviceUID, umask)
	}

	p.Signal(syscall.SIGTERM)
	if notify {
		ns.wait(t, "STOPPING=1", 10*time.Second)
	}
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// worldTempDir is a t.TempDir() the service uid can traverse (t.TempDir makes 0700
// directories).
func worldTempDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func mkdir(t *testing.T, p string, m os.FileMode, uid int) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, m); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, uid, uid); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, p string, b []byte, m os.FileMode, uid int) {
	t.Helper()
	if err := os.WriteFile(p, b, m); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, m); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, uid, uid); err != nil {
		t.Fatal(err)
	}
}

// editYAML sets the scalars at dotted paths (numbers index sequences; missing mapping
// keys are added) and returns the document.
func editYAML(t *testing.T, doc []byte, set map[string]string) []byte {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		t.Fatal(err)
	}
	for path, v := range set {
		n := root.Content[0]
		parts := strings.Split(path, ".")
		for i, k := range parts {
			last := i == len(parts)-1
			switch n.Kind {
			case yaml.SequenceNode:
				idx, err := strconv.Atoi(k)
				if err != nil || idx >= len(n.Content) {
					t.Fatalf("%s: no element %s", path, k)
				}
				n = n.Content[idx]
			case yaml.MappingNode:
				var next *yaml.Node
				for j := 0; j+1 < len(n.Content); j += 2 {
					if n.Content[j].Value == k {
						next = n.Content[j+1]
					}
				}
				if next == nil {
					next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
					if last {
						next = &yaml.Node{Kind: yaml.ScalarNode}
					}
					n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, next)
				}
				n = next
			default:
				t.Fatalf("%s: %s is not a mapping or sequence", path, k)
			}
		}
		n.Kind, n.Tag, n.Value, n.Content = yaml.ScalarNode, "", v, nil
	}
	b, err := yaml.Marshal(&root)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func procUID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "Uid:" {
			uid, _ := strconv.Atoi(f[1])
			return uid
		}
	}
	t.Fatal("no Uid in /proc status")
	return -1
}

// notifySocket is systemd's end of sd_notify: datagrams arrive on msgs.
type notifySocket struct {
	path string
	msgs chan string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "yg") // sockaddr_un paths are short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o777); err != nil { // as /run/systemd/notify
		t.Fatal(err)
	}
	s := &notifySocket{path: path, msgs: make(chan string, 1024)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			select {
			case s.msgs <- string(buf[:n]):
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = c.Close()
		<-done
	})
	return s
}

func (s *notifySocket) wait(t *testing.T, want string, d time.Duration) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		select {
		case m := <-s.msgs:
			for _, l := range strings.Split(m, "\n") {
				if l == want {
					return
				}
			}
		case <-deadline.C:
			t.Fatalf("no %s notification within %s", want, d)
		}
	}
}
