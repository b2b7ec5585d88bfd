/* The Job controller's pure parts: what to do next for given counts (table-driven), the status
 * and conditions it writes, reading conditions back, and applying a test's script to a pod. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "sim_controllers.h"
#include "sim_jobs.h"
#include "sim_kubelet.h"

#define T0 INT64_C(1767225600000)

struct decide_case {
	const char *name;
	struct sim_job_spec spec;
	struct sim_job_counts cnt;
	enum sim_job_state prev;
	const char *prev_reason;
	int64_t start, now;
	/* want */
	enum sim_job_state state;
	long create;
	int delete_active;
	const char *reason;
	int64_t recheck;
};

#define SPEC(c, p, b, d) {.completions = (c), .parallelism = (p), .backoff_limit = (b), .deadline_s = (d)}

static const struct decide_case cases[] = {
	{"fresh job creates one pod", SPEC(1, 1, 6, -1), {0}, SIM_JOB_RUNNING, NULL, T0, T0,
	 SIM_JOB_RUNNING, 1, 0, NULL, -1},
	{"one active: wait", SPEC(1, 1, 6, -1), {.active = 1}, SIM_JOB_RUNNING, NULL, T0, T0,
	 SIM_JOB_RUNNING, 0, 0, NULL, -1},
	{"parallelism caps by remaining completions", SPEC(5, 3, 6, -1), {.active = 1, .succeeded = 3},
	 SIM_JOB_RUNNING, NULL, T0, T0, SIM_JOB_RUNNING, 1, 0, NULL, -1},
	{"parallel start", SPEC(5, 3, 6, -1), {0}, SIM_JOB_RUNNING, NULL, T0, T0, SIM_JOB_RUNNING, 3, 0,
	 NULL, -1},
	{"completions reached, nothing running: Complete", SPEC(1, 1, 6, -1), {.succeeded = 1},
	 SIM_JOB_RUNNING, NULL, T0, T0, SIM_JOB_COMPLETE, 0, 0, "CompletionsReached", -1},
	{"completions reached, pods still running: SuccessCriteriaMet first", SPEC(2, 3, 6, -1),
	 {.succeeded = 2, .active = 1}, SIM_JOB_RUNNING, NULL, T0, T0, SIM_JOB_SUCCESS_TARGET, 0, 1,
	 "CompletionsReached", -1},
	{"failures within the limit: retry", SPEC(1, 1, 1, -1), {.failed = 1}, SIM_JOB_RUNNING, NULL, T0,
	 T0, SIM_JOB_RUNNING, 1, 0, NULL, -1},
	{"failures over the limit: Failed", SPEC(1, 1, 1, -1), {.failed = 2}, SIM_JOB_RUNNING, NULL, T0,
	 T0, SIM_JOB_FAILED, 0, 0, "BackoffLimitExceeded", -1},
	{"over the limit with a pod terminating: FailureTarget", SPEC(1, 2, 0, -1),
	 {.failed = 1, .terminating = 1}, SIM_JOB_RUNNING, NULL, T0, T0, SIM_JOB_FAILURE_TARGET, 0, 0,
	 "BackoffLimitExceeded", -1},
	{"deadline ahead: recheck then", SPEC(1, 1, 6, 10), {.active = 1}, SIM_JOB_RUNNING, NULL, T0,
	 T0 + 4000, SIM_JOB_RUNNING, 0, 0, NULL, T0 + 10000},
	{"deadline passed: DeadlineExceeded, delete active", SPEC(1, 1, 6, 10), {.active = 1},
	 SIM_JOB_RUNNING, NULL, T0, T0 + 10000, SIM_JOB_FAILURE_TARGET, 0, 1, "DeadlineExceeded", -1},
	{"failure target sticks until pods are gone", SPEC(1, 1, 6, 10), {0}, SIM_JOB_FAILURE_TARGET,
	 "DeadlineExceeded", T0, T0 + 20000, SIM_JOB_FAILED, 0, 0, "DeadlineExceeded", -1},
	{"terminal is final", SPEC(3, 1, 6, -1), {0}, SIM_JOB_COMPLETE, "CompletionsReached", T0, T0,
	 SIM_JOB_COMPLETE, 0, 0, "CompletionsReached", -1},
};

static void jobs__decide_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct decide_case *c = &cases[i];
		struct sim_job_decision d;

		sim_job_decide(&c->spec, &c->cnt, c->prev, c->prev_reason, c->start, c->now, &d);
		print_message("case: %s\n", c->name);
		assert_int_equal(d.state, c->state);
		assert_int_equal(d.create, c->create);
		assert_int_equal(d.delete_active, c->delete_active);
		if (c->reason)
			assert_string_equal(d.reason, c->reason);
		else
			assert_null(d.reason);
		assert_int_equal(d.recheck_ms, c->recheck);
	}
}

static void jobs__suspend_deletes_and_creates_nothing(void **state)
{
	struct sim_job_spec spec = SPEC(1, 1, 6, -1);
	struct sim_job_counts cnt = {.active = 1};
	struct sim_job_decision d;

	(void)state;
	spec.suspend = 1;
	sim_job_decide(&spec, &cnt, SIM_JOB_RUNNING, NULL, -1, T0, &d);
	assert_int_equal(d.create, 0);
	assert_true(d.delete_active);
}

