#!/usr/bin/env bash
# The web dashboard on kubesim (controller/dashboard/):
#  1. security: off unless --dashboard-bind-address; no token -> 401; an unknown token -> 401;
#     a user without RBAC -> 403 on the board and its stream; a user who may list
#     PhoenixServices in one namespace sees that namespace only; a POST without the CSRF token
#     -> 403; security headers; no token or environment in any page; /metrics and the probe
#     port do not serve /dashboard;
#  2. `kubectl phoenix dashboard`: the local proxy adds the user's token, refuses a foreign
#     Host (DNS rebinding), prints the URL;
#  3. in headless Chromium through the proxy: the Phoenix board renders and updates live
#     during a failover (no reload): the count, the failover in progress naming the failed
#     primary, then the new primary; the user without RBAC sees the 403. Screenshots are kept
#     in $PHX_E2E_ARTIFACTS/50_dashboard (default build/artifacts/50_dashboard).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/dash_helpers.sh"

ART=${PHX_E2E_ARTIFACTS:-$PHX_BIN/../artifacts}/50_dashboard
mkdir -p "$ART"
ART=$(cd "$ART" && pwd)
# Replacement pods take 2 s to become Ready, so the failover stays "in progress" long enough
# for the page to show it (at kubesim's default 100 ms it may be over between two polls).
sim_start --pod-ready-delay-ms 2000
phx_install_crd
k create namespace other >/dev/null

dport=$(free_port)
mport=$(free_port)
pport=$(free_port)
phx_start_controller ctl --dashboard-bind-address "127.0.0.1:$dport" \
	--metrics-bind-address "127.0.0.1:$mport" --health-probe-bind-address "127.0.0.1:$pport"
wait_for 10 "controller ready" curl -sf "http://127.0.0.1:$pport/readyz"
k apply -f "$PHX_ROOT/manifests/samples/minimal.yaml" >/dev/null
k apply -n other -f "$PHX_ROOT/manifests/samples/minimal.yaml" >/dev/null
phx_wait_settled hello
phx_wait_settled hello other
D="http://127.0.0.1:$dport"

# --- 1. security ---------------------------------------------------------------------------
expect_eq 404 "$(code "http://127.0.0.1:$mport/dashboard")" "the metrics port has no /dashboard"
expect_eq 404 "$(code "http://127.0.0.1:$pport/dashboard")" "the probe port has no /dashboard"
expect_eq 404 "$(code -H "Authorization: Bearer $SIM_TOKEN" "$D/metrics")" "the dashboard port has no /metrics"
expect_eq 404 "$(code -H "Authorization: Bearer $SIM_TOKEN" "$D/healthz")" "the dashboard port has no /healthz"
for p in / /assets/app.js /api/v1/boards/phoenix /api/v1/boards/phoenix/events; do
	expect_eq 401 "$(code "$D$p")" "$p without a token"
done
expect_eq 401 "$(code -H 'Authorization: Bearer nope' "$D/api/v1/boards/phoenix")" "an unknown token"
hdrs=$(curl -s -D - -o /dev/null "$D/")
expect_contains "$hdrs" "WWW-Authenticate: Bearer" "401 names the scheme"

