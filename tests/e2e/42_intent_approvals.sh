#!/usr/bin/env bash
# Approvals on Intents, with the real kubectl and the plugin: an Approval applies the decision to
# the current generation (condition reason = approver, message = reason, audit trail, the
# Approval's status Applied and an Event); a Deny denies; an Approval for an unknown target, an
# older generation, the Deploy gate or a gate not waiting is Ignored and says why; an edit after
# the approval starts over; `kubectl phoenix approve/deny` fill the approver from
# SelfSubjectReview; a user without the approver role gets a 403 from the API server.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/intent_helpers.sh"
require_kubesim "service-account tokens from /sim/v1/tokens"
plugin="$PHX_BIN/kubectl-phoenix"

sim_start
intent_install_crds
intent_policy supervised
phx_start_controller ctl

intent_apply a svc-a 2 medium
intent_apply b svc-b 2 medium
intent_wait_cond a Approved AwaitingApproval reason
intent_wait_cond b Approved AwaitingApproval reason
expect_contains "$(intent_cond a Approved message)" "kubectl phoenix approve intent/a" "says how to approve"

# --- plain kubectl: approve, deny
intent_approval a-ok a Governance Approve "reviewed the purpose with finance" alice >/dev/null
intent_wait_cond a Approved True
expect_eq alice "$(intent_cond a Approved reason)" "reason = approver"
expect_eq "reviewed the purpose with finance" "$(intent_cond a Approved message)" "message = reason"
wait_for 10 "a-ok Applied" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get approval a-ok -o jsonpath='{.status.outcome}')\" = Applied ]"
expect_eq 1 "$(k get approval a-ok -o jsonpath='{.status.observedGeneration}')" "Approval observedGeneration"
k get intent a -o json | python3 -c '
import json, sys
e = json.load(sys.stdin)["status"]["audit"]["entries"]
assert any(x["action"] == "Approved" and x["actor"] == "alice" and x.get("gate") == "Governance" for x in e), e' ||
	fail "no audit entry for alice's approval"
intent_wait_event a-ok Applied Approval
pass "kubectl create Approval: Approved True (reason alice, message = reason), audit entry, Approval Applied + Event"

intent_approval b-no b Governance Deny "duplicates svc-a" bob >/dev/null
intent_wait_cond b Denied True
expect_eq bob "$(intent_cond b Denied reason)" "Denied reason = approver"
expect_eq "duplicates svc-a" "$(intent_cond b Denied message)" "Denied message"
intent_wait_phase b Denied
expect_eq False "$(intent_cond b Approved)" "Approved False after a Deny"
intent_wait_event b Denied
pass "a Deny: Denied True (reason bob), phase Denied, Approved False, Warning Event"

# --- ignored: unknown target, another generation, the Deploy gate, a gate not waiting
intent_approval ghost-ok ghost Governance Approve "who is this" alice >/dev/null
wait_for 10 "ghost-ok Ignored" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get approval ghost-ok -o jsonpath='{.status.outcome}')\" = Ignored ]"
expect_contains "$(k get approval ghost-ok -o jsonpath='{.status.message}')" "no Intent ghost" "unknown target said"
intent_wait_event ghost-ok Ignored Approval
k create -f - >/dev/null <<'YAML'
apiVersion: phoenix.fpai.io/v1alpha1
kind: Approval
metadata: {name: b-deploy}
spec:
  targetRef: {kind: Intent, name: b}
  gate: Deploy
  decision: Approve
  reason: ship it
  approver: alice
YAML
wait_for 10 "b-deploy Ignored" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get approval b-deploy -o jsonpath='{.status.outcome}')\" = Ignored ]"
intent_approval a-twice a Governance Approve "again" carol >/dev/null
wait_for 10 "a-twice Ignored" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get approval a-twice -o jsonpath='{.status.outcome}')\" = Ignored ]"
expect_contains "$(k get approval a-twice -o jsonpath='{.status.message}')" "not waiting" "gate not waiting said"
expect_eq alice "$(intent_cond a Approved reason)" "a later approval changes nothing"
pass "Approvals for an unknown Intent, the Deploy gate of an Intent, a gate not waiting: Ignored, saying why (status + Event)"

