#!/usr/bin/env bash
# The Intent, GovernancePolicy and Approval CRDs on kubesim with the real kubectl: they install,
# good objects apply with their defaults, every bad input the schema can catch is refused with a
# 422 naming the field, the printer columns and the `phoenix` category show them.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

sim_start
# Every CRD of the group: the `phoenix` category spans them all (and on a real server a CRD that
# an earlier test installed and the reset deleted can linger in the category's discovery).
k apply -f "$PHX_ROOT/manifests/crds/" >/dev/null
wait_for 10 "PhoenixService API served" k get phoenixservices
wait_for 10 "Intent API served" k get intents
wait_for 10 "GovernancePolicy API served" k get governancepolicies
wait_for 10 "Approval API served" k get approvals
pass "the three CRDs install and are served"

# --- good objects, with their defaults
k apply -f - >/dev/null <<'YAML'
apiVersion: phoenix.fpai.io/v1alpha1
kind: Intent
metadata: {name: revenue}
spec:
  serviceName: revenue-analytics
  tier: 2
  priority: high
  purpose: Computes daily revenue per product line from the billing ledger for the finance team
  keyFeatures:
    - Aggregate ledger entries into daily revenue per product line
  dependencies: [billing-ledger]
  port: 8080
---
apiVersion: phoenix.fpai.io/v1alpha1
kind: GovernancePolicy
metadata: {name: default}
spec:
  mode: autonomous
---
apiVersion: phoenix.fpai.io/v1alpha1
kind: Approval
metadata: {name: revenue-governance}
spec:
  targetRef: {kind: Intent, name: revenue}
  gate: Governance
  decision: Approve
  reason: reviewed with finance
  approver: alice
YAML
expect_eq "domain final true Active Retain" \
	"$(k get intent revenue -o jsonpath='{.spec.serviceType} {.spec.approvalMode} {.spec.autoBuild} {.spec.state} {.spec.deletionPolicy}')" \
	"Intent defaults"
expect_eq "autonomous 0.8 0.4 [0] 3 5m 15m 1h none 1024 65535 90 3" \
	"$(k get governancepolicy default -o jsonpath='{.spec.mode} {.spec.autoApproveThreshold} {.spec.rejectBelow} {.spec.requireApprovalTiers} {.spec.maxConcurrentPipelines} {.spec.sla.critical} {.spec.sla.high} {.spec.sla.medium} {.spec.sla.low} {.spec.ports.min} {.spec.ports.max} {.spec.specGate.minScore} {.spec.specGate.maxPasses}')" \
	"GovernancePolicy defaults (the documented built-ins)"
expect_eq "Intent revenue Governance Approve alice" \
	"$(k get approval revenue-governance -o jsonpath='{.spec.targetRef.kind} {.spec.targetRef.name} {.spec.gate} {.spec.decision} {.spec.approver}')" \
	"Approval as applied"
pass "a good Intent, GovernancePolicy and Approval apply, with defaults"

# --- bad input: a 422 naming the field, nothing created
apply_bad() {
	local kind=$1 body=$2 want=$3 out
	if out=$(k apply -f - 2>&1 <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: $kind
metadata: {name: bad}
spec:
$body
YAML
	); then
		fail "accepted a bad $kind: $body"
	fi
	expect_contains "$out" "$want" "rejection of '$body' names $want"
	echo "rejected: $(echo "$out" | tail -n1 | cut -c1-200)"
}
good='  purpose: Computes daily revenue per product line for finance'
apply_bad Intent "  serviceName: ok
$good
  priority: urgent" "spec.priority"
apply_bad Intent "  serviceName: ok
$good
  tier: 7" "spec.tier"
apply_bad Intent "  serviceName: ok
$good
  port: 0" "spec.port"
apply_bad Intent "  serviceName: ok
$good
  port: 70000" "spec.port"
apply_bad Intent "  serviceName: Revenue
$good" "spec.serviceName"
apply_bad Intent "  serviceName: $(printf 'a%.0s' $(seq 58))
$good" "spec.serviceName"
apply_bad Intent "  serviceName: ok" "spec.purpose"
apply_bad Intent "  serviceName: ok
  purpose: stuff" "spec.purpose"
apply_bad Intent "$good" "spec.serviceName"
apply_bad Intent "  serviceName: ok
$good
  serviceType: magic" "spec.serviceType"
