#!/usr/bin/env bash
# Intent benchmark on kubesim (not a test: prints numbers).
#   bench/intent_queue_bench.sh [INTENTS=500]
# With an autonomous policy and maxConcurrentPipelines 1 (a slot holder whose Build cannot be
# created: no Build CRD), creates INTENTS auto-approved Intents one after the other and reports
# the time from create to status.governance (p50/p99), the time until every one is queued, the
# API writes of one admission (the holder cancelled: the next admitted, positions shifted), and
# the operator's RSS per cached Intent.
set -euo pipefail
PHX_ROOT=${PHX_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
source "$PHX_ROOT/tests/e2e/lib.sh"
source "$PHX_ROOT/tests/e2e/phx_helpers.sh"
source "$PHX_ROOT/tests/e2e/intent_helpers.sh"
N=${1:-500}

sim_start
intent_install_crds
intent_policy autonomous "  maxConcurrentPipelines: 1"
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
phx_start_controller ctl --metrics-bind-address "127.0.0.1:$mport"
pid=$PHX_CTL_PID
wait_for 10 "metrics up" curl -sf "http://127.0.0.1:$mport/metrics"
intent_apply holder holder 2 critical
intent_wait_cond holder BuildSucceeded BuildCRDMissing reason

python3 - "$SIM_URL" "${SIM_TOKEN:-}" "${SIM_CA:-}" "$N" "$pid" "$mport" "$INTENT_PURPOSE" "$INTENT_F1" "$INTENT_F2" "$INTENT_F3" <<'PY'
import json, ssl, sys, time, threading, urllib.request
url, token, ca, n, pid, mport = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
purpose, feats = sys.argv[7], sys.argv[8:11]
ctx = ssl.create_default_context(cafile=ca) if url.startswith("https") and ca else None
base = "/apis/phoenix.fpai.io/v1alpha1/namespaces/default/intents"
def req(method, path, body=None, ctype="application/json"):
    r = urllib.request.Request(url + path, method=method, data=body)
    if token:
        r.add_header("Authorization", "Bearer " + token)
    r.add_header("Content-Type", ctype)
    with urllib.request.urlopen(r, context=ctx, timeout=60) as resp:
        return json.loads(resp.read() or b"{}")
def rss_kib():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])
def writes():
    t = 0
    with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=10) as r:
        for l in r.read().decode().splitlines():
            if l.startswith("kube_client_requests_total{") and any(f'verb="{v}"' in l for v in ("create", "patch", "update", "delete")) and 'resource="events"' not in l:
                t += float(l.rsplit(" ", 1)[1])
    return t
rss0 = rss_kib()
created, seen = {}, {}
stop = False
def poll():
    while not stop:
        for it in req("GET", base)["items"]:
            nm = it["metadata"]["name"]
            if nm in created and nm not in seen and "governance" in it.get("status", {}):
                seen[nm] = time.monotonic()
        time.sleep(0.02)
th = threading.Thread(target=poll); th.start()
prio = ["critical", "high", "medium", "low"]
t_start = time.monotonic()
for i in range(n):
    nm = f"i{i:05d}"
    body = {"apiVersion": "phoenix.fpai.io/v1alpha1", "kind": "Intent", "metadata": {"name": nm},
            "spec": {"serviceName": f"svc-{nm}", "tier": 2, "priority": prio[i % 4], "purpose": purpose, "keyFeatures": feats}}
    created[nm] = time.monotonic()
    req("POST", base, json.dumps(body).encode())
while len(seen) < n and time.monotonic() - t_start < 600:
    time.sleep(0.05)
# all queued (Queued condition written)
def queued():
    k = 0
    for it in req("GET", base)["items"]:
        for c in it.get("status", {}).get("conditions", []):
            if c["type"] == "Queued" and c["status"] == "True":
                k += 1
    return k
while queued() < n and time.monotonic() - t_start < 600:
    time.sleep(0.2)
t_all = time.monotonic() - t_start
stop = True; th.join()
lat = sorted((seen[k] - created[k]) * 1000 for k in seen)
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
def quiet():
    # until the operator has made no write for 2 s (the backlog of position updates is done)
    last, since = writes(), time.monotonic()
    while time.monotonic() - since < 2:
        time.sleep(0.2)
        w = writes()
        if w != last:
            last, since = w, time.monotonic()
    return last
t_q = time.monotonic()
w0 = quiet()
t_quiet = time.monotonic() - t_start - 2
rss1 = rss_kib()
req("PATCH", base + "/holder", json.dumps({"spec": {"state": "Cancelled"}}).encode(), "application/merge-patch+json")
def admitted_first():
    for it in req("GET", base)["items"]:
        if it["metadata"]["name"] == "i00000":
            for c in it.get("status", {}).get("conditions", []):
                if c["type"] == "Queued" and c["reason"] == "Admitted":
                    return True
    return False
t0 = time.monotonic()
while not admitted_first() and time.monotonic() - t0 < 60:
    time.sleep(0.01)
t_admit = (time.monotonic() - t0) * 1000
w1 = quiet()
# Idle operator: one Intent at a time (low priority: it shifts nobody), create -> governance.
one = []
for i in range(20):
    nm = f"solo{i:02d}"
    body = {"apiVersion": "phoenix.fpai.io/v1alpha1", "kind": "Intent", "metadata": {"name": nm},
            "spec": {"serviceName": f"svc-{nm}", "tier": 2, "priority": "low", "purpose": purpose, "keyFeatures": feats}}
    t0 = time.monotonic()
    req("POST", base, json.dumps(body).encode())
    while "governance" not in req("GET", base + "/" + nm).get("status", {}):
        time.sleep(0.005)
    one.append((time.monotonic() - t0) * 1000)
one.sort()
print(f"intents: {n} (+1 slot holder), cap 1")
print(f"one at a time, {n} cached: create -> status.governance p50 {one[len(one) // 2]:.0f} ms, max {one[-1]:.0f} ms (20 Intents)")
print(f"burst of {n} creates: create -> status.governance p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms (poll every 20 ms)")
print(f"all {n} created and queued in {t_all:.1f} s; every position written (no more writes) after {t_quiet:.1f} s")
print(f"cancel holder -> next admitted (status seen): {t_admit:.0f} ms")
print(f"API writes for that admission (not Events): {w1 - w0:.0f}")
print(f"operator RSS: {rss0} KiB before, {rss1} KiB with {n} Intents cached: {(rss1 - rss0) / n:.1f} KiB per Intent")
PY
intent_stop_check ctl
