/* The web dashboard's server (dash_server.h): routing, authentication and authorization,
 * security headers, CSRF, the compiled-in assets, JSON boards and their live streams. */
#include "dash_server.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "dash_assets.h"
#include "kube_error.h"
#include "kube_httpd.h"
#include "kube_httpd_auth.h"
#include "kube_json.h"
#include "kube_log.h"

#define COMP "dashboard"
#define MAX_BOARDS 16
#define MAX_ROUTES 16
#define DEFAULT_MAX_CONNECTIONS 64
#define DEFAULT_STREAM_MAX_S 300
#define DEFAULT_POLL_MS 250
#define KEEPALIVE_MS 15000
#define MEMO_MS 10000 /* a stream re-asks its access answers this often */
#define CT_JSON "application/json"
#define CT_TEXT "text/plain; charset=utf-8"
#define CSRF_COOKIE "phx_csrf"
#define CSRF_HEADER "X-Phoenix-CSRF"

struct board {
	struct dash_board b;
	char name[64], group[128], resource[128];
};

struct dash_server {
	struct kube_httpd *httpd;
	struct kube_httpd_auth *auth;
	int stream_max_s, poll_ms;
	int stopping; /* __atomic */

	pthread_mutex_t mu; /* boards */
	struct board boards[MAX_BOARDS];
	int nboards;
	struct route { struct dash_route r; char prefix[64]; } routes[MAX_ROUTES];
	int nroutes;
};

static struct dash_server *default_server; /* __atomic */

void dash_server_set_default(struct dash_server *d)
{
	__atomic_store_n(&default_server, d, __ATOMIC_RELEASE);
}

struct dash_server *dash_server_default(void)
{
	return __atomic_load_n(&default_server, __ATOMIC_ACQUIRE);
}

/* ---------------------------------------------------------------- helpers */

/* Headers every answer carries: nothing may embed, sniff, cache or leak the page. */
static void secure(struct kube_http_response *resp)
{
	kube_http_response_header(resp, "Content-Security-Policy",
				  "default-src 'none'; script-src 'self'; style-src 'self'; "
				  "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
				  "form-action 'self'; frame-ancestors 'none'");
	kube_http_response_header(resp, "X-Frame-Options", "DENY");
	kube_http_response_header(resp, "Referrer-Policy", "no-referrer");
	kube_http_response_header(resp, "Cache-Control", "no-store");
	kube_http_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
	kube_http_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
}

/* {"error": msg, "code": status} */
static int answer_error(struct kube_http_response *resp, int status, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *txt;
	int rc;

	cJSON_AddStringToObject(o, "error", msg);
	cJSON_AddNumberToObject(o, "code", status);
	txt = kube_json_print(o);
	cJSON_Delete(o);
	if (!txt)
		return KUBE_ENOMEM;
	rc = kube_http_response_set(resp, status, CT_JSON, txt, strlen(txt));
	free(txt);
	return rc;
}

static int answer_json(struct kube_http_response *resp, const cJSON *o)
{
	char *txt = kube_json_print(o);

	if (!txt)
		return KUBE_ENOMEM;
	resp->status = 200;
	snprintf(resp->content_type, sizeof(resp->content_type), "%s", CT_JSON);
	resp->body = txt;
	resp->body_len = strlen(txt);
	return 0;
}

/* The value of cookie `name` in a Cookie header, copied into out; false when absent. */
static bool cookie_value(const char *header, const char *name, char *out, size_t n)
{
	size_t nl = strlen(name);
	const char *p = header;

	while (p && *p) {
		while (*p == ' ' || *p == ';')
			p++;
		if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
			const char *v = p + nl + 1;
			size_t vl = strcspn(v, ";");

			if (vl >= n)
				return false;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return true;
		}
		p = strchr(p, ';');
	}
	return false;
}

