#!/usr/bin/env bash
# Bad input: what the schema rejects gets a 422 from `kubectl apply` naming the field; what it
# cannot catch gives condition Invalid with a message and a Warning Event, and nothing is created
# or deleted; fixing the spec recovers.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"

sim_start
phx_install_crd
phx_start_controller ctl

apply_bad() {
	local spec=$1 want=$2 out
	if out=$(k apply -f - 2>&1 <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: PhoenixService
metadata: {name: bad}
spec:
$spec
YAML
	); then
		fail "accepted a bad spec: $spec"
	fi
	expect_contains "$out" "$want" "rejection names the field"
	echo "rejected: $(echo "$out" | tail -n1 | cut -c1-160)"
}

tmpl='  template: {spec: {containers: [{name: a, image: x, ports: [{containerPort: 80}]}]}}'
apply_bad "  standbys: 9
$tmpl" "spec.standbys"
apply_bad "  standbys: -1
$tmpl" "spec.standbys"
apply_bad "  failover: {mode: Yolo}
$tmpl" "spec.failover.mode"
apply_bad "  template: {spec: {containers: []}}" "spec.template.spec.containers"
apply_bad "  standbyCapacity: 50
$tmpl" "spec.standbyCapacity"
apply_bad "  service: {ports: [{port: 70000}]}
$tmpl" "spec.service.ports[0].port"
apply_bad "  heartbeat: {periodSeconds: 0}
$tmpl" "spec.heartbeat.periodSeconds"
apply_bad "  standbys: 1" "spec.template"
k get phx bad >/dev/null 2>&1 && fail "a rejected object exists"
out=$(k apply -v=6 -f - 2>&1 <<'YAML' || true
apiVersion: phoenix.fpai.io/v1alpha1
kind: PhoenixService
metadata: {name: bad}
spec: {standbys: 9, template: {spec: {containers: [{name: a}]}}}
YAML
)
echo "$out" | grep -Eq 'POST [^ ]*/phoenixservices[^ ]* 422 ' || fail "the API did not answer 422: $out"

# Accepted by the schema, rejected by the controller: an unparsable quantity.
k apply -f - >/dev/null <<'YAML'
apiVersion: phoenix.fpai.io/v1alpha1
kind: PhoenixService
metadata: {name: quirky}
spec:
  template:
    spec:
      containers:
        - name: a
          image: x
          ports: [{containerPort: 80}]
          resources: {requests: {cpu: lots}}
YAML
wait_for 10 "Invalid condition" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get phx quirky -o jsonpath='{.status.conditions[?(@.type==\"Invalid\")].status}')\" = True ]"
msg=$(phx_get quirky '{.status.conditions[?(@.type=="Invalid")].message}')
expect_contains "$msg" "resources.requests.cpu" "Invalid message names the field"
phx_wait_events quirky InvalidSpec 1
expect_eq Warning "$(k get events -o json | python3 -c 'import json,sys; print([e["type"] for e in json.load(sys.stdin)["items"] if e["reason"]=="InvalidSpec"][0])')" "InvalidSpec is a Warning"
expect_eq 0 "$(k get pods -l phoenix.fpai.io/service=quirky --no-headers 2>/dev/null | wc -l | tr -d ' ')" "nothing created for an invalid spec"

# A running service whose spec turns invalid keeps every pod; fixing it continues.
k apply -f "$PHX_ROOT/manifests/samples/minimal.yaml" >/dev/null
phx_wait_settled hello
pods=$(k get pods -l phoenix.fpai.io/service=hello -o 'jsonpath={.items[*].metadata.name}')
k patch phx hello --type merge -p '{"spec":{"service":{"ports":[{"port":80,"targetPort":"nope"}]}}}' >/dev/null
wait_for 10 "Invalid on hello" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.status.conditions[?(@.type==\"Invalid\")].status}')\" = True ]"
primary=$(phx_get hello '{.status.primary}')
e2e_fail_readiness default "$primary"
wait_for 5 "status sees the failure" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.status.readyInstances}')\" = 2 ]"
expect_eq "$pods" "$(k get pods -l phoenix.fpai.io/service=hello -o 'jsonpath={.items[*].metadata.name}')" "invalid spec: nothing deleted"
k patch phx hello --type merge -p '{"spec":{"service":{"ports":[{"port":80,"targetPort":8080}]}}}' >/dev/null
phx_wait_settled hello
expect_eq False "$(phx_get hello '{.status.conditions[?(@.type=="Invalid")].status}')" "Invalid cleared"
expect_eq 80 "$(k get svc hello -o 'jsonpath={.spec.ports[0].port}')" "Service follows the fixed ports"
pass "schema rejects bad specs with 422 naming the field; controller-only checks give Invalid + Warning, nothing deleted"
