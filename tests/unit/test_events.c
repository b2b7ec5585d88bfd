/* Unit tests for the Event recorder against a fake API server: the Event's shape, aggregation of
 * repeats into PATCHes, what makes a new Event, the window, drops when full, flush on free. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_events_server.h"
#include "kube_clock.h"
#include "kube_config.h"
#include "kube_error.h"
#include "kube_events.h"
#include "kube_json.h"
#include "kube_metrics.h"
#include "kube_rest.h"

struct fixture {
	struct fes *srv;
	struct kube_config cfg;
	struct kube_client *client;
	struct kube_clock *clock;
	struct kube_metrics *metrics;
	struct kube_events *rec;
};

static const char POD[] = "{\"kind\":\"Pod\",\"apiVersion\":\"v1\","
			  "\"metadata\":{\"name\":\"web-0\","
			  "\"namespace\":\"ns1\",\"uid\":\"u-1\",\"resourceVersion\":\"7\","
			  "\"labels\":{\"a\":\"b\"}},\"spec\":{}}";

static int setup_opts(void **state, struct kube_events_opts opts)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char url[64];

	if (!f)
		return -1;
	f->srv = fes_start();
	if (!f->srv)
		return -1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", f->srv->port);
	if (kube_config_init_server(&f->cfg, url) != 0)
		return -1;
	if (kube_client_new(&f->cfg, NULL, &f->client) != 0)
		return -1;
	f->clock = kube_clock_fake_new(0, 0); /* wall 2026-01-01T00:00:00Z */
	f->metrics = kube_metrics_new();
	opts.clock = f->clock;
	opts.metrics = f->metrics;
	if (kube_events_new(f->client, "phoenix-operator", "phoenix-0", &opts, &f->rec) != 0)
		return -1;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_opts(state, (struct kube_events_opts){0});
}

static int setup_small_queue(void **state)
{
	return setup_opts(state, (struct kube_events_opts){.queue_size = 2});
}

static int setup_spam(void **state)
{
	return setup_opts(state, (struct kube_events_opts){.spam_burst = 3,
							   .spam_refill_ns = KUBE_SEC(60)});
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kube_events_free(f->rec);
	kube_client_free(f->client);
	kube_config_release(&f->cfg);
	fes_stop(f->srv);
	kube_clock_free(f->clock);
	kube_metrics_free(f->metrics);
	free(f);
	return 0;
}

static const char *str(const cJSON *o, const char *a, const char *b)
{
	const char *v = b ? kube_json_get_str(o, a, b, NULL) : kube_json_get_str(o, a, NULL);

	return v ? v : "(missing)";
}

static double num(const cJSON *o, const char *key)
{
	double v = -1;

	kube_json_get_num(o, &v, key, NULL);
	return v;
}

static double writes(struct fixture *f, const char *result)
{
	struct kube_metric *m = kube_metric_register(f->metrics, KUBE_COUNTER,
						     "kube_events_writes_total", "",
						     (const char *const[]){"result", NULL}, NULL, 0);

	return kube_metric_value(m, (const char *[]){result});
}

static void events__first_event_is_posted_with_shape(void **state)
{
	struct fixture *f = *state;
	cJSON *pod = cJSON_Parse(POD);
	const struct fes_request *r;
	const cJSON *io;

	assert_int_equal(kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "Scheduled",
					    "assigned %s to %s", "web-0", "node-1"),
			 0);
	cJSON_Delete(pod); /* the recorder keeps nothing borrowed */
	kube_events_flush(f->rec);

	assert_int_equal(fes_count(f->srv), 1);
	r = &f->srv->req[0];
	assert_string_equal(r->method, "POST");
	assert_string_equal(r->path, "/api/v1/namespaces/ns1/events");
	assert_non_null(strstr(r->content_type, "application/json"));
	assert_non_null(r->body);
	assert_string_equal(str(r->body, "apiVersion", NULL), "v1");
	assert_string_equal(str(r->body, "kind", NULL), "Event");
	assert_string_equal(str(r->body, "metadata", "namespace"), "ns1");
	/* client-go's "<name>.<hex UnixNano>": 2026-01-01T00:00:00Z in ns. */
	assert_string_equal(str(r->body, "metadata", "name"), "web-0.18867251edfa0000");
	io = cJSON_GetObjectItem(r->body, "involvedObject");
	assert_string_equal(str(io, "kind", NULL), "Pod");
	assert_string_equal(str(io, "apiVersion", NULL), "v1");
	assert_string_equal(str(io, "namespace", NULL), "ns1");
	assert_string_equal(str(io, "name", NULL), "web-0");
	assert_string_equal(str(io, "uid", NULL), "u-1");
	assert_string_equal(str(io, "resourceVersion", NULL), "7");
	assert_int_equal(cJSON_GetArraySize(io), 6); /* nothing else (no labels, no spec) */
	assert_string_equal(str(r->body, "reason", NULL), "Scheduled");
	assert_string_equal(str(r->body, "message", NULL), "assigned web-0 to node-1");
	assert_string_equal(str(r->body, "type", NULL), "Normal");
	assert_string_equal(str(r->body, "source", "component"), "phoenix-operator");
	assert_string_equal(str(r->body, "source", "host"), "phoenix-0");
	assert_string_equal(str(r->body, "firstTimestamp", NULL), "2026-01-01T00:00:00Z");
	assert_string_equal(str(r->body, "lastTimestamp", NULL), "2026-01-01T00:00:00Z");
	assert_string_equal(str(r->body, "eventTime", NULL), "2026-01-01T00:00:00.000000Z");
	assert_true(num(r->body, "count") == 1);
	assert_string_equal(str(r->body, "reportingComponent", NULL), "phoenix-operator");
	assert_string_equal(str(r->body, "reportingInstance", NULL), "phoenix-0");
	assert_string_equal(str(r->body, "action", NULL), "Scheduled"); /* defaults to reason */
	assert_true(writes(f, "created") == 1);
}

