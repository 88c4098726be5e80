#!/usr/bin/env bash
# Builds, once, Let's Encrypt's pebble (a small RFC 8555 ACME server for tests) from the Go module
# proxy with the machine's Go, and caches it outside the repo, keyed by version, as scripts/k8s/build.sh
# does for the Kubernetes binaries:
#   ${SKIFF_TOOLS_CACHE:-$HOME/.cache/skiff}/pebble/<key>/{bin/pebble,STAMP}
# A half-written or damaged cache (no STAMP, a binary that does not report its version) is rebuilt;
# concurrent calls are serialised by flock. Prints the cache directory on stdout's last line.
#   scripts/pebble/build.sh              build if needed
#   scripts/pebble/build.sh --print-dir  only print the cache dir if it is complete (exit 1 if not)
set -euo pipefail

PEBBLE_VERSION=v2.10.3 # github.com/letsencrypt/pebble/v2
RECIPE=1               # bump when the way of building changes

KEY="pebble-${PEBBLE_VERSION}_r${RECIPE}"
CACHE="${SKIFF_TOOLS_CACHE:-$HOME/.cache/skiff}/pebble"
DIR="$CACHE/$KEY"

log() { printf '[pebble-build] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# pebble -version prints the version given at link time (-X main.version, as its release builds do).
binary_ok() { # <dir>
  [ -x "$1/bin/pebble" ] || return 1
  local out
  out=$("$1/bin/pebble" -version 2>&1 || true)
  [[ "$out" == *"$PEBBLE_VERSION"* ]] || { log "$1/bin/pebble -version: want $PEBBLE_VERSION, got \"${out%%$'\n'*}\""; return 1; }
}
cache_ok() { [ -f "$DIR/STAMP" ] && [ "$(cat "$DIR/STAMP")" = "$KEY" ] && binary_ok "$DIR"; }

if [ "${1:-}" = --print-dir ]; then
  [ -f "$DIR/STAMP" ] && [ "$(cat "$DIR/STAMP")" = "$KEY" ] || exit 1
  echo "$DIR"
  exit 0
fi

mkdir -p "$CACHE"
if cache_ok; then log "cached: $DIR"; echo "$DIR"; exit 0; fi
command -v go >/dev/null || die "go not found on PATH: install Go to build pebble"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
unset GOOS GOARCH GOWORK

exec 9>"$CACHE/.$KEY.lock"
if ! flock -n 9; then log "another build of $KEY is running; waiting for it"; flock 9; fi
if cache_ok; then log "cached (built concurrently): $DIR"; echo "$DIR"; exit 0; fi

rm -rf "$CACHE/.tmp.$KEY."*
TMP=$(mktemp -d "$CACHE/.tmp.$KEY.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
chmod 755 "$TMP" && mkdir -p "$TMP/bin"
t0=$(date +%s)
log "building $KEY with $(go env GOVERSION)"
GOBIN="$TMP/bin" go install -trimpath -ldflags "-s -w -X main.version=$PEBBLE_VERSION" "github.com/letsencrypt/pebble/v2/cmd/pebble@$PEBBLE_VERSION"
binary_ok "$TMP" || die "the built pebble does not report $PEBBLE_VERSION"
echo "$KEY" >"$TMP/STAMP"
rm -rf "$DIR"
mv "$TMP" "$DIR"
trap - EXIT
log "built in $(($(date +%s) - t0)) s: $DIR"
echo "$DIR"
