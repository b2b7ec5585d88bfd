#!/usr/bin/env bash
# kubectl-phoenix against kubesim, without the operator: the test writes a PhoenixService's
# status itself (kubectl patch --subresource=status) and checks what the dashboard draws, that
# switchover/pause/resume write what they should, and the errors for an unreachable cluster, a
# missing CRD and a missing object.
set -euo pipefail
: "${PHX_BIN:?PHX_BIN must point at the bin directory of the build}" "${PHX_ROOT:?PHX_ROOT must point at the repository}"
export PATH="$PHX_ROOT/.tools/bin:$PHX_BIN:$PATH"
unset KUBECONFIG NO_COLOR

work=$(mktemp -d)
# A discovery cache of our own: another kubesim may have had this port before, with other CRDs.
export KUBECACHEDIR="$work/kube-cache"
pids=()
status=1
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[ $status = 0 ] || { echo "--- kubesim log (tail)"; tail -20 "$work/kubesim.log" 2>/dev/null || true; }
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok - $*"; }
# wait_until SECONDS CMD...: polls CMD until it succeeds or the deadline passes.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}
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

"$PHX_BIN/kubesim" --listen 127.0.0.1:0 --kubeconfig-out "$work/kubeconfig" >"$work/kubesim.log" 2>&1 &
pids+=($!)
wait_until 15 test -s "$work/kubeconfig" || fail "kubesim wrote no kubeconfig"
export KUBECONFIG="$work/kubeconfig"
wait_until 15 kubectl version || fail "kubesim does not answer"

# --- errors before anything is installed --------------------------------------------------
set +e
"$plugin" status >"$work/out" 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "status without the CRD exits $rc, want 1"
expect_out "missing CRD" '^error: PhoenixService CRD not installed in the cluster at https?://127\.0\.0\.1:[0-9]+: run `helm install' "$work/out"
ok "missing CRD: clear error naming helm install"

# Same credentials, a port nobody listens on.
cp "$KUBECONFIG" "$work/unreachable"
cluster=$(kubectl config view --minify -o jsonpath='{.clusters[0].name}')
server=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
dead="${server%:*}:1"
kubectl --kubeconfig "$work/unreachable" config set-cluster "$cluster" --server="$dead" >/dev/null
set +e
"$plugin" --kubeconfig "$work/unreachable" status >"$work/out" 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "status on an unreachable cluster exits $rc, want 1"
expect_out "unreachable" "^error: cannot reach the cluster at ${dead//./\\.}: " "$work/out"
ok "unreachable cluster: clear error naming the URL"

set +e
"$plugin" --kubeconfig "$work/no-such-file" status >"$work/out" 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "missing kubeconfig exits $rc"
expect_out "missing kubeconfig" "error: cannot load the kubeconfig: .*no-such-file" "$work/out"
ok "missing kubeconfig: error names the file"

"$plugin" --help >"$work/out"
for c in "status \[NAME\]" "switchover NAME \[POD\]" "pause NAME" "resume NAME" "--kubeconfig" "--context" "-n, --namespace" "-A, --all-namespaces"; do
	expect_out "--help" "$c" "$work/out"
done
set +e
"$plugin" frobnicate >"$work/out" 2>&1
rc=$?
set -e
[ $rc = 2 ] || fail "unknown command exits $rc, want 2"
ok "--help lists the commands and flags; unknown command is a usage error"

# --- a PhoenixService with a status written by hand --------------------------------------
kubectl apply -f "$PHX_ROOT/manifests/crds/" >/dev/null
kubectl wait --for condition=established --timeout=20s crd/phoenixservices.phoenix.fpai.io >/dev/null
kubectl create namespace shop >/dev/null
kubectl create namespace other >/dev/null
kubectl -n shop apply -f "$PHX_ROOT/manifests/samples/minimal.yaml" >/dev/null
kubectl -n other apply -f "$PHX_ROOT/manifests/samples/promote-mode.yaml" >/dev/null

"$plugin" -n shop status >"$work/out"
expect_out "no status yet" '^hello +- +- +- +0 +never' "$work/out"
ok "a service the operator has not seen yet shows dashes, not garbage"

now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
kubectl -n shop patch phx hello --subresource=status --type=merge -p "{\"status\": {
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
ok "status: instances, capacity, phase, failovers, last failover, failover in progress; no colour on a pipe"

# On PATH, kubectl finds it as a plugin: `kubectl phoenix` is the same program.
kubectl phoenix status -n shop >"$work/out2"
diff <(sed 's/[0-9]*s ago/Ns ago/; s/for [0-9]*s:/for Ns:/' "$work/out") <(sed 's/[0-9]*s ago/Ns ago/; s/for [0-9]*s:/for Ns:/' "$work/out2") >/dev/null ||
	fail "kubectl phoenix status differs from kubectl-phoenix status"
ok "kubectl phoenix (plugin discovery on PATH) runs the same dashboard"

"$plugin" status -n shop --color=always >"$work/out"
grep -q $'\033\\[' "$work/out" || fail "--color=always wrote no colour"
ok "--color=always colours"

