/* The Build pipeline's next step (see phx_build_plan.h). */
#include "phx_build_plan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_error.h"
#include "kube_json.h"
#include "kube_time.h"
#include "phx_api.h"
#include "phx_build_classify.h"
#include "phx_build_job.h"
#include "phx_build_report.h"
#include "phx_meta.h"

/* Everything one call works on. */
struct ctx {
	const struct phx_build_input *in;
	struct phx_build_plan *out;
	cJSON *st;            /* the new status, being edited */
	const cJSON *old;     /* the old status (may be NULL) */
	const char *name, *ns;
	int64_t gen;
};

static bool eq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static void set_str(cJSON *o, const char *k, const char *v)
{
	kube_json_set_str(o, k, v ? v : "");
}

static void set_num(cJSON *o, const char *k, double v)
{
	cJSON *n = cJSON_CreateNumber(v);
	if (!n)
		return;
	if (cJSON_GetObjectItem(o, k))
		cJSON_ReplaceItemInObject(o, k, n);
	else
		cJSON_AddItemToObject(o, k, n);
}

static void set_item(cJSON *o, const char *k, cJSON *v)
{
	if (!v)
		return;
	if (cJSON_GetObjectItem(o, k))
		cJSON_ReplaceItemInObject(o, k, v);
	else
		cJSON_AddItemToObject(o, k, v);
}

static int64_t get_int(const cJSON *o, int64_t dflt, const char *k1, const char *k2)
{
	int64_t v = dflt;
	if (k2)
		kube_json_get_int(o, &v, k1, k2, NULL);
	else
		kube_json_get_int(o, &v, k1, NULL);
	return v;
}

static void set_time(cJSON *o, const char *k, int64_t ms)
{
	char ts[KUBE_TIME_LEN];
	kube_time_format(ms / 1000, ts, sizeof(ts));
	set_str(o, k, ts);
}

static int64_t time_of(const char *s)
{
	int64_t ms = 0;
	return s && kube_time_parse_ms(s, &ms) == 0 ? ms : -1;
}

/* Sets condition `type` (status "True"/"False"/"Unknown"), keeping lastTransitionTime while the
 * status stays. */
static void cond(struct ctx *c, const char *type, const char *status, const char *reason,
		 const char *msg)
{
	cJSON *arr = cJSON_GetObjectItem(c->st, "conditions");
	if (!cJSON_IsArray(arr)) {
		arr = cJSON_CreateArray();
		set_item(c->st, "conditions", arr);
	}
	char ts[KUBE_TIME_LEN];
	const char *ltt = NULL;
	int i = 0;
	cJSON *e;
	cJSON_ArrayForEach(e, arr) {
		if (eq(kube_json_get_str(e, "type", NULL), type))
			break;
		i++;
	}
	if (e && eq(kube_json_get_str(e, "status", NULL), status))
		ltt = kube_json_get_str(e, "lastTransitionTime", NULL);
	if (!ltt)
		ltt = kube_time_format(c->in->now_ms / 1000, ts, sizeof(ts));
	cJSON *n = cJSON_CreateObject();
	if (!n)
		return;
	cJSON_AddStringToObject(n, "type", type);
	cJSON_AddStringToObject(n, "status", status);
	cJSON_AddStringToObject(n, "reason", reason);
	cJSON_AddStringToObject(n, "message", msg ? msg : "");
	cJSON_AddStringToObject(n, "lastTransitionTime", ltt);
	cJSON_AddNumberToObject(n, "observedGeneration", (double)c->gen);
	if (e)
		cJSON_ReplaceItemInArray(arr, i, n);
	else
		cJSON_AddItemToArray(arr, n);
}

static const char *cond_status(const cJSON *status, const char *type)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, kube_json_get(status, "conditions", NULL))
		if (eq(kube_json_get_str(e, "type", NULL), type))
			return kube_json_get_str(e, "status", NULL);
	return NULL;
}

static void event(struct ctx *c, const char *type, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void event(struct ctx *c, const char *type, const char *reason, const char *fmt, ...)
{
	c->out->event_type = type;
	snprintf(c->out->event_reason, sizeof(c->out->event_reason), "%s", reason);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->out->event_msg, sizeof(c->out->event_msg), fmt, ap);
	va_end(ap);
}

static const char *phase(struct ctx *c)
{
	const char *p = kube_json_get_str(c->st, "phase", NULL);
	return p ? p : "";
}

/* The Build ends: phase, Succeeded condition, completionTime (frozen), metrics, Event. */
static void finish(struct ctx *c, const char *result, const char *reason, const char *msg)
{
	bool ok = eq(result, "Succeeded");
	set_str(c->st, "phase", eq(result, "Cancelled") ? "Cancelled" : ok ? "Succeeded" : "Failed");
	cond(c, PHX_BUILD_COND_SUCCEEDED, ok ? "True" : "False", reason, msg);
	set_time(c->st, "completionTime", c->in->now_ms);
	c->out->result = result;
	snprintf(c->out->reason, sizeof(c->out->reason), "%s", reason);
	int64_t start = time_of(kube_json_get_str(c->st, "startTime", NULL));
	c->out->duration_s = start >= 0 ? (double)(c->in->now_ms - start) / 1000.0 : 0;
	event(c, ok ? "Normal" : "Warning", reason, "%s", msg);
}