static void events__repeat_becomes_patch_with_count(void **state)
{
	struct fixture *f = *state;
	cJSON *pod = cJSON_Parse(POD);
	const struct fes_request *r;
	char path[256];
	int i;

	for (i = 0; i < 3; i++) {
		assert_int_equal(kube_events_record(f->rec, pod, KUBE_EVENT_WARNING, "BackOff",
						    "restarting %s", "web-0"),
				 0);
		kube_events_flush(f->rec); /* so each repeat sees the previous write */
		kube_clock_advance(f->clock, KUBE_SEC(30));
	}
	cJSON_Delete(pod);

	assert_int_equal(fes_count(f->srv), 3);
	assert_string_equal(f->srv->req[0].method, "POST");
	snprintf(path, sizeof(path), "/api/v1/namespaces/ns1/events/%s",
		 str(f->srv->req[0].body, "metadata", "name"));
	for (i = 1; i < 3; i++) {
		r = &f->srv->req[i];
		assert_string_equal(r->method, "PATCH");
		assert_string_equal(r->path, path);
		assert_string_equal(r->content_type, "application/merge-patch+json");
		assert_true(num(r->body, "count") == i + 1);
	}
	assert_string_equal(str(f->srv->req[1].body, "lastTimestamp", NULL), "2026-01-01T00:00:30Z");
	assert_string_equal(str(f->srv->req[2].body, "lastTimestamp", NULL), "2026-01-01T00:01:00Z");
	/* The stored Event now says 3, first seen at 00:00:00. */
	assert_int_equal(cJSON_GetArraySize(f->srv->events), 1);
	assert_true(num(f->srv->events->child, "count") == 3);
	assert_string_equal(str(f->srv->events->child, "firstTimestamp", NULL),
			    "2026-01-01T00:00:00Z");
	assert_true(writes(f, "created") == 1);
	assert_true(writes(f, "patched") == 2);
}

static void events__what_makes_a_new_event(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *what;
		const char *obj;
		const char *type, *reason, *action, *msg;
		const char *want_method;
	} cases[] = {
		{"first", POD, "Normal", "Started", NULL, "m", "POST"},
		{"same again", POD, "Normal", "Started", NULL, "m", "PATCH"},
		{"other reason", POD, "Normal", "Killing", NULL, "m", "POST"},
		{"other message", POD, "Normal", "Started", NULL, "m2", "POST"},
		{"other type", POD, "Warning", "Started", NULL, "m", "POST"},
		{"other action", POD, "Normal", "Started", "Promote", "m", "POST"},
		{"other object",
		 "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web-1\","
		 "\"namespace\":\"ns1\",\"uid\":\"u-2\"}}",
		 "Normal", "Started", NULL, "m", "POST"},
		{"new rv, same object", /* resourceVersion is not part of the identity */
		 "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web-0\","
		 "\"namespace\":\"ns1\",\"uid\":\"u-1\",\"resourceVersion\":\"8\"}}",
		 "Normal", "Started", NULL, "m", "PATCH"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *obj = cJSON_Parse(cases[i].obj);
		int rc;

		if (cases[i].action)
			rc = kube_events_record_action(f->rec, obj, cases[i].type, cases[i].reason,
						       cases[i].action, "%s", cases[i].msg);
		else
			rc = kube_events_record(f->rec, obj, cases[i].type, cases[i].reason, "%s",
						cases[i].msg);
		cJSON_Delete(obj);
		assert_int_equal(rc, 0);
		kube_events_flush(f->rec);
		assert_int_equal(fes_count(f->srv), (int)i + 1);
		if (strcmp(f->srv->req[i].method, cases[i].want_method) != 0)
			fail_msg("case '%s': %s, want %s", cases[i].what, f->srv->req[i].method,
				 cases[i].want_method);
	}
	/* Different Events never share a name even though the fake clock stood still. */
	assert_int_equal(cJSON_GetArraySize(f->srv->events), 6);
}

