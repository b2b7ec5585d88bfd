#!/usr/bin/env bash
# A burst of API errors during a failover delays it only by the burst: the label patch that makes
# a standby serve is retried on the urgent lane with a short bounded backoff (5 ms doubling to
# 250 ms), so the standby serves within a few hundred ms of the API answering again.
# The burst is the next N pod PATCHes failing with 500 (a count, not a time: no sleep); with the
# default controller backoff (5 ms doubling to 1000 s) N failures push the next try past
# 5 ms x 2^(N/2) — minutes for N = 24.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"

BURST=24
# Serving must follow the burst's end this fast (ms); scaled with the load factor.
LIMIT_MS=$((2000 * ${PHX_E2E_WAIT_SCALE:-3} / 3))

phx_start_hello

remaining_errors() {
	python3 -c 'import json,sys; print(sum(r.get("remaining", 0) for r in json.loads(sys.argv[1])["rules"] if r["type"] == "error"))' \
		"$(sim_control "$SIM_URL/sim/v1/faults")"
}
burst_over() { [ "$(remaining_errors)" -eq 0 ]; }

# Wall time (epoch ms) of the first endpoints entry in which a pod other than $1 is ready,
# empty when none.
first_other_ready() {
	python3 -c '
import datetime, json, sys
h = json.loads(sys.argv[1])
for e in h.get("entries", []):
    if any(p != sys.argv[2] for p in e["ready"]):
        t = datetime.datetime.fromisoformat(e["time"].replace("Z", "+00:00"))
        print(int(t.timestamp() * 1000)); break' "$(phx_history hello)" "$1"
}
# Epoch ms of the first (head -n1) or last (tail -n1) failed action in the controller log: the
# 500 answers the operator got. The last one is the end of the burst as the operator saw it.
failed_action_ms() {
	# grep -m1, not "grep | head": head exiting early kills grep with SIGPIPE, which pipefail
	# turns into a failed assignment and set -e into a silent exit
	{ if [ "$1" = head ]; then grep -m1 '"action failed"' "$E2E_TMP/ctl.log"; else grep '"action failed"' "$E2E_TMP/ctl.log" | tail -n1; fi; } | python3 -c '
import datetime, sys
t = sys.stdin.read().split()[0]
print(int(datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000))'
}
other_ready_seen() { [ -n "$(first_other_ready "$1")" ]; }

primary=$(phx_get hello '{.status.primary}')
phx_history_reset hello
sim_control -X POST "$SIM_URL/sim/v1/faults/errors" \
	-d "{\"method\":\"PATCH\",\"path\":\"/api/v1/namespaces/default/pods\",\"status\":500,\"count\":$BURST}" >/dev/null
sim_pod_op default "$primary" oom
# Burst: the operator keeps retrying until the API answers again.
wait_for 20 "the operator retried through $BURST failing pod patches" burst_over
wait_for 10 "a standby serving after the burst" other_ready_seen "$primary"
serve_ms=$(first_other_ready "$primary") || fail "cannot read the endpoints history"
start_ms=$(failed_action_ms head) || fail "no failed action in the controller log"
end_ms=$(failed_action_ms tail) || fail "no failed action in the controller log"
delay=$((serve_ms - end_ms))
echo "burst of $BURST failed patches lasted $((end_ms - start_ms)) ms; standby serving ${delay} ms after its last 500 (limit ${LIMIT_MS} ms)"
[ "$delay" -le "$LIMIT_MS" ] || fail "standby served ${delay} ms after the burst ended (limit ${LIMIT_MS} ms)"
phx_wait_settled hello default 30
echo "settled $(($(now_ms) - end_ms)) ms after the burst (at most, polled)"
expect_eq 1 "$(phx_get hello '{.status.failovers}')" "the failover counted once"
pass "a failover retries fast through a burst of 500s and serves as soon as the API answers"
