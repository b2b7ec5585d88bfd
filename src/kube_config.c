/* Kubeconfig and in-cluster configuration loading; see kube_config.h. Kubeconfig YAML goes
 * through kube_yaml (libyaml) and is then read as JSON, the way client-go reads it. */
#include "kube_config.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "kube_error.h"
#include "kube_exec.h"
#include "kube_json.h"
#include "kube_log.h"
#include "kube_yaml.h"

#define SA_DIR_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount"

/* Sets *errmsg to "<file>: <formatted>" when the caller wants a message; returns rc. */
static int fail(char **errmsg, int rc, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char **errmsg, int rc, const char *file, const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;

	if (errmsg == NULL)
		return rc;
	free(*errmsg);
	*errmsg = NULL;
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	if (text == NULL || asprintf(errmsg, "%s: %s", file, text) < 0)
		*errmsg = NULL;
	free(text);
	return rc;
}

void kube_config_release(struct kube_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->server);
	free(cfg->ca_file);
	free(cfg->ca_data);
	free(cfg->client_cert_file);
	free(cfg->client_key_file);
	free(cfg->client_cert_data);
	free(cfg->client_key_data);
	free(cfg->token);
	free(cfg->token_file);
	free(cfg->namespace);
	free(cfg->context);
	free(cfg->source);
	kube_exec_config_free(cfg->exec);
	free(cfg->exec);
	memset(cfg, 0, sizeof(*cfg));
}

static int dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (src == NULL)
		return 0;
	*dst = strdup(src);
	return *dst == NULL ? KUBE_ENOMEM : 0;
}

int kube_config_copy(struct kube_config *dst, const struct kube_config *src)
{
	int rc = 0;

	if (dst == NULL || src == NULL)
		return KUBE_EINVAL;
	memset(dst, 0, sizeof(*dst));
	dst->insecure_skip_tls_verify = src->insecure_skip_tls_verify;
	rc |= dup_opt(&dst->server, src->server);
	rc |= dup_opt(&dst->ca_file, src->ca_file);
	rc |= dup_opt(&dst->ca_data, src->ca_data);
	rc |= dup_opt(&dst->client_cert_file, src->client_cert_file);
	rc |= dup_opt(&dst->client_key_file, src->client_key_file);
	rc |= dup_opt(&dst->client_cert_data, src->client_cert_data);
	rc |= dup_opt(&dst->client_key_data, src->client_key_data);
	rc |= dup_opt(&dst->token, src->token);
	rc |= dup_opt(&dst->token_file, src->token_file);
	rc |= dup_opt(&dst->namespace, src->namespace);
	rc |= dup_opt(&dst->context, src->context);
	rc |= dup_opt(&dst->source, src->source);
	if (rc == 0 && src->exec != NULL) {
		dst->exec = calloc(1, sizeof(*dst->exec));
		rc = dst->exec == NULL ? KUBE_ENOMEM : kube_exec_config_copy(dst->exec, src->exec);
	}
	if (rc != 0) {
		kube_config_release(dst);
		return KUBE_ENOMEM;
	}
	return 0;
}

int kube_config_init_server(struct kube_config *out, const char *server)
{
	if (out == NULL || server == NULL || server[0] == '\0')
		return KUBE_EINVAL;
	memset(out, 0, sizeof(*out));
	out->server = strdup(server);
	out->namespace = strdup("default");
	out->source = strdup("explicit");
	if (out->server == NULL || out->namespace == NULL || out->source == NULL) {
		kube_config_release(out);
		return KUBE_ENOMEM;
	}
	/* Strip trailing slashes so paths can be appended as "/api/v1/...". */
	for (size_t n = strlen(out->server); n > 1 && out->server[n - 1] == '/'; n--)
		out->server[n - 1] = '\0';
	return 0;
}