# --- an edit after the approval starts over; the old approval does not carry over
k patch intent a --type=merge -p '{"spec":{"purpose":"Computes hourly revenue per product line from the billing ledger for the finance team and exposes it to dashboards"}}' >/dev/null
wait_for 10 "a re-evaluated at generation 2" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get intent a -o jsonpath='{.status.observedGeneration}')\" = 2 ]"
intent_wait_cond a Approved AwaitingApproval reason
expect_eq 2 "$(intent_cond a Approved observedGeneration)" "gate of generation 2"
k create -f - >/dev/null <<'YAML'
apiVersion: phoenix.fpai.io/v1alpha1
kind: Approval
metadata: {name: a-old}
spec:
  targetRef: {kind: Intent, name: a, generation: 1}
  gate: Governance
  decision: Approve
  reason: I looked at the first version
  approver: alice
YAML
wait_for 10 "a-old Ignored" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get approval a-old -o jsonpath='{.status.outcome}')\" = Ignored ]"
expect_contains "$(k get approval a-old -o jsonpath='{.status.message}')" "generation 1" "older generation said"
expect_eq Unknown "$(intent_cond a Approved)" "still waiting"
pass "edit after approval: generation 2 waits again; an Approval for generation 1 is Ignored"

# --- RBAC: who may approve is who may create approvals
intent_install_approver_role
k apply -f - >/dev/null <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: approvers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: phoenix-operator-approver}
subjects:
  - {kind: ServiceAccount, name: dana, namespace: default}
YAML
dana=$(intent_sa_kubeconfig dana)
mallory=$(intent_sa_kubeconfig mallory)
if k --as=mallory create -f - >"$E2E_TMP/out" 2>&1 <<'YAML'; then fail "mallory created an Approval"; fi
apiVersion: phoenix.fpai.io/v1alpha1
kind: Approval
metadata: {name: sneaky}
spec:
  targetRef: {kind: Intent, name: a}
  gate: Governance
  decision: Approve
  reason: trust me
  approver: alice
YAML
expect_contains "$(cat "$E2E_TMP/out")" "forbidden" "kubectl --as=mallory: 403"
if "$plugin" --kubeconfig "$mallory" approve intent/a --reason "trust me" >"$E2E_TMP/out" 2>&1; then fail "the plugin approved as mallory"; fi
expect_contains "$(cat "$E2E_TMP/out")" "forbidden" "plugin as mallory: 403"
expect_eq Unknown "$(intent_cond a Approved)" "nothing changed"
pass "a user without the approver role: 403 from the API server (kubectl and the plugin), the Intent still waits"

# --- the plugin: approver from SelfSubjectReview, generation from the Intent
"$plugin" --kubeconfig "$dana" approve intent/a --reason "second look, fine" >"$E2E_TMP/out" 2>&1 || { cat "$E2E_TMP/out"; fail "plugin approve"; }
expect_contains "$(cat "$E2E_TMP/out")" "generation 2" "plugin says the generation"
intent_wait_cond a Approved True
expect_eq system:serviceaccount:default:dana "$(intent_cond a Approved reason)" "approver from SelfSubjectReview"
expect_eq "second look, fine" "$(intent_cond a Approved message)" "plugin reason"
intent_apply c svc-c 2 medium
intent_wait_cond c Approved AwaitingApproval reason
"$plugin" --kubeconfig "$dana" deny intent/c --reason "not this quarter" >/dev/null || fail "plugin deny"
intent_wait_cond c Denied True
expect_eq system:serviceaccount:default:dana "$(intent_cond c Denied reason)" "denier"
if "$plugin" --kubeconfig "$dana" approve intent/c >"$E2E_TMP/out" 2>&1; then fail "approve without --reason"; fi
expect_contains "$(cat "$E2E_TMP/out")" "--reason" "reason required"
if "$plugin" --kubeconfig "$dana" approve intent/c --gate Lunch --reason x >"$E2E_TMP/out" 2>&1; then fail "bad gate accepted"; fi
expect_contains "$(cat "$E2E_TMP/out")" "Governance, Spec or Deploy" "bad gate"
if "$plugin" --kubeconfig "$dana" approve intent/nope --reason x >"$E2E_TMP/out" 2>&1; then fail "missing intent approved"; fi
expect_contains "$(cat "$E2E_TMP/out")" "not found" "missing intent"
out=$("$plugin" --kubeconfig "$KUBECONFIG" intents)
expect_contains "$out" "Denied" "kubectl phoenix intents shows phases"
expect_contains "$out" "svc-a" "kubectl phoenix intents shows services"
pass "kubectl phoenix approve/deny: approver from SelfSubjectReview, generation from the Intent; bad input refused; kubectl phoenix intents"
intent_stop_check ctl
