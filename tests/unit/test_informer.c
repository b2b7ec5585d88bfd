/* Informer end to end against a fake API server: list + watch fills the cache, handlers see
 * adds/updates/deletes, a restarted watch resumes from the last version, 410 leads to a relist
 * that turns a missed delete into a tombstone, resync, the owner index, backoff, prompt stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fake_apiserver.h"

#include "kube_clock.h"
#include "kube_config.h"
#include "kube_error.h"
#include "kube_informer.h"
#include "kube_json.h"
#include "kube_metrics.h"
#include "kube_rest.h"

#define WAIT_MS 5000

struct recorder {
	pthread_mutex_t mu;
	int adds, updates, deletes, tombstones, resyncs;
	char last_deleted[64];
	char last_tombstone[64];
	char last_update_old_rv[32], last_update_new_rv[32];
	char adds_seen[64][64]; /* keys in the order added */
};

static void rec_add(const cJSON *obj, void *ud)
{
	struct recorder *r = ud;
	char *key = kube_json_key(obj);
	pthread_mutex_lock(&r->mu);
	if (r->adds < 64)
		snprintf(r->adds_seen[r->adds], 64, "%s", key);
	r->adds++;
	pthread_mutex_unlock(&r->mu);
	free(key);
}

static void rec_update(const cJSON *old_obj, const cJSON *new_obj, void *ud)
{
	struct recorder *r = ud;
	pthread_mutex_lock(&r->mu);
	if (old_obj == new_obj) {
		r->resyncs++;
	} else {
		r->updates++;
		snprintf(r->last_update_old_rv, 32, "%s", kube_json_resource_version(old_obj));
		snprintf(r->last_update_new_rv, 32, "%s", kube_json_resource_version(new_obj));
	}
	pthread_mutex_unlock(&r->mu);
}

static void rec_delete(const cJSON *obj, bool unknown, void *ud)
{
	struct recorder *r = ud;
	pthread_mutex_lock(&r->mu);
	if (unknown) {
		r->tombstones++;
		snprintf(r->last_tombstone, 64, "%s", kube_json_name(obj));
	} else {
		r->deletes++;
		snprintf(r->last_deleted, 64, "%s", kube_json_name(obj));
	}
	pthread_mutex_unlock(&r->mu);
}

static int rec_get(struct recorder *r, const int *field)
{
	int v;
	pthread_mutex_lock(&r->mu);
	v = *field;
	pthread_mutex_unlock(&r->mu);
	return v;
}

struct fixture {
	struct fake_api *api;
	struct kube_client *client;
	struct kube_informer *inf;
	struct recorder rec;
	struct kube_clock *clock;
	bool compact; /* informers store objects as compact text (setup_compact) */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct kube_config cfg = {0};
	struct kube_client_opts co = {.qps = -1, .max_retries = -1, .timeout_ms = 5000};

	f->api = fake_api_start();
	assert_non_null(f->api);
	assert_int_equal(kube_config_init_server(&cfg, f->api->url), 0);
	assert_int_equal(kube_client_new(&cfg, &co, &f->client), 0);
	kube_config_release(&cfg);
	pthread_mutex_init(&f->rec.mu, NULL);
	*state = f;
	return 0;
}

/* The same tests again with kube_informer_opts.compact: every read parses the stored text. */
static int setup_compact(void **state)
{
	setup(state);
	((struct fixture *)*state)->compact = true;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	kube_informer_free(f->inf);
	kube_client_free(f->client);
	fake_api_stop(f->api);
	kube_clock_free(f->clock);
	pthread_mutex_destroy(&f->rec.mu);
	free(f);
	return 0;
}

static void put_pod(struct fake_api *api, const char *ns, const char *name, const char *labels,
		    const char *owners)
{
	char buf[1024];
	snprintf(buf, sizeof(buf),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
		 "\"namespace\":\"%s\",\"labels\":{%s},\"ownerReferences\":[%s]},"
		 "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}",
		 name, ns, labels ? labels : "", owners ? owners : "");
	fake_api_put(api, "pods", buf);
}

