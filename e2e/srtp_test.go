package e2e

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/ynagw/ynagw/internal/testenv"
	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/yna/ynasim"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
)

// SDES-SRTP toward desk phones: baresip (srtp module) registers over TLS, with
// certificates from a CA generated in the test that both sides trust; alice's srtp
// is "required", bob's "optional".

type srtpEnv struct {
	*gwEnv
	ca        *testenv.CA
	phoneCert string // baresip's TLS listener certificate + key (for calls to it)
}

func newSRTPEnv(t *testing.T) *srtpEnv {
	t.Helper()
	ca := testenv.NewCA(t, "e2e")
	lo := net.IPv4(127, 0, 0, 1)
	gwCert, gwKey, _ := ca.Issue(t, "gw", lo)
	_, _, phone := ca.Issue(t, "phone", lo)
	e := newGwEnvSIP(t, func(c *sip.Config) {
		c.Listen = []sip.ListenConfig{{Network: "udp", Addr: "127.0.0.1:0"}, {Network: "tls", Addr: "127.0.0.1:0", CertFile: gwCert, KeyFile: gwKey}}
		c.CAFile = ca.File // the gateway verifies the phone's certificate when it calls it
		c.Users = []sip.User{{Username: "alice", Password: "alicepw", SRTP: "required"}, {Username: "bob", Password: "bobpw", SRTP: "optional"}}
	}, nil)
	return &srtpEnv{gwEnv: e, ca: ca, phoneCert: phone}
}

// phone starts baresip for user; tls registers it over TLS; mediaenc is baresip's
// media encryption ("" plain RTP/AVP, "srtp" RTP/AVP + a=crypto, "srtp-mand" RTP/SAVP).
func (e *srtpEnv) phone(t *testing.T, user, answermode string, tls bool, mediaenc string) *baresip {
	t.Helper()
	return startBaresipOpts(t, e.gwEnv, user, user+"pw", answermode,
		baresipOpts{tls: tls, caFile: e.ca.File, certFile: e.phoneCert, mediaenc: mediaenc, trace: true})
}

// dialURI is the gateway's address for a call from b (TLS or UDP).
func (e *srtpEnv) dialURI(tls bool) string {
	if tls {
		return "sip:" + e2eFarNumber + "@" + e.srv.Addr("tls").String() + ";transport=tls"
	}
	return "sip:" + e2eFarNumber + "@" + e.sipAddr().String()
}

// TestSRTPOutboundBaresipTLS: alice (srtp required) calls out over TLS offering
// RTP/SAVP; the tone gets through both ways and decodes; on the wire every RTP
// packet between phone and gateway is SRTP (80-bit tag, payload not in clear, it
// decrypts with the keys the SDPs carried) and RTCP is SRTCP.
func TestSRTPOutboundBaresipTLS(t *testing.T) {
	e := newSRTPEnv(t)
	alice := e.phone(t, "alice", "manual", true, "srtp-mand")
	sn := startSniffer(t, alice.rtp[0], alice.rtp[1])
	alice.command("dial", e.dialURI(true))
	menc := alice.waitEvent("CALL_MENC", 15*time.Second)
	alice.waitEvent("CALL_ESTABLISHED", 15*time.Second)
	if p, _ := menc["param"].(string); !strings.Contains(p, rtpmedia.SuiteAES128SHA1_80) {
		t.Errorf("baresip media encryption %q", p)
	}
	id := e.simCall(ynasim.DirectionOutbound)
	e.waitState(id, ynasim.CallConnected)
	st := e.waitStats(id, 15*time.Second, "2 s of audio both ways", func(s farend.Stats) bool {
		return s.PacketsReceived >= 100 && s.PacketsSent >= 100
	})
	if !within(st.ToneHzDetected, phoneToneHz, 0.1) {
		t.Errorf("far end heard %.0f Hz, want the phone's %d Hz", st.ToneHzDetected, phoneToneHz)
	}
	alice.command("hangup", "")
	alice.waitEvent("CALL_CLOSED", 10*time.Second)
	if hz := alice.heardToneHz(); !within(hz, farToneHz, 0.2) {
		t.Errorf("phone heard %.0f Hz, want the far end's %d Hz", hz, farToneHz)
	}
	if ci := e.waitState(id, ynasim.CallTerminated); ci.Outcome != ynasim.OutcomeEndedByClient {
		t.Errorf("outcome %s", ci.Outcome)
	}
	phoneKey, gwKey := traceKeys(t, alice, e.srv.Addr("tls").String())
	checkSRTPWire(t, sn, alice, phoneKey, gwKey)
}

