/* Leader election end to end against a fake API server with short durations (lease 300 ms,
 * renew deadline 200 ms, retry 50 ms): acquiring an absent Lease, a standby that waits while the
 * leader renews, fast takeover on release, takeover after expiry, the write gate closing when
 * renewals fail, and only one leader when two race. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <unistd.h>

#include "fake_apiserver.h"

#include "kube_clock.h"
#include "kube_config.h"
#include "kube_error.h"
#include "kube_json.h"
#include "kube_leader.h"
#include "kube_log.h"
#include "kube_metrics.h"
#include "kube_rest.h"

#define WAIT_MS 5000
#define LEASE_MS 300
#define RENEW_MS 200
#define RETRY_MS 50

struct candidate {
	struct kube_client *client;
	struct kube_leader *le;
	atomic_int started, stopped;
	pthread_mutex_t mu;
	char new_leader[64];
	int new_leader_calls;
};

struct fixture {
	struct fake_api *api;
	struct candidate a, b;
	int cm_seq;
};

static void on_started(void *ud)
{
	atomic_fetch_add(&((struct candidate *)ud)->started, 1);
}

static void on_stopped(void *ud)
{
	atomic_fetch_add(&((struct candidate *)ud)->stopped, 1);
}

static void on_new_leader(const char *id, void *ud)
{
	struct candidate *c = ud;
	pthread_mutex_lock(&c->mu);
	snprintf(c->new_leader, sizeof(c->new_leader), "%s", id);
	c->new_leader_calls++;
	pthread_mutex_unlock(&c->mu);
}

static void candidate_init(struct fixture *f, struct candidate *c)
{
	struct kube_config cfg = {0};
	struct kube_client_opts co = {.qps = -1, .max_retries = -1, .timeout_ms = 2000};

	assert_int_equal(kube_config_init_server(&cfg, f->api->url), 0);
	assert_int_equal(kube_client_new(&cfg, &co, &c->client), 0);
	kube_config_release(&cfg);
	pthread_mutex_init(&c->mu, NULL);
}

static void candidate_start(struct candidate *c, const char *identity, bool keep_lease)
{
	struct kube_leader_config cfg = {
		.client = c->client,
		.lease_namespace = "kube-system",
		.lease_name = "phoenix-test",
		.identity = identity,
		.lease_duration_ms = LEASE_MS,
		.renew_deadline_ms = RENEW_MS,
		.retry_period_ms = RETRY_MS,
		.keep_lease_on_stop = keep_lease,
		.callbacks = {on_started, on_stopped, on_new_leader, c},
	};
	assert_int_equal(kube_leader_new(&cfg, &c->le), 0);
	assert_false(kube_leader_is_leader(c->le));
	assert_int_equal(kube_leader_start(c->le), 0);
}

static void candidate_release(struct candidate *c)
{
	kube_leader_free(c->le);
	kube_client_free(c->client);
	pthread_mutex_destroy(&c->mu);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	f->api = fake_api_start();
	assert_non_null(f->api);
	candidate_init(f, &f->a);
	candidate_init(f, &f->b);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	candidate_release(&f->a);
	candidate_release(&f->b);
	fake_api_stop(f->api);
	free(f);
	return 0;
}

static bool is_leader(void *arg)
{
	return kube_leader_is_leader(((struct candidate *)arg)->le);
}

/* on_started_leading runs just after is_leader turns true: wait for the callback itself. */
static bool started_once(void *arg)
{
	return atomic_load(&((struct candidate *)arg)->started) >= 1;
}

static bool started_twice(void *arg)
{
	return atomic_load(&((struct candidate *)arg)->started) >= 2;
}

static bool has_stopped(void *arg)
{
	return atomic_load(&((struct candidate *)arg)->stopped) > 0;
}

struct api_count {
	struct fake_api *api;
	int want;
};

static bool lease_writes_reach(void *arg)
{
	struct api_count *w = arg;
	return fake_api_read(w->api, &w->api->lease_writes_ok) >= w->want;
}

/* A write through the candidate's (gated) client: 0, or KUBE_ENOTLEADER when the gate is shut. */
static int try_write(struct fixture *f, struct candidate *c)
{
	char buf[128];
	cJSON *cm;
	int rc;

	snprintf(buf, sizeof(buf), "{\"metadata\":{\"name\":\"cm-%d\"},\"data\":{}}", f->cm_seq++);
	cm = cJSON_Parse(buf);
	rc = kube_create(c->client, &KUBE_GVR_CONFIGMAPS, "default", cm, NULL, NULL);
	cJSON_Delete(cm);
	return rc;
}

