#!/usr/bin/env bash
# The real lane: builds (or reuses) the pinned upstream binaries, starts ONE real cluster
# (hack/real-cluster.sh) and runs the e2e tests below against it, one after another (each test
# resets the cluster's state at its start, see tests/e2e/lib.sh), then stops the cluster.
#
#   hack/k8s/lane.sh [TEST_REGEX]    PHX_BIN (default build/bin) must hold our binaries
#
# Prints one line per test (PASS/SKIP/FAIL with its time) and, last, a summary line
#   real lane: P passed, S skipped, F failed in Ns
# Exit status: 0 when nothing failed. A failing test's output is printed in full.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
filter="${1:-.}"
export PHX_BIN="${PHX_BIN:-$root/build/bin}"
export PHX_ROOT="$root"
tests=(
	13_api_parity
	20_phoenixservice_basic
	20_phoenixservice_failover
	20_phoenixservice_modes
	20_phoenixservice_leader
	20_phoenixservice_invalid
	30_helm_chart
	32_manifests
	40_intent_crds
	42_intent_governance
	43_build_crd
	44_build_deploy
	45_approval_policy
)
selected=()
for t in "${tests[@]}"; do [[ $t =~ $filter ]] && selected+=("$t"); done
if [ ${#selected[@]} -eq 0 ]; then
	echo "real lane: 0 passed, 0 skipped, 0 failed in 0s (no lane test matches '$filter')"
	exit 0
fi
t0=$SECONDS
"$root/hack/k8s/build.sh" >/dev/null || { echo "real lane: hack/k8s/build.sh failed"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/phx-real-lane.XXXXXX")
cluster="$work/cluster"
cleanup() { "$root/hack/real-cluster.sh" down --dir "$cluster" || true; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
"$root/hack/real-cluster.sh" up --dir "$cluster" >"$work/up.log" 2>&1 ||
	{ cat "$work/up.log"; echo "real lane: the cluster did not come up"; exit 1; }
echo "real lane: cluster up in $((SECONDS - t0))s ($(grep -o 'apiserver https://[^,]*' "$work/up.log"))"

passed=0 skipped=0 failed=0
for t in "${selected[@]}"; do
	s=$SECONDS
	PHX_E2E_BACKEND=real PHX_REAL_KUBECONFIG="$cluster/kubeconfig" \
		bash "$root/tests/e2e/$t.sh" >"$work/$t.log" 2>&1
	rc=$?
	if [ $rc -ne 0 ]; then
		failed=$((failed + 1))
		echo "FAIL $t ($((SECONDS - s))s):"
		sed 's/^/    /' "$work/$t.log"
	elif skip=$(grep -m1 '^SKIP: ' "$work/$t.log"); then
		skipped=$((skipped + 1))
		echo "SKIP $t ($((SECONDS - s))s): ${skip#SKIP: }"
	else
		passed=$((passed + 1))
		echo "PASS $t ($((SECONDS - s))s)"
	fi
done
echo "real lane: $passed passed, $skipped skipped, $failed failed in $((SECONDS - t0))s"
[ "$failed" -eq 0 ]
