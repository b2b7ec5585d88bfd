/* Build attempt classification from pod/Job status and the retry policy (phx_build_classify.h). */
#include "build/phx_build_classify.h"

#include <stdio.h>
#include <string.h>

#include "kube_error.h"
#include "kube_json.h"
#include "kube_time.h"

static const char *const disruption_reasons[] = { "Evicted", "NodeLost", "Terminated",
						  "Shutdown", "NodeShutdown" };
static const char *const pull_reasons[] = { "ErrImagePull", "ImagePullBackOff",
					    "RegistryUnavailable" };
static const char *const bad_image_reasons[] = { "InvalidImageName", "ErrImageNeverPull" };

/* Step reasons phoenix-build (or a custom step image) may report, kept as the Build reason. */
static const char *const step_reasons[] = { "SourceFetchFailed", "GenerateFailed",
					    "ImageBuildFailed", "PushFailed", "InvalidSpec" };

#define N(a) (sizeof(a) / sizeof((a)[0]))

const char *phx_build_class_name(enum phx_build_class c)
{
	switch (c) {
	case PHX_BUILD_CLASS_RUNNING: return "Running";
	case PHX_BUILD_CLASS_SUCCEEDED: return "Succeeded";
	case PHX_BUILD_CLASS_OOM: return "OOMKilled";
	case PHX_BUILD_CLASS_DEADLINE: return "DeadlineExceeded";
	case PHX_BUILD_CLASS_IMAGE_PULL: return "ImagePull";
	case PHX_BUILD_CLASS_INVALID_INPUT: return "InvalidInput";
	case PHX_BUILD_CLASS_NO_BUILD_SYSTEM: return "NoBuildSystem";
	case PHX_BUILD_CLASS_TESTS_FAILED: return "TestsFailed";
	case PHX_BUILD_CLASS_DISRUPTED: return "Disrupted";
	case PHX_BUILD_CLASS_STEP_FAILED: return "StepFailed";
	}
	return "";
}

static const char *in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return list[i];
	return NULL;
}

static void set(struct phx_build_verdict *v, enum phx_build_class cls, const char *reason,
		const char *step)
{
	v->cls = cls;
	v->reason = reason;
	snprintf(v->step, sizeof(v->step), "%s", step ? step : "");
}

/* The condition of `type` with status "True" in obj.status.conditions, or NULL. */
static const cJSON *true_condition(const cJSON *obj, const char *type)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, kube_json_get(obj, "status", "conditions", NULL)) {
		const char *t = kube_json_get_str(c, "type", NULL);
		const char *s = kube_json_get_str(c, "status", NULL);
		if (t && s && !strcmp(t, type) && !strcmp(s, "True"))
			return c;
	}
	return NULL;
}

static bool deadline(const cJSON *pod, const cJSON *job, struct phx_build_verdict *v)
{
	const cJSON *failed = true_condition(job, "Failed");
	const char *jr = kube_json_get_str(failed, "reason", NULL);
	const char *pr = kube_json_get_str(pod, "status", "reason", NULL);
	bool by_job = jr && !strcmp(jr, "DeadlineExceeded");
	if (!by_job && !(pr && !strcmp(pr, "DeadlineExceeded")))
		return false;
	set(v, PHX_BUILD_CLASS_DEADLINE, "DeadlineExceeded", NULL);
	snprintf(v->message, sizeof(v->message), "the %s ran past its activeDeadlineSeconds",
		 by_job ? "Job" : "pod");
	return true;
}

static bool disrupted(const cJSON *pod, struct phx_build_verdict *v)
{
	const cJSON *dt = true_condition(pod, "DisruptionTarget");
	const char *pr = in_list(kube_json_get_str(pod, "status", "reason", NULL),
				 disruption_reasons, N(disruption_reasons));
	if (!dt && !pr)
		return false;
	const char *why = dt ? kube_json_get_str(dt, "reason", NULL) : pr;
	const char *msg = dt ? kube_json_get_str(dt, "message", NULL)
			     : kube_json_get_str(pod, "status", "message", NULL);
	set(v, PHX_BUILD_CLASS_DISRUPTED, "", NULL);
	snprintf(v->message, sizeof(v->message), "the pod was disrupted (%.64s)%s%.300s",
		 why ? why : "DisruptionTarget", msg ? ": " : "", msg ? msg : "");
	return true;
}

/* The one-word reason in a step's JSON termination message, or NULL. */
static const char *message_reason(const char *tm, char *buf, size_t cap)
{
	cJSON *j = tm ? cJSON_Parse(tm) : NULL;
	const char *r = kube_json_get_str(j, "reason", NULL);
	if (r)
		snprintf(buf, cap, "%s", r);
	cJSON_Delete(j);
	return r ? buf : NULL;
}

