/* Unit tests for the metrics registry: exposition-format golden text, escaping, idempotent
 * registration, validation, and exact sums under concurrent updates. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kube_error.h"
#include "kube_log.h"
#include "kube_metrics.h"

/* This cmocka has no assert_double_equal; report both values on failure. */
#define assert_near(a, b, eps) assert_near_at((a), (b), (eps), __FILE__, __LINE__)
static void assert_near_at(double a, double b, double eps, const char *file, int line)
{
	if (!(fabs(a - b) <= eps))
		fail_msg("%s:%d: %.17g != %.17g", file, line, a, b);
}

static int setup(void **state)
{
	*state = kube_metrics_new();
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	kube_metrics_free(*state);
	return 0;
}

static char *render(struct kube_metrics *m)
{
	char *out = NULL;
	size_t len = 0;

	assert_int_equal(kube_metrics_render(m, &out, &len), KUBE_OK);
	assert_non_null(out);
	assert_int_equal(len, strlen(out));
	return out;
}

static void metrics__golden_counter_gauge_histogram(void **state)
{
	struct kube_metrics *m = *state;
	static const char *const labels[] = {"method", "code", NULL};
	static const double bounds[] = {0.1, 0.5, 1};
	struct kube_metric *req, *depth, *lat, *up;
	char *out;

	/* Registered out of order: output must come sorted by name. */
	lat = kube_metric_register(m, KUBE_HISTOGRAM, "kube_latency_seconds", "Request latency.",
				   NULL, bounds, 3);
	req = kube_metric_register(m, KUBE_COUNTER, "kube_requests_total", "Requests by code.",
				   labels, NULL, 0);
	depth = kube_metric_register(m, KUBE_GAUGE, "kube_depth", "Queue depth.", NULL, NULL, 0);
	up = kube_metric_register(m, KUBE_GAUGE, "kube_unused", "Never set: exposes 0.", NULL,
				  NULL, 0);
	assert_non_null(lat);
	assert_non_null(req);
	assert_non_null(depth);
	assert_non_null(up);

	kube_metric_inc(req, (const char *[]){"GET", "200"});
	kube_metric_inc(req, (const char *[]){"GET", "200"});
	kube_metric_add(req, (const char *[]){"POST", "201"}, 3);
	kube_metric_inc(req, (const char *[]){"GET", "404"});
	kube_metric_set(depth, NULL, 7);
	kube_metric_dec(depth, NULL);
	kube_metric_observe(lat, NULL, 0.05);
	kube_metric_observe(lat, NULL, 0.1); /* le is inclusive */
	kube_metric_observe(lat, NULL, 0.7);
	kube_metric_observe(lat, NULL, 3);

	out = render(m);
	assert_string_equal(out,
			    "# HELP kube_depth Queue depth.\n"
			    "# TYPE kube_depth gauge\n"
			    "kube_depth 6\n"
			    "# HELP kube_latency_seconds Request latency.\n"
			    "# TYPE kube_latency_seconds histogram\n"
			    "kube_latency_seconds_bucket{le=\"0.1\"} 2\n"
			    "kube_latency_seconds_bucket{le=\"0.5\"} 2\n"
			    "kube_latency_seconds_bucket{le=\"1\"} 3\n"
			    "kube_latency_seconds_bucket{le=\"+Inf\"} 4\n"
			    "kube_latency_seconds_sum 3.85\n"
			    "kube_latency_seconds_count 4\n"
			    "# HELP kube_requests_total Requests by code.\n"
			    "# TYPE kube_requests_total counter\n"
			    "kube_requests_total{method=\"GET\",code=\"200\"} 2\n"
			    "kube_requests_total{method=\"GET\",code=\"404\"} 1\n"
			    "kube_requests_total{method=\"POST\",code=\"201\"} 3\n"
			    "# HELP kube_unused Never set: exposes 0.\n"
			    "# TYPE kube_unused gauge\n"
			    "kube_unused 0\n");
	free(out);
}

static void metrics__histogram_with_labels_and_default_buckets(void **state)
{
	struct kube_metrics *m = *state;
	static const char *const labels[] = {"name", NULL};
	struct kube_metric *h;
	char *out;

	h = kube_metric_register(m, KUBE_HISTOGRAM, "wq_seconds", "h", labels, NULL, 0);
	assert_non_null(h);
	kube_metric_observe(h, (const char *[]){"q"}, 0.2);
	out = render(m);
	assert_non_null(strstr(out, "wq_seconds_bucket{name=\"q\",le=\"0.005\"} 0\n"));
	assert_non_null(strstr(out, "wq_seconds_bucket{name=\"q\",le=\"0.1\"} 0\n"));
	assert_non_null(strstr(out, "wq_seconds_bucket{name=\"q\",le=\"0.25\"} 1\n"));
	assert_non_null(strstr(out, "wq_seconds_bucket{name=\"q\",le=\"10\"} 1\n"));
	assert_non_null(strstr(out, "wq_seconds_bucket{name=\"q\",le=\"+Inf\"} 1\n"));
	assert_non_null(strstr(out, "wq_seconds_sum{name=\"q\"} 0.2\n"));
	assert_non_null(strstr(out, "wq_seconds_count{name=\"q\"} 1\n"));
	assert_near(kube_metric_value(h, (const char *[]){"q"}), 1, 0);
	assert_near(kube_metric_sum(h, (const char *[]){"q"}), 0.2, 1e-12);
	free(out);
}

