/* HTTP server for probes, metrics and extra handlers on libmicrohttpd: a small thread pool on
 * epoll with a connection limit and an idle timeout. Built-in endpoints answer like the
 * Kubernetes apiserver's /healthz and /readyz. */
#include "kube_httpd.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "kube_error.h"
#include "kube_log.h"
#include "kube_metrics.h"

#define MAX_BODY (1024 * 1024)
#define DEFAULT_THREADS 2
#define DEFAULT_MAX_CONNECTIONS 1000
#define DEFAULT_CONNECTION_TIMEOUT_S 10
#define CT_TEXT "text/plain; charset=utf-8"
#define CT_METRICS "text/plain; version=0.0.4; charset=utf-8"

struct check {
	char *name;
	kube_http_check_fn fn;
	void *data;
	int flag; /* for kube_httpd_set_ready checks; read/written with __atomic */
};

struct check_list {
	struct check **v;
	size_t n;
};

struct route {
	char *path;
	size_t len;
	int prefix;
	kube_http_handler_fn fn;
	void *data;
};

struct kube_httpd {
	char *bind;
	int disabled;
	char host[256]; /* "" = all interfaces */
	char port[8];
	struct kube_metrics *metrics;
	unsigned serves;
	int threads, max_connections, connection_timeout_s;
	kube_http_auth_fn auth;
	void *auth_data;
	int thread_per_connection;
	int stopping; /* __atomic: set while stopping, so streams end */

	pthread_mutex_t life; /* serializes start/stop */
	struct MHD_Daemon *daemon;
	int bound_port; /* __atomic: read by kube_httpd_port() from any thread */

	/* Registrations only grow until free, so pointers read under the lock stay valid. */
	pthread_rwlock_t reg;
	struct check_list health, ready;
	struct route *routes;
	size_t nroutes;
};

struct kube_http_request {
	struct MHD_Connection *conn;
	const char *method;
	const char *path;
	char *body;
	size_t len, cap;
	int too_big;
};

/* ---- bind address ---- */

/* Splits "host:port", "[v6]:port" or ":port" into h->host / h->port. */
static int parse_bind(struct kube_httpd *h, const char *addr)
{
	const char *colon, *host = addr, *port;
	size_t hostlen;
	char *end;
	long p;

	if (!addr || !*addr || strcmp(addr, "0") == 0) {
		h->disabled = 1;
		return 0;
	}
	colon = strrchr(addr, ':');
	if (!colon)
		return KUBE_EINVAL;
	port = colon + 1;
	hostlen = (size_t)(colon - addr);
	if (hostlen >= 2 && addr[0] == '[' && addr[hostlen - 1] == ']') {
		host = addr + 1;
		hostlen -= 2;
	} else if (memchr(addr, ':', hostlen)) {
		return KUBE_EINVAL; /* a bare IPv6 address needs brackets */
	}
	if (hostlen >= sizeof(h->host) || !*port || strlen(port) >= sizeof(h->port))
		return KUBE_EINVAL;
	p = strtol(port, &end, 10);
	if (*end || p < 0 || p > 65535)
		return KUBE_EINVAL;
	memcpy(h->host, host, hostlen);
	h->host[hostlen] = '\0';
	snprintf(h->port, sizeof(h->port), "%ld", p);
	return 0;
}

int kube_httpd_new(const char *bind_addr, struct kube_metrics *metrics, struct kube_httpd **out)
{
	struct kube_httpd_opts o = {.bind_addr = bind_addr, .metrics = metrics};

	return kube_httpd_new_opts(&o, out);
}

