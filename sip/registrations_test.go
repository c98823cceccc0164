package sip

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestMemoryRegistrations(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryRegistrations()
	now := time.Now()
	a := Contact{User: "alice", URI: "sip:alice@10.0.0.1", Expires: now.Add(time.Minute), Node: "n1", Path: []string{"<sip:p;lr>"}}
	b := Contact{User: "alice", URI: "sip:alice@10.0.0.2", Expires: now.Add(-time.Second)} // expired
	for _, c := range []Contact{a, b} {
		if err := m.Put(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := m.Lookup(ctx, "alice")
	if err != nil || len(got) != 1 || got[0].URI != a.URI || got[0].Node != "n1" || len(got[0].Path) != 1 {
		t.Fatalf("Lookup = %+v, %v; want only the unexpired binding with its Path and Node", got, err)
	}
	got[0].Path[0] = "changed" // callers get copies
	a2 := a
	a2.Node, a2.CSeq = "n2", 7
	if err := m.Put(ctx, a2); err != nil {
		t.Fatal(err)
	}
	got, _ = m.Lookup(ctx, "alice")
	if len(got) != 1 || got[0].Node != "n2" || got[0].CSeq != 7 || got[0].Path[0] != "<sip:p;lr>" {
		t.Fatalf("after replace: %+v; want one binding, written by n2, Path untouched", got)
	}
	if err := m.Delete(ctx, "alice", a.URI); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Lookup(ctx, "alice"); len(got) != 0 {
		t.Fatalf("after Delete: %+v", got)
	}
	if err := m.Delete(ctx, "nobody", "sip:x@y"); err != nil {
		t.Fatalf("Delete of a missing binding: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Lookup(cctx, "alice"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lookup with a cancelled context = %v", err)
	}
}

// registerWith registers u as alice (digest) with extra header lines and
// returns the 200.
func registerWith(t *testing.T, u *rawUA, callID string, hdrs ...string) map[string][]string {
	t.Helper()
	toAlice := func(m string) string { return strings.Replace(m, "To: <sip:2000@", "To: <sip:alice@", 1) }
	u.send(toAlice(u.req("REGISTER", callID, "a", "", 1, "", append([]string{"Expires: 600"}, hdrs...)...)))
	ch := u.expect(401).GetHeader("WWW-Authenticate").Value()
	creds := answerChallenge(t, ch, "alice", "alicepw", "REGISTER", "sip:2000@"+u.srv.String())
	u.send(toAlice(u.req("REGISTER", callID, "a", "", 2, "", append([]string{"Expires: 600", "Authorization: " + creds}, hdrs...)...)))
	res := u.expect(200)
	out := map[string][]string{}
	for _, h := range res.Headers() {
		out[strings.ToLower(h.Name())] = append(out[strings.ToLower(h.Name())], h.Value())
	}
	return out
}

// TestSharedRegistrationsRingThroughPath: two Servers share one store. A phone
// registers with node a through a proxy (Path); node b sees the binding with
// its Path and node, and its INVITE to the phone goes to the proxy with the
// Path as Route (loose routing: the Request-URI stays the Contact). The 200 to
// the REGISTER echoes the Path only when the UA said Supported: path.
func TestSharedRegistrationsRingThroughPath(t *testing.T) {
	shared := NewMemoryRegistrations()
	a := newTestServer(t, func(c *Config) { c.Registrations, c.NodeID = shared, "a" })
	b := newTestServer(t, func(c *Config) { c.Registrations, c.NodeID = shared, "b" })

	proxy := newRawUA(t, b.Addr("udp")) // stands for the proxy in front; it hears node b's INVITE
	path := "<sip:" + proxy.local() + ";lr;received=sip:10.9.9.9:5062>"
	phone := newRawUA(t, a.Addr("udp"))
	hs := registerWith(t, phone, "path-reg", "Path: "+path, "Supported: path")
	if got := strings.Join(hs["path"], ","); got != path {
		t.Fatalf("200 to a REGISTER with Supported: path has Path %q, want %q", got, path)
	}

	cs := b.Contacts("alice")
	if len(cs) != 1 {
		t.Fatalf("node b sees %d bindings of alice, want 1: %+v", len(cs), cs)
	}
	c := cs[0]
	if len(c.Path) != 1 || c.Path[0] != path || c.Node != "a" || c.User != "alice" || c.AOR != "sip:alice@ynagw" {
		t.Fatalf("binding seen by b = %+v; want Path [%s], Node a, User alice", c, path)
	}
	if a.Registrations() != 1 || b.Registrations() != 0 {
		t.Fatalf("Registrations: a=%d b=%d, want 1 and 0 (counted where accepted)", a.Registrations(), b.Registrations())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o, err := b.Dial(ctx, DialRequest{From: "sip:+15550001@ynagw", Targets: []Target{{URI: c.URI, Route: c.Path, Destination: "127.0.0.1:9"}},
		Offer: []byte(rawSDP("sendrecv"))})
	if err != nil {
		t.Fatal(err)
	}
	inv := proxy.expectRequest("INVITE")
	if inv.Recipient.String() != c.URI {
		t.Errorf("INVITE Request-URI %s, want the Contact %s", inv.Recipient.String(), c.URI)
	}
	var routes []string
	for _, h := range inv.GetHeaders("Route") {
		routes = append(routes, h.Value())
	}
	if len(routes) != 1 || routes[0] != path {
		t.Errorf("INVITE Route %q, want [%s]", routes, path)
	}
	proxy.reply(inv, 486, "")
	for ev := range o.Events() {
		if f, ok := ev.(*FailedEvent); ok && f.Code != 486 {
			t.Errorf("fork failed with %d, want the 486 sent through the proxy", f.Code)
		}
	}
	<-o.Done()

	// without Supported: path the Path is stored but not echoed
	phone2 := newRawUA(t, a.Addr("udp"))
	hs = registerWith(t, phone2, "path-reg2", "Path: "+path)
	if len(hs["path"]) != 0 {
		t.Errorf("200 to a REGISTER without Supported: path carries Path %q", hs["path"])
	}
	if n := len(b.Contacts("alice")); n != 2 {
		t.Errorf("node b sees %d bindings of alice, want 2", n)
	}
}

type failingStore struct{ MemoryRegistrations }

var errStoreDown = errors.New("store down")

func (*failingStore) Lookup(context.Context, string) ([]Contact, error) { return nil, errStoreDown }

// TestRegistrationStoreDown: a REGISTER the store cannot serve gets 500 with
// Retry-After (one log line, counted like every response), never a 200.
func TestRegistrationStoreDown(t *testing.T) {
	s := newTestServer(t, func(c *Config) { c.Registrations = &failingStore{MemoryRegistrations: *NewMemoryRegistrations()} })
	u := newRawUA(t, s.Addr("udp"))
	toAlice := func(m string) string { return strings.Replace(m, "To: <sip:2000@", "To: <sip:alice@", 1) }
	u.send(toAlice(u.req("REGISTER", "down", "a", "", 1, "")))
	ch := u.expect(401).GetHeader("WWW-Authenticate").Value()
	creds := answerChallenge(t, ch, "alice", "alicepw", "REGISTER", "sip:2000@"+u.srv.String())
	u.send(toAlice(u.req("REGISTER", "down", "a", "", 2, "", "Authorization: "+creds)))
	res := u.expect(500)
	if res.GetHeader("Retry-After") == nil {
		t.Errorf("500 without Retry-After: %s", res)
	}
	if n := s.Registrations(); n != 0 {
		t.Errorf("Registrations = %d after a failed REGISTER", n)
	}
}

// TestKeepAliveThroughPathAndSharedDrop: keep-alive OPTIONS to a binding with a
// Path go to the first Path hop with the Path as Route. When they fail, the node
// drops its binding from the shared store, unless the phone has registered again
// meanwhile (here through node b): that newer binding stays.
func TestKeepAliveThroughPathAndSharedDrop(t *testing.T) {
	shared := NewMemoryRegistrations()
	a := newTestServer(t, func(c *Config) {
		c.Registrations, c.NodeID = shared, "a"
		c.Registrar.KeepAlive = 100 * time.Millisecond
	})
	b := newTestServer(t, func(c *Config) { c.Registrations, c.NodeID = shared, "b" })
	const contact = "<sip:alice@127.0.0.1:9>"
	withContact := func(u *rawUA) func(string) string {
		return func(m string) string {
			return strings.Replace(m, "Contact: <sip:raw@"+u.local()+">", "Contact: "+contact, 1)
		}
	}
	proxy := newRawUA(t, a.Addr("udp"))
	path := "<sip:" + proxy.local() + ";lr>"
	phoneA := newRawUA(t, a.Addr("udp"))
	registerVia(t, phoneA, "ka-a", withContact(phoneA), "Path: "+path)

	opt := proxy.expectRequest("OPTIONS")
	if got := hdrs(opt, "Route"); len(got) != 1 || got[0] != path {
		t.Errorf("keep-alive Route %q, want [%s]", got, path)
	}
	if opt.Recipient.String() != "sip:alice@127.0.0.1:9" {
		t.Errorf("keep-alive Request-URI %s, want the Contact", opt.Recipient.String())
	}
	proxy.reply(opt, 200, "")

	phoneB := newRawUA(t, b.Addr("udp"))
	registerVia(t, phoneB, "ka-b", withContact(phoneB)) // the phone moved to node b
	_ = proxy.conn.Close()                              // node a's keep-alives now fail

	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for a.Registrations() != 0 {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("node a kept a binding whose keep-alives fail")
		}
	}
	cs := b.Contacts("alice")
	if len(cs) != 1 || cs[0].Node != "b" || cs[0].CallID != "ka-b" {
		t.Fatalf("after node a dropped its dead binding the store has %+v, want node b's newer one", cs)
	}
}

// registerVia registers u as alice; edit rewrites each request (e.g. its Contact).
func registerVia(t *testing.T, u *rawUA, callID string, edit func(string) string, hdrs ...string) {
	t.Helper()
	toAlice := func(m string) string { return edit(strings.Replace(m, "To: <sip:2000@", "To: <sip:alice@", 1)) }
	u.send(toAlice(u.req("REGISTER", callID, "a", "", 1, "", append([]string{"Expires: 600"}, hdrs...)...)))
	ch := u.expect(401).GetHeader("WWW-Authenticate").Value()
	creds := answerChallenge(t, ch, "alice", "alicepw", "REGISTER", "sip:2000@"+u.srv.String())
	u.send(toAlice(u.req("REGISTER", callID, "a", "", 2, "", append([]string{"Expires: 600", "Authorization: " + creds}, hdrs...)...)))
	u.expect(200)
}

// blockingStore holds Lookup of one user until release is closed (a slow or
// hung database for that row).
type blockingStore struct {
	*MemoryRegistrations
	user    string
	entered chan struct{}
	release chan struct{}
}

func (b *blockingStore) Lookup(ctx context.Context, user string) ([]Contact, error) {
	if user == b.user {
		select {
		case b.entered <- struct{}{}:
		default:
		}
		select {
		case <-b.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return b.MemoryRegistrations.Lookup(ctx, user)
}

// TestRegisterNotSerialisedAcrossUsers: while the store is slow for alice's
// REGISTER, bob's REGISTER is answered; alice's completes once the store answers.
func TestRegisterNotSerialisedAcrossUsers(t *testing.T) {
	st := &blockingStore{MemoryRegistrations: NewMemoryRegistrations(), user: "alice", entered: make(chan struct{}, 1), release: make(chan struct{})}
	s := newTestServer(t, func(c *Config) { c.Registrations = st })
	if s.reg.keyLock("alice") == s.reg.keyLock("bob") {
		t.Fatal("alice and bob share a lock stripe: the test needs two users that do not")
	}
	ua := newRawUA(t, s.Addr("udp"))
	toAlice := func(m string) string { return strings.Replace(m, "To: <sip:2000@", "To: <sip:alice@", 1) }
	ua.send(toAlice(ua.req("REGISTER", "slow-a", "a", "", 1, "")))
	ch := ua.expect(401).GetHeader("WWW-Authenticate").Value()
	creds := answerChallenge(t, ch, "alice", "alicepw", "REGISTER", "sip:2000@"+ua.srv.String())
	ua.send(toAlice(ua.req("REGISTER", "slow-a", "a", "", 2, "", "Authorization: "+creds)))
	select {
	case <-st.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("alice's REGISTER never reached the store")
	}
	ub := newRawUA(t, s.Addr("udp"))
	if code := registerAs(t, ub, "bob", "bobpw", "fast-b", 1); code != 200 {
		t.Errorf("bob's REGISTER = %d while alice's waits for the store, want 200", code)
	}
	close(st.release)
	ua.expect(200)
}

// TestMemoryRegistrationsPurged: the housekeeping drops expired bindings from the
// in-memory store, also of users that never register again.
func TestMemoryRegistrationsPurged(t *testing.T) {
	m := NewMemoryRegistrations()
	s := newTestServer(t, func(c *Config) { c.Registrations = m })
	if err := m.Put(context.Background(), Contact{User: "ghost", URI: "sip:ghost@10.0.0.1", Expires: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	s.reg.purge(time.Now())
	m.mu.Lock()
	n := len(m.m)
	m.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d users left in the store after the purge, want 0", n)
	}
}

// hangingStore's Lookup hangs until its context ends while hang is set (a
// database that stopped answering).
type hangingStore struct {
	*MemoryRegistrations
	hang atomic.Bool
}

func (h *hangingStore) Lookup(ctx context.Context, user string) ([]Contact, error) {
	if h.hang.Load() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return h.MemoryRegistrations.Lookup(ctx, user)
}

// TestContactsWhenStoreHangs: ringing asks the store for a user's bindings; when
// it stops answering, Contacts gives up within lookupTimeout (an inbound call
// cannot wait long for each ring user) and returns this node's own bindings.
func TestContactsWhenStoreHangs(t *testing.T) {
	st := &hangingStore{MemoryRegistrations: NewMemoryRegistrations()}
	s := newTestServer(t, func(c *Config) { c.Registrations = st })
	u := newRawUA(t, s.Addr("udp"))
	registerRaw(t, u, "600")
	st.hang.Store(true)
	start := time.Now()
	cs := s.Contacts("alice")
	took := time.Since(start)
	if len(cs) != 1 || cs[0].Source.String() != u.local() {
		t.Fatalf("Contacts with the store hanging = %+v, want this node's binding of alice", cs)
	}
	if took > lookupTimeout+500*time.Millisecond {
		t.Errorf("Contacts took %v with the store hanging, want about lookupTimeout (%v)", took, lookupTimeout)
	}
}
