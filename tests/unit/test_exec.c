/* Exec credential plugins: shell-script plugins written at test time into a temp dir. Running
 * (environment, KUBERNETES_EXEC_INFO, failures, timeout, output bound, garbage), output parsing,
 * stanza parsing, and the REST client's caching: one run per credential lifetime, a re-run when
 * it expires, one run for many concurrent threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "fake_server.h"
#pragma GCC diagnostic pop
#include "kube_config.h"
#include "kube_error.h"
#include "kube_exec.h"
#include "kube_json.h"
#include "kube_rest.h"

#define V1 KUBE_EXEC_API_V1
#define CRED_V1(status) \
	"{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\"," \
	"\"status\":" status "}"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/kube-exec-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static const char *in_dir(const char *name)
{
	static char path[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(path[i], sizeof(path[i]), "%s/%s", dir, name);
	return path[i];
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

/* A /bin/sh plugin named `name` in the temp dir; returns its path. */
static const char *script(const char *name, const char *body)
{
	char text[4096];
	const char *path = in_dir(name);

	snprintf(text, sizeof(text), "#!/bin/sh\n%s\n", body);
	write_file(path, text, 0755);
	return path;
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);

	assert_non_null(f);
	assert_non_null(buf);
	assert_true(fread(buf, 1, 65535, f) > 0);
	fclose(f);
	return buf;
}

/* A v1 exec config running `command` (borrowed strings: do not free). */
static struct kube_exec_config plugin(const char *command)
{
	struct kube_exec_config x;

