#!/usr/bin/env bash
# The Build's buildah builder for real (issue 16), on kubesim --run-pods in image mode with the
# registry on loopback: a Dockerfile-based service (FROM python:3-slim, the base made by
# hack/images/python-base.sh) is fetched and tested as usual, then the image step's container
# runs the builder image of hack/images/buildah-step.sh under runc, with the capabilities the
# Build controller asks for; buildah builds (chroot isolation, vfs) and pushes to the registry;
# the Build reports name@sha256 equal to the registry's digest (skopeo inspect); the
# PhoenixService's pods run that image in runc containers and answer the five contract
# endpoints. A Dockerfile that does not build ends ImageBuildFailed, a push to a registry that is
# not there PushFailed, each from the step's own report (the first attempt's classification).
# Skips (exit 0, "SKIP:") when the image tools are missing (hack/install-deps.sh --images).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/build_helpers.sh"
source "$PHX_ROOT/hack/images/lib.sh"
require_kubesim "kubesim --run-pods"
img_require_or_skip
command -v git >/dev/null || fail "git not installed (hack/install-deps.sh)"

img_registry_start "$E2E_TMP/registry" || fail "docker-registry did not start"
on_exit img_registry_stop
R=$IMG_REGISTRY
"$PHX_ROOT/hack/images/python-base.sh" --push "$R" >/dev/null || fail "python-base.sh failed"
bimg=$("$PHX_ROOT/hack/images/buildah-step.sh" --push "$R" --alias "python=$R/python") ||
	fail "buildah-step.sh failed"

build_runpods_start
on_failure "echo '--- image step logs'; for j in \$(kubectl --kubeconfig '$KUBECONFIG' get jobs -o name); do echo \"== \$j\"; kubectl --kubeconfig '$KUBECONFIG' logs \$j -c image 2>&1 | tail -n 15; done; cat '$RP'/*/pods/*/oci/*/pull.log 2>/dev/null | tail -n 10"
jp() { k get pod "$1" -o "jsonpath=$2"; }
# The runc id of a pod's container's current run: ks-<uid>-<container>-<wrapper pid>.
ctr_id() { runc --root /run/kubesim-oci list -q | grep "^ks-$(jp "$1" '{.metadata.uid}')-$2-" | tail -n 1; }

# The source: the contract fixture, a Makefile test and a Dockerfile.
src="$E2E_TMP/src/hello"
mkdir -p "$src"
cp "$PHX_ROOT/tests/e2e/testdata/contract_fixture.py" "$src/server.py"
printf 'test:\n\tpython3 -c '\''import ast; ast.parse(open("server.py").read()); print("1 test passed")'\''\n' >"$src/Makefile"
printf 'FROM python:3-slim\nWORKDIR /app\nCOPY server.py .\nENV GREETING=from-buildah\nEXPOSE 8080\nCMD ["python3", "server.py"]\n' >"$src/Dockerfile"
git -C "$src" init -q -b main && git -C "$src" add -A &&
	git -C "$src" -c user.email=t@e -c user.name=t commit -qm init

# apply_buildah NAME SRC IMAGE: a Build of SRC with the buildah builder and our builder image.
apply_buildah() {
	k apply -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Build
metadata: {name: $1}
spec:
  serviceName: $1
  source:
    git: {url: 'file://$2', revision: main}
  image: {name: '$3', builder: buildah, builderImage: '$bimg', insecureRegistry: true}
  deploy: {port: 8080, standbys: 1, healthTimeoutSeconds: 120}
YAML
}

