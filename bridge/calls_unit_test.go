package bridge

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/yna"
)

// The call logic on fakes (fakes_test.go): every outcome of a YNA request (2xx, 4xx,
// 401 with the token refreshed or refused, 5xx, timeout, and the notification channel
// dropping what would have come) at every phase of both directions, each case checked
// on the SIP side, the network side, the media directions and the CDR. The real-peer
// tests (stuck_test.go, outbound_test.go, ...) run the same logic against sipgo phones,
// ynasim and pion.

// outcome is what a scripted YNA request does.
type outcome struct {
	name    string
	err     error // the request's error (nil: 2xx)
	expired bool  // the token is refused first (401); refused says whether the refresh fails
	refused bool
}

var errTimeout = context.DeadlineExceeded

func outcomes(op string) []outcome {
	return []outcome{
		{name: "2xx"},
		{name: "400", err: apiErr(op, 400)},
		{name: "404", err: apiErr(op, 404)},
		{name: "409", err: apiErr(op, 409)},
		{name: "401 refreshed", expired: true},
		{name: "401 refresh refused", expired: true, refused: true},
		{name: "503", err: apiErr(op, 503)},
		{name: "timeout", err: errTimeout},
	}
}

// apply scripts o for the next request of op.
func (u *unit) apply(op string, o outcome) {
	if o.err != nil {
		u.y.script(op, o.err)
	}
	if o.expired {
		u.tok.expire()
		if o.refused {
			u.tok.mu.Lock()
			u.tok.refuse = apiErr("refreshToken", 400)
			u.tok.mu.Unlock()
		}
	}
}

func (o outcome) ok() bool { return o.err == nil && !o.refused }

// outbound places a call from alice; it returns the INVITE and the network's callId.
func (u *unit) outbound() (*fakeInvite, string) {
	inv := newFakeInvite()
	go u.g.handleInvite(context.Background(), inv, caller{user: "alice", ruri: "sip:2065550123@ynagw"})
	return inv, u.req(yna.OpStart).id
}

// established is an answered call: its dialog, callId, relay and network leg.
type established struct {
	dlg   *fakeDialog
	id    string
	relay *fakeRelay
	net   *fakeNet
}

func (u *unit) establishOut() established {
	u.t.Helper()
	inv, id := u.outbound()
	net := wait(u.t, u.media.made, "the network leg")
	u.note(id, yna.StatusInProgress, 183, "net-answer", false)
	if c := wait(u.t, inv.prov, "183"); c != 183 {
		u.t.Fatalf("provisional %d", c)
	}
	relay := wait(u.t, u.relays, "the relay")
	u.note(id, yna.StatusConnected, 200, "", false)
	if c := wait(u.t, inv.finals, "200 OK"); c != 200 {
		u.t.Fatalf("final %d", c)
	}
	return established{dlg: inv.dlg, id: id, relay: relay, net: net}
}

// inbound delivers an invitation; it returns the fork and the callId.
func (u *unit) inbound() (*fakeFork, string) {
	u.g.startInbound(testLine, &yna.SessionInvitation{OriginatorAddress: "tel:+12065550123",
		CallObjectRef: "https://yna/cpaas/v1/call/" + testLine + "/sessions/IN1", SDP: netOfferSDP(rtpmedia.SendRecv)})
	u.req(yna.OpInProgress)
	return wait(u.t, u.sip.forks, "the fork"), "IN1"
}

func (u *unit) establishIn() established {
	u.t.Helper()
	fork, id := u.inbound()
	net := wait(u.t, u.media.made, "the network leg")
	fork.ring()
	u.req(yna.OpRinging)
	fork.answer()
	u.req(yna.OpConnected)
	return established{dlg: fork.dlg, id: id, relay: wait(u.t, u.relays, "the relay"), net: net}
}

func (u *unit) establish(dir string) established {
	if dir == DirectionInbound {
		return u.establishIn()
	}
	return u.establishOut()
}