static void metrics__escaping(void **state)
{
	struct kube_metrics *m = *state;
	static const char *const labels[] = {"v", NULL};
	struct kube_metric *c;
	char *out;

	c = kube_metric_register(m, KUBE_COUNTER, "esc_total", "line1\nback\\slash \"quoted\"",
				 labels, NULL, 0);
	assert_non_null(c);
	kube_metric_inc(c, (const char *[]){"a\"b\\c\nd"});
	out = render(m);
	assert_string_equal(out, "# HELP esc_total line1\\nback\\\\slash \"quoted\"\n"
				 "# TYPE esc_total counter\n"
				 "esc_total{v=\"a\\\"b\\\\c\\nd\"} 1\n");
	free(out);
}

static void metrics__label_tuples_do_not_collide(void **state)
{
	struct kube_metrics *m = *state;
	static const char *const labels[] = {"a", "b", NULL};
	struct kube_metric *c = kube_metric_register(m, KUBE_COUNTER, "t_total", "", labels, NULL, 0);

	kube_metric_add(c, (const char *[]){"x", "yz"}, 1);
	kube_metric_add(c, (const char *[]){"xy", "z"}, 5);
	kube_metric_add(c, (const char *[]){NULL, ""}, 2); /* NULL counts as "" */
	assert_near(kube_metric_value(c, (const char *[]){"x", "yz"}), 1, 0);
	assert_near(kube_metric_value(c, (const char *[]){"xy", "z"}), 5, 0);
	assert_near(kube_metric_value(c, (const char *[]){"", ""}), 2, 0);
	kube_metric_remove(c, (const char *[]){"xy", "z"});
	assert_near(kube_metric_value(c, (const char *[]){"xy", "z"}), 0, 0);
	assert_near(kube_metric_value(c, (const char *[]){"x", "yz"}), 1, 0);
}

static void metrics__register_idempotent(void **state)
{
	struct kube_metrics *m = *state;
	static const char *const l1[] = {"a", NULL};
	static const char *const l2[] = {"b", NULL};
	static const double b1[] = {1, 2};
	static const double b2[] = {1, 3};
	struct kube_metric *a, *b;

	a = kube_metric_register(m, KUBE_COUNTER, "x_total", "first", l1, NULL, 0);
	b = kube_metric_register(m, KUBE_COUNTER, "x_total", "second help is ignored", l1, NULL, 0);
	assert_non_null(a);
	assert_ptr_equal(a, b);
	/* Mismatches are refused, and the original family is untouched. */
	assert_null(kube_metric_register(m, KUBE_GAUGE, "x_total", "", l1, NULL, 0));
	assert_null(kube_metric_register(m, KUBE_COUNTER, "x_total", "", l2, NULL, 0));
	assert_null(kube_metric_register(m, KUBE_COUNTER, "x_total", "", NULL, NULL, 0));

	a = kube_metric_register(m, KUBE_HISTOGRAM, "h", "", NULL, b1, 2);
	assert_non_null(a);
	assert_ptr_equal(kube_metric_register(m, KUBE_HISTOGRAM, "h", "", NULL, b1, 2), a);
	assert_null(kube_metric_register(m, KUBE_HISTOGRAM, "h", "", NULL, b2, 2));
	assert_null(kube_metric_register(m, KUBE_HISTOGRAM, "h", "", NULL, NULL, 0));
	/* Default buckets match themselves. */
	a = kube_metric_register(m, KUBE_HISTOGRAM, "hd", "", NULL, NULL, 0);
	assert_non_null(a);
	assert_ptr_equal(kube_metric_register(m, KUBE_HISTOGRAM, "hd", "", NULL, NULL, 0), a);
}

struct bad_case {
	const char *what;
	enum kube_metric_type type;
	const char *name;
	const char *const *labels;
	const double *bounds;
	size_t nbounds;
};

