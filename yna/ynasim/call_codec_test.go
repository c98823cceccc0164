package ynasim

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"

	"github.com/ynagw/ynagw/yna"
	"github.com/ynagw/ynagw/yna/ynasim/farend"
)

// sdpCodecs lists the audio formats of s in m-line order as "name/rate[/channels]".
func sdpCodecs(t *testing.T, s string) []string {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(s); err != nil {
		t.Fatalf("SDP: %v\n%s", err, s)
	}
	static := map[string]string{"0": "PCMU/8000", "8": "PCMA/8000", "9": "G722/8000"}
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Media != "audio" {
			continue
		}
		var out []string
		for _, f := range m.MediaName.Formats {
			name := static[f]
			for _, a := range m.Attributes {
				if v, ok := strings.CutPrefix(a.Value, f+" "); ok && a.Key == "rtpmap" {
					name = v
				}
			}
			out = append(out, name)
		}
		return out
	}
	t.Fatalf("no audio in\n%s", s)
	return nil
}

func newClientEnd(t *testing.T, codecs ...string) *farend.FarEnd {
	t.Helper()
	c, err := farend.New(farend.Config{AllowLoopback: true, ToneHz: 440, Codecs: codecs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// mediaBothWays waits for 20 packets at the client and at the far end of call id.
func mediaBothWays(t *testing.T, rg *callSimRig, ctx context.Context, id string, client *farend.FarEnd) {
	t.Helper()
	if err := client.WaitPackets(ctx, 20); err != nil {
		t.Fatalf("client receives nothing: %v %+v", err, client.Stats())
	}
	if err := rg.sim.WaitFarEndPackets(ctx, id, 20); err != nil {
		ci, _ := rg.sim.Call(id)
		t.Fatalf("far end receives nothing: %v %+v", err, ci.Media)
	}
}

var (
	browserOffer = []string{"opus/48000/2", "G722/8000", "PCMU/8000", "PCMA/8000", "telephone-event/48000", "telephone-event/8000"}
	g711Client   = []string{"PCMU", "PCMA", "telephone-event/8000"} // a desk phone's codecs, as ynagw offers them
)

// TestCodecModesOutbound: the client offers, the network answers per its codec behaviour
// (number, account or default): the expected codec, media both ways, or a refusal with
// Terminated/488 when no codec is shared.
func TestCodecModesOutbound(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   CodecMode
		byAcct bool // set on the account instead of the number
		client []string
		want   string // "" = refused
	}{
		{"browser/g711 client", "", false, g711Client, "PCMU/8000"},
		{"browser/opus first", CodecsBrowser, false, []string{"opus/48000/2", "PCMU"}, "opus/48000/2"},
		{"browser/pcmu before opus", CodecsBrowser, false, []string{"PCMU", "opus/48000/2"}, "PCMU/8000"},
		{"preferOpus/pcmu before opus", CodecsPreferOpus, false, []string{"PCMU", "opus/48000/2", "telephone-event/8000"}, "opus/48000/2"},
		{"preferOpus/no opus", CodecsPreferOpus, true, []string{"PCMA", "PCMU"}, "PCMA/8000"},
		{"opusOnly/opus offered", CodecsOpusOnly, false, []string{"PCMU", "opus/48000/2"}, "opus/48000/2"},
		{"opusOnly/g711 client", CodecsOpusOnly, false, g711Client, ""},
		{"opusOnly by account/g711 client", CodecsOpusOnly, true, g711Client, ""},
		{"g711Only/opus first", CodecsG711Only, false, []string{"opus/48000/2", "PCMA", "PCMU"}, "PCMA/8000"},
		{"g711Only/opus only", CodecsG711Only, true, []string{"opus/48000/2"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rg := newCallSimRig(t, false)
			ctx := rg.ctx()
			const to = "14255550199"
			if tc.byAcct {
				if err := rg.sim.SetAccountCodecs("alice", tc.mode); err != nil {
					t.Fatal(err)
				}
			} else if err := rg.sim.SetNumberBehaviour(to, Behaviour{Kind: BehaviourAnswer, Codecs: tc.mode}); err != nil {
				t.Fatal(err)
			}
			client := newClientEnd(t, tc.client...)
			offer, err := client.Offer(ctx)
			if err != nil {
				t.Fatal(err)
			}
			res, err := rg.cl.Start(ctx, rg.tok, yna.StartRequest{From: simLine1, To: to, SDP: offer})
			if err != nil {
				t.Fatal(err)
			}
			id := res.CallID
			wantMode := tc.mode
			if wantMode == "" {
				wantMode = CodecsBrowser
			}
			if tc.want == "" {
				rg.expect(id, yna.StatusTerminated, 488, false)
				if err := rg.sim.WaitCallState(ctx, id, CallTerminated); err != nil {
					t.Fatal(err)
				}
				if ci, _ := rg.sim.Call(id); ci.Outcome != OutcomeNoCommonCodec || ci.Codecs != wantMode {
					t.Fatalf("outcome %q codecs %q, want %q %q", ci.Outcome, ci.Codecs, OutcomeNoCommonCodec, wantMode)
				}
				return
			}
			st := rg.expect(id, yna.StatusInProgress, 183, true)
			if got := sdpCodecs(t, st.SDP); len(got) == 0 || got[0] != tc.want {
				t.Fatalf("network answer lists %v, want %s first", got, tc.want)
			}
			if err := client.SetAnswer(st.SDP); err != nil {
				t.Fatal(err)
			}
			rg.expect(id, yna.StatusRinging, 180, false)
			rg.expect(id, yna.StatusConnected, 200, false)
			mediaBothWays(t, rg, ctx, id, client)
			ci, _ := rg.sim.Call(id)
			if ci.Codecs != wantMode || ci.Codec != tc.want || ci.CodecReceived != tc.want {
				t.Errorf("call codecs %q codec %q received %q, want %q %q", ci.Codecs, ci.Codec, ci.CodecReceived, wantMode, tc.want)
			}
			if cs := client.Stats(); cs.Codec != tc.want {
				t.Errorf("client sends %s", cs.Codec)
			}
			if err := rg.cl.End(ctx, rg.tok, id, "", false); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCodecModesInbound: the network's invitation offers the codecs of its behaviour in its
// order; the client answers with the first it supports; media both ways, or the client has
// no codec to answer with (it ends the call), or an answer without a shared codec gets 400.
func TestCodecModesInbound(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    CodecMode
		where   string // "call", "number", "account"
		offered []string
		client  []string
		want    string // "" = the client cannot answer
	}{
		{"browser/g711 client", "", "call", browserOffer, g711Client, "PCMU/8000"},
		{"browser/opus client", CodecsBrowser, "call", browserOffer, nil, "opus/48000/2"},
		{"preferOpus/pcma client", CodecsPreferOpus, "number", browserOffer, []string{"PCMA"}, "PCMA/8000"},
		{"opusOnly/opus client", CodecsOpusOnly, "account", []string{"opus/48000/2", "telephone-event/48000"}, nil, "opus/48000/2"},
		{"opusOnly/g711 client", CodecsOpusOnly, "number", []string{"opus/48000/2", "telephone-event/48000"}, g711Client, ""},
		{"g711Only/opus+pcma client", CodecsG711Only, "account", []string{"PCMU/8000", "PCMA/8000", "telephone-event/8000"}, []string{"opus/48000/2", "PCMA"}, "PCMA/8000"},
		{"g711Only/opus client", CodecsG711Only, "call", []string{"PCMU/8000", "PCMA/8000", "telephone-event/8000"}, []string{"opus/48000/2"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rg := newCallSimRig(t, false)
			ctx := rg.ctx()
			const from = "12065550123"
			in := InboundCall{Line: simLine1, From: from}
			switch tc.where {
			case "call":
				in.Codecs = tc.mode
			case "number":
				if err := rg.sim.SetNumberBehaviour(from, Behaviour{Codecs: tc.mode}); err != nil {
					t.Fatal(err)
				}
			case "account":
				if err := rg.sim.SetAccountCodecs("alice", tc.mode); err != nil {
					t.Fatal(err)
				}
			}
			id, err := rg.sim.InjectCallWith(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			n := rg.note()
			if n.Invitation == nil || n.CallID() != id {
				t.Fatalf("want the invitation, got %+v", n)
			}
			offer := n.Invitation.SDP
			if got := sdpCodecs(t, offer); strings.Join(got, " ") != strings.Join(tc.offered, " ") {
				t.Fatalf("network offers %v, want %v", got, tc.offered)
			}
			if err := rg.cl.InProgress(ctx, rg.tok, id, nil); err != nil {
				t.Fatal(err)
			}
			if err := rg.cl.Ringing(ctx, rg.tok, id); err != nil {
				t.Fatal(err)
			}
			client := newClientEnd(t, tc.client...)
			answer, err := client.Answer(ctx, offer)
			if tc.want == "" {
				if !errors.Is(err, farend.ErrNoCommonCodec) {
					t.Fatalf("client Answer = %v, want ErrNoCommonCodec", err)
				}
				// An answer naming a codec the network did not offer is refused (400), and
				// the invitation stays answerable; the client then declines.
				bad := strings.Replace(offer, "a=setup:actpass", "a=setup:active", 1)
				for _, c := range tc.offered {
					bad = strings.ReplaceAll(bad, " "+c, " G729/8000")
				}
				if _, err := rg.cl.Connected(ctx, rg.tok, id, &bad); statusOf(err) != http.StatusBadRequest {
					t.Fatalf("/connected without a shared codec: %v, want 400", err)
				}
				if err := rg.cl.End(ctx, rg.tok, id, "", false); err != nil {
					t.Fatal(err)
				}
				if err := rg.sim.WaitCallState(ctx, id, CallTerminated); err != nil {
					t.Fatal(err)
				}
				if ci, _ := rg.sim.Call(id); ci.Outcome != OutcomeVoicemail || ci.Codecs != tc.mode {
					t.Fatalf("outcome %q codecs %q", ci.Outcome, ci.Codecs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rg.cl.Connected(ctx, rg.tok, id, &answer); err != nil {
				t.Fatal(err)
			}
			mediaBothWays(t, rg, ctx, id, client)
			ci, _ := rg.sim.Call(id)
			wantMode := tc.mode
			if wantMode == "" {
				wantMode = CodecsBrowser
			}
			if ci.Codecs != wantMode || ci.Codec != tc.want || ci.CodecReceived != tc.want {
				t.Errorf("call codecs %q codec %q received %q, want %q %q", ci.Codecs, ci.Codec, ci.CodecReceived, wantMode, tc.want)
			}
			if err := rg.cl.End(ctx, rg.tok, id, "", false); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCodecModesControlAPI: PUT/GET /sim/accounts/{id}/codecs and codecs in /sim/numbers.
func TestCodecModesControlAPI(t *testing.T) {
	rg := newCallSimRig(t, true)
	var got accountCodecs
	if st := rg.ctl(http.MethodGet, "/sim/accounts/alice/codecs", nil, &got); st != http.StatusOK || got.Codecs != CodecsBrowser {
		t.Fatalf("GET: %d %+v", st, got)
	}
	if st := rg.ctl(http.MethodPut, "/sim/accounts/alice/codecs", map[string]string{"codecs": "g711Only"}, &got); st != http.StatusOK || got.Codecs != CodecsG711Only {
		t.Fatalf("PUT: %d %+v", st, got)
	}
	for _, bad := range []struct {
		path, body string
		want       int
	}{
		{"/sim/accounts/alice/codecs", "g729Only", http.StatusBadRequest},
		{"/sim/accounts/nobody/codecs", "opusOnly", http.StatusNotFound},
	} {
		if st := rg.ctl(http.MethodPut, bad.path, map[string]string{"codecs": bad.body}, nil); st != bad.want {
			t.Errorf("PUT %s %s: %d, want %d", bad.path, bad.body, st, bad.want)
		}
	}
	if st := rg.ctl(http.MethodPut, "/sim/numbers/12065550123", map[string]any{"behaviour": "answer", "codecs": "opusOnly"}, nil); st != http.StatusOK {
		t.Fatalf("PUT number: %d", st)
	}
	if st := rg.ctl(http.MethodPut, "/sim/numbers/12065550124", map[string]any{"codecs": "nope"}, nil); st != http.StatusBadRequest {
		t.Fatalf("PUT number with bad codecs: %d", st)
	}
	nums := map[string]Behaviour{}
	rg.ctl(http.MethodGet, "/sim/numbers", nil, &nums)
	if nums["12065550123"].Codecs != CodecsOpusOnly {
		t.Fatalf("numbers %+v", nums)
	}
	// the number's behaviour wins over the account's, the call's over both
	for _, tc := range []struct {
		from string
		in   CodecMode
		want CodecMode
	}{{"12065550123", "", CodecsOpusOnly}, {"12065550199", "", CodecsG711Only}, {"12065550123", CodecsPreferOpus, CodecsPreferOpus}} {
		id, err := rg.sim.InjectCallWith(rg.ctx(), InboundCall{Line: simLine1, From: tc.from, Codecs: tc.in})
		if err != nil {
			t.Fatal(err)
		}
		rg.note()
		if ci, _ := rg.sim.Call(id); ci.Codecs != tc.want {
			t.Errorf("from %s with %q: codecs %q, want %q", tc.from, tc.in, ci.Codecs, tc.want)
		}
	}
	if _, err := rg.sim.InjectCallWith(rg.ctx(), InboundCall{Line: simLine1, From: "12065550123", Codecs: "bad"}); !errors.Is(err, ErrBadAction) {
		t.Errorf("bad codecs: %v", err)
	}
}
