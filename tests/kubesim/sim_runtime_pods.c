/* The --run-pods runtime object (see sim_runtime.h): per-pod dirs, env and volumes, one process
 * group per container, exit and OOM detection, probes, restarts with back-off, graceful stop,
 * freezing, and the record of process groups that lets the next start clean up after a SIGKILL. */
#include "sim_runtime.h"
#include "sim_oci.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <uthash.h>

#include "kube_error.h"
#include "kube_log.h"
#include "sim_controllers.h"
#include "sim_kubelet.h"
#include "sim_probe.h"
#include "sim_store.h"

#define LOG_COMP "sim-runtime"
#define TICK_MS 100
#define STOP_ALL_GRACE_MS 2000
#define MARKER "KUBESIM_RUNPODS_INSTANCE"

enum { P_STARTUP = 0, P_LIVENESS, P_READINESS, P_COUNT };

struct probe_job {
	pthread_t th;
	atomic_int done;
	int ok;
	struct sim_runtime *rt; /* woken when done */
	int64_t start_ms;
	struct sim_probe_spec spec;
	char ip[24];
	char **argv, **envp; /* borrowed from the container (exec) */
	const char *cwd;
};

struct mount {
	char *from, *to;
};

struct rt_ctr {
	char *name;
	int init;
	const cJSON *spec; /* borrowed from the pod copy */
	char **argv, **envp;
	char *cwd;
	char term_path[PATH_MAX];
	int fallback_logs;
	int64_t mem_limit;
	int64_t grace_ms;
	struct sim_probe_spec probe[P_COUNT];
	int has_probe[P_COUNT];
	char **probe_argv[P_COUNT];
	struct sim_probe_state pst[P_COUNT];
	struct probe_job *job[P_COUNT];
	int blocked;
	int oci; /* image mode (sim_oci.h): exec probes run inside the container */
	struct sim_oci_pull *pull; /* image mode: the pull in its worker */
	/* state */
	int pull_failed, pulls;
	int64_t pull_retry_ms;
	int64_t pull_backoff_ms; /* >0: ErrImagePull shown, ImagePullBackOff from then */
	enum sim_ctr_state state;
	char wait_reason[32];
	char wait_msg[256];
	pid_t pid;
	int oom;
	int64_t kill_deadline; /* >0: SIGTERM sent (liveness/startup failure), SIGKILL then */
	int run;               /* the log file index of the current/last run */
	int64_t started_ms;
	struct sim_ctr_term term, last;
	char *term_msg, *last_msg;
	int has_last;
	int restart_count;
	int64_t restart_due_ms; /* >0: WAITING, starts then */
	int64_t backoff_ms;
	off_t log_seen; /* bytes of the run's log already stamped */
	int streak; /* restarts since the last long run */
	int done; /* ended and will not run again */
	int ready, started;
};

struct rt_pod {
	UT_hash_handle hh;
	char *uid, *ns, *name;
	char ip[24], node[64];
	cJSON *pod;
	char dir[1536];
	int restart_always, restart_on_failure;
	struct rt_ctr *ctrs;
	size_t n, n_init;
	struct mount *mounts; /* per pod: volume name -> dir (to = NULL) */
	size_t n_mounts;
	int prepared;
	int64_t prepare_retry_ms;
	char prepare_err[2048];
	enum sim_pod_phase phase;
	int stopping, gone, dirty;
	int frozen;  /* node down: the kubelet does nothing for the pod */
	int stopped; /* SIGSTOPped (node down or the freeze fault) */
	int64_t stop_deadline;
};

struct sim_runtime {
	const struct sim_runtime_config *cfg;
	struct sim_store *store;
	sim_runtime_notify_fn notify;
	void *ud;
	char dir[1280]; /* the instance dir */
	char id[64];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t th;
	int stop;
	atomic_int wake; /* run the loop again at once (a change, a child exited, a probe done) */
	int watchers; /* exit watchers still running (see watch_exit) */
	struct rt_pod *pods;
	struct sim_rt_cluster cluster; /* sim_runtime_set_cluster */
};