static void metrics__register_rejects_invalid(void **state)
{
	struct kube_metrics *m = *state;
	static const char *const dunder[] = {"__x", NULL};
	static const char *const le[] = {"le", NULL};
	static const char *const dash[] = {"a-b", NULL};
	static const char *const colon[] = {"a:b", NULL};
	static const double down[] = {2, 1};
	static const double dup[] = {1, 1};
	static const double inf[] = {1, INFINITY};
	const struct bad_case cases[] = {
		{"empty name", KUBE_COUNTER, "", NULL, NULL, 0},
		{"NULL name", KUBE_COUNTER, NULL, NULL, NULL, 0},
		{"leading digit", KUBE_COUNTER, "1abc", NULL, NULL, 0},
		{"dash in name", KUBE_GAUGE, "a-b", NULL, NULL, 0},
		{"reserved label", KUBE_COUNTER, "ok", dunder, NULL, 0},
		{"le on histogram", KUBE_HISTOGRAM, "ok2", le, NULL, 0},
		{"dash in label", KUBE_COUNTER, "ok3", dash, NULL, 0},
		{"colon in label", KUBE_COUNTER, "ok4", colon, NULL, 0},
		{"decreasing buckets", KUBE_HISTOGRAM, "ok5", NULL, down, 2},
		{"duplicate bucket", KUBE_HISTOGRAM, "ok6", NULL, dup, 2},
		{"infinite bucket", KUBE_HISTOGRAM, "ok7", NULL, inf, 2},
		{"bad type", (enum kube_metric_type)42, "ok8", NULL, NULL, 0},
	};
	size_t i;
	char *out;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kube_metric *f = kube_metric_register(m, cases[i].type, cases[i].name, "",
							     cases[i].labels, cases[i].bounds,
							     cases[i].nbounds);
		if (f)
			fail_msg("case '%s' was accepted", cases[i].what);
	}
	/* "le" is fine on non-histograms, colons are fine in metric names. */
	assert_non_null(kube_metric_register(m, KUBE_COUNTER, "ns:le_total", "", le, NULL, 0));
	assert_null(kube_metric_register(NULL, KUBE_COUNTER, "x", "", NULL, NULL, 0));
	out = render(m);
	assert_null(strstr(out, "ok"));
	free(out);
}

static void metrics__null_family_is_noop(void **state)
{
	(void)state;
	kube_metric_inc(NULL, NULL);
	kube_metric_dec(NULL, NULL);
	kube_metric_add(NULL, NULL, 1);
	kube_metric_set(NULL, NULL, 1);
	kube_metric_observe(NULL, NULL, 1);
	kube_metric_remove(NULL, NULL);
	assert_near(kube_metric_value(NULL, NULL), 0, 0);
	assert_near(kube_metric_sum(NULL, NULL), 0, 0);
	kube_metrics_free(NULL);
}

static void metrics__type_rules(void **state)
{
	struct kube_metrics *m = *state;
	struct kube_metric *c = kube_metric_register(m, KUBE_COUNTER, "c_total", "", NULL, NULL, 0);
	struct kube_metric *g = kube_metric_register(m, KUBE_GAUGE, "g", "", NULL, NULL, 0);
	struct kube_metric *h = kube_metric_register(m, KUBE_HISTOGRAM, "h", "", NULL, NULL, 0);

	kube_metric_add(c, NULL, 2);
	kube_metric_add(c, NULL, -1);  /* counters never go down */
	kube_metric_add(c, NULL, NAN); /* nor become NaN */
	kube_metric_dec(c, NULL);
	kube_metric_set(c, NULL, 100);
	kube_metric_observe(c, NULL, 5);
	assert_near(kube_metric_value(c, NULL), 2, 0);

	kube_metric_set(g, NULL, 10);
	kube_metric_add(g, NULL, -12.5);
	kube_metric_observe(g, NULL, 1);
	assert_near(kube_metric_value(g, NULL), -2.5, 0);

	kube_metric_inc(h, NULL);
	kube_metric_set(h, NULL, 3);
	assert_near(kube_metric_value(h, NULL), 0, 0);
	kube_metric_observe(h, NULL, 1e9);
	assert_near(kube_metric_value(h, NULL), 1, 0);
}

static void metrics__exponential_buckets(void **state)
{
	double b[4];

	(void)state;
	kube_metric_exponential_buckets(0.001, 10, 4, b);
	assert_near(b[0], 0.001, 1e-15);
	assert_near(b[1], 0.01, 1e-15);
	assert_near(b[2], 0.1, 1e-15);
	assert_near(b[3], 1, 1e-15);
}

struct worker_arg {
	struct kube_metrics *m;
	int id;
};

#define THREADS 8
#define ITERS 20000

