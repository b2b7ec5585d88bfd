/* The Job controller (see sim_jobs.h). */
#include "sim_jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "kube_error.h"
#include "kube_selector.h"
#include "sim_controllers.h"
#include "sim_kubelet.h"

#define MSG_COMPLETE "Reached expected number of succeeded pods"
#define MSG_BACKOFF "Job has reached the specified backoff limit"
#define MSG_DEADLINE "Job was active longer than specified deadline"

/* ---- Pure ---- */

void sim_job_spec_read(const cJSON *job, struct sim_job_spec *spec)
{
	spec->completions = (long)sim_j_int(job, "spec.completions", 1);
	spec->parallelism = (long)sim_j_int(job, "spec.parallelism", 1);
	spec->backoff_limit = (long)sim_j_int(job, "spec.backoffLimit", 6);
	spec->deadline_s = (long)sim_j_int(job, "spec.activeDeadlineSeconds", -1);
	spec->suspend = sim_j_bool(job, "spec.suspend", 0);
	if (spec->completions < 1)
		spec->completions = 1;
	if (spec->parallelism < 0)
		spec->parallelism = 0;
}

static void target(struct sim_job_decision *out, enum sim_job_state target_state,
		   enum sim_job_state final_state, const char *reason, const char *message,
		   const struct sim_job_counts *cnt)
{
	out->reason = reason;
	out->message = message;
	out->delete_active = cnt->active > 0;
	out->create = 0;
	out->recheck_ms = -1;
	/* The terminal condition only once no pod is left running or terminating. */
	out->state = cnt->active == 0 && cnt->terminating == 0 ? final_state : target_state;
}

void sim_job_decide(const struct sim_job_spec *spec, const struct sim_job_counts *cnt,
		    enum sim_job_state prev, const char *prev_reason, int64_t start_ms,
		    int64_t now_ms, struct sim_job_decision *out)
{
	long want;

	memset(out, 0, sizeof(*out));
	out->recheck_ms = -1;
	out->state = prev;
	if (prev == SIM_JOB_COMPLETE || prev == SIM_JOB_FAILED) {
		out->reason = prev_reason;
		out->message = prev == SIM_JOB_COMPLETE ? MSG_COMPLETE :
			       (prev_reason && strcmp(prev_reason, "DeadlineExceeded") == 0 ? MSG_DEADLINE
											  : MSG_BACKOFF);
		return;
	}
	if (prev == SIM_JOB_SUCCESS_TARGET) {
		target(out, SIM_JOB_SUCCESS_TARGET, SIM_JOB_COMPLETE, "CompletionsReached", MSG_COMPLETE, cnt);
		return;
	}
	if (prev == SIM_JOB_FAILURE_TARGET) {
		int dl = prev_reason && strcmp(prev_reason, "DeadlineExceeded") == 0;

		target(out, SIM_JOB_FAILURE_TARGET, SIM_JOB_FAILED,
		       dl ? "DeadlineExceeded" : "BackoffLimitExceeded", dl ? MSG_DEADLINE : MSG_BACKOFF,
		       cnt);
		return;
	}
	if (cnt->succeeded >= spec->completions) {
		target(out, SIM_JOB_SUCCESS_TARGET, SIM_JOB_COMPLETE, "CompletionsReached", MSG_COMPLETE, cnt);
		return;
	}
	if (cnt->failed > spec->backoff_limit) {
		target(out, SIM_JOB_FAILURE_TARGET, SIM_JOB_FAILED, "BackoffLimitExceeded", MSG_BACKOFF,
		       cnt);
		return;
	}
	if (spec->deadline_s >= 0 && start_ms >= 0) {
		int64_t deadline = start_ms + (int64_t)spec->deadline_s * 1000;

		if (now_ms >= deadline) {
			target(out, SIM_JOB_FAILURE_TARGET, SIM_JOB_FAILED, "DeadlineExceeded",
			       MSG_DEADLINE, cnt);
			return;
		}
		out->recheck_ms = deadline;
	}
	out->state = SIM_JOB_RUNNING;
	if (spec->suspend) {
		out->delete_active = cnt->active > 0;
		return;
	}
	want = spec->completions - cnt->succeeded;
	if (want > spec->parallelism)
		want = spec->parallelism;
	if (want > cnt->active)
		out->create = want - cnt->active;
}

enum sim_job_state sim_job_state_of(const cJSON *job, const char **reason)
{
	enum sim_job_state st = SIM_JOB_RUNNING;
	const cJSON *c;