/* Default Build reason for a failed step by container name (the controller names them). */
static const char *reason_for_step(const char *name)
{
	if (!strcmp(name, "fetch"))
		return "SourceFetchFailed";
	if (!strcmp(name, "generate"))
		return "GenerateFailed";
	if (!strcmp(name, "image") || !strcmp(name, "build"))
		return "ImageBuildFailed";
	if (!strcmp(name, "push"))
		return "PushFailed";
	if (!strcmp(name, "verify"))
		return "VerifyFailed";
	return "StepFailed";
}

static void terminated(const char *name, const cJSON *t, struct phx_build_verdict *v)
{
	int64_t code = -1;
	char rbuf[64];
	kube_json_get_int(t, &code, "exitCode", NULL);
	const char *kr = kube_json_get_str(t, "reason", NULL);
	const char *tm = kube_json_get_str(t, "message", NULL);
	const char *sr = message_reason(tm, rbuf, sizeof(rbuf));
	v->exit_code = (int)code;
	if (kr && !strcmp(kr, "OOMKilled")) {
		set(v, PHX_BUILD_CLASS_OOM, "StepOutOfMemory", name);
	} else if (code == PHX_BUILD_EXIT_INVALID_INPUT) {
		set(v, PHX_BUILD_CLASS_INVALID_INPUT, "InvalidSpec", name);
	} else if (code == PHX_BUILD_EXIT_NO_BUILD_SYSTEM) {
		set(v, PHX_BUILD_CLASS_NO_BUILD_SYSTEM, "NoBuildSystemDetected", name);
	} else if ((sr && (!strcmp(sr, "TestsFailed") || !strcmp(sr, "TestsTimedOut"))) ||
		   (!sr && code < 128 && (!strcmp(name, "test") || !strcmp(name, "detect")))) {
		/* A signal (code >= 128) without a reason is a killed step, not failing tests. */
		set(v, PHX_BUILD_CLASS_TESTS_FAILED, "TestsFailed", name);
	} else {
		const char *known = in_list(sr, step_reasons, N(step_reasons));
		set(v, PHX_BUILD_CLASS_STEP_FAILED, known ? known : reason_for_step(name), name);
	}
	snprintf(v->message, sizeof(v->message), "step %.63s terminated: exit %d (%.32s)%s%.380s",
		 name, (int)code, kr ? kr : "Error", tm ? ": " : "", tm ? tm : "");
	if (v->cls == PHX_BUILD_CLASS_STEP_FAILED && code == 137 && !(kr && !strcmp(kr, "OOMKilled")))
		snprintf(v->message, sizeof(v->message),
			 "step %.63s was killed (exit 137, SIGKILL; not OOMKilled)", name);
}

/* Looks at one container status list; returns true when it decided *v. *pull is set to the
 * first pull-error container's status when there is one. */
static bool scan(const cJSON *list, struct phx_build_verdict *v, const cJSON **pull)
{
	const cJSON *cs;
	cJSON_ArrayForEach(cs, list) {
		const char *name = kube_json_get_str(cs, "name", NULL);
		const cJSON *t = kube_json_get(cs, "state", "terminated", NULL);
		const char *wr = kube_json_get_str(cs, "state", "waiting", "reason", NULL);
		int64_t code = 0;
		if (t && kube_json_get_int(t, &code, "exitCode", NULL) && code != 0) {
			terminated(name ? name : "", t, v);
			return true;
		}
		if (!*pull && (in_list(wr, pull_reasons, N(pull_reasons)) ||
			       in_list(wr, bad_image_reasons, N(bad_image_reasons))))
			*pull = cs;
	}
	return false;
}

static int64_t pending_since(const cJSON *pod)
{
	int64_t ms = 0;
	const char *s = kube_json_get_str(pod, "status", "startTime", NULL);
	if (!s)
		s = kube_json_get_str(pod, "metadata", "creationTimestamp", NULL);
	if (!s || kube_time_parse_ms(s, &ms) != 0)
		return -1;
	return ms;
}

static bool pull_error(const cJSON *pod, const cJSON *cs, int64_t now_ms, int64_t bound,
		       struct phx_build_verdict *v)
{
	const char *name = kube_json_get_str(cs, "name", NULL);
	const char *wr = kube_json_get_str(cs, "state", "waiting", "reason", NULL);
	const char *wm = kube_json_get_str(cs, "state", "waiting", "message", NULL);
	const char *image = kube_json_get_str(cs, "image", NULL);
	int64_t since = pending_since(pod);
	v->pending_ms = since >= 0 && now_ms > since ? now_ms - since : 0;
	bool fatal = in_list(wr, bad_image_reasons, N(bad_image_reasons)) != NULL;
	set(v, fatal || v->pending_ms >= bound ? PHX_BUILD_CLASS_IMAGE_PULL : PHX_BUILD_CLASS_RUNNING,
	    fatal || v->pending_ms >= bound ? "ImagePullFailed" : "", name);
	snprintf(v->message, sizeof(v->message), "step %.63s: %.32s for %llds pulling %.120s%s%.200s",
		 name ? name : "", wr, (long long)(v->pending_ms / 1000), image ? image : "?",
		 wm ? ": " : "", wm ? wm : "");
	return v->cls == PHX_BUILD_CLASS_IMAGE_PULL;
}

