package bridge

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/yna"
	"go.uber.org/zap"
)

// call is one bridged call. Every field is owned by the call goroutine (run*), except
// notes (a mailbox) and ynaID, which is written before bind and read by unbind on the
// same goroutine.
type call struct {
	g     *Gateway
	dir   string
	line  string
	token string
	log   *zap.Logger
	notes *mailbox[*yna.SessionStatus]
	m     CallMetrics
	ynaID string
	rec   CDR
	start time.Time
	snap  atomic.Pointer[CallInfo] // published by the call goroutine, read by Gateway.Calls

	// media
	sipLeg   *rtpmedia.Leg
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

	// established state
	dlg           *sip.Dialog
	phoneDir      rtpmedia.Direction // what the phone's last offer/answer said about its own side
	netDir        rtpmedia.Direction // the network's side
	lastNetRemote string             // last SDP from the network we applied
	rang          bool               // inbound: POST /ringing sent
}

func (g *Gateway) newCall(dir, line string) *call {
	c := &call{
		g: g, dir: dir, line: line, notes: newMailbox[*yna.SessionStatus](),
		start: time.Now(), sdpSess: rand.Uint64N(1 << 62),
	}
	c.log = g.log.With(zap.String("call_dir", dir), zap.String("line", line), zap.String("sip_call_id", ""), zap.String("yna_call_id", ""))
	c.rec = CDR{ID: uuid.NewString(), Direction: dir, Line: line, SetupAt: c.start}
	c.m = g.metrics.CallStarted(dir, line)
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
	c.log = c.g.log.With(zap.String("call_dir", c.dir), zap.String("line", c.line),
		zap.String("sip_call_id", c.rec.SIPCallID), zap.String("yna_call_id", c.rec.YNACallID))
	c.publish("")
}

// restCtx bounds one REST request; it is not cancelled by Close so that teardown
// requests still go out.
func (c *call) restCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.g.cfg.Timers.RESTTimeout)
}

// end sends DELETE /end (errors only logged, §9.7).
func (c *call) end() {
	if c.ynaID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.g.cfg.Timers.DrainTimeout)
	defer cancel()
	if err := c.g.yna.End(ctx, c.token, c.ynaID, "", false); err != nil {
		c.log.Info("DELETE /end failed", zap.Error(err))
	}
}

// hangupSIP sends BYE (bounded by DrainTimeout) and drains the dialog's events.
func (c *call) hangupSIP(reason string) {
	if c.dlg == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.g.cfg.Timers.DrainTimeout)
	defer cancel()
	if err := c.dlg.Hangup(ctx, reason); err != nil {
		c.log.Info("BYE failed", zap.Error(err))
	}
	c.drainDialog()
}

// drainDialog reads the dialog's remaining events so its pump goroutine can finish.
func (c *call) drainDialog() {
	if c.dlg == nil {
		return
	}
	t := time.NewTimer(c.g.cfg.Timers.DrainTimeout)
	defer t.Stop()
	for {
		select {
		case ev, ok := <-c.dlg.Events():
			if !ok {
				return
			}
			if o, isOffer := ev.(*sip.OfferEvent); isOffer {
				_ = o.Respond(481, nil)
			}
		case <-t.C:
			return
		}
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
	l, err := rtpmedia.NewLeg(lc)
	if err != nil {
		return err
	}
	c.sipLeg = l
	return nil
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

// startRelay starts media between the legs with the negotiated formats.
func (c *call) startRelay() error {
	p := RelayParams{SIPCodec: c.sipCodec, NetCodec: c.net.Codec(), SIPDTMF: c.sipDTMF, NetDTMF: c.net.DTMF()}
	if c.relay != nil {
		c.relay.Update(p)
		return nil
	}
	if err := rtpmedia.CheckRelay(p.SIPCodec, p.NetCodec); err != nil {
		return err
	}
	r := newRelay(c.sipLeg, c.net, p, c.log)
	c.relay = r
	r.Start()
	c.log.Debug("media relay started", zap.Stringer("sip_codec", c.sipCodec), zap.Stringer("net_codec", p.NetCodec))
	return nil
}

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

// finish closes the media and writes metrics and the CDR.
func (c *call) finish(result, reason string, sipStatus int) {
	// The legs first: the relay's goroutines return when their ReadRTP fails.
	if c.net != nil {
		_ = c.net.Close()
	}
	if c.sipLeg != nil {
		st := c.sipLeg.Stats()
		c.rec.SIPMedia = LegStats{PacketsIn: st.PacketsIn, PacketsOut: st.PacketsOut, Lost: st.Lost}
		_ = c.sipLeg.Close()
	}
	if c.relay != nil {
		c.relay.Close()
		c.rec.NetMedia = c.relay.NetStats()
	}
	c.rec.EndedAt = time.Now()
	c.rec.Result, c.rec.EndReason, c.rec.SIPStatus = result, reason, sipStatus
	if m, ok := c.m.(OneWayObserver); ok && oneWay(!c.rec.AnsweredAt.IsZero(), c.rec.SIPMedia.PacketsIn, c.rec.NetMedia.PacketsIn) {
		m.OneWay()
	}
	c.m.Media("sip", c.rec.SIPMedia.PacketsIn, c.rec.SIPMedia.PacketsOut, c.rec.SIPMedia.Lost)
	c.m.Media("net", c.rec.NetMedia.PacketsIn, c.rec.NetMedia.PacketsOut, c.rec.NetMedia.Lost)
	c.m.Ended(result, c.rec.EndedAt.Sub(c.start))
	ctx, cancel := context.WithTimeout(context.Background(), c.g.cfg.Timers.DrainTimeout)
	defer cancel()
	if err := c.g.cdr.Write(ctx, c.rec); err != nil {
		c.log.Warn("CDR write failed", zap.Error(err))
	}
	c.log.Info("call ended", zap.String("result", result), zap.String("reason", reason), zap.Int("sip_status", sipStatus),
		zap.Duration("duration", c.rec.EndedAt.Sub(c.start)),
		zap.Uint64("sip_rtp_in", c.rec.SIPMedia.PacketsIn), zap.Uint64("sip_rtp_out", c.rec.SIPMedia.PacketsOut))
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
	c.rec.AnsweredAt = time.Now()
	c.recordUpdate()
}

func (c *call) unanswer() { c.rec.AnsweredAt = time.Time{} }

// oneWayMinPackets is how many packets one direction must have carried (about a second
// at 20 ms) before the other direction's silence counts as one-way media: a call hung up
// right after the answer is not judged.
const oneWayMinPackets = 50

// oneWay reports whether an answered call had media one way only: packets from the
// phone (SIP leg in) but none from the network (network leg in), or the reverse.
func oneWay(answered bool, sipIn, netIn uint64) bool {
	return answered && ((sipIn >= oneWayMinPackets && netIn == 0) || (netIn >= oneWayMinPackets && sipIn == 0))
}

// answered records the answer.
func (c *call) answered() {
	if c.rec.AnsweredAt.IsZero() {
		c.rec.AnsweredAt = time.Now()
	}
	c.m.Setup(c.rec.AnsweredAt.Sub(c.start))
	c.m.Answered()
	c.publish(CallStateConnected)
}

func trimReason(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}
