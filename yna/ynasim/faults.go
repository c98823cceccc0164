package ynasim

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/ynagw/ynagw/yna"
)

// EndpointFault makes the next Count requests of an endpoint fail with Status and/or wait
// DelayMs first. It is applied after authentication succeeded (see authorize).
type EndpointFault struct {
	// Endpoint is "token", "status", "unlink" or a calling operation name ("start", "hold",
	// "end", ...).
	Endpoint string `json:"endpoint"`
	// Status is the HTTP status to answer (0 = no failure, only the delay). 2xx statuses are
	// sent without a body (e.g. 202 "registration in progress" for status), others with the
	// §3 error body.
	Status int `json:"status,omitempty"`
	// Count is how many requests are affected; 0 means 1. Reading the faults gives the
	// remaining count.
	Count int `json:"count,omitempty"`
	// DelayMs delays the request before it is failed or processed.
	DelayMs int `json:"delayMs,omitempty"`
}

// knownEndpoints lists the endpoint names a fault may target.
func knownEndpoints() map[string]bool {
	m := map[string]bool{endpointToken: true, endpointStatus: true, endpointUnlink: true, yna.OpStart: true}
	for _, op := range yna.CallOps {
		m[op] = true
	}
	return m
}

// SetEndpointFault installs f, replacing any fault of the same endpoint.
func (s *Sim) SetEndpointFault(f EndpointFault) error {
	if !knownEndpoints()[f.Endpoint] {
		return fmt.Errorf("%w: unknown endpoint %q", ErrInvalid, f.Endpoint)
	}
	if f.Status != 0 && (f.Status < 200 || f.Status > 599) {
		return fmt.Errorf("%w: status %d", ErrInvalid, f.Status)
	}
	if f.Status == 0 && f.DelayMs <= 0 {
		return fmt.Errorf("%w: a fault needs a status or a delay", ErrInvalid)
	}
	if f.Count < 0 || f.DelayMs < 0 {
		return fmt.Errorf("%w: negative count or delay", ErrInvalid)
	}
	if f.Count == 0 {
		f.Count = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[f.Endpoint] = &f
	return nil
}

// EndpointFaults returns the pending endpoint faults (remaining counts), sorted by endpoint.
func (s *Sim) EndpointFaults() []EndpointFault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]EndpointFault, 0, len(s.faults))
	for _, f := range s.faults {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Endpoint < out[j].Endpoint })
	return out
}

// ClearEndpointFaults removes every pending endpoint fault.
func (s *Sim) ClearEndpointFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.faults)
}

// takeFault consumes one use of the endpoint's fault, if any.
func (s *Sim) takeFault(endpoint string) (EndpointFault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults[endpoint]
	if f == nil {
		return EndpointFault{}, false
	}
	f.Count--
	if f.Count <= 0 {
		delete(s.faults, endpoint)
	}
	return *f, true
}

// applyEndpointFault applies a pending fault of endpoint: it waits the delay (aborted by
// Close or the client going away) and writes the failure status. It returns true if the
// request should be processed normally.
func (s *Sim) applyEndpointFault(w http.ResponseWriter, r *http.Request, endpoint string) bool {
	f, ok := s.takeFault(endpoint)
	if !ok {
		return true
	}
	s.logf("fault endpoint=%s status=%d delay=%dms", endpoint, f.Status, f.DelayMs)
	if f.DelayMs > 0 {
		t := time.NewTimer(time.Duration(f.DelayMs) * time.Millisecond)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return false
		case <-s.done:
			t.Stop()
			writeError(w, http.StatusServiceUnavailable, "simulator closing")
			return false
		}
	}
	switch {
	case f.Status == 0:
		return true
	case f.Status < 300:
		w.WriteHeader(f.Status)
	default:
		writeError(w, f.Status, "injected fault")
	}
	return false
}

// AccountFault is a channel fault for one account; several members may be set at once. They
// apply in this order: the two toggles, registrationTerminated, invalidateChannelURL,
// dropSocket.
type AccountFault struct {
	// WithholdPongs stops (true) or resumes (false) answering PING frames.
	WithholdPongs *bool `json:"withholdPongs,omitempty"`
	// RawCRLF makes later frames carry literal CR/LF inside JSON strings (§6.3, §14 item 13).
	RawCRLF *bool `json:"rawCRLF,omitempty"`
	// RegistrationTerminated sends RegistrationNotification{registrationState:"Terminated"}.
	RegistrationTerminated bool `json:"registrationTerminated,omitempty"`
	// InvalidateChannelURL makes every channel URL of the account unusable (404 on upgrade)
	// and closes its sockets, forcing a new account status fetch.
	InvalidateChannelURL bool `json:"invalidateChannelURL,omitempty"`
	// DropSocket closes the account's open sockets abruptly (no close frame), like a network drop.
	DropSocket bool `json:"dropSocket,omitempty"`
}

// ApplyAccountFault applies f to the account's notification channel.
func (s *Sim) ApplyAccountFault(accountID string, f AccountFault) error {
	acct := s.account(accountID)
	if acct == nil {
		return fmt.Errorf("%w: account %s", ErrNotFound, accountID)
	}
	s.hub.setToggles(acct, f.WithholdPongs, f.RawCRLF)
	if f.RegistrationTerminated {
		s.notify(acct, yna.TypeRegistration, &yna.RegistrationNotification{
			RegistrationState: yna.RegistrationStateTerminated,
		})
	}
	if f.InvalidateChannelURL {
		s.hub.invalidate(acct)
	}
	if f.DropSocket {
		s.hub.drop(acct)
	}
	return nil
}
