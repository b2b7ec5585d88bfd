#!/usr/bin/env bash
# kubectl phoenix status shows the pipeline summary under the PhoenixServices (the web
# dashboard's numbers: controller/dashboard/dash_summary.c): Intents today, completed, failed,
# success rate, active, queued, mean pipeline; Builds total / queued / running / completed /
# failed / success rate / mean build; the queue with positions. The no-leader warning stands
# with it. `kubectl phoenix completion bash|zsh`: commands, flags and their values, and names
# read from the cluster (intent/NAME, build/NAME). No operator runs here: statuses are written
# by hand, so every number is known.
set -euo pipefail
unset NO_COLOR
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/intent_helpers.sh"
plugin="$PHX_BIN/kubectl-phoenix"
out="$E2E_TMP/out"
expect_out() { grep -Eq -- "$2" "$out" || { echo "--- output:"; cat "$out"; fail "$1: no match for /$2/"; }; }
expect_no() { if grep -Eq -- "$2" "$out"; then echo "--- output:"; cat "$out"; fail "$1: unexpected /$2/"; fi; }
rfc3339() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

sim_start
intent_install_crds
k apply -f "$PHX_ROOT/manifests/crds/phoenix.fpai.io_builds.yaml" >/dev/null
wait_for 10 "Build API served" k get builds
"$plugin" --kubeconfig "$KUBECONFIG" status >"$out" 2>&1
expect_no "no Intent, no pipeline lines" '^(Pipeline|Builds):'

now=$(date +%s)
cond() { echo "{\"type\":\"$1\",\"status\":\"$2\",\"reason\":\"$3\",\"message\":\"\",\"lastTransitionTime\":\"$(rfc3339 "$4")\"}"; }
for n in r1 f1 q1 q2; do intent_apply "$n" "svc-$n" 2 medium; done
k patch intent r1 --subresource=status --type=merge -p "{\"status\":{\"phase\":\"Ready\",\"conditions\":[$(cond Ready True Deployed $((now + 30)))]}}" >/dev/null
k patch intent f1 --subresource=status --type=merge -p '{"status":{"phase":"Failed"}}' >/dev/null
k patch intent q1 --subresource=status --type=merge -p "{\"status\":{\"phase\":\"Queued\",\"queue\":{\"priority\":\"low\",\"position\":2,\"enqueuedAt\":\"$(rfc3339 "$now")\"}}}" >/dev/null
k patch intent q2 --subresource=status --type=merge -p "{\"status\":{\"phase\":\"Queued\",\"queue\":{\"priority\":\"high\",\"position\":1,\"enqueuedAt\":\"$(rfc3339 "$now")\"}}}" >/dev/null
for b in b1 b2; do
	k apply -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Build
metadata: {name: $b}
spec: {serviceName: svc-$b, source: {git: {url: "https://example.invalid/$b.git"}}}
YAML
done
k patch build b1 --subresource=status --type=merge -p "{\"status\":{\"phase\":\"Succeeded\",\"startTime\":\"$(rfc3339 "$now")\",\"completionTime\":\"$(rfc3339 $((now + 90)))\"}}" >/dev/null
k patch build b2 --subresource=status --type=merge -p '{"status":{"phase":"Running"}}' >/dev/null

"$plugin" --kubeconfig "$KUBECONFIG" status >"$out" 2>&1
expect_out "intents" '^Pipeline: 4 intents today, 1 completed, 1 failed \(success 50%\), 2 active, 2 queued; mean pipeline [0-9.]+ s$'
expect_out "builds" '^Builds: 2 total, 0 queued, 1 running, 1 completed, 0 failed \(success 100%\); mean build 90\.0 s$'
expect_out "queue" '^Queue: 1 q2 \(high\), 2 q1 \(low\)$'
"$plugin" --kubeconfig "$KUBECONFIG" status -A >"$out" 2>&1
expect_out "queue -A names namespaces" '^Queue: 1 default/q2 \(high\), 2 default/q1 \(low\)$'
"$plugin" --kubeconfig "$KUBECONFIG" -n kube-system status >"$out" 2>&1
expect_no "another namespace: none of these" '^(Pipeline|Builds):'
pass "status: the pipeline summary (intents, builds, success rates, mean durations) and the queue in position order"

