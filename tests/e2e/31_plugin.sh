#!/usr/bin/env bash
# kubectl-phoenix against kubesim, without the operator: the test writes a PhoenixService's
# status itself (kubectl patch --subresource=status) and checks what the dashboard draws, that
# switchover/pause/resume write what they should, and the errors for an unreachable cluster, a
# missing CRD and a missing object.
set -euo pipefail
unset KUBECONFIG NO_COLOR
source "$(dirname "$0")/lib.sh"
work="$E2E_TMP"
# gone PID: the process has exited (a zombie waiting to be reaped counts as gone).
gone() {
	local st=""
	kill -0 "$1" 2>/dev/null || return 0
	read -r _ _ st _ <"/proc/$1/stat" 2>/dev/null || return 0
	[ "$st" = Z ]
}
# expect_out DESCRIPTION PATTERN FILE: FILE has a line matching the extended regex PATTERN.
expect_out() { grep -Eq -- "$2" "$3" || { echo "--- output:"; cat "$3"; fail "$1: no match for /$2/"; }; }

plugin="$PHX_BIN/kubectl-phoenix"
[ -x "$plugin" ] || fail "$plugin not built"

sim_start
wait_for 15 "kubesim answers kubectl" k version

# --- errors before anything is installed --------------------------------------------------
set +e
"$plugin" status >"$work/out" 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "status without the CRD exits $rc, want 1"
expect_out "missing CRD" '^error: PhoenixService CRD not installed in the cluster at https?://127\.0\.0\.1:[0-9]+: run `helm install' "$work/out"
pass "missing CRD: clear error naming helm install"

# Same credentials, a port nobody listens on.
cp "$KUBECONFIG" "$work/unreachable"
cluster=$(k config view --minify -o jsonpath='{.clusters[0].name}')
server=$(k config view --minify -o jsonpath='{.clusters[0].cluster.server}')
dead="${server%:*}:1"
kubectl --kubeconfig "$work/unreachable" config set-cluster "$cluster" --server="$dead" >/dev/null
set +e
"$plugin" --kubeconfig "$work/unreachable" status >"$work/out" 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "status on an unreachable cluster exits $rc, want 1"
expect_out "unreachable" "^error: cannot reach the cluster at ${dead//./\\.}: " "$work/out"
pass "unreachable cluster: clear error naming the URL"

set +e
"$plugin" --kubeconfig "$work/no-such-file" status >"$work/out" 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "missing kubeconfig exits $rc"
expect_out "missing kubeconfig" "error: cannot load the kubeconfig: .*no-such-file" "$work/out"
pass "missing kubeconfig: error names the file"

"$plugin" --help >"$work/out"
for c in "status \[NAME\]" "switchover NAME \[POD\]" "pause NAME" "resume NAME" "--kubeconfig" "--context" "-n, --namespace" "-A, --all-namespaces"; do
	expect_out "--help" "$c" "$work/out"
done
set +e
"$plugin" frobnicate >"$work/out" 2>&1
rc=$?
set -e
[ $rc = 2 ] || fail "unknown command exits $rc, want 2"
pass "--help lists the commands and flags; unknown command is a usage error"

# --- a PhoenixService with a status written by hand --------------------------------------
k apply -f "$PHX_ROOT/manifests/crds/" >/dev/null
k wait --for condition=established --timeout=20s crd/phoenixservices.phoenix.fpai.io >/dev/null
k create namespace shop >/dev/null
k create namespace other >/dev/null
k -n shop apply -f "$PHX_ROOT/manifests/samples/minimal.yaml" >/dev/null
k -n other apply -f "$PHX_ROOT/manifests/samples/promote-mode.yaml" >/dev/null

"$plugin" -n shop status >"$work/out"
expect_out "no status yet" '^hello +- +- +- +0 +never' "$work/out"
pass "a service the operator has not seen yet shows dashes, not garbage"

