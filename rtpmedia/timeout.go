package rtpmedia

import (
	"time"
)

// Media timeouts (like rtpengine's timeout / silent-timeout): ReadRTP keeps a
// read deadline of lastActivity+timeout. The deadline is re-armed only when it
// fires or when the applicable timeout changes, not per packet.

// readerState is owned by the goroutine calling ReadRTP.
type readerState struct {
	armed    bool
	armedGen uint64
}

// timeout returns the timeout that applies now (0 = none).
func (l *Leg) timeout() time.Duration {
	l.mu.Lock()
	d := l.dir
	l.mu.Unlock()
	if d == SendRecv {
		return l.cfg.ActiveTimeout
	}
	return l.cfg.HeldTimeout
}

// touch records media activity now (also used to restart the timeout window).
func (l *Leg) touch() { l.activity.Store(time.Now().UnixNano()) }

// timeoutChanged makes a blocked ReadRTP re-evaluate its deadline.
func (l *Leg) timeoutChanged() {
	l.timeoutGen.Add(1)
	_ = l.rtpConn.SetReadDeadline(time.Now()) // wakes the reader; it re-arms
}

// armDeadline sets the read deadline if it is not armed for the current
// timeout generation. Cheap (no syscall, no allocation) when already armed.
func (l *Leg) armDeadline() error {
	for {
		g := l.timeoutGen.Load()
		if l.rd.armed && l.rd.armedGen == g {
			return nil
		}
		var dl time.Time
		if to := l.timeout(); to > 0 {
			dl = time.Unix(0, l.activity.Load()).Add(to)
		}
		if err := l.rtpConn.SetReadDeadline(dl); err != nil {
			return err
		}
		l.rd.armed, l.rd.armedGen = true, g
		if l.timeoutGen.Load() == g {
			return nil
		}
	}
}

// checkTimeout runs when the read deadline fired: it reports whether the media
// timeout has really expired, and otherwise marks the deadline for re-arming.
func (l *Leg) checkTimeout() bool {
	l.rd.armed = false
	to := l.timeout()
	if to <= 0 {
		return false
	}
	idle := time.Since(time.Unix(0, l.activity.Load()))
	return idle >= to
}