/* Reads a small file whole; NUL-terminated. *len may be NULL. */
static int slurp(const char *path, char **out, size_t *len)
{
	FILE *f;
	char *buf = NULL, *nb;
	size_t cap = 0, n = 0, r;
	int rc = 0;

	*out = NULL;
	f = fopen(path, "rb");
	if (f == NULL)
		return KUBE_ECONFIG;
	for (;;) {
		if (n + 1024 + 1 > cap) {
			cap = cap == 0 ? 4096 : cap * 2;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				rc = KUBE_ENOMEM;
				goto out;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		rc = KUBE_ECONFIG;
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	if (len != NULL)
		*len = n;
out:
	free(buf);
	fclose(f);
	return rc;
}

static void trim(char *s)
{
	size_t n = strlen(s), i = 0;

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	while (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
		i++;
	if (i > 0)
		memmove(s, s + i, n - i + 1);
}

int kube_config_read_token(const struct kube_config *cfg, char **out)
{
	int rc;

	if (cfg == NULL || out == NULL)
		return KUBE_EINVAL;
	*out = NULL;
	if (cfg->token_file != NULL && cfg->token_file[0] != '\0') {
		rc = slurp(cfg->token_file, out, NULL);
		if (rc != 0)
			return rc;
		trim(*out);
		return 0;
	}
	if (cfg->token != NULL) {
		*out = strdup(cfg->token);
		return *out == NULL ? KUBE_ENOMEM : 0;
	}
	return 0;
}

/* Base64 (with or without newlines) -> NUL-terminated bytes. */
static int b64_decode(const char *in, char **out)
{
	EVP_ENCODE_CTX *ctx = NULL;
	size_t inlen = strlen(in);
	unsigned char *buf = NULL;
	int n = 0, m = 0, rc = 0;

	*out = NULL;
	buf = malloc(inlen / 4 * 3 + 4);
	ctx = EVP_ENCODE_CTX_new();
	if (buf == NULL || ctx == NULL) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, buf, &n, (const unsigned char *)in, (int)inlen) < 0 ||
	    EVP_DecodeFinal(ctx, buf + n, &m) < 0) {
		rc = KUBE_ECONFIG;
		goto out;
	}
	buf[n + m] = '\0';
	*out = (char *)buf;
	buf = NULL;
out:
	EVP_ENCODE_CTX_free(ctx);
	free(buf);
	return rc;
}

/* Finds the entry named `name` in a kubeconfig list ("clusters", "users", "contexts") and returns
 * its body (entry[field]). */
static const cJSON *find_named(const cJSON *doc, const char *list, const char *field,
			       const char *name)
{
	const cJSON *arr = kube_json_get(doc, list, NULL), *it;

	if (!cJSON_IsArray(arr))
		return NULL;
	cJSON_ArrayForEach(it, arr) {
		const char *n = kube_json_get_str(it, "name", NULL);

		if (n != NULL && strcmp(n, name) == 0) {
			const cJSON *body = kube_json_get(it, field, NULL);

			/* An entry with an empty body is legal ("user: {}"), give it an object. */
			return body != NULL ? body : it;
		}
	}
	return NULL;
}

struct loader {
	const char *file;
	char *dir;    /* directory of `file` for relative paths */
	char **errmsg;
};

/* Copies the scalar at obj[key] as a string: numbers and bools are written out (YAML typed
 * them, the kubeconfig schema wants strings). Missing/null -> *dst NULL. */
static int get_string(struct loader *ld, const cJSON *obj, const char *key, const char *where,
		      char **dst)
{
	const cJSON *v = kube_json_get(obj, key, NULL);

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
		return fail(ld->errmsg, KUBE_ECONFIG, ld->file, "%s.%s: expected a string", where,
			    key);
	}
	return *dst == NULL ? KUBE_ENOMEM : 0;
}

static int get_path(struct loader *ld, const cJSON *obj, const char *key, const char *where,
		    char **dst)
{
	char *p = NULL;
	int rc;

	rc = get_string(ld, obj, key, where, &p);
	if (rc != 0 || p == NULL || p[0] == '/' || p[0] == '\0') {
		*dst = p;
		return rc;
	}
	if (asprintf(dst, "%s/%s", ld->dir, p) < 0) {
		*dst = NULL;
		rc = KUBE_ENOMEM;
	}
	free(p);
	return rc;
}