/* Appends one entry to status.history, keeping the last spec.retention.historyLimit. */
static void history(struct ctx *c, int attempt, const char *cls, const char *remediation,
		    const char *outcome, const char *reason, const char *msg)
{
	cJSON *h = cJSON_GetObjectItem(c->st, "history");
	if (!cJSON_IsArray(h)) {
		h = cJSON_CreateArray();
		set_item(c->st, "history", h);
	}
	cJSON *e = cJSON_CreateObject();
	if (!e)
		return;
	cJSON_AddNumberToObject(e, "attempt", attempt);
	cJSON_AddStringToObject(e, "job", kube_json_get_str(c->st, "job", NULL) ?
				kube_json_get_str(c->st, "job", NULL) : "");
	cJSON_AddStringToObject(e, "class", cls);
	cJSON_AddStringToObject(e, "remediation", remediation);
	cJSON_AddStringToObject(e, "outcome", outcome);
	if (reason && *reason)
		cJSON_AddStringToObject(e, "reason", reason);
	if (msg && *msg)
		cJSON_AddStringToObject(e, "message", msg);
	char ts[KUBE_TIME_LEN];
	cJSON_AddStringToObject(e, "finishedAt", kube_time_format(c->in->now_ms / 1000, ts,
								  sizeof(ts)));
	cJSON_AddItemToArray(h, e);
	int64_t lim = 10;
	kube_json_get_int(c->in->build, &lim, "spec", "retention", "historyLimit", NULL);
	if (lim < 1)
		lim = 1;
	while (cJSON_GetArraySize(h) > lim)
		cJSON_DeleteItemFromArray(h, 0);
}

/* ---- steps[] from the pod ---- */

static const cJSON *container_status(const cJSON *pod, const char *name)
{
	const char *lists[] = {"initContainerStatuses", "containerStatuses"};
	for (int l = 0; l < 2; l++) {
		const cJSON *cs;
		cJSON_ArrayForEach(cs, kube_json_get(pod, "status", lists[l], NULL))
			if (eq(kube_json_get_str(cs, "name", NULL), name))
				return cs;
	}
	return NULL;
}

/* Rebuilds status.steps for the attempt's Job from its pod, returns the current step's name
 * (the first not Succeeded) in *current. Reads each finished step's report into status. */
static void steps_from_pod(struct ctx *c, const char **current)
{
	const char *names[4];
	int n = phx_build_job_steps(c->in->build, names);
	const char *job = kube_json_get_str(c->st, "job", NULL);
	cJSON *arr = cJSON_CreateArray();
	if (!arr)
		return;
	*current = n > 0 ? names[0] : "";
	bool found = false;
	for (int i = 0; i < n; i++) {
		const cJSON *cs = container_status(c->in->pod, names[i]);
		cJSON *s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "name", names[i]);
		cJSON_AddStringToObject(s, "job", job ? job : "");
		cJSON_AddStringToObject(s, "container", names[i]);
		const cJSON *t = kube_json_get(cs, "state", "terminated", NULL);
		const cJSON *r = kube_json_get(cs, "state", "running", NULL);
		const char *ph = "Pending";
		if (t) {
			int64_t code = get_int(t, -1, "exitCode", NULL);
			ph = code == 0 ? "Succeeded" : "Failed";
			const char *sa = kube_json_get_str(t, "startedAt", NULL);
			const char *fa = kube_json_get_str(t, "finishedAt", NULL);
			if (sa)
				cJSON_AddStringToObject(s, "startTime", sa);
			if (fa)
				cJSON_AddStringToObject(s, "completionTime", fa);
			cJSON_AddNumberToObject(s, "exitCode", (double)code);
			struct phx_build_step_report rep;
			bool json = phx_build_step_report_parse(kube_json_get_str(t, "message", NULL),
							       &rep) == 0;
			const char *kr = kube_json_get_str(t, "reason", NULL);
			if (rep.reason[0])
				cJSON_AddStringToObject(s, "reason", rep.reason);
			else if (code != 0 && kr)
				cJSON_AddStringToObject(s, "reason", kr);
			if (rep.message[0])
				cJSON_AddStringToObject(s, json ? "message" : "logTail", rep.message);
			if (rep.build_system[0])
				set_str(c->st, "buildSystem", rep.build_system);
			if (rep.test_command[0])
				set_str(c->st, "testCommand", rep.test_command);
			if (rep.commit_sha[0])
				set_str(kube_json_ensure_obj(c->st, "source"), "commitSha",
					rep.commit_sha);
			if (rep.image[0]) {
				cJSON *o = kube_json_ensure_obj(c->st, "output");
				set_str(o, "image", rep.image);
				const char *at = strchr(rep.image, '@');
				set_str(o, "digest", at ? at + 1 : "");
			}
		} else if (r) {
			ph = "Running";
			const char *sa = kube_json_get_str(r, "startedAt", NULL);
			if (sa)
				cJSON_AddStringToObject(s, "startTime", sa);
		}
		cJSON_AddStringToObject(s, "phase", ph);
		if (!found && strcmp(ph, "Succeeded")) {
			*current = names[i];
			found = true;
		}
		if (!found && i == n - 1)
			*current = names[i];
		cJSON_AddItemToArray(arr, s);
	}
	set_item(c->st, "steps", arr);
}

/* ---- stages ---- */

static int64_t attempt_of(struct ctx *c)
{
	return get_int(c->st, 1, "attempt", NULL);
}

static void logs_hint(struct ctx *c, const char *step, char *buf, size_t len)
{
	const char *job = kube_json_get_str(c->st, "job", NULL);
	if (job && *job)
		snprintf(buf, len, "kubectl logs -n %s job/%s -c %s", c->ns, job,
			 step && *step ? step : "test");
	else
		snprintf(buf, len, "kubectl describe build -n %s %s", c->ns, c->name);
}

