#!/usr/bin/env bash
# Makes (once) a Python base image from this Debian machine's python3, for Dockerfiles that say
# FROM python:3-slim (the built-in generator's, docs/builds.md): the interpreter on the base of
# hack/images/base.sh (its exact libraries), the standard library without its tests, IDLE, tkinter
# and bytecode caches, PATH and LANG as the Docker image has them, user 65532 available. Cached in
# the image cache by key (the same interpreter and library give the same image); with --push it
# is pushed as HOST:PORT/python:3-slim and the printed reference is HOST:PORT/python:3-slim.
#   hack/images/python-base.sh [--push HOST:PORT]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
push=""
while [ $# -gt 0 ]; do
	case "$1" in
	--push) push=$2; shift 2 ;;
	*) echo "python-base.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
# the Debian interpreter (not a pyenv shim on PATH): its standard library is /usr/lib/pythonX.Y
py=$(readlink -f /usr/bin/python3)
ver=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
lib=/usr/lib/python$ver
[ -d "$lib" ] || { echo "python-base.sh: no standard library at $lib" >&2; exit 1; }
# lib-dynload's extension modules link libraries of their own (ssl, zlib, ffi, ...).
base=$("$here/base.sh" "$py" "$lib"/lib-dynload/*.so)
key=$({ echo "$base"; sha256sum "$py"; find "$lib" -type f -name '*.py' -newer "$py" | sort; \
	"$py" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-16)
name=localhost/phoenix-python:$ver-$key

if ! img_buildah inspect --type image "$name" >/dev/null 2>&1; then
	stage=$(mktemp -d "${TMPDIR:-/tmp}/phx-python.XXXXXX")
	trap 'rm -rf "$stage"' EXIT
	root=$stage/rootfs
	mkdir -p "$root/usr/bin" "$root/usr/lib"
	cp -L "$py" "$root/usr/bin/python$ver"
	ln -s "python$ver" "$root/usr/bin/python3"
	tar -C /usr/lib --exclude=__pycache__ --exclude="python$ver/test" --exclude=idlelib \
		--exclude=tkinter --exclude=turtledemo --exclude=ensurepip --exclude=lib2to3 \
		--exclude='config-*' -cf - "python$ver" | tar -C "$root/usr/lib" -xf -
	ctr=$(img_buildah from "$base")
	img_buildah copy "$ctr" "$root" / >/dev/null
	img_buildah config --user 0:0 --env PATH=/usr/local/bin:/usr/bin:/bin --env LANG=C.UTF-8 \
		--cmd '["python3"]' --label io.fpai.phoenix.base=python "$ctr"
	img_buildah commit -q --rm --timestamp 0 "$ctr" "$name" >/dev/null
fi
if [ -z "$push" ]; then
	echo "$name"
	exit 0
fi
img_buildah push -q --tls-verify=false "$name" "docker://$push/python:3-slim"
echo "$push/python:3-slim"
