package farend

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	farHz    = 1000.0
	clientHz = 600.0
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newFarEnd(t *testing.T, cfg Config) *FarEnd {
	t.Helper()
	cfg.AllowLoopback = true
	if cfg.ToneHz == 0 {
		cfg.ToneHz = farHz
	}
	cfg.Logger = zaptest.NewLogger(t)
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Errorf("far end close: %v", err)
		}
	})
	return f
}

// outboundCall sets up a client-offered call and waits until media flows both ways.
func outboundCall(t *testing.T, ctx context.Context, cfg Config, clientCodecs ...string) (*FarEnd, *testClient, string) {
	t.Helper()
	fe := newFarEnd(t, cfg)
	cl := newTestClient(t, clientHz, clientCodecs...)
	ans, err := fe.Answer(ctx, cl.offer())
	if err != nil {
		t.Fatalf("Answer: %v", err)
	}
	cl.setAnswer(ans)
	connect(t, ctx, fe, cl)
	return fe, cl, ans
}

func connect(t *testing.T, ctx context.Context, fe *FarEnd, cl *testClient) {
	t.Helper()
	if err := fe.WaitConnected(ctx); err != nil {
		t.Fatalf("far end connect: %v", err)
	}
	cl.waitConnected()
	if err := fe.WaitPackets(ctx, 10); err != nil {
		t.Fatalf("far end receives nothing: %v %+v", err, fe.Stats())
	}
	cl.waitPackets(10)
}

func near(got, want, tolerance float64) bool { return math.Abs(got-want) <= want*tolerance }

// checkStream asserts a loss-free, in-order, duplicate-free received stream
// with continuous marker counters and the expected tone.
func checkStream(t *testing.T, who string, st Stats, hz float64) {
	t.Helper()
	if st.Lost != 0 || st.OutOfOrder != 0 || st.Duplicates != 0 {
		t.Errorf("%s: lost=%d ooo=%d dup=%d", who, st.Lost, st.OutOfOrder, st.Duplicates)
	}
	if st.PayloadBad != 0 || st.PayloadOK != st.PacketsReceived || st.PacketsReceived == 0 {
		t.Errorf("%s: payload ok=%d bad=%d of %d", who, st.PayloadOK, st.PayloadBad, st.PacketsReceived)
	}
	if hz > 0 && !near(st.ToneHzDetected, hz, 0.1) {
		t.Errorf("%s: tone %.1f Hz, want ~%.0f", who, st.ToneHzDetected, hz)
	}
}

// checkContinuous asserts that the packets have consecutive RTP sequence
// numbers and that the audio packets (payload type audioPT) carry
// consecutive marker counters.
func checkContinuous(t *testing.T, pkts []rtp.Packet, audioPT uint8) {
	t.Helper()
	var last uint32
	haveLast, audio := false, 0
	for i, p := range pkts {
		if i > 0 && p.SequenceNumber != pkts[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d: seq %d after %d", i, p.SequenceNumber, pkts[i-1].SequenceNumber)
		}
		if p.PayloadType != audioPT {
			continue
		}
		audio++
		c, ok := ParseMarker(p.Payload)
		if !ok || (haveLast && c != last+1) {
			t.Fatalf("packet %d: marker %d(%v) after %d", i, c, ok, last)
		}
		last, haveLast = c, true
	}
	if audio == 0 {
		t.Fatal("no audio packets")
	}
}

func TestOutboundG711(t *testing.T) {
	for _, tc := range []struct {
		codec string
		pt    uint8
	}{{"PCMU", 0}, {"PCMA", 8}} {
		t.Run(tc.codec, func(t *testing.T) {
			ctx := testCtx(t)
			fe, cl, ans := outboundCall(t, ctx, Config{}, tc.codec, "telephone-event/8000")
			if !strings.Contains(ans, "a=candidate:") || !strings.Contains(ans, "127.0.0.1") {
				t.Errorf("answer lacks loopback candidates:\n%s", ans)
			}
			if err := fe.WaitPackets(ctx, 50); err != nil {
				t.Fatal(err)
			}
			cl.waitPackets(50)
			st := fe.Stats()
			if st.Codec != tc.codec+"/8000" || st.PayloadType != tc.pt || st.Direction != DirSendRecv {
				t.Errorf("stats codec=%q pt=%d dir=%q", st.Codec, st.PayloadType, st.Direction)
			}
			if st.ICEState != "connected" || st.DTLSState != "connected" || st.SRTPProfile != "SRTP_AEAD_AES_128_GCM" {
				t.Errorf("ice=%q dtls=%q srtp=%q", st.ICEState, st.DTLSState, st.SRTPProfile)
			}
			checkStream(t, "far end", st, clientHz)
			checkStream(t, "client", cl.stats(), farHz)
			pk := cl.packets()
			checkContinuous(t, pk, tc.pt)
			if len(pk[0].Payload) != 160 {
				t.Fatalf("payload size %d", len(pk[0].Payload))
			}
		})
	}
}

