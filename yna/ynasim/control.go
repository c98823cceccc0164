package ynasim

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"

	"github.com/ynagw/ynagw/yna"
)

// The control API: JSON over HTTP under /sim/, no auth. Documented in README.md.
func (s *Sim) controlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /sim/apps", s.ctlListApps)
	mux.HandleFunc("POST /sim/apps", s.ctlAddApp)
	mux.HandleFunc("GET /sim/accounts", s.ctlListAccounts)
	mux.HandleFunc("POST /sim/accounts", s.ctlAddAccount)
	mux.HandleFunc("GET /sim/accounts/{id}", s.ctlGetAccount)
	mux.HandleFunc("GET /sim/accounts/{id}/channel", s.ctlChannel)
	mux.HandleFunc("POST /sim/accounts/{id}/faults", s.ctlAccountFault)
	mux.HandleFunc("POST /sim/accounts/{id}/expireTokens", s.ctlExpireTokens)
	mux.HandleFunc("POST /sim/accounts/{id}/notify", s.ctlNotify)
	mux.HandleFunc("GET /sim/faults/endpoints", s.ctlListFaults)
	mux.HandleFunc("POST /sim/faults/endpoints", s.ctlAddFault)
	mux.HandleFunc("DELETE /sim/faults/endpoints", s.ctlClearFaults)
}

// decodeJSON decodes a control request body strictly (unknown fields rejected).
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "Schema validation failed: "+err.Error())
		return false
	}
	return true
}

// writeCtlErr maps control API errors to statuses.
func writeCtlErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrConflict):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

func (s *Sim) ctlListApps(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Apps())
}

func (s *Sim) ctlAddApp(w http.ResponseWriter, r *http.Request) {
	var a App
	if !decodeJSON(w, r, &a) {
		return
	}
	if err := s.AddApp(a); err != nil {
		writeCtlErr(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"clientId": a.ClientID})
}

func (s *Sim) ctlListAccounts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Accounts())
}

func (s *Sim) ctlAddAccount(w http.ResponseWriter, r *http.Request) {
	var a Account
	if !decodeJSON(w, r, &a) {
		return
	}
	acct, err := s.AddAccount(a)
	if err != nil {
		writeCtlErr(w, err)
		return
	}
	c, _ := s.AccountByID(acct.ID)
	writeJSON(w, http.StatusCreated, c)
}

func (s *Sim) ctlGetAccount(w http.ResponseWriter, r *http.Request) {
	a, err := s.AccountByID(r.PathValue("id"))
	if err != nil {
		writeCtlErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Sim) ctlChannel(w http.ResponseWriter, r *http.Request) {
	info, err := s.Channel(r.PathValue("id"))
	if err != nil {
		writeCtlErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Sim) ctlAccountFault(w http.ResponseWriter, r *http.Request) {
	var f AccountFault
	if !decodeJSON(w, r, &f) {
		return
	}
	if err := s.ApplyAccountFault(r.PathValue("id"), f); err != nil {
		writeCtlErr(w, err)
		return
	}
	info, _ := s.Channel(r.PathValue("id"))
	writeJSON(w, http.StatusOK, info)
}

func (s *Sim) ctlExpireTokens(w http.ResponseWriter, r *http.Request) {
	if err := s.ExpireTokens(r.PathValue("id")); err != nil {
		writeCtlErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// notifyRequest is the body of POST /sim/accounts/{id}/notify.
type notifyRequest struct {
	Type    string          `json:"type"`
	Content json.RawMessage `json:"content"`
}

func (s *Sim) ctlNotify(w http.ResponseWriter, r *http.Request) {
	var n notifyRequest
	if !decodeJSON(w, r, &n) {
		return
	}
	if len(n.Content) == 0 {
		n.Content = json.RawMessage(`{}`)
	}
	id, err := s.Notify(r.PathValue("id"), n.Type, n.Content)
	if err != nil {
		writeCtlErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"msgId": id})
}

func (s *Sim) ctlListFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.EndpointFaults())
}

func (s *Sim) ctlAddFault(w http.ResponseWriter, r *http.Request) {
	var f EndpointFault
	if !decodeJSON(w, r, &f) {
		return
	}
	if err := s.SetEndpointFault(f); err != nil {
		writeCtlErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.EndpointFaults())
}

func (s *Sim) ctlClearFaults(w http.ResponseWriter, r *http.Request) {
	s.ClearEndpointFaults()
	w.WriteHeader(http.StatusNoContent)
}

// LinkURL returns the link-account URL a browser opens for an app (§5.1), based on URL().
func (s *Sim) LinkURL(clientID, redirectURI, state string) string {
	q := url.Values{"client_id": {clientID}, "redirect_uri": {redirectURI}}
	if state != "" {
		q.Set("state", state)
	}
	return s.URL() + yna.PathLinkAccount + "?" + q.Encode()
}

// handleIndex serves a small HTML overview at / for people exploring the simulator.
func (s *Sim) handleIndex(w http.ResponseWriter, r *http.Request) {
	var b = struct {
		Apps     []App
		Accounts []Account
		Link     string
	}{s.Apps(), s.Accounts(), yna.PathLinkAccount}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = indexPage.Execute(w, b)
}

var indexPage = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ynasim</title></head><body>
<h1>ynasim — simulated T-Mobile YNA service</h1>
<h2>Applications</h2><ul>{{range .Apps}}<li>{{.ClientID}}:
<a href="{{$.Link}}?client_id={{.ClientID}}&amp;redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fcallback&amp;state=demo">link page</a></li>{{end}}</ul>
<h2>Accounts</h2><ul>{{range .Accounts}}<li>{{.ID}}: {{range .Lines}}{{.}} {{end}}
(<a href="/sim/accounts/{{.ID}}/channel">channel</a>)</li>{{end}}</ul>
<p>Control API under <a href="/sim/accounts">/sim/</a>; see yna/ynasim/README.md.</p>
</body></html>`))
