#!/usr/bin/env bash
# Makes (once) the base image for our binaries without pulling anything: a scratch image holding
# exactly the shared libraries the given ELF binaries link (found with ldd, copied from this
# Debian machine's packages), the dynamic loader, the CA bundle, /tmp, and an /etc/passwd and
# /etc/group with the conventional "nonroot" user 65532. Prints the image name,
# localhost/phoenix-base:<key>, where the key hashes every file that goes in: the same libraries
# give the same image, cached in buildah's storage under $IMG_CACHE; an upgraded library (apt)
# makes a new one.
#   hack/images/base.sh BINARY...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
[ $# -gt 0 ] || { echo "usage: base.sh BINARY..." >&2; exit 2; }

# The libraries and loader, as absolute paths: "name => /path (addr)" and "/lib64/ld... (addr)".
libs=$(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && NF == 2 {print $1}' | sort -u)
[ -n "$libs" ] || { echo "base.sh: ldd found no libraries in $*" >&2; exit 1; }
if ldd "$@" | grep -q 'not found'; then
	echo "base.sh: a library is missing on this machine: $(ldd "$@" | grep 'not found')" >&2
	exit 1
fi
ca=/etc/ssl/certs/ca-certificates.crt
passwd='root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin'
group='root:x:0:
nonroot:x:65532:'
# shellcheck disable=SC2086
key=$({ sha256sum $libs "$ca"; echo "$passwd$group"; } | sha256sum | cut -c1-16)
name=localhost/phoenix-base:$key

if img_buildah inspect --type image "$name" >/dev/null 2>&1; then
	echo "$name"
	exit 0
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/phx-base.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/rootfs
mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/home/nonroot" "$root/usr/local/bin"
chmod 1777 "$root/tmp"
chown 65532:65532 "$root/home/nonroot"
for f in $libs; do
	mkdir -p "$root$(dirname "$f")"
	cp -L "$f" "$root$f"
done
cp -L "$ca" "$root$ca"
printf '%s\n' "$passwd" >"$root/etc/passwd"
printf '%s\n' "$group" >"$root/etc/group"

ctr=$(img_buildah from scratch)
img_buildah copy "$ctr" "$root" / >/dev/null
img_buildah config --user 65532:65532 --workingdir / \
	--env PATH=/usr/local/bin:/usr/bin:/bin \
	--label io.fpai.phoenix.base.libraries="$(echo "$libs" | wc -l)" "$ctr"
img_buildah commit -q --rm --timestamp 0 "$ctr" "$name" >/dev/null
echo "$name"
