package farend

import (
	"strconv"
	"strings"
)

// Direction values as they appear in SDP.
const (
	DirSendRecv = "sendrecv"
	DirSendOnly = "sendonly"
	DirRecvOnly = "recvonly"
	DirInactive = "inactive"
)

func validDirection(d string) bool {
	switch d {
	case DirSendRecv, DirSendOnly, DirRecvOnly, DirInactive:
		return true
	}
	return false
}

func canSend(d string) bool { return d == DirSendRecv || d == DirSendOnly }
func canRecv(d string) bool { return d == DirSendRecv || d == DirRecvOnly }

func makeDirection(send, recv bool) string {
	switch {
	case send && recv:
		return DirSendRecv
	case send:
		return DirSendOnly
	case recv:
		return DirRecvOnly
	}
	return DirInactive
}

// reverseDirection is the RFC 3264 §6.1 answer to an offered direction when
// the answerer wants everything: sendonly→recvonly, recvonly→sendonly.
func reverseDirection(d string) string {
	return makeDirection(canRecv(d), canSend(d))
}

// intersectDirection limits our wanted direction by the peer's direction
// (peer's direction as written in its SDP, i.e. from its point of view).
func intersectDirection(ours, peers string) string {
	return makeDirection(canSend(ours) && canRecv(peers), canRecv(ours) && canSend(peers))
}

// rewriteSDP returns raw with the audio section's direction set to dir, every
// a=setup line set to setup (when non-empty) and the o= session version
// incremented by one. Everything else is kept byte for byte.
func rewriteSDP(raw, dir, setup string) string {
	lines, eol := splitLines(raw)
	out := make([]string, 0, len(lines)+1)
	inAudio, audioHasDir := false, false
	flushAudio := func() {
		if inAudio && !audioHasDir {
			out = append(out, "a="+dir)
		}
	}
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "o="):
			l = bumpOrigin(l)
		case strings.HasPrefix(l, "m="):
			flushAudio()
			inAudio, audioHasDir = strings.HasPrefix(l, "m=audio "), false
		case l == "a=sendrecv" || l == "a=sendonly" || l == "a=recvonly" || l == "a=inactive":
			if inAudio {
				l, audioHasDir = "a="+dir, true
			}
		case strings.HasPrefix(l, "a=setup:") && setup != "":
			l = "a=setup:" + setup
		}
		out = append(out, l)
	}
	flushAudio()
	return strings.Join(out, eol) + eol
}

// bumpOrigin increments the sess-version field of an o= line.
func bumpOrigin(l string) string {
	f := strings.Fields(l)
	if len(f) != 6 {
		return l
	}
	v, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return l
	}
	f[2] = strconv.FormatUint(v+1, 10)
	return strings.Join(f, " ")
}

// setupOf returns the first a=setup value of raw ("" if none).
func setupOf(raw string) string {
	for _, l := range strings.Split(raw, "\n") {
		l = strings.TrimRight(l, "\r")
		if v, ok := strings.CutPrefix(l, "a=setup:"); ok {
			return v
		}
	}
	return ""
}

// withDefaultCandidate sets the audio port and the c=/o= addresses of a
// gathered SDP to its first UDP IPv4 component-1 candidate, as a complete
// non-trickle SDP normally shows (RFC 8839 §4.2.1.2; the browser SDP of fact
// sheet §18.2 has real addresses, pion writes 0.0.0.0 and port 9).
func withDefaultCandidate(raw string) string {
	ip, port := "", ""
	for _, l := range strings.Split(raw, "\n") {
		v, ok := strings.CutPrefix(strings.TrimRight(l, "\r"), "a=candidate:")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) < 8 || f[1] != "1" || !strings.EqualFold(f[2], "udp") || strings.Contains(f[4], ":") {
			continue
		}
		ip, port = f[4], f[5]
		break
	}
	if ip == "" {
		return raw
	}
	lines, eol := splitLines(raw)
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "c=IN IP4 "):
			lines[i] = "c=IN IP4 " + ip
		case strings.HasPrefix(l, "o=") && strings.HasSuffix(l, " IN IP4 0.0.0.0"):
			lines[i] = strings.TrimSuffix(l, "0.0.0.0") + ip
		case strings.HasPrefix(l, "m=audio "):
			f := strings.Fields(l)
			if len(f) > 1 {
				f[1] = port
				lines[i] = strings.Join(f, " ")
			}
		}
	}
	return strings.Join(lines, eol) + eol
}

// splitLines splits SDP into lines without their CR/LF and returns the line
// ending to write back (CRLF unless the text has no CRLF at all).
func splitLines(raw string) ([]string, string) {
	eol := "\r\n"
	if !strings.Contains(raw, "\r\n") {
		eol = "\n"
	}
	lines := strings.Split(strings.TrimRight(raw, "\r\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, "\r")
	}
	return lines, eol
}
