package ynasim

import (
	"encoding/json"
	"io"
	"net/http"
)

// controlRoutes registers the call control API (documented in README.md, section Calls).
func (cs *callStore) controlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /sim/calls", cs.ctlInject)
	mux.HandleFunc("GET /sim/calls", cs.ctlList)
	mux.HandleFunc("GET /sim/calls/quirks", cs.ctlGetQuirks)
	mux.HandleFunc("PUT /sim/calls/quirks", cs.ctlPutQuirks)
	mux.HandleFunc("GET /sim/calls/{id}", cs.ctlGet)
	mux.HandleFunc("POST /sim/calls/{id}/actions", cs.ctlAction)
	mux.HandleFunc("GET /sim/numbers", cs.ctlNumbers)
	mux.HandleFunc("PUT /sim/numbers/{number}", cs.ctlPutNumber)
	mux.HandleFunc("DELETE /sim/numbers/{number}", cs.ctlDeleteNumber)
	mux.HandleFunc("GET /sim/accounts/{id}/codecs", cs.ctlGetAccountCodecs)
	mux.HandleFunc("PUT /sim/accounts/{id}/codecs", cs.ctlPutAccountCodecs)
}

const maxControlBody = 1 << 20

// decodeControl decodes a JSON control body into v; it writes 400 and returns false on error.
func decodeControl(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxControlBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad JSON body: "+err.Error())
		return false
	}
	return true
}

func (cs *callStore) ctlInject(w http.ResponseWriter, r *http.Request) {
	var in InboundCall
	if !decodeControl(w, r, &in) {
		return
	}
	id, err := cs.inject(r.Context(), in)
	if err != nil {
		writeError(w, errorStatus(err), err.Error())
		return
	}
	c := cs.get(id)
	writeJSON(w, http.StatusCreated, map[string]string{"callId": id, "callObjectRef": c.info.CallObjectRef})
}

func (cs *callStore) ctlList(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"calls": cs.list()})
}

func (cs *callStore) ctlGet(w http.ResponseWriter, r *http.Request) {
	c := cs.get(r.PathValue("id"))
	if c == nil {
		writeError(w, http.StatusNotFound, "no such call")
		return
	}
	writeJSON(w, http.StatusOK, c.snapshot())
}

// actionRequest is the body of POST /sim/calls/{id}/actions.
type actionRequest struct {
	Action string `json:"action"`
	Digits string `json:"digits,omitempty"`
}

func (cs *callStore) ctlAction(w http.ResponseWriter, r *http.Request) {
	var req actionRequest
	if !decodeControl(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	if err := cs.doAction(r.Context(), id, req.Action, req.Digits); err != nil {
		writeError(w, errorStatus(err), err.Error())
		return
	}
	c := cs.get(id)
	c.mu.Lock()
	state, pending := c.info.State, c.info.Pending
	c.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"callId": id, "state": state, "pending": pending})
}

func (cs *callStore) ctlNumbers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, cs.behaviours())
}

func (cs *callStore) ctlPutNumber(w http.ResponseWriter, r *http.Request) {
	var b Behaviour
	if !decodeControl(w, r, &b) {
		return
	}
	n := r.PathValue("number")
	if err := cs.setBehaviour(n, b); err != nil {
		writeError(w, errorStatus(err), err.Error())
		return
	}
	if b.Kind == "" {
		b.Kind = BehaviourAnswer
	}
	writeJSON(w, http.StatusOK, map[string]any{"number": numberKey(n), "behaviour": b.Kind, "delayMs": b.DelayMs, "codecs": b.Codecs})
}

func (cs *callStore) ctlDeleteNumber(w http.ResponseWriter, r *http.Request) {
	if err := cs.setBehaviour(r.PathValue("number"), Behaviour{}); err != nil {
		writeError(w, errorStatus(err), err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// accountCodecs is the body of GET/PUT /sim/accounts/{id}/codecs.
type accountCodecs struct {
	Codecs CodecMode `json:"codecs"`
}

func (cs *callStore) ctlGetAccountCodecs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if cs.s != nil && cs.s.account(id) == nil {
		writeError(w, http.StatusNotFound, "no such account")
		return
	}
	writeJSON(w, http.StatusOK, accountCodecs{Codecs: cs.accountCodecs(id)})
}

func (cs *callStore) ctlPutAccountCodecs(w http.ResponseWriter, r *http.Request) {
	var req accountCodecs
	if !decodeControl(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	if cs.s != nil && cs.s.account(id) == nil {
		writeError(w, http.StatusNotFound, "no such account")
		return
	}
	if err := cs.setAccountCodecs(id, req.Codecs); err != nil {
		writeError(w, errorStatus(err), err.Error())
		return
	}
	writeJSON(w, http.StatusOK, accountCodecs{Codecs: cs.accountCodecs(id)})
}

func (cs *callStore) ctlGetQuirks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, cs.getQuirks())
}

func (cs *callStore) ctlPutQuirks(w http.ResponseWriter, r *http.Request) {
	q := cs.getQuirks()
	if !decodeControl(w, r, &q) {
		return
	}
	cs.setQuirks(q)
	writeJSON(w, http.StatusOK, q)
}
