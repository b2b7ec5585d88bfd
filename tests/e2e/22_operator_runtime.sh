#!/usr/bin/env bash
# The runtime under the operator, through the API on kubesim:
#  1. a watch that stalls (the connection stays open, nothing arrives, not even a bookmark: a NAT
#     or load balancer that lost the connection's state) is noticed within --watch-idle-timeout
#     and restarted, so a failover still reacts within that bound; a clean close still recovers
#     at once;
#  2. the probe port serves /healthz and /readyz only, survives a flood of idle connections; the
#     metrics port serves /metrics only (the dashboard has its own port), and with --metrics-auth only to callers a
#     TokenReview authenticates and RBAC allows (SubjectAccessReview);
#  3. leader election that can never work is loud: invalid names exit with a clear error, a Lease
#     namespace that does not exist gives a warning and /readyz 503;
#  4. flags are validated; no "became leader" without leader election; a missing CRD is named.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fault() { sim_control -X POST "$SIM_URL/sim/v1/faults/$1" -d "${2:-{\}}" >/dev/null; }
# The operator reacted: a pod other than $2 is labelled the serving primary (its promote patch).
promoted_other() {
	local p
	p=$(k get pods -l "phoenix.fpai.io/service=$1,phoenix.fpai.io/role=primary,phoenix.fpai.io/serving=true" \
		-o 'jsonpath={.items[*].metadata.name}')
	[ -n "$p" ] && [ "$p" != "$2" ]
}
# Settled, and the Service's endpoints are exactly the primary (nothing left from a surge).
settled_endpoints() {
	phx_is_settled hello || return 1
	[ "$(k get endpoints hello -o 'jsonpath={.subsets[*].addresses[*].targetRef.name}')" = "$(phx_get hello '{.status.primary}')" ]
}

sim_start

# --- 4a. the CRD is missing: said plainly, with how to install it -----------------------------
phx_start_controller nocrd
wait_for 10 "the operator names the missing CRD" grep -q "the PhoenixService CRD is not installed" "$E2E_TMP/nocrd.log"
grep -q "kubectl apply -f manifests/crds/phoenix.fpai.io_phoenixservices.yaml" "$E2E_TMP/nocrd.log" || fail "no install hint"
phx_stop_pid "$PHX_CTL_PID"
phx_install_crd
pass "a missing CRD is named, with how to install it"

# --- 1. stalled watches -----------------------------------------------------------------------
IDLE=10
mport=$(free_port)
pport=$(free_port)
phx_start_controller ctl --watch-idle-timeout "$IDLE" --metrics-bind-address "127.0.0.1:$mport" \
	--health-probe-bind-address "127.0.0.1:$pport" --metrics-auth
wait_for 10 "controller ready" curl -sf "http://127.0.0.1:$pport/readyz"
k apply -f "$PHX_ROOT/manifests/samples/minimal.yaml" >/dev/null
wait_for 30 "hello settled, endpoints = primary" settled_endpoints

# A clean reset first: every watch closed, the failover reacts as before (rewatch at once).
fault close-watches
primary=$(phx_get hello '{.status.primary}')
t0=$(now_ms)
k delete pod "$primary" --wait=false >/dev/null
wait_for 15 "failover after a clean watch reset" promoted_other hello "$primary"
echo "failover after a clean reset: $(( $(now_ms) - t0 )) ms"
wait_for 30 "hello settled, endpoints = primary" settled_endpoints

# The stall: every open watch stays open and silent. The API still answers new requests, so the
# pod is deleted at once, but the operator only sees it once its watch is given up and restarted.
fault stall-watches
rules=$(sim_control "$SIM_URL/sim/v1/faults")
expect_contains "$rules" '"type":"stall-watches"' "the stall rule is listed"
primary=$(phx_get hello '{.status.primary}')
t0=$(now_ms)
k delete pod "$primary" --wait=false >/dev/null
wait_for $((IDLE + 20)) "failover after a stalled watch" promoted_other hello "$primary"
took=$(( $(now_ms) - t0 ))
echo "failover after a stall (watch idle timeout ${IDLE} s): $took ms"
# Bound: the idle timeout, the rewatch backoff (0.8 s) and the failover itself, with room for a
# loaded machine. Without stall detection the watch stays dead for its 300 s timeout.
bound_ms=$(( (IDLE + 15) * 1000 * ${PHX_E2E_WAIT_SCALE:-3} / 3 ))
[ "$took" -le "$bound_ms" ] || fail "failover took $took ms after a stall (bound $bound_ms ms)"
grep -q "stalled: no event or bookmark for $((IDLE * 1000)) ms" "$E2E_TMP/ctl.log" || fail "the stall was not logged"
sim_control -X DELETE "$SIM_URL/sim/v1/faults" >/dev/null
phx_wait_settled hello default 30
expect_eq 2 "$(phx_get hello '{.status.failovers}')" "both failovers counted"
pass "a stalled watch is restarted within --watch-idle-timeout ($took ms to fail over); a clean reset recovers at once"