int kube_httpd_new_opts(const struct kube_httpd_opts *o, struct kube_httpd **out)
{
	const char *bind_addr = o ? o->bind_addr : NULL;
	struct kube_httpd *h;
	int rc;

	if (!out || !o || o->threads < 0 || o->max_connections < 0 || o->connection_timeout_s < 0)
		return KUBE_EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return KUBE_ENOMEM;
	pthread_mutex_init(&h->life, NULL);
	pthread_rwlock_init(&h->reg, NULL);
	h->metrics = o->metrics;
	h->serves = o->serves ? o->serves : KUBE_HTTPD_PROBES | KUBE_HTTPD_METRICS;
	h->threads = o->threads ? o->threads : DEFAULT_THREADS;
	h->max_connections = o->max_connections ? o->max_connections : DEFAULT_MAX_CONNECTIONS;
	h->connection_timeout_s = o->connection_timeout_s ? o->connection_timeout_s
							  : DEFAULT_CONNECTION_TIMEOUT_S;
	h->auth = o->auth;
	h->auth_data = o->auth_data;
	h->thread_per_connection = o->thread_per_connection;
	rc = parse_bind(h, bind_addr);
	if (rc < 0) {
		kube_log(KUBE_LOG_ERROR, "httpd", "invalid bind address", "addr",
			 bind_addr ? bind_addr : "(null)", NULL);
		goto out;
	}
	h->bind = strdup(bind_addr ? bind_addr : "");
	if (!h->bind)
		rc = KUBE_ENOMEM;
out:
	if (rc < 0) {
		kube_httpd_free(h);
		return rc;
	}
	*out = h;
	return 0;
}

static void checks_free(struct check_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i]->name);
		free(l->v[i]);
	}
	free(l->v);
}

void kube_httpd_free(struct kube_httpd *h)
{
	size_t i;

	if (!h)
		return;
	kube_httpd_stop(h);
	checks_free(&h->health);
	checks_free(&h->ready);
	for (i = 0; i < h->nroutes; i++)
		free(h->routes[i].path);
	free(h->routes);
	free(h->bind);
	pthread_rwlock_destroy(&h->reg);
	pthread_mutex_destroy(&h->life);
	free(h);
}

int kube_httpd_disabled(const struct kube_httpd *h)
{
	return h ? h->disabled : 1;
}

int kube_httpd_port(const struct kube_httpd *h)
{
	return h ? __atomic_load_n(&h->bound_port, __ATOMIC_ACQUIRE) : 0;
}

/* ---- registration ---- */

static int valid_check_name(const char *s)
{
	size_t i;

	if (!s || !*s)
		return 0;
	for (i = 0; s[i]; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			return 0;
	}
	return 1;
}

static struct check *check_find_locked(const struct check_list *l, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i]->name, name) == 0)
			return l->v[i];
	return NULL;
}

/* Appends a check; needs the write lock. On error nothing is added. */
static int check_add_locked(struct check_list *l, const char *name, kube_http_check_fn fn,
			    void *data, struct check **added)
{
	struct check **v, *c = NULL;
	int rc = KUBE_ENOMEM;

	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		goto out;
	l->v = v; /* grown but n unchanged: harmless if the rest fails */
	c = calloc(1, sizeof(*c));
	if (!c)
		goto out;
	c->name = strdup(name);
	if (!c->name)
		goto out;
	c->fn = fn;
	c->data = data;
	l->v[l->n++] = c;
	if (added)
		*added = c;
	c = NULL;
	rc = 0;
out:
	if (c) {
		free(c->name);
		free(c);
	}
	return rc;
}

static int add_check(struct kube_httpd *h, struct check_list *l, const char *name,
		     kube_http_check_fn fn, void *data)
{
	int rc;

	if (!h || !fn || !valid_check_name(name))
		return KUBE_EINVAL;
	pthread_rwlock_wrlock(&h->reg);
	if (check_find_locked(l, name))
		rc = KUBE_EALREADYEXISTS;
	else
		rc = check_add_locked(l, name, fn, data, NULL);
	pthread_rwlock_unlock(&h->reg);
	return rc;
}

int kube_httpd_add_healthz(struct kube_httpd *h, const char *name, kube_http_check_fn fn,
			   void *data)
{
	return h ? add_check(h, &h->health, name, fn, data) : KUBE_EINVAL;
}

int kube_httpd_add_readyz(struct kube_httpd *h, const char *name, kube_http_check_fn fn,
			  void *data)
{
	return h ? add_check(h, &h->ready, name, fn, data) : KUBE_EINVAL;
}

static int flag_check(void *data, char *why, size_t why_size)
{
	struct check *c = data;

	if (__atomic_load_n(&c->flag, __ATOMIC_ACQUIRE))
		return 0;
	snprintf(why, why_size, "not ready yet");
	return 1;
}