/* The Job of run `run`, with the remediation factors kept in status.retry, as the effect. */
static int job_effect(struct ctx *c, int64_t run, const cJSON *retry)
{
	struct phx_build_job_opts o = {
		.run = (int)run, .attempt = (int)attempt_of(c),
		.memory_factor = (int)get_int(retry, 1, "memoryFactor", NULL),
		.deadline_factor = (int)get_int(retry, 1, "deadlineFactor", NULL),
	};
	c->out->job = phx_build_job_new(c->in->build, &o);
	if (!c->out->job)
		return KUBE_ENOMEM;
	c->out->effect = PHX_BUILD_EFFECT_CREATE_JOB;
	return 0;
}

static int create_job(struct ctx *c)
{
	int64_t run = get_int(c->st, 0, "run", NULL) + 1;
	cJSON *retry = kube_json_ensure_obj(c->st, "retry");
	if (job_effect(c, run, retry) < 0)
		return KUBE_ENOMEM;
	phx_build_job_name(c->name, (int)run, c->out->job_name, sizeof(c->out->job_name));
	set_num(c->st, "run", (double)run);
	set_str(c->st, "job", c->out->job_name);
	set_time(c->st, "jobCreatedAt", c->in->now_ms);
	set_str(c->st, "phase", "Running");
	const char *names[4];
	set_str(c->st, "step", phx_build_job_steps(c->in->build, names) > 0 ? names[0] : "");
	set_item(c->st, "steps", cJSON_CreateArray());
	char msg[256];
	snprintf(msg, sizeof(msg), "attempt %lld: Job %s", (long long)attempt_of(c),
		 c->out->job_name);
	cond(c, PHX_BUILD_COND_SUCCEEDED, "Unknown", "Running", msg);
	event(c, "Normal", "AttemptStarted", "attempt %lld started: Job %s (memory x%d, deadline "
	      "x%d)", (long long)attempt_of(c), c->out->job_name,
	      (int)get_int(retry, 1, "memoryFactor", NULL),
	      (int)get_int(retry, 1, "deadlineFactor", NULL));
	return 0;
}

/* The image to deploy once the attempt succeeded (or a prebuilt one). */
static const char *deploy_image(struct ctx *c)
{
	const char *img = kube_json_get_str(c->st, "output", "image", NULL);
	return img && *img ? img : NULL;
}

static const char *service_image(const cJSON *svc)
{
	const cJSON *cs = cJSON_GetArrayItem(kube_json_get(svc, "spec", "template", "spec",
							   "containers", NULL), 0);
	return kube_json_get_str(cs, "image", NULL);
}

static bool job_finished(const cJSON *job);
static int64_t job_finished_at(const cJSON *job);

/* The PhoenixService's status.registration (a merge patch for its /status): who registered
 * which image when. Its own controller merge-patches only the fields it knows, so this stays
 * (docs/design-decisions.md, "Registration on the PhoenixService"). */
static cJSON *registration(struct ctx *c, const char *image)
{
	cJSON *p = cJSON_CreateObject();
	cJSON *r = cJSON_AddObjectToObject(cJSON_AddObjectToObject(p, "status"), "registration");
	cJSON_AddTrueToObject(r, "registered");
	char by[160], ts[KUBE_TIME_LEN];
	snprintf(by, sizeof(by), "%s", c->name);
	cJSON_AddStringToObject(r, "build", by);
	cJSON_AddStringToObject(r, "image", image);
	cJSON_AddStringToObject(r, "registeredAt", kube_time_format(c->in->now_ms / 1000, ts,
								     sizeof(ts)));
	const char *v = kube_json_get_str(c->st, "verify", "message", NULL);
	if (v && *v)
		cJSON_AddStringToObject(r, "verified", v);
	return p;
}

/* Puts the PhoenixService back on prev (the image it ran before this Build's deploy). */
static void rollback_to(struct ctx *c, const char *prev)
{
	cJSON *p = phx_build_service_new(c->in->build, prev);
	cJSON_DeleteItemFromObject(kube_json_ensure_obj(p, "metadata"), "ownerReferences");
	c->out->service = p;
	c->out->effect = PHX_BUILD_EFFECT_ROLLBACK;
	c->out->rolled_back = true;
}

/* The verify Job once the PhoenixService is Available: true when it passed (or verify is off:
 * spec.verify.enabled false), so register may go on; false while it runs or after it failed
 * (the Build ends VerifyFailed naming the endpoint). */
