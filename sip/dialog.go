package sip

import (
	"context"
	"sync"
)

// Dialog is an established INVITE dialog, UAS (from InboundCall.Answer) or UAC
// (created by the outbound code through (*Server).newClientDialog).
type Dialog struct {
	srv    *Server
	callID string

	mu        sync.Mutex
	localSDP  []byte
	remoteSDP []byte

	done chan struct{}
	err  error
	evq  *eventQueue
}

// CallID returns the dialog's Call-ID.
func (d *Dialog) CallID() string { return d.callID }

// Events delivers dialog events; TerminatedEvent is the last one, after which the
// channel is closed.
func (d *Dialog) Events() <-chan Event { return d.evq.out }

// RemoteSDP is the last SDP the peer sent that completed an offer/answer exchange.
func (d *Dialog) RemoteSDP() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.remoteSDP
}

// LocalSDP is the last SDP we sent that completed an offer/answer exchange.
func (d *Dialog) LocalSDP() []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.localSDP
}

// ReInvite sends sdp as a new offer in a re-INVITE and returns the peer's answer.
func (d *Dialog) ReInvite(ctx context.Context, sdp []byte) ([]byte, error) {
	return nil, ErrClosed // TODO
}

// Hangup sends BYE with a Reason header and ends the dialog.
func (d *Dialog) Hangup(ctx context.Context, reason string) error {
	return ErrClosed // TODO
}

// Done is closed when the dialog has ended.
func (d *Dialog) Done() <-chan struct{} { return d.done }

// Err tells why the dialog ended (nil while running and after a normal BYE).
func (d *Dialog) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

type eventQueue struct{ out chan Event }
