package ynasim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ynagw/ynagw/yna"
)

// BenchmarkRetention10k runs 10 000 calls (alternately outbound and inbound, each answered
// or sent to voicemail, notifications acked over the channel) through an in-process Sim on
// loopback, one simulated second apart, with an account status fetch (a new channel URL)
// every 10 calls and a token refresh every 100 (tokens live 5 simulated minutes). After
// every 1000 calls it measures the live heap after GC. Reported:
//
//	retained-B/call    heap growth per call from call 2000 to 10 000 (retention on: the
//	                   window is 600 calls of 10 min, so this should be ~0)
//	heap-MB@2k, heap-MB@10k
//
// With YNASIM_BENCH_NORETENTION=1 the retention is set to 1000 h (nothing is dropped, as
// before retention existed) for comparison. Fake far end: the simulator's memory is
// measured, not pion's. Run: go test -run '^$' -bench Retention10k -benchtime 1x ./yna/ynasim/
func BenchmarkRetention10k(b *testing.B) {
	const calls = 10000
	keep := DefaultRetention
	if os.Getenv("YNASIM_BENCH_NORETENTION") != "" {
		keep = 1000 * time.Hour
	}
	for b.Loop() {
		heaps := runRetention(b, calls, keep)
		b.ReportMetric(float64(heaps[len(heaps)-1]-heaps[1])/float64(calls-2000), "retained-B/call")
		b.ReportMetric(float64(heaps[1])/1e6, "heap-MB@2k")
		b.ReportMetric(float64(heaps[len(heaps)-1])/1e6, "heap-MB@10k")
		for i, h := range heaps {
			b.Logf("after %5d calls: heap %7.2f MB", (i+1)*1000, float64(h)/1e6)
		}
	}
}

// runRetention runs n calls and returns the live heap after each 1000.
func runRetention(b *testing.B, n int, keep time.Duration) []uint64 {
	rg := newSimRig(b, func(c *Config) {
		c.PoP = PoPOff
		c.TokenLifetime = 5 * time.Minute
		c.Retention = keep
		if keep > DefaultRetention {
			c.CallHistory = 1 << 30
		}
	})
	rg.sim.calls.newFarEnd = func(ctx context.Context, _ CodecMode) (farEnd, error) { return &fakeFarEnd{}, nil }
	rg.sim.calls.startNotifyDelay = 0
	tr := rg.linkToken(simLine1)
	tok, refresh := tr.AccessToken, tr.RefreshToken
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer hc.CloseIdleConnections()
	do := func(method, path, token string, body any, hdr ...string) []byte {
		var rd io.Reader
		if body != nil {
			j, _ := json.Marshal(body)
			rd = bytes.NewReader(j)
		}
		req, _ := http.NewRequest(method, rg.sim.URL()+path, rd)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 300 {
			b.Fatalf("%s %s: %d %s", method, path, res.StatusCode, out)
		}
		return out
	}
	status := func() string {
		var st yna.AccountStatus
		_ = json.Unmarshal(do(http.MethodGet, yna.PathAccountStatus, tok, nil), &st)
		return st.ChannelURL
	}
	ws, _, err := websocket.DefaultDialer.Dial(status(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ws.Close()
	note := func() {
		_, f, err := ws.ReadMessage()
		if err != nil {
			b.Fatal(err)
		}
		id, _, err := yna.DecodeFrame(f)
		if err != nil {
			b.Fatal(err)
		}
		if err := ws.WriteMessage(websocket.TextMessage, yna.EncodeAck(id)); err != nil {
			b.Fatal(err)
		}
	}
	end := func(id string) {
		do(http.MethodDelete, yna.CallPath(yna.OpEnd, id), tok, nil, yna.HeaderReason, yna.ReasonNormalUserDisconnect)
	}
	ctx := context.Background()
	offer := testSDP(dirSendRecv)
	var heaps []uint64
	for i := range n {
		if i%100 == 99 {
			q := "?grant_type=refresh_token&refresh_token=" + url.QueryEscape(refresh)
			req, _ := http.NewRequest(http.MethodPost, rg.sim.URL()+yna.PathToken+q, nil)
			req.SetBasicAuth(simClientID, simSecret)
			res, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var t yna.TokenResponse
			_ = json.NewDecoder(res.Body).Decode(&t)
			res.Body.Close()
			if t.AccessToken == "" {
				b.Fatalf("refresh: %d", res.StatusCode)
			}
			tok, refresh = t.AccessToken, t.RefreshToken
		}
		if i%10 == 9 {
			status()
		}
		var id string
		if i%2 == 0 {
			var sr yna.StartResponse
			_ = json.Unmarshal(do(http.MethodPost, yna.PathCall+"/"+yna.OpStart, tok, yna.StartRequest{
				From: simLine1, To: fmt.Sprintf("1425555%04d", i%10000), SDP: offer, ClientCorrelator: "c"}), &sr)
			id = sr.CallID
			for range 3 {
				note()
			}
			if err := rg.sim.WaitCallState(ctx, id, CallConnected); err != nil {
				b.Fatal(err)
			}
		} else {
			if id, err = rg.sim.InjectCall(ctx, simLine1, "12065550123"); err != nil {
				b.Fatal(err)
			}
			note()
		}
		end(id)
		if err := rg.sim.WaitCallState(ctx, id, CallTerminated); err != nil && !errors.Is(err, ErrCallNotFound) {
			b.Fatal(err)
		}
		rg.clock.Advance(time.Second)
		if i%1000 == 999 {
			runtime.GC()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			heaps = append(heaps, ms.HeapAlloc)
		}
	}
	return heaps
}
