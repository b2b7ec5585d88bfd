/* The controller host end to end against a fake API server: two toy controllers share an
 * informer; owned and mapped events enqueue the right keys; requeue-after and error backoff on a
 * fake clock; the urgent lane overtakes, yet no key runs on two workers at once; losing the
 * lease closes the write gate and calls on_leading(false); /readyz waits for every informer;
 * controller-runtime's metrics; a graceful stop releases the lease and drains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>

#include "fake_apiserver.h"

#include "kube_clock.h"
#include "kube_config.h"
#include "kube_controller.h"
#include "kube_error.h"
#include "kube_httpd.h"
#include "kube_json.h"
#include "kube_log.h"
#include "kube_metrics.h"
#include "kube_rest.h"
#include "kube_workqueue.h"

#define WAIT_MS 5000
#define MAX_SEEN 256
#define NKEYS 8

static const struct kube_gvr WIDGETS = {"example.com", "v1", "widgets", true};
static const struct kube_gvr GADGETS = {"example.com", "v1", "gadgets", true};

/* What a toy controller saw, in order. */
struct toy {
	pthread_mutex_t mu;
	char seen[MAX_SEEN][64];
	bool seen_urgent[MAX_SEEN];
	bool seen_prio_urgent[MAX_SEEN]; /* the client priority class the reconcile ran in */
	int nseen;
	/* Behaviour knobs. */
	int64_t requeue_after_ms;     /* returned once per key (first call) */
	int fail_first;               /* the first N calls fail with KUBE_EIO */
	enum kube_retry_lane retry_lane; /* set on those failures */
	const char *block_key;        /* reconcile of this key waits for `release` */
	atomic_bool entered_block, release, finished_block;
	/* Concurrency instrumentation. */
	atomic_int in_flight[NKEYS];
	atomic_int per_key[NKEYS];    /* reconciles of "ns/kN" */
	atomic_bool requeued;
	atomic_int violations;
	atomic_int calls;
	atomic_int leading_true, leading_false;
	atomic_int mapped;            /* events seen by count_map */
	atomic_int last_enqueue_rc;
	struct kube_cache *pods;      /* from setup */
};

struct fixture {
	struct fake_api *api;
	struct kube_client *client, *client2;
	struct kube_clock *clock;     /* NULL = real */
	struct kube_manager *m, *m2;  /* m2: a second replica */
	struct toy widgets, gadgets;
};

/* ---------------------------------------------------------------- toy controllers */

static void toy_record(struct toy *t, const char *key, bool urgent)
{
	pthread_mutex_lock(&t->mu);
	if (t->nseen < MAX_SEEN) {
		snprintf(t->seen[t->nseen], sizeof(t->seen[0]), "%s", key);
		t->seen_urgent[t->nseen] = urgent;
		t->seen_prio_urgent[t->nseen] = kube_get_priority() == KUBE_PRIORITY_URGENT;
		t->nseen++;
	}
	pthread_mutex_unlock(&t->mu);
}

static int toy_count(struct toy *t, const char *key)
{
	int n = 0;
	pthread_mutex_lock(&t->mu);
	for (int i = 0; i < t->nseen; i++)
		n += strcmp(t->seen[i], key) == 0;
	pthread_mutex_unlock(&t->mu);
	return n;
}

static void wait_release(struct toy *t)
{
	int64_t deadline = fake_ms() + WAIT_MS;
	struct timespec ts = {0, 1000000};

	atomic_store(&t->entered_block, true);
	while (!atomic_load(&t->release) && fake_ms() < deadline)
		nanosleep(&ts, NULL);
	atomic_store(&t->finished_block, true);
}

/* Keys "ns/kN" are instrumented: two workers in one key at once is a violation. */
static void toy_hold(struct toy *t, const char *key)
{
	const char *k = strstr(key, "/k");
	int idx = k != NULL ? atoi(k + 2) % NKEYS : -1;

	if (idx < 0)
		return;
	if (atomic_fetch_add(&t->in_flight[idx], 1) != 0)
		atomic_fetch_add(&t->violations, 1);
	for (volatile int spin = 0; spin < 2000; spin++)
		;
	atomic_fetch_sub(&t->in_flight[idx], 1);
	atomic_fetch_add(&t->per_key[idx], 1);
}

static int toy_reconcile(struct kube_reconcile_ctx *ctx, const char *key)
{
	struct toy *t = ctx->ud;
	int call = atomic_fetch_add(&t->calls, 1);

	if (t->block_key != NULL && strcmp(key, t->block_key) == 0)
		wait_release(t);
	toy_hold(t, key);
	toy_record(t, key, ctx->urgent);
	if (call < t->fail_first) {
		ctx->retry_lane = t->retry_lane;
		return KUBE_EIO;
	}
	if (t->requeue_after_ms > 0 && !atomic_exchange(&t->requeued, true))
		ctx->requeue_after_ms = t->requeue_after_ms;
	return 0;
}

static void toy_on_leading(struct kube_controller *ctl, bool leading, void *ud)
{
	struct toy *t = ud;
	(void)ctl;
	atomic_fetch_add(leading ? &t->leading_true : &t->leading_false, 1);
}

static int widgets_setup(struct kube_controller *ctl, void *ud)
{
	struct kube_source pods = {.gvr = &KUBE_GVR_PODS};
	return kube_controller_owns(ctl, &pods, &((struct toy *)ud)->pods);
}

