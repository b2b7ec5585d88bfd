/* Unit tests for the Build's Job builder (controller/build/phx_build_job.c) and its next-step
 * decision (controller/build/phx_build_plan.c): a Build is walked through its pipeline, the
 * status each call returns fed back into the next, with Jobs, pods, PhoenixServices and
 * Approvals written as JSON and the time given. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "build/phx_build_job.h"
#include "build/phx_build_plan.h"
#include "kube_error.h"
#include "kube_json.h"
#include "kube_time.h"

/* 2026-12-01T20:00:00Z */
#define NOW INT64_C(1796155200000)

static cJSON *json(const char *s)
{
	if (!s)
		return NULL;
	char *c = strdup(s);
	for (char *p = c; *p; p++)
		if (*p == '\'')
			*p = '"';
	cJSON *j = cJSON_Parse(c);
	if (!j)
		fail_msg("bad test JSON: %s", c);
	free(c);
	return j;
}

#define META "'metadata':{'name':'rev','namespace':'team','uid':'u-1','generation':1}"
#define SRC_BUILD "{" META ",'spec':{'serviceName':'revenue','source':{'git':{'url':'file:///g'}}," \
	"'activeDeadlineSeconds':600,'retention':{'ttlSecondsAfterFinished':120}}}"
#define IMG_BUILD(mode) "{" META ",'spec':{'serviceName':'revenue','image':{'name':'reg/rev@sha256:" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'},'approvalMode':'" mode \
	"','deploy':{'port':9090,'healthTimeoutSeconds':30}}}"

struct world {
	cJSON *build, *job, *pod, *svc, *appr;
	cJSON *vjob, *vpod; /* the verify Job and its pod */
	int learned_mf, learned_df; /* what the learning ConfigMap said */
	int64_t now;
	struct phx_build_plan p;
};

/* One call; the returned status replaces the Build's. */
static void step(struct world *w)
{
	phx_build_plan_release(&w->p);
	struct phx_build_input in = {
		.build = w->build, .job = w->job, .pod = w->pod, .service = w->svc,
		.approval = w->appr, .now_ms = w->now, .verify_job = w->vjob, .verify_pod = w->vpod,
		.learned_memory_factor = w->learned_mf, .learned_deadline_factor = w->learned_df,
		.learned_from = w->learned_mf > 1 || w->learned_df > 1 ? "cm key" : NULL,
	};
	assert_int_equal(phx_build_plan(&in, &w->p), 0);
	if (w->p.status) {
		cJSON_DeleteItemFromObject(w->build, "status");
		cJSON_AddItemToObject(w->build, "status", cJSON_Duplicate(w->p.status, 1));
	}
}

static void world_free(struct world *w)
{
	phx_build_plan_release(&w->p);
	cJSON_Delete(w->build);
	cJSON_Delete(w->job);
	cJSON_Delete(w->pod);
	cJSON_Delete(w->svc);
	cJSON_Delete(w->appr);
	cJSON_Delete(w->vjob);
	cJSON_Delete(w->vpod);
}

static const char *st(struct world *w, const char *k)
{
	return kube_json_get_str(w->build, "status", k, NULL);
}

static const char *succ(struct world *w, const char *field)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, kube_json_get(w->build, "status", "conditions", NULL))
		if (!strcmp(kube_json_get_str(c, "type", NULL), "Succeeded"))
			return kube_json_get_str(c, field, NULL);
	return NULL;
}

static int64_t st_int(struct world *w, const char *k)
{
	int64_t v = -1;
	kube_json_get_int(w->build, &v, "status", k, NULL);
	return v;
}

static void set(cJSON **slot, const char *s)
{
	cJSON_Delete(*slot);
	*slot = json(s);
}

