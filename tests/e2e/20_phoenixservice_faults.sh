#!/usr/bin/env bash
# API faults during a failover: 500s on the label patches, 429s on pod creates, 500s on status
# writes, watches closed and history compacted (410 Gone on rewatch). The failover still
# completes, is counted once, and the service returns to 3/3 Healthy.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"

require_kubesim "API faults are injected through kubesim's control API (/sim/v1/faults)"
sim_start
phx_install_crd
phx_start_controller ctl
k apply -f "$PHX_ROOT/manifests/samples/minimal.yaml" >/dev/null
phx_wait_settled hello

fault() { sim_control -X POST "$SIM_URL/sim/v1/faults/$1" -d "${2:-{\}}" >/dev/null; }

# Round 1: errors on every kind of write the failover makes.
fault errors '{"method":"PATCH","path":"/api/v1/namespaces/default/pods","status":500,"count":2}'
fault errors '{"method":"POST","path":"/api/v1/namespaces/default/pods","status":429,"count":3}'
fault errors '{"method":"PATCH","path":"/apis/phoenix.fpai.io","status":500,"count":2}'
fault errors '{"method":"DELETE","path":"/api/v1/namespaces/default/pods","status":503,"count":1}'
primary=$(phx_get hello '{.status.primary}')
sim_pod_op default "$primary" oom
wait_for 10 "round 1: another pod serving despite 500s" phx_other_serving hello "$primary"
phx_wait_settled hello default 30
expect_eq 1 "$(phx_get hello '{.status.failovers}')" "round 1 counted once"
rules=$(sim_control "$SIM_URL/sim/v1/faults")
expect_eq 0 "$(python3 -c 'import json,sys; print(sum(1 for r in json.loads(sys.argv[1])["rules"] if r["type"] == "error" and r.get("remaining", 0) > 0))' "$rules")" "every injected error was hit"
echo "round 1: failover through 500/429/503 answers: $(phx_get hello '{.status.lastFailoverReactionMs}') ms reaction"
sim_control -X DELETE "$SIM_URL/sim/v1/faults" >/dev/null

# Round 2: watches closed and history compacted right before the failure: the informers must
# rewatch, get 410 Gone, relist, and still see the failure.
fault compact
fault close-watches
primary=$(phx_get hello '{.status.primary}')
sim_pod_op default "$primary" fail-readiness
wait_for 10 "round 2: another pod serving after 410 + relist" phx_other_serving hello "$primary"
phx_wait_settled hello default 30
expect_eq 2 "$(phx_get hello '{.status.failovers}')" "round 2 counted once"

# Round 3: watches closed during the failover itself, plus a slow API.
fault latency '{"method":"*","path":"/api/v1/namespaces/default/pods","ms":50}'
primary=$(phx_get hello '{.status.primary}')
sim_pod_op default "$primary" crash
fault close-watches
fault compact
wait_for 10 "round 3: another pod serving" phx_other_serving hello "$primary"
sim_control -X DELETE "$SIM_URL/sim/v1/faults" >/dev/null
phx_wait_settled hello default 30
expect_eq 3 "$(phx_get hello '{.status.failovers}')" "round 3 counted once"
phx_wait_events hello FailoverCompleted 3
expect_eq 3 "$(phx_event_count hello FailoverCompleted)" "three FailoverCompleted Events"
pass "failovers complete through 500/429/503 answers, closed watches, 410 relists and latency"