int kube_httpd_set_ready(struct kube_httpd *h, const char *name, int ready)
{
	struct check *c;
	int rc = 0;

	if (!h || !valid_check_name(name))
		return KUBE_EINVAL;
	/* Usually the flag exists: a read lock is enough to find it (checks are never removed). */
	pthread_rwlock_rdlock(&h->reg);
	c = check_find_locked(&h->ready, name);
	pthread_rwlock_unlock(&h->reg);
	if (!c) {
		pthread_rwlock_wrlock(&h->reg);
		c = check_find_locked(&h->ready, name);
		if (!c) {
			rc = check_add_locked(&h->ready, name, flag_check, NULL, &c);
			if (rc == 0) {
				c->data = c; /* the flag lives in the check itself */
				/* Set before readers can see the check: a /readyz between the
				 * unlock and the store below would report a flag never cleared. */
				__atomic_store_n(&c->flag, ready != 0, __ATOMIC_RELEASE);
			}
		}
		pthread_rwlock_unlock(&h->reg);
	}
	if (rc == 0 && c->fn != flag_check)
		rc = KUBE_EALREADYEXISTS; /* a function check took the name */
	if (rc == 0)
		__atomic_store_n(&c->flag, ready != 0, __ATOMIC_RELEASE);
	return rc;
}

static int is_builtin(const char *path)
{
	static const char *const builtins[] = {"/healthz", "/readyz", "/metrics"};
	size_t i, n;

	for (i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		n = strlen(builtins[i]);
		if (strncmp(path, builtins[i], n) == 0 && (path[n] == '\0' || path[n] == '/'))
			return 1;
	}
	return 0;
}

int kube_httpd_handle(struct kube_httpd *h, const char *path, kube_http_handler_fn fn,
		      void *data)
{
	struct route *v;
	size_t i;
	int rc = 0;

	if (!h || !fn || !path || path[0] != '/' || is_builtin(path))
		return KUBE_EINVAL;
	pthread_rwlock_wrlock(&h->reg);
	for (i = 0; i < h->nroutes; i++) {
		if (strcmp(h->routes[i].path, path) == 0) {
			rc = KUBE_EALREADYEXISTS;
			goto out;
		}
	}
	v = realloc(h->routes, (h->nroutes + 1) * sizeof(*v));
	if (!v) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	h->routes = v;
	v[h->nroutes].path = strdup(path);
	if (!v[h->nroutes].path) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	v[h->nroutes].len = strlen(path);
	v[h->nroutes].prefix = path[v[h->nroutes].len - 1] == '/';
	v[h->nroutes].fn = fn;
	v[h->nroutes].data = data;
	h->nroutes++;
out:
	pthread_rwlock_unlock(&h->reg);
	return rc;
}

/* ---- request accessors ---- */

const char *kube_http_request_method(const struct kube_http_request *req)
{
	return req ? req->method : NULL;
}

const char *kube_http_request_path(const struct kube_http_request *req)
{
	return req ? req->path : NULL;
}

struct arg_find {
	const char *key;
	const char *value;
};

static enum MHD_Result arg_iter(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *value)
{
	struct arg_find *a = cls;

	if (!key || strcmp(key, a->key) != 0)
		return MHD_YES;
	/* MHD gives a NULL value for "?verbose"; tell that apart from absence. */
	a->value = value ? value : "";
	return MHD_NO;
}

const char *kube_http_request_query(const struct kube_http_request *req, const char *key)
{
	struct arg_find a = {key, NULL};

	if (!req || !key)
		return NULL;
	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, arg_iter, &a);
	return a.value;
}