/* Phase-level outcome once no container explains anything. */
static void phase(const cJSON *pod, const cJSON *job, struct phx_build_verdict *v)
{
	const char *ph = kube_json_get_str(pod, "status", "phase", NULL);
	const cJSON *jfail = true_condition(job, "Failed");
	if (true_condition(job, "Complete") || (ph && !strcmp(ph, "Succeeded"))) {
		set(v, PHX_BUILD_CLASS_SUCCEEDED, "", NULL);
		return;
	}
	if ((ph && !strcmp(ph, "Failed")) || jfail) {
		const char *r = jfail ? kube_json_get_str(jfail, "reason", NULL)
				      : kube_json_get_str(pod, "status", "reason", NULL);
		set(v, PHX_BUILD_CLASS_STEP_FAILED, "StepFailed", NULL);
		snprintf(v->message, sizeof(v->message), "the %s failed (%.64s) with no failed step",
			 jfail ? "Job" : "pod", r ? r : "no reason given");
	}
}

int phx_build_classify(const cJSON *pod, const cJSON *job, int64_t now_ms,
		       int64_t pull_fail_after_ms, struct phx_build_verdict *out)
{
	const cJSON *pull = NULL;
	if (!out || (!pod && !job))
		return KUBE_EINVAL;
	memset(out, 0, sizeof(*out));
	out->reason = "";
	out->exit_code = -1;
	if (pull_fail_after_ms <= 0)
		pull_fail_after_ms = PHX_BUILD_PULL_FAIL_AFTER_MS_DEFAULT;
	if (deadline(pod, job, out) || disrupted(pod, out))
		return 0;
	if (scan(kube_json_get(pod, "status", "initContainerStatuses", NULL), out, &pull) ||
	    scan(kube_json_get(pod, "status", "containerStatuses", NULL), out, &pull))
		return 0;
	if (pull && pull_error(pod, pull, now_ms, pull_fail_after_ms, out))
		return 0;
	if (!pull)
		phase(pod, job, out);
	return 0;
}

int64_t phx_build_backoff_ms(int n)
{
	return n <= 1 ? 10000 : n == 2 ? 30000 : 60000;
}

static void retry(struct phx_build_decision *d, const struct phx_build_history *h, bool counts,
		  const char *remediation)
{
	d->action = PHX_BUILD_RETRY;
	d->counts = counts;
	d->remediation = remediation;
	d->delay_ms = phx_build_backoff_ms(h->attempt + h->uncounted);
}

static void fail_with(struct phx_build_decision *d, const char *reason)
{
	d->action = PHX_BUILD_FAIL;
	d->fail_reason = reason;
	d->remediation = "None";
}

int phx_build_decide(const struct phx_build_verdict *v, const struct phx_build_history *h,
		     struct phx_build_decision *out)
{
	if (!v || !h || !out)
		return KUBE_EINVAL;
	memset(out, 0, sizeof(*out));
	out->memory_factor = 1;
	out->deadline_factor = 1;
	out->remediation = "None";
	int max = h->max_attempts > 0 ? h->max_attempts : 3;
	bool more = h->attempt < max;
	switch (v->cls) {
	case PHX_BUILD_CLASS_RUNNING:
		break;
	case PHX_BUILD_CLASS_SUCCEEDED:
		out->action = PHX_BUILD_DONE;
		break;
	case PHX_BUILD_CLASS_IMAGE_PULL:
	case PHX_BUILD_CLASS_INVALID_INPUT:
	case PHX_BUILD_CLASS_NO_BUILD_SYSTEM:
		fail_with(out, v->reason);
		break;
	case PHX_BUILD_CLASS_TESTS_FAILED:
		if (h->tests_failed == 0 && more)
			retry(out, h, true, "RetryOnce");
		else
			fail_with(out, "TestsFailed");
		break;
	case PHX_BUILD_CLASS_DISRUPTED:
		if (h->uncounted < PHX_BUILD_MAX_UNCOUNTED)
			retry(out, h, false, "RetryUncounted");
		else if (more)
			retry(out, h, true, "Retry");
		else
			fail_with(out, "RetriesExhausted");
		break;
	case PHX_BUILD_CLASS_OOM:
	case PHX_BUILD_CLASS_DEADLINE:
	case PHX_BUILD_CLASS_STEP_FAILED:
		if (!more) {
			fail_with(out, "RetriesExhausted");
			break;
		}
		retry(out, h, true, v->cls == PHX_BUILD_CLASS_OOM ? "DoubleMemory"
				  : v->cls == PHX_BUILD_CLASS_DEADLINE ? "DoubleDeadline" : "Retry");
		out->memory_factor = v->cls == PHX_BUILD_CLASS_OOM ? 2 : 1;
		out->deadline_factor = v->cls == PHX_BUILD_CLASS_DEADLINE ? 2 : 1;
		break;
	}
	return 0;
}
