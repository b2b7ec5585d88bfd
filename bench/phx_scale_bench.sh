#!/usr/bin/env bash
# Scale benchmark on kubesim (not a test: prints numbers).
#   bench/phx_scale_bench.sh [SERVICES=1000] [extra controller flags...]
# Creates SERVICES PhoenixServices (3 pods each), measures the time until every one is Healthy
# (3/3), the controller's peak RSS (VmHWM) and its CPU use while idle afterwards.
set -euo pipefail
PHX_ROOT=${PHX_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
source "$PHX_ROOT/tests/e2e/lib.sh"
source "$PHX_ROOT/tests/e2e/phx_helpers.sh"
N=${1:-1000}
shift || true
IDLE_S=${PHX_IDLE_SECONDS:-10}

sim_start --nodes 30 --pod-ready-delay-ms 100 --history 200000
phx_install_crd
phx_start_controller ctl "$@"
pid=$PHX_CTL_PID
wait_for 10 "controller up" kill -0 "$pid"

python3 - "$SIM_URL" "${SIM_TOKEN:-}" "${SIM_CA:-}" "$N" "$pid" "$IDLE_S" <<'PY'
import json, ssl, sys, time, urllib.request
from concurrent.futures import ThreadPoolExecutor
url, token, ca, n, pid, idle_s = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
ctx = ssl.create_default_context(cafile=ca) if url.startswith("https") and ca else None
def req(method, path, body=None):
    r = urllib.request.Request(url + path, method=method, data=body)
    if token:
        r.add_header("Authorization", "Bearer " + token)
    r.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(r, context=ctx, timeout=60) as resp:
        return json.loads(resp.read() or b"{}")
def proc(field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1])
def cpu_ticks():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])
base = "/apis/phoenix.fpai.io/v1alpha1/namespaces/default/phoenixservices"
def create(i):
    obj = {"apiVersion": "phoenix.fpai.io/v1alpha1", "kind": "PhoenixService",
           "metadata": {"name": f"svc-{i:04d}"},
           "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:1",
                    "ports": [{"containerPort": 8080}],
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}}}
    req("POST", base, json.dumps(obj).encode())
t0 = time.time()
with ThreadPoolExecutor(8) as ex:
    list(ex.map(create, range(n)))
t_created = time.time() - t0
healthy = 0
while True:
    items = req("GET", base)["items"]
    healthy = sum(1 for o in items if o.get("status", {}).get("phase") == "Healthy"
                  and o["status"].get("readyDisplay") == "3/3")
    if healthy == n:
        break
    if time.time() - t0 > 900:
        sys.exit(f"only {healthy}/{n} Healthy after 900 s")
    time.sleep(0.5)
t_conv = time.time() - t0
pods = len(req("GET", "/api/v1/namespaces/default/pods")["items"])
rss_now = proc("VmRSS:")
hz = 100
c0, w0 = cpu_ticks(), time.time()
time.sleep(idle_s)
c1, w1 = cpu_ticks(), time.time()
print(f"services: {n} created in {t_created:.1f} s; all Healthy 3/3 after {t_conv:.1f} s ({pods} pods)")
print(f"controller peak RSS (VmHWM): {proc('VmHWM:') / 1024:.1f} MiB; RSS now {rss_now / 1024:.1f} MiB")
print(f"controller CPU while idle: {100.0 * (c1 - c0) / hz / (w1 - w0):.2f} % of one core over {w1 - w0:.0f} s")
PY
