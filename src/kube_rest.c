/* REST client over libcurl; see kube_rest.h. One CURLSH shares DNS and TLS sessions between the
 * easy handles of all threads; idle easy handles (each with its open connections) wait in a pool
 * for the next request; a token bucket (kube_ratelimiter) paces requests. */
#include "kube_rest.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>

#include "kube_exec.h"
#include "kube_json.h"
#include "kube_log.h"
#include "kube_metrics.h"
#include "kube_ratelimit.h"
#include "kube_rest_internal.h"

/* Defaults sized for a controller on an API server with Priority and Fairness (GA since 1.29,
 * on by default since 1.20): the server's flow control (429 + Retry-After, honoured below) is
 * the real limit, this bucket only a safety net against a runaway loop. client-go's 5/10 (and
 * the 20/30 controller-runtime used to set) throttle a reconcile burst of a few thousand writes
 * for minutes; kubectl uses 50/300; controller-runtime >= 0.21 sets no client-side limit. */
#define DEFAULT_QPS 300.0
#define DEFAULT_BURST 600
#define DEFAULT_URGENT_QPS 200.0
#define DEFAULT_URGENT_BURST 400
#define DEFAULT_TIMEOUT_MS 30000L
#define DEFAULT_CONNECT_TIMEOUT_MS 10000L
#define DEFAULT_RETRIES 3
#define DEFAULT_RETRY_BASE_MS 200L
#define MAX_BACKOFF_MS 5000L
#define MAX_RETRY_AFTER_S 10L
#define MAX_BODY (1024UL * 1024 * 1024) /* a whole-List response; more is surely an error */
#define MAX_ERROR_BODY (1024UL * 1024)
#define WATCH_TIMEOUT_MARGIN_S 30
#define CANCEL_POLL_MS 100
#define POOL_MAX 16 /* idle easy handles kept, each with its keep-alive connection */
#define EXEC_REFRESH_EARLY_S 10 /* re-run an exec plugin this long before its credential expires */

const struct kube_gvr KUBE_GVR_PODS = { "", "v1", "pods", true };
const struct kube_gvr KUBE_GVR_SERVICES = { "", "v1", "services", true };
const struct kube_gvr KUBE_GVR_ENDPOINTS = { "", "v1", "endpoints", true };
const struct kube_gvr KUBE_GVR_CONFIGMAPS = { "", "v1", "configmaps", true };
const struct kube_gvr KUBE_GVR_SECRETS = { "", "v1", "secrets", true };
const struct kube_gvr KUBE_GVR_EVENTS = { "", "v1", "events", true };
const struct kube_gvr KUBE_GVR_NAMESPACES = { "", "v1", "namespaces", false };
const struct kube_gvr KUBE_GVR_NODES = { "", "v1", "nodes", false };
const struct kube_gvr KUBE_GVR_SERVICEACCOUNTS = { "", "v1", "serviceaccounts", true };
const struct kube_gvr KUBE_GVR_LEASES = { "coordination.k8s.io", "v1", "leases", true };
const struct kube_gvr KUBE_GVR_PDBS = { "policy", "v1", "poddisruptionbudgets", true };
const struct kube_gvr KUBE_GVR_JOBS = { "batch", "v1", "jobs", true };
const struct kube_gvr KUBE_GVR_DEPLOYMENTS = { "apps", "v1", "deployments", true };
const struct kube_gvr KUBE_GVR_CRDS = { "apiextensions.k8s.io", "v1",
					"customresourcedefinitions", false };

struct kube_client {
	struct kube_config cfg;
	char *user_agent;
	long timeout_ms, connect_timeout_ms, retry_base_ms;
	int max_retries;

	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

	/* libcurl does not support one connection cache used by concurrent threads
	 * (CURL_LOCK_DATA_CONNECT), so connections are reused through idle easy handles: a
	 * request takes one from here (or makes one) and puts it back when done. */
	pthread_mutex_t pool_mu;
	CURL *pool[POOL_MAX];
	int npool;

	struct kube_ratelimiter *limiter; /* NULL = unlimited */
	/* kube__now_ns() before which NORMAL requests wait: the server's last Retry-After. */
	_Atomic int64_t hold_until_ns;
	/* kube_client_shutdown: every wait (hold, backoff, token) ends at once; wait_cv wakes. */
	atomic_bool closing;
	pthread_mutex_t wait_mu;
	pthread_cond_t wait_cv;

	pthread_mutex_t gate_mu;
	bool (*gate)(void *ud);
	void *gate_ud;

	/* Bearer token from token_file, re-read when the file changes (rotation). */
	pthread_mutex_t token_mu;
	char *token;
	struct timespec token_mtime;
	off_t token_size;
	ino_t token_ino;

	/* Exec credential plugin (cfg.exec, used when no token/token_file is set): the credential
	 * it last returned, kept until shortly before its expiry. exec_mu is held while the plugin
	 * runs, so one run serves every waiting thread. exec_gen counts runs (0 = none yet). */
	pthread_mutex_t exec_mu;
	struct kube_exec_cred exec_cred;
	bool exec_have;
	unsigned long exec_gen;

	struct kube_metric *m_requests, *m_duration, *m_ratelimit, *m_throttled;
};

/* What one request is; borrowed strings. */
struct request {
	const char *verb;     /* metrics label: get, list, create, update, patch, delete, watch */
	const char *resource; /* metrics label */
	const char *method;
	const char *path;
	const char *query;
	const char *content_type;
	const char *body;
	bool idempotent;
	bool write;           /* subject to the write gate */
};

/* What came back from one attempt. */
struct response {
	char *body;
	size_t len, cap, max;
	long status;
	long retry_after_s; /* -1 = no header */
	char pl_uid[64];    /* X-Kubernetes-PF-PriorityLevel-UID (API Priority and Fairness) */
	CURL *easy;
	kube__body_cb sink; /* streaming: 2xx bytes go here */
	void *sink_ud;
	int sink_rc;
	int stream_state;   /* 0 unknown, 1 streaming to sink, 2 buffering an error body */
	unsigned long auth_gen; /* exec credential generation sent; 0 = not from a plugin */
	char *auth_err;     /* why no credential could be had (exec plugin message) */
};

/* --- process-wide setup --------------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
	struct kube_client *c = ud;

	(void)h;
	(void)access;
	pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
	struct kube_client *c = ud;

	(void)h;
	pthread_mutex_unlock(&c->share_locks[data]);
}

/* --- small helpers ------------------------------------------------------------------------ */

void kube_status_release(struct kube_status *st)
{
	if (st == NULL)
		return;
	free(st->reason);
	free(st->message);
	cJSON_Delete(st->details);
	memset(st, 0, sizeof(*st));
}

