// Package e2e holds the end-to-end tests of ynagw: the simulated T-Mobile side (ynasim),
// the SIP server and the bridge Gateway run in-process over 127.0.0.1, and real SIP peers
// (sipp, baresip) run as subprocesses playing desk phones and PBXs.
package e2e

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
