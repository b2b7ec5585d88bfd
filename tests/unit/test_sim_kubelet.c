/* The simulated kubelet's pure parts: a pod's container timeline, faults and the status it
 * builds (phase, conditions, containerStatuses), and the QoS class. Times are passed in. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "sim_controllers.h"
#include "sim_kubelet.h"

#define T0 INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */

static cJSON *pod_from(const char *json)
{
	cJSON *p = cJSON_Parse(json);

	assert_non_null(p);
	return p;
}

static struct sim_pod_run *run_from(const char *json)
{
	cJSON *pod = pod_from(json);
	struct sim_pod_run *run = sim_pod_run_new(pod);

	assert_non_null(run);
	cJSON_Delete(pod);
	run->node = strdup("kubesim-node-1");
	strcpy(run->host_ip, "172.18.0.2");
	strcpy(run->pod_ip, "10.244.0.2");
	return run;
}

static const char *ONE = "{\"metadata\":{\"uid\":\"u1\"},\"spec\":{\"containers\":[{\"name\":\"app\","
			 "\"image\":\"nginx\",\"readinessProbe\":{}}]}}";

static const char *cond(const cJSON *st, const char *type, const char *field)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, sim_j_at(st, "conditions")) {
		if (strcmp(sim_j_str(c, "type"), type) == 0)
			return sim_j_str(c, field);
	}
	return NULL;
}

static const cJSON *ctr0(const cJSON *st)
{
	return cJSON_GetArrayItem(sim_j_at(st, "containerStatuses"), 0);
}

static void kubelet__pending_before_start(void **state)
{
	struct sim_pod_run *run = run_from(ONE);
	cJSON *st = sim_pod_status_build(run, "BestEffort", T0);

	(void)state;
	assert_string_equal(sim_j_str(st, "phase"), "Pending");
	assert_string_equal(cond(st, "PodScheduled", "status"), "True");
	assert_string_equal(cond(st, "Ready", "status"), "False");
	assert_string_equal(cond(st, "Ready", "reason"), "ContainersNotReady");
	assert_string_equal(sim_j_str(ctr0(st), "state.waiting.reason"), "ContainerCreating");
	assert_null(sim_j_at(st, "podIP"));
	assert_string_equal(sim_j_str(st, "hostIP"), "172.18.0.2");
	cJSON_Delete(st);
	sim_pod_run_free(run);
}

static void kubelet__start_running_ready(void **state)
{
	struct sim_pod_run *run = run_from(ONE);
	cJSON *st;

	(void)state;
	sim_pod_run_start(run, T0);
	assert_true(sim_pod_run_ready(run));
	st = sim_pod_status_build(run, "BestEffort", T0);
	assert_string_equal(sim_j_str(st, "phase"), "Running");
	assert_string_equal(cond(st, "PodScheduled", "status"), "True");
	assert_string_equal(cond(st, "PodReadyToStartContainers", "status"), "True");
	assert_string_equal(cond(st, "Initialized", "status"), "True");
	assert_string_equal(cond(st, "ContainersReady", "status"), "True");
	assert_string_equal(cond(st, "Ready", "status"), "True");
	assert_string_equal(sim_j_str(st, "podIP"), "10.244.0.2");
	assert_string_equal(sim_j_str(st, "startTime"), "2026-01-01T00:00:00Z");
	assert_string_equal(sim_j_str(st, "qosClass"), "BestEffort");
	assert_true(sim_j_bool(ctr0(st), "ready", 0));
	assert_true(sim_j_bool(ctr0(st), "started", 0));
	assert_int_equal(sim_j_int(ctr0(st), "restartCount", -1), 0);
	assert_string_equal(sim_j_str(ctr0(st), "state.running.startedAt"), "2026-01-01T00:00:00Z");
	assert_non_null(sim_j_str(ctr0(st), "containerID"));
	assert_string_equal(sim_j_str(ctr0(st), "image"), "nginx");
	cJSON_Delete(st);
	sim_pod_run_free(run);
}

