package bridge

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/rtpmedia"
)

// A small sipgo-based SIP phone with real RTP (rtpmedia.Leg), for loopback tests.

var phoneCodecs = []rtpmedia.Codec{
	{Name: "PCMU", PayloadType: 0, ClockRate: 8000},
	{Name: "telephone-event", PayloadType: 101, ClockRate: 8000, Fmtp: "0-16"},
}

// phoneMedia sends PCMU every 20 ms and counts what it receives.
type phoneMedia struct {
	leg   *rtpmedia.Leg
	rx    atomic.Uint64
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
	gotRx chan struct{} // closed at the 10th packet received
}

func newPhoneMedia(t *testing.T) *phoneMedia {
	t.Helper()
	cfg := rtpmedia.DefaultLegConfig()
	cfg.BindIP = netip.MustParseAddr("127.0.0.1")
	cfg.RTCPInterval = -1
	l, err := rtpmedia.NewLeg(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &phoneMedia{leg: l, stop: make(chan struct{}), gotRx: make(chan struct{})}
}

func (m *phoneMedia) start(remote netip.AddrPort) {
	m.leg.SetRemote(remote)
	m.wg.Add(2)
	go func() { // receiver
		defer m.wg.Done()
		var p rtp.Packet
		buf := make([]byte, 1500)
		for {
			if _, err := m.leg.ReadRTP(&p, buf); err != nil {
				if errors.Is(err, rtpmedia.ErrMediaTimeout) {
					continue
				}
				return
			}
			if m.rx.Add(1) == 10 {
				close(m.gotRx)
			}
		}
	}()
	go func() { // sender
		defer m.wg.Done()
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		payload := make([]byte, 160)
		for i := range payload {
			payload[i] = 0xff
		}
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 0x1234}, Payload: payload}
		for {
			select {
			case <-m.stop:
				return
			case <-tk.C:
				p.SequenceNumber++
				p.Timestamp += 160
				_ = m.leg.WriteRTP(&p)
			}
		}
	}()
}

// mute stops sending (the receiver keeps running).
func (m *phoneMedia) mute() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
}

func (m *phoneMedia) close() {
	m.once.Do(func() {
		m.mute()
		_ = m.leg.Close()
		m.wg.Wait()
	})
}

func (m *phoneMedia) offer(dir rtpmedia.Direction) []byte {
	b, _ := rtpmedia.BuildOffer(rtpmedia.OfferConfig{Addr: m.leg.LocalAddr(), Codecs: phoneCodecs, Direction: dir, SessionID: 7, Version: uint64(time.Now().UnixNano())})
	return b
}

// phone is a SIP UA registered (or not) with the gateway's sip.Server.
type phone struct {
	t          *testing.T
	user, pass string
	gw         netip.AddrPort
	ua         *sipgo.UserAgent
	cli        *sipgo.Client
	dua        *sipgo.DialogUA
	addr       *net.UDPAddr

	mode      atomic.Value // "answer", "busy", "ring"
	incoming  chan *inCall
	reinvites chan rtpmedia.Direction
	byes      chan string
	cancels   chan string // Reason header of each CANCEL
	invites   chan string // every new INVITE's Call-ID

	mu       sync.Mutex
	media    map[string]*phoneMedia                // by Call-ID
	sessions map[string]*sipgo.DialogServerSession // answered incoming calls by Call-ID
	// reinviteCodes are the final codes the next re-INVITEs get, in order (200, with an
	// answer, once it is empty); reinviteLog sees every re-INVITE with the code it got.
	reinviteCodes []int
	reinviteLog   chan reinviteSeen
	inviteReqs    chan *sipmsg.Request // every new INVITE (non-blocking)
}

// reinviteSeen is one re-INVITE the phone answered.
type reinviteSeen struct {
	at   time.Time
	code int
	dir  rtpmedia.Direction // the offer's direction
}

// answerReinvites makes the next len(codes) re-INVITEs get codes (then 200 again).
func (p *phone) answerReinvites(codes ...int) {
	p.mu.Lock()
	p.reinviteCodes = append(p.reinviteCodes, codes...)
	p.mu.Unlock()
}

func (p *phone) nextReinviteCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.reinviteCodes) == 0 {
		return 200
	}
	c := p.reinviteCodes[0]
	p.reinviteCodes = p.reinviteCodes[1:]
	return c
}

func (p *phone) logReinvite(code int, dir rtpmedia.Direction) {
	select {
	case p.reinviteLog <- reinviteSeen{at: time.Now(), code: code, dir: dir}:
	default:
	}
}

