#!/usr/bin/env bash
# Intent pipeline benchmark on kubesim (not a test: prints numbers); part 4 of build_bench.sh.
#   bench/intent_pipeline_bench.sh [INTENTS=100] [CAP=INTENTS] [controller flags...]
#   (without flags the operator runs at --kube-api-qps 200 --kube-api-burst 400, as in build_bench.sh)
# A GovernancePolicy `default` in mode aggressive (tier 2 auto-approved) with
# maxConcurrentPipelines CAP (the CRD's default is 3; CAP=INTENTS measures the pipeline, not the
# queue). INTENTS Intents (tier 2, a prebuilt image by digest, approvalMode auto, each its own
# serviceName and port) are created at once from 8 threads; each goes Intent -> approved -> SPEC
# -> Build -> verify Job (kubesim, no --run-pods: scripted to exit 0 after 0 ms) -> PhoenixService
# Available -> Build Succeeded -> Intent Ready. Reports, seen from watches of PhoenixServices and
# Intents (event receipt time, no polling):
# - the Intent's create (client time just before its POST) -> its PhoenixService Available, and
#   -> the Intent Ready, p50/p99, and the total from the first create;
# - API writes per Intent: kubesim's count of POST/PUT/PATCH/DELETE once quiet (no write for 2 s;
#   Events included, the bench's creates taken out), and the operator's kube_client_requests_total
#   by verb and resource.
set -euo pipefail
PHX_ROOT=${PHX_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
PHX_BIN=${PHX_BIN:-$PHX_ROOT/build/bin}
source "$PHX_ROOT/tests/e2e/lib.sh"
source "$PHX_ROOT/tests/e2e/phx_helpers.sh"
source "$PHX_ROOT/tests/e2e/intent_helpers.sh"
source "$PHX_ROOT/tests/e2e/build_helpers.sh"
N=${1:-100}
CAP=${2:-$N}
shift 2 || shift $#
[ $# -gt 0 ] || set -- --kube-api-qps 200 --kube-api-burst 400

sim_start --nodes 20 --pod-ready-delay-ms 100 --history 200000
intent_install_crds
build_install_crds
intent_policy aggressive "  maxConcurrentPipelines: $CAP"
sim_control -X POST "$SIM_URL/sim/v1/jobs/script" -d '{"namespace":"default","default":{"exitCode":0,"durationMs":0}}' >/dev/null
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
phx_start_controller ctl --metrics-bind-address "127.0.0.1:$mport" "$@"
pid=$PHX_CTL_PID
wait_for 10 "metrics up" curl -sf "http://127.0.0.1:$mport/metrics"

export PHX_BENCH_LIB="$PHX_ROOT/bench"
python3 - "$SIM_URL" "${SIM_TOKEN:-}" "${SIM_CA:-}" "$N" "$pid" "$mport" "$CAP" \
	"$INTENT_PURPOSE" "$INTENT_F1" "$INTENT_F2" "$INTENT_F3" <<'PY'
import os, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
sys.path.insert(0, os.environ["PHX_BENCH_LIB"])
from phx_bench_lib import *
url, token, ca, n, pid, mport, cap = (sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]),
                                      int(sys.argv[5]), sys.argv[6], int(sys.argv[7]))
purpose, feats = sys.argv[8], sys.argv[9:12]
api = Api(url, token, ca)
api.warm()
murl = f"http://127.0.0.1:{mport}"
base = "/apis/phoenix.fpai.io/v1alpha1/namespaces/default/"
img = "registry.local/bench/intent@sha256:" + "d" * 64
def cond(o, t):
    return any(c.get("type") == t and c.get("status") == "True"
               for c in o.get("status", {}).get("conditions", []))
available, ready = {}, {}
def on_ps(w, now):
    for name, o in w.objs.items():
        if name not in available and cond(o, "Available"):
            available[name] = now
def on_intent(w, now):
    for name, o in w.objs.items():
        if name not in ready and o.get("status", {}).get("phase") == "Ready" and cond(o, "Ready"):
            ready[name] = now
wp, wi = Watch(api, base + "phoenixservices", on_ps), Watch(api, base + "intents", on_intent)
for w in (wp, wi):
    w.start()
    w.wait(lambda objs: True, 10)
