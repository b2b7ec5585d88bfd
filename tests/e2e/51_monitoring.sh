#!/usr/bin/env bash
# The chart's monitoring is true to the operator: the Grafana dashboard ConfigMap (label
# grafana_dashboard) holds valid dashboard JSON, and every metric a Grafana query or a
# PrometheusRule names is one a running operator on kubesim really exports (its /metrics,
# scraped after a failover so the histograms have samples). Also the process and build-info
# metrics every operator exposes are there and sane.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"
source "$(dirname "$0")/intent_helpers.sh"
helm=$(command -v helm) || fail "helm not found (hack/install-deps.sh installs it in .tools/bin)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
chart="$PHX_ROOT/charts/phoenix-operator"

# --- 1. the rendered objects ---------------------------------------------------------------
"$helm" template phoenix-operator "$chart" -n phoenix-system \
	--set metrics.grafanaDashboard.enabled=true --set metrics.prometheusRule.enabled=true \
	>"$E2E_TMP/rendered.yaml"
"$helm" template phoenix-operator "$chart" -n phoenix-system >"$E2E_TMP/default.yaml"
grep -q 'grafana_dashboard' "$E2E_TMP/default.yaml" && fail "the Grafana dashboard is not opt-in"
grep -q 'kind: PrometheusRule' "$E2E_TMP/default.yaml" && fail "the PrometheusRule is not opt-in"
python3 - "$E2E_TMP/rendered.yaml" "$E2E_TMP" <<'PY' || fail "the rendered Grafana dashboard or rules are not valid"
import json, re, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
cms = [d for d in docs if d["kind"] == "ConfigMap" and "grafana_dashboard" in d["metadata"].get("labels", {})]
assert len(cms) == 1, "want one ConfigMap labelled grafana_dashboard"
dash = json.loads(cms[0]["data"]["phoenix-operator.json"])
assert dash["uid"] and dash["title"], "no uid/title"
exprs = []
for p in dash["panels"]:
    if p["type"] == "row":
        continue
    assert p.get("targets"), f'panel {p["title"]} has no query'
    exprs += [t["expr"] for t in p["targets"]]
rules = [d for d in docs if d["kind"] == "PrometheusRule"]
assert len(rules) == 1, "want one PrometheusRule"
alerts = [r for g in rules[0]["spec"]["groups"] for r in g["rules"]]
assert len(alerts) >= 9, f"only {len(alerts)} alerts"
exprs += [r["expr"] for r in alerts]
open(sys.argv[2] + "/exprs.json", "w").write(json.dumps(exprs))
print(f"{len(dash['panels'])} panels, {len(alerts)} alerts, {len(exprs)} queries")
PY
pass "Grafana dashboard ConfigMap (valid JSON, label grafana_dashboard) and PrometheusRule render, opt-in"

# The ServiceMonitor with metrics.auth: a bearer token on every scrape (Prometheus's own service
# account token, or the named Secret's key); without metrics.auth, none.
sm() { "$helm" template phoenix-operator "$chart" -n phoenix-system --set metrics.serviceMonitor.enabled=true "$@"; }
sm_check() { # FILE WANT: WANT is none, file or secret:NAME:KEY
	python3 - "$1" "$2" <<'PY' || fail "ServiceMonitor with $2: wrong scrape credentials (see above)"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
sms = [d for d in docs if d["kind"] == "ServiceMonitor"]
assert len(sms) == 1, f"want one ServiceMonitor, got {len(sms)}"
eps = sms[0]["spec"]["endpoints"]
assert len(eps) == 1 and eps[0]["path"] == "/metrics" and eps[0]["port"] == "metrics", eps
ep, want = eps[0], sys.argv[2]
if want == "none":
    assert "authorization" not in ep and "bearerTokenFile" not in ep, ep
elif want == "file":
    assert ep.get("bearerTokenFile") == "/var/run/secrets/kubernetes.io/serviceaccount/token", ep
    assert "authorization" not in ep, ep
else:
    _, name, key = want.split(":")
    assert ep.get("authorization") == {"type": "Bearer", "credentials": {"name": name, "key": key}}, ep
    assert "bearerTokenFile" not in ep, ep
PY
}
sm >"$E2E_TMP/sm-noauth.yaml"
sm_check "$E2E_TMP/sm-noauth.yaml" none
sm --set metrics.auth=true >"$E2E_TMP/sm-auth.yaml"
sm_check "$E2E_TMP/sm-auth.yaml" file
sm --set metrics.auth=true --set metrics.serviceMonitor.bearerTokenSecret.name=scrape-token \
	--set metrics.serviceMonitor.bearerTokenSecret.key=tok >"$E2E_TMP/sm-secret.yaml"