/* Runs the loop again at once: a signal while it is busy ticking is not lost. */
static void wake_locked(struct sim_runtime *rt)
{
	atomic_store(&rt->wake, 1);
	pthread_cond_broadcast(&rt->cv);
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- Strings ---- */

static int strv_push(char ***v, size_t *n, char *s)
{
	char **nv;

	if (!s)
		return KUBE_ENOMEM;
	nv = realloc(*v, (*n + 2) * sizeof(**v));
	if (!nv) {
		free(s);
		return KUBE_ENOMEM;
	}
	*v = nv;
	nv[(*n)++] = s;
	nv[*n] = NULL;
	return 0;
}

/* a + sep + b, malloc'd. */
static char *str_join(const char *a, const char *sep, const char *b)
{
	size_t n = strlen(a) + strlen(sep) + strlen(b) + 1;
	char *s = malloc(n);

	if (s)
		snprintf(s, n, "%s%s%s", a, sep, b);
	return s;
}

/* Appends s[0..n) to a growing buffer. */
struct buf {
	char *s;
	size_t len, cap;
	int oom;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *ns = realloc(b->s, cap);

		if (!ns) {
			b->oom = 1;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static int path_char(char c)
{
	return c && c != ' ' && c != '"' && c != '\'' && c != ';' && c != ':' && c != '=' &&
	       c != '(' && c != ')' && c != '&' && c != '|' && c != '>' && c != '<';
}

/* Rewrites absolute mount paths (and the termination message path) inside s to their dirs
 * under the pod dir: an occurrence counts at the start or after a non-path character, and ends
 * at '/' or a non-path character. Then expands $(VAR) from env ("K=V"), leaving unknown
 * references as they are, as the kubelet does. Caller frees. */
static char *rewrite(const char *s, const struct mount *m, size_t nm, char *const *env)
{
	struct buf b = {0};
	size_t i, k;

	for (i = 0; s[i];) {
		int hit = 0;

		if (s[i] == '$' && s[i + 1] == '(') {
			const char *close = strchr(s + i + 2, ')');

			for (k = 0; close && env && env[k]; k++) {
				size_t nl = (size_t)(close - (s + i + 2));

				if (strncmp(env[k], s + i + 2, nl) == 0 && env[k][nl] == '=') {
					buf_add(&b, env[k] + nl + 1, strlen(env[k] + nl + 1));
					i = (size_t)(close - s) + 1;
					hit = 1;
					break;
				}
			}
		}
		if (!hit && s[i] == '/' && (i == 0 || !path_char(s[i - 1]) || s[i - 1] == ':')) {
			for (k = 0; k < nm; k++) {
				size_t ml = strlen(m[k].from);

				if (m[k].to && strncmp(s + i, m[k].from, ml) == 0 &&
				    (s[i + ml] == '/' || !path_char(s[i + ml]))) {
					buf_add(&b, m[k].to, strlen(m[k].to));
					i += ml;
					hit = 1;
					break;
				}
			}
		}
		if (!hit)
			buf_add(&b, s + i++, 1);
	}
	if (!b.s && !b.oom)
		return strdup("");
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* ---- Filesystem ---- */

static int mkdirs(const char *path)
{
	char tmp[PATH_MAX];
	char *p;

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (p = tmp + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	}
	return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int write_file(const char *dir, const char *name, const char *data, size_t len)
{
	char path[PATH_MAX];
	FILE *f;
	int rc = 0;

	if (strstr(name, "..")) /* a key never escapes its volume */
		return -1;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (strchr(name, '/')) {
		char parent[PATH_MAX];

		snprintf(parent, sizeof(parent), "%s", path);
		*strrchr(parent, '/') = '\0';
		mkdirs(parent);
	}
	f = fopen(path, "wb");
	if (!f)
		return -1;
	if (len && fwrite(data, 1, len, f) != len)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

static char *b64_decode(const char *in, size_t *out_len)
{
	size_t n = strlen(in), pad = 0;
	unsigned char *out = malloc(n / 4 * 3 + 4);
	int got;

	if (!out)
		return NULL;
	got = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	if (got < 0) {
		free(out);
		return NULL;
	}
	while (n > 0 && in[n - 1] == '=' && pad < 2) {
		pad++;
		n--;
	}
	*out_len = (size_t)got - pad;
	out[*out_len] = '\0';
	return (char *)out;
}

/* ---- Preparing a pod: dirs, volumes, env, argv ---- */

static cJSON *get_obj(struct sim_runtime *rt, const char *res, const char *ns, const char *name)
{
	cJSON *obj = NULL, *status = NULL;

	if (!name || sim_store_get(rt->store, "", res, ns, name, &obj, &status) != 200) {
		cJSON_Delete(obj);
		obj = NULL;
	}
	cJSON_Delete(status);
	return obj;
}

/* Writes a configMap / secret volume's keys (or its items) as files into dir. */
static int write_keys(const cJSON *obj, const cJSON *items, int secret, const char *dir)
{
	const cJSON *data = sim_j_at(obj, "data"), *kv;

	cJSON_ArrayForEach(kv, data) {
		const char *path = kv->string;
		const cJSON *it;
		size_t len = 0;
		char *bytes;
		int listed = cJSON_GetArraySize(items) == 0, rc;

		cJSON_ArrayForEach(it, items) {
			const char *key = sim_j_str(it, "key");

			if (key && strcmp(key, kv->string) == 0) {
				listed = 1;
				path = sim_j_str(it, "path") ? sim_j_str(it, "path") : kv->string;
			}
		}
		if (!listed || !cJSON_IsString(kv))
			continue;
		bytes = secret ? b64_decode(kv->valuestring, &len) : strdup(kv->valuestring);
		if (!secret && bytes)
			len = strlen(bytes);
		rc = bytes ? write_file(dir, path, bytes, len) : -1;
		free(bytes);
		if (rc)
			return -1;
	}
	return 0;
}

/* The downward API value of a fieldRef. */
static const char *field_value(const struct rt_pod *p, const char *path, char *buf, size_t len);

/* A projected volume's sources into dir, as the kubelet does: serviceAccountToken (a token of
 * the pod's ServiceAccount from the cluster hooks), configMap and secret (keys or items),
 * downwardAPI fieldRef items. A missing ConfigMap/Secret that is not optional fails the mount
 * with the kubelet's message in p->prepare_err. Returns 0 or -1. */
static int write_projected(struct sim_runtime *rt, struct rt_pod *p, const char *vol,
			   const cJSON *sources, const char *dir)
{
	const cJSON *src, *it;
	char buf[256];

	cJSON_ArrayForEach(src, sources) {
		if (sim_j_at(src, "serviceAccountToken")) {
			const char *path = sim_j_str(src, "serviceAccountToken.path");
			const char *sa = sim_j_str(p->pod, "spec.serviceAccountName");
			char *tok = rt->cluster.sa_token
					    ? rt->cluster.sa_token(rt->cluster.ud, p->ns,
								   sa ? sa : "default")
					    : strdup("");
			int rc = tok && path ? write_file(dir, path, tok, strlen(tok)) : -1;

			free(tok);
			if (rc)
				return -1;
		} else if (sim_j_at(src, "configMap") || sim_j_at(src, "secret")) {
			int secret = sim_j_at(src, "secret") != NULL;
			const char *key = secret ? "secret" : "configMap";
			const cJSON *o = sim_j_at(src, key);
			cJSON *obj = get_obj(rt, secret ? "secrets" : "configmaps", p->ns,
					     sim_j_str(o, "name"));
			int rc;

			if (!obj && !sim_j_bool(o, "optional", 0)) {
				snprintf(p->prepare_err, sizeof(p->prepare_err),
					 "MountVolume.SetUp failed for volume \"%s\": %s \"%s\" not found",
					 vol, secret ? "secret" : "configmap",
					 sim_j_str(o, "name") ? sim_j_str(o, "name") : "");
				return -1;
			}
			rc = obj ? write_keys(obj, sim_j_at(o, "items"), secret, dir) : 0;
			cJSON_Delete(obj);
			if (rc)
				return -1;
		} else if (sim_j_at(src, "downwardAPI")) {
			cJSON_ArrayForEach(it, sim_j_at(src, "downwardAPI.items")) {
				const char *path = sim_j_str(it, "path");
				const char *val = field_value(p, sim_j_str(it, "fieldRef.fieldPath"), buf,
							      sizeof(buf));

				if (path && sim_j_at(it, "fieldRef") &&
				    write_file(dir, path, val, strlen(val)) != 0)
					return -1;
			}
		}
	}
	return 0;
}

static int prepare_volumes(struct sim_runtime *rt, struct rt_pod *p)
{
	const cJSON *v;

	cJSON_ArrayForEach(v, sim_j_at(p->pod, "spec.volumes")) {
		const char *name = sim_j_str(v, "name");
		struct mount *m = &p->mounts[p->n_mounts];
		cJSON *obj = NULL;
		int secret = sim_j_at(v, "secret") != NULL;
		const char *host = sim_j_str(v, "hostPath.path");

		if (!name)
			continue;
		m->from = strdup(name);
		m->to = host ? strdup(host) : str_join(p->dir, "/volumes/", name);
		p->n_mounts++;
		if (!m->from || !m->to)
			return KUBE_ENOMEM;
		if (host)
			continue;
		if (mkdirs(m->to) != 0)
			goto io;
		if (sim_j_at(v, "projected")) {
			p->prepare_err[0] = '\0';
			if (write_projected(rt, p, name, sim_j_at(v, "projected.sources"), m->to) == 0)
				continue;
			if (p->prepare_err[0])
				return KUBE_ENOTFOUND;
			goto io;
		}
		if (!secret && !sim_j_at(v, "configMap"))
			continue; /* emptyDir (and kinds we do not fill): an empty directory */
		obj = secret ? get_obj(rt, "secrets", p->ns, sim_j_str(v, "secret.secretName"))
			     : get_obj(rt, "configmaps", p->ns, sim_j_str(v, "configMap.name"));
		if (!obj && !sim_j_bool(v, secret ? "secret.optional" : "configMap.optional", 0)) {
			snprintf(p->prepare_err, sizeof(p->prepare_err),
				 "MountVolume.SetUp failed for volume \"%s\": %s \"%s\" not found", name,
				 secret ? "secret" : "configmap",
				 secret ? sim_j_str(v, "secret.secretName") : sim_j_str(v, "configMap.name"));
			return KUBE_ENOTFOUND;
		}
		if (obj && write_keys(obj, sim_j_at(v, secret ? "secret.items" : "configMap.items"), secret,
				      m->to) != 0) {
			cJSON_Delete(obj);
			goto io;
		}
		cJSON_Delete(obj);
	}
	return 0;
io:
	snprintf(p->prepare_err, sizeof(p->prepare_err), "cannot write volumes under %s", p->dir);
	return KUBE_EIO;
}

static const char *volume_dir(const struct rt_pod *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->n_mounts; i++) {
		if (name && strcmp(p->mounts[i].from, name) == 0)
			return p->mounts[i].to;
	}
	return NULL;
}

/* The downward API value of a fieldRef. */
static const char *field_value(const struct rt_pod *p, const char *path, char *buf, size_t len)
{
	if (!path)
		return "";
	if (strcmp(path, "status.podIP") == 0)
		return p->ip;
	if (strcmp(path, "spec.nodeName") == 0)
		return p->node;
	if (strcmp(path, "status.hostIP") == 0)
		return "127.0.0.1";
	if (strncmp(path, "metadata.labels['", 17) == 0 ||
	    strncmp(path, "metadata.annotations['", 22) == 0) {
		const char *key = strchr(path, '\'') + 1;
		const cJSON *map = sim_j_at(p->pod, path[9] == 'l' ? "metadata.labels"
							       : "metadata.annotations");
		const cJSON *v;

		snprintf(buf, len, "%.*s", (int)(strlen(key) > 2 ? strlen(key) - 2 : 0), key);
		v = cJSON_GetObjectItemCaseSensitive(map, buf);
		return cJSON_IsString(v) ? v->valuestring : "";
	}
	return sim_j_str(p->pod, path) ? sim_j_str(p->pod, path) : "";
}

static int env_set(char ***env, size_t *n, const char *k, const char *v)
{
	size_t i, kl = strlen(k);

	for (i = 0; i < *n; i++) {
		if (strncmp((*env)[i], k, kl) == 0 && (*env)[i][kl] == '=') {
			char *s = str_join(k, "=", v);

			if (!s)
				return KUBE_ENOMEM;
			free((*env)[i]);
			(*env)[i] = s;
			return 0;
		}
	}
	return strv_push(env, n, str_join(k, "=", v));
}

/* The value of a configMapKeyRef / secretKeyRef, or NULL. Caller frees. */
static char *key_ref(struct sim_runtime *rt, const struct rt_pod *p, const cJSON *ref, int secret)
{
	cJSON *obj = get_obj(rt, secret ? "secrets" : "configmaps", p->ns, sim_j_str(ref, "name"));
	const char *key = sim_j_str(ref, "key");
	const cJSON *v = key ? cJSON_GetObjectItemCaseSensitive(sim_j_at(obj, "data"), key) : NULL;
	char *out = NULL;
	size_t len;

	if (cJSON_IsString(v))
		out = secret ? b64_decode(v->valuestring, &len) : strdup(v->valuestring);
	cJSON_Delete(obj);
	return out;
}

static int env_from(struct sim_runtime *rt, const struct rt_pod *p, const cJSON *ctr, char ***env,
		    size_t *n)
{
	const cJSON *src;

	cJSON_ArrayForEach(src, sim_j_at(ctr, "envFrom")) {
		int secret = sim_j_at(src, "secretRef") != NULL;
		cJSON *obj = get_obj(rt, secret ? "secrets" : "configmaps", p->ns,
				     sim_j_str(src, secret ? "secretRef.name" : "configMapRef.name"));
		const char *prefix = sim_j_str(src, "prefix") ? sim_j_str(src, "prefix") : "";
		const cJSON *kv;

		cJSON_ArrayForEach(kv, sim_j_at(obj, "data")) {
			char key[256];
			size_t len;
			char *val = secret ? b64_decode(kv->valuestring, &len) : strdup(kv->valuestring);

			snprintf(key, sizeof(key), "%s%s", prefix, kv->string);
			if (!val || env_set(env, n, key, val) != 0) {
				free(val);
				cJSON_Delete(obj);
				return KUBE_ENOMEM;
			}
			free(val);
		}
		cJSON_Delete(obj);
	}
	return 0;
}

/* The kubernetes Service's variables the kubelet gives every container (its own Services'
 * links are not emulated): KUBERNETES_SERVICE_HOST/PORT point at the API server. */
static int service_env(struct sim_runtime *rt, char ***env, size_t *n)
{
	char host[128], port[16], url[200];
	int rc;

	if (!rt->cluster.api_addr ||
	    rt->cluster.api_addr(rt->cluster.ud, host, sizeof(host), port, sizeof(port)) != 0)
		return 0;
	snprintf(url, sizeof(url), "tcp://%s:%s", host, port);
	rc = env_set(env, n, "KUBERNETES_SERVICE_HOST", host);
	if (rc == 0)
		rc = env_set(env, n, "KUBERNETES_SERVICE_PORT", port);
	if (rc == 0)
		rc = env_set(env, n, "KUBERNETES_SERVICE_PORT_HTTPS", port);
	if (rc == 0)
		rc = env_set(env, n, "KUBERNETES_PORT", url);
	return rc;
}

static int build_env(struct sim_runtime *rt, const struct rt_pod *p, const cJSON *ctr,
		     char *const *img_env, const struct mount *m, size_t nm, char ***out)
{
	const char *path = getenv("PATH");
	const cJSON *e;
	char **env = NULL, buf[256];
	size_t n = 0, i;
	int rc;

	rc = env_set(&env, &n, "PATH", path ? path : "/usr/local/bin:/usr/bin:/bin");
	if (rc == 0)
		rc = env_set(&env, &n, "HOME", p->dir);
	if (rc == 0)
		rc = env_set(&env, &n, "HOSTNAME", p->name);
	if (rc == 0)
		rc = env_set(&env, &n, "POD_IP", p->ip);
	if (rc == 0)
		rc = env_set(&env, &n, "KUBESIM_POD_DIR", p->dir);
	if (rc == 0)
		rc = env_set(&env, &n, MARKER, rt->id);
	for (i = 0; rc == 0 && img_env && img_env[i]; i++) {
		char *eq = strchr(img_env[i], '=');

		if (eq) {
			snprintf(buf, sizeof(buf), "%.*s", (int)(eq - img_env[i]), img_env[i]);
			rc = env_set(&env, &n, buf, eq + 1);
		}
	}
	if (rc == 0)
		rc = service_env(rt, &env, &n);
	if (rc == 0)
		rc = env_from(rt, p, ctr, &env, &n);
	cJSON_ArrayForEach(e, sim_j_at(ctr, "env")) {
		const char *name = sim_j_str(e, "name");
		char *val = NULL;

		if (rc || !name)
			continue;
		if (sim_j_at(e, "valueFrom.fieldRef"))
			val = strdup(field_value(p, sim_j_str(e, "valueFrom.fieldRef.fieldPath"), buf,
						 sizeof(buf)));
		else if (sim_j_at(e, "valueFrom.configMapKeyRef"))
			val = key_ref(rt, p, sim_j_at(e, "valueFrom.configMapKeyRef"), 0);
		else if (sim_j_at(e, "valueFrom.secretKeyRef"))
			val = key_ref(rt, p, sim_j_at(e, "valueFrom.secretKeyRef"), 1);
		else if (sim_j_at(e, "valueFrom.resourceFieldRef"))
			val = strdup("0");
		else
			val = rewrite(sim_j_str(e, "value") ? sim_j_str(e, "value") : "", m, nm, env);
		rc = val ? env_set(&env, &n, name, val) : 0;
		free(val);
	}
	if (rc)
		sim_rt_strv_free(env);
	else
		*out = env;
	return rc;
}

/* Resolves argv[0] on the container's PATH; relative paths are relative to cwd. */
static void resolve_argv0(char **argv, char *const *env, const char *cwd)
{
	const char *path = NULL;
	char buf[PATH_MAX];
	size_t i;

	if (!argv || !argv[0] || argv[0][0] == '/')
		return;
	for (i = 0; env && env[i]; i++) {
		if (strncmp(env[i], "PATH=", 5) == 0)
			path = env[i] + 5;
	}
	if (sim_rt_find_exe(argv[0], path, cwd, buf, sizeof(buf))) {
		char *s = strdup(buf);

		if (s) {
			free(argv[0]);
			argv[0] = s;
		}
	}
}

/* The container's mounts (mountPath -> volume dir[/subPath]) and its termination file. */
static int ctr_mounts(const struct rt_pod *p, struct rt_ctr *x, struct mount **out, size_t *n)
{
	const cJSON *vm;
	const char *tpath = sim_j_str(x->spec, "terminationMessagePath");
	struct mount *m = calloc((size_t)cJSON_GetArraySize(sim_j_at(x->spec, "volumeMounts")) + 1,
				 sizeof(*m));

	*n = 0;
	if (!m)
		return KUBE_ENOMEM;
	cJSON_ArrayForEach(vm, sim_j_at(x->spec, "volumeMounts")) {
		const char *dir = volume_dir(p, sim_j_str(vm, "name"));
		const char *mp = sim_j_str(vm, "mountPath");
		const char *sub = sim_j_str(vm, "subPath");

		if (!dir || !mp || mp[0] != '/')
			continue;
		m[*n].from = strdup(mp);
		m[*n].to = sub && *sub ? str_join(dir, "/", sub) : strdup(dir);
		(*n)++;
	}
	snprintf(x->term_path, sizeof(x->term_path), "%s/term/%s/termination-log", p->dir, x->name);
	m[*n].from = strdup(tpath ? tpath : "/dev/termination-log");
	m[*n].to = strdup(x->term_path);
	(*n)++;
	*out = m;
	return 0;
}

static void mounts_free(struct mount *m, size_t n)
{
	size_t i;

	for (i = 0; m && i < n; i++) {
		free(m[i].from);
		free(m[i].to);
	}
	free(m);
}

static char **rewrite_argv(char *const *in, const struct mount *m, size_t nm, char *const *env)
{
	char **out = NULL;
	size_t n = 0, i;

	for (i = 0; in && in[i]; i++) {
		if (strv_push(&out, &n, rewrite(in[i], m, nm, env)) != 0) {
			sim_rt_strv_free(out);
			return NULL;
		}
	}
	if (!out)
		out = calloc(1, sizeof(*out));
	return out;
}

static char **json_argv(const cJSON *arr, const struct mount *m, size_t nm, char *const *env)
{
	char **tmp = NULL, **out;
	size_t n = 0;
	const cJSON *s;

	cJSON_ArrayForEach(s, arr) {
		if (cJSON_IsString(s) && strv_push(&tmp, &n, strdup(s->valuestring)) != 0)
			break;
	}
	out = rewrite_argv(tmp, m, nm, env);
	sim_rt_strv_free(tmp);
	return out;
}

static void read_probes(struct rt_ctr *x, const struct mount *m, size_t nm)
{
	static const char *const keys[P_COUNT] = {"startupProbe", "livenessProbe", "readinessProbe"};
	int i;

	for (i = 0; i < P_COUNT; i++) {
		const cJSON *pr = sim_j_at(x->spec, keys[i]);

		if (!pr || sim_probe_spec_read(pr, x->spec, &x->probe[i]) != 0)
			continue;
		x->has_probe[i] = 1;
		if (x->probe[i].kind == SIM_PROBE_EXEC) {
			x->probe_argv[i] = x->oci ? sim_oci_exec_argv(x->probe[i].exec_command)
						  : json_argv(x->probe[i].exec_command, m, nm, x->envp);
			resolve_argv0(x->probe_argv[i], x->envp, x->cwd);
		}
	}
}

/* Image mode: $(VAR) references in the container's args (command and args as the image
 * resolution put them in oci/<ctr>/config.base.json) expanded from its env, as the kubelet
 * does before it hands them to the runtime. Mount paths stay (they are real in the container).
 * 0 or KUBE_EIO / KUBE_ENOMEM. */
static char *slurp(const char *path, size_t max, size_t *len);

static int oci_expand_args(const struct rt_pod *p, const struct rt_ctr *x)
{
	char path[PATH_MAX], *text, *out;
	size_t len;
	cJSON *cfg, *a;
	int rc = 0, changed = 0;

	snprintf(path, sizeof(path), "%s/oci/%s/config.base.json", p->dir, x->name);
	text = slurp(path, 1 << 20, &len);
	cfg = text ? cJSON_Parse(text) : NULL;
	free(text);
	if (!cfg)
		return KUBE_EIO;
	cJSON_ArrayForEach(a, sim_j_at(cfg, "process.args")) {
		char *v;

		if (!cJSON_IsString(a) || !strstr(a->valuestring, "$("))
			continue;
		v = rewrite(a->valuestring, NULL, 0, x->envp);
		if (!v || !cJSON_SetValuestring(a, v))
			rc = KUBE_ENOMEM;
		free(v);
		changed = 1;
	}
	out = rc == 0 && changed ? cJSON_PrintUnformatted(cfg) : NULL;
	if (out) {
		char *slash = strrchr(path, '/');

		*slash = '\0';
		rc = write_file(path, "config.base.json", out, strlen(out)) ? KUBE_EIO : 0;
	} else if (rc == 0 && changed) {
		rc = KUBE_ENOMEM;
	}
	free(out);
	cJSON_Delete(cfg);
	return rc;
}

/* Resolves the image and builds argv, env and cwd. 0, or KUBE_ENOTFOUND (pull failure: the
 * message is in x->wait_msg). */
static int prepare_ctr(struct sim_runtime *rt, struct rt_pod *p, struct rt_ctr *x)
{
	struct sim_rt_image img;
	struct mount *m = NULL;
	size_t nm = 0;
	const char *wd = sim_j_str(x->spec, "workingDir");
	const char *limit = sim_j_str(x->spec, "resources.limits.memory");
	char dir[PATH_MAX];
	int rc, oci;

	/* An image in a registry on loopback runs with runc (sim_oci.h); others map to programs. */
	rc = sim_oci_resolve(p->pod, x->spec, p->dir, &img, x->wait_msg, sizeof(x->wait_msg));
	x->oci = rc == 0;
	oci = rc != SIM_OCI_NOT_MINE;
	if (rc == SIM_OCI_NOT_MINE)
		rc = sim_rt_image_resolve(rt->cfg, sim_j_str(x->spec, "image"),
					  sim_j_at(x->spec, "command"), sim_j_at(x->spec, "args"),
					  &img, x->wait_msg, sizeof(x->wait_msg));
	if (rc)
		return rc;
	rc = ctr_mounts(p, x, &m, &nm);
	/* In a runc container the mount paths are the container's own: env values stay as given
	 * (the process mapping rewrites them to the host's volume dirs). */
	if (rc == 0)
		rc = build_env(rt, p, x->spec, img.env, oci ? NULL : m, oci ? 0 : nm, &x->envp);
	if (rc == 0 && oci)
		rc = oci_expand_args(p, x);
	if (rc == 0) {
		x->argv = rewrite_argv(img.argv, m, nm, x->envp);
		x->cwd = wd && *wd ? rewrite(wd, m, nm, x->envp)
				   : strdup(img.workdir ? img.workdir : p->dir);
		if (!x->argv || !x->cwd)
			rc = KUBE_ENOMEM;
	}
	if (rc == 0) {
		resolve_argv0(x->argv, x->envp, x->cwd);
		mkdirs(x->cwd);
		read_probes(x, m, nm);
		snprintf(dir, sizeof(dir), "%s/logs/%s", p->dir, x->name);
		mkdirs(dir);
		snprintf(dir, sizeof(dir), "%s/term/%s", p->dir, x->name);
		mkdirs(dir);
		x->fallback_logs = sim_j_str(x->spec, "terminationMessagePolicy") &&
				   strcmp(sim_j_str(x->spec, "terminationMessagePolicy"),
					  "FallbackToLogsOnError") == 0;
		x->mem_limit = limit ? sim_rt_quantity_bytes(limit) : -1;
		x->grace_ms = sim_j_int(p->pod, "spec.terminationGracePeriodSeconds", 30) * 1000;
	}
	sim_rt_image_release(&img);
	mounts_free(m, nm);
	return rc;
}

/* ---- Pods ---- */

static void ctr_release(struct rt_ctr *x)
{
	int i;

	for (i = 0; i < P_COUNT; i++) {
		if (x->job[i]) {
			pthread_join(x->job[i]->th, NULL);
			free(x->job[i]);
		}
		sim_rt_strv_free(x->probe_argv[i]);
	}
	sim_oci_pull_free(x->pull);
	sim_rt_strv_free(x->argv);
	sim_rt_strv_free(x->envp);
	free(x->cwd);
	free(x->term_msg);
	free(x->last_msg);
	free(x->name);
}

static void pod_free(struct rt_pod *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		ctr_release(&p->ctrs[i]);
	free(p->ctrs);
	mounts_free(p->mounts, p->n_mounts);
	cJSON_Delete(p->pod);
	free(p->uid);
	free(p->ns);
	free(p->name);
	free(p);
}

static int add_ctrs(struct rt_pod *p, const cJSON *list, int init)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, list) {
		struct rt_ctr *x = &p->ctrs[p->n++];
		const char *name = sim_j_str(c, "name");

		x->name = strdup(name ? name : "main");
		if (!x->name)
			return KUBE_ENOMEM;
		x->init = init;
		x->spec = c;
		x->state = SIM_CTR_WAITING;
		snprintf(x->wait_reason, sizeof(x->wait_reason), "%s",
			 init ? "PodInitializing" : "ContainerCreating");
		if (!init)
			x->restart_due_ms = 1; /* the first start, when init containers are done */
	}
	return 0;
}

int sim_runtime_pod_add(struct sim_runtime *rt, const cJSON *pod, const char *pod_ip,
			const char *node)
{
	struct rt_pod *p = calloc(1, sizeof(*p));
	const char *rp;
	int rc = KUBE_ENOMEM;
	size_t n;

	if (!p)
		return KUBE_ENOMEM;
	p->pod = cJSON_Duplicate(pod, 1);
	p->uid = strdup(sim_j_str(pod, "metadata.uid") ? sim_j_str(pod, "metadata.uid") : "");
	p->ns = strdup(sim_j_str(pod, "metadata.namespace") ? sim_j_str(pod, "metadata.namespace")
							    : "default");
	p->name = strdup(sim_j_str(pod, "metadata.name") ? sim_j_str(pod, "metadata.name") : "");
	n = (size_t)cJSON_GetArraySize(sim_j_at(pod, "spec.initContainers")) +
	    (size_t)cJSON_GetArraySize(sim_j_at(pod, "spec.containers"));
	p->ctrs = calloc(n + 1, sizeof(*p->ctrs));
	p->mounts = calloc((size_t)cJSON_GetArraySize(sim_j_at(pod, "spec.volumes")) + 1,
			   sizeof(*p->mounts));
	if (!p->pod || !p->uid || !p->ns || !p->name || !p->ctrs || !p->mounts)
		goto out;
	snprintf(p->ip, sizeof(p->ip), "%s", pod_ip ? pod_ip : "");
	snprintf(p->node, sizeof(p->node), "%s", node ? node : "");
	snprintf(p->dir, sizeof(p->dir), "%s/pods/%s", rt->dir, p->uid);
	rp = sim_j_str(pod, "spec.restartPolicy");
	p->restart_always = !rp || strcmp(rp, "Always") == 0;
	p->restart_on_failure = rp && strcmp(rp, "OnFailure") == 0;
	rc = add_ctrs(p, sim_j_at(p->pod, "spec.initContainers"), 1);
	p->n_init = p->n;
	if (rc == 0)
		rc = add_ctrs(p, sim_j_at(p->pod, "spec.containers"), 0);
	if (rc)
		goto out;
	pthread_mutex_lock(&rt->mu);
	HASH_ADD_KEYPTR(hh, rt->pods, p->uid, strlen(p->uid), p);
	wake_locked(rt);
	pthread_mutex_unlock(&rt->mu);
	return 0;
out:
	pod_free(p);
	return rc;
}

static struct rt_pod *pod_find_locked(struct sim_runtime *rt, const char *uid)
{
	struct rt_pod *p = NULL;

	if (uid)
		HASH_FIND_STR(rt->pods, uid, p);
	return p;
}

static void signal_ctr(struct rt_ctr *x, int sig)
{
	if (x->pid > 0)
		kill(-x->pid, sig);
}

static void signal_pod(struct rt_pod *p, int sig)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		signal_ctr(&p->ctrs[i], sig);
}

/* SIGSTOP/SIGCONT to the pod's processes; image-mode containers through runc's freezer. */
static void freeze_pod(struct rt_pod *p, int freeze)
{
	size_t i;

	signal_pod(p, freeze ? SIGSTOP : SIGCONT);
	for (i = 0; i < p->n; i++) {
		if (p->ctrs[i].oci && p->ctrs[i].pid > 0)
			sim_oci_pause(p->dir, p->ctrs[i].name, freeze);
	}
}

void sim_runtime_pod_stop(struct sim_runtime *rt, const char *uid, int64_t grace_ms)
{
	struct rt_pod *p;

	pthread_mutex_lock(&rt->mu);
	p = pod_find_locked(rt, uid);
	if (p && !p->stopping) {
		p->stopping = 1;
		p->stop_deadline = wall_ms() + (grace_ms > 0 ? grace_ms : 0);
		if (p->stopped)
			freeze_pod(p, 0);
		p->frozen = p->stopped = 0;
		signal_pod(p, SIGTERM);
		wake_locked(rt);
	}
	pthread_mutex_unlock(&rt->mu);
}

/* Kills and reaps every process of the pod (blocking: SIGKILL is not ignorable). */
static void pod_kill_now(struct rt_pod *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		struct rt_ctr *x = &p->ctrs[i];

		sim_oci_pull_free(x->pull); /* it writes into the pod dir: done before its removal */
		x->pull = NULL;
		if (x->pid > 0) {
			kill(-x->pid, SIGKILL);
			waitpid(x->pid, NULL, 0);
			x->pid = 0;
		}
	}
}

void sim_runtime_pod_forget(struct sim_runtime *rt, const char *uid)
{
	struct rt_pod *p;

	pthread_mutex_lock(&rt->mu);
	p = pod_find_locked(rt, uid);
	if (p)
		HASH_DEL(rt->pods, p);
	pthread_mutex_unlock(&rt->mu);
	if (!p)
		return;
	pod_kill_now(p);
	if (p->dir[0])
		rm_rf(p->dir);
	pod_free(p);
}

static void copy_ctr(const struct rt_ctr *x, struct sim_ctr *o)
{
	o->state = x->state;
	snprintf(o->waiting_reason, sizeof(o->waiting_reason), "%s", x->wait_reason);
	snprintf(o->rt_wait_msg, sizeof(o->rt_wait_msg), "%s",
		 x->state == SIM_CTR_WAITING ? x->wait_msg : "");
	o->started_ms = x->started_ms;
	o->term = x->term;
	o->last = x->last;
	o->has_last = x->has_last;
	o->restart_count = x->restart_count;
	o->id_seq = x->run;
	o->rt_ready = x->ready;
	o->rt_started = x->started;
	free(o->rt_msg);
	free(o->rt_last_msg);
	o->rt_msg = x->term_msg ? strdup(x->term_msg) : NULL;
	o->rt_last_msg = x->last_msg ? strdup(x->last_msg) : NULL;
}

int sim_runtime_fill(struct sim_runtime *rt, const char *uid, struct sim_pod_run *run)
{
	struct rt_pod *p;
	size_t i;
	int gone;

	pthread_mutex_lock(&rt->mu);
	p = pod_find_locked(rt, uid);
	if (!p) {
		pthread_mutex_unlock(&rt->mu);
		return -1;
	}
	for (i = 0; i < p->n && i < run->n_ctrs; i++)
		copy_ctr(&p->ctrs[i], &run->ctrs[i]);
	run->real = 1;
	if (!run->node_down)
		run->phase = p->phase;
	gone = p->gone;
	p->dirty = 0;
	pthread_mutex_unlock(&rt->mu);
	return gone;
}

static struct rt_ctr *ctr_find(struct rt_pod *p, const char *name)
{
	size_t i;

	if (!name)
		return p->n > p->n_init ? &p->ctrs[p->n_init] : NULL;
	for (i = 0; i < p->n; i++) {
		if (strcmp(p->ctrs[i].name, name) == 0)
			return &p->ctrs[i];
	}
	return NULL;
}

int sim_runtime_signal(struct sim_runtime *rt, const char *uid, const char *ctr, int sig, int oom)
{
	struct rt_pod *p;
	struct rt_ctr *x;
	int rc = 0;

	pthread_mutex_lock(&rt->mu);
	p = pod_find_locked(rt, uid);
	x = p ? ctr_find(p, ctr) : NULL;
	if (!x)
		rc = KUBE_ENOTFOUND;
	else if (x->pid <= 0)
		rc = KUBE_EINVAL;
	else {
		x->oom = oom;
		signal_ctr(x, sig);
	}
	wake_locked(rt);
	pthread_mutex_unlock(&rt->mu);
	return rc;
}

int sim_runtime_block_probes(struct sim_runtime *rt, const char *uid, const char *ctr, int block)
{
	struct rt_pod *p;
	size_t i;
	int rc = KUBE_ENOTFOUND;

	pthread_mutex_lock(&rt->mu);
	p = pod_find_locked(rt, uid);
	for (i = 0; p && i < p->n; i++) {
		if (!ctr || strcmp(ctr, p->ctrs[i].name) == 0) {
			p->ctrs[i].blocked = block;
			rc = 0;
		}
	}
	pthread_mutex_unlock(&rt->mu);
	return rc;
}

int sim_runtime_freeze(struct sim_runtime *rt, const char *uid, int freeze, int kubelet_too)
{
	struct rt_pod *p;

	pthread_mutex_lock(&rt->mu);
	p = pod_find_locked(rt, uid);
	if (p && !p->stopping) {
		if (kubelet_too)
			p->frozen = freeze;
		if (freeze != p->stopped)
			freeze_pod(p, freeze);
		p->stopped = freeze;
	}
	pthread_mutex_unlock(&rt->mu);
	return p ? 0 : KUBE_ENOTFOUND;
}

/* ---- The runtime thread: one tick over every pod ---- */

/* The pgid record: one "pgid" per line for every container process started, rewritten when
 * the set changes; read by the next instance if this one dies without cleaning up. */
static void record_pgids_locked(struct sim_runtime *rt)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct rt_pod *p, *t;
	FILE *f;
	size_t i;

	snprintf(path, sizeof(path), "%s/pgids", rt->dir);
	snprintf(tmp, sizeof(tmp), "%s/pgids.tmp", rt->dir);
	f = fopen(tmp, "w");
	if (!f)
		return;
	HASH_ITER(hh, rt->pods, p, t) {
		for (i = 0; i < p->n; i++) {
			if (p->ctrs[i].pid > 0)
				fprintf(f, "%d\n", (int)p->ctrs[i].pid);
		}
	}
	if (fclose(f) == 0)
		rename(tmp, path);
}

