package daemon

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ynagw/ynagw/yna"
)

// TestMinimalConfig (issue 11): configs/minimal.yaml needs at most five edits, each
// marked EDIT; unedited, check-config names exactly those; after them it says OK (store
// included: Preflight is what run does before it starts).
func TestMinimalConfig(t *testing.T) {
	src, err := os.ReadFile("../configs/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	edits := regexp.MustCompile(`(?m)# EDIT (\d):`).FindAllStringSubmatch(string(src), -1)
	if len(edits) == 0 || len(edits) > 5 {
		t.Fatalf("%d edits marked, want 1 to 5", len(edits))
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "ynagw.yaml")
	if err := os.WriteFile(p, src, 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := CheckConfig(p, &out); err == nil {
		t.Fatal("unedited starter config accepted")
	}
	wantFields := []string{"yna.client_id", "yna.client_secret_file", "yna.pop_key_file", "lines[0].msisdn", "store.key_file"}
	if len(wantFields) != len(edits) {
		t.Fatalf("test knows %d edits, file marks %d", len(wantFields), len(edits))
	}
	problems := strings.Split(strings.TrimSpace(out.String()), "\n")
	for _, f := range wantFields {
		if !strings.Contains(out.String(), f) {
			t.Errorf("unedited: check-config does not name %s:\n%s", f, out.String())
		}
	}
	if len(problems) != len(wantFields) {
		t.Errorf("unedited: %d problems, want one per edit:\n%s", len(problems), out.String())
	}

	// The edits, as the comments say.
	y := strings.Replace(string(src), `client_id: ""`, `client_id: my-app`, 1)
	y = strings.Replace(y, `msisdn: ""`, `msisdn: "+1 425 555 0100"`, 1)
	pemb, err := yna.MarshalPrivateKeyPEM(appKey())
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"client-secret.txt": []byte("s3cret\n"),
		"pop.pem":           pemb,
		"store.key":         []byte(hex.EncodeToString(testKey(t)) + "\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Its fixed ports (SIP 5060, admin 8080) moved to free ones: check-config and run bind
	// them, and others on this machine may hold them.
	y = strings.Replace(y, `bind: "127.0.0.1:5060"`, `bind: "127.0.0.1:0"`, 1) + "admin:\n  listen: 127.0.0.1:0\n"
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := CheckConfig(p, &out); err != nil || strings.TrimSpace(out.String()) != "OK" {
		t.Fatalf("edited starter config: %v\n%s", err, out.String())
	}
	// And run starts with it.
	if err := startStage(t, p); err != nil {
		t.Fatalf("run with the edited starter config: %v", err)
	}
}
