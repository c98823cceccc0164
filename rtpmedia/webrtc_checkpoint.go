package rtpmedia

// Checkpoint saves the leg's negotiated state: the offer/answer state, the local SDP,
// the last answer, codec, telephone-event and directions. Calling restore puts it back,
// undoing a Reoffer whose exchange failed (the leg would otherwise stay re-offered, with
// its direction narrowed, and refuse every later re-offer) or an AnswerReoffer the other
// side did not take. pion itself is untouched by both (they rewrite the local SDP only),
// so nothing else needs undoing. restore does nothing once the leg is closed.
func (l *WebRTCLeg) Checkpoint() (restore func()) {
	l.mu.Lock()
	saved := struct {
		state                legState
		localSDP, lastAnswer string
		want, pendingDir     Direction
		codec                Codec
		dtmf                 *Codec
		dir                  int32
	}{l.state, l.localSDP, l.lastAnswer, l.want, l.pendingDir, l.codec, nil, l.dir.Load()}
	if l.dtmf != nil {
		d := *l.dtmf
		saved.dtmf = &d
	}
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.closed {
			return
		}
		l.state, l.localSDP, l.lastAnswer = saved.state, saved.localSDP, saved.lastAnswer
		l.want, l.pendingDir, l.codec, l.dtmf = saved.want, saved.pendingDir, saved.codec, saved.dtmf
		l.dir.Store(saved.dir)
	}
}
