#!/usr/bin/env bash
# The Helm chart with the real helm on kubesim: lint (and the schema rejecting bad values),
# install (CRD, RBAC, Deployment hardening, metrics Service, PDB; the operator's 3 pods become
# Ready), upgrade (a changed value reaches the pods) and uninstall (everything gone).
# In kubesim the pods are simulated: the kubelet marks them Running/Ready, no operator process
# runs from the image. The operator itself is exercised by the other e2e tests.
set -euo pipefail
unset KUBECONFIG
source "$(dirname "$0")/lib.sh"
work="$E2E_TMP"
# eq DESCRIPTION GOT WANT
eq() { expect_eq "$3" "$2" "$1"; }
has() { expect_contains "$2" "$3" "$1"; }

chart="$PHX_ROOT/charts/phoenix-operator"
command -v helm >/dev/null || fail "helm not found (hack/install-deps.sh installs it in .tools/bin)"
ns=phoenix-system
rel=phoenix-operator

# --- lint and schema, no cluster needed ------------------------------------------------------
helm lint --strict "$chart" >"$work/lint" 2>&1 || { cat "$work/lint"; fail "helm lint --strict"; }
pass "helm lint --strict is clean"

bad() { # VALUES... : helm must refuse to render them
	if helm template x "$chart" "$@" >"$work/bad" 2>&1; then fail "helm accepted $*"; fi
}
bad --set replicaCount=0
bad --set logLevel=loud
bad --set image.pullPolicy=Sometimes
bad --set nosuchkey=1
bad --set leaderElection.enabled=false
grep -q "needs leaderElection.enabled=true" "$work/bad" || fail "no clear message for 3 replicas without leader election"
helm template x "$chart" --set leaderElection.enabled=false --set replicaCount=1 >/dev/null ||
	fail "one replica without leader election should render"
pass "values.schema.json rejects bad values; 3 replicas without leader election are refused with a message"

helm template x "$chart" -n ops --set watchNamespace=apps >"$work/scoped.yaml"
grep -q '^kind: ClusterRole$' "$work/scoped.yaml" && fail "watchNamespace set but a ClusterRole rendered"
grep -A3 '^kind: Role$' "$work/scoped.yaml" | grep -q 'namespace: apps' || fail "no Role in the watched namespace"
grep -q -- '- --namespace=apps' "$work/scoped.yaml" || fail "--namespace=apps not passed to the operator"
pass "watchNamespace: a Role in that namespace instead of a ClusterRole, and --namespace passed"

helm template x "$chart" --set metrics.serviceMonitor.enabled=true | grep -q '^kind: ServiceMonitor$' ||
	fail "serviceMonitor.enabled renders no ServiceMonitor"
helm template x "$chart" | grep -q ServiceMonitor && fail "ServiceMonitor rendered by default"
pass "ServiceMonitor only when asked for"

# The flags the chart passes are flags the operator binary knows (it then fails only on the
# missing kubeconfig, never with "unknown flag").
if [ -x "$PHX_BIN/phoenix-controller" ]; then
	helm template x "$chart" --set watchNamespace=apps --set logLevel=trace --show-only templates/deployment.yaml |
		sed -n '/^ *args:/,/^ *env:/p' | sed -n 's/^ *- //p' >"$work/args"
	[ "$(wc -l <"$work/args")" -ge 8 ] || fail "could not read the chart's operator args"
	mapfile -t chart_args <"$work/args"
	set +e
	timeout 10 "$PHX_BIN/phoenix-controller" "${chart_args[@]}" --kubeconfig "$work/none" >"$work/flags" 2>&1
	set -e
	grep -qi "unknown flag\|usage" "$work/flags" && { cat "$work/flags"; fail "phoenix-controller rejects the chart's args"; }
	grep -q "$work/none" "$work/flags" || { cat "$work/flags"; fail "phoenix-controller did not get as far as loading the kubeconfig with the chart's args"; }
	pass "phoenix-controller accepts every flag the chart passes (${chart_args[*]})"
else
	fail "phoenix-controller not built: cannot check the chart's flags"
fi

# --- install on kubesim ------------------------------------------------------------------------
sim_start --nodes 3 --pod-ready-delay-ms 200
wait_for 15 "kubesim answers kubectl" k version

h install "$rel" "$chart" -n "$ns" --create-namespace >"$work/install" 2>&1 ||
	{ cat "$work/install"; fail "helm install"; }
grep -q "kubectl -n $ns rollout status deployment/$rel" "$work/install" || fail "NOTES do not say how to wait for the operator"
grep -q "kubectl apply -f manifests/samples/minimal.yaml" "$work/install" || fail "NOTES do not say how to protect a service"
pass "helm install; NOTES tell the user what to do next"

k wait --for condition=established --timeout=20s crd/phoenixservices.phoenix.fpai.io >/dev/null ||
	fail "the chart's CRD was not established"
k -n "$ns" rollout status "deployment/$rel" --timeout=60s >/dev/null || fail "rollout status"
ready() {
	[ "$(k -n "$ns" get pods -l app.kubernetes.io/name=phoenix-operator,app.kubernetes.io/instance=$rel \
		-o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True)" = "$1" ]
}
wait_for 60 "the operator's 3 pods Ready" ready 3
pass "the operator's Deployment rolled out: 3 pods Ready"

