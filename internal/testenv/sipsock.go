package testenv

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// ListenUDP serves srv on a new UDP socket at 127.0.0.1 and makes cli send every
// request (REGISTER, INVITE, ACK, CANCEL, BYE, re-INVITE, INFO) from that socket, as a
// real desk phone does, never from a throwaway socket: sipgo only sets the local
// address of requests it builds itself, so in-dialog requests would otherwise leave
// from a fresh socket bound to 0.0.0.0 whose reader goroutine outlives
// UserAgent.Close. It returns once sipgo reads from the socket (so the socket is in
// sipgo's connection pool), with stop, which closes the socket, waits until serving
// ended, and closes ua. The caller runs stop (once) when the phone's peers are done
// with it, e.g. from a t.Cleanup registered before theirs.
func ListenUDP(t testing.TB, ua *sipgo.UserAgent, srv *sipgo.Server, cli *sipgo.Client) (addr *net.UDPAddr, stop func()) {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = conn.LocalAddr().(*net.UDPAddr)
	sc := &servedConn{PacketConn: conn, ready: make(chan struct{})}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.ServeUDP(sc)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			// The socket first: a request arriving after ua.Close cleared sipgo's
			// connection pool would make sipgo open a new socket to answer from,
			// whose reader nobody stops.
			_ = conn.Close()
			<-served
			_ = ua.Close()
		})
	}
	select {
	case <-sc.ready:
	case <-served:
		stop()
		t.Fatal("sipgo stopped serving the UDP socket before it started")
	case <-time.After(5 * time.Second):
		stop()
		t.Fatal("sipgo did not serve the UDP socket in time")
	}
	cli.TxRequester = listenerRequester{ua: ua, laddr: sip.Addr{IP: addr.IP, Port: addr.Port, Hostname: addr.IP.String()}}
	return addr, stop
}

// servedConn closes ready on sipgo's first read: TransportUDP.Serve puts the socket
// into its connection pool before it starts reading.
type servedConn struct {
	net.PacketConn
	once  sync.Once
	ready chan struct{}
}

func (c *servedConn) ReadFrom(b []byte) (int, net.Addr, error) {
	c.once.Do(func() { close(c.ready) })
	return c.PacketConn.ReadFrom(b)
}

// listenerRequester is a sipgo.Client TxRequester setting every request's local
// address to the listening socket.
type listenerRequester struct {
	ua    *sipgo.UserAgent
	laddr sip.Addr
}

func (r listenerRequester) Request(ctx context.Context, req *sip.Request) (sip.ClientTransaction, error) {
	if req.Laddr.Port == 0 {
		r.laddr.Copy(&req.Laddr)
	}
	if req.IsAck() { // Client.WriteRequest: no transaction
		return nil, r.ua.TransportLayer().WriteMsg(req)
	}
	tx, err := r.ua.TransactionLayer().Request(ctx, req)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return tx, nil
}
