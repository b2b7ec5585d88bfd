/* Watch stream decoder (events split at every byte offset, partial lines, garbage, ERROR 410)
 * and kube_watch against an in-test server (chunked stream, 410, prompt cancel). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_server.h"
#include "kube_config.h"
#include "kube_json.h"
#include "kube_watch.h"

#define MAX_EVENTS 64

/* What a callback saw, as "TYPE:name" strings. */
struct seen {
	char ev[MAX_EVENTS][64];
	int n;
	int stop_after; /* 0 = never stop */
};

static int record_cb(enum kube_watch_type type, const cJSON *obj, void *ud)
{
	struct seen *s = ud;
	const char *name = kube_json_name(obj);

	if (type == KUBE_WATCH_BOOKMARK)
		name = kube_json_resource_version(obj);
	if (type == KUBE_WATCH_ERROR)
		name = kube_json_get_str(obj, "reason", NULL);
	if (s->n < MAX_EVENTS)
		snprintf(s->ev[s->n++], sizeof(s->ev[0]), "%s:%s", kube_watch_type_name(type),
			 name != NULL ? name : "?");
	if (s->stop_after > 0 && s->n >= s->stop_after)
		return 7;
	return 0;
}

static const char STREAM[] =
	"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"1\"}}}\n"
	"{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\",\"labels\":{\"x\":\"y\\n\"}}}}\n"
	"\r\n"
	"{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":\"12\"}}}\r\n"
	"{\"type\":\"DELETED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"b\"}}}\n";
static const char *const STREAM_EVENTS[] = { "ADDED:a", "MODIFIED:a", "BOOKMARK:12", "DELETED:b" };

static void check_stream_events(const struct seen *s)
{
	assert_int_equal(s->n, 4);
	for (int i = 0; i < 4; i++)
		assert_string_equal(s->ev[i], STREAM_EVENTS[i]);
}

static void decoder__whole_stream(void **state)
{
	struct kube_watch_decoder *d = NULL;
	struct seen s = { 0 };

	(void)state;
	assert_int_equal(kube_watch_decoder_new(record_cb, &s, &d), 0);
	assert_int_equal(kube_watch_decoder_feed(d, STREAM, strlen(STREAM)), 0);
	check_stream_events(&s);
	assert_int_equal(kube_watch_decoder_pending(d), 0);
	kube_watch_decoder_free(d);
}

/* Two chunks split at every offset, and three chunks split at every pair of offsets. */
static void decoder__split_at_every_offset(void **state)
{
	size_t len = strlen(STREAM);

	(void)state;
	for (size_t i = 0; i <= len; i++) {
		struct kube_watch_decoder *d = NULL;
		struct seen s = { 0 };

		assert_int_equal(kube_watch_decoder_new(record_cb, &s, &d), 0);
		assert_int_equal(kube_watch_decoder_feed(d, STREAM, i), 0);
		assert_int_equal(kube_watch_decoder_feed(d, STREAM + i, len - i), 0);
		check_stream_events(&s);
		assert_int_equal(kube_watch_decoder_pending(d), 0);
		kube_watch_decoder_free(d);
	}
	for (size_t i = 0; i <= len; i += 3) {
		for (size_t j = i; j <= len; j += 7) {
			struct kube_watch_decoder *d = NULL;
			struct seen s = { 0 };

			assert_int_equal(kube_watch_decoder_new(record_cb, &s, &d), 0);
			assert_int_equal(kube_watch_decoder_feed(d, STREAM, i), 0);
			assert_int_equal(kube_watch_decoder_feed(d, STREAM + i, j - i), 0);
			assert_int_equal(kube_watch_decoder_feed(d, STREAM + j, len - j), 0);
			check_stream_events(&s);
			kube_watch_decoder_free(d);
		}
	}
}

static void decoder__byte_by_byte(void **state)
{
	struct kube_watch_decoder *d = NULL;
	struct seen s = { 0 };

	(void)state;
	assert_int_equal(kube_watch_decoder_new(record_cb, &s, &d), 0);
	for (size_t i = 0; i < strlen(STREAM); i++)
		assert_int_equal(kube_watch_decoder_feed(d, STREAM + i, 1), 0);
	check_stream_events(&s);
	kube_watch_decoder_free(d);
}

