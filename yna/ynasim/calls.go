package ynasim

import (
	"net/http"
	"sync"
)

// callStore owns every simulated call of a Sim (outbound and inbound), the
// scripted behaviour per called number and the /sim/calls control API.
type callStore struct {
	s *Sim

	mu sync.Mutex
}

// newCallStore creates the call store of s. Called by New.
func newCallStore(s *Sim) *callStore {
	return &callStore{s: s}
}

// routes registers the calling REST endpoints and the /sim/calls control API.
func (cs *callStore) routes(mux *http.ServeMux) {}

// close ends every call and stops their goroutines. Called by Sim.Close.
func (cs *callStore) close() {}
