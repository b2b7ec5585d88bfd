#!/usr/bin/env bash
# A Build run for real on kubesim --run-pods: phoenix-build fetches a git source (file://), detects
# make and runs its tests, the `local` builder packs it into kubesim's image store honouring its
# Dockerfile and reports name@sha256:digest; the operator deploys the PhoenixService by that
# digest, the service answers /health on its pod IP with the PORT and POD_IP it was given, it
# is Available and registered. A source whose tests fail ends TestsFailed after one retry, the
# message naming the logs command, whose output shows the failing test.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/build_helpers.sh"
command -v git >/dev/null || fail "git not installed (hack/install-deps.sh)"

build_runpods_start

# The source: a tiny HTTP service (the five contract endpoints) with a Makefile test and a
# Dockerfile.
src="$E2E_TMP/src/hello"
mkdir -p "$src"
cp "$PHX_ROOT/tests/e2e/testdata/contract_fixture.py" "$src/server.py"
cat >"$src/Makefile" <<'MK'
test:
	python3 -c 'import ast; ast.parse(open("server.py").read()); print("1 test passed")'
MK
printf 'FROM python:3-slim\nWORKDIR /app\nCOPY . .\nENV GREETING=hello\nEXPOSE 8080\nCMD ["python3", "server.py"]\n' >"$src/Dockerfile"
git -C "$src" init -q -b main && git -C "$src" add -A &&
	git -C "$src" -c user.email=t@e -c user.name=t commit -qm init
sha=$(git -C "$src" rev-parse HEAD)

k apply -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Build
metadata: {name: hello}
spec:
  serviceName: hello
  source:
    git: {url: 'file://$src', revision: main}
  image: {name: registry.local/default/hello, builder: local, localStore: '$STORE'}
  deploy: {port: 8080, standbys: 1, healthTimeoutSeconds: 120}
YAML
wait_for 120 "Build hello deployed or failed" bash -c "kubectl --kubeconfig $KUBECONFIG get build hello -o jsonpath='{.status.phase}' | grep -Eq 'Deploying|Succeeded|Failed'"
build_wait_reason hello Succeeded 120
expect_eq "make $sha" "$(k get build hello -o jsonpath='{.status.buildSystem} {.status.source.commitSha}')" "build system and commit from the step reports"
img=$(k get build hello -o jsonpath='{.status.output.image}')
case "$img" in registry.local/default/hello@sha256:????????????????????????????????????????????????????????????????) ;; *) fail "not a digest: $img" ;; esac
[ -f "$STORE/$(echo "$img" | tr '/:' '__')/manifest.json" ] || fail "the image is not in the store"
expect_eq "$img" "$(phx_get hello '{.spec.template.spec.containers[0].image}')" "the PhoenixService runs the digest"
primary=$(phx_get hello '{.status.primary}')
ip=$(k get pod "$primary" -o jsonpath='{.status.podIP}')
out=$(curl -sf "http://$ip:8080/health") || fail "GET /health on $ip:8080"
expect_contains "$out" '"greeting": "hello"' "the service answers /health with the Dockerfile's ENV"
expect_eq "true" "$(phx_get hello '{.metadata.labels.phoenix\.fpai\.io/registered}')" "registered"
pass "a git source is fetched, tested (make), packed by the local builder and deployed by digest: /health answers on $ip"

# --- a deploy that never gets healthy is rolled back to the image before
k apply -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Build
metadata: {name: hello-v2}
spec:
  serviceName: hello
  image: {name: 'registry.local/default/hello@sha256:$(printf '0%.0s' $(seq 64))'}
  deploy: {port: 8080, standbys: 1, healthTimeoutSeconds: 10}
YAML
build_wait_reason hello-v2 RolledBack 40
expect_eq "$img" "$(k get build hello-v2 -o jsonpath='{.status.previousImage}')" "previousImage"
expect_eq "$img" "$(phx_get hello '{.spec.template.spec.containers[0].image}')" "the PhoenixService runs the previous image again"
wait_for 60 "hello Available again" phx_is_available hello
primary=$(phx_get hello '{.status.primary}')
ip=$(k get pod "$primary" -o jsonpath='{.status.podIP}')
wait_for 30 "/health answers again on $ip" curl -sf "http://$ip:8080/health"
pass "an image that never becomes Available within healthTimeoutSeconds is rolled back (RolledBack); the service answers again"

# --- failing tests, for real
fsrc="$E2E_TMP/src/broken"
cp -r "$src" "$fsrc"
printf 'test:\n\t@echo "test_health FAILED: expected 200"; exit 1\n' >"$fsrc/Makefile"
git -C "$fsrc" -c user.email=t@e -c user.name=t commit -qam broken
k apply -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Build
metadata: {name: broken}
spec:
  serviceName: broken
  source:
    git: {url: 'file://$fsrc'}
  image: {name: registry.local/default/broken, builder: local, localStore: '$STORE'}
YAML
build_wait_reason broken TestsFailed 120
expect_eq "2" "$(k get build broken -o jsonpath='{.status.run}')" "retried once"
msg=$(build_cond broken Succeeded message)
cmd=${msg##*; }
expect_eq "kubectl logs -n default job/broken-2 -c test" "$cmd" "the message ends with the logs command"
expect_contains "$(k logs -n default job/broken-2 -c test)" "test_health FAILED" "that command shows the failing test"
expect_fail "nothing deployed" k get phx broken
pass "failing tests end TestsFailed after one retry; the message's kubectl logs command shows them"