// TestSRTPInboundBaresipTLS: a network call forked to alice's TLS contact is offered
// RTP/SAVP with a key of its own (the gateway connects to baresip's TLS listener and
// verifies it against sip.ca_file); baresip answers with its key; audio both ways.
func TestSRTPInboundBaresipTLS(t *testing.T) {
	e := newSRTPEnv(t)
	alice := e.phone(t, "alice", "auto", true, "srtp-mand")
	sn := startSniffer(t, alice.rtp[0], alice.rtp[1])
	id, err := e.sim.InjectCall(e.ctx(10*time.Second), e2eLine, e2eCaller)
	if err != nil {
		t.Fatal(err)
	}
	alice.waitEvent("CALL_ESTABLISHED", 15*time.Second)
	e.waitState(id, ynasim.CallConnected)
	st := e.waitStats(id, 15*time.Second, "2 s of alice's audio at the far end", func(s farend.Stats) bool {
		return s.PacketsReceived >= 100 && s.PacketsSent >= 100
	})
	if !within(st.ToneHzDetected, phoneToneHz, 0.1) {
		t.Errorf("far end heard %.0f Hz, want alice's %d Hz", st.ToneHzDetected, phoneToneHz)
	}
	// Re-INVITEs keep SRTP working: the phone holds and resumes (its re-offers carry
	// a=crypto), then the network does (the gateway re-offers with its key).
	alice.command("hold", "")
	e.waitState(id, ynasim.CallHold)
	alice.command("resume", "")
	e.waitState(id, ynasim.CallConnected)
	st = e.waitStats(id, 10*time.Second, "far end sendrecv after the phone's resume", func(s farend.Stats) bool { return s.Direction == "sendrecv" })
	st = e.waitStats(id, 10*time.Second, "audio both ways after the phone's resume", func(s farend.Stats) bool {
		return s.PacketsReceived >= st.PacketsReceived+50 && s.PacketsSent >= st.PacketsSent+50
	})
	netHoldResume(t, e.gwEnv, id)
	alice.command("hangup", "")
	alice.waitEvent("CALL_CLOSED", 10*time.Second)
	if hz := alice.heardToneHz(); !within(hz, farToneHz, 0.2) {
		t.Errorf("phone heard %.0f Hz, want the far end's %d Hz", hz, farToneHz)
	}
	e.waitState(id, ynasim.CallTerminated)
	phoneKey, gwKey := traceKeys(t, alice, e.srv.Addr("tls").String())
	checkSRTPWire(t, sn, alice, phoneKey, gwKey)
}