static void probes_reset(struct rt_ctr *x, int64_t now)
{
	static const int initial[P_COUNT] = {0, 1, 0};
	int i;

	for (i = 0; i < P_COUNT; i++) {
		if (x->has_probe[i])
			sim_probe_state_init(&x->pst[i], &x->probe[i], initial[i], now);
	}
	x->started = !x->has_probe[P_STARTUP];
	x->ready = x->started && !x->has_probe[P_READINESS];
}

static int ctr_start(struct rt_pod *p, struct rt_ctr *x, int64_t now)
{
	char log[PATH_MAX];

	sim_rt_log_file(p->dir, x->name, x->run + 1, log, sizeof(log));
	unlink(x->term_path);
	x->pid = sim_rt_spawn(x->argv, x->envp, x->cwd, log, 1);
	if (x->pid < 0) {
		x->pid = 0;
		snprintf(x->wait_reason, sizeof(x->wait_reason), "%s", "RunContainerError");
		snprintf(x->wait_msg, sizeof(x->wait_msg), "fork failed: %s", strerror(errno));
		return -1;
	}
	x->run++;
	x->log_seen = 0;
	x->state = SIM_CTR_RUNNING;
	x->started_ms = now;
	x->restart_due_ms = 0;
	x->oom = 0;
	x->kill_deadline = 0;
	x->wait_reason[0] = '\0';
	x->wait_msg[0] = '\0';
	probes_reset(x, now);
	free(x->term_msg);
	x->term_msg = NULL;
	return 0;
}

