/* The endpoints controller's pure parts: Endpoints and EndpointSlices from a Service and pods,
 * the ready set, and the history statistics tests rely on to prove "never zero endpoints". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "sim_controllers.h"
#include "sim_endpoints.h"

static const char *SVC = "{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\",\"uid\":\"s1\"},"
			 "\"spec\":{\"selector\":{\"app\":\"web\"},\"ports\":[{\"name\":\"http\",\"port\":80,"
			 "\"targetPort\":\"http\"}]}}";

/* A pod: name, app label, ready?, extra metadata (e.g. deletionTimestamp), phase, ip, port name */
static cJSON *pod(const char *name, const char *app, int ready, const char *extra_meta,
		  const char *phase, const char *ip, const char *port_name)
{
	char buf[1024];
	cJSON *p;

	snprintf(buf, sizeof(buf),
		 "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",\"uid\":\"u-%s\","
		 "\"labels\":{\"app\":\"%s\"}%s},"
		 "\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"c\",\"ports\":[{\"name\":\"%s\","
		 "\"containerPort\":8080}]}]},"
		 "\"status\":{\"phase\":\"%s\",%s\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\"}]}}",
		 name, name, app, extra_meta, port_name, phase, ip, ready ? "True" : "False");
	p = cJSON_Parse(buf);
	assert_non_null(p);
	return p;
}

#define IP(x) "\"podIP\":\"" x "\","

static void names_of(const cJSON *arr, char *buf, size_t len)
{
	const cJSON *a;
	size_t off = 0;

	buf[0] = '\0';
	cJSON_ArrayForEach(a, arr) {
		off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? " " : "",
					sim_j_str(a, "targetRef.name"));
	}
}

static void endpoints__addresses_and_not_ready(void **state)
{
	cJSON *svc = cJSON_Parse(SVC);
	cJSON *pods[7];
	cJSON *ep, *subset;
	char buf[256];
	size_t i;

	(void)state;
	pods[0] = pod("b-ready", "web", 1, "", "Running", IP("10.0.0.2"), "http");
	pods[1] = pod("a-ready", "web", 1, "", "Running", IP("10.0.0.1"), "http");
	pods[2] = pod("c-unready", "web", 0, "", "Running", IP("10.0.0.3"), "http");
	pods[3] = pod("d-terminating", "web", 1, ",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"", "Running",
		      IP("10.0.0.4"), "http");
	pods[4] = pod("e-other", "db", 1, "", "Running", IP("10.0.0.5"), "http");
	pods[5] = pod("f-noip", "web", 0, "", "Pending", "", "http");
	pods[6] = pod("g-failed", "web", 0, "", "Failed", IP("10.0.0.7"), "http");
	ep = sim_endpoints_build(svc, (const cJSON *const *)pods, 7);
	assert_non_null(ep);
	assert_string_equal(sim_j_str(ep, "kind"), "Endpoints");
	assert_string_equal(sim_j_str(ep, "metadata.name"), "web");
	assert_int_equal(cJSON_GetArraySize(sim_j_at(ep, "subsets")), 1);
	subset = cJSON_GetArrayItem(sim_j_at(ep, "subsets"), 0);
	names_of(cJSON_GetObjectItem(subset, "addresses"), buf, sizeof(buf));
	assert_string_equal(buf, "a-ready b-ready");
	names_of(cJSON_GetObjectItem(subset, "notReadyAddresses"), buf, sizeof(buf));
	assert_string_equal(buf, "c-unready");
	assert_int_equal(sim_j_int(cJSON_GetArrayItem(cJSON_GetObjectItem(subset, "ports"), 0), "port", 0), 8080);
	assert_string_equal(sim_j_str(cJSON_GetArrayItem(cJSON_GetObjectItem(subset, "ports"), 0), "name"),
			    "http");
	assert_true(sim_endpoints_pod_ready(pods[0]));
	assert_false(sim_endpoints_pod_ready(pods[3]));
	assert_false(sim_endpoints_pod_listed(pods[5], 0));
	cJSON_Delete(ep);
	for (i = 0; i < 7; i++)
		cJSON_Delete(pods[i]);
	cJSON_Delete(svc);
}