apply_buildah hello "$src" "$R/default/hello:v1"
build_wait_reason hello Succeeded 300
img=$(k get build hello -o jsonpath='{.status.output.image}')
case "$img" in "$R/default/hello@sha256:"????????????????????????????????????????????????????????????????) ;;
*) fail "not name@sha256: $img" ;; esac
reg=$(skopeo inspect --tls-verify=false "docker://$R/default/hello:v1" | jq -r .Digest)
expect_eq "${img#*@}" "$reg" "the reported digest is the registry's (skopeo inspect)"
# The image step ran in a runc container from the builder image, with the capabilities asked.
jobpod=$(k get pods -l "job-name=hello-1" -o 'jsonpath={.items[0].metadata.name}')
[ -n "$jobpod" ] || jobpod=$(k get pods -o name | sed -n 's|^pod/\(hello-1-.*\)|\1|p' | head -n 1)
expect_eq "$bimg" "$(k get pod "$jobpod" -o 'jsonpath={.spec.containers[?(@.name=="image")].image}')" "the image step's image"
cfg=$(echo "$RP"/*/pods/"$(jp "$jobpod" '{.metadata.uid}')"/oci/image/config.base.json)
[ -f "$cfg" ] || fail "the image step did not run under runc (no $cfg)"
expect_eq true "$(jq '.process.capabilities.bounding | index("CAP_SYS_ADMIN") != null' "$cfg")" "CAP_SYS_ADMIN for buildah"
pass "buildah built and pushed $img from the builder image under runc; the digest is the registry's"

# The PhoenixService runs that image: its pods' containers are runc containers from it.
expect_eq "$img" "$(phx_get hello '{.spec.template.spec.containers[0].image}')" "the PhoenixService runs the digest"
wait_for 120 "hello Available" phx_is_available hello
primary=$(phx_get hello '{.status.primary}')
expect_eq "$img" "$(jp "$primary" '{.spec.containers[0].image}')" "the primary pod's image"
cname=$(jp "$primary" '{.spec.containers[0].name}')
cid=$(ctr_id "$primary" "$cname")
[ -n "$cid" ] || fail "no runc container for $primary/$cname"
pid=$(runc --root /run/kubesim-oci state "$cid" | jq -r .pid)
[ -f "/proc/$pid/root/app/server.py" ] || fail "the container's root has no /app/server.py (not the built image)"
pcfg=$(echo "$RP"/*/pods/"$(jp "$primary" '{.metadata.uid}')"/oci/"$cname"/config.base.json)
expect_eq '["python3","server.py"]' "$(jq -c .process.args "$pcfg")" "the Dockerfile's CMD"
ip=$(jp "$primary" '{.status.podIP}')
a="http://$ip:8080"
expect_contains "$(curl -sf "$a/health")" '"greeting": "from-buildah"' "/health with the Dockerfile's ENV"
expect_contains "$(curl -sf "$a/capabilities")" '"message"' "/capabilities"
expect_eq '{}' "$(curl -sf "$a/state")" "/state"
expect_eq '{}' "$(curl -sf "$a/dependencies")" "/dependencies"
expect_contains "$(curl -sf -X POST -H 'Content-Type: application/json' -d '{"type":"greeting"}' "$a/message")" '"accepted": true' "/message"
pass "the PhoenixService's pod $primary runs $img under runc and answers the five endpoints on $ip"

# --- failures: the step's report names them
bad="$E2E_TMP/src/bad"
cp -r "$src" "$bad"
printf 'FROM python:3-slim\nCOPY not-in-the-context /app/\n' >"$bad/Dockerfile"
git -C "$bad" -c user.email=t@e -c user.name=t commit -qam "bad Dockerfile"
apply_buildah bad "$bad" "$R/default/bad:v1"
closed=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
apply_buildah nopush "$src" "127.0.0.1:$closed/default/nopush:v1"
# The first attempt's classification (a step failure is retried; the last ends RetriesExhausted).
first_reason() { k get build "$1" -o 'jsonpath={.status.history[0].reason}'; }
has_first_reason() { [ "$(first_reason "$1")" = "$2" ]; }
wait_for 300 "Build bad's first attempt ImageBuildFailed (now: \$(first_reason bad))" has_first_reason bad ImageBuildFailed
expect_contains "$(k get build bad -o 'jsonpath={.status.history[0].message}')" "buildah bud failed" "the step's report"
expect_contains "$(k logs job/bad-1 -c image)" "not-in-the-context" "buildah's error in the step log"
wait_for 300 "Build nopush's first attempt PushFailed (now: \$(first_reason nopush))" has_first_reason nopush PushFailed
expect_contains "$(k get build nopush -o 'jsonpath={.status.history[0].message}')" "buildah push to 127.0.0.1:$closed failed" "the step's report"
expect_fail "nothing deployed for bad" k get phx bad
expect_fail "nothing deployed for nopush" k get phx nopush
pass "a Dockerfile that does not build ends ImageBuildFailed, a push to no registry PushFailed"
