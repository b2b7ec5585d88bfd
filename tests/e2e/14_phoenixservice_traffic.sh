#!/usr/bin/env bash
# Zero downtime measured in requests, as a test: on kubesim --run-pods the example service runs
# as real processes behind a PhoenixService (its default heartbeat), bench/phx_loadgen sends 50
# requests/s through the Service's clusterIP (kubesim's userspace proxy), and the serving
# primary is deleted twice (graceful: SIGTERM, the service's lame duck): no request may fail.
# The traffic is GET /capabilities: /health answers 503 by design while a pod drains.
# A SIGKILLed primary may lose only what was in flight on it, which this test bounds loosely.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"

for b in kubesim phoenix-controller phoenix-contract-service phx_loadgen; do
	[ -x "$PHX_BIN/$b" ] || fail "not built: $PHX_BIN/$b"
done
image=phoenix/contract-service:dev
sim_start --run-pods --image-map "$image=$PHX_BIN/phoenix-contract-service" --nodes 3
phx_install_crd
phx_start_controller ctl
phx_apply_contract_service web "$image"
phx_wait_settled web default 120
expect_eq 1 "$(k get pod -l phoenix.fpai.io/service=web,phoenix.fpai.io/role=primary \
	-o 'jsonpath={.items[0].spec.containers[0].readinessProbe.periodSeconds}')" \
	"the default heartbeat probes every second"
cip=$(k get svc web -o jsonpath='{.spec.clusterIP}')
wait_for 30 "web answers on $cip:80" curl -sf --max-time 2 "http://$cip:80/health"

# load RESULT_FILE: starts the load generator (LG_PID)
load() {
	"$PHX_BIN/phx_loadgen" --url "http://$cip:80/capabilities" --rate 50 --duration 0 \
		--timeout-ms 2000 --quiet --out "$1" &
	LG_PID=$!
	on_exit "kill $LG_PID 2>/dev/null || true"
}
# new_primary OLD: another pod is the primary and the service is whole again
new_primary() { [ "$(phx_get web '{.status.primary}')" != "$1" ] && phx_is_settled web default; }
stop_load() { kill -INT "$LG_PID" && wait "$LG_PID" || true; }

load "$E2E_TMP/delete.json"
for i in 1 2; do
	old=$(phx_get web '{.status.primary}')
	k delete pod "$old" --wait=false >/dev/null
	wait_for 60 "a new primary after deleting $old ($i)" new_primary "$old"
done
stop_load
out=$(jq -c '{sent, failed, errors}' "$E2E_TMP/delete.json")
[ "$(jq .sent <<<"$out")" -ge 50 ] || fail "too few requests sent: $out"
expect_eq 0 "$(jq .failed <<<"$out")" "requests failed across 2 primary deletions ($out)"
pass "2 primary deletions under 50 req/s: $(jq .sent <<<"$out") requests, none failed"

# SIGKILL: the exit is seen at once and the primary failed over; the restarted process is not
# the primary any more. What was in flight on it, and what was routed to it before the proxy
# followed the new endpoints, fails: on an idle machine 1-2 per kill (bench/phx_results.md).
# The bound is loose (half a second of traffic per kill, for sanitizer builds on a loaded
# machine): it catches an exit noticed only at a kubelet relist (1 s), not small regressions.
load "$E2E_TMP/kill.json"
for i in 1 2; do
	old=$(phx_get web '{.status.primary}')
	sim_control -X POST "$SIM_URL/sim/v1/pods/default/$old/signal" -d '{"signal":"KILL"}' >/dev/null
	wait_for 60 "a new primary after SIGKILL of $old ($i)" new_primary "$old"
done
stop_load
out=$(jq -c '{sent, failed, errors}' "$E2E_TMP/kill.json")
[ "$(jq .failed <<<"$out")" -le 50 ] || fail "SIGKILL of the primary twice lost more than in flight: $out"
pass "2 primary SIGKILLs under 50 req/s: $(jq .failed <<<"$out") of $(jq .sent <<<"$out") requests failed"
