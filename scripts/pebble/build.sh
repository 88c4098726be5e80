#!/usr/bin/env bash
# Builds, once, Let's Encrypt's test ACME server pebble and its DNS companion pebble-challtestsrv
# (the ACME suite, test/platform/acme.test.ts) from the Go module proxy, cached outside the repo
# beside the other test binaries, keyed by version:
#   ${SKIFF_TOOLS_CACHE:-$HOME/.cache/skiff/tools}/pebble-<version>_r<recipe>/{bin/,certs/,STAMP}
# A later call with the same version only checks the cache; a half-written or damaged cache (no
# STAMP, a binary that does not run as the version) is rebuilt. Concurrent calls are serialised by flock.
# Prints the cache directory on stdout's last line; progress goes to stderr.
#   scripts/pebble/build.sh              build if needed
#   scripts/pebble/build.sh --print-dir  only print the cache dir if it is complete (exit 1 if not; no Go needed)
set -euo pipefail

PEBBLE_VERSION=v2.10.3 # github.com/letsencrypt/pebble/v2 (go.mod: go 1.25.0)
RECIPE=1               # bump when the way of building changes, to invalidate old caches

KEY="pebble-${PEBBLE_VERSION}_r${RECIPE}"
CACHE="${SKIFF_TOOLS_CACHE:-$HOME/.cache/skiff/tools}"
DIR="$CACHE/$KEY"
MODULE=github.com/letsencrypt/pebble/v2

log() { printf '[pebble-build] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# pebble says its version (stamped below); an empty or truncated file would "run" as a shell script.
binaries_ok() { # <dir>
  local out
  [ -x "$1/bin/pebble" ] && [ -x "$1/bin/pebble-challtestsrv" ] || return 1
  out=$("$1/bin/pebble" -version 2>/dev/null) || return 1
  [[ "$out" == *"Pebble version: $PEBBLE_VERSION"* ]] || { log "$1/bin/pebble -version: got \"$out\""; return 1; }
  "$1/bin/pebble-challtestsrv" -h >/dev/null 2>&1 || [ $? -eq 2 ] || return 1
  [ -f "$1/certs/localhost/cert.pem" ] && [ -f "$1/certs/pebble.minica.pem" ]
}
cache_ok() { [ -f "$DIR/STAMP" ] && [ "$(cat "$DIR/STAMP")" = "$KEY" ] && binaries_ok "$DIR"; }

if [ "${1:-}" = --print-dir ]; then
  cache_ok || exit 1
  echo "$DIR"
  exit 0
fi
if cache_ok; then
  log "cached: $DIR"
  echo "$DIR"
  exit 0
fi

command -v go >/dev/null || die "go not found on PATH: install Go >= 1.25 to build pebble"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
unset GOOS GOARCH GOWORK
mkdir -p "$CACHE"
exec 9>"$CACHE/.$KEY.lock"
flock 9
if cache_ok; then
  log "cached (built concurrently): $DIR"
  echo "$DIR"
  exit 0
fi
rm -rf "$CACHE/.tmp.$KEY."*
TMP=$(mktemp -d "$CACHE/.tmp.$KEY.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
t0=$(date +%s)
# Its go.mod has no replaces, so `go install module/cmd@version` builds it as released.
GOBIN="$TMP/bin" go install -trimpath -ldflags "-s -w -X main.version=$PEBBLE_VERSION" \
  "$MODULE/cmd/pebble@$PEBBLE_VERSION" "$MODULE/cmd/pebble-challtestsrv@$PEBBLE_VERSION"
# pebble serves its ACME API over HTTPS with the test certificate its repository ships (for
# localhost, signed by pebble.minica.pem): keep them beside the binary.
moddir=$(cd "$TMP" && go mod download -json "$MODULE@$PEBBLE_VERSION" | sed -n 's/.*"Dir": "\([^"]*\)".*/\1/p')
[ -d "$moddir/test/certs" ] || die "no test/certs in $moddir"
cp -r "$moddir/test/certs" "$TMP/certs"
chmod -R u+w "$TMP/certs"
binaries_ok "$TMP" || die "the fresh build does not run as pebble $PEBBLE_VERSION"
echo "$KEY" >"$TMP/STAMP"
if [ -e "$DIR" ]; then mv "$DIR" "$TMP.old" && rm -rf "$TMP.old"; fi
mv "$TMP" "$DIR"
trap - EXIT
log "built $DIR with $(go env GOVERSION) in $(($(date +%s) - t0)) s"
echo "$DIR"
