#!/usr/bin/env bash
# helm install runs the operator from its real image on the playground (issue 16): the operator
# image (hack/images/operator-image.sh, cached base) is pushed to the loopback registry, kubesim
# --run-pods runs the chart's 3 replicas from it under runc, with nothing but what a cluster
# gives a pod: in-cluster config (KUBERNETES_SERVICE_HOST/PORT from the kubelet, the projected
# kube-api-access volume from the ServiceAccount admission: a token of the chart's
# ServiceAccount, kube-root-ca.crt's ca.crt, the namespace). Checks: 3 pods Running and Ready
# from the image, one holds the Lease, every API call is the chart's ServiceAccount (RBAC), a
# PhoenixService applied with kubectl settles 1+2 and fails over when its primary is deleted,
# the leader's deletion hands the Lease to a standby, helm uninstall leaves no pod and no
# container. Skips (exit 0, "SKIP:") without the image tools (hack/install-deps.sh --images).
set -euo pipefail
unset KUBECONFIG
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$PHX_ROOT/hack/images/lib.sh"
require_kubesim "kubesim --run-pods"

img_require_or_skip
command -v helm >/dev/null || fail "helm not found (hack/install-deps.sh installs it in .tools/bin)"
for b in phoenix-controller phoenix-contract-service; do
	[ -x "$PHX_BIN/$b" ] || fail "not built: $PHX_BIN/$b"
done

t0=$SECONDS
img_registry_start "$E2E_TMP/registry" || fail "docker-registry did not start"
on_exit img_registry_stop
ref=$("$PHX_ROOT/hack/images/operator-image.sh" --bin "$PHX_BIN" --push "$IMG_REGISTRY") ||
	fail "operator-image.sh failed"
tag=0.1.0
expect_contains "$ref" "$IMG_REGISTRY/phoenix-operator:$tag@sha256:" "the pushed image's reference"
echo "# image built and pushed in $((SECONDS - t0)) s"

app=phoenix/contract-service:dev
RP="$E2E_TMP/runpods"
sim_start --run-pods --run-pods-dir "$RP" --nodes 3 --image-map "$app=$PHX_BIN/phoenix-contract-service"
ns=phoenix-system
rel=phoenix-operator
sel="app.kubernetes.io/name=phoenix-operator,app.kubernetes.io/instance=$rel"

# --- What a cluster gives pods: the kubernetes Service, kube-root-ca.crt everywhere -------------
k create namespace probe >/dev/null
wait_for 10 "kube-root-ca.crt in a new namespace" k -n probe get configmap kube-root-ca.crt
expect_eq "$(awk '/certificate-authority-data/ {print $2}' "$KUBECONFIG" | base64 -d)" \
	"$(k -n probe get configmap kube-root-ca.crt -o 'jsonpath={.data.ca\.crt}')" "kube-root-ca.crt is kubesim's CA"

h install "$rel" "$PHX_ROOT/charts/phoenix-operator" -n "$ns" --create-namespace \
	--set image.repository="$IMG_REGISTRY/phoenix-operator" --set image.tag="$tag" \
	--set bindPodIP=true >"$E2E_TMP/install" 2>&1 || { cat "$E2E_TMP/install"; fail "helm install"; }
on_failure "echo '--- operator pods'; kubectl --kubeconfig '$KUBECONFIG' -n $ns get pods -o wide 2>&1; for p in \$(kubectl --kubeconfig '$KUBECONFIG' -n $ns get pods -o name); do echo \"--- \$p\"; kubectl --kubeconfig '$KUBECONFIG' -n $ns logs \$p 2>&1 | tail -n 15; done; cat '$RP'/*/pods/*/oci/*/pull.log 2>/dev/null | tail -n 10"

# Exactly 3 operator pods, all Ready and none terminating: a deleted pod stays Ready while
# it terminates, and its replacement is not Running yet.
all_ready() {
	local st
	st=$(k -n "$ns" get pods -l "$sel" \
		-o 'jsonpath={range .items[*]}{.metadata.deletionTimestamp}/{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}') || return 1
	[ "$(grep -c . <<<"$st")" = 3 ] && [ "$(grep -cx '/True' <<<"$st")" = 3 ]
}
wait_for 120 "3 operator pods Ready (their /readyz, from inside the containers)" all_ready
echo "# 3 replicas Ready $((SECONDS - t0)) s after the start"

