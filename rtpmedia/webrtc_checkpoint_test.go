package rtpmedia

import "testing"

// A re-offer whose exchange failed is undone by Checkpoint's restore: without it the leg
// stayed re-offered with its direction narrowed (no media from the network, every later
// re-offer refused). The same for an answer to a network re-offer the other side refused.
func TestWebRTCCheckpointUndoesReoffer(t *testing.T) {
	e := newTestEngine(t, nil)
	l := newTestWebRTCLeg(t, e, []Codec{pcmu, te101})
	p := newNetPeer(t, []Codec{pcmu, te101})
	connectOutbound(t, l, p)
	rd := readLeg(l)
	exchange(t, l, p, rd, 0, 5)
	before := l.LocalDescription()

	restore := l.Checkpoint()
	if _, err := l.Reoffer(testCtx(t), SendOnly); err != nil {
		t.Fatal(err)
	}
	if l.Direction() != SendOnly {
		t.Fatalf("direction %v during the re-offer", l.Direction())
	}
	if _, err := l.Reoffer(testCtx(t), SendOnly); err == nil {
		t.Fatal("a second re-offer while one is out was accepted")
	}
	restore() // the network refused the hold
	if l.Direction() != SendRecv || l.LocalDescription() != before {
		t.Fatalf("after restore: direction %v, local SDP changed %v", l.Direction(), l.LocalDescription() != before)
	}
	exchange(t, l, p, rd, 0, 5) // both ways again

	re, err := l.Reoffer(testCtx(t), SendOnly) // the next hold works
	if err != nil {
		t.Fatalf("re-offer after restore: %v", err)
	}
	if err := l.SetReofferAnswer(peerReanswer(t, p, l, re, RecvOnly)); err != nil {
		t.Fatal(err)
	}
	if l.Direction() != SendOnly {
		t.Fatalf("direction %v after the hold", l.Direction())
	}

	restore = l.Checkpoint()
	if _, _, err := l.AnswerReoffer(testCtx(t), mustSetDirection(t, p.local, Inactive)); err != nil {
		t.Fatal(err)
	}
	if l.Direction() != Inactive {
		t.Fatalf("direction %v after answering an inactive re-offer", l.Direction())
	}
	restore()
	if l.Direction() != SendOnly {
		t.Fatalf("direction %v after restore, want sendonly", l.Direction())
	}
	_ = l.Close()
	restore() // no effect on a closed leg
}