static void decoder__partial_line_waits(void **state)
{
	static const char part[] = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p\"}}}";
	struct kube_watch_decoder *d = NULL;
	struct seen s = { 0 };

	(void)state;
	assert_int_equal(kube_watch_decoder_new(record_cb, &s, &d), 0);
	assert_int_equal(kube_watch_decoder_feed(d, part, strlen(part)), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(kube_watch_decoder_pending(d), strlen(part));
	assert_int_equal(kube_watch_decoder_feed(d, "\n", 1), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ev[0], "ADDED:p");
	assert_int_equal(kube_watch_decoder_pending(d), 0);
	kube_watch_decoder_free(d);
}

static void decoder__garbage_is_parse_error(void **state)
{
	static const char *const bad[] = {
		"not json at all\n",
		"{\"type\":\"ADDED\"}\n",                              /* no object */
		"{\"type\":\"EXPLODED\",\"object\":{}}\n",             /* unknown type */
		"{\"type\":\"ADDED\",\"object\":\"str\"}\n",           /* object not an object */
		"{\"type\":\"ADDED\",\"object\":{}} trailing\n",       /* two values */
		"[1,2,3]\n",
		"{\"type\":\"ADDED\",\"object\":{\"a\":\n", /* a line break inside the JSON */
	};
	static const char good[] = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"ok\"}}}\n";

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct kube_watch_decoder *d = NULL;
		struct seen s = { 0 };
		char buf[256];

		snprintf(buf, sizeof(buf), "%s%s%s", good, bad[i], good);
		assert_int_equal(kube_watch_decoder_new(record_cb, &s, &d), 0);
		assert_int_equal(kube_watch_decoder_feed(d, buf, strlen(buf)), KUBE_EPARSE);
		/* Events before the garbage were delivered, none after; the error sticks. */
		assert_int_equal(s.n, 1);
		assert_int_equal(kube_watch_decoder_feed(d, good, strlen(good)), KUBE_EPARSE);
		assert_int_equal(s.n, 1);
		kube_watch_decoder_free(d);
	}
}

static void decoder__error_events(void **state)
{
	static const struct {
		const char *line;
		int want;
	} cases[] = {
		{ "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\","
		  "\"message\":\"too old resource version: 1 (50)\"}}\n", KUBE_EGONE },
		{ "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Gone\"}}\n",
		  KUBE_EGONE },
		{ "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"reason\":\"Expired\"}}\n", KUBE_EGONE },
		{ "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":500,\"reason\":\"InternalError\"}}\n",
		  KUBE_ESERVER },
		{ "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":403,\"reason\":\"Forbidden\"}}\n",
		  KUBE_EFORBIDDEN },
		{ "{\"type\":\"ERROR\",\"object\":{}}\n", KUBE_EHTTP },
		/* A broken server's codes: an ERROR event always ends the stream with an error, and
		 * a code no long can hold is no code. */
		{ "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":200}}\n", KUBE_EHTTP },
		{ "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":1e300}}\n",
		  KUBE_EHTTP },
		{ "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":-1e300,"
		  "\"reason\":\"Expired\"}}\n", KUBE_EGONE },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kube_watch_decoder *d = NULL;
		struct seen s = { 0 };

		assert_int_equal(kube_watch_decoder_new(record_cb, &s, &d), 0);
		assert_int_equal(kube_watch_decoder_feed(d, cases[i].line, strlen(cases[i].line)),
				 cases[i].want);
		assert_int_equal(s.n, 1);
		assert_memory_equal(s.ev[0], "ERROR:", 6);
		kube_watch_decoder_free(d);
	}
}

/* Numbers from the server that do not fit an int64 are clamped, not converted with undefined
 * behaviour (kube_json_get_int reads ports, counts and generations of server objects). */
static void decoder__huge_numbers_clamped(void **state)
{
	cJSON *o = cJSON_Parse("{\"big\":1e300,\"small\":-1e300,\"ok\":42.9,\"inf\":1e999}");
	int64_t v = 0;

	(void)state;
	assert_non_null(o);
	assert_true(kube_json_get_int(o, &v, "big", NULL));
	assert_true(v == INT64_MAX);
	assert_true(kube_json_get_int(o, &v, "small", NULL));
	assert_true(v == INT64_MIN);
	assert_true(kube_json_get_int(o, &v, "inf", NULL));
	assert_true(v == INT64_MAX);
	assert_true(kube_json_get_int(o, &v, "ok", NULL));
	assert_int_equal(v, 42);
	cJSON_Delete(o);
}