static cJSON *server_lease(struct fixture *f)
{
	return fake_api_get(f->api, "leases", "kube-system", "phoenix-test");
}

static void assert_microtime(const char *s)
{
	assert_non_null(s);
	assert_int_equal(strlen(s), 27);
	assert_true(s[4] == '-' && s[10] == 'T' && s[19] == '.' && s[26] == 'Z');
}

static void leader__acquires_absent_lease_renews_and_releases(void **state)
{
	struct fixture *f = *state;
	struct api_count renewals = {f->api, 4};
	const char *lv[] = {"phoenix-test"};
	struct kube_metric *status;
	cJSON *lease;
	int64_t n;
	char *holder;

	candidate_start(&f->a, "a", false);
	assert_true(fake_eventually(started_once, &f->a, WAIT_MS));
	assert_true(fake_eventually(is_leader, &f->a, WAIT_MS));
	assert_int_equal(atomic_load(&f->a.started), 1);
	assert_string_equal(f->a.new_leader, "a");
	holder = kube_leader_current_holder(f->a.le);
	assert_string_equal(holder, "a");
	free(holder);
	assert_int_equal(try_write(f, &f->a), 0);

	lease = server_lease(f);
	assert_string_equal(kube_json_get_str(lease, "spec", "holderIdentity", NULL), "a");
	assert_true(kube_json_get_int(lease, &n, "spec", "leaseTransitions", NULL) && n == 0);
	assert_true(kube_json_get_int(lease, &n, "spec", "leaseDurationSeconds", NULL) && n == 1);
	assert_microtime(kube_json_get_str(lease, "spec", "renewTime", NULL));
	assert_microtime(kube_json_get_str(lease, "spec", "acquireTime", NULL));
	cJSON_Delete(lease);
	status = kube_metric_register(kube_metrics_default(), KUBE_GAUGE,
				      "leader_election_master_status",
				      "1 while this process leads the named lease, else 0",
				      (const char *const[]){"name", NULL}, NULL, 0);
	assert_true(kube_metric_value(status, lv) == 1.0);

	/* It keeps renewing and stays leader throughout. */
	assert_true(fake_eventually(lease_writes_reach, &renewals, WAIT_MS));
	assert_true(fake_eventually(is_leader, &f->a, WAIT_MS));
	assert_int_equal(atomic_load(&f->a.started), 1);
	assert_int_equal(atomic_load(&f->a.stopped), 0);

	/* Stop hands the lease back and shuts the gate. */
	kube_leader_stop(f->a.le);
	assert_false(kube_leader_is_leader(f->a.le));
	assert_int_equal(atomic_load(&f->a.stopped), 1);
	assert_int_equal(try_write(f, &f->a), KUBE_ENOTLEADER);
	lease = server_lease(f);
	assert_string_equal(kube_json_get_str(lease, "spec", "holderIdentity", NULL), "");
	cJSON_Delete(lease);
	assert_true(kube_metric_value(status, lv) == 0.0);
}

static void leader__standby_waits_while_leader_renews_then_takes_over_on_release(void **state)
{
	struct fixture *f = *state;
	struct api_count more;
	int64_t t0, n;
	cJSON *lease;

	candidate_start(&f->a, "a", false);
	assert_true(fake_eventually(is_leader, &f->a, WAIT_MS));
	candidate_start(&f->b, "b", false);
	/* Over several lease durations of renewals, b never leads and may not write. */
	more.api = f->api;
	more.want = fake_api_read(f->api, &f->api->lease_writes_ok) + 3 * LEASE_MS / RETRY_MS;
	assert_true(fake_eventually(lease_writes_reach, &more, WAIT_MS));
	assert_int_equal(atomic_load(&f->b.started), 0);
	assert_false(kube_leader_is_leader(f->b.le));
	pthread_mutex_lock(&f->b.mu);
	assert_string_equal(f->b.new_leader, "a");
	pthread_mutex_unlock(&f->b.mu);
	assert_int_equal(try_write(f, &f->b), KUBE_ENOTLEADER);
	assert_int_equal(try_write(f, &f->a), 0);

	/* a releases: b takes over within a retry period or two, well before expiry would. */
	t0 = kube_clock_now(NULL);
	kube_leader_stop(f->a.le);
	assert_true(fake_eventually(is_leader, &f->b, WAIT_MS));
	assert_true(kube_clock_now(NULL) - t0 < KUBE_MS(LEASE_MS));
	assert_int_equal(try_write(f, &f->b), 0);
	assert_int_equal(try_write(f, &f->a), KUBE_ENOTLEADER);
	lease = server_lease(f);
	assert_string_equal(kube_json_get_str(lease, "spec", "holderIdentity", NULL), "b");
	assert_true(kube_json_get_int(lease, &n, "spec", "leaseTransitions", NULL) && n == 1);
	cJSON_Delete(lease);
}