now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
k -n shop patch phx hello --subresource=status --type=merge -p "{\"status\": {
  \"phase\": \"FailingOver\", \"primary\": \"hello-b\", \"standbys\": [], \"serving\": [\"hello-b\", \"hello-c\"],
  \"readyInstances\": 2, \"totalInstances\": 3, \"readyDisplay\": \"2/3\",
  \"capacityPercent\": 400, \"capacityDisplay\": \"400%\", \"failovers\": 7,
  \"lastFailoverTime\": \"$now\", \"lastFailoverReactionMs\": 3, \"lastRecoverySeconds\": 0.8,
  \"failoverInProgress\": {\"startedAt\": \"$now\", \"failedPod\": \"hello-a\",
    \"promoted\": [\"hello-b\", \"hello-c\"], \"spawning\": [\"hello-d\", \"hello-e\"]},
  \"conditions\": [{\"type\": \"Available\", \"status\": \"True\", \"reason\": \"Serving\",
    \"message\": \"2 pods serving\", \"lastTransitionTime\": \"$now\"}]}}" >/dev/null

"$plugin" status -n shop >"$work/out"
expect_out "summary line" '^PHOENIX +namespace shop · 1 service \(0 healthy\) · 2/3 instances ready · 7 failovers · 1 in progress' "$work/out"
expect_out "header" '^SERVICE +PHASE +READY +CAPACITY +FAILOVERS +LAST FAILOVER +REACTION +MODE +PRIMARY' "$work/out"
expect_out "service row" '^hello +FailingOver +2/3 +400% +7 +[0-9]+s ago +3 ms +Surge +hello-b$' "$work/out"
expect_out "failover in progress" 'failover in progress for [0-9]+s: failed hello-a · promoted hello-b, hello-c · spawning hello-d, hello-e' "$work/out"
if grep -q $'\033' "$work/out"; then fail "colour codes written to a pipe"; fi
pass "status: instances, capacity, phase, failovers, last failover, failover in progress; no colour on a pipe"

# On PATH, kubectl finds it as a plugin: `kubectl phoenix` is the same program.
kubectl phoenix status -n shop >"$work/out2"
diff <(sed 's/[0-9]*s ago/Ns ago/; s/for [0-9]*s:/for Ns:/' "$work/out") <(sed 's/[0-9]*s ago/Ns ago/; s/for [0-9]*s:/for Ns:/' "$work/out2") >/dev/null ||
	fail "kubectl phoenix status differs from kubectl-phoenix status"
pass "kubectl phoenix (plugin discovery on PATH) runs the same dashboard"

"$plugin" status -n shop --color=always >"$work/out"
grep -q $'\033\\[' "$work/out" || fail "--color=always wrote no colour"
pass "--color=always colours"

"$plugin" status -n shop hello >"$work/out"
expect_out "detail header" '^PhoenixService shop/hello +FailingOver' "$work/out"
expect_out "detail counts" 'ready 2/3 · capacity 400% · failovers 7 \(last [0-9]+s ago, reaction 3 ms, recovery 0\.8 s\)' "$work/out"
expect_out "detail primary" '^  primary +hello-b  \(no such pod: the status is out of date\)$' "$work/out"
expect_out "detail serving" '^  serving +hello-b, hello-c$' "$work/out"
expect_out "detail condition" '^  Available +True +Serving' "$work/out"
pass "status NAME: the service in detail"

"$plugin" status -A >"$work/out"
expect_out "-A header" '^NAMESPACE +SERVICE' "$work/out"
expect_out "-A other" '^other +ledger +- .* Promote +none$' "$work/out"
expect_out "-A shop" '^shop +hello +FailingOver' "$work/out"
pass "status -A: every namespace, with a NAMESPACE column"

set +e
"$plugin" status -n shop nope >"$work/out" 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "status of a missing service exits $rc"
expect_out "missing object" '^error: phoenixservice "nope" not found in namespace "shop"$' "$work/out"
pass "status of a missing service: not found, not 'CRD missing'"

# --context: a second context whose default namespace is "other".
ctx=$(k config current-context)
user=$(k config view --minify -o jsonpath='{.contexts[0].context.user}')
k config set-context other-ctx --cluster="$cluster" --user="$user" --namespace=other >/dev/null
"$plugin" status --context other-ctx >"$work/out"
expect_out "--context namespace" '^PHOENIX +namespace other · 1 service' "$work/out"
expect_out "--context row" '^ledger ' "$work/out"
"$plugin" status --context="$ctx" --namespace=shop >"$work/out"
expect_out "--namespace=" '^hello ' "$work/out"
pass "--context picks the context (and its namespace); --namespace= form works"

