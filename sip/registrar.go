package sip

import (
	"context"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// registrar handles REGISTER. Bindings live in store (shared by the nodes of a
// cluster, or private); bindings holds the ones this node accepted, for
// keep-alive OPTIONS, connection reuse and the Registrations count.
type registrar struct {
	s     *Server
	store RegistrationStore
	// usersMu: REGISTERs hold it shared, retainUsers exclusively; keyMu
	// serialises the REGISTERs of one user (the store's read-modify-write),
	// striped so a slow store row holds up only the users hashed with it.
	usersMu sync.RWMutex
	keyMu   [32]sync.Mutex
	mu      sync.Mutex
	// by lower-case username
	bindings map[string][]*binding
}

type binding struct {
	Contact
	failures int // consecutive keep-alive failures
}

func newRegistrar(s *Server) *registrar {
	st := s.cfg.Registrations
	if st == nil {
		st = NewMemoryRegistrations()
	}
	return &registrar{s: s, store: st, bindings: map[string][]*binding{}}
}

// aorUser reduces "sip:alice@dom", "<sip:alice@dom>" or "alice" to "alice".
func aorUser(aor string) string {
	a := strings.Trim(strings.TrimSpace(aor), "<>")
	if i := strings.IndexByte(a, ':'); i >= 0 && (strings.HasPrefix(strings.ToLower(a), "sip:") || strings.HasPrefix(strings.ToLower(a), "sips:")) {
		a = a[i+1:]
	}
	if i := strings.IndexByte(a, '@'); i >= 0 {
		a = a[:i]
	}
	if i := strings.IndexByte(a, ';'); i >= 0 {
		a = a[:i]
	}
	return strings.ToLower(a)
}

// contacts returns the unexpired bindings of aor in the store, freshest first
// (with the account's current AOR). If the store fails, this node's own.
func (r *registrar) contacts(aor string) []Contact {
	key := aorUser(aor)
	ctx, cancel := context.WithTimeout(r.s.ctx, lookupTimeout)
	defer cancel()
	stored, err := r.store.Lookup(ctx, key)
	now := time.Now()
	var out []Contact
	if err != nil {
		r.s.log.Warn("registration store lookup failed; ringing this node's bindings only", zap.String("user", key), zap.Error(err))
		r.mu.Lock()
		for _, b := range r.bindings[key] {
			stored = append(stored, b.Contact)
		}
		r.mu.Unlock()
	}
	u := r.s.userByName(key)
	for _, b := range stored {
		if !b.Expires.After(now) {
			continue
		}
		if u != nil {
			b.AOR = u.AOR
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Expires.After(out[j].Expires) })
	return out
}

func (r *registrar) count() int {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, bs := range r.bindings {
		for _, b := range bs {
			if b.Expires.After(now) {
				n++
			}
		}
	}
	return n
}

func (r *registrar) purge(now time.Time) {
	if m, ok := r.store.(*MemoryRegistrations); ok {
		m.purgeExpired(now)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, bs := range r.bindings {
		keep := bs[:0]
		for _, b := range bs {
			if b.Expires.After(now) {
				keep = append(keep, b)
			}
		}
		if len(keep) == 0 {
			delete(r.bindings, k)
		} else {
			r.bindings[k] = keep
		}
	}
}

func (r *registrar) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	s := r.s
	name, ok := s.digestAuth(req, tx, false, func(u string) (string, bool) {
		if usr := s.userByName(u); usr != nil {
			return usr.Password, true
		}
		return "", false
	})
	if !ok {
		return
	}
	user := s.userByName(name)
	if user == nil { // removed by SetUsers while we checked
		s.respond(req, tx, 403, "Forbidden", nil)
		return
	}
	if aorUser(req.To().Address.User) != aorUser(user.Username) && aorUser(req.To().Address.User) != aorUser(user.AOR) {
		s.respond(req, tx, 403, "AOR Mismatch", nil)
		return
	}
	key := aorUser(user.Username)

	defExp := -1
	if h := req.GetHeader("Expires"); h != nil {
		v, err := strconv.Atoi(strings.TrimSpace(h.Value()))
		if err != nil || v < 0 {
			s.respond(req, tx, 400, "Bad Expires", nil)
			return
		}
		defExp = v
	}
	cid := req.CallID().Value()
	cseq := req.CSeq().SeqNo
	src := sourceAddr(req)
	network := sip.NetworkToLower(req.Transport())
	uaName := ""
	if h := req.GetHeader("User-Agent"); h != nil {
		uaName = h.Value()
	}

	type change struct {
		uri string
		exp int
	}
	var changes []change
	star := false
	for _, h := range req.GetHeaders("Contact") {
		for _, part := range splitContacts(h.Value()) {
			if strings.TrimSpace(part) == "*" {
				star = true
				continue
			}
			var ch sip.ContactHeader
			if _, err := sip.ParseAddressValue(part, &ch.Address, &ch.Params); err != nil {
				s.respond(req, tx, 400, "Bad Contact", nil)
				return
			}
			exp := defExp
			if v, ok := ch.Params.Get("expires"); ok {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					s.respond(req, tx, 400, "Bad Contact Expires", nil)
					return
				}
				exp = n
			}
			if exp < 0 {
				exp = int(s.cfg.Registrar.DefaultExpires / time.Second)
			}
			changes = append(changes, change{uri: ch.Address.String(), exp: exp})
		}
	}
	minE := int(s.cfg.Registrar.MinExpires / time.Second)
	maxE := int(s.cfg.Registrar.MaxExpires / time.Second)
	if star {
		if len(changes) > 0 || defExp != 0 {
			s.respond(req, tx, 400, "Invalid Wildcard", nil)
			return
		}
	}
	for i := range changes {
		if changes[i].exp > 0 && changes[i].exp < minE {
			s.respond(req, tx, 423, "", nil, sip.NewHeader("Min-Expires", strconv.Itoa(minE)))
			return
		}
		if changes[i].exp > maxE {
			changes[i].exp = maxE
		}
	}

	paths := pathValues(headerValues(req, "Path"))
	r.usersMu.RLock()
	defer r.usersMu.RUnlock()
	km := r.keyLock(key)
	km.Lock()
	defer km.Unlock()
	if s.userByName(user.Username) == nil { // SetUsers removed the user meanwhile
		s.respond(req, tx, 403, "Forbidden", nil)
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, storeTimeout)
	defer cancel()
	stored, err := r.store.Lookup(ctx, key)
	if err != nil {
		s.log.Warn("register: registration store lookup failed", zap.String("user", name), zap.Error(err))
		s.respond(req, tx, 500, "Registration Store Unavailable", nil, retryAfter(5))
		return
	}
	now := time.Now()
	bs := make([]Contact, 0, len(stored)+len(changes))
	for _, b := range stored {
		if b.Expires.After(now) {
			bs = append(bs, b)
		}
	}
	if star {
		for _, b := range bs {
			if err := r.store.Delete(ctx, key, b.URI); err != nil {
				s.log.Warn("register: registration store delete failed", zap.String("user", name), zap.Error(err))
				s.respond(req, tx, 500, "Registration Store Unavailable", nil, retryAfter(5))
				return
			}
			r.forget(key, b.URI)
		}
		bs = bs[:0]
	}
	for _, c := range changes {
		idx := -1
		for i, b := range bs {
			if b.URI == c.uri {
				idx = i
				break
			}
		}
		if idx >= 0 && bs[idx].CallID == cid && bs[idx].CSeq >= cseq {
			continue // stale retransmission / reordered request
		}
		if c.exp == 0 {
			if err := r.store.Delete(ctx, key, c.uri); err != nil {
				s.log.Warn("register: registration store delete failed", zap.String("user", name), zap.Error(err))
				s.respond(req, tx, 500, "Registration Store Unavailable", nil, retryAfter(5))
				return
			}
			r.forget(key, c.uri)
			if idx >= 0 {
				bs = append(bs[:idx], bs[idx+1:]...)
			}
			continue
		}
		nb := Contact{
			AOR: user.AOR, URI: c.uri, Source: src, Transport: network,
			Expires: now.Add(time.Duration(c.exp) * time.Second), CallID: cid, CSeq: cseq, UserAgent: uaName,
			User: key, Path: paths, Node: s.cfg.NodeID,
		}
		if err := r.store.Put(ctx, nb); err != nil {
			s.log.Warn("register: registration store put failed", zap.String("user", name), zap.Error(err))
			s.respond(req, tx, 500, "Registration Store Unavailable", nil, retryAfter(5))
			return
		}
		r.remember(nb)
		if idx >= 0 {
			bs[idx] = nb
		} else {
			bs = append(bs, nb)
		}
	}
	var hdrs []sip.Header
	for _, b := range bs {
		left := int(b.Expires.Sub(now).Round(time.Second) / time.Second)
		hdrs = append(hdrs, sip.NewHeader("Contact", "<"+b.URI+">;expires="+strconv.Itoa(left)))
	}
	if len(paths) > 0 && hasOptionTag(headerValues(req, "Supported"), "path") {
		// RFC 3327 §5.3: echo the stored Path when the UA said it supports it
		hdrs = append(hdrs, sip.NewHeader("Path", strings.Join(paths, ", ")))
	}
	hdrs = append(hdrs, sip.NewHeader("Date", now.UTC().Format(time.RFC1123)))
	hdrs = append(hdrs, s.capabilityHeaders()...)
	s.log.Debug("register", zap.String("user", name), zap.Int("bindings", len(bs)), zap.Stringer("src", src), zap.Strings("path", paths))
	s.respond(req, tx, 200, "OK", nil, hdrs...)
}