type inCall struct {
	sess  *sipgo.DialogServerSession
	media *phoneMedia
	from  string
}

// newPhone starts a phone; the caller runs cleanup when the test is over (after the
// gateway closed, so no SIP request races the phone's shutdown).
func newPhone(t *testing.T, user, pass string, gw netip.AddrPort) (*phone, func()) {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"), sipgo.WithUserAgent(user))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	p := &phone{t: t, user: user, pass: pass, gw: gw, ua: ua, cli: cli,
		incoming: make(chan *inCall, 4), reinvites: make(chan rtpmedia.Direction, 4), byes: make(chan string, 4),
		cancels: make(chan string, 4), invites: make(chan string, 8), media: map[string]*phoneMedia{},
		reinviteLog: make(chan reinviteSeen, 16), inviteReqs: make(chan *sipmsg.Request, 8),
		sessions: map[string]*sipgo.DialogServerSession{}}
	p.mode.Store("answer")
	srv.OnInvite(p.onInvite)
	srv.OnCancel(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 481, "No Transaction", nil))
	})
	srv.OnAck(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		p.mu.Lock()
		sess := p.sessions[req.CallID().Value()]
		p.mu.Unlock()
		if sess != nil {
			_ = sess.ReadAck(req, tx)
		}
	})
	srv.OnBye(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 200, "OK", nil))
		p.byes <- req.CallID().Value()
	})
	// Every request, in-dialog ones and ACKs included, leaves from the listening socket.
	var stop func()
	p.addr, stop = testenv.ListenUDP(t, ua, srv, cli)
	cleanup := func() {
		p.mu.Lock()
		for _, m := range p.media {
			m.close()
		}
		p.mu.Unlock()
		stop()
	}
	p.dua = &sipgo.DialogUA{Client: p.cli, ContactHDR: sipmsg.ContactHeader{
		Address: sipmsg.Uri{Scheme: "sip", User: user, Host: "127.0.0.1", Port: p.addr.Port}}}
	return p, cleanup
}

func (p *phone) gwURI(user string) sipmsg.Uri {
	return sipmsg.Uri{Scheme: "sip", User: user, Host: p.gw.Addr().String(), Port: int(p.gw.Port())}
}

func (p *phone) fromHeader() *sipmsg.FromHeader {
	f := &sipmsg.FromHeader{Address: sipmsg.Uri{Scheme: "sip", User: p.user, Host: "ynagw"}, Params: sipmsg.NewParams()}
	f.Params.Add("tag", sipmsg.GenerateTagN(16))
	return f
}

// register REGISTERs the phone's contact (digest auth).
func (p *phone) register(ctx context.Context) {
	p.t.Helper()
	req := sipmsg.NewRequest(sipmsg.REGISTER, sipmsg.Uri{Scheme: "sip", Host: p.gw.Addr().String(), Port: int(p.gw.Port())})
	to := &sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: "sip", User: p.user, Host: "ynagw"}}
	req.AppendHeader(to)
	req.AppendHeader(p.fromHeader())
	req.AppendHeader(sipmsg.HeaderClone(&p.dua.ContactHDR))
	req.AppendHeader(sipmsg.NewHeader("Expires", "600"))
	res, err := p.cli.Do(ctx, req)
	if err == nil && res.StatusCode == 401 {
		res, err = p.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.user, Password: p.pass})
	}
	if err != nil || res.StatusCode != 200 {
		p.t.Fatalf("REGISTER: %v %v", res, err)
	}
}

// outCall is a call placed by the phone.
type outCall struct {
	sess        *sipgo.DialogClientSession
	media       *phoneMedia
	provisional []int
	early       bool // a 183 with SDP arrived
	code        int  // final status
	reason      string
	retryAfter  string // Retry-After of a failure response
}

// call places a call to number and waits for the final response.
func (p *phone) call(ctx context.Context, number string) *outCall {
	return p.callHook(ctx, number, nil)
}

