/* The pluggable SPEC generator (see intent_generator.h). */
#include "intent_generator.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "intent_evaluator.h"
#include "intent_state.h"
#include "intent_wing.h"
#include "kube_error.h"
#include "kube_events.h"
#include "kube_json.h"
#include "kube_time.h"

#include <uthash.h>

/* Spelled out: tests/e2e/32_manifests.sh reads the GVRs from the source (RBAC == code). */
static const struct kube_gvr INTENT_GEN_POD_GVR = {"", "v1", "pods", true};
static const struct kube_gvr INTENT_GEN_CM_GVR = {"", "v1", "configmaps", true};

static const int BACKOFF_S[INTENT_GEN_RETRIES] = {10, 30, 60};

int intent_generator_of(const cJSON *intent, const char **image, int *parallelism)
{
	const char *img = kube_json_get_str(intent, "spec", "generator", "image", NULL);
	int64_t n = 1;

	if (!img || !*img)
		return 0;
	kube_json_get_int(intent, &n, "spec", "generator", "parallelism", NULL);
	if (image)
		*image = img;
	if (parallelism)
		*parallelism = n < 1 ? 1 : n > 8 ? 8 : (int)n;
	return 1;
}

int intent_generator_backoff_s(int failures)
{
	return failures >= 1 && failures <= INTENT_GEN_RETRIES ? BACKOFF_S[failures - 1] : -1;
}

void intent_generator_job_name(const char *intent, const char *uid, int64_t gen, int attempt,
			       int index, char *buf, size_t len)
{
	char seed[320], hash[17];
	int n = (int)strlen(intent ? intent : "");

	snprintf(seed, sizeof(seed), "%s/%lld", uid ? uid : "", (long long)gen);
	intent_hash_hex(seed, hash);
	if (n > 40)
		n = 40;
	while (n > 0 && intent[n - 1] == '-')
		n--;
	snprintf(buf, len, "%.*s-gen-%.8s-%d-%d", n, intent ? intent : "", hash, attempt, index);
}

static cJSON *owner_ref(const cJSON *intent)
{
	cJSON *arr = cJSON_CreateArray(), *o = cJSON_CreateObject();

	if (!arr || !o) {
		cJSON_Delete(arr);
		cJSON_Delete(o);
		return NULL;
	}
	cJSON_AddItemToArray(arr, o);
	cJSON_AddStringToObject(o, "apiVersion", "phoenix.fpai.io/v1alpha1");
	cJSON_AddStringToObject(o, "kind", "Intent");
	cJSON_AddStringToObject(o, "name", kube_json_name(intent) ? kube_json_name(intent) : "");
	cJSON_AddStringToObject(o, "uid", kube_json_uid(intent) ? kube_json_uid(intent) : "");
	cJSON_AddBoolToObject(o, "controller", 1);
	return arr;
}

/* metadata {name, namespace, labels, ownerReferences} of an object the Intent owns. */
static cJSON *owned_meta(cJSON *obj, const cJSON *intent, const char *name)
{
	cJSON *meta = kube_json_ensure_obj(obj, "metadata");
	cJSON *labels = kube_json_ensure_obj(meta, "labels");
	char label[INTENT_LABEL_MAX + 1];

	intent_derived_name(kube_json_name(intent), "", INTENT_LABEL_MAX, label, sizeof(label));
	kube_json_set_str(meta, "name", name);
	kube_json_set_str(meta, "namespace", kube_json_namespace(intent) ? kube_json_namespace(intent) : "default");
	kube_json_set_str(labels, INTENT_LABEL, label);
	kube_json_set_str(labels, "app.kubernetes.io/managed-by", "phoenix-operator");
	kube_json_set_str(labels, "app.kubernetes.io/component", "spec-generator");
	cJSON_AddItemToObject(meta, "ownerReferences", owner_ref(intent));
	return meta;
}

