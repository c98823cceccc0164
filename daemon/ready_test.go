package daemon

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/yna/ynasim"
)

// readyJSON is the JSON /readyz body as a client sees it.
type readyJSON struct {
	Ready  bool     `json:"ready"`
	Reason string   `json:"reason"`
	Notes  []string `json:"notes"`
	Lines  []struct {
		Name   string `json:"name"`
		MSISDN string `json:"msisdn"`
		State  string `json:"state"`
		Reason string `json:"reason"`
	} `json:"lines"`
}

func getReadyJSON(t *testing.T, d *Daemon, auth string) (int, readyJSON, string) {
	t.Helper()
	code, raw := scrape(t, d.AdminAddr(), "/readyz?format=json", auth)
	var b readyJSON
	if err := json.Unmarshal([]byte(raw), &b); err != nil {
		t.Fatalf("readyz %d %q: %v", code, raw, err)
	}
	if (code == 200) != b.Ready {
		t.Errorf("readyz: status %d but ready %v", code, b.Ready)
	}
	return code, b, raw
}

// TestReadyzNoLineLinked (issue 11): a daemon with no line linked cannot take a call:
// /readyz is 503 "no line linked: link a line on the admin page" (text and JSON) while
// /healthz stays 200; once a line is linked and its channel up, 200; a line that only
// needs a relink counts as not linked again.
func TestReadyzNoLineLinked(t *testing.T) {
	sim := newSim(t, ynasim.Config{})
	opts := testOptions(t, sim, t.TempDir(), testKey(t))
	opts.Admin = adminFromYAML(t, "listen: 127.0.0.1:0\nusername: admin\npassword: admin-pw")
	d := startDaemon(t, opts)
	const reason = "no line linked: link a line on the admin page"
	check := func(step string) {
		t.Helper()
		if code, body := scrape(t, d.AdminAddr(), "/readyz", "none"); code != 503 || !strings.HasPrefix(body, "not ready: "+reason+"\n") {
			t.Errorf("%s: text readyz %d %q", step, code, body)
		}
		if code, b, raw := getReadyJSON(t, d, "none"); code != 503 || b.Reason != reason {
			t.Errorf("%s: JSON readyz %d %s", step, code, raw)
		}
		if code, body := scrape(t, d.AdminAddr(), "/healthz", "none"); code != 200 {
			t.Errorf("%s: healthz %d %q", step, code, body)
		}
	}
	check("never linked")
	// A line without tokens has no notification channel, whatever its runner is trying.
	if ls := d.Backend().Lines(ctxT(t, 10*time.Second)); len(ls) != 1 || ls[0].Channel != "" {
		t.Errorf("never-linked line %+v, want no channel state", ls)
	}
	LinkForTest(t, d, sim)
	testenv.Eventually(t, 10*time.Second, "/readyz 200 once linked", func() bool {
		code, _ := scrape(t, d.AdminAddr(), "/readyz", "none")
		return code == 200
	})
	d.tokens.MarkNeedsRelink(ctxT(t, 10*time.Second), tLine, "YNA refused a refreshed token")
	check("needs relink only")
}

// TestReadyzNoNumbersWithoutCredentials (issue 11): /readyz without credentials names no
// line number (MSISDN), neither in the text notes nor in the JSON; with admin credentials
// the notes and lines carry the number and why the line needs a relink.
func TestReadyzNoNumbersWithoutCredentials(t *testing.T) {
	sim := newSim(t, ynasim.Config{})
	opts := testOptions(t, sim, t.TempDir(), testKey(t))
	opts.Admin = adminFromYAML(t, "listen: 127.0.0.1:0\nusername: admin\npassword: admin-pw")
	d := startDaemon(t, opts)
	LinkForTest(t, d, sim)
	d.tokens.MarkNeedsRelink(ctxT(t, 10*time.Second), tLine, "YNA refused a refreshed token")

	code, body := scrape(t, d.AdminAddr(), "/readyz", "none")
	if strings.Contains(body, tLine) || !strings.Contains(body, "1 line needs a relink") {
		t.Errorf("text readyz without credentials: %d %q", code, body)
	}
	_, b, raw := getReadyJSON(t, d, "none")
	if strings.Contains(raw, tLine) || len(b.Lines) != 1 || b.Lines[0].State != "needs_relink" || b.Lines[0].Reason != "" {
		t.Errorf("JSON readyz without credentials: %s", raw)
	}
	if code, body := scrape(t, d.AdminAddr(), "/readyz", "wrong"); strings.Contains(body, tLine) {
		t.Errorf("text readyz with wrong credentials: %d %q", code, body)
	}

	if _, body := scrape(t, d.AdminAddr(), "/readyz", "basic"); !strings.Contains(body, "line "+tLine+" needs a relink: YNA refused") {
		t.Errorf("text readyz with credentials: %q", body)
	}
	_, b, raw = getReadyJSON(t, d, "basic")
	if len(b.Lines) != 1 || b.Lines[0].MSISDN != tLine || !strings.Contains(b.Lines[0].Reason, "refused") {
		t.Errorf("JSON readyz with credentials: %s", raw)
	}
}
