package sip

import (
	"bytes"
	"strings"
	"testing"
)

func mkSDP(sessionLines, mediaLines string) []byte {
	var conn, attrs string
	for _, l := range strings.SplitAfter(sessionLines, "\r\n") {
		if strings.HasPrefix(l, "a=") {
			attrs += l
		} else {
			conn += l
		}
	}
	s := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n" + conn + "t=0 0\r\n" + attrs +
		"m=audio 4000 RTP/AVP 0 8\r\n" + mediaLines
	return []byte(s)
}

func TestDetectHold(t *testing.T) {
	cases := []struct {
		name string
		sdp  []byte
		want HoldState
		dir  Direction
	}{
		{"no direction", mkSDP("c=IN IP4 127.0.0.1\r\n", ""), NotHeld, SendRecv},
		{"sendrecv media", mkSDP("c=IN IP4 127.0.0.1\r\n", "a=sendrecv\r\n"), NotHeld, SendRecv},
		{"sendonly media", mkSDP("c=IN IP4 127.0.0.1\r\n", "a=sendonly\r\n"), HeldByRemote, SendOnly},
		{"inactive media", mkSDP("c=IN IP4 127.0.0.1\r\n", "a=inactive\r\n"), Inactive, DirInactive},
		{"recvonly media", mkSDP("c=IN IP4 127.0.0.1\r\n", "a=recvonly\r\n"), NotHeld, RecvOnly},
		{"sendonly session level", mkSDP("c=IN IP4 127.0.0.1\r\na=sendonly\r\n", ""), HeldByRemote, SendOnly},
		{"media level overrides session", mkSDP("c=IN IP4 127.0.0.1\r\na=sendonly\r\n", "a=sendrecv\r\n"), NotHeld, SendRecv},
		{"inactive session level", mkSDP("c=IN IP4 127.0.0.1\r\na=inactive\r\n", ""), Inactive, DirInactive},
		{"c=0.0.0.0 session", mkSDP("c=IN IP4 0.0.0.0\r\n", ""), HeldByRemote, SendOnly},
		{"c=0.0.0.0 media", mkSDP("", "c=IN IP4 0.0.0.0\r\n"), HeldByRemote, SendOnly},
		{"c=0.0.0.0 + inactive", mkSDP("c=IN IP4 0.0.0.0\r\n", "a=inactive\r\n"), Inactive, DirInactive},
		{"c=0.0.0.0 + recvonly", mkSDP("c=IN IP4 0.0.0.0\r\n", "a=recvonly\r\n"), Inactive, DirInactive},
		{"media c overrides null session c", mkSDP("c=IN IP4 0.0.0.0\r\n", "c=IN IP4 127.0.0.1\r\n"), NotHeld, SendRecv},
		{"port 0", []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n"), Inactive, DirInactive},
		{"no trailing newline (diago#150)", []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly"), HeldByRemote, SendOnly},
		{"LF line endings", []byte("v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 4000 RTP/AVP 0\na=inactive\n"), Inactive, DirInactive},
		{"blank lines", []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n\r\n"), HeldByRemote, SendOnly},
		{"trailing whitespace", []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 0.0.0.0 \r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=recvonly\t\r\n"), Inactive, DirInactive},
		{"video disabled, audio held", []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n"), HeldByRemote, SendOnly},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DetectHold(tc.sdp)
			if err != nil {
				t.Fatalf("DetectHold: %v", err)
			}
			if got != tc.want {
				t.Errorf("DetectHold = %v, want %v", got, tc.want)
			}
			dir, err := OfferDirection(tc.sdp)
			if err != nil || dir != tc.dir {
				t.Errorf("OfferDirection = %v, %v; want %v", dir, err, tc.dir)
			}
		})
	}
}

func TestDetectHoldErrors(t *testing.T) {
	for _, b := range [][]byte{nil, []byte(""), []byte("garbage"), []byte("v=0\r\nm=audio x\r\n")} {
		if _, err := DetectHold(b); err == nil {
			t.Errorf("DetectHold(%q) want error", b)
		}
	}
}

func TestAnswerDirection(t *testing.T) {
	cases := map[Direction]Direction{SendOnly: RecvOnly, RecvOnly: SendOnly, DirInactive: DirInactive, SendRecv: SendRecv}
	for in, want := range cases {
		if got := AnswerDirection(in); got != want {
			t.Errorf("AnswerDirection(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestSetDirection(t *testing.T) {
	in := mkSDP("c=IN IP4 127.0.0.1\r\na=sendrecv\r\n", "a=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")
	out, err := SetDirection(in, RecvOnly)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(out), "a=recvonly") != 1 || bytes.Contains(out, []byte("sendrecv")) {
		t.Fatalf("SetDirection:\n%s", out)
	}
	if d, err := OfferDirection(out); err != nil || d != RecvOnly {
		t.Fatalf("direction after SetDirection = %v, %v", d, err)
	}
	for _, want := range []string{"o=- 1 1 IN IP4 127.0.0.1\r\n", "c=IN IP4 127.0.0.1\r\n", "m=audio 4000 RTP/AVP 0 8\r\n", "a=rtpmap:0 PCMU/8000\r\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("SetDirection lost %q:\n%s", want, out)
		}
	}
	// LF-only input without a final newline is read, CRLF written.
	lf := []byte(strings.TrimSuffix(strings.ReplaceAll(string(in), "\r\n", "\n"), "\n"))
	if out, err := SetDirection(lf, SendOnly); err != nil || !bytes.Contains(out, []byte("a=sendonly\r\n")) {
		t.Errorf("SetDirection(LF) = %q, %v", out, err)
	}
	if _, err := SetDirection([]byte("garbage"), SendOnly); err == nil {
		t.Error("SetDirection(garbage) want error")
	}
}
