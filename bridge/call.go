package bridge

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/yna"
	"go.uber.org/zap"
)

// call is one bridged call. Every field is owned by the call goroutine (run), except
// notes (a mailbox), results (its helpers' channel) and snap (published snapshots).
type call struct {
	g     *Gateway
	dir   string
	line  string
	log   *zap.Logger
	notes *mailbox[*yna.SessionStatus]
	m     CallMetrics
	ynaID string
	rec   CDR
	start time.Time
	snap  atomic.Pointer[CallInfo] // published by the call goroutine, read by Gateway.Calls
	// peerName is the other party's display name, if the network gave one (inbound: the
	// invitation's originatorName; outbound: a status notification's receiverName).
	peerName string

	state        callState
	ending       bool
	shutdownSeen bool
	timer        timer
	timerKind    eventKind

	// helpers run blocking I/O for the call (ICE gathering, re-INVITEs) and hand their
	// result back through results; end cancels and waits for them.
	results       chan event
	helpers       sync.WaitGroup
	helperCtx     context.Context
	helperCancel  context.CancelFunc
	inviteCtx     context.Context // outbound: cancelled with the phone's INVITE
	inv           sipInvite       // outbound: the phone's INVITE
	out           outboundSetup   // outbound: the state before the answer
	fork          sipFork         // inbound: the fork toward the phones
	dialCancel    func()          // inbound: ends the fork's context (end)
	forkOver      bool            // the fork's events ended
	prep          *prepared       // inbound: the WebRTC answer gathered while ringing
	rang          bool            // inbound: POST /ringing sent
	invSDP        string          // inbound: the network's offer
	dlg           sipDialog       // the established dialog
	dlgClosed     bool            // its events ended
	remote        *remoteOffer    // a network re-offer waiting for the phone
	phoneDir      rtpmedia.Direction
	netDir        rtpmedia.Direction
	lastNetRemote string // last SDP from the network we applied

	// media
	sipLeg   phoneLeg
	net      NetLeg
	relay    Relay
	sipCodec rtpmedia.Codec
	sipDTMF  *rtpmedia.Codec
	sdpSess  uint64
	sdpVer   uint64
	// phoneSRTP is the SRTP policy toward the phone and our key (srtp.go);
	// branchSRTP the policy of each fork branch of an inbound call, by label.
	phoneSRTP  phoneSRTP
	branchSRTP map[string]phoneSRTP
}

func (g *Gateway) newCall(dir, line string) *call {
	c := &call{
		g: g, dir: dir, line: line, notes: newMailbox[*yna.SessionStatus](), results: make(chan event, 4),
		start: g.clock.Now(), sdpSess: rand.Uint64N(1 << 62), m: nopCall{},
		phoneDir: rtpmedia.SendRecv, netDir: rtpmedia.SendRecv,
	}
	c.helperCtx, c.helperCancel = context.WithCancel(context.Background())
	c.rec = CDR{ID: uuid.NewString(), Direction: dir, Line: line, SetupAt: c.start}
	// cdr_id is the call's id on the admin page, in the API and the CDR store.
	c.log = g.log.With(zap.String("call_dir", dir), zap.String("line", line), zap.String("cdr_id", c.rec.ID),
		zap.String("sip_call_id", ""), zap.String("yna_call_id", ""))
	c.publish(CallStateSetup)
	return c
}

// setIDs rebuilds the call logger once ids are known.
func (c *call) setIDs(sipID, ynaID string) {
	if sipID != "" {
		c.rec.SIPCallID = sipID
	}
	if ynaID != "" {
		c.ynaID = ynaID
		c.rec.YNACallID = ynaID
	}
	c.log = c.g.log.With(zap.String("call_dir", c.dir), zap.String("line", c.line), zap.String("cdr_id", c.rec.ID),
		zap.String("sip_call_id", c.rec.SIPCallID), zap.String("yna_call_id", c.rec.YNACallID))
	c.publish("")
}

// restCtx bounds one REST request; it is not cancelled by Close so that teardown
// requests still go out.
func (c *call) restCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.g.cfg.Timers.RESTTimeout)
}

