package farend

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ynagw/ynagw/internal/testpeer"
)

// TestChromiumSDKCall runs calls between the far end and headless Chromium
// driven like the published SDK (testdata/chromium-sdk.html): browser codec
// order (opus first), every local SDP munged per fact sheet §10.2, so every
// SDP the browser sends carries the SDK's opus fmtp (§18.2, §18.9). Inbound
// (network offer, browser answer) and outbound (browser offer), each with
// local and remote hold/resume; media is counted at both ends after every
// step. The inbound case failed before farend accepted answers whose fmtp
// differ from its offer (the far end sent G722 and received nothing).
func TestChromiumSDKCall(t *testing.T) {
	for _, mode := range []string{"outbound", "inbound"} {
		t.Run(mode, func(t *testing.T) {
			chromium := testpeer.Require(t, "chromium")
			if os.Getenv(netnsEnv) == "" {
				runInNetns(t, testpeer.Require(t, "unshare"), "^TestChromiumSDKCall$/^"+mode+"$")
				return
			}
			chromiumSDKCall(t, chromium, mode)
		})
	}
}

type sdkResult struct {
	Error           string `json:"error"`
	Mode            string `json:"mode"`
	LocalHold       string `json:"localHold"`
	LocalResume     string `json:"localResume"`
	RemoteHold      string `json:"remoteHold"`
	RemoteResume    string `json:"remoteResume"`
	PacketsReceived int    `json:"packetsReceived"`
	PacketsLost     int    `json:"packetsLost"`
	PacketsSent     int    `json:"packetsSent"`
	CodecReceived   string `json:"codecReceived"`
	CodecSent       string `json:"codecSent"`
	CodecSentFmtp   string `json:"codecSentFmtp"`
}

var reOpusPT = regexp.MustCompile(`(?m)^a=rtpmap:(\d+) opus/48000/2\r?$`)

// sdkOpusOnWire checks that an SDP from the browser carries the SDK's opus fmtp.
func sdkOpusOnWire(sdp string) error {
	m := reOpusPT.FindStringSubmatch(sdp)
	if m == nil {
		return fmt.Errorf("browser SDP has no opus:\n%s", sdp)
	}
	re := regexp.MustCompile(`(?m)^a=fmtp:` + m[1] + ` (.*?)\r?$`)
	f := re.FindStringSubmatch(sdp)
	if f == nil || !sameParams(f[1], sdkOpusFmtp) {
		return fmt.Errorf("browser SDP lacks the SDK opus fmtp:\n%s", sdp)
	}
	return nil
}

// sameParams compares two fmtp parameter lists as sets (Chromium writes the
// SDK's parameters in alphabetical order).
func sameParams(a, b string) bool {
	split := func(s string) []string {
		p := strings.Split(s, ";")
		for i := range p {
			p[i] = strings.TrimSpace(p[i])
		}
		slices.Sort(p)
		return p
	}
	return slices.Equal(split(a), split(b))
}

