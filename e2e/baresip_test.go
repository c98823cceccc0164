package e2e

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ynagw/ynagw/internal/testpeer"
)

// baresip as a desk phone: registered with digest, controlled over ctrl_tcp (netstring
// JSON), sending a 440 Hz tone (aufile) and recording what it hears (sndfile).

type baresip struct {
	t      *testing.T
	name   string
	dir    string
	snd    string
	cmd    *exec.Cmd
	exited chan struct{}
	logf   *os.File
	rtp    [2]uint16 // baresip's RTP port range

	conn   net.Conn
	events chan map[string]any
	reader sync.WaitGroup
	tok    int

	mu  sync.Mutex
	all []map[string]any // every event and response received, for failure dumps
}

// startBaresip starts a phone for user (password pass) registered at gw; answermode is
// "auto" or "manual". It waits until the gateway's registrar has the phone's contact and
// the ctrl_tcp socket is connected. A start that fails (e.g. a port taken by another
// process between freePort and baresip's bind) is retried with new ports. Everything is
// stopped in t.Cleanup.
func startBaresip(t *testing.T, e *gwEnv, user, pass, answermode string) *baresip {
	t.Helper()
	return startBaresipOpts(t, e, user, pass, answermode, baresipOpts{})
}

// baresipOpts are the optional parts of a baresip phone.
type baresipOpts struct {
	tls      bool   // register (and be called) over TLS, at the gateway's tls listener
	caFile   string // sip_cafile: the CA the gateway's certificate chains to
	certFile string // sip_certificate (certificate + key PEM): baresip's own TLS listener
	mediaenc string // account mediaenc: "srtp" (RTP/AVP + a=crypto), "srtp-mand" (RTP/SAVP)
	trace    bool   // -s: SIP trace in baresip.log (traceCrypto reads the SDES keys from it)
}

// startBaresipOpts is startBaresip with options.
func startBaresipOpts(t *testing.T, e *gwEnv, user, pass, answermode string, o baresipOpts) *baresip {
	t.Helper()
	bin := testpeer.Require(t, "baresip")
	var errs []error
	for attempt := 0; attempt < 3; attempt++ {
		b, err := tryBaresip(t, e, bin, user, pass, answermode, o)
		if err == nil {
			t.Cleanup(b.stop)
			return b
		}
		b.stop()
		data, _ := os.ReadFile(filepath.Join(b.dir, "baresip.log"))
		t.Logf("baresip %s start attempt %d: %v\n%s", user, attempt+1, err, tail(string(data), 2000))
		errs = append(errs, err)
	}
	t.Fatalf("baresip %s did not start: %v", user, errs)
	return nil
}

