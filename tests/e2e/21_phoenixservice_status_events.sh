#!/usr/bin/env bash
# Failures and changes are visible: a pod create the API server refuses shows the server's
# message in condition PodCreateFailed, one Warning Event (rate-limited) and the log; rollouts
# emit RolloutStarted / RolloutCompleted; phoenix_instances carries namespace and service; the
# dashboard's failoversToday and failoversTotal describe the same services.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"

sim_start
phx_install_crd
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
phx_start_controller ctl --metrics-bind-address "127.0.0.1:$port" --dashboard-bind-address "127.0.0.1:$dport"
board() { curl -sf -H "Authorization: Bearer $SIM_TOKEN" "http://127.0.0.1:$dport/api/v1/boards/phoenix"; }
on_failure "k get phx hello -o yaml; k get events; sim_control $SIM_URL/sim/v1/faults"

k apply -f "$PHX_ROOT/manifests/samples/minimal.yaml" >/dev/null
phx_wait_settled hello

cond() { phx_get hello "{.status.conditions[?(@.type==\"PodCreateFailed\")].$1}"; }

# ---- 9: the API server refuses pods (as Pod Security admission or a quota would).
sim_control -X POST "$SIM_URL/sim/v1/faults/errors" \
	-d '{"method":"POST","path":"/api/v1/namespaces/default/pods","status":403,"count":0}' >/dev/null
standby=$(k get pods -l phoenix.fpai.io/service=hello,phoenix.fpai.io/role=standby -o 'jsonpath={.items[0].metadata.name}')
k delete pod "$standby" --wait=false >/dev/null
wait_for 10 "condition PodCreateFailed True" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.status.conditions[?(@.type==\"PodCreateFailed\")].status}')\" = True ]"
expect_eq Forbidden "$(cond reason)" "PodCreateFailed reason is the server's"
expect_contains "$(cond message)" "injected fault: 403" "PodCreateFailed carries the server's message"
phx_wait_events hello PodCreateFailed 1
refusals() { grep -c 'refused to create a pod.*message="injected fault: 403' "$E2E_TMP/ctl.log" || true; }
wait_for 10 "the operator retries (3 refusals logged with the server's message)" bash -c "[ \$(grep -c 'refused to create a pod.*message=\"injected fault: 403' '$E2E_TMP/ctl.log') -ge 3 ]"
expect_eq 1 "$(phx_event_count hello PodCreateFailed)" "PodCreateFailed Event is rate-limited ($(refusals) refusals)"
# A new service whose pods are refused is Degraded (Pending would say they are on their way).
sed 's/name: hello/name: fresh/' "$PHX_ROOT/manifests/samples/minimal.yaml" | k apply -f - >/dev/null
wait_for 10 "fresh: condition PodCreateFailed True" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get phx fresh -o jsonpath='{.status.conditions[?(@.type==\"PodCreateFailed\")].status}')\" = True ]"
expect_eq Degraded "$(phx_get fresh '{.status.phase}')" "a new service whose pods are refused"
sim_control -X DELETE "$SIM_URL/sim/v1/faults" >/dev/null
phx_wait_settled hello default 60
phx_wait_settled fresh default 60
expect_eq False "$(cond status)" "PodCreateFailed cleared by a successful create"
k delete phx fresh >/dev/null

# ---- rollouts emit Events.
k patch phx hello --type json -p \
	'[{"op":"add","path":"/spec/template/spec/containers/0/env","value":[{"name":"V","value":"2"}]}]' >/dev/null
phx_wait_events hello RolloutStarted 1
wait_for 20 "rollout done" phx_events_at_least hello RolloutCompleted 1
phx_wait_settled hello
expect_eq 1 "$(phx_event_count hello RolloutStarted)" "one RolloutStarted per rollout"

# ---- phoenix_instances per service.
metrics=$(curl -sf "http://127.0.0.1:$port/metrics")
expect_contains "$metrics" 'phoenix_instances{namespace="default",service="hello",role="primary",ready="true"} 1' "instances gauge per service"

# ---- dashboard totals are consistent once a service with failovers is deleted.
primary=$(phx_get hello '{.status.primary}')
k delete pod "$primary" --wait=false >/dev/null
wait_for 10 "failover counted" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.status.failovers}')\" = 1 ]"
dash_field() { board | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
expect_eq 1 "$(dash_field failoversToday)" "failoversToday"
expect_eq 1 "$(dash_field failoversTotal)" "failoversTotal"
k delete phx hello >/dev/null
forgot_hello() { [ "$(dash_field services)" = 0 ]; }
wait_for 10 "dashboard forgets hello" forgot_hello
expect_eq 0 "$(dash_field failoversTotal)" "failoversTotal after delete"
expect_eq 0 "$(dash_field failoversToday)" "failoversToday after delete (same services as the total)"
[ -z "$(curl -sf "http://127.0.0.1:$port/metrics" | grep 'phoenix_instances{namespace="default",service="hello"')" ] ||
	fail "phoenix_instances series of a deleted service remain"

pass "refused pod creates: PodCreateFailed with the server's message, one Warning Event, logged; rollout Events; per-service instances gauge; consistent dashboard totals"