static bool verify_stage(struct ctx *c, const char *svc, const char *image)
{
	const cJSON *en = kube_json_get(c->in->build, "spec", "verify", "enabled", NULL);
	if (cJSON_IsFalse(en))
		return true;
	cJSON *v = kube_json_ensure_obj(c->st, "verify");
	if (eq(kube_json_get_str(v, "phase", NULL), "Succeeded"))
		return true;
	const char *job = kube_json_get_str(v, "job", NULL);
	set_str(c->st, "step", "verify");
	if (!job || !*job || !c->in->verify_job) {
		int64_t since = time_of(kube_json_get_str(v, "startTime", NULL));
		if (job && *job && since >= 0 && c->in->now_ms - since < PHX_BUILD_JOB_LOST_MS) {
			c->out->requeue_ms = PHX_BUILD_JOB_LOST_MS;
			return false; /* made, not in the cache yet */
		}
		int64_t run = job && *job ? get_int(v, 1, "run", NULL)
					  : get_int(c->st, 0, "run", NULL) + 1;
		c->out->job = phx_build_verify_job_new(c->in->build, (int)run);
		if (!c->out->job)
			return false;
		c->out->effect = PHX_BUILD_EFFECT_CREATE_VERIFY_JOB;
		phx_build_job_name(c->name, (int)run, c->out->job_name, sizeof(c->out->job_name));
		c->out->requeue_ms = PHX_BUILD_JOB_LOST_MS;
		if (job && *job)
			return false; /* lost: the same name again (AlreadyExists = only the cache) */
		set_num(c->st, "run", (double)run);
		set_str(v, "job", c->out->job_name);
		set_num(v, "run", (double)run);
		set_str(v, "phase", "Running");
		set_time(v, "startTime", c->in->now_ms);
		char msg[512];
		snprintf(msg, sizeof(msg), "verifying the contract endpoints of %s through Service "
			 "%s: Job %s", image, svc, c->out->job_name);
		cond(c, PHX_BUILD_COND_SUCCEEDED, "Unknown", "Running", msg);
		event(c, "Normal", "Verifying", "%s", msg);
		return false;
	}
	if (!job_finished(c->in->verify_job))
		return false;
	const char *pph = kube_json_get_str(c->in->verify_pod, "status", "phase", NULL);
	int64_t fin = job_finished_at(c->in->verify_job);
	if (!eq(pph, "Succeeded") && !eq(pph, "Failed") && fin >= 0 &&
	    c->in->now_ms - fin < PHX_BUILD_POD_LAG_MS) {
		c->out->requeue_ms = 1000; /* the pod's termination message says which endpoint */
		return false;
	}
	const cJSON *cs = container_status(c->in->verify_pod, "verify");
	const cJSON *t = kube_json_get(cs, "state", "terminated", NULL);
	struct phx_build_step_report rep;
	phx_build_step_report_parse(kube_json_get_str(t, "message", NULL), &rep);
	bool ok = false;
	const cJSON *e;
	cJSON_ArrayForEach(e, kube_json_get(c->in->verify_job, "status", "conditions", NULL))
		if (eq(kube_json_get_str(e, "type", NULL), "Complete") &&
		    eq(kube_json_get_str(e, "status", NULL), "True"))
			ok = true;
	set_time(v, "completionTime", c->in->now_ms);
	int64_t st = time_of(kube_json_get_str(v, "startTime", NULL));
	if (st >= 0)
		set_num(v, "durationMs", (double)(c->in->now_ms - st));
	if (ok) {
		set_str(v, "phase", "Succeeded");
		set_str(v, "message", rep.message[0] ? rep.message : "the verify Job succeeded");
		return true;
	}
	set_str(v, "phase", "Failed");
	char msg[1024];
	if (rep.message[0]) {
		set_str(v, "message", rep.message);
		snprintf(msg, sizeof(msg), "%.640s; kubectl logs -n %s job/%s -c verify", rep.message,
			 c->ns, job);
	} else {
		const char *why = NULL;
		cJSON_ArrayForEach(e, kube_json_get(c->in->verify_job, "status", "conditions", NULL))
			if (eq(kube_json_get_str(e, "type", NULL), "Failed"))
				why = kube_json_get_str(e, "reason", NULL);
		snprintf(msg, sizeof(msg), "the verify Job %s failed (%s) before it could report "
			 "an endpoint; kubectl describe job -n %s %s", job, why ? why : "Failed",
			 c->ns, job);
		set_str(v, "message", msg);
	}
	/* A redeploy that fails its contract goes back to the image that ran before (verified
	 * then, or it would not have been registered); a first deployment stays up unregistered,
	 * for its logs. */
	const char *prev = kube_json_get_str(c->st, "previousImage", NULL);
	if (prev && *prev) {
		rollback_to(c, prev);
		size_t n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, "; rolled back to %.200s", prev);
	}
	history(c, (int)attempt_of(c), "VerifyFailed", "None", "Failed", "VerifyFailed", msg);
	finish(c, "Failed", "VerifyFailed", msg);
	return false;
}