static int get_b64(struct loader *ld, const cJSON *obj, const char *key, const char *where,
		   char **dst)
{
	char *raw = NULL;
	int rc;

	*dst = NULL;
	rc = get_string(ld, obj, key, where, &raw);
	if (rc != 0 || raw == NULL)
		goto out;
	rc = b64_decode(raw, dst);
	if (rc == KUBE_ECONFIG)
		rc = fail(ld->errmsg, rc, ld->file, "%s.%s: invalid base64", where, key);
out:
	free(raw);
	return rc;
}

static int load_cluster(struct loader *ld, const cJSON *cluster, const char *where,
			struct kube_config *cfg)
{
	const cJSON *insecure;
	int rc;

	rc = get_string(ld, cluster, "server", where, &cfg->server);
	if (rc != 0)
		return rc;
	if (cfg->server == NULL || cfg->server[0] == '\0')
		return fail(ld->errmsg, KUBE_ECONFIG, ld->file, "%s.server: missing", where);
	for (size_t n = strlen(cfg->server); n > 1 && cfg->server[n - 1] == '/'; n--)
		cfg->server[n - 1] = '\0';
	rc = get_path(ld, cluster, "certificate-authority", where, &cfg->ca_file);
	if (rc == 0)
		rc = get_b64(ld, cluster, "certificate-authority-data", where, &cfg->ca_data);
	if (rc != 0)
		return rc;
	insecure = kube_json_get(cluster, "insecure-skip-tls-verify", NULL);
	if (cJSON_IsBool(insecure))
		cfg->insecure_skip_tls_verify = cJSON_IsTrue(insecure);
	else if (cJSON_IsString(insecure))
		cfg->insecure_skip_tls_verify = strcmp(insecure->valuestring, "true") == 0;
	else if (insecure != NULL && !cJSON_IsNull(insecure))
		return fail(ld->errmsg, KUBE_ECONFIG, ld->file,
			    "%s.insecure-skip-tls-verify: expected true or false", where);
	if (cfg->insecure_skip_tls_verify)
		kube_log(KUBE_LOG_WARN, "config",
			 "insecure-skip-tls-verify is set: the API server's certificate is NOT "
			 "verified, so anyone on the network path can impersonate it; give the "
			 "cluster a certificate-authority instead", "kubeconfig", ld->file,
			 "cluster", where, "server", cfg->server, NULL);
	return 0;
}

static int load_exec(struct loader *ld, const cJSON *exec, const char *where,
		     struct kube_config *cfg)
{
	char *msg = NULL;
	int rc;

	cfg->exec = calloc(1, sizeof(*cfg->exec));
	if (cfg->exec == NULL)
		return KUBE_ENOMEM;
	rc = kube_exec_config_parse(exec, ld->dir, where, cfg->exec, &msg);
	if (rc == KUBE_ECONFIG)
		rc = fail(ld->errmsg, rc, ld->file, "%s", msg != NULL ? msg : "exec: invalid");
	free(msg);
	return rc;
}

static int load_user(struct loader *ld, const cJSON *user, const char *where,
		     struct kube_config *cfg)
{
	const cJSON *exec = kube_json_get(user, "exec", NULL);
	int rc;

	rc = get_string(ld, user, "token", where, &cfg->token);
	if (rc == 0)
		rc = get_path(ld, user, "tokenFile", where, &cfg->token_file);
	if (rc == 0)
		rc = get_path(ld, user, "client-certificate", where, &cfg->client_cert_file);
	if (rc == 0)
		rc = get_path(ld, user, "client-key", where, &cfg->client_key_file);
	if (rc == 0)
		rc = get_b64(ld, user, "client-certificate-data", where, &cfg->client_cert_data);
	if (rc == 0)
		rc = get_b64(ld, user, "client-key-data", where, &cfg->client_key_data);
	if (rc != 0)
		return rc;
	if ((cfg->client_cert_file != NULL || cfg->client_cert_data != NULL) !=
	    (cfg->client_key_file != NULL || cfg->client_key_data != NULL))
		return fail(ld->errmsg, KUBE_ECONFIG, ld->file,
			    "%s: client-certificate and client-key must be given together", where);
	if (exec != NULL && !cJSON_IsNull(exec))
		return load_exec(ld, exec, where, cfg);
	if (cfg->token == NULL && cfg->token_file == NULL && cfg->client_cert_file == NULL &&
	    cfg->client_cert_data == NULL && kube_json_get(user, "auth-provider", NULL) != NULL)
		return fail(ld->errmsg, KUBE_ECONFIG, ld->file,
			    "%s.auth-provider: auth providers are not supported", where);
	return 0;
}