apply_bad Intent "  serviceName: ok
$good
  approvalMode: never" "spec.approvalMode"
apply_bad Intent "  serviceName: ok
$good
  state: Paused" "spec.state"
apply_bad Intent "  serviceName: ok
$good
  deletionPolicy: Orphan" "spec.deletionPolicy"
apply_bad GovernancePolicy "  mode: yolo" "spec.mode"
apply_bad GovernancePolicy "  autoApproveThreshold: 1.5" "spec.autoApproveThreshold"
apply_bad GovernancePolicy "  requireApprovalTiers: [0, 7]" "spec.requireApprovalTiers[1]"
apply_bad GovernancePolicy "  maxConcurrentPipelines: 0" "spec.maxConcurrentPipelines"
apply_bad GovernancePolicy "  sla: {high: soon}" "spec.sla.high"
apply_bad GovernancePolicy "  ports: {min: 0}" "spec.ports.min"
apply_bad GovernancePolicy "  specGate: {minScore: 101}" "spec.specGate.minScore"
apply_bad GovernancePolicy "  evaluator: {url: 'ftp://x'}" "spec.evaluator.url"
apply_bad Approval "  targetRef: {kind: Pod, name: x}
  gate: Spec
  decision: Approve
  reason: ok" "spec.targetRef.kind"
apply_bad Approval "  targetRef: {kind: Intent, name: x}
  gate: Later
  decision: Approve
  reason: ok" "spec.gate"
apply_bad Approval "  targetRef: {kind: Intent, name: x}
  gate: Spec
  decision: Maybe
  reason: ok" "spec.decision"
apply_bad Approval "  targetRef: {kind: Intent, name: x}
  gate: Spec
  decision: Deny" "spec.reason"
for kind in intent governancepolicy approval; do
	k get "$kind" bad >/dev/null 2>&1 && fail "a rejected $kind exists"
done
out=$(k apply -v=6 -f - 2>&1 <<'YAML' || true
apiVersion: phoenix.fpai.io/v1alpha1
kind: Intent
metadata: {name: bad}
spec: {serviceName: ok, purpose: Computes daily revenue per product line, tier: 7}
YAML
)
echo "$out" | grep -Eq 'POST [^ ]*/intents[^ ]* 422 ' || fail "the API did not answer 422: $out"
pass "bad Intents, GovernancePolicies and Approvals are refused with a 422 naming the field"

# --- printer columns, short names, the phoenix category
out=$(k get intents)
head=$(echo "$out" | head -n1)
for col in NAME SERVICE TIER PRIORITY PHASE SCORE DECISION AGE; do
	expect_contains "$head" "$col" "kubectl get intents shows $col"
done
echo "$out" | grep -Eq '^revenue +revenue-analytics +2 +high ' || fail "Intent row: $out"
expect_contains "$(k get intents -o wide | head -n1)" "POSITION" "-o wide adds POSITION"
expect_contains "$(k get pint)" "revenue" "short name pint"
expect_contains "$(k get govpol)" "autonomous" "short name govpol"
expect_contains "$(k get apv)" "alice" "short name apv"
out=$(k get phoenix)
for obj in intent.phoenix.fpai.io/revenue governancepolicy.phoenix.fpai.io/default approval.phoenix.fpai.io/revenue-governance; do
	expect_contains "$out" "$obj" "kubectl get phoenix lists $obj"
done
pass "printer columns, short names and the phoenix category"

# --- kubectl explain reads descriptions from the OpenAPI kubesim does not serve: check the served
# CRDs instead, every field described (what `kubectl explain` shows on a real cluster)
for crd in intents governancepolicies approvals; do
	missing=$(e2e_crd_undescribed "$crd.phoenix.fpai.io")
	expect_eq "" "$missing" "every field of $crd has a description"
done
pass "every field of the three CRDs has a description"

# --- Approval spec is immutable: the CRD carries the CEL rule self == oldSelf. kubesim does not
# evaluate x-kubernetes-validations (a real API server does), so only the rule is checked here.
expect_eq "self == oldSelf" \
	"$(k get crd approvals.phoenix.fpai.io -o jsonpath='{.spec.versions[0].schema.openAPIV3Schema.properties.spec.x-kubernetes-validations[0].rule}')" \
	"Approval spec immutability rule"
pass "the Approval's spec carries its immutability rule"
