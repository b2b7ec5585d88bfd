/* intent_gen_logs: the generator Jobs' pods/log reads on their own thread, against a local
 * server (fake_server.h) — a log captured whole (pod list, then the log of the pod that
 * succeeded) with done() called once, a log cut at INTENT_GEN_LOG_MAX, a pod gone and an API
 * error reported as the read's outcome, and a clean stop with results held and reads queued. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <time.h>

#include "fake_server.h"

#include "intent/intent_generator.h"
#include "kube_config.h"
#include "kube_error.h"

#define PODS "{'kind':'PodList','items':[" \
	     "{'metadata':{'name':'gen-a','namespace':'ns'},'status':{'phase':'Failed'}}," \
	     "{'metadata':{'name':'gen-b','namespace':'ns'},'status':{'phase':'Succeeded'}}]}"

struct fixture {
	struct fake_server fs;
	struct kube_config cfg;
	struct kube_client *c;
	struct intent_gen_logs *l;
	pthread_mutex_t mu;
	int dones;
	char last[128];
};

static void on_done(const char *key, void *ud)
{
	struct fixture *f = ud;

	pthread_mutex_lock(&f->mu);
	f->dones++;
	snprintf(f->last, sizeof(f->last), "%s", key);
	pthread_mutex_unlock(&f->mu);
}

static int dones(struct fixture *f)
{
	pthread_mutex_lock(&f->mu);
	int n = f->dones;
	pthread_mutex_unlock(&f->mu);
	return n;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Double quotes for the single ones of a JSON literal (the server's bodies are borrowed). */
