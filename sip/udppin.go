package sip

import (
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// pinnedPacketConn wraps the UDP listener socket handed to sipgo and keeps
// sipgo's UDP connection pool pointing every remote address the listener heard
// from at the listener, so that sipgo never binds a throwaway 0.0.0.0 socket to
// answer or reach a peer:
//
//   - sipgo answers a request on the connection its pool holds for the
//     request's source (TransportLayer.serverRequestConnection) and creates a
//     new socket when there is none. It re-adds the listener for a source only
//     when the source differs from the previous packet's, so an entry once
//     replaced or deleted stayed missing. pinnedPacketConn re-pins the source
//     on every packet, before sipgo parses it.
//   - sipgo hands every request to a goroutine of its own before looking the
//     connection up. When the listener closed (Server.Close) in between, its
//     reader deleted the pool entries, a new socket was bound and its reader
//     (readUDPConnection) was never stopped: a goroutine and socket leak. When
//     the socket is closed, pinnedPacketConn first replaces every entry of the
//     listener with closedUDPConn, whose writes fail, so late lookups still find
//     a connection; Server.Close leaves the UDP pool uncleared (closeUA).
type pinnedPacketConn struct {
	net.PacketConn
	pool *sip.ConnectionPool
	key  string // the listener's pool key: LocalAddr().String()

	mu       sync.Mutex
	listener sip.Connection      // sipgo's connection for the socket, nil until known
	seen     map[string]struct{} // remote addresses read; sipgo's reader tracks the same set
	closed   bool
}

func newPinnedPacketConn(pc net.PacketConn, pool *sip.ConnectionPool) *pinnedPacketConn {
	return &pinnedPacketConn{
		PacketConn: pc,
		pool:       pool,
		key:        pc.LocalAddr().String(),
		seen:       make(map[string]struct{}),
	}
}

// ReadFrom is called only by sipgo's listener reader, which adds the socket to
// the pool under key before its first read.
func (c *pinnedPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(b)
	if err != nil {
		c.retire()
		return n, addr, err
	}
	c.pin(addr.String())
	return n, addr, nil
}

// pin points remote at the listener in the pool.
func (c *pinnedPacketConn) pin(remote string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.listener == nil {
		lc := c.pool.Get(c.key) // sipgo's own connection for the socket
		if lc == nil {
			return
		}
		_, _ = lc.TryClose() // undo Get's reference; a listener is never closed by it
		c.listener = lc
	}
	c.seen[remote] = struct{}{}
	c.pool.Add(remote, c.listener)
}

// retire replaces every pool entry of the listener with a closed connection,
// before sipgo's reader returns and deletes the listener's entries.
func (c *pinnedPacketConn) retire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	dead := &closedUDPConn{laddr: c.PacketConn.LocalAddr()}
	c.pool.Add(c.key, dead)
	for remote := range c.seen {
		c.pool.Add(remote, dead)
	}
}

// errListenerClosed is what a send on a closed UDP listener returns.
var errListenerClosed = fmt.Errorf("sip: udp listener closed: %w", net.ErrClosed)

// closedUDPConn stands in sipgo's UDP pool for a closed listener: lookups find
// it (so sipgo creates no socket) and every write fails.
type closedUDPConn struct{ laddr net.Addr }

func (c *closedUDPConn) LocalAddr() net.Addr        { return c.laddr }
func (c *closedUDPConn) WriteMsg(sip.Message) error { return errListenerClosed }
func (c *closedUDPConn) Ref(int) int                { return 1 }
func (c *closedUDPConn) TryClose() (int, error)     { return 1, nil }
func (c *closedUDPConn) Close() error               { return nil }

// closeUA stops ua's transactions and closes its stream connections. The UDP
// pool is deliberately not cleared: it holds only listener sockets (closed by
// Server.Close) and closedUDPConn entries, and an empty pool would let a late
// sipgo goroutine bind a new socket that nothing closes.
func closeUA(ua interface {
	TransactionLayer() *sip.TransactionLayer
	TransportLayer() *sip.TransportLayer
}) error {
	ua.TransactionLayer().Close()
	var err error
	for _, n := range []string{"tcp", "tls", "ws", "wss"} {
		if p := ua.TransportLayer().Pool(n); p != nil {
			err = errors.Join(err, p.Clear())
		}
	}
	return err
}
