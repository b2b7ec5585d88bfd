#!/usr/bin/env bash
# Scale benchmark on kubesim (not a test: prints numbers).
#   bench/phx_scale_bench.sh [SERVICES=1000] [extra controller flags...]
#   PHX_BIN=/dir/with/phoenix-controller+kubesim ...   another build (or controller)
#   bench/phx_scale_bench.sh [SERVICES] --compare   runs, back to back on the same kubesim:
#                               ours at defaults, ours at --kube-api-qps 1000 --kube-api-burst
#                               2000, and the python-kubernetes peer (bench/peers/), each with
#                               the 1-min load average printed
#   PHX_SIM_WRITE_QPS=100 ...   kubesim enforces a limit: POST/PUT/PATCH/DELETE beyond 100/s
#                               each (burst 100) get 429 + Retry-After: 1 (API Priority and
#                               Fairness as a client sees it); the 429s are reported
# Creates SERVICES PhoenixServices (3 pods each) from 8 threads on kept-alive connections and
# measures, from outside the operator:
# - convergence: the first create -> every one Healthy with 3/3 ready, detected from a watch of
#   the PhoenixServices (event receipt time; not by polling);
# - API writes per service created: kubesim's own count of POST/PUT/PATCH/DELETE (the bench's
#   creates taken out; Events included), and the operator's kube_client_requests_total;
# - the operator's CPU time until converged, peak RSS (VmHWM), and its idle CPU once the run
#   has quiesced (no API write for 2 s: Events flushed, timers done).
set -euo pipefail
PHX_ROOT=${PHX_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
source "$PHX_ROOT/tests/e2e/lib.sh"
source "$PHX_ROOT/tests/e2e/phx_helpers.sh"
N=${1:-1000}
shift || true
if [ "${1:-}" = --compare ]; then
	shift
	bin=${PHX_BIN:-$PHX_ROOT/build/bin}
	peer=$(mktemp -d)
	trap 'rm -rf "$peer"' EXIT
	ln -s "$(readlink -f "$bin/kubesim")" "$peer/kubesim"
	ln -s "$PHX_ROOT/bench/peers/python-kubernetes/phoenix-controller" "$peer/phoenix-controller"
	"$peer/phoenix-controller" --install-only # installs the client before any clock starts
	for run in "ours, defaults|$bin|" "ours, --kube-api-qps 1000 --kube-api-burst 2000|$bin|--kube-api-qps 1000 --kube-api-burst 2000" \
		"peer python-kubernetes|$peer|"; do
		IFS='|' read -r label dir flags <<<"$run"
		echo "=== $label ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1 /proc/loadavg))"
		# shellcheck disable=SC2086
		PHX_BIN=$dir "$0" "$N" $flags "$@"
	done
	exit 0
fi
IDLE_S=${PHX_IDLE_SECONDS:-10}

sim_start --nodes 30 --pod-ready-delay-ms 100 --history 200000
phx_install_crd
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
phx_start_controller ctl --metrics-bind-address "127.0.0.1:$port" "$@"
pid=$PHX_CTL_PID
wait_for 10 "controller up" kill -0 "$pid"
wait_for 30 "controller /metrics up" curl -sf -o /dev/null "http://127.0.0.1:$port/metrics"
if [ -n "${PHX_SIM_WRITE_QPS:-}" ]; then
	for m in POST PUT PATCH DELETE; do
		sim_control -X POST "$SIM_URL/sim/v1/faults/rate-limit" -d "{\"method\":\"$m\",\"path\":\"/api\",\"qps\":$PHX_SIM_WRITE_QPS,\"burst\":$PHX_SIM_WRITE_QPS,\"retryAfterSeconds\":1}" >/dev/null
	done
fi

export PHX_BENCH_LIB="$PHX_ROOT/bench"
python3 - "$SIM_URL" "${SIM_TOKEN:-}" "${SIM_CA:-}" "$N" "$pid" "$IDLE_S" "$port" <<'PY'
import json, os, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
sys.path.insert(0, os.environ["PHX_BENCH_LIB"])
from phx_bench_lib import *
url, token, ca, n, pid, idle_s, port = (sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]),
                                        int(sys.argv[5]), float(sys.argv[6]), sys.argv[7])
api = Api(url, token, ca)
api.warm()
murl = f"http://127.0.0.1:{port}"
base = "/apis/phoenix.fpai.io/v1alpha1/namespaces/default/phoenixservices"
healthy_at = {}
def healthy(o):
    st = o.get("status", {})
    return st.get("phase") == "Healthy" and st.get("readyDisplay") == "3/3"
def on_change(w, now):
    for name, o in w.objs.items():
        if name not in healthy_at and healthy(o):
            healthy_at[name] = now
w = Watch(api, base, on_change)
w.start()
w.wait(lambda objs: True, 10)
conn = ThreadConns(api)
def create(i):
    obj = {"apiVersion": "phoenix.fpai.io/v1alpha1", "kind": "PhoenixService",
           "metadata": {"name": f"svc-{i:04d}"},
           "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:1",
                    "ports": [{"containerPort": 8080}],
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}}}
    conn().req("POST", base, obj)
with ThreadPoolExecutor(8) as ex:  # connections opened before the clock starts
    list(ex.map(lambda _: conn(), range(64)))
    w0, cw0, cpu0 = sim_requests(api), client_writes(murl), proc_cpu_s(pid)
    t0 = time.time()
    list(ex.map(create, range(n)))
t_created = time.time() - t0
if not w.wait(lambda objs: len(healthy_at) >= n, 900):
    sys.exit(f"only {len(healthy_at)}/{n} Healthy after 900 s")
t_conv = max(healthy_at.values()) - t0
cpu_conv = proc_cpu_s(pid) - cpu0
rss_now = proc_kib(pid, "VmRSS:")
pods = len(api.req("GET", "/api/v1/namespaces/default/pods")["items"])
q = quiesce(api)
w1 = sim_requests(api)
writes = sim_writes(w1) - sim_writes(w0) - n
cw = diff(client_writes(murl), cw0)
idle = idle_cpu_pct(pid, idle_s)
rules = [r for r in api.req("GET", "/sim/v1/faults")["rules"] if r["type"] == "rate-limit"]
print(f"services: {n} created in {t_created:.1f} s; all Healthy 3/3 after {t_conv:.1f} s "
      f"(watched; {pods} pods)")
print(f"API writes per service created (kubesim's count, Events included, the bench's creates "
      f"excluded): {writes / n:.2f}; reads (GET, lists and watches) {(w1['GET'] - w0['GET']) / n:.2f}")
if cw:
    print("  by the operator's kube_client_requests_total: " +
          ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(cw.items(), key=lambda kv: -kv[1])))
if rules:
    print(f"server rate limit {rules[0]['qps']:g} writes/s per verb: "
          f"{sum(r['admitted'] for r in rules)} admitted, {sum(r['rejected'] for r in rules)} refused with 429")
print(f"controller CPU time until converged: {cpu_conv:.1f} s; peak RSS (VmHWM): "
      f"{proc_kib(pid, 'VmHWM:') / 1024:.1f} MiB; RSS at convergence {rss_now / 1024:.1f} MiB")
print(f"controller CPU while idle (after {q:.1f} s to quiesce: no API write for 2 s): "
      f"{idle:.2f} % of one core over {idle_s:.0f} s")
PY