pods=$(k -n "$ns" get pods -l "$sel" -o 'jsonpath={.items[*].metadata.name}')
sa=$(k -n "$ns" get deploy "$rel" -o 'jsonpath={.spec.template.spec.serviceAccountName}')
for p in $pods; do
	jp() { k -n "$ns" get pod "$p" -o "jsonpath=$1"; }
	expect_eq Running "$(jp '{.status.phase}')" "$p phase"
	expect_eq "$IMG_REGISTRY/phoenix-operator:$tag" "$(jp '{.spec.containers[0].image}')" "$p image"
	vol=$(jp '{.spec.volumes[?(@.projected)].name}')
	[[ "$vol" =~ ^kube-api-access-[a-z0-9]{5}$ ]] || fail "$p: no kube-api-access projected volume (got '$vol')"
	expect_eq "/var/run/secrets/kubernetes.io/serviceaccount true" \
		"$(jp "{.spec.containers[0].volumeMounts[?(@.name==\"$vol\")].mountPath} {.spec.containers[0].volumeMounts[?(@.name==\"$vol\")].readOnly}")" \
		"$p: the token volume's mount"
	uid=$(jp '{.metadata.uid}')
	cid=$(runc --root /run/kubesim-oci list -q | grep "^ks-$uid-operator-" | tail -n 1)
	[ -n "$cid" ] || fail "$p: no runc container"
	pid=$(runc --root /run/kubesim-oci state "$cid" | jq -r .pid)
	expect_eq 65532 "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")" "$p: operator uid"
	env=$(tr '\0' '\n' <"/proc/$pid/environ")
	expect_contains "$env" "KUBERNETES_SERVICE_HOST=" "$p: KUBERNETES_SERVICE_HOST"
	grep -q -- '--kubeconfig' "/proc/$pid/cmdline" && fail "$p: the operator was given a kubeconfig"
	# The token the container reads is the chart's ServiceAccount's.
	tok=$(cat "/proc/$pid/root/var/run/secrets/kubernetes.io/serviceaccount/token")
	expect_eq "$ns" "$(cat "/proc/$pid/root/var/run/secrets/kubernetes.io/serviceaccount/namespace")" "$p: namespace file"
	who=$(kubectl --server "$SIM_URL" --certificate-authority "/proc/$pid/root/var/run/secrets/kubernetes.io/serviceaccount/ca.crt" \
		--token "$tok" auth whoami -o 'jsonpath={.status.userInfo.username}')
	expect_eq "system:serviceaccount:$ns:$sa" "$who" "$p: its token (verified with its ca.crt)"
done
pass "3 operator pods Running from $IMG_REGISTRY/phoenix-operator:$tag under runc, in-cluster config as $sa"

holder() { k -n "$ns" get lease phoenix-operator-leader -o 'jsonpath={.spec.holderIdentity}' 2>/dev/null; }
has_leader() { local l; l=$(holder) && [ -n "$l" ] && grep -qw -- "$l" <<<"$pods"; }
wait_for 60 "one operator replica holds the Lease" has_leader
leader=$(holder)
pass "the Lease is held by $leader"

# --- A PhoenixService applied with kubectl settles 1+2 and fails over ---------------------------
phx_apply_contract_service web "$app"
phx_wait_settled web default 120
expect_eq 3 "$(phx_get web '{.status.totalInstances}')" "1 primary + 2 standbys"
old=$(phx_get web '{.status.primary}')
k delete pod "$old" --wait=false >/dev/null
new_primary() { [ "$(phx_get web '{.status.primary}')" != "$1" ] && phx_is_settled web default; }
wait_for 90 "a new primary after deleting $old" new_primary "$old"
pass "PhoenixService web settled 1+2 and failed over from $old to $(phx_get web '{.status.primary}')"

# --- The leader goes: a standby takes the Lease ------------------------------------------------
k -n "$ns" delete pod "$leader" --wait=false >/dev/null
other_leader() { local l; l=$(holder) && [ -n "$l" ] && [ "$l" != "$leader" ]; }
wait_for 60 "a standby holds the Lease after $leader was deleted" other_leader
wait_for 120 "3 operator pods Ready again" all_ready
pass "leader $leader deleted: $(holder) took the Lease"

# No request of the operator was refused: its ServiceAccount's RBAC was enough.
for p in $(k -n "$ns" get pods -l "$sel" -o 'jsonpath={.items[*].metadata.name}'); do
	logs=$(k -n "$ns" logs "$p")
	grep -qi "forbidden\|unauthorized" <<<"$logs" && { echo "$logs" | tail -n 20; fail "$p: a refused API request"; }
done

# --- helm uninstall cleans up ------------------------------------------------------------------
uids=$(k -n "$ns" get pods -l "$sel" -o 'jsonpath={.items[*].metadata.uid}')
h uninstall "$rel" -n "$ns" >/dev/null || fail "helm uninstall"
nopods() { [ -z "$(k -n "$ns" get pods -l "$sel" -o name)" ]; }
wait_for 60 "no operator pods left after uninstall" nopods
noctr() {
	local u ids
	ids=$(runc --root /run/kubesim-oci list -q 2>/dev/null || true)
	for u in $uids; do grep -q "^ks-$u-" <<<"$ids" && return 1; done
	return 0
}
wait_for 20 "no operator container left in runc" noctr
pass "62_helm_operator_image: all checks passed in $((SECONDS - t0)) s"