static void job__shape(void **state)
{
	(void)state;
	cJSON *b = json(SRC_BUILD);
	struct phx_build_job_opts o = { .run = 3, .attempt = 2, .memory_factor = 2,
					.deadline_factor = 2 };
	cJSON *j = phx_build_job_new(b, &o);
	assert_non_null(j);
	assert_string_equal(kube_json_name(j), "rev-3");
	assert_string_equal(kube_json_get_str(j, "metadata", "labels", PHX_BUILD_LABEL, NULL), "rev");
	assert_string_equal(kube_json_get_str(cJSON_GetArrayItem(kube_json_get(j, "metadata",
		"ownerReferences", NULL), 0), "kind", NULL), "Build");
	int64_t v;
	assert_true(kube_json_get_int(j, &v, "spec", "backoffLimit", NULL) && v == 0);
	assert_true(kube_json_get_int(j, &v, "spec", "activeDeadlineSeconds", NULL) && v == 1200);
	assert_true(kube_json_get_int(j, &v, "spec", "ttlSecondsAfterFinished", NULL) && v == 120);
	const cJSON *rules = kube_json_get(j, "spec", "podFailurePolicy", NULL);
	char *txt = cJSON_PrintUnformatted(rules);
	assert_non_null(strstr(txt, "\"FailJob\""));
	assert_non_null(strstr(txt, "[64,65]"));
	assert_non_null(strstr(txt, "DisruptionTarget"));
	free(txt);
	const cJSON *ps = kube_json_get(j, "spec", "template", "spec", NULL);
	assert_string_equal(kube_json_get_str(ps, "restartPolicy", NULL), "Never");
	assert_false(kube_json_get_bool(ps, 1, "automountServiceAccountToken", NULL));
	const cJSON *init = kube_json_get(ps, "initContainers", NULL);
	assert_int_equal(cJSON_GetArraySize(init), 2);
	assert_string_equal(kube_json_get_str(cJSON_GetArrayItem(init, 0), "name", NULL), "fetch");
	assert_string_equal(kube_json_get_str(cJSON_GetArrayItem(init, 1), "name", NULL), "test");
	const cJSON *img = cJSON_GetArrayItem(kube_json_get(ps, "containers", NULL), 0);
	assert_string_equal(kube_json_get_str(img, "name", NULL), "image");
	for (int i = 0; i < 3; i++) {
		const cJSON *c = i < 2 ? cJSON_GetArrayItem(init, i) : img;
		assert_string_equal(kube_json_get_str(c, "terminationMessagePolicy", NULL),
				    "FallbackToLogsOnError");
		assert_string_equal(kube_json_get_str(c, "resources", "limits", "memory", NULL),
				    "2048Mi");
		/* restricted for the steps, baseline for the builder */
		assert_int_equal(kube_json_get_bool(c, 0, "securityContext", "runAsNonRoot", NULL),
				 i < 2);
	}
	txt = cJSON_PrintUnformatted(cJSON_GetArrayItem(init, 0));
	assert_non_null(strstr(txt, "{\"name\":\"PHOENIX_GIT_URL\",\"value\":\"file:///g\"}"));
	free(txt);
	cJSON_Delete(j);
	/* memory stays bounded */
	o.memory_factor = 64;
	j = phx_build_job_new(b, &o);
	assert_string_equal(kube_json_get_str(cJSON_GetArrayItem(kube_json_get(j, "spec", "template",
		"spec", "containers", NULL), 0), "resources", "limits", "memory", NULL), "16384Mi");
	cJSON_Delete(j);
	cJSON_Delete(b);
	assert_null(phx_build_job_new(NULL, &o));
}

/* generate: {} runs `phoenix-build generate` in the step image with the SPEC mounted */
/* The buildah step: chroot isolation, TLS verification off only with spec.image.insecureRegistry,
 * and the reported name without its tag (name:tag@digest is no valid reference); the
 * capabilities buildah needs; a failed bud or push reports ImageBuildFailed or PushFailed. */
static void job__buildah_insecure_registry(void **state)
{
	(void)state;
	const char *specs[] = { "{" META ",'spec':{'serviceName':'revenue','generate':{},"
				"'specConfigMap':{'name':'rev-spec'},'image':{'name':"
				"'127.0.0.1:5000/team/rev:v1','insecureRegistry':true}}}",
				"{" META ",'spec':{'serviceName':'revenue','generate':{},"
				"'specConfigMap':{'name':'rev-spec'}}}" };
	for (int i = 0; i < 2; i++) {
		cJSON *b = json(specs[i]);
		struct phx_build_job_opts o = { .run = 1, .attempt = 1 };
		cJSON *j = phx_build_job_new(b, &o);
		assert_non_null(j);
		const cJSON *c = cJSON_GetArrayItem(kube_json_get(j, "spec", "template", "spec",
								  "containers", NULL), 0);
		assert_string_equal(kube_json_get_str(c, "image", NULL), PHX_BUILD_BUILDAH_IMAGE);
		char *txt = cJSON_PrintUnformatted(c);
		assert_non_null(strstr(txt, "--isolation=chroot"));
		assert_non_null(strstr(txt, "--tls-verify=${PHOENIX_TLS_VERIFY:-true}"));
		assert_non_null(strstr(txt, "case ${n##*/} in *:*) n=${n%:*}"));
		/* a failed bud or push leaves the step's report with its reason */
		assert_non_null(strstr(txt, "|| fail ImageBuildFailed"));
		assert_non_null(strstr(txt, "|| fail PushFailed"));
		assert_non_null(strstr(txt, "\\\"reason\\\":\\\"%s\\\""));
		/* the capabilities buildah needs, not privileged */
		const cJSON *add = kube_json_get(c, "securityContext", "capabilities", "add", NULL);
		assert_int_equal(cJSON_GetArraySize(add), 10);
		assert_string_equal(cJSON_GetArrayItem(add, 0)->valuestring, "SYS_ADMIN");
		assert_false(kube_json_get_bool(c, 1, "securityContext", "privileged", NULL));
		bool off = strstr(txt, "{\"name\":\"PHOENIX_TLS_VERIFY\",\"value\":\"false\"}");
		assert_int_equal(off, i == 0);
		free(txt);
		cJSON_Delete(j);
		cJSON_Delete(b);
	}
}