func (u *unit) relinks() []string {
	u.tok.mu.Lock()
	defer u.tok.mu.Unlock()
	return append([]string(nil), u.tok.relinks...)
}

// checkRelink: a refused refresh marks the line for a relink; nothing else does.
func (u *unit) checkRelink(o outcome) {
	u.t.Helper()
	if got := u.relinks(); (len(got) > 0) != o.refused {
		u.t.Errorf("relinks %v, want some only when the refresh was refused", got)
	}
}

func TestUnitOutboundStart(t *testing.T) {
	for _, o := range outcomes(yna.OpStart) {
		t.Run(o.name, func(t *testing.T) {
			u := newUnit(t, nil)
			u.apply(yna.OpStart, o)
			inv := newFakeInvite()
			go u.g.handleInvite(context.Background(), inv, caller{user: "alice", ruri: "sip:2065550123@ynagw"})
			if o.ok() {
				id := u.req(yna.OpStart).id
				if o.expired { // the retry with the refreshed token
					id = u.req(yna.OpStart).id
				}
				inv.cancel()
				if r := u.req(yna.OpEnd); r.id != id {
					t.Errorf("DELETE /end for %q, want %q", r.id, id)
				}
				if cdr := u.cdr(); cdr.Result != ResultCancelled || cdr.YNACallID != id {
					t.Errorf("CDR %+v", cdr)
				}
				return
			}
			want := map[string]struct {
				code   int
				result string
			}{
				"400": {484, ResultBadNumber}, "404": {404, ResultNotFound}, "409": {486, ResultBusy},
				"401 refresh refused": {500, ResultNetworkError}, "503": {502, ResultNetworkError}, "timeout": {504, ResultNetworkError},
			}[o.name]
			if got := wait(t, inv.finals, "final response"); got != want.code {
				t.Errorf("final %d, want %d", got, want.code)
			}
			if r := wait(t, inv.reasons, "Reason"); !strings.HasPrefix(r, "SIP;cause=") && !strings.HasPrefix(r, "Q.850;cause=") {
				t.Errorf("Reason header %q", r)
			}
			cdr := u.cdr()
			if cdr.Result != want.result || cdr.SIPStatus != want.code {
				t.Errorf("CDR %s %d, want %s %d", cdr.Result, cdr.SIPStatus, want.result, want.code)
			}
			if u.y.count(yna.OpEnd) != 0 {
				t.Errorf("DELETE /end for a call the network never started: %v", u.y.ops())
			}
			if n := wait(t, u.media.made, "the network leg"); !closed(n.Done()) {
				t.Error("network leg left open")
			}
			u.checkRelink(o)
		})
	}
}

// The notification channel drops everything after /start: the setup timer ends the call
// on both sides.
func TestUnitOutboundNoNotifications(t *testing.T) {
	u := newUnit(t, nil)
	inv, id := u.outbound()
	for d := time.Duration(0); d != u.g.cfg.Timers.SetupTimeout; {
		d = wait(t, u.clk.armed, "the setup timer")
	}
	u.clk.advance(u.g.cfg.Timers.SetupTimeout)
	if got := wait(t, inv.finals, "final response"); got != 408 {
		t.Errorf("final %d, want 408", got)
	}
	if r := u.req(yna.OpEnd); r.id != id {
		t.Errorf("DELETE /end %q", r.id)
	}
	if cdr := u.cdr(); cdr.Result != ResultNoAnswer || cdr.SIPStatus != 408 {
		t.Errorf("CDR %+v", cdr)
	}
}

