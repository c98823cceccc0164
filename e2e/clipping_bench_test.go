package e2e

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/yna/ynasim"
)

// TestInboundClippingBenchmark measures, over YNAGW_CLIPPING_CALLS inbound calls (e.g.
// 50) on loopback, the time from the desk phone's 200 OK to the first network RTP packet
// at the phone: what the caller says in that gap is lost. The phone rings for
// clippingRing (a quick human) before it answers. It logs p50/p99 and fails when p99 is
// over YNAGW_CLIPPING_P99_MS (default 100). Skipped unless YNAGW_CLIPPING_CALLS is set:
// it is a measurement, not a regression test (bridge's TestInboundNetLegReadyWhileRinging
// is).
//
// With YNAGW_CLIPPING_GATHER_MS set, the gateway's WebRTC engine also asks a STUN server
// that never answers and gives ICE gathering that long (ice_gather_timeout): the case of
// a STUN server far away or unreachable, where gathering takes the whole timeout.
//
//	YNAGW_CLIPPING_CALLS=50 go test -race -run TestInboundClippingBenchmark -v ./e2e/
//	YNAGW_CLIPPING_CALLS=50 YNAGW_CLIPPING_GATHER_MS=500 go test -race -run TestInboundClippingBenchmark -v ./e2e/
func TestInboundClippingBenchmark(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("YNAGW_CLIPPING_CALLS"))
	if n <= 0 {
		t.Skip("set YNAGW_CLIPPING_CALLS (e.g. 50) to run the clipping benchmark")
	}
	limit := 100 * time.Millisecond
	if ms, err := strconv.Atoi(os.Getenv("YNAGW_CLIPPING_P99_MS")); err == nil && ms > 0 {
		limit = time.Duration(ms) * time.Millisecond
	}
	var wc *rtpmedia.WebRTCConfig
	if ms, err := strconv.Atoi(os.Getenv("YNAGW_CLIPPING_GATHER_MS")); err == nil && ms > 0 {
		stun, err := net.ListenPacket("udp4", "127.0.0.1:0") // reads nothing, answers nothing
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = stun.Close() })
		wc = &rtpmedia.WebRTCConfig{AllowLoopback: true, ICEGatherTimeout: time.Duration(ms) * time.Millisecond,
			STUNServers: []string{"stun:" + stun.LocalAddr().String()}}
	}
	e := newGwEnvEngine(t, nil, wc)
	ph := newClipPhone(t, e)
	var gaps []time.Duration
	for i := 0; i < n; i++ {
		id, err := e.sim.InjectCall(e.ctx(10*time.Second), e2eLine, e2eCaller)
		if err != nil {
			t.Fatal(err)
		}
		var gap time.Duration
		select {
		case gap = <-ph.gaps:
		case <-time.After(20 * time.Second):
			t.Fatalf("call %d: no network RTP at the phone", i)
		}
		gaps = append(gaps, gap)
		e.action(id, ynasim.ActionHangup)
		e.waitState(id, ynasim.CallTerminated)
		select {
		case <-ph.byes:
		case <-time.After(10 * time.Second):
			t.Fatalf("call %d: no BYE at the phone", i)
		}
	}
	slices.Sort(gaps)
	p50, p99 := gaps[len(gaps)/2], gaps[(len(gaps)*99+99)/100-1]
	t.Logf("200 OK → first network RTP at the phone over %d calls: p50 %v, p99 %v, min %v, max %v",
		n, p50.Round(time.Millisecond/10), p99.Round(time.Millisecond/10), gaps[0], gaps[len(gaps)-1])
	if p99 > limit {
		t.Errorf("p99 %v over %v", p99, limit)
	}
}

// clippingRing is how long the benchmark phone rings before it answers.
const clippingRing = time.Second

// clipPhone is a desk phone (alice) that answers every INVITE after clippingRing and
// reports the time from sending its 200 OK to the first RTP packet received.
type clipPhone struct {
	t     *testing.T
	ua    *sipgo.UserAgent
	dua   *sipgo.DialogUA
	gaps  chan time.Duration
	byes  chan struct{}
	mu    sync.Mutex
	sess  map[string]*sipgo.DialogServerSession
	legs  []*rtpmedia.Leg
	wg    sync.WaitGroup
	close func()
}