// TestSRTPPolicyBaresip: what the srtp setting does with each kind of offer baresip
// makes, over TLS and over UDP (where no SDES key may travel).
func TestSRTPPolicyBaresip(t *testing.T) {
	e := newSRTPEnv(t)
	tests := []struct {
		name     string
		user     string // alice: required, bob: optional
		tls      bool
		mediaenc string
		refused  bool // 488 with a Warning
		srtp     bool // established with SRTP (else plain RTP)
	}{
		{"required, TLS, RTP/AVP offer", "alice", true, "", true, false},
		{"required, UDP, RTP/SAVP offer", "alice", false, "srtp-mand", true, false},
		{"optional, UDP, RTP/SAVP offer", "bob", false, "srtp-mand", true, false},
		{"optional, UDP, RTP/AVP + a=crypto", "bob", false, "srtp", false, false},
		{"optional, TLS, RTP/AVP + a=crypto", "bob", true, "srtp", false, true},
		{"optional, TLS, RTP/AVP offer", "bob", true, "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.phone(t, tt.user, "manual", tt.tls, tt.mediaenc)
			b.command("dial", e.dialURI(tt.tls))
			if tt.refused {
				m := b.waitEvent("CALL_CLOSED", 15*time.Second)
				if p, _ := m["param"].(string); !strings.Contains(p, "488") {
					t.Errorf("call closed with %q, want 488", p)
				}
				eventually(t, 5*time.Second, "the 488's Warning in baresip's trace", func() bool {
					return b.logContains("Warning: 302 ynagw")
				})
				return
			}
			b.waitEvent("CALL_ESTABLISHED", 15*time.Second)
			id := e.simCall(ynasim.DirectionOutbound)
			e.waitStats(id, 15*time.Second, "1 s of audio both ways", func(s farend.Stats) bool {
				return s.PacketsReceived >= 50 && s.PacketsSent >= 50
			})
			b.command("hangup", "")
			b.waitEvent("CALL_CLOSED", 10*time.Second)
			e.waitState(id, ynasim.CallTerminated)
			if got := b.logContains("SRTP is Enabled"); got != tt.srtp {
				t.Errorf("baresip SRTP enabled %v, want %v", got, tt.srtp)
			}
			_, gw := traceCrypto(t, b, gwTraceAddr(e, tt.tls))
			if (len(gw) > 0) != tt.srtp {
				t.Errorf("gateway's answer a=crypto %v, want SRTP %v", gw, tt.srtp)
			}
		})
	}
}

func gwTraceAddr(e *srtpEnv, tls bool) string {
	if tls {
		return e.srv.Addr("tls").String()
	}
	return e.sipAddr().String()
}

// traceCrypto returns the a=crypto attributes baresip's SIP trace shows in messages
// from the phone and from the gateway (gwAddr: its SIP address in the trace).
func traceCrypto(t *testing.T, b *baresip, gwAddr string) (phone, gw []rtpmedia.Crypto) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(b.dir, "baresip.log"))
	if err != nil {
		t.Fatal(err)
	}
	fromGW := false
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if f := strings.Fields(line); len(f) == 4 && f[2] == "->" && (f[0] == "TLS" || f[0] == "UDP") {
			fromGW = f[1] == gwAddr
			continue
		}
		v, ok := strings.CutPrefix(line, "a=crypto:")
		if !ok {
			continue
		}
		c, err := rtpmedia.ParseCrypto(v)
		if err != nil {
			t.Fatalf("trace %q: %v", line, err)
		}
		if fromGW {
			gw = append(gw, c)
		} else {
			phone = append(phone, c)
		}
	}
	return phone, gw
}

// traceKeys returns the phone's and the gateway's SDES keys of the call (every
// distinct one: a re-INVITE may rekey).
func traceKeys(t *testing.T, b *baresip, gwAddr string) (phone, gw []rtpmedia.Crypto) {
	t.Helper()
	p, g := traceCrypto(t, b, gwAddr)
	if len(p) == 0 || len(g) == 0 {
		t.Fatalf("SIP trace: %d a=crypto from the phone, %d from the gateway", len(p), len(g))
	}
	distinct := func(cs []rtpmedia.Crypto) []rtpmedia.Crypto {
		var out []rtpmedia.Crypto
	next:
		for _, c := range cs {
			for _, o := range out {
				if bytes.Equal(o.Key, c.Key) {
					continue next
				}
			}
			out = append(out, c)
		}
		return out
	}
	return distinct(p), distinct(g)
}

