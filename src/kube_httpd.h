/* A small HTTP server (libmicrohttpd) for a controller's /healthz, /readyz and /metrics, plus
 * extra handlers by path (e.g. a dashboard). A small pool of threads on epoll serves every
 * connection, with a connection limit and an idle timeout, so idle connections cost no thread
 * and a flood of them cannot stop probes; give probes a server of their own (serves) so a slow
 * handler never delays them. Registration and start/stop are thread-safe; stop is prompt and
 * joins every thread. */
#ifndef KUBE_HTTPD_H
#define KUBE_HTTPD_H

#include <stddef.h>

struct kube_metrics;
struct kube_httpd;
/* One request, valid only during the handler call. */
struct kube_http_request;

/* What a handler answers. The server pre-fills status 200, content type "application/json" and
 * no body. body must be NULL or come from malloc(): the server frees it after sending. */
struct kube_http_response {
	int status;
	char content_type[96];
	char *body;
	size_t body_len;
	/* Extra headers as "Name: value\r\n" lines (kube_http_response_header adds one). */
	char headers[1024];
	size_t headers_len;
	/* A streamed body (kube_http_response_stream): body is then ignored. */
	long (*stream)(void *data, char *buf, size_t max);
	void *stream_data;
	void (*stream_free)(void *data);
};

/* A handler for an extra path. Any method reaches it; it decides (e.g. answers 405). Returns 0,
 * or a negative kube_err to have the server answer 500 (a body it set is then freed). Runs on a
 * server thread, concurrently with other requests; it must not register or stop on this server. */
typedef int (*kube_http_handler_fn)(void *data, const struct kube_http_request *req,
				    struct kube_http_response *resp);

/* A health check: returns 0 when healthy; otherwise nonzero and may write why (NUL-terminated,
 * at most why_size bytes). Called on a server thread for every probe; keep it cheap. */
typedef int (*kube_http_check_fn)(void *data, char *why, size_t why_size);

/* What a server answers besides its extra handlers (kube_httpd_opts.serves). */
enum kube_httpd_serves {
	KUBE_HTTPD_PROBES = 1 << 0,  /* /healthz, /readyz and their /<check> paths */
	KUBE_HTTPD_METRICS = 1 << 1, /* /metrics */
	KUBE_HTTPD_HANDLERS_ONLY = 1 << 2, /* none of the above: only the extra handlers (a
					    * dashboard port) */
};

/* Decides whether a request to /metrics or to an extra handler may proceed (probes are never
 * asked). Returns 0 to allow, 401 (no or bad credentials) or 403 (not allowed) to refuse; may
 * write why (NUL-terminated, at most why_size bytes), which becomes the body. Runs on a server
 * thread for each request, concurrently; it may block briefly (e.g. a cached API call). */
typedef int (*kube_http_auth_fn)(void *data, const struct kube_http_request *req, char *why,
				 size_t why_size);

struct kube_httpd_opts {
	const char *bind_addr;        /* as for kube_httpd_new; copied */
	struct kube_metrics *metrics; /* as for kube_httpd_new */
	unsigned serves;              /* kube_httpd_serves bits; 0 = all */
	int threads;                  /* worker threads; 0 = 2 */
	int max_connections;          /* open connections at most (more are refused at once);
	                               * 0 = 1000 */
	int connection_timeout_s;     /* an idle connection is closed after this; 0 = 10 */
	kube_http_auth_fn auth;       /* NULL = no protection */
	void *auth_data;              /* borrowed */
	/* One thread per connection instead of the pool (threads is then ignored): for servers
	 * whose handlers stream (Server-Sent Events), where a stream's reader may block. Keep
	 * max_connections small on such a server. */
	int thread_per_connection;
};

/* Like kube_httpd_new with options. Paths a server does not serve answer 404 (so a probe port
 * never shows /metrics, nor a metrics port /healthz). Returns as kube_httpd_new, and
 * KUBE_EINVAL for negative limits. */
int kube_httpd_new_opts(const struct kube_httpd_opts *opts, struct kube_httpd **out);

/* Creates a server for bind_addr, controller-runtime style: ":8080" (all interfaces),
 * "127.0.0.1:0" (port 0 picks a free port), "[::1]:9090", "localhost:8080", or "0" / "" (disabled:
 * start succeeds and serves nothing). metrics is the registry /metrics renders; NULL means the
 * process-wide kube_metrics_default() (looked up per request). Borrowed: it must outlive the
 * server. Serves every built-in path, without protection, with the default limits.
 * Returns 0, KUBE_EINVAL (unparsable address) or KUBE_ENOMEM; *out is set only on success. */