/* Reads at most the last `max` bytes of a file (also /proc files, whose size is 0). Caller
 * frees; NULL if it cannot be opened. */
static char *slurp(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b = {0};
	char chunk[4096];
	size_t n;

	*len = 0;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > (long)max)
		fseek(f, ftell(f) - (long)max, SEEK_SET);
	else
		fseek(f, 0, SEEK_SET);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && b.len < max)
		buf_add(&b, chunk, n < max - b.len ? n : max - b.len);
	fclose(f);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	*len = b.len;
	return b.s ? b.s : calloc(1, 1);
}

static void set_term_msg(struct rt_pod *p, struct rt_ctr *x, int failed)
{
	char log[PATH_MAX];
	size_t flen = 0, llen = 0;
	char *file = slurp(x->term_path, 4096, &flen), *logs = NULL;

	if (flen == 0 && x->fallback_logs && failed) {
		sim_rt_log_file(p->dir, x->name, x->run, log, sizeof(log));
		logs = slurp(log, 1 << 16, &llen);
	}
	free(x->term_msg);
	x->term_msg = sim_rt_termination_message(file, flen, logs, llen, x->fallback_logs, failed);
	free(file);
	free(logs);
}

static int restarts(const struct rt_pod *p, const struct rt_ctr *x, int code)
{
	if (p->stopping)
		return 0;
	if (x->init)
		return code != 0 && (p->restart_always || p->restart_on_failure);
	return p->restart_always || (p->restart_on_failure && code != 0);
}

