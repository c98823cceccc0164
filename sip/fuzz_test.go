package sip

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// fakeTx is a ServerTransaction that records responses.
type fakeTx struct {
	mu    sync.Mutex
	resps []*sip.Response
	done  chan struct{}
	once  sync.Once
}

func newFakeTx() *fakeTx { return &fakeTx{done: make(chan struct{})} }

func (f *fakeTx) Respond(res *sip.Response) error {
	f.mu.Lock()
	f.resps = append(f.resps, res)
	f.mu.Unlock()
	return nil
}
func (f *fakeTx) Acks() <-chan *sip.Request          { return nil }
func (f *fakeTx) OnCancel(sip.FnTxCancel) bool       { return true }
func (f *fakeTx) Terminate()                         { f.once.Do(func() { close(f.done) }) }
func (f *fakeTx) OnTerminate(sip.FnTxTerminate) bool { return true }
func (f *fakeTx) Done() <-chan struct{}              { return f.done }
func (f *fakeTx) Err() error                         { return nil }

// dispatchForFuzz routes req like the sipgo server does.
func dispatchForFuzz(s *Server, req *sip.Request, tx sip.ServerTransaction) {
	var h func(*sip.Request, sip.ServerTransaction)
	switch req.Method {
	case sip.INVITE:
		h = s.onInvite
	case sip.ACK:
		h = s.onAck
	case sip.CANCEL:
		h = s.onCancel
	case sip.BYE:
		h = s.inDialog((*Dialog).onBye)
	case sip.REGISTER:
		h = s.reg.onRegister
	case sip.OPTIONS:
		h = s.onOptions
	case sip.UPDATE:
		h = s.inDialog((*Dialog).onUpdate)
	case sip.INFO:
		h = s.inDialog((*Dialog).onInfo)
	default:
		h = s.onNoRoute
	}
	s.wrap(h)(req, tx)
}

// FuzzMessage parses arbitrary bytes as SIP and runs requests through the
// server's handlers (auth, registrar, INVITE, in-dialog) and bodies through the
// SDP / DTMF parsers. Nothing may panic.
func FuzzMessage(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "rfc4475", "*", "*.dat"))
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("INFO sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INFO\r\nContent-Type: application/dtmf-relay\r\nContent-Length: 20\r\n\r\nSignal=5\r\nDuration=1"))
	cfg := Config{Listen: []ListenConfig{{Network: "udp", Addr: "127.0.0.1:0"}},
		Users: []User{{Username: "alice", Password: "alicepw"}}}
	trunkLoopback(&cfg)
	s, err := NewServer(cfg)
	if err != nil {
		f.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	s.SetHandler(HandlerFunc(func(ctx context.Context, c *InboundCall) { _ = c.Reject(486, "fuzz") }))
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := sip.NewParser().ParseSIP(data)
		if err != nil {
			return
		}
		if b := msg.Body(); len(b) > 0 {
			_, _ = DetectHold(b)
			_, _ = OfferDirection(b)
			_, _, _ = parseDTMFInfo("application/dtmf-relay", b)
		}
		req, ok := msg.(*sip.Request)
		if !ok || req.Via() == nil {
			return
		}
		req.SetSource("127.0.0.1:5999")
		req.SetTransport("UDP")
		for _, h := range req.GetHeaders("Authorization") {
			_, _ = parseDigestCreds(h.Value())
		}
		dispatchForFuzz(s, req, newFakeTx())
	})
}