// Every notification of a batch is handled, whatever state the one before left the call
// in: Connected and Terminated together give 200 OK, then BYE.
func TestUnitOutboundBatchBehindConnected(t *testing.T) {
	u := newUnit(t, nil)
	inv, id := u.outbound()
	u.note(id, yna.StatusInProgress, 183, "net-answer", false)
	u.note(id, yna.StatusConnected, 200, "", false)
	u.note(id, yna.StatusTerminated, 200, "", false)
	if got := wait(t, inv.finals, "final"); got != 200 {
		t.Fatalf("final %d", got)
	}
	wait(t, inv.dlg.byes, "BYE for the Terminated behind Connected")
	if cdr := u.cdr(); cdr.Result != ResultAnswered || !strings.Contains(cdr.EndReason, "network") {
		t.Errorf("CDR %+v", cdr)
	}
	if u.y.count(yna.OpEnd) != 0 {
		t.Errorf("DELETE /end after the network hung up: %v", u.y.ops())
	}
}

func TestUnitInboundInProgress(t *testing.T) {
	for _, o := range outcomes(yna.OpInProgress) {
		t.Run(o.name, func(t *testing.T) {
			u := newUnit(t, nil)
			u.apply(yna.OpInProgress, o)
			u.g.startInbound(testLine, &yna.SessionInvitation{OriginatorAddress: "tel:+12065550123",
				CallObjectRef: "https://yna/sessions/IN1", SDP: netOfferSDP(rtpmedia.SendRecv)})
			if o.ok() {
				fork := wait(t, u.sip.forks, "the fork")
				fork.fail(486)
				u.req(yna.OpEnd) // voicemail
				if cdr := u.cdr(); cdr.Result != ResultBusy || cdr.SIPStatus != 486 {
					t.Errorf("CDR %+v", cdr)
				}
				return
			}
			cdr := u.cdr()
			if cdr.Result != ResultNetworkError || !strings.Contains(cdr.EndReason, "inProgress") {
				t.Errorf("CDR %+v", cdr)
			}
			select {
			case <-u.sip.forks:
				t.Error("phones rung after /inProgress failed")
			default:
			}
			if u.y.count(yna.OpEnd) != 0 { // §13: no /end after /inProgress failed
				t.Errorf("requests %v", u.y.ops())
			}
			u.checkRelink(o)
		})
	}
}

func TestUnitInboundConnected(t *testing.T) {
	for _, o := range outcomes(yna.OpConnected) {
		t.Run(o.name, func(t *testing.T) {
			u := newUnit(t, nil)
			fork, _ := u.inbound()
			u.apply(yna.OpRinging, outcome{err: apiErr(yna.OpRinging, 503)}) // /ringing failing changes nothing
			fork.ring()
			u.req(yna.OpRinging)
			u.apply(yna.OpConnected, o)
			fork.answer()
			u.req(yna.OpConnected)
			if o.ok() {
				relay := wait(t, u.relays, "the relay")
				if s2n, n2s := relay.paused(); s2n || n2s {
					t.Errorf("relay paused %v %v", s2n, n2s)
				}
				fork.dlg.phoneHangsUp()
				u.req(yna.OpEnd)
				if cdr := u.cdr(); cdr.Result != ResultAnswered || cdr.AnsweredAt.IsZero() {
					t.Errorf("CDR %+v", cdr)
				}
				return
			}
			wait(t, fork.dlg.byes, "BYE to the phone")
			u.req(yna.OpEnd)
			if cdr := u.cdr(); cdr.Result != ResultNetworkError || !cdr.AnsweredAt.IsZero() {
				t.Errorf("CDR %+v", cdr)
			}
			u.checkRelink(o)
		})
	}
}

// The channel drops the network's cancel: the fork's own ring timeout ends the call and
// the caller goes to voicemail.
func TestUnitInboundNoNotifications(t *testing.T) {
	u := newUnit(t, nil)
	fork, id := u.inbound()
	fork.fail(408)
	if r := u.req(yna.OpEnd); r.id != id {
		t.Errorf("DELETE /end %q", r.id)
	}
	if cdr := u.cdr(); cdr.Result != ResultNoAnswer || cdr.SIPStatus != 408 {
		t.Errorf("CDR %+v", cdr)
	}
}

