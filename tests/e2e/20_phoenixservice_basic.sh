#!/usr/bin/env bash
# PhoenixService basics: a sample becomes 3 pods (1 serving primary, 2 standbys at 2x resources),
# a Service selecting the serving pod, a PDB; `kubectl get phx` shows 3/3 500% Healthy 0; the
# printer columns, the dashboard's Phoenix board, readiness after sync, and a graceful SIGTERM.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"

sim_start
phx_install_crd
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
probe=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$PHX_BIN/phoenix-controller" --kubeconfig "$KUBECONFIG" --metrics-bind-address "127.0.0.1:$port" \
	--health-probe-bind-address "127.0.0.1:$probe" --dashboard-bind-address "127.0.0.1:$dport" --workers 2 >"$E2E_TMP/ctl.log" 2>&1 &
ctl=$!
on_exit "kill -KILL $ctl"
wait_for 10 "controller ready (caches synced)" curl -sf "http://127.0.0.1:$probe/readyz"
curl -sf "http://127.0.0.1:$probe/healthz" >/dev/null || fail "healthz"

k apply -f "$PHX_ROOT/manifests/samples/minimal.yaml" >/dev/null
phx_wait_settled hello

# Pods: 1 primary serving, 2 standbys not serving, all owned, labelled and at the same revision.
expect_eq 1 "$(k get pods -l phoenix.fpai.io/service=hello,phoenix.fpai.io/role=primary,phoenix.fpai.io/serving=true --no-headers | wc -l | tr -d ' ')" "one serving primary"
expect_eq 2 "$(k get pods -l phoenix.fpai.io/service=hello,phoenix.fpai.io/role=standby,phoenix.fpai.io/serving=false --no-headers | wc -l | tr -d ' ')" "two standbys"
primary=$(phx_get hello '{.status.primary}')
standby=$(k get pods -l phoenix.fpai.io/service=hello,phoenix.fpai.io/role=standby -o 'jsonpath={.items[0].metadata.name}')
expect_eq 10m "$(k get pod "$primary" -o 'jsonpath={.spec.containers[0].resources.requests.cpu}')" "primary cpu = template"
expect_eq 20m "$(k get pod "$standby" -o 'jsonpath={.spec.containers[0].resources.requests.cpu}')" "standby cpu = 2x"
expect_eq 32Mi "$(k get pod "$standby" -o 'jsonpath={.spec.containers[0].resources.requests.memory}')" "standby memory = 2x"
expect_eq /health "$(k get pod "$standby" -o 'jsonpath={.spec.containers[0].readinessProbe.httpGet.path}')" "readinessProbe from heartbeat"
expect_eq PhoenixService "$(k get pod "$primary" -o 'jsonpath={.metadata.ownerReferences[0].kind}')" "owner reference"
expect_eq true "$(k get pod "$primary" -o 'jsonpath={.metadata.ownerReferences[0].controller}')" "controller owner"
expect_eq phoenix-operator "$(k get pod "$primary" -o 'jsonpath={.metadata.labels.app\.kubernetes\.io/managed-by}')" "managed-by label"
expect_eq kubernetes.io/hostname "$(k get pod "$primary" -o 'jsonpath={.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey}')" "anti-affinity"

# Service selects serving pods; its endpoints are exactly the primary. PDB allows one down.
expect_eq true "$(k get svc hello -o 'jsonpath={.spec.selector.phoenix\.fpai\.io/serving}')" "service selector"
wait_for 5 "endpoints = primary" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get endpoints hello -o 'jsonpath={.subsets[*].addresses[*].targetRef.name}')\" = $primary ]"
expect_eq 1 "$(k get pdb hello -o 'jsonpath={.spec.maxUnavailable}')" "PDB maxUnavailable"
# Membership is the serving label alone (not readiness); the operator puts the flag back if
# someone removes it.
expect_eq true "$(k get svc hello -o 'jsonpath={.spec.publishNotReadyAddresses}')" "publishNotReadyAddresses"
k patch svc hello --type=merge -p '{"spec":{"publishNotReadyAddresses":false}}' >/dev/null
wait_for 10 "operator restores publishNotReadyAddresses" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get svc hello -o 'jsonpath={.spec.publishNotReadyAddresses}')\" = true ]"

# kubectl get phx: the printer columns.
row=$(k get phx hello --no-headers)
echo "$row"
read -r name prim ready cap phase fo _ <<<"$row"
expect_eq "$primary" "$prim" "PRIMARY column"
expect_eq 3/3 "$ready" "READY column"
expect_eq 500% "$cap" "CAPACITY column"
expect_eq Healthy "$phase" "PHASE column"
expect_eq 0 "$fo" "FAILOVERS column"
expect_contains "$(k get phx -o wide)" "Surge" "wide MODE column"
expect_contains "$(k get phoenix 2>&1)" "hello" "category phoenix"
expect_eq True "$(phx_get hello '{.status.conditions[?(@.type=="Available")].status}')" "Available condition"
expect_eq False "$(phx_get hello '{.status.conditions[?(@.type=="Invalid")].status}')" "Invalid condition"
expect_eq "$(phx_get hello '{.metadata.generation}')" "$(phx_get hello '{.status.observedGeneration}')" "observedGeneration"

# Dashboard and metrics.
E2E_ADMIN_TOKEN=$(e2e_admin_token)
dash=$(curl -sf -H "Authorization: Bearer $E2E_ADMIN_TOKEN" "http://127.0.0.1:$dport/api/v1/boards/phoenix")
expect_eq 1 "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["services"])' "$dash")" "dashboard services"
expect_eq 500 "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["items"][0]["capacityPercent"])' "$dash")" "dashboard capacity"
expect_contains "$(curl -sf "http://127.0.0.1:$port/metrics")" 'phoenix_instances{namespace="default",service="hello",role="standby",ready="true"} 2' "instances gauge"

# Idempotent: a settled service causes no writes (resourceVersion of every pod stays put).
before=$(k get pods -l phoenix.fpai.io/service=hello -o 'jsonpath={.items[*].metadata.resourceVersion}')
k annotate phx hello touch=1 >/dev/null
wait_for 5 "annotation seen" bash -c "kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.metadata.annotations.touch}' | grep -q 1"
after=$(k get pods -l phoenix.fpai.io/service=hello -o 'jsonpath={.items[*].metadata.resourceVersion}')
expect_eq "$before" "$after" "no pod writes on a settled service"

# Graceful shutdown.
kill -TERM "$ctl"
wait_for 5 "controller exits on SIGTERM" bash -c "! kill -0 $ctl 2>/dev/null"
wait "$ctl" || fail "controller exited non-zero on SIGTERM"
grep -q '"signal received' "$E2E_TMP/ctl.log" || fail "no shutdown log"

pass "sample -> 3 pods (1 serving, 2 standbys at 2x), Service, PDB; 3/3 500% Healthy 0; dashboard; clean SIGTERM"
