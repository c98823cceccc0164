package ynasim

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/ynagw/ynagw/yna"
)

// errBadSDP classifies SDP the simulator rejects with 400.
var errBadSDP = errors.New("bad sdp")

// SDP directions as written in a=<direction> lines.
const (
	dirSendRecv = "sendrecv"
	dirSendOnly = "sendonly"
	dirRecvOnly = "recvonly"
	dirInactive = "inactive"
)

// parseAudioSDP parses s and returns the direction of its first active audio stream. It fails
// (wrapping errBadSDP) when s is not SDP or has no audio m-line with a non-zero port. It never
// panics.
func parseAudioSDP(s string) (dir string, err error) {
	defer func() {
		if r := recover(); r != nil {
			dir, err = "", fmt.Errorf("%w: unparseable (%v)", errBadSDP, r)
		}
	}()
	if strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("%w: empty", errBadSDP)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(s); err != nil {
		return "", fmt.Errorf("%w: %v", errBadSDP, err)
	}
	sessionDir := directionOf(sd.Attributes)
	for _, md := range sd.MediaDescriptions {
		if md == nil || md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		if d := directionOf(md.Attributes); d != "" {
			return d, nil
		}
		if sessionDir != "" {
			return sessionDir, nil
		}
		return dirSendRecv, nil
	}
	return "", fmt.Errorf("%w: no audio stream", errBadSDP)
}

func directionOf(attrs []sdp.Attribute) string {
	for _, a := range attrs {
		switch a.Key {
		case dirSendRecv, dirSendOnly, dirRecvOnly, dirInactive:
			return a.Key
		}
	}
	return ""
}

// requireDirection parses s and checks that its audio direction is one of allowed.
func requireDirection(s string, allowed ...string) (string, error) {
	dir, err := parseAudioSDP(s)
	if err != nil {
		return "", err
	}
	for _, a := range allowed {
		if dir == a {
			return dir, nil
		}
	}
	return dir, fmt.Errorf("%w: a=%s, want one of %s", errBadSDP, dir, strings.Join(allowed, "/"))
}

// mediaIndicatorDirection maps an SDP direction to the spec's MediaDirection enum.
func mediaIndicatorDirection(dir string) string {
	switch dir {
	case dirSendOnly:
		return yna.DirectionSendOnly
	case dirRecvOnly:
		return yna.DirectionRecvOnly
	case dirInactive:
		return yna.DirectionInactive
	}
	return yna.DirectionSendRecv
}
