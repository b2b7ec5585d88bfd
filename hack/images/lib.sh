# Shared helpers for real images without a daemon (docs/images.md): buildah on vfs storage,
# Debian's docker-registry on loopback, skopeo, umoci and runc. Source it; every function is
# prefixed img_. Nothing here needs a container engine, a daemon or a network beyond loopback.
#
#   IMG_CACHE        the cache outside the checkout (default ~/.cache/phoenix/images of the real
#                    user, even when a test has moved HOME): buildah's storage, the base rootfs
#   img_buildah ARGS buildah on the cache's vfs storage
#   img_missing      prints the tools (and the package that brings each) that are not installed
#   img_registry_start DIR   starts docker-registry on 127.0.0.1:<free port> with a config and
#                    storage in DIR; sets IMG_REGISTRY (host:port) and IMG_REGISTRY_PID
#   img_registry_stop        stops it
#   img_pull REF OCIDIR TAG  skopeo copy from the (plain-HTTP loopback) registry to an OCI layout
#   img_unpack OCIDIR TAG BUNDLE  umoci unpack: BUNDLE/rootfs and BUNDLE/config.json (the image's
#                    user, entrypoint, env and workdir)

IMG_CACHE=${PHX_IMAGES_CACHE:-$(getent passwd "$(id -u)" | cut -d: -f6)/.cache/phoenix/images}
IMG_RUNROOT=${PHX_IMAGES_RUNROOT:-/run/phoenix-images-$(id -u)}

img_buildah() {
	buildah --root "$IMG_CACHE/storage" --runroot "$IMG_RUNROOT" --storage-driver vfs "$@"
}

# command:package pairs, Debian bookworm names.
IMG_TOOLS="buildah:buildah runc:runc skopeo:skopeo umoci:umoci docker-registry:docker-registry"

img_missing() {
	local t out=""
	for t in $IMG_TOOLS; do
		command -v "${t%%:*}" >/dev/null || out="$out ${t##*:}"
	done
	echo "${out# }"
}

# For a test: exits 0 with "SKIP: <test>: ..." when the image tools (or jq) are missing or this
# is not root (runc and buildah's vfs storage need root here).
img_require_or_skip() {
	local missing
	missing=$(img_missing)
	command -v jq >/dev/null || missing="${missing:+$missing }jq"
	if [ -n "$missing" ]; then
		echo "SKIP: $(basename "$0"): needs the image tools, missing: $missing (run hack/install-deps.sh --images)"
		exit 0
	fi
	[ "$(id -u)" -eq 0 ] || { echo "SKIP: $(basename "$0"): runc and buildah's vfs storage need root here"; exit 0; }
}

_img_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

img_registry_start() {
	local dir=$1 try port i
	mkdir -p "$dir/data"
	for try in 1 2 3; do
		port=$(_img_free_port)
		cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
		docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
		IMG_REGISTRY_PID=$!
		for i in $(seq 1 100); do
			if curl -sf "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then
				IMG_REGISTRY=127.0.0.1:$port
				return 0
			fi
			kill -0 "$IMG_REGISTRY_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill "$IMG_REGISTRY_PID" 2>/dev/null
		wait "$IMG_REGISTRY_PID" 2>/dev/null
	done
	echo "img_registry_start: docker-registry did not answer on 127.0.0.1: $(tail -n 5 "$dir/registry.log")" >&2
	return 1
}

img_registry_stop() {
	[ -n "${IMG_REGISTRY_PID:-}" ] || return 0
	kill "$IMG_REGISTRY_PID" 2>/dev/null
	wait "$IMG_REGISTRY_PID" 2>/dev/null
	IMG_REGISTRY_PID=""
}

# The loopback registry speaks plain HTTP (no certificate to make); the tools are told so.
img_pull() {
	skopeo copy -q --src-tls-verify=false "docker://$1" "oci:$2:$3"
}

img_unpack() {
	umoci unpack --image "$1:$2" "$3" >/dev/null
}