static void job__builtin_generator(void **state)
{
	(void)state;
	cJSON *b = json("{" META ",'spec':{'serviceName':'revenue','generate':{},"
			"'specConfigMap':{'name':'rev-spec'},'deploy':{'port':9090},"
			"'image':{'builder':'local'}}}");
	struct phx_build_job_opts o = { .run = 1, .attempt = 1 };
	cJSON *j = phx_build_job_new(b, &o);
	assert_non_null(j);
	const cJSON *ps = kube_json_get(j, "spec", "template", "spec", NULL);
	const cJSON *init = kube_json_get(ps, "initContainers", NULL);
	assert_int_equal(cJSON_GetArraySize(init), 2);
	const cJSON *g = cJSON_GetArrayItem(init, 0);
	assert_string_equal(kube_json_get_str(g, "name", NULL), "generate");
	assert_string_equal(kube_json_get_str(g, "image", NULL), PHX_BUILD_STEP_IMAGE_DEFAULT);
	char *txt = cJSON_PrintUnformatted(g);
	assert_non_null(strstr(txt, "\"command\":[\"phoenix-build\",\"generate\"]"));
	assert_non_null(strstr(txt, "{\"name\":\"PHOENIX_SPEC_DIR\",\"value\":\"/spec\"}"));
	assert_non_null(strstr(txt, "{\"name\":\"PHOENIX_SERVICE_NAME\",\"value\":\"revenue\"}"));
	assert_non_null(strstr(txt, "{\"name\":\"PHOENIX_PORT\",\"value\":\"9090\"}"));
	assert_non_null(strstr(txt, "\"mountPath\":\"/spec\",\"readOnly\":true"));
	assert_true(kube_json_get_bool(g, 0, "securityContext", "runAsNonRoot", NULL));
	free(txt);
	txt = cJSON_PrintUnformatted(kube_json_get(ps, "volumes", NULL));
	assert_non_null(strstr(txt, "{\"name\":\"spec\",\"configMap\":{\"name\":\"rev-spec\",\"optional\":true}}"));
	free(txt);
	assert_string_equal(kube_json_get_str(cJSON_GetArrayItem(init, 1), "name", NULL), "test");
	cJSON_Delete(j);
	cJSON_Delete(b);
}

static void spec__validation(void **state)
{
	(void)state;
	char msg[512];
	cJSON *b = json("{" META ",'spec':{'serviceName':'x'}}");
	assert_false(phx_build_spec_valid(b, msg, sizeof(msg)));
	assert_non_null(strstr(msg, "spec.source, spec.image or spec.generate"));
	cJSON_Delete(b);
	/* the built-in generator needs the SPEC: said, not attempted */
	b = json("{" META ",'spec':{'serviceName':'x','generate':{}}}");
	assert_false(phx_build_spec_valid(b, msg, sizeof(msg)));
	assert_non_null(strstr(msg, "spec.specConfigMap.name"));
	cJSON_Delete(b);
	b = json("{" META ",'spec':{'serviceName':'x','generate':{},'specConfigMap':{'name':'s'}}}");
	assert_true(phx_build_spec_valid(b, msg, sizeof(msg)));
	cJSON_Delete(b);
	b = json("{" META ",'spec':{'serviceName':'x','generate':{'image':'gen:1'}}}");
	assert_true(phx_build_spec_valid(b, msg, sizeof(msg)));
	cJSON_Delete(b);
	b = json("{" META ",'spec':{'serviceName':'x','image':{'name':'a:1','builder':'docker'}}}");
	assert_false(phx_build_spec_valid(b, msg, sizeof(msg)));
	assert_non_null(strstr(msg, "spec.image.builder"));
	cJSON_Delete(b);
	b = json("{" META ",'spec':{'serviceName':'x','source':{'git':{'url':'-x'}}}}");
	assert_false(phx_build_spec_valid(b, msg, sizeof(msg)));
	assert_non_null(strstr(msg, "spec.source.git.url"));
	cJSON_Delete(b);
	b = json(SRC_BUILD);
	assert_true(phx_build_spec_valid(b, msg, sizeof(msg)));
	assert_int_equal(phx_build_kind_of(b), PHX_BUILD_KIND_SOURCE);
	cJSON_Delete(b);
}

