package rtpmedia

import (
	"runtime"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// TestRelayGoroutines: a running relay has one goroutine per direction; a
// DTMF sender exists only while injected digits play (issue 12: it used to
// be two more goroutines per call that only waited).
func TestRelayGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	r, sip, netEP := relayPair(t, RelayConfig{SIPCodec: pcmu, NetCodec: pcmu, SIPDTMF: &te101, NetDTMF: &te101})
	sip.push(t, rtp.Header{PayloadType: 0, SequenceNumber: 1, Timestamp: 160, SSRC: 7}, ulawPayload(1))
	netEP.waitN(t, 1)
	if n := runtime.NumGoroutine() - base; n != 2 {
		t.Fatalf("relay runs %d goroutines, want 2", n)
	}
	if err := r.SendDTMFToNet('5', 40*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if n := runtime.NumGoroutine() - base; n != 3 {
		t.Errorf("while a digit plays: %d goroutines, want 3", n)
	}
	netEP.waitN(t, 1+2+3) // audio, 2 updates, 3 end packets
	deadline := time.Now().Add(testTimeout)
	for runtime.NumGoroutine()-base != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after the digit: %d goroutines, want 2", runtime.NumGoroutine()-base)
		}
		time.Sleep(time.Millisecond)
	}
	if st := r.Stats().SIPToNet; st.DigitsSent != 1 {
		t.Errorf("digits sent %d", st.DigitsSent)
	}
}
