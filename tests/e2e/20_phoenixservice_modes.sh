#!/usr/bin/env bash
# Promote mode never has two serving pods; a template change rolls out with no empty-endpoint
# moment, standbys first and the old primary last; manual switchover through the annotation;
# paused stops every action.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"

sim_start
phx_install_crd
phx_start_controller ctl

# ---- Promote: fence first, never two serving pods.
k apply -f - >/dev/null <<'YAML'
apiVersion: phoenix.fpai.io/v1alpha1
kind: PhoenixService
metadata: {name: ledger}
spec:
  standbys: 2
  failover: {mode: Promote}
  template:
    spec:
      containers:
        - name: app
          image: ledger:1
          ports: [{containerPort: 8080}]
YAML
phx_wait_settled ledger
e2e_backend_is_kubesim && phx_history_reset ledger
hows="delete readiness crash"
# Real backend: a crash needs kubesim's kubelet, the endpoints history kubesim's control API.
e2e_backend_is_kubesim || hows="delete readiness"
for how in $hows; do
	primary=$(phx_get ledger '{.status.primary}')
	case "$how" in
	delete) k delete pod "$primary" --wait=false >/dev/null ;;
	readiness) e2e_fail_readiness default "$primary" ;;
	crash) sim_pod_op default "$primary" crash ;;
	esac
	wait_for 5 "promote/$how: another pod serving" phx_other_serving ledger "$primary"
	phx_wait_settled ledger
done
expect_eq "$(echo $hows | wc -w)" "$(phx_get ledger '{.status.failovers}')" "Promote: failovers counted"
if e2e_backend_is_kubesim; then
hist=$(phx_history ledger)
expect_eq 1 "$(phx_hist_stat "$hist" maxReady)" "Promote: at most one ready endpoint ever"
expect_eq 0 "$(phx_hist_stat "$hist" multiMoments)" "Promote: no moment with two serving pods"
echo "promote: 3 failovers, max ready endpoints $(phx_hist_stat "$hist" maxReady), gaps $(phx_hist_zero_max "$hist") ms max"
fi

# ---- Rollout: template change, Surge mode.
k apply -f "$PHX_ROOT/manifests/samples/minimal.yaml" >/dev/null
phx_wait_settled hello
old_primary=$(phx_get hello '{.status.primary}')
old_rev=$(phx_get hello '{.status.currentRevision}')
old_pods=$(k get pods -l phoenix.fpai.io/service=hello -o 'jsonpath={.items[*].metadata.name}')
k get pods -l phoenix.fpai.io/service=hello -w --output-watch-events \
	-o 'jsonpath={.type} {.object.metadata.name}{"\n"}' >"$E2E_TMP/watch.log" 2>/dev/null &
watcher=$!
on_exit "kill $watcher"
wait_for 5 "pod watch running" test -s "$E2E_TMP/watch.log"
e2e_backend_is_kubesim && phx_history_reset hello
k patch phx hello --type merge -p '{"spec":{"template":{"spec":{"containers":[{"name":"hello","image":"hashicorp/http-echo:1.1","ports":[{"containerPort":8080}],"resources":{"requests":{"cpu":"10m","memory":"16Mi"}}}]}}}}' >/dev/null
wait_for 5 "rollout starts (Updating or new revision)" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.status.updateRevision}')\" != $old_rev ]"
wait_for 30 "rollout finished" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.status.currentRevision}')\" = \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.status.updateRevision}')\" ]"
phx_wait_settled hello
for p in $old_pods; do k get pod "$p" >/dev/null 2>&1 && fail "old pod $p still there"; done
if e2e_backend_is_kubesim; then
	expect_eq 0 "$(phx_hist_stat "$(phx_history hello)" zeroMoments)" "rollout: no empty-endpoint moment"