	memset(&x, 0, sizeof(x));
	x.command = (char *)command;
	x.api_version = (char *)V1;
	x.timeout_ms = 5000;
	return x;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- running ------------------------------------------------------------------------------- */

static void exec__token_with_expiry(void **state)
{
	struct kube_exec_config x = plugin(script("p.sh", "cat <<'EOF'\n" CRED_V1(
		"{\"token\":\"tok-1\",\"expirationTimestamp\":\"2030-01-02T03:04:05Z\"}") "\nEOF"));
	struct kube_exec_cred cred;
	char *err = NULL;

	(void)state;
	assert_int_equal(kube_exec_run(&x, NULL, &cred, &err), 0);
	assert_null(err);
	assert_string_equal(cred.token, "tok-1");
	assert_null(cred.client_cert_data);
	assert_int_equal((long long)cred.expiry, 1893553445LL);
	kube_exec_cred_release(&cred);
	assert_null(cred.token);
}

/* The plugin sees our environment, exec.env (overriding ours), args, and KUBERNETES_EXEC_INFO
 * with spec.cluster only under provideClusterInfo. */
static void exec__environment_args_and_exec_info(void **state)
{
	struct kube_exec_env env[] = { { "PHX_EXEC_VAR", "from-exec-env" },
				       { "PHX_EXEC_EMPTY", "" } };
	char *args[] = { "--flag", "two words" };
	struct kube_config cl;
	struct kube_exec_config x;
	struct kube_exec_cred cred;
	char *err = NULL, *info;
	cJSON *doc;
	const char *p;
	char body[1024];

	(void)state;
	snprintf(body, sizeof(body),
		 "printf '%%s' \"$KUBERNETES_EXEC_INFO\" > '%s/info.json'\n"
		 "[ \"$PHX_EXEC_OURS\" = ours ] || { echo 'no PHX_EXEC_OURS' >&2; exit 3; }\n"
		 "[ \"$#\" = 2 ] && [ \"$2\" = 'two words' ] || { echo 'bad args' >&2; exit 4; }\n"
		 "[ \"$(env | grep -c '^PHX_EXEC_VAR=')\" = 1 ] || { echo dup >&2; exit 5; }\n"
		 "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":"
		 "\"ExecCredential\",\"status\":{\"token\":\"%%s%%s\"}}' \"$PHX_EXEC_VAR\" \"$1\"",
		 dir);
	x = plugin(script("env.sh", body));
	x.env = env;
	x.nenv = 2;
	x.args = args;
	x.nargs = 2;
	setenv("PHX_EXEC_OURS", "ours", 1);
	setenv("PHX_EXEC_VAR", "from-parent", 1);
	assert_int_equal(kube_config_init_server(&cl, "https://example.test:6443"), 0);
	cl.ca_data = strdup("-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n");

	/* Without provideClusterInfo: no spec.cluster. */
	if (kube_exec_run(&x, &cl, &cred, &err) != 0)
		fail_msg("%s", err);
	assert_string_equal(cred.token, "from-exec-env--flag");
	kube_exec_cred_release(&cred);
	info = read_all(in_dir("info.json"));
	doc = cJSON_Parse(info);
	assert_non_null(doc);
	assert_string_equal(kube_json_get_str(doc, "apiVersion", NULL), V1);
	assert_string_equal(kube_json_get_str(doc, "kind", NULL), "ExecCredential");
	assert_true(cJSON_IsFalse(kube_json_get(doc, "spec", "interactive", NULL)));
	assert_null(kube_json_get(doc, "spec", "cluster", NULL));
	cJSON_Delete(doc);
	free(info);

	/* With it: server, CA (base64) and the cluster's extension config. */
	x.provide_cluster_info = true;
	x.cluster_config = (char *)"{\"audience\":\"phx\"}";
	assert_int_equal(kube_exec_run(&x, &cl, &cred, &err), 0);
	kube_exec_cred_release(&cred);
	info = read_all(in_dir("info.json"));
	doc = cJSON_Parse(info);
	assert_non_null(doc);
	assert_string_equal(kube_json_get_str(doc, "spec", "cluster", "server", NULL),
			    "https://example.test:6443");
	p = kube_json_get_str(doc, "spec", "cluster", "certificate-authority-data", NULL);
	assert_non_null(p);
	assert_string_equal(p, "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K");
	assert_string_equal(kube_json_get_str(doc, "spec", "cluster", "config", "audience", NULL),
			    "phx");
	cJSON_Delete(doc);
	free(info);
	kube_config_release(&cl);
	unsetenv("PHX_EXEC_OURS");
	unsetenv("PHX_EXEC_VAR");
}

struct fail_case {
	const char *name, *body;
	long timeout_ms;
	const char *msg_has[3];
};

static const struct fail_case fail_cases[] = {
	{ "exit1.sh", "echo 'token expired: run aws sso login' >&2; exit 1", 0,
	  { "exit status 1", "token expired: run aws sso login" } },
	{ "garbage.sh", "echo 'this is not json'", 0, { "not a JSON ExecCredential" } },
	{ "wrongver.sh",
	  "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\","
	  "\"status\":{\"token\":\"t\"}}'",
	  0, { "apiVersion", "v1beta1" } },
	{ "notoken.sh", "echo '" CRED_V1("{}") "'", 0, { "status: neither token" } },
	{ "huge.sh", "head -c 2000000 /dev/zero | tr '\\0' x", 0, { "output larger than" } },
	{ "killed.sh", "kill -9 $$", 0, { "killed by signal 9" } },
	/* Sleeps past the (short) limit, in a child of the script: the whole group is killed. */
	{ "slow.sh", "sleep 30; echo late", 300, { "timed out after 300 ms" } },
};

static void exec__failures_name_the_cause(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(fail_cases) / sizeof(fail_cases[0]); i++) {
		const struct fail_case *tc = &fail_cases[i];
		struct kube_exec_config x = plugin(script(tc->name, tc->body));
		struct kube_exec_cred cred;
		char *err = NULL;
		double t0 = now_s();

		if (tc->timeout_ms > 0)
			x.timeout_ms = tc->timeout_ms;
		assert_int_equal(kube_exec_run(&x, NULL, &cred, &err), KUBE_ECONFIG);
		assert_null(cred.token);
		assert_non_null(err);
		for (int k = 0; k < 3 && tc->msg_has[k] != NULL; k++)
			if (strstr(err, tc->msg_has[k]) == NULL)
				fail_msg("%s: \"%s\" lacks \"%s\"", tc->name, err, tc->msg_has[k]);
		/* The timeout is enforced: well under the plugin's 30 s sleep. */
		assert_true(now_s() - t0 < 3.0);
		free(err);
	}
}