/* Gadgets: a pod labelled gadget=<name> belongs to gadget <name>; label urgent=true makes it
 * urgent. */
static void gadget_map(struct kube_controller *ctl, const struct kube_event *ev, void *ud)
{
	const char *g = kube_json_get_str(ev->obj, "metadata", "labels", "gadget", NULL);
	const char *u = kube_json_get_str(ev->obj, "metadata", "labels", "urgent", NULL);
	char key[128];
	(void)ud;

	if (g == NULL || ev->type == KUBE_EVENT_RESYNC)
		return;
	snprintf(key, sizeof(key), "%s/%s", kube_json_namespace(ev->obj), g);
	if (u != NULL && strcmp(u, "true") == 0)
		kube_controller_enqueue_urgent(ctl, key);
	else
		kube_controller_enqueue(ctl, key);
}

static int gadgets_setup(struct kube_controller *ctl, void *ud)
{
	struct kube_source pods = {.gvr = &KUBE_GVR_PODS};
	return kube_controller_watches(ctl, &pods, gadget_map, NULL, &((struct toy *)ud)->pods);
}

static const struct kube_controller_ops WIDGET_OPS = {
	.name = "widgets", .primary = {.gvr = &WIDGETS},
	.api_version = "example.com/v1", .kind = "Widget",
	.setup = widgets_setup, .reconcile = toy_reconcile, .on_leading = toy_on_leading,
};

static const struct kube_controller_ops GADGET_OPS = {
	.name = "gadgets", .primary = {.gvr = &GADGETS},
	.setup = gadgets_setup, .reconcile = toy_reconcile, .on_leading = toy_on_leading,
};

/* ---------------------------------------------------------------- fixture */

static struct kube_client *new_client(struct fake_api *api)
{
	struct kube_config cfg = {0};
	struct kube_client_opts co = {.qps = -1, .max_retries = -1, .timeout_ms = 2000};
	struct kube_client *c = NULL;