static void kubelet__transition_time_kept_while_unchanged(void **state)
{
	struct sim_pod_run *run = run_from(ONE);
	cJSON *a, *b;

	(void)state;
	sim_pod_run_start(run, T0);
	a = sim_pod_status_build(run, NULL, T0);
	b = sim_pod_status_build(run, NULL, T0 + 5000);
	assert_string_equal(cond(a, "Ready", "lastTransitionTime"), cond(b, "Ready", "lastTransitionTime"));
	run->readiness_failed = 1;
	cJSON_Delete(b);
	b = sim_pod_status_build(run, NULL, T0 + 7000);
	assert_string_equal(cond(b, "Ready", "lastTransitionTime"), "2026-01-01T00:00:07Z");
	cJSON_Delete(a);
	cJSON_Delete(b);
	sim_pod_run_free(run);
}

static void kubelet__readiness_failure_keeps_running(void **state)
{
	struct sim_pod_run *run = run_from(ONE);
	cJSON *st;

	(void)state;
	sim_pod_run_start(run, T0);
	run->readiness_failed = 1;
	assert_false(sim_pod_run_ready(run));
	st = sim_pod_status_build(run, NULL, T0 + 10);
	assert_string_equal(sim_j_str(st, "phase"), "Running");
	assert_string_equal(cond(st, "Ready", "status"), "False");
	assert_string_equal(cond(st, "ContainersReady", "status"), "False");
	assert_string_equal(cond(st, "Ready", "message"), "containers with unready status: [app]");
	assert_false(sim_j_bool(ctr0(st), "ready", 1));
	assert_non_null(sim_j_at(ctr0(st), "state.running"));
	cJSON_Delete(st);
	sim_pod_run_restore(run, T0 + 20);
	assert_true(sim_pod_run_ready(run));
	sim_pod_run_free(run);
}

static void kubelet__crash_then_restart(void **state)
{
	struct sim_pod_run *run = run_from(ONE);
	cJSON *st;

	(void)state;
	sim_pod_run_start(run, T0);
	assert_int_equal(sim_pod_run_kill(run, NULL, 1, "Error", T0 + 1000, 100, 0), 0);
	st = sim_pod_status_build(run, NULL, T0 + 1000);
	assert_string_equal(sim_j_str(st, "phase"), "Running");
	assert_string_equal(sim_j_str(ctr0(st), "state.waiting.reason"), "CrashLoopBackOff");
	assert_int_equal(sim_j_int(ctr0(st), "restartCount", -1), 1);
	assert_string_equal(sim_j_str(ctr0(st), "lastState.terminated.reason"), "Error");
	assert_int_equal(sim_j_int(ctr0(st), "lastState.terminated.exitCode", -1), 1);
	assert_false(sim_j_bool(ctr0(st), "ready", 1));
	cJSON_Delete(st);
	assert_int_equal(sim_pod_run_advance(run, T0 + 1050), T0 + 1100);
	assert_false(sim_pod_run_ready(run));
	assert_int_equal(sim_pod_run_advance(run, T0 + 1100), -1);
	assert_true(sim_pod_run_ready(run));
	st = sim_pod_status_build(run, NULL, T0 + 1100);
	assert_string_equal(sim_j_str(ctr0(st), "state.running.startedAt"), "2026-01-01T00:00:01Z");
	assert_int_equal(sim_j_int(ctr0(st), "restartCount", -1), 1);
	cJSON_Delete(st);
	sim_pod_run_free(run);
}

static void kubelet__oom_stays_down_until_restored(void **state)
{
	struct sim_pod_run *run = run_from(ONE);
	cJSON *st;

	(void)state;
	sim_pod_run_start(run, T0);
	assert_int_equal(sim_pod_run_kill(run, "app", 137, "OOMKilled", T0 + 10, 100, 1), 0);
	assert_int_equal(sim_pod_run_advance(run, T0 + 100000), -1);
	assert_false(sim_pod_run_ready(run));
	st = sim_pod_status_build(run, NULL, T0 + 100000);
	assert_string_equal(sim_j_str(ctr0(st), "lastState.terminated.reason"), "OOMKilled");
	assert_int_equal(sim_j_int(ctr0(st), "lastState.terminated.exitCode", -1), 137);
	assert_int_equal(sim_j_int(ctr0(st), "lastState.terminated.signal", -1), 9);
	cJSON_Delete(st);
	sim_pod_run_restore(run, T0 + 100001);
	assert_true(sim_pod_run_ready(run));
	assert_int_equal(sim_pod_run_kill(run, "nope", 1, "Error", T0, 0, 0), -1);
	sim_pod_run_free(run);
}

