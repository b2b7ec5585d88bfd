# Helpers shared by the Intent end-to-end tests (tests/e2e/42_intent_*.sh). Source after lib.sh
# and phx_helpers.sh. Not a test itself (the name does not start with a digit).

# Installs the PhoenixService, Intent, GovernancePolicy and Approval CRDs (not the Build CRD:
# the tests that want it install it themselves) and waits until they are served.
intent_install_crds() {
	local f
	for f in phoenixservices intents governancepolicies approvals; do
		k apply -f "$PHX_ROOT/manifests/crds/phoenix.fpai.io_$f.yaml" >/dev/null
	done
	wait_for 10 "Intent API served" k get intents
	wait_for 10 "Approval API served" k get approvals
	wait_for 10 "GovernancePolicy API served" k get governancepolicies
}

# intent_get NAME JSONPATH [NAMESPACE]
intent_get() { k get intent "$1" -n "${3:-default}" -o "jsonpath=$2"; }
# intent_cond NAME TYPE [FIELD]: a condition's status (or reason, message, ...)
intent_cond() { intent_get "$1" "{.status.conditions[?(@.type==\"$2\")].${3:-status}}" "${4:-default}"; }
intent_has_cond() { [ "$(intent_cond "$1" "$2" "${4:-status}")" = "$3" ]; }
# intent_wait_cond NAME TYPE VALUE [FIELD]
intent_wait_cond() { wait_for 10 "$1: $2 ${4:-status} = $3" intent_has_cond "$1" "$2" "$3" "${4:-status}"; }
intent_has_phase() { [ "$(intent_get "$1" '{.status.phase}' "${3:-default}")" = "$2" ]; }
intent_wait_phase() { wait_for 10 "$1 phase $2" intent_has_phase "$1" "$2" "${3:-default}"; }

# Counts Events with this reason about an object of this kind (default Intent).
intent_event_count() {
	k get events -n "${4:-default}" -o json | python3 -c '
import json, sys
n = 0
for e in json.load(sys.stdin).get("items", []):
    o = e.get("involvedObject", {})
    if o.get("name") == sys.argv[1] and e.get("reason") == sys.argv[2] and o.get("kind") == sys.argv[3]:
        n += e.get("count") or 1
print(n)' "$1" "$2" "${3:-Intent}"
}
intent_events_at_least() { [ "$(intent_event_count "$1" "$2" "$3")" -ge "$4" ]; }
intent_wait_event() { wait_for 5 "a $2 Event about ${3:-Intent} $1" intent_events_at_least "$1" "$2" "${3:-Intent}" 1; }

# The two reference cases' text (docs/governance.md): a purpose and features that pass.
INTENT_PURPOSE="Computes daily revenue per product line from the billing ledger for the finance team and exposes it to dashboards"
INTENT_F1="Aggregate ledger entries into daily revenue per product line"
INTENT_F2="Serve revenue totals over REST filtered by date range"
INTENT_F3="Alert finance when daily revenue drops twenty percent"

# intent_apply NAME SERVICE TIER PRIORITY [EXTRA YAML LINES under spec, indented 2]
intent_apply() {
	local name=$1 svc=$2 tier=$3 prio=$4 extra=${5:-}
	k apply -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Intent
metadata: {name: $name}
spec:
  serviceName: $svc
  serviceType: domain
  tier: $tier
  priority: $prio
  purpose: $INTENT_PURPOSE
  keyFeatures: ["$INTENT_F1", "$INTENT_F2", "$INTENT_F3"]
$extra
YAML
}

# intent_policy MODE [EXTRA YAML under spec]
intent_policy() {
	k apply -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: GovernancePolicy
metadata: {name: default}
spec:
  mode: $1
  dependencies: {allowed: [billing-ledger]}
${2:-}
YAML
}

# intent_approval NAME TARGET GATE DECISION REASON [APPROVER] [KUBECTL ARGS...]
intent_approval() {
	local name=$1 target=$2 gate=$3 dec=$4 reason=$5 who=${6:-alice}
	shift 6 || shift $#
	k "$@" create -f - <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Approval
metadata: {name: $name}
spec:
  targetRef: {kind: Intent, name: $target}
  gate: $gate
  decision: $dec
  reason: "$reason"
  approver: $who
YAML
}

# intent_sa_kubeconfig SA: a kubeconfig for service account default/SA (kubesim mints a token),
# printed as its path. The SA's user is system:serviceaccount:default:SA.
intent_sa_kubeconfig() {
	local sa=$1 tok
	tok=$(sim_control -X POST "$SIM_URL/sim/v1/tokens" -d "{\"namespace\":\"default\",\"serviceAccount\":\"$sa\"}" |
		sed -nE 's/.*"token":"([0-9a-f]+)".*/\1/p')
	[ ${#tok} = 64 ] || fail "kubesim minted no token for $sa"
	sed "s/token: $SIM_TOKEN/token: $tok/" "$KUBECONFIG" >"$E2E_TMP/$sa.kubeconfig"
	echo "$E2E_TMP/$sa.kubeconfig"
}

# The chart's approver ClusterRole, applied as helm renders it.
intent_install_approver_role() {
	helm template phoenix-operator "$PHX_ROOT/charts/phoenix-operator" --show-only templates/approver-rbac.yaml |
		k apply -f - >/dev/null
}

# intent_stop_check NAME: stops the controller started by phx_start_controller NAME (SIGTERM)
# and fails when it did not exit cleanly or its log has a sanitizer report (ASan, UBSan, TSan
# builds) -- so a leak or a race at shutdown fails the test that caused it.
intent_stop_check() {
	local name=$1 pid rc=0
	pid=$(cat "$E2E_TMP/$name.pid")
	kill -TERM "$pid" 2>/dev/null || fail "controller $name was not running"
	wait "$pid" || rc=$?
	if grep -qE 'Sanitizer|runtime error:' "$E2E_TMP/$name.log"; then
		grep -E -A30 'Sanitizer|runtime error:' "$E2E_TMP/$name.log" | head -60
		fail "controller $name: sanitizer report"
	fi
	[ "$rc" = 0 ] || fail "controller $name exited with status $rc after SIGTERM"
	pass "controller $name stopped cleanly on SIGTERM (no sanitizer report)"
}