static void exec__cannot_run_includes_install_hint(void **state)
{
	const char *cmds[] = { "/nonexistent/dir/plugin", "phx-no-such-plugin-anywhere", NULL };
	struct kube_exec_cred cred;
	char *err = NULL;

	(void)state;
	/* Not executable. */
	write_file(in_dir("noexec.sh"), "#!/bin/sh\necho hi\n", 0644);
	cmds[2] = in_dir("noexec.sh");
	for (int i = 0; i < 3; i++) {
		struct kube_exec_config x = plugin(cmds[i]);

		x.install_hint = (char *)"Install it with: brew install phx-auth";
		assert_int_equal(kube_exec_run(&x, NULL, &cred, &err), KUBE_ECONFIG);
		assert_non_null(err);
		assert_non_null(strstr(err, "cannot run"));
		assert_non_null(strstr(err, cmds[i]));
		assert_non_null(strstr(err, "brew install phx-auth"));
		free(err);
		err = NULL;
	}
}

/* --- output parsing -------------------------------------------------------------------------- */

#define PEM_CERT "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"
#define PEM_KEY "-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\\n"

struct out_case {
	const char *api, *json;
	int want;
	const char *msg_has; /* error: the field named; success: the token */
	long long expiry;
};

static const struct out_case out_cases[] = {
	{ V1, CRED_V1("{\"token\":\"a\"}"), 0, "a", 0 },
	{ KUBE_EXEC_API_V1BETA1,
	  "{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\","
	  "\"spec\":{},\"status\":{\"token\":\"b\",\"expirationTimestamp\":"
	  "\"2030-01-02T05:04:05.123456+02:00\"}}", 0, "b", 1893553445LL },
	{ V1, CRED_V1("{\"clientCertificateData\":\"" PEM_CERT "\",\"clientKeyData\":\"" PEM_KEY "\"}"),
	  0, NULL, 0 },
	{ V1, CRED_V1("{\"clientCertificateData\":\"" PEM_CERT "\"}"), KUBE_ECONFIG,
	  "status.clientKeyData: missing", 0 },
	{ V1, CRED_V1("{\"clientKeyData\":\"" PEM_KEY "\"}"), KUBE_ECONFIG,
	  "status.clientCertificateData: missing", 0 },
	{ V1, CRED_V1("{\"clientCertificateData\":\"cert\",\"clientKeyData\":\"" PEM_KEY "\"}"),
	  KUBE_ECONFIG, "status.clientCertificateData: not PEM", 0 },
	{ V1, CRED_V1("{\"token\":\"t\",\"expirationTimestamp\":\"tomorrow\"}"), KUBE_ECONFIG,
	  "status.expirationTimestamp", 0 },
	{ V1, CRED_V1("{\"token\":42}"), KUBE_ECONFIG, "status.token: expected a string", 0 },
	{ V1, "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\"}",
	  KUBE_ECONFIG, "status: missing", 0 },
	{ V1, "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"Secret\","
	  "\"status\":{\"token\":\"t\"}}", KUBE_ECONFIG, "kind", 0 },
	{ V1, "[1,2]", KUBE_ECONFIG, "not a JSON ExecCredential", 0 },
	{ V1, "", KUBE_ECONFIG, "not a JSON ExecCredential", 0 },
};

static void exec__output_parsing(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(out_cases) / sizeof(out_cases[0]); i++) {
		const struct out_case *tc = &out_cases[i];
		struct kube_exec_cred cred;
		char *err = NULL;
		int rc = kube_exec_parse_output(tc->api, tc->json, strlen(tc->json), &cred, &err);

		if (rc != tc->want)
			fail_msg("case %zu: rc %d, want %d (%s)", i, rc, tc->want, err ? err : "");
		if (rc != 0) {
			assert_non_null(err);
			if (strstr(err, tc->msg_has) == NULL)
				fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, tc->msg_has);
			assert_null(cred.token);
			free(err);
			continue;
		}
		assert_null(err);
		if (tc->msg_has != NULL) {
			assert_string_equal(cred.token, tc->msg_has);
		} else {
			assert_non_null(strstr(cred.client_cert_data, "BEGIN CERTIFICATE"));
			assert_non_null(strstr(cred.client_key_data, "BEGIN PRIVATE KEY"));
		}
		assert_int_equal((long long)cred.expiry, tc->expiry);
		kube_exec_cred_release(&cred);
	}
}

/* --- stanza parsing (paths; kubeconfig-level cases are in test_config.c) ---------------------- */

