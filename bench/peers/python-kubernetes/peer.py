"""A minimal PhoenixService controller on the official python-kubernetes client: a bench peer.

Ported from controller/phoenixservice as far as convergence needs (bench/phx_scale_bench.sh):
for each PhoenixService it creates 1 primary + 2 standby pods from spec.template (the serving
label set in the create body: the primary serving, standbys not), the Service selecting the
serving pod, and writes the status fields the bench watches (phase, readyInstances,
totalInstances, readyDisplay, primary, standbys, serving) when they change. No failover, no
PDB, no Events. Informer-style: one list+watch of PhoenixServices and of their pods, a
deduplicating work queue, WORKERS threads (controller-runtime's style of MaxConcurrentReconciles).
Serves /metrics with kube_client_requests_total{verb,resource} like the operator so the bench
gets the same write breakdown. Flags: --kubeconfig PATH, --metrics-bind-address HOST:PORT;
others are ignored (a peer has no --kube-api-qps: the client has no rate limiter).
"""
import argparse
import copy
import http.server
import os
import queue
import sys
import threading

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

GROUP, VERSION, PLURAL = "phoenix.fpai.io", "v1alpha1", "phoenixservices"
L_SVC, L_ROLE, L_SERVING = "phoenix.fpai.io/service", "phoenix.fpai.io/role", "phoenix.fpai.io/serving"
WORKERS = int(os.environ.get("PHX_PEER_WORKERS", "8"))

counts, counts_mu = {}, threading.Lock()


def count(verb, res):
    with counts_mu:
        counts[(verb, res)] = counts.get((verb, res), 0) + 1