// checkSRTPWire checks the captured phone ⇄ gateway media: RTP is SRTP (12-byte
// header + 160 bytes of PCMU + 10-byte tag), decrypts with one of its sender's SDP
// keys to a payload that differs from what was on the wire, and RTCP is SRTCP.
func checkSRTPWire(t *testing.T, sn *sniffer, b *baresip, phoneKeys, gwKeys []rtpmedia.Crypto) {
	t.Helper()
	if sn == nil {
		return
	}
	ctxs := func(cs []rtpmedia.Crypto) []*srtp.Context {
		var out []*srtp.Context
		for _, c := range cs {
			x, err := srtp.CreateContext(c.Key[:16], c.Key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, x)
		}
		return out
	}
	// by "from the phone"; a failed decryption leaves a context's state as it was
	decRTP := map[bool][]*srtp.Context{true: ctxs(phoneKeys), false: ctxs(gwKeys)}
	decRTCP := map[bool][]*srtp.Context{true: ctxs(phoneKeys), false: ctxs(gwKeys)}
	tryRTP := func(fromPhone bool, p []byte) ([]byte, error) {
		var err error
		for _, c := range decRTP[fromPhone] {
			var plain []byte
			if plain, err = c.DecryptRTP(nil, p, nil); err == nil {
				return plain, nil
			}
		}
		return nil, err
	}
	tryRTCP := func(fromPhone bool, p []byte) (err error) {
		for _, c := range decRTCP[fromPhone] {
			if _, err = c.DecryptRTCP(nil, p, nil); err == nil {
				return nil
			}
		}
		return err
	}
	var rtpN, rtcpN [2]int // [from gateway, from phone]
	idx := func(fromPhone bool) int {
		if fromPhone {
			return 1
		}
		return 0
	}
	all := sn.datagrams()
	for i, d := range all {
		fromPhone := sn.in(d.src.Port())
		if fromPhone == sn.in(d.dst.Port()) {
			continue // both ends in baresip's range: cannot tell (the gateway's port landed there)
		}
		p := d.payload
		if len(p) < 12 || p[0]>>6 != 2 {
			continue
		}
		if p[1] >= 192 && p[1] <= 223 { // RTCP
			if len(p) < 8+4+10 || p[len(p)-14]&0x80 == 0 {
				// baresip itself sends its RTCP APP "PING" keep-alive before the keys are
				// set and its BYE after the call: plain. Everything else must be SRTCP.
				if !fromPhone || (p[1] != 204 && p[1] != 203) {
					t.Errorf("RTCP from phone=%v without the SRTCP E flag (%d bytes, #%d of %d): %x", fromPhone, len(p), i, len(all), p)
				}
				continue
			}
			if err := tryRTCP(fromPhone, p); err != nil {
				t.Errorf("SRTCP from phone=%v does not decrypt with its key: %v", fromPhone, err)
				continue
			}
			rtcpN[idx(fromPhone)]++
			continue
		}
		var h rtp.Header
		hl, err := h.Unmarshal(p)
		if err != nil || h.PayloadType == 101 {
			continue // telephone-event or junk: not the audio checked here
		}
		if len(p) != hl+160+10 {
			t.Errorf("RTP from phone=%v: %d bytes, want %d header + 160 PCMU + 10 tag", fromPhone, len(p), hl)
			continue
		}
		plain, err := tryRTP(fromPhone, p)
		if err != nil {
			t.Errorf("RTP seq %d from phone=%v does not decrypt with the key of its SDP: %v", h.SequenceNumber, fromPhone, err)
			continue
		}
		if bytes.Equal(plain[hl:], p[hl:hl+160]) {
			t.Errorf("RTP seq %d from phone=%v: the payload travels in clear", h.SequenceNumber, fromPhone)
		}
		rtpN[idx(fromPhone)]++
	}
	t.Logf("wire: SRTP %d gateway→phone, %d phone→gateway; SRTCP %d / %d; keys seen: %d phone, %d gateway",
		rtpN[0], rtpN[1], rtcpN[0], rtcpN[1], len(phoneKeys), len(gwKeys))
	if rtpN[0] < 50 || rtpN[1] < 50 {
		t.Errorf("captured SRTP packets: %d gateway→phone, %d phone→gateway; want ≥ 50 each", rtpN[0], rtpN[1])
	}
}
