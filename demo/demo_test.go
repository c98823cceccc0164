package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRun plays the whole demo in-process and checks every step line, in order.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), Options{Out: &out}); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	steps := []string{"ynasim", "gateway started", "line " + Line + " linked", "notification channel",
		"phone registered as " + PhoneUser + "@" + Domain, "phone dials " + DialNumber, "ringing:", "connected (200 OK)",
		"audio both ways", "hold:", "resume:", "audio both ways", "phone hung up", "incoming call from " + Caller,
		"phone rang (180) and answered", "audio both ways", "phone hung up", "CDR outbound", "CDR inbound", "summary:", "demo finished OK"}
	rest := out.String()
	for _, s := range steps {
		i := strings.Index(rest, s)
		if i < 0 {
			t.Fatalf("output lacks %q in order:\n%s", s, out.String())
		}
		rest = rest[i+len(s):]
	}
}

// TestRunDeadline: a demo that cannot finish in time fails with a clear message.
func TestRunDeadline(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Run(ctx, Options{Out: &out})
	if err == nil {
		t.Fatal("cancelled demo succeeded")
	}
	if !strings.Contains(out.String(), "FAILED:") {
		t.Errorf("no FAILED line:\n%s", out.String())
	}
}
