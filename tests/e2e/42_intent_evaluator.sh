#!/usr/bin/env bash
# The GovernancePolicy's external evaluator against a real local HTTP server
# (testdata/intent_evaluator_server.py): a good answer is combined with the rule score by the
# weight and changes the decision; a timeout, a garbage answer, an HTTP 500 and a refused
# connection each become a named `error` result with a message while the rule score stands; a
# slow evaluator never holds up the Intents of another namespace (the call runs off the reconcile
# worker); the operator stops promptly with a call in flight.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/intent_helpers.sh"

sim_start
intent_install_crds

LOG="$E2E_TMP/evaluator.log"
python3 "$PHX_ROOT/tests/e2e/testdata/intent_evaluator_server.py" "$E2E_TMP/evaluator.port" "$LOG" &
SRV=$!
on_exit "kill $SRV 2>/dev/null || true"
wait_for 10 "evaluator server listening" test -s "$E2E_TMP/evaluator.port"
EV="http://127.0.0.1:$(cat "$E2E_TMP/evaluator.port")"
# A port nothing listens on: bound and closed again.
DEAD=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# ev_case NS URL TIMEOUT [MODE]: a namespace whose default policy (autonomous) calls URL, with
# the reference Intent "revenue" (tier 2, rule score 0.92: auto-approved by the rules alone).
ev_case() {
	local ns=$1 url=$2 t=$3 mode=${4:-autonomous}
	k create namespace "$ns" >/dev/null
	k apply -n "$ns" -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: GovernancePolicy
metadata: {name: default}
spec:
  mode: $mode
  dependencies: {allowed: [billing-ledger]}
  evaluator: {url: '$url', timeoutSeconds: $t, weight: 0.5}
YAML
	ev_intent "$ns" revenue
}
ev_intent() {
	k apply -n "$1" -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Intent
metadata: {name: $2}
spec:
  serviceName: $2-analytics
  tier: 2
  priority: high
  autoBuild: false
  purpose: $INTENT_PURPOSE
  keyFeatures: ["$INTENT_F1", "fast"]
  dependencies: [billing-ledger]
YAML
}
ev_result() { intent_get revenue "{.status.governance.results[?(@.rule==\"external-evaluator\")].$2}" "$1"; }
ev_decided() { [ "$(intent_get revenue '{.status.observedGeneration}' "$1")" = 1 ]; }

phx_start_controller ctl

# --- the slow one first: a 3 s timeout, the server answers after 30 s
ev_case ev-slow "$EV/slow" 3
wait_for 10 "ev-slow: the evaluator was called" grep -q '"/slow"' "$LOG"
expect_eq Evaluating "$(intent_cond revenue Evaluated reason ev-slow)" "Evaluated while the evaluator thinks"
# Meanwhile an Intent of another namespace (built-in policy, no evaluator) is decided.
k create namespace ev-free >/dev/null
ev_intent ev-free free
wait_for 10 "ev-free decided" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get intent free -n ev-free -o jsonpath='{.status.governance.decision}')\" = RequiresApproval ]"
slow_reason=$(intent_cond revenue Evaluated reason ev-slow)
[ "$slow_reason" = Evaluating ] || [ "$slow_reason" = AutoApproved ] || fail "ev-slow Evaluated reason $slow_reason"
pass "a slow evaluator holds up no other Intent (ev-free decided while ev-slow was $slow_reason)"
wait_for 10 "ev-slow decided after the timeout" ev_decided ev-slow
expect_eq error "$(ev_result ev-slow result)" "timeout -> error result"
expect_contains "$(ev_result ev-slow message)" "failed (no answer within 3 s): the rule score stands" "timeout message"
expect_eq 0.92 "$(intent_get revenue '{.status.governance.score}' ev-slow)" "rule score stands"
expect_eq AutoApproved "$(intent_cond revenue Evaluated reason ev-slow)" "decision by the rules"
expect_contains "$(intent_cond revenue Evaluated message ev-slow)" "external-evaluator: evaluator $EV/slow failed" "Evaluated message names it"
pass "timeout: an error result named external-evaluator, the rule score 0.92 stands (AutoApproved)"

