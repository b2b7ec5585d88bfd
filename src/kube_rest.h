/* REST client for the Kubernetes API: typed verbs on any group/version/resource over libcurl,
 * with TLS, bearer tokens, a shared QPS/burst rate limit, retries and Status -> error mapping. */
#ifndef KUBE_REST_H
#define KUBE_REST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "kube_config.h"
#include "kube_error.h"

/* A resource type. Strings are borrowed (usually literals); group "" is the core group. */
struct kube_gvr {
	const char *group;
	const char *version;
	const char *resource; /* plural, lower case: "pods" */
	bool namespaced;
};

extern const struct kube_gvr KUBE_GVR_PODS, KUBE_GVR_SERVICES, KUBE_GVR_ENDPOINTS,
	KUBE_GVR_CONFIGMAPS, KUBE_GVR_SECRETS, KUBE_GVR_EVENTS, KUBE_GVR_NAMESPACES, KUBE_GVR_NODES,
	KUBE_GVR_SERVICEACCOUNTS, KUBE_GVR_LEASES, KUBE_GVR_PDBS, KUBE_GVR_JOBS,
	KUBE_GVR_DEPLOYMENTS, KUBE_GVR_CRDS;

struct kube_client_opts {
	double qps;             /* token bucket refill per second; 0 = default 300; <0 = unlimited */
	int burst;              /* bucket size; 0 = default 600 */
	long timeout_ms;        /* whole request (not watches); 0 = default 30000 */
	long connect_timeout_ms; /* 0 = default 10000 */
	int max_retries;        /* extra attempts for GET/LIST/DELETE on 429/5xx/transport;
	                         * 0 = default 3; <0 = none */
	long retry_base_ms;     /* first backoff, doubled each retry, capped at 5 s; 0 = 200 */
	const char *user_agent; /* copied; NULL = "phoenix-kube/0.1" */
	/* The urgent reserve (kube_set_priority): requests of the urgent class draw from it first
	 * and do not wait while it has tokens; 0 = default (200/s, burst 400); <0 = none (urgent
	 * requests share the bucket). Extra to qps/burst: the client may go up to both summed.
	 * Ignored when qps < 0 (no limit at all). */
	double urgent_qps;
	int urgent_burst;
};

/* Request priority of the calling thread (thread-local, NORMAL until set): every request the
 * thread makes through any client is of this class.
 * - URGENT: the client's reserve is used first (kube_client_opts.urgent_qps), and a server
 *   backoff (429 with Retry-After) another request was told about does not hold it back (its own
 *   429 does). For work whose delay is an outage, like the writes of a failover; keep it rare.
 * - NORMAL: the shared bucket; while the server has asked this client to back off, waits.
 * Returns the previous class, to restore it. */
enum kube_priority { KUBE_PRIORITY_NORMAL = 0, KUBE_PRIORITY_URGENT = 1 };
enum kube_priority kube_set_priority(enum kube_priority p);
enum kube_priority kube_get_priority(void);

/* Filled by every verb when the caller passes a non-NULL `st` (zero it first or reuse after
 * kube_status_release). On an API error it holds the server's Status; on success only
 * http_status is set. All fields owned by the struct. */
struct kube_status {
	long http_status;  /* 0 when no response arrived (transport error, write gate) */
	char *reason;      /* Status.reason, e.g. "NotFound" */
	char *message;     /* Status.message, or a transport/client error text */
	cJSON *details;    /* Status.details */
};
/* Frees the fields and zeroes the struct; NULL-safe. */
void kube_status_release(struct kube_status *st);

struct kube_list_opts {
	const char *label_selector;
	const char *field_selector;
	const char *resource_version;
	long limit;               /* page size; 0 = no limit (single page) */
	const char *continue_token;
	long max_items;           /* kube_list: KUBE_ETOOBIG once the pages hold more items, or after
	                           * as many pages (a server that never stops paging);
	                           * 0 = 1,000,000 (far above any cluster's object counts) */
	int timeout_seconds;      /* sent as timeoutSeconds; watches also end client-side after it
	                           * plus a margin; 0 = unset */
	bool allow_bookmarks;     /* watch only; kube_watch always requests bookmarks */
	long idle_timeout_ms;     /* watch only: end the stream with KUBE_ETIMEDOUT when no event
	                           * or bookmark arrives for this long (a stalled stream the
	                           * connection still looks alive for); 0 = no limit */
};