const char *kube_http_request_header(const struct kube_http_request *req, const char *name)
{
	if (!req || !name)
		return NULL;
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *kube_http_request_body(const struct kube_http_request *req, size_t *len)
{
	if (len)
		*len = req && req->body ? req->len : 0;
	return req && req->body ? req->body : "";
}

int kube_http_response_set(struct kube_http_response *resp, int status, const char *content_type,
			   const char *body, size_t len)
{
	int rc = 0;

	if (!resp)
		return KUBE_EINVAL;
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
	resp->status = status;
	if (content_type)
		snprintf(resp->content_type, sizeof(resp->content_type), "%s", content_type);
	if (len == 0)
		goto out;
	resp->body = malloc(len);
	if (!resp->body) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	memcpy(resp->body, body, len);
	resp->body_len = len;
out:
	return rc;
}

int kube_http_response_header(struct kube_http_response *resp, const char *name,
			      const char *value)
{
	size_t need;

	if (!resp || !name || !value || !*name || strpbrk(name, "\r\n:") ||
	    strpbrk(value, "\r\n"))
		return KUBE_EINVAL;
	need = strlen(name) + strlen(value) + 4;
	if (resp->headers_len + need >= sizeof(resp->headers))
		return KUBE_ENOMEM;
	snprintf(resp->headers + resp->headers_len, sizeof(resp->headers) - resp->headers_len,
		 "%s: %s\r\n", name, value);
	resp->headers_len += need;
	return 0;
}

int kube_http_response_stream(struct kube_http_response *resp,
			      long (*read)(void *data, char *buf, size_t max), void *data,
			      void (*free_fn)(void *data))
{
	if (!resp || !read)
		return KUBE_EINVAL;
	resp->stream = read;
	resp->stream_data = data;
	resp->stream_free = free_fn;
	return 0;
}

/* A stream the handler set up but that will not be sent. */
static void stream_abandon(struct kube_http_response *resp)
{
	if (resp->stream && resp->stream_free)
		resp->stream_free(resp->stream_data);
	resp->stream = NULL;
}

/* ---- built-in endpoints ---- */

static void set_text(struct kube_http_response *resp, int status, const char *text)
{
	if (kube_http_response_set(resp, status, CT_TEXT, text, strlen(text)) < 0)
		resp->status = 500;
}

/* Appends to a growing text buffer; on out-of-memory the text is cut, which only shortens a
 * diagnostic. Keeps room for the closing line. */
static void append(char **out, size_t *len, size_t *cap, const char *s, size_t n)
{
	char *p;

	while (*len + n + 64 > *cap) {
		p = realloc(*out, *cap * 2);
		if (!p)
			return;
		*out = p;
		*cap *= 2;
	}
	memcpy(*out + *len, s, n);
	*len += n;
	(*out)[*len] = '\0';
}

/* Runs checks like the apiserver: "ok" when all pass (or "[+]name ok" lines with ?verbose);
 * otherwise every check listed with the failing ones' reasons and "<what> check failed". */
static void serve_checks(struct kube_httpd *h, const struct kube_http_request *req,
			 struct kube_http_response *resp, const char *what, struct check_list *l,
			 const char *only, int fail_status)
{
	int verbose = kube_http_request_query(req, "verbose") != NULL;
	size_t i, cap = 256, len = 0;
	char *out = malloc(cap);
	int failed = 0, found = 0;

	if (!out) {
		resp->status = 500;
		goto out;
	}
	out[0] = '\0';
	pthread_rwlock_rdlock(&h->reg);
	for (i = 0; i < l->n; i++) {
		struct check *c = l->v[i];
		char why[256] = "";
		char line[512];
		int n;

		if (only && strcmp(only, c->name) != 0)
			continue;
		found = 1;
		if (c->fn(c->data, why, sizeof(why)) != 0) {
			failed = 1;
			why[sizeof(why) - 1] = '\0';
			n = snprintf(line, sizeof(line), "[-]%s failed: %s\n", c->name,
				     why[0] ? why : "reason unknown");
		} else {
			n = snprintf(line, sizeof(line), "[+]%s ok\n", c->name);
		}
		if (n < 0)
			continue;
		if ((size_t)n >= sizeof(line))
			n = sizeof(line) - 1;
		append(&out, &len, &cap, line, (size_t)n);
	}
	pthread_rwlock_unlock(&h->reg);

	if (only && !found) {
		set_text(resp, 404, "404 page not found\n");
	} else if (failed) {
		snprintf(out + len, cap - len, "%s check failed\n", what);
		set_text(resp, fail_status, out);
	} else if (verbose) {
		snprintf(out + len, cap - len, "%s check passed\n", what);
		set_text(resp, 200, out);
	} else {
		set_text(resp, 200, "ok");
	}
out:
	free(out);
}

static void serve_metrics(struct kube_httpd *h, struct kube_http_response *resp)
{
	struct kube_metrics *m = h->metrics ? h->metrics : kube_metrics_default();
	char *text = NULL;
	size_t len = 0;
	int rc = kube_metrics_render(m, &text, &len);

	if (rc < 0) {
		set_text(resp, 500, kube_strerror(rc));
		return;
	}
	resp->status = 200;
	snprintf(resp->content_type, sizeof(resp->content_type), "%s", CT_METRICS);
	resp->body = text;
	resp->body_len = len;
}

/* Whether this server answers the built-in path p (is_builtin(p) holds). */
static int serves_path(const struct kube_httpd *h, const char *p)
{
	if (strncmp(p, "/metrics", 8) == 0)
		return (h->serves & KUBE_HTTPD_METRICS) != 0;
	return (h->serves & KUBE_HTTPD_PROBES) != 0;
}

/* Asks the auth hook; on refusal answers 401/403 into resp and returns 0. */
static int authorized(struct kube_httpd *h, const struct kube_http_request *req,
		      struct kube_http_response *resp)
{
	char why[256] = "";
	int code;

	if (!h->auth)
		return 1;
	code = h->auth(h->auth_data, req, why, sizeof(why));
	if (code == 0)
		return 1;
	why[sizeof(why) - 1] = '\0';
	if (code != 401 && code != 403)
		code = 403;
	if (!why[0])
		snprintf(why, sizeof(why), "%s", code == 401 ? "Unauthorized" : "Forbidden");
	set_text(resp, code, why);
	return 0;
}

/* A built-in path? Then answers it and returns 1. */
static int serve_builtin(struct kube_httpd *h, const struct kube_http_request *req,
			 struct kube_http_response *resp)
{
	const char *p = req->path;
	int get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;

	if (!is_builtin(p))
		return 0;
	if (!serves_path(h, p)) {
		set_text(resp, 404, "404 page not found\n");
		return 1;
	}
	if (!get) {
		set_text(resp, 405, "method not allowed\n");
		return 1;
	}
	if (strcmp(p, "/healthz") == 0)
		serve_checks(h, req, resp, "healthz", &h->health, NULL, 500);
	else if (strncmp(p, "/healthz/", 9) == 0)
		serve_checks(h, req, resp, "healthz", &h->health, p + 9, 500);
	else if (strcmp(p, "/readyz") == 0)
		serve_checks(h, req, resp, "readyz", &h->ready, NULL, 503);
	else if (strncmp(p, "/readyz/", 8) == 0)
		serve_checks(h, req, resp, "readyz", &h->ready, p + 8, 503);
	else if (strcmp(p, "/metrics") == 0 && authorized(h, req, resp))
		serve_metrics(h, resp);
	else if (strcmp(p, "/metrics") == 0)
		; /* authorized() answered */
	else
		set_text(resp, 404, "404 page not found\n");
	return 1;
}

/* Longest registered route matching path; "/x/" also matches "/x". Copies it out so the
 * handler runs without the registration lock held. */
static int find_route(struct kube_httpd *h, const char *path, struct route *found)
{
	size_t i, best = 0, plen = strlen(path);
	int ok = 0;

	pthread_rwlock_rdlock(&h->reg);
	for (i = 0; i < h->nroutes; i++) {
		const struct route *r = &h->routes[i];
		int match;

		if (!r->prefix)
			match = strcmp(path, r->path) == 0;
		else
			match = strncmp(path, r->path, r->len) == 0 ||
				(plen == r->len - 1 && strncmp(path, r->path, plen) == 0);
		if (match && r->len > best) {
			best = r->len;
			*found = *r;
			ok = 1;
		}
	}
	pthread_rwlock_unlock(&h->reg);
	return ok;
}

/* Answers req into resp; returns 1 when a built-in answered (their 405 carries an Allow). */
static int dispatch(struct kube_httpd *h, const struct kube_http_request *req,
		    struct kube_http_response *resp)
{
	struct route r;
	int rc;

	if (req->too_big) {
		set_text(resp, 413, "request body too large\n");
		return 0;
	}
	if (serve_builtin(h, req, resp))
		return 1;
	if (!find_route(h, req->path, &r)) {
		set_text(resp, 404, "404 page not found\n");
		return 0;
	}
	if (!authorized(h, req, resp))
		return 0;
	rc = r.fn(r.data, req, resp);
	if (rc < 0 || resp->status < 100 || resp->status > 599) {
		stream_abandon(resp);
		kube_log(KUBE_LOG_WARN, "httpd", "handler failed", "path", req->path, "error",
			 rc < 0 ? kube_strerror(rc) : "invalid status", NULL);
		set_text(resp, 500, rc < 0 ? kube_strerror(rc) : "invalid status");
	}
	return 0;
}

/* A streamed body: the handler's reader, ended when the server stops. */
struct stream {
	struct kube_httpd *h;
	long (*read)(void *data, char *buf, size_t max);
	void *data;
	void (*free_fn)(void *data);
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *s = cls;
	long n;

	(void)pos;
	if (__atomic_load_n(&s->h->stopping, __ATOMIC_ACQUIRE))
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = s->read(s->data, buf, max);
	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (n < 0 || (size_t)n > max)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return (ssize_t)n;
}

static void stream_done(void *cls)
{
	struct stream *s = cls;

	if (s->free_fn)
		s->free_fn(s->data);
	free(s);
}

static struct MHD_Response *make_stream(struct kube_httpd *h, struct kube_http_response *resp)
{
	struct stream *s = calloc(1, sizeof(*s));
	struct MHD_Response *r;

	if (!s) {
		stream_abandon(resp);
		return NULL;
	}
	s->h = h;
	s->read = resp->stream;
	s->data = resp->stream_data;
	s->free_fn = resp->stream_free;
	resp->stream = NULL;
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_done);
	if (!r)
		stream_done(s);
	return r;
}

