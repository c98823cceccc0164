package sip

import (
	"context"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// registrar holds contact bindings per user (AOR).
type registrar struct {
	s  *Server
	mu sync.Mutex
	// by lower-case username
	bindings map[string][]*binding
}

type binding struct {
	Contact
	failures int // consecutive keep-alive failures
}

func newRegistrar(s *Server) *registrar {
	return &registrar{s: s, bindings: map[string][]*binding{}}
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

func (r *registrar) contacts(aor string) []Contact {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Contact
	for _, b := range r.bindings[aorUser(aor)] {
		if b.Expires.After(now) {
			out = append(out, b.Contact)
		}
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

	now := time.Now()
	r.mu.Lock()
	if s.userByName(user.Username) == nil { // SetUsers removed the user meanwhile
		r.mu.Unlock()
		s.respond(req, tx, 403, "Forbidden", nil)
		return
	}
	if star {
		delete(r.bindings, key)
	}
	bs := r.bindings[key]
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
			if idx >= 0 {
				bs = append(bs[:idx], bs[idx+1:]...)
			}
			continue
		}
		nb := &binding{Contact: Contact{
			AOR: user.AOR, URI: c.uri, Source: src, Transport: network,
			Expires: now.Add(time.Duration(c.exp) * time.Second), CallID: cid, CSeq: cseq, UserAgent: uaName,
		}}
		if idx >= 0 {
			bs[idx] = nb
		} else {
			bs = append(bs, nb)
		}
	}
	if len(bs) == 0 {
		delete(r.bindings, key)
	} else {
		r.bindings[key] = bs
	}
	var hdrs []sip.Header
	for _, b := range bs {
		left := int(b.Expires.Sub(now).Round(time.Second) / time.Second)
		hdrs = append(hdrs, sip.NewHeader("Contact", "<"+b.URI+">;expires="+strconv.Itoa(left)))
	}
	r.mu.Unlock()
	hdrs = append(hdrs, sip.NewHeader("Date", now.UTC().Format(time.RFC1123)))
	hdrs = append(hdrs, s.capabilityHeaders()...)
	s.log.Debug("register", zap.String("user", name), zap.Int("bindings", len(bs)), zap.Stringer("src", src))
	s.respond(req, tx, 200, "OK", nil, hdrs...)
}

// retainUsers drops the bindings of users not in t and refreshes the AOR of the others.
func (r *registrar) retainUsers(t *userTable) {
	keep := make(map[string]*User, len(t.byName))
	for _, u := range t.byName {
		keep[aorUser(u.Username)] = u
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, bs := range r.bindings {
		u := keep[k]
		if u == nil {
			delete(r.bindings, k)
			continue
		}
		for _, b := range bs {
			b.AOR = u.AOR
		}
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
			if ok {
				b.failures = 0
			} else {
				b.failures++
				if b.failures >= 3 {
					b.Expires = time.Time{} // purged by housekeeping
				}
			}
			s.reg.mu.Unlock()
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
	if c.Source.IsValid() {
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

var _ = netip.AddrPort{}
