package ynasim

// wireSim connects the call store to the simulator core: ack tracking of the hub, and the
// Sim's own URL as the base of callObjectRef once it listens.
func (cs *callStore) wireSim(s *Sim) {
	cs.ackState = s.ackState
	cs.baseURL = func() string {
		if u := s.URL(); u != "" {
			return u
		}
		return defaultCallBaseURL
	}
}
