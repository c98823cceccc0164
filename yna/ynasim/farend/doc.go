// Package farend is the network far end of one simulated YNA call with real
// media: a pion/webrtc PeerConnection standing in for T-Mobile's media
// gateway.
//
// A FarEnd owns exactly one PeerConnection. It either answers a client's
// offer (outbound call, Answer) or makes the network's offer (inbound call,
// Offer + SetAnswer). ICE gathering is always completed before SDP is
// returned (no trickle, fact sheet §10.1), transport is DTLS-SRTP with
// rtcp-mux and BUNDLE, AEAD_AES_128_GCM preferred.
//
// Hold and resume (fact sheet §9.4, §9.5) are NOT renegotiated through pion:
// pion does not implement RFC 3264 direction changes (it answers a sendonly
// offer with sendrecv and stops the transceiver on inactive). Re-offers and
// re-answers are produced by rewriting the direction, a=setup and the o=
// version of the current local description; ICE, DTLS and SSRCs are
// unchanged, which is what a hold/resume exchange is. ICE restarts are not
// supported (ErrRenegotiation).
//
// # Media
//
// Every 20 ms, while the negotiated direction lets this side send, one audio
// packet is sent on a single SSRC whose sequence number runs on without gaps
// across hold/resume and whose RTP timestamp follows wall-clock ticks (it
// keeps advancing while on hold, as RFC 3550 asks). RFC 4733 telephone-event
// packets share the SSRC and sequence space.
//
// Payloads per codec:
//   - PCMU, PCMA: a sine tone at Config.ToneHz (G.711 encoded here, pure Go),
//     160 bytes, whose first 8 bytes are replaced by the marker below.
//   - G722: the marker followed by 152 bytes of 0x00 filler. This is a
//     decodable G.722 bit stream but NOT a tone; only order/loss are checkable.
//   - opus: the 3-byte opus silence frame F8 FF FE (CELT, 20 ms) without a
//     marker (a marker would make the packet undecodable); only RTP order/loss
//     are checkable.
//
// # Payload marker (the one place it is defined)
//
// Bytes 0..3 are the ASCII magic "YNAS", bytes 4..7 a big-endian uint32
// counter that starts at 0 for the first audio packet of a stream and
// increases by one per audio packet sent (DTMF packets do not count). Use
// MarkPayload to write it and ParseMarker to read it; other tests (SIP side,
// gateway) generate and check the same stream with these helpers. In G.711
// the marker costs 1 ms of noise per packet; tone estimation skips it.
//
// Packets are written through a small webrtc.TrackLocal of this package
// (rawTrack) instead of TrackLocalStaticRTP, because the latter rewrites every
// packet's payload type to the bound codec and so cannot carry RFC 4733
// packets on the audio SSRC. Only pion's RTCP report interceptors are
// installed (sender/receiver reports like a media gateway; no NACK/TWCC).
// SRTP profiles offered in DTLS: AEAD_AES_128_GCM first, then
// AES128_CM_HMAC_SHA1_80; when the peer is the DTLS server it chooses
// (Chromium picks AES128_CM_HMAC_SHA1_80). Stats.SRTPProfile shows the result.
//
// Receiving counts audio packets, detects loss, reordering and duplicates by
// RTP sequence number and, when a marker is present, by marker counter
// (Stats.PayloadOK / PayloadBad), estimates the received tone frequency for
// G.711 by zero-crossing counting, and decodes RFC 4733 digits (a digit is
// counted once per event timestamp, when its first end packet arrives).
// WaitConnected, WaitPackets and WaitDigits let tests wait on these events.
//
// Sent DTMF: per digit 4 packets with growing duration (marker bit on the
// first), then 3 end packets with the final 100 ms duration, all with the
// event's start timestamp, then 120 ms of audio before the next digit
// (fact sheet §9.9 timing).
//
// Tests run real pion peers over 127.0.0.1, and headless Chromium (the
// browser the YNA SDK runs in) inside a private network namespace.
package farend

import "encoding/binary"

// MarkerMagic is the 4-byte magic that starts a marked payload.
const MarkerMagic = "YNAS"

// MarkerLen is the number of payload bytes the marker occupies.
const MarkerLen = 8

// MarkPayload writes the marker (MarkerMagic + big-endian counter) into the
// first MarkerLen bytes of buf. Buffers shorter than MarkerLen are left alone.
func MarkPayload(buf []byte, counter uint32) {
	if len(buf) < MarkerLen {
		return
	}
	copy(buf, MarkerMagic)
	binary.BigEndian.PutUint32(buf[4:MarkerLen], counter)
}

// ParseMarker returns the marker counter of payload and whether the payload
// carries a marker at all.
func ParseMarker(payload []byte) (counter uint32, ok bool) {
	if len(payload) < MarkerLen || string(payload[:4]) != MarkerMagic {
		return 0, false
	}
	return binary.BigEndian.Uint32(payload[4:MarkerLen]), true
}