static void deploy_stage(struct ctx *c)
{
	const char *image = deploy_image(c);
	const char *svc = kube_json_get_str(c->in->build, "spec", "serviceName", NULL);
	snprintf(c->out->service_name, sizeof(c->out->service_name), "%s", svc ? svc : "");
	if (!image) {
		char hint[256];
		logs_hint(c, "image", hint, sizeof(hint));
		char msg[512];
		snprintf(msg, sizeof(msg), "the image step reported no image (name@sha256:digest); "
			 "see %s", hint);
		finish(c, "Failed", "ImageBuildFailed", msg);
		return;
	}
	/* The Deploy gate. */
	const char *mode = kube_json_get_str(c->in->build, "spec", "approvalMode", NULL);
	if (mode && strcmp(mode, "auto")) {
		const char *dec = kube_json_get_str(c->in->approval, "spec", "decision", NULL);
		const char *who = kube_json_get_str(c->in->approval, "spec", "approver", NULL);
		const char *why = kube_json_get_str(c->in->approval, "spec", "reason", NULL);
		char msg[768];
		snprintf(msg, sizeof(msg), "%s%s%s", who && *who ? who : "", who && *who ? ": " : "",
			 why ? why : "");
		if (eq(dec, "Deny")) {
			cond(c, PHX_BUILD_COND_DEPLOY_APPROVED, "False", "Denied", msg);
			finish(c, "Failed", "Denied", msg);
			return;
		}
		if (!eq(dec, "Approve")) {
			if (!eq(phase(c), "AwaitingApproval"))
				event(c, "Normal", "AwaitingApproval",
				      "approvalMode %s: waiting for an Approval with gate Deploy "
				      "(kubectl phoenix approve build/%s)", mode, c->name);
			set_str(c->st, "phase", "AwaitingApproval");
			set_str(c->st, "step", "approve");
			snprintf(msg, sizeof(msg), "approvalMode %s: waiting for an Approval with gate "
				 "Deploy: kubectl phoenix approve build/%s -n %s", mode, c->name, c->ns);
			cond(c, PHX_BUILD_COND_DEPLOY_APPROVED, "False", "Pending", msg);
			cond(c, PHX_BUILD_COND_SUCCEEDED, "Unknown", "AwaitingApproval", msg);
			return;
		}
		cond(c, PHX_BUILD_COND_DEPLOY_APPROVED, "True", "Approved", msg);
	} else {
		cond(c, PHX_BUILD_COND_DEPLOY_APPROVED, "True", "Auto", "approvalMode auto");
	}

	int64_t deployed = time_of(kube_json_get_str(c->st, "deployedAt", NULL));
	int64_t timeout_s = 30;
	kube_json_get_int(c->in->build, &timeout_s, "spec", "deploy", "healthTimeoutSeconds", NULL);
	if (deployed < 0) {
		/* The image it runs, or (it runs ours already: this deploy was written but its
		 * status was not) the one our deploy recorded on it. */
		const char *prev = service_image(c->in->service);
		if (eq(prev, image))
			prev = kube_json_get_str(c->in->service, "metadata", "annotations",
						 PHX_ANN_PREVIOUS_IMAGE, NULL);
		if (prev && *prev && strcmp(prev, image))
			set_str(c->st, "previousImage", prev);
		else
			cJSON_DeleteItemFromObject(c->st, "previousImage");
		c->out->effect = PHX_BUILD_EFFECT_DEPLOY;
		c->out->service_exists = c->in->service != NULL;
		c->out->service = phx_build_service_new(c->in->build, image);
		cJSON *ann = kube_json_ensure_obj(kube_json_ensure_obj(c->out->service, "metadata"),
						  "annotations");
		const char *kept = kube_json_get_str(c->st, "previousImage", NULL);
		if (kept)
			kube_json_set_str(ann, PHX_ANN_PREVIOUS_IMAGE, kept);
		else if (c->in->service)
			cJSON_AddNullToObject(ann, PHX_ANN_PREVIOUS_IMAGE); /* merge patch: remove */
		else
			cJSON_DeleteItemFromObject(kube_json_ensure_obj(c->out->service, "metadata"),
						   "annotations");
		if (c->in->service) {
			/* A patch: keep the owner references and whatever else is there. */
			cJSON_DeleteItemFromObject(kube_json_ensure_obj(c->out->service, "metadata"),
						   "ownerReferences");
		}
		set_time(c->st, "deployedAt", c->in->now_ms);
		set_str(kube_json_ensure_obj(c->st, "serviceRef"), "name", svc);
		set_str(c->st, "phase", "Deploying");
		set_str(c->st, "step", "deploy");
		char msg[768];
		snprintf(msg, sizeof(msg), "deploying %s as PhoenixService %s", image, svc);
		cond(c, PHX_BUILD_COND_SUCCEEDED, "Unknown", "Running", msg);
		event(c, "Normal", "Deploying", "%s%s%s", msg, prev && strcmp(prev, image) ?
		      ", previous image " : "", prev && strcmp(prev, image) ? prev : "");
		c->out->requeue_ms = timeout_s * 1000;
		return;
	}
	if (phx_build_service_available(c->in->service, image)) {
		if (!verify_stage(c, svc, image))
			return;
		cJSON *p = cJSON_CreateObject();
		cJSON *md = cJSON_AddObjectToObject(p, "metadata");
		cJSON_AddStringToObject(cJSON_AddObjectToObject(md, "labels"), PHX_LABEL_REGISTERED,
					"true");
		c->out->service = p;
		c->out->service_status = registration(c, image);
		c->out->effect = PHX_BUILD_EFFECT_REGISTER;
		cJSON_DeleteItemFromObject(c->st, "registered");
		cJSON_AddTrueToObject(c->st, "registered");
		set_str(c->st, "step", "register");
		char msg[768];
		snprintf(msg, sizeof(msg), "PhoenixService %s is Available with %s and registered",
			 svc, image);
		finish(c, "Succeeded", "Succeeded", msg);
		return;
	}
	int64_t left = deployed + timeout_s * 1000 - c->in->now_ms;
	if (left > 0) {
		if (!eq(kube_json_get_str(c->st, "step", NULL), "health"))
			event(c, "Normal", "HealthCheck", "waiting up to %llds for PhoenixService %s "
			      "to be Available", (long long)(left / 1000), svc);
		set_str(c->st, "step", "health");
		c->out->requeue_ms = left;
		return;
	}
	const char *prev = kube_json_get_str(c->st, "previousImage", NULL);
	char msg[768];
	if (prev && *prev) {
		rollback_to(c, prev);
		snprintf(msg, sizeof(msg), "PhoenixService %s was not Available within %llds with %s; "
			 "rolled back to %s; kubectl describe phx -n %s %s", svc,
			 (long long)timeout_s, image, prev, c->ns, svc);
		finish(c, "Failed", "RolledBack", msg);
	} else {
		c->out->effect = PHX_BUILD_EFFECT_TAKE_DOWN;
		snprintf(msg, sizeof(msg), "PhoenixService %s was not Available within %llds with %s "
			 "(its first deployment: taken down); kubectl logs -n %s -l %s=%s", svc,
			 (long long)timeout_s, image, c->ns, PHX_LABEL_SERVICE, svc);
		finish(c, "Failed", "HealthTimeout", msg);
	}
}

static bool job_finished(const cJSON *job)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, kube_json_get(job, "status", "conditions", NULL)) {
		const char *t = kube_json_get_str(e, "type", NULL);
		if ((eq(t, "Complete") || eq(t, "Failed")) &&
		    eq(kube_json_get_str(e, "status", NULL), "True"))
			return true;
	}
	return false;
}