// goHelper runs f, blocking I/O that touches no call state, in a goroutine end waits for;
// its event comes back through the loop.
func (c *call) goHelper(f func(ctx context.Context) event) {
	c.helpers.Add(1)
	go func() {
		defer c.helpers.Done()
		ev := f(c.helperCtx)
		select {
		case c.results <- ev:
		case <-c.helperCtx.Done():
		}
	}()
}

// setTimer arms the call's one timer: kind is handled when it fires.
func (c *call) setTimer(d time.Duration, kind eventKind) {
	c.stopTimer()
	c.timer, c.timerKind = c.g.clock.NewTimer(d), kind
}

func (c *call) stopTimer() {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

// newSIPLeg binds the SIP-side RTP leg toward remote (may be unset until the answer).
func (c *call) newSIPLeg(md *rtpmedia.MediaDescription) error {
	mc := c.g.cfg.Media
	lc := rtpmedia.DefaultLegConfig()
	lc.BindIP = mc.BindIP
	lc.Ports = c.g.ports
	lc.ActiveTimeout = c.g.cfg.Timers.MediaTimeout
	lc.HeldTimeout = c.g.cfg.Timers.HeldMediaTimeout
	lc.Logger = c.log
	if md != nil {
		lc.Remote, lc.RemoteRTCP, lc.RTCPMux = md.Addr, md.RTCPAddr, md.RTCPMux
	}
	l, err := c.g.parts.newLeg(lc)
	if err != nil {
		return err
	}
	c.sipLeg = l
	return nil
}

// setPhoneRemote points the SIP leg at the address of the phone's SDP (if it has one).
func (c *call) setPhoneRemote(md *rtpmedia.MediaDescription) {
	if md.Addr.Addr().IsValid() && !md.Addr.Addr().IsUnspecified() && md.Addr.Port() != 0 {
		c.sipLeg.SetRemote(md.Addr)
		if md.RTCPAddr.IsValid() && md.RTCPAddr != (netip.AddrPort{}) {
			c.sipLeg.SetRemoteRTCP(md.RTCPAddr)
		}
	}
}

// localSDPConfig describes our SIP side for an offer or answer.
func (c *call) localSDPConfig(codecs []rtpmedia.Codec, dir rtpmedia.Direction) rtpmedia.OfferConfig {
	c.sdpVer++
	mc := c.g.cfg.Media
	cfg := rtpmedia.OfferConfig{
		Addr:      netip.AddrPortFrom(mc.AdvertiseIP, c.sipLeg.LocalAddr().Port()),
		Codecs:    codecs,
		Direction: dir,
		PTime:     mc.PTime,
		SessionID: c.sdpSess,
		Version:   c.sdpVer,
		Username:  "ynagw",
		RTCPPort:  int(c.sipLeg.LocalRTCPAddr().Port()),
	}
	c.phoneSRTP.apply(&cfg)
	return cfg
}

// sipCodecs returns the current SIP codec plus telephone-event.
func (c *call) sipCodecs() []rtpmedia.Codec {
	out := []rtpmedia.Codec{c.sipCodec}
	if c.sipDTMF != nil {
		out = append(out, *c.sipDTMF)
	}
	return out
}

// commonCodecs returns the codecs of order that other also has (same format), in order's
// order, carrying order's payload types when ptsFromOrder, else other's.
func commonCodecs(order, other []rtpmedia.Codec, ptsFromOrder bool) []rtpmedia.Codec {
	var out []rtpmedia.Codec
	for _, a := range order {
		for _, b := range other {
			if a.Matches(b) {
				if ptsFromOrder {
					out = append(out, a)
				} else {
					out = append(out, b)
				}
				break
			}
		}
	}
	return out
}

func hasAudio(cs []rtpmedia.Codec) bool {
	for _, c := range cs {
		if !c.IsDTMF() {
			return true
		}
	}
	return false
}

// netFormat is the format offered to the WebRTC leg for a SIP codec: the same, payload
// type included (the engine needs unique payload types and keeps them where it can).
func netFormat(cd rtpmedia.Codec) rtpmedia.Codec { return cd }

// relayParams are the formats both legs negotiated.
func (c *call) relayParams() RelayParams {
	return RelayParams{SIPCodec: c.sipCodec, NetCodec: c.net.Codec(), SIPDTMF: c.sipDTMF, NetDTMF: c.net.DTMF()}
}

// startRelay starts media between the legs with the negotiated formats (or updates it).
func (c *call) startRelay() error {
	p := c.relayParams()
	if c.relay != nil {
		c.relay.Update(p)
		return nil
	}
	if err := rtpmedia.CheckRelay(p.SIPCodec, p.NetCodec); err != nil {
		return err
	}
	r := c.g.parts.newRelay(c.sipLeg, c.net, p, c.log)
	c.relay = r
	r.Start()
	c.log.Debug("media relay started", zap.Stringer("sip_codec", c.sipCodec), zap.Stringer("net_codec", p.NetCodec))
	return nil
}

// heldByNet reports whether the network's side does not send or does not receive.
func (c *call) heldByNet() bool { return !c.netDir.Sends() || !c.netDir.Receives() }

// applyHold sets the relay's paused directions from phoneDir and netDir.
func (c *call) applyHold() {
	sipToNet := c.phoneDir.Sends() && c.netDir.Receives()
	netToSIP := c.netDir.Sends() && c.phoneDir.Receives()
	if c.relay != nil {
		c.relay.SetHold(!sipToNet, !netToSIP)
	}
	if c.sipLeg != nil {
		// Our SIP-side direction: we send what comes from the network and receive what
		// goes to it. Anything but sendrecv makes the leg apply HeldMediaTimeout.
		d := rtpmedia.Inactive
		switch {
		case sipToNet && netToSIP:
			d = rtpmedia.SendRecv
		case netToSIP:
			d = rtpmedia.SendOnly
		case sipToNet:
			d = rtpmedia.RecvOnly
		}
		c.sipLeg.SetDirection(d)
	}
	if sipToNet && netToSIP {
		c.publish(CallStateConnected)
	} else {
		c.publish(CallStateHeld)
	}
}

// recordOpen opens the call's durable record if the CDR sink is a CallRecorder.
func (c *call) recordOpen() error {
	r, ok := c.g.cdr.(CallRecorder)
	if !ok {
		return nil
	}
	ctx, cancel := c.restCtx()
	defer cancel()
	return r.Open(ctx, c.rec)
}

// recordUpdate updates the call's durable record (errors are logged only).
func (c *call) recordUpdate() {
	r, ok := c.g.cdr.(CallRecorder)
	if !ok {
		return
	}
	ctx, cancel := c.restCtx()
	defer cancel()
	if err := r.Update(ctx, c.rec); err != nil {
		c.log.Warn("CDR update failed", zap.Error(err))
	}
}

// recordAnswer records the answer time durably before the answer goes out (200 OK to
// the phone / POST /connected); unanswer undoes it if the answer then failed.
func (c *call) recordAnswer() {
	c.rec.AnsweredAt = c.g.clock.Now()
	c.recordUpdate()
}

func (c *call) unanswer() { c.rec.AnsweredAt = time.Time{} }

// answered records the answer.
func (c *call) answered() {
	if c.rec.AnsweredAt.IsZero() {
		c.rec.AnsweredAt = c.g.clock.Now()
	}
	c.m.Setup(c.rec.AnsweredAt.Sub(c.start))
	c.m.Answered()
	c.publish(CallStateConnected)
}

// oneWayMinPackets is how many packets one direction must have carried (about a second
// at 20 ms) before the other direction's silence counts as one-way media: a call hung up
// right after the answer is not judged.
const oneWayMinPackets = 50

// oneWay reports whether an answered call had media one way only: packets from the
// phone (SIP leg in) but none from the network (network leg in), or the reverse.
func oneWay(answered bool, sipIn, netIn uint64) bool {
	return answered && ((sipIn >= oneWayMinPackets && netIn == 0) || (netIn >= oneWayMinPackets && sipIn == 0))
}

func trimReason(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}