static void on_exit_status(struct sim_runtime *rt, struct rt_pod *p, struct rt_ctr *x, int status,
			   int64_t now)
{
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	int i;

	kill(-x->pid, SIGKILL); /* what the container left behind goes with it */
	x->pid = 0;
	/* In image mode the kernel's verdict: the memory cgroup's OOM kill (sim_oci.h). */
	x->oom = x->oom || sim_oci_oom_killed(p->dir, x->name) == 1;
	x->state = SIM_CTR_TERMINATED;
	x->ready = 0;
	x->started = 0;
	memset(&x->term, 0, sizeof(x->term));
	x->term.exit_code = code;
	x->term.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	snprintf(x->term.reason, sizeof(x->term.reason), "%s",
		 x->oom ? "OOMKilled" : (code == 0 ? "Completed" : "Error"));
	x->term.started_ms = x->started_ms;
	x->term.finished_ms = now;
	set_term_msg(p, x, code != 0);
	for (i = 0; i < P_COUNT; i++) {
		if (x->job[i]) {
			pthread_join(x->job[i]->th, NULL);
			free(x->job[i]);
			x->job[i] = NULL;
		}
	}
	if (!restarts(p, x, code)) {
		x->done = 1;
		return;
	}
	/* Back-off restarts, as the kubelet: the last state is kept; the first restart is at once,
	 * then 10 s doubling to 5 min; a run of 10 minutes starts the streak again. */
	if (now - x->started_ms >= 600000)
		x->streak = 0;
	x->streak++;
	x->last = x->term;
	free(x->last_msg);
	x->last_msg = x->term_msg;
	x->term_msg = NULL;
	x->has_last = 1;
	x->restart_count++;
	x->backoff_ms = sim_rt_backoff_ms(x->streak - 1, rt->cfg->backoff_scale);
	x->state = SIM_CTR_WAITING;
	x->restart_due_ms = now + (x->backoff_ms > 0 ? x->backoff_ms : 1);
	snprintf(x->wait_reason, sizeof(x->wait_reason), "%s", "CrashLoopBackOff");
	snprintf(x->wait_msg, sizeof(x->wait_msg),
		 "back-off %llds restarting failed container=%s pod=%s_%s(%s)",
		 (long long)((x->backoff_ms + 999) / 1000), x->name, p->name, p->ns, p->uid);
}

