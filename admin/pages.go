package admin

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
)

//go:embed templates/*.html static/style.css static/app.js
var assets embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"when": formatTime,
	// neverLinked: a configured line without tokens that was never linked.
	"neverLinked": func(l LineView) bool { return l.State == LineUnlinked && l.LinkedAt.IsZero() },
	"duration": func(sec float64) string {
		s := int(sec + 0.5)
		return fmt.Sprintf("%d:%02d", s/60, s%60)
	},
	"until": func(now, t time.Time) string {
		if t.IsZero() {
			return ""
		}
		d := t.Sub(now).Round(time.Minute)
		if d < 0 {
			return "expired"
		}
		return "in " + d.String()
	},
}).ParseFS(assets, "templates/*.html"))

// MyDigitsURL is where users manage and revoke their app instances.
const MyDigitsURL = "https://mydigits.t-mobile.com"

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// indexData feeds index.html.
type indexData struct {
	Title    string
	Base     string // PublicURL's path ("" at the root)
	Now      time.Time
	Flash    string
	FlashErr bool
	CSRF     string
	Lines    []LineView
	Phones   []PhoneView
	Calls    []CallView
	CDRs     []CDRView
	MyDigits string
	Draining bool
}

// Clustered reports whether a node holds any line's lease (clustered mode): the lines
// table then shows which node runs each line's channel.
func (d indexData) Clustered() bool {
	for _, l := range d.Lines {
		if l.Owner != "" {
			return true
		}
	}
	return false
}

// errorData feeds error.html.
type errorData struct {
	Title   string
	Base    string
	CSRF    string // always empty: no script on error pages
	Message string
}