func newClipPhone(t *testing.T, e *gwEnv) *clipPhone {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"), sipgo.WithUserAgent("alice"))
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
	p := &clipPhone{t: t, ua: ua, gaps: make(chan time.Duration, 4), byes: make(chan struct{}, 4), sess: map[string]*sipgo.DialogServerSession{}}
	srv.OnInvite(p.onInvite)
	srv.OnAck(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		p.mu.Lock()
		s := p.sess[req.CallID().Value()]
		p.mu.Unlock()
		if s != nil {
			_ = s.ReadAck(req, tx)
		}
	})
	srv.OnBye(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 200, "OK", nil))
		p.byes <- struct{}{}
	})
	srv.OnCancel(func(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 481, "No Transaction", nil))
	})
	addr, stop := testenv.ListenUDP(t, ua, srv, cli)
	p.close = func() {
		p.mu.Lock()
		for _, l := range p.legs {
			_ = l.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
		stop()
	}
	t.Cleanup(p.close) // registered after the gateway's: runs first, once the last call ended
	p.dua = &sipgo.DialogUA{Client: cli, ContactHDR: sipmsg.ContactHeader{
		Address: sipmsg.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1", Port: addr.Port}}}
	gw := e.sipAddr()
	req := sipmsg.NewRequest(sipmsg.REGISTER, sipmsg.Uri{Scheme: "sip", Host: gw.Addr().String(), Port: int(gw.Port())})
	req.AppendHeader(&sipmsg.ToHeader{Address: sipmsg.Uri{Scheme: "sip", User: "alice", Host: "ynagw"}})
	from := &sipmsg.FromHeader{Address: sipmsg.Uri{Scheme: "sip", User: "alice", Host: "ynagw"}, Params: sipmsg.NewParams()}
	from.Params.Add("tag", sipmsg.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(sipmsg.HeaderClone(&p.dua.ContactHDR))
	req.AppendHeader(sipmsg.NewHeader("Expires", "600"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cli.Do(ctx, req)
	if err == nil && res.StatusCode == 401 {
		res, err = cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "alice", Password: "alicepw"})
	}
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER: %v %v", res, err)
	}
	e.waitContacts("alice", 1)
	return p
}

func (p *clipPhone) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if tag, _ := req.To().Params.Get("tag"); tag != "" { // a re-INVITE: not part of this benchmark
		_ = tx.Respond(sipmsg.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
		return
	}
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
	cfg := rtpmedia.DefaultLegConfig()
	cfg.BindIP = netip.MustParseAddr("127.0.0.1")
	cfg.RTCPInterval = -1
	leg, err := rtpmedia.NewLeg(cfg)
	if err != nil {
		_ = sess.Respond(500, "No RTP", nil)
		return
	}
	leg.SetRemote(md.Addr)
	codecs := []rtpmedia.Codec{{Name: "PCMU", PayloadType: 0, ClockRate: 8000}, {Name: "PCMA", PayloadType: 8, ClockRate: 8000},
		{Name: "telephone-event", PayloadType: 101, ClockRate: 8000, Fmtp: "0-16"}}
	ans, _, _, err := rtpmedia.Answer(md, rtpmedia.OfferConfig{Addr: leg.LocalAddr(), Codecs: codecs, Direction: rtpmedia.SendRecv, SessionID: 3, Version: 1})
	if err != nil {
		_ = leg.Close()
		_ = sess.Respond(488, "Not Acceptable Here", nil)
		return
	}
	p.mu.Lock()
	p.sess[req.CallID().Value()] = sess
	p.legs = append(p.legs, leg)
	p.mu.Unlock()
	select { // a quick human picks up
	case <-time.After(clippingRing):
	case <-tx.Done():
		_ = leg.Close()
		return
	}
	first := make(chan time.Time, 1)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		var pk rtp.Packet
		buf := make([]byte, 1500)
		for {
			if _, err := leg.ReadRTP(&pk, buf); err != nil {
				if errors.Is(err, rtpmedia.ErrMediaTimeout) {
					continue
				}
				return
			}
			select {
			case first <- time.Now():
			default:
			}
		}
	}()
	sent := time.Now()
	if err := sess.RespondSDP(ans); err != nil {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		select {
		case at := <-first:
			p.gaps <- at.Sub(sent)
		case <-time.After(20 * time.Second):
		}
		_ = leg.Close()
	}()
}