#define FAILED_POD(code, reason, msg) \
	"{'metadata':{'name':'rev-1-x'},'status':{'phase':'Failed','startTime':'2026-12-01T20:00:01Z'," \
	"'initContainerStatuses':[{'name':'fetch','state':{'terminated':{'exitCode':0,'reason':'Completed'," \
	"'message':'{\\'step\\':\\'fetch\\',\\'result\\':\\'Succeeded\\',\\'commitSha\\':\\'abcdef1\\'}'}}}," \
	"{'name':'test','state':{'terminated':{'exitCode':" #code ",'reason':'" reason "','message':'" msg "'}}}]," \
	"'containerStatuses':[{'name':'image','state':{'waiting':{'reason':'PodInitializing'}}}]}}"
#define JOB_FAILED(name) "{'metadata':{'name':'" name "'},'status':{'conditions':[{'type':'Failed'," \
	"'status':'True','reason':'BackoffLimitExceeded'}]}}"

static void plan__source_retry_then_fail(void **state)
{
	(void)state;
	struct world w = { .build = json(SRC_BUILD), .now = NOW };
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_CREATE_JOB);
	assert_string_equal(w.p.job_name, "rev-1");
	assert_string_equal(st(&w, "phase"), "Running");
	assert_string_equal(st(&w, "step"), "fetch");
	assert_string_equal(succ(&w, "status"), "Unknown");
	assert_int_equal(st_int(&w, "attempt"), 1);
	assert_string_equal(w.p.event_reason, "AttemptStarted");

	/* the Job appears, its tests fail: retry once after 10 s */
	set(&w.job, JOB_FAILED("rev-1"));
	set(&w.pod, FAILED_POD(1, "Error", "{\\'step\\':\\'test\\',\\'result\\':\\'Failed\\',\\'reason\\':\\'TestsFailed\\',\\'message\\':\\'2 failed\\'}"));
	w.now += 5000;
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_NONE);
	assert_string_equal(st(&w, "phase"), "Retrying");
	assert_string_equal(succ(&w, "reason"), "Retrying");
	assert_int_equal(st_int(&w, "attempt"), 2);
	assert_int_equal(w.p.requeue_ms, 10000);
	assert_string_equal(w.p.retry_class, "TestsFailed");
	assert_string_equal(kube_json_get_str(w.build, "status", "retry", "nextAttemptAt", NULL),
			    "2026-12-01T20:00:15Z");
	assert_string_equal(kube_json_get_str(w.build, "status", "source", "commitSha", NULL),
			    "abcdef1");
	const cJSON *h = cJSON_GetArrayItem(kube_json_get(w.build, "status", "history", NULL), 0);
	assert_string_equal(kube_json_get_str(h, "class", NULL), "TestsFailed");
	assert_string_equal(kube_json_get_str(h, "outcome", NULL), "Retried");

	/* before nextAttemptAt: nothing but a requeue for the rest */
	w.now += 4000;
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_NONE);
	assert_null(w.p.status);
	assert_int_equal(w.p.requeue_ms, 6000);
	/* at nextAttemptAt: the second Job */
	w.now += 6000;
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_CREATE_JOB);
	assert_string_equal(w.p.job_name, "rev-2");
	assert_string_equal(st(&w, "job"), "rev-2");
	/* the same outcome again: TestsFailed, the message ends with the logs command */
	set(&w.job, JOB_FAILED("rev-2"));
	w.now += 5000;
	step(&w);
	assert_string_equal(st(&w, "phase"), "Failed");
	assert_string_equal(succ(&w, "status"), "False");
	assert_string_equal(succ(&w, "reason"), "TestsFailed");
	const char *m = succ(&w, "message");
	const char *tail = "kubectl logs -n team job/rev-2 -c test";
	assert_true(strlen(m) > strlen(tail) && !strcmp(m + strlen(m) - strlen(tail), tail));
	assert_string_equal(w.p.result, "Failed");
	assert_non_null(st(&w, "completionTime"));
	/* frozen */
	w.now += 60000;
	step(&w);
	assert_null(w.p.status);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_NONE);
	world_free(&w);
}

static void plan__invalid_input_fails_fast(void **state)
{
	(void)state;
	struct world w = { .build = json(SRC_BUILD), .now = NOW };
	step(&w);
	set(&w.job, JOB_FAILED("rev-1"));
	set(&w.pod, FAILED_POD(64, "Error", "{\\'step\\':\\'test\\',\\'result\\':\\'Failed\\',\\'reason\\':\\'InvalidSpec\\',\\'message\\':\\'contextDir missing\\'}"));
	w.now += 3000;
	step(&w);
	assert_string_equal(succ(&w, "reason"), "InvalidSpec");
	assert_string_equal(st(&w, "phase"), "Failed");
	assert_int_equal(st_int(&w, "attempt"), 1);
	world_free(&w);

	/* neither source, image nor generate: InvalidSpec without a Job */
	struct world v = { .build = json("{" META ",'spec':{'serviceName':'x'}}"), .now = NOW };
	step(&v);
	assert_int_equal(v.p.effect, PHX_BUILD_EFFECT_NONE);
	assert_string_equal(succ(&v, "reason"), "InvalidSpec");
	assert_string_equal(v.p.event_type, "Warning");
	assert_non_null(strstr(succ(&v, "message"), "spec.source"));
	world_free(&v);
}