static void events__window_expiry_creates_new(void **state)
{
	struct fixture *f = *state;
	cJSON *pod = cJSON_Parse(POD);

	kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "Synced", "ok");
	kube_events_flush(f->rec);
	kube_clock_advance(f->clock, KUBE_SEC(600)); /* exactly the window: still aggregated */
	kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "Synced", "ok");
	kube_events_flush(f->rec);
	kube_clock_advance(f->clock, KUBE_SEC(600) + 1);
	kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "Synced", "ok");
	kube_events_flush(f->rec);
	cJSON_Delete(pod);
	assert_int_equal(fes_count(f->srv), 3);
	assert_string_equal(f->srv->req[0].method, "POST");
	assert_string_equal(f->srv->req[1].method, "PATCH");
	assert_string_equal(f->srv->req[2].method, "POST");
	assert_true(num(f->srv->req[2].body, "count") == 1);
	assert_string_equal(str(f->srv->req[2].body, "firstTimestamp", NULL), "2026-01-01T00:20:00Z");
}

static void events__patch_not_found_recreates(void **state)
{
	struct fixture *f = *state;
	cJSON *pod = cJSON_Parse(POD);

	kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "Synced", "ok");
	kube_events_flush(f->rec);
	fes_delete_event(f->srv, str(f->srv->req[0].body, "metadata", "name"));
	kube_clock_advance(f->clock, KUBE_SEC(1));
	kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "Synced", "ok");
	kube_events_flush(f->rec);
	cJSON_Delete(pod);
	assert_int_equal(fes_count(f->srv), 3);
	assert_string_equal(f->srv->req[1].method, "PATCH");
	assert_string_equal(f->srv->req[2].method, "POST");
	assert_true(num(f->srv->req[2].body, "count") == 1);
	assert_int_equal(cJSON_GetArraySize(f->srv->events), 1);
}

static void events__cluster_scoped_and_reference_input(void **state)
{
	struct fixture *f = *state;
	cJSON *node = cJSON_Parse("{\"kind\":\"Node\",\"apiVersion\":\"v1\",\"metadata\":"
				  "{\"name\":\"node-1\",\"uid\":\"n-1\"}}");
	cJSON *ref = cJSON_Parse("{\"kind\":\"PhoenixService\",\"apiVersion\":\"phoenix.fpai.io/"
				 "v1alpha1\",\"namespace\":\"prod\",\"name\":\"api\",\"uid\":\"p-1\","
				 "\"fieldPath\":\"spec\"}");
	const cJSON *io;

	assert_int_equal(kube_events_record(f->rec, node, KUBE_EVENT_WARNING, "NodeLost", "gone"), 0);
	assert_int_equal(kube_events_record(f->rec, ref, KUBE_EVENT_NORMAL, "Failover", "ok"), 0);
	kube_events_flush(f->rec);
	cJSON_Delete(node);
	cJSON_Delete(ref);
	assert_int_equal(fes_count(f->srv), 2);
	assert_string_equal(f->srv->req[0].path, "/api/v1/namespaces/default/events");
	io = cJSON_GetObjectItem(f->srv->req[0].body, "involvedObject");
	assert_null(cJSON_GetObjectItem(io, "namespace"));
	assert_string_equal(str(io, "kind", NULL), "Node");
	assert_string_equal(f->srv->req[1].path, "/api/v1/namespaces/prod/events");
	io = cJSON_GetObjectItem(f->srv->req[1].body, "involvedObject");
	assert_string_equal(str(io, "apiVersion", NULL), "phoenix.fpai.io/v1alpha1");
	assert_string_equal(str(io, "fieldPath", NULL), "spec");
	assert_string_equal(str(io, "uid", NULL), "p-1");
}

