/* The Build controller (see phx_build_controller.h). */
#include "phx_build_controller.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "kube_clock.h"
#include "kube_controller.h"
#include "kube_error.h"
#include "kube_events.h"
#include "kube_json.h"
#include "kube_log.h"
#include "kube_metrics.h"
#include "kube_rest.h"
#include "kube_time.h"
#include "phx_api.h"
#include "phx_build_job.h"
#include "phx_build_learn.h"
#include "phx_build_plan.h"
#include "phx_meta.h"
#include "phx_transform.h"
#include "phx_wings.h"

/* A Build counted in phoenix_build_approvals_waiting (at the Deploy gate), by its key. */
struct waiting {
	UT_hash_handle hh;
	char key[]; /* "ns/name" */
};

struct build_wing {
	bool approvals_served;        /* else the Deploy gate cannot open: no Approval informer */
	struct kube_events *events;
	struct kube_cache *jobs, *pods, *services, *approvals;
	struct kube_metric *results, *duration, *retries, *rollbacks, *waiting;
	pthread_mutex_t mu;           /* guards waiting_set (reconciles run on two workers) */
	struct waiting *waiting_set;
};

/* Counts Build key ("ns/name") in the waiting gauge of its namespace while it is at the
 * Deploy gate, and not once it left it or is gone. */
static void note_waiting(struct build_wing *w, const char *key, bool waiting)
{
	struct waiting *e;
	size_t len = strlen(key);
	char ns[254];

	snprintf(ns, sizeof(ns), "%.*s", (int)strcspn(key, "/"), key);
	const char *lv[] = {ns};
	pthread_mutex_lock(&w->mu);
	HASH_FIND(hh, w->waiting_set, key, len, e);
	if (waiting && !e) {
		e = malloc(sizeof(*e) + len + 1);
		if (e) {
			memcpy(e->key, key, len + 1);
			HASH_ADD_KEYPTR(hh, w->waiting_set, e->key, len, e);
			kube_metric_inc(w->waiting, lv);
		}
	} else if (!waiting && e) {
		HASH_DEL(w->waiting_set, e);
		free(e);
		kube_metric_dec(w->waiting, lv);
	}
	pthread_mutex_unlock(&w->mu);
}

static bool eq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* ---- event mapping ---- */

/* Pods and PhoenixServices: the Build named in their phoenix.fpai.io/build label. */
static void map_label(struct kube_controller *ctl, const struct kube_event *ev, void *ud)
{
	(void)ud;
	const char *b = kube_json_get_str(ev->obj, "metadata", "labels", PHX_BUILD_LABEL, NULL);
	if (!b)
		return;
	char *key = phx_key(kube_json_namespace(ev->obj), b);
	if (key)
		kube_controller_enqueue(ctl, key);
	free(key);
}

static void map_approval(struct kube_controller *ctl, const struct kube_event *ev, void *ud)
{
	(void)ud;
	if (!eq(kube_json_get_str(ev->obj, "spec", "targetRef", "kind", NULL), PHX_BUILD_KIND) ||
	    !eq(kube_json_get_str(ev->obj, "spec", "gate", NULL), "Deploy"))
		return;
	char *key = phx_key(kube_json_namespace(ev->obj),
			    kube_json_get_str(ev->obj, "spec", "targetRef", "name", NULL));
	if (key)
		kube_controller_enqueue(ctl, key);
	free(key);
}

static int setup(struct kube_controller *ctl, void *ud)
{
	struct build_wing *w = ud;
	struct kube_source jobs = { .gvr = &KUBE_GVR_JOBS, .label_selector = PHX_BUILD_LABEL };
	struct kube_source pods = { .gvr = &KUBE_GVR_PODS, .label_selector = PHX_BUILD_LABEL };
	/* The PhoenixService wing's transform: one shared informer (the key includes it). */
	struct kube_source svcs = { .gvr = &PHX_GVR, .transform = phx_object_transform };
	struct kube_source apvs = { .gvr = &PHX_BUILD_APPROVAL_GVR };
	int rc = kube_controller_owns(ctl, &jobs, &w->jobs);
	if (rc == 0)
		rc = kube_controller_watches(ctl, &pods, map_label, w, &w->pods);
	if (rc == 0)
		rc = kube_controller_watches(ctl, &svcs, map_label, w, &w->services);
	if (rc == 0 && w->approvals_served)
		rc = kube_controller_watches(ctl, &apvs, map_approval, w, &w->approvals);
	return rc;
}