/* Constant-time comparison of two NUL-terminated strings of equal length. */
static bool same_secret(const char *a, const char *b)
{
	size_t n = strlen(a);
	unsigned char diff = 0;

	if (n != strlen(b) || n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

bool dash_csrf_ok(const char *csrf_header, const char *cookie_header, const char *origin,
		  const char *host)
{
	char cookie[128];

	if (!csrf_header || !cookie_header || strlen(csrf_header) < 32)
		return false;
	if (!cookie_value(cookie_header, CSRF_COOKIE, cookie, sizeof(cookie)))
		return false;
	if (!same_secret(csrf_header, cookie))
		return false;
	if (origin && *origin) {
		const char *o = origin;

		if (!host || !*host)
			return false;
		if (strncmp(o, "http://", 7) == 0)
			o += 7;
		else if (strncmp(o, "https://", 8) == 0)
			o += 8;
		else
			return false;
		if (strcmp(o, host) != 0)
			return false;
	}
	return true;
}

int dash_board_filter(cJSON *board, bool (*allowed)(const char *ns, void *ud), void *ud)
{
	cJSON *items = cJSON_GetObjectItemCaseSensitive(board, "items");
	cJSON *it, *next;
	int left = 0;

	if (!cJSON_IsArray(items))
		return 0;
	for (it = items->child; it; it = next) {
		const char *ns = kube_json_get_str(it, "namespace", NULL);

		next = it->next;
		if (ns && allowed(ns, ud)) {
			left++;
			continue;
		}
		cJSON_Delete(cJSON_DetachItemViaPointer(items, it));
	}
	return left;
}

/* ---------------------------------------------------------------- boards */

static bool valid_name(const char *s)
{
	if (!s || !*s || strlen(s) >= 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return false;
	return true;
}

/* Under d->mu: 0 when no board (or route) is called name yet and there is room for one. */
static int room_for(const struct dash_server *d, const char *name, bool route)
{
	int n = route ? d->nroutes : d->nboards;

	for (int i = 0; i < n; i++)
		if (strcmp(route ? d->routes[i].prefix : d->boards[i].name, name) == 0)
			return KUBE_EALREADYEXISTS;
	return n == (route ? MAX_ROUTES : MAX_BOARDS) ? KUBE_ENOMEM : 0;
}

int dash_server_add_board(struct dash_server *d, const struct dash_board *b)
{
	int rc = 0;

	if (!d || !b || !valid_name(b->name) || !b->snapshot || !b->resource ||
	    strlen(b->resource) >= 128 || (b->group && strlen(b->group) >= 128)) {
		if (b && b->free)
			b->free(b->data);
		return KUBE_EINVAL;
	}
	pthread_mutex_lock(&d->mu);
	rc = room_for(d, b->name, false);
	if (rc == 0) {
		struct board *nb = &d->boards[d->nboards];

		nb->b = *b;
		snprintf(nb->name, sizeof(nb->name), "%s", b->name);
		snprintf(nb->group, sizeof(nb->group), "%s", b->group ? b->group : "");
		snprintf(nb->resource, sizeof(nb->resource), "%s", b->resource);
		nb->b.name = nb->name;
		nb->b.group = nb->group;
		nb->b.resource = nb->resource;
		d->nboards++;
	}
	pthread_mutex_unlock(&d->mu);
	if (rc < 0 && b->free)
		b->free(b->data);
	return rc;
}

/* Copies the board called name (len bytes) into *out. */
static bool find_board(struct dash_server *d, const char *name, size_t len, struct dash_board *out)
{
	bool ok = false;

	pthread_mutex_lock(&d->mu);
	for (int i = 0; i < d->nboards && !ok; i++) {
		if (strlen(d->boards[i].name) == len && strncmp(d->boards[i].name, name, len) == 0) {
			*out = d->boards[i].b;
			ok = true;
		}
	}
	pthread_mutex_unlock(&d->mu);
	return ok;
}

struct access {
	struct dash_server *d;
	const struct kube_httpd_user *u;
	const struct dash_board *b;
	cJSON *memo; /* a stream's answers so far, {namespace: bool} ("" = cluster-wide); or NULL */
};

/* May a->u list the board's resource in ns ("" = cluster-wide)? Asks the memo first, so a
 * stream over many namespaces does not cycle the shared review cache at every poll. */
static bool may_list_in(struct access *a, const char *ns)
{
	struct kube_httpd_access w = {.verb = "list", .group = a->b->group,
				      .resource = a->b->resource, .namespace = ns};
	const cJSON *m = a->memo ? cJSON_GetObjectItemCaseSensitive(a->memo, ns) : NULL;
	char why[256];
	bool ok;

	if (m)
		return cJSON_IsTrue(m);
	ok = kube_httpd_auth_can(a->d->auth, a->u, &w, why, sizeof(why)) == 0;
	if (a->memo)
		cJSON_AddBoolToObject(a->memo, ns, ok);
	return ok;
}

static bool may_list(const char *ns, void *ud)
{
	return may_list_in(ud, ns);
}

/* The board as u may see it: NULL and *status 403 (why set) when u may list nothing. memo as
 * in struct access. */
static cJSON *board_for(struct dash_server *d, const struct dash_board *b,
			const struct kube_httpd_user *u, cJSON *memo, int *status, char *why,
			size_t why_size)
{
	struct access a = {d, u, b, memo};
	bool cluster;
	cJSON *snap;

	*status = 200;
	cluster = may_list_in(&a, "");
	snap = b->snapshot(b->data);
	if (!snap) {
		*status = 500;
		snprintf(why, why_size, "out of memory");
		return NULL;
	}
	if (!cluster && dash_board_filter(snap, may_list, &a) == 0) {
		/* Nothing visible: say so unless the user may list somewhere (an empty board is
		 * then the truth). Only the cluster-wide refusal is named. */
		cJSON_Delete(snap);
		*status = 403;
		return NULL;
	}
	if (b->summarize)
		b->summarize(snap, cluster, b->data);
	cJSON_AddStringToObject(snap, "board", b->name);
	cJSON_AddStringToObject(snap, "scope", cluster ? "cluster" : "namespaces");
	return snap;
}

/* ---------------------------------------------------------------- live streams */

struct stream {
	struct dash_server *d;
	struct dash_board b;
	struct kube_httpd_user u;
	char *last;         /* the last board sent */
	/* A live view (dash_serve_live) instead of a board when set. */
	cJSON *(*poll)(void *ud, const struct kube_httpd_user *u, int *status);
	void *ud;
	void (*ud_free)(void *ud);
	cJSON *memo;        /* access answers, renewed every MEMO_MS */
	struct timespec memo_time;
	char *pending;      /* bytes still to send */
	size_t pending_len, pending_off;
	struct timespec started, last_sent;
	bool ended;
};

static int64_t ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

static void stream_free(void *data)
{
	struct stream *s = data;

	kube_httpd_user_release(&s->u);
	if (s->ud_free)
		s->ud_free(s->ud);
	cJSON_Delete(s->memo);
	free(s->last);
	free(s->pending);
	free(s);
}

/* Queues one SSE event: "event: NAME\ndata: TEXT\n\n" (TEXT has no newline: compact JSON). */
static void queue_event(struct stream *s, const char *event, const char *text)
{
	size_t n = strlen(event) + strlen(text) + 32;
	char *p = malloc(n);

	if (!p)
		return;
	s->pending_len = (size_t)snprintf(p, n, "event: %s\ndata: %s\n\n", event, text);
	s->pending_off = 0;
	free(s->pending);
	s->pending = p;
	clock_gettime(CLOCK_MONOTONIC, &s->last_sent);
}

/* Looks for a change once: queues the board when it differs from the last one sent, or an
 * error event when the user may no longer see it (the stream then ends). */
static void poll_once(struct stream *s)
{
	char why[256] = "";
	int status;
	cJSON *board;
	char *txt;

	if (!s->memo || ms_since(&s->memo_time) > MEMO_MS) {
		/* Renewed as often as the shared cache expires: a revoked right ends the view. */
		cJSON_Delete(s->memo);
		s->memo = cJSON_CreateObject();
		clock_gettime(CLOCK_MONOTONIC, &s->memo_time);
	}
	if (s->poll)
		board = s->poll(s->ud, &s->u, &status);
	else
		board = board_for(s->d, &s->b, &s->u, s->memo, &status, why, sizeof(why));

	if (!board) {
		cJSON *e = cJSON_CreateObject();

		cJSON_AddNumberToObject(e, "code", status);
		cJSON_AddStringToObject(e, "error", status == 403 ? "forbidden" : "error");
		txt = kube_json_print(e);
		cJSON_Delete(e);
		if (txt)
			queue_event(s, "denied", txt);
		free(txt);
		s->ended = true;
		return;
	}
	txt = kube_json_print(board);
	cJSON_Delete(board);
	if (!txt)
		return;
	if (s->last && strcmp(s->last, txt) == 0) {
		free(txt);
		return;
	}
	queue_event(s, "board", txt);
	free(s->last);
	s->last = txt;
}

static long stream_read(void *data, char *buf, size_t max)
{
	struct stream *s = data;
	int64_t waited = 0;

	while (!s->pending || s->pending_off == s->pending_len) {
		if (s->ended || __atomic_load_n(&s->d->stopping, __ATOMIC_ACQUIRE) ||
		    ms_since(&s->started) > (int64_t)s->d->stream_max_s * 1000)
			return 0;
		poll_once(s);
		if (s->pending && s->pending_off < s->pending_len)
			break;
		if (ms_since(&s->last_sent) >= KEEPALIVE_MS) {
			queue_event(s, "ping", "{}");
			break;
		}
		if (waited >= 1000)
			break; /* at most a second per call: the server checks for a stop */
		struct timespec ts = {0, (long)s->d->poll_ms * 1000000L};
		nanosleep(&ts, NULL);
		waited += s->d->poll_ms;
	}
	return dash_sse_send(s->pending, s->pending_len, &s->pending_off, buf, max);
}

long dash_sse_send(const char *pending, size_t len, size_t *off, char *buf, size_t max)
{
	if (!pending || *off >= len) {
		/* Nothing new within a second: an SSE comment keeps the connection's byte flow
		 * (and so its idle timeout) alive without waking the page. */
		static const char nothing[] = ":\n";

		if (max < sizeof(nothing) - 1)
			return -1;
		memcpy(buf, nothing, sizeof(nothing) - 1);
		return (long)(sizeof(nothing) - 1);
	}
	size_t n = len - *off;

	if (n > max)
		n = max;
	memcpy(buf, pending + *off, n);
	*off += n;
	return (long)n;
}

/* Starts the SSE answer of s for user u (copied): the first event's retry hint, then
 * stream_read. On a failure s is freed. */
static int stream_begin(struct stream *s, const struct kube_httpd_user *u,
			struct kube_http_response *resp)
{
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	s->last_sent = s->started;
	if (kube_httpd_user_copy(&s->u, u) < 0) {
		stream_free(s);
		return KUBE_ENOMEM;
	}
	s->pending = strdup("retry: 2000\n\n");
	s->pending_len = s->pending ? strlen(s->pending) : 0;
	resp->status = 200;
	snprintf(resp->content_type, sizeof(resp->content_type), "text/event-stream");
	kube_http_response_header(resp, "X-Accel-Buffering", "no");
	return kube_http_response_stream(resp, stream_read, s, stream_free);
}

static int serve_stream(struct dash_server *d, const struct dash_board *b,
			const struct kube_httpd_user *u, struct kube_http_response *resp)
{
	struct stream *s = calloc(1, sizeof(*s));
	char why[256] = "";
	int status;
	cJSON *first;

	if (!s)
		return KUBE_ENOMEM;
	/* Refuse before streaming, so the browser sees a real 403 (EventSource then stops). */
	first = board_for(d, b, u, NULL, &status, why, sizeof(why));
	if (!first) {
		free(s);
		return answer_error(resp, status, status == 403 ? "Forbidden: you may not list "
					"this board's objects in any namespace" : "error");
	}
	cJSON_Delete(first);
	s->d = d;
	s->b = *b;
	return stream_begin(s, u, resp);
}

/* ---------------------------------------------------------------- routes */

static const char *content_type(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (!dot)
		return "application/octet-stream";
	if (!strcmp(dot, ".html"))
		return "text/html; charset=utf-8";
	if (!strcmp(dot, ".js"))
		return "text/javascript; charset=utf-8";
	if (!strcmp(dot, ".css"))
		return "text/css; charset=utf-8";
	if (!strcmp(dot, ".svg"))
		return "image/svg+xml";
	return "application/octet-stream";
}

static const struct dash_asset *find_asset(const char *name)
{
	for (const struct dash_asset *a = dash_assets; a->name; a++)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

/* The page shell; sets the CSRF cookie (double submit) when the browser has none. */
static int serve_asset(const struct kube_http_request *req, const char *name,
		       struct kube_http_response *resp)
{
	const struct dash_asset *a = find_asset(name);

	if (!a)
		return answer_error(resp, 404, "not found");
	if (strcmp(name, "index.html") == 0) {
		char cookie[128];
		const char *ch = kube_http_request_header(req, "Cookie");

		if (!cookie_value(ch, CSRF_COOKIE, cookie, sizeof(cookie)) || strlen(cookie) < 32) {
			unsigned char raw[16];
			char hex[33], set[160];

			if (RAND_bytes(raw, sizeof(raw)) != 1)
				return answer_error(resp, 500, "no randomness for the CSRF token");
			for (size_t i = 0; i < sizeof(raw); i++)
				snprintf(hex + 2 * i, 3, "%02x", raw[i]);
			snprintf(set, sizeof(set), "%s=%s; Path=/; SameSite=Strict", CSRF_COOKIE, hex);
			kube_http_response_header(resp, "Set-Cookie", set);
		}
	}
	return kube_http_response_set(resp, 200, content_type(name), (const char *)a->data,
				      a->len);
}

static int serve_whoami(const struct kube_httpd_user *u, struct kube_http_response *resp)
{
	cJSON *o = cJSON_CreateObject();
	int rc;

	cJSON_AddStringToObject(o, "user", u->name);
	rc = answer_json(resp, o);
	cJSON_Delete(o);
	return rc;
}

static int serve_boards(struct dash_server *d, struct kube_http_response *resp)
{
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "boards");
	int rc;

	pthread_mutex_lock(&d->mu);
	for (int i = 0; i < d->nboards; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(d->boards[i].name));
	pthread_mutex_unlock(&d->mu);
	rc = answer_json(resp, o);
	cJSON_Delete(o);
	return rc;
}

/* /api/v1/boards/<name>[/events] */
static int serve_board(struct dash_server *d, const char *rest, const struct kube_httpd_user *u,
		       struct kube_http_response *resp)
{
	size_t n = strcspn(rest, "/");
	bool events = strcmp(rest + n, "/events") == 0;
	struct dash_board b;
	char why[256] = "";
	int status, rc;
	cJSON *board;

	if ((rest[n] && !events) || !find_board(d, rest, n, &b))
		return answer_error(resp, 404, "no such board");
	if (events)
		return serve_stream(d, &b, u, resp);
	board = board_for(d, &b, u, NULL, &status, why, sizeof(why));
	if (!board)
		return answer_error(resp, status, status == 403 ? "Forbidden: you may not list "
				    "this board's objects in any namespace" : "error");
	rc = answer_json(resp, board);
	cJSON_Delete(board);
	return rc;
}

/* ---------------------------------------------------------------- routes of controllers */

int dash_server_add_route(struct dash_server *d, const struct dash_route *r)
{
	int rc = 0;

	if (!d || !r || !valid_name(r->prefix) || !r->fn) {
		if (r && r->free)
			r->free(r->data);
		return KUBE_EINVAL;
	}
	pthread_mutex_lock(&d->mu);
	rc = room_for(d, r->prefix, true);
	if (rc == 0) {
		struct route *nr = &d->routes[d->nroutes++];

		nr->r = *r;
		snprintf(nr->prefix, sizeof(nr->prefix), "%s", r->prefix);
		nr->r.prefix = nr->prefix;
	}
	pthread_mutex_unlock(&d->mu);
	if (rc < 0 && r->free)
		r->free(r->data);
	return rc;
}

bool dash_call_can(const struct dash_call *c, const char *verb, const char *group,
		   const char *resource, const char *ns)
{
	struct kube_httpd_access w = {.verb = verb, .group = group, .resource = resource,
				      .namespace = ns ? ns : ""};

	return dash_call_may(c, &w);
}

bool dash_call_may(const struct dash_call *c, const struct kube_httpd_access *w)
{
	char why[256];

	return kube_httpd_auth_can(c->d->auth, c->user, w, why, sizeof(why)) == 0;
}

int dash_answer_error(struct kube_http_response *resp, int status, const char *msg)
{
	return answer_error(resp, status, msg);
}

int dash_answer_json(struct kube_http_response *resp, int status, const cJSON *o)
{
	int rc = answer_json(resp, o);

	if (rc == 0)
		resp->status = status;
	return rc;
}

int dash_serve_live(const struct dash_call *c,
		    cJSON *(*poll)(void *ud, const struct kube_httpd_user *u, int *status),
		    void *ud, void (*ud_free)(void *ud), struct kube_http_response *resp)
{
	struct stream *s = calloc(1, sizeof(*s));
	int status = 200;
	cJSON *first;

	if (!s) {
		if (ud_free)
			ud_free(ud);
		return KUBE_ENOMEM;
	}
	s->poll = poll;
	s->ud = ud;
	s->ud_free = ud_free;
	s->d = c->d;
	first = poll(ud, c->user, &status);
	if (!first) {
		stream_free(s);
		return answer_error(resp, status, status == 403 ? "Forbidden" :
				    status == 404 ? "not found" : "error");
	}
	cJSON_Delete(first);
	return stream_begin(s, c->user, resp);
}

/* A controller's route for path, if any: true and *rc set when one answered. */
static bool serve_route(struct dash_server *d, const struct kube_http_request *req,
			const struct kube_httpd_user *u, const char *path, bool write,
			struct kube_http_response *resp, int *rc)
{
	struct dash_route r = {0};
	bool found = false;

	if (strncmp(path, "/api/v1/", 8) != 0)
		return false;
	path += 8;
	pthread_mutex_lock(&d->mu);
	for (int i = 0; i < d->nroutes && !found; i++) {
		size_t n = strlen(d->routes[i].prefix);

		if (strncmp(path, d->routes[i].prefix, n) == 0 && (!path[n] || path[n] == '/')) {
			r = d->routes[i].r;
			found = true;
		}
	}
	pthread_mutex_unlock(&d->mu);
	if (!found)
		return false;
	struct dash_call c = {d, req, u, path + strlen(r.prefix), write};
	*rc = r.fn(r.data, &c, resp);
	return true;
}

static int handle(void *data, const struct kube_http_request *req, struct kube_http_response *resp)
{
	struct dash_server *d = data;
	const char *method = kube_http_request_method(req);
	const char *path = kube_http_request_path(req);
	bool read = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	struct kube_httpd_user u = {0};
	char why[256] = "";
	int code, rc;

	secure(resp);
	code = kube_httpd_auth_user(d->auth, req, &u, why, sizeof(why));
	if (code != 0) {
		if (code == 401)
			kube_http_response_header(resp, "WWW-Authenticate", "Bearer");
		return answer_error(resp, code, why);
	}
	if (!read) {
		/* No button exists yet; every future one passes this first. */
		if (!dash_csrf_ok(kube_http_request_header(req, CSRF_HEADER),
				  kube_http_request_header(req, "Cookie"),
				  kube_http_request_header(req, "Origin"),
				  kube_http_request_header(req, "Host")))
			rc = answer_error(resp, 403, "Forbidden: CSRF check failed (send the "
					  "X-Phoenix-CSRF header equal to the phx_csrf cookie, "
					  "from this origin)");
		else if (!serve_route(d, req, &u, path, true, resp, &rc))
			rc = answer_error(resp, 405, "method not allowed");
		goto out;
	}
	if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0)
		rc = serve_asset(req, "index.html", resp);
	else if (strncmp(path, "/assets/", 8) == 0 && !strchr(path + 8, '/'))
		rc = serve_asset(req, path + 8, resp);
	else if (strcmp(path, "/api/v1/whoami") == 0)
		rc = serve_whoami(&u, resp);
	else if (strcmp(path, "/api/v1/boards") == 0)
		rc = serve_boards(d, resp);
	else if (strncmp(path, "/api/v1/boards/", 15) == 0)
		rc = serve_board(d, path + 15, &u, resp);
	else if (!serve_route(d, req, &u, path, false, resp, &rc))
		rc = answer_error(resp, 404, "not found");
out:
	kube_httpd_user_release(&u);
	return rc;
}

/* ---------------------------------------------------------------- lifecycle */

int dash_server_new(const struct dash_server_opts *o, struct dash_server **out)
{
	struct dash_server *d;
	int rc;

	if (!o || !out || !o->client)
		return KUBE_EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return KUBE_ENOMEM;
	pthread_mutex_init(&d->mu, NULL);
	d->stream_max_s = o->stream_max_s > 0 ? o->stream_max_s : DEFAULT_STREAM_MAX_S;
	d->poll_ms = o->poll_ms > 0 ? o->poll_ms : DEFAULT_POLL_MS;
	struct kube_httpd_opts ho = {
		.bind_addr = o->bind_addr ? o->bind_addr : "0",
		.serves = KUBE_HTTPD_HANDLERS_ONLY,
		.max_connections = o->max_connections > 0 ? o->max_connections
							  : DEFAULT_MAX_CONNECTIONS,
		.connection_timeout_s = 30,
		.thread_per_connection = 1,
	};
	rc = kube_httpd_auth_new(o->client, o->auth_cache_ms, &d->auth);
	if (rc == 0)
		rc = kube_httpd_new_opts(&ho, &d->httpd);
	/* Every path goes to handle() but the probes' and /metrics, which a dashboard port
	 * never serves (404). */
	if (rc == 0)
		rc = kube_httpd_handle(d->httpd, "/", handle, d);
	if (rc < 0) {
		dash_server_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

int dash_server_start(struct dash_server *d)
{
	if (!d)
		return KUBE_EINVAL;
	__atomic_store_n(&d->stopping, 0, __ATOMIC_RELEASE);
	return kube_httpd_start(d->httpd);
}

void dash_server_stop(struct dash_server *d)
{
	if (!d)
		return;
	__atomic_store_n(&d->stopping, 1, __ATOMIC_RELEASE);
	kube_httpd_stop(d->httpd);
}

void dash_server_free(struct dash_server *d)
{
	if (!d)
		return;
	if (dash_server_default() == d)
		dash_server_set_default(NULL);
	dash_server_stop(d);
	kube_httpd_free(d->httpd);
	kube_httpd_auth_free(d->auth);
	for (int i = 0; i < d->nboards; i++)
		if (d->boards[i].b.free)
			d->boards[i].b.free(d->boards[i].b.data);
	for (int i = 0; i < d->nroutes; i++)
		if (d->routes[i].r.free)
			d->routes[i].r.free(d->routes[i].r.data);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

int dash_server_port(const struct dash_server *d)
{
	return d ? kube_httpd_port(d->httpd) : 0;
}
