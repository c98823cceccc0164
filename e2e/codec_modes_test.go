package e2e

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/internal/testpeer"
	"github.com/ynagw/ynagw/yna/ynasim"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
)

// ynagw against the network codec behaviours of ynasim (ynasim.CodecMode): passthrough
// whenever the network and the desk phone share a codec, and a clean refusal both ways
// when they do not (opus-only network, G.711 phones).

// g711 reports whether a far-end codec name is PCMU or PCMA.
func g711(c string) bool { return c == "PCMU/8000" || c == "PCMA/8000" }

// TestCodecModesPassthrough: with the browser-order, prefer-opus and G.711-only networks a
// baresip phone (G.711 only) gets a call through in both directions without transcoding:
// the network's far end negotiates G.711, hears the phone's 440 Hz and the phone hears the
// far end's 1000 Hz.
func TestCodecModesPassthrough(t *testing.T) {
	for _, mode := range []ynasim.CodecMode{ynasim.CodecsBrowser, ynasim.CodecsPreferOpus, ynasim.CodecsG711Only} {
		for _, dir := range []string{ynasim.DirectionInbound, ynasim.DirectionOutbound} {
			t.Run(string(mode)+"/"+dir, func(t *testing.T) {
				e := newGwEnv(t, nil)
				if err := e.sim.SetAccountCodecs(e2eAccount, mode); err != nil {
					t.Fatal(err)
				}
				var id string
				var bob *baresip
				if dir == ynasim.DirectionInbound {
					bob = startBaresip(t, e, "bob", "bobpw", "auto")
					var err error
					if id, err = e.sim.InjectCall(e.ctx(10*time.Second), e2eLine, e2eCaller); err != nil {
						t.Fatal(err)
					}
					bob.waitEvent("CALL_ESTABLISHED", 15*time.Second)
				} else {
					bob = startBaresip(t, e, "bob", "bobpw", "manual")
					bob.command("dial", "sip:"+e2eFarNumber+"@"+e.sipAddr().String())
					bob.waitEvent("CALL_ESTABLISHED", 15*time.Second)
					id = e.simCall(ynasim.DirectionOutbound)
				}
				ci := e.waitState(id, ynasim.CallConnected)
				st := e.waitStats(id, 15*time.Second, "2 s of audio both ways", func(s farend.Stats) bool {
					return s.PacketsReceived >= 100 && s.PacketsSent >= 100
				})
				if ci, _ = e.sim.Call(id); ci.Codecs != mode || !g711(ci.Codec) || ci.CodecReceived != ci.Codec {
					t.Errorf("network codecs %s: far end sends %q, receives %q; want the same G.711 both ways", ci.Codecs, ci.Codec, ci.CodecReceived)
				}
				t.Logf("network %s: far end sends %s, receives %s", ci.Codecs, ci.Codec, ci.CodecReceived)
				if !within(st.ToneHzDetected, phoneToneHz, 0.1) || st.Lost > 2 {
					t.Errorf("far end heard %.0f Hz (lost %d), want the phone's %d Hz", st.ToneHzDetected, st.Lost, phoneToneHz)
				}
				e.action(id, ynasim.ActionHangup)
				bob.waitEvent("CALL_CLOSED", 10*time.Second)
				if hz := bob.heardToneHz(); !within(hz, farToneHz, 0.2) {
					t.Errorf("bob heard %.0f Hz, want the far end's %d Hz", hz, farToneHz)
				}
			})
		}
	}
}

var reSippRefused = regexp.MustCompile(`final 488 warning=\{(.*?)\} reason=\{(.*?)\}`)

