"""Helpers the phx_*_bench.sh scripts share (python3 standard library only).

- Api: requests over one kept-alive HTTP(S) connection, so no connection setup (TCP, TLS) falls
  inside a timed interval; reconnects after an error.
- Watch: a list + watch of a collection on its own connection in a thread; the callback sees
  every object (ADDED/MODIFIED/DELETED), and wait() blocks on a condition until a predicate of
  the state holds: completion is detected from the watch events, not by polling.
- proc_*: CPU time (utime + stime, clock ticks: resolution 1/CLK_TCK s) and memory of a pid.
- sim_requests / quiesce: kubesim's count of API requests by method (its own view, whatever the
  controller is), and waiting until no write arrives for a while (Events flushed, timers done).
- client_writes: the operator's own kube_client_requests_total, by verb and resource.
"""
import http.client
import json
import os
import ssl
import threading
import time
import urllib.parse

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class Api:
    def __init__(self, url, token="", ca="", timeout=60):
        u = urllib.parse.urlsplit(url)
        self.https = u.scheme == "https"
        self.host, self.port = u.hostname, u.port or (443 if self.https else 80)
        self.token, self.timeout = token, timeout
        self.ctx = ssl.create_default_context(cafile=ca) if self.https and ca else None
        self.conn = None

    def connect(self):
        if self.https:
            c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx,
                                            timeout=self.timeout)
        else:
            c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        c.connect()
        return c

    def headers(self, method, ctype=None):
        h = {"Accept": "application/json"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        if method in ("POST", "PUT", "PATCH"):
            h["Content-Type"] = ctype or ("application/merge-patch+json" if method == "PATCH"
                                          else "application/json")
        return h

    def clone(self):
        """The same server and credentials on a connection of its own (one per thread)."""
        c = Api.__new__(Api)
        c.__dict__.update(self.__dict__)
        c.conn = None
        return c

    def warm(self):
        """Opens the connection now (outside any timed interval)."""
        if self.conn is None:
            self.conn = self.connect()

    def req(self, method, path, body=None, ctype=None):
        throttled = 0
        for attempt in (0, 1):
            try:
                self.warm()
                data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
                self.conn.request(method, path, body=data, headers=self.headers(method, ctype))
                r = self.conn.getresponse()
                raw = r.read()
                while r.status == 429 and throttled < 30:  # a server enforcing a limit
                    throttled += 1
                    time.sleep(float(r.getheader("Retry-After") or 1))
                    self.conn.request(method, path, body=data, headers=self.headers(method, ctype))
                    r = self.conn.getresponse()
                    raw = r.read()
                if r.status >= 400:
                    raise RuntimeError(f"{method} {path}: HTTP {r.status}: {raw[:300]!r}")
                return json.loads(raw) if raw[:1] in (b"{", b"[") else raw.decode()
            except (http.client.HTTPException, OSError):
                self.conn = None
                if attempt:
                    raise


class ThreadConns:
    """One kept-alive connection per thread to api's server: conns() in each worker thread."""

    def __init__(self, api):
        self.api, self.local = api, threading.local()

    def __call__(self):
        if not hasattr(self.local, "api"):
            self.local.api = self.api.clone()
            self.local.api.warm()
        return self.local.api


class Watch(threading.Thread):
    """Lists `path` and watches it from the list's resourceVersion; objects by name in .objs."""

    def __init__(self, api, path, on_change=None):
        super().__init__(daemon=True)
        self.api, self.path, self.on_change = api.clone(), path, on_change
        self.objs, self.cv, self.error = {}, threading.Condition(), None

    def relist(self):
        lst = self.api.req("GET", self.path)
        with self.cv:
            self.objs.clear()
            for o in lst.get("items", []):
                self.objs[o["metadata"]["name"]] = o
            if self.on_change:
                self.on_change(self, time.time())
            self.cv.notify_all()
        return lst["metadata"]["resourceVersion"]

    def run(self):
        try:
            rv = self.relist()
            sep = "&" if "?" in self.path else "?"
            while True:  # a server ends watches now and then: resume from the last version
                c = self.api.connect()
                c.sock.settimeout(None)
                c.request("GET", f"{self.path}{sep}watch=1&allowWatchBookmarks=true&resourceVersion={rv}",
                          headers=self.api.headers("GET"))
                r = c.getresponse()
                if r.status != 200:
                    raise RuntimeError(f"watch: HTTP {r.status}")
                while True:
                    line = r.readline()
                    if not line:
                        break
                    ev = json.loads(line)
                    if ev["type"] == "ERROR":  # 410 Gone: the version is compacted away
                        rv = self.relist()
                        break
                    o, now = ev["object"], time.time()
                    rv = o["metadata"].get("resourceVersion", rv)
                    if ev["type"] == "BOOKMARK":
                        continue
                    with self.cv:
                        if ev["type"] == "DELETED":
                            self.objs.pop(o["metadata"]["name"], None)
                        else:
                            self.objs[o["metadata"]["name"]] = o
                        if self.on_change:
                            self.on_change(self, now)
                        self.cv.notify_all()
                c.close()
        except Exception as e:  # reported by wait()
            with self.cv:
                self.error = e
                self.cv.notify_all()

    def wait(self, pred, timeout):
        """Blocks until pred(objs) is true (returns its value) or timeout (returns None)."""
        deadline = time.time() + timeout
        with self.cv:
            while True:
                if self.error:
                    raise RuntimeError(f"watch of {self.path} failed: {self.error}")
                v = pred(self.objs)
                if v:
                    return v
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cv.wait(left)


def proc_cpu_s(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def proc_kib(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def sim_requests(api):
    return api.req("GET", "/sim/v1/faults")["requests"]


def sim_writes(counts):
    return sum(counts.get(m, 0) for m in WRITE_METHODS)


def quiesce(api, quiet_s=2.0, timeout=120):
    """Waits until kubesim sees no API write for quiet_s (Events flushed, timers done).
    Returns the seconds it took."""
    t0 = time.time()
    last, since = sim_writes(sim_requests(api)), time.time()
    while time.time() - t0 < timeout:
        time.sleep(0.2)
        now = sim_writes(sim_requests(api))
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= quiet_s:
            break
    return time.time() - t0


def idle_cpu_pct(pid, seconds):
    c0, w0 = proc_cpu_s(pid), time.time()
    time.sleep(seconds)
    return 100.0 * (proc_cpu_s(pid) - c0) / (time.time() - w0)


def client_writes(metrics_url):
    """kube_client_requests_total of non-read verbs, by "verb resource" (empty without metrics)."""
    if not metrics_url:
        return {}
    api = Api(metrics_url)
    text = api.req("GET", "/metrics")
    out = {}
    for line in text.splitlines():
        if not line.startswith("kube_client_requests_total{"):
            continue
        labels = dict(kv.split("=", 1) for kv in line[line.index("{") + 1:line.index("}")].split(","))
        verb, res = labels["verb"].strip('"'), labels["resource"].strip('"')
        if verb in ("create", "update", "patch", "delete"):
            key = f"{verb} {res}"
            out[key] = out.get(key, 0) + float(line.split()[-1])
    return out


def diff(after, before):
    return {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0) > 0}


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]