static void status_set_message(struct kube_status *st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void status_set_message(struct kube_status *st, const char *fmt, ...)
{
	va_list ap;

	if (st == NULL)
		return;
	free(st->message);
	va_start(ap, fmt);
	if (vasprintf(&st->message, fmt, ap) < 0)
		st->message = NULL;
	va_end(ap);
}

char *kube__escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(n * 3 + 1), *p = out;

	if (out == NULL)
		return NULL;
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			*p++ = (char)ch;
		} else {
			*p++ = '%';
			*p++ = hex[ch >> 4];
			*p++ = hex[ch & 15];
		}
	}
	*p = '\0';
	return out;
}

static void add_param(FILE *f, bool *first, const char *key, const char *value)
{
	char *esc;

	if (value == NULL)
		return;
	esc = kube__escape(value);
	if (esc == NULL)
		return; /* fclose/ferror in the caller won't see this; checked via NULL below */
	fprintf(f, "%s%s=%s", *first ? "" : "&", key, esc);
	*first = false;
	free(esc);
}

char *kube__list_query(const struct kube_list_opts *o, bool watch)
{
	char *buf = NULL, num[32];
	size_t len = 0;
	bool first = true;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	if (watch) {
		fputs("watch=1&allowWatchBookmarks=true", f);
		first = false;
	}
	if (o != NULL) {
		if (o->label_selector != NULL && o->label_selector[0] != '\0')
			add_param(f, &first, "labelSelector", o->label_selector);
		if (o->field_selector != NULL && o->field_selector[0] != '\0')
			add_param(f, &first, "fieldSelector", o->field_selector);
		if (o->resource_version != NULL && o->resource_version[0] != '\0')
			add_param(f, &first, "resourceVersion", o->resource_version);
		if (!watch && o->limit > 0) {
			snprintf(num, sizeof(num), "%ld", o->limit);
			add_param(f, &first, "limit", num);
		}
		if (!watch && o->continue_token != NULL && o->continue_token[0] != '\0')
			add_param(f, &first, "continue", o->continue_token);
		if (o->timeout_seconds > 0) {
			snprintf(num, sizeof(num), "%d", o->timeout_seconds);
			add_param(f, &first, "timeoutSeconds", num);
		}
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

char *kube_resource_path(const struct kube_gvr *gvr, const char *ns, const char *name,
			 const char *subresource)
{
	char *buf = NULL, *esc;
	size_t len = 0;
	FILE *f;

	if (gvr == NULL || gvr->version == NULL || gvr->resource == NULL)
		return NULL;
	f = open_memstream(&buf, &len);
	if (f == NULL)
		return NULL;
	if (gvr->group == NULL || gvr->group[0] == '\0')
		fprintf(f, "/api/%s", gvr->version);
	else
		fprintf(f, "/apis/%s/%s", gvr->group, gvr->version);
	if (ns != NULL && ns[0] != '\0') {
		esc = kube__escape(ns);
		fprintf(f, "/namespaces/%s", esc != NULL ? esc : "");
		free(esc);
	}
	fprintf(f, "/%s", gvr->resource);
	if (name != NULL && name[0] != '\0') {
		esc = kube__escape(name);
		fprintf(f, "/%s", esc != NULL ? esc : "");
		free(esc);
		if (subresource != NULL && subresource[0] != '\0')
			fprintf(f, "/%s", subresource);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t kube__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Waits until kube__now_ns() reaches until_ns: 0; KUBE_ESHUTDOWN at once when the client is
 * shut down (kube_client_shutdown wakes the wait) unless `lease` (a Lease request waits its token
 * all the same: releasing the Lease at shutdown lets a standby take over at once), KUBE_ECANCELED
 * when cancel (may be NULL) is set (polled every CANCEL_POLL_MS). */
static int wait_until(struct kube_client *c, int64_t until_ns, const atomic_bool *cancel,
		      bool lease)
{
	int rc = 0;

	pthread_mutex_lock(&c->wait_mu);
	for (;;) {
		int64_t now = kube__now_ns(), end = until_ns;
		if (!lease && atomic_load(&c->closing)) {
			rc = KUBE_ESHUTDOWN;
			break;
		}
		if (cancel != NULL && atomic_load(cancel)) {
			rc = KUBE_ECANCELED;
			break;
		}
		if (now >= until_ns)
			break;
		if (cancel != NULL && end - now > (int64_t)CANCEL_POLL_MS * 1000000)
			end = now + (int64_t)CANCEL_POLL_MS * 1000000;
		struct timespec ts = { (time_t)(end / 1000000000), (long)(end % 1000000000) };
		pthread_cond_timedwait(&c->wait_cv, &c->wait_mu, &ts);
	}
	pthread_mutex_unlock(&c->wait_mu);
	return rc;
}

void kube_client_shutdown(struct kube_client *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->wait_mu);
	atomic_store(&c->closing, true);
	pthread_cond_broadcast(&c->wait_cv);
	pthread_mutex_unlock(&c->wait_mu);
}

/* --- client lifecycle --------------------------------------------------------------------- */

static void register_metrics(struct kube_client *c)
{
	static const char *const req_labels[] = { "verb", "resource", "code", NULL };
	static const char *const dur_labels[] = { "verb", "resource", NULL };
	struct kube_metrics *m = kube_metrics_default();

	c->m_requests = kube_metric_register(m, KUBE_COUNTER, "kube_client_requests_total",
					     "API requests by verb, resource and HTTP code "
					     "(\"<error>\" when no response arrived).",
					     req_labels, NULL, 0);
	c->m_duration = kube_metric_register(m, KUBE_HISTOGRAM,
					     "kube_client_request_duration_seconds",
					     "API request latency (one attempt, watches excluded).",
					     dur_labels, NULL, 0);
	c->m_ratelimit = kube_metric_register(m, KUBE_HISTOGRAM,
					      "kube_client_rate_limiter_wait_seconds",
					      "Time requests waited for the client-side rate limiter.",
					      NULL, NULL, 0);
	static const char *const pl_labels[] = { "priority_level", NULL };
	c->m_throttled = kube_metric_register(m, KUBE_COUNTER, "kube_client_throttled_total",
					      "429 responses (server flow control), by the API "
					      "Priority and Fairness priority level UID the server "
					      "named (\"\" when it named none).",
					      pl_labels, NULL, 0);
}

static _Thread_local enum kube_priority tl_priority = KUBE_PRIORITY_NORMAL;

enum kube_priority kube_set_priority(enum kube_priority p)
{
	enum kube_priority old = tl_priority;

	tl_priority = p == KUBE_PRIORITY_URGENT ? KUBE_PRIORITY_URGENT : KUBE_PRIORITY_NORMAL;
	return old;
}

enum kube_priority kube_get_priority(void)
{
	return tl_priority;
}

int kube_client_new(const struct kube_config *cfg, const struct kube_client_opts *opts,
		    struct kube_client **out)
{
	struct kube_client_opts o = { 0 };
	struct kube_client *c = NULL;
	int rc, i;

	if (cfg == NULL || out == NULL || cfg->server == NULL || cfg->server[0] == '\0')
		return KUBE_EINVAL;
	*out = NULL;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return KUBE_EIO;
	if (opts != NULL)
		o = *opts;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return KUBE_ENOMEM;
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	pthread_mutex_init(&c->gate_mu, NULL);
	pthread_mutex_init(&c->token_mu, NULL);
	pthread_mutex_init(&c->exec_mu, NULL);
	pthread_mutex_init(&c->pool_mu, NULL);
	pthread_mutex_init(&c->wait_mu, NULL);
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&c->wait_cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	rc = kube_config_copy(&c->cfg, cfg);
	if (rc != 0)
		goto out;
	for (size_t n = strlen(c->cfg.server); n > 1 && c->cfg.server[n - 1] == '/'; n--)
		c->cfg.server[n - 1] = '\0';
	c->user_agent = strdup(o.user_agent != NULL ? o.user_agent : "phoenix-kube/0.1");
	if (c->user_agent == NULL) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	c->timeout_ms = o.timeout_ms > 0 ? o.timeout_ms : DEFAULT_TIMEOUT_MS;
	c->connect_timeout_ms = o.connect_timeout_ms > 0 ? o.connect_timeout_ms
							 : DEFAULT_CONNECT_TIMEOUT_MS;
	c->max_retries = o.max_retries == 0 ? DEFAULT_RETRIES : (o.max_retries < 0 ? 0 : o.max_retries);
	c->retry_base_ms = o.retry_base_ms > 0 ? o.retry_base_ms : DEFAULT_RETRY_BASE_MS;
	if (o.qps >= 0) {
		double qps = o.qps > 0 ? o.qps : DEFAULT_QPS;
		int burst = o.burst > 0 ? o.burst : DEFAULT_BURST;

		if (o.urgent_qps < 0 || o.urgent_burst < 0)
			c->limiter = kube_ratelimiter_bucket_new(NULL, qps, burst);
		else
			c->limiter = kube_ratelimiter_bucket_reserve_new(
				NULL, qps, burst, o.urgent_qps > 0 ? o.urgent_qps : DEFAULT_URGENT_QPS,
				o.urgent_burst > 0 ? o.urgent_burst : DEFAULT_URGENT_BURST);
		if (c->limiter == NULL) {
			rc = KUBE_ENOMEM;
			goto out;
		}
	}
	c->share = curl_share_init();
	if (c->share == NULL) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	register_metrics(c);
	*out = c;
	c = NULL;
out:
	kube_client_free(c);
	return rc;
}

void kube_client_free(struct kube_client *c)
{
	int i;

	if (c == NULL)
		return;
	for (i = 0; i < c->npool; i++)
		curl_easy_cleanup(c->pool[i]);
	if (c->share != NULL)
		curl_share_cleanup(c->share);
	kube_ratelimiter_free(c->limiter);
	kube_config_release(&c->cfg);
	free(c->user_agent);
	free(c->token);
	kube_exec_cred_release(&c->exec_cred);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	pthread_mutex_destroy(&c->gate_mu);
	pthread_mutex_destroy(&c->token_mu);
	pthread_mutex_destroy(&c->exec_mu);
	pthread_mutex_destroy(&c->pool_mu);
	pthread_mutex_destroy(&c->wait_mu);
	pthread_cond_destroy(&c->wait_cv);
	free(c);
}

const char *kube_client_namespace(const struct kube_client *c)
{
	if (c == NULL || c->cfg.namespace == NULL || c->cfg.namespace[0] == '\0')
		return "default";
	return c->cfg.namespace;
}

void kube_client_set_write_gate(struct kube_client *c, bool (*allow)(void *ud), void *ud)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->gate_mu);
	c->gate = allow;
	c->gate_ud = ud;
	pthread_mutex_unlock(&c->gate_mu);
}

static bool gate_allows(struct kube_client *c)
{
	bool (*allow)(void *ud);
	void *ud;

	pthread_mutex_lock(&c->gate_mu);
	allow = c->gate;
	ud = c->gate_ud;
	pthread_mutex_unlock(&c->gate_mu);
	return allow == NULL || allow(ud);
}

/* Current bearer token (malloc'd, NULL when none). A token file is re-read only when its
 * inode, size or mtime changed, so rotation is picked up on the next request. */
static int current_token(struct kube_client *c, char **out)
{
	struct stat sb;
	char *fresh = NULL;
	int rc = 0;

	*out = NULL;
	if (c->cfg.token_file == NULL || c->cfg.token_file[0] == '\0')
		return kube_config_read_token(&c->cfg, out);
	pthread_mutex_lock(&c->token_mu);
	if (stat(c->cfg.token_file, &sb) != 0) {
		/* Keep using the last good token: the file may be mid-rotation (symlink swap). */
		if (c->token == NULL)
			rc = KUBE_ECONFIG;
		goto copy;
	}
	if (c->token == NULL || sb.st_ino != c->token_ino || sb.st_size != c->token_size ||
	    sb.st_mtim.tv_sec != c->token_mtime.tv_sec ||
	    sb.st_mtim.tv_nsec != c->token_mtime.tv_nsec) {
		rc = kube_config_read_token(&c->cfg, &fresh);
		if (rc == 0) {
			free(c->token);
			c->token = fresh;
			c->token_ino = sb.st_ino;
			c->token_size = sb.st_size;
			c->token_mtime = sb.st_mtim;
		} else if (c->token != NULL) {
			rc = 0;
		}
	}
copy:
	if (rc == 0 && c->token != NULL) {
		*out = strdup(c->token);
		if (*out == NULL)
			rc = KUBE_ENOMEM;
	}
	pthread_mutex_unlock(&c->token_mu);
	return rc;
}

/* What one attempt authenticates with (malloc'd copies; NULL = none). */
struct auth {
	char *token, *cert, *key;
	unsigned long gen; /* exec_gen of a plugin credential, 0 otherwise */
};

static void auth_release(struct auth *a)
{
	char *s[3] = { a->token, a->cert, a->key };

	for (int i = 0; i < 3; i++) {
		if (s[i] != NULL) {
			memset(s[i], 0, strlen(s[i]));
			free(s[i]);
		}
	}
	memset(a, 0, sizeof(*a));
}

static int dup_secret(char **dst, const char *src)
{
	*dst = src != NULL ? strdup(src) : NULL;
	return src != NULL && *dst == NULL ? KUBE_ENOMEM : 0;
}

/* The exec plugin's credential, running the plugin when none is cached or the cached one
 * expires within EXEC_REFRESH_EARLY_S. On failure *errmsg says why (caller frees). */
static int exec_auth(struct kube_client *c, struct auth *a, char **errmsg)
{
	struct kube_exec_cred fresh;
	int rc = 0;

	pthread_mutex_lock(&c->exec_mu);
	if (!c->exec_have || (c->exec_cred.expiry != 0 &&
			      time(NULL) + EXEC_REFRESH_EARLY_S >= c->exec_cred.expiry)) {
		rc = kube_exec_run(c->cfg.exec, &c->cfg, &fresh, errmsg);
		if (rc == 0) {
			kube_exec_cred_release(&c->exec_cred);
			c->exec_cred = fresh;
			c->exec_have = true;
			c->exec_gen++;
		} else {
			kube_log(KUBE_LOG_WARN, "rest", "exec credential plugin failed", "error",
				 errmsg != NULL && *errmsg != NULL ? *errmsg : kube_strerror(rc), NULL);
		}
	}
	if (rc == 0) {
		a->gen = c->exec_gen;
		rc = dup_secret(&a->token, c->exec_cred.token);
		rc |= dup_secret(&a->cert, c->exec_cred.client_cert_data);
		rc |= dup_secret(&a->key, c->exec_cred.client_key_data);
	}
	pthread_mutex_unlock(&c->exec_mu);
	return rc != 0 && rc != KUBE_ECONFIG ? KUBE_ENOMEM : rc;
}

/* After a 401: forgets the plugin credential of generation `gen` unless another thread has
 * already replaced it, so the next request runs the plugin again. */
static void exec_invalidate(struct kube_client *c, unsigned long gen)
{
	pthread_mutex_lock(&c->exec_mu);
	if (c->exec_have && c->exec_gen == gen)
		c->exec_have = false;
	pthread_mutex_unlock(&c->exec_mu);
}

/* The credential for one attempt: token_file or token when set (they win, as in client-go),
 * else the exec plugin's. */
static int current_auth(struct kube_client *c, struct auth *a, char **errmsg)
{
	memset(a, 0, sizeof(*a));
	if (c->cfg.exec != NULL && c->cfg.token == NULL &&
	    (c->cfg.token_file == NULL || c->cfg.token_file[0] == '\0'))
		return exec_auth(c, a, errmsg);
	return current_token(c, &a->token);
}

/* --- easy handle pool ---------------------------------------------------------------------- */

/* An easy handle for one attempt: an idle one from the pool (its connection may be reused) or a
 * new one. Streams get a new one: they run in their own multi handle and live long. */
static CURL *handle_get(struct kube_client *c, bool stream)
{
	CURL *h = NULL;

	if (!stream) {
		pthread_mutex_lock(&c->pool_mu);
		if (c->npool > 0)
			h = c->pool[--c->npool];
		pthread_mutex_unlock(&c->pool_mu);
	}
	return h != NULL ? h : curl_easy_init();
}

/* Returns a handle after an attempt. Its options point into the finished attempt (headers, error
 * buffer, response), so they are reset; live connections survive curl_easy_reset. */
static void handle_put(struct kube_client *c, CURL *h, bool stream)
{
	if (h == NULL)
		return;
	if (!stream) {
		curl_easy_reset(h);
		pthread_mutex_lock(&c->pool_mu);
		if (c->npool < POOL_MAX) {
			c->pool[c->npool++] = h;
			h = NULL;
		}
		pthread_mutex_unlock(&c->pool_mu);
	}
	if (h != NULL)
		curl_easy_cleanup(h);
}

/* --- one attempt ---------------------------------------------------------------------------- */

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct response *r = ud;
	size_t n = size * nmemb;

	if (r->sink != NULL && r->stream_state == 0) {
		long code = 0;

		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
		r->stream_state = code >= 200 && code < 300 ? 1 : 2;
	}
	if (r->stream_state == 1) {
		r->sink_rc = r->sink(ptr, n, r->sink_ud);
		return r->sink_rc != 0 ? 0 : n;
	}
	if (r->len + n > r->max)
		return 0;
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap == 0 ? 16384 : r->cap;
		char *nb;

		while (cap < r->len + n + 1)
			cap *= 2;
		nb = realloc(r->body, cap);
		if (nb == NULL)
			return 0;
		r->body = nb;
		r->cap = cap;
	}
	memcpy(r->body + r->len, ptr, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
	struct response *r = ud;
	size_t n = size * nitems;
	static const char name[] = "retry-after:";
	static const char pl[] = "x-kubernetes-pf-prioritylevel-uid:";

	if (n > sizeof(pl) - 1 && strncasecmp(buf, pl, sizeof(pl) - 1) == 0) {
		const char *v = buf + sizeof(pl) - 1, *e = buf + n;
		size_t k = 0;

		while (v < e && (*v == ' ' || *v == '\t'))
			v++;
		/* a UID: printable, no spaces; anything else ends it */
		while (v < e && k < sizeof(r->pl_uid) - 1 && *v > ' ' && *v < 0x7f)
			r->pl_uid[k++] = *v++;
		r->pl_uid[k] = '\0';
		return n;
	}

	if (n > sizeof(name) - 1 && strncasecmp(buf, name, sizeof(name) - 1) == 0) {
		char tmp[32];
		size_t vlen = n - (sizeof(name) - 1);
		char *end;
		long v;

		if (vlen >= sizeof(tmp))
			vlen = sizeof(tmp) - 1;
		memcpy(tmp, buf + sizeof(name) - 1, vlen);
		tmp[vlen] = '\0';
		errno = 0;
		v = strtol(tmp, &end, 10);
		/* Only the delta-seconds form; an HTTP date falls back to our own backoff. */
		if (errno == 0 && end != tmp && v >= 0)
			r->retry_after_s = v;
	}
	return n;
}

