package ynasim

import (
	"crypto/rand"
	"encoding/hex"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ynagw/ynagw/yna"
)

// linkFlow is a rendered link page waiting for the user's choice.
type linkFlow struct {
	app         *App
	redirectURI string
	state       string
	acct        *Account // set when login_hint named an account; nil lists every account
	expires     time.Time
}

// Form field names of the link page.
const (
	fieldFlow   = "flow"
	fieldLine   = "line"
	fieldE911   = "e911"  // value "confirmed"
	fieldTerms  = "terms" // value "accepted"
	fieldAction = "action"
)

// Form actions.
const (
	linkApprove = "approve"
	linkDeny    = "deny"
)

// handleLinkPage serves GET /account-mgmt/linkAccount (§5.1): the T-Mobile sign-in, line
// selection, E911 confirmation and terms page. Login is simulated: the page lists the lines
// of every account (or only the account named by login_hint, an account id or MSISDN).
func (s *Sim) handleLinkPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	app, redirectURI, msg := s.checkLinkParams(q)
	if msg != "" {
		renderHTML(w, http.StatusBadRequest, errorPage, pageData{Title: "Cannot link account", Error: msg})
		return
	}
	var hinted *Account
	if hint := q.Get("login_hint"); hint != "" {
		if hinted = s.account(hint); hinted == nil {
			hinted = s.accountByLine(hint)
		}
		if hinted == nil {
			renderHTML(w, http.StatusBadRequest, errorPage, pageData{Title: "Cannot link account",
				Error: "unknown T-Mobile ID " + hint})
			return
		}
	}
	if s.cfg.AutoApprove {
		acct := hinted
		if acct == nil {
			if accts := s.Accounts(); len(accts) > 0 {
				acct = s.account(accts[0].ID)
			}
		}
		if acct == nil {
			renderHTML(w, http.StatusBadRequest, errorPage, pageData{Title: "Cannot link account", Error: "no accounts"})
			return
		}
		s.redirectWithCode(w, r, app, redirectURI, q.Get("state"), acct, acct.Lines[0])
		return
	}
	flowID := randomHex(16)
	f := &linkFlow{app: app, redirectURI: redirectURI, state: q.Get("state"), acct: hinted,
		expires: s.now().Add(s.cfg.LinkFlowLifetime)}
	s.mu.Lock()
	s.pruneFlowsLocked()
	s.flows[flowID] = f
	s.mu.Unlock()
	s.renderLinkForm(w, http.StatusOK, flowID, f, "")
}

// checkLinkParams validates client_id, redirect_uri and client_secret of a link request.
func (s *Sim) checkLinkParams(q url.Values) (*App, string, string) {
	clientID, redirectURI := q.Get("client_id"), q.Get("redirect_uri")
	switch {
	case clientID == "":
		return nil, "", "client_id is required"
	case redirectURI == "":
		return nil, "", "redirect_uri is required"
	}
	app := s.app(clientID)
	switch {
	case app == nil:
		return nil, "", "unknown client_id " + clientID
	case !redirectAllowed(app, redirectURI):
		return nil, "", "redirect_uri " + redirectURI + " is not registered for this application"
	case q.Has("client_secret") && q.Get("client_secret") != app.ClientSecret:
		return nil, "", "invalid client_secret"
	}
	return app, redirectURI, ""
}

func (s *Sim) pruneFlowsLocked() {
	now := s.now()
	for k, f := range s.flows {
		if !now.Before(f.expires) {
			delete(s.flows, k)
		}
	}
	for k, c := range s.codes {
		if !now.Before(c.expires) {
			delete(s.codes, k)
		}
	}
}

// handleLinkSubmit serves the POST of the link page form.
func (s *Sim) handleLinkSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		renderHTML(w, http.StatusBadRequest, errorPage, pageData{Title: "Cannot link account", Error: "bad form"})
		return
	}
	flowID := r.PostForm.Get(fieldFlow)
	s.mu.Lock()
	f := s.flows[flowID]
	if f != nil && !s.now().Before(f.expires) {
		delete(s.flows, flowID)
		f = nil
	}
	s.mu.Unlock()
	if f == nil {
		renderHTML(w, http.StatusBadRequest, errorPage, pageData{Title: "Cannot link account",
			Error: "this sign-in page has expired or was already used; start again"})
		return
	}
	if r.PostForm.Get(fieldAction) == linkDeny {
		s.dropFlow(flowID)
		u, _ := url.Parse(f.redirectURI)
		q := u.Query()
		q.Set("error_code", errorCodeAccessDenied)
		if f.state != "" {
			q.Set("state", f.state)
		}
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.String(), http.StatusFound)
		return
	}
	line := r.PostForm.Get(fieldLine)
	acct := s.accountByLine(line)
	var problem string
	switch {
	case line == "" || acct == nil:
		problem = "Choose one of your lines."
	case f.acct != nil && acct != f.acct:
		problem = "That line does not belong to this account."
	case r.PostForm.Get(fieldE911) != "confirmed":
		problem = "Confirm your E911 address."
	case r.PostForm.Get(fieldTerms) != "accepted":
		problem = "Accept the terms of use."
	}
	if problem != "" {
		s.renderLinkForm(w, http.StatusBadRequest, flowID, f, problem)
		return
	}
	if !s.dropFlow(flowID) {
		renderHTML(w, http.StatusBadRequest, errorPage, pageData{Title: "Cannot link account",
			Error: "this sign-in page was already used"})
		return
	}
	norm, _ := normalizeLine(line)
	s.redirectWithCode(w, r, f.app, f.redirectURI, f.state, acct, norm)
}

