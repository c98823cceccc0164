package e2e

import (
	"testing"
	"time"

	"github.com/ynagw/ynagw/yna/ynasim"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
)

// TestConcurrentCalls: 20 sipp calls at once (10 cps, limit 20), each playing the g711a
// pcap. All 20 are connected at the same time, every far end receives the phone's RTP and
// sends its own, every call ends with the phone's BYE (sipp exit 0 = 20 successful calls)
// and the goroutine count returns to its baseline (newGwEnv's cleanup).
func TestConcurrentCalls(t *testing.T) {
	const n = 20
	e := newGwEnv(t, nil)
	run := startSipp(t, "uac_load.xml", e.sipAddr(), sippOpts{auth: true,
		vars:  map[string]string{"TALK_MS": "8000"},
		extra: []string{"-m", "20", "-l", "20", "-r", "10"}})
	connected := func() (ids []string) {
		for _, ci := range e.sim.Calls() {
			if ci.Direction == ynasim.DirectionOutbound && ci.State == ynasim.CallConnected {
				ids = append(ids, ci.ID)
			}
		}
		return ids
	}
	var ids []string
	eventually(t, 30*time.Second, "20 calls connected at once", func() bool { ids = connected(); return len(ids) == n })
	for _, id := range ids {
		e.waitStats(id, 15*time.Second, "media both ways on every call", func(s farend.Stats) bool {
			return s.PacketsReceived >= 50 && s.PacketsSent >= 50
		})
	}
	run.mustPass(60 * time.Second)
	for _, id := range ids {
		if ci := e.waitState(id, ynasim.CallTerminated); ci.Outcome != ynasim.OutcomeEndedByClient {
			t.Errorf("call %s outcome %s", id, ci.Outcome)
		}
	}
	if got := len(e.sim.Calls()); got != n {
		t.Errorf("sim saw %d calls, want %d", got, n)
	}
}
