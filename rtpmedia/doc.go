// Package rtpmedia owns the SIP-side media of ynagw: plain RTP/RTCP toward desk
// phones and PBXs.
//
// It contains:
//   - SDP offer/answer for a single audio stream (sdp.go, codec.go, direction.go),
//     lenient toward real-world SDP (session-level direction, c=0.0.0.0 hold,
//     missing trailing CRLF, extra m-lines that are rejected with port 0);
//   - an RTP port allocator with quarantine of released ports (ports.go);
//   - the media Leg: one UDP socket pair with symmetric-RTP latching, media
//     timeouts (active vs held), statistics and an RTCP SR/RR loop (leg.go, rtcp.go,
//     timeout.go);
//   - RFC 4733 telephone-event parsing, detection and generation (dtmf.go).
//
// The package never imports the sip, yna or bridge packages. The per-packet
// paths (Leg.ReadRTP, Leg.WriteRTP, DTMFDetector.Feed) do not allocate.
package rtpmedia