	*reason = NULL;
	cJSON_ArrayForEach(c, sim_j_at(job, "status.conditions")) {
		const char *t = sim_j_str(c, "type"), *s = sim_j_str(c, "status");
		enum sim_job_state x;

		if (!t || !s || strcmp(s, "True") != 0)
			continue;
		if (strcmp(t, "Complete") == 0)
			x = SIM_JOB_COMPLETE;
		else if (strcmp(t, "Failed") == 0)
			x = SIM_JOB_FAILED;
		else if (strcmp(t, "SuccessCriteriaMet") == 0)
			x = SIM_JOB_SUCCESS_TARGET;
		else if (strcmp(t, "FailureTarget") == 0)
			x = SIM_JOB_FAILURE_TARGET;
		else
			continue;
		/* Terminal beats target. */
		if (x == SIM_JOB_COMPLETE || x == SIM_JOB_FAILED || st == SIM_JOB_RUNNING) {
			st = x;
			*reason = sim_j_str(c, "reason");
		}
	}
	return st;
}

static cJSON *job_condition(const cJSON *old_status, const char *type, const char *reason,
			    const char *message, const char *now)
{
	cJSON *c = cJSON_CreateObject();
	const cJSON *x;
	const char *ltt = now, *lpt = now;

	cJSON_ArrayForEach(x, sim_j_at(old_status, "conditions")) {
		const char *t = sim_j_str(x, "type");

		if (t && strcmp(t, type) == 0) {
			if (sim_j_str(x, "lastTransitionTime"))
				ltt = sim_j_str(x, "lastTransitionTime");
			if (sim_j_str(x, "lastProbeTime"))
				lpt = sim_j_str(x, "lastProbeTime");
		}
	}
	sim_j_set_str(c, "type", type);
	sim_j_set_str(c, "status", "True");
	sim_j_set_str(c, "lastProbeTime", lpt);
	sim_j_set_str(c, "lastTransitionTime", ltt);
	sim_j_set_str(c, "reason", reason);
	sim_j_set_str(c, "message", message);
	return c;
}

cJSON *sim_job_status_build(const cJSON *old_status, const struct sim_job_counts *cnt,
			    const struct sim_job_decision *d, int64_t start_ms, int64_t now_ms)
{
	cJSON *st = cJSON_CreateObject(), *conds;
	char now[40], ts[40];
	int success = d->state == SIM_JOB_SUCCESS_TARGET || d->state == SIM_JOB_COMPLETE;

	sim_ctl_time_format(now_ms, 0, now, sizeof(now));
	if (start_ms >= 0) {
		sim_ctl_time_format(start_ms, 0, ts, sizeof(ts));
		sim_j_set_str(st, "startTime", ts);
	}
	if (d->state == SIM_JOB_COMPLETE) {
		const char *prev = sim_j_str(old_status, "completionTime");

		sim_j_set_str(st, "completionTime", prev ? prev : now);
	}
	sim_j_set_num(st, "active", (double)cnt->active);
	sim_j_set_num(st, "ready", (double)cnt->ready);
	sim_j_set_num(st, "terminating", (double)cnt->terminating);
	if (cnt->succeeded > 0)
		sim_j_set_num(st, "succeeded", (double)cnt->succeeded);
	if (cnt->failed > 0)
		sim_j_set_num(st, "failed", (double)cnt->failed);
	sim_j_set(st, "uncountedTerminatedPods", cJSON_CreateObject());
	if (d->state != SIM_JOB_RUNNING) {
		conds = cJSON_AddArrayToObject(st, "conditions");
		cJSON_AddItemToArray(conds, job_condition(old_status,
							  success ? "SuccessCriteriaMet" : "FailureTarget",
							  d->reason, d->message, now));
		if (d->state == SIM_JOB_COMPLETE || d->state == SIM_JOB_FAILED)
			cJSON_AddItemToArray(conds, job_condition(old_status,
								  success ? "Complete" : "Failed",
								  d->reason, d->message, now));
	}
	return st;
}

static void plan_from(struct sim_ctr_plan *p, const cJSON *o, int64_t default_ms)
{
	const char *reason = sim_j_str(o, "reason");
	const char *msg = sim_j_str(o, "message");

	p->set = 1;
	p->exit_code = (int)sim_j_int(o, "exitCode", 0);
	snprintf(p->reason, sizeof(p->reason), "%s", reason ? reason : "");
	if (!reason && p->exit_code == 137)
		snprintf(p->reason, sizeof(p->reason), "%s", "OOMKilled");
	snprintf(p->message, sizeof(p->message), "%s", msg ? msg : "");
	p->duration_ms = sim_j_int(o, "durationMs", default_ms);
	if (p->duration_ms < 0)
		p->duration_ms = 0;
}