static int xfer_cancel(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	const atomic_bool *cancel = ud;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return cancel != NULL && atomic_load(cancel) ? 1 : 0;
}

int kube__tune_socket(int fd)
{
	unsigned int ms = KUBE__TCP_USER_TIMEOUT_MS;

	if (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)) != 0)
		return KUBE_EIO;
	return 0;
}

/* libcurl's CURLOPT_SOCKOPTFUNCTION: a socket that is not TCP (a Unix socket) is left alone. */
static int on_sockopt(void *ud, curl_socket_t fd, curlsocktype purpose)
{
	(void)ud;
	if (purpose == CURLSOCKTYPE_IPCXN)
		(void)kube__tune_socket(fd);
	return CURL_SOCKOPT_OK;
}

/* Appends one header line. curl_slist_append returns NULL on failure and leaves the list alone,
 * so assigning its result directly would leak the list and drop the headers already in it. */
static int add_header(struct curl_slist **headers, const char *line)
{
	struct curl_slist *l = curl_slist_append(*headers, line);

	if (l == NULL)
		return KUBE_ENOMEM;
	*headers = l;
	return 0;
}

/* Sets up the easy handle for one attempt. */
static int setup(struct kube_client *c, CURL *h, const struct request *rq, struct response *r,
		 struct curl_slist **headers, char **url, long timeout_ms, const atomic_bool *cancel)
{
	char *auth = NULL;
	struct auth cred = { 0 };
	struct curl_blob blob;
	int rc;

