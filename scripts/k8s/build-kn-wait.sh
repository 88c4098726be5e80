#!/usr/bin/env bash
# Builds kn-wait (scripts/k8s/kn-wait: list + watch through k8s.io/client-go, as `kn ... --wait`
# does) once, from the Go module proxy, into a cache keyed by its sources and the Go version:
#   ${SKIFF_TOOLS_CACHE:-$HOME/.cache/skiff/tools}/kn-wait-<key>/kn-wait
# Run after scripts/k8s/build.sh: client-go is then already in Go's module and build caches.
# Prints the binary's path on stdout's last line.
#   scripts/k8s/build-kn-wait.sh              build if needed
#   scripts/k8s/build-kn-wait.sh --print-path only print the path if it is built (exit 1 if not)
set -euo pipefail
SRC="$(cd "$(dirname "$0")/kn-wait" && pwd)"
CACHE="${SKIFF_TOOLS_CACHE:-$HOME/.cache/skiff/tools}"
GOV=$(command -v go >/dev/null && go env GOVERSION || echo nogo)
KEY=$(cat "$SRC/main.go" "$SRC/go.mod" | sha256sum | cut -c1-12)
DIR="$CACHE/kn-wait-$KEY"

if [ "${1:-}" = --print-path ]; then
  [ -x "$DIR/kn-wait" ] || exit 1
  echo "$DIR/kn-wait"
  exit 0
fi
[ -x "$DIR/kn-wait" ] && { echo "$DIR/kn-wait"; exit 0; }
command -v go >/dev/null || { echo "go not found: install Go >= 1.26 to build kn-wait" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
unset GOOS GOARCH GOWORK
mkdir -p "$CACHE"
exec 9>"$CACHE/.kn-wait-$KEY.lock"
flock 9
[ -x "$DIR/kn-wait" ] && { echo "$DIR/kn-wait"; exit 0; }
TMP=$(mktemp -d "$CACHE/.tmp.kn-wait.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
# Build from a copy: go.sum is written there (from the module proxy), never into the repo.
cp "$SRC/main.go" "$SRC/go.mod" "$TMP/"
t0=$(date +%s)
(cd "$TMP" && go mod tidy >/dev/null 2>&1 && go build -trimpath -ldflags "-s -w" -o "$TMP/kn-wait" .)
"$TMP/kn-wait" --help >/dev/null 2>&1 || [ $? -eq 2 ] || { echo "kn-wait does not run" >&2; exit 1; }
rm -rf "$DIR" && mkdir -p "$DIR" && mv "$TMP/kn-wait" "$DIR/kn-wait"
echo "[kn-wait] built $DIR/kn-wait with $GOV in $(($(date +%s) - t0)) s" >&2
echo "$DIR/kn-wait"
