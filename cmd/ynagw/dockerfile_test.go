package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ynagw/ynagw/config"
)

// instruction is one Dockerfile instruction (continuation lines joined).
type instruction struct{ cmd, args string }

// dockerfile parses ../../Dockerfile into its stages' instructions.
func dockerfile(t *testing.T) (stages [][]instruction) {
	t.Helper()
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var cur string
	flush := func() {
		cur = strings.TrimSpace(cur)
		if cur == "" {
			return
		}
		cmd, args, _ := strings.Cut(cur, " ")
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(args)}
		if in.cmd == "FROM" || len(stages) == 0 {
			stages = append(stages, nil)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
		cur = ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if s, ok := strings.CutSuffix(strings.TrimRight(l, " \t"), "\\"); ok {
			cur += s + " "
			continue
		}
		cur += l
		flush()
	}
	flush()
	return stages
}

func all(stage []instruction, cmd string) []string {
	var out []string
	for _, in := range stage {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// exposed parses EXPOSE arguments into "port/proto" -> true (ranges expanded as bounds).
type portRange struct {
	lo, hi int
	proto  string
}

func exposedRanges(t *testing.T, exposes []string) []portRange {
	t.Helper()
	var out []portRange
	for _, e := range exposes {
		for _, f := range strings.Fields(e) {
			ports, proto, ok := strings.Cut(f, "/")
			if !ok {
				proto = "tcp"
			}
			lo, hi, isRange := strings.Cut(ports, "-")
			if !isRange {
				hi = lo
			}
			l, err1 := strconv.Atoi(lo)
			h, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil || l > h {
				t.Fatalf("EXPOSE %q: bad port %q", e, f)
			}
			out = append(out, portRange{l, h, proto})
		}
	}
	return out
}

func covered(rs []portRange, lo, hi int, proto string) bool {
	for _, r := range rs {
		if r.proto == proto && r.lo <= lo && hi <= r.hi {
			return true
		}
	}
	return false
}

// TestDockerfile: the image's last stage has a HEALTHCHECK that runs `ynagw health`
// (distroless has no shell or curl), EXPOSEs exactly what the configuration defaults
// listen on (SIP, admin, the RTP range of config/defaults.go) plus the WebRTC range
// of the example configuration, and stamps the version from ARG VERSION (issue 11: no
// HEALTHCHECK, EXPOSE 10000-10999/udp against a default range of 10000-20000, no
// WebRTC ports, version "devel"). The build stage's go build command is run here as
// written, with VERSION set, and the binary must report that version. No Docker engine
// runs in the tests: the image itself is not built.
func TestDockerfile(t *testing.T) {
	stages := dockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a build stage and the image", len(stages))
	}
	final := stages[len(stages)-1]

	if hc := all(final, "HEALTHCHECK"); len(hc) != 1 {
		t.Errorf("HEALTHCHECK in the image: %q, want one", hc)
	} else {
		checkHealthcheck(t, hc[0])
	}

	rs := exposedRanges(t, all(final, "EXPOSE"))
	_, sipPort, _ := strings.Cut(config.DefaultUDPBind, ":")
	_, tlsPort, _ := strings.Cut(config.DefaultTLSBind, ":")
	_, adminPort, _ := strings.Cut(config.DefaultAdminListen, ":")
	port := func(s string) int { n, _ := strconv.Atoi(s); return n }
	want := []portRange{
		{port(sipPort), port(sipPort), "udp"}, {port(sipPort), port(sipPort), "tcp"}, {port(tlsPort), port(tlsPort), "tcp"},
		{port(adminPort), port(adminPort), "tcp"},
		{config.DefaultRTPPortMin, config.DefaultRTPPortMax, "udp"},
	}
	// WebRTC has no default range (ephemeral ports); the image documents the example's.
	ex, err := os.ReadFile("../../configs/ynagw.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var exCfg struct {
		Webrtc struct {
			Min int `yaml:"udp_port_min"`
			Max int `yaml:"udp_port_max"`
		} `yaml:"webrtc"`
	}
	if err := yaml.Unmarshal(ex, &exCfg); err != nil || exCfg.Webrtc.Min == 0 {
		t.Fatalf("webrtc range of configs/ynagw.yaml: %v %+v", err, exCfg)
	}
	want = append(want, portRange{exCfg.Webrtc.Min, exCfg.Webrtc.Max, "udp"})
	for _, w := range want {
		if !covered(rs, w.lo, w.hi, w.proto) {
			t.Errorf("EXPOSE does not cover %d-%d/%s (have %v)", w.lo, w.hi, w.proto, rs)
		}
	}
	for _, r := range rs {
		ok := false
		for _, w := range want {
			ok = ok || (r == w)
		}
		if !ok {
			t.Errorf("EXPOSE %d-%d/%s matches no configuration default", r.lo, r.hi, r.proto)
		}
	}

	// ARG VERSION in the build stage, passed to the linker.
	var build []instruction
	for _, s := range stages[:len(stages)-1] {
		for _, r := range all(s, "RUN") {
			if strings.Contains(r, "go build") {
				build = s
			}
		}
	}
	if build == nil {
		t.Fatal("no build stage with go build")
	}
	hasArg := false
	for _, a := range all(build, "ARG") {
		hasArg = hasArg || a == "VERSION" || strings.HasPrefix(a, "VERSION=")
	}
	if !hasArg {
		t.Error("the build stage has no ARG VERSION")
	}
	if testing.Short() {
		return
	}
	var goBuild string
	for _, r := range all(build, "RUN") {
		if strings.Contains(r, "go build") {
			goBuild = r
		}
	}
	for strings.HasPrefix(goBuild, "--") { // RUN flags (--mount=...)
		_, goBuild, _ = strings.Cut(goBuild, " ")
		goBuild = strings.TrimSpace(goBuild)
	}
	out := t.TempDir()
	script := strings.ReplaceAll(goBuild, "/out/", out+"/")
	cmd := exec.Command("/bin/sh", "-ec", script)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "VERSION=v0.0.0-docker-test")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's build command %q: %v\n%s", script, err, b)
	}
	bin := filepath.Join(out, "ynagw")
	if got, err := exec.Command(bin, "--version").Output(); err != nil || strings.TrimSpace(string(got)) != "ynagw v0.0.0-docker-test" {
		t.Errorf("image binary --version: %q, %v; want ynagw v0.0.0-docker-test", got, err)
	}
}

