package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/ynagw/ynagw/rtpmedia"
)

// Phone is a small scripted SIP desk phone (sipgo UAC/UAS over UDP on 127.0.0.1) with a
// real RTP socket per call. Incoming INVITEs are answered at once (180, then 200 with SDP).
// It is used by `ynagw demo` and by the process-level tests.
type Phone struct {
	user, pass, domain string
	gw                 netip.AddrPort

	ua     *sipgo.UserAgent
	cli    *sipgo.Client
	dua    *sipgo.DialogUA
	conn   net.PacketConn
	laddr  sipmsg.Addr // conn's address: every request leaves from it
	served chan struct{}

	incoming chan *Call
	version  atomic.Uint64

	mu    sync.Mutex
	calls map[string]*Call // by Call-ID
}

// Call is one call of the phone (placed or answered).
type Call struct {
	p      *Phone
	CallID string
	From   string // caller user part (incoming calls)
	Code   int    // final status of a placed call (-1: transport error)
	Reason string // Reason header of a failure
	// RetryAfter is the Retry-After header of a failure ("" if none).
	RetryAfter string
	Prov       []int // provisional status codes seen
	media      *media
	cs         *sipgo.DialogClientSession
	ss         *sipgo.DialogServerSession
	byeOnce    sync.Once
	bye        chan struct{} // closed when the other side sent BYE
}

// NewPhone starts the phone's UDP listener. gw is the gateway's SIP address.
func NewPhone(user, pass, domain string, gw netip.AddrPort) (*Phone, error) {
	sl := slog.New(slog.NewTextHandler(io.Discard, nil)) // sipgo's own logs are noise here
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"), sipgo.WithUserAgent("ynagw-demo-phone"),
		sipgo.WithUserAgentTransactionLayerOptions(sipmsg.WithTransactionLayerLogger(sl)),
		sipgo.WithUserAgentTransportLayerOptions(sipmsg.WithTransportLayerLogger(sl)))
	if err != nil {
		return nil, err
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sl))
	if err != nil {
		_ = ua.Close()
		return nil, err
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		_ = ua.Close()
		return nil, err
	}
	p := &Phone{user: user, pass: pass, domain: domain, gw: gw, ua: ua, conn: conn, served: make(chan struct{}),
		incoming: make(chan *Call, 4), calls: map[string]*Call{}}
	p.version.Store(uint64(time.Now().Unix()))
	srv.OnInvite(p.onInvite)
	srv.OnAck(p.onAck)
	srv.OnBye(p.onBye)
	srv.OnOptions(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 200, "OK", nil))
	})
	spc := &servedConn{PacketConn: conn, ready: make(chan struct{})}
	go func() {
		defer close(p.served)
		_ = srv.ServeUDP(spc)
	}()
	if err := waitServed(spc.ready, p.served); err != nil {
		p.Close()
		return nil, err
	}
	addr := conn.LocalAddr().(*net.UDPAddr)
	p.laddr = sipmsg.Addr{IP: addr.IP, Port: addr.Port, Hostname: addr.IP.String()}
	p.cli, err = sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientLogger(sl))
	if err != nil {
		p.Close()
		return nil, err
	}
	p.cli.TxRequester = listenerRequester{p: p} // like a real phone: one socket for everything
	p.dua = &sipgo.DialogUA{Client: p.cli, ContactHDR: sipmsg.ContactHeader{
		Address: sipmsg.Uri{Scheme: "sip", User: user, Host: "127.0.0.1", Port: addr.Port}}}
	return p, nil
}

// servedConn closes ready on sipgo's first read: TransportUDP.Serve puts the socket
// into its connection pool before it starts reading, so from then on requests with
// Laddr set to it leave from it.
type servedConn struct {
	net.PacketConn
	once  sync.Once
	ready chan struct{}
}

func (c *servedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.once.Do(func() { close(c.ready) })
	return c.PacketConn.ReadFrom(b)
}

// waitServed waits until sipgo serves the listener (ready), failing if serving
// ended first (served) or after a deadline.
func waitServed(ready, served <-chan struct{}) error {
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	select {
	case <-ready:
		return nil
	case <-served:
		return errors.New("phone: UDP listener stopped before serving")
	case <-deadline.C:
		return errors.New("phone: UDP listener not served in time")
	}
}

// listenerRequester is the phone client's TxRequester: every request (REGISTER,
// INVITE, ACK, CANCEL, BYE, re-INVITE) leaves from the phone's listening socket, as
// a real desk phone's do, never from a throwaway socket.
type listenerRequester struct{ p *Phone }

func (r listenerRequester) Request(ctx context.Context, req *sipmsg.Request) (sipmsg.ClientTransaction, error) {
	if req.Laddr.Port == 0 {
		r.p.laddr.Copy(&req.Laddr)
	}
	if req.IsAck() { // Client.WriteRequest: no transaction
		return nil, r.p.ua.TransportLayer().WriteMsg(req)
	}
	tx, err := r.p.ua.TransactionLayer().Request(ctx, req)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return tx, nil
}

