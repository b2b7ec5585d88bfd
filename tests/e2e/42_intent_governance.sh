#!/usr/bin/env bash
# Intent governance on kubesim with the real kubectl and the operator: the two reference cases
# of the original system (tier 0 at 0.95 in autonomous mode needs a human; tier 2 at 0.92 is
# auto-approved), each mode, the status written (governance, Evaluated with the decision as
# reason, observedGeneration, phase, audit), Events, writes only when something changed, and an
# Intent that stays calm without the Build CRD.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/intent_helpers.sh"

sim_start
intent_install_crds
intent_policy autonomous
phx_start_controller ctl --workers 2

# --- the reference cases
k apply -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Intent
metadata: {name: governance}
spec:
  serviceName: governance
  serviceType: infrastructure
  tier: 0
  priority: low
  purpose: $INTENT_PURPOSE
  keyFeatures: ["$INTENT_F1", "$INTENT_F2", "$INTENT_F3"]
  dependencies: [billing-ledger]
  port: 8100
---
apiVersion: phoenix.fpai.io/v1alpha1
kind: Intent
metadata: {name: revenue}
spec:
  serviceName: revenue-analytics
  tier: 2
  priority: high
  purpose: $INTENT_PURPOSE
  keyFeatures: ["$INTENT_F1", "fast"]
  dependencies: [billing-ledger]
YAML
intent_wait_cond governance Evaluated RequiresApproval reason
expect_eq 0.95 "$(intent_get governance '{.status.governance.score}')" "tier-0 score"
expect_eq RequiresApproval "$(intent_get governance '{.status.governance.decision}')" "tier-0 decision"
expect_eq autonomous "$(intent_get governance '{.status.governance.mode}')" "mode"
expect_eq default "$(intent_get governance '{.status.governance.policy}')" "policy"
expect_eq low "$(intent_get governance '{.status.governance.riskLevel}')" "riskLevel"
expect_eq 8 "$(intent_get governance '{.status.governance.results[*].rule}' | wc -w | tr -d ' ')" "one result per rule"
expect_eq warn "$(intent_get governance '{.status.governance.results[?(@.rule=="tier-consistent")].result}')" "tier warning"
expect_eq Unknown "$(intent_cond governance Approved)" "Approved Unknown while waiting"
expect_eq AwaitingApproval "$(intent_get governance '{.status.phase}')" "phase"
expect_eq 1 "$(intent_get governance '{.status.observedGeneration}')" "observedGeneration"
expect_eq 1 "$(intent_cond governance Evaluated observedGeneration)" "condition observedGeneration"
expect_eq Evaluated "$(intent_get governance '{.status.audit.entries[0].action}')" "audit entry"
expect_eq 1 "$(intent_get governance '{.status.audit.total}')" "audit total"
pass "tier 0, score 0.95, autonomous -> RequiresApproval (status.governance, Evaluated, phase, audit)"

intent_wait_cond revenue Evaluated AutoApproved reason
expect_eq 0.92 "$(intent_get revenue '{.status.governance.score}')" "tier-2 score"
expect_eq True "$(intent_cond revenue Approved)" "Approved"
expect_eq AutoApproved "$(intent_cond revenue Approved reason)" "Approved reason"
pass "tier 2, score 0.92, autonomous -> AutoApproved"

# The printer columns
row=$(k get intent governance --no-headers)
read -r _ svc tier prio phase score dec _ <<<"$row"
expect_eq "governance 0 low AwaitingApproval 0.95 RequiresApproval" "$svc $tier $prio $phase $score $dec" "printer columns"
expect_contains "$(k get phoenix 2>&1)" "intent.phoenix.fpai.io/revenue" "category phoenix"
intent_wait_event governance Evaluated
pass "kubectl get intent shows SERVICE TIER PRIORITY PHASE SCORE DECISION; Events per transition"

# No Build CRD: the auto-approved Intent reaches its Build step and says what is missing.
intent_wait_cond revenue BuildSucceeded BuildCRDMissing reason
expect_contains "$(intent_cond revenue BuildSucceeded message)" "kubectl apply -f manifests/crds/" "how to fix"
expect_eq True "$(intent_cond revenue SpecReady)" "SPEC passed before the Build"
intent_wait_event revenue BuildSucceeded
pass "without the Build CRD: BuildSucceeded Unknown/BuildCRDMissing saying how to fix it, no crash"

# Metadata-only changes do not re-evaluate: after two annotations and a later Intent (a barrier:
# one worker takes keys in order), the audit still counts one evaluation.
ltt=$(intent_cond governance Evaluated lastTransitionTime)
k annotate intent governance touched=1 >/dev/null
k annotate intent governance touched=2 --overwrite >/dev/null
intent_apply barrier barrier 2 low
intent_wait_cond barrier Evaluated AutoApproved reason
expect_eq 1 "$(intent_get governance '{.status.audit.total}')" "audit total after annotations"
expect_eq "$ltt" "$(intent_cond governance Evaluated lastTransitionTime)" "Evaluated lastTransitionTime kept"
pass "metadata-only changes do not re-evaluate (audit total stays 1)"

# --- each mode, same Intent
k delete intent governance revenue --wait=true >/dev/null
intent_apply m2 mode-check 2 medium "  dependencies: [billing-ledger]"
intent_wait_cond m2 Evaluated AutoApproved reason
intent_policy supervised
intent_apply m3 mode-check3 2 medium "  dependencies: [billing-ledger]"
intent_wait_cond m3 Evaluated RequiresApproval reason
intent_policy aggressive
intent_apply m4 mode-check4 0 high "  dependencies: [billing-ledger]"
intent_wait_cond m4 Evaluated AutoApproved reason
intent_apply m5 mode-check5 2 medium "  dependencies: [ghost, nowhere]"
intent_wait_cond m5 Evaluated AutoApproved reason
expect_eq fail "$(intent_get m5 '{.status.governance.results[?(@.rule=="dependencies-exist")].result}')" "missing dependency fails"
expect_contains "$(intent_get m5 '{.status.governance.results[?(@.rule=="dependencies-exist")].message}')" "ghost" "names the missing dependency"
pass "autonomous approves tier 2; supervised always asks; aggressive approves tier 0; a missing dependency is a failing rule naming it"

# Rejected below rejectBelow, every mode: a vague purpose, no features, a forbidden dependency.
intent_policy aggressive "  rejectBelow: 0.7
  autoApproveThreshold: 0.8"
k apply -f - >/dev/null <<'YAML'
apiVersion: phoenix.fpai.io/v1alpha1
kind: Intent
metadata: {name: vague}
spec:
  serviceName: vague
  purpose: handle various stuff and things
  dependencies: [ghost]
  port: 80
YAML
intent_wait_cond vague Evaluated Rejected reason
expect_eq False "$(intent_cond vague Approved)" "Approved False"
expect_eq Rejected "$(intent_get vague '{.status.phase}')" "phase Rejected"
expect_contains "$(intent_cond vague Evaluated message)" "port-available" "message names a failed rule"
intent_wait_event vague Approved
pass "below rejectBelow: Rejected (Approved False, phase Rejected, the failed rules named)"
intent_stop_check ctl