sm_check "$E2E_TMP/sm-secret.yaml" secret:scrape-token:tok
pass "ServiceMonitor: with metrics.auth a bearer token (service account file, or the named Secret's key); without it none"

# --- 2. a running operator's /metrics --------------------------------------------------------
sim_start
phx_install_crd
# The Intent wing registers the pipeline metrics (the dashboard's Pipeline row); the Build CRD
# comes later (the Build wing's metrics), so that the first Intent holds the one slot meanwhile.
for f in intents governancepolicies approvals; do
	k apply -f "$PHX_ROOT/manifests/crds/phoenix.fpai.io_$f.yaml" >/dev/null
done
wait_for 10 "Intent API served" k get intents
mport=$(free_port)
# With leader election, as the chart runs it (leader_election_master_status comes with it).
phx_start_controller ctl --metrics-bind-address "127.0.0.1:$mport" --leader-elect --leader-election-namespace default
wait_for 10 "metrics served" curl -sf "http://127.0.0.1:$mport/metrics"
k apply -f "$PHX_ROOT/manifests/samples/minimal.yaml" >/dev/null
phx_wait_settled hello
k delete pod "$(phx_get hello '{.status.primary}')" --wait=false >/dev/null
wait_for 15 "failover counted" bash -c "[ \"\$(kubectl --kubeconfig '$KUBECONFIG' --cache-dir '$KUBECACHEDIR' get phx hello -o jsonpath='{.status.failovers}')\" = 1 ]"
phx_wait_settled hello
recovered() { curl -sf "http://127.0.0.1:$mport/metrics" | grep -q '^phoenix_recovery_seconds_count [1-9]'; }
wait_for 15 "a recovery observed" recovered
# The pipeline's series: without the Build CRD the first Intent holds the only slot and the
# second waits past its 1 s SLA. Then, with the Build CRD and the operator restarted (the Build
# wing starts when the CRD is served), a Build that cannot run (generate without an image)
# ends at once, counted with its duration. /metrics is the two scrapes.
k apply -f - >/dev/null <<'YAML'
apiVersion: phoenix.fpai.io/v1alpha1
kind: GovernancePolicy
metadata: {name: default}
spec: {mode: autonomous, maxConcurrentPipelines: 1, sla: {critical: 1s}}
YAML
for n in one two; do intent_apply "$n" "svc-$n" 2 critical; done
series() { # FAMILY...: each has a # TYPE line (a labelled family shows once it has a series)
	local m f
	m=$(curl -sf "http://127.0.0.1:$mport/metrics")
	for f in "$@"; do grep -q "^# TYPE $f " <<<"$m" || { echo "no $f yet"; return 1; }; done
}
wait_for 15 "the Intents' series" series phoenix_intents phoenix_intent_queue_depth phoenix_intent_sla_breaches_total
curl -sf "http://127.0.0.1:$mport/metrics" >"$E2E_TMP/metrics.txt"
phx_stop_pid "$PHX_CTL_PID"
k apply -f "$PHX_ROOT/manifests/crds/phoenix.fpai.io_builds.yaml" >/dev/null
wait_for 10 "Build API served" k get builds
phx_start_controller ctl2 --metrics-bind-address "127.0.0.1:$mport" --leader-elect --leader-election-namespace default
k apply -f - >/dev/null <<'YAML'
apiVersion: phoenix.fpai.io/v1alpha1
kind: Build
metadata: {name: cannot-run}
spec: {serviceName: cannot-run, generate: {}}
YAML
wait_for 30 "the Builds' series" series phoenix_builds_total phoenix_build_duration_seconds
# A Build held at the Deploy gate (a prebuilt image, approvalMode final) is counted in
# phoenix_build_approvals_waiting of its namespace, and no longer once an Approval lets it on.
k apply -f - >/dev/null <<YAML
apiVersion: phoenix.fpai.io/v1alpha1
kind: Build
metadata: {name: held}
spec: {serviceName: held, approvalMode: final, image: {name: 'registry.local/team/held@sha256:$(printf 'b%.0s' $(seq 64))'}}
YAML
# (Intent one's Build waits at that gate too: the gauge must equal what the API server says.)
awaiting() { k get builds -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | grep -cx AwaitingApproval || true; }
gauge_is() { curl -sf "http://127.0.0.1:$mport/metrics" | grep -qx "phoenix_build_approvals_waiting{namespace=\"default\"} $1"; }
wait_for 30 "Build held at the Deploy gate" bash -c "[ \"\$(kubectl --kubeconfig '$KUBECONFIG' --cache-dir '$KUBECACHEDIR' get build held -o jsonpath='{.status.phase}')\" = AwaitingApproval ]"
n1=$(awaiting)
wait_for 30 "phoenix_build_approvals_waiting = $n1 Builds AwaitingApproval" gauge_is "$n1"
curl -sf "http://127.0.0.1:$mport/metrics" >>"$E2E_TMP/metrics.txt"
k apply -f - >/dev/null <<'YAML'
apiVersion: phoenix.fpai.io/v1alpha1
kind: Approval
metadata: {name: held-deploy}
spec: {targetRef: {kind: Build, name: held}, gate: Deploy, decision: Approve, reason: ok, approver: alice}
YAML
wait_for 30 "Build held past the Deploy gate" bash -c "[ \"\$(kubectl --kubeconfig '$KUBECONFIG' --cache-dir '$KUBECACHEDIR' get build held -o jsonpath='{.status.phase}')\" != AwaitingApproval ]"
expect_eq $((n1 - 1)) "$(awaiting)" "one Build fewer waits"
wait_for 30 "phoenix_build_approvals_waiting = $((n1 - 1)) once held is approved" gauge_is $((n1 - 1))
pass "phoenix_build_approvals_waiting{namespace}: $n1 while Build held (and the Intent's Build) wait at the Deploy gate, one fewer once held is approved"