// AOR is the phone's address of record, e.g. 201@ynagw.local.
func (p *Phone) AOR() string { return p.user + "@" + p.domain }

// Incoming delivers the calls the phone answered.
func (p *Phone) Incoming() <-chan *Call { return p.incoming }

// Close ends the phone: its calls' media, the UA and the listener.
func (p *Phone) Close() {
	p.mu.Lock()
	for _, c := range p.calls {
		c.media.close()
	}
	p.mu.Unlock()
	_ = p.ua.Close()
	_ = p.conn.Close()
	<-p.served
}

func (p *Phone) gwURI(user string) sipmsg.Uri {
	return sipmsg.Uri{Scheme: "sip", User: user, Host: p.gw.Addr().String(), Port: int(p.gw.Port())}
}

func (p *Phone) from() *sipmsg.FromHeader {
	f := &sipmsg.FromHeader{Address: sipmsg.Uri{Scheme: "sip", User: p.user, Host: p.domain}, Params: sipmsg.NewParams()}
	f.Params.Add("tag", sipmsg.GenerateTagN(16))
	return f
}

// Register REGISTERs the phone's contact, answering the digest challenge.
func (p *Phone) Register(ctx context.Context) error {
	req := sipmsg.NewRequest(sipmsg.REGISTER, sipmsg.Uri{Scheme: "sip", Host: p.gw.Addr().String(), Port: int(p.gw.Port())})
	req.AppendHeader(&sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: "sip", User: p.user, Host: p.domain}})
	req.AppendHeader(p.from())
	req.AppendHeader(sipmsg.HeaderClone(&p.dua.ContactHDR))
	req.AppendHeader(sipmsg.NewHeader("Expires", "600"))
	res, err := p.cli.Do(ctx, req)
	if err == nil && res.StatusCode == 401 {
		res, err = p.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.user, Password: p.pass})
	}
	if err != nil {
		return fmt.Errorf("REGISTER: %w", err)
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("REGISTER: %d %s", res.StatusCode, res.Reason)
	}
	return nil
}

func (p *Phone) track(c *Call) {
	p.mu.Lock()
	p.calls[c.CallID] = c
	p.mu.Unlock()
}

func (p *Phone) call(id string) *Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[id]
}

// Dial calls number and waits for the final response; onProv sees each provisional
// response code. A non-2xx final response is not an error: see Call.Code.
func (p *Phone) Dial(ctx context.Context, number string, onProv func(code int)) (*Call, error) {
	m, err := newMedia()
	if err != nil {
		return nil, err
	}
	cs, err := p.dua.Invite(ctx, p.gwURI(number), m.offer(rtpmedia.SendRecv, p.version.Add(1)),
		sipmsg.NewHeader("Content-Type", "application/sdp"), p.from())
	if err != nil {
		m.close()
		return nil, fmt.Errorf("INVITE: %w", err)
	}
	c := &Call{p: p, CallID: cs.InviteRequest.CallID().Value(), media: m, cs: cs, bye: make(chan struct{})}
	p.track(c)
	err = cs.WaitAnswer(ctx, sipgo.AnswerOptions{Username: p.user, Password: p.pass, OnResponse: func(r *sipmsg.Response) error {
		if r.IsProvisional() && r.StatusCode > 100 {
			c.Prov = append(c.Prov, r.StatusCode)
			if onProv != nil {
				onProv(r.StatusCode)
			}
			if len(r.Body()) > 0 {
				if md, err := rtpmedia.ParseSDP(r.Body()); err == nil {
					m.start(md.Addr) // early media
				}
			}
		}
		return nil
	}})
	var de *sipgo.ErrDialogResponse
	switch {
	case errors.As(err, &de):
		c.Code = de.Res.StatusCode
		if h := de.Res.GetHeader("Reason"); h != nil {
			c.Reason = h.Value()
		}
		if h := de.Res.GetHeader("Retry-After"); h != nil {
			c.RetryAfter = h.Value()
		}
		m.close()
		return c, nil
	case err != nil:
		c.Code, c.Reason = -1, err.Error()
		m.close()
		return c, nil
	}
	c.Code = cs.InviteResponse.StatusCode
	if md, err := rtpmedia.ParseSDP(cs.InviteResponse.Body()); err == nil {
		m.start(md.Addr)
	}
	if err := cs.Ack(ctx); err != nil {
		return c, fmt.Errorf("ACK: %w", err)
	}
	return c, nil
}