int kube_httpd_new(const char *bind_addr, struct kube_metrics *metrics, struct kube_httpd **out);

/* Stops the server if it runs, then frees it and every registration. NULL is a no-op. */
void kube_httpd_free(struct kube_httpd *h);

/* Binds and starts serving. Returns 0 (also when disabled or already running), KUBE_EIO when the
 * address cannot be bound (in use, unknown host; logged with the reason, e.g. "address already
 * in use"), KUBE_ENOMEM. On error nothing runs. */
int kube_httpd_start(struct kube_httpd *h);

/* Stops serving: closes the listener and every connection and joins the server's threads, so no
 * handler runs once it returns. Idempotent; the server may be started again. */
void kube_httpd_stop(struct kube_httpd *h);

/* True when the server was made with a disabled address ("0" or ""): it never serves. */
int kube_httpd_disabled(const struct kube_httpd *h);

/* The bound port while running (the real one when port 0 was asked), else 0. */
int kube_httpd_port(const struct kube_httpd *h);

/* Adds a liveness check to /healthz or a readiness check to /readyz. name: [a-z0-9._-]+,
 * unique per endpoint; copied. Each check is also served alone at /healthz/<name> or
 * /readyz/<name>.
 * Returns 0, KUBE_EINVAL (bad name, NULL fn), KUBE_EALREADYEXISTS, KUBE_ENOMEM. */
int kube_httpd_add_healthz(struct kube_httpd *h, const char *name, kube_http_check_fn fn,
			   void *data);
int kube_httpd_add_readyz(struct kube_httpd *h, const char *name, kube_http_check_fn fn,
			  void *data);

/* A readiness check that is a flag ("informers-synced"): created on first use as not ready, then
 * set to ready (nonzero) or not. Returns 0, KUBE_EINVAL, KUBE_ENOMEM. Cheap; any thread. */
int kube_httpd_set_ready(struct kube_httpd *h, const char *name, int ready);

/* Serves path with fn. A path ending in '/' is a prefix ("/dashboard/" also serves
 * "/dashboard/x" and "/dashboard"); otherwise the match is exact. Longest match wins; the built-in
 * paths cannot be replaced. Returns 0, KUBE_EINVAL, KUBE_EALREADYEXISTS, KUBE_ENOMEM. */
int kube_httpd_handle(struct kube_httpd *h, const char *path, kube_http_handler_fn fn,
		      void *data);

/* Request accessors (borrowed strings, valid during the handler call). */
const char *kube_http_request_method(const struct kube_http_request *req);
/* The path without the query string, percent-decoded. */
const char *kube_http_request_path(const struct kube_http_request *req);
/* A query parameter: its decoded value, "" when present without a value ("?verbose"), or NULL
 * when absent. With repeats, the first. */
const char *kube_http_request_query(const struct kube_http_request *req, const char *key);
/* A request header (case-insensitive name), or NULL. */
const char *kube_http_request_header(const struct kube_http_request *req, const char *name);
/* The request body (NUL-terminated for convenience; *len excludes the NUL) or "" with *len 0.
 * Bodies above 1 MiB are refused with 413 before any handler runs. */
const char *kube_http_request_body(const struct kube_http_request *req, size_t *len);

/* Fills resp: status, content type (copied, truncated to fit; NULL keeps the current one) and a
 * malloc'd copy of len bytes of body (any previous body is freed).
 * Returns 0 or KUBE_ENOMEM (resp->body is then NULL). */
int kube_http_response_set(struct kube_http_response *resp, int status, const char *content_type,
			   const char *body, size_t len);

/* Adds a response header (name and value copied; CR/LF refused). Returns 0, KUBE_EINVAL, or
 * KUBE_ENOMEM when the header space (1 KiB) is full. */
int kube_http_response_header(struct kube_http_response *resp, const char *name,
			      const char *value);

/* Streams the body instead of sending a buffer (e.g. Server-Sent Events): after the handler
 * returns, read(data, buf, max) is called on a server thread until it returns 0 (end) or a
 * negative value (abort); >0 is the number of bytes it wrote into buf. It may block, but for at
 * most about a second per call (it is called again at once), and only on a server made with
 * thread_per_connection; once the server stops or the client goes away it is not called again.
 * free_fn(data) (may be NULL) runs exactly once when the response is done or cannot be sent.
 * Returns 0 or KUBE_EINVAL (then free_fn is not called). */
int kube_http_response_stream(struct kube_http_response *resp,
			      long (*read)(void *data, char *buf, size_t max), void *data,
			      void (*free_fn)(void *data));

#endif
