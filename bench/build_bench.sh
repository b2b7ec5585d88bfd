#!/usr/bin/env bash
# Build benchmark on kubesim (not a test: prints numbers).
#   bench/build_bench.sh [BUILDS=100]
# 1. BUILDS Builds with a prebuilt image (approvalMode auto) applied at once: time from create to
#    Succeeded (PhoenixService Available and registered), p50/p99, and the total.
# 2. BUILDS source Builds whose steps are instant (kubesim's scripted Job outcomes): the
#    controller's delay from the attempt seen finished (its pod Succeeded, or the Job Complete,
#    whichever first) to the PhoenixService it deploys seen, p50/p99 (all seen by one poller
#    that lists pods, Jobs and PhoenixServices every 20 ms plus the time the lists take).
# 3. The operator's peak RSS (VmHWM).
# 4. BUILDS auto-approved Intents with a prebuilt image: Intent created -> PhoenixService
#    Available (and -> Intent Ready), p50/p99, and API writes per Intent: bench/intent_pipeline_bench.sh
#    on a kubesim and operator of its own (run after parts 1-3 are torn down).
set -euo pipefail
PHX_ROOT=${PHX_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
PHX_BIN=${PHX_BIN:-$PHX_ROOT/build/bin}
source "$PHX_ROOT/tests/e2e/lib.sh"
source "$PHX_ROOT/tests/e2e/phx_helpers.sh"
source "$PHX_ROOT/tests/e2e/build_helpers.sh"
N=${1:-100}

sim_start --nodes 20 --pod-ready-delay-ms 100 --history 200000
build_install_crds
phx_start_controller ctl --kube-api-qps 200 --kube-api-burst 400
pid=$PHX_CTL_PID
wait_for 10 "controller up" kill -0 "$pid"
sim_control -X POST "$SIM_URL/sim/v1/jobs/script" -d '{"namespace":"default","default":{"exitCode":0,"durationMs":0}}' >/dev/null

python3 - "$SIM_URL" "${SIM_TOKEN:-}" "${SIM_CA:-}" "$N" "$pid" <<'PY'
import json, ssl, sys, time, urllib.request
from concurrent.futures import ThreadPoolExecutor
url, token, ca, n, pid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
ctx = ssl.create_default_context(cafile=ca) if url.startswith("https") and ca else None
def req(method, path, body=None):
    r = urllib.request.Request(url + path, method=method, data=body)
    if token:
        r.add_header("Authorization", "Bearer " + token)
    r.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(r, context=ctx, timeout=60) as resp:
        return json.loads(resp.read() or b"{}")
base = "/apis/phoenix.fpai.io/v1alpha1/namespaces/default/"
img = "registry.local/bench/svc@sha256:" + "c" * 64
def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
def succeeded(b):
    for c in b.get("status", {}).get("conditions", []):
        if c["type"] == "Succeeded" and c["status"] == "True":
            return True
    return False

# 1. prebuilt images
created = {}
def create(i):
    name = f"pre-{i}"
    body = {"apiVersion": "phoenix.fpai.io/v1alpha1", "kind": "Build", "metadata": {"name": name},
            "spec": {"serviceName": name, "image": {"name": img}, "deploy": {"standbys": 1}}}
    created[name] = time.monotonic()
    req("POST", base + "builds", json.dumps(body).encode())
t0 = time.monotonic()
with ThreadPoolExecutor(16) as ex:
    list(ex.map(create, range(n)))
done = {}
while len(done) < n and time.monotonic() - t0 < 600:
    for b in req("GET", base + "builds")["items"]:
        nm = b["metadata"]["name"]
        if nm.startswith("pre-") and nm not in done and succeeded(b):
            done[nm] = time.monotonic()
    time.sleep(0.02)
lat = [done[k] - created[k] for k in done]
print(f"prebuilt: {len(done)}/{n} Succeeded (Available, registered) in {max(done.values()) - t0:.2f} s; "
      f"create->Succeeded p50 {pct(lat, 50) * 1000:.0f} ms, p99 {pct(lat, 99) * 1000:.0f} ms")

# 2. Job complete -> PhoenixService written
def create_src(i):
    name = f"src-{i}"
    body = {"apiVersion": "phoenix.fpai.io/v1alpha1", "kind": "Build", "metadata": {"name": name},
            "spec": {"serviceName": name, "source": {"git": {"url": "file:///srv/" + name}},
                     "image": {"name": "registry.local/bench/" + name}, "deploy": {"standbys": 1}}}
    req("POST", base + "builds", json.dumps(body).encode())
with ThreadPoolExecutor(16) as ex:
    list(ex.map(create_src, range(n)))
job_done, ps_seen = {}, {}
t1 = time.monotonic()
while len(ps_seen) < n and time.monotonic() - t1 < 600:
    now = time.monotonic()
    for j in req("GET", "/apis/batch/v1/namespaces/default/jobs?labelSelector=phoenix.fpai.io/build")["items"]:
        b = j["metadata"]["labels"].get("phoenix.fpai.io/build", "")
        if b.startswith("src-") and b not in job_done and any(
                c["type"] == "Complete" and c["status"] == "True" for c in j.get("status", {}).get("conditions", [])):
            job_done[b] = now
    for p in req("GET", "/api/v1/namespaces/default/pods?labelSelector=phoenix.fpai.io/build")["items"]:
        b = p["metadata"]["labels"].get("phoenix.fpai.io/build", "")
        if b.startswith("src-") and b not in job_done and p.get("status", {}).get("phase") == "Succeeded":
            job_done[b] = now
    for p in req("GET", base + "phoenixservices")["items"]:
        nm = p["metadata"]["name"]
        if nm.startswith("src-") and nm not in ps_seen:
            ps_seen[nm] = now
    time.sleep(0.02)
d = [ps_seen[k] - job_done[k] for k in ps_seen if k in job_done]
print(f"source (instant steps): {len(ps_seen)}/{n} deployed in {time.monotonic() - t1:.2f} s; "
      f"attempt finished (pod Succeeded or Job Complete, first seen) -> PhoenixService written p50 {pct(d, 50) * 1000:.0f} ms, p99 {pct(d, 99) * 1000:.0f} ms "
      f"(poller period 20 ms)")
for line in open(f"/proc/{pid}/status"):
    if line.startswith("VmHWM"):
        print(f"operator peak RSS {int(line.split()[1]) / 1024:.1f} MiB with {2 * n} Builds, {2 * n} PhoenixServices, {n} Jobs")
PY

phx_stop_pid "$pid"
sim_stop
echo "--- 4. Intent pipeline (bench/intent_pipeline_bench.sh $N)"
"$PHX_ROOT/bench/intent_pipeline_bench.sh" "$N"
