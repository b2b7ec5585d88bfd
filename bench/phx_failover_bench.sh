#!/usr/bin/env bash
# Failover reaction and recovery benchmark on kubesim (not a test: prints numbers).
#   bench/phx_failover_bench.sh [FAILOVERS=200] [extra controller flags...]
#   PHX_E2E_BACKEND=real bench/phx_failover_bench.sh ...   the same on the upstream kube-apiserver
#   PHX_BIN=/dir/with/phoenix-controller+kubesim ...       another build (or controller)
# Everything is measured from outside the operator, back to back (the next failure is injected
# as soon as the previous failover has settled):
# - Reaction: the failure injected (bench clock, taken right before the request goes out on an
#   already open keep-alive connection: no TCP/TLS setup inside) -> the first kubesim endpoints
#   history commit with a standby in the Service's endpoints (kubesim's view, same machine
#   clock; history timestamps have 1 ms resolution, so reaction is good to ~1 ms).
# - Recovery: the failure -> 3 pods Ready again, one of them the new serving primary, seen in a
#   pod watch (event receipt time) with pods that start instantly (--pod-ready-delay-ms 0).
# - Settling is detected by watching the PhoenixService (failovers counted, Healthy), never by
#   polling it.
# - Writes per failover: kubesim's own count of API writes (POST/PUT/PATCH/DELETE, the bench's
#   own deletes taken out), and the operator's kube_client_requests_total by verb and resource.
# - The operator's CPU time over the run and peak RSS (VmHWM), and its idle CPU after the run
#   has quiesced (no API write for 2 s: Events flushed, timers done).
# Also the controller's own histogram (watch event -> serving label written) and empty-endpoint
# windows.
set -euo pipefail
PHX_ROOT=${PHX_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
source "$PHX_ROOT/tests/e2e/lib.sh"
source "$PHX_ROOT/tests/e2e/phx_helpers.sh"
N=${1:-200}
shift || true

sim_start --pod-ready-delay-ms 0
phx_install_crd
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
phx_start_controller ctl --metrics-bind-address "127.0.0.1:$port" "$@"
pid=$PHX_CTL_PID
k apply -f "$PHX_ROOT/manifests/samples/minimal.yaml" >/dev/null
phx_wait_settled hello

# PHX_E2E_BACKEND=real: the upstream kube-apiserver (hack/real-cluster.sh, kwok nodes). There
# is no /sim/v1 there: the failures are pod deletes and readiness status patches, and the
# endpoints are polled (every ~2 ms) instead of read from kubesim's history.
export PHX_BENCH_LIB="$PHX_ROOT/bench"
real_cert=""
e2e_backend_is_kubesim || real_cert="$E2E_TMP/real-admin"
python3 - "$SIM_URL" "${SIM_TOKEN:-}" "${SIM_CA:-}" "$N" "$port" "$real_cert" "$pid" "${PHX_IDLE_SECONDS:-10}" <<'PY'
import datetime, json, ssl, sys, time
sys.path.insert(0, __import__("os").environ["PHX_BENCH_LIB"])
from phx_bench_lib import *
url, token, ca, n, port, real = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
pid, idle_s = int(sys.argv[7]), float(sys.argv[8])
api = Api(url, token, ca)
if real:
    api.ctx.load_cert_chain(real + ".crt", real + ".key")
api.warm()
sim = not real
phx = "/apis/phoenix.fpai.io/v1alpha1/namespaces/default/phoenixservices"
svc_w = Watch(api, phx + "?fieldSelector=metadata.name%3Dhello")
recovered = {}
def pods_ready(objs, old):
    live = [o for o in objs.values() if not o["metadata"].get("deletionTimestamp")]
    ready = [o for o in live if any(c.get("type") == "Ready" and c.get("status") == "True"
                                    for c in o.get("status", {}).get("conditions") or [])]
    serving = [o for o in ready if o["metadata"].get("labels", {}).get("phoenix.fpai.io/serving") == "true"
               and o["metadata"]["name"] != old]
    return len(ready) == 3 and len(live) == 3 and len(serving) >= 1
def on_pods(w, now):
    a = recovered.get("armed")
    if a and "t" not in recovered and pods_ready(w.objs, a):
        recovered["t"] = now
pod_w = Watch(api, "/api/v1/namespaces/default/pods?labelSelector=phoenix.fpai.io%2Fservice%3Dhello", on_pods)
svc_w.start(); pod_w.start()
def status():
    v = svc_w.wait(lambda o: o.get("hello"), 20)
    return v.get("status", {})
def settled(want):
    def p(objs):
        st = objs.get("hello", {}).get("status", {})
        return (st.get("phase") == "Healthy" and st.get("failovers", 0) >= want
                and not st.get("failoverInProgress")) and st
    return p
def ts(s):
    return datetime.datetime.strptime(s.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
kinds = ["fail-readiness", "delete"] if real else ["fail-readiness", "delete", "crash", "oom"]
unready = json.dumps({"status": {"conditions": [{"type": "Ready", "status": "False"},
                                                {"type": "ContainersReady", "status": "False"}]}}).encode()
def endpoint_pods():
    ep = api.req("GET", "/api/v1/namespaces/default/endpoints/hello")
    return [a.get("targetRef", {}).get("name") for s in ep.get("subsets") or []
            for a in (s.get("addresses") or []) + (s.get("notReadyAddresses") or [])]
gaps, recov, served, extra = [], [], [], 0
own_deletes = 0
w0 = sim_writes(sim_requests(api)) if sim else 0
cw0 = client_writes(f"http://127.0.0.1:{port}")
cpu0, t0 = proc_cpu_s(pid), time.time()
def is_ready(o):
    return (not o["metadata"].get("deletionTimestamp") and
            any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in o.get("status", {}).get("conditions") or []))
def ready_primary():
    """The settled service's primary once the pod watch shows it Ready and serving (a status can
    name a pod the kubelet does not run yet)."""
    deadline = time.time() + 20
    while time.time() < deadline:
        st = dict(status())
        p = st.get("primary")
        ok = lambda objs: p in objs and is_ready(objs[p]) and \
            objs[p]["metadata"].get("labels", {}).get("phoenix.fpai.io/serving") == "true"
        if st.get("phase") == "Healthy" and not st.get("failoverInProgress") and \
                pod_w.wait(ok, 0.05):
            return st
    sys.exit(f"no Ready serving primary within 20 s: {status()}")
for i in range(n):
    st = ready_primary()
    primary, base = st["primary"], st.get("failovers", 0)
    if sim:
        api.req("POST", "/sim/v1/endpoints/default/hello/history/reset", b"{}")
    kind = kinds[i % len(kinds)]
    recovered.clear()
    recovered["armed"] = primary
    t_kill = time.time()
    if kind == "delete":
        api.req("DELETE", f"/api/v1/namespaces/default/pods/{primary}")
        own_deletes += 1
    elif real:
        api.req("PATCH", f"/api/v1/namespaces/default/pods/{primary}/status", unready,
                "application/strategic-merge-patch+json")
    else:
        api.req("POST", f"/sim/v1/pods/default/{primary}/{kind}", b"{}")
    seen, empty_since, gap = None, None, 0
    if real:  # no endpoints history: poll them (~2 ms) on the open connection
        deadline = time.time() + 20
        while seen is None and time.time() < deadline:
            pods, now = endpoint_pods(), time.time()
            if not pods:
                empty_since = empty_since or now
            elif empty_since:
                gap, empty_since = max(gap, (now - empty_since) * 1000), None
            if any(p != primary for p in pods):
                seen = (now - t_kill) * 1000
            time.sleep(0.002)
    st = svc_w.wait(settled(base + 1), 20)
    if not st:
        sys.exit(f"failover {i + 1} did not settle: {status()}")
    extra += st["failovers"] - base - 1
    if not pod_w.wait(lambda o: "t" in recovered, 20):
        sys.exit(f"failover {i + 1}: pods not 3/3 Ready with a new serving primary within 20 s")
    recov.append((recovered["t"] - t_kill) * 1000)
    if real:
        gaps.append(gap)
        served.append(seen)
        continue
    h = api.req("GET", "/sim/v1/endpoints/default/hello/history")
    s = h["stats"]
    gaps.append(s.get("zeroMaxMs", 0) if s.get("zeroMoments", 0) else 0)
    # first commit after the kill where a pod other than the failed primary is an endpoint
    for e in h["entries"]:
        t = ts(e["time"])
        if t >= t_kill - 0.001 and any(p != primary for p in e["ready"]):
            served.append(max(0.0, (t - t_kill) * 1000))
            break
elapsed = time.time() - t0
cpu_run = proc_cpu_s(pid) - cpu0
q = quiesce(api) if sim else 0.0
writes = (sim_writes(sim_requests(api)) - w0 - own_deletes) if sim else None
cw = diff(client_writes(f"http://127.0.0.1:{port}"), cw0)
idle = idle_cpu_pct(pid, idle_s)
metrics = Api(f"http://127.0.0.1:{port}").req("GET", "/metrics")
hist = {}
rsum = rcount = 0.0
for line in metrics.splitlines():
    if line.startswith("phoenix_failover_reaction_seconds_bucket"):
        le = line.split('le="')[1].split('"')[0]; hist[le] = float(line.split()[-1])
    if line.startswith("phoenix_failover_reaction_seconds_sum"):
        rsum = float(line.split()[-1])
    if line.startswith("phoenix_failover_reaction_seconds_count"):
        rcount = float(line.split()[-1])
def hq(q):
    total = hist.get("+Inf", 0)
    for le, c in hist.items():
        if c >= q * total:
            return le
print(f"backend: {'real kube-apiserver (endpoints polled)' if real else 'kubesim'}")
print(f"failovers: {n} ({', '.join(kinds)} in turn, back to back) in {elapsed:.1f} s"
      + (f"; {extra} extra failover(s) counted by the operator" if extra else ""))
print(f"reaction, endpoints (failure injected -> a standby in the Service's endpoints; 1 ms resolution): "
      f"p50 {pct(served, .5):.1f} ms, p99 {pct(served, .99):.1f} ms, max {max(served):.1f} ms "
      f"({len(served)} measured)")
print(f"empty-endpoint windows: {sum(1 for g in gaps if g)} of {n} failovers, max {max(gaps):.0f} ms"
      + "".join(f", {k}: {sum(1 for j, g in enumerate(gaps) if g and kinds[j % len(kinds)] == k)}"
                for k in kinds))
print(f"recovery (failure injected -> 3 pods Ready, a new one serving; pod watch): p50 {pct(recov, .5):.0f} ms, "
      f"p99 {pct(recov, .99):.0f} ms, max {max(recov):.0f} ms")
if rcount:
    print(f"reaction, controller's own histogram (watch event -> serving label written): mean {1000 * rsum / rcount:.2f} ms, "
          f"p50 <= {float(hq(.5)) * 1000:g} ms, p99 <= {float(hq(.99)) * 1000:g} ms")
if writes is not None:
    print(f"API writes per failover (kubesim's count, Events included, bench's deletes excluded): {writes / n:.2f}")
if cw:
    print("  by the operator's kube_client_requests_total: " +
          ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(cw.items(), key=lambda kv: -kv[1])))
print(f"operator CPU time over the run: {cpu_run:.2f} s ({100 * cpu_run / elapsed:.0f} % of one core); "
      f"peak RSS (VmHWM) {proc_kib(pid, 'VmHWM:') / 1024:.1f} MiB")
print(f"operator CPU while idle (after {q:.1f} s to quiesce: no API write for 2 s): "
      f"{idle:.2f} % of one core over {idle_s:.0f} s")
PY
