/* kubesim --run-pods, the pure parts: CrashLoopBackOff delays, the probe result state machine
 * (thresholds, initial delay, period), probe specs, termination message truncation, image
 * resolution (--image-map, the image store, a bare command, pull failures), quantities and the
 * log tail. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "kube_error.h"
#include "sim_podlog.h"
#include "sim_probe.h"
#include "sim_runtime.h"

static void runtime__backoff_doubles_to_five_minutes(void **state)
{
	static const struct {
		int restarts;
		int64_t want;
	} cases[] = {{0, 0}, {1, 10000}, {2, 20000}, {3, 40000}, {4, 80000}, {5, 160000},
		     {6, 300000}, {7, 300000}, {100, 300000}};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(sim_rt_backoff_ms(cases[i].restarts, 1), cases[i].want);
	assert_int_equal(sim_rt_backoff_ms(2, 0.1), 2000);
	assert_int_equal(sim_rt_backoff_ms(1, 0), 10000); /* a bad scale is 1 */
}

static cJSON *parse(const char *s)
{
	cJSON *j = cJSON_Parse(s);

	assert_non_null(j);
	return j;
}

static void probe__spec_defaults_and_named_port(void **state)
{
	cJSON *ctr = parse("{\"ports\":[{\"name\":\"http\",\"containerPort\":8080}]}");
	cJSON *p = parse("{\"httpGet\":{\"port\":\"http\"}}");
	cJSON *bad = parse("{\"httpGet\":{\"port\":\"nope\"}}");
	cJSON *none = parse("{\"periodSeconds\":3}");
	cJSON *ex = parse("{\"exec\":{\"command\":[\"true\"]},\"periodSeconds\":2,"
			  "\"timeoutSeconds\":5,\"successThreshold\":2,\"failureThreshold\":4,"
			  "\"initialDelaySeconds\":7}");
	struct sim_probe_spec s;

	(void)state;
	assert_int_equal(sim_probe_spec_read(p, ctr, &s), 0);
	assert_int_equal(s.kind, SIM_PROBE_HTTP);
	assert_int_equal(s.port, 8080);
	assert_string_equal(s.path, "/");
	assert_int_equal(s.period_ms, 10000);
	assert_int_equal(s.timeout_ms, 1000);
	assert_int_equal(s.success_threshold, 1);
	assert_int_equal(s.failure_threshold, 3);
	assert_int_equal(s.initial_delay_ms, 0);
	assert_int_equal(sim_probe_spec_read(bad, ctr, &s), KUBE_EINVAL);
	assert_int_equal(s.kind, SIM_PROBE_NONE);
	assert_int_equal(sim_probe_spec_read(none, ctr, &s), KUBE_EINVAL);
	assert_int_equal(sim_probe_spec_read(ex, ctr, &s), 0);
	assert_int_equal(s.kind, SIM_PROBE_EXEC);
	assert_int_equal(s.period_ms, 2000);
	assert_int_equal(s.timeout_ms, 5000);
	assert_int_equal(s.success_threshold, 2);
	assert_int_equal(s.failure_threshold, 4);
	assert_int_equal(s.initial_delay_ms, 7000);
	cJSON_Delete(ctr);
	cJSON_Delete(p);
	cJSON_Delete(bad);
	cJSON_Delete(none);
	cJSON_Delete(ex);
}

static void probe__thresholds_flip_the_result(void **state)
{
	struct sim_probe_spec spec = {.kind = SIM_PROBE_TCP, .period_ms = 1000, .initial_delay_ms = 5000,
				      .success_threshold = 2, .failure_threshold = 3};
	struct sim_probe_state st;

	(void)state;
	sim_probe_state_init(&st, &spec, 0, 100);
	assert_int_equal(st.result, 0);
	assert_int_equal(st.next_ms, 5100); /* initialDelaySeconds */
	assert_int_equal(sim_probe_record(&st, &spec, 1, 5100), 0);
	assert_int_equal(st.result, 0); /* one success of two */
	assert_int_equal(st.next_ms, 6100);
	assert_int_equal(sim_probe_record(&st, &spec, 1, 6100), 1);
	assert_int_equal(st.result, 1);
	assert_int_equal(sim_probe_record(&st, &spec, 0, 7100), 0);
	assert_int_equal(sim_probe_record(&st, &spec, 0, 8100), 0);
	assert_int_equal(st.result, 1); /* two failures of three */
	assert_int_equal(sim_probe_record(&st, &spec, 1, 9100), 0); /* the run is broken */
	assert_int_equal(sim_probe_record(&st, &spec, 0, 10100), 0);
	assert_int_equal(sim_probe_record(&st, &spec, 0, 11100), 0);
	assert_int_equal(sim_probe_record(&st, &spec, 0, 12100), 1);
	assert_int_equal(st.result, 0);
	/* Liveness starts out successful. */
	sim_probe_state_init(&st, &spec, 1, 0);
	assert_int_equal(st.result, 1);
}

