#!/usr/bin/env bash
# kubectl phoenix builds and kubectl phoenix logs build/NAME, on kubesim --run-pods with the
# operator: a git source Build (fetch, make test, the local image builder, deploy, verify).
#  - logs -f, started before the Build's first pod exists, waits quietly while it is Pending,
#    follows every step container of every Job in order (fetch, test, image, then the verify
#    Job) and ends once the Build has ended;
#  - builds lists it (table, -o wide, -o json, -o yaml, -A); a bad -o is a usage error.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/build_helpers.sh"
command -v git >/dev/null || fail "git not installed (hack/install-deps.sh)"

STORE="$E2E_TMP/images"
mkdir -p "$STORE"
sim_start --run-pods --run-pods-dir "$E2E_TMP/runpods" --image-store "$STORE"
build_install_crds
phx_start_controller ctl
kp() { kubectl phoenix "$@"; }

src="$E2E_TMP/src/svc"
mkdir -p "$src"
cp "$PHX_ROOT/tests/e2e/testdata/contract_fixture.py" "$src/server.py"
printf 'test:\n\t@echo "PLUGIN-LOG-MARKER: 3 tests passed"\n' >"$src/Makefile"
printf 'FROM python:3-slim\nCMD ["python3", "server.py"]\n' >"$src/Dockerfile"
git -C "$src" init -q -b main && git -C "$src" add -A &&
	git -C "$src" -c user.email=t@e -c user.name=t commit -qm init

# Follow before the Build exists: logs needs the Build, so apply it first, then follow at once.
k apply -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Build
metadata: {name: svc}
spec:
  serviceName: svc
  source:
    git: {url: 'file://$src'}
  image: {name: registry.local/default/svc, builder: local, localStore: '$STORE'}
  deploy: {port: 8080, standbys: 0, healthTimeoutSeconds: 120}
YAML
start=$SECONDS
timeout $((120 * ${PHX_E2E_WAIT_SCALE:-1})) kubectl phoenix logs build/svc -f >"$E2E_TMP/follow.out" 2>"$E2E_TMP/follow.err" ||
	fail "logs -f did not end with the Build (rc $?): $(tail -5 "$E2E_TMP/follow.err")"
expect_eq "Succeeded" "$(build_cond svc Succeeded reason)" "the Build had ended when logs -f did"
headers=$(grep '^==> ' "$E2E_TMP/follow.out" | sed -E 's/.*container ([a-z]+) \(run ([0-9]+)\).*/\1:\2/' | tr '\n' ' ')
expect_eq "fetch:1 test:1 image:1 verify:2 " "$headers" "every step container of every Job, in order"
expect_contains "$(cat "$E2E_TMP/follow.out")" "PLUGIN-LOG-MARKER: 3 tests passed" "the test step's output"
expect_contains "$(cat "$E2E_TMP/follow.out")" "POST /message" "the verify Job's output"
[ -s "$E2E_TMP/follow.err" ] && fail "logs -f wrote to stderr: $(cat "$E2E_TMP/follow.err")"
pass "logs build/svc -f followed fetch, test, image and verify in order and ended with the Build ($((SECONDS - start)) s)"
expect_eq "$(cat "$E2E_TMP/follow.out")" "$(kp logs build/svc)" "logs without -f shows the same"

out=$(kp builds)
expect_contains "$(head -1 <<<"$out")" "NAMESPACE        NAME                     SERVICE              PHASE" "table header"
expect_contains "$(grep '^default ' <<<"$out")" "svc                      svc                  Succeeded" "the Build's row"
expect_contains "$(kp builds -o wide | grep "^default")" "svc-1" "wide: the attempt's Job"
expect_contains "$(kp builds -o wide | grep '^default')" "Succeeded  true" "wide: verify phase and registered"
expect_eq "svc Succeeded" "$(kp builds -o json | jq -r '.items[0] | "\(.metadata.name) \(.status.phase)"')" "-o json"
expect_eq "svc Succeeded" "$(kp builds -o yaml | python3 -c 'import sys, yaml; b = yaml.safe_load(sys.stdin)["items"][0]; print(b["metadata"]["name"], b["status"]["phase"])')" "-o yaml parses as YAML"
expect_contains "$(kp builds -A)" "default" "-A"
expect_contains "$(kp builds -n nowhere)" "No Builds in namespace nowhere" "an empty namespace"
set +e
err=$(kp builds -o table 2>&1); rc=$?
set -e
expect_eq "2" "$rc" "a bad -o is a usage error"
expect_contains "$err" "-o wants wide, json or yaml" "and says what it wants"
expect_fail "logs of a Build that does not exist" kp logs build/none
pass "kubectl phoenix builds: table, -o wide/json/yaml, -A; bad input is refused"