/* Adds the handler's "Name: value\r\n" lines. */
static void add_headers(struct MHD_Response *r, const struct kube_http_response *resp)
{
	char buf[sizeof(resp->headers)];
	char *line, *save = NULL;

	memcpy(buf, resp->headers, resp->headers_len);
	buf[resp->headers_len] = '\0';
	for (line = strtok_r(buf, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		char *colon = strchr(line, ':');

		if (!colon)
			continue;
		*colon = '\0';
		MHD_add_response_header(r, line, colon + 1 + (colon[1] == ' '));
	}
}

static enum MHD_Result send_response(struct kube_httpd *h, struct MHD_Connection *conn,
				     struct kube_http_response *resp, int builtin)
{
	struct MHD_Response *r;
	enum MHD_Result ret = MHD_NO;

	if (resp->stream) {
		free(resp->body);
		resp->body = NULL;
		r = make_stream(h, resp);
		if (!r)
			goto out;
		goto headers;
	}
	/* MUST_FREE hands the malloc'd body to MHD, which free()s it after sending. */
	r = MHD_create_response_from_buffer(resp->body_len, resp->body ? resp->body : (void *)"",
					    resp->body ? MHD_RESPMEM_MUST_FREE
						       : MHD_RESPMEM_PERSISTENT);
	if (!r) {
		free(resp->body);
		goto out;
	}
headers:
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	add_headers(r, resp);
	if (builtin && resp->status == 405)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, (unsigned int)resp->status, r);
	MHD_destroy_response(r);
out:
	resp->body = NULL;
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct kube_httpd *h = cls;
	struct kube_http_request *req = *con_cls;
	struct kube_http_response resp = {.status = 200, .content_type = "application/json"};
	int builtin;

	if (!req) {
		/* First call: only headers are known. Keep state for the body chunks to come. */
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		*con_cls = req;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (req->too_big || req->len + n > MAX_BODY) {
			req->too_big = 1;
			return MHD_YES;
		}
		if (req->len + n + 1 > req->cap) {
			size_t cap = req->cap ? req->cap : 1024;
			char *p;

			while (cap < req->len + n + 1)
				cap *= 2;
			p = realloc(req->body, cap);
			if (!p)
				return MHD_NO;
			req->body = p;
			req->cap = cap;
		}
		memcpy(req->body + req->len, upload_data, n);
		req->len += n;
		req->body[req->len] = '\0';
		return MHD_YES;
	}
	req->conn = conn;
	req->method = method;
	req->path = url;
	builtin = dispatch(h, req, &resp);
	return send_response(h, conn, &resp, builtin);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct kube_http_request *req = *con_cls;

	if (req) {
		free(req->body);
		free(req);
		*con_cls = NULL;
	}
}