static cJSON *str_array(const char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; a && i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

static void env_add(cJSON *env, const char *k, const char *v)
{
	cJSON *e = cJSON_CreateObject();
	if (!e)
		return;
	cJSON_AddStringToObject(e, "name", k);
	cJSON_AddStringToObject(e, "value", v);
	cJSON_AddItemToArray(env, e);
}

cJSON *intent_generator_job(const cJSON *intent, const char *image, int64_t gen, int attempt,
			    int index, const char *input_cm)
{
	char name[80], s[32];
	cJSON *job = cJSON_CreateObject();

	if (!job || !image || !input_cm) {
		cJSON_Delete(job);
		return NULL;
	}
	intent_generator_job_name(kube_json_name(intent), kube_json_uid(intent), gen, attempt, index,
				  name, sizeof(name));
	cJSON_AddStringToObject(job, "apiVersion", "batch/v1");
	cJSON_AddStringToObject(job, "kind", "Job");
	cJSON *meta = owned_meta(job, intent, name);
	cJSON *ann = kube_json_ensure_obj(meta, "annotations");
	snprintf(s, sizeof(s), "%lld", (long long)gen);
	kube_json_set_str(ann, INTENT_ANN_GENERATION, s);
	snprintf(s, sizeof(s), "%d", attempt);
	kube_json_set_str(kube_json_ensure_obj(meta, "labels"), INTENT_GEN_LABEL_ATTEMPT, s);

	cJSON *spec = kube_json_ensure_obj(job, "spec");
	cJSON_AddNumberToObject(spec, "backoffLimit", 0);
	cJSON_AddNumberToObject(spec, "activeDeadlineSeconds", INTENT_GEN_DEADLINE_S);
	cJSON_AddNumberToObject(spec, "ttlSecondsAfterFinished", 86400);
	cJSON *tmpl = kube_json_ensure_obj(spec, "template");
	cJSON *tlabels = kube_json_ensure_obj(kube_json_ensure_obj(tmpl, "metadata"), "labels");
	char label[INTENT_LABEL_MAX + 1];
	intent_derived_name(kube_json_name(intent), "", INTENT_LABEL_MAX, label, sizeof(label));
	kube_json_set_str(tlabels, INTENT_LABEL, label);
	kube_json_set_str(tlabels, "app.kubernetes.io/component", "spec-generator");
	cJSON *ps = kube_json_ensure_obj(tmpl, "spec");
	kube_json_set_str(ps, "restartPolicy", "Never");
	cJSON_AddBoolToObject(ps, "automountServiceAccountToken", 0);
	cJSON_AddBoolToObject(ps, "enableServiceLinks", 0);
	cJSON *psc = kube_json_ensure_obj(ps, "securityContext");
	cJSON_AddBoolToObject(psc, "runAsNonRoot", 1);
	cJSON_AddNumberToObject(psc, "runAsUser", 65532);
	kube_json_set_str(kube_json_ensure_obj(psc, "seccompProfile"), "type", "RuntimeDefault");

	cJSON *ctrs = cJSON_AddArrayToObject(ps, "containers");
	cJSON *c = cJSON_CreateObject();
	cJSON_AddItemToArray(ctrs, c);
	cJSON_AddStringToObject(c, "name", INTENT_GEN_CONTAINER);
	cJSON_AddStringToObject(c, "image", image);
	const cJSON *cmd = kube_json_get(intent, "spec", "generator", "command", NULL);
	const cJSON *args = kube_json_get(intent, "spec", "generator", "args", NULL);
	if (cJSON_IsArray(cmd))
		cJSON_AddItemToObject(c, "command", cJSON_Duplicate(cmd, 1));
	if (cJSON_IsArray(args))
		cJSON_AddItemToObject(c, "args", cJSON_Duplicate(args, 1));
	cJSON *env = cJSON_AddArrayToObject(c, "env");
	env_add(env, "PHOENIX_INTENT", INTENT_GEN_MOUNT "/intent.json");
	env_add(env, "PHOENIX_SPEC", INTENT_GEN_MOUNT "/SPEC.md");
	env_add(env, "PHOENIX_FINDINGS", INTENT_GEN_MOUNT "/findings.json");
	snprintf(s, sizeof(s), "%d", index);
	env_add(env, "PHOENIX_CANDIDATE", s);
	snprintf(s, sizeof(s), "%d", attempt);
	env_add(env, "PHOENIX_ATTEMPT", s);
	env_add(env, "PHOENIX_SPEC_BEGIN", INTENT_GEN_BEGIN);
	env_add(env, "PHOENIX_SPEC_END", INTENT_GEN_END);
	cJSON *vm = cJSON_CreateObject();
	cJSON_AddStringToObject(vm, "name", "input");
	cJSON_AddStringToObject(vm, "mountPath", INTENT_GEN_MOUNT);
	cJSON_AddBoolToObject(vm, "readOnly", 1);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "volumeMounts"), vm);
	cJSON *csc = kube_json_ensure_obj(c, "securityContext");
	cJSON_AddBoolToObject(csc, "allowPrivilegeEscalation", 0);
	cJSON_AddBoolToObject(csc, "readOnlyRootFilesystem", 1);
	static const char *const drop[] = {"ALL"};
	cJSON_AddItemToObject(kube_json_ensure_obj(csc, "capabilities"), "drop", str_array(drop, 1));
	cJSON *lim = kube_json_ensure_obj(kube_json_ensure_obj(c, "resources"), "limits");
	kube_json_set_str(lim, "cpu", "1");
	kube_json_set_str(lim, "memory", "512Mi");

	cJSON *vol = cJSON_CreateObject();
	cJSON_AddStringToObject(vol, "name", "input");
	kube_json_set_str(kube_json_ensure_obj(vol, "configMap"), "name", input_cm);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(ps, "volumes"), vol);
	return job;
}