	if (asprintf(url, "%s%s%s%s", c->cfg.server, rq->path,
		     rq->query != NULL && rq->query[0] != '\0' ? "?" : "",
		     rq->query != NULL ? rq->query : "") < 0) {
		*url = NULL;
		return KUBE_ENOMEM;
	}
	curl_easy_setopt(h, CURLOPT_URL, *url);
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	/* A silent cut (no FIN, no RST) must not hang a connection for the kernel's two hours:
	 * probe after 15 s idle, every 5 s, and give up once 30 s pass unacknowledged. */
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, (long)KUBE__TCP_KEEPIDLE_S);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, (long)KUBE__TCP_KEEPINTVL_S);
	curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
	if (cancel != NULL) {
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xfer_cancel);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)cancel);
	}
	if (strcmp(rq->method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(rq->method, "POST") == 0) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
	}
	if (rq->body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(rq->body));
	}
	/* TLS: verification stays on unless the kubeconfig explicitly says otherwise. */
	if (c->cfg.insecure_skip_tls_verify) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->cfg.ca_data != NULL) {
		blob.data = c->cfg.ca_data;
		blob.len = strlen(c->cfg.ca_data);
		blob.flags = CURL_BLOB_COPY;
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
	} else if (c->cfg.ca_file != NULL) {
		curl_easy_setopt(h, CURLOPT_CAINFO, c->cfg.ca_file);
	}
	if (c->cfg.client_cert_data != NULL) {
		blob.data = c->cfg.client_cert_data;
		blob.len = strlen(c->cfg.client_cert_data);
		blob.flags = CURL_BLOB_COPY;
		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
	} else if (c->cfg.client_cert_file != NULL) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->cfg.client_cert_file);
	}
	if (c->cfg.client_key_data != NULL) {
		blob.data = c->cfg.client_key_data;
		blob.len = strlen(c->cfg.client_key_data);
		blob.flags = CURL_BLOB_COPY;
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	} else if (c->cfg.client_key_file != NULL) {
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->cfg.client_key_file);
	}
	rc = add_header(headers, "Accept: application/json");
	if (rc == 0 && rq->content_type != NULL) {
		char *ct = NULL;

		if (asprintf(&ct, "Content-Type: %s", rq->content_type) < 0) {
			rc = KUBE_ENOMEM;
		} else {
			rc = add_header(headers, ct);
			free(ct);
		}
	}
	/* No "Expect: 100-continue" round trip on large bodies. */
	if (rc == 0)
		rc = add_header(headers, "Expect:");
	if (rc != 0)
		goto out;
	rc = current_auth(c, &cred, &r->auth_err);
	if (rc != 0)
		goto out;
	r->auth_gen = cred.gen;
	/* A plugin's client certificate; one from the kubeconfig wins. */
	if (cred.cert != NULL && c->cfg.client_cert_data == NULL &&
	    c->cfg.client_cert_file == NULL) {
		blob.data = cred.cert;
		blob.len = strlen(cred.cert);
		blob.flags = CURL_BLOB_COPY;
		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
		blob.data = cred.key;
		blob.len = strlen(cred.key);
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (cred.token != NULL && cred.token[0] != '\0') {
		if (asprintf(&auth, "Authorization: Bearer %s", cred.token) < 0) {
			auth = NULL;
			rc = KUBE_ENOMEM;
			goto out;
		}
		rc = add_header(headers, auth);
		if (rc != 0)
			goto out;
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *headers);
out:
	if (auth != NULL) {
		memset(auth, 0, strlen(auth));
		free(auth);
	}
	auth_release(&cred);
	return rc;
}

