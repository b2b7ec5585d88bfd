#!/usr/bin/env bash
# Makes the Build's buildah step image (docs/images.md, "The buildah step image") without
# pulling anything: Debian's buildah, a POSIX sh (dash) and cat on the base of hack/images/base.sh
# (exactly the libraries they link), containers' policy.json (accept anything: the registry is
# ours), storage.conf (vfs) and a registries.conf. Runs as root (buildah needs it; inside the
# container, kubesim's runc gives it the default capabilities). The tools layer is cached in the
# image cache by key (the same binaries give the same image); the registries.conf layer on top is
# made per registry: `--alias NAME=REF` resolves a Dockerfile's short name (FROM python:3-slim)
# to an image of the given registry, as a site's builder image names its mirror.
#   hack/images/buildah-step.sh --push HOST:PORT [--alias NAME=REPO]... [--tag NAME:TAG]
# Prints HOST:PORT/NAME:TAG@sha256:... of the pushed image.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
push="" tag=phoenix-buildah:1.28 aliases=()
while [ $# -gt 0 ]; do
	case "$1" in
	--push) push=$2; shift 2 ;;
	--alias) aliases+=("$2"); shift 2 ;;
	--tag) tag=$2; shift 2 ;;
	*) echo "buildah-step.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ -n "$push" ] || { echo "usage: buildah-step.sh --push HOST:PORT [--alias NAME=REPO]..." >&2; exit 2; }
missing=$(img_missing)
[ -z "$missing" ] || { echo "buildah-step.sh: missing $missing (hack/install-deps.sh --images)" >&2; exit 1; }

bins="/usr/bin/buildah /bin/dash /bin/cat"
base=$("$here/base.sh" $bins)
key=$({ echo "$base"; sha256sum $bins; } | sha256sum | cut -c1-16)
tools=localhost/phoenix-buildah-tools:$key
stage=$(mktemp -d "${TMPDIR:-/tmp}/phx-buildah.XXXXXX")
trap 'rm -rf "$stage"' EXIT

if ! img_buildah inspect --type image "$tools" >/dev/null 2>&1; then
	root=$stage/rootfs
	mkdir -p "$root/usr/bin" "$root/bin" "$root/etc/containers" "$root/var/tmp" \
		"$root/var/lib/containers" "$root/run"
	chmod 1777 "$root/var/tmp"
	cp -L /usr/bin/buildah /bin/cat "$root/usr/bin/"
	cp -L /bin/dash "$root/bin/sh"
	printf '{"default": [{"type": "insecureAcceptAnything"}]}\n' >"$root/etc/containers/policy.json"
	printf '[storage]\ndriver = "vfs"\nrunroot = "/run/containers/storage"\ngraphroot = "/var/lib/containers/storage"\n' \
		>"$root/etc/containers/storage.conf"
	ctr=$(img_buildah from "$base")
	img_buildah copy "$ctr" "$root" / >/dev/null
	img_buildah config --user 0:0 --env PATH=/usr/bin:/bin --env TMPDIR=/var/tmp \
		--env BUILDAH_ISOLATION=chroot --entrypoint '["/usr/bin/buildah"]' \
		--label io.fpai.phoenix.step=buildah "$ctr"
	img_buildah commit -q --rm --timestamp 0 "$ctr" "$tools" >/dev/null
fi

# The per-registry layer: registries.conf with the short-name aliases.
{
	echo 'unqualified-search-registries = []'
	echo 'short-name-mode = "permissive"'
	echo '[aliases]'
	for a in "${aliases[@]}"; do
		printf '"%s" = "%s"\n' "${a%%=*}" "${a#*=}"
	done
} >"$stage/registries.conf"
ctr=$(img_buildah from "$tools")
img_buildah copy "$ctr" "$stage/registries.conf" /etc/containers/registries.conf >/dev/null
img_buildah commit -q --rm --timestamp 0 "$ctr" "localhost/$tag" >/dev/null
img_buildah push -q --tls-verify=false --digestfile "$stage/digest" "localhost/$tag" "docker://$push/$tag"
img_buildah rmi "localhost/$tag" >/dev/null
echo "$push/$tag@$(cat "$stage/digest")"