func TestAnswerPicksFirstOfferedCodec(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client []string
		want   string
	}{
		{"pcma first", []string{"PCMA", "PCMU", "telephone-event/8000"}, "PCMA/8000"},
		{"opus first", []string{"opus/48000/2", "PCMU", "telephone-event/48000"}, "opus/48000/2"},
		{"g722 first", []string{"G722", "PCMU"}, "G722/8000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			fe, cl, _ := outboundCall(t, ctx, Config{}, tc.client...)
			st := fe.Stats()
			if st.Codec != tc.want {
				t.Errorf("codec %q, want %q", st.Codec, tc.want)
			}
			// Packets flow both ways in every codec, in order.
			if cs := cl.stats(); cs.Lost != 0 || cs.OutOfOrder != 0 || cs.PacketsReceived < 10 {
				t.Errorf("client stats %+v", cs)
			}
		})
	}
}

func TestInboundOfferSetAnswer(t *testing.T) {
	ctx := testCtx(t)
	fe := newFarEnd(t, Config{})
	offer, err := fe.Offer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("network offer:\n%s", offer)
	if !strings.Contains(offer, " UDP/TLS/RTP/SAVPF 111 9 0 8 110 126\r\n") || strings.Contains(offer, "m=audio 9 ") ||
		!strings.Contains(offer, "c=IN IP4 127.0.0.1\r\n") || strings.Contains(offer, "cryptex") {
		t.Errorf("offer m-line not as the real network:\n%s", offer)
	}
	for _, want := range []string{"a=rtpmap:111 opus/48000/2", "a=rtpmap:9 G722/8000", "a=rtpmap:0 PCMU/8000",
		"a=rtpmap:8 PCMA/8000", "a=rtpmap:126 telephone-event/8000", "a=setup:actpass", "a=fingerprint:", "a=rtcp-mux", "a=candidate:"} {
		if !strings.Contains(offer, want) {
			t.Errorf("offer lacks %q", want)
		}
	}
	if _, err := fe.Offer(ctx); !errors.Is(err, ErrState) {
		t.Errorf("second Offer: %v", err)
	}
	cl := newTestClient(t, clientHz, "PCMU", "telephone-event/8000")
	if err := fe.SetAnswer(cl.answer(offer)); err != nil {
		t.Fatal(err)
	}
	connect(t, ctx, fe, cl)
	if err := fe.WaitPackets(ctx, 40); err != nil {
		t.Fatal(err)
	}
	cl.waitPackets(40)
	st := fe.Stats()
	if st.Codec != "PCMU/8000" || st.Direction != DirSendRecv {
		t.Errorf("codec %q dir %q", st.Codec, st.Direction)
	}
	checkStream(t, "far end", st, clientHz)
	checkStream(t, "client", cl.stats(), farHz)
	checkContinuous(t, cl.packets(), 0)
	select { // the far end sends RTCP sender reports like a media gateway
	case <-cl.gotSR:
	case <-ctx.Done():
		t.Error("no RTCP sender report from the far end")
	}
}

func TestClientHoldResume(t *testing.T) {
	ctx := testCtx(t)
	fe, cl, _ := outboundCall(t, ctx, Config{}, "PCMU", "telephone-event/8000")

	// Hold: client offers sendonly, far end answers recvonly and stops sending.
	ans, err := fe.AnswerReoffer(ctx, cl.reoffer(DirSendOnly))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ans, "a=recvonly") || strings.Contains(ans, "a=sendrecv") || !strings.Contains(ans, "a=setup:active") {
		t.Errorf("hold answer:\n%s", ans)
	}
	st := fe.Stats()
	if st.Direction != DirRecvOnly {
		t.Errorf("direction %q", st.Direction)
	}
	sentAtHold := st.PacketsSent
	if err := fe.WaitPackets(ctx, st.PacketsReceived+20); err != nil {
		t.Fatal(err)
	}
	if got := fe.Stats().PacketsSent; got != sentAtHold {
		t.Errorf("far end sent %d packets while held", got-sentAtHold)
	}

	// Resume.
	clientBefore := cl.stats().PacketsReceived
	ans, err = fe.AnswerReoffer(ctx, cl.reoffer(DirSendRecv))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ans, "a=sendrecv") {
		t.Errorf("resume answer:\n%s", ans)
	}
	cl.waitPackets(clientBefore + 20)
	checkStream(t, "client", cl.stats(), farHz)
	checkContinuous(t, cl.packets(), 0) // seq and counters run on across the hold

	// RFC 3264 §6.1 table for the remaining directions.
	for _, tc := range []struct{ offer, want string }{
		{DirInactive, DirInactive}, {DirRecvOnly, DirSendOnly}, {DirSendRecv, DirSendRecv},
	} {
		ans, err := fe.AnswerReoffer(ctx, cl.reoffer(tc.offer))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(ans, "a="+tc.want+"\r\n") || fe.Stats().Direction != tc.want {
			t.Errorf("offer %s: answer direction %q, want %s", tc.offer, fe.Stats().Direction, tc.want)
		}
	}
	checkStream(t, "far end", fe.Stats(), clientHz)
}

