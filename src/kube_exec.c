/* Exec credential plugins; see kube_exec.h. The plugin runs through posix_spawnp (no shell) with
 * its stdout and stderr on pipes that one poll() loop drains until EOF, the time limit or the
 * output bound, whichever comes first. */
#include "kube_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "kube_error.h"
#include "kube_json.h"
#include "kube_time.h"

#define EXEC_INFO_ENV "KUBERNETES_EXEC_INFO"
#define API_V1ALPHA1 "client.authentication.k8s.io/v1alpha1"
#define MAX_CA_FILE (1024 * 1024)

extern char **environ;

/* *errmsg = formatted text (replacing any previous one); returns rc. */
static int xfail(char **errmsg, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int xfail(char **errmsg, int rc, const char *fmt, ...)
{
	va_list ap;

	if (errmsg == NULL)
		return rc;
	free(*errmsg);
	va_start(ap, fmt);
	if (vasprintf(errmsg, fmt, ap) < 0)
		*errmsg = NULL;
	va_end(ap);
	return rc;
}

/* --- configuration ------------------------------------------------------------------------ */

void kube_exec_config_free(struct kube_exec_config *x)
{
	if (x == NULL)
		return;
	free(x->command);
	for (size_t i = 0; i < x->nargs; i++)
		free(x->args[i]);
	free(x->args);
	for (size_t i = 0; i < x->nenv; i++) {
		free(x->env[i].name);
		free(x->env[i].value);
	}
	free(x->env);
	free(x->api_version);
	free(x->install_hint);
	free(x->cluster_config);
	memset(x, 0, sizeof(*x));
}

/* strdup for optional strings: KUBE_ENOMEM only when a non-NULL src could not be copied. */
static int dup_str(char **dst, const char *src)
{
	*dst = src != NULL ? strdup(src) : NULL;
	return src != NULL && *dst == NULL ? KUBE_ENOMEM : 0;
}

int kube_exec_config_copy(struct kube_exec_config *dst, const struct kube_exec_config *src)
{
	int rc = 0;

	memset(dst, 0, sizeof(*dst));
	dst->provide_cluster_info = src->provide_cluster_info;
	dst->timeout_ms = src->timeout_ms;
	rc |= dup_str(&dst->command, src->command);
	rc |= dup_str(&dst->api_version, src->api_version);
	rc |= dup_str(&dst->install_hint, src->install_hint);
	rc |= dup_str(&dst->cluster_config, src->cluster_config);
	if (rc == 0 && src->nargs > 0) {
		dst->args = calloc(src->nargs, sizeof(*dst->args));
		if (dst->args == NULL)
			rc = KUBE_ENOMEM;
		for (size_t i = 0; rc == 0 && i < src->nargs; i++, dst->nargs++)
			rc = dup_str(&dst->args[i], src->args[i]);
	}
	if (rc == 0 && src->nenv > 0) {
		dst->env = calloc(src->nenv, sizeof(*dst->env));
		if (dst->env == NULL)
			rc = KUBE_ENOMEM;
		for (size_t i = 0; rc == 0 && i < src->nenv; i++, dst->nenv++) {
			rc = dup_str(&dst->env[i].name, src->env[i].name);
			rc |= dup_str(&dst->env[i].value, src->env[i].value);
		}
	}
	if (rc != 0) {
		kube_exec_config_free(dst);
		return KUBE_ENOMEM;
	}
	return 0;
}

/* A YAML scalar as a string (YAML typed `8080` as a number; exec wants strings). NULL/missing ->
 * *dst NULL. 1 = not a scalar. */
static int scalar_dup(const cJSON *v, char **dst)
{
	*dst = NULL;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (cJSON_IsString(v)) {
		*dst = strdup(v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		if (asprintf(dst, "%.17g", v->valuedouble) < 0)
			*dst = NULL;
	} else if (cJSON_IsBool(v)) {
		*dst = strdup(cJSON_IsTrue(v) ? "true" : "false");
	} else {
		return 1;
	}
	return *dst == NULL ? KUBE_ENOMEM : 0;
}

/* obj[key] as a string into *dst; errors name where.key. */
static int get_field(const cJSON *obj, const char *key, const char *where, char **dst,
		     char **errmsg)
{
	int rc = scalar_dup(kube_json_get(obj, key, NULL), dst);

	if (rc == 1)
		return xfail(errmsg, KUBE_ECONFIG, "%s.%s: expected a string", where, key);
	return rc;
}

static int parse_args(const cJSON *exec, const char *where, struct kube_exec_config *x,
		      char **errmsg)
{
	const cJSON *args = kube_json_get(exec, "args", NULL), *it;
	size_t n;
	int rc;

	if (args == NULL || cJSON_IsNull(args))
		return 0;
	if (!cJSON_IsArray(args))
		return xfail(errmsg, KUBE_ECONFIG, "%s.args: expected a list of strings", where);
	n = (size_t)cJSON_GetArraySize(args);
	x->args = calloc(n + 1, sizeof(*x->args));
	if (x->args == NULL)
		return KUBE_ENOMEM;
	cJSON_ArrayForEach(it, args) {
		rc = scalar_dup(it, &x->args[x->nargs]);
		if (rc == 1 || (rc == 0 && x->args[x->nargs] == NULL))
			return xfail(errmsg, KUBE_ECONFIG, "%s.args[%zu]: expected a string", where,
				     x->nargs);
		if (rc != 0)
			return rc;
		x->nargs++;
	}
	return 0;
}

static int parse_env(const cJSON *exec, const char *where, struct kube_exec_config *x,
		     char **errmsg)
{
	const cJSON *env = kube_json_get(exec, "env", NULL), *it;
	char item[64];
	int rc;

	if (env == NULL || cJSON_IsNull(env))
		return 0;
	if (!cJSON_IsArray(env))
		return xfail(errmsg, KUBE_ECONFIG, "%s.env: expected a list of {name, value}", where);
	x->env = calloc((size_t)cJSON_GetArraySize(env) + 1, sizeof(*x->env));
	if (x->env == NULL)
		return KUBE_ENOMEM;
	cJSON_ArrayForEach(it, env) {
		struct kube_exec_env *e = &x->env[x->nenv++];

		snprintf(item, sizeof(item), "env[%zu]", x->nenv - 1);
		if (!cJSON_IsObject(it))
			return xfail(errmsg, KUBE_ECONFIG, "%s.%s: expected {name, value}", where, item);
		rc = scalar_dup(kube_json_get(it, "name", NULL), &e->name);
		if (rc == 0)
			rc = scalar_dup(kube_json_get(it, "value", NULL), &e->value);
		if (rc == 1)
			return xfail(errmsg, KUBE_ECONFIG, "%s.%s: name and value must be strings",
				     where, item);
		if (rc != 0)
			return rc;
		if (e->name == NULL || e->name[0] == '\0' || strchr(e->name, '=') != NULL)
			return xfail(errmsg, KUBE_ECONFIG, "%s.%s.name: missing or invalid", where,
				     item);
		if (e->value == NULL && (e->value = strdup("")) == NULL)
			return KUBE_ENOMEM;
	}
	return 0;
}

static int parse_modes(const cJSON *exec, const char *where, struct kube_exec_config *x,
		       char **errmsg)
{
	const cJSON *pci = kube_json_get(exec, "provideClusterInfo", NULL);
	char *mode = NULL;
	int rc;

	if (cJSON_IsBool(pci))
		x->provide_cluster_info = cJSON_IsTrue(pci);
	else if (cJSON_IsString(pci))
		x->provide_cluster_info = strcmp(pci->valuestring, "true") == 0;
	else if (pci != NULL && !cJSON_IsNull(pci))
		return xfail(errmsg, KUBE_ECONFIG, "%s.provideClusterInfo: expected true or false",
			     where);
	rc = get_field(exec, "interactiveMode", where, &mode, errmsg);
	if (rc != 0)
		return rc;
	if (mode == NULL || mode[0] == '\0') {
		/* client-go defaults v1beta1 to IfAvailable and requires the field for v1. */
		rc = strcmp(x->api_version, KUBE_EXEC_API_V1) == 0
			     ? xfail(errmsg, KUBE_ECONFIG,
				     "%s.interactiveMode: missing (required for %s; use Never or "
				     "IfAvailable)", where, KUBE_EXEC_API_V1)
			     : 0;
	} else if (strcmp(mode, "Always") == 0) {
		rc = xfail(errmsg, KUBE_ECONFIG,
			   "%s.interactiveMode: Always needs a terminal; this client never runs "
			   "plugins interactively (use Never or IfAvailable)", where);
	} else if (strcmp(mode, "Never") != 0 && strcmp(mode, "IfAvailable") != 0) {
		rc = xfail(errmsg, KUBE_ECONFIG,
			   "%s.interactiveMode: \"%s\" is not Never, IfAvailable or Always", where,
			   mode);
	}
	free(mode);
	return rc;
}

int kube_exec_config_parse(const cJSON *exec, const char *dir, const char *where,
			   struct kube_exec_config *out, char **errmsg)
{
	char *cmd = NULL, *w = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (asprintf(&w, "%s.exec", where != NULL ? where : "user") < 0)
		return KUBE_ENOMEM;
	if (!cJSON_IsObject(exec)) {
		rc = xfail(errmsg, KUBE_ECONFIG, "%s: expected a mapping", w);
		goto out;
	}
	rc = get_field(exec, "command", w, &cmd, errmsg);
	if (rc == 0 && (cmd == NULL || cmd[0] == '\0'))
		rc = xfail(errmsg, KUBE_ECONFIG,
			   "%s.command: missing (required to use an exec credential plugin)", w);
	if (rc == 0)
		rc = get_field(exec, "apiVersion", w, &out->api_version, errmsg);
	if (rc != 0)
		goto out;
	if (out->api_version == NULL || out->api_version[0] == '\0') {
		rc = xfail(errmsg, KUBE_ECONFIG, "%s.apiVersion: missing (want %s or %s)", w,
			   KUBE_EXEC_API_V1, KUBE_EXEC_API_V1BETA1);
		goto out;
	}
	if (strcmp(out->api_version, API_V1ALPHA1) == 0) {
		rc = xfail(errmsg, KUBE_ECONFIG,
			   "%s.apiVersion: %s is no longer supported (removed in Kubernetes 1.24); "
			   "use %s or %s", w, API_V1ALPHA1, KUBE_EXEC_API_V1, KUBE_EXEC_API_V1BETA1);
		goto out;
	}
	if (strcmp(out->api_version, KUBE_EXEC_API_V1) != 0 &&
	    strcmp(out->api_version, KUBE_EXEC_API_V1BETA1) != 0) {
		rc = xfail(errmsg, KUBE_ECONFIG, "%s.apiVersion: \"%s\" is not supported (want %s or %s)",
			   w, out->api_version, KUBE_EXEC_API_V1, KUBE_EXEC_API_V1BETA1);
		goto out;
	}
	/* client-go: a command with a path separator is relative to the kubeconfig's directory; a
	 * bare name is looked up in PATH. */
	if (cmd[0] != '/' && strchr(cmd, '/') != NULL && dir != NULL) {
		if (asprintf(&out->command, "%s/%s", dir, cmd) < 0) {
			out->command = NULL;
			rc = KUBE_ENOMEM;
			goto out;
		}
	} else {
		out->command = cmd;
		cmd = NULL;
	}
	rc = get_field(exec, "installHint", w, &out->install_hint, errmsg);
	if (rc == 0)
		rc = parse_args(exec, w, out, errmsg);
	if (rc == 0)
		rc = parse_env(exec, w, out, errmsg);
	if (rc == 0)
		rc = parse_modes(exec, w, out, errmsg);
out:
	if (rc != 0)
		kube_exec_config_free(out);
	free(cmd);
	free(w);
	return rc;
}

/* --- credentials ---------------------------------------------------------------------------- */

static void wipe_free(char *s)
{
	if (s == NULL)
		return;
	memset(s, 0, strlen(s));
	free(s);
}

void kube_exec_cred_release(struct kube_exec_cred *cred)
{
	if (cred == NULL)
		return;
	wipe_free(cred->token);
	wipe_free(cred->client_cert_data);
	wipe_free(cred->client_key_data);
	memset(cred, 0, sizeof(*cred));
}

/* RFC 3339 ("2026-01-02T03:04:05Z", fractions and offsets allowed) -> UTC seconds. */
static int parse_rfc3339(const char *s, time_t *out)
{
	int64_t sec = 0;

	if (kube_time_parse(s, &sec, NULL) != 0)
		return -1;
	*out = (time_t)sec;
	return 0;
}

static int status_str(const cJSON *status, const char *key, char **dst, char **errmsg)
{
	const cJSON *v = kube_json_get(status, key, NULL);

	*dst = NULL;
	if (v == NULL || cJSON_IsNull(v) || (cJSON_IsString(v) && v->valuestring[0] == '\0'))
		return 0;
	if (!cJSON_IsString(v))
		return xfail(errmsg, KUBE_ECONFIG, "exec plugin output: status.%s: expected a string",
			     key);
	*dst = strdup(v->valuestring);
	return *dst == NULL ? KUBE_ENOMEM : 0;
}

int kube_exec_parse_output(const char *api_version, const char *buf, size_t len,
			   struct kube_exec_cred *out, char **errmsg)
{
	cJSON *doc = NULL;
	const cJSON *status;
	const char *v, *exp;
	int rc = KUBE_ECONFIG;

	memset(out, 0, sizeof(*out));
	doc = len > 0 ? kube_json_parse_len(buf, len) : NULL;
	/* The output is not echoed: it may hold a credential. */
	if (!cJSON_IsObject(doc)) {
		xfail(errmsg, rc, "exec plugin output: not a JSON ExecCredential (%zu bytes)", len);
		goto out;
	}
	v = kube_json_get_str(doc, "kind", NULL);
	if (v == NULL || strcmp(v, "ExecCredential") != 0) {
		xfail(errmsg, rc, "exec plugin output: kind: got \"%s\", want ExecCredential",
		      v != NULL ? v : "");
		goto out;
	}
	v = kube_json_get_str(doc, "apiVersion", NULL);
	if (v == NULL || strcmp(v, api_version) != 0) {
		xfail(errmsg, rc, "exec plugin output: apiVersion: got \"%s\", the kubeconfig asks for %s",
		      v != NULL ? v : "", api_version);
		goto out;
	}
	status = kube_json_get(doc, "status", NULL);
	if (!cJSON_IsObject(status)) {
		xfail(errmsg, rc, "exec plugin output: status: missing");
		goto out;
	}
	rc = status_str(status, "token", &out->token, errmsg);
	if (rc == 0)
		rc = status_str(status, "clientCertificateData", &out->client_cert_data, errmsg);
	if (rc == 0)
		rc = status_str(status, "clientKeyData", &out->client_key_data, errmsg);
	if (rc != 0)
		goto out;
	rc = KUBE_ECONFIG;
	if ((out->client_cert_data == NULL) != (out->client_key_data == NULL)) {
		xfail(errmsg, rc, "exec plugin output: status.%s: missing (clientCertificateData and "
		      "clientKeyData come as a pair)",
		      out->client_cert_data == NULL ? "clientCertificateData" : "clientKeyData");
		goto out;
	}
	if (out->client_cert_data != NULL && strstr(out->client_cert_data, "-----BEGIN ") == NULL) {
		xfail(errmsg, rc, "exec plugin output: status.clientCertificateData: not PEM");
		goto out;
	}
	if (out->client_key_data != NULL && strstr(out->client_key_data, "-----BEGIN ") == NULL) {
		xfail(errmsg, rc, "exec plugin output: status.clientKeyData: not PEM");
		goto out;
	}
	if (out->token == NULL && out->client_cert_data == NULL) {
		xfail(errmsg, rc, "exec plugin output: status: neither token nor "
		      "clientCertificateData/clientKeyData");
		goto out;
	}
	exp = kube_json_get_str(status, "expirationTimestamp", NULL);
	if (kube_json_get(status, "expirationTimestamp", NULL) != NULL && exp == NULL &&
	    !cJSON_IsNull(kube_json_get(status, "expirationTimestamp", NULL))) {
		xfail(errmsg, rc, "exec plugin output: status.expirationTimestamp: expected a string");
		goto out;
	}
	if (exp != NULL && exp[0] != '\0' && parse_rfc3339(exp, &out->expiry) != 0) {
		xfail(errmsg, rc, "exec plugin output: status.expirationTimestamp: \"%s\" is not an "
		      "RFC 3339 time", exp);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		kube_exec_cred_release(out);
	cJSON_Delete(doc);
	return rc;
}

/* --- running the plugin --------------------------------------------------------------------- */

/* The CA PEM for spec.cluster: ca_data, else the ca_file's contents (as client-go loads it). */
static char *read_ca(const struct kube_config *cfg, size_t *len)
{
	FILE *f;
	char *buf;

	if (cfg->ca_data != NULL) {
		*len = strlen(cfg->ca_data);
		return strdup(cfg->ca_data);
	}
	if (cfg->ca_file == NULL || (f = fopen(cfg->ca_file, "rb")) == NULL)
		return NULL;
	buf = malloc(MAX_CA_FILE + 1);
	if (buf != NULL) {
		*len = fread(buf, 1, MAX_CA_FILE, f);
		buf[*len] = '\0';
	}
	fclose(f);
	return buf;
}

/* KUBERNETES_EXEC_INFO's value: {apiVersion, kind, spec: {interactive: false[, cluster]}}. */
static char *exec_info(const struct kube_exec_config *x, const struct kube_config *cluster)
{
	cJSON *root = cJSON_CreateObject(), *spec, *cl;
	char *text = NULL, *ca = NULL, *b64 = NULL;
	size_t calen = 0;

	if (root == NULL)
		return NULL;
	cJSON_AddStringToObject(root, "apiVersion", x->api_version);
	cJSON_AddStringToObject(root, "kind", "ExecCredential");
	spec = cJSON_AddObjectToObject(root, "spec");
	if (spec == NULL || cJSON_AddBoolToObject(spec, "interactive", 0) == NULL)
		goto out;
	if (x->provide_cluster_info && cluster != NULL) {
		cl = cJSON_AddObjectToObject(spec, "cluster");
		if (cl == NULL)
			goto out;
		cJSON_AddStringToObject(cl, "server", cluster->server != NULL ? cluster->server : "");
		if (cluster->insecure_skip_tls_verify)
			cJSON_AddBoolToObject(cl, "insecure-skip-tls-verify", 1);
		ca = read_ca(cluster, &calen);
		if (ca != NULL && calen > 0) {
			b64 = malloc((calen + 2) / 3 * 4 + 1);
			if (b64 == NULL)
				goto out;
			EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)ca, (int)calen);
			cJSON_AddStringToObject(cl, "certificate-authority-data", b64);
		}
		if (x->cluster_config != NULL)
			cJSON_AddItemToObject(cl, "config", cJSON_Parse(x->cluster_config));
	}
	text = cJSON_PrintUnformatted(root);
out:
	free(ca);
	free(b64);
	cJSON_Delete(root);
	return text;
}

static bool env_overridden(const struct kube_exec_config *x, const char *entry)
{
	size_t n = strcspn(entry, "=");

	if (strncmp(entry, EXEC_INFO_ENV "=", sizeof(EXEC_INFO_ENV)) == 0)
		return true;
	for (size_t i = 0; i < x->nenv; i++)
		if (strlen(x->env[i].name) == n && strncmp(entry, x->env[i].name, n) == 0)
			return true;
	return false;
}

/* Our environment minus what exec.env overrides, then exec.env, then KUBERNETES_EXEC_INFO. The
 * strings of our own environment are borrowed; from index *nown on they are owned. */
static char **build_env(const struct kube_exec_config *x, const char *info, size_t *nown)
{
	size_t n = 0, k = 0;
	char **envp;

	while (environ != NULL && environ[n] != NULL)
		n++;
	envp = calloc(n + x->nenv + 2, sizeof(*envp));
	if (envp == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!env_overridden(x, environ[i]))
			envp[k++] = environ[i];
	*nown = k;
	for (size_t i = 0; i < x->nenv; i++, k++)
		if (asprintf(&envp[k], "%s=%s", x->env[i].name, x->env[i].value) < 0)
			goto fail;
	if (asprintf(&envp[k], EXEC_INFO_ENV "=%s", info) < 0)
		goto fail;
	return envp;
fail:
	envp[k] = NULL;
	for (size_t i = *nown; envp[i] != NULL; i++)
		free(envp[i]);
	free(envp);
	return NULL;
}

static void free_env(char **envp, size_t nown)
{
	if (envp == NULL)
		return;
	for (size_t i = nown; envp[i] != NULL; i++)
		wipe_free(envp[i]);
	free(envp);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct capture {
	char *out;
	size_t outlen;
	char err[KUBE_EXEC_MAX_STDERR + 1];
	size_t errlen;
	bool too_big, timed_out;
	int read_errno; /* why reading failed (KUBE_EIO) */
};

/* Drains the child's stdout and stderr until both close, the deadline passes or stdout grows
 * past the bound. */
static int drain(int outfd, int errfd, long long deadline, struct capture *cap)
{
	struct pollfd pf[2] = { { .fd = outfd, .events = POLLIN }, { .fd = errfd, .events = POLLIN } };
	char buf[4096];
	ssize_t n;

	cap->out = malloc(KUBE_EXEC_MAX_STDOUT + 1);
	if (cap->out == NULL)
		return KUBE_ENOMEM;
	while (pf[0].fd >= 0 || pf[1].fd >= 0) {
		long long left = deadline - now_ms();

		if (left <= 0) {
			cap->timed_out = true;
			return 0;
		}
		if (poll(pf, 2, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			cap->read_errno = errno;
			return KUBE_EIO;
		}
		for (int i = 0; i < 2; i++) {
			if (pf[i].fd < 0 || pf[i].revents == 0)
				continue;
			n = read(pf[i].fd, buf, sizeof(buf));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				pf[i].fd = -1;
				continue;
			}
			if (i == 0) {
				if (cap->outlen + (size_t)n > KUBE_EXEC_MAX_STDOUT) {
					cap->too_big = true;
					return 0;
				}
				memcpy(cap->out + cap->outlen, buf, (size_t)n);
				cap->outlen += (size_t)n;
			} else {
				size_t room = KUBE_EXEC_MAX_STDERR - cap->errlen;

				if ((size_t)n < room)
					room = (size_t)n;
				memcpy(cap->err + cap->errlen, buf, room);
				cap->errlen += room;
			}
		}
	}
	cap->out[cap->outlen] = '\0';
	return 0;
}

/* Waits for the child until the deadline; then kills its process group and reaps it. */
static int reap(pid_t pid, long long deadline, bool kill_now, int *status)
{
	pid_t r;

	while (!kill_now) {
		r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
		if (now_ms() >= deadline)
			break;
		poll(NULL, 0, 5);
	}
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while ((r = waitpid(pid, status, 0)) < 0 && errno == EINTR)
		;
	return 1;
}

/* The first line-ish of stderr for messages: trailing whitespace dropped. */
static const char *stderr_text(struct capture *cap)
{
	while (cap->errlen > 0 && (cap->err[cap->errlen - 1] == '\n' ||
				   cap->err[cap->errlen - 1] == '\r' || cap->err[cap->errlen - 1] == ' '))
		cap->errlen--;
	cap->err[cap->errlen] = '\0';
	return cap->err;
}

static int spawn(const struct kube_exec_config *x, char **envp, int outfd, int errfd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	char **argv;
	int err;

	argv = calloc(x->nargs + 2, sizeof(*argv));
	if (argv == NULL)
		return ENOMEM;
	argv[0] = x->command;
	for (size_t i = 0; i < x->nargs; i++)
		argv[i + 1] = x->args[i];
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, outfd, 1);
	posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	posix_spawnattr_init(&attr);
	/* Own process group (a timeout kills the plugin's children too), clean signal state. */
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGCHLD);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					       POSIX_SPAWN_SETPGROUP);
	err = posix_spawnp(pid, x->command, &fa, &attr, argv, envp);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	free(argv);
	return err;
}