static void plan__waits_for_the_pod_of_a_finished_job(void **state)
{
	(void)state;
	struct world w = { .build = json(SRC_BUILD), .now = NOW };
	step(&w);
	set(&w.job, "{'metadata':{'name':'rev-1'},'status':{'conditions':[{'type':'Failed',"
		    "'status':'True','reason':'BackoffLimitExceeded','lastTransitionTime':"
		    "'2026-12-01T20:00:02Z'}]}}");
	set(&w.pod, "{'metadata':{'name':'rev-1-x'},'status':{'phase':'Pending'}}");
	w.now += 3000;
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_NONE);
	assert_int_equal(w.p.requeue_ms, 1000);
	assert_string_equal(st(&w, "phase"), "Running");
	/* the pod never shows why: classified from the Job after the lag */
	w.now += PHX_BUILD_POD_LAG_MS;
	step(&w);
	assert_string_equal(st(&w, "phase"), "Retrying");
	world_free(&w);
}

static void plan__oom_doubles_memory(void **state)
{
	(void)state;
	struct world w = { .build = json(SRC_BUILD), .now = NOW };
	step(&w);
	set(&w.job, JOB_FAILED("rev-1"));
	set(&w.pod, FAILED_POD(137, "OOMKilled", ""));
	w.now += 1000;
	step(&w);
	assert_string_equal(w.p.retry_class, "OOMKilled");
	int64_t mf = 0;
	kube_json_get_int(w.build, &mf, "status", "retry", "memoryFactor", NULL);
	assert_int_equal(mf, 2);
	w.now += 10000;
	cJSON_Delete(w.job);
	w.job = NULL;
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_CREATE_JOB);
	assert_string_equal(kube_json_get_str(cJSON_GetArrayItem(kube_json_get(w.p.job, "spec",
		"template", "spec", "containers", NULL), 0), "resources", "limits", "memory", NULL),
		"2048Mi");
	world_free(&w);
	/* learned: the next Build of the service starts with memory x2 and deadline x4 */
	struct world l = { .build = json(SRC_BUILD), .now = NOW, .learned_mf = 2, .learned_df = 4 };
	step(&l);
	assert_int_equal(l.p.effect, PHX_BUILD_EFFECT_CREATE_JOB);
	assert_string_equal(kube_json_get_str(cJSON_GetArrayItem(kube_json_get(l.p.job, "spec",
		"template", "spec", "containers", NULL), 0), "resources", "limits", "memory", NULL),
		"2048Mi");
	int64_t dl = 0;
	kube_json_get_int(l.p.job, &dl, "spec", "activeDeadlineSeconds", NULL);
	assert_int_equal(dl, 2400);
	assert_string_equal(kube_json_get_str(l.build, "status", "retry", "learnedFrom", NULL),
			    "cm key");
	world_free(&l);
}

#define SVC(image, avail) "{'metadata':{'name':'revenue','generation':2},'spec':{'template':{'spec':" \
	"{'containers':[{'name':'service','image':'" image "'}]}}},'status':{'observedGeneration':2," \
	"'conditions':[{'type':'Available','status':'" avail "'}]}}"