static void probe__http_status_lines(void **state)
{
	(void)state;
	assert_int_equal(sim_probe_http_ok("HTTP/1.1 200 OK\r\n"), 1);
	assert_int_equal(sim_probe_http_ok("HTTP/1.0 302 Found"), 1);
	assert_int_equal(sim_probe_http_ok("HTTP/1.1 399 X"), 1);
	assert_int_equal(sim_probe_http_ok("HTTP/1.1 404 Not Found"), 0);
	assert_int_equal(sim_probe_http_ok("HTTP/1.1 500 Oops"), 0);
	assert_int_equal(sim_probe_http_ok("HTTP/1.1 199 Early"), 0);
	assert_int_equal(sim_probe_http_ok("garbage"), 0);
	assert_int_equal(sim_probe_http_ok(NULL), 0);
}

static void runtime__termination_message(void **state)
{
	char big[5000], logs[2000];
	char *m;
	size_t i, off = 0;

	(void)state;
	m = sim_rt_termination_message("bye", 3, "log", 3, 1, 1);
	assert_string_equal(m, "bye"); /* the file wins */
	free(m);
	memset(big, 'x', sizeof(big));
	m = sim_rt_termination_message(big, sizeof(big), NULL, 0, 0, 1);
	assert_int_equal(strlen(m), 4096);
	free(m);
	assert_null(sim_rt_termination_message(NULL, 0, "log\n", 4, 0, 1)); /* policy File */
	assert_null(sim_rt_termination_message(NULL, 0, "log\n", 4, 1, 0)); /* succeeded */
	for (i = 0; i < 100; i++)
		off += (size_t)snprintf(logs + off, sizeof(logs) - off, "l%zu\n", i);
	m = sim_rt_termination_message(NULL, 0, logs, off, 1, 1);
	assert_non_null(m);
	assert_true(strncmp(m, "l20\n", 4) == 0); /* the last 80 lines: l20..l99 */
	assert_true(strstr(m, "l99\n") != NULL);
	free(m);
	/* 80 long lines: the last 4096 bytes of them. */
	{
		char *huge = malloc(80 * 100 + 1);

		for (i = 0; i < 80; i++) {
			memset(huge + i * 100, 'a' + (int)(i % 26), 99);
			huge[i * 100 + 99] = '\n';
		}
		m = sim_rt_termination_message(NULL, 0, huge, 8000, 1, 1);
		assert_int_equal(strlen(m), 4096);
		assert_int_equal(m[4095], '\n');
		free(m);
		free(huge);
	}
}

static void runtime__quantities(void **state)
{
	(void)state;
	assert_int_equal(sim_rt_quantity_bytes("64Mi"), 64 << 20);
	assert_int_equal(sim_rt_quantity_bytes("1Gi"), INT64_C(1) << 30);
	assert_int_equal(sim_rt_quantity_bytes("100M"), 100000000);
	assert_int_equal(sim_rt_quantity_bytes("128974848"), 128974848);
	assert_int_equal(sim_rt_quantity_bytes("129e6"), 129000000);
	assert_int_equal(sim_rt_quantity_bytes("1.5Gi"), INT64_C(1610612736));
	assert_int_equal(sim_rt_quantity_bytes("12Qi"), -1);
	assert_int_equal(sim_rt_quantity_bytes(""), -1);
	assert_int_equal(sim_rt_quantity_bytes("-1"), -1);
}

static void argv_is(char **argv, const char *const *want)
{
	size_t i;

	for (i = 0; want[i]; i++) {
		assert_non_null(argv[i]);
		assert_string_equal(argv[i], want[i]);
	}
	assert_null(argv[i]);
}

