package rtpmedia

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"
	"go.uber.org/zap"
)

// SRTPMode is the SDES-SRTP policy toward a phone or trunk.
type SRTPMode int

// SRTP policies. The zero value is SRTPOff.
const (
	// SRTPOff: plain RTP only; RTP/SAVP offers are refused (488), a=crypto in
	// RTP/AVP offers is ignored.
	SRTPOff SRTPMode = iota
	// SRTPOptional: SRTP when the peer offers or accepts it, else plain RTP. Our
	// offers are RTP/AVP with a=crypto (best-effort SRTP, RFC 8643).
	SRTPOptional
	// SRTPRequired: SRTP or no call. Our offers are RTP/SAVP; plain offers and
	// answers are refused (488).
	SRTPRequired
)

// ParseSRTPMode parses "", "off", "optional" or "required".
func ParseSRTPMode(s string) (SRTPMode, error) {
	switch s {
	case "", "off":
		return SRTPOff, nil
	case "optional":
		return SRTPOptional, nil
	case "required":
		return SRTPRequired, nil
	}
	return SRTPOff, newError(ErrInvalidConfig, 500, "srtp %q is not off, optional or required", s)
}

// String returns "off", "optional" or "required".
func (m SRTPMode) String() string {
	switch m {
	case SRTPOptional:
		return "optional"
	case SRTPRequired:
		return "required"
	}
	return "off"
}

// SRTPKeys are the SDES keys of one negotiated stream.
type SRTPKeys struct {
	Suite  string // the negotiated crypto suite (both directions use it)
	Local  []byte // our master key||salt (in our SDP): protects what we send
	Remote []byte // the peer's master key||salt (in its SDP): unprotects what we receive
}

// srtpOverhead is the most SRTP adds to an RTP packet (80-bit tag, no MKI).
const srtpOverhead = 10

// srtpState is a leg's SRTP contexts. pion contexts are one-way and not safe for
// concurrent use: txRTP is used under Leg.sendMu, txRTCP under srtpTx.mu, rxRTP
// by the ReadRTP caller, rxRTCP by whoever reads RTCP (the RTCP goroutine, or
// ReadRTP with rtcp-mux). A state is immutable once published; SetSRTP builds a
// new one and keeps the contexts whose keys did not change (a fresh context for
// an unchanged key would restart the rollover counter and reuse keystream).
type srtpState struct {
	keys           SRTPKeys
	txRTP, rxRTP   *srtp.Context
	txRTCP, rxRTCP *srtp.Context
	txRTCPMu       *sync.Mutex
}

// newSRTPState builds the contexts for k, reusing those of old whose key is the same.
// Check reports whether SetSRTP would take k (a known suite, keys of its length)
// without changing any leg: a re-offer is checked first and its keys applied only
// once both sides agreed.
func (k *SRTPKeys) Check() error {
	if k == nil {
		return nil
	}
	_, err := k.suite()
	return err
}

func (k *SRTPKeys) suite() (suite, error) {
	s, ok := suites[k.Suite]
	if !ok {
		return s, srtpError("unsupported crypto suite %q", k.Suite)
	}
	if len(k.Local) != s.keyLen || len(k.Remote) != s.keyLen {
		return s, srtpError("SRTP keys of %d/%d bytes, want %d", len(k.Local), len(k.Remote), s.keyLen)
	}
	return s, nil
}

