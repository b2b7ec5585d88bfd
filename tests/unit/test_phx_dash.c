/* Unit tests for the web dashboard (controller/dashboard/): the CSRF rule, the namespace
 * filter, the Phoenix board's annotation and totals, and the server end to end against a
 * scripted API server (TokenReview, SubjectAccessReviews): 401 / 403 / filtered board, security
 * headers, a live stream that sends a change without a new request, and a prompt stop with a
 * stream open. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "dash_phoenix.h"
#include "dash_server.h"
#include "fake_server.h"
#include "kube_config.h"
#include "kube_error.h"
#include "kube_json.h"
#include "kube_log.h"
#include "kube_rest.h"

#define TOK "0123456789abcdef0123456789abcdef"

static void dash__csrf(void **state)
{
	(void)state;
	assert_true(dash_csrf_ok(TOK, "phx_csrf=" TOK, NULL, NULL));
	assert_true(dash_csrf_ok(TOK, "a=b; phx_csrf=" TOK "; c=d", "http://127.0.0.1:80",
				 "127.0.0.1:80"));
	assert_true(dash_csrf_ok(TOK, "phx_csrf=" TOK, "https://x.example", "x.example"));
	assert_false(dash_csrf_ok(NULL, "phx_csrf=" TOK, NULL, NULL));
	assert_false(dash_csrf_ok(TOK, NULL, NULL, NULL));
	assert_false(dash_csrf_ok(TOK, "other=" TOK, NULL, NULL));
	assert_false(dash_csrf_ok("1123456789abcdef0123456789abcdef", "phx_csrf=" TOK, NULL, NULL));
	assert_false(dash_csrf_ok("short", "phx_csrf=short", NULL, NULL));
	assert_false(dash_csrf_ok(TOK, "phx_csrf=" TOK, "http://evil.example", "127.0.0.1:80"));
	assert_false(dash_csrf_ok(TOK, "phx_csrf=" TOK, "null", "127.0.0.1:80"));
	assert_false(dash_csrf_ok(TOK, "phx_csrf=" TOK, "http://127.0.0.1:80", NULL));
}

static bool only_a(const char *ns, void *ud)
{
	(*(int *)ud)++;
	return strcmp(ns, "a") == 0;
}

static void dash__filter(void **state)
{
	cJSON *b = cJSON_Parse("{\"items\":[{\"namespace\":\"a\",\"n\":1},{\"namespace\":\"b\"},"
			       "{\"n\":3},{\"namespace\":\"a\",\"n\":4}]}");
	int calls = 0;

	(void)state;
	assert_int_equal(dash_board_filter(b, only_a, &calls), 2);
	assert_int_equal(calls, 3); /* the item without a namespace is dropped unasked */
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(b, "items")), 2);
	cJSON_Delete(b);
}

#define SNAP(fo1, prog)                                                                           \
	"{\"services\":2,\"failoversToday\":3,\"meanReactionMs\":4.5,\"trackedServices\":2,"     \
	"\"items\":[{\"service\":\"a/x\",\"readyInstances\":2,\"totalInstances\":3,"              \
	"\"capacityPercent\":300,\"failovers\":" fo1 ",\"failoverInProgress\":" prog ","         \
	"\"failedPod\":\"x-1\",\"primary\":\"x-2\",\"lastFailoverReactionMs\":7},"               \
	"{\"service\":\"b/y\",\"readyInstances\":2,\"totalInstances\":2,\"capacityPercent\":200," \
	"\"failovers\":0,\"failoverInProgress\":false}]}"

static int64_t geti(const cJSON *o, const char *k1, const char *k2)
{
	int64_t v = -999;

	if (k2)
		kube_json_get_int(o, &v, k1, k2, NULL);
	else
		kube_json_get_int(o, &v, k1, NULL);
	return v;
}