// callHook is call with a hook run on every provisional response.
func (p *phone) callHook(ctx context.Context, number string, onProv func(code int)) *outCall {
	p.t.Helper()
	m := newPhoneMedia(p.t)
	oc := &outCall{media: m}
	sess, err := p.dua.Invite(ctx, p.gwURI(number), m.offer(rtpmedia.SendRecv),
		sipmsg.NewHeader("Content-Type", "application/sdp"), p.fromHeader())
	if err != nil {
		m.close()
		p.t.Fatalf("INVITE: %v", err)
	}
	oc.sess = sess
	p.mu.Lock()
	p.media[sess.InviteRequest.CallID().Value()] = m
	p.mu.Unlock()
	started := false
	err = sess.WaitAnswer(ctx, sipgo.AnswerOptions{Username: p.user, Password: p.pass, OnResponse: func(r *sipmsg.Response) error {
		if r.IsProvisional() && r.StatusCode > 100 {
			oc.provisional = append(oc.provisional, r.StatusCode)
			if onProv != nil {
				onProv(r.StatusCode)
			}
			if len(r.Body()) > 0 && !started {
				oc.early = true
				if md, err := rtpmedia.ParseSDP(r.Body()); err == nil {
					m.start(md.Addr)
					started = true
				}
			}
		}
		return nil
	}})
	var de *sipgo.ErrDialogResponse
	switch {
	case errors.As(err, &de):
		oc.code = de.Res.StatusCode
		if h := de.Res.GetHeader("Reason"); h != nil {
			oc.reason = h.Value()
		}
		if h := de.Res.GetHeader("Retry-After"); h != nil {
			oc.retryAfter = h.Value()
		}
		return oc
	case err != nil:
		oc.code = -1
		oc.reason = err.Error()
		return oc
	}
	oc.code = sess.InviteResponse.StatusCode
	if md, err := rtpmedia.ParseSDP(sess.InviteResponse.Body()); err == nil && !started {
		m.start(md.Addr)
	}
	if err := sess.Ack(ctx); err != nil {
		p.t.Fatalf("ACK: %v", err)
	}
	return oc
}

// callLate places a call without SDP in the INVITE (late offer) and answers the gateway's
// offer from the 200 OK in the ACK.
func (p *phone) callLate(ctx context.Context, number string) *outCall {
	p.t.Helper()
	m := newPhoneMedia(p.t)
	oc := &outCall{media: m}
	sess, err := p.dua.Invite(ctx, p.gwURI(number), nil, p.fromHeader())
	if err != nil {
		m.close()
		p.t.Fatalf("INVITE: %v", err)
	}
	oc.sess = sess
	p.mu.Lock()
	p.media[sess.InviteRequest.CallID().Value()] = m
	p.mu.Unlock()
	if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{Username: p.user, Password: p.pass}); err != nil {
		var de *sipgo.ErrDialogResponse
		if errors.As(err, &de) {
			oc.code = de.Res.StatusCode
			return oc
		}
		p.t.Fatalf("late offer call: %v", err)
	}
	oc.code = sess.InviteResponse.StatusCode
	md, err := rtpmedia.ParseSDP(sess.InviteResponse.Body())
	if err != nil {
		p.t.Fatalf("200 OK without an offer: %v", err)
	}
	ans, _, _, err := rtpmedia.Answer(md, rtpmedia.OfferConfig{Addr: m.leg.LocalAddr(), Codecs: phoneCodecs, Direction: rtpmedia.SendRecv, SessionID: 5, Version: 1})
	if err != nil {
		p.t.Fatalf("answer: %v", err)
	}
	ack := sipmsg.NewRequest(sipmsg.ACK, sess.InviteResponse.Contact().Address)
	ack.AppendHeader(&sipmsg.CSeqHeader{SeqNo: sess.InviteRequest.CSeq().SeqNo, MethodName: sipmsg.ACK})
	ack.SetBody(ans)
	ack.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	if err := sess.WriteAck(ctx, ack); err != nil {
		p.t.Fatalf("ACK: %v", err)
	}
	m.start(md.Addr)
	return oc
}

// hold re-INVITEs with direction dir and returns the answered direction.
func (p *phone) reinvite(ctx context.Context, oc *outCall, dir rtpmedia.Direction) rtpmedia.Direction {
	p.t.Helper()
	code, got := p.reinviteCode(ctx, oc, dir)
	if code != 200 {
		p.t.Fatalf("re-INVITE answered %d", code)
	}
	return got
}