func tryBaresip(t *testing.T, e *gwEnv, bin, user, pass, answermode string, o baresipOpts) (*baresip, error) {
	t.Helper()
	dir := t.TempDir()
	b := &baresip{t: t, name: user, dir: dir, snd: filepath.Join(dir, "snd"), exited: make(chan struct{}), events: make(chan map[string]any, 256)}
	if err := os.Mkdir(b.snd, 0o700); err != nil {
		t.Fatal(err)
	}
	wav := filepath.Join(dir, "tone440.wav")
	testpeer.WriteToneWAV(t, wav, phoneToneHz, 60)
	tmpl, err := os.ReadFile(filepath.Join("testdata", "baresip", "config.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	sipPort, ctrlPort := freePort(t), freePort(t)
	rtp := evenFreePort(t)
	if rtp > 64000 {
		rtp = 40000
	}
	b.rtp = [2]uint16{uint16(rtp), uint16(rtp + 9)}
	cfg := strings.NewReplacer(
		"{{SIP_ADDR}}", fmt.Sprintf("127.0.0.1:%d", sipPort),
		"{{CTRL_ADDR}}", fmt.Sprintf("127.0.0.1:%d", ctrlPort),
		"{{RTP_PORTS}}", fmt.Sprintf("%d-%d", rtp, rtp+9),
		"{{TONE_WAV}}", wav,
		"{{SND_PATH}}", b.snd,
	).Replace(string(tmpl))
	accounts := fmt.Sprintf("<sip:%s@%s>;auth_pass=%s;regint=600;answermode=%s\n", user, e.sipAddr(), pass, answermode)
	contactPort := sipPort
	if o.tls || o.mediaenc != "" {
		host, tp := e.sipAddr().String(), ""
		if o.tls {
			host, tp = e.srv.Addr("tls").String(), ";transport=tls"
		}
		accounts = fmt.Sprintf("<sip:%s@%s%s>;auth_pass=%s;regint=600;answermode=%s", user, host, tp, pass, answermode)
		if o.mediaenc != "" {
			accounts += ";mediaenc=" + o.mediaenc
		}
		accounts += "\n"
		cfg += "module\t\t\tsrtp.so\n"
	}
	if o.tls {
		if o.caFile != "" {
			cfg += "sip_cafile\t\t" + o.caFile + "\n"
		}
		if o.certFile != "" {
			cfg += "sip_certificate\t\t" + o.certFile + "\n"
			contactPort = sipPort + 1 // libre listens for TLS on the SIP port + 1
		}
	}
	for name, content := range map[string]string{"config": cfg, "accounts": accounts, "contacts": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b.logf, err = os.Create(filepath.Join(dir, "baresip.log"))
	if err != nil {
		t.Fatal(err)
	}
	b.cmd = exec.Command(bin, "-f", dir)
	if o.trace {
		b.cmd.Args = append(b.cmd.Args, "-s")
	}
	b.cmd.Stdout, b.cmd.Stderr = b.logf, b.logf
	if err := b.cmd.Start(); err != nil {
		close(b.exited)
		return b, err
	}
	go func() {
		_ = b.cmd.Wait()
		close(b.exited)
	}()

	// Registered: the registrar holds a contact with this phone's SIP port.
	contact := fmt.Sprintf("@127.0.0.1:%d", contactPort)
	deadline := time.After(8 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for registered := false; !registered; {
		for _, c := range e.srv.Contacts(user) {
			registered = registered || strings.Contains(c.URI, contact)
		}
		select {
		case <-tick.C:
		case <-b.exited:
			return b, fmt.Errorf("exited before registering")
		case <-deadline:
			return b, fmt.Errorf("no registration with contact *%s", contact)
		}
	}
	for {
		b.conn, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ctrlPort))
		if err == nil {
			break
		}
		select { // registered, so the ctrl socket is up or nearly
		case <-tick.C:
		case <-b.exited:
			return b, fmt.Errorf("exited")
		case <-deadline:
			return b, fmt.Errorf("ctrl_tcp: %w", err)
		}
	}
	b.reader.Add(1)
	go b.read()
	return b, nil
}

func (b *baresip) stop() {
	select {
	case <-b.exited:
	default:
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
	if b.conn != nil {
		_ = b.conn.Close()
	}
	b.reader.Wait()
	if b.logf != nil {
		_ = b.logf.Close()
	}
	if b.t.Failed() {
		data, _ := os.ReadFile(filepath.Join(b.dir, "baresip.log"))
		b.mu.Lock()
		ev, _ := json.Marshal(b.all)
		b.mu.Unlock()
		b.t.Logf("baresip %s log:\n%s\nctrl messages: %s", b.name, tail(string(data), 5000), tail(string(ev), 3000))
	}
}

// read parses netstring-framed JSON messages until the socket closes.
func (b *baresip) read() {
	defer b.reader.Done()
	defer close(b.events)
	r := bufio.NewReader(b.conn)
	for {
		lenStr, err := r.ReadString(':')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(lenStr, ":")))
		if err != nil || n < 0 || n > 1<<20 {
			return
		}
		buf := make([]byte, n+1)
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		var m map[string]any
		if json.Unmarshal(buf[:n], &m) != nil {
			continue
		}
		b.mu.Lock()
		b.all = append(b.all, m)
		b.mu.Unlock()
		if m["event"] == true {
			select {
			case b.events <- m:
			default: // nobody waits for that many events; the dump still has them
			}
		}
	}
}

// command sends a ctrl_tcp command.
func (b *baresip) command(command, params string) {
	b.t.Helper()
	b.tok++
	body, _ := json.Marshal(map[string]string{"command": command, "params": params, "token": strconv.Itoa(b.tok)})
	if _, err := fmt.Fprintf(b.conn, "%d:%s,", len(body), body); err != nil {
		b.t.Fatalf("baresip %s ctrl_tcp write: %v", b.name, err)
	}
}

// waitEvent waits for the next event of type typ (earlier events of other types are skipped).
func (b *baresip) waitEvent(typ string, d time.Duration) map[string]any {
	b.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-b.events:
			if !ok {
				b.t.Fatalf("baresip %s: ctrl_tcp closed while waiting for %s", b.name, typ)
			}
			if m["type"] == typ {
				return m
			}
		case <-deadline:
			b.t.Fatalf("baresip %s: no %s event within %v", b.name, typ, d)
			return nil
		}
	}
}