/* When the Job says it finished: its Complete/Failed condition's time, else -1. */
static int64_t job_finished_at(const cJSON *job)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, kube_json_get(job, "status", "conditions", NULL)) {
		const char *t = kube_json_get_str(e, "type", NULL);
		if ((eq(t, "Complete") || eq(t, "Failed")) &&
		    eq(kube_json_get_str(e, "status", NULL), "True"))
			return time_of(kube_json_get_str(e, "lastTransitionTime", NULL));
	}
	return -1;
}

static int job_stage(struct ctx *c)
{
	const char *job = kube_json_get_str(c->st, "job", NULL);
	cJSON *retry = kube_json_ensure_obj(c->st, "retry");
	if (!job || !*job) {
		int64_t at = time_of(kube_json_get_str(retry, "nextAttemptAt", NULL));
		if (at > c->in->now_ms) {
			c->out->requeue_ms = at - c->in->now_ms;
			return 0;
		}
		return create_job(c);
	}
	if (!c->in->job) {
		/* Made but not seen yet (the cache), or deleted: create it again under the same
		 * name after a moment; AlreadyExists means it was only the cache. */
		int64_t since = time_of(kube_json_get_str(c->st, "jobCreatedAt", NULL));
		if (since >= 0 && c->in->now_ms - since < PHX_BUILD_JOB_LOST_MS) {
			c->out->requeue_ms = PHX_BUILD_JOB_LOST_MS;
			return 0;
		}
		if (job_effect(c, get_int(c->st, 1, "run", NULL), retry) < 0)
			return KUBE_ENOMEM;
		snprintf(c->out->job_name, sizeof(c->out->job_name), "%s", job);
		c->out->requeue_ms = PHX_BUILD_JOB_LOST_MS;
		return 0;
	}
	const char *cur = "";
	steps_from_pod(c, &cur);
	struct phx_build_verdict v;
	if (!c->in->pod && !job_finished(c->in->job)) {
		set_str(c->st, "step", cur);
		return 0;
	}
	const char *pph = kube_json_get_str(c->in->pod, "status", "phase", NULL);
	int64_t fin = job_finished_at(c->in->job);
	if (fin >= 0 && !eq(pph, "Succeeded") && !eq(pph, "Failed") &&
	    c->in->now_ms - fin < PHX_BUILD_POD_LAG_MS) {
		/* The Job finished but its pod's last state is not seen yet: the pod tells why. */
		c->out->requeue_ms = 1000;
		return 0;
	}
	phx_build_classify(c->in->pod, c->in->job, c->in->now_ms, c->in->pull_fail_after_ms, &v);
	const char *old_step = kube_json_get_str(c->old, "step", NULL);
	if (v.cls == PHX_BUILD_CLASS_RUNNING) {
		if (!eq(old_step, cur))
			event(c, "Normal", "StepStarted", "step %s started (attempt %lld, Job %s)", cur,
			      (long long)attempt_of(c), job);
		set_str(c->st, "step", cur);
		if (v.pending_ms > 0) {
			int64_t bound = c->in->pull_fail_after_ms > 0 ? c->in->pull_fail_after_ms
								     : PHX_BUILD_PULL_FAIL_AFTER_MS_DEFAULT;
			c->out->requeue_ms = bound - v.pending_ms > 1000 ? bound - v.pending_ms : 1000;
		}
		return 0;
	}
	if (v.cls == PHX_BUILD_CLASS_SUCCEEDED) {
		history(c, (int)attempt_of(c), "Succeeded", "None", "Succeeded", NULL, NULL);
		if (!deploy_image(c)) {
			/* No digest from the image step (e.g. a scripted one): the pushed tag. */
			char target[PHX_BUILD_TARGET_MAX];
			phx_build_target_image(c->in->build, target, sizeof(target));
			set_str(kube_json_ensure_obj(c->st, "output"), "image", target);
		}
		set_str(c->st, "phase", "Deploying");
		deploy_stage(c);
		return 0;
	}
	struct phx_build_history h = {
		.attempt = (int)attempt_of(c),
		.max_attempts = (int)get_int(kube_json_get(c->in->build, "spec", "retry", NULL), 3,
					     "maxAttempts", NULL),
		.tests_failed = (int)get_int(retry, 0, "testsFailed", NULL),
		.uncounted = (int)get_int(retry, 0, "uncounted", NULL),
	};
	struct phx_build_decision d;
	phx_build_decide(&v, &h, &d);
	const char *cls = phx_build_class_name(v.cls);
	char hint[256], msg[1024];
	logs_hint(c, v.step[0] ? v.step : cur, hint, sizeof(hint));
	set_str(c->st, "step", v.step[0] ? v.step : cur);
	if (d.action == PHX_BUILD_FAIL) {
		snprintf(msg, sizeof(msg), "attempt %d: %s; %s", h.attempt, v.message, hint);
		history(c, h.attempt, cls, "None", "Failed", d.fail_reason, v.message);
		finish(c, "Failed", d.fail_reason, msg);
		return 0;
	}
	/* RETRY */
	history(c, h.attempt, cls, d.remediation, "Retried", v.reason, v.message);
	set_str(retry, "lastClass", cls);
	if (v.cls == PHX_BUILD_CLASS_TESTS_FAILED)
		set_num(retry, "testsFailed", h.tests_failed + 1);
	if (!d.counts)
		set_num(retry, "uncounted", h.uncounted + 1);
	int64_t mf = get_int(retry, 1, "memoryFactor", NULL) * (d.memory_factor > 1 ? 2 : 1);
	int64_t df = get_int(retry, 1, "deadlineFactor", NULL) * (d.deadline_factor > 1 ? 2 : 1);
	set_num(retry, "memoryFactor", (double)(mf > 16 ? 16 : mf));
	set_num(retry, "deadlineFactor", (double)(df > 16 ? 16 : df));
	set_num(retry, "delaySeconds", (double)(d.delay_ms / 1000));
	set_time(retry, "nextAttemptAt", c->in->now_ms + d.delay_ms);
	if (d.counts)
		set_num(c->st, "attempt", h.attempt + 1);
	set_str(c->st, "job", "");
	set_str(c->st, "phase", "Retrying");
	snprintf(msg, sizeof(msg), "attempt %d failed (%s): %s; retrying in %llds (%s); %s",
		 h.attempt, cls, v.message, (long long)(d.delay_ms / 1000), d.remediation, hint);
	cond(c, PHX_BUILD_COND_SUCCEEDED, "Unknown", "Retrying", msg);
	event(c, "Warning", "Retrying", "%s", msg);
	c->out->retry_class = cls;
	c->out->requeue_ms = d.delay_ms;
	return 0;
}