static void kubelet__restart_never_fails_the_pod(void **state)
{
	struct sim_pod_run *run = run_from("{\"spec\":{\"restartPolicy\":\"Never\",\"containers\":"
					   "[{\"name\":\"a\",\"image\":\"x\"}]}}");
	cJSON *st;

	(void)state;
	sim_pod_run_start(run, T0);
	assert_int_equal(sim_pod_run_kill(run, NULL, 1, "Error", T0 + 5, 100, 0), 0);
	assert_int_equal(run->phase, SIM_POD_FAILED);
	st = sim_pod_status_build(run, NULL, T0 + 5);
	assert_string_equal(sim_j_str(st, "phase"), "Failed");
	assert_string_equal(sim_j_str(ctr0(st), "state.terminated.reason"), "Error");
	assert_int_equal(sim_j_int(ctr0(st), "restartCount", -1), 0);
	cJSON_Delete(st);
	sim_pod_run_free(run);
}

static void kubelet__planned_init_then_main_in_order(void **state)
{
	struct sim_pod_run *run = run_from("{\"spec\":{\"restartPolicy\":\"Never\",\"initContainers\":"
					   "[{\"name\":\"init\",\"image\":\"x\"}],\"containers\":"
					   "[{\"name\":\"a\",\"image\":\"x\"},{\"name\":\"b\",\"image\":\"x\"}]}}");
	cJSON *st;

	(void)state;
	run->ctrs[0].plan = (struct sim_ctr_plan){.set = 1, .exit_code = 0, .duration_ms = 10};
	run->ctrs[1].plan = (struct sim_ctr_plan){.set = 1, .exit_code = 0, .duration_ms = 20};
	run->ctrs[2].plan = (struct sim_ctr_plan){.set = 1, .exit_code = 0, .duration_ms = 5};
	sim_pod_run_start(run, T0);
	assert_int_equal(run->phase, SIM_POD_PENDING);
	st = sim_pod_status_build(run, NULL, T0);
	assert_string_equal(cond(st, "Initialized", "status"), "False");
	assert_string_equal(cond(st, "Initialized", "message"), "containers with incomplete status: [init]");
	cJSON_Delete(st);
	assert_int_equal(sim_pod_run_advance(run, T0 + 9), T0 + 10);
	assert_int_equal(sim_pod_run_advance(run, T0 + 10), T0 + 30);
	assert_int_equal(run->phase, SIM_POD_RUNNING);
	assert_int_equal(run->ctrs[1].state, SIM_CTR_RUNNING);
	assert_int_equal(run->ctrs[2].state, SIM_CTR_WAITING); /* in order: b waits for a */
	assert_int_equal(sim_pod_run_advance(run, T0 + 40), -1);
	assert_int_equal(run->phase, SIM_POD_SUCCEEDED);
	st = sim_pod_status_build(run, NULL, T0 + 40);
	assert_string_equal(sim_j_str(st, "phase"), "Succeeded");
	assert_string_equal(sim_j_str(ctr0(st), "state.terminated.reason"), "Completed");
	assert_string_equal(cond(st, "Ready", "reason"), "PodCompleted");
	assert_string_equal(sim_j_str(cJSON_GetArrayItem(sim_j_at(st, "initContainerStatuses"), 0),
				      "state.terminated.reason"), "Completed");
	cJSON_Delete(st);
	sim_pod_run_free(run);
}

