#!/usr/bin/env bash
# The Intent controller with leader election (one Lease for every kind the operator hosts): two
# replicas, one judges; the leader is SIGKILLed with an Intent waiting for approval and another
# queued behind a cap of 1; the other replica takes the Lease and carries on from the statuses:
# the approval is applied, the slot holder keeps its slot (cap still 1), cancel admits the next.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/intent_helpers.sh"

sim_start
intent_install_crds
intent_policy autonomous "  maxConcurrentPipelines: 1"
for i in 1 2; do phx_start_controller "ctl$i" --leader-elect --leader-election-namespace default; done
lease=phoenix-operator-leader
holder() { k get lease "$lease" -n default -o 'jsonpath={.spec.holderIdentity}' 2>/dev/null; }
has_holder() { [ -n "$(holder)" ]; }
wait_for 20 "a leader" has_holder
leader=$(holder)
leader_pid=${leader##*_}

intent_apply hold hold-svc 2 high
intent_wait_cond hold Queued Admitted reason
intent_apply next next-svc 2 high
intent_wait_cond next Queued Waiting reason
intent_apply tier0 tier0-svc 0 high
intent_wait_cond tier0 Approved AwaitingApproval reason
kill -KILL "$leader_pid"
new_leader() { local h; h=$(holder); [ -n "$h" ] && [ "$h" != "$leader" ]; }
wait_for 30 "another replica leads" new_leader
intent_approval t0 tier0 Governance Approve "checked after the failover" alice >/dev/null
intent_wait_cond tier0 Approved True
intent_wait_cond tier0 Queued Waiting reason
expect_eq Waiting "$(intent_cond next Queued reason)" "the cap still holds after the takeover"
expect_eq 1 "$(intent_get next '{.status.queue.position}')" "next first"
expect_eq 2 "$(intent_get tier0 '{.status.queue.position}')" "tier0 second (created later)"
k patch intent hold --type=merge -p '{"spec":{"state":"Cancelled"}}' >/dev/null
intent_wait_cond next Queued Admitted reason
expect_eq Waiting "$(intent_cond tier0 Queued reason)" "one slot"
pass "leader SIGKILLed: the other replica applies the approval, keeps the cap of 1 from the statuses, admits the next on cancel"
for i in 1 2; do
	pid=$(cat "$E2E_TMP/ctl$i.pid")
	[ "$pid" = "$leader_pid" ] || intent_stop_check "ctl$i"
done