func newSRTPState(k *SRTPKeys, old *srtpState) (*srtpState, error) {
	s, err := k.suite()
	if err != nil {
		return nil, err
	}
	st := &srtpState{keys: SRTPKeys{Suite: k.Suite, Local: bytes.Clone(k.Local), Remote: bytes.Clone(k.Remote)}}
	same := old != nil && old.keys.Suite == k.Suite
	if same && bytes.Equal(old.keys.Local, k.Local) {
		st.txRTP, st.txRTCP, st.txRTCPMu = old.txRTP, old.txRTCP, old.txRTCPMu
	} else {
		var err error
		if st.txRTP, st.txRTCP, err = contexts(s.profile, k.Local); err != nil {
			return nil, err
		}
		st.txRTCPMu = &sync.Mutex{}
	}
	if same && bytes.Equal(old.keys.Remote, k.Remote) {
		st.rxRTP, st.rxRTCP = old.rxRTP, old.rxRTCP
	} else {
		var err error
		if st.rxRTP, st.rxRTCP, err = contexts(s.profile, k.Remote,
			srtp.SRTPReplayProtection(128), srtp.SRTCPReplayProtection(64)); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// contexts returns one RTP and one RTCP context for a master key||salt.
func contexts(p srtp.ProtectionProfile, keySalt []byte, opts ...srtp.ContextOption) (*srtp.Context, *srtp.Context, error) {
	kl, err := p.KeyLen()
	if err != nil {
		return nil, nil, fmt.Errorf("rtpmedia: SRTP profile: %w", err)
	}
	key, salt := keySalt[:kl], keySalt[kl:]
	r, err := srtp.CreateContext(key, salt, p, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("rtpmedia: SRTP context: %w", err)
	}
	c, err := srtp.CreateContext(key, salt, p, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("rtpmedia: SRTCP context: %w", err)
	}
	return r, c, nil
}

// SetSRTP turns SDES-SRTP on (or rekeys it) with k, or off with nil. Contexts of
// a key that did not change are kept, so a re-INVITE repeating the same keys
// changes nothing. Safe to call while media flows.
func (l *Leg) SetSRTP(k *SRTPKeys) error {
	if k == nil {
		l.srtp.Store(nil)
		return nil
	}
	st, err := newSRTPState(k, l.srtp.Load())
	if err != nil {
		return err
	}
	l.srtp.Store(st)
	return nil
}

// SRTP returns the leg's current keys (nil: plain RTP).
func (l *Leg) SRTP() *SRTPKeys {
	st := l.srtp.Load()
	if st == nil {
		return nil
	}
	k := st.keys
	return &k
}

// protectRTP encrypts the marshalled packet buf[:n] in place (buf has room
// for the tag) and returns the wire bytes. Called under sendMu.
func (l *Leg) protectRTP(st *srtpState, buf []byte, n int) ([]byte, error) {
	out, err := st.txRTP.EncryptRTP(buf[:n], buf[:n], &l.sendHdr)
	if err != nil {
		return nil, fmt.Errorf("rtpmedia: SRTP protect: %w", err)
	}
	return out, nil
}

// unprotectRTP authenticates and decrypts pkt in place; ok false means drop.
// Called by the ReadRTP caller only.
func (l *Leg) unprotectRTP(st *srtpState, pkt []byte) ([]byte, bool) {
	out, err := st.rxRTP.DecryptRTP(pkt, pkt, &l.rdHdr)
	if err != nil {
		l.srtpFailed(err)
		return nil, false
	}
	return out, true
}

// protectRTCP returns the SRTCP form of a compound RTCP packet (RTCP is rare:
// this may allocate).
func protectRTCP(st *srtpState, b []byte) ([]byte, error) {
	st.txRTCPMu.Lock()
	defer st.txRTCPMu.Unlock()
	out, err := st.txRTCP.EncryptRTCP(make([]byte, 0, len(b)+srtpOverhead+4), b, nil)
	if err != nil {
		return nil, fmt.Errorf("rtpmedia: SRTCP protect: %w", err)
	}
	return out, nil
}

// unprotectRTCP authenticates and decrypts an SRTCP packet in place.
func (l *Leg) unprotectRTCP(b []byte) ([]byte, bool) {
	st := l.srtp.Load()
	if st == nil {
		return b, true
	}
	var h rtcp.Header
	out, err := st.rxRTCP.DecryptRTCP(b, b, &h)
	if err != nil {
		l.srtpFailed(err)
		return nil, false
	}
	return out, true
}

// srtpFailed counts a packet that failed SRTP authentication (or replay) and
// logs the first one of the leg.
func (l *Leg) srtpFailed(err error) {
	l.drop()
	if l.srtpFailN.Add(1) == 1 {
		l.log.Info("SRTP packet dropped (further ones are only counted in the leg stats)", zap.Error(err))
	}
}
