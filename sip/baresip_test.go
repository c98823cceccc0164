package sip

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/internal/testpeer"
)

// baresipCtl speaks baresip's ctrl_tcp (netstring-framed JSON).
type baresipCtl struct {
	conn net.Conn
	r    *bufio.Reader
	tok  int
}

func (b *baresipCtl) cmd(t *testing.T, command, params string) {
	t.Helper()
	b.tok++
	body, _ := json.Marshal(map[string]string{"command": command, "params": params, "token": strconv.Itoa(b.tok)})
	if _, err := fmt.Fprintf(b.conn, "%d:%s,", len(body), body); err != nil {
		t.Fatalf("ctrl_tcp write: %v", err)
	}
}

// waitEvent reads messages until an event of type typ arrives.
func (b *baresipCtl) waitEvent(t *testing.T, typ string, timeout time.Duration) {
	t.Helper()
	_ = b.conn.SetReadDeadline(time.Now().Add(timeout))
	for {
		lenStr, err := b.r.ReadString(':')
		if err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(lenStr, ":")))
		if err != nil {
			t.Fatalf("bad netstring length %q", lenStr)
		}
		buf := make([]byte, n+1)
		if _, err := io.ReadFull(b.r, buf); err != nil {
			t.Fatalf("ctrl_tcp read: %v", err)
		}
		var m map[string]any
		_ = json.Unmarshal(buf[:n], &m)
		if m["type"] == typ {
			return
		}
	}
}

// TestBaresipPhone: a real softphone registers with digest, calls through (407),
// holds, resumes and hangs up; RTP reaches the test application's echo socket.
func TestBaresipPhone(t *testing.T) {
	bin := testpeer.Require(t, "baresip")
	// libre (baresip 1.0) fails with ENOSYS on any non-MD5 challenge, even when an
	// MD5 one is offered too: phones like it need MD5-only challenges.
	s := newTestServer(t, func(c *Config) { c.DigestAlgorithms = []string{"MD5"} })
	app := newTestApp(t, "", true)
	s.SetHandler(app)

	dir := t.TempDir()
	sipPort, ctrlPort, rtpBase := freeBaresipSIPPort(t), freePort(t), freePort(t) // baresip: TLS on sipPort+1
	for ctrlPort == sipPort+1 {
		ctrlPort = freePort(t)
	}
	if rtpBase > 64000 {
		rtpBase = 40000
	}
	wav := filepath.Join(dir, "tone8k.wav")
	testpeer.WriteToneWAV(t, wav, 1000, 20)
	cfg := fmt.Sprintf(`poll_method		epoll
net_interface		127.0.0.1
sip_listen		127.0.0.1:%d
sip_trans_def		udp
call_local_timeout	120
call_max_calls		4
audio_player		alsa,null
audio_source		aufile,%s
audio_alert		alsa,null
audio_level		no
ausrc_format		s16
auplay_format		s16
rtp_ports		%d-%d
rtp_timeout		0
dns_server		127.0.0.1:53
module_path		/usr/lib/baresip/modules
module			g711.so
module			alsa.so
module			aufile.so
module_app		account.so
module_app		contact.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:%d
`, sipPort, wav, rtpBase, rtpBase+19, ctrlPort)
	srv := s.Addr("udp")
	accounts := fmt.Sprintf("<sip:alice@%s>;auth_pass=alicepw;regint=60;answermode=auto\n", srv)
	for name, content := range map[string]string{"config": cfg, "accounts": accounts, "contacts": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-f", dir, "-t", "50")
	logf, _ := os.Create(filepath.Join(dir, "baresip.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "baresip.log"))
			t.Logf("baresip log:\n%s", tail(string(b), 6000))
		}
	}()

	// registration (digest) shows up in the registrar
	deadline := time.After(15 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	for len(s.Contacts("alice")) == 0 {
		select {
		case <-tick.C:
		case <-deadline:
			tick.Stop()
			t.Fatal("baresip did not register")
		}
	}
	tick.Stop()

	var conn net.Conn
	var err error
	for i := 0; i < 50; i++ {
		if conn, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ctrlPort)); err == nil {
			break
		}
		<-time.After(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("ctrl_tcp: %v", err)
	}
	defer conn.Close()
	ctl := &baresipCtl{conn: conn, r: bufio.NewReader(conn)}

	ctl.cmd(t, "dial", fmt.Sprintf("sip:2000@%s", srv))
	ctl.waitEvent(t, "CALL_ESTABLISHED", 10*time.Second)
	<-time.After(time.Second) // let some RTP flow (duration of media, not synchronisation)
	ctl.cmd(t, "hold", "")
	ctl.waitEvent(t, "CALL_REMOTE_SDP", 5*time.Second)
	ctl.cmd(t, "resume", "")
	ctl.waitEvent(t, "CALL_REMOTE_SDP", 5*time.Second)
	ctl.cmd(t, "hangup", "")
	ctl.waitEvent(t, "CALL_CLOSED", 5*time.Second)
	ctl.cmd(t, "quit", "")

	r := app.next(t, 10*time.Second)
	t.Logf("call: %v", r)
	if r.authUser != "alice" || r.answerErr != nil || !r.byeSeen {
		t.Fatalf("call result %v", r)
	}
	want := "INVITE:sendonly->recvonly,INVITE:sendrecv->sendrecv"
	if strings.Join(r.offers, ",") != want {
		t.Errorf("offers %v, want %s", r.offers, want)
	}
	if r.rtpIn < 10 {
		t.Errorf("RTP from baresip: %d packets", r.rtpIn)
	}
}