func TestClientPionRenegotiation(t *testing.T) {
	// A pion client re-offering through pion (same ICE credentials) gets an
	// answer pion accepts, and media keeps flowing.
	ctx := testCtx(t)
	fe, cl, _ := outboundCall(t, ctx, Config{}, "PCMU", "telephone-event/8000")
	ans, err := fe.AnswerReoffer(ctx, cl.offer())
	if err != nil {
		t.Fatal(err)
	}
	cl.setAnswer(ans)
	before := cl.stats().PacketsReceived
	cl.waitPackets(before + 20)
	if err := fe.WaitPackets(ctx, fe.Stats().PacketsReceived+20); err != nil {
		t.Fatal(err)
	}
	checkStream(t, "client", cl.stats(), farHz)
	checkStream(t, "far end", fe.Stats(), clientHz)
}

func TestNetworkHoldResume(t *testing.T) {
	ctx := testCtx(t)
	fe, cl, _ := outboundCall(t, ctx, Config{}, "PCMU", "telephone-event/8000")

	// Network holds with sendonly; the pion client answers (pion applies the re-offer).
	off, err := fe.Reoffer(ctx, DirSendOnly)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(off, "a=sendonly") || !strings.Contains(off, "a=setup:actpass") {
		t.Errorf("hold re-offer:\n%s", off)
	}
	if _, err := fe.Reoffer(ctx, DirSendRecv); !errors.Is(err, ErrState) {
		t.Errorf("re-offer while one is outstanding: %v", err)
	}
	if err := fe.SetAnswer(cl.answer(off)); err != nil {
		t.Fatal(err)
	}
	if d := fe.Stats().Direction; d != DirSendOnly {
		t.Errorf("direction %q", d)
	}
	cl.setSending(false) // the held client stops sending
	before := cl.stats().PacketsReceived
	cl.waitPackets(before + 20) // far end keeps sending while it holds with sendonly

	// Inactive: sending stops as soon as the re-offer is made.
	off, err = fe.Reoffer(ctx, DirInactive)
	if err != nil {
		t.Fatal(err)
	}
	sentAt := fe.Stats().PacketsSent
	if err := fe.SetAnswer(rewriteSDP(cl.local, DirInactive, "")); err != nil {
		t.Fatal(err)
	}
	cl.setSending(true)
	if err := fe.WaitPackets(ctx, fe.Stats().PacketsReceived+20); err != nil {
		t.Fatal(err)
	}
	if got := fe.Stats().PacketsSent; got != sentAt {
		t.Errorf("far end sent %d packets while inactive", got-sentAt)
	}
	_ = off

	// Resume through pion.
	off, err = fe.Reoffer(ctx, DirSendRecv)
	if err != nil {
		t.Fatal(err)
	}
	if err := fe.SetAnswer(cl.answer(off)); err != nil {
		t.Fatal(err)
	}
	if d := fe.Stats().Direction; d != DirSendRecv {
		t.Errorf("direction %q", d)
	}
	before = cl.stats().PacketsReceived
	cl.waitPackets(before + 20)
	checkStream(t, "client", cl.stats(), farHz)
	checkContinuous(t, cl.packets(), 0)
	if _, err := fe.Reoffer(ctx, "hold"); !errors.Is(err, ErrBadDirection) {
		t.Errorf("bad direction: %v", err)
	}
}

