package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/ynagw/ynagw/rtpmedia"
	"github.com/ynagw/ynagw/sip"
)

// Desk-phone users of the SIP servers NewSIPServer starts.
var Users = []sip.User{{Username: "alice", Password: "alicepw"}, {Username: "bob", Password: "bobpw"}}

// NewSIPServer starts a sip.Server on UDP 127.0.0.1 with Users and a registrar allowing
// 30 s to 1 h; cfg may set anything else (a Listen or Users of its own replace the
// defaults). It is closed on cleanup.
func NewSIPServer(t testing.TB, cfg sip.Config) *sip.Server {
	t.Helper()
	if len(cfg.Listen) == 0 {
		cfg.Listen = []sip.ListenConfig{{Network: "udp", Addr: "127.0.0.1:0"}}
	}
	if len(cfg.Users) == 0 {
		cfg.Users = Users
	}
	if cfg.Registrar == (sip.RegistrarConfig{}) {
		cfg.Registrar = sip.RegistrarConfig{MinExpires: 30 * time.Second, MaxExpires: time.Hour, DefaultExpires: 600 * time.Second}
	}
	srv, err := sip.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// NewEngine is a WebRTC engine allowing loopback candidates, closed on cleanup.
func NewEngine(t testing.TB) *rtpmedia.WebRTCEngine {
	t.Helper()
	engine, err := rtpmedia.NewWebRTCEngine(rtpmedia.WebRTCConfig{AllowLoopback: true, ICEGatherTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engine.Close() })
	return engine
}
