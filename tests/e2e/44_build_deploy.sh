#!/usr/bin/env bash
# A Build with a prebuilt image on kubesim: no Job runs; the operator creates the PhoenixService
# (owned by the Build, PORT and POD_IP in its env), waits for it to be Available, registers it
# (label phoenix.fpai.io/registered=true) and ends Succeeded=True; `kubectl get builds` shows it.
# Then the approval gate: approvalMode final holds before deploy until an Approval (gate Deploy)
# arrives; a Deny ends the Build with reason Denied. A health timeout on a first deployment takes
# the PhoenixService down (HealthTimeout).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/build_helpers.sh"

sim_start
build_install_crds
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
phx_start_controller ctl --metrics-bind-address "127.0.0.1:$mport"

IMG=registry.local/team/revenue@sha256:$(printf 'a%.0s' $(seq 64))
k apply -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Build
metadata: {name: revenue}
spec:
  serviceName: revenue
  image: {name: '$IMG'}
  deploy: {port: 9090, healthTimeoutSeconds: 60}
YAML
build_wait_reason revenue Succeeded 60
expect_eq "True" "$(build_cond revenue Succeeded status)" "Succeeded=True"
expect_eq "Succeeded Succeeded" "$(k get build revenue -o jsonpath='{.status.phase} {.status.conditions[?(@.type=="Succeeded")].reason}')" "phase"
expect_eq "revenue true $IMG" "$(k get build revenue -o jsonpath='{.status.serviceRef.name} {.status.registered} {.status.output.image}')" "status serviceRef, registered, image"
expect_eq "True" "$(phx_get revenue '{.status.conditions[?(@.type=="Available")].status}')" "the PhoenixService is Available"
expect_eq "$IMG" "$(phx_get revenue '{.spec.template.spec.containers[0].image}')" "deployed by digest"
expect_eq "9090 status.podIP" "$(phx_get revenue '{.spec.template.spec.containers[0].env[?(@.name=="PORT")].value} {.spec.template.spec.containers[0].env[?(@.name=="POD_IP")].valueFrom.fieldRef.fieldPath}')" "PORT and POD_IP"
expect_eq "Build revenue true" "$(phx_get revenue '{.metadata.ownerReferences[0].kind} {.metadata.ownerReferences[0].name} {.metadata.ownerReferences[0].controller}')" "owned by the Build"
expect_contains "$(k get phx -l phoenix.fpai.io/registered=true -o name)" "phoenixservice.phoenix.fpai.io/revenue" "the registry lists it"
expect_eq "" "$(k get jobs -l 'phoenix.fpai.io/build=revenue,!phoenix.fpai.io/build-step' -o name)" "no build Job for a prebuilt image"
expect_eq "revenue-1" "$(k get build revenue -o jsonpath='{.status.verify.job}')" "only the verify Job"
row=$(k get builds revenue --no-headers)
echo "$row" | grep -Eq '^revenue +revenue +Succeeded +register +1 +True +Succeeded ' || fail "kubectl get builds row: $row"
wait_for 10 "Events about the Build" bash -c "kubectl --kubeconfig $KUBECONFIG get events --field-selector involvedObject.name=revenue,involvedObject.kind=Build -o jsonpath='{.items[*].reason}' | grep -q Succeeded"
pass "a prebuilt image deploys a PhoenixService that is Available and registered; Build Succeeded"

# --- the Deploy gate
k apply -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Build
metadata: {name: gated}
spec:
  serviceName: gated
  image: {name: '$IMG'}
  approvalMode: final
YAML
build_wait_reason gated AwaitingApproval 30
expect_eq "AwaitingApproval False" "$(k get build gated -o jsonpath='{.status.phase} {.status.conditions[?(@.type=="DeployApproved")].status}')" "held before deploy"
expect_contains "$(build_cond gated Succeeded message)" "kubectl phoenix approve build/gated" "the message says how to approve"
expect_fail "no PhoenixService before the approval" k get phx gated
k apply -f - >/dev/null <<'YAML'
apiVersion: phoenix.fpai.io/v1alpha1
kind: Approval
metadata: {name: gated-deploy}
spec:
  targetRef: {kind: Build, name: gated}
  gate: Deploy
  decision: Approve
  reason: looks good
  approver: alice
YAML
build_wait_reason gated Succeeded 60
expect_eq "True alice: looks good" "$(k get build gated -o jsonpath='{.status.conditions[?(@.type=="DeployApproved")].status} {.status.conditions[?(@.type=="DeployApproved")].message}')" "DeployApproved from the Approval"
pass "approvalMode final holds before deploy, then an Approval with gate Deploy lets it proceed"

k apply -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Build
metadata: {name: denied}
spec:
  serviceName: denied
  image: {name: '$IMG'}
  approvalMode: checkpoints
---
apiVersion: phoenix.fpai.io/v1alpha1
kind: Approval
metadata: {name: denied-deploy}
spec:
  targetRef: {kind: Build, name: denied}
  gate: Deploy
  decision: Deny
  reason: not this week
  approver: bob
YAML
build_wait_reason denied Denied 30
expect_eq "Failed False" "$(k get build denied -o jsonpath='{.status.phase} {.status.conditions[?(@.type=="Succeeded")].status}')" "Denied fails the Build"
expect_fail "no PhoenixService for a denied Build" k get phx denied
pass "a Deny ends the Build with reason Denied, nothing deployed"

# --- neither source, image nor generate: a real API server refuses it (the CRD's CEL rule);
# kubesim does not evaluate CEL, so there the controller's own check ends it InvalidSpec
empty='apiVersion: phoenix.fpai.io/v1alpha1
kind: Build
metadata: {name: empty}
spec: {serviceName: empty}'
invalid_counted=0
if e2e_backend_is_kubesim; then
	echo "$empty" | k apply -f - >/dev/null
	build_wait_reason empty InvalidSpec 30
	expect_contains "$(build_cond empty Succeeded message)" "spec.source, spec.image or spec.generate" "InvalidSpec names the fields"
	wait_for 10 "a Warning Event InvalidSpec" bash -c "kubectl --kubeconfig $KUBECONFIG get events --field-selector involvedObject.name=empty,type=Warning -o jsonpath='{.items[*].reason}' | grep -q InvalidSpec"
	invalid_counted=1
	pass "a Build with neither source, image nor generate ends InvalidSpec with a Warning Event"
else
	if out=$(echo "$empty" | k apply -f - 2>&1); then fail "a Build with neither source, image nor generate was accepted"; fi
	expect_contains "$out" "one of spec.source, spec.image or spec.generate is required" "the CEL rule's message"
	pass "a Build with neither source, image nor generate is refused by the API (CEL)"
fi

# --- metrics: builds by result and reason, durations
m=$(curl -sf "http://127.0.0.1:$mport/metrics") || fail "GET /metrics"
expect_contains "$m" 'phoenix_builds_total{result="Succeeded",reason="Succeeded"} 2' "Succeeded builds counted"
expect_contains "$m" 'phoenix_builds_total{result="Failed",reason="Denied"} 1' "Denied counted"
[ "$invalid_counted" = 0 ] || expect_contains "$m" 'phoenix_builds_total{result="Failed",reason="InvalidSpec"} 1' "InvalidSpec counted"
expect_contains "$m" 'phoenix_build_duration_seconds_count{result="Succeeded"} 2' "durations observed"
pass "metrics: phoenix_builds_total by result and reason, phoenix_build_duration_seconds"