func TestDTMF(t *testing.T) {
	ctx := testCtx(t)
	fe, cl, _ := outboundCall(t, ctx, Config{}, "PCMU", "telephone-event/8000")

	if err := fe.SendDTMF("123#"); err != nil {
		t.Fatal(err)
	}
	cl.sendDTMF("123#")
	cl.waitDigits(4)
	if err := fe.WaitDigits(ctx, 4); err != nil {
		t.Fatalf("far end digits %q: %v", fe.Stats().Digits, err)
	}
	// Let the retransmitted end packets and more audio arrive, then check
	// every digit was counted exactly once.
	cl.waitPackets(cl.stats().PacketsReceived + 10)
	if err := fe.WaitPackets(ctx, fe.Stats().PacketsReceived+10); err != nil {
		t.Fatal(err)
	}
	if d := cl.stats().Digits; d != "123#" {
		t.Errorf("client digits %q", d)
	}
	st := fe.Stats()
	if st.Digits != "123#" {
		t.Errorf("far end digits %q", st.Digits)
	}
	wantPkts := uint64(4 * (dtmfProgressPackets + dtmfEndPackets))
	if st.DTMFPacketsSent != wantPkts || st.DTMFPacketsRecv != wantPkts {
		t.Errorf("DTMF packets sent %d recv %d, want %d", st.DTMFPacketsSent, st.DTMFPacketsRecv, wantPkts)
	}
	checkStream(t, "far end", st, clientHz)
	checkStream(t, "client", cl.stats(), farHz)
	checkContinuous(t, cl.packets(), 0) // marker counters skip no value around DTMF

	if err := fe.SendDTMF("12x"); !errors.Is(err, ErrBadDigit) {
		t.Errorf("bad digit: %v", err)
	}
}

func TestDTMFNotNegotiated(t *testing.T) {
	ctx := testCtx(t)
	fe, _, _ := outboundCall(t, ctx, Config{}, "PCMU")
	if err := fe.SendDTMF("1"); !errors.Is(err, ErrNoTelephoneEvent) {
		t.Errorf("SendDTMF without telephone-event: %v", err)
	}
}

func TestNoCommonCodec(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tc := range []struct {
		name  string
		cfg   Config
		offer string
	}{
		{"g729 only", Config{}, read("offer-g729.sdp")},
		{"video only", Config{}, read("offer-video.sdp")},
		{"audio port 0", Config{}, strings.Replace(read("offer-pcmu.sdp"), "m=audio 9 ", "m=audio 0 ", 1)},
		{"pcmu offered, pcma configured", Config{Codecs: []string{"PCMA", "telephone-event"}}, read("offer-pcmu.sdp")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fe := newFarEnd(t, tc.cfg)
			_, err := fe.Answer(testCtx(t), tc.offer)
			if !errors.Is(err, ErrNoCommonCodec) {
				t.Fatalf("err = %v, want ErrNoCommonCodec", err)
			}
		})
	}
	fe := newFarEnd(t, Config{})
	if _, err := fe.Answer(testCtx(t), "garbage"); err == nil {
		t.Error("garbage offer accepted")
	}
}

func TestNewAndClose(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{}, true},
		{"unknown codec", Config{Codecs: []string{"G729"}}, false},
		{"only telephone-event", Config{Codecs: []string{"telephone-event/8000"}}, false},
		{"bad ip", Config{IPs: []string{"not-an-ip"}}, false},
		{"nat ip", Config{IPs: []string{"127.0.0.1"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := New(tc.cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("New: %v", err)
			}
			if f == nil {
				return
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if _, err := f.Offer(testCtx(t)); !errors.Is(err, ErrClosed) {
				t.Errorf("Offer after Close: %v", err)
			}
			if err := f.SetAnswer("v=0"); err == nil {
				t.Error("SetAnswer after Close accepted")
			}
		})
	}
	f := newFarEnd(t, Config{})
	if _, err := f.Reoffer(testCtx(t), DirSendOnly); !errors.Is(err, ErrState) {
		t.Errorf("Reoffer before negotiation: %v", err)
	}
	if err := f.SendDTMF("1"); !errors.Is(err, ErrNoTelephoneEvent) {
		t.Errorf("SendDTMF before negotiation: %v", err)
	}
}

func TestCloseDuringCall(t *testing.T) {
	ctx := testCtx(t)
	fe, cl, _ := outboundCall(t, ctx, Config{}, "PCMU", "telephone-event/8000")
	if err := fe.SendDTMF("5"); err != nil {
		t.Fatal(err)
	}
	if err := fe.Close(); err != nil {
		t.Fatal(err)
	}
	st := fe.Stats() // still usable after Close
	if st.PacketsSent == 0 || st.PacketsReceived == 0 {
		t.Errorf("stats after close: %+v", st)
	}
	if err := fe.SendDTMF("1"); !errors.Is(err, ErrClosed) {
		t.Errorf("SendDTMF after Close: %v", err)
	}
	cl.close()
	// Every goroutine of both PeerConnections (pion's and ours) is gone.
	goleak.VerifyNone(t)
}
