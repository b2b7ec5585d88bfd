#!/usr/bin/env bash
# Intent benchmark on kubesim (not a test: prints numbers).
#   bench/intent_queue_bench.sh [INTENTS=10000] [CAP=10]
# With an autonomous policy and maxConcurrentPipelines CAP (CAP slot holders whose Builds cannot
# be created: no Build CRD), creates INTENTS auto-approved Intents one after the other and reports
# the time from create to status.governance (p50/p99), the time until every one is queued, the
# API writes of one admission (a holder cancelled: the next admitted, positions shifted), and
# the operator's RSS per cached Intent.
set -euo pipefail
PHX_ROOT=${PHX_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
source "$PHX_ROOT/tests/e2e/lib.sh"
source "$PHX_ROOT/tests/e2e/phx_helpers.sh"
source "$PHX_ROOT/tests/e2e/intent_helpers.sh"
N=${1:-10000}
CAP=${2:-10}

sim_start
intent_install_crds
intent_policy autonomous "  maxConcurrentPipelines: $CAP"
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
phx_start_controller ctl --metrics-bind-address "127.0.0.1:$mport"
pid=$PHX_CTL_PID
wait_for 10 "metrics up" curl -sf "http://127.0.0.1:$mport/metrics"
for ((h = 0; h < CAP; h++)); do intent_apply "holder$h" "holder$h" 2 critical; done
for ((h = 0; h < CAP; h++)); do intent_wait_cond "holder$h" BuildSucceeded BuildCRDMissing reason; done

python3 - "$SIM_URL" "${SIM_TOKEN:-}" "${SIM_CA:-}" "$N" "$pid" "$mport" "$CAP" "$INTENT_PURPOSE" "$INTENT_F1" "$INTENT_F2" "$INTENT_F3" <<'PY'
import json, os, ssl, subprocess, sys, time, threading, urllib.request
url, token, ca, n, pid, mport, cap = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6], int(sys.argv[7])
purpose, feats = sys.argv[8], sys.argv[9:12]
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
def writes_by():
    t = {}
    with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=10) as r:
        for l in r.read().decode().splitlines():
            if l.startswith("kube_client_requests_total{") and any(f'verb="{v}"' in l for v in ("create", "patch", "update", "delete")) and 'resource="events"' not in l:
                lab = dict(kv.split("=", 1) for kv in l[l.index("{") + 1:l.index("}")].split(","))
                k = lab.get("verb", "?").strip('"') + " " + lab.get("resource", "?").strip('"')
                t[k] = t.get(k, 0) + float(l.rsplit(" ", 1)[1])
    return t
def writes():
    return sum(writes_by().values())
def malloc_stats():
    # Diagnosis (PHX_BENCH_TRIM): glibc's per-arena "system" and "in use" bytes, printed on the
    # operator's stderr (its log); read back by the shell after the run.
    if os.environ.get("PHX_BENCH_TRIM"):
        subprocess.run(["gdb", "-p", pid, "-batch", "-ex", "call (void)malloc_stats()"], capture_output=True, timeout=120)
malloc_stats()
rss0 = rss_kib()
created, seen, queued = {}, {}, set()
# A watch, not polling lists: a list of 10,000 Intents takes longer than the latencies measured.
rv0 = req("GET", base + "?limit=1")["metadata"]["resourceVersion"]
def watch():
    r = urllib.request.Request(url + base + "?watch=1&resourceVersion=" + rv0)
    if token:
        r.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(r, context=ctx, timeout=3600) as resp:
        for line in resp:
            o = json.loads(line).get("object", {})
            nm, st = o.get("metadata", {}).get("name"), o.get("status", {})
            if nm not in created:
                continue
            if nm not in seen and "governance" in st:
                seen[nm] = time.monotonic()
            if any(c["type"] == "Queued" and c["status"] == "True" for c in st.get("conditions", [])):
                queued.add(nm)
