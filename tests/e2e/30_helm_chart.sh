#!/usr/bin/env bash
# The Helm chart with the real helm on kubesim: lint (and the schema rejecting bad values),
# install (CRD, RBAC, Deployment hardening, metrics Service, PDB; the operator's 3 pods become
# Ready), upgrade (a changed value reaches the pods) and uninstall (everything gone).
# In kubesim the pods are simulated: the kubelet marks them Running/Ready, no operator process
# runs from the image. The operator itself is exercised by the other e2e tests.
set -euo pipefail
: "${PHX_BIN:?PHX_BIN must point at the bin directory of the build}" "${PHX_ROOT:?PHX_ROOT must point at the repository}"
export PATH="$PHX_ROOT/.tools/bin:$PHX_BIN:$PATH"
unset KUBECONFIG

work=$(mktemp -d)
# A discovery cache of our own: another kubesim may have had this port before, with other CRDs.
export KUBECACHEDIR="$work/kube-cache"
# helm keeps its config, cache and release-independent data here too (no $HOME needed).
export HELM_CONFIG_HOME="$work/helm/config" HELM_CACHE_HOME="$work/helm/cache" HELM_DATA_HOME="$work/helm/data"
pids=()
status=1
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[ $status = 0 ] || { echo "--- kubesim log (tail)"; tail -20 "$work/kubesim.log" 2>/dev/null || true; }
	rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok - $*"; }
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}
# eq DESCRIPTION GOT WANT
eq() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }
has() { case "$2" in *"$3"*) ;; *) fail "$1: '$3' not in '$2'" ;; esac; }

chart="$PHX_ROOT/charts/phoenix-operator"
helm=$(command -v helm) || fail "helm not found (hack/install-deps.sh installs it in .tools/bin)"
ns=phoenix-system
rel=phoenix-operator

# --- lint and schema, no cluster needed ------------------------------------------------------
"$helm" lint --strict "$chart" >"$work/lint" 2>&1 || { cat "$work/lint"; fail "helm lint --strict"; }
ok "helm lint --strict is clean"

bad() { # VALUES... : helm must refuse to render them
	if "$helm" template x "$chart" "$@" >"$work/bad" 2>&1; then fail "helm accepted $*"; fi
}
bad --set replicaCount=0
bad --set logLevel=loud
bad --set image.pullPolicy=Sometimes
bad --set nosuchkey=1
bad --set leaderElection.enabled=false
grep -q "needs leaderElection.enabled=true" "$work/bad" || fail "no clear message for 3 replicas without leader election"
"$helm" template x "$chart" --set leaderElection.enabled=false --set replicaCount=1 >/dev/null ||
	fail "one replica without leader election should render"
ok "values.schema.json rejects bad values; 3 replicas without leader election are refused with a message"

"$helm" template x "$chart" -n ops --set watchNamespace=apps >"$work/scoped.yaml"
grep -q '^kind: ClusterRole$' "$work/scoped.yaml" && fail "watchNamespace set but a ClusterRole rendered"
grep -A3 '^kind: Role$' "$work/scoped.yaml" | grep -q 'namespace: apps' || fail "no Role in the watched namespace"
grep -q -- '- --namespace=apps' "$work/scoped.yaml" || fail "--namespace=apps not passed to the operator"
ok "watchNamespace: a Role in that namespace instead of a ClusterRole, and --namespace passed"

"$helm" template x "$chart" --set metrics.serviceMonitor.enabled=true | grep -q '^kind: ServiceMonitor$' ||
	fail "serviceMonitor.enabled renders no ServiceMonitor"
"$helm" template x "$chart" | grep -q ServiceMonitor && fail "ServiceMonitor rendered by default"
ok "ServiceMonitor only when asked for"

# The flags the chart passes are flags the operator binary knows (it then fails only on the
# missing kubeconfig, never with "unknown flag").
if [ -x "$PHX_BIN/phoenix-controller" ]; then
	"$helm" template x "$chart" --set watchNamespace=apps --set logLevel=trace --show-only templates/deployment.yaml |
		sed -n '/^ *args:/,/^ *env:/p' | sed -n 's/^ *- //p' >"$work/args"
	[ "$(wc -l <"$work/args")" -ge 8 ] || fail "could not read the chart's operator args"
	mapfile -t chart_args <"$work/args"
	set +e
	timeout 10 "$PHX_BIN/phoenix-controller" "${chart_args[@]}" --kubeconfig "$work/none" >"$work/flags" 2>&1
	set -e
	grep -qi "unknown flag\|usage" "$work/flags" && { cat "$work/flags"; fail "phoenix-controller rejects the chart's args"; }
	grep -q "$work/none" "$work/flags" || { cat "$work/flags"; fail "phoenix-controller did not get as far as loading the kubeconfig with the chart's args"; }
	ok "phoenix-controller accepts every flag the chart passes (${chart_args[*]})"
else
	fail "phoenix-controller not built: cannot check the chart's flags"
fi

# --- install on kubesim ------------------------------------------------------------------------
"$PHX_BIN/kubesim" --listen 127.0.0.1:0 --kubeconfig-out "$work/kubeconfig" --nodes 3 \
	--pod-ready-delay-ms 200 >"$work/kubesim.log" 2>&1 &