// waitCancelled waits for the ringing call to close because of a CANCEL: libre reports a
// CANCEL of an incoming INVITE as ECONNRESET ("Connection reset by peer").
func (b *baresip) waitCancelled() {
	b.t.Helper()
	m := b.waitEvent("CALL_CLOSED", 10*time.Second)
	if p, _ := m["param"].(string); !strings.Contains(p, "reset") {
		b.t.Errorf("baresip %s: call closed with %q, want the CANCEL's ECONNRESET", b.name, p)
	}
}

// logContains reports whether baresip's output contains s.
func (b *baresip) logContains(s string) bool {
	data, _ := os.ReadFile(filepath.Join(b.dir, "baresip.log"))
	return strings.Contains(string(data), s)
}

// heardToneHz estimates the tone frequency baresip decoded (sndfile's dump-*-dec.wav of
// the last call; read after the call closed).
func (b *baresip) heardToneHz() float64 {
	b.t.Helper()
	files, _ := filepath.Glob(filepath.Join(b.snd, "*dec.wav"))
	if len(files) == 0 {
		entries, _ := os.ReadDir(b.snd)
		b.t.Fatalf("baresip %s: no *dec.wav recording (%v)", b.name, entries)
	}
	hz, err := wavToneHz(files[len(files)-1])
	if err != nil {
		b.t.Fatalf("baresip %s recording: %v", b.name, err)
	}
	return hz
}

// wavToneHz estimates the dominant tone of a 16-bit PCM WAV by zero crossings over the
// 20 ms blocks that carry sound.
func wavToneHz(path string) (float64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return 0, fmt.Errorf("%s: not a WAV file", path)
	}
	var rate, channels, bits int
	var pcm []byte
	for off := 12; off+8 <= len(data); {
		id, size := string(data[off:off+4]), int(binary.LittleEndian.Uint32(data[off+4:]))
		body := data[off+8:]
		if size < 0 || size > len(body) {
			size = len(body) // header not finalised: take the rest
		}
		switch id {
		case "fmt ":
			if size >= 16 {
				channels = int(binary.LittleEndian.Uint16(body[2:]))
				rate = int(binary.LittleEndian.Uint32(body[4:]))
				bits = int(binary.LittleEndian.Uint16(body[14:]))
			}
		case "data":
			if size == 0 {
				size = len(body)
			}
			pcm = body[:size]
		}
		off += 8 + size + size%2
	}
	if rate == 0 || bits != 16 || channels < 1 {
		return 0, fmt.Errorf("%s: unsupported format rate=%d bits=%d channels=%d", path, rate, bits, channels)
	}
	samples := make([]int16, 0, len(pcm)/2/channels)
	for i := 0; i+2*channels <= len(pcm); i += 2 * channels {
		samples = append(samples, int16(binary.LittleEndian.Uint16(pcm[i:])))
	}
	block := rate / 50
	crossings, used := 0, 0
	for i := 0; i+block <= len(samples); i += block {
		blk := samples[i : i+block]
		var energy float64
		for _, s := range blk {
			energy += float64(s) * float64(s)
		}
		if math.Sqrt(energy/float64(block)) < 300 {
			continue
		}
		for j := 1; j < len(blk); j++ {
			if (blk[j-1] < 0) != (blk[j] < 0) {
				crossings++
			}
		}
		used += block
	}
	if used < rate/2 {
		return 0, fmt.Errorf("%s: only %d samples with sound", path, used)
	}
	return float64(crossings) / 2 / (float64(used) / float64(rate)), nil
}