/* True once idle->idle_ms passed without progress (and records it). */
static bool idle_expired(struct kube__idle *idle)
{
	if (idle == NULL || idle->idle_ms <= 0)
		return false;
	if (kube__now_ns() - idle->last_ns < (int64_t)idle->idle_ms * 1000000)
		return false;
	idle->stalled = true;
	return true;
}

/* Runs the transfer; with `cancel`, through a multi handle polled every CANCEL_POLL_MS so a
 * quiet stream still notices cancellation (and, with idle, a stall) promptly. */
static CURLcode perform(CURL *h, const atomic_bool *cancel, struct kube__idle *idle,
			bool *canceled)
{
	CURLM *m;
	CURLMsg *msg;
	CURLcode res = CURLE_OK;
	int running = 1, left;

	*canceled = false;
	if (cancel == NULL && (idle == NULL || idle->idle_ms <= 0))
		return curl_easy_perform(h);
	m = curl_multi_init();
	if (m == NULL)
		return CURLE_OUT_OF_MEMORY;
	if (curl_multi_add_handle(m, h) != CURLM_OK) {
		curl_multi_cleanup(m);
		return CURLE_OUT_OF_MEMORY;
	}
	if (idle != NULL)
		idle->last_ns = kube__now_ns();
	while (running > 0) {
		if (cancel != NULL && atomic_load(cancel)) {
			*canceled = true;
			break;
		}
		if (idle_expired(idle))
			break;
		if (curl_multi_perform(m, &running) != CURLM_OK) {
			res = CURLE_RECV_ERROR;
			break;
		}
		if (running == 0)
			break;
		curl_multi_poll(m, NULL, 0, CANCEL_POLL_MS, NULL);
	}
	for (msg = curl_multi_info_read(m, &left); msg != NULL;
	     msg = curl_multi_info_read(m, &left)) {
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == h)
			res = msg->data.result;
	}
	curl_multi_remove_handle(m, h);
	curl_multi_cleanup(m);
	return res;
}

static void record(struct kube_client *c, const struct request *rq, long status, double secs)
{
	char code[24];
	const char *lv[4];

	if (status > 0)
		snprintf(code, sizeof(code), "%ld", status);
	else
		snprintf(code, sizeof(code), "<error>");
	lv[0] = rq->verb;
	lv[1] = rq->resource;
	lv[2] = code;
	lv[3] = NULL;
	kube_metric_inc(c->m_requests, lv);
	if (strcmp(rq->verb, "watch") != 0)
		kube_metric_observe(c->m_duration, lv, secs);
	if (kube_log_enabled(KUBE_LOG_TRACE)) {
		char dur[32];

		snprintf(dur, sizeof(dur), "%.1fms", secs * 1000);
		kube_log(KUBE_LOG_TRACE, "rest", "request", "method", rq->method, "path", rq->path,
			 "code", code, "duration", dur, NULL);
	}
}

/* Fills st (and returns the code) from a non-2xx response body. */
static int api_error(const struct response *r, struct kube_status *st)
{
	cJSON *status = r->len > 0 ? kube_json_parse_len(r->body, r->len) : NULL;
	const char *reason = kube_json_get_str(status, "reason", NULL);
	const char *message = kube_json_get_str(status, "message", NULL);
	const cJSON *details = kube_json_get(status, "details", NULL);
	int rc = kube_err_from_http(r->status, reason);

	if (st != NULL) {
		free(st->reason);
		st->reason = reason != NULL ? strdup(reason) : NULL;
		if (message != NULL)
			status_set_message(st, "%s", message);
		else if (r->len > 0)
			status_set_message(st, "HTTP %ld: %.*s", r->status,
					   (int)(r->len > 512 ? 512 : r->len), r->body);
		else
			status_set_message(st, "HTTP %ld", r->status);
		cJSON_Delete(st->details);
		st->details = details != NULL ? cJSON_Duplicate(details, true) : NULL;
	}
	cJSON_Delete(status);
	return rc;
}