func chromiumSDKCall(t *testing.T, chromium, mode string) {
	ctx := testCtx(t)
	fe := newFarEnd(t, Config{})
	page, err := os.ReadFile(filepath.Join("testdata", "chromium-sdk.html"))
	if err != nil {
		t.Fatal(err)
	}
	page = []byte(strings.Replace(string(page), "<script>", "<script>const MODE = '"+mode+"';", 1))

	var mu sync.Mutex
	var recvMark, sentAtHold uint64 // far-end counters at the last check / at the client hold
	var wire []string               // every SDP the browser sent
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(page) })
	handle := func(pattern string, fromBrowser bool, f func(r *http.Request, body string) (string, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			var out string
			var err error
			if fromBrowser {
				mu.Lock()
				wire = append(wire, string(b))
				mu.Unlock()
				err = sdkOpusOnWire(string(b))
			}
			if err == nil {
				out, err = f(r, string(b))
			}
			if err != nil {
				t.Errorf("%s: %v", r.URL.Path, err)
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			_, _ = io.WriteString(w, out)
		})
	}
	// recvMore waits until the far end received 25 more packets than at the last check.
	recvMore := func() error {
		mu.Lock()
		want := recvMark + 25
		mu.Unlock()
		if err := fe.WaitPackets(ctx, want); err != nil {
			return fmt.Errorf("far end receives nothing: %w (%+v)", err, fe.Stats())
		}
		mu.Lock()
		recvMark = fe.Stats().PacketsReceived
		mu.Unlock()
		return nil
	}
	handle("POST /start", true, func(_ *http.Request, b string) (string, error) { return fe.Answer(ctx, b) })
	handle("POST /invite", false, func(*http.Request, string) (string, error) { return fe.Offer(ctx) })
	handle("POST /connected", true, func(_ *http.Request, b string) (string, error) { return "ok", fe.SetAnswer(b) })
	handle("POST /check/recv", false, func(*http.Request, string) (string, error) { return "ok", recvMore() })
	handle("POST /hold", true, func(_ *http.Request, b string) (string, error) {
		ans, err := fe.AnswerReoffer(ctx, b)
		mu.Lock()
		sentAtHold = fe.Stats().PacketsSent
		mu.Unlock()
		return ans, err
	})
	handle("POST /check/held", false, func(*http.Request, string) (string, error) {
		if d := fe.Stats().Direction; d != DirRecvOnly {
			return "", fmt.Errorf("far end direction %s while the browser holds", d)
		}
		if err := recvMore(); err != nil {
			return "", err
		}
		mu.Lock()
		at := sentAtHold
		mu.Unlock()
		if got := fe.Stats().PacketsSent; got != at {
			return "", fmt.Errorf("far end sent %d packets while held", got-at)
		}
		return "ok", nil
	})
	handle("POST /resume", true, func(_ *http.Request, b string) (string, error) { return fe.AnswerReoffer(ctx, b) })
	handle("POST /remote/{dir}", false, func(r *http.Request, _ string) (string, error) {
		return fe.Reoffer(ctx, r.PathValue("dir"))
	})
	handle("POST /acceptHold", true, func(_ *http.Request, b string) (string, error) { return "ok", fe.SetAnswer(b) })
	handle("POST /acceptResume", true, func(_ *http.Request, b string) (string, error) { return "ok", fe.SetAnswer(b) })

	var res sdkResult
	if b := browse(t, ctx, chromium, mux); json.Unmarshal(b, &res) != nil {
		res.Error = "bad result: " + string(b)
	}
	st := fe.Stats()
	t.Logf("chromium: %+v\nfar end: %+v", res, st)
	if res.Error != "" {
		mu.Lock()
		t.Logf("browser SDPs:\n%s", strings.Join(wire, "\n----\n"))
		mu.Unlock()
		t.Fatalf("browser: %s", res.Error)
	}
	if res.LocalHold != DirSendOnly || res.LocalResume != DirSendRecv || res.RemoteHold != DirRecvOnly || res.RemoteResume != DirSendRecv {
		t.Errorf("browser directions: local hold %s resume %s, remote hold %s resume %s",
			res.LocalHold, res.LocalResume, res.RemoteHold, res.RemoteResume)
	}
	if res.CodecSent != "audio/opus" || res.CodecReceived != "audio/opus" {
		t.Errorf("browser sends %s (%s), receives %s; want opus both ways with the SDK fmtp",
			res.CodecSent, res.CodecSentFmtp, res.CodecReceived)
	}
	if st.Codec != "opus/48000/2" || st.CodecReceived != "opus/48000/2" {
		t.Errorf("far end sends %s, receives %q; want opus both ways", st.Codec, st.CodecReceived)
	}
	// Counted at both ends. The browser reads its counters just before it
	// closes, the far end's are read after that, so up to countSkew packets
	// may differ between what one side sent and the other received.
	const countSkew = 25
	near := func(recv, sent uint64) bool { return recv+countSkew >= sent && recv <= sent+countSkew }
	if res.PacketsLost != 0 || res.PacketsReceived < 100 || !near(uint64(res.PacketsReceived), st.PacketsSent) {
		t.Errorf("browser received %d (lost %d) of the far end's %d", res.PacketsReceived, res.PacketsLost, st.PacketsSent)
	}
	if st.Lost != 0 || st.PacketsReceived < 100 || !near(st.PacketsReceived, uint64(res.PacketsSent)) {
		t.Errorf("far end received %d (lost %d) of the browser's %d", st.PacketsReceived, st.Lost, res.PacketsSent)
	}
}
