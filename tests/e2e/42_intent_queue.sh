#!/usr/bin/env bash
# The pipeline queue with maxConcurrentPipelines 1: approved Intents wait in the order
# critical > high > medium > low, then creation time; queue.position is written for the waiting
# ones; a freed slot admits the next; `kubectl phoenix queue` prints the same order; a breached
# SLA gives SLABreached and a Warning Event; the metrics count it. The slot holder is an Intent
# whose Build cannot be created (no Build CRD here): it keeps its slot until cancelled.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/intent_helpers.sh"
plugin="$PHX_BIN/kubectl-phoenix"

sim_start
intent_install_crds
intent_policy autonomous "  maxConcurrentPipelines: 1
  sla: {critical: 3s, high: 1h, medium: 1h, low: none}"
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
phx_start_controller ctl --metrics-bind-address "127.0.0.1:$mport"

intent_apply holder holder 2 low
intent_wait_cond holder Queued Admitted reason
intent_wait_cond holder BuildSucceeded BuildCRDMissing reason
intent_wait_phase holder Building
# Created in this order; served in priority order.
for spec in "l1 low" "m1 medium" "h1 high" "c1 critical" "h2 high"; do
	set -- $spec
	intent_apply "$1" "svc-$1" 2 "$2"
done
for n in l1 m1 h1 c1 h2; do intent_wait_cond "$n" Queued Waiting reason; done
want="c1=1 h1=2 h2=3 m1=4 l1=5"
positions() { local n out=""; for n in c1 h1 h2 m1 l1; do out="$out $n=$(intent_get "$n" '{.status.queue.position}')"; done; echo "${out# }"; }
positions_are() { [ "$(positions)" = "$want" ]; }
wait_for 10 "positions $want" positions_are
expect_eq low "$(intent_get l1 '{.status.queue.priority}')" "queue.priority"
[ -n "$(intent_get c1 '{.status.queue.slaDeadline}')" ] || fail "critical has an SLA deadline"
[ -z "$(intent_get l1 '{.status.queue.slaDeadline}')" ] || fail "low has no SLA"
expect_contains "$(intent_cond m1 Queued message)" "position 4; maxConcurrentPipelines 1" "Queued message"
expect_eq Queued "$(intent_get m1 '{.status.phase}')" "phase Queued"
pass "cap 1: one admitted, five waiting at positions $want (critical > high > medium > low, then creation time)"

out=$("$plugin" --kubeconfig "$KUBECONFIG" queue)
echo "$out"
order=$(echo "$out" | awk 'NR>1 {print $3}' | tr '\n' ' ')
expect_eq "holder c1 h1 h2 m1 l1 " "$order" "kubectl phoenix queue order"
pass "kubectl phoenix queue: the slot holder, then the whole queue in order"

# SLA: c1 (critical, 3s) waits past its deadline.
intent_wait_cond c1 SLABreached True
expect_contains "$(intent_cond c1 SLABreached message)" "critical" "SLA message"
intent_wait_event c1 SLABreached
expect_eq False "$(intent_cond h1 SLABreached)" "h1 within its SLA"
wait_for 10 "SLA breach metric" bash -c "curl -sf http://127.0.0.1:$mport/metrics | grep -q 'phoenix_intent_sla_breaches_total{priority=\"critical\"} 1'"
pass "critical SLA of 3s breached: SLABreached True + Warning Event + phoenix_intent_sla_breaches_total"

metrics=$(curl -sf "http://127.0.0.1:$mport/metrics" | grep -E "^phoenix_intent")
expect_contains "$metrics" 'phoenix_intent_queue_depth{namespace="default",priority="high"} 2' "queue depth metric"
expect_contains "$metrics" 'phoenix_intents{phase="Queued"} 5' "intents by phase"
expect_contains "$metrics" 'phoenix_intent_decisions_total{mode="autonomous",decision="AutoApproved"} 6' "decisions metric"
pass "metrics: queue depth by priority, Intents by phase, decisions by mode and decision"

# Cancel the holder: the slot goes to c1, everyone moves up by one.
k patch intent holder --type=merge -p '{"spec":{"state":"Cancelled"}}' >/dev/null
intent_wait_phase holder Cancelled
intent_wait_cond c1 Queued Admitted reason
want="h1=1 h2=2 m1=3 l1=4"
positions() { local n out=""; for n in h1 h2 m1 l1; do out="$out $n=$(intent_get "$n" '{.status.queue.position}')"; done; echo "${out# }"; }
wait_for 10 "positions $want" positions_are
[ -z "$(intent_get c1 '{.status.queue.position}')" ] || fail "the admitted Intent keeps no position"
expect_eq True "$(intent_cond c1 SLABreached)" "the breach stays on record"
intent_wait_event holder Cancelled
pass "cancel frees the slot: c1 admitted, positions h1=1 h2=2 m1=3 l1=4"

# A Deny of the running one frees the slot too.
intent_policy autonomous "  maxConcurrentPipelines: 1"
k create -f - >/dev/null <<'YAML'
apiVersion: phoenix.fpai.io/v1alpha1
kind: Approval
metadata: {name: c1-stop}
spec:
  targetRef: {kind: Intent, name: c1}
  gate: Governance
  decision: Deny
  reason: superseded
  approver: alice
YAML
intent_wait_cond c1 Denied True
intent_wait_cond h1 Queued Admitted reason
intent_wait_cond h2 Queued Waiting reason
expect_eq 1 "$(intent_get h2 '{.status.queue.position}')" "h2 first"
pass "a Deny of the admitted Intent frees its slot: h1 admitted, h2 first"
intent_stop_check ctl