static void start_informer(struct fixture *f, const struct kube_informer_opts *extra)
{
	struct kube_informer_opts o = {.gvr = &KUBE_GVR_PODS, .backoff_base_ms = 10,
				       .backoff_max_ms = 100, .compact = f->compact};
	struct kube_informer_handlers h = {rec_add, rec_update, rec_delete, &f->rec};

	if (extra != NULL) {
		o.namespace = extra->namespace;
		o.label_selector = extra->label_selector;
		o.resync_ms = extra->resync_ms;
		o.clock = extra->clock;
		o.name = extra->name;
		o.transform = extra->transform;
		o.transform_ud = extra->transform_ud;
		o.watch_idle_timeout_ms = extra->watch_idle_timeout_ms;
	}
	assert_int_equal(kube_informer_new(f->client, &o, &f->inf), 0);
	assert_int_equal(kube_informer_add_handlers(f->inf, &h), 0);
	assert_false(kube_informer_has_synced(f->inf));
	assert_int_equal(kube_informer_start(f->inf), 0);
	assert_int_equal(kube_informer_add_handlers(f->inf, &h), KUBE_EINVAL);
}

/* Predicates for fake_eventually. */
struct want {
	struct fixture *f;
	const int *field;
	int value;
};

static bool rec_reaches(void *arg)
{
	struct want *w = arg;
	return rec_get(&w->f->rec, w->field) >= w->value;
}

static bool api_reaches(void *arg)
{
	struct want *w = arg;
	return fake_api_read(w->f->api, w->field) >= w->value;
}

#define EVENTUALLY_REC(fx, fld, v)                                                         \
	do {                                                                               \
		struct want w_ = {(fx), &(fx)->rec.fld, (v)};                              \
		assert_true(fake_eventually(rec_reaches, &w_, WAIT_MS));                   \
	} while (0)
#define EVENTUALLY_API(fx, fld, v)                                                         \
	do {                                                                               \
		struct want w_ = {(fx), &(fx)->api->fld, (v)};                             \
		assert_true(fake_eventually(api_reaches, &w_, WAIT_MS));                   \
	} while (0)

static void informer__list_and_watch_fill_the_cache(void **state)
{
	struct fixture *f = *state;
	cJSON *obj = NULL;

	put_pod(f->api, "default", "a", NULL, NULL);
	put_pod(f->api, "default", "b", NULL, NULL);
	put_pod(f->api, "other", "c", NULL, NULL);
	start_informer(f, NULL);
	assert_int_equal(kube_informer_wait_for_sync(f->inf, WAIT_MS), 0);
	assert_true(kube_informer_has_synced(f->inf));
	/* The initial list is delivered before has_synced turns true. */
	assert_int_equal(rec_get(&f->rec, &f->rec.adds), 3);
	assert_int_equal(kube_informer_len(f->inf), 3);
	assert_int_equal(kube_informer_get(f->inf, "other/c", &obj), 0);
	assert_string_equal(kube_json_name(obj), "c");
	/* The list's items came without type meta; the cache fills it in from "PodList". */
	assert_string_equal(kube_json_get_str(obj, "kind", NULL), "Pod");
	assert_string_equal(kube_json_get_str(obj, "apiVersion", NULL), "v1");
	cJSON_Delete(obj);
	assert_int_equal(kube_informer_get(f->inf, "default/zzz", &obj), KUBE_ENOTFOUND);
	assert_null(obj);

	/* Watch events: add, update (old and new versions differ), delete. */
	EVENTUALLY_API(f, active_watches, 1);
	put_pod(f->api, "default", "d", NULL, NULL);
	EVENTUALLY_REC(f, adds, 4);
	assert_int_equal(kube_informer_get(f->inf, "default/d", &obj), 0);
	cJSON_Delete(obj);
	put_pod(f->api, "default", "a", "\"v\":\"2\"", NULL);
	EVENTUALLY_REC(f, updates, 1);
	assert_true(atoi(f->rec.last_update_new_rv) > atoi(f->rec.last_update_old_rv));
	assert_int_equal(kube_informer_get(f->inf, "default/a", &obj), 0);
	assert_string_equal(kube_json_get_str(obj, "metadata", "labels", "v", NULL), "2");
	cJSON_Delete(obj);
	fake_api_delete(f->api, "pods", "default", "b");
	EVENTUALLY_REC(f, deletes, 1);
	assert_string_equal(f->rec.last_deleted, "b");
	assert_int_equal(rec_get(&f->rec, &f->rec.tombstones), 0);
	assert_int_equal(kube_informer_len(f->inf), 3);
	assert_int_equal(kube_informer_get(f->inf, "default/b", &obj), KUBE_ENOTFOUND);
}