static void leader__takeover_after_expiry(void **state)
{
	struct fixture *f = *state;
	int64_t last_renew_ms, took_ms, n;
	cJSON *lease;

	candidate_start(&f->a, "a", true); /* a dies without handing the lease back */
	assert_true(fake_eventually(is_leader, &f->a, WAIT_MS));
	candidate_start(&f->b, "b", false);
	kube_leader_stop(f->a.le);
	assert_int_equal(atomic_load(&f->a.stopped), 1);
	pthread_mutex_lock(&f->api->mu);
	last_renew_ms = f->api->last_lease_write_ms; /* a's last renewal reached the server */
	pthread_mutex_unlock(&f->api->mu);
	assert_true(fake_eventually(is_leader, &f->b, WAIT_MS));
	took_ms = fake_ms() - last_renew_ms;
	/* b saw that renewal no earlier than it happened and waits a full lease duration from
	 * there; it then needs at most a jittered retry (2.2 x 50 ms) and a request. */
	assert_true(took_ms >= LEASE_MS);
	assert_true(took_ms < LEASE_MS * 4);
	lease = server_lease(f);
	assert_string_equal(kube_json_get_str(lease, "spec", "holderIdentity", NULL), "b");
	assert_true(kube_json_get_int(lease, &n, "spec", "leaseTransitions", NULL) && n == 1);
	cJSON_Delete(lease);
}

static void leader__write_gate_closes_when_renewal_fails(void **state)
{
	struct fixture *f = *state;
	int64_t last_ok_ms, closed_ms;
	int rc;

	candidate_start(&f->a, "a", false);
	assert_true(fake_eventually(is_leader, &f->a, WAIT_MS));
	assert_int_equal(try_write(f, &f->a), 0);

	pthread_mutex_lock(&f->api->mu);
	f->api->fail_lease_writes = true;
	last_ok_ms = f->api->last_lease_write_ms;
	pthread_mutex_unlock(&f->api->mu);
	/* Keep writing like a busy worker until the gate refuses. The gate is checked somewhere
	 * between a write's start and its end, so the bounds below use the start of the writes it
	 * let through and the end of the one it refused: a descheduled test thread (a loaded CI
	 * box) cannot fail them, only a gate that opens or closes at the wrong time. */
	int64_t started_ms;
	do {
		started_ms = fake_ms();
		rc = try_write(f, &f->a);
		assert_true(rc == 0 || rc == KUBE_ENOTLEADER);
		assert_true(fake_ms() - last_ok_ms < WAIT_MS);
		/* The gate shuts a renew deadline after the last good renew was started (at most
		 * one request before it reached the server), whatever the elector thread is doing:
		 * no write passes once the lease could have expired for anybody else. */
		if (rc == 0)
			assert_true(started_ms - last_ok_ms < LEASE_MS);
	} while (rc == 0);
	closed_ms = fake_ms();
	assert_true(closed_ms - last_ok_ms >= RENEW_MS - RETRY_MS);
	assert_false(kube_leader_is_leader(f->a.le));
	assert_true(fake_eventually(has_stopped, &f->a, WAIT_MS));
	assert_int_equal(atomic_load(&f->a.stopped), 1);
	assert_int_equal(try_write(f, &f->a), KUBE_ENOTLEADER);

	/* When the API server recovers, the lease still names a: it leads again. */
	pthread_mutex_lock(&f->api->mu);
	f->api->fail_lease_writes = false;
	pthread_mutex_unlock(&f->api->mu);
	assert_true(fake_eventually(started_twice, &f->a, WAIT_MS));
	assert_int_equal(atomic_load(&f->a.started), 2);
	assert_int_equal(try_write(f, &f->a), 0);
}

static bool unhealthy(void *arg)
{
	return !kube_leader_healthy(((struct candidate *)arg)->le, NULL, 0);
}

static bool healthy_leader(void *arg)
{
	struct candidate *c = arg;

	return kube_leader_is_leader(c->le) && kube_leader_healthy(c->le, NULL, 0);
}

/* Counts the lines of fd's file (from its start) that contain s. */
static int count_lines_with(int fd, const char *s)
{
	static char buf[65536];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	int hits = 0;

	buf[n > 0 ? n : 0] = '\0';
	for (char *p = strstr(buf, s); p != NULL; p = strstr(p + 1, s))
		hits++;
	return hits;
}