pids+=($!)
wait_until 15 test -s "$work/kubeconfig" || fail "kubesim wrote no kubeconfig"
export KUBECONFIG="$work/kubeconfig"
wait_until 15 kubectl version || fail "kubesim does not answer"

"$helm" install "$rel" "$chart" -n "$ns" --create-namespace >"$work/install" 2>&1 ||
	{ cat "$work/install"; fail "helm install"; }
grep -q "kubectl -n $ns rollout status deployment/$rel" "$work/install" || fail "NOTES do not say how to wait for the operator"
grep -q "kubectl apply -f manifests/samples/minimal.yaml" "$work/install" || fail "NOTES do not say how to protect a service"
ok "helm install; NOTES tell the user what to do next"

kubectl wait --for condition=established --timeout=20s crd/phoenixservices.phoenix.fpai.io >/dev/null ||
	fail "the chart's CRD was not established"
kubectl -n "$ns" rollout status "deployment/$rel" --timeout=60s >/dev/null || fail "rollout status"
ready() {
	[ "$(kubectl -n "$ns" get pods -l app.kubernetes.io/name=phoenix-operator,app.kubernetes.io/instance=$rel \
		-o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True)" = "$1" ]
}
wait_until 60 ready 3 || fail "the operator's 3 pods did not become Ready"
ok "the operator's Deployment rolled out: 3 pods Ready"

d() { kubectl -n "$ns" get deployment "$rel" -o jsonpath="$1"; }
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
	[ -n "$(kubectl -n "$ns" get deployment "$rel" -o jsonpath="{.metadata.labels.${l//./\\.}}")" ] || fail "label $l missing"
done
ok "Deployment: leader election, probes, non-root, read-only root, no escalation, no capabilities, resources, spread, standard labels"

eq "metrics port" "$(kubectl -n "$ns" get svc "$rel-metrics" -o jsonpath='{.spec.ports[0].port}')" 8080
eq "pdb" "$(kubectl -n "$ns" get pdb "$rel" -o jsonpath='{.spec.maxUnavailable}')" 1
kubectl get clusterrole "$rel" >/dev/null && kubectl get clusterrolebinding "$rel" >/dev/null || fail "cluster RBAC missing"
kubectl -n "$ns" get role "$rel-leader-election" >/dev/null && kubectl -n "$ns" get rolebinding "$rel-leader-election" >/dev/null ||
	fail "leader-election RBAC missing"
eq "service account" "$(d '{.spec.template.spec.serviceAccountName}')" "$rel"
kubectl -n "$ns" get serviceaccount "$rel" >/dev/null || fail "ServiceAccount missing"
ok "metrics Service, PDB, ServiceAccount, ClusterRole(+Binding), leader-election Role(+Binding) installed"

# --- upgrade -----------------------------------------------------------------------------------
"$helm" upgrade "$rel" "$chart" -n "$ns" --reuse-values --set logLevel=debug --set workers=8 >/dev/null ||
	fail "helm upgrade"
has "upgraded args" "$(d "$c.args}")" "-v=1"
has "upgraded args" "$(d "$c.args}")" "--workers=8"
kubectl -n "$ns" rollout status "deployment/$rel" --timeout=60s >/dev/null || fail "rollout after upgrade"
new_pods() {
	local n
	n=$(kubectl -n "$ns" get pods -l app.kubernetes.io/instance=$rel -o json |
		grep -c '"--workers=8"' || true)
	[ "$n" -ge 3 ] && ready 3 && [ "$(kubectl -n "$ns" get pods -l app.kubernetes.io/instance=$rel \
		--no-headers 2>/dev/null | wc -l)" -eq 3 ]
}
wait_until 60 new_pods || { kubectl -n "$ns" get pods -o wide; fail "upgraded pods did not replace the old ones"; }
eq "revision" "$("$helm" status "$rel" -n "$ns" -o json | grep -o '"version":[0-9]*' | head -1)" '"version":2'
ok "helm upgrade: the changed values reached the pods, 3 Ready, release revision 2"

# --- uninstall ---------------------------------------------------------------------------------
"$helm" uninstall "$rel" -n "$ns" >/dev/null || fail "helm uninstall"
gone() { ! kubectl "$@" >/dev/null 2>&1; }
for r in "deployment/$rel" "service/$rel-metrics" "pdb/$rel" "serviceaccount/$rel" \
	"role/$rel-leader-election" "rolebinding/$rel-leader-election"; do
	wait_until 20 gone -n "$ns" get "$r" || fail "$r still there after uninstall"
done
for r in "clusterrole/$rel" "clusterrolebinding/$rel"; do
	wait_until 20 gone get "$r" || fail "$r still there after uninstall"
done
nopods() { [ -z "$(kubectl -n "$ns" get pods -l app.kubernetes.io/instance=$rel -o name)" ]; }
wait_until 30 nopods || fail "operator pods left after uninstall"
kubectl get crd phoenixservices.phoenix.fpai.io >/dev/null || fail "helm uninstall removed the CRD (helm keeps crds/)"
ok "helm uninstall: every templated object and the pods are gone; the CRD stays (Helm's crds/ rule)"

status=0
echo "30_helm_chart: all checks passed"