# --- 2. ports, flood, metrics protection --------------------------------------------------------
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
expect_eq 200 "$(code "http://127.0.0.1:$pport/healthz")" "probe port /healthz"
expect_eq 404 "$(code "http://127.0.0.1:$pport/metrics")" "probe port has no /metrics"
expect_eq 404 "$(code "http://127.0.0.1:$pport/dashboard")" "probe port has no /dashboard"
expect_eq 404 "$(code "http://127.0.0.1:$mport/healthz")" "metrics port has no /healthz"
expect_eq 401 "$(code "http://127.0.0.1:$mport/metrics")" "/metrics without a token"
expect_eq 401 "$(code -H "Authorization: Bearer nope" "http://127.0.0.1:$mport/metrics")" "/metrics with an unknown token"
scraper=$(sim_control -X POST "$SIM_URL/sim/v1/tokens" -d '{"namespace":"monitoring","serviceAccount":"prometheus"}' |
	sed -nE 's/.*"token":"([0-9a-f]+)".*/\1/p')
[ ${#scraper} = 64 ] || fail "no token for the scraper"
expect_eq 403 "$(code -H "Authorization: Bearer $scraper" "http://127.0.0.1:$mport/metrics")" "/metrics for a user without RBAC"
k apply -f - >/dev/null <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: metrics-reader}
rules: [{nonResourceURLs: [/metrics], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: prometheus-metrics}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: metrics-reader}
subjects: [{kind: ServiceAccount, name: prometheus, namespace: monitoring}]
YAML
# The 403 above is cached for up to 10 s.
wait_for 15 "/metrics for a user with RBAC" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $scraper' http://127.0.0.1:$mport/metrics)\" = 200 ]"
scraped=$(curl -sf -H "Authorization: Bearer $scraper" "http://127.0.0.1:$mport/metrics")
grep -q '^kube_informer_watch_stalls_total{informer="phoenix-pods"} [1-9]' <<<"$scraped" || fail "no stall counted in /metrics"
expect_eq 404 "$(code -H "Authorization: Bearer $scraper" "http://127.0.0.1:$mport/dashboard")" "the metrics port has no /dashboard"

# 200 idle connections (half of them with a request never finished) on the probe port: /healthz
# still answers at once.
python3 - "$pport" <<'PY' || fail "the probe port did not survive the connection flood"
import socket, sys, time, urllib.request
port = int(sys.argv[1])
socks = []
for i in range(200):
    s = socket.create_connection(("127.0.0.1", port))
    if i % 2 == 0:
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
    socks.append(s)
t0 = time.monotonic()
body = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read()
took = time.monotonic() - t0
print(f"/healthz with 200 idle connections open: {took * 1000:.1f} ms")
sys.exit(0 if body == b"ok" and took < 3 else 1)
PY
pass "probe port: probes only, survives 200 idle connections; metrics port: /metrics only, 401/403/200 by TokenReview and RBAC"

# --- 4b. no leader election: no "became leader" -----------------------------------------------
grep -q "became leader" "$E2E_TMP/ctl.log" && fail "\"became leader\" logged without leader election"

# --- 3. leader election that can never work -----------------------------------------------------
expect_bad_flag() { # DESCRIPTION MESSAGE ARGS...
	local desc=$1 msg=$2 rc=0
	shift 2
	"$PHX_BIN/phoenix-controller" --kubeconfig "$KUBECONFIG" "$@" >"$E2E_TMP/bad.log" 2>&1 || rc=$?
	[ "$rc" = 2 ] || fail "$desc: exit code $rc, want 2"
	grep -q -- "$msg" "$E2E_TMP/bad.log" || fail "$desc: message lacks '$msg': $(cat "$E2E_TMP/bad.log")"
}
expect_bad_flag "invalid lease name" '--leader-election-id: "Phoenix_Leader" is not a valid object name' \
	--leader-elect --leader-election-id Phoenix_Leader
expect_bad_flag "invalid lease namespace" '--leader-election-namespace: "Kube System" is not a valid namespace name' \
	--leader-elect --leader-election-namespace 'Kube System'
expect_bad_flag "invalid watched namespace" '--namespace: "Bad NS!" is not a valid namespace name' --namespace 'Bad NS!'
expect_bad_flag "verbosity out of range" 'invalid value "9" (want 0..2)' -v 9

lport=$(free_port)
phx_start_controller typo --leader-elect --leader-election-namespace phoenix-sytem \
	--health-probe-bind-address "127.0.0.1:$lport"
wait_for 20 "a warning about the failing leader election" grep -q 'WARN .*"leader election is failing"' "$E2E_TMP/typo.log"
grep -q 'leader election is failing.*namespaces .*phoenix-sytem.* not found.*check --leader-election-namespace' "$E2E_TMP/typo.log" ||
	fail "the warning does not name the missing namespace"
[ "$(grep -c 'leader election is failing' "$E2E_TMP/typo.log")" -le 2 ] || fail "the warning is not rate-limited"
# --metrics-bind-address 0 (phx_start_controller's default) really hides /metrics: the probe port
# does not serve it either.
expect_eq 404 "$(code "http://127.0.0.1:$lport/metrics")" "/metrics with --metrics-bind-address 0"
readyz_fails() { [ "$(code "http://127.0.0.1:$lport/readyz")" = 503 ]; }
wait_for 20 "/readyz 503 while nobody can lead" readyz_fails
expect_contains "$(curl -s "http://127.0.0.1:$lport/readyz?verbose")" "[-]leader-election failed" "/readyz names the elector"
pass "invalid names exit 2 with a clear error; a Lease namespace typo warns and fails /readyz"
