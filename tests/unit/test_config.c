/* kubeconfig and in-cluster loading: every auth kind, missing and malformed files, broken
 * references (each error names the file and the field), token rotation, the search order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube_config.h"
#include "kube_log.h"
#include "kube_error.h"
#include "kube_exec.h"

static char testdata[512];

static const char *fixture(const char *name)
{
	static char path[1024];

	snprintf(path, sizeof(path), "%s/%s", testdata, name);
	return path;
}

static void assert_str_or_null(const char *got, const char *want)
{
	if (want == NULL)
		assert_null(got);
	else
		assert_string_equal(got, want);
}

struct auth_case {
	const char *context; /* NULL = current-context */
	const char *server, *ca_file_suffix, *ca_data, *cert_file_suffix, *key_file, *cert_data,
		*key_data, *token, *token_file, *ns;
	bool insecure;
};

static const struct auth_case auth_cases[] = {
	{ NULL, "https://dev.example.com:6443", "/config/certs/ca.crt", NULL, NULL, NULL, NULL, NULL,
	  "abc.def.ghi", NULL, "team-a", false },
	{ "tokenfile", "https://dev.example.com:6443", "/config/certs/ca.crt", NULL, NULL, NULL, NULL,
	  NULL, NULL, "/var/run/token", "default", false },
	{ "certfiles", "https://dev.example.com:6443", "/config/certs/ca.crt", NULL,
	  "/config/certs/client.crt", "/abs/client.key", NULL, NULL, NULL, NULL, "ops", false },
	{ "certdata", "https://10.0.0.1:443", NULL,
	  "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n", NULL, NULL, "CERT-PEM",
	  "KEY-PEM", NULL, NULL, "default", false },
	{ "insecure", "http://127.0.0.1:8080", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	  "default", true },
	{ "anonymous", "http://127.0.0.1:8080", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	  "default", true },
};

static void assert_suffix(const char *got, const char *suffix)
{
	if (suffix == NULL) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_true(strlen(got) >= strlen(suffix));
	assert_string_equal(got + strlen(got) - strlen(suffix), suffix);
	/* Relative paths were resolved against the kubeconfig's directory. */
	assert_true(got[0] == '/');
}

static void config__each_auth_kind(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(auth_cases) / sizeof(auth_cases[0]); i++) {
		const struct auth_case *tc = &auth_cases[i];
		struct kube_config cfg;
		char *err = NULL;
		int rc = kube_config_load_file(fixture("good.yaml"), tc->context, &cfg, &err);

		if (rc != 0)
			fail_msg("context %s: %s", tc->context, err);
		assert_null(err);
		assert_string_equal(cfg.server, tc->server);
		assert_suffix(cfg.ca_file, tc->ca_file_suffix);
		assert_str_or_null(cfg.ca_data, tc->ca_data);
		assert_suffix(cfg.client_cert_file, tc->cert_file_suffix);
		assert_str_or_null(cfg.client_key_file, tc->key_file);
		assert_str_or_null(cfg.client_cert_data, tc->cert_data);
		assert_str_or_null(cfg.client_key_data, tc->key_data);
		assert_str_or_null(cfg.token, tc->token);
		assert_str_or_null(cfg.token_file, tc->token_file);
		assert_string_equal(cfg.namespace, tc->ns);
		assert_int_equal(cfg.insecure_skip_tls_verify, tc->insecure);
		assert_string_equal(cfg.context, tc->context != NULL ? tc->context : "dev");
		assert_string_equal(cfg.source, fixture("good.yaml"));
		kube_config_release(&cfg);
		assert_null(cfg.server);
	}
}