"$plugin" status -n shop hello >"$work/out"
expect_out "detail header" '^PhoenixService shop/hello +FailingOver' "$work/out"
expect_out "detail counts" 'ready 2/3 · capacity 400% · failovers 7 \(last [0-9]+s ago, reaction 3 ms, recovery 0\.8 s\)' "$work/out"
expect_out "detail primary" '^  primary +hello-b$' "$work/out"
expect_out "detail serving" '^  serving +hello-b, hello-c$' "$work/out"
expect_out "detail condition" '^  Available +True +Serving' "$work/out"
ok "status NAME: the service in detail"

"$plugin" status -A >"$work/out"
expect_out "-A header" '^NAMESPACE +SERVICE' "$work/out"
expect_out "-A other" '^other +ledger +- .* Promote +none$' "$work/out"
expect_out "-A shop" '^shop +hello +FailingOver' "$work/out"
ok "status -A: every namespace, with a NAMESPACE column"

set +e
"$plugin" status -n shop nope >"$work/out" 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "status of a missing service exits $rc"
expect_out "missing object" '^error: phoenixservice "nope" not found in namespace "shop"$' "$work/out"
ok "status of a missing service: not found, not 'CRD missing'"

# --context: a second context whose default namespace is "other".
ctx=$(kubectl config current-context)
user=$(kubectl config view --minify -o jsonpath='{.contexts[0].context.user}')
kubectl config set-context other-ctx --cluster="$cluster" --user="$user" --namespace=other >/dev/null
"$plugin" status --context other-ctx >"$work/out"
expect_out "--context namespace" '^PHOENIX +namespace other · 1 service' "$work/out"
expect_out "--context row" '^ledger ' "$work/out"
"$plugin" status --context="$ctx" --namespace=shop >"$work/out"
expect_out "--namespace=" '^hello ' "$work/out"
ok "--context picks the context (and its namespace); --namespace= form works"

# --- switchover ----------------------------------------------------------------------------
ann() { kubectl -n shop get phx hello -o jsonpath='{.metadata.annotations.phoenix\.fpai\.io/switchover-to}'; }
"$plugin" -n shop switchover hello >"$work/out"
[ "$(ann)" = any ] || fail "switchover without POD set the annotation to '$(ann)', want any"
expect_out "switchover message" 'switchover to any ready standby requested' "$work/out"
kubectl -n shop patch phx hello --subresource=status --type=merge -p '{"status":{"standbys":["hello-d","hello-e"]}}' >/dev/null
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
ok "switchover sets phoenix.fpai.io/switchover-to (any or a standby); refuses the primary and strangers"

# --- pause / resume --------------------------------------------------------------------------
paused() { kubectl -n shop get phx hello -o jsonpath='{.spec.paused}'; }
gen0=$(kubectl -n shop get phx hello -o jsonpath='{.metadata.generation}')
"$plugin" -n shop pause hello >"$work/out"
[ "$(paused)" = true ] || fail "pause left spec.paused='$(paused)'"
expect_out "pause message" '^phoenixservice/hello paused' "$work/out"
"$plugin" -n shop status >"$work/out"
expect_out "paused shown" '^hello +FailingOver \(paused\)' "$work/out"
"$plugin" -n shop resume hello >/dev/null
[ "$(paused)" = false ] || fail "resume left spec.paused='$(paused)'"
gen1=$(kubectl -n shop get phx hello -o jsonpath='{.metadata.generation}')
[ "$gen1" -gt "$gen0" ] || fail "pause/resume did not change the spec (generation $gen0 -> $gen1)"
set +e
"$plugin" -n shop pause nope >"$work/out" 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "pause of a missing service exits $rc"
expect_out "pause missing" 'phoenixservice "nope" not found in namespace "shop"' "$work/out"
ok "pause/resume flip spec.paused; a missing service is a clear error"

# --- status --watch redraws until interrupted ------------------------------------------------
"$plugin" -n shop status -w --interval 0.1 >"$work/watch" 2>&1 &
wpid=$!
pids+=($wpid)
redrawn() { [ "$(grep -c '^PHOENIX ' "$work/watch")" -ge 3 ] && [ "$(grep -c '^--- ' "$work/watch")" -ge 3 ]; }
wait_until 10 redrawn || { cat "$work/watch"; fail "status -w did not redraw"; }
kill -INT $wpid
wait_until 5 gone $wpid || fail "status -w ignored SIGINT"
ok "status -w redraws and stops on SIGINT"

# A change redraws at once (a watch), not at the next --interval.
"$plugin" -n shop status -w --interval 60 >"$work/watch2" 2>&1 &
wpid=$!
pids+=($wpid)
first_frame() { grep -q '^hello ' "$work/watch2"; }
wait_until 10 first_frame || fail "status -w drew nothing"
t0=$SECONDS
kubectl -n shop patch phx hello --subresource=status --type=merge -p '{"status":{"failovers":8}}' >/dev/null
changed() { grep -Eq '^hello +.* 8 +[0-9]+s ago' "$work/watch2"; }
wait_until 10 changed || { cat "$work/watch2"; fail "status -w did not redraw on a change"; }
[ $((SECONDS - t0)) -lt 30 ] || fail "status -w redrew only at the interval"
kill -INT $wpid
wait_until 5 gone $wpid || fail "status -w (watching) ignored SIGINT"
ok "status -w redraws as soon as a PhoenixService changes"

status=0
echo "31_plugin: all checks passed"
