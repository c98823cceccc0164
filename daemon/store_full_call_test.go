package daemon_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/daemon"
	"github.com/ynagw/ynagw/internal/testenv"
)

// TestCallsFlowWithStoreFull (issue 11): with the store on a full file system an
// outbound and an inbound call through the embedded simulator are answered (before: 500
// "CDR store unavailable"); /readyz says the records wait; once there is space they land.
func TestCallsFlowWithStoreFull(t *testing.T) {
	dir := daemon.FullTmpfsForTest(t)
	sim := daemon.SimForTest(t)
	opts := daemon.OptionsForTest(t, sim)
	opts.StorePath = filepath.Join(dir, "ynagw.db")
	opts.Admin = daemon.AdminOptions{Listen: "127.0.0.1:0"}
	d := daemon.StartForTest(t, opts)
	d.CDRFastRetryForTest()
	daemon.LinkForTest(t, d, sim)
	filler := filepath.Join(dir, "filler")
	daemon.FillForTest(t, filler)

	phoneCalls(t, d, sim, func(string) {})
	code, body := getReadyz(t, d)
	if code != 503 || !strings.Contains(body, "call records waiting") {
		t.Errorf("readyz with the store full: %d %q", code, body)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := d.CDRWaitIdleForTest(t); err != nil {
		t.Fatalf("records never landed: %v", err)
	}
	if n := d.CDRCountForTest(t); n != 2 {
		t.Errorf("%d call records, want 2", n)
	}
	testenv.Eventually(t, 10*time.Second, "/readyz 200 again", func() bool {
		code, _ := getReadyz(t, d)
		return code == 200
	})
}

func getReadyz(t *testing.T, d *daemon.Daemon) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.AdminAddr()+"/readyz", nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Transport: &http.Transport{}}
	defer cl.CloseIdleConnections()
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}