static void dash__phoenix_board(void **state)
{
	struct dash_failover_log *l = dash_failover_log_new();
	int64_t t1 = 1796160000000LL, t2 = t1 + 61000;
	cJSON *s;

	(void)state;
	/* First sight with a failover already counted: when is unknown. */
	s = cJSON_Parse(SNAP("1", "false"));
	dash_phoenix_annotate(s, l, t1);
	cJSON *it = cJSON_GetArrayItem(cJSON_GetObjectItem(s, "items"), 0);
	assert_string_equal(kube_json_get_str(it, "namespace", NULL), "a");
	assert_string_equal(kube_json_get_str(it, "name", NULL), "x");
	assert_null(cJSON_GetObjectItem(it, "lastFailoverTime"));
	cJSON_Delete(s);
	/* It grows: the time it was seen. */
	s = cJSON_Parse(SNAP("2", "true"));
	dash_phoenix_annotate(s, l, t2);
	it = cJSON_GetArrayItem(cJSON_GetObjectItem(s, "items"), 0);
	assert_string_equal(kube_json_get_str(it, "lastFailoverTime", NULL), "2026-12-01T21:21:01Z");
	/* All: totals recomputed, global figures kept; one failover in progress. */
	dash_phoenix_summarize(s, true, NULL);
	assert_int_equal(geti(s, "services", NULL), 2);
	assert_int_equal(geti(s, "readyInstances", NULL), 4);
	assert_int_equal(geti(s, "capacityPercent", NULL), 250);
	assert_int_equal(geti(s, "failoversTotal", NULL), 2);
	assert_int_equal(geti(s, "failoversInProgress", NULL), 1);
	assert_int_equal(geti(s, "failoversToday", NULL), 3);
	assert_null(cJSON_GetObjectItem(s, "trackedServices"));
	assert_string_equal(kube_json_get_str(s, "lastFailover", "service", NULL), "a/x");
	assert_int_equal(geti(s, "lastFailover", "reactionMs"), 7);
	assert_string_equal(kube_json_get_str(cJSON_GetArrayItem(cJSON_GetObjectItem(s, "inProgress"),
								 0), "failedPod", NULL), "x-1");
	cJSON_Delete(s);
	/* A namespace view: only b/y left, no global figures. */
	s = cJSON_Parse(SNAP("2", "false"));
	dash_phoenix_annotate(s, l, t2 + 1000);
	cJSON_DeleteItemFromArray(cJSON_GetObjectItem(s, "items"), 0);
	dash_phoenix_summarize(s, false, NULL);
	assert_int_equal(geti(s, "services", NULL), 1);
	assert_int_equal(geti(s, "failoversTotal", NULL), 0);
	assert_null(cJSON_GetObjectItem(s, "failoversToday"));
	assert_null(cJSON_GetObjectItem(s, "meanReactionMs"));
	assert_null(cJSON_GetObjectItem(s, "lastFailover"));
	cJSON_Delete(s);
	/* The snapshot's own time wins (a failover from before the dashboard started). */
	s = cJSON_Parse("{\"items\":[{\"service\":\"c/z\",\"failovers\":1,"
			"\"lastFailoverMs\":1796100000000}]}");
	dash_phoenix_annotate(s, l, t2);
	it = cJSON_GetArrayItem(cJSON_GetObjectItem(s, "items"), 0);
	assert_string_equal(kube_json_get_str(it, "lastFailoverTime", NULL), "2026-12-01T04:40:00Z");
	cJSON_Delete(s);
	dash_failover_log_free(l);
}

/* ---------------------------------------------------------------- the server */

#define TR_OK "{\"kind\":\"TokenReview\",\"status\":{\"authenticated\":true,\"user\":" \
	      "{\"username\":\"alice\",\"groups\":[\"devs\"]}}}"
#define TR_NO "{\"kind\":\"TokenReview\",\"status\":{\"authenticated\":false}}"
#define SAR(allowed) "{\"kind\":\"SubjectAccessReview\",\"status\":{\"allowed\":" allowed "}}"

struct board_data {
	int version; /* __atomic */
};

static cJSON *snapshot(void *data)
{
	struct board_data *bd = data;
	char buf[256];

	snprintf(buf, sizeof(buf), "{\"version\":%d,\"items\":[{\"namespace\":\"a\"},"
		 "{\"namespace\":\"b\"}]}", __atomic_load_n(&bd->version, __ATOMIC_ACQUIRE));
	return cJSON_Parse(buf);
}

struct reply {
	long status;
	char body[8192];
	size_t len;
	char headers[4096];
	size_t hlen;
	int stop_after_events; /* streams: abort once this many "event: board" arrived */
	struct board_data *bump; /* bump its version after the first event */
	int events;              /* __atomic: events seen so far (read by other threads) */
};

static int count_events(const char *s)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, "event: board")); p++)
		n++;
	return n;
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct reply *r = ud;
	size_t len = size * n, room = sizeof(r->body) - 1 - r->len;

	memcpy(r->body + r->len, p, len < room ? len : room);
	r->len += len < room ? len : room;
	r->body[r->len] = '\0';
	if (r->stop_after_events) {
		int ev = count_events(r->body);

		__atomic_store_n(&r->events, ev, __ATOMIC_RELEASE);
		if (ev >= 1 && r->bump && __atomic_load_n(&r->bump->version, __ATOMIC_ACQUIRE) == 1)
			__atomic_store_n(&r->bump->version, 2, __ATOMIC_RELEASE);
		if (ev >= r->stop_after_events)
			return 0; /* enough: abort the transfer */
	}
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct reply *r = ud;
	size_t len = size * n, room = sizeof(r->headers) - 1 - r->hlen;

	memcpy(r->headers + r->hlen, p, len < room ? len : room);
	r->hlen += len < room ? len : room;
	r->headers[r->hlen] = '\0';
	return len;
}

