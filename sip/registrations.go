package sip

// Registration bindings behind an interface, so that several ynagw nodes can
// share them (issue 13): the node that owns a line rings every phone of it,
// also those that registered through another node. Such a binding carries the
// Path (RFC 3327) of the proxy in front (Kamailio), and the INVITE goes out
// with that Path as its Route set, so the proxy, which holds the phone's flow,
// delivers it.

import (
	"context"
	"strings"
	"sync"
	"time"
)

// RegistrationStore keeps the registrar's bindings (Contact values). Keys are
// the binding's User (the lower-case user name, Contact.User) and its Contact
// URI (Contact.URI). Implementations must be safe for concurrent use.
//
// The default (Config.Registrations nil) is a MemoryRegistrations private to
// the Server. A store shared by several nodes (PostgreSQL, in store/) lets a
// node ring phones registered through another. The registrar still keeps its
// own bindings in memory too (keep-alive OPTIONS, connection reuse and the
// Registrations count are about this node's bindings only).
type RegistrationStore interface {
	// Put adds the binding (c.User, c.URI) or replaces it, whichever node
	// wrote it before.
	Put(ctx context.Context, c Contact) error
	// Delete removes the binding (user, uri); a missing one is no error.
	Delete(ctx context.Context, user, uri string) error
	// Lookup returns the bindings of user, in any order. It may include
	// expired ones (Contact.Expires in the past); the registrar drops them.
	Lookup(ctx context.Context, user string) ([]Contact, error)
}

// storeTimeout bounds one RegistrationStore call made by the registrar.
const storeTimeout = 3 * time.Second

// lookupTimeout bounds the Lookup of Server.Contacts: ringing a line asks once
// per ring user while the caller waits, and falls back to this node's own
// bindings when the store does not answer in time.
const lookupTimeout = time.Second

// MemoryRegistrations is the in-memory RegistrationStore. One value may be
// shared by several Servers of one process (tests of the shared mode).
type MemoryRegistrations struct {
	mu sync.Mutex
	m  map[string][]Contact // by user
}

// NewMemoryRegistrations returns an empty store.
func NewMemoryRegistrations() *MemoryRegistrations {
	return &MemoryRegistrations{m: map[string][]Contact{}}
}

var _ RegistrationStore = (*MemoryRegistrations)(nil)

// Put implements RegistrationStore.
func (m *MemoryRegistrations) Put(ctx context.Context, c Contact) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Path = append([]string(nil), c.Path...)
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	bs := m.m[c.User]
	keep := bs[:0]
	for _, b := range bs {
		if b.URI != c.URI && b.Expires.After(now) {
			keep = append(keep, b)
		}
	}
	m.m[c.User] = append(keep, c)
	return nil
}

// Delete implements RegistrationStore.
func (m *MemoryRegistrations) Delete(ctx context.Context, user, uri string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	bs := m.m[user]
	keep := bs[:0]
	for _, b := range bs {
		if b.URI != uri {
			keep = append(keep, b)
		}
	}
	if len(keep) == 0 {
		delete(m.m, user)
	} else {
		m.m[user] = keep
	}
	return nil
}

// Lookup implements RegistrationStore; it returns only unexpired bindings.
func (m *MemoryRegistrations) Lookup(ctx context.Context, user string) ([]Contact, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	var out []Contact
	for _, b := range m.m[user] {
		if b.Expires.After(now) {
			b.Path = append([]string(nil), b.Path...)
			out = append(out, b)
		}
	}
	return out, nil
}

// purgeExpired drops every expired binding (the registrar's housekeeping calls
// it, so users that never register again do not stay in memory).
func (m *MemoryRegistrations) purgeExpired(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for u, bs := range m.m {
		keep := bs[:0]
		for _, b := range bs {
			if b.Expires.After(now) {
				keep = append(keep, b)
			}
		}
		if len(keep) == 0 {
			delete(m.m, u)
		} else {
			m.m[u] = keep
		}
	}
}

// pathValues returns the URIs' name-addr values of every Path header of a
// REGISTER, top first, each as sent (e.g. "<sip:127.0.0.1:5060;lr>").
func pathValues(hs []string) []string {
	var out []string
	for _, h := range hs {
		for _, p := range splitContacts(h) {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// hasOptionTag reports whether a Supported/Require header value lists tag.
func hasOptionTag(values []string, tag string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), tag) {
				return true
			}
		}
	}
	return false
}