/* Takes a token as the thread's class says; a NORMAL request also waits out the server's last
 * Retry-After (after its token: the hold may have been set while it waited). Every wait ends at
 * once on kube_client_shutdown (KUBE_ESHUTDOWN) or cancel (KUBE_ECANCELED); else 0. */
static int rate_limit(struct kube_client *c, bool lease, const atomic_bool *cancel)
{
	bool urgent = tl_priority == KUBE_PRIORITY_URGENT;
	int64_t delay = 0, until;
	double start = now_s();
	int rc = 0;

	if (c->limiter != NULL &&
	    (urgent ? kube_ratelimiter_when_urgent(c->limiter, "", &delay)
		    : kube_ratelimiter_when(c->limiter, "", &delay)) == 0 &&
	    delay > 0)
		rc = wait_until(c, kube__now_ns() + delay, cancel, lease);
	/* Lease requests are not held either: a 10 s hold would outlast a renew deadline. */
	while (rc == 0 && !urgent && !lease &&
	       (until = atomic_load(&c->hold_until_ns)) > kube__now_ns())
		rc = wait_until(c, until, cancel, false);
	if (c->limiter != NULL)
		kube_metric_observe(c->m_ratelimit, NULL, now_s() - start);
	return rc;
}

/* The server refused a request with 429 (its flow control): counted, and with a Retry-After the
 * client's NORMAL requests hold until then. */
static void server_throttled(struct kube_client *c, const struct response *r)
{
	const char *lv[2] = { r->pl_uid, NULL };

	kube_metric_inc(c->m_throttled, lv);
	if (r->retry_after_s > 0) {
		long s = r->retry_after_s > MAX_RETRY_AFTER_S ? MAX_RETRY_AFTER_S : r->retry_after_s;
		int64_t until = kube__now_ns() + (int64_t)s * 1000000000;
		int64_t cur = atomic_load(&c->hold_until_ns);

		while (cur < until && !atomic_compare_exchange_weak(&c->hold_until_ns, &cur, until))
			;
	}
}

static bool retryable_status(long status)
{
	return status == 429 || (status >= 500 && status != 501);
}

/* One request, with retries for idempotent ones. */
static int execute(struct kube_client *c, const struct request *rq, kube__body_cb sink,
		   void *sink_ud, long timeout_ms, const atomic_bool *cancel,
		   struct kube__idle *idle, cJSON **out, struct kube_status *st)
{
	struct response r;
	struct curl_slist *headers = NULL;
	char *url = NULL, errbuf[CURL_ERROR_SIZE];
	CURL *h = NULL;
	CURLcode res;
	bool canceled, reauthed = false;
	int rc = 0, attempt;
	long backoff = c->retry_base_ms, wait_ms;
	double t0;

	memset(&r, 0, sizeof(r));
	if (out != NULL)
		*out = NULL;
	if (st != NULL)
		kube_status_release(st);
	if (rq->write && !gate_allows(c)) {
		status_set_message(st, "%s %s refused: this process is not the leader", rq->method,
				   rq->path);
		return KUBE_ENOTLEADER;
	}
	for (attempt = 0;; attempt++) {
		memset(&r, 0, sizeof(r));
		r.retry_after_s = -1;
		r.max = sink != NULL ? MAX_ERROR_BODY : MAX_BODY;
		r.sink = sink;
		r.sink_ud = sink_ud;
		h = handle_get(c, cancel != NULL);
		if (h == NULL) {
			rc = KUBE_ENOMEM;
			goto out;
		}
		r.easy = h;
		errbuf[0] = '\0';
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
		rc = setup(c, h, rq, &r, &headers, &url, timeout_ms, cancel);
		if (rc == KUBE_ECONFIG && r.auth_err != NULL)
			status_set_message(st, "%s", r.auth_err);
		else if (rc == KUBE_ECONFIG)
			status_set_message(st, "cannot read bearer token from %s",
					   c->cfg.token_file != NULL ? c->cfg.token_file : "config");
		if (rc != 0)
			goto out;
		rc = rate_limit(c, rq->resource != NULL && strcmp(rq->resource, "leases") == 0,
				cancel);
		if (rc != 0) {
			status_set_message(st, "%s %s: %s while waiting to be sent", rq->method,
					   rq->path, kube_strerror(rc));
			goto out;
		}
		/* The gate is asked right before each attempt goes out: leadership can be lost while
		 * a request waits for a token or backs off before a retry. */
		if (rq->write && !gate_allows(c)) {
			status_set_message(st, "%s %s refused: this process is not the leader",
					   rq->method, rq->path);
			rc = KUBE_ENOTLEADER;
			goto out;
		}
		t0 = now_s();
		res = perform(h, cancel, idle, &canceled);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
		record(c, rq, res == CURLE_OK ? r.status : 0, now_s() - t0);
		if (st != NULL)
			st->http_status = r.status;
		if (canceled || res == CURLE_ABORTED_BY_CALLBACK) {
			rc = KUBE_ECANCELED;
			goto out;
		}
		if (idle != NULL && idle->stalled) {
			rc = KUBE_ETIMEDOUT;
			status_set_message(st, "%s %s: stalled: nothing received for %ld ms",
					   rq->method, rq->path, idle->idle_ms);
			goto out;
		}
		if (res == CURLE_WRITE_ERROR && r.sink_rc != 0) {
			rc = r.sink_rc;
			goto out;
		}
		if (res != CURLE_OK) {
			rc = res == CURLE_OPERATION_TIMEDOUT ? KUBE_ETIMEDOUT : KUBE_EIO;
			status_set_message(st, "%s %s: %s", rq->method, url,
					   errbuf[0] != '\0' ? errbuf : curl_easy_strerror(res));
		} else if (r.status >= 200 && r.status < 300) {
			rc = 0;
			if (sink == NULL && out != NULL && r.len > 0) {
				*out = kube_json_parse_len(r.body, r.len);
				if (*out == NULL) {
					rc = KUBE_EPARSE;
					status_set_message(st, "%s %s: response is not JSON", rq->method,
							   rq->path);
				}
			}
			goto out;
		} else {
			rc = api_error(&r, st);
			if (r.status == 429)
				server_throttled(c, &r);
		}
		wait_ms = 0;
		if (res == CURLE_OK && r.status == 401 && r.auth_gen != 0 && !reauthed &&
		    (cancel == NULL || !atomic_load(cancel))) {
			/* client-go re-runs the plugin after a 401. The server refused the request
			 * before acting on it, so it goes out once more with the new credential. */
			reauthed = true;
			exec_invalidate(c, r.auth_gen);
			kube_status_release(st); /* the 401 is not the answer the caller gets */
			attempt--;
			goto next;
		}
		/* Retry only idempotent requests, only for transient failures; any request the
		 * server's flow control turned away before acting on it (429 + Retry-After). */
		if ((!rq->idempotent && !(res == CURLE_OK && r.status == 429 && r.retry_after_s > 0)) ||
		    attempt >= c->max_retries ||
		    (res == CURLE_OK && !retryable_status(r.status)) ||
		    (cancel != NULL && atomic_load(cancel)))
			goto out;
		wait_ms = backoff;
		if (r.retry_after_s > 0)
			wait_ms = (r.retry_after_s > MAX_RETRY_AFTER_S ? MAX_RETRY_AFTER_S
								       : r.retry_after_s) * 1000L;
		backoff = backoff * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : backoff * 2;
		kube_log(KUBE_LOG_DEBUG, "rest", "retrying request", "method", rq->method, "path",
			 rq->path, "error", kube_strerror(rc), NULL);
next:
		curl_slist_free_all(headers);
		headers = NULL;
		free(url);
		url = NULL;
		free(r.body);
		free(r.auth_err);
		handle_put(c, h, cancel != NULL);
		h = NULL;
		/* A shutdown or cancel ends the backoff: the caller gets the last answer. */
		if (wait_ms > 0 && wait_until(c, kube__now_ns() + (int64_t)wait_ms * 1000000,
					      cancel, false) != 0) {
			memset(&r, 0, sizeof(r)); /* freed above */
			goto out;
		}
	}
out:
	curl_slist_free_all(headers);
	free(url);
	free(r.body);
	free(r.auth_err);
	handle_put(c, h, cancel != NULL);
	return rc;
}