/* A Lease namespace that does not exist (a typo in --leader-election-namespace): nobody can
 * ever lead. The elector says so at warning level, once (rate-limited) however often it
 * retries, counts the errors, and reports unhealthy (for /readyz) with the server's message and
 * a hint; it recovers once the namespace exists. */
static void leader__missing_namespace_is_loud_and_unhealthy(void **state)
{
	struct fixture *f = *state;
	char path[] = "/tmp/test_leader_logXXXXXX";
	int fd = mkstemp(path);
	const char *lv[] = {"phoenix-test", NULL};
	struct kube_metric *errors;
	char why[256] = "";

	assert_true(fd >= 0);
	unlink(path);
	pthread_mutex_lock(&f->api->mu);
	f->api->lease_namespace_missing = 1;
	pthread_mutex_unlock(&f->api->mu);
	kube_log_set_fd(fd);
	candidate_start(&f->a, "a", false);
	assert_true(kube_leader_healthy(f->a.le, why, sizeof(why)));
	assert_true(fake_eventually(unhealthy, &f->a, WAIT_MS));
	assert_false(kube_leader_healthy(f->a.le, why, sizeof(why)));
	assert_non_null(strstr(why, "namespaces \"kube-system\" not found"));
	assert_non_null(strstr(why, "--leader-election-namespace"));
	errors = kube_metric_register(kube_metrics_default(), KUBE_COUNTER,
				      "leader_election_errors_total", "",
				      (const char *const[]){"name", NULL}, NULL, 0);
	/* A renew deadline of 50 ms retries: several attempts, each counted, one warning. */
	assert_true(kube_metric_value(errors, lv) >= 2.0);
	assert_int_equal(count_lines_with(fd, "leader election is failing"), 1);
	assert_int_equal(count_lines_with(fd, "WARN"), 1);

	pthread_mutex_lock(&f->api->mu);
	f->api->lease_namespace_missing = 0;
	pthread_mutex_unlock(&f->api->mu);
	assert_true(fake_eventually(healthy_leader, &f->a, WAIT_MS));
	kube_log_set_fd(2);
	close(fd);
}

static bool exactly_one_leads(void *arg)
{
	struct fixture *f = arg;

	return kube_leader_is_leader(f->a.le) != kube_leader_is_leader(f->b.le);
}

static void leader__only_one_of_two_racing_candidates_leads(void **state)
{
	struct fixture *f = *state;
	struct api_count renewals = {f->api, 20};
	struct timespec ms = {0, 1000000};
	int64_t t0 = kube_clock_now(NULL);
	int both = 0;

	candidate_start(&f->a, "a", false);
	candidate_start(&f->b, "b", false);
	/* Sample both every millisecond until the winner has renewed a good number of times. */
	while (!lease_writes_reach(&renewals)) {
		bool la = kube_leader_is_leader(f->a.le), lb = kube_leader_is_leader(f->b.le);
		both += la && lb;
		assert_true(kube_clock_now(NULL) - t0 < KUBE_MS(WAIT_MS));
		nanosleep(&ms, NULL);
	}
	assert_int_equal(both, 0);
	/* Exactly one leads - eventually: sampled at one instant, a winner whose elector thread
	 * was starved past the 200 ms renew deadline has (rightly) shut its gate for a moment. */
	assert_true(fake_eventually(exactly_one_leads, f, WAIT_MS));
	assert_int_equal(atomic_load(&f->a.started) + atomic_load(&f->b.started), 1);
}

static void leader__stale_update_is_a_conflict(void **state)
{
	struct fixture *f = *state;
	cJSON *lease = NULL, *out = NULL;

	fake_api_put(f->api, "leases",
		     "{\"metadata\":{\"name\":\"l\",\"namespace\":\"kube-system\"},"
		     "\"spec\":{\"holderIdentity\":\"x\"}}");
	assert_int_equal(kube_get(f->a.client, &KUBE_GVR_LEASES, "kube-system", "l", NULL, &lease,
				  NULL),
			 0);
	/* Lease writes pass the gate even though a is not leader: the elector needs them. */
	assert_int_equal(kube_update(f->a.client, &KUBE_GVR_LEASES, "kube-system", "l", NULL,
				     lease, &out, NULL),
			 0);
	assert_int_equal(kube_update(f->a.client, &KUBE_GVR_LEASES, "kube-system", "l", NULL,
				     lease, NULL, NULL),
			 KUBE_ECONFLICT);
	assert_int_equal(fake_api_read(f->api, &f->api->conflicts), 1);
	cJSON_Delete(lease);
	cJSON_Delete(out);
}

