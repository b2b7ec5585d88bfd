#!/usr/bin/env bash
# Builds the operator image with buildah from Dockerfile.local (docs/images.md): the built
# phoenix-controller and phoenix-build, stripped, on the base of hack/images/base.sh. With --push
# it pushes to a registry on loopback (plain HTTP), writes the pushed manifest's digest, prints
# REGISTRY/NAME:TAG@sha256:... and drops the local copy (vfs storage keeps a full copy of every
# image, and the registry now holds it).
#   hack/images/operator-image.sh [--bin DIR] [--tag NAME:TAG] [--push HOST:PORT] [--digestfile F]
#     --bin DIR       where the binaries are (default build/bin)
#     --tag NAME:TAG  image name (default phoenix-operator:0.1.0, the chart's appVersion)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib.sh"
# One build at a time per cache: tests running in parallel (ctest -j) share its buildah storage
# and names, and two concurrent builds of the same image fail each other.
mkdir -p "$IMG_CACHE"
exec 9>"$IMG_CACHE/.operator-image.lock"
flock 9
bin=$root/build/bin tag=phoenix-operator:0.1.0 push="" digestfile=""
while [ $# -gt 0 ]; do
	case "$1" in
	--bin) bin=$2; shift 2 ;;
	--tag) tag=$2; shift 2 ;;
	--push) push=$2; shift 2 ;;
	--digestfile) digestfile=$2; shift 2 ;;
	*) echo "operator-image.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
missing=$(img_missing)
[ -z "$missing" ] || { echo "operator-image.sh: missing $missing (hack/install-deps.sh --images)" >&2; exit 1; }
for b in phoenix-controller phoenix-build; do
	[ -x "$bin/$b" ] || { echo "operator-image.sh: $bin/$b not built (cmake --build build)" >&2; exit 1; }
done

ctx=$(mktemp -d "${TMPDIR:-/tmp}/phx-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/bin"
cp "$bin/phoenix-controller" "$bin/phoenix-build" "$ctx/bin/"
strip "$ctx/bin/phoenix-controller" "$ctx/bin/phoenix-build"
base=$("$here/base.sh" "$ctx/bin/phoenix-controller" "$ctx/bin/phoenix-build")
local_name=localhost/$tag
img_buildah build -q --timestamp 0 --build-arg BASE="$base" -f "$root/Dockerfile.local" -t "$local_name" "$ctx" >/dev/null

if [ -z "$push" ]; then
	echo "$local_name"
	exit 0
fi
[ -n "$digestfile" ] || digestfile=$ctx/digest
img_buildah push -q --tls-verify=false --digestfile "$digestfile" "$local_name" "docker://$push/$tag"
img_buildah rmi "$local_name" >/dev/null
echo "$push/$tag@$(cat "$digestfile")"