/* --- verbs ---------------------------------------------------------------------------------- */

static bool gate_exempt(const struct kube_gvr *gvr)
{
	return gvr->group != NULL && strcmp(gvr->group, "coordination.k8s.io") == 0 &&
	       strcmp(gvr->resource, "leases") == 0;
}

/* Validates the common arguments; returns the namespace to use in the path (NULL = none). */
static int check_args(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
		      const char *name, bool need_name, bool need_ns, const char **path_ns)
{
	if (c == NULL || gvr == NULL || gvr->version == NULL || gvr->resource == NULL)
		return KUBE_EINVAL;
	if (need_name && (name == NULL || name[0] == '\0'))
		return KUBE_EINVAL;
	*path_ns = NULL;
	if (gvr->namespaced) {
		if (ns == NULL || ns[0] == '\0') {
			if (need_ns)
				return KUBE_EINVAL;
		} else {
			*path_ns = ns;
		}
	}
	return 0;
}

static int simple(struct kube_client *c, const struct kube_gvr *gvr, const char *verb,
		  const char *method, const char *ns, const char *name, const char *sub,
		  const char *query, const char *ctype, const char *body, cJSON **out,
		  struct kube_status *st)
{
	struct request rq = { 0 };
	char *path;
	int rc;

	path = kube_resource_path(gvr, ns, name, sub);
	if (path == NULL)
		return KUBE_ENOMEM;
	rq.verb = verb;
	rq.resource = gvr->resource;
	rq.method = method;
	rq.path = path;
	rq.query = query;
	rq.content_type = ctype;
	rq.body = body;
	rq.idempotent = strcmp(method, "GET") == 0 || strcmp(method, "DELETE") == 0;
	rq.write = strcmp(method, "GET") != 0 && !gate_exempt(gvr);
	rc = execute(c, &rq, NULL, NULL, c->timeout_ms, NULL, NULL, out, st);
	free(path);
	return rc;
}

int kube_get(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
	     const char *name, const char *subresource, cJSON **out, struct kube_status *st)
{
	const char *pns;
	int rc = check_args(c, gvr, ns, name, true, true, &pns);

	if (rc != 0)
		return rc;
	return simple(c, gvr, "get", "GET", pns, name, subresource, NULL, NULL, NULL, out, st);
}

#define LIST_MAX_ITEMS_DEFAULT 1000000L

/* Moves the items of `page` to the end of `all`'s items, adding their number to *moved. */
static int merge_items(cJSON *all, cJSON *page, long *moved)
{
	cJSON *dst = cJSON_GetObjectItemCaseSensitive(all, "items");
	cJSON *src = cJSON_GetObjectItemCaseSensitive(page, "items");
	cJSON *it;

	if (!cJSON_IsArray(src))
		return 0;
	if (!cJSON_IsArray(dst)) {
		dst = cJSON_CreateArray();
		if (dst == NULL)
			return KUBE_ENOMEM;
		cJSON_DeleteItemFromObjectCaseSensitive(all, "items");
		cJSON_AddItemToObject(all, "items", dst);
	}
	while (src->child != NULL) {
		it = cJSON_DetachItemViaPointer(src, src->child);
		cJSON_AddItemToArray(dst, it);
		(*moved)++;
	}
	return 0;
}

int kube_list(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
	      const struct kube_list_opts *opts, cJSON **out, struct kube_status *st)
{
	struct kube_list_opts o = { 0 };
	cJSON *all = NULL, *page = NULL, *meta;
	const char *pns, *cont;
	char *query = NULL, *token = NULL;
	long nitems = 0, npages = 0, max_items;
	int rc;

	if (out != NULL)
		*out = NULL;
	rc = check_args(c, gvr, ns, NULL, false, false, &pns);
	if (rc != 0)
		return rc;
	if (opts != NULL)
		o = *opts;
	max_items = o.max_items > 0 ? o.max_items : LIST_MAX_ITEMS_DEFAULT;
	for (;;) {
		query = kube__list_query(&o, false);
		if (query == NULL) {
			rc = KUBE_ENOMEM;
			goto out;
		}
		rc = simple(c, gvr, "list", "GET", pns, NULL, NULL, query, NULL, NULL, &page, st);
		free(query);
		query = NULL;
		if (rc != 0)
			goto out;
		if (!cJSON_IsObject(page)) {
			rc = KUBE_EPARSE;
			goto out;
		}
		npages++;
		if (all == NULL) {
			all = page;
			nitems = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(all, "items"));
		} else {
			rc = merge_items(all, page, &nitems);
			if (rc != 0)
				goto out;
			/* The last page's metadata (resourceVersion) describes the whole list. */
			meta = cJSON_DetachItemFromObjectCaseSensitive(page, "metadata");
			if (meta != NULL) {
				cJSON_DeleteItemFromObjectCaseSensitive(all, "metadata");
				cJSON_AddItemToObject(all, "metadata", meta);
			}
			cJSON_Delete(page);
		}
		page = NULL;
		cont = kube_json_get_str(all, "metadata", "continue", NULL);
		if (nitems > max_items) {
			status_set_message(st, "list %s: more than %ld items", gvr->resource, max_items);
			rc = KUBE_ETOOBIG;
			goto out;
		}
		if (o.limit <= 0 || cont == NULL || cont[0] == '\0')
			break;
		if (npages >= max_items) {
			/* A server that keeps paging with new tokens and few or no items. */
			status_set_message(st, "list %s: more than %ld pages", gvr->resource, max_items);
			rc = KUBE_ETOOBIG;
			goto out;
		}
		if (token != NULL && strcmp(cont, token) == 0) {
			/* The same token again would page forever, the list growing each time. */
			status_set_message(st, "list %s: server repeated continue token", gvr->resource);
			rc = KUBE_EPARSE;
			goto out;
		}
		free(token);
		token = strdup(cont);
		if (token == NULL) {
			rc = KUBE_ENOMEM;
			goto out;
		}
		o.continue_token = token;
		/* resourceVersion must not be combined with continue. */
		o.resource_version = NULL;
	}
	meta = cJSON_GetObjectItemCaseSensitive(all, "metadata");
	if (cJSON_IsObject(meta))
		cJSON_DeleteItemFromObjectCaseSensitive(meta, "continue");
	if (out != NULL) {
		*out = all;
		all = NULL;
	}