// keyLock is the stripe of keyMu for user key.
func (r *registrar) keyLock(key string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return &r.keyMu[h.Sum32()%uint32(len(r.keyMu))]
}

// remember records a binding this node accepted (keep-alive, connection reuse, count).
func (r *registrar) remember(c Contact) {
	r.mu.Lock()
	defer r.mu.Unlock()
	bs := r.bindings[c.User]
	for i, b := range bs {
		if b.URI == c.URI {
			bs[i] = &binding{Contact: c}
			return
		}
	}
	r.bindings[c.User] = append(bs, &binding{Contact: c})
}

// forget drops this node's record of the binding (user, uri).
func (r *registrar) forget(user, uri string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	bs := r.bindings[user]
	for i, b := range bs {
		if b.URI == uri {
			bs = append(bs[:i], bs[i+1:]...)
			break
		}
	}
	if len(bs) == 0 {
		delete(r.bindings, user)
	} else {
		r.bindings[user] = bs
	}
}

// headerValues returns the values of every header called name.
func headerValues(m sip.Message, name string) []string {
	var out []string
	for _, h := range m.GetHeaders(name) {
		out = append(out, h.Value())
	}
	return out
}

// retainUsers drops the bindings of users not in t (from the store too) and
// refreshes the AOR of the others.
func (r *registrar) retainUsers(t *userTable) {
	keep := make(map[string]*User, len(t.byName))
	for _, u := range t.byName {
		keep[aorUser(u.Username)] = u
	}
	// usersMu: a REGISTER that checked its user before the swap writes its
	// binding before we look, so no binding of a removed user survives
	r.usersMu.Lock()
	defer r.usersMu.Unlock()
	var gone []Contact
	r.mu.Lock()
	for k, bs := range r.bindings {
		u := keep[k]
		if u == nil {
			for _, b := range bs {
				gone = append(gone, b.Contact)
			}
			delete(r.bindings, k)
			continue
		}
		for _, b := range bs {
			b.AOR = u.AOR
		}
	}
	r.mu.Unlock()
	for _, c := range gone {
		r.dropStored(c)
	}
}