static void req(int port, const char *method, const char *path, const char *token,
		struct reply *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[256], line[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (token) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", token);
		h = curl_slist_append(h, line);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	}
	curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

struct env {
	struct fake_server fs;
	struct kube_config cfg;
	struct kube_client *c;
	struct dash_server *d;
	struct board_data bd;
	int port;
};

static void env_start(struct env *e)
{
	struct kube_client_opts co = {.qps = -1, .max_retries = -1};

	memset(e, 0, sizeof(*e));
	e->bd.version = 1;
	assert_int_equal(fake_server_start(&e->fs), 0);
	assert_int_equal(kube_config_init_server(&e->cfg, e->fs.url), 0);
	assert_int_equal(kube_client_new(&e->cfg, &co, &e->c), 0);
	struct dash_server_opts o = {.bind_addr = "127.0.0.1:0", .client = e->c, .poll_ms = 20,
				     .auth_cache_ms = 60000};
	assert_int_equal(dash_server_new(&o, &e->d), 0);
	struct dash_board b = {.name = "test", .group = "g.example", .resource = "things",
			       .snapshot = snapshot, .data = &e->bd};
	assert_int_equal(dash_server_add_board(e->d, &b), 0);
	assert_int_equal(dash_server_add_board(e->d, &b), KUBE_EALREADYEXISTS);
	assert_int_equal(dash_server_start(e->d), 0);
	e->port = dash_server_port(e->d);
	assert_true(e->port > 0);
}

static void env_stop(struct env *e)
{
	dash_server_free(e->d);
	kube_client_free(e->c);
	kube_config_release(&e->cfg);
	fake_server_stop(&e->fs);
}

static void dash__server_auth_and_board(void **state)
{
	struct env e;
	struct reply r;

	(void)state;
	env_start(&e);
	/* No token: 401 without asking the API server, with the security headers. */
	memset(&r, 0, sizeof(r));
	req(e.port, "GET", "/", NULL, &r);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.headers, "Content-Security-Policy: default-src 'none'"));
	assert_non_null(strstr(r.headers, "WWW-Authenticate: Bearer"));
	assert_int_equal(fake_nreqs(&e.fs), 0);
	/* A token the TokenReview rejects: 401. */
	fake_push(&e.fs, 201, TR_NO);
	memset(&r, 0, sizeof(r));
	req(e.port, "GET", "/api/v1/boards/test", "bad", &r);
	assert_int_equal(r.status, 401);
	/* alice may list things in a only: the board shows a only. */
	fake_push(&e.fs, 201, TR_OK);
	fake_push(&e.fs, 201, SAR("false")); /* cluster-wide */
	fake_push(&e.fs, 201, SAR("true"));  /* a */
	fake_push(&e.fs, 201, SAR("false")); /* b */
	memset(&r, 0, sizeof(r));
	req(e.port, "GET", "/api/v1/boards/test", "alice", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\"items\":[{\"namespace\":\"a\"}]"));
	assert_non_null(strstr(r.body, "\"scope\":\"namespaces\""));
	assert_int_equal(fake_nreqs(&e.fs), 5);
	assert_non_null(strstr(e.fs.reqs[2].body, "\"resourceAttributes\""));
	assert_non_null(strstr(e.fs.reqs[2].body, "\"resource\":\"things\""));
	assert_non_null(strstr(e.fs.reqs[2].body, "\"group\":\"g.example\""));
	assert_non_null(strstr(e.fs.reqs[2].body, "\"verb\":\"list\""));
	assert_null(strstr(e.fs.reqs[2].body, "\"namespace\""));
	assert_non_null(strstr(e.fs.reqs[3].body, "\"namespace\":\"a\""));
	assert_non_null(strstr(e.fs.reqs[3].body, "\"groups\":[\"devs\"]"));
	/* Cached: the same again asks nobody; the page shell and whoami too. */
	memset(&r, 0, sizeof(r));
	req(e.port, "GET", "/api/v1/boards/test", "alice", &r);
	assert_int_equal(r.status, 200);
	memset(&r, 0, sizeof(r));
	req(e.port, "GET", "/", "alice", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers, "Set-Cookie: phx_csrf="));
	assert_non_null(strstr(r.body, "<!DOCTYPE html>"));
	memset(&r, 0, sizeof(r));
	req(e.port, "GET", "/api/v1/whoami", "alice", &r);
	assert_string_equal(r.body, "{\"user\":\"alice\"}");
	memset(&r, 0, sizeof(r));
	req(e.port, "GET", "/assets/app.js", "alice", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers, "text/javascript"));
	assert_int_equal(fake_nreqs(&e.fs), 5);
	/* Not served here: 404. Writes without the CSRF token: 403. No such board: 404. */
	memset(&r, 0, sizeof(r));
	req(e.port, "GET", "/metrics", "alice", &r);
	assert_int_equal(r.status, 404);
	memset(&r, 0, sizeof(r));
	req(e.port, "GET", "/healthz", "alice", &r);
	assert_int_equal(r.status, 404);
	memset(&r, 0, sizeof(r));
	req(e.port, "POST", "/api/v1/boards/test", "alice", &r);
	assert_int_equal(r.status, 403);
	assert_non_null(strstr(r.body, "CSRF"));
	memset(&r, 0, sizeof(r));
	req(e.port, "GET", "/api/v1/boards/nope", "alice", &r);
	assert_int_equal(r.status, 404);
	memset(&r, 0, sizeof(r));
	req(e.port, "GET", "/assets/x/app.js", "alice", &r);
	assert_int_equal(r.status, 404);
	env_stop(&e);
}