// The phone answers before the WebRTC answer is gathered: /connected waits for it.
func TestUnitInboundAnswerBeforeGathered(t *testing.T) {
	u := newUnit(t, nil)
	gather := make(chan struct{})
	u.media.mod = func(n *fakeNet) { n.accept = gather }
	fork, _ := u.inbound()
	fork.answer()
	u.req(yna.OpRinging)
	select {
	case r := <-u.y.reqs:
		t.Fatalf("%s before the answer was gathered", r.op)
	default:
	}
	close(gather)
	u.req(yna.OpConnected)
	wait(t, u.relays, "the relay")
	fork.dlg.phoneHangsUp()
	u.req(yna.OpEnd)
	u.cdr()
}

// The network cancels while the phone rings: CANCEL, no DELETE /end.
func TestUnitInboundCancelledByNetwork(t *testing.T) {
	u := newUnit(t, nil)
	fork, id := u.inbound()
	u.note(id, yna.StatusSessionCancelled, 487, "", false)
	if r := wait(t, fork.cancels, "CANCEL"); !strings.Contains(r, "487") {
		t.Errorf("CANCEL reason %q", r)
	}
	if cdr := u.cdr(); cdr.Result != ResultCancelled {
		t.Errorf("CDR %+v", cdr)
	}
	if u.y.count(yna.OpEnd) != 0 {
		t.Errorf("requests %v", u.y.ops())
	}
}

var dirs = []string{DirectionOutbound, DirectionInbound}

// A phone's hold: the phone gets 200 only when the network took /hold; otherwise its
// re-INVITE fails and nothing changed (WebRTC leg restored, relay untouched), and the
// next hold works.
func TestUnitLocalHold(t *testing.T) {
	for _, dir := range dirs {
		for _, o := range outcomes(yna.OpHold) {
			t.Run(dir+"/"+o.name, func(t *testing.T) {
				u := newUnit(t, nil)
				c := u.establish(dir)
				u.apply(yna.OpHold, o)
				code := c.dlg.offer(t, rtpmedia.SendOnly)
				want := map[string]int{"2xx": 200, "401 refreshed": 200, "400": 488, "409": 491, "404": 481,
					"401 refresh refused": 500, "503": 500, "timeout": 500}[o.name]
				if code != want {
					t.Fatalf("phone's hold answered %d, want %d", code, want)
				}
				switch {
				case code == 200:
					c.wantMedia(t, rtpmedia.SendOnly, false, true)
				case code == 481: // the network forgot the call
					wait(t, c.dlg.byes, "BYE")
					if cdr := u.cdr(); cdr.Result != ResultAnswered || u.y.count(yna.OpEnd) != 0 {
						t.Errorf("CDR %+v, requests %v", cdr, u.y.ops())
					}
					return
				default:
					c.wantMedia(t, rtpmedia.SendRecv, false, false)
					if _, reoffered, _ := c.net.state(); reoffered {
						t.Error("the WebRTC leg stayed re-offered")
					}
					if !o.refused {
						if got := c.dlg.offer(t, rtpmedia.SendOnly); got != 200 { // the next one works
							t.Errorf("hold after the refused one: %d", got)
						}
					}
				}
				u.checkRelink(o)
				c.dlg.phoneHangsUp()
				u.req(yna.OpEnd)
				if cdr := u.cdr(); cdr.Result != ResultAnswered {
					t.Errorf("CDR %+v", cdr)
				}
			})
		}
	}
}

// A phone's resume the network refuses leaves the call held on both sides.
func TestUnitLocalResume(t *testing.T) {
	for _, dir := range dirs {
		for _, o := range outcomes(yna.OpResume) {
			t.Run(dir+"/"+o.name, func(t *testing.T) {
				u := newUnit(t, nil)
				c := u.establish(dir)
				if code := c.dlg.offer(t, rtpmedia.SendOnly); code != 200 {
					t.Fatalf("hold %d", code)
				}
				u.apply(yna.OpResume, o)
				code := c.dlg.offer(t, rtpmedia.SendRecv)
				switch {
				case o.ok():
					if code != 200 {
						t.Errorf("resume answered %d", code)
					}
					c.wantMedia(t, rtpmedia.SendRecv, false, false)
				case o.name == "404":
					wait(t, c.dlg.byes, "BYE")
					u.cdr()
					return
				default:
					if code < 400 {
						t.Errorf("refused resume answered %d", code)
					}
					c.wantMedia(t, rtpmedia.SendOnly, false, true) // still held on both sides
				}
				u.checkRelink(o)
				c.dlg.phoneHangsUp()
				u.req(yna.OpEnd)
				u.cdr()
			})
		}
	}
}