// dropStored deletes c from the store unless it was replaced there since
// (the phone registered again, maybe through another node).
func (r *registrar) dropStored(c Contact) {
	ctx, cancel := context.WithTimeout(r.s.ctx, storeTimeout)
	defer cancel()
	cur, err := r.store.Lookup(ctx, c.User)
	if err == nil {
		for _, b := range cur {
			if b.URI == c.URI && b.CallID == c.CallID && b.CSeq == c.CSeq && b.Node == c.Node {
				err = r.store.Delete(ctx, c.User, c.URI)
				break
			}
		}
	}
	if err != nil {
		r.s.log.Warn("registration store: dropping a binding failed", zap.String("user", c.User), zap.String("contact", c.URI), zap.Error(err))
	}
}

// splitContacts splits a Contact header value at top-level commas.
func splitContacts(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			quoted = !quoted
		case '<':
			if !quoted {
				depth++
			}
		case '>':
			if !quoted && depth > 0 {
				depth--
			}
		case ',':
			if !quoted && depth == 0 {
				out = append(out, strings.TrimSpace(v[start:i]))
				start = i + 1
			}
		}
	}
	if last := strings.TrimSpace(v[start:]); last != "" {
		out = append(out, last)
	}
	return out
}

// keepAliveLoop sends OPTIONS to every binding each KeepAlive period; a binding that
// fails three times in a row is removed.
func (s *Server) keepAliveLoop() {
	t := time.NewTicker(s.cfg.Registrar.KeepAlive)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.reg.mu.Lock()
		var targets []*binding
		for _, bs := range s.reg.bindings {
			targets = append(targets, bs...)
		}
		s.reg.mu.Unlock()
		for _, b := range targets {
			ok := s.pingContact(b.Contact)
			s.reg.mu.Lock()
			dead := false
			if ok {
				b.failures = 0
			} else {
				b.failures++
				if b.failures >= 3 && !b.Expires.IsZero() {
					b.Expires = time.Time{} // purged by housekeeping
					dead = true
				}
			}
			c := b.Contact
			s.reg.mu.Unlock()
			if dead {
				s.reg.dropStored(c)
			}
		}
	}
}

func (s *Server) pingContact(c Contact) bool {
	var uri sip.Uri
	if err := sip.ParseUri(c.URI, &uri); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(s.ctx, min(5*time.Second, s.cfg.Registrar.KeepAlive))
	defer cancel()
	req := sip.NewRequest(sip.OPTIONS, uri)
	req.SetTransport(sip.NetworkToUpper(c.Transport))
	if len(c.Path) > 0 {
		network, dest, err := addRoute(req, c.Path)
		if err != nil {
			return false
		}
		req.SetTransport(sip.NetworkToUpper(network))
		req.SetDestination(dest)
	} else if c.Source.IsValid() {
		req.SetDestination(c.Source.String())
	}
	// over UDP the client sends it from the listener socket (listenerRequester)
	res, err := s.client.Do(ctx, req)
	if err != nil {
		s.log.Debug("keep-alive failed", zap.String("contact", c.URI), zap.Error(err))
		return false
	}
	return res.StatusCode < 500 || res.StatusCode == 503
}
