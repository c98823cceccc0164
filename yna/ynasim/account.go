package ynasim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ynagw/ynagw/yna"
)

// Account is a simulated T-Mobile customer account with its phone lines.
type Account struct {
	// ID names the account (the "T-Mobile ID" the user logs in with). Generated if empty.
	ID string `json:"id"`
	// Lines are the account's MSISDNs in the 11-digit form "1NXXNXXXXXX" (§5.4). The link page
	// lets the user pick one; account status lists the picked line.
	Lines []string `json:"lines"`
	// Name is the account holder's display name (optional).
	Name string `json:"name,omitempty"`
	// E911 is the emergency address shown on the link and E911 pages. After AddAccount it is
	// guarded by the Sim; read it through Accounts or AccountByID.
	E911 string `json:"e911,omitempty"`
}

// defaultE911 is shown when an account has no emergency address.
const defaultE911 = "12920 SE 38th St, Bellevue, WA 98006"

// AddAccount creates an account. Lines are normalised ("+1 425-555-0100", "4255550100" and
// "14255550100" all become "14255550100") and must be NANP numbers not used by another account.
// It returns the stored account; its ID and Lines must not be modified.
func (s *Sim) AddAccount(a Account) (*Account, error) {
	if len(a.Lines) == 0 {
		return nil, fmt.Errorf("%w: account needs at least one line", ErrInvalid)
	}
	lines := make([]string, 0, len(a.Lines))
	seen := map[string]bool{}
	for _, l := range a.Lines {
		n, err := normalizeLine(l)
		if err != nil {
			return nil, err
		}
		if seen[n] {
			return nil, fmt.Errorf("%w: line %s listed twice", ErrInvalid, n)
		}
		seen[n] = true
		lines = append(lines, n)
	}
	acct := &Account{ID: a.ID, Lines: lines, Name: a.Name, E911: a.E911}
	if acct.E911 == "" {
		acct.E911 = defaultE911
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if acct.ID == "" {
		for {
			s.nextAcct++
			acct.ID = "acct" + strconv.Itoa(s.nextAcct)
			if s.accounts[acct.ID] == nil {
				break
			}
		}
	}
	if s.accounts[acct.ID] != nil {
		return nil, fmt.Errorf("%w: account %s exists", ErrConflict, acct.ID)
	}
	for _, l := range lines {
		if other := s.lines[l]; other != nil {
			return nil, fmt.Errorf("%w: line %s belongs to account %s", ErrConflict, l, other.ID)
		}
	}
	s.accounts[acct.ID] = acct
	s.acctOrder = append(s.acctOrder, acct.ID)
	for _, l := range lines {
		s.lines[l] = acct
	}
	return acct, nil
}

// Accounts returns copies of all accounts in creation order.
func (s *Sim) Accounts() []Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Account, 0, len(s.acctOrder))
	for _, id := range s.acctOrder {
		out = append(out, s.accounts[id].copy())
	}
	return out
}

// AccountByID returns a copy of the account with id.
func (s *Sim) AccountByID(id string) (Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[id]
	if a == nil {
		return Account{}, fmt.Errorf("%w: account %s", ErrNotFound, id)
	}
	return a.copy(), nil
}

func (a *Account) copy() Account {
	c := *a
	c.Lines = append([]string(nil), a.Lines...)
	return c
}

// account returns the stored account with id, or nil.
func (s *Sim) account(id string) *Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accounts[id]
}

// accountByLine returns the account owning msisdn (any accepted spelling), or nil.
func (s *Sim) accountByLine(msisdn string) *Account {
	n, err := normalizeLine(msisdn)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lines[n]
}

// normalizeLine turns a NANP number into "1NXXNXXXXXX" (§5.4, §10.4).
func normalizeLine(l string) (string, error) {
	digits := strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9':
			return r
		case r == '+' || r == '-' || r == ' ' || r == '(' || r == ')' || r == '.':
			return -1
		}
		return 'x'
	}, strings.TrimPrefix(strings.TrimSpace(l), "tel:"))
	if len(digits) == 10 {
		digits = "1" + digits
	}
	if len(digits) != 11 || digits[0] != '1' || strings.ContainsRune(digits, 'x') ||
		digits[1] < '2' || digits[4] < '2' {
		return "", fmt.Errorf("%w: line %q is not a NANP number 1NXXNXXXXXX", ErrInvalid, l)
	}
	return digits, nil
}

// handleStatus serves GET /account/status (§5.4): the linked lines and a fresh channel URL.
func (s *Sim) handleStatus(w http.ResponseWriter, r *http.Request) {
	g, _, ok := s.authorizeGrant(w, r, endpointStatus)
	if !ok {
		return
	}
	chURL, err := s.hub.newChannelURL(r, g)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	st := yna.AccountStatus{ReturnCode: statusReturnCode, ChannelURL: chURL}
	for _, l := range g.lines {
		st.Lines = append(st.Lines, yna.Line{MSISDN: l, RegStatus: true})
	}
	writeJSON(w, http.StatusOK, st)
}

