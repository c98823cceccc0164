package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ynagw/ynagw/admin"
	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/internal/ynagwproc"
)

// TestLinesCommand (issue 11): `ynagw lines` asks the running daemon over the admin API
// (credentials from -config, like calls): the linked line with its channel connected;
// -json is the API's JSON; -watch 1 prints a fresh table every second until SIGINT, then
// exits 0.
func TestLinesCommand(t *testing.T) {
	bin := testBin(t)
	if out, code := ynagwproc.RunOnce(t, bin, "lines", "-h"); code != 0 || !strings.Contains(out, "-watch") {
		t.Errorf("lines -h: exit %d, output %q", code, out)
	}
	sim := ynagwproc.NewSim(t)
	cfg := seededInstall(t, t.TempDir(), sim)
	p := ynagwproc.Run(t, bin, cfg)
	adm := p.Started(30 * time.Second)
	api := []string{"-config", cfg, "-addr", adm}

	var out string
	var code int
	testenv.Eventually(t, 15*time.Second, "ynagw lines shows the line linked, channel connected", func() bool {
		out, code = ynagwproc.RunOnce(t, bin, append([]string{"lines"}, api...)...)
		return code == 0 && strings.Contains(out, ynagwproc.Line) && strings.Contains(out, " linked ") && strings.Contains(out, "connected")
	})
	if !strings.Contains(out, "HEALTH") || !strings.Contains(out, "CHANNEL") {
		t.Errorf("ynagw lines:\n%s", out)
	}
	if out, code := ynagwproc.RunOnce(t, bin, append([]string{"lines", "-json"}, api...)...); code != 0 ||
		!json.Valid([]byte(out)) || !strings.Contains(out, `"msisdn":"`+ynagwproc.Line+`"`) {
		t.Errorf("ynagw lines -json: exit %d\n%s", code, out)
	}
	// Without the daemon's credentials the API refuses: exit 1, no store read behind its back.
	if out, code := ynagwproc.RunOnce(t, bin, "lines", "-addr", adm, "-token", "wrong"); code != 1 || !strings.Contains(out, "refused the credentials") {
		t.Errorf("lines with a wrong token: exit %d\n%s", code, out)
	}

	w := exec.Command(bin, append([]string{"lines", "-watch", "1"}, api...)...)
	w.Stderr = os.Stderr
	pipe, err := w.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- w.Wait() }()
	defer func() {
		_ = w.Process.Kill() // no-op once it exited
		<-exited
	}()
	frames := make(chan string, 16)
	go func() {
		defer close(frames)
		sc := bufio.NewScanner(pipe)
		var cur strings.Builder
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "--- ") && cur.Len() > 0 {
				frames <- cur.String()
				cur.Reset()
			}
			cur.WriteString(sc.Text() + "\n")
		}
	}()
	deadline := time.After(20 * time.Second)
	for n := 0; n < 2; n++ {
		select {
		case f := <-frames:
			if !strings.Contains(f, ynagwproc.Line) || !strings.Contains(f, "connected") {
				t.Errorf("watch frame %d:\n%s", n, f)
			}
		case <-deadline:
			t.Fatal("lines -watch 1 printed fewer than 2 frames in 20s")
		}
	}
	if err := w.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err // for the deferred wait
		if err != nil {
			t.Errorf("lines -watch after SIGINT: %v, want exit 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("lines -watch did not stop on SIGINT")
	}
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
}

// TestLineHealthWords: the HEALTH column of `ynagw lines` for every state.
func TestLineHealthWords(t *testing.T) {
	linkedAt := time.Now()
	for _, tc := range []struct {
		l    admin.LineView
		want string
	}{
		{admin.LineView{State: admin.LineLinked, LinkedAt: linkedAt}, "linked"},
		{admin.LineView{State: admin.LineNeedsRelink, Reason: "YNA refused a refreshed token", LinkedAt: linkedAt}, "NEEDS RELINK: YNA refused a refreshed token"},
		{admin.LineView{State: admin.LineUnlinked, Reason: "not linked yet"}, "never linked (link it on the admin page)"},
		{admin.LineView{State: admin.LineUnlinked, Reason: "unlinked by admin", LinkedAt: linkedAt}, "unlinked: unlinked by admin"},
	} {
		if got := lineHealth(tc.l); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.l, got, tc.want)
		}
	}
}
