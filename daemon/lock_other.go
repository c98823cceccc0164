//go:build !unix

package daemon

// storeLock: no flock(2) outside Unix; one daemon per store is then up to the operator.
type storeLock struct{}

func lockStore(string) (*storeLock, error) { return nil, nil }

func (l *storeLock) release() {}

func lockHolder(string) (string, bool) { return "", false }