enum kube_patch_type {
	KUBE_PATCH_MERGE,      /* application/merge-patch+json */
	KUBE_PATCH_JSON,       /* application/json-patch+json */
	KUBE_PATCH_STRATEGIC,  /* application/strategic-merge-patch+json (built-in kinds only) */
};

struct kube_delete_opts {
	const char *propagation_policy;   /* "Foreground", "Background", "Orphan" or NULL */
	long grace_period_seconds;        /* <0 = unset (use -1 when zero-initialising!) */
	const char *precondition_uid;
	const char *precondition_rv;
};
#define KUBE_DELETE_OPTS_INIT { NULL, -1, NULL, NULL }

struct kube_client;

/* Creates a client for `cfg` (copied: cfg may be released afterwards). Reads CA/cert files
 * lazily via libcurl, so a bad path shows up on the first request as KUBE_EIO.
 * Returns 0, KUBE_EINVAL (NULL cfg/out, no server), KUBE_ENOMEM. Calls curl_global_init once per
 * process (pthread_once). The client is thread-safe: any number of threads may issue requests;
 * connections are reused through a pool of idle handles. Registers its metrics in
 * kube_metrics_default() here: do not reset that registry while a client lives. */
int kube_client_new(const struct kube_config *cfg, const struct kube_client_opts *opts,
		    struct kube_client **out);

/* Ends every wait of the client's requests at once and for good: a request waiting out a
 * server's Retry-After hold or for a rate-limit token fails with KUBE_ESHUTDOWN, a retry's
 * backoff ends with the last answer's error, and later requests never wait. Requests that need
 * no wait still go out, and Lease requests wait for their token as before (the Lease released
 * at shutdown). Call it when shutting down, before joining the threads that use c, so none
 * sleeps up to the 10 s Retry-After cap. A request's own cancel flag (watches) ends its waits
 * the same way (KUBE_ECANCELED). Idempotent; thread-safe. */
void kube_client_shutdown(struct kube_client *c);
/* Frees the client. NULL-safe. No request may be in flight (join your threads first). */
void kube_client_free(struct kube_client *c);

/* The client's default namespace (cfg->namespace or "default"); borrowed, lives with c. */
const char *kube_client_namespace(const struct kube_client *c);

/* Write gate: while set and allow(ud) returns false, every non-GET request fails at once with
 * KUBE_ENOTLEADER without touching the network. Leader election installs it so a process that
 * lost its lease stops all writes at once. Writes to coordination.k8s.io leases are exempt (the
 * elector must keep trying to acquire its lease), as are kube_request calls with
 * KUBE_REQ_BYPASS_GATE. allow is called on the requesting thread; it must be cheap and
 * thread-safe. Pass allow NULL to remove. Safe to call at any time from any thread. */
void kube_client_set_write_gate(struct kube_client *c, bool (*allow)(void *ud), void *ud);

/* Common contract of the verbs below.
 * - ns: namespace for namespaced resources (NULL/"" on a namespaced GVR: for get/create/update/
 *   patch/delete KUBE_EINVAL, for list: all namespaces); ignored for cluster-scoped GVRs.
 * - name must be non-empty where present; subresource may be NULL ("status", "scale", ...).
 * - out: if non-NULL, receives the parsed response body (new tree, caller frees with
 *   cJSON_Delete; NULL on error or empty body).
 * - st: if non-NULL, receives the HTTP status and the server's Status (see kube_status).
 * - Returns 0 on 2xx, else a kube_err: API errors via kube_err_from_http (KUBE_ENOTFOUND,
 *   KUBE_ECONFLICT, KUBE_EALREADYEXISTS, KUBE_EGONE, ...), KUBE_EIO on transport errors,
 *   KUBE_ETIMEDOUT, KUBE_EPARSE on a 2xx body that is not JSON, KUBE_ENOTLEADER from the gate.
 * - Each attempt takes a token from the client's rate limiter (blocking), as its thread's
 *   priority class says (kube_set_priority).
 * - GET, LIST and DELETE are retried on 429/5xx/transport errors (Retry-After honoured, capped
 *   at 10 s); POST, PUT and PATCH only on a 429 that carries Retry-After (the server's flow
 *   control refused it before acting on it, as client-go retries it), never otherwise (not
 *   idempotent in general). A 429 with Retry-After also holds every NORMAL request of the
 *   client until then (Lease requests excepted: leader election must renew in time), so one
 *   throttled client does not storm the server; counted in
 *   kube_client_throttled_total{priority_level} (the APF X-Kubernetes-PF-PriorityLevel-UID
 *   response header; "" without one).
 * - Thread-safe. */