void sim_job_plan_apply(struct sim_pod_run *run, const cJSON *script, long attempt,
			int64_t default_ms)
{
	const cJSON *attempts = sim_j_at(script, "attempts");
	const cJSON *ctrs = sim_j_at(script, "containers");
	const cJSON *def = sim_j_at(script, "default");
	int n = cJSON_GetArraySize(attempts);
	size_t i;

	if (n > 0) {
		long at = attempt < n ? attempt : n - 1;

		ctrs = sim_j_at(cJSON_GetArrayItem(attempts, (int)at), "containers");
	}
	for (i = 0; i < run->n_ctrs; i++) {
		struct sim_ctr *x = &run->ctrs[i];
		const cJSON *o = ctrs ? cJSON_GetObjectItemCaseSensitive(ctrs, x->name) : NULL;

		plan_from(&x->plan, o ? o : def, default_ms);
	}
}

/* ---- Glue ---- */

struct counted {
	UT_hash_handle hh;
	char *uid;
	int succeeded;
};

struct job_state {
	UT_hash_handle hh;
	char *uid;
	char *ns, *name;
	struct counted *pods; /* finished pods already counted */
	long succeeded, failed;
	long started;         /* pods the kubelet started (the attempt number of the next) */
	int64_t timer_at;     /* deadline recheck scheduled for this wall time */
};

struct script {
	struct script *next;
	char *ns, *job, *selector;
	cJSON *body;
};

struct dirty {
	UT_hash_handle hh;
	char *key;
};

struct sim_jobs {
	struct job_state *jobs; /* by uid */
	struct script *scripts; /* newest first */
	struct dirty *dirty;    /* ns/name */
};

int sim_jobs_new(struct sim_controllers *c, struct sim_jobs **out)
{
	(void)c;
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : KUBE_ENOMEM;
}

static void job_state_free(struct job_state *js)
{
	struct counted *p, *t;

	HASH_ITER(hh, js->pods, p, t) {
		HASH_DEL(js->pods, p);
		free(p->uid);
		free(p);
	}
	free(js->uid);
	free(js->ns);
	free(js->name);
	free(js);
}

void sim_jobs_scripts_clear(struct sim_controllers *c)
{
	struct sim_jobs *j = sim_ctl_jobs(c);

	while (j && j->scripts) {
		struct script *s = j->scripts;

		j->scripts = s->next;
		free(s->ns);
		free(s->job);
		free(s->selector);
		cJSON_Delete(s->body);
		free(s);
	}
}

void sim_jobs_free(struct sim_jobs *j)
{
	struct job_state *js, *t;
	struct dirty *d, *dt;

	if (!j)
		return;
	HASH_ITER(hh, j->jobs, js, t) {
		HASH_DEL(j->jobs, js);
		job_state_free(js);
	}
	HASH_ITER(hh, j->dirty, d, dt) {
		HASH_DEL(j->dirty, d);
		free(d->key);
		free(d);
	}
	while (j->scripts) {
		struct script *s = j->scripts;

		j->scripts = s->next;
		free(s->ns);
		free(s->job);
		free(s->selector);
		cJSON_Delete(s->body);
		free(s);
	}
	free(j);
}

static void mark(struct sim_jobs *j, const char *ns, const char *name)
{
	struct dirty *d = NULL;
	char key[512];

	if (!ns || !name)
		return;
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	HASH_FIND_STR(j->dirty, key, d);
	if (d)
		return;
	d = calloc(1, sizeof(*d));
	if (!d)
		return;
	d->key = strdup(key);
	if (!d->key) {
		free(d);
		return;
	}
	HASH_ADD_KEYPTR(hh, j->dirty, d->key, strlen(d->key), d);
}

static struct job_state *state_get(struct sim_jobs *j, const cJSON *job, int create)
{
	const char *uid = sim_j_str(job, "metadata.uid");
	struct job_state *js = NULL;

	if (!uid)
		return NULL;
	HASH_FIND_STR(j->jobs, uid, js);
	if (js || !create)
		return js;
	js = calloc(1, sizeof(*js));
	if (!js)
		return NULL;
	js->uid = strdup(uid);
	js->ns = strdup(sim_j_str(job, "metadata.namespace") ? sim_j_str(job, "metadata.namespace") : "");
	js->name = strdup(sim_j_str(job, "metadata.name") ? sim_j_str(job, "metadata.name") : "");
	if (!js->uid || !js->ns || !js->name) {
		job_state_free(js);
		return NULL;
	}
	HASH_ADD_KEYPTR(hh, j->jobs, js->uid, strlen(js->uid), js);
	return js;
}

