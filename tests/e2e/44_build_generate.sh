#!/usr/bin/env bash
# The built-in generator for real on kubesim --run-pods: a Build with `generate: {}` and no source
# reads the SPEC from its ConfigMap, `phoenix-build generate` writes a Python service (the five
# contract endpoints, a stub per key feature, tests, Makefile, Dockerfile), the test step runs
# the generated tests (make test), the local builder packs it, the operator deploys it by digest
# and the service answers /health and /capabilities (listing the SPEC's features) through its
# Service's clusterIP. A SPEC without features ends InvalidSpec at once (exit 64, no retry), a
# Build without a SPEC ConfigMap too, without a Job. The step program directly: bad SPECs exit 64.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/build_helpers.sh"
command -v python3 >/dev/null || fail "python3 not installed (the generated service needs it)"

# --- the step program directly: the reserved invalid-input exit code, a clear message
pb="$PHX_BIN/phoenix-build"
ws="$E2E_TMP/ws"
: >"$E2E_TMP/empty.md"
rc=0
"$pb" generate --workspace "$ws" --spec "$E2E_TMP/empty.md" --termination-log "$E2E_TMP/t1" 2>/dev/null || rc=$?
expect_eq 64 "$rc" "an empty SPEC exits 64"
expect_contains "$(cat "$E2E_TMP/t1")" '"reason":"InvalidSpec"' "reason InvalidSpec"
expect_contains "$(cat "$E2E_TMP/t1")" "the SPEC is empty" "the message says why"
rc=0
env -u PHOENIX_SPEC_DIR "$pb" generate --workspace "$ws" --termination-log "$E2E_TMP/t2" 2>/dev/null || rc=$?
expect_eq 64 "$rc" "no SPEC at all exits 64"
expect_contains "$(cat "$E2E_TMP/t2")" "spec.specConfigMap" "the message says how to give one"
printf '# SPEC: x\n## Features\n- ok\n' >"$E2E_TMP/badport.md"
rc=0
"$pb" generate --workspace "$ws" --spec "$E2E_TMP/badport.md" --port 70000 --termination-log "$E2E_TMP/t3" 2>/dev/null || rc=$?
expect_eq 64 "$rc" "a bad port exits 64"
pass "phoenix-build generate refuses an empty SPEC, a missing one and a bad port with exit 64 and InvalidSpec"

build_runpods_start

# gen_build NAME [CONFIGMAP]: a Build of the built-in generator (the SPEC in CONFIGMAP), packed
# by the local builder.
gen_build() {
	local cm=${2:+"specConfigMap: {name: $2}, "}
	k apply -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Build
metadata: {name: $1}
spec: {serviceName: $1, $cm generate: {},
  image: {name: registry.local/default/$1, builder: local, localStore: '$STORE'},
  deploy: {port: 9090, standbys: 1, healthTimeoutSeconds: 120}}
YAML
}

# The SPEC, in the format the Intent controller writes (controller/intent/intent_spec.c).
spec="$E2E_TMP/SPEC.md"
cat >"$spec" <<'MD'
# SPEC: currency

## Purpose

Converts amounts between currencies for the checkout team.

## Features

### 1. Return the current exchange rate for a currency pair

- Acceptance: (assumption) given a valid pair, the service answers 200 with the rate.

### 2. Convert an amount from one currency into another

### 3. List every supported currency with its ISO code

## Dependencies

- `rates-feed`: called over HTTP.

## Configuration

