#!/usr/bin/env bash
# Builds, once, the binaries of the real-Kubernetes test cluster (test/k8s/cluster.ts) from the Go
# module proxy with the machine's Go, and caches them outside the repo, keyed by version:
#   ${SKIFF_K8S_CACHE:-$HOME/.cache/skiff/k8s}/<key>/{bin/,stages/,STAMP}
# A later call with the same versions only checks the cache. A half-written or damaged cache (no
# STAMP, a binary that fails `--version`) is rebuilt. Concurrent calls are serialised by flock.
# Recipe and pitfalls: ../shared/reference/kubernetes-test-cluster.md.
# Prints the cache directory on stdout's last line; progress and timings go to stderr.
#   scripts/k8s/build.sh              build if needed
#   scripts/k8s/build.sh --print-dir  only print the cache dir if it is complete (exit 1 if not; no Go needed)
set -euo pipefail

K8S_VERSION=v1.36.3  # kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (go.mod: go 1.26.0)
ETCD_VERSION=v3.6.16 # go.etcd.io/etcd/server/v3 (go.mod: go 1.26.0)
KWOK_VERSION=v0.8.0  # sigs.k8s.io/kwok (go.mod: go 1.26.0)
RECIPE=1             # bump when the way of building changes, to invalidate old caches

KEY="k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_r${RECIPE}"
CACHE="${SKIFF_K8S_CACHE:-$HOME/.cache/skiff/k8s}"
DIR="$CACHE/$KEY"
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)

log() { printf '[k8s-build] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s; }

if [ "${1:-}" = --print-dir ]; then
  [ -f "$DIR/STAMP" ] && [ "$(cat "$DIR/STAMP")" = "$KEY" ] || exit 1
  echo "$DIR"
  exit 0
fi

command -v go >/dev/null || die "go not found on PATH: install Go >= 1.26.0 to build the Kubernetes test cluster"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
unset GOOS GOARCH GOWORK

# Each binary must run and report the version it was built as (an empty or truncated file would
# "run" as an empty shell script, so exit codes alone prove nothing).
binaries_ok() { # <dir>
  local b out want
  for b in "${BINARIES[@]}"; do
    [ -x "$1/bin/$b" ] || return 1
    case $b in
      kubectl) out=$("$1/bin/$b" version --client 2>/dev/null) want="Client Version: $K8S_VERSION" ;;
      etcd) out=$("$1/bin/$b" --version 2>/dev/null) want="etcd Version: ${ETCD_VERSION#v}" ;;
      kwok) out=$("$1/bin/$b" --version 2>/dev/null) want="kwok version $KWOK_VERSION" ;;
      *) out=$("$1/bin/$b" --version 2>/dev/null) want="Kubernetes $K8S_VERSION" ;;
    esac
    [[ "$out" == *"$want"* ]] || { log "$1/bin/$b --version: want \"$want\", got \"${out%%$'\n'*}\""; return 1; }
  done
  [ -f "$1/stages/pod/fast/pod-ready.yaml" ] || return 1
}

# The cache is valid when STAMP (written last) names this key and every binary checks out.
cache_ok() {
  [ -f "$DIR/STAMP" ] && [ "$(cat "$DIR/STAMP")" = "$KEY" ] && binaries_ok "$DIR"
}

start_all=$(now)
mkdir -p "$CACHE"
if cache_ok; then
  log "cached: $DIR ($(($(now) - start_all)) s)"
  echo "$DIR"
  exit 0
fi

exec 9>"$CACHE/.$KEY.lock"
if ! flock -n 9; then
  log "another build of $KEY is running; waiting for it"
  flock 9
fi
if cache_ok; then # built by a concurrent call while we waited
  log "cached (built concurrently): $DIR"
  echo "$DIR"
  exit 0
fi