// TestCodecModesOpusOnly runs the ynagw binary (the process harness: JSON logs, /metrics)
// against an opus-only network; the desk phones have G.711 only. The desired outcome is a
// clean refusal both ways:
//   - outbound (sipp dials): 488 toward the phone with Warning: 305 naming the codecs;
//   - inbound: DELETE /end with a Reason header toward the network, no phone rung;
//   - ynagw_calls_total{result="codec"} for each direction;
//   - one warn log line per call naming both codec lists (the network's and ours).
func TestCodecModesOpusOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the ynagw binary")
	}
	testpeer.Require(t, "sipp")
	bin := buildYnagw(t, t.TempDir())
	e := newDPEnv(t, bin)
	e.cfg.Users = append(e.cfg.Users, dpUser{"alice", "alicepw"})
	e.cfg.Outbound = append(e.cfg.Outbound, "alice")
	e.writeConfig()
	if err := e.sim.SetAccountCodecs(dpAccount, ynasim.CodecsOpusOnly); err != nil {
		t.Fatal(err)
	}
	p := e.start()
	t.Cleanup(func() {
		if t.Failed() {
			p.dumpLogs()
		}
	})
	ph := p.phone("201", "pw-201")
	if err := ph.Register(dpCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}

	var outID, inID string
	var warning, sipReason string
	t.Run("outbound", func(t *testing.T) {
		run := startSipp(t, "uac_refused.xml", p.sip, sippOpts{auth: true, service: dpFar, vars: map[string]string{"CODE": "488"}})
		run.mustPass(40 * time.Second) // sipp passes only on a 488 final
		m := reSippRefused.FindStringSubmatch(run.logs())
		if m == nil {
			t.Fatalf("sipp log: %q", run.logs())
		}
		warning, sipReason = strings.TrimSpace(m[1]), strings.TrimSpace(m[2])
		ctx := dpCtx(t, 10*time.Second)
		var err error
		if outID, err = e.sim.WaitCall(ctx, func(ci ynasim.CallInfo) bool {
			return ci.Direction == ynasim.DirectionOutbound && ci.State == ynasim.CallTerminated
		}); err != nil {
			t.Fatal(err)
		}
		ci, _ := e.sim.Call(outID)
		t.Logf("outbound: phone got 488, Warning %q, Reason %q; network call outcome %s (the network refused /start's offer with Terminated/488)",
			warning, sipReason, ci.Outcome)
		if ci.Outcome != ynasim.OutcomeNoCommonCodec {
			t.Errorf("network outcome %s, want %s", ci.Outcome, ynasim.OutcomeNoCommonCodec)
		}
	})
	t.Run("outbound/Warning", func(t *testing.T) {
		if outID == "" {
			t.Skip("outbound failed")
		}
		// RFC 3261 §20.43: 305 incompatible media format, our host, the codec lists. On an
		// outbound call the network only refuses (Terminated/488, no SDP of its own), so the
		// text names what we offered it and what the phone offered.
		re := regexp.MustCompile(`^305 \S+ "Incompatible media format: network refused .*PCMA/8000.*; phone offers PCMA/8000"$`)
		if !re.MatchString(warning) {
			t.Errorf("Warning %q, want 305 <host> \"Incompatible media format: network refused ...; phone offers PCMA/8000\"", warning)
		}
		if sipReason == "" {
			t.Errorf("488 without a Reason header")
		}
	})

	t.Run("inbound", func(t *testing.T) {
		ctx := dpCtx(t, 30*time.Second)
		var err error
		if inID, err = e.sim.InjectCall(ctx, dpLine, "12065550123"); err != nil {
			t.Fatal(err)
		}
		if err := e.sim.WaitCallState(ctx, inID, ynasim.CallTerminated); err != nil {
			t.Fatal(err)
		}
		ci, _ := e.sim.Call(inID)
		var ops []string
		for _, ev := range ci.Events {
			if ev.Kind == "rest" {
				ops = append(ops, ev.Name+" "+ev.Detail)
			}
		}
		rang := false
		select {
		case <-ph.Incoming():
			rang = true
		default:
		}
		t.Logf("inbound: network outcome %s, client REST ops %q, phone rung %v", ci.Outcome, ops, rang)
		if rang {
			t.Errorf("the phone was rung for a call it cannot take")
		}
		ends := ci.EventsOf("rest", "end")
		if len(ends) != 1 || ends[0].HTTPStatus != 200 {
			t.Fatalf("no DELETE /end: outcome %s, ops %q", ci.Outcome, ops)
		}
		if reason := strings.TrimPrefix(ends[0].Detail, "Reason: "); reason == "" {
			t.Errorf("DELETE /end without a Reason header")
		}
	})

	t.Run("metrics", func(t *testing.T) {
		if p.admin == "" {
			t.Fatal("no admin address logged")
		}
		body := ""
		for _, want := range []string{`ynagw_calls_total{direction="inbound",result="codec"} 1`,
			`ynagw_calls_total{direction="outbound",result="codec"} 1`} {
			ok := false
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			for ctx.Err() == nil && !ok { // the counter is written when the call's goroutine ends
				body = httpGet(t, "http://"+p.admin+"/metrics")
				if ok = strings.Contains(body, want); !ok {
					select {
					case <-p.wake:
					case <-ctx.Done():
					}
				}
			}
			cancel()
			if !ok {
				var have []string
				for _, l := range strings.Split(body, "\n") {
					if strings.HasPrefix(l, "ynagw_calls_total") {
						have = append(have, l)
					}
				}
				t.Errorf("/metrics lacks %s; has %q", want, have)
			}
		}
	})

	t.Run("log", func(t *testing.T) {
		// One warn entry per refused call, with the call's log keys, naming the network's
		// codecs and ours (G.711): inbound the network's offer (opus), outbound what the
		// network refused (it sends no codec list of its own).
		p.logsMu.Lock()
		var refusals []map[string]any
		for _, m := range p.logs {
			if m["level"] == "warn" && m["msg"] == "call refused: no common codec" {
				refusals = append(refusals, m)
			}
		}
		p.logsMu.Unlock()
		byID := map[string]map[string]any{}
		for _, m := range refusals {
			t.Logf("refusal log: %v", m)
			id, _ := m["yna_call_id"].(string)
			if byID[id] != nil {
				t.Errorf("two refusal lines for call %q", id)
			}
			byID[id] = m
		}
		for _, c := range []struct{ dir, id, net, ours string }{
			{"outbound", outID, "refused PCMA/8000", "PCMA/8000"},
			{"inbound", inID, "opus/48000/2", "PCMU/8000"},
		} {
			m := byID[c.id]
			if c.id == "" || m == nil {
				t.Errorf("%s: no refusal log line for call %q", c.dir, c.id)
				continue
			}
			net, _ := m["network_codecs"].(string)
			ours, _ := m["our_codecs"].(string)
			if !strings.Contains(net, c.net) || !strings.Contains(ours, c.ours) || m["call_dir"] != c.dir {
				t.Errorf("%s: refusal line %v; want call_dir %s, network_codecs with %q, our_codecs with %q", c.dir, m, c.dir, c.net, c.ours)
			}
			if sid, _ := m["sip_call_id"].(string); c.dir == "outbound" && sid == "" {
				t.Errorf("outbound refusal line without the SIP Call-ID: %v", m)
			}
		}
	})
}
