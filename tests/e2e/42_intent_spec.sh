#!/usr/bin/env bash
# The SPEC: built, verified and optimized into a ConfigMap owned by the Intent. A complete
# Intent passes at once under a low gate and after optimizing under the default 90; a vague one
# stays below the gate (SpecReady False with the findings) until an Approval at gate Spec; an
# edit of the ConfigMap is verified again (worse: False; back: True); approvalMode checkpoints
# waits for a Spec approval even when the SPEC passed. autoBuild false: the pipeline ends there.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/intent_helpers.sh"

sim_start
intent_install_crds
intent_policy aggressive "  rejectBelow: 0
  specGate: {minScore: 90, maxPasses: 3}"
phx_start_controller ctl

nobuild="  autoBuild: false
  port: 8080
  dependencies: [billing-ledger]"
intent_apply full revenue-analytics 2 high "$nobuild"
intent_wait_cond full SpecReady True
expect_eq GatePassed "$(intent_cond full SpecReady reason)" "reason"
score=$(intent_get full '{.status.spec.score}')
passes=$(intent_get full '{.status.spec.passes}')
[ "$score" -ge 90 ] || fail "score $score < 90"
[ "$passes" -ge 2 ] && [ "$passes" -le 3 ] || fail "passes $passes: want 2-3 (optimized)"
expect_eq full-spec "$(intent_get full '{.status.spec.configMap}')" "status.spec.configMap"
expect_eq Intent "$(k get cm full-spec -o jsonpath='{.metadata.ownerReferences[0].kind}')" "ConfigMap owned by the Intent"
expect_eq true "$(k get cm full-spec -o jsonpath='{.metadata.ownerReferences[0].controller}')" "controller owner"
md=$(k get cm full-spec -o jsonpath='{.data.SPEC\.md}')
for e in /health /capabilities /state /dependencies /message "Alert finance when daily revenue drops twenty percent" "[assumption]"; do
	expect_contains "$md" "$e" "SPEC.md"
done
intent_wait_phase full SpecReady
intent_wait_event full SpecReady
pass "complete Intent: SPEC $score/100 after $passes passes (optimized), ConfigMap full-spec owned by the Intent with the five endpoints; phase SpecReady"

# Passes at once under a lower gate (another namespace, its own policy).
k create namespace fast >/dev/null
k -n fast apply -f - >/dev/null <<'YAML'
apiVersion: phoenix.fpai.io/v1alpha1
kind: GovernancePolicy
metadata: {name: default}
spec:
  mode: aggressive
  dependencies: {allowed: [billing-ledger]}
  specGate: {minScore: 50, maxPasses: 3}
YAML
k -n fast get governancepolicy default >/dev/null
k -n fast apply -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Intent
metadata: {name: once}
spec:
  serviceName: once-svc
  tier: 2
  priority: high
  purpose: $INTENT_PURPOSE
  keyFeatures: ["$INTENT_F1", "$INTENT_F2", "$INTENT_F3"]
$nobuild
YAML
wait_for 10 "once SpecReady True" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG -n fast get intent once -o jsonpath='{.status.conditions[?(@.type==\"SpecReady\")].status}')\" = True ]"
expect_eq 1 "$(k -n fast get intent once -o jsonpath='{.status.spec.passes}')" "one pass under gate 50"
pass "under gate 50 (namespace fast's policy) the builder's draft passes at once (1 pass)"

# A vague Intent: below the gate, waiting for a human.
k apply -f - >/dev/null <<'YAML'
apiVersion: phoenix.fpai.io/v1alpha1
kind: Intent
metadata: {name: vague}
spec:
  serviceName: thing
  purpose: a service that does stuff and things
  keyFeatures: [fast, good stuff]
  autoBuild: false
YAML
intent_wait_cond vague SpecReady False
expect_eq BelowGate "$(intent_cond vague SpecReady reason)" "reason"
msg=$(intent_cond vague SpecReady message)
expect_contains "$msg" "--gate Spec" "how to approve"
expect_contains "$msg" "ConfigMap vague-spec" "or edit the ConfigMap"
expect_contains "$(intent_get vague '{.status.spec.findings}')" "purpose-vague" "findings"
[ "$(intent_get vague '{.status.spec.score}')" -lt 90 ] || fail "a vague Intent reached the gate"
intent_wait_phase vague SpecReview
intent_wait_event vague SpecReady
intent_approval vague-spec vague Spec Approve "I will fill in the SPEC by hand" erin >/dev/null
intent_wait_cond vague SpecApproved True
expect_eq erin "$(intent_cond vague SpecApproved reason)" "SpecApproved reason = approver"
intent_wait_phase vague SpecReady
pass "vague Intent: SpecReady False/BelowGate with findings, phase SpecReview; an Approval at gate Spec passes it (SpecApproved by erin)"

# An edit of the ConfigMap is verified again.
k patch cm full-spec --type=merge -p '{"data":{"SPEC.md":"# SPEC\n\nTODO\n"}}' >/dev/null
intent_wait_cond full SpecReady False
expect_contains "$(k get intent full -o jsonpath='{.status.audit.entries[*].action}')" "SpecEdited" "audit SpecEdited"
k patch cm full-spec --type=merge -p "$(python3 -c 'import json,sys; print(json.dumps({"data":{"SPEC.md":sys.argv[1] + "\n\nReviewed by erin.\n"}}))' "$md")" >/dev/null
intent_wait_cond full SpecReady True
expect_eq EditPassed "$(intent_cond full SpecReady reason)" "reason after a good edit"
pass "an edit of SPEC.md is verified again: TODO -> SpecReady False; the full text with a reviewer line -> True (EditPassed)"

# approvalMode checkpoints: a human looks at the SPEC even when it passed.
intent_apply chk chk-svc 2 high "$nobuild
  approvalMode: checkpoints"
intent_wait_cond chk SpecReady True
wait_for 10 "chk waits in SpecReview... or SpecReady without SpecApproved" bash -c "[ -z \"\$(kubectl --kubeconfig $KUBECONFIG get intent chk -o jsonpath='{.status.conditions[?(@.type==\"SpecApproved\")].status}')\" ]"
intent_approval chk-spec chk Spec Approve "SPEC read" erin >/dev/null
intent_wait_cond chk SpecApproved True
wait_for 10 "chk-spec Applied" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get approval chk-spec -o jsonpath='{.status.outcome}')\" = Applied ]"
pass "approvalMode checkpoints: a Spec approval is applied even after the SPEC passed"
intent_stop_check ctl