# Leftovers of a build that was killed (we hold the lock, so none is running).
rm -rf "$CACHE/.tmp.$KEY."*
GOVERSION=$(go env GOVERSION)
log "building $KEY with $GOVERSION on $(nproc) cores (cold: 10-30 min; warm Go caches: a few minutes)"
TMP=$(mktemp -d "$CACHE/.tmp.$KEY.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
chmod 755 "$TMP" && mkdir -p "$TMP/bin" "$TMP/src"

# Refuses a module whose go.mod wants a newer Go than ours (GOTOOLCHAIN=local would fail later, less clearly).
check_go_line() { # <module> <version> <go.mod path>
  local want
  want=$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$3")
  if [ -n "$want" ] && [ "$(printf '%s\n%s\n' "$want" "${GOVERSION#go}" | sort -V | tail -1)" != "${GOVERSION#go}" ]; then
    die "$1@$2 needs go $want, but the local toolchain is $GOVERSION"
  fi
}

# Runs a command with its output in a file, shown only when it fails (go get is chatty).
quiet() {
  "$@" >"$TMP/src/quiet.log" 2>&1 || { cat "$TMP/src/quiet.log" >&2; die "failed: $*"; }
}

timed() { # <label> <command...>
  local t0=$(now) label=$1
  shift
  "$@"
  log "$label: $(($(now) - t0)) s"
}

# --- etcd: a wrapper module; server/v3's own go.mod has replaces, so `go install @version` refuses it.
build_etcd() {
  mkdir -p "$TMP/src/etcd" && cd "$TMP/src/etcd"
  go mod init local.test/etcdbin >/dev/null 2>&1
  local gomod
  gomod=$(go mod download -json "go.etcd.io/etcd/server/v3@$ETCD_VERSION" | sed -n 's/.*"GoMod": "\([^"]*\)".*/\1/p')
  check_go_line go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$gomod"
  quiet go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  go build -trimpath -ldflags "-s -w" -o "$TMP/bin/etcd" go.etcd.io/etcd/server/v3
}

# --- Kubernetes: k8s.io/kubernetes requires its staging modules at v0.0.0 through replaces to
# ./staging, which a dependent module does not see; replace each with its v0.Y.Z tag instead.
build_kubernetes() {
  mkdir -p "$TMP/src/kubernetes" && cd "$TMP/src/kubernetes"
  go mod init local.test/k8sbin >/dev/null 2>&1
  local gomod staging=v0.${K8S_VERSION#v1.} minor m
  gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\([^"]*\)".*/\1/p')
  [ -f "$gomod" ] || die "no go.mod for k8s.io/kubernetes@$K8S_VERSION from the module proxy"
  check_go_line k8s.io/kubernetes "$K8S_VERSION" "$gomod"
  local replaces
  replaces=$(sed -n 's#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/.*#\1#p' "$gomod")
  [ -n "$replaces" ] || die "found no staging replaces in $gomod"
  for m in $replaces; do go mod edit -replace="$m=$m@$staging"; done
  log "kubernetes: $(echo "$replaces" | wc -l) staging modules pinned at $staging"
  local cmds="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl"
  quiet go get "k8s.io/kubernetes@$K8S_VERSION"
  minor=${K8S_VERSION#v1.}
  minor=${minor%%.*}
  # What hack/lib/version.sh stamps; unstamped binaries say v0.0.0-master+$Format:%h$.
  local vf="" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    vf="$vf -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
    vf="$vf -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  # shellcheck disable=SC2086 # cmds is a word list
  go build -trimpath -ldflags "-s -w$vf" -o "$TMP/bin/" $cmds
}

# --- kwok: its go.mod has no replaces, so plain `go install` works.
build_kwok() {
  local gomod moddir
  gomod=$(cd "$TMP" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"GoMod": "\([^"]*\)".*/\1/p')
  check_go_line sigs.k8s.io/kwok "$KWOK_VERSION" "$gomod"
  GOBIN="$TMP/bin" go install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  # v0.8.0 has no built-in stages ("no stages found"): keep its Stage YAMLs beside the binary.
  moddir=$(cd "$TMP" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/.*"Dir": "\([^"]*\)".*/\1/p')
  [ -d "$moddir/kustomize/stage" ] || die "no kustomize/stage in $moddir"
  cp -r "$moddir/kustomize/stage" "$TMP/stages"
  chmod -R u+w "$TMP/stages"
}

timed "etcd $ETCD_VERSION" build_etcd
timed "kwok $KWOK_VERSION" build_kwok
timed "kubernetes $K8S_VERSION (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl)" build_kubernetes
cd "$CACHE"

binaries_ok "$TMP" || die "the fresh build does not report the expected versions"
rm -rf "$TMP/src"
echo "$KEY" >"$TMP/STAMP"
# Swap in atomically: readers see the old tree, nothing, or the complete new one.
if [ -e "$DIR" ]; then mv "$DIR" "$TMP.old" && rm -rf "$TMP.old"; fi
mv "$TMP" "$DIR"
trap - EXIT
log "built $DIR in $(($(now) - start_all)) s ($(du -sh "$DIR/bin" | cut -f1))"
echo "$DIR"
