package daemon

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ynagw/ynagw/admin"
	"github.com/ynagw/ynagw/yna/ynasim"
)

func md5hex(s string) string { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }

// wrongRegister sends a REGISTER for user, answers the 401 with a wrong
// password and returns the final status line.
func wrongRegister(t *testing.T, c *net.UDPConn, srv, user string, n int) string {
	t.Helper()
	msg := func(cseq int, auth string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-blk-%d-%d;rport\r\n", srv, c.LocalAddr(), n, cseq)
		fmt.Fprintf(&b, "From: <sip:%s@ynagw.test>;tag=f%d\r\nTo: <sip:%s@ynagw.test>\r\nCall-ID: blk-%d\r\n", user, n, user, n)
		fmt.Fprintf(&b, "CSeq: %d REGISTER\r\nMax-Forwards: 70\r\nContact: <sip:%s@%s>\r\n", cseq, user, c.LocalAddr())
		if auth != "" {
			b.WriteString("Authorization: " + auth + "\r\n")
		}
		b.WriteString("Content-Length: 0\r\n\r\n")
		return b.String()
	}
	read := func() string {
		buf := make([]byte, 4096)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			k, err := c.Read(buf)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if s := string(buf[:k]); !strings.HasPrefix(s, "SIP/2.0 1") {
				return s
			}
		}
	}
	dst, _ := net.ResolveUDPAddr("udp", srv)
	_, _ = c.WriteToUDP([]byte(msg(1, "")), dst)
	ch := read()
	nonce := regexp.MustCompile(`nonce="([^"]+)"`).FindStringSubmatch(ch)
	if nonce == nil {
		t.Fatalf("no challenge:\n%s", ch)
	}
	uri := "sip:" + srv
	resp := md5hex(md5hex(user+":ynagw.test:wrong") + ":" + nonce[1] + ":00000001:c1:auth:" + md5hex("REGISTER:"+uri))
	_, _ = c.WriteToUDP([]byte(msg(2, fmt.Sprintf(`Digest username="%s", realm="ynagw.test", nonce="%s", uri="%s", response="%s", algorithm=MD5, qop=auth, nc=00000001, cnonce="c1"`,
		user, nonce[1], uri, resp))), dst)
	return strings.SplitN(read(), "\r\n", 2)[0]
}

// TestAdminSIPBlocks: digest failures over real UDP block (source, user); the
// admin API lists the block and lifts it; the metrics count it.
func TestAdminSIPBlocks(t *testing.T) {
	sim := newSim(t, ynasim.Config{})
	opts := testOptions(t, sim, t.TempDir(), testKey(t))
	opts.SIP.AuthFailLimit = 2
	opts.Admin = adminFromYAML(t, "listen: 127.0.0.1:0\nusername: admin\npassword: admin-pw\nmetrics_auth: required")
	d := startDaemon(t, opts)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := d.SIPAddr("udp")
	for i := 0; i < 2; i++ {
		if got := wrongRegister(t, c, srv, "201", i); got != "SIP/2.0 403 Forbidden" {
			t.Fatalf("attempt %d: %s", i, got)
		}
	}
	if got := wrongRegister(t, c, srv, "201", 9); got != "SIP/2.0 403 Blocked" {
		t.Fatalf("after the limit: %s", got)
	}

	code, body := scrape(t, d.AdminAddr(), "/api/v1/sip/blocks", "basic")
	var blocks []admin.BlockView
	if err := json.Unmarshal([]byte(body), &blocks); code != 200 || err != nil {
		t.Fatalf("GET blocks: %d %v %s", code, err, body)
	}
	if len(blocks) != 1 || blocks[0].Source != "127.0.0.1" || blocks[0].User != "201" || blocks[0].Strikes != 1 ||
		time.Until(blocks[0].Until) < 4*time.Minute {
		t.Fatalf("blocks = %+v", blocks)
	}
	_, m := scrape(t, d.AdminAddr(), "/metrics", "basic")
	for _, want := range []string{`ynagw_sip_auth_failures_total{reason="password"} 2`, `ynagw_sip_auth_failures_total{reason="blocked"} 1`, "ynagw_sip_auth_blocked 1"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	if code, _ := scrape(t, d.AdminAddr(), "/api/v1/sip/blocks", "none"); code != 401 {
		t.Fatalf("blocks without credentials: %d", code)
	}
	req, _ := http.NewRequestWithContext(ctxT(t, 5*time.Second), http.MethodDelete, "http://"+d.AdminAddr()+"/api/v1/sip/blocks/127.0.0.1?user=201", nil)
	req.SetBasicAuth(tAdminUser, tAdminPass)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ur admin.UnblockResult
	_ = json.NewDecoder(res.Body).Decode(&ur)
	res.Body.Close()
	if res.StatusCode != 200 || ur.Lifted != 1 {
		t.Fatalf("DELETE: %d %+v", res.StatusCode, ur)
	}
	if _, body := scrape(t, d.AdminAddr(), "/api/v1/sip/blocks", "basic"); strings.TrimSpace(body) != "[]" {
		t.Fatalf("after DELETE: %s", body)
	}
	if got := wrongRegister(t, c, srv, "201", 10); got != "SIP/2.0 403 Forbidden" {
		t.Fatalf("after unblock: %s", got)
	}
}
