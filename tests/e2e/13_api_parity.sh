#!/usr/bin/env bash
# The same requests answered the same way by kubesim and by the real kube-apiserver (this test
# runs in both lanes: PHX_E2E_BACKEND=kubesim|real): built-in validation of Pods, Services and
# labels with the upstream messages (the ones kubesim learnt from the real server, see
# docs/kubesim.md "Differences from the real API server"), `kubectl explain` of the
# PhoenixService CRD through OpenAPI v3, and readiness failures written as pod status patches.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"

sim_start
phx_install_crd
long=$(printf 'a%.0s' $(seq 70))

# rejected MESSAGE... < manifest: kubectl apply fails, naming each message.
rejected() {
	local out
	if out=$(k apply -f - 2>&1); then fail "accepted: $out"; fi
	for m in "$@"; do expect_contains "$out" "$m" "422 message"; done
}

rejected 'The Pod "p1" is invalid' "spec.containers[0].image: Required value" \
	"spec.containers[0].ports[0].containerPort: Invalid value: 99999: must be between 1 and 65535, inclusive" \
	"metadata.labels: Invalid value: \"$long\": must be no more than 63 characters" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: p1, labels: {a: "$long"}}
spec: {containers: [{name: c, ports: [{containerPort: 99999}]}]}
YAML
rejected 'spec.containers[0].name: Invalid value: "Web_1": a lowercase RFC 1123 label must consist of' <<YAML
apiVersion: v1
kind: Pod
metadata: {name: p2}
spec: {containers: [{name: Web_1, image: x}]}
YAML
rejected "metadata.name: Invalid value: \"$long\": must be no more than 63 characters" \
	"spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive" <<YAML
apiVersion: v1
kind: Service
metadata: {name: $long}
spec: {ports: [{port: 70000}]}
YAML
rejected 'metadata.name: Invalid value: "a.b": a DNS-1035 label must consist of lower case alphanumeric characters' <<YAML
apiVersion: v1
kind: Service
metadata: {name: a.b}
spec: {ports: [{port: 80}]}
YAML
rejected 'spec.template.spec.containers[0].image: Required value' <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: d1}
spec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: c}]}}}
YAML
out=$(k apply -v=6 -f - 2>&1 <<YAML || true
apiVersion: v1
kind: Service
metadata: {name: np}
spec: {}
YAML
)
echo "$out" | grep -Eq 'POST [^ ]*/services[^ ]* 422 ' || fail "no 422 for a Service without ports: $out"
expect_contains "$out" "spec.ports: Required value" "Service without ports"
pass "Pod/Service/Deployment validation: the apiserver's 422 messages"

# kubectl explain through /openapi/v3 and the CRD's schema. The real apiserver publishes a new
# CRD's OpenAPI a moment after it is served (its OpenAPI controller runs asynchronously).
wait_for 30 "OpenAPI v3 serves the CRD" k explain phoenixservice.spec
out=$(k explain phoenixservice.spec)
expect_contains "$out" "KIND:       PhoenixService" "explain kind"
expect_contains "$out" "FIELD: spec <Object>" "explain field"
expect_contains "$out" "standbys	<integer>" "explain lists spec.standbys"
expect_contains "$(k explain phx.spec.failover.mode)" "Promote" "explain enum"
expect_contains "$(k explain phoenixservice)" "metadata	<ObjectMeta>" "explain metadata"
# built-in kinds keep working with apply (no OpenAPI v3 warnings)
out=$(k apply -f - 2>&1 <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: parity}
data: {a: "1"}
YAML
)
out+=$(printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: parity}\ndata: {a: "2"}\n' | k apply -f - 2>&1)
case "$out" in *warning*) fail "apply of a ConfigMap warned: $out" ;; esac
expect_eq 2 "$(k get configmap parity -o jsonpath='{.data.a}')" "applied ConfigMap change"
pass "kubectl explain phoenixservice(.spec) works; apply of built-ins has no OpenAPI warnings"

# A readiness failure as a kubelet writes it: a pod status patch that sticks (kwok and kubesim's
# kubelet leave a running pod's conditions alone).
k apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: ready1, labels: {app: ready1}}
spec: {containers: [{name: c, image: x}]}
YAML
ready_is() { [ "$(k get pod ready1 -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = "$1" ]; }
wait_for 20 "pod ready1 Ready" ready_is True
e2e_patch_unready default ready1
wait_for 5 "pod ready1 not Ready" ready_is False
expect_eq false "$(k get pod ready1 -o 'jsonpath={.status.containerStatuses[0].ready}')" "container not ready"
ready_is False || fail "the status patch was overwritten"
pass "readiness failure through a pod status patch"
