#!/usr/bin/env bash
# Builds the real-lane binaries (kube-apiserver, kube-controller-manager, kube-scheduler, etcd,
# kwok) from their Go modules at the versions pinned in hack/k8s/versions.env, into a cache
# directory outside the checkout. Idempotent: when the binaries for these versions (and these
# go.sum files) are already there it prints their directory and exits at once.
#
#   hack/k8s/build.sh            build if needed; last line of stdout is the bin directory
#   hack/k8s/build.sh --print    print the bin directory, build nothing (exit 1 if not built)
#
# Environment: PHX_K8S_CACHE (default ~/.cache/phoenix), GOFLAGS and the Go caches as usual.
# Progress goes to stderr; the Go build itself runs under `nice -n 15`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
. "$here/versions.env"

cache_root="${PHX_K8S_CACHE:-$HOME/.cache/phoenix}"
dir="$cache_root/k8s-$K8S_VERSION"
bin="$dir/bin"
bins=(kube-apiserver kube-controller-manager kube-scheduler etcd kwok)

log() { printf '[k8s-build %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

stamp_text() {
	printf 'k8s=%s etcd=%s kwok=%s\n' "$K8S_VERSION" "$ETCD_VERSION" "$KWOK_VERSION"
	cat "$here/kube/go.sum" "$here/etcd/go.sum" "$here/kwok/go.sum" | sha256sum | cut -d' ' -f1
}

is_built() {
	local b
	[ -f "$dir/stamp" ] || return 1
	[ "$(cat "$dir/stamp")" = "$(stamp_text)" ] || return 1
	for b in "${bins[@]}"; do
		[ -x "$bin/$b" ] || return 1
	done
}

if [ "${1:-}" = "--print" ]; then
	is_built || exit 1
	echo "$bin"
	exit 0
fi

if is_built; then
	log "cached: $bin ($K8S_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION)"
	echo "$bin"
	exit 0
fi

command -v go >/dev/null || { log "go not found"; exit 2; }
mkdir -p "$bin"
rm -f "$dir/stamp"
t0=$(date +%s)

# Stamp the version into the binaries the way the upstream Makefile does, so /version says
# v1.32.x (kubectl's skew warning and helm's kubeVersion checks read it).
minor="${K8S_VERSION#v1.}"
minor="${minor%%.*}"
kver=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	kver="$kver -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
	kver="$kver -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

build() { # build MODULE_DIR LDFLAGS PKG...
	local mod="$1" ld="$2"
	shift 2
	log "building $* (module hack/k8s/$mod) ..."
	(cd "$here/$mod" && nice -n 15 go build -mod=readonly -trimpath -ldflags "-s -w $ld" \
		-o "$bin/" "$@")
	log "built $* after $(($(date +%s) - t0))s"
}

log "downloading modules (first run only; cached in $(go env GOMODCACHE)) ..."
for m in etcd kwok kube; do
	(cd "$here/$m" && nice -n 15 go mod download)
done
log "modules ready after $(($(date +%s) - t0))s"

build etcd "" .
build kwok "" sigs.k8s.io/kwok/cmd/kwok
build kube "$kver" k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler

for b in "${bins[@]}"; do
	[ -x "$bin/$b" ] || { log "missing $bin/$b after the build"; exit 1; }
done
stamp_text >"$dir/stamp"
log "done in $(($(date +%s) - t0))s: $bin"
echo "$bin"