static void decoder__callback_stops(void **state)
{
	struct kube_watch_decoder *d = NULL;
	struct seen s = { .stop_after = 2 };

	(void)state;
	assert_int_equal(kube_watch_decoder_new(record_cb, &s, &d), 0);
	assert_int_equal(kube_watch_decoder_feed(d, STREAM, strlen(STREAM)), 7);
	assert_int_equal(s.n, 2);
	kube_watch_decoder_free(d);
}

static void decoder__long_line(void **state)
{
	const size_t vlen = 3 * 1024 * 1024;
	static const char head[] = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"big\"},\"data\":\"";
	static const char tail[] = "\"}}\n";
	size_t len = strlen(head) + vlen + strlen(tail);
	char *buf = malloc(len);
	struct kube_watch_decoder *d = NULL;
	struct seen s = { 0 };

	(void)state;
	assert_non_null(buf);
	memcpy(buf, head, strlen(head));
	memset(buf + strlen(head), 'x', vlen);
	memcpy(buf + strlen(head) + vlen, tail, strlen(tail));
	assert_int_equal(kube_watch_decoder_new(record_cb, &s, &d), 0);
	/* In uneven chunks so the buffer grows several times. */
	for (size_t off = 0; off < len;) {
		size_t n = len - off < 65521 ? len - off : 65521;

		assert_int_equal(kube_watch_decoder_feed(d, buf + off, n), 0);
		off += n;
	}
	assert_int_equal(s.n, 1);
	assert_string_equal(s.ev[0], "ADDED:big");
	kube_watch_decoder_free(d);
	free(buf);
}

static void decoder__line_cap(void **state)
{
	static const char line[] = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p\"}}}\n";
	size_t len = strlen(line);

	(void)state;
	/* A line of exactly the cap (without its newline) passes, one byte more does not, whether it
	 * arrives whole, buffered across chunks, or without ever seeing a newline. */
	for (int extra = 0; extra <= 1; extra++) {
		for (size_t split = 0; split <= len; split += len / 4) {
			struct kube_watch_decoder *d = NULL;
			struct seen s = { 0 };
			int rc;

			assert_int_equal(kube_watch_decoder_new(record_cb, &s, &d), 0);
			kube_watch_decoder_set_max_line(d, len - 1 - (size_t)extra);
			rc = kube_watch_decoder_feed(d, line, split);
			if (rc == 0)
				rc = kube_watch_decoder_feed(d, line + split, len - split);
			assert_int_equal(rc, extra ? KUBE_EPARSE : 0);
			assert_int_equal(s.n, extra ? 0 : 1);
			kube_watch_decoder_free(d);
		}
	}
}

static void decoder__bad_args(void **state)
{
	struct kube_watch_decoder *d = NULL;

	(void)state;
	assert_int_equal(kube_watch_decoder_new(NULL, NULL, &d), KUBE_EINVAL);
	assert_null(d);
	kube_watch_decoder_free(NULL);
	assert_int_equal(kube_watch_decoder_pending(NULL), 0);
}

/* --- kube_watch over HTTP --------------------------------------------------------------------- */

struct fixture {
	struct fake_server fs;
	struct kube_config cfg;
	struct kube_client *c;
};