/* Reads what the library logged to fd (from the start of the file). */
static char *slurp_fd(int fd)
{
	static char buf[8192];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* insecure-skip-tls-verify is honoured, but never silently: one warning naming the cluster;
 * a verified cluster loads without it. */
static void config__insecure_skip_tls_verify_warns(void **state)
{
	char path[] = "/tmp/test_config_logXXXXXX";
	int fd = mkstemp(path);
	struct kube_config cfg;
	char *err = NULL;

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	kube_log_set_fd(fd);
	assert_int_equal(kube_config_load_file(fixture("good.yaml"), NULL, &cfg, &err), 0);
	kube_config_release(&cfg);
	assert_null(strstr(slurp_fd(fd), "insecure-skip-tls-verify"));
	assert_int_equal(kube_config_load_file(fixture("good.yaml"), "insecure", &cfg, &err), 0);
	kube_config_release(&cfg);
	kube_log_set_fd(2);
	assert_non_null(strstr(slurp_fd(fd), "WARN"));
	assert_non_null(strstr(slurp_fd(fd), "insecure-skip-tls-verify is set"));
	assert_non_null(strstr(slurp_fd(fd), "NOT verified"));
	close(fd);
}

struct error_case {
	const char *file, *context;
	int want;
	const char *msg_has; /* the field the message must name */
};

static const struct error_case error_cases[] = {
	{ "does-not-exist.yaml", NULL, KUBE_ECONFIG, "No such file" },
	{ "malformed.yaml", NULL, KUBE_EPARSE, "line 7" },
	{ "list.yaml", NULL, KUBE_ECONFIG, "not a kubeconfig" },
	{ "no-current.yaml", NULL, KUBE_ECONFIG, "current-context" },
	{ "good.yaml", "nope", KUBE_ECONFIG, "no context named \"nope\"" },
	{ "broken-refs.yaml", NULL, KUBE_ECONFIG, "no cluster named \"nope\"" },
	{ "broken-refs.yaml", "missing-user", KUBE_ECONFIG, "no user named \"ghost\"" },
	{ "broken-refs.yaml", "no-server", KUBE_ECONFIG, "clusters[noserver].cluster.server" },
	{ "broken-refs.yaml", "exec", KUBE_ECONFIG, "users[exec-user].user.exec" },
	{ "broken-refs.yaml", "half-cert", KUBE_ECONFIG, "client-key must be given together" },
	{ "broken-refs.yaml", "bad-b64", KUBE_ECONFIG,
	  "users[bad-b64-user].user.client-certificate-data: invalid base64" },
	{ "broken-refs.yaml", "server-not-string", KUBE_ECONFIG, "clusters[weird].cluster.server" },
	{ "broken-refs.yaml", "bad-ca-data", KUBE_ECONFIG, "certificate-authority-data" },
};

static void config__errors_name_file_and_field(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		const struct error_case *tc = &error_cases[i];
		struct kube_config cfg;
		char *err = NULL;
		int rc = kube_config_load_file(fixture(tc->file), tc->context, &cfg, &err);

		if (rc != tc->want)
			fail_msg("%s/%s: rc %d want %d (%s)", tc->file, tc->context, rc, tc->want, err);
		assert_non_null(err);
		if (strstr(err, fixture(tc->file)) == NULL || strstr(err, tc->msg_has) == NULL)
			fail_msg("%s/%s: message \"%s\" lacks file or \"%s\"", tc->file, tc->context, err,
				 tc->msg_has);
		/* Nothing is left behind on error. */
		assert_null(cfg.server);
		assert_null(cfg.token);
		free(err);
	}
	/* errmsg is optional. */
	{
		struct kube_config cfg;

		assert_int_equal(kube_config_load_file(fixture("malformed.yaml"), NULL, &cfg, NULL),
				 KUBE_EPARSE);
	}
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void config__incluster_and_rotation(void **state)
{
	char dir[] = "/tmp/kube-sa-XXXXXX", p[128], tmp[128];
	struct kube_config cfg;
	char *err = NULL, *tok = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/token", dir);
	write_file(p, "token-1\n");
	snprintf(p, sizeof(p), "%s/ca.crt", dir);
	write_file(p, "PEM");
	snprintf(p, sizeof(p), "%s/namespace", dir);
	write_file(p, "phoenix-system\n");

	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(kube_config_load_incluster(dir, &cfg, &err), KUBE_ECONFIG);
	assert_non_null(strstr(err, "KUBERNETES_SERVICE_HOST"));
	free(err);

	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	assert_int_equal(kube_config_load_incluster(dir, &cfg, &err), 0);
	assert_string_equal(cfg.server, "https://10.96.0.1:443");
	assert_string_equal(cfg.namespace, "phoenix-system");
	snprintf(p, sizeof(p), "%s/ca.crt", dir);
	assert_string_equal(cfg.ca_file, p);
	assert_string_equal(cfg.source, "in-cluster");
	assert_false(cfg.insecure_skip_tls_verify);
	assert_int_equal(kube_config_read_token(&cfg, &tok), 0);
	assert_string_equal(tok, "token-1");
	free(tok);

	/* Rotation: kubelet swaps the file; the next read sees the new token. */
	snprintf(p, sizeof(p), "%s/token", dir);
	snprintf(tmp, sizeof(tmp), "%s/token.tmp", dir);
	write_file(tmp, "token-2");
	assert_int_equal(rename(tmp, p), 0);
	assert_int_equal(kube_config_read_token(&cfg, &tok), 0);
	assert_string_equal(tok, "token-2");
	free(tok);
	kube_config_release(&cfg);

	/* IPv6 hosts are bracketed; no namespace file means "default". */
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	snprintf(p, sizeof(p), "%s/namespace", dir);
	unlink(p);
	assert_int_equal(kube_config_load_incluster(dir, &cfg, NULL), 0);
	assert_string_equal(cfg.server, "https://[fd00::1]:443");
	assert_string_equal(cfg.namespace, "default");
	kube_config_release(&cfg);

	/* No token file: an error naming it. */
	snprintf(p, sizeof(p), "%s/token", dir);
	unlink(p);
	assert_int_equal(kube_config_load_incluster(dir, &cfg, &err), KUBE_ECONFIG);
	assert_non_null(strstr(err, p));
	free(err);
	snprintf(p, sizeof(p), "%s/ca.crt", dir);
	unlink(p);
	rmdir(dir);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
}

static void config__default_search_order(void **state)
{
	struct kube_config cfg;
	char env[2048], *err = NULL;

	(void)state;
	unsetenv("KUBERNETES_SERVICE_HOST");
	/* Explicit path wins over $KUBECONFIG. */
	setenv("KUBECONFIG", "/nonexistent/a", 1);
	assert_int_equal(kube_config_load_default(fixture("good.yaml"), "certdata", &cfg, NULL), 0);
	assert_string_equal(cfg.context, "certdata");
	kube_config_release(&cfg);
	/* $KUBECONFIG: the first entry that exists. */
	snprintf(env, sizeof(env), "/nonexistent/a:%s", fixture("good.yaml"));
	setenv("KUBECONFIG", env, 1);
	assert_int_equal(kube_config_load_default(NULL, NULL, &cfg, NULL), 0);
	assert_string_equal(cfg.context, "dev");
	kube_config_release(&cfg);
	setenv("KUBECONFIG", "/nonexistent/a:/nonexistent/b", 1);
	assert_int_equal(kube_config_load_default(NULL, NULL, &cfg, &err), KUBE_ECONFIG);
	assert_non_null(strstr(err, "KUBECONFIG"));
	free(err);
	/* $HOME/.kube/config last. */
	unsetenv("KUBECONFIG");
	setenv("HOME", "/nonexistent-home", 1);
	assert_int_equal(kube_config_load_default(NULL, NULL, &cfg, &err), KUBE_ECONFIG);
	assert_non_null(strstr(err, "/nonexistent-home/.kube/config"));
	free(err);
}

static void config__init_copy_token(void **state)
{
	struct kube_config a, b;
	char *tok = (char *)1;

	(void)state;
	assert_int_equal(kube_config_init_server(&a, "http://127.0.0.1:1234//"), 0);
	assert_string_equal(a.server, "http://127.0.0.1:1234");
	assert_string_equal(a.namespace, "default");
	assert_int_equal(kube_config_read_token(&a, &tok), 0);
	assert_null(tok);
	a.token = strdup("t");
	assert_int_equal(kube_config_copy(&b, &a), 0);
	kube_config_release(&a);
	assert_string_equal(b.token, "t");
	assert_string_equal(b.server, "http://127.0.0.1:1234");
	b.token_file = strdup("/nonexistent/token");
	assert_int_equal(kube_config_read_token(&b, &tok), KUBE_ECONFIG);
	kube_config_release(&b);
	kube_config_release(NULL);
	assert_int_equal(kube_config_init_server(&a, ""), KUBE_EINVAL);
}

/* --- exec credential plugins ------------------------------------------------------------------ */

/* Writes a kubeconfig whose user has `user_yaml` (indented under "user:") into dir. */
static const char *exec_kubeconfig(const char *dir, const char *user_yaml)
{
	static char path[256];
	char text[2048];

	snprintf(path, sizeof(path), "%s/kubeconfig", dir);
	snprintf(text, sizeof(text),
		 "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
		 "clusters:\n- name: k\n  cluster:\n    server: https://k.example:6443\n"
		 "    extensions:\n    - name: client.authentication.k8s.io/exec\n"
		 "      extension: {audience: phx, region: eu-west-1}\n"
		 "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
		 "users:\n- name: u\n  user:\n%s",
		 user_yaml);
	write_file(path, text);
	return path;
}

static void config__exec_stanza_parsed(void **state)
{
	char dir[] = "/tmp/kube-cfg-exec-XXXXXX", want[128];
	struct kube_config cfg, copy;
	char *err = NULL;
	const char *path;

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* v1, everything set; the relative command resolves against the kubeconfig's dir. */
	path = exec_kubeconfig(dir, "    exec:\n"
				    "      apiVersion: client.authentication.k8s.io/v1\n"
				    "      command: ./bin/get-token\n"
				    "      args: [eks, get-token, --cluster-name, prod]\n"
				    "      env: [{name: AWS_PROFILE, value: ops}]\n"
				    "      installHint: install the aws CLI\n"
				    "      provideClusterInfo: true\n"
				    "      interactiveMode: Never\n");
	if (kube_config_load_file(path, NULL, &cfg, &err) != 0)
		fail_msg("%s", err);
	assert_non_null(cfg.exec);
	snprintf(want, sizeof(want), "%s/./bin/get-token", dir);
	assert_string_equal(cfg.exec->command, want);
	assert_string_equal(cfg.exec->api_version, "client.authentication.k8s.io/v1");
	assert_int_equal(cfg.exec->nargs, 4);
	assert_string_equal(cfg.exec->args[3], "prod");
	assert_int_equal(cfg.exec->nenv, 1);
	assert_string_equal(cfg.exec->env[0].name, "AWS_PROFILE");
	assert_string_equal(cfg.exec->env[0].value, "ops");
	assert_string_equal(cfg.exec->install_hint, "install the aws CLI");
	assert_true(cfg.exec->provide_cluster_info);
	assert_non_null(cfg.exec->cluster_config);
	assert_non_null(strstr(cfg.exec->cluster_config, "\"audience\":\"phx\""));
	assert_null(cfg.token);
	/* kube_config_copy deep-copies the stanza. */
	assert_int_equal(kube_config_copy(&copy, &cfg), 0);
	kube_config_release(&cfg);
	assert_null(cfg.exec);
	assert_non_null(copy.exec);
	assert_string_equal(copy.exec->command, want);
	assert_string_equal(copy.exec->args[0], "eks");
	kube_config_release(&copy);

	/* v1beta1: interactiveMode optional (IfAvailable); a bare command stays for PATH. */
	path = exec_kubeconfig(dir, "    exec:\n"
				    "      apiVersion: client.authentication.k8s.io/v1beta1\n"
				    "      command: gke-gcloud-auth-plugin\n");
	if (kube_config_load_file(path, NULL, &cfg, &err) != 0)
		fail_msg("%s", err);
	assert_string_equal(cfg.exec->command, "gke-gcloud-auth-plugin");
	assert_false(cfg.exec->provide_cluster_info);
	assert_int_equal(cfg.exec->nargs, 0);
	kube_config_release(&cfg);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

struct exec_error_case {
	const char *user_yaml;
	const char *msg_has[2];
};

static const struct exec_error_case exec_error_cases[] = {
	{ "    exec: {apiVersion: client.authentication.k8s.io/v1, interactiveMode: Never}\n",
	  { "users[u].user.exec.command: missing" } },
	{ "    exec: {command: aws, interactiveMode: Never}\n",
	  { "users[u].user.exec.apiVersion: missing" } },
	{ "    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1alpha1}\n",
	  { "users[u].user.exec.apiVersion", "v1alpha1 is no longer supported" } },
	{ "    exec: {command: aws, apiVersion: example.com/v2}\n",
	  { "users[u].user.exec.apiVersion", "not supported" } },
	{ "    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}\n",
	  { "users[u].user.exec.interactiveMode: missing" } },
	{ "    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1, "
	  "interactiveMode: Always}\n",
	  { "users[u].user.exec.interactiveMode: Always", "never runs plugins interactively" } },
	{ "    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1beta1, "
	  "interactiveMode: Sometimes}\n",
	  { "users[u].user.exec.interactiveMode", "Sometimes" } },
	{ "    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1beta1, "
	  "env: [{value: x}]}\n",
	  { "users[u].user.exec.env[0].name" } },
	{ "    exec: {command: aws, apiVersion: client.authentication.k8s.io/v1beta1, args: a}\n",
	  { "users[u].user.exec.args" } },
	{ "    exec: aws\n", { "users[u].user.exec: expected a mapping" } },
	{ "    auth-provider: {name: gcp}\n", { "users[u].user.auth-provider", "not supported" } },
};

static void config__exec_stanza_errors(void **state)
{
	char dir[] = "/tmp/kube-cfg-exec-XXXXXX";

	(void)state;
	assert_non_null(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(exec_error_cases) / sizeof(exec_error_cases[0]); i++) {
		const struct exec_error_case *tc = &exec_error_cases[i];
		const char *path = exec_kubeconfig(dir, tc->user_yaml);
		struct kube_config cfg;
		char *err = NULL;

		assert_int_equal(kube_config_load_file(path, NULL, &cfg, &err), KUBE_ECONFIG);
		assert_null(cfg.exec);
		assert_null(cfg.server);
		assert_non_null(err);
		/* Messages name the file, then the field. */
		assert_true(strncmp(err, path, strlen(path)) == 0);
		for (int k = 0; k < 2 && tc->msg_has[k] != NULL; k++)
			if (strstr(err, tc->msg_has[k]) == NULL)
				fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, tc->msg_has[k]);
		free(err);
		unlink(path);
	}
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config__each_auth_kind),
		cmocka_unit_test(config__insecure_skip_tls_verify_warns),
		cmocka_unit_test(config__errors_name_file_and_field),
		cmocka_unit_test(config__incluster_and_rotation),
		cmocka_unit_test(config__default_search_order),
		cmocka_unit_test(config__init_copy_token),
		cmocka_unit_test(config__exec_stanza_parsed),
		cmocka_unit_test(config__exec_stanza_errors),
	};
	char here[512];

	snprintf(here, sizeof(here), "%s", __FILE__);
	snprintf(testdata, sizeof(testdata), "%s/testdata/config", dirname(here));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