python3 - "$E2E_TMP/exprs.json" "$E2E_TMP/metrics.txt" <<'PY' || fail "a query names a metric the operator does not export"
import json, re, sys, time
exprs = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
families = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
exported = set()
for name, typ in families.items():
    exported.add(name)
    if typ == "histogram":
        exported |= {name + "_bucket", name + "_sum", name + "_count"}
# Made by Prometheus itself, not by the target.
synthetic = {"up"}
keywords = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "inf", "nan"}
def names(e):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', e)  # strings
    e = re.sub(r"\{[^}]*\}", "", e)              # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)             # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    e = re.sub(r"\$\w+", "", e)                  # Grafana variables
    out = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", e):
        if m.group(2) or m.group(1) in keywords:
            continue
        out.add(m.group(1))
    return out
wanted = set().union(*(names(e) for e in exprs))
missing = sorted(n for n in wanted if n not in exported and n not in synthetic)
print(f"queries name {len(wanted)} metrics: {' '.join(sorted(wanted))}")
if missing:
    print("not exported: " + ", ".join(missing), file=sys.stderr)
    sys.exit(1)
def value(name):
    m = re.search(r"^" + re.escape(name) + r"(\{[^}]*\})? (\S+)$", text, re.M)
    assert m, f"{name} missing"
    return float(m.group(2))
