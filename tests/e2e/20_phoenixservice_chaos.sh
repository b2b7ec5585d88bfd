#!/usr/bin/env bash
# Chaos: 100 primary kills in a row at random intervals (deletes, crashes, OOM kills). Every kill
# is answered by a standby serving within 1 s, failovers are counted exactly, the service
# ends at 3/3 Healthy, and the Service never has an empty endpoint set. Kills come every 0-200 ms,
# faster than replacements start, so this also covers the degraded path: with no Ready standby
# left, the failed pod keeps serving until a replacement is Ready (phx_failover.c,
# ready_server_after_plan).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/phx_helpers.sh"

KILLS=${PHX_CHAOS_KILLS:-100}
require_kubesim "chaos faults come from kubesim's control API (/sim/v1)"
sim_start --pod-ready-delay-ms 50
phx_install_crd
phx_start_controller ctl
k apply -f "$PHX_ROOT/manifests/samples/minimal.yaml" >/dev/null
phx_wait_settled hello
phx_history_reset hello

# The kill loop runs in one Python process talking to the API directly: kubectl's start-up
# time would dominate otherwise.
start=$SECONDS
python3 - "$SIM_URL" "${SIM_TOKEN:-}" "${SIM_CA:-}" "$KILLS" "$E2E_TMP/lastpod" <<'PY' || { grep -E "$(cat "$E2E_TMP/lastpod" 2>/dev/null || echo none)" "$E2E_TMP/ctl.log" | tail -20; fail "chaos loop failed"; }
import json, random, ssl, sys, time, urllib.request
url, token, ca, kills = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.create_default_context(cafile=ca) if url.startswith("https") and ca else None
def req(method, path, body=None):
    r = urllib.request.Request(url + path, method=method, data=body)
    if token:
        r.add_header("Authorization", "Bearer " + token)
    r.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(r, context=ctx, timeout=10) as resp:
        return json.loads(resp.read() or b"{}")
sel = ("/api/v1/namespaces/default/pods?labelSelector=phoenix.fpai.io/service%3Dhello,"
       "phoenix.fpai.io/role%3Dprimary,phoenix.fpai.io/serving%3Dtrue")
def ready_primary():
    for p in req("GET", sel)["items"]:
        st = p.get("status", {})
        if p["metadata"].get("deletionTimestamp"):
            continue
        if any(c.get("restartCount", 0) for c in st.get("containerStatuses", [])):
            continue
        if any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions", [])):
            return p["metadata"]["name"]
    return None
random.seed(42)
last = None
for i in range(kills):
    deadline = time.time() + 10
    while True:
        p = ready_primary()
        if p and p != last:
            break
        if time.time() > deadline:
            sys.exit(f"kill {i + 1}: no new Ready primary within 10 s (last {last})")
        time.sleep(0.005)
    time.sleep(random.random() * 0.2)   # random interval 0..200 ms
    how = random.choice(["delete", "crash", "oom"])
    open(sys.argv[5], "w").write(p)
    try:
        if how == "delete":
            req("DELETE", f"/api/v1/namespaces/default/pods/{p}")
        else:
            req("POST", f"/sim/v1/pods/default/{p}/{how}", b"{}")
    except urllib.error.HTTPError as e:
        sys.exit(f"kill {i + 1} ({how} {p}) failed: {e}")
    last = p
PY
echo "$KILLS kills in $((SECONDS - start)) s"
wait_for 30 "failovers counted exactly" bash -c "[ \"\$(kubectl --kubeconfig $KUBECONFIG get phx hello -o jsonpath='{.status.failovers}')\" = $KILLS ]"
phx_wait_settled hello default 60
hist=$(phx_history hello)
python3 - "$hist" <<'PY'
import json, sys
h = json.loads(sys.argv[1]); s = h["stats"]; z = sorted(h.get("zeroDurationsMs", []))
p = lambda q: z[min(len(z) - 1, int(q * len(z)))] if z else 0
print(f"endpoint gaps: moments={s['zeroMoments']} max={s.get('zeroMaxMs', 0)} ms p50={p(0.5)} ms p99={p(0.99)} ms; max ready={s['maxReady']}")
PY
expect_eq 0 "$(phx_hist_stat "$hist" zeroMoments)" "empty-endpoint moments over $KILLS kills (longest $(phx_hist_zero_max "$hist") ms)"
expect_eq "$KILLS" "$(phx_get hello '{.status.failovers}')" "failovers"
pass "$KILLS random primary kills: each answered < 1 s, counted exactly, final 3/3 Healthy"