// handleUnlink serves DELETE /account/unlink (§5.5): the grant's tokens are revoked, its
// channel URLs invalidated and its sockets closed.
func (s *Sim) handleUnlink(w http.ResponseWriter, r *http.Request) {
	g, _, ok := s.authorizeGrant(w, r, endpointUnlink)
	if !ok {
		return
	}
	s.revokeGrant(g)
	s.hub.revokeGrant(g)
	s.logf("unlink account=%s client=%s", g.acct.ID, g.app.ClientID)
	w.WriteHeader(unlinkStatusCode)
}

// e911Form is a rendered E911 address page waiting for submission.
type e911Form struct {
	acct    *Account
	success string
	failure string
	expires time.Time
}

// E911 form field names.
const (
	fieldE911Form = "form_id"
	fieldStreet   = "street"
	fieldCity     = "city"
	fieldState    = "state"
	fieldZip      = "zip"
	e911Save      = "save"
	e911Cancel    = "cancel"
)

// handleE911 serves POST /account-mgmt/changeEmergencyAddress (§5.6): with a form_id field it
// is the submission of the page, otherwise the app's navigation to it. The bearer token comes
// from the Authorization header, or the Authorization query or form parameter. Outcomes other than success go to
// failure-redirect-url, or to success-redirect-url when that is absent.
func (s *Sim) handleE911(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		renderHTML(w, http.StatusBadRequest, errorPage, pageData{Title: "E911 address", Error: "bad form"})
		return
	}
	if id := r.PostForm.Get(fieldE911Form); id != "" {
		s.submitE911(w, r, id)
		return
	}
	q := r.Form // the query and the POST body: the token may come in either
	success, failure := q.Get("success-redirect-url"), q.Get("failure-redirect-url")
	if success == "" {
		renderHTML(w, http.StatusBadRequest, errorPage, pageData{Title: "E911 address",
			Error: "success-redirect-url is required"})
		return
	}
	if failure == "" {
		failure = success
	}
	authz := r.Header.Get(yna.HeaderAuthorization)
	if authz == "" {
		authz = q.Get("Authorization")
	}
	tok, ok := bearerToken(authz)
	if !ok {
		tok = strings.TrimSpace(authz)
	}
	g, err := s.lookupAccess(tok)
	if tok == "" || err != nil {
		http.Redirect(w, r, failure, http.StatusFound)
		return
	}
	id := randomHex(16)
	s.mu.Lock()
	s.e911Forms[id] = &e911Form{acct: g.acct, success: success, failure: failure,
		expires: s.now().Add(s.cfg.LinkFlowLifetime)}
	current := g.acct.E911
	s.mu.Unlock()
	renderHTML(w, http.StatusOK, e911Page, pageData{Title: "E911 address", Action: yna.PathChangeEmergencyAddress,
		Flow: id, Current: current})
}

func (s *Sim) submitE911(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	f := s.e911Forms[id]
	if f != nil && !s.now().Before(f.expires) {
		delete(s.e911Forms, id)
		f = nil
	}
	s.mu.Unlock()
	if f == nil {
		renderHTML(w, http.StatusBadRequest, errorPage, pageData{Title: "E911 address",
			Error: "this page has expired or was already used"})
		return
	}
	p := r.PostForm
	if p.Get(fieldAction) == e911Cancel {
		s.dropE911Form(id)
		http.Redirect(w, r, f.failure, http.StatusFound)
		return
	}
	street, city := strings.TrimSpace(p.Get(fieldStreet)), strings.TrimSpace(p.Get(fieldCity))
	state, zip := strings.ToUpper(strings.TrimSpace(p.Get(fieldState))), strings.TrimSpace(p.Get(fieldZip))
	if street == "" || city == "" || !isLetters(state, 2) || !isDigits(zip, 5) {
		s.mu.Lock()
		current := f.acct.E911
		s.mu.Unlock()
		renderHTML(w, http.StatusBadRequest, e911Page, pageData{Title: "E911 address", Action: yna.PathChangeEmergencyAddress,
			Flow: id, Current: current, Error: "Enter street, city, a two-letter state and a five-digit ZIP code."})
		return
	}
	s.mu.Lock()
	_, live := s.e911Forms[id]
	delete(s.e911Forms, id)
	if live {
		f.acct.E911 = street + ", " + city + ", " + state + " " + zip
	}
	s.mu.Unlock()
	if !live {
		http.Redirect(w, r, f.failure, http.StatusFound)
		return
	}
	http.Redirect(w, r, f.success, http.StatusFound)
}

func (s *Sim) dropE911Form(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.e911Forms, id)
}

func isLetters(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