/* ---- lookups in the caches ---- */

struct pod_find {
	const char *ns, *build, *run;
	cJSON *best;
	char best_ts[40];
};

static int pod_pick(const cJSON *pod, void *ud)
{
	struct pod_find *f = ud;
	if (!eq(kube_json_namespace(pod), f->ns) ||
	    !eq(kube_json_get_str(pod, "metadata", "labels", PHX_BUILD_LABEL, NULL), f->build) ||
	    !eq(kube_json_get_str(pod, "metadata", "labels", PHX_BUILD_LABEL_RUN, NULL), f->run))
		return 0;
	const char *ts = kube_json_get_str(pod, "metadata", "creationTimestamp", NULL);
	if (!ts)
		ts = "";
	if (f->best && strcmp(ts, f->best_ts) < 0)
		return 0;
	cJSON_Delete(f->best);
	f->best = cJSON_Duplicate(pod, 1);
	snprintf(f->best_ts, sizeof(f->best_ts), "%s", ts);
	return 0;
}

struct apv_find {
	const char *ns, *build;
	int64_t gen;
	cJSON *best;
	char best_ts[40];
};

static int apv_pick(const cJSON *a, void *ud)
{
	struct apv_find *f = ud;
	int64_t g = 0;
	if (!eq(kube_json_namespace(a), f->ns) ||
	    !eq(kube_json_get_str(a, "spec", "targetRef", "kind", NULL), PHX_BUILD_KIND) ||
	    !eq(kube_json_get_str(a, "spec", "targetRef", "name", NULL), f->build) ||
	    !eq(kube_json_get_str(a, "spec", "gate", NULL), "Deploy"))
		return 0;
	if (kube_json_get_int(a, &g, "spec", "targetRef", "generation", NULL) && g != f->gen)
		return 0;
	const char *ts = kube_json_get_str(a, "metadata", "creationTimestamp", NULL);
	if (!ts)
		ts = "";
	if (f->best && strcmp(ts, f->best_ts) < 0)
		return 0;
	cJSON_Delete(f->best);
	f->best = cJSON_Duplicate(a, 1);
	snprintf(f->best_ts, sizeof(f->best_ts), "%s", ts);
	return 0;
}

static cJSON *cache_get_name(struct kube_cache *c, const char *ns, const char *name)
{
	if (!name || !*name)
		return NULL;
	char *key = phx_key(ns, name);
	cJSON *o = NULL;
	if (key && kube_cache_get(c, key, &o) != 0)
		o = NULL;
	free(key);
	return o;
}

/* An Event on the Build. */
static void build_event(struct build_wing *w, const cJSON *build, const char *type,
			const char *reason, const char *msg)
{
	cJSON *obj = cJSON_Duplicate(build, 0);
	cJSON *md = cJSON_Duplicate(kube_json_get(build, "metadata", NULL), 1);
	if (obj && md) {
		cJSON_AddStringToObject(obj, "apiVersion", PHX_API_VERSION);
		cJSON_AddStringToObject(obj, "kind", PHX_BUILD_KIND);
		cJSON_AddItemToObject(obj, "metadata", md);
		md = NULL;
		kube_events_record(w->events, obj, type, reason, "%s", msg);
	}
	cJSON_Delete(md);
	cJSON_Delete(obj);
}

/* ---- learning (phx_build_learn.h): the namespace's ConfigMap ---- */

/* The learning ConfigMap's data in ns (NULL when there is none or it cannot be read). */
/* The learning ConfigMap's data in namespace ns (NULL when the ConfigMap or its data is missing);
 * with rv, its resourceVersion too ("" when it does not exist), for a write that must not
 * overwrite another Build's. */