int kube_exec_run(const struct kube_exec_config *x, const struct kube_config *cluster,
		  struct kube_exec_cred *out, char **errmsg)
{
	struct capture cap;
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 }, err, status = 0, rc;
	char *info = NULL, **envp = NULL;
	size_t nown = 0;
	long long deadline;
	pid_t pid = -1;

	memset(&cap, 0, sizeof(cap));
	if (errmsg != NULL)
		*errmsg = NULL;
	if (x == NULL || out == NULL || x->command == NULL || x->api_version == NULL)
		return KUBE_EINVAL;
	memset(out, 0, sizeof(*out));
	deadline = now_ms() + (x->timeout_ms > 0 ? x->timeout_ms : KUBE_EXEC_TIMEOUT_MS);
	info = exec_info(x, cluster);
	envp = info != NULL ? build_env(x, info, &nown) : NULL;
	if (envp == NULL) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	if (pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0) {
		rc = xfail(errmsg, KUBE_ECONFIG, "exec plugin \"%s\": pipe: %s", x->command,
			   strerror(errno));
		goto out;
	}
	err = spawn(x, envp, outp[1], errp[1], &pid);
	close(outp[1]);
	close(errp[1]);
	outp[1] = errp[1] = -1;
	if (err != 0) {
		pid = -1;
		rc = xfail(errmsg, KUBE_ECONFIG, "exec plugin: cannot run \"%s\": %s%s%s", x->command,
			   strerror(err), x->install_hint != NULL ? "\n" : "",
			   x->install_hint != NULL ? x->install_hint : "");
		goto out;
	}
	rc = drain(outp[0], errp[0], deadline, &cap);
	/* Close our ends first so a plugin blocked writing gets EPIPE instead of hanging. */
	close(outp[0]);
	close(errp[0]);
	outp[0] = errp[0] = -1;
	if (reap(pid, deadline, rc != 0 || cap.timed_out || cap.too_big, &status) > 0 &&
	    rc == 0 && !cap.too_big)
		cap.timed_out = true;
	pid = -1;
	if (rc == KUBE_EIO)
		rc = xfail(errmsg, KUBE_ECONFIG, "exec plugin \"%s\": reading its output: %s",
			   x->command, strerror(cap.read_errno));
	if (rc != 0)
		goto out;
	if (cap.timed_out) {
		rc = xfail(errmsg, KUBE_ECONFIG, "exec plugin \"%s\": timed out after %ld ms, killed%s%s",
			   x->command, x->timeout_ms > 0 ? x->timeout_ms : KUBE_EXEC_TIMEOUT_MS,
			   cap.errlen > 0 ? ": " : "", stderr_text(&cap));
	} else if (cap.too_big) {
		rc = xfail(errmsg, KUBE_ECONFIG, "exec plugin \"%s\": output larger than %d bytes",
			   x->command, KUBE_EXEC_MAX_STDOUT);
	} else if (WIFSIGNALED(status)) {
		rc = xfail(errmsg, KUBE_ECONFIG, "exec plugin \"%s\": killed by signal %d%s%s",
			   x->command, WTERMSIG(status), cap.errlen > 0 ? ": " : "",
			   stderr_text(&cap));
	} else if (WEXITSTATUS(status) != 0) {
		rc = xfail(errmsg, KUBE_ECONFIG, "exec plugin \"%s\": exit status %d%s%s", x->command,
			   WEXITSTATUS(status), cap.errlen > 0 ? ": " : "", stderr_text(&cap));
	} else {
		rc = kube_exec_parse_output(x->api_version, cap.out, cap.outlen, out, errmsg);
		if (rc != 0 && errmsg != NULL && *errmsg != NULL) {
			char *m = *errmsg;

			*errmsg = NULL;
			xfail(errmsg, rc, "exec plugin \"%s\": %s", x->command, m);
			free(m);
		}
	}
out:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	if (cap.out != NULL) {
		memset(cap.out, 0, cap.outlen);
		free(cap.out);
	}
	free_env(envp, nown);
	if (info != NULL)
		wipe_free(info);
	return rc;
}