#define IMG "reg/rev@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static void plan__prebuilt_deploys_registers(void **state)
{
	(void)state;
	struct world w = { .build = json(IMG_BUILD("auto")), .now = NOW };
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_DEPLOY);
	assert_false(w.p.service_exists);
	char *txt = cJSON_PrintUnformatted(w.p.service);
	assert_non_null(strstr(txt, "{\"name\":\"PORT\",\"value\":\"9090\"}"));
	assert_non_null(strstr(txt, "\"fieldPath\":\"status.podIP\""));
	assert_non_null(strstr(txt, "\"image\":\"" IMG "\""));
	assert_non_null(strstr(txt, "\"kind\":\"Build\""));
	free(txt);
	assert_string_equal(st(&w, "phase"), "Deploying");
	assert_string_equal(kube_json_get_str(w.build, "status", "serviceRef", "name", NULL),
			    "revenue");
	assert_int_equal(w.p.requeue_ms, 30000);
	/* not Available yet: wait for the rest of the health timeout */
	set(&w.svc, SVC(IMG, "False"));
	w.now += 10000;
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_NONE);
	assert_int_equal(w.p.requeue_ms, 20000);
	assert_string_equal(st(&w, "step"), "health");
	/* Available, but the primary still runs the old revision: not yet */
	set(&w.svc, "{'metadata':{'name':'revenue','generation':2},'spec':{'template':{'spec':"
		    "{'containers':[{'name':'service','image':'" IMG "'}]}}},'status':{"
		    "'observedGeneration':2,'currentRevision':'r1','updateRevision':'r2',"
		    "'conditions':[{'type':'Available','status':'True'}]}}");
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_NONE);
	/* Available: the verify Job (run 1: a prebuilt image made no Job before) */
	set(&w.svc, SVC(IMG, "True"));
	w.now += 1000;
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_CREATE_VERIFY_JOB);
	assert_string_equal(w.p.job_name, "rev-1");
	assert_string_equal(w.p.service_name, "revenue");
	assert_string_equal(st(&w, "step"), "verify");
	assert_string_equal(kube_json_get_str(w.build, "status", "verify", "job", NULL), "rev-1");
	assert_int_equal(st_int(&w, "run"), 1);
	txt = cJSON_PrintUnformatted(w.p.job);
	assert_non_null(strstr(txt, "\"value\":\"http://revenue.team.svc:9090\""));
	assert_non_null(strstr(txt, "\"command\":[\"phoenix-build\",\"verify\"]"));
	assert_non_null(strstr(txt, "\"automountServiceAccountToken\":false"));
	assert_non_null(strstr(txt, "\"runAsNonRoot\":true"));
	assert_null(strstr(txt, "PHOENIX_VERIFY_ADDRESS"));
	free(txt);
	assert_int_equal(phx_build_verify_job_set_address(w.p.job, "10.96.0.7"), 0);
	txt = cJSON_PrintUnformatted(w.p.job);
	assert_non_null(strstr(txt, "{\"name\":\"PHOENIX_VERIFY_ADDRESS\",\"value\":\"10.96.0.7\"}"));
	free(txt);
	/* not in the cache yet: nothing; still missing after 5 s: the same name again */
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_NONE);
	w.now += PHX_BUILD_JOB_LOST_MS;
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_CREATE_VERIFY_JOB);
	assert_string_equal(w.p.job_name, "rev-1");
	/* running: wait */
	set(&w.vjob, "{'metadata':{'name':'rev-1'},'status':{'active':1}}");
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_NONE);
	assert_string_equal(succ(&w, "status"), "Unknown");
	/* passed: registered, Succeeded */
	set(&w.vjob, "{'metadata':{'name':'rev-1'},'status':{'conditions':[{'type':'Complete',"
		     "'status':'True','lastTransitionTime':'2026-12-01T20:00:12Z'}]}}");
	set(&w.vpod, "{'status':{'phase':'Succeeded','containerStatuses':[{'name':'verify',"
		     "'state':{'terminated':{'exitCode':0,'message':'{\\'step\\':\\'verify\\',"
		     "\\'result\\':\\'Succeeded\\',\\'message\\':\\'5/5 ok\\'}'}}}]}}");
	w.now += 2000;
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_REGISTER);
	assert_string_equal(kube_json_get_str(w.build, "status", "verify", "phase", NULL),
			    "Succeeded");
	assert_string_equal(kube_json_get_str(w.p.service_status, "status", "registration",
					      "build", NULL), "rev");
	assert_true(kube_json_get_bool(w.p.service_status, 0, "status", "registration",
				       "registered", NULL));
	assert_string_equal(kube_json_get_str(w.p.service, "metadata", "labels",
					      PHX_LABEL_REGISTERED, NULL), "true");
	assert_string_equal(succ(&w, "status"), "True");
	assert_string_equal(succ(&w, "reason"), "Succeeded");
	assert_true(kube_json_get_bool(w.build, 0, "status", "registered", NULL));
	world_free(&w);
}

static void plan__verify_failure_names_the_endpoint(void **state)
{
	(void)state;
	struct world w = { .build = json(IMG_BUILD("auto")), .now = NOW };
	step(&w);
	set(&w.svc, SVC(IMG, "True"));
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_CREATE_VERIFY_JOB);
	set(&w.vjob, "{'metadata':{'name':'rev-1'},'status':{'conditions':[{'type':'Failed',"
		     "'status':'True','reason':'BackoffLimitExceeded','lastTransitionTime':"
		     "'2026-12-01T20:00:02Z'}]}}");
	/* the pod's last state not seen yet: wait for it */
	set(&w.vpod, "{'status':{'phase':'Running'}}");
	w.now += 2000;
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_NONE);
	assert_int_equal(w.p.requeue_ms, 1000);
	set(&w.vpod, "{'status':{'phase':'Failed','containerStatuses':[{'name':'verify',"
		     "'state':{'terminated':{'exitCode':1,'message':'{\\'step\\':\\'verify\\',"
		     "\\'result\\':\\'Failed\\',\\'reason\\':\\'VerifyFailed\\',"
		     "\\'message\\':\\'GET /dependencies: HTTP 404\\'}'}}}]}}");
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_NONE);
	assert_string_equal(succ(&w, "status"), "False");
	assert_string_equal(succ(&w, "reason"), "VerifyFailed");
	assert_string_equal(succ(&w, "message"), "GET /dependencies: HTTP 404; kubectl logs -n "
			    "team job/rev-1 -c verify");
	assert_false(kube_json_get_bool(w.build, 0, "status", "registered", NULL));
	world_free(&w);
	/* spec.verify.enabled false: registered once Available */
	struct world o = { .build = json("{" META ",'spec':{'serviceName':'revenue','image':{"
					 "'name':'" IMG "'},'verify':{'enabled':false}}}"),
			   .now = NOW };
	step(&o);
	set(&o.svc, SVC(IMG, "True"));
	step(&o);
	assert_int_equal(o.p.effect, PHX_BUILD_EFFECT_REGISTER);
	world_free(&o);
}