/* The start of the line after p (or end). */
static const char *next_line(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	return nl ? nl + 1 : end;
}

/* The first line of [p, end) that is exactly marker (trailing \r and spaces ignored), or NULL. */
static const char *find_marker(const char *p, const char *end, const char *marker)
{
	size_t ml = strlen(marker);

	for (; p < end; p = next_line(p, end)) {
		const char *le = memchr(p, '\n', (size_t)(end - p));
		if (!le)
			le = end;
		const char *t = le;
		while (t > p && (t[-1] == '\r' || t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if ((size_t)(t - p) == ml && memcmp(p, marker, ml) == 0)
			return p;
	}
	return NULL;
}

int intent_generator_extract(const char *log, size_t len, char **md, char *msg, size_t msglen)
{
	const char *end = log ? log + len : NULL;
	const char *b, *e, *start;

	if (md)
		*md = NULL;
	if (!md)
		return KUBE_EINVAL;
	if (!log || len == 0) {
		snprintf(msg, msglen, "printed nothing");
		return KUBE_EPARSE;
	}
	b = find_marker(log, end, INTENT_GEN_BEGIN);
	if (!b) {
		snprintf(msg, msglen, "printed no line \"%s\" (%zu bytes of output)", INTENT_GEN_BEGIN, len);
		return KUBE_EPARSE;
	}
	start = next_line(b, end);
	e = find_marker(start, end, INTENT_GEN_END);
	if (!e) {
		snprintf(msg, msglen, "printed no line \"%s\" after the SPEC (output cut at %d bytes?)",
			 INTENT_GEN_END, INTENT_GEN_LOG_MAX);
		return KUBE_EPARSE;
	}
	int blank = 1;
	for (const char *p = start; p < e; p++)
		if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t')
			blank = 0;
	if (blank) {
		snprintf(msg, msglen, "printed an empty SPEC between the markers");
		return KUBE_EPARSE;
	}
	*md = strndup(start, (size_t)(e - start));
	return *md ? 0 : KUBE_ENOMEM;
}

int intent_generator_job_state(const cJSON *job, char *msg, size_t msglen)
{
	const cJSON *c;
	int64_t n = 0;

	cJSON_ArrayForEach(c, kube_json_get(job, "status", "conditions", NULL)) {
		const char *t = kube_json_get_str(c, "type", NULL), *s = kube_json_get_str(c, "status", NULL);
		if (!t || !s || strcmp(s, "True") != 0)
			continue;
		if (strcmp(t, "Complete") == 0 || strcmp(t, "SuccessCriteriaMet") == 0)
			return 1;
		if (strcmp(t, "Failed") == 0 || strcmp(t, "FailureTarget") == 0) {
			snprintf(msg, msglen, "Job failed (%s%s%s)",
				 kube_json_get_str(c, "reason", NULL) ? kube_json_get_str(c, "reason", NULL) : "Failed",
				 kube_json_get_str(c, "message", NULL) ? ": " : "",
				 kube_json_get_str(c, "message", NULL) ? kube_json_get_str(c, "message", NULL) : "");
			return -1;
		}
	}
	if (kube_json_get_int(job, &n, "status", "succeeded", NULL) && n > 0)
		return 1;
	if (kube_json_get_int(job, &n, "status", "failed", NULL) && n > 0) {
		snprintf(msg, msglen, "Job failed (its pod failed)");
		return -1;
	}
	return 0;
}

/* ---- the step --------------------------------------------------------------------------- */

static int log_sink(const char *p, size_t n, void *ud)
{
	struct intent_gen_log *b = ud;

	if (b->len + n > INTENT_GEN_LOG_MAX)
		n = INTENT_GEN_LOG_MAX - b->len;
	char *nb = realloc(b->buf, b->len + n + 1);
	if (!nb)
		return KUBE_ENOMEM;
	b->buf = nb;
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return b->len >= INTENT_GEN_LOG_MAX ? KUBE_ETOOBIG : 0;
}

/* The log of the generator container of the Job's pod that ran, capped. */
static int job_log(const struct intent_gen_io *io, const char *ns, const char *job,
		   struct intent_gen_log *out, char *msg, size_t msglen)
{
	char sel[128];
	struct kube_list_opts lo = {.label_selector = sel};
	cJSON *pods = NULL;
	const cJSON *p, *pick = NULL;
	int rc;

	snprintf(sel, sizeof(sel), "job-name=%.100s", job);
	rc = kube_list(io->client, &INTENT_GEN_POD_GVR, ns, &lo, &pods, NULL);
	if (rc < 0)
		return rc;
	cJSON_ArrayForEach(p, kube_json_get(pods, "items", NULL)) {
		const char *ph = kube_json_get_str(p, "status", "phase", NULL);
		if (!pick || (ph && strcmp(ph, "Succeeded") == 0))
			pick = p;
	}
	if (!pick) {
		cJSON_Delete(pods);
		snprintf(msg, msglen, "its pod is gone: no log to read");
		return KUBE_ENOTFOUND;
	}
	char *path = kube_resource_path(&INTENT_GEN_POD_GVR, ns, kube_json_name(pick), "log");
	struct kube_status st = {0};
	char q[96];
	snprintf(q, sizeof(q), "container=%s&limitBytes=%d", INTENT_GEN_CONTAINER, INTENT_GEN_LOG_MAX);
	rc = path ? kube_get_stream(io->client, path, q, "pods/log", 30, log_sink, out, NULL, &st)
		  : KUBE_ENOMEM;
	if (rc == KUBE_ETOOBIG)
		rc = 0; /* capped: what fits is verified */
	if (rc < 0)
		snprintf(msg, msglen, "its log could not be read: %s",
			 st.message ? st.message : kube_strerror(rc));
	kube_status_release(&st);
	free(path);
	cJSON_Delete(pods);
	return rc;
}

/* ---- the log reader (off the reconcile worker) --------------------------------------------- */

/* Results left untaken this long (the Intent went away, or moved on) are dropped. */
#define LOG_KEEP_MS (10 * 60 * 1000)
/* The most reads held at once; a request past it is read on the caller's thread. */
#define LOG_MAX_HELD 256

struct logread {
	UT_hash_handle hh;
	char *key;                 /* "ns/job" */
	char *ns, *job, *intent;   /* into key's allocation: ns, job name, "ns/intent" */
	int done, rc;
	struct intent_gen_log lb;
	char msg[300];
	int64_t done_ms;
	struct logread *next_q;    /* FIFO while waiting */
};

struct intent_gen_logs {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	int stopping;
	struct kube_client *client;
	void (*done)(const char *intent_key, void *ud);
	void *ud;
	struct logread *reads;     /* by key */
	struct logread *qhead, *qtail;
	size_t n;
};

static void logread_free(struct logread *r)
{
	free(r->lb.buf);
	free(r->key);
	free(r);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *logs_main(void *arg)
{
	struct intent_gen_logs *l = arg;
	struct intent_gen_io io = {.client = l->client};

	pthread_mutex_lock(&l->mu);
	for (;;) {
		while (!l->stopping && !l->qhead)
			pthread_cond_wait(&l->cv, &l->mu);
		if (l->stopping)
			break;
		struct logread *r = l->qhead;
		l->qhead = r->next_q;
		if (!l->qhead)
			l->qtail = NULL;
		char ns[256], job[80], intent[340];
		struct intent_gen_log lb = {0};
		char msg[300] = "";
		snprintf(ns, sizeof(ns), "%s", r->ns);
		snprintf(job, sizeof(job), "%s", r->job);
		snprintf(intent, sizeof(intent), "%s", r->intent);
		pthread_mutex_unlock(&l->mu);
		int rc = job_log(&io, ns, job, &lb, msg, sizeof(msg));
		pthread_mutex_lock(&l->mu);
		/* r is still held: only a reconcile's take or this thread's expiry frees a read,
		 * and neither frees one that is not done. */
		r->rc = rc;
		r->lb = lb;
		snprintf(r->msg, sizeof(r->msg), "%s", msg);
		r->done = 1;
		r->done_ms = mono_ms();
		pthread_mutex_unlock(&l->mu);
		if (l->done)
			l->done(intent, l->ud);
		pthread_mutex_lock(&l->mu);
	}
	pthread_mutex_unlock(&l->mu);
	return NULL;
}

struct intent_gen_logs *intent_gen_logs_new(struct kube_client *client,
					    void (*done)(const char *intent_key, void *ud), void *ud)
{
	struct intent_gen_logs *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->client = client;
	l->done = done;
	l->ud = ud;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	if (pthread_create(&l->thread, NULL, logs_main, l) != 0) {
		pthread_cond_destroy(&l->cv);
		pthread_mutex_destroy(&l->mu);
		free(l);
		return NULL;
	}
	return l;
}

void intent_gen_logs_free(struct intent_gen_logs *l)
{
	struct logread *r, *tmp;

	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	l->stopping = 1;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->thread, NULL);
	HASH_ITER(hh, l->reads, r, tmp) {
		HASH_DEL(l->reads, r);
		logread_free(r);
	}
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

size_t intent_gen_logs_len(struct intent_gen_logs *l)
{
	size_t n;

	if (!l)
		return 0;
	pthread_mutex_lock(&l->mu);
	n = l->n;
	pthread_mutex_unlock(&l->mu);
	return n;
}

/* Drops done reads nobody took for LOG_KEEP_MS. l->mu held. */
static void logs_expire_locked(struct intent_gen_logs *l, int64_t now)
{
	struct logread *r, *tmp;

	HASH_ITER(hh, l->reads, r, tmp) {
		if (r->done && now - r->done_ms > LOG_KEEP_MS) {
			HASH_DEL(l->reads, r);
			logread_free(r);
			l->n--;
		}
	}
}

int intent_gen_logs_ask(struct intent_gen_logs *l, const char *ns, const char *job,
		      const char *intent)
{
	char key[340];
	struct logread *r = NULL;
	int rc = 0;

	snprintf(key, sizeof(key), "%.253s/%.79s", ns, job);
	pthread_mutex_lock(&l->mu);
	HASH_FIND_STR(l->reads, key, r);
	if (r) {
		rc = r->done;
		goto out;
	}
	logs_expire_locked(l, mono_ms());
	if (l->n >= LOG_MAX_HELD) {
		rc = KUBE_ETOOBIG;
		goto out;
	}
	size_t kl = strlen(key), nl = strlen(ns), jl = strlen(job), il = strlen(intent);
	r = calloc(1, sizeof(*r));
	if (r)
		r->key = malloc(kl + 1 + nl + 1 + jl + 1 + il + 1);
	if (!r || !r->key) {
		free(r);
		rc = KUBE_ENOMEM;
		goto out;
	}
	memcpy(r->key, key, kl + 1);
	r->ns = r->key + kl + 1;
	memcpy(r->ns, ns, nl + 1);
	r->job = r->ns + nl + 1;
	memcpy(r->job, job, jl + 1);
	r->intent = r->job + jl + 1;
	memcpy(r->intent, intent, il + 1);
	HASH_ADD_KEYPTR(hh, l->reads, r->key, kl, r);
	l->n++;
	if (l->qtail)
		l->qtail->next_q = r;
	else
		l->qhead = r;
	l->qtail = r;
	pthread_cond_signal(&l->cv);
out:
	pthread_mutex_unlock(&l->mu);
	return rc;
}

int intent_gen_logs_take(struct intent_gen_logs *l, const char *ns, const char *job,
		     struct intent_gen_log *out, char *msg, size_t msglen)
{
	char key[340];
	struct logread *r = NULL;
	int rc = KUBE_ENOTFOUND;

	snprintf(key, sizeof(key), "%.253s/%.79s", ns, job);
	pthread_mutex_lock(&l->mu);
	HASH_FIND_STR(l->reads, key, r);
	if (r && r->done) {
		HASH_DEL(l->reads, r);
		l->n--;
		rc = r->rc;
		*out = r->lb;
		r->lb.buf = NULL;
		snprintf(msg, msglen, "%s", r->msg);
		logread_free(r);
	} else {
		snprintf(msg, msglen, "its log was not read");
	}
	pthread_mutex_unlock(&l->mu);
	return rc;
}

/* The input ConfigMap for this generation: created, or patched when it is for another. */
static int ensure_input(const struct intent_gen_io *io, const cJSON *intent, int64_t gen,
			const char *cmname)
{
	const char *ns = kube_json_namespace(intent);
	char key[600], gens[24];
	cJSON *cur = NULL, *cm = NULL;
	char *md = NULL, *ij = NULL, *fj = NULL, *body = NULL;
	struct intent_spec_verdict v;
	int rc, exists = 0;

	snprintf(key, sizeof(key), "%s/%s", ns, cmname);
	snprintf(gens, sizeof(gens), "%lld", (long long)gen);
	if (io->cms && kube_cache_get(io->cms, key, &cur) == 0) {
		const char *g = kube_json_get_str(cur, "metadata", "annotations", INTENT_ANN_GENERATION, NULL);
		int same = g && strcmp(g, gens) == 0;
		cJSON_Delete(cur);
		if (same)
			return 0;
		exists = 1;
	}
	rc = intent_spec_build(intent, &md);
	if (rc < 0)
		goto out;
	intent_spec_verify(md, intent, &v);
	cJSON *fa = cJSON_CreateArray();
	for (size_t i = 0; fa && i < v.nfindings; i++) {
		cJSON *f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "name", v.findings[i].name);
		cJSON_AddStringToObject(f, "message", v.findings[i].message);
		cJSON_AddNumberToObject(f, "lost", v.findings[i].lost);
		cJSON_AddItemToArray(fa, f);
	}
	cJSON *fo = cJSON_CreateObject();
	if (fo && fa) {
		cJSON_AddNumberToObject(fo, "score", v.score);
		cJSON_AddItemToObject(fo, "findings", fa);
		fa = NULL;
	}
	cJSON_Delete(fa);
	fj = fo ? cJSON_Print(fo) : NULL;
	cJSON_Delete(fo);
	ij = intent_evaluator_body(intent);
	cm = cJSON_CreateObject();
	if (!fj || !ij || !cm) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	cJSON_AddStringToObject(cm, "apiVersion", "v1");
	cJSON_AddStringToObject(cm, "kind", "ConfigMap");
	cJSON *meta = owned_meta(cm, intent, cmname);
	kube_json_set_str(kube_json_ensure_obj(meta, "annotations"), INTENT_ANN_GENERATION, gens);
	cJSON *data = kube_json_ensure_obj(cm, "data");
	kube_json_set_str(data, "intent.json", ij);
	kube_json_set_str(data, "SPEC.md", md);
	kube_json_set_str(data, "findings.json", fj);
	if (!exists) {
		rc = kube_create(io->client, &INTENT_GEN_CM_GVR, ns, cm, NULL, NULL);
		if (rc != KUBE_EALREADYEXISTS)
			goto out;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "ownerReferences");
	body = cJSON_PrintUnformatted(cm);
	rc = body ? kube_patch(io->client, &INTENT_GEN_CM_GVR, ns, cmname, NULL, KUBE_PATCH_MERGE,
			       body, NULL, NULL)
		  : KUBE_ENOMEM;
out:
	free(md);
	free(ij);
	free(fj);
	free(body);
	cJSON_Delete(cm);
	return rc;
}

static void gstate_reset(cJSON *g, int64_t gen)
{
	while (g->child)
		cJSON_Delete(cJSON_DetachItemViaPointer(g, g->child));
	cJSON_AddNumberToObject(g, "generation", (double)gen);
	cJSON_AddNumberToObject(g, "attempt", 1);
	cJSON_AddStringToObject(g, "phase", "Running");
	cJSON_AddArrayToObject(g, "retries");
}

static int gint(const cJSON *g, const char *k, int d)
{
	int64_t v;
	return kube_json_get_int(g, &v, k, NULL) ? (int)v : d;
}

static void gset_num(cJSON *g, const char *k, double v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(g, k);
	cJSON_AddNumberToObject(g, k, v);
}

static void event(const struct intent_gen_io *io, const cJSON *intent, const char *reason,
		  const char *msg)
{
	if (io->events)
		kube_events_record(io->events, intent, KUBE_EVENT_WARNING, reason, "%s", msg);
}

/* collect(): a finished Job's log is still being read on the reader's thread. */
#define LOGS_PENDING 1

/* All N Jobs have finished: the best verified SPEC, or why there is none (LOGS_PENDING while
 * io->logs reads their logs). */
static int collect(const struct intent_gen_io *io, const cJSON *intent, char names[][80], int n,
		   cJSON *g, struct intent_gen_result *out, int *bestp, char *why, size_t whylen)
{
	const char *ns = kube_json_namespace(intent);
	cJSON *cands = cJSON_CreateArray();
	size_t off = 0;
	int best = -1, rc = 0;

	why[0] = '\0';
	int local[8] = {0}; /* read here after all: the reader holds too many */
	if (io->logs) {
		char ikey[600];
		int pending = 0;
		snprintf(ikey, sizeof(ikey), "%s/%s", ns, kube_json_name(intent));
		for (int i = 0; i < n && i < 8; i++) {
			char key[600], msg[8];
			cJSON *job = NULL;
			snprintf(key, sizeof(key), "%.253s/%.79s", ns, names[i]);
			kube_cache_get(io->jobs, key, &job);
			int st = intent_generator_job_state(job, msg, sizeof(msg));
			cJSON_Delete(job);
			if (st <= 0)
				continue;
			int r = intent_gen_logs_ask(io->logs, ns, names[i], ikey);
			if (r == 0)
				pending++;
			else if (r < 0)
				local[i] = 1;
		}
		if (pending) {
			cJSON_Delete(cands);
			*bestp = -1;
			return LOGS_PENDING;
		}
	}
	for (int i = 0; i < n && rc == 0; i++) {
		char key[600], msg[300] = "";
		cJSON *job = NULL, *cand = cJSON_CreateObject();
		char *md = NULL;
		struct intent_gen_log lb = {0};

		snprintf(key, sizeof(key), "%.253s/%.79s", ns, names[i]);
		kube_cache_get(io->jobs, key, &job);
		int st = intent_generator_job_state(job, msg, sizeof(msg));
		cJSON_Delete(job);
		if (st > 0) {
			int lrc = io->logs && !local[i] ? intent_gen_logs_take(io->logs, ns, names[i], &lb, msg, sizeof(msg))
						       : job_log(io, ns, names[i], &lb, msg, sizeof(msg));
			if (lrc == 0)
				intent_generator_extract(lb.buf, lb.len, &md, msg, sizeof(msg));
			else if (lrc != KUBE_ENOTFOUND)
				rc = lrc; /* the API failed: try the reconcile again */
		}
		if (cand)
			cJSON_AddStringToObject(cand, "job", names[i]);
		if (md) {
			struct intent_spec_verdict v;
			intent_spec_verify(md, intent, &v);
			if (cand)
				cJSON_AddNumberToObject(cand, "score", v.score);
			if (best < 0 || v.score > out->verdict.score) {
				free(out->md);
				out->md = md;
				out->verdict = v;
				best = i;
				md = NULL;
			}
		} else {
			if (cand)
				cJSON_AddStringToObject(cand, "error", msg);
			if (off < whylen)
				off += (size_t)snprintf(why + off, whylen - off, "%s%s: %s", off ? "; " : "",
							names[i], msg);
		}
		free(md);
		free(lb.buf);
		cJSON_AddItemToArray(cands, cand);
	}
	cJSON_DeleteItemFromObjectCaseSensitive(g, "candidates");
	cJSON_AddItemToObject(g, "candidates", cands);
	if (rc == 0 && best >= 0)
		kube_json_set_str(g, "best", names[best]);
	*bestp = best;
	return rc;
}

int intent_generator_step(const struct intent_gen_io *io, const cJSON *intent, int64_t gen,
			  const char *now, int64_t now_ms, cJSON *status,
			  struct intent_gen_result *out)
{
	const char *image = NULL, *ns = kube_json_namespace(intent), *name = kube_json_name(intent);
	int par = 1, rc = 0;
	char cmname[300], names[8][80], why[512];

	memset(out, 0, sizeof(*out));
	if (!io || !status || !ns || !name || !intent_generator_of(intent, &image, &par))
		return KUBE_EINVAL;
	cJSON *g = cJSON_GetObjectItemCaseSensitive(status, "generator");
	if (!cJSON_IsObject(g)) {
		cJSON_DeleteItemFromObjectCaseSensitive(status, "generator");
		g = cJSON_AddObjectToObject(status, "generator");
		if (!g)
			return KUBE_ENOMEM;
		gstate_reset(g, gen);
	} else if (gint(g, "generation", -1) != gen) {
		gstate_reset(g, gen);
	}
	const char *phase = kube_json_get_str(g, "phase", NULL);
	int attempt = gint(g, "attempt", 1);
	cJSON *retries = cJSON_GetObjectItemCaseSensitive(g, "retries");
	if (!cJSON_IsArray(retries)) {
		cJSON_DeleteItemFromObjectCaseSensitive(g, "retries");
		retries = cJSON_AddArrayToObject(g, "retries");
	}

	if (phase && strcmp(phase, "Failed") == 0) {
		out->state = INTENT_GEN_FAILED;
		snprintf(out->message, sizeof(out->message), "%s",
			 kube_json_get_str(g, "message", NULL) ? kube_json_get_str(g, "message", NULL) : "the generator failed");
		return 0;
	}
	if (phase && strcmp(phase, "Retrying") == 0) {
		int64_t at = 0;
		const char *next = kube_json_get_str(g, "nextRetryAt", NULL);
		if (next && kube_time_parse_ms(next, &at) == 0 && at > now_ms) {
			out->state = INTENT_GEN_PENDING;
			out->requeue_ms = at - now_ms;
			snprintf(out->message, sizeof(out->message),
				 "generator attempt %d failed; attempt %d starts at %s", attempt, attempt + 1, next);
			return 0;
		}
		attempt++;
		gset_num(g, "attempt", attempt);
		kube_json_set_str(g, "phase", "Running");
		cJSON_DeleteItemFromObjectCaseSensitive(g, "nextRetryAt");
	}

	intent_derived_name(name, INTENT_GEN_INPUT_SUFFIX, INTENT_NAME_MAX, cmname, sizeof(cmname));
	rc = ensure_input(io, intent, gen, cmname);
	if (rc < 0)
		return rc;
	int running = 0;
	cJSON *jobs = cJSON_CreateArray();
	for (int i = 0; i < par && rc == 0; i++) {
		char key[600], msg[8];
		cJSON *job = NULL;

		intent_generator_job_name(name, kube_json_uid(intent), gen, attempt, i, names[i], sizeof(names[i]));
		cJSON_AddItemToArray(jobs, cJSON_CreateString(names[i]));
		snprintf(key, sizeof(key), "%.253s/%.79s", ns, names[i]);
		if (kube_cache_get(io->jobs, key, &job) != 0) {
			cJSON *j = intent_generator_job(intent, image, gen, attempt, i, cmname);
			rc = j ? kube_create(io->client, &INTENT_GEN_JOB_GVR, ns, j, NULL, NULL) : KUBE_ENOMEM;
			if (rc == KUBE_EALREADYEXISTS)
				rc = 0; /* made before a restart; the cache will show it */
			cJSON_Delete(j);
			running++;
		} else if (intent_generator_job_state(job, msg, sizeof(msg)) == 0) {
			running++;
		}
		cJSON_Delete(job);
	}
	cJSON_DeleteItemFromObjectCaseSensitive(g, "jobs");
	cJSON_AddItemToObject(g, "jobs", jobs);
	if (rc < 0)
		return rc;
	if (running > 0) {
		out->state = INTENT_GEN_PENDING;
		out->requeue_ms = 30000; /* Job events come sooner; this is a safety net */
		snprintf(out->message, sizeof(out->message),
			 "generator attempt %d: %d of %d Job%s running (%s, ...)", attempt, running, par,
			 par == 1 ? "" : "s", names[0]);
		return 0;
	}
	int best = -1;
	rc = collect(io, intent, names, par, g, out, &best, why, sizeof(why));
	if (rc == LOGS_PENDING) {
		out->state = INTENT_GEN_PENDING;
		out->requeue_ms = 35000; /* the reader's done() comes sooner; a safety net */
		snprintf(out->message, sizeof(out->message),
			 "generator attempt %d: reading the log%s of %d finished Job%s (%s, ...)",
			 attempt, par == 1 ? "" : "s", par, par == 1 ? "" : "s", names[0]);
		return 0;
	}
	if (rc < 0) {
		free(out->md);
		out->md = NULL;
		return rc;
	}
	if (best >= 0) {
		out->state = INTENT_GEN_DONE;
		kube_json_set_str(g, "phase", "Succeeded");
		snprintf(out->message, sizeof(out->message),
			 "generator attempt %d: Job %s wrote the best SPEC (score %d of %d candidate%s)",
			 attempt, names[best], out->verdict.score, par, par == 1 ? "" : "s");
		return 0;
	}
	/* No SPEC from this attempt: retry after the backoff, or give up. */
	int failures = cJSON_GetArraySize(retries) + 1;
	int wait = intent_generator_backoff_s(failures);
	char msg[640];
	if (wait > 0) {
		char at[32];
		if (!kube_time_format((now_ms / 1000) + wait, at, sizeof(at)))
			snprintf(at, sizeof(at), "%s", now);
		cJSON *r = cJSON_CreateObject();
		if (r) {
			cJSON_AddNumberToObject(r, "attempt", attempt);
			cJSON_AddStringToObject(r, "failedAt", now);
			cJSON_AddStringToObject(r, "retryAt", at);
			cJSON_AddNumberToObject(r, "delaySeconds", wait);
			cJSON_AddStringToObject(r, "reason", why);
			cJSON_AddItemToArray(retries, r);
		}
		kube_json_set_str(g, "phase", "Retrying");
		kube_json_set_str(g, "nextRetryAt", at);
		snprintf(msg, sizeof(msg), "generator attempt %d produced no SPEC (%s); retry %d of %d in %d s",
			 attempt, why, failures, INTENT_GEN_RETRIES, wait);
		event(io, intent, "GeneratorRetry", msg);
		out->state = INTENT_GEN_PENDING;
		out->requeue_ms = (int64_t)wait * 1000;
		snprintf(out->message, sizeof(out->message), "%s", msg);
		return 0;
	}
	snprintf(msg, sizeof(msg), "the generator produced no SPEC in %d attempts (last: %s)", attempt, why);
	kube_json_set_str(g, "phase", "Failed");
	kube_json_set_str(g, "message", msg);
	event(io, intent, "GeneratorFailed", msg);
	out->state = INTENT_GEN_FAILED;
	snprintf(out->message, sizeof(out->message), "%s", msg);
	return 0;
}

int intent_generator_stop(const struct intent_gen_io *io, const cJSON *intent)
{
	const char *ns = kube_json_namespace(intent), *name = kube_json_name(intent);
	const cJSON *g = kube_json_get(intent, "status", "generator", "jobs", NULL);
	const cJSON *j;
	int rc = 0;

	if (!io || !ns || !name)
		return KUBE_EINVAL;
	cJSON_ArrayForEach(j, g) {
		char key[600];
		cJSON *job = NULL;
		if (!cJSON_IsString(j))
			continue;
		snprintf(key, sizeof(key), "%s/%s", ns, j->valuestring);
		if (kube_cache_get(io->jobs, key, &job) != 0)
			continue;
		cJSON_Delete(job);
		struct kube_delete_opts d = {.propagation_policy = "Background", .grace_period_seconds = -1};
		int drc = kube_delete(io->client, &INTENT_GEN_JOB_GVR, ns, j->valuestring, &d, NULL, NULL);
		if (drc < 0 && drc != KUBE_ENOTFOUND)
			rc = drc;
	}
	return rc;
}
