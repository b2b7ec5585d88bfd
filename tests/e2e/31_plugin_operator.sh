#!/usr/bin/env bash
# kubectl-phoenix says when no operator is acting: it reads the operator's leader-election Lease
# (phoenix-system/phoenix-operator-leader by default) and warns when nobody holds it, so a status
# nobody maintains (Healthy, naming a deleted primary) is not taken at its word; it marks a
# service stale when status.lastReconcileTime is old and no Lease is current; a caller who may
# not read Leases gets a note, not a failure. Also: phase Invalid shows the condition's message,
# phase Paused shows as paused. Ends with the real operator: leader, then every replica killed.
set -euo pipefail
unset KUBECONFIG NO_COLOR
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
work="$E2E_TMP"
plugin="$PHX_BIN/kubectl-phoenix"
[ -x "$plugin" ] || fail "$plugin not built"
# expect_out DESCRIPTION PATTERN FILE: FILE has a line matching the extended regex PATTERN.
expect_out() { grep -Eq -- "$2" "$3" || { echo "--- output:"; cat "$3"; fail "$1: no match for /$2/"; }; }
expect_no() { if grep -Eq -- "$2" "$3"; then echo "--- output:"; cat "$3"; fail "$1: unexpected /$2/"; fi; }
rfc3339() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%S.000000Z; }

sim_start
phx_install_crd
# status.lastReconcileTime and phases Invalid/Paused come with the harden-status change to the
# CRD; until a checkout has it, add them here (a JSON-patch "add" replaces what is there).
st_schema=/spec/versions/0/schema/openAPIV3Schema/properties/status/properties
k patch crd phoenixservices.phoenix.fpai.io --type=json -p "[{\"op\": \"add\",
  \"path\": \"$st_schema/lastReconcileTime\", \"value\": {\"type\": \"string\", \"format\": \"date-time\"}},
  {\"op\": \"add\", \"path\": \"$st_schema/phase/enum\", \"value\": [\"Pending\", \"Healthy\",
  \"Degraded\", \"FailingOver\", \"Recovering\", \"Updating\", \"Invalid\", \"Paused\"]}]" >/dev/null
k create namespace phoenix-system >/dev/null
k apply -f "$PHX_ROOT/manifests/samples/minimal.yaml" >/dev/null
old=$(rfc3339 $(($(date +%s) - 600)))
k patch phx hello --subresource=status --type=merge -p "{\"status\": {\"phase\": \"Healthy\",
  \"primary\": \"hello-gone\", \"readyInstances\": 3, \"totalInstances\": 3, \"readyDisplay\": \"3/3\",
  \"lastReconcileTime\": \"$old\"}}" >/dev/null

# --- no Lease at all: a note, and the old lastReconcileTime makes the status stale ----------
"$plugin" status >"$work/out"
expect_out "no Lease" '^note: no Lease phoenix-system/phoenix-operator-leader: cannot tell whether an operator is acting' "$work/out"
expect_out "stale summary" '^WARNING: 1 service not reconciled for over 300s and no operator holds the Lease' "$work/out"
expect_out "stale row" '^  ↳ stale: last reconciled 10m0[0-9]s ago$' "$work/out"
expect_out "row" '^hello +Healthy +3/3' "$work/out"
"$plugin" status hello >"$work/out"
expect_out "deleted primary" '^  primary +hello-gone  \(no such pod: the status is out of date\)$' "$work/out"
expect_out "detail stale" '^  last reconciled 10m0[0-9]s ago \(stale: no operator holds the Lease\)$' "$work/out"
pass "no Lease: a note naming the Lease; lastReconcileTime 10m old marks the service stale"

# --- a current Lease: the leader is named, nothing is stale ---------------------------------
lease() { # lease HOLDER RENEW_EPOCH
	k apply -f - >/dev/null <<YAML
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: phoenix-operator-leader, namespace: phoenix-system}
spec: {holderIdentity: "$1", leaseDurationSeconds: 15, renewTime: "$(rfc3339 "$2")", acquireTime: "$(rfc3339 "$2")"}
YAML
}
lease op-1 "$(date +%s)"
"$plugin" status >"$work/out"
expect_out "leader" '^operator: op-1 leads \(Lease phoenix-system/phoenix-operator-leader renewed [0-9]+s ago\)$' "$work/out"
expect_no "current Lease: no warning" 'WARNING|stale' "$work/out"
pass "current Lease: the leader is named; an old lastReconcileTime is not called stale"

# --- the Lease expired: nobody is acting -----------------------------------------------------
lease op-1 $(($(date +%s) - 60))
"$plugin" status >"$work/out"
expect_out "expired" '^WARNING: no operator is acting: Lease phoenix-system/phoenix-operator-leader, last held by op-1, expired 4[5-9]s ago\. Nothing fails over' "$work/out"
expect_out "stale with expired Lease" '^  ↳ stale: last reconciled' "$work/out"
"$plugin" status hello >"$work/out"
expect_out "detail expired" '^  WARNING: no operator is acting' "$work/out"
lease "" $(($(date +%s) - 5))
"$plugin" status >"$work/out"
expect_out "released" '^WARNING: no operator is acting: Lease phoenix-system/phoenix-operator-leader has no holder' "$work/out"
pass "expired or released Lease: WARNING no operator is acting, in the overview and the detail"