# --- an Approval made while the evaluator thinks is applied once it has answered (supervised)
ev_case ev-wait "$EV/slow" 3 supervised
wait_for 10 "ev-wait: Evaluating" bash -c "kubectl --kubeconfig $KUBECONFIG get intent revenue -n ev-wait -o jsonpath='{.status.conditions[?(@.type==\"Evaluated\")].reason}' | grep -qx Evaluating"
intent_approval early revenue Governance Approve "approved before the evaluator answered" alice -n ev-wait >/dev/null
wait_for 10 "ev-wait approved" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get intent revenue -n ev-wait -o jsonpath='{.status.conditions[?(@.type==\"Approved\")].reason}')\" = alice ]"
expect_eq RequiresApproval "$(intent_cond revenue Evaluated reason ev-wait)" "supervised: needs a human"
wait_for 10 "early Applied" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get approval early -n ev-wait -o jsonpath='{.status.outcome}')\" = Applied ]"
pass "an Approval created while the evaluator thinks is applied after its answer (not ignored)"

# --- a good answer: 0.5 * 0.92 + 0.5 * 0.2 = 0.56 -> below the threshold: needs a human
ev_case ev-good "$EV/good" 5
wait_for 10 "ev-good decided" ev_decided ev-good
expect_eq 0.56 "$(intent_get revenue '{.status.governance.score}' ev-good)" "combined score"
expect_eq RequiresApproval "$(intent_cond revenue Evaluated reason ev-good)" "decision from the combined score"
expect_eq pass "$(ev_result ev-good result)" "good answer -> pass"
expect_eq "score 0.20; overlaps billing-ledger; no on-call owner" "$(ev_result ev-good message)" "reasons recorded"
body=$(grep '"/good"' "$LOG" | head -1)
python3 - "$body" <<'PY' || fail "the POSTed body is not the Intent as JSON: $body"
import json, sys
rec = json.loads(sys.argv[1]); b = json.loads(rec["body"])
assert rec["contentType"] == "application/json", rec
assert b["kind"] == "Intent" and b["metadata"]["name"] == "revenue" and b["metadata"]["namespace"] == "ev-good", b
assert b["spec"]["serviceName"] == "revenue-analytics" and "status" not in b and "managedFields" not in b["metadata"], b
PY
pass "a good answer (0.2) is combined by the weight 0.5: 0.92 -> 0.56, RequiresApproval; the Intent was POSTed as JSON"

# --- garbage, HTTP 500, connection refused
ev_case ev-garbage "$EV/garbage" 5
ev_case ev-error "$EV/error" 5
ev_case ev-refused "http://127.0.0.1:$DEAD/" 5
for ns in ev-garbage ev-error ev-refused; do
	wait_for 10 "$ns decided" ev_decided $ns
	expect_eq error "$(ev_result $ns result)" "$ns -> error result"
	expect_eq 0.92 "$(intent_get revenue '{.status.governance.score}' $ns)" "$ns: rule score stands"
	expect_eq AutoApproved "$(intent_cond revenue Evaluated reason $ns)" "$ns: decision by the rules"
done
expect_contains "$(ev_result ev-garbage message)" 'answered no {"score": 0..1, "reasons": [...]} (HTTP 200' "garbage message"
expect_contains "$(ev_result ev-error message)" "failed (HTTP 500)" "HTTP 500 message"
expect_contains "$(ev_result ev-refused message)" "failed (Couldn't connect to server)" "refused message"
pass "garbage, HTTP 500 and a refused connection: named error results with a message, the rule score stands"

# --- one call per generation: the Intent is not POSTed again on every reconcile
n_good=$(grep -c '"/good"' "$LOG")
expect_eq 1 "$n_good" "one POST for generation 1 of ev-good/revenue"
k patch intent revenue -n ev-good --type merge -p '{"spec":{"priority":"critical"}}' >/dev/null
wait_for 10 "ev-good generation 2 decided" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get intent revenue -n ev-good -o jsonpath='{.status.observedGeneration}')\" = 2 ]"
expect_eq 2 "$(grep -c '"/good"' "$LOG")" "an edit asks again"
pass "one evaluator call per generation"

# --- stopping with a call in flight is prompt and clean
k patch intent revenue -n ev-slow --type merge -p '{"spec":{"priority":"critical"}}' >/dev/null
wait_for 10 "ev-slow asked again" bash -c "[ \$(grep -c '\"/slow\"' $LOG) -ge 2 ]"
t0=$SECONDS
intent_stop_check ctl
[ $((SECONDS - t0)) -lt 10 ] || fail "the operator took $((SECONDS - t0)) s to stop with an evaluator call in flight"
