// Package testenv is test support shared by the bridge, daemon and e2e tests: an
// in-process ynasim with one app and linked lines (NewSim), the loopback SIP server,
// WebRTC engine and bridge Gateway on 127.0.0.1 (NewGateway), and a sipgo helper that
// makes a test phone send every request from its one listening UDP socket (ListenUDP).
// Everything it starts is stopped through t.Cleanup. Only tests import it.
package testenv
