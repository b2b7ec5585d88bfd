/* kubesim fault injection: rules the HTTP layer consults on every API request (fail the next N
 * requests matching a method and path prefix with a status; add latency; stall the open watch
 * streams). Dropping every watch and
 * compacting the history are store operations: sim_store_close_watches, sim_store_compact. */
#ifndef SIM_FAULT_H
#define SIM_FAULT_H

#include <cjson/cJSON.h>

struct sim_fault;

/* Returns 0 or KUBE_ENOMEM. */
int sim_fault_new(struct sim_fault **out);
/* NULL is a no-op. */
void sim_fault_free(struct sim_fault *f);

/* Fails the next `count` requests whose method equals `method` (NULL or "*" = any) and whose
 * path starts with `path_prefix` (NULL or "" = any) with HTTP `status` (a Status body with the
 * usual reason for that code). count <= 0 means "until cleared". Rules are checked in the order
 * added; the first match with count left wins. Returns 0, KUBE_EINVAL (status not 400..599),
 * KUBE_ENOMEM. Thread-safe. */
int sim_fault_add_error(struct sim_fault *f, const char *method, const char *path_prefix,
			int status, int count);

/* Adds `ms` of latency to every request matching method/path_prefix (as above), until cleared.
 * Returns 0, KUBE_EINVAL (ms < 0), KUBE_ENOMEM. Thread-safe. */
int sim_fault_add_latency(struct sim_fault *f, const char *method, const char *path_prefix,
			  int ms);

/* Stalls every watch stream open now whose path starts with path_prefix (NULL or "" = all): it
 * stays open and sends nothing more, not even a BOOKMARK, as behind a NAT or load balancer that
 * lost the connection's state without a FIN or RST. Watches opened afterwards are served
 * normally. Shown in the rules as {type:"stall-watches",path,generation} until cleared (clearing
 * does not revive a stalled stream). Returns 0 or KUBE_ENOMEM. Thread-safe. */
int sim_fault_stall_watches(struct sim_fault *f, const char *path_prefix);

/* The stall generation now: a watch stream records it when it opens. Thread-safe. */
unsigned long sim_fault_watch_generation(struct sim_fault *f);

/* True when a stall-watches rule added after `generation` matches `path`. Thread-safe. */
int sim_fault_watch_stalled(struct sim_fault *f, unsigned long generation, const char *path);

/* Removes every rule. Thread-safe. */
void sim_fault_clear(struct sim_fault *f);

/* Consulted per request: returns the status to fail with (0 = none; consumes one count of the
 * matching error rule) and sets *delay_ms to the summed latency of matching latency rules (the
 * caller sleeps; this never blocks). Thread-safe. */
int sim_fault_check(struct sim_fault *f, const char *method, const char *path, int *delay_ms);

/* The active rules as a JSON array of {type:"error"|"latency",method,path,status,remaining,ms}
 * (new object, caller frees; NULL on ENOMEM). Thread-safe. */
cJSON *sim_fault_rules(struct sim_fault *f);

/* ---- A server that enforces a rate (API Priority and Fairness, as a client sees it) ----
 * Requests matching method/path_prefix (as above) beyond `qps` per second (bucket of `burst`,
 * refilled continuously) are answered 429 with Retry-After: retry_after_s and the APF
 * X-Kubernetes-PF-FlowSchema-UID / PriorityLevel-UID headers; one rule until cleared. Shown in
 * the rules as {type:"rate-limit",method,path,qps,burst,retryAfter,admitted,rejected}.
 * Returns 0, KUBE_EINVAL (qps <= 0, burst < 1, retry_after_s < 0), KUBE_ENOMEM. Thread-safe. */
int sim_fault_add_rate_limit(struct sim_fault *f, const char *method, const char *path_prefix,
			     double qps, int burst, int retry_after_s);

/* Consulted per request after sim_fault_check found no fault: 429 when a rate-limit rule
 * refuses it (and *retry_after_s set), else 0 (the request consumed a token of every matching
 * rule). Also counts the request for sim_fault_requests. Thread-safe. */
int sim_fault_check_rate(struct sim_fault *f, const char *method, const char *path,
			 int *retry_after_s);

/* The API requests seen by sim_fault_check_rate since start, by method and in all:
 * {"GET":n,"POST":n,"PUT":n,"PATCH":n,"DELETE":n,"total":n,"rejected429":n} (new object;
 * NULL on ENOMEM). Not reset by sim_fault_clear: a bench takes differences. Thread-safe. */
cJSON *sim_fault_requests(struct sim_fault *f);

/* The Status reason the apiserver uses for an HTTP code ("NotFound", "Conflict",
 * "InternalError", "ServiceUnavailable", "TooManyRequests", ...). Static string. */
const char *sim_fault_reason(int status);

#endif
