package sip

import (
	"bytes"
	"strconv"
	"strings"
)

// Framing of SIP over a stream (RFC 3261 §7.5, §18.3): a message ends after its
// header section and Content-Length bytes of body; CRLFs before a start line
// are ignored; "\r\n\r\n" alone is an RFC 5626 keep-alive ping. The TCP/TLS
// gate (gateconn.go) frames what it reads so that each message can be checked
// by the gate before sipgo's stream parser sees it, and so that one bad
// message costs the peer that message, not the connection, when its framing is
// intact.

type frameKind int

const (
	frameMore      frameKind = iota // incomplete: read more
	frameMessage                    // one message: check it with gate
	frameKeepAlive                  // CRLFs alone: hand them to sipgo (it answers a ping)
	frameSkip                       // bytes to drop silently (CRLFs before a start line)
	frameGarbage                    // a block that is not SIP: drop it, log
	frameBroken                     // the framing is lost: answer if possible, close
)

// frame is the next unit of a stream buffer.
type frame struct {
	kind   frameKind
	n      int    // bytes it takes from the buffer
	code   int    // frameBroken: status to answer with (0 = none)
	reason string // frameBroken, frameGarbage: why
}

// nextFrame finds the next frame at the start of buf; max bounds a message.
func nextFrame(buf []byte, max int) frame {
	if len(buf) == 0 {
		return frame{kind: frameMore}
	}
	k := 0
	for k+1 < len(buf) && buf[k] == '\r' && buf[k+1] == '\n' {
		k += 2
	}
	if k > 0 {
		if k == len(buf) {
			return frame{kind: frameKeepAlive, n: k}
		}
		return frame{kind: frameSkip, n: k}
	}
	if len(buf) == 1 && buf[0] == '\r' {
		return frame{kind: frameMore}
	}
	end := bytes.Index(buf, crlfcrlf)
	if end < 0 {
		if len(buf) > max {
			return frame{kind: frameBroken, code: 413, reason: "header section too long"}
		}
		return frame{kind: frameMore}
	}
	start, lines, bodyOff, _ := splitHead(buf[:end+4])
	kind := classifyStart(start)
	cl, why := streamContentLength(lines)
	if kind == startGarbage {
		// skip the block, with its body when it says how long that is
		if why != "" || bodyOff+cl > max {
			return frame{kind: frameGarbage, n: bodyOff, reason: "not a SIP message"}
		}
		if len(buf) < bodyOff+cl {
			return frame{kind: frameMore}
		}
		return frame{kind: frameGarbage, n: bodyOff + cl, reason: "not a SIP message"}
	}
	if why != "" {
		return frame{kind: frameBroken, code: 400, reason: why}
	}
	if bodyOff+cl > max {
		return frame{kind: frameBroken, code: 413, reason: "message too large"}
	}
	if len(buf) < bodyOff+cl {
		return frame{kind: frameMore}
	}
	return frame{kind: frameMessage, n: bodyOff + cl}
}

// streamContentLength is the body length the header lines give; why is not
// empty when it cannot frame the message: no Content-Length (mandatory on a
// stream), an invalid one, or several that differ.
func streamContentLength(lines []string) (int, string) {
	n, found := -1, false
	for _, l := range lines {
		if headerName(l) != "content-length" {
			continue
		}
		v, err := strconv.Atoi(headerValue(l))
		if err != nil || v < 0 || strings.HasPrefix(headerValue(l), "+") {
			return 0, "Invalid Content-Length"
		}
		if found && v != n {
			return 0, "Conflicting Content-Length"
		}
		n, found = v, true
	}
	if !found {
		return 0, "Missing Content-Length"
	}
	return n, ""
}