static char *dq(const char *s)
{
	char *d = strdup(s);
	for (char *p = d; p && *p; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct kube_client_opts o = {.qps = -1, .retry_base_ms = 10, .max_retries = 0};

	assert_non_null(f);
	pthread_mutex_init(&f->mu, NULL);
	assert_int_equal(fake_server_start(&f->fs), 0);
	assert_int_equal(kube_config_init_server(&f->cfg, f->fs.url), 0);
	assert_int_equal(kube_client_new(&f->cfg, &o, &f->c), 0);
	f->l = intent_gen_logs_new(f->c, on_done, f);
	assert_non_null(f->l);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	intent_gen_logs_free(f->l);
	kube_client_free(f->c);
	fake_server_stop(&f->fs);
	kube_config_release(&f->cfg);
	pthread_mutex_destroy(&f->mu);
	free(f);
	return 0;
}

/* Asks until the read is in (0 first, then one done() for the Intent), with a deadline. */
static void ask_wait(struct fixture *f, const char *job, int dones_before)
{
	int64_t t0 = mono_ms();

	assert_int_equal(intent_gen_logs_ask(f->l, "ns", job, "ns/rev"), 0);
	/* Asked again while (or just after) it is read: not queued twice (one done() below). */
	assert_true(intent_gen_logs_ask(f->l, "ns", job, "ns/rev") >= 0);
	while (dones(f) == dones_before && mono_ms() - t0 < 20000) {
		struct timespec ts = {0, 5 * 1000000L};
		nanosleep(&ts, NULL);
	}
	assert_int_equal(dones(f), dones_before + 1);
	pthread_mutex_lock(&f->mu);
	assert_string_equal(f->last, "ns/rev");
	pthread_mutex_unlock(&f->mu);
	assert_int_equal(intent_gen_logs_ask(f->l, "ns", job, "ns/rev"), 1);
	assert_int_equal(intent_gen_logs_len(f->l), 1);
}

static void captured_from_the_pod_that_succeeded(void **state)
{
	struct fixture *f = *state;
	char *pods = dq(PODS);
	struct intent_gen_log lb = {0};
	char msg[300];

	fake_push(&f->fs, 200, pods);
	fake_push(&f->fs, 200, "line 1\n---SPEC---\n# SPEC\n");
	ask_wait(f, "job-1", 0);
	assert_int_equal(intent_gen_logs_take(f->l, "ns", "job-1", &lb, msg, sizeof(msg)), 0);
	assert_non_null(lb.buf);
	assert_int_equal(lb.len, strlen("line 1\n---SPEC---\n# SPEC\n"));
	assert_string_equal(lb.buf, "line 1\n---SPEC---\n# SPEC\n");
	free(lb.buf);
	assert_int_equal(intent_gen_logs_len(f->l), 0);
	/* Taken: gone, and asking again reads again. */
	assert_int_equal(intent_gen_logs_take(f->l, "ns", "job-1", &lb, msg, sizeof(msg)), KUBE_ENOTFOUND);
	/* The requests: the Job's pods by label, then the log of the succeeded one, capped. */
	assert_true(fake_nreqs(&f->fs) >= 2);
	assert_non_null(strstr(f->fs.reqs[0].path, "/api/v1/namespaces/ns/pods"));
	assert_non_null(strstr(f->fs.reqs[0].query, "job-name=job-1"));
	assert_string_equal(f->fs.reqs[1].path, "/api/v1/namespaces/ns/pods/gen-b/log");
	assert_non_null(strstr(f->fs.reqs[1].query, "limitBytes=262144"));
	free(pods);
}

static void capped_at_the_limit(void **state)
{
	struct fixture *f = *state;
	char *pods = dq(PODS);
	size_t big = INTENT_GEN_LOG_MAX + 4096;
	char *log = malloc(big + 1);
	struct intent_gen_log lb = {0};
	char msg[300];

	assert_non_null(log);
	memset(log, 'x', big);
	log[big] = '\0';
	fake_push(&f->fs, 200, pods);
	fake_push(&f->fs, 200, log);
	ask_wait(f, "job-big", 0);
	assert_int_equal(intent_gen_logs_take(f->l, "ns", "job-big", &lb, msg, sizeof(msg)), 0);
	assert_int_equal(lb.len, INTENT_GEN_LOG_MAX);
	assert_int_equal(strlen(lb.buf), INTENT_GEN_LOG_MAX);
	free(lb.buf);
	free(log);
	free(pods);
}

static void pod_gone_and_api_errors_are_outcomes(void **state)
{
	struct fixture *f = *state;
	struct intent_gen_log lb = {0};
	char msg[300];

	fake_push(&f->fs, 200, "{\"kind\":\"PodList\",\"items\":[]}");
	ask_wait(f, "job-gone", 0);
	assert_int_equal(intent_gen_logs_take(f->l, "ns", "job-gone", &lb, msg, sizeof(msg)),
			 KUBE_ENOTFOUND);
	assert_non_null(strstr(msg, "pod is gone"));
	free(lb.buf);

	lb = (struct intent_gen_log){0};
	fake_push(&f->fs, 200, "{\"kind\":\"PodList\",\"items\":[{\"metadata\":{\"name\":\"p\"}}]}");
	fake_push(&f->fs, 403, "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"pods/log is forbidden\",\"reason\":\"Forbidden\",\"code\":403}");
	ask_wait(f, "job-403", 1);
	assert_int_equal(intent_gen_logs_take(f->l, "ns", "job-403", &lb, msg, sizeof(msg)),
			 KUBE_EFORBIDDEN);
	assert_non_null(strstr(msg, "could not be read"));
	assert_non_null(strstr(msg, "forbidden"));
	free(lb.buf);
}

/* Freed with a result nobody took and reads still queued: returns promptly
 * (after the read under way), calls no done() afterwards, leaks nothing (ASan). */
static void stops_cleanly(void **state)
{
	struct fixture *f = *state;
	char *pods = dq(PODS);
	char job[32];

	fake_push(&f->fs, 200, pods);
	fake_push(&f->fs, 200, "held log\n");
	ask_wait(f, "job-held", 0);
	/* The queued reads each get an empty pod list (streamed in two chunks). */
	struct fake_resp empty = {.status = 200, .chunks = {"{\"items\":", "[]}"}, .nchunks = 2};
	for (int i = 0; i < 5; i++)
		fake_push_resp(&f->fs, &empty);
	for (int i = 0; i < 5; i++) {
		snprintf(job, sizeof(job), "job-q%d", i);
		assert_int_equal(intent_gen_logs_ask(f->l, "ns", job, "ns/rev"), 0);
	}
	assert_int_equal(intent_gen_logs_len(f->l), 6);
	int64_t t0 = mono_ms();
	intent_gen_logs_free(f->l);
	f->l = NULL;
	assert_true(mono_ms() - t0 < 10000);
	int after = dones(f);
	struct timespec ts = {0, 100 * 1000000L};
	nanosleep(&ts, NULL);
	assert_int_equal(dones(f), after);
	assert_true(after <= 1 + 5);
	free(pods);
}

static void bad_arguments(void **state)
{
	(void)state;
	assert_int_equal(intent_gen_logs_len(NULL), 0);
	intent_gen_logs_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(captured_from_the_pod_that_succeeded, setup, teardown),
		cmocka_unit_test_setup_teardown(capped_at_the_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(pod_gone_and_api_errors_are_outcomes, setup, teardown),
		cmocka_unit_test_setup_teardown(stops_cleanly, setup, teardown),
		cmocka_unit_test(bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