static int setup(void **state)
{
	struct kube_client_opts o = { .qps = -1 };
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(fake_server_start(&f->fs), 0);
	assert_int_equal(kube_config_init_server(&f->cfg, f->fs.url), 0);
	assert_int_equal(kube_client_new(&f->cfg, &o, &f->c), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kube_client_free(f->c);
	kube_config_release(&f->cfg);
	fake_server_stop(&f->fs);
	free(f);
	return 0;
}

static void watch__stream_in_chunks(void **state)
{
	struct fixture *f = *state;
	struct fake_resp r = { .status = 200, .nchunks = 5 };
	struct kube_list_opts lo = { .resource_version = "7", .label_selector = "app=web",
				     .timeout_seconds = 30 };
	struct seen s = { 0 };
	size_t len = strlen(STREAM);
	char parts[5][256];

	/* Cut the stream into uneven chunks that straddle event boundaries. */
	size_t cuts[6] = { 0, 5, len / 3, len / 2 + 1, len - 2, len };
	for (int i = 0; i < 5; i++) {
		snprintf(parts[i], sizeof(parts[i]), "%.*s", (int)(cuts[i + 1] - cuts[i]),
			 STREAM + cuts[i]);
		r.chunks[i] = parts[i];
	}
	fake_push_resp(&f->fs, &r);
	assert_int_equal(kube_watch(f->c, &KUBE_GVR_PODS, "prod", &lo, record_cb, &s, NULL, NULL), 0);
	check_stream_events(&s);
	assert_int_equal(fake_nreqs(&f->fs), 1);
	assert_string_equal(f->fs.reqs[0].method, "GET");
	assert_string_equal(f->fs.reqs[0].path, "/api/v1/namespaces/prod/pods");
	assert_string_equal(f->fs.reqs[0].query, "watch=1&allowWatchBookmarks=true&labelSelector=app=web"
						 "&resourceVersion=7&timeoutSeconds=30");
}

static void watch__all_namespaces(void **state)
{
	struct fixture *f = *state;
	struct fake_resp r = { .status = 200, .nchunks = 1, .chunks = { STREAM } };
	struct seen s = { 0 };

	fake_push_resp(&f->fs, &r);
	assert_int_equal(kube_watch(f->c, &KUBE_GVR_PODS, NULL, NULL, record_cb, &s, NULL, NULL), 0);
	check_stream_events(&s);
	assert_string_equal(f->fs.reqs[0].path, "/api/v1/pods");
}

static void watch__http_410(void **state)
{
	struct fixture *f = *state;
	struct kube_status st = { 0 };
	struct seen s = { 0 };

	fake_push(&f->fs, 410, "{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\","
		  "\"message\":\"too old resource version\"}");
	assert_int_equal(kube_watch(f->c, &KUBE_GVR_PODS, "d", NULL, record_cb, &s, NULL, &st),
			 KUBE_EGONE);
	assert_int_equal(s.n, 0);
	assert_int_equal(st.http_status, 410);
	assert_string_equal(st.message, "too old resource version");
	kube_status_release(&st);
}

static void watch__error_event_410(void **state)
{
	struct fixture *f = *state;
	struct fake_resp r = { .status = 200, .nchunks = 2, .hold = true };
	struct kube_status st = { 0 };
	struct seen s = { 0 };

	r.chunks[0] = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n";
	r.chunks[1] = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
		      "\"reason\":\"Expired\",\"message\":\"too old resource version: 1 (9)\"}}\n";
	fake_push_resp(&f->fs, &r);
	/* hold: the server keeps the stream open, so only the ERROR event can end it. */
	assert_int_equal(kube_watch(f->c, &KUBE_GVR_PODS, "d", NULL, record_cb, &s, NULL, &st),
			 KUBE_EGONE);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.ev[1], "ERROR:Expired");
	assert_string_equal(st.reason, "Expired");
	assert_string_equal(st.message, "too old resource version: 1 (9)");
	kube_status_release(&st);
}

static void watch__garbage_line(void **state)
{
	struct fixture *f = *state;
	struct fake_resp r = { .status = 200, .nchunks = 1, .hold = true,
			       .chunks = { "this is not an event\n" } };
	struct seen s = { 0 };

	fake_push_resp(&f->fs, &r);
	assert_int_equal(kube_watch(f->c, &KUBE_GVR_PODS, "d", NULL, record_cb, &s, NULL, NULL),
			 KUBE_EPARSE);
}

struct watcher {
	struct kube_client *c;
	atomic_bool cancel;
	atomic_bool done;
	atomic_int delivered; /* events the callback has finished with, readable from the test */
	struct seen s;
	int rc;
};

static int counting_cb(enum kube_watch_type type, const cJSON *obj, void *ud)
{
	struct watcher *w = ud;
	int rc = record_cb(type, obj, &w->s);

	atomic_fetch_add(&w->delivered, 1);
	return rc;
}

static void *watcher_main(void *arg)
{
	struct watcher *w = arg;

	w->rc = kube_watch(w->c, &KUBE_GVR_PODS, "d", NULL, counting_cb, w, &w->cancel, NULL);
	atomic_store(&w->done, true);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void yield_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000L };

	nanosleep(&ts, NULL);
}

/* Scripts r, then runs kube_watch on a thread of its own (results in w). */
static void start_watcher(struct fixture *f, const struct fake_resp *r, struct watcher *w,
			  pthread_t *th)
{
	atomic_init(&w->cancel, false);
	atomic_init(&w->done, false);
	atomic_init(&w->delivered, 0);
	fake_push_resp(&f->fs, r);
	assert_int_equal(pthread_create(th, NULL, watcher_main, w), 0);
}