static cJSON *learn_read(struct kube_reconcile_ctx *ctx, const char *ns, char *rv, size_t rv_len)
{
	cJSON *cm = NULL;
	if (rv && rv_len)
		rv[0] = 0;
	if (kube_get(ctx->client, &KUBE_GVR_CONFIGMAPS, ns, PHX_BUILD_LEARN_CM, NULL, &cm,
		     NULL) != 0)
		return NULL;
	const char *cm_rv = kube_json_resource_version(cm);
	if (rv && rv_len)
		snprintf(rv, rv_len, "%s", cm_rv ? cm_rv : "");
	cJSON *data = cJSON_DetachItemFromObject(cm, "data");
	cJSON_Delete(cm);
	return data;
}

static void learn_corrupt(struct build_wing *w, const cJSON *build, const char *key,
			  const char *what)
{
	char msg[512];
	snprintf(msg, sizeof(msg), "ConfigMap %s key %s is not valid learning data: %s (kubectl "
		 "get cm -n %s %s -o yaml)", PHX_BUILD_LEARN_CM, key, what,
		 kube_json_namespace(build), PHX_BUILD_LEARN_CM);
	build_event(w, build, "Warning", "LearningCorrupt", msg);
}

/* A new series starts from what worked for the service: the factors into *in. */
static void learn_start(struct kube_reconcile_ctx *ctx, struct build_wing *w, const cJSON *build,
			struct phx_build_input *in, char *from, size_t from_len)
{
	const char *ns = kube_json_namespace(build);
	cJSON *data = learn_read(ctx, ns, NULL, 0);
	struct phx_build_learned l;
	char key[160];
	int rc = phx_build_learn_pick(data, kube_json_get_str(build, "spec", "serviceName", NULL),
				      &l, key, sizeof(key));
	if (rc == KUBE_EINVAL)
		learn_corrupt(w, build, key, "ignored; it is rewritten when this Build ends");
	if (rc == 1) {
		int64_t dl = 1800;
		kube_json_get_int(build, &dl, "spec", "activeDeadlineSeconds", NULL);
		phx_build_learn_start(&l, dl, &in->learned_memory_factor,
				      &in->learned_deadline_factor);
		snprintf(from, from_len, "configmap/%s key %s", PHX_BUILD_LEARN_CM, key);
		in->learned_from = from;
	}
	cJSON_Delete(data);
}

/* One try of learn_record: reads the ConfigMap, folds the Build in and writes it back under the
 * resourceVersion it read (or creates it). KUBE_ECONFLICT / KUBE_EALREADYEXISTS when another
 * Build wrote first. */
static int learn_record_once(struct kube_reconcile_ctx *ctx, struct build_wing *w,
			     const cJSON *build, const cJSON *status, const char *result, bool report,
			     struct kube_status *st)
{
	const char *ns = kube_json_namespace(build);
	char key[160], now[KUBE_TIME_LEN], rv[64];
	phx_build_learn_key(kube_json_get_str(build, "spec", "serviceName", NULL),
			    kube_json_get_str(status, "buildSystem", NULL), key, sizeof(key));
	cJSON *data = learn_read(ctx, ns, rv, sizeof(rv));
	struct phx_build_learned l;
	const char *old = kube_json_get_str(data, key, NULL);
	if (old && phx_build_learn_parse(old, &l) != 0) {
		if (report)
			learn_corrupt(w, build, key, "rewritten from this Build");
		phx_build_learn_parse("{\"builds\":0}", &l);
	} else if (!old) {
		phx_build_learn_parse("{\"builds\":0}", &l);
	}
	phx_build_learn_update(&l, status, result,
			       kube_time_format(kube_clock_wall(ctx->clock) / 1000000000, now,
						sizeof(now)));
	char *val = phx_build_learn_format(&l);
	int corrupt = 0;
	cJSON *patch = val ? phx_build_learn_patch(data, key, val, &corrupt) : NULL;
	int rc = KUBE_ENOMEM;
	if (patch && rv[0]) {
		/* A merge patch carrying metadata.resourceVersion is refused with 409 Conflict when
		 * another Build wrote in between: counts are never lost. */
		cJSON_AddStringToObject(cJSON_AddObjectToObject(patch, "metadata"), "resourceVersion",
					rv);
		char *txt = kube_json_print(patch);
		rc = txt ? kube_patch(ctx->client, &KUBE_GVR_CONFIGMAPS, ns, PHX_BUILD_LEARN_CM,
				      NULL, KUBE_PATCH_MERGE, txt, NULL, st)
			 : KUBE_ENOMEM;
		free(txt);
	} else if (patch) {
		cJSON *cm = cJSON_CreateObject();
		cJSON_AddStringToObject(cm, "apiVersion", "v1");
		cJSON_AddStringToObject(cm, "kind", "ConfigMap");
		cJSON *md = cJSON_AddObjectToObject(cm, "metadata");
		cJSON_AddStringToObject(md, "name", PHX_BUILD_LEARN_CM);
		cJSON_AddStringToObject(md, "namespace", ns);
		cJSON_AddStringToObject(cJSON_AddObjectToObject(md, "labels"),
					"app.kubernetes.io/managed-by", "phoenix-operator");
		cJSON *d = cJSON_AddObjectToObject(cm, "data");
		cJSON_AddStringToObject(d, key, val);
		rc = kube_create(ctx->client, &KUBE_GVR_CONFIGMAPS, ns, cm, NULL, st);
		cJSON_Delete(cm);
	}
	if (corrupt > 0 && report)
		learn_corrupt(w, build, "(other entries)", "removed");
	free(val);
	cJSON_Delete(patch);
	cJSON_Delete(data);
	return rc;
}