/* Stamps what the run wrote since the last tick with the time now (for kubectl logs
 * --timestamps): "OFFSET MS" lines in DIR/logs/<ctr>/<run>.ts. */
static void stamp_log(const struct rt_pod *p, struct rt_ctr *x, int64_t now)
{
	char path[PATH_MAX];
	struct stat st;
	FILE *f;

	sim_rt_log_file(p->dir, x->name, x->run, path, sizeof(path));
	if (stat(path, &st) != 0 || st.st_size <= x->log_seen)
		return;
	sim_rt_ts_file(p->dir, x->name, x->run, path, sizeof(path));
	f = fopen(path, "a");
	if (!f)
		return;
	fprintf(f, "%lld %lld %lld\n", (long long)x->log_seen, (long long)st.st_size,
		(long long)now);
	fclose(f);
	x->log_seen = st.st_size;
}

static void reap(struct sim_runtime *rt, struct rt_pod *p, int64_t now)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		struct rt_ctr *x = &p->ctrs[i];
		int status = 0;

		if (x->pid > 0)
			stamp_log(p, x, now);
		if (x->pid > 0 && waitpid(x->pid, &status, WNOHANG) == x->pid) {
			stamp_log(p, x, now);
			on_exit_status(rt, p, x, status, now);
			p->dirty = 1;
		}
		if (x->pid > 0 && x->kill_deadline > 0 && now >= x->kill_deadline)
			signal_ctr(x, SIGKILL);
	}
}

static void check_memory(struct rt_ctr *x)
{
	char path[64];
	long pages = 0, rss = 0;
	FILE *f;

	if (x->pid <= 0 || x->mem_limit <= 0 || x->oom)
		return;
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)x->pid);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fscanf(f, "%ld %ld", &pages, &rss) == 2 &&
	    (int64_t)rss * sysconf(_SC_PAGESIZE) > x->mem_limit) {
		x->oom = 1;
		signal_ctr(x, SIGKILL);
	}
	fclose(f);
}

static void *probe_main(void *arg)
{
	struct probe_job *j = arg;

	if (j->spec.kind == SIM_PROBE_HTTP)
		j->ok = sim_probe_exec_http(&j->spec, j->ip);
	else if (j->spec.kind == SIM_PROBE_TCP)
		j->ok = sim_probe_exec_tcp(&j->spec, j->ip);
	else
		j->ok = j->argv ? sim_probe_exec_command(&j->spec, j->argv, j->envp, j->cwd) : 0;
	atomic_store(&j->done, 1);
	/* Without rt->mu (the loop may be joining this thread under it): a wake lost between the
	 * loop's check and its wait only delays the result to the next tick. */
	atomic_store(&j->rt->wake, 1);
	pthread_cond_broadcast(&j->rt->cv);
	return NULL;
}

/* Applies a probe's outcome. */
static void probe_result(struct rt_pod *p, struct rt_ctr *x, int i, int ok, int64_t now)
{
	if (!sim_probe_record(&x->pst[i], &x->probe[i], ok, now))
		return;
	p->dirty = 1;
	if (i == P_READINESS) {
		x->ready = x->pst[i].result;
	} else if (i == P_STARTUP && x->pst[i].result) {
		x->started = 1;
		x->ready = !x->has_probe[P_READINESS];
		if (x->has_probe[P_LIVENESS])
			sim_probe_state_init(&x->pst[P_LIVENESS], &x->probe[P_LIVENESS], 1, now);
		if (x->has_probe[P_READINESS])
			sim_probe_state_init(&x->pst[P_READINESS], &x->probe[P_READINESS], 0, now);
	} else if (!x->pst[i].result && x->kill_deadline == 0) {
		/* Liveness or startup failed: the kubelet kills the container (then restarts it). */
		kube_logf(KUBE_LOG_INFO, LOG_COMP, "%s/%s container %s failed its %s probe, killing",
			  p->ns, p->name, x->name, i == P_STARTUP ? "startup" : "liveness");
		signal_ctr(x, SIGTERM);
		x->kill_deadline = now + x->grace_ms;
	}
}

static void run_probes(struct sim_runtime *rt, struct rt_pod *p, struct rt_ctr *x, int64_t now)
{
	int i;

	for (i = 0; i < P_COUNT; i++) {
		struct probe_job *j = x->job[i];

		if (j && atomic_load(&j->done)) {
			pthread_join(j->th, NULL);
			x->job[i] = NULL;
			probe_result(p, x, i, j->ok && !x->blocked, now);
			/* As the kubelet's probe ticker: the next run is one period after this one
			 * started, at once if it took longer (a timeout as long as the period). */
			x->pst[i].next_ms = j->start_ms + x->probe[i].period_ms;
			free(j);
			continue;
		}
		if (j || !x->has_probe[i] || x->state != SIM_CTR_RUNNING || now < x->pst[i].next_ms)
			continue;
		if ((i == P_STARTUP) == x->started)
			continue; /* startup runs until it succeeds; the others only after */
		if (x->blocked) {
			probe_result(p, x, i, 0, now);
			continue;
		}
		j = calloc(1, sizeof(*j));
		if (!j)
			continue;
		j->spec = x->probe[i];
		j->rt = rt;
		j->start_ms = now;
		snprintf(j->ip, sizeof(j->ip), "%s", p->ip);
		j->argv = x->probe_argv[i];
		j->envp = x->envp;
		j->cwd = x->cwd;
		if (pthread_create(&j->th, NULL, probe_main, j) != 0) {
			free(j);
			continue;
		}
		x->job[i] = j;
		x->pst[i].next_ms = now + x->probe[i].period_ms; /* not again while it runs */
	}
}

static void set_waiting(struct rt_pod *p, struct rt_ctr *x, const char *reason, const char *msg)
{
	if (strcmp(x->wait_reason, reason) == 0 && strcmp(x->wait_msg, msg) == 0)
		return;
	snprintf(x->wait_reason, sizeof(x->wait_reason), "%s", reason);
	snprintf(x->wait_msg, sizeof(x->wait_msg), "%s", msg);
	p->dirty = 1;
}

struct exit_watch {
	struct sim_runtime *rt;
	pid_t pid;
};

/* Blocks until the child has exited (leaving it to reap(): WNOWAIT) and wakes the loop, so an
 * exit is noticed at once, as a kubelet with CRI events (evented PLEG) does, rather than at the
 * next tick. If the loop reaps it first, waitid fails with ECHILD: the wake is then harmless. */