static void endpoints__empty_and_selectorless(void **state)
{
	cJSON *svc = cJSON_Parse(SVC);
	cJSON *nosel = cJSON_Parse("{\"metadata\":{\"name\":\"x\",\"namespace\":\"default\"},\"spec\":{}}");
	cJSON *ep = sim_endpoints_build(svc, NULL, 0);

	(void)state;
	assert_non_null(ep);
	assert_null(sim_j_at(ep, "subsets"));
	cJSON_Delete(ep);
	assert_null(sim_endpoints_build(nosel, NULL, 0));
	cJSON_Delete(nosel);
	cJSON_Delete(svc);
}

static void endpoints__named_port_missing_and_numeric(void **state)
{
	cJSON *svc = cJSON_Parse(SVC);
	cJSON *num = cJSON_Parse("{\"metadata\":{\"name\":\"n\",\"namespace\":\"default\"},\"spec\":{\"selector\":"
				 "{\"app\":\"web\"},\"ports\":[{\"port\":80,\"targetPort\":9090}]}}");
	cJSON *pods[2];
	cJSON *ep;
	char buf[256];

	(void)state;
	pods[0] = pod("a", "web", 1, "", "Running", IP("10.0.0.1"), "http");
	pods[1] = pod("b", "web", 1, "", "Running", IP("10.0.0.2"), "metrics");
	ep = sim_endpoints_build(svc, (const cJSON *const *)pods, 2);
	names_of(sim_j_at(cJSON_GetArrayItem(sim_j_at(ep, "subsets"), 0), "addresses"), buf, sizeof(buf));
	assert_string_equal(buf, "a"); /* b has no port named http */
	cJSON_Delete(ep);
	ep = sim_endpoints_build(num, (const cJSON *const *)pods, 2);
	names_of(sim_j_at(cJSON_GetArrayItem(sim_j_at(ep, "subsets"), 0), "addresses"), buf, sizeof(buf));
	assert_string_equal(buf, "a b");
	assert_int_equal(sim_j_int(cJSON_GetArrayItem(sim_j_at(cJSON_GetArrayItem(sim_j_at(ep, "subsets"), 0),
								 "ports"), 0), "port", 0), 9090);
	cJSON_Delete(ep);
	cJSON_Delete(pods[0]);
	cJSON_Delete(pods[1]);
	cJSON_Delete(num);
	cJSON_Delete(svc);
}

static void endpoints__slice_marks_terminating(void **state)
{
	cJSON *svc = cJSON_Parse(SVC);
	cJSON *pods[2];
	cJSON *es;
	const cJSON *e0, *e1;

	(void)state;
	pods[0] = pod("a", "web", 1, "", "Running", IP("10.0.0.1"), "http");
	pods[1] = pod("b", "web", 1, ",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"", "Running",
		      IP("10.0.0.2"), "http");
	es = sim_endpointslice_build(svc, (const cJSON *const *)pods, 2, "web-abcde");
	assert_string_equal(cJSON_GetObjectItem(sim_j_at(es, "metadata.labels"),
						"kubernetes.io/service-name")->valuestring, "web");
	assert_string_equal(sim_j_str(es, "addressType"), "IPv4");
	assert_int_equal(cJSON_GetArraySize(sim_j_at(es, "endpoints")), 2);
	e0 = cJSON_GetArrayItem(sim_j_at(es, "endpoints"), 0);
	e1 = cJSON_GetArrayItem(sim_j_at(es, "endpoints"), 1);
	assert_true(sim_j_bool(e0, "conditions.ready", 0));
	assert_false(sim_j_bool(e1, "conditions.ready", 1));
	assert_true(sim_j_bool(e1, "conditions.serving", 0));
	assert_true(sim_j_bool(e1, "conditions.terminating", 0));
	assert_string_equal(sim_j_str(cJSON_GetArrayItem(sim_j_at(es, "metadata.ownerReferences"), 0), "uid"),
			    "s1");
	cJSON_Delete(es);
	cJSON_Delete(pods[0]);
	cJSON_Delete(pods[1]);
	cJSON_Delete(svc);
}