/* A Build with a Job ended: folds it into its entry and writes the ConfigMap (created when
 * missing), re-reading and retrying when another Build wrote first. Errors are logged: learning
 * is advice, never a reason to fail a Build. */
static void learn_record(struct kube_reconcile_ctx *ctx, struct build_wing *w, const cJSON *build,
			 const cJSON *status, const char *result)
{
	struct kube_status st = {0};
	int rc = KUBE_ECONFLICT;
	for (int i = 0; i < 5 && (rc == KUBE_ECONFLICT || rc == KUBE_EALREADYEXISTS); i++) {
		kube_status_release(&st);
		rc = learn_record_once(ctx, w, build, status, result, i == 0, &st);
	}
	if (rc < 0 && rc != KUBE_ENOTLEADER)
		kube_log(KUBE_LOG_WARN, "build", "learning ConfigMap write failed", "namespace",
			 kube_json_namespace(build), "error", kube_strerror(rc), "message",
			 st.message ? st.message : "", NULL);
	kube_status_release(&st);
}

/* ---- effects ---- */

static int effect(struct kube_reconcile_ctx *ctx, const cJSON *build,
		  const struct phx_build_plan *p)
{
	const char *ns = kube_json_namespace(build);
	struct kube_status st = {0};
	int rc = 0;
	char *txt = NULL;
	switch (p->effect) {
	case PHX_BUILD_EFFECT_NONE:
		return 0;
	case PHX_BUILD_EFFECT_CREATE_JOB:
		rc = kube_create(ctx->client, &KUBE_GVR_JOBS, ns, p->job, NULL, &st);
		if (rc == KUBE_EALREADYEXISTS)
			rc = 0;
		break;
	case PHX_BUILD_EFFECT_CREATE_VERIFY_JOB: {
		/* Through the Service: its clusterIP, which cluster DNS answers for the name the
		 * Job's URL carries (and kubesim, without DNS, needs). Unknown: DNS alone. */
		cJSON *sv = NULL;
		if (kube_get(ctx->client, &KUBE_GVR_SERVICES, ns, p->service_name, NULL, &sv,
			     NULL) == 0) {
			const char *ip = kube_json_get_str(sv, "spec", "clusterIP", NULL);
			if (ip && *ip && strcmp(ip, "None"))
				phx_build_verify_job_set_address(p->job, ip);
		}
		cJSON_Delete(sv);
		rc = kube_create(ctx->client, &KUBE_GVR_JOBS, ns, p->job, NULL, &st);
		if (rc == KUBE_EALREADYEXISTS)
			rc = 0;
		break;
	}
	case PHX_BUILD_EFFECT_DELETE_JOB: {
		struct kube_delete_opts o = KUBE_DELETE_OPTS_INIT;
		o.propagation_policy = "Background";
		rc = kube_delete(ctx->client, &KUBE_GVR_JOBS, ns, p->job_name, &o, NULL, &st);
		if (rc == KUBE_ENOTFOUND)
			rc = 0;
		break;
	}
	case PHX_BUILD_EFFECT_DEPLOY:
		if (!p->service_exists) {
			rc = kube_create(ctx->client, &PHX_GVR, ns, p->service, NULL, &st);
			if (rc != KUBE_EALREADYEXISTS)
				break;
			kube_status_release(&st);
		}
		/* it exists: patch it */
		__attribute__((fallthrough));
	case PHX_BUILD_EFFECT_REGISTER:
	case PHX_BUILD_EFFECT_ROLLBACK: {
		cJSON *patch = cJSON_Duplicate(p->service, 1);
		if (patch) {
			cJSON_DeleteItemFromObject(kube_json_ensure_obj(patch, "metadata"),
						   "ownerReferences");
			txt = kube_json_print(patch);
			cJSON_Delete(patch);
		}
		rc = txt ? kube_patch(ctx->client, &PHX_GVR, ns, p->service_name, NULL,
				      KUBE_PATCH_MERGE, txt, NULL, &st) : KUBE_ENOMEM;
		if (rc == 0 && p->service_status) {
			free(txt);
			kube_status_release(&st);
			txt = kube_json_print(p->service_status);
			rc = txt ? kube_patch(ctx->client, &PHX_GVR, ns, p->service_name, "status",
					      KUBE_PATCH_MERGE, txt, NULL, &st) : KUBE_ENOMEM;
		}
		break;
	}
	case PHX_BUILD_EFFECT_TAKE_DOWN: {
		struct kube_delete_opts o = KUBE_DELETE_OPTS_INIT;
		o.propagation_policy = "Background";
		rc = kube_delete(ctx->client, &PHX_GVR, ns, p->service_name, &o, NULL, &st);
		if (rc == KUBE_ENOTFOUND)
			rc = 0;
		break;
	}
	}
	if (rc < 0 && rc != KUBE_ENOTLEADER)
		kube_log(KUBE_LOG_WARN, "build", "effect failed", "build", kube_json_name(build),
			 "namespace", ns, "error", kube_strerror(rc), "message",
			 st.message ? st.message : "", NULL);
	free(txt);
	kube_status_release(&st);
	return rc;
}