static void *exit_watch_main(void *arg)
{
	struct exit_watch *w = arg;
	struct sim_runtime *rt = w->rt;
	siginfo_t si;

	while (waitid(P_PID, (id_t)w->pid, &si, WEXITED | WNOWAIT) != 0 && errno == EINTR)
		;
	pthread_mutex_lock(&rt->mu);
	rt->watchers--;
	wake_locked(rt);
	pthread_mutex_unlock(&rt->mu);
	free(w);
	return NULL;
}

/* rt->mu held. Without a thread the exit is still seen, at the next tick. */
static void watch_exit(struct sim_runtime *rt, pid_t pid)
{
	struct exit_watch *w = malloc(sizeof(*w));
	pthread_attr_t a;
	pthread_t th;

	if (!w)
		return;
	w->rt = rt;
	w->pid = pid;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 64 * 1024);
	if (pthread_create(&th, &a, exit_watch_main, w) == 0)
		rt->watchers++;
	else
		free(w);
	pthread_attr_destroy(&a);
}

/* The earliest container restart due after `now` (one not started at its time waits for
 * something else: the init containers, a thaw), else `until`. */
static int64_t next_due_locked(struct sim_runtime *rt, int64_t now, int64_t until)
{
	struct rt_pod *p, *t;
	size_t i;

	HASH_ITER(hh, rt->pods, p, t) {
		for (i = 0; i < p->n; i++) {
			int64_t due = p->ctrs[i].restart_due_ms;

			if (due > now && due < until && p->ctrs[i].state == SIM_CTR_WAITING)
				until = due;
		}
	}
	return until;
}

/* A pull worker is done: run the loop (no rt->mu: the loop may be joining the worker). */
static void pull_wake(void *ud)
{
	struct sim_runtime *rt = ud;

	atomic_store(&rt->wake, 1);
	pthread_cond_broadcast(&rt->cv);
}

/* Pulls (resolves) the image with back-off, then starts the container. */
static void try_start(struct sim_runtime *rt, struct rt_pod *p, struct rt_ctr *x, int64_t now)
{
	char msg[256];

	if (!sim_rt_name_ok(x->name)) {
		snprintf(msg, sizeof(msg), "container name \"%.200s\" is not a DNS-1123 label", x->name);
		set_waiting(p, x, "CreateContainerConfigError", msg);
		return;
	}
	if (x->pull_failed || !x->argv) {
		/* As the kubelet: each failed pull shows ErrImagePull (with the pull's error), then
		 * ImagePullBackOff until the next attempt; here for the back-off's second half. */
		if (x->pull_retry_ms > now) {
			if (x->pull_backoff_ms > 0 && now >= x->pull_backoff_ms) {
				snprintf(msg, sizeof(msg), "Back-off pulling image \"%.200s\"",
					 sim_j_str(x->spec, "image") ? sim_j_str(x->spec, "image") : "");
				set_waiting(p, x, "ImagePullBackOff", msg);
				x->pull_backoff_ms = 0;
			}
			return;
		}
		/* Image mode pulls in a worker (sim_oci.h): this container waits, the rest go on. */
		if (!x->pull && (x->pull = sim_oci_pull_start(x->spec, p->dir, pull_wake, rt))) {
			snprintf(msg, sizeof(msg), "Pulling image \"%.200s\"", sim_j_str(x->spec, "image"));
			set_waiting(p, x, "ContainerCreating", msg);
			return;
		}
		if (x->pull && !sim_oci_pull_done(x->pull))
			return;
		sim_oci_pull_free(x->pull);
		x->pull = NULL;
		if (prepare_ctr(rt, p, x) != 0) {
			int64_t backoff = sim_rt_backoff_ms(x->pulls + 1, rt->cfg->backoff_scale);

			x->pulls++;
			x->pull_failed = 1;
			x->pull_retry_ms = now + backoff;
			x->pull_backoff_ms = now + backoff / 2;
			snprintf(msg, sizeof(msg), "%s", x->wait_msg); /* the pull's own error */
			set_waiting(p, x, "ErrImagePull", msg);
			p->dirty = 1;
			return;
		}
		x->pull_failed = 0;
		x->pull_backoff_ms = 0;
	}
	if (ctr_start(p, x, now) == 0) {
		record_pgids_locked(rt);
		watch_exit(rt, x->pid);
	}
	p->dirty = 1;
}

/* Init containers one by one, in order; once they all succeeded, every main container. */
static void start_due(struct sim_runtime *rt, struct rt_pod *p, int64_t now)
{
	size_t i;

	for (i = 0; i < p->n_init; i++) {
		struct rt_ctr *x = &p->ctrs[i];

		if (x->done && x->term.exit_code == 0)
			continue;
		if (!x->done && x->state == SIM_CTR_WAITING && x->restart_due_ms <= now)
			try_start(rt, p, x, now);
		return; /* running, failed for good, or just started */
	}
	for (i = p->n_init; i < p->n; i++) {
		struct rt_ctr *x = &p->ctrs[i];

		if (x->state == SIM_CTR_WAITING && x->restart_due_ms > 0 && x->restart_due_ms <= now)
			try_start(rt, p, x, now);
	}
}

static enum sim_pod_phase pod_phase(const struct rt_pod *p)
{
	size_t i;
	int ran = 0, all_done = 1, failed = 0;

	for (i = 0; i < p->n_init; i++) {
		const struct rt_ctr *x = &p->ctrs[i];

		if (x->done && x->term.exit_code != 0)
			return SIM_POD_FAILED;
		if (!x->done)
			return SIM_POD_PENDING;
	}
	for (i = p->n_init; i < p->n; i++) {
		const struct rt_ctr *x = &p->ctrs[i];

		if (x->run > 0)
			ran = 1;
		if (!x->done)
			all_done = 0;
		else if (x->term.exit_code != 0)
			failed = 1;
	}
	if (all_done && p->n > p->n_init)
		return failed ? SIM_POD_FAILED : SIM_POD_SUCCEEDED;
	return ran ? SIM_POD_RUNNING : SIM_POD_PENDING;
}

static int any_alive(const struct rt_pod *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		if (p->ctrs[i].pid > 0)
			return 1;
	}
	return 0;
}

static void pod_tick(struct sim_runtime *rt, struct rt_pod *p, int64_t now)
{
	size_t i;
	enum sim_pod_phase before = p->phase;

	if (!p->prepared && !p->stopping) {
		if (p->prepare_retry_ms > now)
			return;
		if (mkdirs(p->dir) != 0 || prepare_volumes(rt, p) != 0) {
			mounts_free(p->mounts, p->n_mounts);
			p->n_mounts = 0;
			p->mounts = calloc((size_t)cJSON_GetArraySize(sim_j_at(p->pod, "spec.volumes")) + 1,
					   sizeof(*p->mounts));
			p->prepare_retry_ms = now + 1000;
			for (i = 0; i < p->n; i++)
				snprintf(p->ctrs[i].wait_msg, sizeof(p->ctrs[i].wait_msg), "%.250s",
					 p->prepare_err);
			p->dirty = 1;
			return;
		}
		p->prepared = 1;
	}
	reap(rt, p, now);
	if (p->stopping) {
		if (now >= p->stop_deadline)
			signal_pod(p, SIGKILL);
		if (!any_alive(p) && !p->gone) {
			p->gone = 1;
			p->dirty = 1;
			record_pgids_locked(rt);
		}
		return;
	}
	if (p->frozen || !p->prepared)
		return;
	for (i = 0; i < p->n; i++) {
		check_memory(&p->ctrs[i]);
		run_probes(rt, p, &p->ctrs[i], now);
	}
	start_due(rt, p, now);
	p->phase = pod_phase(p);
	if (p->phase != before)
		p->dirty = 1;
}

/* SIGTERM to everything, then SIGKILL after STOP_ALL_GRACE_MS, reaping as they go. */
static void stop_all(struct sim_runtime *rt)
{
	struct rt_pod *p, *t;
	int64_t deadline = wall_ms() + STOP_ALL_GRACE_MS;
	size_t i;

	HASH_ITER(hh, rt->pods, p, t) {
		if (p->stopped)
			freeze_pod(p, 0);
		signal_pod(p, SIGTERM);
	}
	for (;;) {
		int alive = 0;
		struct timespec nap = {0, 20 * 1000000L};

		HASH_ITER(hh, rt->pods, p, t) {
			for (i = 0; i < p->n; i++) {
				struct rt_ctr *x = &p->ctrs[i];

				if (x->pid > 0 && waitpid(x->pid, NULL, WNOHANG) == x->pid) {
					kill(-x->pid, SIGKILL);
					x->pid = 0;
				}
				alive += x->pid > 0;
			}
		}
		if (!alive || wall_ms() >= deadline)
			break;
		nanosleep(&nap, NULL);
	}
	HASH_ITER(hh, rt->pods, p, t)
		pod_kill_now(p);
}

struct note {
	char *uid;
	struct note *next;
};