static void informer__namespace_and_label_selector_scope_the_cache(void **state)
{
	struct fixture *f = *state;
	struct kube_informer_opts o = {.namespace = "default", .label_selector = "app=web"};

	put_pod(f->api, "default", "web1", "\"app\":\"web\"", NULL);
	put_pod(f->api, "default", "db1", "\"app\":\"db\"", NULL);
	put_pod(f->api, "other", "web2", "\"app\":\"web\"", NULL);
	start_informer(f, &o);
	assert_int_equal(kube_informer_wait_for_sync(f->inf, WAIT_MS), 0);
	assert_int_equal(kube_informer_len(f->inf), 1);
	EVENTUALLY_API(f, active_watches, 1);
	put_pod(f->api, "other", "web3", "\"app\":\"web\"", NULL);
	put_pod(f->api, "default", "web4", "\"app\":\"web\"", NULL);
	EVENTUALLY_REC(f, adds, 2);
	assert_string_equal(f->rec.adds_seen[0], "default/web1");
	assert_string_equal(f->rec.adds_seen[1], "default/web4");
	assert_int_equal(kube_informer_len(f->inf), 2);
}

static void informer__watch_restart_resumes_from_last_version(void **state)
{
	struct fixture *f = *state;
	struct kube_informer_stats st;
	char *rv;

	put_pod(f->api, "default", "a", NULL, NULL);
	start_informer(f, NULL);
	assert_int_equal(kube_informer_wait_for_sync(f->inf, WAIT_MS), 0);
	EVENTUALLY_API(f, active_watches, 1);
	put_pod(f->api, "default", "b", NULL, NULL);
	put_pod(f->api, "default", "c", NULL, NULL);
	EVENTUALLY_REC(f, adds, 3);
	rv = kube_informer_resource_version(f->inf);
	assert_non_null(rv);
	/* The server ends the stream: the informer rewatches from the last version it saw, with
	 * no relist and no duplicate events. */
	fake_api_close_watches(f->api);
	EVENTUALLY_API(f, nwatches, 2);
	pthread_mutex_lock(&f->api->mu);
	assert_string_equal(f->api->watch_rvs[1], rv);
	pthread_mutex_unlock(&f->api->mu);
	free(rv);
	put_pod(f->api, "default", "d", NULL, NULL);
	EVENTUALLY_REC(f, adds, 4);
	kube_informer_stats(f->inf, &st);
	assert_int_equal(st.lists, 1);
	assert_int_equal(fake_api_read(f->api, &f->api->nlists), 1);
	assert_int_equal(rec_get(&f->rec, &f->rec.adds), 4);
	assert_int_equal(rec_get(&f->rec, &f->rec.updates), 0);
}

/* Starts the informer on pod "a", waits for the sync and the watch, then sees "b" arrive
 * through the watch: a running informer with two adds delivered. */
static void start_synced_with_a_and_b(struct fixture *f, const struct kube_informer_opts *o)
{
	put_pod(f->api, "default", "a", NULL, NULL);
	start_informer(f, o);
	assert_int_equal(kube_informer_wait_for_sync(f->inf, WAIT_MS), 0);
	EVENTUALLY_API(f, active_watches, 1);
	put_pod(f->api, "default", "b", NULL, NULL);
	EVENTUALLY_REC(f, adds, 2);
}

/* A watch that stays open but brings nothing (no event, no bookmark; the server's blank
 * heartbeat lines do not count) is ended after the idle timeout and restarted from the last
 * version, without a relist: the event it withheld arrives through the new watch. */