static void leader__microtime_format(void **state)
{
	static const struct { int64_t ns; const char *want; } cases[] = {
		{0, "1970-01-01T00:00:00.000000Z"},
		{INT64_C(1767225600123456789), "2026-01-01T00:00:00.123456Z"},
		{INT64_C(951782400999999000), "2000-02-29T00:00:00.999999Z"},
	};
	char buf[40];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(kube_leader_format_microtime(cases[i].ns, buf, sizeof(buf)),
				    cases[i].want);
}

/* Stands in for a slow elector thread (a renew stuck on the network) while stop() joins it. */
struct blocker {
	struct kube_leader *le;
	atomic_bool entered, release;
};

static void block_started(void *ud)
{
	struct blocker *b = ud;

	atomic_store(&b->entered, true);
	while (!atomic_load(&b->release)) {
		struct timespec ts = {0, 1000000L};

		nanosleep(&ts, NULL);
	}
}

static bool blocker_entered(void *arg)
{
	return atomic_load(&((struct blocker *)arg)->entered);
}

static bool not_leader(void *arg)
{
	return !kube_leader_is_leader(arg);
}

static void *stop_main(void *arg)
{
	kube_leader_stop(arg);
	return NULL;
}

static void leader__stop_shuts_gate_before_joining(void **state)
{
	struct fixture *f = *state;
	struct blocker b = {0};
	struct kube_leader_config cfg = {
		.client = f->a.client,
		.lease_namespace = "kube-system",
		.lease_name = "phoenix-test",
		.identity = "a",
		.keep_lease_on_stop = true,
		.callbacks = {block_started, NULL, NULL, &b},
	};
	pthread_t t;

	/* Default timings: the renew deadline (10 s) is far beyond this test. */
	assert_int_equal(kube_leader_new(&cfg, &b.le), 0);
	assert_int_equal(kube_leader_start(b.le), 0);
	assert_true(fake_eventually(blocker_entered, &b, WAIT_MS));
	assert_true(kube_leader_is_leader(b.le));
	assert_int_equal(pthread_create(&t, NULL, stop_main, b.le), 0);
	/* The contract: writes are refused first, not once the elector thread has been joined. */
	assert_true(fake_eventually(not_leader, b.le, 2000));
	assert_int_equal(try_write(f, &f->a), KUBE_ENOTLEADER);
	atomic_store(&b.release, true);
	pthread_join(t, NULL);
	assert_false(kube_leader_is_leader(b.le));
	kube_leader_free(b.le);
	kube_client_set_write_gate(f->a.client, NULL, NULL);
}

static void leader__bad_config(void **state)
{
	struct fixture *f = *state;
	static const struct { int64_t lease, renew, retry; const char *id; } cases[] = {
		{300, 300, 50, "a"},  /* renew deadline must be below the lease duration */
		{300, 200, 200, "a"}, /* retry must be below the renew deadline */
		{300, 200, 50, ""},   /* identity required */
		{0, 20000, 0, "a"},   /* renew above the default 15 s lease */
	};
	struct kube_leader *le = NULL;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kube_leader_config cfg = {
			.client = f->a.client, .lease_namespace = "ns", .lease_name = "n",
			.identity = cases[i].id, .lease_duration_ms = cases[i].lease,
			.renew_deadline_ms = cases[i].renew, .retry_period_ms = cases[i].retry};
		assert_int_equal(kube_leader_new(&cfg, &le), KUBE_EINVAL);
		assert_null(le);
	}
	assert_int_equal(kube_leader_new(NULL, &le), KUBE_EINVAL);
	assert_false(kube_leader_is_leader(NULL));
	kube_leader_free(NULL);
}

static int group_teardown(void **state)
{
	kube_metrics_default_reset();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(leader__acquires_absent_lease_renews_and_releases,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			leader__standby_waits_while_leader_renews_then_takes_over_on_release, setup,
			teardown),
		cmocka_unit_test_setup_teardown(leader__takeover_after_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(leader__write_gate_closes_when_renewal_fails, setup,
						teardown),
		cmocka_unit_test_setup_teardown(leader__only_one_of_two_racing_candidates_leads,
						setup, teardown),
		cmocka_unit_test_setup_teardown(leader__stale_update_is_a_conflict, setup,
						teardown),
		cmocka_unit_test_setup_teardown(leader__microtime_format, setup, teardown),
		cmocka_unit_test_setup_teardown(leader__stop_shuts_gate_before_joining, setup,
						teardown),
		cmocka_unit_test_setup_teardown(leader__bad_config, setup, teardown),
		cmocka_unit_test_setup_teardown(leader__missing_namespace_is_loud_and_unhealthy,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, group_teardown);
}