static void *hammer(void *p)
{
	struct worker_arg *a = p;
	static const char *const labels[] = {"worker", NULL};
	const char *mine[] = {a->id % 2 ? "odd" : "even"};
	/* Every thread registers too: registration must be idempotent under races. */
	struct kube_metric *c = kube_metric_register(a->m, KUBE_COUNTER, "hits_total", "",
						     labels, NULL, 0);
	struct kube_metric *h = kube_metric_register(a->m, KUBE_HISTOGRAM, "lat", "", NULL, NULL, 0);
	int i;

	for (i = 0; i < ITERS; i++) {
		kube_metric_inc(c, mine);
		kube_metric_observe(h, NULL, 0.01);
		if (i % 1000 == 0) {
			char *out = NULL;

			if (kube_metrics_render(a->m, &out, NULL) == 0)
				free(out);
		}
	}
	return NULL;
}

static void metrics__concurrent_increments_sum_exactly(void **state)
{
	struct kube_metrics *m = *state;
	pthread_t t[THREADS];
	struct worker_arg args[THREADS];
	struct kube_metric *c, *h;
	static const char *const labels[] = {"worker", NULL};
	int i;

	for (i = 0; i < THREADS; i++) {
		args[i].m = m;
		args[i].id = i;
		assert_int_equal(pthread_create(&t[i], NULL, hammer, &args[i]), 0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	c = kube_metric_register(m, KUBE_COUNTER, "hits_total", "", labels, NULL, 0);
	h = kube_metric_register(m, KUBE_HISTOGRAM, "lat", "", NULL, NULL, 0);
	assert_near(kube_metric_value(c, (const char *[]){"odd"}),
			    (double)THREADS / 2 * ITERS, 0);
	assert_near(kube_metric_value(c, (const char *[]){"even"}),
			    (double)THREADS / 2 * ITERS, 0);
	assert_near(kube_metric_value(h, NULL), (double)THREADS * ITERS, 0);
}

static void metrics__default_registry(void **state)
{
	struct kube_metrics *d = kube_metrics_default();
	struct kube_metric *c;
	char *out;

	(void)state;
	assert_non_null(d);
	assert_ptr_equal(kube_metrics_default(), d);
	c = kube_metric_register(d, KUBE_COUNTER, "default_total", "", NULL, NULL, 0);
	kube_metric_inc(c, NULL);
	out = render(d);
	assert_non_null(strstr(out, "default_total 1\n"));
	free(out);
	kube_metrics_default_reset();
	/* A fresh registry afterwards: the old family is gone. */
	out = render(kube_metrics_default());
	assert_string_equal(out, "");
	free(out);
	kube_metrics_default_reset();
}

static void metrics__render_rejects_bad_args(void **state)
{
	char *out = (char *)"sentinel";

	assert_int_equal(kube_metrics_render(NULL, &out, NULL), KUBE_EINVAL);
	assert_null(out);
	assert_int_equal(kube_metrics_render(*state, NULL, NULL), KUBE_EINVAL);
}

/* The process metrics every Prometheus client exports, read at render time; build info. */
static void metrics__process_and_build_info(void **state)
{
	struct kube_metrics *m = kube_metrics_new();
	char *out = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(kube_metrics_render(m, &out, &len), 0);
	assert_null(strstr(out, "process_")); /* only when enabled */
	free(out);
	kube_metrics_process_enable(m);
	assert_int_equal(kube_metrics_build_info(m, "phoenix", "1.2.3", "abc"), 0);
	assert_int_equal(kube_metrics_build_info(m, NULL, "1", "2"), KUBE_EINVAL);
	assert_int_equal(kube_metrics_render(m, &out, &len), 0);
	assert_non_null(strstr(out, "# TYPE process_cpu_seconds_total counter\n"));
	assert_non_null(strstr(out, "\nprocess_resident_memory_bytes "));
	assert_non_null(strstr(out, "\nprocess_start_time_seconds 1"));
	assert_non_null(strstr(out, "\nprocess_open_fds "));
	assert_non_null(strstr(out, "\nprocess_max_fds "));
	assert_non_null(strstr(out, "phoenix_build_info{version=\"1.2.3\",revision=\"abc\"} 1\n"));
	free(out);
	kube_metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(metrics__golden_counter_gauge_histogram, setup, teardown),
		cmocka_unit_test_setup_teardown(metrics__histogram_with_labels_and_default_buckets, setup,
						teardown),
		cmocka_unit_test_setup_teardown(metrics__escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(metrics__label_tuples_do_not_collide, setup, teardown),
		cmocka_unit_test_setup_teardown(metrics__register_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(metrics__register_rejects_invalid, setup, teardown),
		cmocka_unit_test(metrics__null_family_is_noop),
		cmocka_unit_test_setup_teardown(metrics__type_rules, setup, teardown),
		cmocka_unit_test(metrics__exponential_buckets),
		cmocka_unit_test_setup_teardown(metrics__concurrent_increments_sum_exactly, setup,
						teardown),
		cmocka_unit_test(metrics__default_registry),
		cmocka_unit_test_setup_teardown(metrics__render_rejects_bad_args, setup, teardown),
		cmocka_unit_test(metrics__process_and_build_info),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