conn = ThreadConns(api)
created = {}
def create(i):
    nm = f"in-{i:03d}"
    body = {"apiVersion": "phoenix.fpai.io/v1alpha1", "kind": "Intent", "metadata": {"name": nm},
            "spec": {"serviceName": f"isvc-{i:03d}", "serviceType": "domain", "tier": 2,
                     "priority": "high", "purpose": purpose, "keyFeatures": feats,
                     "image": img, "port": 8000 + i, "approvalMode": "auto"}}
    created[nm] = time.time()
    conn().req("POST", base + "intents", body)
with ThreadPoolExecutor(8) as ex:  # connections opened before the clock starts
    list(ex.map(lambda _: conn(), range(32)))
    w0, cw0 = sim_requests(api), client_writes(murl)
    t0 = time.time()
    list(ex.map(create, range(n)))
t_created = time.time() - t0
svc = {f"in-{i:03d}": f"isvc-{i:03d}" for i in range(n)}
if not wp.wait(lambda objs: all(s in available for s in svc.values()), 600):
    sys.exit(f"only {len(available)}/{n} PhoenixServices Available after 600 s")
if not wi.wait(lambda objs: all(i in ready for i in svc), 300):
    sys.exit(f"only {len(ready)}/{n} Intents Ready after 300 s")
lat_av = [available[svc[i]] - created[i] for i in svc]
lat_rd = [ready[i] - created[i] for i in svc]
q = quiesce(api)
w1 = sim_requests(api)
writes = sim_writes(w1) - sim_writes(w0) - n
cw = diff(client_writes(murl), cw0)
print(f"intents: {n} created in {t_created:.2f} s (8 threads), policy aggressive, maxConcurrentPipelines {cap}")
print(f"Intent created -> PhoenixService Available: p50 {pct(lat_av, 0.5) * 1000:.0f} ms, "
      f"p99 {pct(lat_av, 0.99) * 1000:.0f} ms; all {n} Available {max(available[s] for s in svc.values()) - t0:.2f} s after the first create")
print(f"Intent created -> Intent Ready: p50 {pct(lat_rd, 0.5) * 1000:.0f} ms, "
      f"p99 {pct(lat_rd, 0.99) * 1000:.0f} ms; all Ready {max(ready.values()) - t0:.2f} s after the first create")
print(f"API writes per Intent (kubesim's count once quiet, {q:.1f} s to quiesce; Events included, "
      f"the bench's creates excluded): {writes / n:.2f}; reads (GET, lists and watches) {(w1['GET'] - w0['GET']) / n:.2f}")
if cw:
    print("  by the operator's kube_client_requests_total: " +
          ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(cw.items(), key=lambda kv: -kv[1])))
def refused():  # writes the API server answered with an error, by "verb resource code"
    out = {}
    for line in Api(murl).req("GET", "/metrics").splitlines():
        if line.startswith("kube_client_requests_total{"):
            lab = dict(kv.split("=", 1) for kv in line[line.index("{") + 1:line.index("}")].split(","))
            verb, code = lab["verb"].strip('"'), lab["code"].strip('"')
            if verb in ("create", "update", "patch", "delete") and not code.startswith("2"):
                k = f"{verb} {lab['resource'].strip(chr(34))} {code}"
                out[k] = out.get(k, 0) + float(line.split()[-1])
    return out
def rl_wait():  # the client-side rate limiter's wait: (requests, seconds in all)
    c = t = 0.0
    for line in Api(murl).req("GET", "/metrics").splitlines():
        if line.startswith("kube_client_rate_limiter_wait_seconds_count"):
            c += float(line.split()[-1])
        elif line.startswith("kube_client_rate_limiter_wait_seconds_sum"):
            t += float(line.split()[-1])
    return c, t
rc, rt = rl_wait()
print(f"  client rate limiter (whole run): {rc:g} requests, {rt:.1f} s waited in all, {rt / max(rc, 1) * 1000:.0f} ms each on average")
rf = refused()
if rf:
    print("  of which refused by the API server (whole run): " + ", ".join(f"{k} x{v:g}" for k, v in sorted(rf.items())))
jobs = api.req("GET", "/apis/batch/v1/namespaces/default/jobs")["items"]
print(f"Jobs at the end: {len(jobs)} ({len({j['metadata']['name'] for j in jobs})} names) for {n} Builds")
print(f"operator peak RSS (VmHWM) {proc_kib(pid, 'VmHWM:') / 1024:.1f} MiB")
PY
