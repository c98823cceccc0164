package bridge

import "sync"

// mailbox is an unbounded FIFO with a wake-up channel: producers never block, the single
// consumer (a call goroutine) selects on C() and drains with take.
type mailbox[T any] struct {
	mu     sync.Mutex
	items  []T
	signal chan struct{}
}

func newMailbox[T any]() *mailbox[T] { return &mailbox[T]{signal: make(chan struct{}, 1)} }

func (m *mailbox[T]) put(v T) {
	m.mu.Lock()
	m.items = append(m.items, v)
	m.mu.Unlock()
	select {
	case m.signal <- struct{}{}:
	default:
	}
}

// C is signalled after put.
func (m *mailbox[T]) C() <-chan struct{} { return m.signal }

// take returns everything queued.
func (m *mailbox[T]) take() []T {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.items
	m.items = nil
	return out
}