func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		s.log.Error("admin: template", zap.String("template", name), zap.Error(err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func (s *Server) renderError(w http.ResponseWriter, status int, title, msg string) {
	s.render(w, status, "error.html", errorData{Title: title, Base: s.base(), Message: msg})
}

// e911 outcome query values on the return to /.
const (
	e911Param  = "e911"
	e911OK     = "ok"
	e911Failed = "failed"
)

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	ss := s.sess.ensure(w, r)
	ctx, cancel := backendCtx(r)
	defer cancel()
	d := indexData{Title: "Admin", Base: s.base(), Now: s.cfg.Now(), CSRF: ss.csrf, MyDigits: MyDigitsURL, Draining: s.draining.Load(),
		Lines: s.b.Lines(ctx), Phones: s.b.Phones(ctx), Calls: s.b.Calls(ctx)}
	if l, ok := s.b.(CDRLister); ok {
		if cdrs, err := l.CDRs(ctx, 20); err == nil {
			d.CDRs = cdrs
		} else {
			s.log.Warn("admin: recent CDRs", zap.Error(err))
		}
	}
	d.Flash, d.FlashErr = s.sess.takeFlash(ss.id)
	switch r.URL.Query().Get(e911Param) { // fixed texts only: nothing from the query is echoed
	case e911OK:
		d.Flash, d.FlashErr = "The E911 address change is done.", false
	case e911Failed:
		d.Flash, d.FlashErr = "The E911 address was not changed.", true
	}
	s.render(w, http.StatusOK, "index.html", d)
}

func (s *Server) handleJS(w http.ResponseWriter, r *http.Request) {
	b, err := assets.ReadFile("static/app.js")
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	_, _ = w.Write(b)
}

// handleHangupForm is the page's Hang up button (CSRF-checked like every form).
func (s *Server) handleHangupForm(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.formSession(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if code, msg := s.hangup(r, id, "page"); msg != "" {
		if code == http.StatusNotFound {
			msg = "The call " + id + " is not in progress any more."
		} else if code == http.StatusBadRequest {
			msg = "That is not a call id."
		} else {
			msg = "Hanging up the call failed; the daemon log has the details."
		}
		s.sess.setFlash(ss.id, msg, true)
	} else {
		s.sess.setFlash(ss.id, "Call "+id+" is hung up.", false)
	}
	http.Redirect(w, r, s.pathTo("/"), http.StatusSeeOther)
}

func (s *Server) handleCSS(w http.ResponseWriter, r *http.Request) {
	b, err := assets.ReadFile("static/style.css")
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, _ = w.Write(b)
}

// handleLink starts linking: a fresh single-use state bound to the session, then 302 to YNA.
func (s *Server) handleLink(w http.ResponseWriter, r *http.Request) {
	ss := s.sess.ensure(w, r)
	state, _ := s.sess.newState(ss.id)
	s.log.Info("admin: link started")
	http.Redirect(w, r, s.b.LinkURL(s.redirect, state), http.StatusFound)
}

// handleCallback is the OAuth redirect target: ?code=&state= or ?error_code=&state=.
func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sid := ""
	if ss := s.sess.lookup(r); ss != nil {
		sid = ss.id
	}
	if p := s.sess.consumeState(q.Get("state"), sid); p != stateOK {
		s.log.Warn("admin: link callback refused", zap.String("reason", string(p)), zap.String("remote", r.RemoteAddr))
		s.renderError(w, http.StatusBadRequest, "Linking failed", "The link request is not valid: "+string(p)+
			". Start again from the admin page.")
		return
	}
	if ec := q.Get("error_code"); ec != "" {
		ec = sanitizeCode(ec)
		s.log.Warn("admin: link refused by provider", zap.String("error_code", ec))
		s.renderError(w, http.StatusBadRequest, "Linking cancelled",
			"T-Mobile did not link the line (error code: "+ec+").")
		return
	}
	code := q.Get("code")
	if code == "" {
		s.log.Warn("admin: link callback without code")
		s.renderError(w, http.StatusBadRequest, "Linking failed", "The callback carries no authorization code.")
		return
	}
	ctx, cancel := backendCtx(r)
	defer cancel()
	msisdn, err := s.b.CompleteLink(ctx, code, s.redirect)
	if err != nil {
		s.log.Error("admin: link failed", zap.Error(err))
		s.renderError(w, http.StatusBadGateway, "Linking failed",
			"The line could not be linked; the daemon log has the details. Start again from the admin page.")
		return
	}
	s.log.Info("admin: line linked", zap.String("msisdn", msisdn))
	if sid != "" {
		s.sess.setFlash(sid, "Line "+msisdn+" is linked.", false)
	}
	http.Redirect(w, r, s.pathTo("/"), http.StatusSeeOther)
}

// base is PublicURL's path without the trailing slash ("" at the root).
func (s *Server) base() string { return strings.TrimRight(s.public.Path, "/") }

// pathTo is an absolute path under PublicURL's path.
func (s *Server) pathTo(p string) string {
	return s.base() + p
}

// formSession checks the session and the form's CSRF token; on failure it answers 403.
func (s *Server) formSession(w http.ResponseWriter, r *http.Request) (*session, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return nil, false
	}
	ss := s.sess.lookup(r)
	if !s.sess.checkCSRF(ss, r.PostForm.Get("csrf")) {
		s.log.Warn("admin: CSRF token missing or wrong", zap.String("path", r.URL.Path))
		s.renderError(w, http.StatusForbidden, "Forbidden", "The form has expired. Reload the admin page and try again.")
		return nil, false
	}
	return ss, true
}

func (s *Server) handleUnlinkForm(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.formSession(w, r)
	if !ok {
		return
	}
	msisdn, ok := validMSISDN(r.PathValue("msisdn"))
	if !ok {
		s.renderError(w, http.StatusBadRequest, "Bad request", "That is not a line number.")
		return
	}
	ctx, cancel := backendCtx(r)
	defer cancel()
	if err := s.b.Unlink(ctx, msisdn); err != nil {
		s.log.Error("admin: unlink failed", zap.String("msisdn", msisdn), zap.Error(err))
		s.sess.setFlash(ss.id, "Unlinking "+msisdn+" failed; the daemon log has the details.", true)
	} else {
		s.log.Info("admin: line unlinked", zap.String("msisdn", msisdn))
		s.sess.setFlash(ss.id, "Line "+msisdn+" is unlinked.", false)
	}
	http.Redirect(w, r, s.pathTo("/"), http.StatusSeeOther)
}