int phx_build_plan(const struct phx_build_input *in, struct phx_build_plan *out)
{
	if (!out)
		return KUBE_EINVAL;
	memset(out, 0, sizeof(*out));
	if (!in || !in->build)
		return KUBE_EINVAL;
	struct ctx c = { .in = in, .out = out };
	c.old = kube_json_get(in->build, "status", NULL);
	c.name = kube_json_name(in->build);
	c.ns = kube_json_namespace(in->build);
	if (!c.name || !c.ns)
		return KUBE_EINVAL;
	c.gen = get_int(in->build, 1, "metadata", "generation");
	c.st = cJSON_IsObject(c.old) ? cJSON_Duplicate(c.old, 1) : cJSON_CreateObject();
	if (!c.st)
		return KUBE_ENOMEM;
	int rc = 0;
	bool cancelled = eq(kube_json_get_str(in->build, "spec", "state", NULL), "Cancelled");
	bool job_active = in->job && !job_finished(in->job) &&
			  !kube_json_get(in->job, "metadata", "deletionTimestamp", NULL);

	if (get_int(c.st, 0, "seriesGeneration", NULL) != c.gen) {
		/* A new generation: a new attempt series (the old one's Job stops). */
		if (job_active) {
			out->effect = PHX_BUILD_EFFECT_DELETE_JOB;
			snprintf(out->job_name, sizeof(out->job_name), "%s", kube_json_name(in->job));
			job_active = false;
		}
		set_num(c.st, "seriesGeneration", (double)c.gen);
		set_num(c.st, "attempt", 1);
		set_str(c.st, "job", "");
		cJSON *retry = cJSON_CreateObject();
		int lmf = in->learned_memory_factor, ldf = in->learned_deadline_factor;
		cJSON_AddNumberToObject(retry, "memoryFactor", lmf > 1 ? (lmf > 16 ? 16 : lmf) : 1);
		cJSON_AddNumberToObject(retry, "deadlineFactor", ldf > 1 ? (ldf > 16 ? 16 : ldf) : 1);
		if ((lmf > 1 || ldf > 1) && in->learned_from)
			cJSON_AddStringToObject(retry, "learnedFrom", in->learned_from);
		set_item(c.st, "retry", retry);
		set_item(c.st, "steps", cJSON_CreateArray());
		const char *keep[] = {"completionTime", "deployedAt", "output", "registered",
				      "previousImage", "buildSystem", "testCommand", "source",
				      "verify"};
		for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
			cJSON_DeleteItemFromObject(c.st, keep[i]);
		cJSON_DeleteItemFromObject(c.st, "conditions");
		set_time(c.st, "startTime", in->now_ms);
		set_str(c.st, "phase", "Pending");
		set_str(c.st, "step", "");
		cond(&c, PHX_BUILD_COND_SUCCEEDED, "Unknown", "Pending", "starting");
		in = c.in;
		/* the Job belongs to the old series from here on */
		struct phx_build_input fresh = *in;
		fresh.job = NULL;
		fresh.pod = NULL;
		c.in = &fresh;
		set_num(c.st, "observedGeneration", (double)c.gen);
		char msg[512];
		if (!phx_build_spec_valid(in->build, msg, sizeof(msg))) {
			finish(&c, "Failed", "InvalidSpec", msg);
		} else if (cancelled) {
			finish(&c, "Cancelled", "Cancelled", "spec.state is Cancelled");
		} else if (out->effect == PHX_BUILD_EFFECT_NONE) {
			if (phx_build_kind_of(in->build) == PHX_BUILD_KIND_PREBUILT) {
				set_str(kube_json_ensure_obj(c.st, "output"), "image",
					kube_json_get_str(in->build, "spec", "image", "name", NULL));
				set_str(c.st, "phase", "Deploying");
				deploy_stage(&c);
			} else {
				rc = job_stage(&c);
			}
		} else {
			out->requeue_ms = 1000;
		}
		c.in = in;
		goto done;
	}
	set_num(c.st, "observedGeneration", (double)c.gen);
	const char *p = phase(&c);
	if (eq(p, "Succeeded") || eq(p, "Failed") || eq(p, "Cancelled")) {
		/* Frozen. A cancelled Build's Job is still deleted if it runs. */
		if (cancelled && job_active) {
			out->effect = PHX_BUILD_EFFECT_DELETE_JOB;
			snprintf(out->job_name, sizeof(out->job_name), "%s", kube_json_name(in->job));
		}
		goto done;
	}
	if (cancelled) {
		if (job_active) {
			out->effect = PHX_BUILD_EFFECT_DELETE_JOB;
			snprintf(out->job_name, sizeof(out->job_name), "%s", kube_json_name(in->job));
		}
		finish(&c, "Cancelled", "Cancelled", job_active ?
		       "spec.state is Cancelled: the running Job was deleted" :
		       "spec.state is Cancelled");
		goto done;
	}
	if (eq(p, "Deploying") || eq(p, "AwaitingApproval"))
		deploy_stage(&c);
	else
		rc = job_stage(&c);
done:
	if (rc < 0) {
		cJSON_Delete(c.st);
		phx_build_plan_release(out);
		return rc;
	}
	if (c.old && cJSON_Compare(c.old, c.st, 1))
		cJSON_Delete(c.st);
	else
		out->status = c.st;
	return 0;
}