th = threading.Thread(target=watch, daemon=True); th.start()
prio = ["critical", "high", "medium", "low"]
t_start = time.monotonic()
for i in range(n):
    nm = f"i{i:05d}"
    body = {"apiVersion": "phoenix.fpai.io/v1alpha1", "kind": "Intent", "metadata": {"name": nm},
            "spec": {"serviceName": f"svc-{nm}", "tier": 2, "priority": prio[i % 4], "purpose": purpose, "keyFeatures": feats}}
    created[nm] = time.monotonic()
    req("POST", base, json.dumps(body).encode())
t_created = time.monotonic() - t_start
# all evaluated and queued (Queued condition written)
while (len(seen) < n or len(queued) < n) and time.monotonic() - t_start < 1800:
    time.sleep(0.05)
t_all = time.monotonic() - t_start
lat = sorted((seen[k] - created[k]) * 1000 for k in seen)
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
def qdepth():
    with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=10) as r:
        for l in r.read().decode().splitlines():
            if l.startswith('workqueue_depth{name="intent"}'):
                return float(l.rsplit(" ", 1)[1])
    return 0
def quiet():
    # until the Intent workqueue is empty and the operator has made no write for 2 s (the
    # backlog of position updates and of the reconciles their own events bring is done)
    last, since = writes(), time.monotonic()
    t0 = since
    while (time.monotonic() - since < 2 or qdepth() > 0) and time.monotonic() - t0 < 900:
        time.sleep(0.2)
        w = writes()
        if w != last:
            last, since = w, time.monotonic()
    return last
t_q = time.monotonic()
w0 = quiet()
wb0 = writes_by()
t_quiet = time.monotonic() - t_start - 2
rss1 = rss_kib()
req("PATCH", base + "/holder0", json.dumps({"spec": {"state": "Cancelled"}}).encode(), "application/merge-patch+json")
def admitted_first():
    it = req("GET", base + "/i00000")
    return any(c["type"] == "Queued" and c["reason"] == "Admitted" for c in it.get("status", {}).get("conditions", []))
t0 = time.monotonic()
while not admitted_first() and time.monotonic() - t0 < 60:
    time.sleep(0.01)
t_admit = (time.monotonic() - t0) * 1000
w1 = quiet()
wb1 = writes_by()
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
print(f"intents: {n} (+{cap} slot holders), cap {cap}")
print(f"one at a time, {n} cached: create -> status.governance p50 {one[len(one) // 2]:.0f} ms, max {one[-1]:.0f} ms (20 Intents)")
print(f"burst of {n} creates: create -> status.governance p50 {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms (poll every 20 ms)")
print(f"{n} creates sent in {t_created:.1f} s; all {n} evaluated ({len(seen)}) and queued ({len(queued)}) in {t_all:.1f} s; every position written and the workqueue empty after {t_quiet:.1f} s")
print(f"cancel holder -> next admitted (status seen): {t_admit:.0f} ms")
print(f"API writes for that admission (not Events): {w1 - w0:.0f} (" + ", ".join(f"{k} {wb1[k] - wb0.get(k, 0):.0f}" for k in sorted(wb1) if wb1[k] != wb0.get(k, 0)) + ")")
print(f"operator RSS: {rss0} KiB before, {rss1} KiB with {n} Intents cached: {(rss1 - rss0) / n:.1f} KiB per Intent")
if os.environ.get("PHX_BENCH_TRIM"):
    # Diagnosis: what malloc keeps as free pages (a malloc_trim(0) in the live operator).
    malloc_stats()
    subprocess.run(["gdb", "-p", pid, "-batch", "-ex", "call (int)malloc_trim(0)"], capture_output=True, timeout=120)
    rss2 = rss_kib()
    print(f"after malloc_trim(0): {rss2} KiB: {(rss2 - rss0) / n:.2f} KiB per Intent")
PY
if [ -n "${PHX_BENCH_TRIM:-}" ]; then
	echo "malloc_stats (total of all arenas), before the Intents and with them cached:"
	grep -A2 '^Total (incl. mmap):' "$E2E_TMP/ctl.log" || true
fi
intent_stop_check ctl
