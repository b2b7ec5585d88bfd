#!/usr/bin/env bash
# The verify step on kubesim --run-pods (whose Services carry traffic on their clusterIPs): after
# the deploy, a Job runs `phoenix-build verify`, which calls the five contract endpoints through
# the PhoenixService's Service. The contract service passes and is registered (the label and
# status.registration on the PhoenixService); a service without /dependencies ends VerifyFailed
# naming that endpoint, and is not registered; a redeploy of the registered service that fails
# verify is rolled back to the image that ran before. The verify Job: deterministic name, no
# service-account token, restricted securityContext.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/build_helpers.sh"
[ -x "$PHX_BIN/phoenix-contract-service" ] || fail "phoenix-contract-service not built"

# A service that answers four endpoints of the contract and 404 on /dependencies.
nodeps="$E2E_TMP/nodeps.sh"
printf '#!/bin/sh\nCONTRACT_MISSING=/dependencies exec python3 %s\n' \
	"$PHX_ROOT/tests/e2e/testdata/contract_fixture.py" >"$nodeps"
chmod +x "$nodeps"

sim_start --run-pods --run-pods-dir "$E2E_TMP/runpods" \
	--image-map "phoenix/contract-service:dev=$PHX_BIN/phoenix-contract-service" \
	--image-map "fixture/nodeps:1=$nodeps" --crashloop-backoff-scale 0.1
build_install_crds
phx_start_controller ctl

for b in good:phoenix/contract-service:dev nodeps:fixture/nodeps:1; do
	k apply -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Build
metadata: {name: ${b%%:*}}
spec:
  serviceName: ${b%%:*}
  image: {name: '${b#*:}'}
  deploy: {port: 8080, standbys: 1, healthTimeoutSeconds: 60}
YAML
done

build_wait_reason good Succeeded 120
vjob=$(k get build good -o jsonpath='{.status.verify.job}')
expect_eq "good-1" "$vjob" "the verify Job's deterministic name (<build>-<run>)"
expect_eq "Succeeded" "$(k get build good -o jsonpath='{.status.verify.phase}')" "verify phase"
expect_contains "$(k get build good -o jsonpath='{.status.verify.message}')" "5/5 contract endpoints" "verify message"
expect_eq "true" "$(phx_get good '{.metadata.labels.phoenix\.fpai\.io/registered}')" "registered label"
expect_eq "true good" "$(phx_get good '{.status.registration.registered} {.status.registration.build}')" "status.registration"
expect_eq "phoenix/contract-service:dev" "$(phx_get good '{.status.registration.image}')" "registered image"
ip=$(k get svc good -o jsonpath='{.spec.clusterIP}')
pod=$(k get pods -l job-name=good-1 -o jsonpath='{.items[0].metadata.name}' 2>/dev/null || true)
[ -n "$pod" ] || pod=$(k get pods -l phoenix.fpai.io/build=good,phoenix.fpai.io/build-step=verify -o jsonpath='{.items[0].metadata.name}')
expect_eq "false false" "$(k get pod "$pod" -o jsonpath='{.spec.automountServiceAccountToken} {.spec.enableServiceLinks}')" "no token, no service links"
expect_eq "true false RuntimeDefault" "$(k get pod "$pod" -o jsonpath='{.spec.containers[0].securityContext.runAsNonRoot} {.spec.containers[0].securityContext.allowPrivilegeEscalation} {.spec.containers[0].securityContext.seccompProfile.type}')" "restricted securityContext"
expect_eq "$ip" "$(k get pod "$pod" -o jsonpath='{.spec.containers[0].env[?(@.name=="PHOENIX_VERIFY_ADDRESS")].value}')" "pinned to the Service's clusterIP"
expect_contains "$(k logs "$pod")" "POST /message" "the Job's log lists each endpoint"
# the PhoenixService controller keeps status.registration across its own status writes
k delete pod "$(phx_get good '{.status.primary}')" --wait=false >/dev/null
wait_for 60 "good fails over and is Available again" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get phx good -o jsonpath='{.status.failovers}')\" -ge 1 ]"
expect_eq "true" "$(phx_get good '{.status.registration.registered}')" "status.registration survives the PhoenixService controller's status writes"
ms=$(k get build good -o jsonpath='{.status.verify.durationMs}')
pass "the contract service passes verify through Service $ip in ${ms} ms and is registered (label + status.registration)"

build_wait_reason nodeps VerifyFailed 120
msg=$(build_cond nodeps Succeeded message)
expect_contains "$msg" "GET /dependencies: HTTP 404" "the message names the missing endpoint"
expect_eq "kubectl logs -n default job/nodeps-1 -c verify" "${msg##*; }" "the message ends with the logs command"
expect_contains "$(k logs -n default job/nodeps-1 -c verify)" "GET /dependencies" "that command shows it"
expect_eq "" "$(phx_get nodeps '{.metadata.labels.phoenix\.fpai\.io/registered}')" "not registered"
expect_eq "Failed" "$(k get build nodeps -o jsonpath='{.status.verify.phase}')" "verify phase"
pass "a service without /dependencies ends VerifyFailed naming it; not registered"

# A redeploy of the registered service with the image that fails verify: rolled back.
k apply -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Build
metadata: {name: good2}
spec:
  serviceName: good
  image: {name: 'fixture/nodeps:1'}
  deploy: {port: 8080, standbys: 1, healthTimeoutSeconds: 60}
YAML
build_wait_reason good2 VerifyFailed 120
msg=$(build_cond good2 Succeeded message)
expect_contains "$msg" "GET /dependencies: HTTP 404" "the message names the missing endpoint"
expect_eq "rolled back to phoenix/contract-service:dev" "${msg##*; }" "the message says where it went back to"
expect_eq "phoenix/contract-service:dev" "$(phx_get good '{.spec.template.spec.containers[0].image}')" "the PhoenixService runs the previous image again"
wait_for 60 "good Available again on the previous image" phx_is_available good
expect_eq "good" "$(phx_get good '{.status.registration.build}')" "the registration is still the verified Build's"
pass "a redeploy that fails verify is rolled back to the verified image"
