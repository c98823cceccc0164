package rtpmedia

import (
	"sync"
	"time"
)

// PortAllocator hands out even RTP ports p in [min, max] with p+1 <= max (the
// RTCP port). A released port is quarantined for a while before it is handed
// out again, so a new call never receives the tail of an old call's media.
// Allocation is round-robin over the range. It is safe for concurrent use.
type PortAllocator struct {
	mu         sync.Mutex
	first      int // first even port
	last       int // last even port
	quarantine time.Duration
	now        func() time.Time // injectable clock (tests)
	next       int
	inUse      map[int]struct{}
	released   map[int]time.Time // port → release time, while quarantined
}

// NewPortAllocator returns an allocator for the RTP port range [min, max].
func NewPortAllocator(min, max int, quarantine time.Duration) (*PortAllocator, error) {
	first := min + min%2
	last := max - 1
	last -= last % 2
	if min < 1024 || max > 65535 || first > last || quarantine < 0 {
		return nil, newError(ErrInvalidConfig, 500, "RTP port range %d-%d must hold an even/odd pair within 1024-65535", min, max)
	}
	return &PortAllocator{
		first:      first,
		last:       last,
		quarantine: quarantine,
		now:        time.Now,
		next:       first,
		inUse:      map[int]struct{}{},
		released:   map[int]time.Time{},
	}, nil
}

// Size returns the number of RTP ports (port pairs) in the range.
func (a *PortAllocator) Size() int { return (a.last-a.first)/2 + 1 }

// InUse returns the number of allocated ports.
func (a *PortAllocator) InUse() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.inUse)
}

// Allocate returns a free even RTP port. It returns ErrNoPorts when every port
// is in use or quarantined.
func (a *PortAllocator) Allocate() (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	n := a.Size()
	for i := 0; i < n; i++ {
		p := a.next
		a.next += 2
		if a.next > a.last {
			a.next = a.first
		}
		if _, used := a.inUse[p]; used {
			continue
		}
		if t, q := a.released[p]; q {
			if now.Sub(t) < a.quarantine {
				continue
			}
			delete(a.released, p)
		}
		a.inUse[p] = struct{}{}
		return p, nil
	}
	return 0, newError(ErrNoPorts, 503, "%d ports in use, %d quarantined", len(a.inUse), len(a.released))
}

// Release returns port to the pool after the quarantine. Releasing a port that
// is not allocated does nothing.
func (a *PortAllocator) Release(port int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.inUse[port]; !ok {
		return
	}
	delete(a.inUse, port)
	if a.quarantine > 0 {
		a.released[port] = a.now()
	}
}
