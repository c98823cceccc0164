// Package systemd holds ynagw's systemd unit (ynagw.service). It has no code;
// its tests check the unit's hardening directives and run
// `systemd-analyze verify` on it.
package systemd
