package bridge

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
	"github.com/ynagw/ynagw/yna"
)

// phoneSDESOffer is a phone's offer over TLS with its SDES key k.
func phoneSDESOffer(t *testing.T, dir rtpmedia.Direction, k *rtpmedia.Crypto) []byte {
	t.Helper()
	b, err := rtpmedia.BuildOffer(rtpmedia.OfferConfig{Addr: netip.MustParseAddrPort("127.0.0.1:30000"),
		Codecs: []rtpmedia.Codec{unitPCMU}, Direction: dir, SessionID: 1, Version: uint64(time.Now().UnixNano()),
		SRTP: rtpmedia.SRTPRequired, Secure: true, Crypto: k})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A phone's hold re-offer with a new SDES key that the network refuses: the phone's
// re-INVITE fails, so it keeps sending with its old key (RFC 3261 §14.2, RFC 4568
// §7.1.4); ynagw must keep decrypting with that key, not the one of the refused offer.
func TestUnitRefusedHoldKeepsPhoneSRTPKey(t *testing.T) {
	u := newUnit(t, nil)
	k1, err := rtpmedia.NewCrypto(1, "")
	if err != nil {
		t.Fatal(err)
	}
	k2, err := rtpmedia.NewCrypto(1, "")
	if err != nil {
		t.Fatal(err)
	}
	inv := newFakeInvite()
	inv.srtp, inv.secure, inv.offer = "optional", true, phoneSDESOffer(t, rtpmedia.SendRecv, k1)
	go u.g.handleInvite(context.Background(), inv, caller{user: "alice", ruri: "sip:2065550123@ynagw"})
	id := u.req(yna.OpStart).id
	leg := wait(t, u.legs, "the phone leg")
	wait(t, u.media.made, "the network leg")
	u.note(id, yna.StatusInProgress, 183, "net-answer", false)
	wait(t, inv.prov, "183")
	wait(t, u.relays, "the relay")
	u.note(id, yna.StatusConnected, 200, "", false)
	if c := wait(t, inv.finals, "200 OK"); c != 200 {
		t.Fatalf("final %d", c)
	}
	before := leg.srtp()
	if before == nil {
		t.Fatal("no SRTP toward the phone after the answer")
	}

	u.y.script(yna.OpHold, apiErr(yna.OpHold, 503))
	got := make(chan int, 1)
	inv.dlg.events <- &sip.OfferEvent{SDP: phoneSDESOffer(t, rtpmedia.SendOnly, k2), Method: "INVITE",
		Respond: func(code int, _ []byte) error { got <- code; return nil }}
	if code := wait(t, got, "the answer to the hold"); code == 200 {
		t.Fatalf("hold answered 200 though the network refused it")
	}
	after := leg.srtp()
	if after == nil || !bytes.Equal(after.Remote, before.Remote) || !bytes.Equal(after.Local, before.Local) {
		t.Errorf("after the refused hold the phone leg's keys changed: remote %x -> %v", before.Remote, after)
	}

	// A hold the network takes switches to the new key.
	got2 := make(chan int, 1)
	inv.dlg.events <- &sip.OfferEvent{SDP: phoneSDESOffer(t, rtpmedia.SendOnly, k2), Method: "INVITE",
		Respond: func(code int, _ []byte) error { got2 <- code; return nil }}
	if code := wait(t, got2, "the answer to the second hold"); code != 200 {
		t.Fatalf("second hold answered %d", code)
	}
	if k := leg.srtp(); k == nil || bytes.Equal(k.Remote, before.Remote) {
		t.Errorf("after the accepted hold the phone's new key is not in use")
	}
	inv.dlg.phoneHangsUp()
	u.req(yna.OpEnd)
}
