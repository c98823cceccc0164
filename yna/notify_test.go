package yna

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecodeFrame(t *testing.T) {
	tests := []struct {
		name    string
		frame   string
		wantID  string // "" = nil
		wantErr error
		check   func(t *testing.T, ns []Notification)
	}{
		{
			name: "invitation",
			frame: `{"nsMsg":{"msgId":"m-1","content":{"sessionInvitationNotification":{` +
				`"originatorAddress":"tel:+14255550100","originatorName":"Alice","receiverAddress":"tel:+14255550199",` +
				`"callObjectRef":"https://naas.example/cpaas/v1/call/u/sessions/ABCDEF01","sdp":"v=0\r\n",` +
				`"verificationStatus":"TN-Validation-Passed","serverCorrelator":"sc-9","callType":"audio"}}}}`,
			wantID: `"m-1"`,
			check: func(t *testing.T, ns []Notification) {
				wantLen(t, ns, 1)
				n := ns[0]
				if n.Type != TypeSessionInvitation || n.Invitation == nil || n.Err != nil || !n.Known() {
					t.Fatalf("bad notification %+v", n)
				}
				want := SessionInvitation{OriginatorAddress: "tel:+14255550100", OriginatorName: "Alice",
					ReceiverAddress: "tel:+14255550199", CallObjectRef: "https://naas.example/cpaas/v1/call/u/sessions/ABCDEF01",
					SDP: "v=0\r\n", VerificationStatus: "TN-Validation-Passed", ServerCorrelator: "sc-9", CallType: "audio"}
				if !reflect.DeepEqual(*n.Invitation, want) {
					t.Fatalf("got %+v\nwant %+v", *n.Invitation, want)
				}
				if n.CallID() != "ABCDEF01" {
					t.Fatalf("CallID = %q", n.CallID())
				}
			},
		},
		{
			name: "status with numeric-string responseCode and object offer",
			frame: `{"nsMsg":{"msgId":7,"content":{"sessionStatusNotification":{"status":"Hold","responseCode":"200",` +
				`"callObjectRef":"/x/sessions/C1","sdp":"v=0","offer":{"mediaIndicator":{"type":"audio","direction":"SendOnly"}},` +
				`"reason":{"text":"x"},"notificationReference":{"epochTime":1,"notificationId":2,"sequenceNumber":3}}}}}`,
			wantID: `7`,
			check: func(t *testing.T, ns []Notification) {
				wantLen(t, ns, 1)
				s := ns[0].Status
				if s == nil || ns[0].Err != nil {
					t.Fatalf("bad notification %+v", ns[0])
				}
				if s.Status != StatusHold || s.ResponseCode != 200 || s.SDP != "v=0" || ns[0].CallID() != "C1" {
					t.Fatalf("bad status %+v", s)
				}
				if s.Offer == nil || s.Offer.MediaIndicator == nil || *s.Offer.MediaIndicator != (MediaIndicator{"audio", "SendOnly"}) {
					t.Fatalf("bad offer %+v", s.Offer)
				}
				if string(s.Reason) != `{"text":"x"}` {
					t.Fatalf("reason %s", s.Reason)
				}
				if s.NotificationReference == nil || s.NotificationReference.SequenceNumber != 3 {
					t.Fatalf("notificationReference %+v", s.NotificationReference)
				}
			},
		},
		{
			name:   "mediaIndicator as array",
			frame:  `{"nsMsg":{"msgId":"a","content":{"sessionStatusNotification":{"status":"Hold","responseCode":200,"offer":{"mediaIndicator":[{"type":"audio","direction":"Inactive"},{"type":"video","direction":"SendOnly"}]}}}}}`,
			wantID: `"a"`,
			check: func(t *testing.T, ns []Notification) {
				wantLen(t, ns, 1)
				o := ns[0].Status.Offer
				if o == nil || o.MediaIndicator == nil || o.MediaIndicator.Direction != DirectionInactive || len(o.MediaIndicators) != 2 {
					t.Fatalf("bad offer %+v", o)
				}
				if ns[0].Err != nil {
					t.Fatal(ns[0].Err)
				}
			},
		},
		{
			name:   "offer odd shapes never fail",
			frame:  `{"nsMsg":{"msgId":"b","content":{"sessionStatusNotification":{"status":"Connected","offer":[{"mediaIndicator":"x"}]}}}}`,
			wantID: `"b"`,
			check: func(t *testing.T, ns []Notification) {
				if ns[0].Err != nil || ns[0].Status.Offer == nil || ns[0].Status.Offer.MediaIndicator != nil {
					t.Fatalf("got %+v err %v", ns[0].Status.Offer, ns[0].Err)
				}
			},
		},
		{
			name: "multi-key frame keeps wire order, skips link",
			frame: `{"nsMsg":{"msgId":"multi","content":{"sessionStatusNotification":{"status":"Ringing","responseCode":180},` +
				`"link":[{"rel":"x"}],"RegistrationNotification":{"registrationState":"Terminated"},` +
				`"registrationInformationNotification":{"action":"reselect_node"}}}}`,
			wantID: `"multi"`,
			check: func(t *testing.T, ns []Notification) {
				wantLen(t, ns, 3)
				types := []string{ns[0].Type, ns[1].Type, ns[2].Type}
				if !reflect.DeepEqual(types, []string{TypeSessionStatus, TypeRegistration, TypeRegistrationInformation}) {
					t.Fatalf("types %v", types)
				}
				for _, n := range ns {
					if string(n.MsgID) != `"multi"` {
						t.Fatalf("msgId %s", n.MsgID)
					}
				}
				if ns[0].NeedsRebuild() || !ns[1].NeedsRebuild() || !ns[2].NeedsRebuild() {
					t.Fatal("NeedsRebuild wrong")
				}
			},
		},
		{
			name:   "raw CR/LF inside SDP string",
			frame:  "{\"nsMsg\":{\"msgId\":\"crlf\",\"content\":{\"sessionStatusNotification\":{\"status\":\"Connected\",\"responseCode\":200,\"sdp\":\"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n\t\x01\"}}}}",
			wantID: `"crlf"`,
			check: func(t *testing.T, ns []Notification) {
				wantLen(t, ns, 1)
				if got := ns[0].Status.SDP; got != "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n\t\x01" {
					t.Fatalf("sdp %q", got)
				}
			},
		},
		{
			name:   "pretty printed with raw newline in string",
			frame:  "{\n  \"nsMsg\": {\n    \"msgId\": 42,\n    \"content\": {\"sessionStatusNotification\": {\"status\": \"Connected\", \"sdp\": \"v=0\r\n\"}}\n  }\n}\n",
			wantID: `42`,
			check: func(t *testing.T, ns []Notification) {
				wantLen(t, ns, 1)
				if ns[0].Status.SDP != "v=0\r\n" {
					t.Fatalf("sdp %q", ns[0].Status.SDP)
				}
			},
		},
		{
			name:   "msgId with spaces is compacted, object kept",
			frame:  `{"nsMsg":{"msgId": { "a" : [1, 2] } ,"content":{}}}`,
			wantID: `{"a":[1,2]}`,
			check:  func(t *testing.T, ns []Notification) { wantLen(t, ns, 0) },
		},
		{
			name:   "unknown type",
			frame:  `{"nsMsg":{"msgId":"u","content":{"vvoipSessionTransferNotification":{"resourceURL":"/a/b/C9","transferStatus":"Successful"}}}}`,
			wantID: `"u"`,
			check: func(t *testing.T, ns []Notification) {
				wantLen(t, ns, 1)
				n := ns[0]
				if n.Type != "vvoipSessionTransferNotification" || n.Known() || n.Status != nil || n.Invitation != nil || n.Err != nil {
					t.Fatalf("bad %+v", n)
				}
				if !json.Valid(n.Raw) || !strings.Contains(string(n.Raw), "resourceURL") {
					t.Fatalf("raw %s", n.Raw)
				}
			},
		},
		{
			name:   "missing msgId still acks",
			frame:  `{"nsMsg":{"content":{"RegistrationNotification":{"registrationState":"Active"}}}}`,
			wantID: ``,
			check: func(t *testing.T, ns []Notification) {
				wantLen(t, ns, 1)
				if ns[0].Registration == nil || ns[0].Registration.RegistrationState != "Active" || ns[0].NeedsRebuild() {
					t.Fatalf("%+v", ns[0])
				}
			},
		},
		{
			name:   "null msgId echoed as null",
			frame:  `{"nsMsg":{"msgId":null}}`,
			wantID: `null`,
			check:  func(t *testing.T, ns []Notification) { wantLen(t, ns, 0) },
		},
		{
			name:   "content not an object",
			frame:  `{"nsMsg":{"msgId":"c","content":[1]}}`,
			wantID: `"c"`,
			check: func(t *testing.T, ns []Notification) {
				wantLen(t, ns, 1)
				if !errors.Is(ns[0].Err, ErrBadContent) || ns[0].Type != "" {
					t.Fatalf("%+v", ns[0])
				}
			},
		},
		{
			name:   "payload not an object",
			frame:  `{"nsMsg":{"msgId":"p","content":{"sessionStatusNotification":"Connected"}}}`,
			wantID: `"p"`,
			check: func(t *testing.T, ns []Notification) {
				wantLen(t, ns, 1)
				if !errors.Is(ns[0].Err, ErrBadPayload) || ns[0].Status != nil || ns[0].Type != TypeSessionStatus {
					t.Fatalf("%+v", ns[0])
				}
			},
		},
		{
			name:   "mistyped field keeps the rest",
			frame:  `{"nsMsg":{"msgId":"f","content":{"sessionStatusNotification":{"status":"Terminated","epochTime":"soon","responseCode":486,"callObjectRef":"/s/Z"}}}}`,
			wantID: `"f"`,
			check: func(t *testing.T, ns []Notification) {
				wantLen(t, ns, 1)
				n := ns[0]
				if !errors.Is(n.Err, ErrBadPayload) || n.Status == nil || n.Status.Status != StatusTerminated ||
					n.Status.ResponseCode != 486 || n.CallID() != "Z" {
					t.Fatalf("%+v %+v", n, n.Status)
				}
			},
		},
		{name: "missing nsMsg", frame: `{"other":{"msgId":1}}`, wantErr: ErrNoNsMsg},
		{name: "nsMsg not object", frame: `{"nsMsg":"x"}`, wantErr: ErrNoNsMsg},
		{name: "nsMsg null", frame: `{"nsMsg":null}`, wantErr: ErrNoNsMsg},
		{name: "not JSON", frame: `PONG 2023:1:1`, wantErr: ErrMalformedFrame},
		{name: "array", frame: `[{"nsMsg":{}}]`, wantErr: ErrMalformedFrame},
		{name: "null", frame: `null`, wantErr: ErrMalformedFrame},
		{name: "truncated", frame: "{\"nsMsg\":{\"msgId\":\"x\n", wantErr: ErrMalformedFrame},
		{name: "empty", frame: ``, wantErr: ErrMalformedFrame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ns, err := DecodeFrame([]byte(tt.frame))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if id != nil || ns != nil {
					t.Fatalf("got id %s ns %v with error", id, ns)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tt.wantID == "" && id != nil {
				t.Fatalf("msgId = %s, want nil", id)
			}
			if tt.wantID != "" && string(id) != tt.wantID {
				t.Fatalf("msgId = %s, want %s", id, tt.wantID)
			}
			tt.check(t, ns)
		})
	}
}