// Reinvite sends a re-INVITE offering dir (SendOnly = hold, SendRecv = resume) on a placed
// call and returns the direction of the answer.
func (c *Call) Reinvite(ctx context.Context, dir rtpmedia.Direction) (rtpmedia.Direction, error) {
	if c.cs == nil {
		return 0, errors.New("re-INVITE: not a placed call")
	}
	target := c.cs.InviteResponse.Contact().Address
	req := sipmsg.NewRequest(sipmsg.INVITE, target)
	req.SetBody(c.media.offer(dir, c.p.version.Add(1)))
	req.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	res, err := c.cs.Do(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("re-INVITE: %w", err)
	}
	if res.StatusCode != 200 {
		return 0, fmt.Errorf("re-INVITE answered %d %s", res.StatusCode, res.Reason)
	}
	ack := sipmsg.NewRequest(sipmsg.ACK, target)
	ack.AppendHeader(&sipmsg.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: sipmsg.ACK})
	if err := c.cs.WriteRequest(ack); err != nil {
		return 0, fmt.Errorf("ACK: %w", err)
	}
	md, err := rtpmedia.ParseSDP(res.Body())
	if err != nil {
		return 0, fmt.Errorf("re-INVITE answer: %w", err)
	}
	return md.Direction, nil
}

// Hangup sends BYE.
func (c *Call) Hangup(ctx context.Context) error {
	defer c.media.close()
	var err error
	switch {
	case c.cs != nil:
		err = c.cs.Bye(ctx)
	case c.ss != nil:
		err = c.ss.Bye(ctx)
	}
	if err != nil {
		return fmt.Errorf("BYE: %w", err)
	}
	return nil
}

// Ended is closed when the other side hung up (BYE).
func (c *Call) Ended() <-chan struct{} { return c.bye }

// Counters returns the RTP packets sent, received and received with the far end's marker.
func (c *Call) Counters() (sent, received, marked uint64) {
	return c.media.sent.Load(), c.media.received.Load(), c.media.marked.Load()
}

// WaitReceived waits until at least n packets were received.
func (c *Call) WaitReceived(ctx context.Context, n uint64) error {
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for c.media.received.Load() < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d RTP packets (got %d): %w", n, c.media.received.Load(), ctx.Err())
		case <-tk.C:
		}
	}
	return nil
}

func (p *Phone) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	callID := req.CallID().Value()
	if tag, _ := req.To().Params.Get("tag"); tag != "" { // re-INVITE: accept with sendrecv
		c := p.call(callID)
		md, err := rtpmedia.ParseSDP(req.Body())
		if c == nil || err != nil {
			_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
			return
		}
		dir := rtpmedia.SendRecv
		if md.Direction == rtpmedia.SendOnly {
			dir = rtpmedia.RecvOnly
		} else if md.Direction == rtpmedia.Inactive {
			dir = rtpmedia.Inactive
		}
		ans, _, _, err := rtpmedia.Answer(md, rtpmedia.OfferConfig{Addr: c.media.leg.LocalAddr(), Codecs: phoneCodecs, Direction: dir,
			SessionID: 2011, Version: p.version.Add(1)})
		if err != nil {
			_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
			return
		}
		res := sipmsg.NewResponseFromRequest(req, 200, "OK", ans)
		res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(sipmsg.HeaderClone(&p.dua.ContactHDR))
		_ = tx.Respond(res)
		return
	}
	ss, err := p.dua.ReadInvite(req, tx)
	if err != nil {
		return
	}
	_ = ss.Respond(180, "Ringing", nil)
	md, err := rtpmedia.ParseSDP(req.Body())
	if err != nil {
		_ = ss.Respond(488, "Not Acceptable Here", nil)
		return
	}
	m, err := newMedia()
	if err != nil {
		_ = ss.Respond(500, "Server Internal Error", nil)
		return
	}
	ans, _, _, err := rtpmedia.Answer(md, rtpmedia.OfferConfig{Addr: m.leg.LocalAddr(), Codecs: phoneCodecs, Direction: rtpmedia.SendRecv,
		SessionID: 2012, Version: p.version.Add(1)})
	if err != nil {
		m.close()
		_ = ss.Respond(488, "Not Acceptable Here", nil)
		return
	}
	c := &Call{p: p, CallID: callID, From: req.From().Address.User, Code: 200, media: m, ss: ss, bye: make(chan struct{})}
	p.track(c)
	m.start(md.Addr)
	if err := ss.RespondSDP(ans); err != nil {
		return
	}
	select {
	case p.incoming <- c:
	default:
	}
}

func (p *Phone) onAck(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if c := p.call(req.CallID().Value()); c != nil && c.ss != nil {
		_ = c.ss.ReadAck(req, tx)
	}
}

func (p *Phone) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	c := p.call(req.CallID().Value())
	switch {
	case c != nil && c.ss != nil:
		_ = c.ss.ReadBye(req, tx)
	case c != nil && c.cs != nil:
		_ = c.cs.ReadBye(req, tx)
	default:
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	c.byeOnce.Do(func() { close(c.bye) })
	c.media.close()
}