static void events__invalid_input(void **state)
{
	struct fixture *f = *state;
	cJSON *pod = cJSON_Parse(POD);
	cJSON *anon = cJSON_Parse("{\"kind\":\"Pod\",\"metadata\":{\"namespace\":\"x\"}}");
	char long_reason[130];
	const struct {
		const char *type, *reason, *action;
		int use_anon;
	} cases[] = {
		{"Info", "X", NULL, 0},  {NULL, "X", NULL, 0},	{"Normal", "", NULL, 0},
		{"Normal", NULL, NULL, 0}, {"Normal", "X", "", 0}, {"Normal", "X", NULL, 1},
		{"Normal", long_reason, NULL, 0},
	};
	size_t i;

	memset(long_reason, 'R', 129);
	long_reason[129] = '\0';
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const cJSON *obj = cases[i].use_anon ? anon : pod;
		int rc = cases[i].action ? kube_events_record_action(f->rec, obj, cases[i].type,
								     cases[i].reason,
								     cases[i].action, "m")
					 : kube_events_record(f->rec, obj, cases[i].type,
							      cases[i].reason, "m");
		if (rc != KUBE_EINVAL)
			fail_msg("case %zu: rc %d", i, rc);
	}
	assert_int_equal(kube_events_record(NULL, pod, "Normal", "X", "m"), KUBE_EINVAL);
	assert_int_equal(kube_events_record(f->rec, NULL, "Normal", "X", "m"), KUBE_EINVAL);
	kube_events_flush(f->rec);
	assert_int_equal(fes_count(f->srv), 0);
	cJSON_Delete(pod);
	cJSON_Delete(anon);
	assert_int_equal(kube_events_new(NULL, "c", "i", NULL, &(struct kube_events *){NULL}),
			 KUBE_EINVAL);
	assert_int_equal(kube_events_new(f->client, "", "i", NULL, &(struct kube_events *){NULL}),
			 KUBE_EINVAL);
}

static void events__message_cut_at_utf8_boundary(void **state)
{
	struct fixture *f = *state;
	cJSON *pod = cJSON_Parse(POD);
	char msg[2002];
	const char *got;
	size_t i;

	/* "x" then 1000 two-byte "é": byte 1024 falls in the middle of a character. */
	msg[0] = 'x';
	for (i = 0; i < 1000; i++) {
		msg[1 + 2 * i] = (char)0xC3;
		msg[2 + 2 * i] = (char)0xA9;
	}
	msg[2001] = '\0';
	assert_int_equal(kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "Long", "%s", msg), 0);
	kube_events_flush(f->rec);
	cJSON_Delete(pod);
	got = str(f->srv->req[0].body, "message", NULL);
	assert_int_equal(strlen(got), 1023);
	assert_int_equal(memcmp(got, msg, 1023), 0);
}

static void events__write_failure_is_counted_and_recovered(void **state)
{
	struct fixture *f = *state;
	cJSON *pod = cJSON_Parse(POD);

	fes_fail_next(f->srv, 500, 1);
	kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "A", "m");
	kube_events_flush(f->rec);
	assert_true(writes(f, "failed") == 1);
	assert_int_equal(cJSON_GetArraySize(f->srv->events), 0);
	/* Nothing was remembered from the failure: the next one is created. */
	kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "A", "m");
	kube_events_flush(f->rec);
	cJSON_Delete(pod);
	assert_true(writes(f, "created") == 1);
	assert_string_equal(f->srv->req[fes_count(f->srv) - 1].method, "POST");
	assert_int_equal(cJSON_GetArraySize(f->srv->events), 1);
}

static void events__queue_full_drops_and_counts(void **state)
{
	struct fixture *f = *state;
	cJSON *pod = cJSON_Parse(POD);
	struct kube_metric *dropped;
	int i;

	fes_set_hold(f->srv, true);
	assert_int_equal(kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "R0", "m"), 0);
	fes_wait_held(f->srv, 1); /* the worker is now stuck in its first request */
	for (i = 1; i <= 2; i++) /* queue_size 2 */
		assert_int_equal(kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "R", "m%d", i),
				 0);
	assert_int_equal(kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "R", "m3"),
			 KUBE_ETOOMANY);
	assert_int_equal(kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "R", "m4"),
			 KUBE_ETOOMANY);
	fes_set_hold(f->srv, false);
	kube_events_flush(f->rec);
	cJSON_Delete(pod);
	dropped = kube_metric_register(f->metrics, KUBE_COUNTER, "kube_events_dropped_total", "",
				       NULL, NULL, 0);
	assert_true(kube_metric_value(dropped, NULL) == 2);
	assert_int_equal(fes_count(f->srv), 3);
	assert_int_equal(cJSON_GetArraySize(f->srv->events), 3);
}

