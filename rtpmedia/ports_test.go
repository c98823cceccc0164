package rtpmedia

import (
	"errors"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestNewPortAllocatorRange(t *testing.T) {
	tests := []struct {
		min, max int
		size     int // 0 = error
	}{
		{20000, 20009, 5},
		{20001, 20010, 4}, // 20002..20008 (20010 has no RTCP port inside)
		{20000, 20001, 1},
		{20000, 20000, 0},
		{20001, 20002, 0},
		{500, 600, 0},
		{30000, 70000, 0},
		{30000, 20000, 0},
		{65534, 65535, 1},
	}
	for _, tt := range tests {
		a, err := NewPortAllocator(tt.min, tt.max, time.Second)
		if tt.size == 0 {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("%d-%d: err %v, want ErrInvalidConfig", tt.min, tt.max, err)
			}
			continue
		}
		if err != nil || a.Size() != tt.size {
			t.Errorf("%d-%d: size %v err %v, want %d", tt.min, tt.max, a, err, tt.size)
		}
	}
}

func TestPortAllocatorExhaustionAndQuarantine(t *testing.T) {
	a, err := NewPortAllocator(20000, 20007, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: time.Unix(1000, 0)}
	a.now = clk.now
	var got []int
	for i := 0; i < 4; i++ {
		p, err := a.Allocate()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	want := []int{20000, 20002, 20004, 20006}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("allocated %v, want %v", got, want)
		}
	}
	if _, err := a.Allocate(); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("exhausted: err %v", err)
	}
	var se interface{ SIPStatus() int }
	if _, err := a.Allocate(); !errors.As(err, &se) || se.SIPStatus() != 503 {
		t.Fatalf("ErrNoPorts should map to 503: %v", err)
	}
	a.Release(20002)
	a.Release(20002) // double release is harmless
	a.Release(12345) // unknown port is ignored
	if a.InUse() != 3 {
		t.Fatalf("InUse %d", a.InUse())
	}
	if _, err := a.Allocate(); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("quarantined port handed out: %v", err)
	}
	clk.advance(9 * time.Second)
	if _, err := a.Allocate(); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("port handed out before quarantine end: %v", err)
	}
	clk.advance(time.Second)
	p, err := a.Allocate()
	if err != nil || p != 20002 {
		t.Fatalf("after quarantine: %d %v", p, err)
	}
}

func TestPortAllocatorRoundRobin(t *testing.T) {
	a, err := NewPortAllocator(20000, 20009, 0)
	if err != nil {
		t.Fatal(err)
	}
	p1, _ := a.Allocate()
	a.Release(p1)
	p2, _ := a.Allocate()
	if p1 == p2 {
		t.Fatalf("released port %d reused immediately although others are free", p1)
	}
}

func TestPortAllocatorConcurrent(t *testing.T) {
	a, err := NewPortAllocator(20000, 20199, 0) // 100 ports
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[int]bool{}
	var wg sync.WaitGroup
	for g := 0; g < 10; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				p, err := a.Allocate()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[p] {
					t.Errorf("port %d handed out twice", p)
				}
				seen[p] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 100 || a.InUse() != 100 {
		t.Fatalf("seen %d in use %d", len(seen), a.InUse())
	}
	if _, err := a.Allocate(); !errors.Is(err, ErrNoPorts) {
		t.Fatal(err)
	}
}