// acceptOp is the network's operation answering a re-offer kind.
var acceptOp = map[eventKind]string{evNetHold: yna.OpAcceptHold, evNetResume: yna.OpAcceptResume, evNetReoffer: yna.OpConnected}

// A network hold: the phone is re-INVITEd first; the network gets /acceptHold only after
// the phone's 200. When the network then refuses our answer, the leg is restored and the
// phone taken back to sendrecv.
func TestUnitRemoteHold(t *testing.T) {
	for _, dir := range dirs {
		for _, o := range outcomes(yna.OpAcceptHold) {
			t.Run(dir+"/"+o.name, func(t *testing.T) {
				u := newUnit(t, nil)
				c := u.establish(dir)
				u.apply(yna.OpAcceptHold, o)
				u.note(c.id, yna.StatusHold, 0, netOfferSDP(rtpmedia.SendOnly), true)
				if d := wait(t, c.dlg.reinvs, "hold re-INVITE"); d != rtpmedia.SendOnly {
					t.Errorf("re-INVITE %v", d)
				}
				u.req(yna.OpAcceptHold)
				switch {
				case o.ok():
					c.wantMedia(t, rtpmedia.RecvOnly, true, false)
				case o.name == "404":
					wait(t, c.dlg.byes, "BYE")
					u.cdr()
					return
				default:
					if d := wait(t, c.dlg.reinvs, "re-INVITE back"); d != rtpmedia.SendRecv {
						t.Errorf("re-INVITE back %v", d)
					}
					c.wantMedia(t, rtpmedia.SendRecv, false, false)
				}
				u.checkRelink(o)
				c.dlg.phoneHangsUp()
				u.req(yna.OpEnd)
				u.cdr()
			})
		}
	}
}

// Network resume and mid-call re-offer: the same transaction.
func TestUnitRemoteResumeAndReoffer(t *testing.T) {
	for _, dir := range dirs {
		for _, kind := range []eventKind{evNetResume, evNetReoffer} {
			for _, o := range []outcome{{name: "2xx"}, {name: "503", err: apiErr(acceptOp[kind], 503)}} {
				t.Run(dir+"/"+kind.String()+"/"+o.name, func(t *testing.T) {
					u := newUnit(t, nil)
					c := u.establish(dir)
					if kind == evNetResume {
						u.note(c.id, yna.StatusHold, 0, netOfferSDP(rtpmedia.SendOnly), true)
						wait(t, c.dlg.reinvs, "hold re-INVITE")
						u.req(yna.OpAcceptHold)
					}
					u.apply(acceptOp[kind], o)
					u.note(c.id, map[eventKind]string{evNetResume: yna.StatusResume, evNetReoffer: yna.StatusConnected}[kind], 200, netOfferSDP(rtpmedia.SendRecv), true)
					if kind == evNetResume {
						if d := wait(t, c.dlg.reinvs, "resume re-INVITE"); d != rtpmedia.SendRecv {
							t.Errorf("re-INVITE %v", d)
						}
					}
					u.req(acceptOp[kind])
					if kind == evNetResume && !o.ok() { // back to held
						if d := wait(t, c.dlg.reinvs, "re-INVITE back"); d != rtpmedia.SendOnly {
							t.Errorf("re-INVITE back %v", d)
						}
					}
					wantHeld := kind == evNetResume && !o.ok()
					eventually(t, unitWait, "relay directions", func() bool { s2n, _ := c.relay.paused(); return s2n == wantHeld })
					if kind == evNetReoffer {
						select {
						case d := <-c.dlg.reinvs:
							t.Errorf("re-INVITE %v for a re-offer that changes nothing for the phone", d)
						default:
						}
					}
					c.dlg.phoneHangsUp()
					u.req(yna.OpEnd)
					u.cdr()
				})
			}
		}
	}
}