__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	kube_log(KUBE_LOG_DEBUG, "httpd", msg, NULL);
}

/* ---- lifecycle ---- */

/* A pool of h->threads threads on epoll: an idle connection holds no thread, so a flood of them
 * (up to the connection limit, each closed after the idle timeout) cannot starve a probe. */
static struct MHD_Daemon *start_daemon(struct kube_httpd *h, unsigned int extra_flags,
				       const struct sockaddr *sa, unsigned short port)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC |
			     MHD_USE_ERROR_LOG | extra_flags;
	struct MHD_OptionItem opts[] = {
		{MHD_OPTION_CONNECTION_TIMEOUT, h->connection_timeout_s, NULL},
		{MHD_OPTION_CONNECTION_LIMIT, h->max_connections, NULL},
		{MHD_OPTION_THREAD_POOL_SIZE, h->threads, NULL},
		{MHD_OPTION_END, 0, NULL},
	};

	if (h->thread_per_connection) {
		flags |= MHD_USE_THREAD_PER_CONNECTION;
		opts[2].option = MHD_OPTION_END; /* no pool */
	}

	if (sa)
		return MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
					MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
					MHD_OPTION_SOCK_ADDR, sa,
					MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
					MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	return MHD_start_daemon(flags, port, NULL, NULL, on_request, h,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
				MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
}