static void exec__parse_resolves_commands_and_copies(void **state)
{
	cJSON *j = cJSON_Parse("{\"command\":\"./bin/plugin\",\"apiVersion\":\"" V1 "\","
			       "\"interactiveMode\":\"Never\",\"args\":[\"get-token\",8080,true],"
			       "\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\"}]}");
	struct kube_exec_config x, y;
	char *err = NULL;

	(void)state;
	assert_non_null(j);
	assert_int_equal(kube_exec_config_parse(j, "/etc/kube", "users[u].user", &x, &err), 0);
	assert_string_equal(x.command, "/etc/kube/./bin/plugin");
	assert_int_equal(x.nargs, 3);
	assert_string_equal(x.args[1], "8080");
	assert_string_equal(x.args[2], "true");
	assert_int_equal(x.nenv, 2);
	assert_string_equal(x.env[1].name, "B");
	assert_string_equal(x.env[1].value, "");
	assert_int_equal(kube_exec_config_copy(&y, &x), 0);
	kube_exec_config_free(&x);
	assert_null(x.command);
	assert_string_equal(y.args[0], "get-token");
	assert_string_equal(y.env[0].value, "1");
	kube_exec_config_free(&y);
	kube_exec_config_free(&y);
	cJSON_Delete(j);

	/* A bare name stays a bare name (PATH lookup at run time); absolute stays absolute. */
	j = cJSON_Parse("{\"command\":\"aws\",\"apiVersion\":\"" KUBE_EXEC_API_V1BETA1 "\"}");
	assert_int_equal(kube_exec_config_parse(j, "/etc/kube", "u", &x, &err), 0);
	assert_string_equal(x.command, "aws");
	kube_exec_config_free(&x);
	cJSON_Delete(j);
	j = cJSON_Parse("{\"command\":\"/usr/bin/aws\",\"apiVersion\":\"" V1 "\","
			"\"interactiveMode\":\"IfAvailable\",\"env\":[{\"value\":\"x\"}]}");
	assert_int_equal(kube_exec_config_parse(j, "/etc/kube", "u", &x, &err), KUBE_ECONFIG);
	assert_non_null(strstr(err, "u.exec.env[0].name"));
	assert_null(x.command);
	free(err);
	cJSON_Delete(j);
}

/* --- REST client caching ---------------------------------------------------------------------- */

/* A plugin counting its runs in $dir/count and returning "tok-<run>" with expirationTimestamp
 * $PHX_EXPIRY (none when empty). */
static void counting_plugin(void)
{
	char body[1024];

	snprintf(body, sizeof(body),
		 "n=$(cat '%s/count' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '%s/count'\n"
		 "if [ -n \"$PHX_EXPIRY\" ]; then exp=\",\\\"expirationTimestamp\\\":\\\"$PHX_EXPIRY\\\"\"; fi\n"
		 "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":"
		 "\"ExecCredential\",\"status\":{\"token\":\"tok-%%s\"%%s}}' \"$n\" \"$exp\"",
		 dir, dir);
	script("count.sh", body);
	unlink(in_dir("count"));
}

static int runs(void)
{
	FILE *f = fopen(in_dir("count"), "r");
	int n = 0;

	if (f == NULL)
		return 0;
	assert_int_equal(fscanf(f, "%d", &n), 1);
	fclose(f);
	return n;
}

/* A kubeconfig whose user runs ./count.sh (relative to the kubeconfig) with PHX_EXPIRY. */
static void exec_client(struct fake_server *fs, const char *expiry, struct kube_client **c)
{
	struct kube_config cfg;
	struct kube_client_opts o = { .qps = -1, .retry_base_ms = 1 };
	char text[2048], *err = NULL;

	snprintf(text, sizeof(text),
		 "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
		 "clusters: [{name: k, cluster: {server: '%s'}}]\n"
		 "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
		 "users:\n- name: u\n  user:\n    exec:\n      apiVersion: %s\n"
		 "      command: ./count.sh\n      env: [{name: PHX_EXPIRY, value: '%s'}]\n",
		 fs->url, KUBE_EXEC_API_V1BETA1, expiry);
	write_file(in_dir("kubeconfig"), text, 0600);
	if (kube_config_load_file(in_dir("kubeconfig"), NULL, &cfg, &err) != 0)
		fail_msg("%s", err);
	assert_int_equal(kube_client_new(&cfg, &o, c), 0);
	kube_config_release(&cfg);
}