	assert_int_equal(kube_config_init_server(&cfg, api->url), 0);
	assert_int_equal(kube_client_new(&cfg, &co, &c), 0);
	kube_config_release(&cfg);
	return c;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->api = fake_api_start();
	assert_non_null(f->api);
	/* A list at resourceVersion "0" would make the fake server start the watch "from now",
	 * losing what changed between the list and the watch: start from a real version. */
	fake_api_put(f->api, "configmaps",
		     "{\"metadata\":{\"name\":\"seed\",\"namespace\":\"other\"}}");
	f->client = new_client(f->api);
	f->client2 = new_client(f->api);
	pthread_mutex_init(&f->widgets.mu, NULL);
	pthread_mutex_init(&f->gadgets.mu, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kube_manager_free(f->m2);
	kube_manager_free(f->m);
	kube_client_free(f->client);
	kube_client_free(f->client2);
	fake_api_stop(f->api);
	kube_clock_free(f->clock);
	pthread_mutex_destroy(&f->widgets.mu);
	pthread_mutex_destroy(&f->gadgets.mu);
	free(f);
	kube_metrics_default_reset();
	return 0;
}

static void new_manager(struct fixture *f, const struct kube_manager_opts *extra)
{
	struct kube_manager_opts o = extra != NULL ? *extra : (struct kube_manager_opts){0};

	o.client = f->client;
	o.clock = f->clock;
	assert_int_equal(kube_manager_new(&o, &f->m), 0);
}

static struct kube_controller *add(struct fixture *f, const struct kube_controller_ops *ops,
				   struct toy *t)
{
	struct kube_controller *ctl = NULL;
	assert_int_equal(kube_manager_add_controller(f->m, ops, t, &ctl), 0);
	return ctl;
}

static bool synced(void *arg)
{
	return kube_manager_synced(arg);
}

static void start_and_sync(struct fixture *f)
{
	assert_int_equal(kube_manager_start(f->m), 0);
	assert_true(fake_eventually(synced, f->m, WAIT_MS));
}

static void put_obj(struct fake_api *api, const char *res, const char *kind, const char *name,
		    const char *labels, const char *owners)
{
	char buf[1024];
	snprintf(buf, sizeof(buf),
		 "{\"apiVersion\":\"v1\",\"kind\":\"%s\",\"metadata\":{\"name\":\"%s\","
		 "\"namespace\":\"ns\",\"labels\":{%s},\"ownerReferences\":[%s]}}",
		 kind, name, labels ? labels : "", owners ? owners : "");
	fake_api_put(api, res, buf);
}

#define WIDGET_OWNER(name, ctrl)                                                              \
	"{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"name\":\"" name "\","        \
	"\"uid\":\"u-" name "\",\"controller\":" ctrl "}"

static bool entered(void *arg)
{
	return atomic_load(&((struct toy *)arg)->entered_block);
}

struct seen_arg {
	struct toy *t;
	const char *key;
	int times;
};

static bool seen(void *arg)
{
	struct seen_arg *s = arg;
	return toy_count(s->t, s->key) >= s->times;
}

static void expect_seen(struct toy *t, const char *key, int times)
{
	struct seen_arg s = {t, key, times};
	assert_true(fake_eventually(seen, &s, WAIT_MS));
}

/* The rendered default registry holds this exact line prefix. */
static bool metrics_have(const char *needle)
{
	char *text = NULL;
	size_t len = 0;
	bool found;

	assert_int_equal(kube_metrics_render(kube_metrics_default(), &text, &len), 0);
	found = strstr(text, needle) != NULL;
	if (!found)
		fprintf(stderr, "metrics lack: %s\n", needle);
	free(text);
	return found;
}

/* ---------------------------------------------------------------- tests */

static bool three_watches(void *arg)
{
	struct fake_api *api = arg;
	return fake_api_read(api, &api->active_watches) == 3;
}

static void host__two_controllers_share_an_informer(void **state)
{
	struct fixture *f = *state;

	put_obj(f->api, "widgets", "Widget", "w1", NULL, NULL);
	put_obj(f->api, "gadgets", "Gadget", "g1", NULL, NULL);
	new_manager(f, NULL);
	add(f, &WIDGET_OPS, &f->widgets);
	add(f, &GADGET_OPS, &f->gadgets);
	/* widgets, gadgets, and one pods informer for both controllers. */
	assert_int_equal(kube_manager_informer_count(f->m), 3);
	assert_ptr_equal(f->widgets.pods, f->gadgets.pods);
	start_and_sync(f);
	/* At sync every primary key is handed to its controller. */
	expect_seen(&f->widgets, "ns/w1", 1);
	expect_seen(&f->gadgets, "ns/g1", 1);
	assert_true(fake_eventually(three_watches, f->api, WAIT_MS));
	assert_int_equal(fake_api_read(f->api, &f->api->nlists), 3);
	assert_int_equal(fake_api_read(f->api, &f->api->nwatches), 3);
	assert_int_equal(toy_count(&f->widgets, "ns/g1"), 0);
}

static void host__owned_and_mapped_events_enqueue_the_right_keys(void **state)
{
	struct fixture *f = *state;

	new_manager(f, NULL);
	add(f, &WIDGET_OPS, &f->widgets);
	add(f, &GADGET_OPS, &f->gadgets);
	start_and_sync(f);
	/* Not ours: no controller ref, another group, another kind. */
	put_obj(f->api, "pods", "Pod", "p0", NULL, WIDGET_OWNER("nocontroller", "false"));
	put_obj(f->api, "pods", "Pod", "p1", NULL,
		"{\"apiVersion\":\"example.org/v1\",\"kind\":\"Widget\",\"name\":\"othergroup\","
		"\"uid\":\"x\",\"controller\":true}");
	put_obj(f->api, "pods", "Pod", "p2", NULL,
		"{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"rs\","
		"\"uid\":\"y\",\"controller\":true}");
	/* Ours: the owner's key, whatever the version; mapped by label for gadgets. */
	put_obj(f->api, "pods", "Pod", "p3", "\"gadget\":\"g7\"", WIDGET_OWNER("w3", "true"));
	expect_seen(&f->widgets, "ns/w3", 1);
	expect_seen(&f->gadgets, "ns/g7", 1);
	/* Events are dispatched in order on one thread and the queue is FIFO with one worker:
	 * a wrong key from p0..p2 would have been reconciled before ns/w3. */
	assert_int_equal(toy_count(&f->widgets, "ns/nocontroller"), 0);
	assert_int_equal(toy_count(&f->widgets, "ns/othergroup"), 0);
	assert_int_equal(toy_count(&f->widgets, "ns/rs"), 0);
	assert_int_equal(toy_count(&f->gadgets, "ns/w3"), 0);
	/* An update that moves the pod to another owner enqueues both owners. */
	put_obj(f->api, "pods", "Pod", "p3", NULL, WIDGET_OWNER("w4", "true"));
	expect_seen(&f->widgets, "ns/w4", 1);
	expect_seen(&f->widgets, "ns/w3", 2);
	/* A delete enqueues the owner too. */
	fake_api_delete(f->api, "pods", "ns", "p3");
	expect_seen(&f->widgets, "ns/w4", 2);
	/* The listers read the shared cache. */
	assert_int_equal(kube_cache_len(f->widgets.pods), 3);
	cJSON *pod = NULL;
	assert_int_equal(kube_cache_get(f->gadgets.pods, "ns/p2", &pod), 0);
	assert_string_equal(kube_json_name(pod), "p2");
	cJSON_Delete(pod);
	assert_true(metrics_have("controller_runtime_reconcile_total{controller=\"widgets\","
				 "result=\"success\"} "));
	assert_true(metrics_have("controller_runtime_reconcile_time_seconds_bucket{controller="
				 "\"gadgets\",le=\"0.005\"} "));
	assert_true(metrics_have("controller_runtime_max_concurrent_reconciles{controller="
				 "\"widgets\"} 1"));
	assert_true(metrics_have("controller_runtime_reconcile_total{controller=\"gadgets\","
				 "result=\"requeue_after\"} 0\n"));
	assert_true(metrics_have("controller_runtime_reconcile_errors_total{controller="
				 "\"gadgets\"} 0\n"));
	assert_true(metrics_have("controller_runtime_active_workers{controller=\"widgets\"} 0\n"));
	assert_true(metrics_have("workqueue_adds_total{name=\"widgets\"} "));
	assert_true(metrics_have("workqueue_depth{name=\"gadgets\"} 0"));
	assert_true(metrics_have("workqueue_queue_duration_seconds_count{name=\"widgets\"} "));
	assert_true(metrics_have("workqueue_work_duration_seconds_count{name=\"widgets\"} "));
}

struct delayed_arg {
	struct kube_controller *ctl;
	size_t n;
};

static bool delayed(void *arg)
{
	struct delayed_arg *d = arg;
	return kube_workqueue_delayed_len(kube_controller_queue(d->ctl)) == d->n;
}

static void expect_delayed(struct kube_controller *ctl, size_t n)
{
	struct delayed_arg d = {ctl, n};
	assert_true(fake_eventually(delayed, &d, WAIT_MS));
}

static void host__requeue_after_and_error_backoff_follow_the_fake_clock(void **state)
{
	struct fixture *f = *state;
	struct kube_controller *ctl;
	const char *lv[] = {"widgets"};

	f->clock = kube_clock_fake_new(0, 0);
	f->widgets.requeue_after_ms = 10000;
	f->widgets.fail_first = 1;
	new_manager(f, NULL);
	ctl = add(f, &WIDGET_OPS, &f->widgets);
	start_and_sync(f);
	assert_int_equal(kube_controller_enqueue(ctl, "ns/a"), 0);
	/* First call fails: rate-limited retry after 5 ms (client-go's base delay). */
	expect_seen(&f->widgets, "ns/a", 1);
	expect_delayed(ctl, 1);
	kube_clock_advance(f->clock, KUBE_MS(4));
	assert_int_equal(kube_workqueue_delayed_len(kube_controller_queue(ctl)), 1);
	assert_int_equal(toy_count(&f->widgets, "ns/a"), 1);
	kube_clock_advance(f->clock, KUBE_MS(1));
	expect_seen(&f->widgets, "ns/a", 2);
	/* Second call succeeds asking for 10 s: waits exactly that long, not the backoff. */
	expect_delayed(ctl, 1);
	assert_int_equal(kube_workqueue_num_requeues(kube_controller_queue(ctl), "ns/a"), 0);
	kube_clock_advance(f->clock, KUBE_MS(9999));
	assert_int_equal(kube_workqueue_delayed_len(kube_controller_queue(ctl)), 1);
	assert_int_equal(toy_count(&f->widgets, "ns/a"), 2);
	kube_clock_advance(f->clock, KUBE_MS(1));
	expect_seen(&f->widgets, "ns/a", 3);
	expect_delayed(ctl, 0);
	{
		struct kube_metrics *reg = kube_metrics_default();
		const char *ok[] = {"widgets", "success"};
		const char *err[] = {"widgets", "error"};
		const char *ra[] = {"widgets", "requeue_after"};
		struct kube_metric *total = kube_metric_register(
			reg, KUBE_COUNTER, "controller_runtime_reconcile_total",
			"Total number of reconciliations per controller",
			(const char *const[]){"controller", "result", NULL}, NULL, 0);
		struct kube_metric *errs = kube_metric_register(
			reg, KUBE_COUNTER, "controller_runtime_reconcile_errors_total",
			"Total number of reconciliation errors per controller",
			(const char *const[]){"controller", NULL}, NULL, 0);
		assert_true(kube_metric_value(total, err) == 1.0);
		assert_true(kube_metric_value(total, ra) == 1.0);
		/* ns/a's third call, and maybe a second reconcile of nothing else. */
		assert_true(kube_metric_value(total, ok) >= 1.0);
		assert_true(kube_metric_value(errs, lv) == 1.0);
	}
	assert_true(metrics_have("workqueue_retries_total{name=\"widgets\"} 1\n"));
}

static void host__urgent_lane_overtakes_normal_keys(void **state)
{
	struct fixture *f = *state;
	struct kube_controller *ctl;

	f->widgets.block_key = "ns/block";
	new_manager(f, NULL);
	ctl = add(f, &WIDGET_OPS, &f->widgets);
	start_and_sync(f);
	kube_controller_enqueue(ctl, "ns/block");
	assert_true(fake_eventually(entered, &f->widgets, WAIT_MS));
	kube_controller_enqueue(ctl, "ns/n1");
	kube_controller_enqueue(ctl, "ns/n2");
	kube_controller_enqueue_urgent(ctl, "ns/u1");
	kube_controller_enqueue(ctl, "ns/n3");
	kube_controller_enqueue_urgent(ctl, "ns/n2"); /* moves up, stays one entry */
	atomic_store(&f->widgets.release, true);
	expect_seen(&f->widgets, "ns/n3", 1);
	pthread_mutex_lock(&f->widgets.mu);
	assert_int_equal(f->widgets.nseen, 5);
	assert_string_equal(f->widgets.seen[0], "ns/block");
	assert_string_equal(f->widgets.seen[1], "ns/u1");
	assert_true(f->widgets.seen_urgent[1]);
	assert_string_equal(f->widgets.seen[2], "ns/n2");
	assert_true(f->widgets.seen_urgent[2]);
	assert_string_equal(f->widgets.seen[3], "ns/n1");
	assert_false(f->widgets.seen_urgent[3]);
	assert_string_equal(f->widgets.seen[4], "ns/n3");
	/* An urgent key reconciles in the client's urgent class (its writes use the reserve), a
	 * normal one in the normal class, on the same workers. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(f->widgets.seen_prio_urgent[i], f->widgets.seen_urgent[i]);
	pthread_mutex_unlock(&f->widgets.mu);
}

struct settle_arg {
	struct toy *t;
	struct kube_controller *ctl;
};

/* Every key reconciled at least once and nothing left queued. */
static bool all_keys_done(void *arg)
{
	struct settle_arg *a = arg;
	for (int k = 0; k < NKEYS; k++)
		if (atomic_load(&a->t->per_key[k]) == 0)
			return false;
	return kube_workqueue_len(kube_controller_queue(a->ctl)) == 0;
}

static void host__one_key_never_runs_on_two_workers_across_lanes(void **state)
{
	struct fixture *f = *state;
	struct kube_controller_ops ops = WIDGET_OPS;
	struct kube_controller *ctl;
	char key[32];

	ops.workers = 4;
	ops.urgent_workers = 2;
	new_manager(f, NULL);
	ctl = add(f, &ops, &f->widgets);
	start_and_sync(f);
	for (int i = 0; i < 3000; i++) {
		snprintf(key, sizeof(key), "ns/k%d", (i * 5 + i / 7) % NKEYS);
		if (i % 3 == 0)
			assert_int_equal(kube_controller_enqueue_urgent(ctl, key), 0);
		else
			assert_int_equal(kube_controller_enqueue(ctl, key), 0);
	}
	{
		struct settle_arg a = {&f->widgets, ctl};
		assert_true(fake_eventually(all_keys_done, &a, WAIT_MS));
	}
	/* Drain: every reconcile in flight finishes before stop returns. */
	kube_manager_stop(f->m);
	assert_int_equal(atomic_load(&f->widgets.violations), 0);
	for (int k = 0; k < NKEYS; k++)
		assert_int_equal(atomic_load(&f->widgets.in_flight[k]), 0);
}

static bool is_leader(void *arg)
{
	return kube_manager_is_leader(arg);
}

static bool lost(void *arg)
{
	return atomic_load(&((struct toy *)arg)->leading_false) >= 1;
}

/* Counts pod events and tries to enqueue the widget named by label "widget". */
static void count_map(struct kube_controller *ctl, const struct kube_event *ev, void *ud)
{
	struct toy *t = ud;
	const char *w = kube_json_get_str(ev->obj, "metadata", "labels", "widget", NULL);
	char key[128];

	atomic_fetch_add(&t->mapped, 1);
	if (w == NULL)
		return;
	snprintf(key, sizeof(key), "ns/%s", w);
	atomic_store(&t->last_enqueue_rc, kube_controller_enqueue(ctl, key));
}

static int counting_setup(struct kube_controller *ctl, void *ud)
{
	struct kube_source pods = {.gvr = &KUBE_GVR_PODS};
	return kube_controller_watches(ctl, &pods, count_map, ud, NULL);
}

static int write_cm(struct kube_client *c, const char *name)
{
	char buf[256];
	cJSON *obj;
	int rc;

	snprintf(buf, sizeof(buf),
		 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\"}}",
		 name);
	obj = cJSON_Parse(buf);
	rc = kube_create(c, &KUBE_GVR_CONFIGMAPS, "ns", obj, NULL, NULL);
	cJSON_Delete(obj);
	return rc;
}

/* Keys done() by the widgets queue (its work-duration histogram counts them). */
static bool three_done(void *arg)
{
	const char *lv[] = {"widgets"};
	double buckets[10];
	struct kube_metric *h;

	(void)arg;
	/* client-go's workqueue buckets, to look the family up. */
	kube_metric_exponential_buckets(10e-9, 10, 10, buckets);
	h = kube_metric_register(kube_metrics_default(), KUBE_HISTOGRAM,
				 "workqueue_work_duration_seconds",
				 "How long in seconds processing an item from workqueue takes",
				 (const char *const[]){"name", NULL}, buckets, 10);
	return kube_metric_value(h, lv) >= 3.0;
}

/* Durations generous enough for a loaded machine under TSan; a released lease is taken over
 * within a retry period anyway, and the lease-loss test waits out one renew deadline. */
static const struct kube_manager_opts ELECT = {
	.leader_elect = true, .lease_namespace = "kube-system", .lease_name = "toy-leader",
	.identity = "replica-a", .lease_duration_ms = 1500, .renew_deadline_ms = 1000,
	.retry_period_ms = 50,
};

static void host__losing_the_lease_stops_writes_and_calls_on_leading_false(void **state)
{
	struct fixture *f = *state;
	struct kube_controller *ctl;

	new_manager(f, &ELECT);
	ctl = add(f, &WIDGET_OPS, &f->widgets);
	assert_int_equal(kube_manager_gate_client(f->m, f->client2), 0);
	/* Not leading yet: both clients refuse writes. */
	assert_int_equal(write_cm(f->client, "early"), KUBE_ENOTLEADER);
	assert_int_equal(write_cm(f->client2, "early2"), KUBE_ENOTLEADER);
	start_and_sync(f);
	assert_true(fake_eventually(is_leader, f->m, WAIT_MS));
	assert_int_equal(atomic_load(&f->widgets.leading_true), 1);
	assert_int_equal(write_cm(f->client, "a"), 0);
	assert_int_equal(write_cm(f->client2, "b"), 0);
	assert_int_equal(kube_controller_enqueue(ctl, "ns/x"), 0);
	expect_seen(&f->widgets, "ns/x", 1);
	/* A key queued behind a running reconcile when the lease is lost is dropped. */
	f->widgets.block_key = "ns/block";
	assert_int_equal(kube_controller_enqueue(ctl, "ns/block"), 0);
	assert_true(fake_eventually(entered, &f->widgets, WAIT_MS));
	assert_int_equal(kube_controller_enqueue(ctl, "ns/after"), 0);

	pthread_mutex_lock(&f->api->mu);
	f->api->fail_lease_writes = true;
	pthread_mutex_unlock(&f->api->mu);
	assert_true(fake_eventually(lost, &f->widgets, WAIT_MS));
	atomic_store(&f->widgets.release, true);
	assert_true(fake_eventually(three_done, NULL, WAIT_MS));
	assert_int_equal(toy_count(&f->widgets, "ns/after"), 0);
	assert_false(kube_manager_is_leader(f->m));
	assert_int_equal(write_cm(f->client, "c"), KUBE_ENOTLEADER);
	assert_int_equal(write_cm(f->client2, "d"), KUBE_ENOTLEADER);
	assert_int_equal(kube_controller_enqueue(ctl, "ns/y"), KUBE_ENOTLEADER);
	assert_null(fake_api_get(f->api, "configmaps", "ns", "c"));
}

static struct kube_manager *replica(struct fixture *f, struct kube_client *c, const char *id,
				   struct toy *t)
{
	struct kube_manager_opts o = ELECT;
	struct kube_controller_ops ops = WIDGET_OPS;
	struct kube_manager *m = NULL;

	o.client = c;
	o.identity = id;
	ops.setup = counting_setup;
	assert_int_equal(kube_manager_new(&o, &m), 0);
	assert_int_equal(kube_manager_add_controller(m, &ops, t, NULL), 0);
	(void)f;
	return m;
}

static bool mapped_but_dropped(void *arg)
{
	struct toy *t = arg;
	return atomic_load(&t->mapped) >= 1 && atomic_load(&t->last_enqueue_rc) == KUBE_ENOTLEADER;
}

static void host__standby_maps_events_and_reconciles_after_takeover(void **state)
{
	struct fixture *f = *state;

	put_obj(f->api, "widgets", "Widget", "w1", NULL, NULL);
	f->m = replica(f, f->client, "replica-a", &f->widgets);
	f->m2 = replica(f, f->client2, "replica-b", &f->gadgets);
	assert_int_equal(kube_manager_start(f->m), 0);
	assert_true(fake_eventually(is_leader, f->m, WAIT_MS));
	assert_int_equal(kube_manager_start(f->m2), 0);
	assert_true(fake_eventually(synced, f->m2, WAIT_MS));
	expect_seen(&f->widgets, "ns/w1", 1);
	/* The standby's map function runs (warm state) but its enqueue is dropped. */
	put_obj(f->api, "pods", "Pod", "p1", "\"widget\":\"w2\"", NULL);
	assert_true(fake_eventually(mapped_but_dropped, &f->gadgets, WAIT_MS));
	expect_seen(&f->widgets, "ns/w2", 1);
	assert_false(kube_manager_is_leader(f->m2));
	assert_int_equal(atomic_load(&f->gadgets.leading_true), 0);
	/* The leader steps down: the standby takes over at once and reconciles every primary. */
	kube_manager_stop(f->m);
	expect_seen(&f->gadgets, "ns/w1", 1);
	assert_true(kube_manager_is_leader(f->m2));
	assert_int_equal(atomic_load(&f->gadgets.leading_true), 1);
	assert_int_equal(toy_count(&f->gadgets, "ns/w2"), 0);
	assert_int_equal(write_cm(f->client2, "by-b"), 0);
	assert_int_equal(write_cm(f->client, "by-a"), KUBE_ENOTLEADER);
}

struct stopper {
	struct kube_manager *m;
	atomic_bool returned;
};

static void *stop_main(void *arg)
{
	struct stopper *s = arg;
	kube_manager_stop(s->m);
	atomic_store(&s->returned, true);
	return NULL;
}

static bool lease_released(void *arg)
{
	struct fake_api *api = arg;
	cJSON *lease = fake_api_get(api, "leases", "kube-system", "toy-leader");
	const char *holder = kube_json_get_str(lease, "spec", "holderIdentity", NULL);
	bool released = lease != NULL && (holder == NULL || holder[0] == '\0');
	cJSON_Delete(lease);
	return released;
}

static void host__graceful_stop_releases_the_lease_then_drains(void **state)
{
	struct fixture *f = *state;
	struct stopper s = {0};
	struct kube_controller *ctl;
	pthread_t t;

	f->widgets.block_key = "ns/slow";
	new_manager(f, &ELECT);
	ctl = add(f, &WIDGET_OPS, &f->widgets);
	start_and_sync(f);
	assert_true(fake_eventually(is_leader, f->m, WAIT_MS));
	assert_int_equal(kube_controller_enqueue(ctl, "ns/slow"), 0);
	assert_true(fake_eventually(entered, &f->widgets, WAIT_MS));
	s.m = f->m;
	pthread_create(&t, NULL, stop_main, &s);
	/* The lease is handed back and leadership given up while the reconcile still runs. */
	assert_true(fake_eventually(lost, &f->widgets, WAIT_MS));
	assert_true(fake_eventually(lease_released, f->api, WAIT_MS));
	assert_false(atomic_load(&s.returned));
	assert_false(atomic_load(&f->widgets.finished_block));
	atomic_store(&f->widgets.release, true);
	pthread_join(t, NULL);
	assert_true(atomic_load(&f->widgets.finished_block));
	assert_int_equal(write_cm(f->client, "after"), KUBE_ENOTLEADER);
}

/* ---- /readyz ---- */

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

static long http_status(int port, const char *path)
{
	char url[128];
	long status = 0;
	CURL *c = curl_easy_init();

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	return status;
}

struct one_synced_arg {
	struct fixture *f;
	struct kube_controller *a, *b;
};

static bool lists_tried(void *arg)
{
	struct one_synced_arg *o = arg;
	return fake_api_read(o->f->api, &o->f->api->nlists) >= 3 &&
	       (kube_cache_has_synced(kube_controller_primary(o->a)) ||
		kube_cache_has_synced(kube_controller_primary(o->b)));
}

/* Moves the fake clock on (informer backoff) until the manager has synced. */
static bool advance_until_synced(void *arg)
{
	struct fixture *f = arg;
	kube_clock_advance(f->clock, KUBE_SEC(1));
	return kube_manager_synced(f->m);
}

static void host__readyz_waits_for_every_informer(void **state)
{
	struct fixture *f = *state;
	struct kube_manager_opts o = {.metrics_addr = "127.0.0.1:0", .probe_addr = "0"};
	struct one_synced_arg arg = {.f = f};
	int port;

	f->clock = kube_clock_fake_new(0, 0);
	new_manager(f, &o);
	arg.a = add(f, &WIDGET_OPS, &f->widgets);
	arg.b = add(f, &GADGET_OPS, &f->gadgets);
	assert_int_equal(kube_manager_informer_count(f->m), 3);
	pthread_mutex_lock(&f->api->mu);
	f->api->fail_lists = 1; /* one informer backs off on the fake clock */
	pthread_mutex_unlock(&f->api->mu);
	assert_int_equal(kube_manager_start(f->m), 0);
	port = kube_httpd_port(kube_manager_httpd(f->m));
	assert_true(port > 0);
	assert_true(fake_eventually(lists_tried, &arg, WAIT_MS));
	assert_int_equal(http_status(port, "/readyz"), 503);
	assert_int_equal(http_status(port, "/healthz"), 200);
	assert_false(kube_manager_synced(f->m));
	assert_true(fake_eventually(advance_until_synced, f, WAIT_MS));
	assert_int_equal(http_status(port, "/readyz"), 200);
	assert_int_equal(http_status(port, "/metrics"), 200);
}

static void host__bad_registrations_are_refused(void **state)
{
	struct fixture *f = *state;
	struct kube_controller_ops ops = WIDGET_OPS;
	struct kube_source pods = {.gvr = &KUBE_GVR_PODS};

	assert_int_equal(kube_manager_new(NULL, &f->m), KUBE_EINVAL);
	{
		struct kube_manager_opts o = {.client = f->client, .leader_elect = true};
		assert_int_equal(kube_manager_new(&o, &f->m), KUBE_EINVAL);
		assert_null(f->m);
	}
	new_manager(f, NULL);
	ops.name = "Bad Name";
	assert_int_equal(kube_manager_add_controller(f->m, &ops, NULL, NULL), KUBE_EINVAL);
	ops = WIDGET_OPS;
	ops.reconcile = NULL;
	assert_int_equal(kube_manager_add_controller(f->m, &ops, NULL, NULL), KUBE_EINVAL);
	add(f, &WIDGET_OPS, &f->widgets);
	assert_int_equal(kube_manager_add_controller(f->m, &WIDGET_OPS, &f->widgets, NULL),
			 KUBE_EINVAL); /* duplicate name */
	/* A controller that owns without a kind fails its setup and leaves nothing behind. */
	ops = GADGET_OPS;
	ops.name = "owner-without-kind";
	ops.setup = widgets_setup;
	assert_int_equal(kube_manager_add_controller(f->m, &ops, &f->gadgets, NULL), KUBE_EINVAL);
	assert_int_equal(kube_manager_informer_count(f->m), 2); /* widgets + pods */
	/* Outside setup the watch calls are refused. */
	assert_int_equal(kube_controller_owns(NULL, &pods, NULL), KUBE_EINVAL);
	start_and_sync(f);
	assert_int_equal(kube_manager_add_controller(f->m, &GADGET_OPS, &f->gadgets, NULL),
			 KUBE_EINVAL); /* after start */
	assert_int_equal(kube_manager_start(f->m), KUBE_EINVAL);
}


/* ---- retry lanes, named informers, split and protected servers ---- */

static void host__a_retry_may_change_lane_with_its_own_backoff(void **state)
{
	struct fixture *f = *state;
	struct kube_controller_ops ops = WIDGET_OPS;
	struct kube_controller *ctl;

	ops.urgent_workers = 1;
	ops.urgent_retry_base_ms = 2;
	ops.urgent_retry_max_ms = 4;
	f->clock = kube_clock_fake_new(0, 0);
	f->widgets.fail_first = 3;
	f->widgets.retry_lane = KUBE_RETRY_URGENT;
	new_manager(f, NULL);
	ctl = add(f, &ops, &f->widgets);
	start_and_sync(f);
	/* A normal key fails and asks for the urgent lane: retried there after 2 ms (not the
	 * queue's 5 ms), then 4 ms, then 4 ms (the cap). */
	assert_int_equal(kube_controller_enqueue(ctl, "ns/a"), 0);
	expect_seen(&f->widgets, "ns/a", 1);
	expect_delayed(ctl, 1);
	kube_clock_advance(f->clock, KUBE_MS(1));
	assert_int_equal(toy_count(&f->widgets, "ns/a"), 1);
	kube_clock_advance(f->clock, KUBE_MS(1));
	expect_seen(&f->widgets, "ns/a", 2);
	expect_delayed(ctl, 1);
	kube_clock_advance(f->clock, KUBE_MS(4));
	expect_seen(&f->widgets, "ns/a", 3);
	expect_delayed(ctl, 1);
	assert_int_equal(kube_workqueue_num_requeues(kube_controller_queue(ctl), "ns/a"), 3);
	kube_clock_advance(f->clock, KUBE_MS(4));
	expect_seen(&f->widgets, "ns/a", 4);
	pthread_mutex_lock(&f->widgets.mu);
	assert_false(f->widgets.seen_urgent[0]);
	for (int i = 1; i < 4; i++)
		assert_true(f->widgets.seen_urgent[i]);
	pthread_mutex_unlock(&f->widgets.mu);
	/* Success forgets the backoff of both lanes. */
	expect_delayed(ctl, 0);
	assert_int_equal(kube_workqueue_num_requeues(kube_controller_queue(ctl), "ns/a"), 0);
}

static void host__an_urgent_failure_may_retry_on_the_normal_lane(void **state)
{
	struct fixture *f = *state;
	struct kube_controller *ctl;

	f->clock = kube_clock_fake_new(0, 0);
	f->widgets.fail_first = 1;
	f->widgets.retry_lane = KUBE_RETRY_NORMAL;
	new_manager(f, NULL);
	ctl = add(f, &WIDGET_OPS, &f->widgets);
	start_and_sync(f);
	assert_int_equal(kube_controller_enqueue_urgent(ctl, "ns/a"), 0);
	expect_seen(&f->widgets, "ns/a", 1);
	expect_delayed(ctl, 1);
	kube_clock_advance(f->clock, KUBE_MS(5));
	expect_seen(&f->widgets, "ns/a", 2);
	pthread_mutex_lock(&f->widgets.mu);
	assert_true(f->widgets.seen_urgent[0]);
	assert_false(f->widgets.seen_urgent[1]);
	pthread_mutex_unlock(&f->widgets.mu);
}

static int deny_all(void *data, const struct kube_http_request *req, char *why, size_t why_size)
{
	(void)data;
	(void)req;
	snprintf(why, why_size, "no");
	return 403;
}

static void host__named_informers_split_and_protected_servers(void **state)
{
	struct fixture *f = *state;
	struct kube_controller_ops ops = GADGET_OPS;
	struct kube_manager_opts o = {
		.metrics_addr = "127.0.0.1:0", .probe_addr = "localhost:0", .split_servers = true,
		.metrics_auth = deny_all,
	};
	int port;

	ops.primary.name = "my-gadgets";
	new_manager(f, &o);
	add(f, &ops, &f->gadgets);
	start_and_sync(f);
	assert_true(metrics_have("kube_informer_lists_total{informer=\"my-gadgets\"} "));
	port = kube_httpd_port(kube_manager_httpd(f->m));
	assert_true(port > 0);
	/* The metrics server: /metrics behind the auth hook, no probes (they are on the other). */
	assert_int_equal(http_status(port, "/metrics"), 403);
	assert_int_equal(http_status(port, "/healthz"), 404);
	assert_int_equal(http_status(port, "/readyz"), 404);
}

int main(void)
{
	if (getenv("KUBE_TEST_DEBUG") != NULL)
		kube_log_set_level(KUBE_LOG_TRACE);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(host__two_controllers_share_an_informer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(host__owned_and_mapped_events_enqueue_the_right_keys,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			host__requeue_after_and_error_backoff_follow_the_fake_clock, setup, teardown),
		cmocka_unit_test_setup_teardown(host__urgent_lane_overtakes_normal_keys, setup,
						teardown),
		cmocka_unit_test_setup_teardown(host__one_key_never_runs_on_two_workers_across_lanes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			host__losing_the_lease_stops_writes_and_calls_on_leading_false, setup,
			teardown),
		cmocka_unit_test_setup_teardown(host__graceful_stop_releases_the_lease_then_drains,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			host__standby_maps_events_and_reconciles_after_takeover, setup, teardown),
		cmocka_unit_test_setup_teardown(host__readyz_waits_for_every_informer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(host__bad_registrations_are_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(host__a_retry_may_change_lane_with_its_own_backoff,
						setup, teardown),
		cmocka_unit_test_setup_teardown(host__an_urgent_failure_may_retry_on_the_normal_lane,
						setup, teardown),
		cmocka_unit_test_setup_teardown(host__named_informers_split_and_protected_servers,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
