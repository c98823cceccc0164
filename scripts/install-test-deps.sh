#!/usr/bin/env bash
# Installs the Debian packages the tests need (real SIP/media peers and tools), only
# when something is missing. Needs root and apt-get; elsewhere it says what to install.
set -euo pipefail

# package:probe pairs; the probe tells whether the package is already there: a command
# name (looked up with command -v) or, starting with /, a path (a glob is fine) that
# must exist, for binaries outside PATH and for loadable modules.
PKGS=(
  "sip-tester:sipp"
  "baresip-core:baresip"
  "prometheus:promtool"
  "chromium:chromium"
  "systemd:systemd-analyze"
  "util-linux:setpriv"
  "ca-certificates:update-ca-certificates"
  # clustered mode (issue 13): PostgreSQL server binaries (internal/pgtest runs initdb and
  # postgres from /usr/lib/postgresql/N/bin) and Kamailio with its dispatcher, path and
  # rr modules (all three ship in the kamailio package on Debian 12) plus kamcmd.
  "postgresql:/usr/lib/postgresql/*/bin/initdb"
  "kamailio:/usr/sbin/kamailio"
  "kamailio:/usr/lib/*/kamailio/modules/dispatcher.so"
)

present() {
  local probe=$1
  if [ "${probe#/}" != "$probe" ]; then
    compgen -G "$probe" >/dev/null 2>&1
  else
    command -v "$probe" >/dev/null 2>&1
  fi
}

missing=()
for pc in "${PKGS[@]}"; do
  pkg=${pc%%:*}; probe=${pc#*:}
  if ! present "$probe"; then
    case " ${missing[*]:-} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "test deps: all present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test deps missing (${missing[*]}): run as root on Debian: apt-get install -y --no-install-recommends ${missing[*]}" >&2
  echo "tests that need them will be skipped" >&2
  exit 0
fi

echo "test deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "test deps: installed"
