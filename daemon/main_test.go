package daemon

import (
	"fmt"
	"os"
	"testing"

	"github.com/ynagw/ynagw/internal/pgtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.StopShared() // the PostgreSQL of the clustered-mode tests, if one started
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