/* A redeploy whose contract fails goes back to the image that ran before. */
static void plan__verify_failure_of_a_redeploy_rolls_back(void **state)
{
	(void)state;
	struct world w = { .build = json(IMG_BUILD("auto")), .now = NOW,
			   .svc = json(SVC("reg/old:1", "True")) };
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_DEPLOY);
	assert_string_equal(st(&w, "previousImage"), "reg/old:1");
	set(&w.svc, SVC(IMG, "True"));
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_CREATE_VERIFY_JOB);
	set(&w.vjob, "{'metadata':{'name':'rev-1'},'status':{'conditions':[{'type':'Failed',"
		     "'status':'True','reason':'BackoffLimitExceeded','lastTransitionTime':"
		     "'2026-12-01T20:00:02Z'}]}}");
	set(&w.vpod, "{'status':{'phase':'Failed','containerStatuses':[{'name':'verify',"
		     "'state':{'terminated':{'exitCode':1,'message':'{\\'step\\':\\'verify\\',"
		     "\\'result\\':\\'Failed\\',\\'message\\':\\'GET /state: HTTP 500\\'}'}}}]}}");
	w.now += 2000;
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_ROLLBACK);
	assert_true(w.p.rolled_back);
	assert_string_equal(kube_json_get_str(cJSON_GetArrayItem(kube_json_get(w.p.service, "spec",
		"template", "spec", "containers", NULL), 0), "image", NULL), "reg/old:1");
	assert_string_equal(succ(&w, "reason"), "VerifyFailed");
	assert_string_equal(succ(&w, "message"), "GET /state: HTTP 500; kubectl logs -n team "
			    "job/rev-1 -c verify; rolled back to reg/old:1");
	assert_false(kube_json_get_bool(w.build, 0, "status", "registered", NULL));
	world_free(&w);
}

static void plan__health_timeout_rolls_back_or_takes_down(void **state)
{
	(void)state;
	/* an earlier image: rolled back to it */
	struct world w = { .build = json(IMG_BUILD("auto")), .now = NOW,
			   .svc = json(SVC("reg/old:1", "True")) };
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_DEPLOY);
	assert_true(w.p.service_exists);
	assert_null(kube_json_get(w.p.service, "metadata", "ownerReferences", NULL));
	assert_string_equal(st(&w, "previousImage"), "reg/old:1");
	assert_string_equal(kube_json_get_str(w.p.service, "metadata", "annotations",
					      PHX_ANN_PREVIOUS_IMAGE, NULL), "reg/old:1");
	/* the deploy was written but its status was not: the annotation still knows */
	cJSON *again = json(IMG_BUILD("auto"));
	struct world r = { .build = again, .now = NOW,
			   .svc = json("{'metadata':{'name':'revenue','annotations':{'"
				       PHX_ANN_PREVIOUS_IMAGE "':'reg/old:1'}},'spec':{'template':"
				       "{'spec':{'containers':[{'name':'service','image':'" IMG "'}]}}}}") };
	step(&r);
	assert_int_equal(r.p.effect, PHX_BUILD_EFFECT_DEPLOY);
	assert_string_equal(st(&r, "previousImage"), "reg/old:1");
	world_free(&r);
	set(&w.svc, SVC(IMG, "False"));
	w.now += 31000;
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_ROLLBACK);
	assert_string_equal(kube_json_get_str(cJSON_GetArrayItem(kube_json_get(w.p.service, "spec",
		"template", "spec", "containers", NULL), 0), "image", NULL), "reg/old:1");
	assert_string_equal(succ(&w, "reason"), "RolledBack");
	assert_true(w.p.rolled_back);
	world_free(&w);
	/* the first deployment: taken down */
	struct world f = { .build = json(IMG_BUILD("auto")), .now = NOW };
	step(&f);
	set(&f.svc, SVC(IMG, "False"));
	f.now += 31000;
	step(&f);
	assert_int_equal(f.p.effect, PHX_BUILD_EFFECT_TAKE_DOWN);
	assert_string_equal(f.p.service_name, "revenue");
	assert_string_equal(succ(&f, "reason"), "HealthTimeout");
	world_free(&f);
}