static void jobs__spec_defaults(void **state)
{
	cJSON *job = cJSON_Parse("{\"spec\":{\"template\":{}}}");
	struct sim_job_spec spec;

	(void)state;
	sim_job_spec_read(job, &spec);
	assert_int_equal(spec.completions, 1);
	assert_int_equal(spec.parallelism, 1);
	assert_int_equal(spec.backoff_limit, 6);
	assert_int_equal(spec.deadline_s, -1);
	cJSON_Delete(job);
}

static const char *cond_field(const cJSON *st, const char *type, const char *field)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, sim_j_at(st, "conditions")) {
		if (strcmp(sim_j_str(c, "type"), type) == 0)
			return sim_j_str(c, field);
	}
	return NULL;
}

static void jobs__status_complete_and_read_back(void **state)
{
	struct sim_job_counts cnt = {.succeeded = 1};
	struct sim_job_decision d = {.state = SIM_JOB_COMPLETE, .reason = "CompletionsReached",
				     .message = "Reached expected number of succeeded pods"};
	cJSON *st = sim_job_status_build(NULL, &cnt, &d, T0, T0 + 2000);
	cJSON *job = cJSON_CreateObject();
	const char *reason;

	(void)state;
	assert_string_equal(sim_j_str(st, "startTime"), "2026-01-01T00:00:00Z");
	assert_string_equal(sim_j_str(st, "completionTime"), "2026-01-01T00:00:02Z");
	assert_int_equal(sim_j_int(st, "succeeded", -1), 1);
	assert_int_equal(sim_j_int(st, "active", -1), 0);
	assert_null(sim_j_at(st, "failed"));
	assert_string_equal(cond_field(st, "SuccessCriteriaMet", "status"), "True");
	assert_string_equal(cond_field(st, "Complete", "reason"), "CompletionsReached");
	cJSON_AddItemToObject(job, "status", st);
	assert_int_equal(sim_job_state_of(job, &reason), SIM_JOB_COMPLETE);
	assert_string_equal(reason, "CompletionsReached");
	cJSON_Delete(job);
}

static void jobs__status_failure_target_only(void **state)
{
	struct sim_job_counts cnt = {.failed = 2, .terminating = 1};
	struct sim_job_decision d = {.state = SIM_JOB_FAILURE_TARGET, .reason = "BackoffLimitExceeded",
				     .message = "Job has reached the specified backoff limit"};
	cJSON *st = sim_job_status_build(NULL, &cnt, &d, T0, T0 + 1000);
	cJSON *job = cJSON_CreateObject();
	const char *reason;

	(void)state;
	assert_null(sim_j_at(st, "completionTime"));
	assert_int_equal(sim_j_int(st, "failed", -1), 2);
	assert_int_equal(sim_j_int(st, "terminating", -1), 1);
	assert_string_equal(cond_field(st, "FailureTarget", "reason"), "BackoffLimitExceeded");
	assert_null(cond_field(st, "Failed", "status"));
	cJSON_AddItemToObject(job, "status", st);
	assert_int_equal(sim_job_state_of(job, &reason), SIM_JOB_FAILURE_TARGET);
	cJSON_Delete(job);
}

static void jobs__plan_apply_attempts_and_default(void **state)
{
	cJSON *pod = cJSON_Parse("{\"spec\":{\"restartPolicy\":\"Never\",\"initContainers\":[{\"name\":\"init\"}],"
				 "\"containers\":[{\"name\":\"main\"}]}}");
	cJSON *script = cJSON_Parse("{\"attempts\":[{\"containers\":{\"main\":{\"exitCode\":137,\"message\":\"oom\","
				    "\"durationMs\":50}}},{\"containers\":{}}],\"default\":{\"durationMs\":7}}");
	struct sim_pod_run *run = sim_pod_run_new(pod);

	(void)state;
	sim_job_plan_apply(run, script, 0, 0);
	assert_true(run->ctrs[0].plan.set);
	assert_int_equal(run->ctrs[0].plan.exit_code, 0);
	assert_int_equal(run->ctrs[0].plan.duration_ms, 7);
	assert_int_equal(run->ctrs[1].plan.exit_code, 137);
	assert_string_equal(run->ctrs[1].plan.reason, "OOMKilled");
	assert_string_equal(run->ctrs[1].plan.message, "oom");
	assert_int_equal(run->ctrs[1].plan.duration_ms, 50);
	/* Attempts past the list reuse the last one: success. */
	sim_job_plan_apply(run, script, 5, 0);
	assert_int_equal(run->ctrs[1].plan.exit_code, 0);
	assert_int_equal(run->ctrs[1].plan.duration_ms, 7);
	/* No script: success at once. */
	sim_job_plan_apply(run, NULL, 0, 0);
	assert_int_equal(run->ctrs[1].plan.exit_code, 0);
	assert_int_equal(run->ctrs[1].plan.duration_ms, 0);
	sim_pod_run_free(run);
	cJSON_Delete(script);
	cJSON_Delete(pod);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(jobs__decide_table),
		cmocka_unit_test(jobs__suspend_deletes_and_creates_nothing),
		cmocka_unit_test(jobs__spec_defaults),
		cmocka_unit_test(jobs__status_complete_and_read_back),
		cmocka_unit_test(jobs__status_failure_target_only),
		cmocka_unit_test(jobs__plan_apply_attempts_and_default),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