assert value("process_resident_memory_bytes") > 1 << 20, "RSS below 1 MiB?"
assert abs(value("process_start_time_seconds") - time.time()) < 3600, "start time not now-ish"
assert value("process_cpu_seconds_total") > 0, "no CPU time"
assert 3 <= value("process_open_fds") <= value("process_max_fds"), "open fds"
assert re.search(r'^phoenix_build_info\{version="[^"]+",revision="[^"]+"\} 1$', text, re.M), "build_info"
PY
pass "every metric the Grafana dashboard and the alerts name is exported; process_* and phoenix_build_info are sane"

# --- 3. a live scrape with the chart's ServiceMonitor credentials ----------------------------
# With metrics.auth the operator runs with --metrics-auth: a scrape with the credentials the
# rendered ServiceMonitor names (Prometheus's service account token, or the named Secret's key)
# and the chart's -metrics-reader ClusterRole bound to their owner gets 200; without a token
# 401; a token whose owner is not bound 403.
source "$(dirname "$0")/dash_helpers.sh"
if e2e_backend_is_kubesim; then
	phx_stop_pid "$PHX_CTL_PID"
	phx_start_controller ctl3 --metrics-bind-address "127.0.0.1:$mport" --metrics-auth
	M="http://127.0.0.1:$mport/metrics"
	wait_for 10 "metrics with auth served" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $M)\" = 401 ]"
	# The chart's ClusterRole as rendered, bound as values.yaml says.
	python3 - "$E2E_TMP/sm-auth.yaml" >"$E2E_TMP/metrics-reader.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
cr = [d for d in docs if d["kind"] == "ClusterRole" and d["metadata"]["name"].endswith("-metrics-reader")]
assert len(cr) == 1, "the chart renders no -metrics-reader ClusterRole with metrics.auth"
print(yaml.safe_dump(cr[0]))
PY
	k apply -f "$E2E_TMP/metrics-reader.yaml" >/dev/null
	reader=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["metadata"]["name"])' "$E2E_TMP/metrics-reader.yaml")
	k create namespace monitoring >/dev/null
	k create namespace phoenix-system >/dev/null
	k apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: prometheus-scrape}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: $reader}
subjects:
- {kind: ServiceAccount, name: prometheus, namespace: monitoring}
- {kind: ServiceAccount, name: scraper, namespace: monitoring}
YAML
	# bearerTokenFile: Prometheus's own service account token.
	prom=$(token_for monitoring prometheus)
	# authorization.credentials: the Secret and key the ServiceMonitor names, in its namespace.
	read -r sname skey <<<"$(python3 - "$E2E_TMP/sm-secret.yaml" <<'PY'
import sys, yaml
sm = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "ServiceMonitor"][0]
c = sm["spec"]["endpoints"][0]["authorization"]["credentials"]
print(c["name"], c["key"])
PY
)"
	k -n phoenix-system apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Secret
metadata: {name: $sname}
stringData: {$skey: "$(token_for monitoring scraper)"}
YAML
	secret_tok=$(k -n phoenix-system get secret "$sname" -o jsonpath="{.data.$skey}" | base64 -d)
	other=$(token_for monitoring grafana)
	expect_eq 200 "$(code -H "Authorization: Bearer $prom" "$M")" "scrape with Prometheus's service account token (bearerTokenFile)"
	expect_eq 200 "$(code -H "Authorization: Bearer $secret_tok" "$M")" "scrape with the Secret's token (authorization.credentials)"
	expect_contains "$(curl -sf -H "Authorization: Bearer $prom" "$M")" "# TYPE phoenix_build_info gauge" "the scrape is the metrics"
	expect_eq 401 "$(code "$M")" "scrape without a token"
	expect_eq 401 "$(code -H 'Authorization: Bearer not-a-token' "$M")" "scrape with a token the TokenReview refuses"
	expect_eq 403 "$(code -H "Authorization: Bearer $other" "$M")" "scrape by a service account without the -metrics-reader binding"
	pass "live scrape with --metrics-auth: the ServiceMonitor's credentials (token file or Secret) 200, no token 401, unbound 403"
else
	echo "SKIP: the live scrape with auth needs kubesim's service-account tokens"
fi
