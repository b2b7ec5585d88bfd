#!/usr/bin/env bash
# PhoenixService status that an on-call engineer can trust: lastReconcileTime; a hand-edited
# status is put back; an invalid spec has phase Invalid and does not stop failover (a Ready
# standby is promoted, nothing is spawned until the spec is fixed); a paused service shows
# Paused and time paused is not failover reaction; after quick switchovers status.primary names
# the serving primary.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"

sim_start
phx_install_crd
phx_start_controller ctl
on_failure "k get phx hello -o yaml; k get pods -l phoenix.fpai.io/service=hello --show-labels"

k apply -f "$PHX_ROOT/manifests/samples/minimal.yaml" >/dev/null
phx_wait_settled hello
phx_wait_events hello PrimarySpawned 1
# One Event for the pods a pass created, naming each with its role: the 3 pods of a new service.
spawned=$(k get events -o json | python3 -c 'import json, sys
print(" ".join(e.get("message", "") for e in json.load(sys.stdin)["items"]
               if e.get("involvedObject", {}).get("name") == "hello" and e.get("reason") == "PrimarySpawned"))')
[ "$(grep -o '(standby)' <<<"$spawned" | wc -l)" -eq 2 ] && [ "$(grep -o '(primary)' <<<"$spawned" | wc -l)" -eq 1 ] ||
	fail "PrimarySpawned should name 1 primary and 2 standbys: '$spawned'"
[ "$(phx_event_count hello StandbySpawned)" -eq 0 ] || fail "StandbySpawned Events for a new service's standbys"

# The serving primary according to the pods' labels.
serving_primary() {
	k get pods -l phoenix.fpai.io/service=hello,phoenix.fpai.io/role=primary,phoenix.fpai.io/serving=true \
		-o 'jsonpath={.items[*].metadata.name}'
}
pod_names() { k get pods -l phoenix.fpai.io/service=hello -o 'jsonpath={.items[*].metadata.name}'; }

# ---- 11: the status says when it was last reconciled.
lrt=$(phx_get hello '{.status.lastReconcileTime}')
[ -n "$lrt" ] || fail "status.lastReconcileTime missing"
age=$(python3 -c 'import sys,datetime as d; t=d.datetime.strptime(sys.argv[1],"%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=d.timezone.utc); print(int((d.datetime.now(d.timezone.utc)-t).total_seconds()))' "$lrt")
[ "$age" -lt 300 ] || fail "lastReconcileTime $lrt is ${age}s old"

# ---- 7: a hand-edited status is corrected.
primary=$(phx_get hello '{.status.primary}')
k patch phx hello --subresource=status --type merge \
	-p '{"status":{"phase":"Degraded","failovers":999,"primary":"nobody"}}' >/dev/null
status_restored() {
	[ "$(phx_get hello '{.status.phase}')" = Healthy ] &&
		[ "$(phx_get hello '{.status.failovers}')" = 0 ] &&
		[ "$(phx_get hello '{.status.primary}')" = "$primary" ]
}
wait_for 10 "hand-edited status put back (Healthy, failovers 0, primary $primary)" status_restored

# ---- 1 + 12: an invalid spec: phase Invalid, failover goes on, nothing is spawned.
k patch phx hello --type json -p \
	'[{"op":"replace","path":"/spec/template/spec/containers/0/resources/requests","value":{"cpu":"lots","memory":"16Mi"}}]' >/dev/null
wait_for 10 "phase Invalid" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.status.phase}')\" = Invalid ]"
msg=$(phx_get hello '{.status.conditions[?(@.type=="Invalid")].message}')
expect_contains "$msg" "resources.requests.cpu" "Invalid names the field"
expect_contains "$msg" "no pod is spawned" "Invalid says spawning is held"
phx_wait_events hello InvalidSpec 1
read -r _ _ _ _ phase_col _ <<<"$(k get phx hello --no-headers)"
expect_eq Invalid "$phase_col" "PHASE column"
before=$(pod_names)
k delete pod "$primary" --wait=false >/dev/null
wait_for 10 "a standby serves although the spec is invalid" phx_other_serving hello "$primary"
wait_for 10 "failover counted" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.status.failovers}')\" = 1 ]"
wait_for 10 "status.primary names the serving primary" bash -c "[ -n \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.status.primary}')\" ] && [ \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.status.primary}')\" = \"\$(kubectl --kubeconfig $KUBECONFIG get pods -l phoenix.fpai.io/service=hello,phoenix.fpai.io/role=primary,phoenix.fpai.io/serving=true -o 'jsonpath={.items[*].metadata.name}')\" ]"
wait_for 10 "the failed primary is gone" bash -c "! kubectl --kubeconfig $KUBECONFIG get pod $primary >/dev/null 2>&1"
for p in $(pod_names); do
	case " $before " in *" $p "*) ;; *) fail "pod $p spawned on an invalid spec" ;; esac
done
expect_eq 2 "$(pod_names | wc -w | tr -d ' ')" "no replacement while invalid"
expect_eq Invalid "$(phx_get hello '{.status.phase}')" "still Invalid"
k patch phx hello --type json -p \
	'[{"op":"replace","path":"/spec/template/spec/containers/0/resources/requests","value":{"cpu":"10m","memory":"16Mi"}}]' >/dev/null
phx_wait_settled hello
expect_eq False "$(phx_get hello '{.status.conditions[?(@.type=="Invalid")].status}')" "Invalid cleared"
expect_eq 1 "$(phx_get hello '{.status.failovers}')" "one failover"

# ---- 12 + 8: paused shows Paused; time paused is not failover reaction.
k patch phx hello --type merge -p '{"spec":{"paused":true}}' >/dev/null
wait_for 10 "phase Paused" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.status.phase}')\" = Paused ]"
primary=$(phx_get hello '{.status.primary}')
sim_pod_op default "$primary" fail-readiness
killed=$(now_ms)
# While paused nothing moves; the service stays paused for 3 s.
paused_3s() {
	[ "$(k get pod "$primary" -o 'jsonpath={.metadata.labels.phoenix\.fpai\.io/role}')" = primary ] ||
		fail "paused: the primary was relabelled"
	[ $(($(now_ms) - killed)) -ge 3000 ]
}
wait_for 10 "3 s paused with a failed primary" paused_3s
k patch phx hello --type merge -p '{"spec":{"paused":false}}' >/dev/null
wait_for 10 "failover after resume" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.status.failovers}')\" = 2 ]"
reaction=$(phx_get hello '{.status.lastFailoverReactionMs}')
echo "reaction after pause, kill, resume (3 s paused): ${reaction} ms"
[ -n "$reaction" ] && [ "$reaction" -lt 1500 ] || fail "paused time counted as reaction: ${reaction} ms"
phx_wait_settled hello

# ---- 7: two quick switchovers; status.primary is the pod that serves.
for i in 1 2; do
	k annotate phx hello --overwrite "phoenix.fpai.io/switchover-to=any" >/dev/null
	wait_for 10 "switchover $i done" bash -c "[ -z \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.metadata.annotations.phoenix\.fpai\.io/switchover-to}')\" ]"
done
phx_wait_settled hello
expect_eq "$(serving_primary)" "$(phx_get hello '{.status.primary}')" "status.primary after quick switchovers"
expect_eq 2 "$(phx_get hello '{.status.failovers}')" "switchovers are not failovers"

pass "lastReconcileTime; hand edits undone; Invalid phase with failover going on and spawning held; Paused phase, pause not counted as reaction; primary right after switchovers"