/* Why MHD could not listen: it does not say, so bind the same address ourselves and ask the
 * kernel ("address already in use", "cannot assign requested address", ...). */
static const char *bind_error(const struct sockaddr *sa, socklen_t len)
{
	int fd = socket(sa->sa_family, SOCK_STREAM, 0), err = 0, one = 1;

	if (fd < 0)
		return strerror(errno);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, sa, len) != 0)
		err = errno;
	close(fd);
	return err ? strerror(err) : "unknown error";
}

static const char *why_not_bound(struct kube_httpd *h)
{
	struct sockaddr_in any4 = {.sin_family = AF_INET};
	struct addrinfo hints = {0}, *res = NULL;
	const char *why;

	if (!h->host[0]) {
		any4.sin_port = htons((unsigned short)atoi(h->port));
		return bind_error((struct sockaddr *)&any4, sizeof(any4));
	}
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(h->host, h->port, &hints, &res) != 0 || !res)
		return "cannot resolve host";
	why = bind_error(res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return why;
}

/* Binds as asked: no host means every interface (dual stack when the kernel has IPv6); a host
 * is resolved and each address tried in turn. */
static struct MHD_Daemon *bind_daemon(struct kube_httpd *h)
{
	struct addrinfo hints = {0}, *res = NULL, *ai;
	struct MHD_Daemon *d = NULL;
	unsigned short port = (unsigned short)atoi(h->port);
	int gai;

	if (!h->host[0]) {
		d = start_daemon(h, MHD_USE_DUAL_STACK, NULL, port);
		if (!d)
			d = start_daemon(h, 0, NULL, port);
		return d;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	gai = getaddrinfo(h->host, h->port, &hints, &res);
	if (gai != 0) {
		kube_log(KUBE_LOG_ERROR, "httpd", "cannot resolve bind address", "addr", h->bind,
			 "error", gai_strerror(gai), NULL);
		return NULL;
	}
	for (ai = res; ai && !d; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		d = start_daemon(h, ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0, ai->ai_addr, 0);
	}
	freeaddrinfo(res);
	return d;
}

int kube_httpd_start(struct kube_httpd *h)
{
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;
	int rc = 0;
	char port[8];

	if (!h)
		return KUBE_EINVAL;
	pthread_mutex_lock(&h->life);
	if (h->disabled || h->daemon)
		goto out;
	d = bind_daemon(h);
	if (!d) {
		kube_log(KUBE_LOG_ERROR, "httpd", "cannot listen", "addr", h->bind, "error",
			 why_not_bound(h), NULL);
		rc = KUBE_EIO;
		goto out;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	h->daemon = d;
	__atomic_store_n(&h->bound_port, info ? (int)info->port : atoi(h->port), __ATOMIC_RELEASE);
	snprintf(port, sizeof(port), "%d", kube_httpd_port(h));
	kube_log(KUBE_LOG_INFO, "httpd", "serving", "addr", h->bind, "port", port, NULL);
out:
	pthread_mutex_unlock(&h->life);
	return rc;
}

void kube_httpd_stop(struct kube_httpd *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->life);
	if (h->daemon) {
		__atomic_store_n(&h->stopping, 1, __ATOMIC_RELEASE);
		MHD_stop_daemon(h->daemon);
		__atomic_store_n(&h->stopping, 0, __ATOMIC_RELEASE);
		h->daemon = NULL;
		__atomic_store_n(&h->bound_port, 0, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&h->life);
}
