#!/usr/bin/env bash
# Failover reaction and recovery benchmark on kubesim (not a test: prints numbers).
#   bench/phx_failover_bench.sh [FAILOVERS=200] [extra controller flags...]
# Reaction: the kill request -> a standby in the Service's endpoints (kubesim's endpoints
# history, same machine clock), and the controller's own histogram (watch event -> serving label
# written). Also counts empty-endpoint windows. Recovery: failure -> 1 primary + 2 standbys Ready
# (status.lastRecoverySeconds) with pods that start instantly (--pod-ready-delay-ms 0).
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
k apply -f "$PHX_ROOT/manifests/samples/minimal.yaml" >/dev/null
phx_wait_settled hello

python3 - "$SIM_URL" "${SIM_TOKEN:-}" "${SIM_CA:-}" "$N" "$port" <<'PY'
import json, ssl, statistics, sys, time, urllib.request
url, token, ca, n, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
ctx = ssl.create_default_context(cafile=ca) if url.startswith("https") and ca else None
def req(method, path, body=None, base=url, c=ctx):
    r = urllib.request.Request(base + path, method=method, data=body)
    if token and base == url:
        r.add_header("Authorization", "Bearer " + token)
    r.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(r, context=c, timeout=10) as resp:
        data = resp.read()
        return json.loads(data) if data[:1] in (b"{", b"[") else data.decode()
phx = "/apis/phoenix.fpai.io/v1alpha1/namespaces/default/phoenixservices/hello"
def status():
    return req("GET", phx).get("status", {})
def settled(st, want):
    return st.get("phase") == "Healthy" and st.get("failovers") == want and not st.get("failoverInProgress")
gaps, recov, served, kinds = [], [], [], ["fail-readiness", "delete", "crash", "oom"]
import datetime
def ts(s):
    return datetime.datetime.strptime(s.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
t0 = time.time()
for i in range(n):
    st = status()
    primary = st["primary"]
    req("POST", "/sim/v1/endpoints/default/hello/history/reset", b"{}")
    kind = kinds[i % len(kinds)]
    t_kill = time.time()
    if kind == "delete":
        req("DELETE", f"/api/v1/namespaces/default/pods/{primary}")
    else:
        req("POST", f"/sim/v1/pods/default/{primary}/{kind}", b"{}")
    deadline = time.time() + 20
    while True:
        st = status()
        if settled(st, i + 1):
            break
        if time.time() > deadline:
            sys.exit(f"failover {i + 1} did not settle: {st}")
        time.sleep(0.005)
    h = req("GET", "/sim/v1/endpoints/default/hello/history")
    s = h["stats"]
    gaps.append(s.get("zeroMaxMs", 0) if s.get("zeroMoments", 0) else 0)
    # first commit after the kill where a pod other than the failed primary is an endpoint
    for e in h["entries"]:
        t = ts(e["time"])
        if t >= t_kill - 0.001 and any(p != primary for p in e["ready"]):
            served.append(max(0.0, (t - t_kill) * 1000))
            break
    recov.append(st["lastRecoverySeconds"] * 1000)
elapsed = time.time() - t0
def pct(v, q):
    v = sorted(v); return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]
metrics = req("GET", "/metrics", base=f"http://127.0.0.1:{port}", c=None)
hist = {}
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
print(f"failovers: {n} ({', '.join(kinds)} in turn) in {elapsed:.1f} s")
print(f"reaction, endpoints (kill request -> a standby in the Service's endpoints): "
      f"p50 {pct(served, .5):.1f} ms, p99 {pct(served, .99):.1f} ms, max {max(served):.1f} ms "
      f"({len(served)} measured)")
print(f"empty-endpoint windows: {sum(1 for g in gaps if g)} of {n} failovers, max {max(gaps):.0f} ms")
print(f"reaction, controller (watch event -> serving label written): mean {1000 * rsum / rcount:.2f} ms, "
      f"p50 <= {float(hq(.5)) * 1000:g} ms, p99 <= {float(hq(.99)) * 1000:g} ms (histogram buckets)")
print(f"recovery to 1+2 Ready (instant pod start): p50 {pct(recov, .5):.0f} ms, p99 {pct(recov, .99):.0f} ms, "
      f"max {max(recov):.0f} ms")
PY