d() { k -n "$ns" get deployment "$rel" -o jsonpath="$1"; }
eq "replicas" "$(d '{.spec.replicas}')" 3
c='{.spec.template.spec.containers[0]'
args=$(d "$c.args}")
for a in --leader-elect --leader-election-id=phoenix-operator-leader --leader-election-namespace=$ns \
	--metrics-bind-address=:8080 --health-probe-bind-address=:8081 -v=0; do
	has "operator args" "$args" "$a"
done
eq "liveness" "$(d "$c.livenessProbe.httpGet.path}")" /healthz
eq "readiness" "$(d "$c.readinessProbe.httpGet.path}")" /readyz
eq "runAsNonRoot" "$(d '{.spec.template.spec.securityContext.runAsNonRoot}')" true
eq "seccomp" "$(d '{.spec.template.spec.securityContext.seccompProfile.type}')" RuntimeDefault
eq "readOnlyRootFilesystem" "$(d "$c.securityContext.readOnlyRootFilesystem}")" true
eq "allowPrivilegeEscalation" "$(d "$c.securityContext.allowPrivilegeEscalation}")" false
eq "capabilities" "$(d "$c.securityContext.capabilities.drop[*]}")" ALL
[ -n "$(d "$c.resources.requests.memory}")" ] && [ -n "$(d "$c.resources.limits.memory}")" ] || fail "no resource requests/limits"
eq "spread" "$(d '{.spec.template.spec.topologySpreadConstraints[0].topologyKey}')" kubernetes.io/hostname
eq "anti-affinity" "$(d '{.spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey}')" kubernetes.io/hostname
for l in app.kubernetes.io/name app.kubernetes.io/instance app.kubernetes.io/version app.kubernetes.io/managed-by helm.sh/chart; do
	[ -n "$(k -n "$ns" get deployment "$rel" -o jsonpath="{.metadata.labels.${l//./\\.}}")" ] || fail "label $l missing"
done
pass "Deployment: leader election, probes, non-root, read-only root, no escalation, no capabilities, resources, spread, standard labels"

eq "metrics port" "$(k -n "$ns" get svc "$rel-metrics" -o jsonpath='{.spec.ports[0].port}')" 8080
eq "pdb" "$(k -n "$ns" get pdb "$rel" -o jsonpath='{.spec.maxUnavailable}')" 1
k get clusterrole "$rel" >/dev/null && k get clusterrolebinding "$rel" >/dev/null || fail "cluster RBAC missing"
k -n "$ns" get role "$rel-leader-election" >/dev/null && k -n "$ns" get rolebinding "$rel-leader-election" >/dev/null ||
	fail "leader-election RBAC missing"
eq "service account" "$(d '{.spec.template.spec.serviceAccountName}')" "$rel"
k -n "$ns" get serviceaccount "$rel" >/dev/null || fail "ServiceAccount missing"
pass "metrics Service, PDB, ServiceAccount, ClusterRole(+Binding), leader-election Role(+Binding) installed"

# --- upgrade -----------------------------------------------------------------------------------
h upgrade "$rel" "$chart" -n "$ns" --reuse-values --set logLevel=debug --set workers=8 >/dev/null ||
	fail "helm upgrade"
has "upgraded args" "$(d "$c.args}")" "-v=1"
has "upgraded args" "$(d "$c.args}")" "--workers=8"
k -n "$ns" rollout status "deployment/$rel" --timeout=60s >/dev/null || fail "rollout after upgrade"
new_pods() {
	local n
	n=$(k -n "$ns" get pods -l app.kubernetes.io/instance=$rel -o json |
		grep -c '"--workers=8"' || true)
	[ "$n" -ge 3 ] && ready 3 && [ "$(k -n "$ns" get pods -l app.kubernetes.io/instance=$rel \
		--no-headers 2>/dev/null | wc -l)" -eq 3 ] || { k -n "$ns" get pods -o wide; return 1; }
}
wait_for 60 "upgraded pods replace the old ones" new_pods
eq "revision" "$(h status "$rel" -n "$ns" -o json | grep -o '"version":[0-9]*' | head -1)" '"version":2'
pass "helm upgrade: the changed values reached the pods, 3 Ready, release revision 2"

# --- uninstall ---------------------------------------------------------------------------------
h uninstall "$rel" -n "$ns" >/dev/null || fail "helm uninstall"
gone() { ! k "$@" >/dev/null 2>&1; }
for r in "deployment/$rel" "service/$rel-metrics" "pdb/$rel" "serviceaccount/$rel" \
	"role/$rel-leader-election" "rolebinding/$rel-leader-election"; do
	wait_for 20 "$r gone after uninstall" gone -n "$ns" get "$r"
done
for r in "clusterrole/$rel" "clusterrolebinding/$rel"; do
	wait_for 20 "$r gone after uninstall" gone get "$r"
done
nopods() { [ -z "$(k -n "$ns" get pods -l app.kubernetes.io/instance=$rel -o name)" ]; }
wait_for 30 "no operator pods left after uninstall" nopods
k get crd phoenixservices.phoenix.fpai.io >/dev/null || fail "helm uninstall removed the CRD (helm keeps crds/)"
pass "helm uninstall: every templated object and the pods are gone; the CRD stays (Helm's crds/ rule)"

pass "30_helm_chart: all checks passed"
