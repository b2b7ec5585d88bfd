/* kubesim's HTTP(S) front end: libmicrohttpd with a thread per connection (long watches never
 * block other requests), bearer-token auth, routing of the Kubernetes API onto sim_store, discovery,
 * Table printing, fault injection, and extra routes (the /sim/v1 control API) registered by others.
 *
 * Lifecycle: sim_server_new -> [sim_server_add_route, sim_store_subscribe, ...] -> sim_server_start
 * -> ... -> sim_server_stop -> sim_server_free. main.c owns this sequence.
 *
 * The simulated controllers (kubelet, GC, endpoints, deployments, jobs, /sim/v1) plug in through
 * sim_controllers.h, owned by the controllers module, which must provide:
 *   int  sim_controllers_start(struct sim_server *srv, const struct sim_options *opts,
 *                              struct sim_controllers **out);   // before sim_server_start
 *   void sim_controllers_stop(struct sim_controllers *c);        // after sim_server_stop, frees
 * main.c calls them when that header exists (__has_include), so either side can land first.
 */
#ifndef SIM_SERVER_H
#define SIM_SERVER_H

#include <stddef.h>

struct sim_server;
struct sim_store;
struct sim_registry;
struct sim_fault;
struct sim_rbac_tokens;
struct sim_runtime_config;

/* Command-line options, passed through to the controllers unchanged. */
struct sim_options {
	const char *listen;         /* "127.0.0.1:0" (port 0 = pick a free one) */
	const char *kubeconfig_out; /* where to write the kubeconfig (NULL = none) */
	int http;                   /* plain HTTP, no token (default HTTPS + bearer token) */
	int nodes;                  /* simulated nodes (default 3) */
	int pod_ready_delay_ms;     /* kubelet: pod created -> Running/Ready (default 100) */
	size_t history;             /* watch history length (default 10000) */
	int verbose;                /* log every request */
	const struct sim_runtime_config *runtime; /* --run-pods (sim_runtime.h), NULL = off */
};

/* A request as a route handler sees it. All fields borrowed, valid during the call. */
struct sim_http_req {
	const char *method;       /* "GET", "POST", ... */
	const char *path;         /* URL path without the query */
	const char *content_type; /* may be NULL */
	const char *accept;       /* may be NULL */
	const char *body;         /* NUL-terminated request body ("" when none) */
	size_t body_len;
	void *conn;               /* internal: for sim_http_query */
};

/* A route handler's answer: status code and body (malloc'd; the server frees it). content_type
 * NULL means application/json. */
struct sim_http_resp {
	int status;
	char *body;
	const char *content_type; /* static string */
};

/* A query parameter's value (decoded), or NULL. */
const char *sim_http_query(const struct sim_http_req *req, const char *key);

/* Handler for a registered route. Runs on the connection's thread; may block briefly. Returns 0;
 * a negative return makes the server answer 500. */
typedef int (*sim_route_fn)(void *ud, const struct sim_http_req *req, struct sim_http_resp *resp);

/* Creates the server (store, registry, fault table, TLS material unless opts->http) without
 * listening yet. opts is copied. Returns 0 or a negative KUBE_ code. */
int sim_server_new(const struct sim_options *opts, struct sim_server **out);

/* Every request whose path starts with `prefix` (e.g. "/sim/v1/") goes to fn (after auth and
 * fault injection). At most 8 routes; call before sim_server_start. Returns 0 or KUBE_ENOMEM. */
int sim_server_add_route(struct sim_server *srv, const char *prefix, sim_route_fn fn, void *ud);

/* Binds and starts serving; writes the kubeconfig. Returns 0, KUBE_EIO (bind/TLS failure). */
int sim_server_start(struct sim_server *srv);

/* The base URL, e.g. "https://127.0.0.1:41234" (valid after start; owned by the server). */
const char *sim_server_url(const struct sim_server *srv);
/* The bearer token (NULL with --http). */
const char *sim_server_token(const struct sim_server *srv);
/* The CA certificate PEM (NULL with --http). */
const char *sim_server_ca_pem(const struct sim_server *srv);

/* The parts, borrowed for the server's lifetime. Thread-safe objects (see their headers). */
struct sim_store *sim_server_store(struct sim_server *srv);
struct sim_registry *sim_server_registry(struct sim_server *srv);
struct sim_fault *sim_server_fault(struct sim_server *srv);
/* The service-account tokens it accepts besides the admin token (sim_rbac.h). */
struct sim_rbac_tokens *sim_server_tokens(struct sim_server *srv);
const struct sim_options *sim_server_options(const struct sim_server *srv);

/* Closes every watch, stops listening and joins every connection thread. Idempotent. */
void sim_server_stop(struct sim_server *srv);
/* Frees everything (stops first if needed). NULL is a no-op. */
void sim_server_free(struct sim_server *srv);

#endif