- `PORT`: 9090, the port the service listens on.
MD
k create configmap currency-spec --from-file=SPEC.md="$spec" >/dev/null
gen_build currency currency-spec
build_wait_reason currency Succeeded 180
gmsg=$(k get build currency -o jsonpath='{.status.steps[?(@.name=="generate")].message}')
expect_contains "$gmsg" "generated service currency (python, port 9090, 3 feature stubs, 1 dependency)" "the generate step's report"
expect_contains "$gmsg" "test_service.py, Makefile, Dockerfile" "the files it wrote"
expect_eq "make make test" "$(k get build currency -o jsonpath='{.status.buildSystem} {.status.testCommand}')" "the test step ran the generated tests"
logs=$(k logs -n default job/currency-1 -c test)
expect_contains "$logs" "Ran 10 tests" "7 contract tests and one per feature stub ran"
expect_contains "$logs" "feature stub /features/list-every-supported-currency-with-its" "a feature's test"
img=$(k get build currency -o jsonpath='{.status.output.image}')
case "$img" in registry.local/default/currency@sha256:????????????????????????????????????????????????????????????????) ;; *) fail "not a digest: $img" ;; esac
expect_eq "$img" "$(phx_get currency '{.spec.template.spec.containers[0].image}')" "the PhoenixService runs the digest"
wait_for 60 "currency Available" phx_is_available currency
cip=$(k get svc currency -o jsonpath='{.spec.clusterIP}')
[ -n "$cip" ] || fail "the Service currency has no clusterIP"
wait_for 30 "/health through the Service $cip:9090" curl -sf "http://$cip:9090/health"
h=$(curl -sf "http://$cip:9090/health")
expect_eq "active currency" "$(jq -r '"\(.status) \(.service)"' <<<"$h")" "GET /health"
caps=$(curl -sf "http://$cip:9090/capabilities")
expect_eq '["Return the current exchange rate for a currency pair","Convert an amount from one currency into another","List every supported currency with its ISO code"]' \
	"$(jq -c .features <<<"$caps")" "GET /capabilities lists the SPEC's features"
expect_eq '["rates-feed"]' "$(jq -c .dependencies <<<"$caps")" "and its dependencies"
f=$(curl -sf -X POST -d '{"amount": 3}' "http://$cip:9090/features/convert-an-amount-from-one-currency-into")
expect_eq 'Convert an amount from one currency into another true' "$(jq -r '"\(.feature) \(.accepted)"' <<<"$f")" "a feature stub answers"
expect_eq 1 "$(curl -sf "http://$cip:9090/state" | jq '.features["convert-an-amount-from-one-currency-into"]')" "/state counts it"
expect_eq "rates-feed unreachable" "$(curl -sf "http://$cip:9090/dependencies" | jq -r '.dependencies[0] | "\(.name) \(.status)"')" "/dependencies reports the dependency"
pass "generate: {} with a SPEC and no source: generated, tested ($(grep -c ' ok$' <<<"$logs") tests), packed, deployed by digest; /health and /capabilities answer through $cip:9090"

# --- a SPEC without features: InvalidSpec at once (exit 64 fails the Job, no retry)
printf '# SPEC: nofeat\n\n## Purpose\n\nNothing yet.\n' >"$E2E_TMP/nofeat.md"
k create configmap nofeat-spec --from-file=SPEC.md="$E2E_TMP/nofeat.md" >/dev/null
gen_build nofeat nofeat-spec
build_wait_reason nofeat InvalidSpec 120
expect_eq 1 "$(k get build nofeat -o jsonpath='{.status.run}')" "not retried"
nmsg=$(build_cond nofeat Succeeded message)
expect_contains "$nmsg" 'the SPEC has no' "the message says the SPEC lacks"
expect_contains "$nmsg" '## Features' "the features section"
pass "a SPEC without features ends InvalidSpec after one run, saying so"

# --- no SPEC ConfigMap at all: InvalidSpec without a Job
gen_build nospec
build_wait_reason nospec InvalidSpec 30
expect_contains "$(build_cond nospec Succeeded message)" "spec.specConfigMap.name" "the message says what to set"
expect_fail "no Job" k get job nospec-1
pass "generate: {} without spec.specConfigMap ends InvalidSpec without a Job"

# --- a SPEC ConfigMap that does not exist: the step says so (InvalidSpec), the pod does not wait
gen_build nocm no-such-configmap
build_wait_reason nocm InvalidSpec 120
expect_contains "$(build_cond nocm Succeeded message)" "does the ConfigMap named by spec.specConfigMap exist" "the message says what to check"
pass "a missing SPEC ConfigMap ends InvalidSpec from the generate step, saying so"