void sim_jobs_on_job(struct sim_controllers *c, const char *type, const cJSON *job)
{
	struct sim_jobs *j = sim_ctl_jobs(c);

	if (strcmp(type, "DELETED") == 0) {
		struct job_state *js = state_get(j, job, 0);

		if (js) {
			HASH_DEL(j->jobs, js);
			job_state_free(js);
		}
		return;
	}
	state_get(j, job, 1);
	mark(j, sim_j_str(job, "metadata.namespace"), sim_j_str(job, "metadata.name"));
}

/* The uid and name of the pod's controlling Job, or NULL. */
static const cJSON *job_ref(const cJSON *pod)
{
	const cJSON *r;

	cJSON_ArrayForEach(r, sim_j_at(pod, "metadata.ownerReferences")) {
		const char *k = sim_j_str(r, "kind");

		if (k && strcmp(k, "Job") == 0 && sim_j_bool(r, "controller", 0))
			return r;
	}
	return NULL;
}

void sim_jobs_on_pod(struct sim_controllers *c, const char *type, const cJSON *pod)
{
	struct sim_jobs *j = sim_ctl_jobs(c);
	const cJSON *ref = job_ref(pod);
	const char *phase = sim_j_str(pod, "status.phase");
	const char *juid, *puid;
	struct job_state *js = NULL;

	(void)type;
	if (!ref)
		return;
	juid = sim_j_str(ref, "uid");
	puid = sim_j_str(pod, "metadata.uid");
	if (juid)
		HASH_FIND_STR(j->jobs, juid, js);
	if (js && puid && phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)) {
		struct counted *p = NULL;

		HASH_FIND_STR(js->pods, puid, p);
		if (!p) {
			p = calloc(1, sizeof(*p));
			if (p) {
				p->uid = strdup(puid);
				p->succeeded = strcmp(phase, "Succeeded") == 0;
				if (!p->uid) {
					free(p);
				} else {
					HASH_ADD_KEYPTR(hh, js->pods, p->uid, strlen(p->uid), p);
					if (p->succeeded)
						js->succeeded++;
					else
						js->failed++;
				}
			}
		}
	}
	mark(j, sim_j_str(pod, "metadata.namespace"), sim_j_str(ref, "name"));
}

static const cJSON *script_for(struct sim_jobs *j, const cJSON *job)
{
	const char *ns = sim_j_str(job, "metadata.namespace");
	const char *name = sim_j_str(job, "metadata.name");
	const struct script *s, *by_sel = NULL, *def = NULL;

	for (s = j->scripts; s; s = s->next) {
		if (s->ns && ns && strcmp(s->ns, ns) != 0)
			continue;
		if (s->job) {
			if (name && strcmp(s->job, name) == 0)
				return s->body;
		} else if (s->selector) {
			struct kube_selector *sel = NULL;

			if (!by_sel && kube_selector_parse(s->selector, &sel, NULL) == 0 &&
			    kube_selector_matches_object(sel, job))
				by_sel = s;
			kube_selector_free(sel);
		} else if (!def) {
			def = s;
		}
	}
	return by_sel ? by_sel->body : def ? def->body : NULL;
}

int sim_jobs_plan_pod(struct sim_controllers *c, const cJSON *pod, struct sim_pod_run *run)
{
	struct sim_jobs *j = sim_ctl_jobs(c);
	const cJSON *ref = job_ref(pod), *job;
	struct job_state *js = NULL;
	const char *juid;
	long attempt = 0;

	if (!ref)
		return 0;
	juid = sim_j_str(ref, "uid");
	if (juid)
		HASH_FIND_STR(j->jobs, juid, js);
	if (js)
		attempt = js->started++;
	job = sim_cache_get(c, SIM_K_JOBS, sim_j_str(pod, "metadata.namespace"),
			    sim_j_str(ref, "name"));
	sim_job_plan_apply(run, job ? script_for(j, job) : NULL, attempt, 0);
	return 1;
}