/* publishNotReadyAddresses: upstream keeps terminating and not-ready pods as ready addresses
 * (ShouldPodBeInEndpoints(pod, includeTerminating = publishNotReadyAddresses)); terminal pods
 * still go. An operator that owns membership through labels relies on this. */
static void endpoints__publish_not_ready_keeps_terminating(void **state)
{
	cJSON *svc = cJSON_Parse(SVC);
	cJSON *pods[4], *ep, *es;
	const cJSON *subset, *e;
	char buf[256];
	char **names = NULL;
	long n;
	size_t i;

	(void)state;
	cJSON_AddBoolToObject(cJSON_GetObjectItem(svc, "spec"), "publishNotReadyAddresses", 1);
	pods[0] = pod("a-ready", "web", 1, "", "Running", IP("10.0.0.1"), "http");
	pods[1] = pod("b-terminating", "web", 1, ",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"",
		      "Running", IP("10.0.0.2"), "http");
	pods[2] = pod("c-unready", "web", 0, "", "Running", IP("10.0.0.3"), "http");
	pods[3] = pod("d-failed", "web", 0, "", "Failed", IP("10.0.0.4"), "http");
	ep = sim_endpoints_build(svc, (const cJSON *const *)pods, 4);
	subset = cJSON_GetArrayItem(sim_j_at(ep, "subsets"), 0);
	names_of(cJSON_GetObjectItem(subset, "addresses"), buf, sizeof(buf));
	assert_string_equal(buf, "a-ready b-terminating c-unready");
	assert_null(cJSON_GetObjectItem(subset, "notReadyAddresses"));
	es = sim_endpointslice_build(svc, (const cJSON *const *)pods, 4, "web-abcde");
	assert_int_equal(cJSON_GetArraySize(sim_j_at(es, "endpoints")), 3);
	cJSON_ArrayForEach(e, sim_j_at(es, "endpoints"))
		assert_true(sim_j_bool(e, "conditions.ready", 0));
	n = sim_endpoints_ready_names(svc, (const cJSON *const *)pods, 4, &names);
	assert_int_equal(n, 3);
	sim_names_free(names, (size_t)n);
	cJSON_Delete(es);
	cJSON_Delete(ep);
	for (i = 0; i < 4; i++)
		cJSON_Delete(pods[i]);
	cJSON_Delete(svc);
}

static void endpoints__ready_names_sorted(void **state)
{
	cJSON *svc = cJSON_Parse(SVC);
	cJSON *pods[3];
	char **names = NULL;
	long n;

	(void)state;
	pods[0] = pod("zeta", "web", 1, "", "Running", IP("10.0.0.1"), "http");
	pods[1] = pod("alpha", "web", 1, "", "Running", IP("10.0.0.2"), "http");
	pods[2] = pod("mid", "web", 0, "", "Running", IP("10.0.0.3"), "http");
	n = sim_endpoints_ready_names(svc, (const cJSON *const *)pods, 3, &names);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "alpha");
	assert_string_equal(names[1], "zeta");
	sim_names_free(names, (size_t)n);
	cJSON_Delete(pods[0]);
	cJSON_Delete(pods[1]);
	cJSON_Delete(pods[2]);
	cJSON_Delete(svc);
}