static const char *cond_of(struct world *w, const char *type, const char *field)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, kube_json_get(w->build, "status", "conditions", NULL))
		if (!strcmp(kube_json_get_str(c, "type", NULL), type))
			return kube_json_get_str(c, field, NULL);
	return NULL;
}

static void plan__approval_gate(void **state)
{
	(void)state;
	struct world w = { .build = json(IMG_BUILD("final")), .now = NOW };
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_NONE);
	assert_string_equal(st(&w, "phase"), "AwaitingApproval");
	assert_string_equal(succ(&w, "reason"), "AwaitingApproval");
	assert_string_equal(cond_of(&w, "DeployApproved", "status"), "False");
	assert_non_null(strstr(succ(&w, "message"), "kubectl phoenix approve build/rev"));
	w.now += 1000;
	step(&w);
	assert_null(w.p.status);
	set(&w.appr, "{'spec':{'decision':'Approve','approver':'alice','reason':'ok'}}");
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_DEPLOY);
	assert_string_equal(cond_of(&w, "DeployApproved", "status"), "True");
	assert_string_equal(cond_of(&w, "DeployApproved", "message"), "alice: ok");
	world_free(&w);

	struct world d = { .build = json(IMG_BUILD("checkpoints")), .now = NOW,
			   .appr = json("{'spec':{'decision':'Deny','approver':'bob','reason':'no'}}") };
	step(&d);
	assert_int_equal(d.p.effect, PHX_BUILD_EFFECT_NONE);
	assert_string_equal(succ(&d, "reason"), "Denied");
	assert_string_equal(st(&d, "phase"), "Failed");
	world_free(&d);
}

static void plan__cancel_deletes_job(void **state)
{
	(void)state;
	struct world w = { .build = json(SRC_BUILD), .now = NOW };
	step(&w);
	set(&w.job, "{'metadata':{'name':'rev-1'},'status':{'active':1}}");
	cJSON_AddStringToObject(cJSON_GetObjectItem(w.build, "spec"), "state", "Cancelled");
	w.now += 1000;
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_DELETE_JOB);
	assert_string_equal(w.p.job_name, "rev-1");
	assert_string_equal(st(&w, "phase"), "Cancelled");
	assert_string_equal(succ(&w, "reason"), "Cancelled");
	assert_string_equal(w.p.result, "Cancelled");
	world_free(&w);
}

static void plan__lost_job_recreated_same_name(void **state)
{
	(void)state;
	struct world w = { .build = json(SRC_BUILD), .now = NOW };
	step(&w);
	/* not in the cache yet: wait */
	w.now += 1000;
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_NONE);
	assert_true(w.p.requeue_ms > 0);
	/* still not there after a while: the same name again (never a second Job) */
	w.now += PHX_BUILD_JOB_LOST_MS;
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_CREATE_JOB);
	assert_string_equal(w.p.job_name, "rev-1");
	assert_int_equal(st_int(&w, "run"), 1);
	/* a new generation: a new series, the running Job deleted first */
	set(&w.job, "{'metadata':{'name':'rev-1'},'status':{'active':1}}");
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(w.build, "metadata"), "generation",
				  cJSON_CreateNumber(2));
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_DELETE_JOB);
	cJSON_Delete(w.job);
	w.job = NULL;
	step(&w);
	assert_int_equal(w.p.effect, PHX_BUILD_EFFECT_CREATE_JOB);
	assert_string_equal(w.p.job_name, "rev-2");
	world_free(&w);
	struct phx_build_plan p;
	assert_int_equal(phx_build_plan(NULL, &p), KUBE_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(job__shape),
		cmocka_unit_test(job__builtin_generator),
		cmocka_unit_test(job__buildah_insecure_registry),
		cmocka_unit_test(spec__validation),
		cmocka_unit_test(plan__source_retry_then_fail),
		cmocka_unit_test(plan__invalid_input_fails_fast),
		cmocka_unit_test(plan__waits_for_the_pod_of_a_finished_job),
		cmocka_unit_test(plan__oom_doubles_memory),
		cmocka_unit_test(plan__prebuilt_deploys_registers),
		cmocka_unit_test(plan__verify_failure_names_the_endpoint),
		cmocka_unit_test(plan__verify_failure_of_a_redeploy_rolls_back),
		cmocka_unit_test(plan__health_timeout_rolls_back_or_takes_down),
		cmocka_unit_test(plan__approval_gate),
		cmocka_unit_test(plan__cancel_deletes_job),
		cmocka_unit_test(plan__lost_job_recreated_same_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
