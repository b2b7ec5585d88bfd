#!/usr/bin/env bash
# kubesim --run-pods leaves no process behind: a /sim/v1/reset kills every pod's processes; after
# SIGTERM every container process (and what it forked) is gone when kubesim exits; after SIGKILL the container's own children outlive it
# (PR_SET_PDEATHSIG only reaches the direct child), and the next kubesim on the same state dir
# kills them from the process groups the dead one recorded.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

RP="$E2E_TMP/runpods"
tag="$$$RANDOM"
# Two grandchildren with an argument nobody else uses, so pgrep finds exactly ours.
cat >"$E2E_TMP/orphan.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: orphan}
spec:
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "sleep 1001.$tag & sleep 1002.$tag & wait"]
EOF
ours() { pgrep -f "sleep 100[12]\\.$tag" >/dev/null; }
none_left() { ! ours; }
on_exit "pkill -KILL -f 'sleep 100[12]\\.$tag'"

start() {
	rm -f "$E2E_TMP/kubesim.url"
	sim_start --run-pods --run-pods-dir "$RP"
}

# --- /sim/v1/reset, then SIGTERM -----------------------------------------------------------------
start
k apply -f "$E2E_TMP/orphan.yaml" >/dev/null
wait_for 20 "the pod's processes run" ours
sim_control -X POST "$SIM_URL/sim/v1/reset" >/dev/null
wait_for 10 "a reset kills every pod's processes" none_left
k apply -f "$E2E_TMP/orphan.yaml" >/dev/null
wait_for 20 "the pod's processes run after the reset" ours
sim_stop
none_left || fail "processes left after SIGTERM of kubesim: $(pgrep -af "sleep 100[12]\\.$tag")"
[ -z "$(ls -A "$RP")" ] || fail "instance dir left after a clean exit: $(ls -A "$RP")"
pass "reset and SIGTERM: no process left behind, state dir cleaned"

# --- SIGKILL, then the next start cleans up -----------------------------------------------------
start
k apply -f "$E2E_TMP/orphan.yaml" >/dev/null
wait_for 20 "the pod's processes run" ours
pgids=$(cat "$RP"/*/pgids)
[ -n "$pgids" ] || fail "no process group recorded in $RP/*/pgids"
kill -KILL "$SIM_PID"
wait "$SIM_PID" 2>/dev/null || true
SIM_PID=""
# The container's shell dies with kubesim (PR_SET_PDEATHSIG); its children are orphans now.
wait_for 10 "the container's shell died with kubesim" bash -c "! kill -0 $pgids 2>/dev/null"
ours || fail "no orphan to clean up: the test would prove nothing"
start
wait_for 10 "the next kubesim killed the orphans it found recorded" none_left
pass "SIGKILL: the next start kills the orphans of the dead instance"
sim_stop
none_left || fail "processes left after the final SIGTERM"