int kube_config_load_file(const char *path, const char *context, struct kube_config *out,
			  char **errmsg)
{
	struct loader ld = { .file = path, .errmsg = errmsg };
	cJSON *doc = NULL;
	const cJSON *ctx, *cluster, *user;
	const char *ctx_name = context, *cluster_name, *user_name, *ns;
	char *inner = NULL, *pathcopy = NULL, *where = NULL;
	int rc;

	if (errmsg != NULL)
		*errmsg = NULL;
	if (path == NULL || out == NULL)
		return KUBE_EINVAL;
	memset(out, 0, sizeof(*out));
	rc = kube_yaml_load_file(path, &doc, &inner);
	if (rc != 0) {
		/* kube_yaml's message already names the file. */
		if (errmsg != NULL) {
			*errmsg = inner;
			inner = NULL;
		}
		goto out;
	}
	if (!cJSON_IsObject(doc)) {
		rc = fail(errmsg, KUBE_ECONFIG, path, "not a kubeconfig (top level is not a mapping)");
		goto out;
	}
	pathcopy = strdup(path);
	if (pathcopy == NULL) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	ld.dir = dirname(pathcopy);
	if (ctx_name == NULL || ctx_name[0] == '\0') {
		ctx_name = kube_json_get_str(doc, "current-context", NULL);
		if (ctx_name == NULL || ctx_name[0] == '\0') {
			rc = fail(errmsg, KUBE_ECONFIG, path, "current-context: not set");
			goto out;
		}
	}
	ctx = find_named(doc, "contexts", "context", ctx_name);
	if (ctx == NULL) {
		rc = fail(errmsg, KUBE_ECONFIG, path, "contexts: no context named \"%s\"", ctx_name);
		goto out;
	}
	cluster_name = kube_json_get_str(ctx, "cluster", NULL);
	user_name = kube_json_get_str(ctx, "user", NULL);
	if (cluster_name == NULL) {
		rc = fail(errmsg, KUBE_ECONFIG, path, "contexts[%s].context.cluster: missing", ctx_name);
		goto out;
	}
	cluster = find_named(doc, "clusters", "cluster", cluster_name);
	if (cluster == NULL) {
		rc = fail(errmsg, KUBE_ECONFIG, path, "clusters: no cluster named \"%s\" (context \"%s\")",
			  cluster_name, ctx_name);
		goto out;
	}
	if (asprintf(&where, "clusters[%s].cluster", cluster_name) < 0) {
		where = NULL;
		rc = KUBE_ENOMEM;
		goto out;
	}
	rc = load_cluster(&ld, cluster, where, out);
	if (rc != 0)
		goto out;
	if (user_name != NULL && user_name[0] != '\0') {
		user = find_named(doc, "users", "user", user_name);
		if (user == NULL) {
			rc = fail(errmsg, KUBE_ECONFIG, path, "users: no user named \"%s\" (context \"%s\")",
				  user_name, ctx_name);
			goto out;
		}
		free(where);
		if (asprintf(&where, "users[%s].user", user_name) < 0) {
			where = NULL;
			rc = KUBE_ENOMEM;
			goto out;
		}
		rc = load_user(&ld, user, where, out);
		if (rc != 0)
			goto out;
	}
	if (out->exec != NULL) {
		/* Per-cluster plugin config, sent as spec.cluster.config (provideClusterInfo). */
		const cJSON *ext = find_named(cluster, "extensions", "extension",
					      "client.authentication.k8s.io/exec");

		if (ext != NULL && (out->exec->cluster_config = cJSON_PrintUnformatted(ext)) == NULL) {
			rc = KUBE_ENOMEM;
			goto out;
		}
	}
	ns = kube_json_get_str(ctx, "namespace", NULL);
	out->namespace = strdup(ns != NULL && ns[0] != '\0' ? ns : "default");
	out->context = strdup(ctx_name);
	out->source = strdup(path);
	if (out->namespace == NULL || out->context == NULL || out->source == NULL)
		rc = KUBE_ENOMEM;
out:
	if (rc != 0)
		kube_config_release(out);
	free(where);
	free(pathcopy);
	free(inner);
	cJSON_Delete(doc);
	return rc;
}

