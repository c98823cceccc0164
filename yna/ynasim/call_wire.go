package ynasim

// wireSim connects the call store to the simulator core (ack tracking).
func (cs *callStore) wireSim(s *Sim) {}