int sim_jobs_script(struct sim_controllers *c, const char *ns, const char *job,
		    const char *selector, const cJSON *body)
{
	struct sim_jobs *j = sim_ctl_jobs(c);
	struct script *s, **pp;

	if (selector && !job) {
		struct kube_selector *sel = NULL;

		if (kube_selector_parse(selector, &sel, NULL) != 0)
			return KUBE_EINVAL;
		kube_selector_free(sel);
	}
	/* Replace a script for the same target. */
	for (pp = &j->scripts; *pp; pp = &(*pp)->next) {
		s = *pp;
		if (strcmp(s->ns ? s->ns : "", ns ? ns : "") == 0 &&
		    strcmp(s->job ? s->job : "", job ? job : "") == 0 &&
		    strcmp(s->selector ? s->selector : "", (!job && selector) ? selector : "") == 0) {
			*pp = s->next;
			free(s->ns);
			free(s->job);
			free(s->selector);
			cJSON_Delete(s->body);
			free(s);
			break;
		}
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return KUBE_ENOMEM;
	s->ns = ns ? strdup(ns) : NULL;
	s->job = job ? strdup(job) : NULL;
	s->selector = !job && selector ? strdup(selector) : NULL;
	s->body = cJSON_Duplicate(body, 1);
	if (!s->body || (ns && !s->ns) || (job && !s->job)) {
		free(s->ns);
		free(s->job);
		free(s->selector);
		cJSON_Delete(s->body);
		free(s);
		return KUBE_ENOMEM;
	}
	s->next = j->scripts;
	j->scripts = s;
	return 0;
}

cJSON *sim_jobs_scripts_json(struct sim_controllers *c)
{
	cJSON *arr = cJSON_CreateArray();
	const struct script *s;

	for (s = sim_ctl_jobs(c)->scripts; s; s = s->next) {
		cJSON *o = cJSON_CreateObject();

		if (s->ns)
			sim_j_set_str(o, "namespace", s->ns);
		if (s->job)
			sim_j_set_str(o, "job", s->job);
		if (s->selector)
			sim_j_set_str(o, "selector", s->selector);
		sim_j_set(o, "script", cJSON_Duplicate(s->body, 1));
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static void create_pod(struct sim_controllers *c, const cJSON *job)
{
	const cJSON *tmpl = sim_j_at(job, "spec.template");
	const cJSON *m = sim_j_at(tmpl, "metadata");
	const char *name = sim_j_str(job, "metadata.name");
	const char *uid = sim_j_str(job, "metadata.uid");
	cJSON *pod = cJSON_CreateObject(), *meta, *labels, *refs, *ref;
	char gen[300];

	sim_j_set_str(pod, "apiVersion", "v1");
	sim_j_set_str(pod, "kind", "Pod");
	meta = sim_j_obj(pod, "metadata");
	snprintf(gen, sizeof(gen), "%s-", name);
	sim_j_set_str(meta, "generateName", gen);
	sim_j_set_str(meta, "namespace", sim_j_str(job, "metadata.namespace"));
	labels = cJSON_Duplicate(sim_j_at(m, "labels"), 1);
	if (!labels)
		labels = cJSON_CreateObject();
	sim_j_set_str(labels, "batch.kubernetes.io/controller-uid", uid);
	sim_j_set_str(labels, "batch.kubernetes.io/job-name", name);
	sim_j_set_str(labels, "controller-uid", uid);
	sim_j_set_str(labels, "job-name", name);
	sim_j_set(meta, "labels", labels);
	if (sim_j_at(m, "annotations"))
		sim_j_set(meta, "annotations", cJSON_Duplicate(sim_j_at(m, "annotations"), 1));
	refs = cJSON_AddArrayToObject(meta, "ownerReferences");
	ref = cJSON_CreateObject();
	sim_j_set_str(ref, "apiVersion", "batch/v1");
	sim_j_set_str(ref, "kind", "Job");
	sim_j_set_str(ref, "name", name);
	sim_j_set_str(ref, "uid", uid);
	sim_j_set_bool(ref, "controller", 1);
	sim_j_set_bool(ref, "blockOwnerDeletion", 1);
	cJSON_AddItemToArray(refs, ref);
	sim_j_set(pod, "spec", cJSON_Duplicate(sim_j_at(tmpl, "spec"), 1));
	sim_ctl_create(c, "", "pods", sim_j_str(job, "metadata.namespace"), pod, NULL);
	cJSON_Delete(pod);
}


static void deadline_timer(struct sim_controllers *c, void *arg)
{
	char *key = arg, *slash = strchr(key, '/');

	if (slash) {
		*slash = '\0';
		mark(sim_ctl_jobs(c), key, slash + 1);
	}
}

static void reconcile(struct sim_controllers *c, const char *ns, const char *name)
{
	struct sim_jobs *j = sim_ctl_jobs(c);
	const cJSON *job = sim_cache_get(c, SIM_K_JOBS, ns, name);
	const cJSON **pods = NULL, **active = NULL;
	struct sim_job_spec spec;
	struct sim_job_counts cnt;
	struct sim_job_decision d;
	struct job_state *js;
	enum sim_job_state prev;
	const char *prev_reason, *uid;
	int64_t now = sim_ctl_wall_ms(c), start;
	size_t n, i, k = 0;
	long x;
	cJSON *st, *body;

	if (!job || sim_j_at(job, "metadata.deletionTimestamp"))
		return;
	js = state_get(j, job, 1);
	if (!js)
		return;
	uid = js->uid;
	sim_job_spec_read(job, &spec);
	memset(&cnt, 0, sizeof(cnt));
	n = sim_cache_list(c, SIM_K_PODS, ns, &pods);
	active = n ? calloc(n, sizeof(*active)) : NULL;
	for (i = 0; i < n; i++) {
		const char *phase = sim_j_str(pods[i], "status.phase");

		if (!sim_is_controlled_by(pods[i], uid))
			continue;
		if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
			continue;
		if (sim_j_at(pods[i], "metadata.deletionTimestamp")) {
			cnt.terminating++;
			continue;
		}
		cnt.active++;
		cnt.ready += sim_condition_true(pods[i], "Ready");
		if (active)
			active[k++] = pods[i];
	}
	cnt.succeeded = js->succeeded;
	cnt.failed = js->failed;
	prev = sim_job_state_of(job, &prev_reason);
	start = sim_ctl_time_parse(sim_j_str(job, "status.startTime"));
	if (start < 0 && !spec.suspend)
		start = now;
	sim_job_decide(&spec, &cnt, prev, prev_reason, start, now, &d);
	for (x = 0; x < d.create; x++)
		create_pod(c, job);
	if (d.delete_active) {
		for (i = 0; i < k; i++)
			sim_ctl_delete(c, "", "pods", ns, sim_j_str(active[i], "metadata.name"), NULL, -1,
				       sim_j_str(active[i], "metadata.uid"));
		/* They are terminating now, not active. */
		cnt.terminating += cnt.active;
		cnt.active = 0;
		cnt.ready = 0;
		sim_job_decide(&spec, &cnt, d.state, d.reason, start, now, &d);
	}
	cnt.active += d.create;
	free(active);
	free(pods);
	if (d.recheck_ms >= 0 && js->timer_at != d.recheck_ms) {
		char key[512];
		char *arg;

		js->timer_at = d.recheck_ms;
		snprintf(key, sizeof(key), "%s/%s", ns, name);
		arg = strdup(key);
		if (arg)
			sim_ctl_after(c, d.recheck_ms - now + 1, deadline_timer, arg, free);
	}
	job = sim_cache_get(c, SIM_K_JOBS, ns, name);
	if (!job)
		return;
	st = sim_job_status_build(sim_j_at(job, "status"), &cnt, &d, start, now);
	{
		const cJSON *cur = sim_j_at(job, "status");
		char *a = cur ? cJSON_PrintUnformatted(cur) : NULL;
		char *b = cJSON_PrintUnformatted(st);
		int same = a && b && strcmp(a, b) == 0;

		free(a);
		free(b);
		if (same) {
			cJSON_Delete(st);
			return;
		}
	}
	body = cJSON_CreateObject();
	sim_j_set_str(body, "apiVersion", "batch/v1");
	sim_j_set_str(body, "kind", "Job");
	sim_j_set_str(sim_j_obj(body, "metadata"), "name", name);
	sim_j_set_str(sim_j_obj(body, "metadata"), "namespace", ns);
	sim_j_set(body, "status", st);
	sim_ctl_update(c, "batch", "jobs", ns, name, "status", body, NULL);
	cJSON_Delete(body);
}

void sim_jobs_flush(struct sim_controllers *c)
{
	struct sim_jobs *j = sim_ctl_jobs(c);
	struct dirty *all, *d, *t;

	if (!j)
		return;
	all = j->dirty;
	j->dirty = NULL;
	HASH_ITER(hh, all, d, t) {
		char *slash = strchr(d->key, '/');

		HASH_DEL(all, d);
		if (slash) {
			*slash = '\0';
			reconcile(c, d->key, slash + 1);
		}
		free(d->key);
		free(d);
	}
}
