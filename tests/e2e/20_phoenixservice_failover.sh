#!/usr/bin/env bash
# Failover, Surge mode, for every way a primary fails: pod deleted, readiness failing, container
# crash, OOM kill, node down. Each time: a standby serves within 1 s of the failure, the Service
# never has an empty endpoint set (kubesim's endpoints history shows zero empty moments), status
# counts the failover exactly, a FailoverCompleted Event exists, and the service is back to 3/3 Healthy with
# no pod left over.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"

sim_start
phx_install_crd
phx_start_controller ctl
k apply -f "$PHX_ROOT/manifests/samples/minimal.yaml" >/dev/null
phx_wait_settled hello

fail_primary() {
	local how=$1 pod=$2 node
	case "$how" in
	delete) k delete pod "$pod" --wait=false >/dev/null ;;
	readiness) e2e_fail_readiness default "$pod" ;;
	crash) sim_pod_op default "$pod" crash ;;
	oom) sim_pod_op default "$pod" oom ;;
	node)
		node=$(k get pod "$pod" -o 'jsonpath={.spec.nodeName}')
		sim_control -X POST "$SIM_URL/sim/v1/nodes/$node/down" >/dev/null
		on_exit "sim_control -X POST $SIM_URL/sim/v1/nodes/$node/up"
		echo "$node" >"$E2E_TMP/downnode"
		;;
	esac
}

expected=0
hows="delete readiness crash oom node"
# Real backend: crash, OOM and node-down need kubesim's kubelet (its control API); the endpoint
# history is kubesim's too. Delete and readiness (a pod status patch) run on both.
e2e_backend_is_kubesim || { hows="delete readiness"; echo "real backend: crash/oom/node-down and the endpoints history need kubesim; running: $hows"; }
for how in $hows; do
	primary=$(phx_get hello '{.status.primary}')
	completed=$(phx_event_count hello FailoverCompleted)
	e2e_backend_is_kubesim && phx_history_reset hello
	fail_primary "$how" "$primary"
	expected=$((expected + 1))
	wait_for 5 "$how: another pod serving" phx_other_serving hello "$primary"
	wait_for 10 "$how: failover counted" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.status.failovers}')\" = $expected ]"
	phx_wait_settled hello default 30
	zmax=n/a zcount=0
	if e2e_backend_is_kubesim; then
		hist=$(phx_history hello)
		zmax=$(phx_hist_zero_max "$hist")
		zcount=$(phx_hist_stat "$hist" zeroMoments)
	fi
	reaction=$(phx_get hello '{.status.lastFailoverReactionMs}')
	echo "$how: primary $primary -> $(phx_get hello '{.status.primary}'), endpoint gap ${zmax} ms (moments ${zcount}), reaction ${reaction} ms, recovery $(phx_get hello '{.status.lastRecoverySeconds}') s"
	# The product's promise: a client of the Service never sees an empty endpoint set.
	expect_eq 0 "$zcount" "$how: empty-endpoint moments (longest ${zmax} ms)"
	[ "$(phx_get hello '{.status.primary}')" != "$primary" ] || fail "$how: primary unchanged"
	k get pod "$primary" >/dev/null 2>&1 && fail "$how: failed primary $primary left over"
	phx_wait_events hello FailoverCompleted $((completed + 1))
	[ -n "$reaction" ] || fail "$how: lastFailoverReactionMs missing"
	if [ "$how" = node ]; then
		sim_control -X POST "$SIM_URL/sim/v1/nodes/$(cat "$E2E_TMP/downnode")/up" >/dev/null
	fi
done

expect_eq "$expected" "$(phx_get hello '{.status.failovers}')" "every failover counted exactly once"
expect_eq 0 "$(k get pods -l phoenix.fpai.io/service=hello -o json | python3 -c 'import json,sys; print(sum(1 for p in json.load(sys.stdin)["items"] if p["metadata"].get("deletionTimestamp")))')" "no terminating leftovers"
expect_contains "$(k get events --field-selector involvedObject.name=hello 2>/dev/null || k get events)" "FailoverStarted" "FailoverStarted Event"
pass "$(echo $hows | tr ' ' /): standby serving < 1 s, counted once each, FailoverCompleted, back to 3/3 Healthy"