static void history__stats(void **state)
{
	struct sim_ep_history *h = sim_ep_history_new();
	char *ab[] = {"b", "a"}, *a[] = {"a"}, *c[] = {"c"}, *ac[] = {"a", "c"};
	struct sim_ep_stats st;
	int64_t z[4];

	(void)state;
	assert_int_equal(sim_ep_history_add(h, 100, 1000, NULL, 0), 1);  /* created, empty */
	assert_int_equal(sim_ep_history_add(h, 150, 1050, ab, 2), 1);
	assert_int_equal(sim_ep_history_add(h, 160, 1060, ab, 2), 0);  /* unchanged: skipped */
	assert_int_equal(sim_ep_history_add(h, 200, 1100, a, 1), 1);
	assert_int_equal(sim_ep_history_add(h, 300, 1200, NULL, 0), 1); /* a gap of 5 ms */
	assert_int_equal(sim_ep_history_add(h, 305, 1205, c, 1), 1);
	assert_int_equal(sim_ep_history_add(h, 305, 1205, ac, 2), 1);
	assert_int_equal(sim_ep_history_add(h, 400, 1300, c, 1), 1);
	assert_int_equal(sim_ep_history_len(h), 7);

	sim_ep_history_stats(h, -1, 500, &st, z, 4);
	assert_int_equal(st.entries, 7);
	assert_int_equal(st.min_ready, 0);
	assert_int_equal(st.max_ready, 2);
	assert_int_equal(st.zero_moments, 2);
	assert_int_equal(z[0], 50);
	assert_int_equal(z[1], 5);
	assert_int_equal(st.zero_total_ms, 55);
	assert_int_equal(st.zero_max_ms, 50);
	assert_int_equal(st.multi_moments, 2);

	/* From 250: the state then (a) counts, the 5 ms gap too. */
	sim_ep_history_stats(h, 250, 500, &st, NULL, 0);
	assert_int_equal(st.from_ms, 250);
	assert_int_equal(st.entries, 5);
	assert_int_equal(st.min_ready, 0);
	assert_int_equal(st.zero_moments, 1);
	assert_int_equal(st.zero_total_ms, 5);

	/* From 350: the state in force then (a c), and the last one. */
	sim_ep_history_stats(h, 350, 500, &st, NULL, 0);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.min_ready, 1);
	assert_int_equal(st.max_ready, 2);
	assert_int_equal(st.zero_moments, 0);

	/* Reset keeps the state in force, re-stamped. */
	sim_ep_history_reset(h, 600, 1500);
	assert_int_equal(sim_ep_history_len(h), 1);
	sim_ep_history_stats(h, -1, 700, &st, NULL, 0);
	assert_int_equal(st.from_ms, 600);
	assert_int_equal(st.min_ready, 1);
	assert_int_equal(st.zero_moments, 0);
	sim_ep_history_free(h);
}

static void history__json(void **state)
{
	struct sim_ep_history *h = sim_ep_history_new();
	char *a[] = {"a"};
	cJSON *j;

	(void)state;
	sim_ep_history_add(h, 10, 1767225600000, a, 1);
	sim_ep_history_add(h, 20, 1767225600010, NULL, 0);
	j = sim_ep_history_json(h, -1, 30);
	assert_int_equal(cJSON_GetArraySize(sim_j_at(j, "entries")), 2);
	assert_string_equal(sim_j_str(cJSON_GetArrayItem(sim_j_at(j, "entries"), 0), "time"),
			    "2026-01-01T00:00:00.000Z");
	assert_int_equal(sim_j_int(j, "stats.zeroMoments", -1), 1);
	assert_int_equal(sim_j_int(j, "stats.zeroMaxMs", -1), 10);
	assert_int_equal(cJSON_GetArraySize(sim_j_at(j, "zeroDurationsMs")), 1);
	cJSON_Delete(j);
	j = sim_ep_history_json(NULL, -1, 30);
	assert_int_equal(sim_j_int(j, "stats.minReady", 0), -1);
	cJSON_Delete(j);
	sim_ep_history_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(endpoints__addresses_and_not_ready),
		cmocka_unit_test(endpoints__empty_and_selectorless),
		cmocka_unit_test(endpoints__named_port_missing_and_numeric),
		cmocka_unit_test(endpoints__slice_marks_terminating),
		cmocka_unit_test(endpoints__publish_not_ready_keeps_terminating),
		cmocka_unit_test(endpoints__ready_names_sorted),
		cmocka_unit_test(history__stats),
		cmocka_unit_test(history__json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