// Glare: the phone answers the network hold's re-INVITE 491; it is sent again after the
// RFC 3261 §14.1 timer (0-2 s when the phone owns the Call-ID, 2.1-4 s when we do:
// inbound), and /acceptHold goes out only after the phone's 200. A phone that keeps
// refusing ends the call on both sides, the network never told it was accepted.
func TestUnitRemoteHoldGlare(t *testing.T) {
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			u := newUnit(t, nil)
			c := u.establish(dir)
			c.dlg.answerReinvites(491)
			u.note(c.id, yna.StatusHold, 0, netOfferSDP(rtpmedia.SendOnly), true)
			wait(t, c.dlg.replies, "first re-INVITE")
			want := time.Second // jitter(2 s) = 1 s in the fakes
			if dir == DirectionInbound {
				want = 3050 * time.Millisecond // 2.1 s + jitter(1.9 s)
			}
			for d := time.Duration(0); d != want; {
				d = wait(t, u.clk.armed, "the glare timer")
			}
			if u.y.count(yna.OpAcceptHold) != 0 {
				t.Fatal("/acceptHold before the phone took the hold")
			}
			u.clk.advance(want)
			if code := wait(t, c.dlg.replies, "the retried re-INVITE"); code != 200 {
				t.Fatalf("retry got %d", code)
			}
			u.req(yna.OpAcceptHold)
			c.dlg.phoneHangsUp()
			u.req(yna.OpEnd)
			u.cdr()
		})
	}
	for _, codes := range [][]int{{488}, {491, 491, 491, 491}} {
		t.Run(fmt.Sprint("refused", codes), func(t *testing.T) {
			u := newUnit(t, nil)
			c := u.establish(DirectionOutbound)
			c.dlg.answerReinvites(codes...)
			u.note(c.id, yna.StatusHold, 0, netOfferSDP(rtpmedia.SendOnly), true)
			for i, code := range codes {
				wait(t, c.dlg.replies, "re-INVITE")
				if code == 491 && i < len(codes)-1 {
					for d := time.Duration(0); d != time.Second; {
						d = wait(t, u.clk.armed, "the glare timer")
					}
					u.clk.advance(time.Second)
				}
			}
			wait(t, c.dlg.byes, "BYE")
			u.req(yna.OpEnd)
			if cdr := u.cdr(); !strings.Contains(cdr.EndReason, "hold") {
				t.Errorf("CDR %+v", cdr)
			}
			if u.y.count(yna.OpAcceptHold) != 0 {
				t.Errorf("network told the hold was accepted: %v", u.y.ops())
			}
		})
	}
}