nobody=$(token_for default nobody)
viewer=$(token_for default viewer)
[ ${#nobody} = 64 ] && [ ${#viewer} = 64 ] || fail "no tokens from kubesim"
expect_eq 200 "$(code -H "Authorization: Bearer $nobody" "$D/")" "the page shell for any authenticated user"
expect_eq 403 "$(code -H "Authorization: Bearer $nobody" "$D/api/v1/boards/phoenix")" "the board for a user without RBAC"
expect_eq 403 "$(code -H "Authorization: Bearer $nobody" "$D/api/v1/boards/phoenix/events")" "the stream for a user without RBAC"
k apply -f - >/dev/null <<'YAML'
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: phoenix-viewer, namespace: default}
rules: [{apiGroups: [phoenix.fpai.io], resources: [phoenixservices], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: phoenix-viewer, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: phoenix-viewer}
subjects: [{kind: ServiceAccount, name: viewer, namespace: default}]
YAML
board=$(curl -sf -H "Authorization: Bearer $viewer" "$D/api/v1/boards/phoenix")
expect_eq "default/hello" "$(python3 -c 'import json,sys; print(",".join(i["service"] for i in json.loads(sys.argv[1])["items"]))' "$board")" "a namespace viewer sees its namespace only"
expect_eq "namespaces 1 False" "$(python3 -c 'import json,sys; b=json.loads(sys.argv[1]); print(b["scope"], b["services"], "failoversToday" in b)' "$board")" "its totals are of what it sees"
admin=$(curl -sf -H "Authorization: Bearer $SIM_TOKEN" "$D/api/v1/boards/phoenix")
expect_eq "cluster 2" "$(python3 -c 'import json,sys; b=json.loads(sys.argv[1]); print(b["scope"], b["services"])' "$admin")" "the admin sees both namespaces"

# CSRF: writes need the X-Phoenix-CSRF header equal to the phx_csrf cookie, from this origin.
expect_eq 403 "$(code -X POST -H "Authorization: Bearer $SIM_TOKEN" "$D/api/v1/boards/phoenix")" "a POST without the CSRF token"
tok=0123456789abcdef0123456789abcdef
expect_eq 403 "$(code -X POST -H "Authorization: Bearer $SIM_TOKEN" -H "Cookie: phx_csrf=$tok" -H "X-Phoenix-CSRF: $tok" -H "Origin: http://evil.example" "$D/api/v1/boards/phoenix")" "a POST from another origin"
expect_eq 405 "$(code -X POST -H "Authorization: Bearer $SIM_TOKEN" -H "Cookie: phx_csrf=$tok" -H "X-Phoenix-CSRF: $tok" -H "Origin: http://127.0.0.1:$dport" "$D/api/v1/boards/phoenix")" "a POST that passes CSRF (no write exists yet)"
hdrs=$(curl -s -D - -o "$E2E_TMP/index.html" -H "Authorization: Bearer $SIM_TOKEN" "$D/")
for h in "Content-Security-Policy: default-src 'none'" "X-Frame-Options: DENY" "Cache-Control: no-store" "Set-Cookie: phx_csrf=" "SameSite=Strict"; do
	expect_contains "$hdrs" "$h" "security header"
done
for p in / /assets/app.js /assets/app.css /api/v1/boards/phoenix /api/v1/whoami; do
	body=$(curl -sf -H "Authorization: Bearer $SIM_TOKEN" "$D$p")
	case "$body" in *"$SIM_TOKEN"*|*"$HOME"*|*KUBECONFIG*) fail "$p shows a token or the environment" ;; esac
	grep -Eq 'https?://[a-z]' <<<"$body" && ! grep -q 'http://evil' <<<"$body" && fail "$p references an external URL"
done
pass "dashboard: 401 without a valid token, 403 without RBAC, namespace-filtered board, CSRF on writes, security headers, no secrets; /metrics and probes do not serve it"

# --- 2. the plugin's proxy -----------------------------------------------------------------
start_proxy admin-proxy "$KUBECONFIG"
admin_url=$PROXY_URL
expect_eq 200 "$(code "${admin_url}api/v1/boards/phoenix")" "the proxy adds the user's token"
grep -q "$SIM_TOKEN" "$E2E_TMP/admin-proxy.out" && fail "the proxy printed the token"
pport2=${admin_url#http://127.0.0.1:}; pport2=${pport2%/}
expect_eq 403 "$(code -H "Host: evil.example:$pport2" "${admin_url}api/v1/boards/phoenix")" "the proxy refuses a foreign Host (DNS rebinding)"
kubeconfig_for "$E2E_TMP/nobody.kubeconfig" "$nobody"
start_proxy nobody-proxy "$E2E_TMP/nobody.kubeconfig"
nobody_url=$PROXY_URL
expect_eq 403 "$(code "${nobody_url}api/v1/boards/phoenix")" "the proxy for a user without RBAC"
pass "kubectl phoenix dashboard: a local proxy with the user's own token (never printed), Host checked"

# --- 3. the browser --------------------------------------------------------------------------
browser_ready
primary=$(phx_get hello '{.status.primary}')
trigger="kubectl --kubeconfig '$KUBECONFIG' --cache-dir '$KUBECACHEDIR' delete pod '$primary' --wait=false >/dev/null"
out=$(node "$PHX_ROOT/tests/browser/dashboard.js" board "$admin_url" default/hello "$trigger")
echo "browser: $out"
phx_wait_settled hello
out2=$(node "$PHX_ROOT/tests/browser/dashboard.js" forbidden "$nobody_url")
echo "browser (no RBAC): $out2"
for f in phoenix-board.png phoenix-board-failover.png phoenix-board-after.png phoenix-board-forbidden.png; do
	[ -s "$ART/$f" ] || fail "no screenshot $f"
done
pass "browser: the Phoenix board updates live during a failover without a reload ($(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["seenMs"])' "$out") ms from the delete to the page); a user without RBAC sees the 403; screenshots in $ART"
