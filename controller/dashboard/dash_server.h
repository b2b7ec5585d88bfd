/* The operator's web dashboard: its own HTTP server (its own bind address, off unless
 * configured), every request authenticated with a TokenReview, what each user sees checked with
 * SubjectAccessReviews, pages and scripts compiled into the binary. Boards are JSON snapshots a
 * controller registers; each is served at /api/v1/boards/<name> and streamed live (Server-Sent
 * Events) at /api/v1/boards/<name>/events. */
#ifndef DASH_SERVER_H
#define DASH_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct kube_client;
struct kube_http_request;
struct kube_http_response;
struct kube_httpd_user;
struct kube_httpd_access;
struct dash_server;

struct dash_server_opts {
	/* "127.0.0.1:8082", ":8082" (every interface: only behind a NetworkPolicy), "0" or ""
	 * = off (the default). */
	const char *bind_addr;
	/* For the TokenReviews and SubjectAccessReviews (borrowed; must outlive the server). */
	struct kube_client *client;
	int max_connections;  /* 0 = 64 (each live view holds one, and a thread) */
	int stream_max_s;     /* a live stream ends after this and the browser reconnects
			       * (re-authenticated); 0 = 300 */
	int poll_ms;          /* how often a live stream looks for changes; 0 = 250 */
	int64_t auth_cache_ms; /* review answers kept this long; 0 = 10000 */
};

/* A board: who may see which items, and its data. */
struct dash_board {
	const char *name;     /* [a-z0-9-]+: the URL path element */
	const char *group;    /* API group of the kind it shows, for the SubjectAccessReview */
	const char *resource; /* plural resource: seeing an item needs `list <resource>` in the
			       * item's namespace (or cluster-wide) */
	/* A new snapshot (caller frees) with an "items" array whose objects have "namespace";
	 * NULL on out-of-memory. Called on server threads, concurrently. */
	cJSON *(*snapshot)(void *data);
	/* After items the user may not see are removed: recompute the totals from what is left.
	 * all: the user may list cluster-wide (global figures may stay). May be NULL. */
	void (*summarize)(cJSON *board, bool all, void *data);
	void *data;
	/* Frees data when the server is freed (may be NULL: data is then borrowed). */
	void (*free)(void *data);
};

/* Makes the server (nothing runs yet). Returns 0, KUBE_EINVAL (bad address, no client) or
 * KUBE_ENOMEM. */
int dash_server_new(const struct dash_server_opts *o, struct dash_server **out);

/* Adds a board (copied; data borrowed until the server is freed, which calls b->free). On
 * error b->free(b->data) is called too. Returns 0, KUBE_EINVAL, KUBE_EALREADYEXISTS,
 * KUBE_ENOMEM. Any time, any thread. */
int dash_server_add_board(struct dash_server *d, const struct dash_board *b);

/* Binds and serves (no-op when off). Returns 0 or KUBE_EIO / KUBE_ENOMEM. */
int dash_server_start(struct dash_server *d);

/* Ends every stream and stops serving; idempotent. */
void dash_server_stop(struct dash_server *d);

/* Stops and frees. NULL is a no-op. */
void dash_server_free(struct dash_server *d);

/* The bound port while running, else 0. */
int dash_server_port(const struct dash_server *d);

/* The process's dashboard, for controllers to register boards into without new plumbing
 * (main sets it; NULL when there is none, and registrations are then no-ops). */
void dash_server_set_default(struct dash_server *d);
struct dash_server *dash_server_default(void);

/* ---- pure helpers, exposed for tests ---- */

/* The CSRF rule for anything but GET/HEAD (future buttons): the X-Phoenix-CSRF header must
 * equal the phx_csrf cookie (double submit: another site can neither read the cookie nor send
 * the custom header without a CORS preflight we never answer), and Origin, when sent, must be
 * this host. cookie_header/origin/host may be NULL. true = passes. */
bool dash_csrf_ok(const char *csrf_header, const char *cookie_header, const char *origin,
		  const char *host);

/* Removes from board's "items" the ones whose namespace `allowed` refuses; returns how many
 * are left. */
int dash_board_filter(cJSON *board, bool (*allowed)(const char *ns, void *ud), void *ud);

/* ---- routes: a controller's own JSON API (and actions) under /api/v1/<prefix> ---- */

/* One request to a route, after authentication (and, for anything but GET/HEAD, the CSRF
 * check). Borrowed for the call. */
struct dash_call {
	struct dash_server *d;
	const struct kube_http_request *req;
	const struct kube_httpd_user *user;
	const char *rest;  /* the path after "/api/v1/<prefix>" ("" or starting with '/') */
	bool write;        /* not GET/HEAD (CSRF passed) */
};

struct dash_route {
	const char *prefix; /* [a-z0-9-]+, e.g. "pipeline": serves /api/v1/pipeline[/...] */
	int (*fn)(void *data, const struct dash_call *c, struct kube_http_response *resp);
	void *data;
	void (*free)(void *data); /* may be NULL */
};

/* Adds a route (copied; data as for boards). Returns 0, KUBE_EINVAL, KUBE_EALREADYEXISTS,
 * KUBE_ENOMEM (on error r->free(r->data) is called). */
int dash_server_add_route(struct dash_server *d, const struct dash_route *r);

/* May the caller do verb on group/resource in ns ("" = cluster-wide)? Cached
 * SubjectAccessReview (fail closed). */
bool dash_call_can(const struct dash_call *c, const char *verb, const char *group,
		   const char *resource, const char *ns);

/* The same for any attributes (a subresource such as pods/log, a name). */
bool dash_call_may(const struct dash_call *c, const struct kube_httpd_access *w);

/* Answers {"error": msg, "code": status} / the JSON o (borrowed). 0 or KUBE_ENOMEM. */
int dash_answer_error(struct kube_http_response *resp, int status, const char *msg);
int dash_answer_json(struct kube_http_response *resp, int status, const cJSON *o);

/* A live view: streams (SSE event "board") what poll(ud, user, &status) returns whenever it
 * differs from the last sent; poll returning NULL ends the stream with an event "denied"
 * {"code": status}. poll runs on a server thread; ud is freed with ud_free (may be NULL) when
 * the stream ends, and on error. The first poll happens before answering, so a refusal is a
 * real HTTP status. Returns 0 or KUBE_ENOMEM. */
int dash_serve_live(const struct dash_call *c,
		    cJSON *(*poll)(void *ud, const struct kube_httpd_user *u, int *status),
		    void *ud, void (*ud_free)(void *ud), struct kube_http_response *resp);

/* A stream's read step: copies what is left of pending[*off..len) into buf (advancing *off),
 * or, with nothing left, an SSE comment that keeps the connection alive. Returns the bytes
 * written, or -1 when max is too small. */
long dash_sse_send(const char *pending, size_t len, size_t *off, char *buf, size_t max);

#endif
