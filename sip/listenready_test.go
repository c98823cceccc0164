package sip

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"
)

func TestWaitServed(t *testing.T) {
	closed := func() chan struct{} { c := make(chan struct{}); close(c); return c }
	expired, cancel := context.WithDeadline(context.Background(), time.Now())
	defer cancel()
	tests := []struct {
		name          string
		ctx           context.Context
		ready, served chan struct{}
		wantErr       bool
	}{
		{"ready", context.Background(), closed(), make(chan struct{}), false},
		{"served and stopped", context.Background(), closed(), closed(), false},
		{"stopped before serving", context.Background(), make(chan struct{}), closed(), true},
		{"deadline", expired, make(chan struct{}), make(chan struct{}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := waitServed(tt.ctx, "udp test", tt.ready, tt.served)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tt.wantErr)
			}
			if tt.name == "deadline" && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err %v, want DeadlineExceeded", err)
			}
		})
	}
}

// Start returns only once sipgo serves every listener: the UDP socket is in
// sipgo's connection pool (requests sent at once leave from it) and TCP is
// accepting.
func TestStartWaitsForListeners(t *testing.T) {
	s := newTestServer(t, nil) // Start, Close at cleanup
	if c, err := s.ua.TransportLayer().GetConnection("udp", s.Addr("udp").String()); c == nil {
		t.Fatalf("UDP listener not in sipgo's pool right after Start: %v", err)
	}
	req := sipmsg.NewRequest(sipmsg.OPTIONS, sipmsg.Uri{Scheme: "sip", Host: "127.0.0.1", Port: 5999})
	if err := s.bindUDPListener(req); err != nil {
		t.Fatal(err)
	}
	if req.Laddr.Port != int(s.Addr("udp").Port()) {
		t.Errorf("request Laddr %v, want the listener %v", req.Laddr, s.Addr("udp"))
	}
	conn, err := net.DialTimeout("tcp", s.Addr("tcp").String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
}