static void rfc3339_in(long secs, char *buf, size_t len)
{
	time_t t = time(NULL) + secs;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void exec__rest_caches_until_expiry(void **state)
{
	struct fake_server fs;
	struct kube_client *c = NULL;
	char exp[64];
	struct { long secs; bool none; int want_runs; } cases[] = {
		{ 0, true, 1 },     /* no expiry: one run for the client's life */
		{ 3600, false, 1 }, /* an hour left: cached */
		{ 5, false, 3 },    /* inside the 10 s refresh margin: every request re-runs */
		{ -60, false, 3 },  /* already expired */
	};

	(void)state;
	assert_int_equal(fake_server_start(&fs), 0);
	fs.fallback.status = 200;
	fs.fallback.body = "{}";
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		counting_plugin();
		exp[0] = '\0';
		if (!cases[i].none)
			rfc3339_in(cases[i].secs, exp, sizeof(exp));
		exec_client(&fs, exp, &c);
		/* Lazy: nothing runs before the first request. */
		assert_int_equal(runs(), 0);
		for (int k = 0; k < 3; k++)
			assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), 0);
		if (runs() != cases[i].want_runs)
			fail_msg("case %zu: %d runs, want %d", i, runs(), cases[i].want_runs);
		assert_string_equal(fs.reqs[fs.nreqs - 1].auth,
				    cases[i].want_runs == 1 ? "Bearer tok-1" : "Bearer tok-3");
		kube_client_free(c);
		fake_reset(&fs);
	}
	fake_server_stop(&fs);
}

struct worker {
	struct kube_client *c;
	int rc;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 5 && w->rc == 0; i++)
		w->rc = kube_get(w->c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL);
	return NULL;
}

static void exec__rest_one_run_for_concurrent_requests(void **state)
{
	struct fake_server fs;
	struct kube_client *c = NULL;
	struct worker w[8];
	pthread_t t[8];

	(void)state;
	assert_int_equal(fake_server_start(&fs), 0);
	fs.fallback.status = 200;
	fs.fallback.body = "{}";
	counting_plugin();
	exec_client(&fs, "", &c);
	for (int i = 0; i < 8; i++) {
		w[i].c = c;
		w[i].rc = 0;
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].rc, 0);
	}
	assert_int_equal(runs(), 1);
	assert_int_equal(fake_nreqs(&fs), 40);
	for (int i = 0; i < 40; i++)
		assert_string_equal(fs.reqs[i].auth, "Bearer tok-1");
	kube_client_free(c);
	fake_server_stop(&fs);
}

/* A failing plugin fails the request with the plugin's message; nothing is sent. */
static void exec__rest_plugin_failure_reported(void **state)
{
	struct fake_server fs;
	struct kube_client *c = NULL;
	struct kube_status st = { 0 };

	(void)state;
	assert_int_equal(fake_server_start(&fs), 0);
	counting_plugin();
	exec_client(&fs, "", &c);
	script("count.sh", "echo 'login required' >&2; exit 2");
	assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, &st), KUBE_ECONFIG);
	assert_non_null(st.message);
	assert_non_null(strstr(st.message, "exit status 2"));
	assert_non_null(strstr(st.message, "login required"));
	assert_int_equal(fake_nreqs(&fs), 0);
	kube_status_release(&st);
	kube_client_free(c);
	fake_server_stop(&fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(exec__token_with_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(exec__environment_args_and_exec_info, setup, teardown),
		cmocka_unit_test_setup_teardown(exec__failures_name_the_cause, setup, teardown),
		cmocka_unit_test_setup_teardown(exec__cannot_run_includes_install_hint, setup, teardown),
		cmocka_unit_test(exec__output_parsing),
		cmocka_unit_test(exec__parse_resolves_commands_and_copies),
		cmocka_unit_test_setup_teardown(exec__rest_caches_until_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(exec__rest_one_run_for_concurrent_requests, setup,
						teardown),
		cmocka_unit_test_setup_teardown(exec__rest_plugin_failure_reported, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