static void *runtime_main(void *arg)
{
	struct sim_runtime *rt = arg;

	pthread_mutex_lock(&rt->mu);
	while (!rt->stop) {
		struct rt_pod *p, *t;
		struct note *notes = NULL;
		struct timespec until;
		int64_t now = wall_ms();

		HASH_ITER(hh, rt->pods, p, t) {
			pod_tick(rt, p, now);
			if (p->dirty) {
				struct note *n = calloc(1, sizeof(*n));

				if (n && (n->uid = strdup(p->uid)) != NULL) {
					n->next = notes;
					notes = n;
				} else {
					free(n);
				}
			}
		}
		pthread_mutex_unlock(&rt->mu);
		while (notes) {
			struct note *n = notes;

			notes = n->next;
			rt->notify(rt->ud, n->uid);
			free(n->uid);
			free(n);
		}
		pthread_mutex_lock(&rt->mu);
		if (rt->stop)
			break;
		if (!atomic_load(&rt->wake)) {
			int64_t wait_ms = next_due_locked(rt, now, now + TICK_MS) - wall_ms();

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += (wait_ms > 0 ? wait_ms : 0) * 1000000L;
			until.tv_sec += until.tv_nsec / 1000000000L;
			until.tv_nsec %= 1000000000L;
			if (wait_ms > 0)
				pthread_cond_timedwait(&rt->cv, &rt->mu, &until);
		}
		atomic_store(&rt->wake, 0);
	}
	pthread_mutex_unlock(&rt->mu);
	/* The children die with this thread (PR_SET_PDEATHSIG): stop them gracefully first. */
	stop_all(rt);
	return NULL;
}

/* ---- Orphans of earlier instances ---- */

/* 1 if /proc/PID/environ carries the marker of instance `id`. */
static int has_marker(int pid, const char *id)
{
	char path[64], want[128];
	size_t len = 0, off, wl;
	char *env;

	snprintf(path, sizeof(path), "/proc/%d/environ", pid);
	snprintf(want, sizeof(want), "%s=%s", MARKER, id);
	wl = strlen(want) + 1;
	env = slurp(path, 1 << 20, &len);
	for (off = 0; env && off < len; off += strlen(env + off) + 1) {
		if (memcmp(env + off, want, wl < len - off ? wl : len - off) == 0) {
			free(env);
			return 1;
		}
	}
	free(env);
	return 0;
}

/* Kills every process of dead instance `id` (dir = its instance dir): the process groups it
 * recorded, and any process that still carries its marker (grandchildren that left them). */
static int kill_orphans(const char *dir, const char *id)
{
	char path[PATH_MAX];
	DIR *d;
	struct dirent *e;
	FILE *f;
	int pgid, killed = 0;

	snprintf(path, sizeof(path), "%s/pgids", dir);
	f = fopen(path, "r");
	while (f && fscanf(f, "%d", &pgid) == 1) {
		if (pgid > 1 && has_marker(pgid, id) && kill(-pgid, SIGKILL) == 0)
			killed++;
	}
	if (f)
		fclose(f);
	d = opendir("/proc");
	while (d && (e = readdir(d)) != NULL) {
		int pid = atoi(e->d_name);

		if (pid > 1 && pid != getpid() && has_marker(pid, id) && kill(pid, SIGKILL) == 0)
			killed++;
	}
	if (d)
		closedir(d);
	return killed;
}

/* Instance dirs are named PID-STARTNS; an instance whose pid is gone (or reused: no such dir
 * for that pid's start) left them. */
static void clean_dead_instances(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *e;

	while (d && (e = readdir(d)) != NULL) {
		char path[2048], owner[PATH_MAX];
		int pid = atoi(e->d_name);
		size_t len = 0;
		char *text;

		if (pid <= 0 || pid == getpid())
			continue;
		snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
		snprintf(owner, sizeof(owner), "/proc/%d/environ", pid);
		text = NULL;
		if (kill(pid, 0) == 0) {
			/* Alive: is it still that kubesim? Its dir records its start marker. */
			snprintf(owner, sizeof(owner), "%s/owner", path);
			text = slurp(owner, 256, &len);
			if (text) {
				char stat_path[64], *st;
				size_t sl;

				snprintf(stat_path, sizeof(stat_path), "/proc/%d/stat", pid);
				st = slurp(stat_path, 4096, &sl);
				if (st && strstr(st, text)) {
					free(st);
					free(text);
					continue; /* a live instance */
				}
				free(st);
			}
			free(text);
		}
		if (kill_orphans(path, e->d_name) > 0)
			kube_logf(KUBE_LOG_INFO, LOG_COMP, "killed the processes left by %s", path);
		rm_rf(path);
	}
	if (d)
		closedir(d);
}

/* The start time of this process (field 22 of /proc/self/stat), as text. */
static void self_start(char *buf, size_t len)
{
	size_t n = 0;
	char *st = slurp("/proc/self/stat", 4096, &n), *p;
	int field = 2;

	buf[0] = '\0';
	p = st ? strrchr(st, ')') : NULL;
	for (; p && *p; p++) {
		if (*p == ' ' && ++field == 22) {
			snprintf(buf, len, " %.*s ", (int)strcspn(p + 1, " "), p + 1);
			break;
		}
	}
	free(st);
}

/* The base dir and this process' instance id ("PID-STARTTIME"). */
static void instance_of(const struct sim_runtime_config *cfg, char *base, size_t blen, char *id,
			size_t ilen, char *start, size_t slen)
{
	if (cfg->dir)
		snprintf(base, blen, "%s", cfg->dir);
	else
		snprintf(base, blen, "%s/kubesim-runpods-%d",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getuid());
	self_start(start, slen);
	snprintf(id, ilen, "%d-%s", (int)getpid(), start + (start[0] == ' '));
	id[strcspn(id, " ")] = '\0';
}

void sim_runtime_pod_dir(const struct sim_runtime_config *cfg, const char *uid, char *buf,
			 size_t len)
{
	char base[1024], id[64], start[64];

	instance_of(cfg, base, sizeof(base), id, sizeof(id), start, sizeof(start));
	snprintf(buf, len, "%s/%s/pods/%s", base, id, uid);
}

void sim_runtime_set_cluster(struct sim_runtime *rt, const struct sim_rt_cluster *cl)
{
	pthread_mutex_lock(&rt->mu);
	rt->cluster = *cl;
	pthread_mutex_unlock(&rt->mu);
}

int sim_runtime_new(const struct sim_runtime_config *cfg, struct sim_store *store,
		    sim_runtime_notify_fn notify, void *ud, struct sim_runtime **out)
{
	struct sim_runtime *rt = calloc(1, sizeof(*rt));
	char base[1024], start[64], owner[PATH_MAX];
	FILE *f;

	*out = NULL;
	if (!rt)
		return KUBE_ENOMEM;
	rt->cfg = cfg;
	rt->store = store;
	rt->notify = notify;
	rt->ud = ud;
	instance_of(cfg, base, sizeof(base), rt->id, sizeof(rt->id), start, sizeof(start));
	if (mkdirs(base) != 0) {
		kube_logf(KUBE_LOG_ERROR, LOG_COMP, "cannot create %s: %s", base, strerror(errno));
		free(rt);
		return KUBE_EIO;
	}
	clean_dead_instances(base);
	snprintf(rt->dir, sizeof(rt->dir), "%s/%s", base, rt->id);
	mkdirs(rt->dir);
	snprintf(owner, sizeof(owner), "%s/owner", rt->dir);
	f = fopen(owner, "w");
	if (f) {
		fputs(start, f);
		fclose(f);
	}
	pthread_mutex_init(&rt->mu, NULL);
	pthread_cond_init(&rt->cv, NULL);
	if (pthread_create(&rt->th, NULL, runtime_main, rt) != 0) {
		pthread_mutex_destroy(&rt->mu);
		pthread_cond_destroy(&rt->cv);
		free(rt);
		return KUBE_ENOMEM;
	}
	kube_logf(KUBE_LOG_INFO, LOG_COMP, "running pods as processes under %s", rt->dir);
	*out = rt;
	return 0;
}

void sim_runtime_free(struct sim_runtime *rt)
{
	struct rt_pod *p, *t;

	if (!rt)
		return;
	pthread_mutex_lock(&rt->mu);
	rt->stop = 1;
	wake_locked(rt);
	pthread_mutex_unlock(&rt->mu);
	pthread_join(rt->th, NULL);
	/* Every child is reaped now (stop_all): the exit watchers return. */
	pthread_mutex_lock(&rt->mu);
	while (rt->watchers > 0)
		pthread_cond_wait(&rt->cv, &rt->mu);
	pthread_mutex_unlock(&rt->mu);
	HASH_ITER(hh, rt->pods, p, t) {
		HASH_DEL(rt->pods, p);
		pod_free(p);
	}
	rm_rf(rt->dir);
	pthread_mutex_destroy(&rt->mu);
	pthread_cond_destroy(&rt->cv);
	free(rt);
}
