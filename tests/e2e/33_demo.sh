#!/usr/bin/env bash
# hack/demo.sh, as a newcomer runs it, non-interactively: it must show the services Healthy, the
# failover in progress and the recovery, a standby operator replica taking over from a stopped
# leader and handling the next failover, print how to keep exploring, exit 0, leave no process
# behind, work a second time on the same state, and stop everything on SIGTERM when interactive.
set -euo pipefail
unset KUBECONFIG
source "$(dirname "$0")/lib.sh"
require_kubesim "hack/demo.sh starts kubesim itself"
work="$E2E_TMP"
state="$work/state"
demo_pid=""
# Our own processes only: anything still running with our state directory on its command line.
# (/proc rather than pgrep: procps is not on every fresh machine.)
leftovers() {
	local d argv
	for d in /proc/[0-9]*; do
		[ "${d#/proc/}" = $$ ] && continue
		# Builtins only: a grep here would find its own command line.
		mapfile -d '' -t argv 2>/dev/null <"$d/cmdline" || continue
		case "${argv[*]}" in *"$state"*) echo "${d#/proc/}" ;; esac
	done
	return 0
}
nothing_left() {
	local left
	left=$(leftovers)
	[ -z "$left" ] || { echo "still running: $left"; return 1; }
}
on_exit '[ -n "$demo_pid" ] && kill "$demo_pid"'
on_exit 'for p in $(leftovers); do kill "$p" 2>/dev/null || true; done'
on_failure 'echo "--- demo output (tail)"; tail -60 "$E2E_TMP/run" 2>/dev/null'
expect_out() { grep -Eq -- "$2" "$3" || fail "$1: no match for /$2/ in the demo output"; }

run_demo() { # LOGFILE: one non-interactive run with a deadline
	local rc=0
	# Replacements take 3 s to become Ready, so the "during" snapshot lands inside the failover
	# even on a loaded machine.
	PHX_DEMO_DIR="$state" PHX_DEMO_NONINTERACTIVE=1 PHX_DEMO_POD_READY_MS=3000 timeout 240 bash "$PHX_ROOT/hack/demo.sh" </dev/null >"$1" 2>&1 || rc=$?
	cp "$1" "$work/run"
	[ $rc = 0 ] || fail "hack/demo.sh exited $rc"
}

run_demo "$work/first"
f="$work/first"
expect_out "kubesim" 'kubesim serves https?://127\.0\.0\.1:[0-9]+' "$f"
expect_out "operator replicas" '3 replicas ready \(caches synced\); the leader is operator-[123]' "$f"
for s in intent-queue governance sovereign-factory build-executor registry; do
	expect_out "kubectl get phx: $s" "^$s +[a-z0-9-]+ +3/3 +500% +Healthy +0 " "$f"
done
expect_out "dashboard before" '^PHOENIX +namespace phoenix-demo · 5 services \(5 healthy\) · 15/15 instances ready · 0 failovers' "$f"
expect_out "kill" '^\$ kubectl -n phoenix-demo delete pod intent-queue-' "$f"
# During: the detail view drawn right after the kill shows the failover, not a healthy service.
sed -n '/==> During the failover/,/==> After/p' "$f" >"$work/during"
expect_out "during: phase" '^PhoenixService phoenix-demo/intent-queue +(FailingOver|Recovering|Degraded)' "$work/during"
expect_out "during: in progress" 'failover in progress for [0-9]+s: failed intent-queue-' "$work/during"
sed -n '/==> After: recovered/,$p' "$f" >"$work/after"
expect_out "after: dashboard" '^PHOENIX +namespace phoenix-demo · 5 services \(5 healthy\) · 15/15 instances ready · 1 failover · 0 in progress' "$work/after"
expect_out "after: row" '^intent-queue +Healthy +3/3 +500% +1 +[0-9]+s ago +[0-9]+ ms' "$work/after"
expect_out "after: event" 'FailoverCompleted' "$work/after"
expect_out "summary" 'Failover complete: intent-queue lost its primary intent-queue-[a-z0-9-]+; a standby was serving after [0-9]+ ms' "$f"
expect_out "leader stopped" 'operator-[123] took over from operator-[123] within [0-9]+ s' "$f"
expect_out "new leader acts" '^governance recovered under the new leader operator-[123]: reaction [0-9]+ ms' "$f"
expect_out "explore" "export KUBECONFIG=$state/kubeconfig" "$f"
[ -z "$(leftovers)" ] || fail "processes left behind: $(leftovers)"
pass "demo: Healthy services, the failover in progress, the recovery, a leader handover, how to explore; exit 0; nothing left running"

run_demo "$work/second"
expect_out "second run" 'Failover complete' "$work/second"
[ -z "$(leftovers)" ] || fail "processes left behind after the second run"
pass "demo works a second time on the same state directory"

# Interactive: it keeps the cluster up until told to stop, then stops what it started.
PHX_DEMO_DIR="$state" bash "$PHX_ROOT/hack/demo.sh" </dev/null >"$work/run" 2>&1 &
demo_pid=$!
wait_for 240 "interactive demo reaches its end" grep -q "Press Ctrl-C to stop" "$work/run"
[ -n "$(leftovers)" ] || fail "interactive demo is not keeping kubesim and the operator up"
kill -TERM "$demo_pid"
wait_for 15 "SIGTERM stops every process the demo started" nothing_left
wait "$demo_pid" 2>/dev/null || true
demo_pid=""
pass "interactive demo stays up, and SIGTERM stops every process it started"

# --up: only the playground; --kubeconfig-out says where its kubeconfig is; SIGINT (Ctrl-C)
# stops everything. Job control on, so that the background demo does not ignore SIGINT.
kc_file="$work/kubeconfig-path"
set -m
PHX_DEMO_DIR="$state" bash "$PHX_ROOT/hack/demo.sh" --up --kubeconfig-out "$kc_file" </dev/null >"$work/run" 2>&1 &
demo_pid=$!
set +m
wait_for 240 "--up writes the kubeconfig path" test -s "$kc_file"
kc=$(cat "$kc_file")
expect_eq "$state/kubeconfig" "$kc" "--kubeconfig-out content"
out=$(kubectl --kubeconfig "$kc" --cache-dir "$work/up-cache" get phx -A 2>&1) || fail "kubectl get phx on the --up playground: $out"
expect_contains "$(kubectl --kubeconfig "$kc" --cache-dir "$work/up-cache" get lease -n phoenix-demo -o name)" "phoenix-demo-leader" "the operator's Lease"
expect_out "--up prints the export line" "export KUBECONFIG=$state/kubeconfig" "$work/run"
grep -q "Failover complete" "$work/run" && fail "--up ran the scripted story"
kill -INT "$demo_pid"
wait_for 15 "SIGINT stops every process --up started" nothing_left
wait "$demo_pid" 2>/dev/null || true
demo_pid=""
pass "--up: playground without the story, kubeconfig path in --kubeconfig-out, kubectl get phx works, SIGINT leaves nothing running"

pass "33_demo: all checks passed"
