package farend

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ynagw/ynagw/internal/testpeer"
)

// netnsEnv marks the re-executed test binary running in a private network
// namespace that has only lo, so Chromium can gather nothing but loopback.
const netnsEnv = "FAREND_TEST_IN_NETNS"

// TestChromiumInterop runs a call between the far end and headless Chromium
// (the browser the YNA SDK runs in): answer, client hold/resume, network
// hold/resume, browser DTMF. It re-executes itself under `unshare -n`.
func TestChromiumInterop(t *testing.T) {
	for _, codec := range []string{"PCMU", "PCMA", "opus"} {
		t.Run(codec, func(t *testing.T) {
			chromium := testpeer.Require(t, "chromium")
			if os.Getenv(netnsEnv) == "" {
				runInNetns(t, testpeer.Require(t, "unshare"), "^TestChromiumInterop$/^"+codec+"$")
				return
			}
			chromiumCall(t, chromium, codec)
		})
	}
}

func runInNetns(t *testing.T, unshare, run string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "-n", "sh", "-c", `ip link set lo up && exec "$0" -test.run "$1" -test.v -test.count=1`, os.Args[0], run)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "Operation not permitted") && os.Getenv("CI") == "" {
		t.Skipf("no permission for a network namespace: %s", out)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("in netns: %v\n%s", err, out)
	}
	t.Logf("in netns:\n%s", out)
}

type chromeResult struct {
	Error            string  `json:"error"`
	ClientHoldDir    string  `json:"clientHoldDir"`
	ClientResumeDir  string  `json:"clientResumeDir"`
	NetworkSendonly  string  `json:"network_sendonly"`
	NetworkSendrecv  string  `json:"network_sendrecv"`
	PacketsReceived  int     `json:"packetsReceived"`
	PacketsLost      int     `json:"packetsLost"`
	TotalAudioEnergy float64 `json:"totalAudioEnergy"`
	SamplesReceived  int     `json:"totalSamplesReceived"`
	ConcealedSamples int     `json:"concealedSamples"`
	SRTP             string  `json:"srtp"`
	Codec            string  `json:"codec"`
}

func chromiumCall(t *testing.T, chromium, codec string) {
	ctx := testCtx(t)
	fe := newFarEnd(t, Config{})
	page, err := os.ReadFile(filepath.Join("testdata", "chromium.html"))
	if err != nil {
		t.Fatal(err)
	}
	page = []byte(strings.Replace(string(page), "<script>", "<script>const CODEC = '"+codec+"';", 1))
	var sentAtHold atomic.Uint64

	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(page) })
	sdpHandler := func(f func(body string) (string, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			out, err := f(string(b))
			if err != nil {
				t.Errorf("%s: %v", r.URL.Path, err)
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			_, _ = io.WriteString(w, out)
		}
	}
	mux.Handle("POST /answer", sdpHandler(func(b string) (string, error) { return fe.Answer(ctx, b) }))
	mux.Handle("POST /reanswer", sdpHandler(func(b string) (string, error) {
		ans, err := fe.AnswerReoffer(ctx, b)
		sentAtHold.Store(fe.Stats().PacketsSent)
		return ans, err
	}))
	mux.Handle("POST /check/held", sdpHandler(func(string) (string, error) {
		st := fe.Stats()
		if st.Direction != DirRecvOnly {
			return "", fmt.Errorf("direction %s while client holds", st.Direction)
		}
		if err := fe.WaitPackets(ctx, st.PacketsReceived+25); err != nil {
			return "", err
		}
		if got, at := fe.Stats().PacketsSent, sentAtHold.Load(); got != at {
			return "", fmt.Errorf("far end sent %d packets while held", got-at)
		}
		return "ok", nil
	}))
	mux.Handle("POST /reoffer/{dir}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sdpHandler(func(string) (string, error) { return fe.Reoffer(ctx, r.PathValue("dir")) })(w, r)
	}))
	mux.Handle("POST /setanswer", sdpHandler(func(b string) (string, error) { return "ok", fe.SetAnswer(b) }))
	mux.Handle("POST /check/digits", sdpHandler(func(want string) (string, error) {
		if err := fe.WaitDigits(ctx, len(want)); err != nil {
			return "", fmt.Errorf("digits %q: %w", fe.Stats().Digits, err)
		}
		if got := fe.Stats().Digits; got != want {
			return "", fmt.Errorf("digits %q, want %q", got, want)
		}
		return "ok", nil
	}))
	var res chromeResult
	if b := browse(t, ctx, chromium, mux); json.Unmarshal(b, &res) != nil {
		res.Error = "bad result: " + string(b)
	}
	t.Logf("chromium: %+v far end: %+v", res, fe.Stats())
	if res.Error != "" {
		t.Fatalf("browser: %s", res.Error)
	}
	want := chromeResult{ClientHoldDir: DirSendOnly, ClientResumeDir: DirSendRecv, NetworkSendonly: DirRecvOnly,
		NetworkSendrecv: DirSendRecv, Codec: "audio/" + codec, SRTP: fe.Stats().SRTPProfile}
	// Chromium, as DTLS server here, picks AES128_CM_HMAC_SHA1_80 from our list.
	if !strings.HasPrefix(want.SRTP, "SRTP_") {
		t.Errorf("far end SRTP profile %q", want.SRTP)
	}
	if res.ClientHoldDir != want.ClientHoldDir || res.ClientResumeDir != want.ClientResumeDir ||
		res.NetworkSendonly != want.NetworkSendonly || res.NetworkSendrecv != want.NetworkSendrecv ||
		res.Codec != want.Codec || res.SRTP != want.SRTP {
		t.Errorf("browser saw %+v, want %+v", res, want)
	}
	// The far end's opus stream is silence, so only G.711 must carry energy.
	if res.PacketsLost != 0 || res.PacketsReceived < 75 || (codec != "opus" && res.TotalAudioEnergy <= 0) {
		t.Errorf("browser media: received %d lost %d energy %v", res.PacketsReceived, res.PacketsLost, res.TotalAudioEnergy)
	}
	// Decodable payload: the browser conceals little of what it received.
	if res.SamplesReceived == 0 || res.ConcealedSamples*2 > res.SamplesReceived {
		t.Errorf("browser decoded %d samples, concealed %d", res.SamplesReceived, res.ConcealedSamples)
	}
	wantCodec := codec + "/8000"
	if codec == "opus" {
		wantCodec = "opus/48000/2"
	}
	if st := fe.Stats(); st.Codec != wantCodec || st.Lost != 0 || st.PacketsReceived == 0 {
		t.Errorf("far end %+v", st)
	}
}

// browse serves mux on loopback, opens it in headless Chromium and returns
// the body of the page's first POST /result (registered here), or fails the
// test when ctx ends first.
func browse(t *testing.T, ctx context.Context, chromium string, mux *http.ServeMux) []byte {
	t.Helper()
	result := make(chan []byte, 1)
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case result <- b:
		default:
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close(); <-served }()

	cctx, ccancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(cctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-default-apps", "--user-data-dir="+t.TempDir(),
		"--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--allow-loopback-in-peer-connection",
		"--disable-features=WebRtcHideLocalIpsWithMdns", "--autoplay-policy=no-user-gesture-required",
		"http://"+ln.Addr().String()+"/")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ccancel(); _ = cmd.Wait() }()
	select {
	case b := <-result:
		return b
	case <-ctx.Done():
		t.Fatalf("no result from chromium: %v\n%s", ctx.Err(), stderr.String())
	}
	return nil
}