out:
	free(token);
	cJSON_Delete(page);
	cJSON_Delete(all);
	return rc;
}

int kube_create(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
		const cJSON *obj, cJSON **out, struct kube_status *st)
{
	const char *pns;
	char *body;
	int rc = check_args(c, gvr, ns, NULL, false, true, &pns);

	if (rc != 0 || obj == NULL)
		return rc != 0 ? rc : KUBE_EINVAL;
	body = cJSON_PrintUnformatted(obj);
	if (body == NULL)
		return KUBE_ENOMEM;
	rc = simple(c, gvr, "create", "POST", pns, NULL, NULL, NULL, "application/json", body, out,
		    st);
	free(body);
	return rc;
}

int kube_update(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
		const char *name, const char *subresource, const cJSON *obj, cJSON **out,
		struct kube_status *st)
{
	const char *pns;
	char *body;
	int rc = check_args(c, gvr, ns, name, true, true, &pns);

	if (rc != 0 || obj == NULL)
		return rc != 0 ? rc : KUBE_EINVAL;
	body = cJSON_PrintUnformatted(obj);
	if (body == NULL)
		return KUBE_ENOMEM;
	rc = simple(c, gvr, "update", "PUT", pns, name, subresource, NULL, "application/json", body,
		    out, st);
	free(body);
	return rc;
}

int kube_patch(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
	       const char *name, const char *subresource, enum kube_patch_type type,
	       const char *patch, cJSON **out, struct kube_status *st)
{
	const char *pns, *ctype;
	int rc = check_args(c, gvr, ns, name, true, true, &pns);

	if (rc != 0 || patch == NULL)
		return rc != 0 ? rc : KUBE_EINVAL;
	switch (type) {
	case KUBE_PATCH_MERGE: ctype = "application/merge-patch+json"; break;
	case KUBE_PATCH_JSON: ctype = "application/json-patch+json"; break;
	case KUBE_PATCH_STRATEGIC: ctype = "application/strategic-merge-patch+json"; break;
	default: return KUBE_EINVAL;
	}
	return simple(c, gvr, "patch", "PATCH", pns, name, subresource, NULL, ctype, patch, out, st);
}

static char *delete_body(const struct kube_delete_opts *o)
{
	cJSON *b = cJSON_CreateObject(), *pre;
	char *s = NULL;

	if (b == NULL)
		return NULL;
	cJSON_AddStringToObject(b, "kind", "DeleteOptions");
	cJSON_AddStringToObject(b, "apiVersion", "v1");
	if (o->propagation_policy != NULL)
		cJSON_AddStringToObject(b, "propagationPolicy", o->propagation_policy);
	if (o->grace_period_seconds >= 0)
		cJSON_AddNumberToObject(b, "gracePeriodSeconds", (double)o->grace_period_seconds);
	if (o->precondition_uid != NULL || o->precondition_rv != NULL) {
		pre = cJSON_AddObjectToObject(b, "preconditions");
		if (pre != NULL && o->precondition_uid != NULL)
			cJSON_AddStringToObject(pre, "uid", o->precondition_uid);
		if (pre != NULL && o->precondition_rv != NULL)
			cJSON_AddStringToObject(pre, "resourceVersion", o->precondition_rv);
	}
	s = cJSON_PrintUnformatted(b);
	cJSON_Delete(b);
	return s;
}

int kube_delete(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
		const char *name, const struct kube_delete_opts *opts, cJSON **out,
		struct kube_status *st)
{
	const char *pns;
	char *body = NULL;
	int rc = check_args(c, gvr, ns, name, true, true, &pns);

	if (rc != 0)
		return rc;
	if (opts != NULL) {
		body = delete_body(opts);
		if (body == NULL)
			return KUBE_ENOMEM;
	}
	rc = simple(c, gvr, "delete", "DELETE", pns, name, NULL, NULL,
		    body != NULL ? "application/json" : NULL, body, out, st);
	free(body);
	return rc;
}

int kube_request(struct kube_client *c, const char *method, const char *path, const char *query,
		 const char *content_type, const char *body, unsigned flags, cJSON **out,
		 struct kube_status *st)
{
	struct request rq = { 0 };

	if (c == NULL || method == NULL || path == NULL || path[0] != '/')
		return KUBE_EINVAL;
	rq.verb = strcmp(method, "GET") == 0 ? "get" : "raw";
	rq.resource = "";
	rq.method = method;
	rq.path = path;
	rq.query = query;
	rq.content_type = content_type;
	rq.body = body;
	rq.idempotent = strcmp(method, "GET") == 0 || (flags & KUBE_REQ_IDEMPOTENT) != 0;
	rq.write = strcmp(method, "GET") != 0 && (flags & KUBE_REQ_BYPASS_GATE) == 0;
	return execute(c, &rq, NULL, NULL, c->timeout_ms, NULL, NULL, out, st);
}

char *kube_query_escape(const char *s)
{
	return s != NULL ? kube__escape(s) : NULL;
}

int kube_get_stream(struct kube_client *c, const char *path, const char *query,
		    const char *resource, int timeout_seconds, kube_chunk_cb on_chunk, void *ud,
		    const atomic_bool *cancel, struct kube_status *st)
{
	if (path == NULL || path[0] != '/' || timeout_seconds < 0)
		return KUBE_EINVAL;
	return kube__stream(c, path, query, resource, timeout_seconds, NULL, on_chunk, ud, cancel,
			    st);
}

int kube__stream(struct kube_client *c, const char *path, const char *query, const char *resource,
		 int timeout_seconds, struct kube__idle *idle, kube__body_cb on_body, void *ud,
		 const atomic_bool *cancel, struct kube_status *st)
{
	struct request rq = { 0 };
	long timeout_ms = 0; /* 0 = no limit in libcurl */

	if (c == NULL || path == NULL || on_body == NULL)
		return KUBE_EINVAL;
	if (timeout_seconds > 0)
		timeout_ms = (long)(timeout_seconds + WATCH_TIMEOUT_MARGIN_S) * 1000L;
	rq.verb = "watch";
	rq.resource = resource != NULL ? resource : "";
	rq.method = "GET";
	rq.path = path;
	rq.query = query;
	rq.idempotent = false; /* reconnecting is the informer's decision */
	return execute(c, &rq, on_body, ud, timeout_ms, cancel, idle, NULL, st);
}