// DELETE /end at the phone's hang-up: 404 is done; a refused token is refreshed; a
// failure is kept (EndRecorder) and retried with backoff until it goes through.
func TestUnitEnd(t *testing.T) {
	for _, dir := range dirs {
		for _, o := range outcomes(yna.OpEnd) {
			if o.refused {
				continue // below
			}
			t.Run(dir+"/"+o.name, func(t *testing.T) {
				u := newUnit(t, nil)
				c := u.establish(dir)
				u.apply(yna.OpEnd, o)
				c.dlg.phoneHangsUp()
				u.req(yna.OpEnd)
				cdr := u.cdr()
				if cdr.Result != ResultAnswered {
					t.Errorf("CDR %+v", cdr)
				}
				retried := !o.ok() && o.name != "404"
				if o.expired {
					u.req(yna.OpEnd) // the retry with the fresh token
				}
				if !retried {
					if len(u.g.ends.pending()) != 0 {
						t.Errorf("DELETE /end retried after %s", o.name)
					}
					return
				}
				if e := wait(t, u.cdrs.added, "the pending DELETE /end stored"); e.YNACallID != c.id || e.CDRID != cdr.ID {
					t.Errorf("pending %+v", e)
				}
				u.advanceEndRetry()
				u.req(yna.OpEnd)
				if id := wait(t, u.cdrs.removed, "the pending DELETE /end removed"); id != c.id {
					t.Errorf("removed %q", id)
				}
			})
		}
	}
	// A refused token whose refresh is refused too: the line needs a relink, and the end
	// stays pending for when it is relinked.
	t.Run("401 refresh refused is kept", func(t *testing.T) {
		u := newUnit(t, nil)
		c := u.establish(DirectionOutbound)
		u.apply(yna.OpEnd, outcome{expired: true, refused: true})
		c.dlg.phoneHangsUp()
		u.req(yna.OpEnd)
		u.cdr()
		wait(t, u.cdrs.added, "the pending DELETE /end stored")
		if got := u.relinks(); !slices.Equal(got, []string{testLine}) {
			t.Errorf("relinks %v", got)
		}
	})
}

// Pending DELETE /end requests survive a restart: the next gateway retries them.
func TestUnitPendingEndsResumed(t *testing.T) {
	u := newUnit(t, func(c *Config) { c.Lines = nil }) // no notification channels in unit tests
	u.g.confs[testLine] = LineConfig{MSISDN: testLine}
	u.cdrs.pending["OLD1"] = PendingEnd{Line: testLine, YNACallID: "OLD1"}
	if err := u.g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	u.advanceEndRetry()
	if r := u.req(yna.OpEnd); r.id != "OLD1" {
		t.Errorf("DELETE /end %q", r.id)
	}
	wait(t, u.cdrs.removed, "removed")
}

// The transitions table has one handler per (direction, state, event) and every state
// but the transient ones handles the events that end a call.
func TestTransitionsTable(t *testing.T) {
	for _, d := range []string{dOut, dIn} {
		for _, s := range []callState{stEarly, stRinging, stEstablished, stReofferRemote} {
			for _, ev := range []eventKind{evNetFinal, evShutdown, evMediaFailed} {
				if transitionIndex[transitionKey{d, s, ev}] == nil {
					t.Errorf("%s %s: no transition for %s", d, s, ev)
				}
			}
		}
	}
	for _, s := range []callState{stEstablished, stReofferRemote} {
		for _, ev := range []eventKind{evPhoneBye, evPhoneGone} {
			for _, d := range []string{dOut, dIn} {
				if transitionIndex[transitionKey{d, s, ev}] == nil {
					t.Errorf("%s %s: no transition for %s", d, s, ev)
				}
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("a duplicate transition was accepted")
		}
	}()
	buildTransitions([]transition{{dOut, in(stEarly), evNetFinal, (*call).ignore}, {dAny, in(stEarly), evNetFinal, (*call).ignore}})
}

// advanceEndRetry fires the first retry timer of a pending DELETE /end.
func (u *unit) advanceEndRetry() {
	u.t.Helper()
	for d := time.Duration(0); d < endBackoff.Min/2 || d >= endBackoff.Min; {
		d = wait(u.t, u.clk.armed, "the DELETE /end retry timer")
	}
	u.clk.advance(endBackoff.Min)
}

// wantMedia waits (on the fakes' change signals) until the WebRTC leg's direction is
// net and the relay pauses sip→net and net→sip as given.
func (c established) wantMedia(t *testing.T, net rtpmedia.Direction, s2n, n2s bool) {
	t.Helper()
	deadline := time.After(unitWait)
	for {
		d, _, _ := c.net.state()
		a, b := c.relay.paused()
		if d == net && a == s2n && b == n2s {
			return
		}
		select {
		case <-c.net.changed:
		case <-c.relay.changed:
		case <-deadline:
			t.Fatalf("media: leg %v, relay paused sip→net %v net→sip %v; want %v %v %v", d, a, b, net, s2n, n2s)
		}
	}
}