class Metrics(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with counts_mu:
            body = "".join(f'kube_client_requests_total{{verb="{v}",resource="{r}"}} {n}\n'
                           for (v, r), n in sorted(counts.items()))
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


class Queue:
    """Deduplicating work queue: a key is queued once; re-added while processing, it runs again."""

    def __init__(self):
        self.q, self.mu, self.queued, self.active, self.dirty = queue.Queue(), threading.Lock(), set(), set(), set()

    def add(self, key):
        with self.mu:
            if key in self.active:
                self.dirty.add(key)
            elif key not in self.queued:
                self.queued.add(key)
                self.q.put(key)

    def get(self):
        key = self.q.get()
        with self.mu:
            self.queued.discard(key)
            self.active.add(key)
        return key

    def done(self, key):
        with self.mu:
            self.active.discard(key)
            again = key in self.dirty
            self.dirty.discard(key)
        if again:
            self.add(key)


class Peer:
    def __init__(self):
        self.core, self.crd = client.CoreV1Api(), client.CustomObjectsApi()
        self.mu = threading.Lock()
        self.svcs = {}   # (ns, name) -> PhoenixService dict
        self.pods = {}   # (ns, svc) -> {pod name: V1Pod}
        self.services_made = set()
        self.last_status = {}
        self.q = Queue()

    def watch_svcs(self):
        rv = None
        while True:
            try:
                if rv is None:
                    lst = self.crd.list_cluster_custom_object(GROUP, VERSION, PLURAL)
                    rv = lst["metadata"]["resourceVersion"]
                    for o in lst["items"]:
                        self.on_svc("ADDED", o)
                for ev in watch.Watch().stream(self.crd.list_cluster_custom_object, GROUP, VERSION,
                                               PLURAL, resource_version=rv, timeout_seconds=300):
                    o = ev["object"]
                    rv = o["metadata"]["resourceVersion"]
                    self.on_svc(ev["type"], o)
            except ApiException as e:
                if e.status == 410:
                    rv = None
            except Exception as e:  # noqa: BLE001 -- a watch that breaks is restarted
                print(f"peer: PhoenixService watch: {e}", file=sys.stderr)

    def on_svc(self, typ, o):
        key = (o["metadata"].get("namespace", "default"), o["metadata"]["name"])
        with self.mu:
            if typ == "DELETED":
                self.svcs.pop(key, None)
                self.last_status.pop(key, None)
                self.services_made.discard(key)
                return
            self.svcs[key] = o
        self.q.add(key)

    def watch_pods(self):
        rv = None
        while True:
            try:
                if rv is None:
                    lst = self.core.list_pod_for_all_namespaces(label_selector=L_SVC)
                    rv = lst.metadata.resource_version
                    for p in lst.items:
                        self.on_pod("ADDED", p)
                for ev in watch.Watch().stream(self.core.list_pod_for_all_namespaces,
                                               label_selector=L_SVC, resource_version=rv,
                                               timeout_seconds=300):
                    p = ev["object"]
                    rv = p.metadata.resource_version
                    self.on_pod(ev["type"], p)
            except ApiException as e:
                if e.status == 410:
                    rv = None
            except Exception as e:  # noqa: BLE001
                print(f"peer: pod watch: {e}", file=sys.stderr)

    def on_pod(self, typ, p):
        key = (p.metadata.namespace, (p.metadata.labels or {}).get(L_SVC, ""))
        with self.mu:
            m = self.pods.setdefault(key, {})
            if typ == "DELETED":
                m.pop(p.metadata.name, None)
            else:
                m[p.metadata.name] = p
        self.q.add(key)

    def worker(self):
        while True:
            key = self.q.get()
            try:
                self.reconcile(key)
            except ApiException as e:
                if e.status not in (404, 409):
                    print(f"peer: {key[1]}: {e.status} {e.reason}", file=sys.stderr)
                    self.q.add(key)
            except Exception as e:  # noqa: BLE001
                print(f"peer: {key[1]}: {e}", file=sys.stderr)
            finally:
                self.q.done(key)

    def reconcile(self, key):
        ns, name = key
        with self.mu:
            svc = self.svcs.get(key)
            pods = dict(self.pods.get(key, {}))
        if svc is None:
            return
        spec = svc.get("spec", {})
        standbys = int(spec.get("standbys", 2))
        owner = client.V1OwnerReference(api_version=f"{GROUP}/{VERSION}", kind="PhoenixService",
                                        name=name, uid=svc["metadata"]["uid"], controller=True,
                                        block_owner_deletion=True)
        want = {f"{name}-{i}": ("primary" if i == 0 else "standby") for i in range(1 + standbys)}
        for pname, role in want.items():
            if pname in pods:
                continue
            tmpl = copy.deepcopy(spec.get("template", {}))
            md = tmpl.get("metadata", {})
            labels = dict(md.get("labels", {}))
            labels.update({L_SVC: name, L_ROLE: role, L_SERVING: "true" if role == "primary" else "false"})
            body = {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": pname, "namespace": ns, "labels": labels,
                                 "ownerReferences": [client.ApiClient().sanitize_for_serialization(owner)]},
                    "spec": tmpl.get("spec", {})}
            count("create", "pods")
            self.core.create_namespaced_pod(ns, body)
        if key not in self.services_made:
            ports = spec.get("service", {}).get("ports") or [{"name": "http", "port": 80, "targetPort": 8080}]
            body = {"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": name, "namespace": ns, "labels": {L_SVC: name},
                                 "ownerReferences": [client.ApiClient().sanitize_for_serialization(owner)]},
                    "spec": {"selector": {L_SVC: name, L_SERVING: "true"}, "ports": ports}}
            try:
                count("create", "services")
                self.core.create_namespaced_service(ns, body)
            except ApiException as e:
                if e.status != 409:
                    raise
            self.services_made.add(key)
        ready, prim, stand, serving = 0, "", [], []
        for pname, p in sorted(pods.items()):
            if p.metadata.deletion_timestamp:
                continue
            conds = (p.status.conditions if p.status else None) or []
            if any(c.type == "Ready" and c.status == "True" for c in conds):
                ready += 1
            labels = p.metadata.labels or {}
            if labels.get(L_ROLE) == "primary" and not prim:
                prim = pname
            else:
                stand.append(pname)
            if labels.get(L_SERVING) == "true":
                serving.append(pname)
        total = 1 + standbys
        phase = "Healthy" if ready >= total else ("Degraded" if ready else "Pending")
        st = {"phase": phase, "primary": prim, "standbys": stand, "serving": serving,
              "readyInstances": ready, "totalInstances": total, "readyDisplay": f"{ready}/{total}",
              "observedGeneration": svc["metadata"].get("generation", 1)}
        if self.last_status.get(key) == st or svc.get("status") == st:
            return
        count("patch", "phoenixservices")
        self.crd.patch_namespaced_custom_object_status(GROUP, VERSION, ns, PLURAL, name, {"status": st})
        self.last_status[key] = st


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kubeconfig")
    ap.add_argument("--metrics-bind-address", default="0")
    _, rest = ap.parse_known_args()
    if rest:
        print(f"peer: ignoring flags {' '.join(rest)}", file=sys.stderr)
    args = ap.parse_known_args()[0]
    config.load_kube_config(config_file=args.kubeconfig)
    cfg = client.Configuration.get_default_copy()
    cfg.connection_pool_maxsize = WORKERS + 4
    client.Configuration.set_default(cfg)
    if args.metrics_bind_address not in ("0", ""):
        host, port = args.metrics_bind_address.rsplit(":", 1)
        srv = http.server.ThreadingHTTPServer((host, int(port)), Metrics)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    peer = Peer()
    for t in [peer.watch_svcs, peer.watch_pods] + [peer.worker] * WORKERS:
        threading.Thread(target=t, daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