static void informer__stalled_watch_restarts_from_last_version(void **state)
{
	struct fixture *f = *state;
	struct kube_informer_opts o = {.name = "pods-stall", .watch_idle_timeout_ms = 400};
	struct kube_informer_stats st;
	char *rv;

	start_synced_with_a_and_b(f, &o);
	rv = kube_informer_resource_version(f->inf);
	assert_non_null(rv);
	fake_api_stall_watches(f->api);
	put_pod(f->api, "default", "c", NULL, NULL);
	EVENTUALLY_REC(f, adds, 3);
	kube_informer_stats(f->inf, &st);
	assert_true(st.stalls >= 1);
	assert_int_equal(st.lists, 1);
	assert_int_equal(fake_api_read(f->api, &f->api->nlists), 1);
	pthread_mutex_lock(&f->api->mu);
	assert_true(f->api->nwatches >= 2);
	assert_string_equal(f->api->watch_rvs[1], rv);
	pthread_mutex_unlock(&f->api->mu);
	free(rv);
	assert_int_equal(kube_informer_len(f->inf), 3);
}

/* Stall detection off (< 0): the stalled watch is never given up, so the cache stays stale.
 * Bounded check: nothing arrives within several idle periods of the test above. */
static void informer__idle_timeout_off_keeps_the_watch(void **state)
{
	struct fixture *f = *state;
	struct kube_informer_opts o = {.name = "pods-nostall", .watch_idle_timeout_ms = -1};
	struct kube_informer_stats st;
	struct want w = {f, &f->rec.adds, 2};

	put_pod(f->api, "default", "a", NULL, NULL);
	start_informer(f, &o);
	assert_int_equal(kube_informer_wait_for_sync(f->inf, WAIT_MS), 0);
	EVENTUALLY_API(f, active_watches, 1);
	fake_api_stall_watches(f->api);
	put_pod(f->api, "default", "b", NULL, NULL);
	assert_false(fake_eventually(rec_reaches, &w, 1500));
	kube_informer_stats(f->inf, &st);
	assert_int_equal(st.stalls, 0);
	assert_int_equal(fake_api_read(f->api, &f->api->nwatches), 1);
}

/* 410 arrives as an ERROR event on a 200 stream (the apiserver's way) or as the HTTP status of
 * the watch request: either way the informer relists. */
static void check_gone_relist(struct fixture *f, bool as_http, const char *name)
{
	struct kube_informer_opts o = {.name = name};
	struct kube_informer_stats st;
	const char *lv[] = {name};
	struct kube_metric *relists;

	pthread_mutex_lock(&f->api->mu);
	f->api->gone_as_http = as_http;
	pthread_mutex_unlock(&f->api->mu);
	put_pod(f->api, "default", "keep", NULL, NULL);
	put_pod(f->api, "default", "doomed", NULL, NULL);
	start_informer(f, &o);
	assert_int_equal(kube_informer_wait_for_sync(f->inf, WAIT_MS), 0);
	EVENTUALLY_API(f, active_watches, 1);

	/* While the watch sees nothing, "doomed" is deleted, history is compacted past the
	 * informer's version and the stream ends: the rewatch gets 410 Gone. */
	fake_api_pause_watches(f->api, true);
	fake_api_delete(f->api, "pods", "default", "doomed");
	put_pod(f->api, "default", "newcomer", NULL, NULL);
	fake_api_compact(f->api);
	fake_api_close_watches(f->api);
	fake_api_pause_watches(f->api, false);

	EVENTUALLY_REC(f, tombstones, 1);
	assert_string_equal(f->rec.last_tombstone, "doomed");
	assert_int_equal(rec_get(&f->rec, &f->rec.deletes), 0);
	EVENTUALLY_REC(f, adds, 3); /* keep, doomed, then newcomer from the relist */
	assert_int_equal(kube_informer_len(f->inf), 2);
	kube_informer_stats(f->inf, &st);
	assert_int_equal(st.lists, 2);
	assert_int_equal(st.tombstones, 1);
	/* The relist refreshed "keep" (an update, as client-go's Replace does). */
	assert_int_equal(rec_get(&f->rec, &f->rec.updates), 1);
	relists = kube_metric_register(kube_metrics_default(), KUBE_COUNTER,
				       "kube_informer_relists_total",
				       "Lists after the first one (410 Gone or errors)",
				       (const char *const[]){"informer", NULL}, NULL, 0);
	assert_true(kube_metric_value(relists, lv) == 1.0);
	/* And it watches again from the relist's version. */
	EVENTUALLY_API(f, active_watches, 1);
	put_pod(f->api, "default", "later", NULL, NULL);
	EVENTUALLY_REC(f, adds, 4);
}