// checkHealthcheck: HEALTHCHECK [--option=value...] CMD ["/ynagw", "health", ...], the
// liveness probe (not -ready).
func checkHealthcheck(t *testing.T, hc string) {
	t.Helper()
	i := strings.Index(hc, "CMD ")
	if i < 0 {
		t.Errorf("HEALTHCHECK %q has no CMD", hc)
		return
	}
	var argv []string
	if err := json.Unmarshal([]byte(strings.TrimSpace(hc[i+4:])), &argv); err != nil {
		t.Errorf("HEALTHCHECK CMD %q is not the exec (JSON) form distroless needs: %v", hc[i+4:], err)
		return
	}
	if len(argv) < 2 || argv[0] != "/ynagw" || argv[1] != "health" {
		t.Errorf("HEALTHCHECK runs %q, want /ynagw health", argv)
	}
	if slices.Contains(argv, "-ready") {
		t.Errorf("HEALTHCHECK runs %q: readiness marks a first start (no line linked) unhealthy; probe liveness", argv)
	}
	opts := strings.Fields(hc[:i])
	for _, o := range opts {
		k, _, ok := strings.Cut(o, "=")
		switch k {
		case "--interval", "--timeout", "--start-period", "--start-interval", "--retries":
		default:
			t.Errorf("HEALTHCHECK option %q is not one Docker knows", o)
		}
		if !ok {
			t.Errorf("HEALTHCHECK option %q has no value", o)
		}
	}
}