/* Replaces the whole status (JSON patch add /status), guarded by the resourceVersion it was
 * computed from: the patch sets metadata.resourceVersion, which the API server takes as a
 * precondition (409 Conflict when the Build changed meanwhile; a "test" op would fail with a
 * bare 422 that says nothing), so a stale cache gives a conflict and a retry, never a lost
 * update. */
static int write_status(struct kube_reconcile_ctx *ctx, const cJSON *build, const cJSON *status)
{
	cJSON *ops = cJSON_CreateArray();
	cJSON *t = cJSON_CreateObject();
	cJSON_AddStringToObject(t, "op", "replace");
	cJSON_AddStringToObject(t, "path", "/metadata/resourceVersion");
	cJSON_AddStringToObject(t, "value", kube_json_resource_version(build) ?
				kube_json_resource_version(build) : "");
	cJSON_AddItemToArray(ops, t);
	cJSON *a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "op", "add");
	cJSON_AddStringToObject(a, "path", "/status");
	cJSON_AddItemToObject(a, "value", cJSON_Duplicate(status, 1));
	cJSON_AddItemToArray(ops, a);
	char *txt = kube_json_print(ops);
	cJSON_Delete(ops);
	if (!txt)
		return KUBE_ENOMEM;
	struct kube_status st = {0};
	int rc = kube_patch(ctx->client, &PHX_BUILD_GVR, kube_json_namespace(build),
			    kube_json_name(build), "status", KUBE_PATCH_JSON, txt, NULL, &st);
	if (rc < 0 && rc != KUBE_ENOTLEADER && rc != KUBE_ECONFLICT)
		kube_log(KUBE_LOG_WARN, "build", "status write failed", "build",
			 kube_json_name(build), "error", kube_strerror(rc), "message",
			 st.message ? st.message : "", NULL);
	free(txt);
	kube_status_release(&st);
	return rc;
}