# The no-leader warning stands with the pipeline: an expired Lease.
k create namespace phoenix-system >/dev/null
k apply -f - >/dev/null <<YAML
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: phoenix-operator-leader, namespace: phoenix-system}
spec: {holderIdentity: op-1, leaseDurationSeconds: 15, renewTime: "$(date -u -d "@$((now - 60))" +%Y-%m-%dT%H:%M:%S.000000Z)"}
YAML
"$plugin" --kubeconfig "$KUBECONFIG" status >"$out" 2>&1
expect_out "expired Lease" '^WARNING: no operator is acting: Lease phoenix-system/phoenix-operator-leader, last held by op-1'
expect_out "and the pipeline" '^Pipeline: 4 intents today'
pass "status: no operator holding the Lease is a WARNING next to the pipeline summary"

# --- completion --------------------------------------------------------------------------------
"$plugin" completion bash >"$E2E_TMP/c.bash"
"$plugin" completion zsh >"$E2E_TMP/c.zsh"
bash -n "$E2E_TMP/c.bash" || fail "the bash script does not parse"
grep -q '^autoload -U +X bashcompinit && bashcompinit$' "$E2E_TMP/c.zsh" || fail "zsh: bashcompinit"
expect_fail "completion fish" "$plugin" completion fish
# complete WORDS...: what the bash function offers for the last word.
complete_words() {
	KUBECONFIG="$KUBECONFIG" bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _kubectl_phoenix; echo "${COMPREPLY[*]}"' _ "$E2E_TMP/c.bash" "$@"
}
expect_eq "approve" "$(complete_words kubectl-phoenix appr)" "a command"
expect_eq "completion" "$(complete_words kubectl-phoenix -n default compl)" "a command after a flag and its value"
expect_eq "Governance Spec Deploy" "$(complete_words kubectl-phoenix approve intent/q1 --gate '')" "--gate values"
expect_eq "json yaml wide" "$(complete_words kubectl-phoenix intents -o '')" "-o values"
expect_eq "intent/q1 intent/q2" "$(complete_words kubectl-phoenix approve intent/q)" "Intent names from the cluster"
expect_eq "build/b1 build/b2" "$(complete_words kubectl-phoenix deny build/)" "Build names"
expect_eq "" "$(complete_words kubectl-phoenix -n kube-system approve intent/)" "-n is honoured"
expect_eq "build/b1 build/b2" "$(complete_words kubectl-phoenix logs b)" "logs: builds"
expect_eq "--gate" "$(complete_words kubectl-phoenix approve --ga)" "flags"
pass "completion bash|zsh: commands, flags and their values, Intent and Build names from the cluster (-n honoured)"

# `kubectl phoenix <TAB>` (kubectl 1.26+): kubectl runs kubectl_complete-phoenix from PATH.
[ -x "$PHX_BIN/kubectl_complete-phoenix" ] || fail "kubectl_complete-phoenix not installed next to the plugin"
# kcomplete WORDS...: kubectl's completions of `kubectl phoenix WORDS...` (directive line dropped).
kcomplete() { PATH="$PHX_BIN:$PATH" KUBECONFIG="$KUBECONFIG" kubectl __complete phoenix "$@" 2>/dev/null | grep -v '^:' | tr '\n' ' ' | sed 's/ $//'; }
expect_eq "$(echo status switchover pause resume dashboard intents queue approve deny builds logs completion | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')" \
	"$(kcomplete '' | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//')" "kubectl phoenix <TAB>: our commands"
expect_eq "intent/f1 intent/q1 intent/q2 intent/r1" "$(kcomplete approve intent/)" "kubectl phoenix approve intent/<TAB>: names from the cluster"
expect_eq "build/b1 build/b2" "$(kcomplete logs '')" "kubectl phoenix logs <TAB>: Builds"
PATH="$PHX_BIN:$PATH" KUBECONFIG="$KUBECONFIG" kubectl __complete phoenix approve intent/ 2>/dev/null | tail -n 1 >"$out"
expect_out "no file names after ours" '^:4$'
pass "kubectl phoenix <TAB> through kubectl_complete-phoenix: commands and real Intent/Build names"
