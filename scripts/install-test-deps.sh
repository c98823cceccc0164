#!/usr/bin/env bash
# Installs the Debian packages the tests need (real SIP/media peers and tools), only
# when something is missing. Needs root and apt-get; elsewhere it says what to install.
set -euo pipefail

# package:command pairs; the command tells whether the package is already there.
PKGS=(
  "sip-tester:sipp"
  "baresip-core:baresip"
  "prometheus:promtool"
  "chromium:chromium"
  "systemd:systemd-analyze"
  "util-linux:setpriv"
  "ca-certificates:update-ca-certificates"
)

missing=()
for pc in "${PKGS[@]}"; do
  pkg=${pc%%:*}; cmd=${pc#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
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