// dropFlow removes a flow; false if it was already gone (used by a concurrent submit).
func (s *Sim) dropFlow(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.flows[id]
	delete(s.flows, id)
	return ok
}

// redirectWithCode issues a single-use authorization code and redirects to the app (§5.1).
func (s *Sim) redirectWithCode(w http.ResponseWriter, r *http.Request, app *App, redirectURI, state string, acct *Account, line string) {
	code := uuid.NewString()
	s.mu.Lock()
	s.codes[code] = &authCode{app: app, redirectURI: redirectURI, acct: acct, lines: []string{line},
		expires: s.now().Add(s.cfg.CodeLifetime)}
	s.mu.Unlock()
	u, err := url.Parse(redirectURI)
	if err != nil {
		renderHTML(w, http.StatusBadRequest, errorPage, pageData{Title: "Cannot link account", Error: "bad redirect_uri"})
		return
	}
	q := u.Query()
	q.Set("code", code)
	if state != "" {
		q.Set("state", state)
	}
	u.RawQuery = q.Encode()
	s.logf("link account=%s line=%s client=%s", acct.ID, line, app.ClientID)
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// linkAccountView is one account on the link page.
type linkAccountView struct {
	ID    string
	Name  string
	E911  string
	Lines []string
}

func (s *Sim) renderLinkForm(w http.ResponseWriter, status int, flowID string, f *linkFlow, problem string) {
	var accts []linkAccountView
	for _, a := range s.Accounts() {
		if f.acct != nil && a.ID != f.acct.ID {
			continue
		}
		accts = append(accts, linkAccountView{ID: a.ID, Name: a.Name, E911: a.E911, Lines: a.Lines})
	}
	appName := f.app.Name
	if appName == "" {
		appName = f.app.ClientID
	}
	renderHTML(w, status, linkPage, pageData{
		Title: "Link your T-Mobile line", Error: problem, Action: yna.PathLinkAccount,
		Flow: flowID, AppName: appName, Accounts: accts,
	})
}

// pageData feeds the HTML templates.
type pageData struct {
	Title    string
	Error    string
	Action   string
	Flow     string
	AppName  string
	Accounts []linkAccountView
	Current  string
	Success  string
}

func renderHTML(w http.ResponseWriter, status int, t *template.Template, d pageData) {
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		http.Error(w, "template: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

const pageHead = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}} — T-Mobile (ynasim)</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}fieldset{margin:1em 0}
.err{color:#b00020;font-weight:bold}h1{color:#e20074}</style></head><body>
<h1>{{.Title}}</h1>
<p><small>Simulated T-Mobile page served by ynasim.</small></p>
{{if .Error}}<p class="err" id="error">{{.Error}}</p>{{end}}
`

var errorPage = template.Must(template.New("error").Parse(pageHead + `</body></html>`))

var linkPage = template.Must(template.New("link").Parse(pageHead + `
<p><b>{{.AppName}}</b> wants to make and receive calls with one of your T-Mobile lines.</p>
<form method="POST" action="{{.Action}}">
<input type="hidden" name="flow" value="{{.Flow}}">
{{range .Accounts}}
<fieldset><legend>T-Mobile ID {{.ID}}{{if .Name}} ({{.Name}}){{end}}</legend>
{{range .Lines}}<label><input type="radio" name="line" value="{{.}}" required> {{.}}</label><br>
{{end}}<p>E911 address: {{.E911}}</p>
</fieldset>
{{end}}
<label><input type="checkbox" name="e911" value="confirmed" required> The E911 address of the chosen line is correct</label><br>
<label><input type="checkbox" name="terms" value="accepted" required> I accept the terms of use</label><br>
<button type="submit" name="action" value="approve">Link line</button>
<button type="submit" name="action" value="deny" formnovalidate>Cancel</button>
</form></body></html>`))

var e911Page = template.Must(template.New("e911").Parse(pageHead + `
<p>Current E911 address: <b id="current">{{.Current}}</b></p>
<form method="POST" action="{{.Action}}">
<input type="hidden" name="form_id" value="{{.Flow}}">
<label>Street <input name="street" required></label><br>
<label>City <input name="city" required></label><br>
<label>State <input name="state" maxlength="2" required></label><br>
<label>ZIP <input name="zip" maxlength="5" required></label><br>
<button type="submit" name="action" value="save">Save address</button>
<button type="submit" name="action" value="cancel" formnovalidate>Cancel</button>
</form></body></html>`))