// e911Data feeds e911.html: a form the browser POSTs to the provider's E911 page, with
// the access token in its body (a hidden field), never in a URL.
type e911Data struct {
	Base, MSISDN, Action string
	Fields               []e911Field
}

type e911Field struct{ Name, Value string }

// e911Form asks the backend for the provider's E911 page URL of the line and splits
// the token (the Authorization query parameter, §5.6) off into a form field.
func (s *Server) e911Form(w http.ResponseWriter, r *http.Request) (e911Data, bool) {
	msisdn, ok := validMSISDN(r.PathValue("msisdn"))
	if !ok {
		s.renderError(w, http.StatusBadRequest, "Bad request", "That is not a line number.")
		return e911Data{}, false
	}
	ctx, cancel := backendCtx(r)
	defer cancel()
	linked := false
	for _, l := range s.b.Lines(ctx) {
		if l.MSISDN == msisdn || strings.TrimPrefix(l.MSISDN, "+") == strings.TrimPrefix(msisdn, "+") {
			linked = l.State == LineLinked || l.State == LineNeedsRelink
		}
	}
	if !linked {
		s.renderError(w, http.StatusConflict, "E911 address", "Line "+msisdn+" is not linked: link the line first, then change its E911 address.")
		return e911Data{}, false
	}
	base := s.public.String() + "/?" + e911Param + "="
	u, err := s.b.EmergencyAddressURL(ctx, msisdn, base+e911OK, base+e911Failed)
	if err != nil {
		s.log.Error("admin: E911 URL", zap.String("msisdn", msisdn), zap.Error(err))
		s.renderError(w, http.StatusBadGateway, "E911 address", "The E911 address page is not available for this line; if the line needs a relink, link the line first.")
		return e911Data{}, false
	}
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") {
		s.log.Error("admin: E911 URL is not http(s)")
		s.renderError(w, http.StatusBadGateway, "E911 address", "The E911 address page is not available for this line.")
		return e911Data{}, false
	}
	q := pu.Query()
	d := e911Data{Base: s.base(), MSISDN: msisdn}
	for _, v := range q["Authorization"] {
		d.Fields = append(d.Fields, e911Field{"Authorization", v})
	}
	q.Del("Authorization")
	pu.RawQuery = q.Encode()
	d.Action = pu.String()
	return d, true
}

// renderE911 answers the hand-off page (not cached: it holds the token).
func (s *Server) renderE911(w http.ResponseWriter, d e911Data) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.render(w, http.StatusOK, "e911.html", d)
}

// handleE911 is the GET form of the E911 hand-off page.
func (s *Server) handleE911(w http.ResponseWriter, r *http.Request) {
	if d, ok := s.e911Form(w, r); ok {
		s.renderE911(w, d)
	}
}

// handleE911Form is the page's E911 button: the provider's page must be POSTed to (§5.6),
// so after the CSRF check it answers a form that app.js submits there.
func (s *Server) handleE911Form(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.formSession(w, r); !ok {
		return
	}
	if d, ok := s.e911Form(w, r); ok {
		s.renderE911(w, d)
	}
}

// validMSISDN accepts digits with an optional leading '+', 3 to 15 digits.
func validMSISDN(s string) (string, bool) {
	d := s
	if len(d) > 0 && d[0] == '+' {
		d = d[1:]
	}
	if len(d) < 3 || len(d) > 15 {
		return "", false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return "", false
		}
	}
	return s, true
}

// sanitizeCode keeps an error code from the provider short and plain (letters, digits, _-.).
func sanitizeCode(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 64 {
			break
		}
		if r == '_' || r == '-' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('?')
		}
	}
	return b.String()
}