static int reconcile(struct kube_reconcile_ctx *ctx, const char *key)
{
	struct build_wing *w = ctx->ud;
	cJSON *build = NULL;
	if (kube_cache_get(kube_controller_primary(ctx->controller), key, &build) != 0) {
		note_waiting(w, key, false);
		return 0; /* gone: its Jobs and PhoenixService go with it (owner references) */
	}
	const char *ns = kube_json_namespace(build), *name = kube_json_name(build);
	cJSON *job = cache_get_name(w->jobs, ns, kube_json_get_str(build, "status", "job", NULL));
	struct pod_find pf = { .ns = ns, .build = name };
	char run[16] = "";
	if (job) {
		snprintf(run, sizeof(run), "%s", kube_json_get_str(job, "metadata", "labels",
			 PHX_BUILD_LABEL_RUN, NULL) ? kube_json_get_str(job, "metadata", "labels",
			 PHX_BUILD_LABEL_RUN, NULL) : "");
		pf.run = run;
		kube_cache_foreach(w->pods, pod_pick, &pf);
	}
	cJSON *vjob = cache_get_name(w->jobs, ns, kube_json_get_str(build, "status", "verify",
								    "job", NULL));
	struct pod_find vf = { .ns = ns, .build = name };
	char vrun[16] = "";
	if (vjob) {
		const char *r = kube_json_get_str(vjob, "metadata", "labels", PHX_BUILD_LABEL_RUN,
						  NULL);
		snprintf(vrun, sizeof(vrun), "%s", r ? r : "");
		vf.run = vrun;
		kube_cache_foreach(w->pods, pod_pick, &vf);
	}
	cJSON *svc = cache_get_name(w->services, ns,
				    kube_json_get_str(build, "spec", "serviceName", NULL));
	struct apv_find af = { .ns = ns, .build = name, .gen = 1 };
	kube_json_get_int(build, &af.gen, "metadata", "generation", NULL);
	if (w->approvals)
		kube_cache_foreach(w->approvals, apv_pick, &af);

	struct phx_build_input in = {
		.build = build, .job = job, .pod = pf.best, .service = svc, .approval = af.best,
		.now_ms = kube_clock_wall(ctx->clock) / 1000000,
		.verify_job = vjob, .verify_pod = vf.best,
	};
	char from[256];
	int64_t sg = 0, gen = 1;
	kube_json_get_int(build, &sg, "status", "seriesGeneration", NULL);
	kube_json_get_int(build, &gen, "metadata", "generation", NULL);
	if (sg != gen && phx_build_kind_of(build) != PHX_BUILD_KIND_PREBUILT)
		learn_start(ctx, w, build, &in, from, sizeof(from));
	struct phx_build_plan p;
	int rc = phx_build_plan(&in, &p);
	if (rc == 0)
		rc = effect(ctx, build, &p);
	if (rc == 0 && p.status)
		rc = write_status(ctx, build, p.status);
	if (rc == 0) {
		if (p.event_type)
			build_event(w, build, p.event_type, p.event_reason, p.event_msg);
		if (p.result && p.status && phx_build_kind_of(build) != PHX_BUILD_KIND_PREBUILT &&
		    cJSON_GetArraySize(kube_json_get(p.status, "history", NULL)) > 0)
			learn_record(ctx, w, build, p.status, p.result);
		if (p.result) {
			const char *lv[] = {p.result, p.reason};
			kube_metric_inc(w->results, lv);
			const char *dv[] = {p.result};
			kube_metric_observe(w->duration, dv, p.duration_s);
		}
		if (p.retry_class) {
			const char *lv[] = {p.retry_class};
			kube_metric_inc(w->retries, lv);
		}
		if (p.rolled_back)
			kube_metric_inc(w->rollbacks, NULL);
		const char *phase = kube_json_get_str(p.status ? p.status : kube_json_get(build,
						      "status", NULL), "phase", NULL);
		note_waiting(w, key, eq(phase, "AwaitingApproval"));
		ctx->requeue_after_ms = p.requeue_ms;
	}
	if (rc == KUBE_ECONFLICT)
		rc = 0, ctx->requeue_after_ms = 200; /* the newer Build's event reconciles again */
	phx_build_plan_release(&p);
	cJSON_Delete(pf.best);
	cJSON_Delete(vf.best);
	cJSON_Delete(vjob);
	cJSON_Delete(af.best);
	cJSON_Delete(job);
	cJSON_Delete(svc);
	cJSON_Delete(build);
	return rc;
}