static void runtime__image_resolution(void **state)
{
	char dir[] = "/tmp/test_sim_runtime.XXXXXX", path[512], err[512];
	struct sim_runtime_config cfg = {.image_map = {"web=/usr/bin/python3"}, .n_image_map = 1};
	cJSON *cmd = parse("[\"sh\",\"-c\"]"), *args = parse("[\"echo hi\"]"), *empty = parse("[]");
	cJSON *nocmd = parse("[\"no-such-program-xyz\"]");
	struct sim_rt_image img;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	cfg.image_store = dir;
	snprintf(path, sizeof(path), "%s/registry.local_phx_svc_1.0", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/registry.local_phx_svc_1.0/manifest.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"entrypoint\":[\"bin/svc\"],\"cmd\":[\"--port\",\"8080\"],\"env\":[\"A=1\"],"
	      "\"workdir\":\"app\"}", f);
	fclose(f);

	/* --image-map: the program is the entrypoint; args are appended; command replaces it. */
	assert_int_equal(sim_rt_image_resolve(&cfg, "web", NULL, args, &img, err, sizeof(err)), 0);
	argv_is(img.argv, (const char *const[]){"/usr/bin/python3", "echo hi", NULL});
	sim_rt_image_release(&img);
	assert_int_equal(sim_rt_image_resolve(&cfg, "web", cmd, args, &img, err, sizeof(err)), 0);
	argv_is(img.argv, (const char *const[]){"sh", "-c", "echo hi", NULL});
	sim_rt_image_release(&img);
	/* The store: entrypoint relative to the image dir, cmd unless args are given, env, workdir. */
	assert_int_equal(sim_rt_image_resolve(&cfg, "registry.local/phx/svc:1.0", NULL, empty, &img,
					      err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/registry.local_phx_svc_1.0/bin/svc", dir);
	argv_is(img.argv, (const char *const[]){path, "--port", "8080", NULL});
	argv_is(img.env, (const char *const[]){"A=1", NULL});
	snprintf(path, sizeof(path), "%s/registry.local_phx_svc_1.0/app", dir);
	assert_string_equal(img.workdir, path);
	sim_rt_image_release(&img);
	assert_int_equal(sim_rt_image_resolve(&cfg, "registry.local/phx/svc:1.0", NULL, args, &img,
					      err, sizeof(err)), 0);
	assert_string_equal(img.argv[1], "echo hi");
	assert_null(img.argv[2]);
	sim_rt_image_release(&img);
	/* No mapping, but a command that is a program on PATH: it runs. */
	assert_int_equal(sim_rt_image_resolve(&cfg, "busybox", cmd, NULL, &img, err, sizeof(err)), 0);
	argv_is(img.argv, (const char *const[]){"sh", "-c", NULL});
	sim_rt_image_release(&img);
	/* Neither: a pull failure naming the image. */
	assert_int_equal(sim_rt_image_resolve(&cfg, "example.com/x:1", NULL, NULL, &img, err,
					      sizeof(err)), KUBE_ENOTFOUND);
	assert_non_null(strstr(err, "\"example.com/x:1\""));
	assert_null(img.argv);
	assert_int_equal(sim_rt_image_resolve(&cfg, "example.com/x:1", nocmd, NULL, &img, err,
					      sizeof(err)), KUBE_ENOTFOUND);
	assert_int_equal(sim_rt_image_resolve(NULL, "web", NULL, NULL, &img, err, sizeof(err)),
			 KUBE_ENOTFOUND);

	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
	cJSON_Delete(cmd);
	cJSON_Delete(args);
	cJSON_Delete(empty);
	cJSON_Delete(nocmd);
}

static void podlog__tail_offset(void **state)
{
	const char *t = "a\nb\nc\n";

	(void)state;
	assert_int_equal(sim_podlog_tail_offset(t, 6, -1), 0);
	assert_int_equal(sim_podlog_tail_offset(t, 6, 0), 6);
	assert_int_equal(sim_podlog_tail_offset(t, 6, 1), 4);
	assert_int_equal(sim_podlog_tail_offset(t, 6, 2), 2);
	assert_int_equal(sim_podlog_tail_offset(t, 6, 3), 0);
	assert_int_equal(sim_podlog_tail_offset(t, 6, 10), 0);
	assert_int_equal(sim_podlog_tail_offset("a\nb", 3, 1), 2); /* an unfinished last line */
}

static void podlog__stamps(void **state)
{
	const char *ts = "0 10 1000\n10 25 2000\n30 31 3000\n";

	(void)state;
	assert_int_equal(sim_podlog_stamp(ts, 0), 1000);
	assert_int_equal(sim_podlog_stamp(ts, 9), 1000);
	assert_int_equal(sim_podlog_stamp(ts, 10), 2000);
	assert_int_equal(sim_podlog_stamp(ts, 24), 2000);
	assert_int_equal(sim_podlog_stamp(ts, 25), -1); /* not stamped (yet) */
	assert_int_equal(sim_podlog_stamp(ts, 30), 3000);
	assert_int_equal(sim_podlog_stamp(ts, 31), -1);
	assert_int_equal(sim_podlog_stamp(NULL, 0), -1);
	assert_int_equal(sim_podlog_stamp("garbage\n", 0), -1);
}

static void runtime__container_names(void **state)
{
	(void)state;
	assert_int_equal(sim_rt_name_ok("web"), 1);
	assert_int_equal(sim_rt_name_ok("a-1"), 1);
	assert_int_equal(sim_rt_name_ok(""), 0);
	assert_int_equal(sim_rt_name_ok(NULL), 0);
	assert_int_equal(sim_rt_name_ok("../x"), 0);
	assert_int_equal(sim_rt_name_ok("a/b"), 0);
	assert_int_equal(sim_rt_name_ok("Web"), 0);
	assert_int_equal(sim_rt_name_ok("-a"), 0);
	assert_int_equal(sim_rt_name_ok("a-"), 0);
	assert_int_equal(sim_rt_name_ok("a234567890123456789012345678901234567890123456789012345678901234"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(runtime__backoff_doubles_to_five_minutes),
		cmocka_unit_test(probe__spec_defaults_and_named_port),
		cmocka_unit_test(probe__thresholds_flip_the_result),
		cmocka_unit_test(probe__http_status_lines),
		cmocka_unit_test(runtime__termination_message),
		cmocka_unit_test(runtime__quantities),
		cmocka_unit_test(runtime__image_resolution),
		cmocka_unit_test(podlog__tail_offset),
		cmocka_unit_test(runtime__container_names),
		cmocka_unit_test(podlog__stamps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