func wantLen(t *testing.T, ns []Notification, n int) {
	t.Helper()
	if len(ns) != n {
		t.Fatalf("got %d notifications, want %d: %+v", len(ns), n, ns)
	}
}

func TestResponseCodeDecode(t *testing.T) {
	for in, want := range map[string]ResponseCode{
		`180`: 180, `"183"`: 183, `" 200 "`: 200, `200.0`: 200, `null`: 0, `""`: 0, `"abc"`: 0,
		`true`: 0, `{}`: 0, `1e99`: 0, `-1`: -1,
	} {
		var c ResponseCode
		if err := json.Unmarshal([]byte(in), &c); err != nil {
			t.Errorf("%s: error %v", in, err)
		}
		if c != want {
			t.Errorf("%s: got %d want %d", in, c, want)
		}
	}
	b, err := json.Marshal(SessionStatus{Status: "Ringing", ResponseCode: 180})
	if err != nil || string(b) != `{"status":"Ringing","responseCode":180}` {
		t.Fatalf("marshal %s %v", b, err)
	}
	b, _ = json.Marshal(SessionStatus{Status: "Connected"})
	if string(b) != `{"status":"Connected"}` {
		t.Fatalf("zero responseCode not omitted: %s", b)
	}
}

func TestAckEchoesMsgIDType(t *testing.T) {
	tests := []struct{ frame, ack string }{
		{`{"nsMsg":{"msgId":"abc","content":{}}}`, `{"nsAck":{"msgId":"abc"}}`},
		{`{"nsMsg":{"msgId":"123","content":{}}}`, `{"nsAck":{"msgId":"123"}}`},
		{`{"nsMsg":{"msgId":123,"content":{}}}`, `{"nsAck":{"msgId":123}}`},
		{`{"nsMsg":{"msgId":1.5e3,"content":{}}}`, `{"nsAck":{"msgId":1.5e3}}`},
		{`{"nsMsg":{"msgId":18446744073709551617,"content":{}}}`, `{"nsAck":{"msgId":18446744073709551617}}`},
		{`{"nsMsg":{"msgId":"a\"b\u00e9","content":{}}}`, `{"nsAck":{"msgId":"a\"b\u00e9"}}`},
		{`{"nsMsg":{"msgId":null}}`, `{"nsAck":{"msgId":null}}`},
		{`{"nsMsg":{"content":{}}}`, `{"nsAck":{}}`},
	}
	for _, tt := range tests {
		id, _, err := DecodeFrame([]byte(tt.frame))
		if err != nil {
			t.Fatalf("%s: %v", tt.frame, err)
		}
		if got := string(EncodeAck(id)); got != tt.ack {
			t.Errorf("%s: ack %s, want %s", tt.frame, got, tt.ack)
		}
		back, err := DecodeAck([]byte(tt.ack))
		if err != nil || !bytes.Equal(back, id) {
			t.Errorf("DecodeAck(%s) = %s, %v; want %s", tt.ack, back, err, id)
		}
	}
	if _, err := DecodeAck([]byte(`{"nsMsg":{}}`)); !errors.Is(err, ErrMalformedFrame) {
		t.Fatalf("DecodeAck without nsAck: %v", err)
	}
}