// reinviteCode re-INVITEs with direction dir and returns the final status and, for a
// 200, the answered direction. A failure response needs no ACK from us (the transaction
// layer sends it).
func (p *phone) reinviteCode(ctx context.Context, oc *outCall, dir rtpmedia.Direction) (int, rtpmedia.Direction) {
	p.t.Helper()
	target := oc.sess.InviteResponse.Contact().Address
	req := sipmsg.NewRequest(sipmsg.INVITE, target)
	req.SetBody(oc.media.offer(dir))
	req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	res, err := oc.sess.Do(ctx, req)
	if err != nil {
		p.t.Fatalf("re-INVITE: %v", err)
	}
	if res.StatusCode != 200 {
		return res.StatusCode, 0
	}
	ack := sipmsg.NewRequest(sipmsg.ACK, target)
	ack.AppendHeader(&sipmsg.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: sipmsg.ACK})
	if err := oc.sess.WriteRequest(ack); err != nil {
		p.t.Fatalf("ACK: %v", err)
	}
	md, err := rtpmedia.ParseSDP(res.Body())
	if err != nil {
		p.t.Fatalf("re-INVITE answer: %v", err)
	}
	return 200, md.Direction
}

// info sends a SIP INFO DTMF digit in the dialog.
func (p *phone) info(ctx context.Context, oc *outCall, digit string) {
	p.t.Helper()
	req := sipmsg.NewRequest(sipmsg.INFO, oc.sess.InviteResponse.Contact().Address)
	req.SetBody([]byte("Signal=" + digit + "\r\nDuration=160\r\n"))
	req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/dtmf-relay"))
	res, err := oc.sess.Do(ctx, req)
	if err != nil || res.StatusCode != 200 {
		p.t.Fatalf("INFO: %v %v", res, err)
	}
}

func (p *phone) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if tag, _ := req.To().Params.Get("tag"); tag != "" { // re-INVITE
		p.mu.Lock()
		m := p.media[req.CallID().Value()]
		p.mu.Unlock()
		md, err := rtpmedia.ParseSDP(req.Body())
		if m == nil || err != nil {
			_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
			return
		}
		if code := p.nextReinviteCode(); code != 200 {
			_ = tx.Respond(sipmsg.NewResponseFromRequest(req, code, "Refused", nil))
			p.logReinvite(code, md.Direction)
			return
		}
		ans, _, _, err := rtpmedia.Answer(md, rtpmedia.OfferConfig{Addr: m.leg.LocalAddr(), Codecs: phoneCodecs, Direction: rtpmedia.SendRecv, SessionID: 9, Version: uint64(time.Now().UnixNano())})
		if err != nil {
			_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
			return
		}
		res := sipmsg.NewResponseFromRequest(req, 200, "OK", ans)
		res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(sipmsg.HeaderClone(&p.dua.ContactHDR))
		_ = tx.Respond(res)
		p.logReinvite(200, md.Direction)
		p.reinvites <- md.Direction
		return
	}
	callID := req.CallID().Value()
	select {
	case p.inviteReqs <- req:
	default:
	}
	p.invites <- callID
	switch p.mode.Load().(string) {
	case "busy":
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 486, "Busy Here", nil))
	case "ring":
		sess, err := p.dua.ReadInvite(req, tx)
		if err != nil {
			return
		}
		tx.OnCancel(func(r *sipmsg.Request) { // reports the CANCEL's Reason header
			reason := ""
			if h := r.GetHeader("Reason"); h != nil {
				reason = h.Value()
			}
			p.cancels <- reason
		})
		_ = sess.Respond(180, "Ringing", nil)
		<-tx.Done() // sipgo terminates a transaction whose handler returns without a final response
	default:
		sess, err := p.dua.ReadInvite(req, tx)
		if err != nil {
			return
		}
		_ = sess.Respond(180, "Ringing", nil)
		md, err := rtpmedia.ParseSDP(req.Body())
		if err != nil {
			_ = sess.Respond(488, "Not Acceptable Here", nil)
			return
		}
		m := newPhoneMedia(p.t)
		ans, _, _, err := rtpmedia.Answer(md, rtpmedia.OfferConfig{Addr: m.leg.LocalAddr(), Codecs: phoneCodecs, Direction: rtpmedia.SendRecv, SessionID: 8, Version: 1})
		if err != nil {
			m.close()
			_ = sess.Respond(488, "Not Acceptable Here", nil)
			return
		}
		p.mu.Lock()
		p.media[callID] = m
		p.sessions[callID] = sess
		p.mu.Unlock()
		m.start(md.Addr)
		if err := sess.RespondSDP(ans); err != nil {
			return
		}
		p.incoming <- &inCall{sess: sess, media: m, from: req.From().Address.User}
	}
}

func waitFor[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timeout waiting for %s", what)
	}
	var zero T
	return zero
}
