package sip

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// listenReadyTimeout bounds how long Start waits for sipgo to take a listener
// into service when the start-up context has no earlier deadline.
const listenReadyTimeout = 5 * time.Second

// servedPacketConn reports when sipgo starts reading from a UDP listener
// socket. sipgo's TransportUDP.Serve adds the socket to its connection pool
// before its first ReadFrom, so once ready is closed requests with Laddr set
// to the socket (listenerRequester) go out of it instead of a fresh socket.
type servedPacketConn struct {
	net.PacketConn
	once  sync.Once
	ready chan struct{}
}

func newServedPacketConn(pc net.PacketConn) *servedPacketConn {
	return &servedPacketConn{PacketConn: pc, ready: make(chan struct{})}
}

func (c *servedPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.once.Do(func() { close(c.ready) })
	return c.PacketConn.ReadFrom(b)
}

// servedListener reports when sipgo starts accepting on a TCP/TLS listener
// (TransportLayer.ServeTCP/ServeTLS record the listen port, used for Via and
// Contact, before the first Accept).
type servedListener struct {
	net.Listener
	once  sync.Once
	ready chan struct{}
}

func newServedListener(ln net.Listener) *servedListener {
	return &servedListener{Listener: ln, ready: make(chan struct{})}
}

func (l *servedListener) Accept() (net.Conn, error) {
	l.once.Do(func() { close(l.ready) })
	return l.Listener.Accept()
}

// waitServed waits until ready is closed (sipgo serves the listener), failing
// when serving ended first (served closed), ctx ends or listenReadyTimeout passes.
func waitServed(ctx context.Context, what string, ready, served <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, listenReadyTimeout)
	defer cancel()
	select {
	case <-ready:
		return nil
	case <-served:
		select {
		case <-ready: // read once and then stopped: it was served
			return nil
		default:
		}
		return fmt.Errorf("sip listen %s: serving ended before it started", what)
	case <-ctx.Done():
		return fmt.Errorf("sip listen %s: not served in time: %w", what, context.Cause(ctx))
	}
}