/* Which of builds and approvals the API server serves in phoenix.fpai.io/v1alpha1 (both
 * assumed served when it cannot tell: the informers will say). */
static void served(struct kube_client *c, bool *builds, bool *approvals)
{
	cJSON *out = NULL;
	struct kube_status st = {0};
	int rc = kube_request(c, "GET", "/apis/phoenix.fpai.io/v1alpha1", NULL, NULL, NULL, 0,
			      &out, &st);
	*builds = *approvals = rc != KUBE_ENOTFOUND;
	if (rc == 0) {
		*builds = *approvals = false;
		const cJSON *r;
		cJSON_ArrayForEach(r, kube_json_get(out, "resources", NULL)) {
			const char *n = kube_json_get_str(r, "name", NULL);
			*builds = *builds || eq(n, "builds");
			*approvals = *approvals || eq(n, "approvals");
		}
	}
	cJSON_Delete(out);
	kube_status_release(&st);
}

int build_wing_add(struct kube_manager *m, const struct phx_wing_env *env, void **state)
{
	if (!m || !env || !state)
		return KUBE_EINVAL;
	*state = NULL;
	bool builds, approvals;
	served(env->client, &builds, &approvals);
	if (!builds) {
		/* The manager reconciles nothing before every informer synced: an informer on an
		 * absent CRD would hold every other kind back. */
		kube_log(KUBE_LOG_WARN, "build",
			 "the API server does not serve builds.phoenix.fpai.io: the Build controller "
			 "is off (install manifests/crds/ and restart the operator to turn it on)", NULL);
		return 0;
	}
	if (!approvals)
		kube_log(KUBE_LOG_WARN, "build",
			 "the API server does not serve approvals.phoenix.fpai.io: Builds with "
			 "approvalMode checkpoints or final wait until it is installed and the operator "
			 "restarted", NULL);
	struct build_wing *w = calloc(1, sizeof(*w));
	if (!w)
		return KUBE_ENOMEM;
	w->approvals_served = approvals;
	w->events = env->events;
	struct kube_metrics *reg = kube_metrics_default();
	static const char *const rl[] = {"result", "reason", NULL};
	static const char *const dl[] = {"result", NULL};
	static const char *const cl[] = {"class", NULL};
	double buckets[12];
	kube_metric_exponential_buckets(1, 2, 12, buckets);
	w->results = kube_metric_register(reg, KUBE_COUNTER, "phoenix_builds_total",
					  "Builds ended, by result and reason.", rl, NULL, 0);
	w->duration = kube_metric_register(reg, KUBE_HISTOGRAM, "phoenix_build_duration_seconds",
					   "Build start to end.", dl, buckets, 12);
	w->retries = kube_metric_register(reg, KUBE_COUNTER, "phoenix_build_retries_total",
					  "Build attempts retried, by failure class.", cl, NULL, 0);
	w->rollbacks = kube_metric_register(reg, KUBE_COUNTER, "phoenix_build_rollbacks_total",
					    "PhoenixServices rolled back after a failed health check.",
					    NULL, NULL, 0);
	static const char *const nl[] = {"namespace", NULL};
	w->waiting = kube_metric_register(reg, KUBE_GAUGE, "phoenix_build_approvals_waiting",
					  "Builds waiting at the Deploy gate for an Approval.", nl,
					  NULL, 0);
	pthread_mutex_init(&w->mu, NULL);
	struct kube_controller_ops ops = {
		.name = "build",
		.primary = { .gvr = &PHX_BUILD_GVR },
		.api_version = PHX_API_VERSION,
		.kind = PHX_BUILD_KIND,
		.setup = setup,
		.reconcile = reconcile,
		.workers = 2,
	};
	int rc = kube_manager_add_controller(m, &ops, w, NULL);
	if (rc < 0) {
		build_wing_free(w);
		return rc;
	}
	*state = w;
	return 0;
}

void build_wing_free(void *state)
{
	struct build_wing *w = state;
	struct waiting *e, *t;

	if (!w)
		return;
	HASH_ITER(hh, w->waiting_set, e, t) {
		HASH_DEL(w->waiting_set, e);
		free(e);
	}
	pthread_mutex_destroy(&w->mu);
	free(w);
}