int kube_config_load_incluster(const char *sa_dir, struct kube_config *out, char **errmsg)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	char *nsfile = NULL, *ns = NULL, *ca = NULL;
	struct stat sb;
	int rc = 0;

	if (errmsg != NULL)
		*errmsg = NULL;
	if (out == NULL)
		return KUBE_EINVAL;
	memset(out, 0, sizeof(*out));
	if (sa_dir == NULL)
		sa_dir = SA_DIR_DEFAULT;
	if (host == NULL || host[0] == '\0' || port == NULL || port[0] == '\0') {
		rc = fail(errmsg, KUBE_ECONFIG, "in-cluster",
			  "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
		goto out;
	}
	if (asprintf(&out->server, strchr(host, ':') != NULL ? "https://[%s]:%s" : "https://%s:%s",
		     host, port) < 0 ||
	    asprintf(&out->token_file, "%s/token", sa_dir) < 0 ||
	    asprintf(&ca, "%s/ca.crt", sa_dir) < 0 || asprintf(&nsfile, "%s/namespace", sa_dir) < 0) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	if (access(out->token_file, R_OK) != 0) {
		rc = fail(errmsg, KUBE_ECONFIG, out->token_file, "service account token: %s",
			  strerror(errno));
		goto out;
	}
	/* A missing CA is allowed (client-go only logs it); TLS then uses the system store. */
	if (stat(ca, &sb) == 0) {
		out->ca_file = ca;
		ca = NULL;
	}
	if (slurp(nsfile, &ns, NULL) == 0)
		trim(ns);
	out->namespace = strdup(ns != NULL && ns[0] != '\0' ? ns : "default");
	out->source = strdup("in-cluster");
	if (out->namespace == NULL || out->source == NULL)
		rc = KUBE_ENOMEM;
out:
	if (rc != 0)
		kube_config_release(out);
	free(ns);
	free(nsfile);
	free(ca);
	return rc;
}

int kube_config_load_default(const char *explicit_path, const char *context,
			     struct kube_config *out, char **errmsg)
{
	const char *env = getenv("KUBECONFIG");
	const char *home = getenv("HOME");
	char *list = NULL, *tok, *save = NULL, *home_cfg = NULL;
	int rc;

	if (errmsg != NULL)
		*errmsg = NULL;
	if (explicit_path != NULL && explicit_path[0] != '\0')
		return kube_config_load_file(explicit_path, context, out, errmsg);
	if (env != NULL && env[0] != '\0') {
		list = strdup(env);
		if (list == NULL)
			return KUBE_ENOMEM;
		for (tok = strtok_r(list, ":", &save); tok != NULL; tok = strtok_r(NULL, ":", &save)) {
			if (access(tok, F_OK) == 0) {
				rc = kube_config_load_file(tok, context, out, errmsg);
				goto out;
			}
		}
		rc = fail(errmsg, KUBE_ECONFIG, "$KUBECONFIG", "none of the files in \"%s\" exists", env);
		goto out;
	}
	if (getenv("KUBERNETES_SERVICE_HOST") != NULL) {
		rc = kube_config_load_incluster(NULL, out, errmsg);
		goto out;
	}
	if (home == NULL || asprintf(&home_cfg, "%s/.kube/config", home) < 0) {
		home_cfg = NULL;
		rc = fail(errmsg, KUBE_ECONFIG, "~/.kube/config", "no kubeconfig: $HOME is not set");
		goto out;
	}
	rc = kube_config_load_file(home_cfg, context, out, errmsg);
out:
	free(home_cfg);
	free(list);
	return rc;
}