int kube_get(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
	     const char *name, const char *subresource, cJSON **out, struct kube_status *st);

/* Lists; when opts->limit > 0 follows continue tokens and returns one List holding every item
 * (metadata.resourceVersion from the last page). opts may be NULL. */
int kube_list(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
	      const struct kube_list_opts *opts, cJSON **out, struct kube_status *st);

/* POST obj to the collection. obj is borrowed and not changed. */
int kube_create(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
		const cJSON *obj, cJSON **out, struct kube_status *st);

/* PUT obj (which should carry metadata.resourceVersion for optimistic concurrency: a stale one
 * gives KUBE_ECONFLICT). */
int kube_update(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
		const char *name, const char *subresource, const cJSON *obj, cJSON **out,
		struct kube_status *st);

/* PATCH with the given JSON text (borrowed) and the content type of `type`. */
int kube_patch(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
	       const char *name, const char *subresource, enum kube_patch_type type,
	       const char *patch, cJSON **out, struct kube_status *st);

/* DELETE; opts (may be NULL) become a JSON DeleteOptions body. */
int kube_delete(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
		const char *name, const struct kube_delete_opts *opts, cJSON **out,
		struct kube_status *st);

/* Builds the URL path of a resource: /api/v1[/namespaces/NS]/RES[/NAME[/SUB]] or
 * /apis/G/V/... . ns/name/subresource may be NULL. Returns a malloc'd string (caller frees) or
 * NULL on ENOMEM. Path segments are percent-encoded. Pure. */
char *kube_resource_path(const struct kube_gvr *gvr, const char *ns, const char *name,
			 const char *subresource);

/* Low level: any request. path starts with '/', query is "a=b&c=d" (already encoded) or NULL,
 * body/content_type may be NULL. Same contract as the verbs; retried only when
 * KUBE_REQ_IDEMPOTENT is in flags (GET is always treated as idempotent). */
enum kube_req_flags {
	KUBE_REQ_IDEMPOTENT = 1 << 0,
	KUBE_REQ_BYPASS_GATE = 1 << 1,
};
int kube_request(struct kube_client *c, const char *method, const char *path, const char *query,
		 const char *content_type, const char *body, unsigned flags, cJSON **out,
		 struct kube_status *st);

/* Percent-encodes s as a query value (RFC 3986 unreserved characters kept), for the query of
 * kube_request or kube_get_stream. malloc'd (caller frees); NULL when s is NULL or on ENOMEM. */
char *kube_query_escape(const char *s);

/* Receives the body of a 2xx streamed response as it arrives, in pieces of any size (not
 * lines); a non-zero return ends the stream and becomes kube_get_stream's return value. */
typedef int (*kube_chunk_cb)(const char *buf, size_t len, void *ud);

/* GET path?query as a stream, for responses that are long or never end: a pod's log
 * (`/api/v1/namespaces/NS/pods/NAME/log`, query "container=C&follow=true"), a raw watch. 2xx
 * body bytes go to on_chunk as they arrive; a non-2xx answer is parsed as a Status into st (may
 * be NULL) and mapped to a kube_err (KUBE_ENOTFOUND, KUBE_EFORBIDDEN, ...). query is already
 * encoded or NULL; `resource` (may be NULL) labels the client's request metrics. One
 * rate-limiter token, never retried (part of the body may have been delivered). cancel (may be
 * NULL) is polled at least every 100 ms: setting it ends the stream with KUBE_ECANCELED.
 * timeout_seconds > 0 bounds the whole stream (KUBE_ETIMEDOUT), 0 leaves it unbounded. 0 when
 * the server ends the body. Thread-safe; blocks the calling thread. */
int kube_get_stream(struct kube_client *c, const char *path, const char *query,
		    const char *resource, int timeout_seconds, kube_chunk_cb on_chunk, void *ud,
		    const atomic_bool *cancel, struct kube_status *st);

#endif
