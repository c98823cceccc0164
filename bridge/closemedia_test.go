package bridge

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/ynagw/ynagw/rtpmedia"
	"go.uber.org/zap"
)

// TestCloseMediaCountersAgree ends calls while the phone still sends (as every
// call of a load test does) and checks the CDR's counters: the relay cannot
// have forwarded toward the network more packets than the SIP leg received.
// (Issue 12: ynagw_rtp_packets_total{leg="net",dir="out"} exceeded
// {leg="sip",dir="in"} by ~0.02 %: closeMedia read the SIP leg's counters
// before closing it, and the relay went on forwarding what arrived meanwhile.)
func TestCloseMediaCountersAgree(t *testing.T) {
	phone, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	raw, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 7}, Payload: make([]byte, 160)}).Marshal()
	mismatches := 0
	const calls = 20
	for i := 0; i < calls; i++ {
		leg, err := rtpmedia.NewLeg(rtpmedia.LegConfig{BindIP: netip.MustParseAddr("127.0.0.1"), RTCPInterval: -1,
			Latch: true, Remote: phone.LocalAddr().(*net.UDPAddr).AddrPort()})
		if err != nil {
			t.Fatal(err)
		}
		leg.SetDirection(rtpmedia.SendRecv)
		netLeg := newFakeNet()
		c := &call{sipLeg: leg, net: netLeg, log: zap.NewNop()}
		c.relay = newRelay(leg, netLeg, RelayParams{SIPCodec: unitPCMU, NetCodec: unitPCMU}, zap.NewNop())
		c.relay.Start()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // the phone keeps sending until the call is over
			defer wg.Done()
			for seq := uint16(0); ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				raw[2], raw[3] = byte(seq>>8), byte(seq)
				_, _ = phone.WriteToUDPAddrPort(raw, leg.LocalAddr())
			}
		}()
		deadline := time.Now().Add(10 * time.Second)
		for c.relay.NetStats().PacketsOut < 200 {
			if time.Now().After(deadline) {
				t.Fatal("relay forwarded nothing")
			}
			time.Sleep(time.Millisecond)
		}
		c.closeMedia()
		close(stop)
		wg.Wait()
		if in, out := c.rec.SIPMedia.PacketsIn, c.rec.NetMedia.PacketsOut; out > in {
			mismatches++
			t.Logf("call %d: SIP leg received %d, relay sent %d toward the network", i, in, out)
		}
	}
	if mismatches > 0 {
		t.Errorf("%d of %d calls: more packets forwarded toward the network than the SIP leg received", mismatches, calls)
	}
}