static void informer__gone_event_relists_and_delivers_missed_delete_as_tombstone(void **state)
{
	check_gone_relist(*state, false, "pods-gone-event");
}

static void informer__compact_gone_relists_and_delivers_missed_delete_as_tombstone(void **state)
{
	check_gone_relist(*state, false, "pods-gone-compact");
}

static void informer__gone_status_relists_and_delivers_missed_delete_as_tombstone(void **state)
{
	check_gone_relist(*state, true, "pods-gone-http");
}

struct idle {
	struct kube_clock *clock;
	int64_t deadline;
};

/* The processor is asleep on the fake clock until its next resync at `deadline`. */
static bool processor_idle(void *arg)
{
	struct idle *i = arg;
	return kube_clock_next_deadline(i->clock) == i->deadline;
}

static void informer__resync_redelivers_every_object(void **state)
{
	struct fixture *f = *state;
	struct kube_informer_opts o = {.resync_ms = 30000};
	struct idle idle;

	f->clock = kube_clock_fake_new(0, 0);
	o.clock = f->clock;
	idle.clock = f->clock;
	idle.deadline = KUBE_MS(30000);
	put_pod(f->api, "default", "a", NULL, NULL);
	put_pod(f->api, "default", "b", NULL, NULL);
	start_informer(f, &o);
	assert_int_equal(kube_informer_wait_for_sync(f->inf, WAIT_MS), 0);
	assert_true(fake_eventually(processor_idle, &idle, WAIT_MS));
	assert_int_equal(rec_get(&f->rec, &f->rec.resyncs), 0);
	kube_clock_advance(f->clock, KUBE_MS(29999));
	assert_int_equal(rec_get(&f->rec, &f->rec.resyncs), 0);
	kube_clock_advance(f->clock, KUBE_MS(1));
	EVENTUALLY_REC(f, resyncs, 2);
	idle.deadline = KUBE_MS(60000);
	assert_true(fake_eventually(processor_idle, &idle, WAIT_MS));
	kube_clock_advance(f->clock, KUBE_MS(30000));
	EVENTUALLY_REC(f, resyncs, 4);
	assert_int_equal(rec_get(&f->rec, &f->rec.updates), 0);
}

static int count_cb(const cJSON *obj, void *ud)
{
	(*(int *)ud)++;
	return 0;
}