static void events__free_flushes_queue(void **state)
{
	struct fixture *f = *state;
	cJSON *pod = cJSON_Parse(POD);
	int i;

	fes_set_hold(f->srv, true);
	for (i = 0; i < 5; i++)
		assert_int_equal(kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "Step", "%d", i),
				 0);
	cJSON_Delete(pod);
	fes_wait_held(f->srv, 1);
	fes_set_hold(f->srv, false);
	kube_events_free(f->rec); /* must write all five before returning */
	f->rec = NULL;
	assert_int_equal(fes_count(f->srv), 5);
	assert_int_equal(cJSON_GetArraySize(f->srv->events), 5);
}

static void events__shutdown_drain_is_bounded(void **state)
{
	struct fixture *f = *state;
	cJSON *pod = cJSON_Parse(POD);
	struct kube_metric *dropped;

	fes_set_hold(f->srv, true);
	assert_int_equal(kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "A", "m"), 0);
	assert_int_equal(kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "B", "m"), 0);
	assert_int_equal(kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "C", "m"), 0);
	fes_wait_held(f->srv, 1); /* the first write is in flight, as against a hung API */
	kube_events_shutdown(f->rec);
	kube_events_shutdown(f->rec); /* idempotent */
	assert_int_equal(kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "D", "m"),
			 KUBE_ESHUTDOWN);
	cJSON_Delete(pod);
	kube_clock_advance(f->clock, KUBE_SEC(5)); /* the default drain budget is used up */
	fes_set_hold(f->srv, false);
	kube_events_free(f->rec);
	f->rec = NULL;
	assert_int_equal(fes_count(f->srv), 1); /* only the write in flight finished */
	dropped = kube_metric_register(f->metrics, KUBE_COUNTER, "kube_events_dropped_total", "",
				       NULL, NULL, 0);
	assert_true(kube_metric_value(dropped, NULL) == 2);
}

static void events__spam_filter_per_object(void **state)
{
	struct fixture *f = *state;
	cJSON *pod = cJSON_Parse(POD);
	cJSON *other = cJSON_Parse("{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":"
				   "{\"name\":\"web-1\",\"namespace\":\"ns1\",\"uid\":\"u-2\"}}");
	int i;

	/* Burst 3: two new Events and one aggregated repeat use it up (a repeat is a write too). */
	kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "A", "m");
	kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "A", "m");
	kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "B", "m");
	for (i = 0; i < 5; i++)
		kube_events_record(f->rec, pod, KUBE_EVENT_WARNING, "C", "m%d", i);
	kube_events_record(f->rec, other, KUBE_EVENT_NORMAL, "A", "m"); /* its own bucket */
	kube_events_flush(f->rec);
	assert_int_equal(fes_count(f->srv), 4);
	assert_true(writes(f, "filtered") == 5);
	/* 90 s at one per minute: one more for the first object, not two. */
	kube_clock_advance(f->clock, KUBE_SEC(90));
	kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "D", "m");
	kube_events_record(f->rec, pod, KUBE_EVENT_NORMAL, "E", "m");
	kube_events_flush(f->rec);
	cJSON_Delete(pod);
	cJSON_Delete(other);
	assert_int_equal(fes_count(f->srv), 5);
	assert_string_equal(str(f->srv->req[4].body, "reason", NULL), "D");
	assert_true(writes(f, "filtered") == 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(events__first_event_is_posted_with_shape, setup,
						teardown),
		cmocka_unit_test_setup_teardown(events__repeat_becomes_patch_with_count, setup,
						teardown),
		cmocka_unit_test_setup_teardown(events__what_makes_a_new_event, setup, teardown),
		cmocka_unit_test_setup_teardown(events__window_expiry_creates_new, setup, teardown),
		cmocka_unit_test_setup_teardown(events__patch_not_found_recreates, setup, teardown),
		cmocka_unit_test_setup_teardown(events__cluster_scoped_and_reference_input, setup,
						teardown),
		cmocka_unit_test_setup_teardown(events__invalid_input, setup, teardown),
		cmocka_unit_test_setup_teardown(events__message_cut_at_utf8_boundary, setup, teardown),
		cmocka_unit_test_setup_teardown(events__write_failure_is_counted_and_recovered, setup,
						teardown),
		cmocka_unit_test_setup_teardown(events__queue_full_drops_and_counts, setup_small_queue,
						teardown),
		cmocka_unit_test_setup_teardown(events__free_flushes_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(events__spam_filter_per_object, setup_spam, teardown),
		cmocka_unit_test_setup_teardown(events__shutdown_drain_is_bounded, setup, teardown),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	kube_metrics_default_reset();
	return rc;
}
