#!/usr/bin/env bash
# Bad input gets a clear answer and loses nothing, with the operator running: schema 422s naming
# the field (Intent, Approval, GovernancePolicy), semantic problems as failing rule results with
# a message (port taken, name taken, dependency cycle, forbidden dependency), an invalid policy
# the schema lets through reported on the Intent (built-in defaults used), and the operator still
# answering afterwards.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/intent_helpers.sh"

sim_start
intent_install_crds
intent_policy aggressive "  dependencies: {allowed: [billing-ledger], forbidden: [legacy-db]}"
phx_start_controller ctl

refused() { # FIELD YAML: k apply refuses it naming FIELD
	if echo "$2" | k apply -f - >"$E2E_TMP/out" 2>&1; then fail "accepted: $2"; fi
	expect_contains "$(cat "$E2E_TMP/out")" "$1" "the 422 names $1"
}
base="apiVersion: phoenix.fpai.io/v1alpha1
kind: Intent
metadata: {name: bad}
spec:
  serviceName: fine
  purpose: $INTENT_PURPOSE"
refused spec.priority "$base
  priority: urgent"
refused spec.tier "$base
  tier: 7"
refused spec.port "$base
  port: 0"
refused spec.serviceName "${base/serviceName: fine/serviceName: Fine}"
refused spec.imageBuild.builder "$base
  imageBuild: {builder: docker}"
refused spec.purpose "${base/purpose: $INTENT_PURPOSE/purpose: too short}"
refused spec.gate "apiVersion: phoenix.fpai.io/v1alpha1
kind: Approval
metadata: {name: bad}
spec: {targetRef: {kind: Intent, name: x}, gate: Lunch, decision: Approve, reason: r}"
refused spec.mode "apiVersion: phoenix.fpai.io/v1alpha1
kind: GovernancePolicy
metadata: {name: default}
spec: {mode: reckless}"
pass "schema 422s name the field: priority, tier, port, serviceName, purpose, Approval gate, policy mode"

# Semantic problems: failing rules with a message, never a crash.
sed 's/name: hello$/name: taken-svc/' "$PHX_ROOT/manifests/samples/minimal.yaml" | k apply -f - >/dev/null
intent_apply p1 port-one 2 medium "  port: 9000"
intent_wait_cond p1 Evaluated True
intent_apply p2 port-two 2 medium "  port: 9000"
intent_apply nt taken-svc 2 medium
intent_apply cy-a cyc-a 2 medium "  dependencies: [cyc-b]"
intent_wait_cond cy-a Evaluated True
intent_apply cy-b cyc-b 2 medium "  dependencies: [cyc-a]"
intent_apply fb forbid 2 medium "  dependencies: [legacy-db]"
rule() { intent_get "$1" "{.status.governance.results[?(@.rule==\"$2\")].$3}"; }
for n in p2 nt cy-b fb; do intent_wait_cond "$n" Evaluated True; done
expect_eq fail "$(rule p2 port-available result)" "port taken"
expect_contains "$(rule p2 port-available message)" "9000" "port message"
expect_eq fail "$(rule nt name-available result)" "name taken"
expect_contains "$(rule nt name-available message)" "taken-svc" "name message"
expect_eq fail "$(rule cy-b dependencies-acyclic result)" "cycle"
expect_eq fail "$(rule fb dependencies-allowed result)" "forbidden"
expect_contains "$(rule fb dependencies-allowed message)" "legacy-db" "forbidden message"
expect_eq RequiresApproval "$(intent_cond fb Evaluated reason)" "a failed critical rule never auto-approves"
pass "port taken, name taken, a cycle, a forbidden dependency: failing rules with a message; critical failures need a human"

# An invalid policy the schema lets through (ports.min > ports.max; kubesim does not run the CEL
# rule on rejectBelow either): reported on the Intent, built-in defaults used.
intent_policy aggressive "  ports: {min: 9000, max: 8000}"
intent_apply pol pol-svc 2 medium
intent_wait_cond pol Evaluated True
expect_contains "$(intent_cond pol Evaluated message)" "spec.ports.min" "the bad field named"
expect_eq built-in "$(intent_get pol '{.status.governance.policy}')" "built-in defaults used"
expect_eq RequiresApproval "$(intent_cond pol Evaluated reason)" "built-in = supervised"
pass "an invalid GovernancePolicy (ports.min > ports.max): named in the Evaluated message, built-in (supervised) defaults used"

# Still answering.
intent_policy aggressive
intent_apply after after-svc 2 medium
intent_wait_cond after Evaluated AutoApproved reason
kill -0 "$PHX_CTL_PID" || fail "the operator died"
pass "the operator is still up and judging"
intent_stop_check ctl
