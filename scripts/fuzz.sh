#!/usr/bin/env bash
# Runs every Go fuzz target of the module (every `func FuzzXxx(f *testing.F)` in a
# _test.go file, found by looking, so new targets are picked up without editing this),
# one at a time, each for FUZZTIME.
#
#   scripts/fuzz.sh                 # every package of the module
#   scripts/fuzz.sh ./sip/ ./yna/   # only these packages (go list patterns)
#   FUZZTIME=5s FUZZPARALLEL=1 FUZZMATCH=SDP scripts/fuzz.sh
#
# FUZZTIME      -fuzztime of each target (default 30s; also Nx for N inputs)
# FUZZPARALLEL  fuzzing workers per target (go test -parallel; default: GOMAXPROCS)
# FUZZMATCH     only targets whose name matches this extended regex
# FUZZLIST=1    only list the targets found ("importpath Name" lines), run nothing
# GO            the go command (default go)
#
# Go writes an input that fails a target to the package's testdata/fuzz/<Target>/; from
# then on plain `go test` runs it as a seed (a regression test). The script lists such new
# files at the end: fix the bug, then commit them with the fix. Exit status 1 if any
# target failed (or none was found), else 0.
set -uo pipefail

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
FUZZMATCH=${FUZZMATCH:-}
cd "$(dirname "$0")/.."

patterns=("$@")
[ ${#patterns[@]} -eq 0 ] && patterns=(./...)

# Package directories and import paths: "dir<TAB>importpath".
if ! pkgs=$("$GO" list -f '{{.Dir}}{{"\t"}}{{.ImportPath}}' "${patterns[@]}"); then
  echo "fuzz: go list failed" >&2
  exit 1
fi

targets=() # "importpath<TAB>dir<TAB>Name"
while IFS=$'\t' read -r dir pkg; do
  [ -n "$dir" ] || continue
  shopt -s nullglob
  files=("$dir"/*_test.go)
  shopt -u nullglob
  [ ${#files[@]} -gt 0 ] || continue
  while read -r name; do
    [ -n "$name" ] || continue
    if [ -n "$FUZZMATCH" ] && ! [[ $name =~ $FUZZMATCH ]]; then
      continue
    fi
    targets+=("$pkg"$'\t'"$dir"$'\t'"$name")
  done < <(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\([A-Za-z_][A-Za-z0-9_]* \*testing\.F\).*/\1/p' "${files[@]}" | sort -u)
done <<<"$pkgs"

if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no fuzz targets found in ${patterns[*]}" >&2
  exit 1
fi

if [ "${FUZZLIST:-}" = 1 ]; then
  for t in "${targets[@]}"; do
    IFS=$'\t' read -r pkg _ name <<<"$t"
    echo "$pkg $name"
  done
  exit 0
fi

# Inputs already under testdata/fuzz before the run (to name the new ones after it).
seeds_before=$(mktemp)
trap 'rm -f "$seeds_before"' EXIT
find . -path '*/testdata/fuzz/*' -type f -print 2>/dev/null | sort >"$seeds_before"

par=()
[ -n "${FUZZPARALLEL:-}" ] && par=(-parallel "$FUZZPARALLEL")

echo "fuzz: ${#targets[@]} targets, ${FUZZTIME} each"
failed=()
passed=0
for t in "${targets[@]}"; do
  IFS=$'\t' read -r pkg dir name <<<"$t"
  echo "=== fuzz $pkg $name"
  if "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "${par[@]}" "$pkg"; then
    passed=$((passed + 1))
  else
    failed+=("$pkg $name")
  fi
done

echo
echo "fuzz: $passed passed, ${#failed[@]} failed (of ${#targets[@]}, ${FUZZTIME} each)"
for f in "${failed[@]}"; do
  echo "FAILED: $f"
done
new=$(find . -path '*/testdata/fuzz/*' -type f -print 2>/dev/null | sort | comm -13 "$seeds_before" -)
if [ -n "$new" ]; then
  echo "new failing inputs (regression seeds; commit them with the fix):"
  echo "$new" | sed 's/^/  /'
fi
[ ${#failed[@]} -eq 0 ]
