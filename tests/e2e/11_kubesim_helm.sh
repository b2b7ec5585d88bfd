#!/usr/bin/env bash
# kubesim with the real helm: install a chart with a CRD in crds/, a Deployment, RBAC, a
# ServiceAccount, a ConfigMap, a Service and a custom resource; upgrade it (an env var changes:
# strategic merge keeps everything else in the container); uninstall it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
chart="$PHX_ROOT/tests/e2e/testdata/chart"

require_kubesim "tests kubesim itself (helm against the simulator)"
sim_start
command -v helm >/dev/null || fail "helm not found (hack/install-deps.sh installs it)"

h install r1 "$chart" >/dev/null
expect_eq "deployed" "$(h status r1 -o json | sed -n 's/.*"status":"\([a-z-]*\)".*/\1/p' | head -n1)" "release deployed"
k get crd widgets.e2e.phoenix.test >/dev/null
for obj in deployment/r1-app service/r1-svc configmap/r1-config serviceaccount/r1-sa \
	role/r1-role rolebinding/r1-rb clusterrole/r1-clusterrole clusterrolebinding/r1-crb \
	widget/r1-widget; do
	k get "$obj" >/dev/null || fail "helm install did not create $obj"
done
expect_eq "Helm" "$(k get deploy r1-app -o jsonpath='{.metadata.labels.app\.kubernetes\.io/managed-by}')" "managed-by label"
ip=$(k get svc r1-svc -o jsonpath='{.spec.clusterIP}')
case "$ip" in 10.96.*) ;; *) fail "service clusterIP not allocated: '$ip'" ;; esac
secrets=$(k get secrets -l owner=helm,name=r1 -o jsonpath='{.items[*].metadata.name}')
expect_eq "sh.helm.release.v1.r1.v1" "$secrets" "release Secret found by label selector"
pass "helm install (CRD, Deployment, RBAC, SA, ConfigMap, Service, CR, release Secret)"

gen=$(k get deploy r1-app -o jsonpath='{.metadata.generation}')
h upgrade r1 "$chart" --set logLevel=debug >/dev/null
c='{.spec.template.spec.containers[?(@.name=="app")]'
expect_eq "debug" "$(k get deploy r1-app -o jsonpath="$c.env[?(@.name==\"LOG_LEVEL\")].value}")" "env var changed"
expect_eq "production" "$(k get deploy r1-app -o jsonpath="$c.env[?(@.name==\"MODE\")].value}")" "other env var kept"
expect_eq "registry.example/app:1.0" "$(k get deploy r1-app -o jsonpath="$c.image}")" "image kept"
expect_eq "128Mi" "$(k get deploy r1-app -o jsonpath="$c.resources.limits.memory}")" "resources kept"
expect_eq "8080" "$(k get deploy r1-app -o jsonpath="$c.ports[0].containerPort}")" "ports kept"
expect_eq '["--serve","--port=8080"]' "$(k get deploy r1-app -o jsonpath="$c.args}")" "args kept"
expect_eq "app sidecar" "$(k get deploy r1-app -o jsonpath='{.spec.template.spec.containers[*].name}')" "container order kept"
expect_eq "debug" "$(k get cm r1-config -o jsonpath='{.data.logLevel}')" "configmap updated"
expect_eq "$((gen + 1))" "$(k get deploy r1-app -o jsonpath='{.metadata.generation}')" "generation bumped once"
expect_eq "2" "$(h history r1 -o json | grep -o '"revision":[0-9]*' | wc -l | tr -d ' ')" "two revisions"
pass "helm upgrade (strategic merge of a changed env var, everything else intact)"

h uninstall r1 >/dev/null
for obj in deployment/r1-app service/r1-svc configmap/r1-config serviceaccount/r1-sa \
	role/r1-role rolebinding/r1-rb clusterrole/r1-clusterrole clusterrolebinding/r1-crb \
	widget/r1-widget; do
	expect_fail "helm uninstall removes $obj" k get "$obj"
done
expect_eq "" "$(k get secrets -l owner=helm -o jsonpath='{.items[*].metadata.name}')" "release Secrets removed"
k get crd widgets.e2e.phoenix.test >/dev/null || fail "CRDs in crds/ stay after uninstall (helm policy)"
pass "helm uninstall"

sim_stop
pass "kubesim exits cleanly"