fi
expect_eq 0 "$(phx_get hello '{.status.failovers}')" "rollout is not a failover"
# The old primary is the last old pod to be deleted.
last_old=""
while read -r type name; do
	[ "$type" = DELETED ] || continue
	for p in $old_pods; do [ "$p" = "$name" ] && last_old=$name; done
done <"$E2E_TMP/watch.log"
expect_eq "$old_primary" "$last_old" "old primary replaced last"
expect_eq "hashicorp/http-echo:1.1" "$(k get pod "$(phx_get hello '{.status.primary}')" -o 'jsonpath={.spec.containers[0].image}')" "new primary runs the new image"
echo "rollout: 3 pods replaced, old primary $old_primary last$(e2e_backend_is_kubesim && echo ", 0 empty-endpoint moments")"

# ---- Manual switchover.
primary=$(phx_get hello '{.status.primary}')
target=$(k get pods -l phoenix.fpai.io/service=hello,phoenix.fpai.io/role=standby -o 'jsonpath={.items[0].metadata.name}')
e2e_backend_is_kubesim && phx_history_reset hello
k annotate phx hello "phoenix.fpai.io/switchover-to=$target" >/dev/null
wait_for 10 "switchover to $target" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.status.primary}')\" = $target ]"
wait_for 5 "annotation removed" bash -c "[ -z \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.metadata.annotations.phoenix\.fpai\.io/switchover-to}')\" ]"
phx_wait_settled hello
expect_eq standby "$(k get pod "$primary" -o 'jsonpath={.metadata.labels.phoenix\.fpai\.io/role}')" "old primary is a standby"
if e2e_backend_is_kubesim; then
	expect_eq 0 "$(phx_hist_stat "$(phx_history hello)" zeroMoments)" "switchover: no empty-endpoint moment"
fi
phx_wait_events hello SwitchoverCompleted 1

# ---- Paused: a dead primary is left alone; unpausing fails over.
k patch phx hello --type merge -p '{"spec":{"paused":true}}' >/dev/null
wait_for 5 "paused observed" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.status.observedGeneration}')\" = \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.metadata.generation}')\" ]"
primary=$(phx_get hello '{.status.primary}')
e2e_fail_readiness default "$primary"
wait_for 5 "status shows the primary not ready" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.status.readyInstances}')\" = 2 ]"
expect_eq primary "$(k get pod "$primary" -o 'jsonpath={.metadata.labels.phoenix\.fpai\.io/role}')" "paused: no promotion"
expect_eq 3 "$(k get pods -l phoenix.fpai.io/service=hello --no-headers | wc -l | tr -d ' ')" "paused: nothing created or deleted"
k patch phx hello --type merge -p '{"spec":{"paused":false}}' >/dev/null
wait_for 5 "unpaused: another pod serving" phx_other_serving hello "$primary"
phx_wait_settled hello
expect_eq 1 "$(phx_get hello '{.status.failovers}')" "failover after unpause"

# ---- No Ready standby: the primary is replaced directly, phase Degraded, a Warning Event.
k apply -f - >/dev/null <<'YAML'
apiVersion: phoenix.fpai.io/v1alpha1
kind: PhoenixService
metadata: {name: solo}
spec:
  standbys: 0
  template:
    spec:
      containers:
        - name: app
          image: solo:1
          ports: [{containerPort: 8080}]
YAML
phx_wait_settled solo
expect_eq 1/1 "$(phx_get solo '{.status.readyDisplay}')" "solo ready display"
expect_eq 100% "$(phx_get solo '{.status.capacityDisplay}')" "solo capacity"
primary=$(phx_get solo '{.status.primary}')
k delete pod "$primary" --wait=false >/dev/null
wait_for 5 "solo replaced" phx_other_serving solo "$primary"
phx_wait_settled solo
expect_eq 1 "$(phx_get solo '{.status.failovers}')" "solo failover counted"
phx_wait_events solo Degraded 1

pass "Promote never two serving; rollout standbys-first, old primary last, no empty endpoints; switchover; paused; no-standby degraded path"
