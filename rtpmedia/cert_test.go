package rtpmedia

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// TestSharedDTLSCertificate: the legs of one engine offer the same DTLS
// fingerprint (one certificate, not a key pair per call), and a certificate
// within a day of its expiry is replaced for new legs.
func TestSharedDTLSCertificate(t *testing.T) {
	e := newTestEngine(t, nil)
	fingerprint := func() string {
		l := newTestWebRTCLeg(t, e, []Codec{pcmu})
		offer, err := l.CreateOffer(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(offer, "\r\n") {
			if strings.HasPrefix(line, "a=fingerprint:") {
				return line
			}
		}
		t.Fatalf("no fingerprint in\n%s", offer)
		return ""
	}
	a, b := fingerprint(), fingerprint()
	if a != b {
		t.Errorf("two legs of one engine: %q and %q", a, b)
	}
	sk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	old, err := webrtc.NewCertificate(sk, x509.Certificate{SerialNumber: big.NewInt(1),
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	e.certMu.Lock()
	e.cert = old
	e.certMu.Unlock()
	got, err := e.certificate()
	if err != nil {
		t.Fatal(err)
	}
	if !got.Expires().After(time.Now().Add(certRenewBefore)) {
		t.Errorf("certificate expiring %v was not replaced (got one expiring %v)", old.Expires(), got.Expires())
	}
	if c := fingerprint(); c == a {
		t.Error("a leg after the renewal still offers the old fingerprint")
	}
}
