/* kubesim's userspace kube-proxy (--proxy, implied by --run-pods): every Service with a loopback
 * clusterIP (127.2.0.0/16, allocated by the store in this mode) is served on clusterIP:port, and
 * each new TCP connection is relayed to one usable endpoint, round robin.
 *
 * It follows exactly the objects kubesim publishes, as upstream kube-proxy does: Services and
 * EndpointSlices (label kubernetes.io/service-name), falling back to the v1 Endpoints object
 * for a Service that has no slice (selectorless Services whose user wrote Endpoints only; the
 * role of upstream's mirroring controller). Usable = endpoint conditions ready (nil = true); when
 * none is ready, the serving and terminating ones (upstream CategorizeEndpoints). The port is
 * the slice's port of the same name (the endpoints controller has resolved targetPort, named or
 * numbered, per pod). No usable endpoint, or a backend that refuses: the client gets a RST.
 *
 * Invariants: one epoll thread owns every socket; the store's subscriber callback only copies
 * objects under the proxy's mutex and wakes the thread. Nothing binds or connects outside
 * 127.0.0.0/8. Each connection holds two bounded buffers (16 KiB each); at most 4096
 * connections, more are reset. */
#ifndef SIM_PROXY_H
#define SIM_PROXY_H

#include <stddef.h>
#include <cjson/cJSON.h>

struct sim_server;
struct sim_proxy;

/* ---- Pure ---- */

struct sim_proxy_backend {
	char ip[16]; /* dotted IPv4 */
	int port;
};

/* The usable backends of the Service port named port_name ("" or NULL = the unnamed port) from
 * the Service's EndpointSlices (objs: EndpointSlices, or when none, its v1 Endpoints), sorted by
 * ip then port, duplicates removed. Only IPv4 addresses in 127.0.0.0/8 and TCP ports count.
 * *out is malloc'd (caller frees; NULL when none). Returns the count, or -1 on ENOMEM. */
long sim_proxy_backends(const cJSON *const *objs, size_t n, const char *port_name,
			struct sim_proxy_backend **out);

/* 1 if ip is a dotted IPv4 address in 127.0.0.0/8. */
int sim_proxy_is_loopback(const char *ip);

/* ---- The proxy ---- */

/* Creates the proxy, starts its epoll thread, switches the store to loopback clusterIPs and
 * subscribes to it; registers GET /sim/v1/proxy (status JSON) on the server. Call before
 * sim_controllers_start (the route must come before the control API's /sim/v1/ prefix) and before
 * the server serves. srv may be NULL (unit tests: feed sim_proxy_on_change yourself). On error
 * nothing runs and *out is NULL. */
int sim_proxy_start(struct sim_server *srv, struct sim_proxy **out);

/* Stops the thread, closes every listener and connection, frees everything. Call after the last
 * store write (after sim_controllers_stop). NULL is a no-op. */
void sim_proxy_stop(struct sim_proxy *px);

/* The store subscriber (sim_store_change_fn): takes Services, EndpointSlices and Endpoints.
 * Thread-safe, never blocks on sockets. Public for tests. */
void sim_proxy_on_change(void *px, const char *type, const char *group, const char *resource,
			 const cJSON *obj, const cJSON *old);

/* Blocks until the epoll thread has applied every change given so far (listeners opened or
 * closed, backends recomputed) or timeout_ms passes. Returns 0, or -1 on timeout. */
int sim_proxy_sync(struct sim_proxy *px, int timeout_ms);

/* {"services":[{"namespace","name","clusterIP","ports":[{"name","port","listening","error",
 * "backends":["ip:port"],"accepted","noEndpoint","backendFailed","active"}]}]}. Caller frees. */
cJSON *sim_proxy_status(struct sim_proxy *px);

#endif
