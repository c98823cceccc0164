// Package systemd holds ynagw's systemd unit (ynagw.service), the drop-in for phone
// and trunk password credentials (ynagw.service.d/passwords.conf) and the
// configuration the unit is meant to run with (ynagw.yaml: no secret, every secret a
// ${CREDENTIALS_DIRECTORY} file). It has no code; its tests pin the unit's
// directives, run `systemd-analyze verify` and `systemd-analyze security` on it, and
// run the built daemon as an unprivileged uid against the layout the unit and the
// README describe (TestServiceUserLayout).
package systemd