void phx_build_plan_release(struct phx_build_plan *p)
{
	if (!p)
		return;
	cJSON_Delete(p->job);
	cJSON_Delete(p->service);
	cJSON_Delete(p->status);
	cJSON_Delete(p->service_status);
	p->job = p->service = p->status = p->service_status = NULL;
}

cJSON *phx_build_service_new(const cJSON *build, const char *image)
{
	const char *svc = kube_json_get_str(build, "spec", "serviceName", NULL);
	if (!svc || !image)
		return NULL;
	int64_t port = 8080, standbys = 2; /* the CRD default: 1 + 2 */
	kube_json_get_int(build, &port, "spec", "deploy", "port", NULL);
	kube_json_get_int(build, &standbys, "spec", "deploy", "standbys", NULL);
	char ports[16];
	snprintf(ports, sizeof(ports), "%lld", (long long)port);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "apiVersion", PHX_API_VERSION);
	cJSON_AddStringToObject(o, "kind", PHX_KIND);
	cJSON *md = cJSON_AddObjectToObject(o, "metadata");
	cJSON_AddStringToObject(md, "name", svc);
	cJSON_AddStringToObject(md, "namespace", kube_json_namespace(build) ?
				kube_json_namespace(build) : "default");
	cJSON *l = cJSON_AddObjectToObject(md, "labels");
	cJSON_AddStringToObject(l, PHX_BUILD_LABEL, kube_json_name(build) ?
				kube_json_name(build) : "");
	const char *intent = kube_json_get_str(build, "spec", "intentRef", "name", NULL);
	if (intent && *intent)
		cJSON_AddStringToObject(l, PHX_LABEL_INTENT, intent);
	cJSON_AddItemToObject(md, "ownerReferences",
			      phx_owner_refs_new(build, PHX_API_VERSION, PHX_BUILD_KIND));
	cJSON *spec = cJSON_AddObjectToObject(o, "spec");
	cJSON_AddNumberToObject(spec, "standbys", (double)standbys);
	cJSON *hb = cJSON_AddObjectToObject(spec, "heartbeat");
	cJSON_AddStringToObject(hb, "path", "/health");
	cJSON_AddStringToObject(hb, "port", "http");
	cJSON *sv = cJSON_AddObjectToObject(spec, "service");
	cJSON *sp = cJSON_AddArrayToObject(sv, "ports");
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "name", "http");
	cJSON_AddNumberToObject(p, "port", (double)port);
	cJSON_AddStringToObject(p, "targetPort", "http");
	cJSON_AddItemToArray(sp, p);
	cJSON *tpl = cJSON_AddObjectToObject(spec, "template");
	cJSON *tl = cJSON_AddObjectToObject(cJSON_AddObjectToObject(tpl, "metadata"), "labels");
	cJSON_AddStringToObject(tl, "app.kubernetes.io/name", svc);
	cJSON *cs = cJSON_AddArrayToObject(cJSON_AddObjectToObject(tpl, "spec"), "containers");
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "name", "service");
	cJSON_AddStringToObject(c, "image", image);
	cJSON *env = cJSON_AddArrayToObject(c, "env");
	cJSON *e1 = cJSON_CreateObject();
	cJSON_AddStringToObject(e1, "name", "PORT");
	cJSON_AddStringToObject(e1, "value", ports);
	cJSON_AddItemToArray(env, e1);
	cJSON *e2 = cJSON_CreateObject();
	cJSON_AddStringToObject(e2, "name", "POD_IP");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(e2, "valueFrom"),
							"fieldRef"), "fieldPath", "status.podIP");
	cJSON_AddItemToArray(env, e2);
	cJSON *cp = cJSON_AddArrayToObject(c, "ports");
	cJSON *cpp = cJSON_CreateObject();
	cJSON_AddStringToObject(cpp, "name", "http");
	cJSON_AddNumberToObject(cpp, "containerPort", (double)port);
	cJSON_AddItemToArray(cp, cpp);
	const cJSON *res = kube_json_get(build, "spec", "deploy", "resources", NULL);
	if (cJSON_IsObject(res))
		cJSON_AddItemToObject(c, "resources", cJSON_Duplicate(res, 1));
	cJSON_AddItemToArray(cs, c);
	return o;
}

bool phx_build_service_available(const cJSON *svc, const char *image)
{
	if (!svc || !image || !eq(service_image(svc), image))
		return false;
	int64_t gen = 0, obs = -1;
	kube_json_get_int(svc, &gen, "metadata", "generation", NULL);
	kube_json_get_int(svc, &obs, "status", "observedGeneration", NULL);
	/* Available alone can be the old primary still serving while the new one cannot start:
	 * the primary must run the spec's revision too. */
	const char *cur = kube_json_get_str(svc, "status", "currentRevision", NULL);
	const char *upd = kube_json_get_str(svc, "status", "updateRevision", NULL);
	if ((cur || upd) && !(eq(cur, upd) && *cur))
		return false;
	return obs >= gen && eq(cond_status(kube_json_get(svc, "status", NULL), PHX_COND_AVAILABLE),
				"True");
}
