package sip

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/internal/kamailio"
)

// TestKamailioBaresipFork: two real softphones (baresip) register as alice
// through a real Kamailio in front of two nodes sharing the registrations. Node
// 0 forks to both bindings through their Path; phone a answers, phone b gets the
// CANCEL through Kamailio; node 0's BYE reaches phone a through the
// Record-Route. Then phone a calls in through Kamailio (digest end to end), a
// node answers and phone a's BYE reaches that node.
func TestKamailioBaresipFork(t *testing.T) {
	k := newKamCluster(t, kamailio.Options{})
	proxy := k.p.Addr()
	a := startBaresip(t, "a", "alice", "alicepw", proxy, 10400)
	b := startBaresip(t, "b", "alice", "alicepw", proxy, 10440)

	contacts := waitContacts(t, k.nodes[0], "alice", 2, 15*time.Second)
	var targets []Target
	for _, c := range contacts {
		label := ""
		switch {
		case strings.Contains(c.URI, ":"+strconv.Itoa(a.sipPort)):
			label = "a"
		case strings.Contains(c.URI, ":"+strconv.Itoa(b.sipPort)):
			label = "b"
		default:
			t.Fatalf("contact %+v belongs to neither phone", c)
		}
		if len(c.Path) != 1 || !strings.Contains(c.Path[0], proxy.String()) {
			t.Fatalf("binding of phone %s has Path %q, want Kamailio's", label, c.Path)
		}
		t.Logf("phone %s registered at node %s", label, c.Node)
		targets = append(targets, Target{URI: c.URI, Route: c.Path, Label: label})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o, err := k.nodes[0].Dial(ctx, DialRequest{From: "<sip:+15551230000@ynagw>", To: "<sip:alice@ynagw>", Targets: targets, Offer: []byte(testOffer)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		o.Cancel("test cleanup")
		<-o.Done()
	})
	a.waitEvent(t, "CALL_INCOMING", 10*time.Second)
	b.waitEvent(t, "CALL_INCOMING", 10*time.Second)
	a.command(t, "accept", "")
	_, final := finalEvent(t, o, 10*time.Second)
	ans, ok := final.(*AnsweredEvent)
	if !ok || ans.Branch != "a" || ans.Dialog == nil || !bytes.Contains(ans.SDP, []byte("m=audio")) {
		t.Fatalf("final %#v, want an answer with SDP from phone a", final)
	}
	b.waitEvent(t, "CALL_CLOSED", 10*time.Second) // the CANCEL reached phone b through Kamailio
	a.waitEvent(t, "CALL_ESTABLISHED", 10*time.Second)
	d := ans.Dialog
	go func() {
		for range d.Events() {
		}
	}()
	if err := d.Hangup(ctx, "test done"); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	a.waitEvent(t, "CALL_CLOSED", 10*time.Second)
	waitDone(t, o, 15*time.Second)
	res := resultsByLabel(o)
	if r := res["a"]; r.Result != ResultAnswered || r.Code != 200 {
		t.Errorf("phone a: %d/%q, want 200/answered", r.Code, r.Result)
	}
	if r := res["b"]; r.Result != ResultCancelled || r.Code != 487 {
		t.Errorf("phone b: %d/%q, want 487/cancelled", r.Code, r.Result)
	}
	k.p.WaitLog(t, "in-dialog BYE from "+k.nodes[0].Addr("udp").String(), 5*time.Second)

	// phone a calls in through Kamailio and hangs up
	a.command(t, "dial", "sip:2000@"+proxy.String())
	var d2 *Dialog
	select {
	case d2 = <-k.apps[0].dialogs:
	case d2 = <-k.apps[1].dialogs:
	case <-time.After(10 * time.Second):
		t.Fatal("no node answered phone a's call")
	}
	a.waitEvent(t, "CALL_ESTABLISHED", 10*time.Second)
	a.command(t, "hangup", "")
	for {
		ev := nextEvent(t, d2)
		if _, isBye := ev.(*ByeEvent); isBye {
			break
		}
		if _, isT := ev.(*TerminatedEvent); isT {
			t.Fatal("dialog ended without phone a's BYE")
		}
	}
	a.waitEvent(t, "CALL_CLOSED", 10*time.Second)
	k.p.WaitLog(t, "in-dialog BYE from 127.0.0.1:"+strconv.Itoa(a.sipPort), 5*time.Second)
}