static void kubelet__planned_failure_with_message(void **state)
{
	struct sim_pod_run *run = run_from("{\"spec\":{\"restartPolicy\":\"Never\",\"containers\":"
					   "[{\"name\":\"a\",\"image\":\"x\"}]}}");
	cJSON *st;

	(void)state;
	run->ctrs[0].plan = (struct sim_ctr_plan){.set = 1, .exit_code = 137, .duration_ms = 0};
	strcpy(run->ctrs[0].plan.reason, "OOMKilled");
	strcpy(run->ctrs[0].plan.message, "out of memory");
	sim_pod_run_start(run, T0);
	assert_int_equal(run->phase, SIM_POD_FAILED);
	st = sim_pod_status_build(run, NULL, T0);
	assert_string_equal(sim_j_str(ctr0(st), "state.terminated.reason"), "OOMKilled");
	assert_string_equal(sim_j_str(ctr0(st), "state.terminated.message"), "out of memory");
	assert_int_equal(sim_j_int(ctr0(st), "state.terminated.exitCode", -1), 137);
	cJSON_Delete(st);
	sim_pod_run_free(run);
}

static void kubelet__set_phase_and_node_down(void **state)
{
	struct sim_pod_run *run = run_from(ONE);
	cJSON *st;

	(void)state;
	sim_pod_run_start(run, T0);
	run->node_down = 1;
	run->phase = SIM_POD_UNKNOWN;
	st = sim_pod_status_build(run, NULL, T0);
	assert_string_equal(sim_j_str(st, "phase"), "Unknown");
	assert_string_equal(cond(st, "Ready", "status"), "False");
	assert_string_equal(cond(st, "Ready", "reason"), "NodeLost");
	assert_false(sim_j_bool(ctr0(st), "ready", 1));
	cJSON_Delete(st);
	run->node_down = 0;
	sim_pod_run_set_phase(run, SIM_POD_FAILED, "Evicted", "The node was low on memory.", T0 + 1);
	st = sim_pod_status_build(run, NULL, T0 + 1);
	assert_string_equal(sim_j_str(st, "phase"), "Failed");
	assert_string_equal(sim_j_str(st, "reason"), "Evicted");
	assert_string_equal(sim_j_str(ctr0(st), "state.terminated.reason"), "Error");
	cJSON_Delete(st);
	assert_int_equal(sim_pod_phase_parse("Succeeded"), SIM_POD_SUCCEEDED);
	assert_int_equal(sim_pod_phase_parse("Bogus"), -1);
	sim_pod_run_free(run);
}

static void kubelet__qos_class(void **state)
{
	static const struct {
		const char *spec;
		const char *want;
	} cases[] = {
		{"{\"containers\":[{\"name\":\"a\"}]}", "BestEffort"},
		{"{\"containers\":[{\"name\":\"a\",\"resources\":{\"requests\":{\"cpu\":\"100m\"}}}]}", "Burstable"},
		{"{\"containers\":[{\"name\":\"a\",\"resources\":{\"limits\":{\"cpu\":\"1\",\"memory\":\"1Gi\"}}}]}",
		 "Guaranteed"},
		{"{\"containers\":[{\"name\":\"a\",\"resources\":{\"requests\":{\"cpu\":\"1\",\"memory\":\"1Gi\"},"
		 "\"limits\":{\"cpu\":\"2\",\"memory\":\"1Gi\"}}}]}", "Burstable"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *pod = cJSON_CreateObject();

		cJSON_AddItemToObject(pod, "spec", cJSON_Parse(cases[i].spec));
		assert_string_equal(sim_pod_qos_class(pod), cases[i].want);
		cJSON_Delete(pod);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(kubelet__pending_before_start),
		cmocka_unit_test(kubelet__start_running_ready),
		cmocka_unit_test(kubelet__transition_time_kept_while_unchanged),
		cmocka_unit_test(kubelet__readiness_failure_keeps_running),
		cmocka_unit_test(kubelet__crash_then_restart),
		cmocka_unit_test(kubelet__oom_stays_down_until_restored),
		cmocka_unit_test(kubelet__restart_never_fails_the_pod),
		cmocka_unit_test(kubelet__planned_init_then_main_in_order),
		cmocka_unit_test(kubelet__planned_failure_with_message),
		cmocka_unit_test(kubelet__set_phase_and_node_down),
		cmocka_unit_test(kubelet__qos_class),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