func TestEncodeFrameRoundTrip(t *testing.T) {
	st := &SessionStatus{Status: StatusHold, ResponseCode: 200, SDP: "v=0\r\na=sendonly\r\n",
		CallObjectRef: "https://h/cpaas/v1/call/u/sessions/AB12",
		Offer:         &Offer{MediaIndicator: &MediaIndicator{Type: "audio", Direction: DirectionSendOnly}}}
	b, err := EncodeFrame("id-1", TypeSessionStatus, st)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"nsMsg":{"msgId":"id-1","content":{"sessionStatusNotification":{"status":"Hold","responseCode":200,` +
		`"sdp":"v=0\r\na=sendonly\r\n","callObjectRef":"https://h/cpaas/v1/call/u/sessions/AB12",` +
		`"offer":{"mediaIndicator":{"type":"audio","direction":"SendOnly"}}}}}}`
	if string(b) != want {
		t.Fatalf("wire\n got %s\nwant %s", b, want)
	}
	id, ns, err := DecodeFrame(b)
	if err != nil || string(id) != `"id-1"` || len(ns) != 1 {
		t.Fatalf("decode: %s %v %v", id, ns, err)
	}
	got := ns[0].Status
	got.Offer.MediaIndicators = nil
	if !reflect.DeepEqual(got, st) {
		t.Fatalf("round trip\n got %+v\nwant %+v", got, st)
	}

	b, err = EncodeFrameItems(json.RawMessage(`17`),
		FrameItem{TypeSessionInvitation, &SessionInvitation{OriginatorAddress: "tel:+1", CallObjectRef: "/s/X"}},
		FrameItem{TypeRegistration, RegistrationNotification{RegistrationState: RegistrationStateTerminated}},
		FrameItem{TypeRegistrationInformation, RegistrationInformation{Action: RegInfoActionLogout}})
	if err != nil {
		t.Fatal(err)
	}
	want = `{"nsMsg":{"msgId":17,"content":{"sessionInvitationNotification":{"originatorAddress":"tel:+1","callObjectRef":"/s/X"},` +
		`"RegistrationNotification":{"registrationState":"Terminated"},"registrationInformationNotification":{"action":"logout"}}}}`
	if string(b) != want {
		t.Fatalf("wire\n got %s\nwant %s", b, want)
	}
	if _, err := EncodeFrame(func() {}, TypeSessionStatus, st); err == nil {
		t.Fatal("unmarshalable msgId accepted")
	}
	if _, err := EncodeFrame(1, TypeSessionStatus, func() {}); err == nil {
		t.Fatal("unmarshalable value accepted")
	}
}

func TestCallIDFromRef(t *testing.T) {
	for in, want := range map[string]string{
		"https://naas.t-mobile.com/cpaas/v1/call/u/sessions/ABC123":   "ABC123",
		"https://naas.t-mobile.com/cpaas/v1/call/u/conference/ABC123": "ABC123",
		"/sessions/ABC?x=1#f": "ABC",
		"ABC":                 "ABC",
		"https://h/sessions/": "",
		"":                    "",
		" /a/B ":              "B",
	} {
		if got := CallIDFromRef(in); got != want {
			t.Errorf("CallIDFromRef(%q) = %q, want %q", in, got, want)
		}
	}
	if (Notification{}).CallID() != "" {
		t.Fatal("empty notification has a call id")
	}
}

func TestPingPong(t *testing.T) {
	ts := time.Date(2023, time.October, 5, 9, 7, 3, 0, time.UTC)
	if got := PingText(ts); got != "PING 2023:10:5:9:7:3" {
		t.Fatalf("PingText = %q", got)
	}
	ts = time.Date(2024, time.December, 31, 23, 59, 59, 0, time.UTC)
	if got := PingText(ts); got != "PING 2024:12:31:23:59:59" {
		t.Fatalf("PingText = %q", got)
	}
	for in, want := range map[string]bool{"PONG": true, "PONG 2023:1:1:0:0:0": true, "pong": false, " PONG": false, "": false, `{"nsMsg":{}}`: false} {
		if IsPong([]byte(in)) != want {
			t.Errorf("IsPong(%q) != %v", in, want)
		}
	}
	if p := PongText([]byte("PING 2023:1:2:3:4:5")); p != "PONG 2023:1:2:3:4:5" || !IsPong([]byte(p)) {
		t.Fatalf("PongText = %q", p)
	}
	if !IsPing([]byte(PingText(ts))) || IsPing([]byte("PONG")) {
		t.Fatal("IsPing")
	}
}

func TestIsFinalStatus(t *testing.T) {
	for _, s := range []string{StatusTerminated, StatusSessionCancelled, StatusDeclined, StatusBusy, StatusNoAnswer, StatusNotReachable, StatusFailed} {
		if !IsFinalStatus(s) {
			t.Errorf("%s not final", s)
		}
	}
	for _, s := range []string{StatusRinging, StatusConnected, StatusHold, StatusResume, StatusForwarded, ""} {
		if IsFinalStatus(s) {
			t.Errorf("%s final", s)
		}
	}
}

// TestSampleFrames decodes every committed sample frame in testdata/notify.
func TestSampleFrames(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "notify", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample frames: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		id, ns, err := DecodeFrame(data)
		if err != nil || id == nil || len(ns) == 0 {
			t.Errorf("%s: id %s ns %d err %v", f, id, len(ns), err)
			continue
		}
		for _, n := range ns {
			if !n.Known() || n.Err != nil {
				t.Errorf("%s: %s known=%v err=%v", f, n.Type, n.Known(), n.Err)
			}
		}
	}
}

func FuzzDecodeFrame(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "notify", "*.json"))
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("{\"nsMsg\":{\"msgId\":1,\"content\":{\"sessionStatusNotification\":{\"sdp\":\"a\r\nb\"}}}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, ns, err := DecodeFrame(data)
		if err != nil {
			if id != nil || ns != nil {
				t.Fatalf("result with error")
			}
			return
		}
		ack := EncodeAck(id)
		if !json.Valid(ack) {
			t.Fatalf("invalid ack %q", ack)
		}
		back, err := DecodeAck(ack)
		if err != nil || (id != nil && json.Valid(id) && !bytes.Equal(back, id)) {
			t.Fatalf("ack round trip %q -> %q (%v)", id, back, err)
		}
		for _, n := range ns {
			_ = n.CallID()
			_ = n.NeedsRebuild()
		}
	})
}

func BenchmarkDecodeFrame(b *testing.B) {
	frame, err := os.ReadFile(filepath.Join("testdata", "notify", "invitation.json"))
	if err != nil {
		b.Fatal(err)
	}
	crlf, err := os.ReadFile(filepath.Join("testdata", "notify", "status_connected_crlf.json"))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		data []byte
	}{{"invitation", frame}, {"raw-crlf-retry", crlf}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := DecodeFrame(bc.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodeFrame(b *testing.B) {
	st := &SessionStatus{Status: StatusRinging, ResponseCode: 180, CallObjectRef: "https://h/cpaas/v1/call/u/sessions/AB12"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeFrame("id", TypeSessionStatus, st); err != nil {
			b.Fatal(err)
		}
	}
}
