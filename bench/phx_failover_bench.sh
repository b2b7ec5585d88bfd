#!/usr/bin/env bash
# Failover reaction and recovery benchmark on kubesim (not a test: prints numbers).
#   bench/phx_failover_bench.sh [FAILOVERS=200] [extra controller flags...]
#   PHX_E2E_BACKEND=real bench/phx_failover_bench.sh ...   the same on the upstream kube-apiserver
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

# PHX_E2E_BACKEND=real: the upstream kube-apiserver (hack/real-cluster.sh, kwok nodes). There
# is no /sim/v1 there: the failures are pod deletes and readiness status patches, and the
# endpoints are polled (every ~2 ms) instead of read from kubesim's history.
real_cert=""
e2e_backend_is_kubesim || real_cert="$E2E_TMP/real-admin"
python3 - "$SIM_URL" "${SIM_TOKEN:-}" "${SIM_CA:-}" "$N" "$port" "$real_cert" <<'PY'
import json, ssl, statistics, sys, time, urllib.request
url, token, ca, n, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
real = sys.argv[6]
ctx = ssl.create_default_context(cafile=ca) if url.startswith("https") and ca else None
if real:
    ctx.load_cert_chain(real + ".crt", real + ".key")
def req(method, path, body=None, base=url, c=ctx):
    r = urllib.request.Request(base + path, method=method, data=body)
    if token and base == url:
        r.add_header("Authorization", "Bearer " + token)
    r.add_header("Content-Type", "application/strategic-merge-patch+json" if method == "PATCH"
                 else "application/json")
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
if real:
    kinds = ["fail-readiness", "delete"]
def endpoint_pods():
    ep = req("GET", "/api/v1/namespaces/default/endpoints/hello")
    return [a.get("targetRef", {}).get("name") for s in ep.get("subsets") or []
            for a in (s.get("addresses") or []) + (s.get("notReadyAddresses") or [])]
unready = json.dumps({"status": {"conditions": [{"type": "Ready", "status": "False"},
                                                {"type": "ContainersReady", "status": "False"}]}}).encode()
for i in range(n):
    st = status()
    primary = st["primary"]
    if not real:
        req("POST", "/sim/v1/endpoints/default/hello/history/reset", b"{}")
    kind = kinds[i % len(kinds)]
    t_kill = time.time()
    if kind == "delete":
        req("DELETE", f"/api/v1/namespaces/default/pods/{primary}")
    elif real:
        req("PATCH", f"/api/v1/namespaces/default/pods/{primary}/status", unready)
    else:
        req("POST", f"/sim/v1/pods/default/{primary}/{kind}", b"{}")
    deadline = time.time() + 20
    seen, empty_since, gap = None, None, 0
    while True:
        if real:
            pods, now = endpoint_pods(), time.time()
            if not pods:
                empty_since = empty_since or now
            elif empty_since:
                gap, empty_since = max(gap, (now - empty_since) * 1000), None
            if seen is None and any(p != primary for p in pods):
                seen = (now - t_kill) * 1000
        st = status()
        if settled(st, i + 1) and (not real or seen is not None):
            break
        if time.time() > deadline:
            sys.exit(f"failover {i + 1} did not settle: {st}")
        time.sleep(0.002 if real else 0.005)
    if real:
        gaps.append(gap)
        served.append(seen)
        recov.append(st["lastRecoverySeconds"] * 1000)
        continue
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
print(f"backend: {'real kube-apiserver (endpoints polled)' if real else 'kubesim'}")
print(f"failovers: {n} ({', '.join(kinds)} in turn) in {elapsed:.1f} s")
print(f"reaction, endpoints (kill request -> a standby in the Service's endpoints): "
      f"p50 {pct(served, .5):.1f} ms, p99 {pct(served, .99):.1f} ms, max {max(served):.1f} ms "
      f"({len(served)} measured)")
print(f"empty-endpoint windows: {sum(1 for g in gaps if g)} of {n} failovers, max {max(gaps):.0f} ms"
      + "".join(f", {k}: {sum(1 for j, g in enumerate(gaps) if g and kinds[j % len(kinds)] == k)}"
                for k in kinds))
print(f"reaction, controller (watch event -> serving label written): mean {1000 * rsum / rcount:.2f} ms, "
      f"p50 <= {float(hq(.5)) * 1000:g} ms, p99 <= {float(hq(.99)) * 1000:g} ms (histogram buckets)")
print(f"recovery to 1+2 Ready (instant pod start): p50 {pct(recov, .5):.0f} ms, p99 {pct(recov, .99):.0f} ms, "
      f"max {max(recov):.0f} ms")
PY
