// Package rtpmedia owns the media of ynagw: plain RTP/RTCP toward desk phones and
// PBXs, the WebRTC (ICE + DTLS-SRTP) leg toward the mobile network's media gateway,
// and the relay between the two.
//
// It contains:
//   - SDP offer/answer for a single audio stream (sdp.go, codec.go, direction.go),
//     lenient toward real-world SDP (session-level direction, c=0.0.0.0 hold,
//     missing trailing CRLF, extra m-lines that are rejected with port 0);
//   - an RTP port allocator with quarantine of released ports (ports.go);
//   - the media Leg: one UDP socket pair with symmetric-RTP latching, media
//     timeouts (active vs held), statistics and an RTCP SR/RR loop (leg.go, rtcp.go,
//     timeout.go);
//   - RFC 4733 telephone-event parsing, detection and generation (dtmf.go);
//   - the WebRTC leg toward the network (webrtc.go, webrtc_sdp.go): pion
//     PeerConnection with full ICE gathering before the SDP is produced, DTLS-SRTP
//     preferring AEAD_AES_128_GCM, hold/resume by RFC 3264 SDP rewriting;
//   - the SRTP fast path (fastpath.go): every ICE socket is read through a
//     wrapper that, once a leg's DTLS is up, derives its SRTP keys (key log +
//     hello randoms, RFC 5764 exporter) and decrypts/encrypts RTP and SRTCP
//     itself, pushing received packets straight into the relay; pion keeps
//     ICE, DTLS and negotiation (webrtc_rtcp.go: such legs send their own
//     RTCP from the shared report timers, timers.go);
//   - the Relay between a Leg and a WebRTCLeg (relay.go): payload-type mapping,
//     SSRC/sequence/timestamp continuity, RFC 4733 pass-through and injection, and
//     G.711 µ-law ⇄ A-law conversion only when no common codec exists (g711.go).
//
// The package never imports the sip, yna or bridge packages. The per-packet
// paths (Leg.ReadRTP, Leg.WriteRTP, WebRTCLeg.ReadRTP/WriteRTP, the relay's
// forwarding, DTMFDetector.Feed) do not allocate.
package rtpmedia