/* bob may list nothing: 403 on the board and on its stream. */
static void dash__server_forbidden(void **state)
{
	struct env e;
	struct reply r;

	(void)state;
	env_start(&e);
	fake_push(&e.fs, 201, TR_OK);
	fake_push(&e.fs, 201, SAR("false"));
	fake_push(&e.fs, 201, SAR("false"));
	fake_push(&e.fs, 201, SAR("false"));
	memset(&r, 0, sizeof(r));
	req(e.port, "GET", "/api/v1/boards/test", "bob", &r);
	assert_int_equal(r.status, 403);
	memset(&r, 0, sizeof(r));
	req(e.port, "GET", "/api/v1/boards/test/events", "bob", &r);
	assert_int_equal(r.status, 403);
	assert_int_equal(fake_nreqs(&e.fs), 4); /* the second asked the cache */
	env_stop(&e);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void dash__server_stream_live(void **state)
{
	struct env e;
	struct reply r;
	double t0;

	(void)state;
	env_start(&e);
	fake_push(&e.fs, 201, TR_OK);
	fake_push(&e.fs, 201, SAR("true"));
	memset(&r, 0, sizeof(r));
	r.stop_after_events = 2;
	r.bump = &e.bd;
	t0 = now_s();
	req(e.port, "GET", "/api/v1/boards/test/events", "alice", &r);
	print_message("two live board events in %.0f ms\n", (now_s() - t0) * 1e3);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers, "text/event-stream"));
	assert_non_null(strstr(r.body, "retry: 2000\n"));
	assert_non_null(strstr(r.body, "\"version\":1"));
	assert_non_null(strstr(r.body, "\"version\":2"));
	assert_int_equal(count_events(r.body), 2);
	env_stop(&e);
}

struct stream_arg {
	int port;
	struct reply r;
};

static void *stream_thread(void *p)
{
	struct stream_arg *a = p;

	a->r.stop_after_events = 1000;
	req(a->port, "GET", "/api/v1/boards/test/events", "alice", &a->r);
	return NULL;
}

static void dash__server_stop_with_stream_open(void **state)
{
	struct env e;
	struct stream_arg a;
	pthread_t t;
	double t0, took;

	(void)state;
	env_start(&e);
	fake_push(&e.fs, 201, TR_OK);
	fake_push(&e.fs, 201, SAR("true"));
	memset(&a, 0, sizeof(a));
	a.port = e.port;
	assert_int_equal(pthread_create(&t, NULL, stream_thread, &a), 0);
	for (int i = 0; i < 500 && __atomic_load_n(&a.r.events, __ATOMIC_ACQUIRE) < 1; i++)
		usleep(10000);
	t0 = now_s();
	dash_server_stop(e.d);
	took = now_s() - t0;
	pthread_join(t, NULL);
	print_message("stop with a live stream open: %.0f ms\n", took * 1e3);
	assert_true(took < 2.5);
	assert_int_equal(count_events(a.r.body), 1);
	env_stop(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dash__csrf),
		cmocka_unit_test(dash__filter),
		cmocka_unit_test(dash__phoenix_board),
		cmocka_unit_test(dash__server_auth_and_board),
		cmocka_unit_test(dash__server_forbidden),
		cmocka_unit_test(dash__server_stream_live),
		cmocka_unit_test(dash__server_stop_with_stream_open),
	};

	(void)fake_push_resp; /* fake_server.h helpers this file does not need */
	kube_log_set_level(KUBE_LOG_ERROR);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