# --- the status has no lastReconcileTime (an older operator): the Lease alone decides ---------
k patch phx hello --subresource=status --type=json -p '[{"op":"remove","path":"/status/lastReconcileTime"}]' >/dev/null
"$plugin" status >"$work/out"
expect_out "Lease still decides" '^WARNING: no operator is acting' "$work/out"
expect_no "no staleness without lastReconcileTime" 'stale:|not reconciled' "$work/out"
pass "without status.lastReconcileTime: no staleness verdict, the Lease warning stays"

# --- flags point at another Lease -------------------------------------------------------------
"$plugin" status --operator-namespace ops --leader-election-id my-lease >"$work/out"
expect_out "flags" '^note: no Lease ops/my-lease: ' "$work/out"
"$plugin" --help >"$work/out"
expect_out "help" '--operator-namespace NS' "$work/out"
expect_out "help" '--leader-election-id NAME' "$work/out"
pass "--operator-namespace and --leader-election-id choose the Lease"

# --- a caller who may not read Leases: a note, exit 0 --------------------------------------
k apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: ServiceAccount
metadata: {name: viewer, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: phx-viewer, namespace: default}
rules:
  - apiGroups: [phoenix.fpai.io]
    resources: [phoenixservices]
    verbs: [get, list, watch]
  - apiGroups: [""]
    resources: [pods]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: phx-viewer, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: phx-viewer}
subjects: [{kind: ServiceAccount, name: viewer, namespace: default}]
YAML
sim_control -X POST "$SIM_URL/sim/v1/tokens" -d '{"namespace":"default","serviceAccount":"viewer"}' >"$work/token.json"
token=$(sed -nE 's/.*"token":"([0-9a-f]+)".*/\1/p' "$work/token.json")
[ -n "$token" ] || fail "no token: $(cat "$work/token.json")"
sed "s/token: $SIM_TOKEN/token: $token/" "$KUBECONFIG" >"$work/viewer.kubeconfig"
"$plugin" --kubeconfig "$work/viewer.kubeconfig" status >"$work/out" 2>&1 || { cat "$work/out"; fail "status failed for a caller who may not read Leases"; }
expect_out "forbidden" '^note: cannot tell whether an operator is acting: not allowed to read Leases in namespace phoenix-system \(.*forbidden' "$work/out"
expect_out "forbidden still shows" '^hello +Healthy' "$work/out"
pass "403 on the Lease: a note saying so; the dashboard still shows, exit 0"

# --- phases Invalid and Paused ------------------------------------------------------------------
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
k patch phx hello --subresource=status --type=merge -p "{\"status\": {\"phase\": \"Invalid\",
  \"readyInstances\": 0, \"totalInstances\": 3, \"readyDisplay\": \"0/3\",
  \"conditions\": [{\"type\": \"Invalid\", \"status\": \"True\", \"reason\": \"InvalidSpec\",
  \"message\": \"spec.template.spec.containers[0].resources.requests.cpu: lots is not a quantity\",
  \"lastTransitionTime\": \"$now\", \"observedGeneration\": 1}]}}" >/dev/null
"$plugin" status >"$work/out"
expect_out "Invalid row" '^hello +Invalid +0/3' "$work/out"
expect_out "Invalid message" '^  ↳ invalid spec: spec\.template\.spec\.containers\[0\]\.resources\.requests\.cpu: lots is not a quantity$' "$work/out"
expect_no "not Pending" 'Pending' "$work/out"
"$plugin" status hello >"$work/out"
expect_out "detail Invalid" '^PhoenixService default/hello +Invalid' "$work/out"
expect_out "detail Invalid message" '^  invalid spec: spec\.template.*lots is not a quantity \(fix it: kubectl -n default edit phx hello\)$' "$work/out"
k patch phx hello --type=merge -p '{"spec":{"paused":true}}' >/dev/null
k patch phx hello --subresource=status --type=merge -p '{"status": {"phase": "Paused", "conditions": []}}' >/dev/null
"$plugin" status >"$work/out"
expect_out "Paused row" '^hello +Paused +0/3' "$work/out"
expect_no "Paused once" 'Paused \(paused\)' "$work/out"
pass "phase Invalid shows with the Invalid condition's message; phase Paused shows as paused"

# --- the real operator: a leader, then every replica down -------------------------------------
k delete lease -n phoenix-system phoenix-operator-leader >/dev/null
k patch phx hello --type=merge -p '{"spec":{"paused":false}}' >/dev/null
phx_start_controller ctl --leader-elect --leader-election-namespace phoenix-system
ctl=$PHX_CTL_PID
leads() { "$plugin" status >"$work/out" && grep -Eq '^operator: .+ leads' "$work/out"; }
wait_for 30 "the plugin names the operator as leader" leads
kill -KILL "$ctl"
nobody() { "$plugin" status >"$work/out" && grep -q '^WARNING: no operator is acting' "$work/out"; }
wait_for 40 "the plugin warns once the killed leader's Lease expires" nobody
pass "real operator: named while it leads; killed, the plugin warns that no operator is acting"