# --- switchover ----------------------------------------------------------------------------
ann() { k -n shop get phx hello -o jsonpath='{.metadata.annotations.phoenix\.fpai\.io/switchover-to}'; }
"$plugin" -n shop switchover hello >"$work/out"
[ "$(ann)" = any ] || fail "switchover without POD set the annotation to '$(ann)', want any"
expect_out "switchover message" 'switchover to any ready standby requested' "$work/out"
k -n shop patch phx hello --subresource=status --type=merge -p '{"status":{"standbys":["hello-d","hello-e"]}}' >/dev/null
"$plugin" -n shop switchover hello hello-d >/dev/null
[ "$(ann)" = hello-d ] || fail "switchover hello hello-d set '$(ann)'"
set +e
"$plugin" -n shop switchover hello hello-zzz >"$work/out" 2>&1
rc1=$?
"$plugin" -n shop switchover hello hello-b >"$work/out2" 2>&1
rc2=$?
set -e
[ $rc1 = 1 ] && [ $rc2 = 1 ] || fail "switchover to a non-standby / the primary exits $rc1/$rc2, want 1/1"
expect_out "not a standby" 'hello-zzz is not a standby of hello' "$work/out"
expect_out "already primary" 'hello-b is already the primary of hello' "$work/out2"
[ "$(ann)" = hello-d ] || fail "a refused switchover changed the annotation to '$(ann)'"
pass "switchover sets phoenix.fpai.io/switchover-to (any or a standby); refuses the primary and strangers"

# --- pause / resume --------------------------------------------------------------------------
paused() { k -n shop get phx hello -o jsonpath='{.spec.paused}'; }
gen0=$(k -n shop get phx hello -o jsonpath='{.metadata.generation}')
"$plugin" -n shop pause hello >"$work/out"
[ "$(paused)" = true ] || fail "pause left spec.paused='$(paused)'"
expect_out "pause message" '^phoenixservice/hello paused' "$work/out"
"$plugin" -n shop status >"$work/out"
expect_out "paused shown" '^hello +FailingOver \(paused\)' "$work/out"
"$plugin" -n shop resume hello >/dev/null
[ "$(paused)" = false ] || fail "resume left spec.paused='$(paused)'"
gen1=$(k -n shop get phx hello -o jsonpath='{.metadata.generation}')
[ "$gen1" -gt "$gen0" ] || fail "pause/resume did not change the spec (generation $gen0 -> $gen1)"
set +e
"$plugin" -n shop pause nope >"$work/out" 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "pause of a missing service exits $rc"
expect_out "pause missing" 'phoenixservice "nope" not found in namespace "shop"' "$work/out"
pass "pause/resume flip spec.paused; a missing service is a clear error"

# --- status --watch redraws until interrupted ------------------------------------------------
"$plugin" -n shop status -w --interval 0.1 >"$work/watch" 2>&1 &
wpid=$!
on_exit "kill $wpid"
redrawn() { [ "$(grep -c '^PHOENIX ' "$work/watch")" -ge 3 ] && [ "$(grep -c '^--- ' "$work/watch")" -ge 3 ] || { cat "$work/watch"; return 1; }; }
wait_for 10 "status -w redraws" redrawn
kill -INT $wpid
wait_for 5 "status -w stops on SIGINT" gone $wpid
pass "status -w redraws and stops on SIGINT"

# A change redraws at once (a watch), not at the next --interval.
"$plugin" -n shop status -w --interval 60 >"$work/watch2" 2>&1 &
wpid=$!
on_exit "kill $wpid"
first_frame() { grep -q '^hello ' "$work/watch2"; }
wait_for 10 "status -w draws a first frame" first_frame
t0=$SECONDS
k -n shop patch phx hello --subresource=status --type=merge -p '{"status":{"failovers":8}}' >/dev/null
changed() { grep -Eq '^hello +.* 8 +[0-9]+s ago' "$work/watch2" || { cat "$work/watch2"; return 1; }; }
wait_for 10 "status -w redraws on a change" changed
[ $((SECONDS - t0)) -lt 30 ] || fail "status -w redrew only at the interval"
kill -INT $wpid
wait_for 5 "status -w (watching) stops on SIGINT" gone $wpid
pass "status -w redraws as soon as a PhoenixService changes"

pass "31_plugin: all checks passed"