static void watch__cancel_returns_promptly(void **state)
{
	struct fixture *f = *state;
	struct fake_resp r = { .status = 200, .nchunks = 1, .hold = true,
			       .chunks = { "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n" } };
	struct watcher w = { .c = f->c };
	pthread_t th;
	double deadline, t0, dt;

	start_watcher(f, &r, &w, &th);
	/* Wait (bounded) until the stream is open and quiet: the server is holding it and the
	 * client has decoded the one event it sent (the server holding says nothing about that). */
	deadline = now_s() + 5;
	while ((atomic_load(&f->fs.holding) == 0 || atomic_load(&w.delivered) < 1) &&
	       now_s() < deadline)
		yield_ms(2);
	assert_true(atomic_load(&f->fs.holding) > 0);
	assert_int_equal(atomic_load(&w.delivered), 1);
	assert_false(atomic_load(&w.done));
	t0 = now_s();
	atomic_store(&w.cancel, true);
	pthread_join(th, NULL);
	dt = now_s() - t0;
	assert_int_equal(w.rc, KUBE_ECANCELED);
	assert_int_equal(w.s.n, 1);
	/* Polled every 100 ms; a bound with room for a loaded machine, far below the 30 s the
	 * server would hold the stream. */
	assert_true(dt < 3.0);
}

/* A stream that stays open and sends nothing after its first event (a silent network cut, a
 * stuck proxy) ends with KUBE_ETIMEDOUT once the idle timeout passes, long before the server
 * would let go of it (10 s). */
static void watch__stall_ends_stream(void **state)
{
	struct fixture *f = *state;
	struct fake_resp r = { .status = 200, .nchunks = 1, .hold = true,
			       .chunks = { "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n" } };
	struct kube_list_opts lo = { .idle_timeout_ms = 300 };
	struct kube_status st = { 0 };
	struct seen s = { 0 };
	double t0, dt;

	fake_push_resp(&f->fs, &r);
	t0 = now_s();
	assert_int_equal(kube_watch(f->c, &KUBE_GVR_PODS, "d", &lo, record_cb, &s, NULL, &st),
			 KUBE_ETIMEDOUT);
	dt = now_s() - t0;
	assert_int_equal(s.n, 1);
	assert_non_null(st.message);
	assert_non_null(strstr(st.message, "stalled"));
	assert_true(dt >= 0.29);
	assert_true(dt < 5.0);
	kube_status_release(&st);
}

/* Without an idle timeout a quiet stream is left alone (the timer is opt-in per call). */
static void watch__no_idle_timeout_waits(void **state)
{
	struct fixture *f = *state;
	struct fake_resp r = { .status = 200, .nchunks = 1, .hold = true,
			       .chunks = { "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n" } };
	struct watcher w = { .c = f->c };
	pthread_t th;
	double deadline;

	start_watcher(f, &r, &w, &th);
	deadline = now_s() + 5;
	while (atomic_load(&w.delivered) < 1 && now_s() < deadline)
		yield_ms(2);
	/* Well past the 300 ms the test above times out at, the stream is still open. */
	deadline = now_s() + 1.0;
	while (!atomic_load(&w.done) && now_s() < deadline)
		yield_ms(10);
	assert_false(atomic_load(&w.done));
	atomic_store(&w.cancel, true);
	pthread_join(th, NULL);
	assert_int_equal(w.rc, KUBE_ECANCELED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decoder__whole_stream),
		cmocka_unit_test(decoder__split_at_every_offset),
		cmocka_unit_test(decoder__byte_by_byte),
		cmocka_unit_test(decoder__partial_line_waits),
		cmocka_unit_test(decoder__garbage_is_parse_error),
		cmocka_unit_test(decoder__error_events),
		cmocka_unit_test(decoder__huge_numbers_clamped),
		cmocka_unit_test(decoder__callback_stops),
		cmocka_unit_test(decoder__long_line),
		cmocka_unit_test(decoder__line_cap),
		cmocka_unit_test(decoder__bad_args),
		cmocka_unit_test_setup_teardown(watch__stream_in_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(watch__all_namespaces, setup, teardown),
		cmocka_unit_test_setup_teardown(watch__http_410, setup, teardown),
		cmocka_unit_test_setup_teardown(watch__error_event_410, setup, teardown),
		cmocka_unit_test_setup_teardown(watch__garbage_line, setup, teardown),
		cmocka_unit_test_setup_teardown(watch__cancel_returns_promptly, setup, teardown),
		cmocka_unit_test_setup_teardown(watch__stall_ends_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(watch__no_idle_timeout_waits, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
