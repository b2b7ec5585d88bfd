#!/usr/bin/env bash
# The chart's optional ValidatingAdmissionPolicy for Approvals (approvalPolicy.enabled), on the
# real lane only: the upstream kube-apiserver evaluates its CEL; kubesim implements no admission
# policies, so on kubesim this test prints SKIP and exits 0. Rendered from the chart with the real
# helm and applied as admin; alice gets the chart's approver role (RBAC: she may create Approvals).
#   - alice creating an Approval with approver bob gets the policy's message (and no object);
#   - alice creating one with approver alice is admitted, and the operator applies it
#     (Approved True, reason alice);
#   - an Approval without spec.approver is refused the same way;
#   - carol, without the role, gets RBAC's 403 before any policy runs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/intent_helpers.sh"
if e2e_backend_is_kubesim; then
	echo "SKIP: $(basename "$0"): needs the real lane (kubesim does not implement ValidatingAdmissionPolicy; run hack/k8s/lane.sh 45_approval_policy)"
	exit 0
fi
chart="$PHX_ROOT/charts/phoenix-operator"
command -v helm >/dev/null || fail "helm not found (hack/install-deps.sh installs it in .tools/bin)"

sim_start
intent_install_crds
helm template e2e "$chart" --set approvalPolicy.enabled=true \
	--show-only templates/approval-policy.yaml --show-only templates/approver-rbac.yaml >"$E2E_TMP/policy.yaml"
on_exit k delete -f "$E2E_TMP/policy.yaml" --wait=false
k apply -f "$E2E_TMP/policy.yaml" >/dev/null
k create rolebinding alice-approver --clusterrole e2e-phoenix-operator-approver --user alice >/dev/null
intent_policy supervised
phx_start_controller ctl
intent_apply a svc-a 2 medium
intent_wait_cond a Approved AwaitingApproval reason

# The policy takes effect once the API server has compiled it: a server-side dry run (admission
# runs, nothing is stored) until alice is refused.
claim() { intent_approval "$1" a Governance Approve "looked at it" "$2" --as alice "${@:3}"; }
msg="spec.approver must be the name of the user creating the Approval: you are 'alice' but spec.approver is 'bob'"
wait_for 30 "the policy refuses alice's Approval in bob's name" \
	bash -c "out=\$(kubectl --kubeconfig $KUBECONFIG --cache-dir $KUBECACHEDIR create --dry-run=server --as alice -f - 2>&1 <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Approval
metadata: {name: probe}
spec: {targetRef: {kind: Intent, name: a}, gate: Governance, decision: Approve, reason: probe, approver: bob}
YAML
); echo \"\$out\"; [[ \$out == *\"$msg\"* ]]"

if out=$(claim as-bob bob 2>&1); then
	fail "alice created an Approval in bob's name: $out"
fi
expect_contains "$out" "$msg" "the policy's message"
expect_contains "$out" "ValidatingAdmissionPolicy" "the API server names the policy"
expect_contains "$out" "e2e-phoenix-operator-approver-is-requester" "and which one"
k get approval as-bob >/dev/null 2>&1 && fail "the refused Approval was stored"
pass "alice, approver bob: refused with the policy's message, nothing stored"

out=$(k create --as alice -f - 2>&1 <<'YAML'
apiVersion: phoenix.fpai.io/v1alpha1
kind: Approval
metadata: {name: no-approver}
spec: {targetRef: {kind: Intent, name: a}, gate: Governance, decision: Approve, reason: nobody}
YAML
) && fail "an Approval without spec.approver was admitted: $out"
expect_contains "$out" "you are 'alice' but spec.approver is ''" "no approver refused"
pass "alice, no approver: refused the same way"

out=$(intent_approval as-carol a Governance Approve "not mine to decide" carol --as carol 2>&1) &&
	fail "carol (no approver role) created an Approval: $out"
expect_contains "$out" "forbidden" "RBAC refuses carol"
expect_contains "$out" 'User "carol" cannot create resource "approvals"' "RBAC names the verb"
pass "carol without the approver role: 403 from RBAC"

claim as-alice alice >/dev/null
expect_eq alice "$(k get approval as-alice -o jsonpath='{.spec.approver}')" "stored approver"
intent_wait_cond a Approved True
expect_eq alice "$(intent_cond a Approved reason)" "reason = approver"
wait_for 10 "as-alice Applied" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get approval as-alice -o jsonpath='{.status.outcome}')\" = Applied ]"
pass "alice, approver alice: admitted, and the operator applied it (Approved True, reason alice; its status write is not checked)"

intent_stop_check ctl