static void informer__owner_index_follows_changes(void **state)
{
	struct fixture *f = *state;
	const char *own1 = "{\"kind\":\"ReplicaSet\",\"name\":\"rs1\",\"uid\":\"u1\"}";
	const char *own2 = "{\"kind\":\"ReplicaSet\",\"name\":\"rs2\",\"uid\":\"u2\"}";
	char both[256];
	cJSON *arr = NULL;
	int n = 0;

	snprintf(both, sizeof(both), "%s,%s", own1, own2);
	put_pod(f->api, "default", "p1", NULL, own1);
	put_pod(f->api, "default", "p2", NULL, own1);
	put_pod(f->api, "default", "p3", NULL, both);
	put_pod(f->api, "default", "orphan", NULL, NULL);
	start_informer(f, NULL);
	assert_int_equal(kube_informer_wait_for_sync(f->inf, WAIT_MS), 0);
	assert_int_equal(kube_informer_list_owned(f->inf, "u1", &arr), 0);
	assert_int_equal(cJSON_GetArraySize(arr), 3);
	cJSON_Delete(arr);
	assert_int_equal(kube_informer_foreach_owned(f->inf, "u2", count_cb, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(kube_informer_list_owned(f->inf, "nobody", &arr), 0);
	assert_int_equal(cJSON_GetArraySize(arr), 0);
	cJSON_Delete(arr);

	/* p1 moves to u2, p2 is deleted: the index follows. */
	EVENTUALLY_API(f, active_watches, 1);
	put_pod(f->api, "default", "p1", NULL, own2);
	fake_api_delete(f->api, "pods", "default", "p2");
	EVENTUALLY_REC(f, deletes, 1);
	assert_int_equal(kube_informer_list_owned(f->inf, "u1", &arr), 0);
	assert_int_equal(cJSON_GetArraySize(arr), 1);
	assert_string_equal(kube_json_name(cJSON_GetArrayItem(arr, 0)), "p3");
	cJSON_Delete(arr);
	n = 0;
	kube_informer_foreach_owned(f->inf, "u2", count_cb, &n);
	assert_int_equal(n, 2);
	n = 0;
	kube_informer_foreach(f->inf, count_cb, &n);
	assert_int_equal(n, 3);
}

static void informer__list_errors_back_off_then_sync(void **state)
{
	struct fixture *f = *state;
	struct kube_informer_stats st;

	put_pod(f->api, "default", "a", NULL, NULL);
	pthread_mutex_lock(&f->api->mu);
	f->api->fail_lists = 3;
	pthread_mutex_unlock(&f->api->mu);
	start_informer(f, NULL);
	assert_int_equal(kube_informer_wait_for_sync(f->inf, WAIT_MS), 0);
	kube_informer_stats(f->inf, &st);
	assert_int_equal(st.lists, 4);
	assert_int_equal(st.errors, 3);
	assert_int_equal(kube_informer_len(f->inf), 1);
}

static void informer__wait_for_sync_times_out_and_stop_is_prompt(void **state)
{
	struct fixture *f = *state;
	int64_t t0;

	pthread_mutex_lock(&f->api->mu);
	f->api->fail_lists = 1000000;
	pthread_mutex_unlock(&f->api->mu);
	start_informer(f, NULL);
	assert_int_equal(kube_informer_wait_for_sync(f->inf, 100), KUBE_ETIMEDOUT);
	assert_false(kube_informer_has_synced(f->inf));
	t0 = kube_clock_now(NULL);
	kube_informer_stop(f->inf);
	assert_true(kube_clock_now(NULL) - t0 < KUBE_MS(1000));
	assert_int_equal(kube_informer_wait_for_sync(f->inf, 100), KUBE_ESHUTDOWN);
}

static void informer__stop_cancels_an_open_watch_promptly(void **state)
{
	struct fixture *f = *state;
	int64_t t0;

	put_pod(f->api, "default", "a", NULL, NULL);
	start_informer(f, NULL);
	assert_int_equal(kube_informer_wait_for_sync(f->inf, WAIT_MS), 0);
	EVENTUALLY_API(f, active_watches, 1);
	t0 = kube_clock_now(NULL);
	kube_informer_stop(f->inf);
	kube_informer_stop(f->inf); /* idempotent */
	assert_true(kube_clock_now(NULL) - t0 < KUBE_MS(1000));
	/* The cache stays readable after stop. */
	assert_int_equal(kube_informer_len(f->inf), 1);
	assert_int_equal(kube_informer_start(f->inf), KUBE_EINVAL);
}

static void informer__bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct kube_informer_opts o = {0};
	struct kube_informer *inf = (struct kube_informer *)1;

	assert_int_equal(kube_informer_new(f->client, &o, &inf), KUBE_EINVAL);
	assert_null(inf);
	assert_int_equal(kube_informer_new(NULL, &o, &inf), KUBE_EINVAL);
	assert_false(kube_informer_has_synced(NULL));
	assert_int_equal(kube_informer_len(NULL), 0);
	kube_informer_free(NULL);
}

static int group_teardown(void **state)
{
	kube_metrics_default_reset();
	return 0;
}

/* ---- transform ---- */

/* A transform that drops spec and stamps a marker label, counting what it saw. Mode "new"
 * returns a fresh tree instead of changing obj in place; mode "fail" always returns NULL. */
struct xform {
	pthread_mutex_t mu;
	const char *mode;
	int calls, with_spec;
	int untransformed_seen; /* handler deliveries of an object without the marker */
	int deliveries;
};

static cJSON *xform_fn(cJSON *obj, void *ud)
{
	struct xform *x = ud;
	cJSON *out = obj;

	pthread_mutex_lock(&x->mu);
	x->calls++;
	x->with_spec += cJSON_GetObjectItemCaseSensitive(obj, "spec") != NULL;
	pthread_mutex_unlock(&x->mu);
	if (strcmp(x->mode, "fail") == 0)
		return NULL;
	if (strcmp(x->mode, "new") == 0) {
		out = cJSON_Duplicate(obj, true);
		assert_non_null(out);
	}
	cJSON_DeleteItemFromObjectCaseSensitive(out, "spec");
	kube_json_set_str(cJSON_GetObjectItemCaseSensitive(
				  cJSON_GetObjectItemCaseSensitive(out, "metadata"), "labels"),
			  "xformed", "yes");
	return out;
}

static void xform_check(struct xform *x, const cJSON *obj)
{
	bool ok = kube_json_get_str(obj, "metadata", "labels", "xformed", NULL) != NULL &&
		  kube_json_get(obj, "spec", NULL) == NULL;
	pthread_mutex_lock(&x->mu);
	x->deliveries++;
	x->untransformed_seen += !ok;
	pthread_mutex_unlock(&x->mu);
}

static void xform_add(const cJSON *obj, void *ud)
{
	xform_check(ud, obj);
}

static void xform_update(const cJSON *old_obj, const cJSON *new_obj, void *ud)
{
	xform_check(ud, old_obj);
	xform_check(ud, new_obj);
}

static void xform_delete(const cJSON *obj, bool unknown, void *ud)
{
	(void)unknown;
	xform_check(ud, obj);
}

static int xform_read(struct xform *x, const int *field)
{
	int v;
	pthread_mutex_lock(&x->mu);
	v = *field;
	pthread_mutex_unlock(&x->mu);
	return v;
}

/* Lists, watch adds/updates/deletes and a relist tombstone all pass through the transform, and
 * neither get() nor any handler ever sees an object it did not produce. */
static void check_transform(struct fixture *f, const char *mode)
{
	struct xform x = {.mode = mode};
	struct kube_informer_opts o = {.transform = xform_fn, .transform_ud = &x};
	struct kube_informer_handlers h = {xform_add, xform_update, xform_delete, &x};
	cJSON *obj = NULL;

	pthread_mutex_init(&x.mu, NULL);
	put_pod(f->api, "default", "a", "\"app\":\"web\"", NULL);
	put_pod(f->api, "default", "b", NULL, NULL);
	put_pod(f->api, "default", "doomed", NULL, NULL);
	assert_int_equal(kube_informer_new(f->client,
					   &(struct kube_informer_opts){
						   .gvr = &KUBE_GVR_PODS, .backoff_base_ms = 10,
						   .backoff_max_ms = 100, .transform = o.transform,
						   .transform_ud = o.transform_ud,
						   .compact = f->compact},
					   &f->inf),
			 0);
	assert_int_equal(kube_informer_add_handlers(f->inf, &h), 0);
	assert_int_equal(kube_informer_add_handlers(
				 f->inf, &(struct kube_informer_handlers){rec_add, rec_update,
									   rec_delete, &f->rec}),
			 0);
	assert_int_equal(kube_informer_start(f->inf), 0);
	assert_int_equal(kube_informer_wait_for_sync(f->inf, WAIT_MS), 0);
	/* The list: every item went through the transform, with kind already filled in. */
	assert_int_equal(xform_read(&x, &x.calls), 3);
	assert_int_equal(xform_read(&x, &x.with_spec), 3);
	assert_int_equal(kube_informer_get(f->inf, "default/a", &obj), 0);
	assert_null(kube_json_get(obj, "spec", NULL));
	assert_string_equal(kube_json_get_str(obj, "metadata", "labels", "xformed", NULL), "yes");
	assert_string_equal(kube_json_get_str(obj, "metadata", "labels", "app", NULL), "web");
	assert_string_equal(kube_json_get_str(obj, "kind", NULL), "Pod");
	cJSON_Delete(obj);

	/* Watch: ADDED, MODIFIED and DELETED objects. */
	EVENTUALLY_API(f, active_watches, 1);
	put_pod(f->api, "default", "c", NULL, NULL);
	EVENTUALLY_REC(f, adds, 4);
	put_pod(f->api, "default", "a", "\"app\":\"db\"", NULL);
	EVENTUALLY_REC(f, updates, 1);
	fake_api_delete(f->api, "pods", "default", "b");
	EVENTUALLY_REC(f, deletes, 1);
	assert_int_equal(xform_read(&x, &x.calls), 6);
	assert_int_equal(kube_informer_get(f->inf, "default/a", &obj), 0);
	assert_null(kube_json_get(obj, "spec", NULL));
	assert_string_equal(kube_json_get_str(obj, "metadata", "labels", "app", NULL), "db");
	cJSON_Delete(obj);

	/* A missed delete found by a relist: the tombstone is the transformed cached object. */
	fake_api_pause_watches(f->api, true);
	fake_api_delete(f->api, "pods", "default", "doomed");
	fake_api_compact(f->api);
	fake_api_close_watches(f->api);
	fake_api_pause_watches(f->api, false);
	EVENTUALLY_REC(f, tombstones, 1);
	assert_string_equal(f->rec.last_tombstone, "doomed");

	kube_informer_stop(f->inf);
	assert_int_equal(xform_read(&x, &x.with_spec), xform_read(&x, &x.calls));
	assert_true(xform_read(&x, &x.deliveries) >= 7);
	assert_int_equal(xform_read(&x, &x.untransformed_seen), 0);
	pthread_mutex_destroy(&x.mu);
}

static void informer__transform_in_place_shapes_cache_and_handlers(void **state)
{
	check_transform(*state, "in-place");
}

static void informer__transform_returning_a_new_tree_shapes_cache_and_handlers(void **state)
{
	check_transform(*state, "new");
}

/* A transform that fails keeps the object whole: bigger, but never missing. */
static void informer__failed_transform_keeps_the_whole_object(void **state)
{
	struct fixture *f = *state;
	struct xform x = {.mode = "fail"};
	struct kube_informer_opts o = {.transform = xform_fn, .transform_ud = &x};
	cJSON *obj = NULL;

	pthread_mutex_init(&x.mu, NULL);
	start_synced_with_a_and_b(f, &o);
	assert_int_equal(xform_read(&x, &x.calls), 2);
	assert_int_equal(kube_informer_get(f->inf, "default/b", &obj), 0);
	assert_non_null(kube_json_get(obj, "spec", NULL));
	cJSON_Delete(obj);
	kube_informer_stop(f->inf);
	pthread_mutex_destroy(&x.mu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(informer__list_and_watch_fill_the_cache, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			informer__namespace_and_label_selector_scope_the_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(informer__stalled_watch_restarts_from_last_version,
						setup, teardown),
		cmocka_unit_test_setup_teardown(informer__idle_timeout_off_keeps_the_watch, setup,
						teardown),
		cmocka_unit_test_setup_teardown(informer__watch_restart_resumes_from_last_version,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			informer__gone_event_relists_and_delivers_missed_delete_as_tombstone, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			informer__gone_status_relists_and_delivers_missed_delete_as_tombstone, setup,
			teardown),
		cmocka_unit_test_setup_teardown(informer__resync_redelivers_every_object, setup,
						teardown),
		cmocka_unit_test_setup_teardown(informer__owner_index_follows_changes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(informer__list_errors_back_off_then_sync, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			informer__wait_for_sync_times_out_and_stop_is_prompt, setup, teardown),
		cmocka_unit_test_setup_teardown(informer__stop_cancels_an_open_watch_promptly,
						setup, teardown),
		cmocka_unit_test_setup_teardown(informer__bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(
			informer__transform_in_place_shapes_cache_and_handlers, setup, teardown),
		cmocka_unit_test_setup_teardown(
			informer__transform_returning_a_new_tree_shapes_cache_and_handlers, setup,
			teardown),
		cmocka_unit_test_setup_teardown(informer__failed_transform_keeps_the_whole_object,
						setup, teardown),
		{"informer__compact_list_and_watch_fill_the_cache",
		 informer__list_and_watch_fill_the_cache, setup_compact, teardown, NULL},
		{"informer__compact_gone_relists_and_delivers_missed_delete_as_tombstone",
		 informer__compact_gone_relists_and_delivers_missed_delete_as_tombstone,
		 setup_compact, teardown, NULL},
		{"informer__compact_resync_redelivers_every_object",
		 informer__resync_redelivers_every_object, setup_compact, teardown, NULL},
		{"informer__compact_owner_index_follows_changes",
		 informer__owner_index_follows_changes, setup_compact, teardown, NULL},
		{"informer__compact_transform_shapes_cache_and_handlers",
		 informer__transform_in_place_shapes_cache_and_handlers, setup_compact, teardown,
		 NULL},
	};
	return cmocka_run_group_tests(tests, NULL, group_teardown);
}
