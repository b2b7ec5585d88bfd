#!/usr/bin/env bash
# The operator image for real, with no container engine (docs/images.md): buildah builds it from
# Dockerfile.local on the base hack/images/base.sh makes from this machine's libraries, pushes it
# to Debian's docker-registry on loopback with --digestfile, and the digest equals the one
# `skopeo inspect` reads back from the registry. The image's config runs as 65532:65532 with the
# controller as entrypoint. Pulled back (skopeo -> OCI layout -> umoci bundle), runc runs it:
# `--help` exits 0, the dynamic loader resolves every library inside the image, and the operator
# itself, on a read-only root with the host's network, connects to kubesim, serves /readyz,
# runs as uid 65532 (read from /proc of its pid) and settles a PhoenixService.
# Skips (exit 0, "SKIP:") when buildah, runc, skopeo, umoci or docker-registry is missing:
# hack/install-deps.sh --images brings them (hack/test.sh does when this test is selected).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$PHX_ROOT/hack/images/lib.sh"

img_require_or_skip

img_registry_start "$E2E_TMP/registry" || fail "docker-registry did not start"
on_exit img_registry_stop
on_failure "echo '--- registry log'; tail -n 20 '$E2E_TMP/registry/registry.log'"

# Build and push; the digest buildah wrote is the registry's.
ref=$("$PHX_ROOT/hack/images/operator-image.sh" --bin "$PHX_BIN" --push "$IMG_REGISTRY" \
	--digestfile "$E2E_TMP/digest") || fail "operator-image.sh failed"
digest=$(cat "$E2E_TMP/digest")
expect_eq "$IMG_REGISTRY/phoenix-operator:0.1.0@$digest" "$ref" "printed reference = name@digest file"
inspect=$(skopeo inspect --tls-verify=false "docker://$IMG_REGISTRY/phoenix-operator:0.1.0")
expect_eq "$digest" "$(jq -r .Digest <<<"$inspect")" "pushed digest = registry's digest"
config=$(skopeo inspect --tls-verify=false --config "docker://$IMG_REGISTRY/phoenix-operator:0.1.0")
expect_eq 65532:65532 "$(jq -r .config.User <<<"$config")" "image user is non-root"
expect_eq '["/usr/local/bin/phoenix-controller"]' "$(jq -c .config.Entrypoint <<<"$config")" "entrypoint"

# Pull by digest into an OCI layout and unpack a bundle per container.
img_pull "$IMG_REGISTRY/phoenix-operator@$digest" "$E2E_TMP/oci" op || fail "skopeo copy by digest failed"
bundle() {
	local b=$E2E_TMP/$1
	shift
	img_unpack "$E2E_TMP/oci" op "$b" || fail "umoci unpack failed"
	python3 "$PHX_ROOT/hack/images/oci_config.py" "$b" "$@" || fail "oci_config.py $*"
}
runc_root="$E2E_TMP/runc"
r() { runc --root "$runc_root" "$@"; }

bundle b-help --args '["/usr/local/bin/phoenix-controller","--help"]' --read-only
expect_eq 65532 "$(jq -r .process.user.uid "$E2E_TMP/b-help/config.json")" "bundle runs as uid 65532"
out=$(r run -b "$E2E_TMP/b-help" "phx-help-$$" </dev/null 2>&1) || fail "runc run --help failed: $out"
expect_contains "$out" "Usage: phoenix-controller" "--help from inside the image"

# The loader inside the image resolves every library (LD_TRACE_LOADED_OBJECTS is ldd's mechanism;
# there is no ldd in the image).
bundle b-libs --env LD_TRACE_LOADED_OBJECTS=1 --read-only
libs=$(r run -b "$E2E_TMP/b-libs" "phx-libs-$$" </dev/null 2>&1) || fail "runc run (library trace) failed: $libs"
if grep -q 'not found' <<<"$libs"; then fail "a library is missing in the image: $(grep 'not found' <<<"$libs")"; fi
for l in libcurl.so.4 libyaml-0.so.2 libcjson.so.1 libssl.so.3 libcrypto.so.3 libmicrohttpd.so.12 libz.so.1; do
	expect_contains "$libs" "$l => /lib/x86_64-linux-gnu/$l" "image links $l"
done

# The operator from the image against kubesim: host network (kubesim and the probe port are on
# loopback), the kubeconfig bind-mounted read-only, a read-only root as the chart sets it.
sim_start
phx_install_crd
probe=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
install -m 0644 "$KUBECONFIG" "$E2E_TMP/kubeconfig-ro"
bundle b-op --host-network --read-only \
	--bind "$E2E_TMP/kubeconfig-ro:/etc/phoenix/kubeconfig:ro" \
	--args "[\"/usr/local/bin/phoenix-controller\",\"--kubeconfig\",\"/etc/phoenix/kubeconfig\",\"--metrics-bind-address\",\"0\",\"--health-probe-bind-address\",\"127.0.0.1:$probe\"]"
op_id="phx-op-$$"
on_exit "runc --root '$runc_root' delete --force $op_id"
on_failure "echo '--- operator (container) log'; tail -n 40 '$E2E_TMP/op.log'"
r run -d -b "$E2E_TMP/b-op" "$op_id" </dev/null >"$E2E_TMP/op.log" 2>&1 || fail "runc run -d failed: $(cat "$E2E_TMP/op.log")"
wait_for 10 "operator in the container ready" curl -sf "http://127.0.0.1:$probe/readyz"
pid=$(r state "$op_id" | jq -r .pid)
expect_eq running "$(r state "$op_id" | jq -r .status)" "container running"
expect_eq "65532 65532 65532 65532" "$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status")" "operator process uid"
[ "$(readlink "/proc/$pid/ns/pid")" != "$(readlink /proc/self/ns/pid)" ] || fail "operator is not in its own PID namespace"
[ "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] || fail "operator is not in its own mount namespace"
expect_eq "$(readlink /proc/self/ns/net)" "$(readlink "/proc/$pid/ns/net")" "host network namespace"

k apply -f "$PHX_ROOT/manifests/samples/minimal.yaml" >/dev/null
phx_wait_settled hello

# A graceful stop: SIGTERM reaches the controller (PID 1 in the container) and it exits.
r kill "$op_id" TERM
wait_for 10 "containerized operator stopped on SIGTERM" bash -c "[ \"\$(runc --root '$runc_root' state $op_id | jq -r .status)\" = stopped ]"
r delete "$op_id"
pass "operator image built with buildah ($digest), pushed and inspected, runs as 65532 with its libraries under runc and settles a PhoenixService"
