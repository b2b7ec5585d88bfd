/* The Job of one Build attempt (see phx_build_job.h). */
#include "phx_build_job.h"

#include <stdio.h>
#include <string.h>

#include "kube_error.h"
#include "kube_json.h"
#include "phx_api.h"
#include "phx_meta.h"

static bool has(const cJSON *build, const char *key)
{
	return cJSON_IsObject(kube_json_get(build, "spec", key, NULL));
}

static bool eq_str(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static const char *str_or(const char *s, const char *dflt)
{
	return s && *s ? s : dflt;
}

enum phx_build_kind phx_build_kind_of(const cJSON *build)
{
	if (has(build, "source"))
		return PHX_BUILD_KIND_SOURCE;
	if (has(build, "generate"))
		return PHX_BUILD_KIND_GENERATE;
	if (str_or(kube_json_get_str(build, "spec", "image", "name", NULL), NULL))
		return PHX_BUILD_KIND_PREBUILT;
	return PHX_BUILD_KIND_INVALID;
}

bool phx_build_spec_valid(const cJSON *build, char *msg, size_t len)
{
	const char *name = kube_json_name(build);
	const char *svc = kube_json_get_str(build, "spec", "serviceName", NULL);
	const char *builder = kube_json_get_str(build, "spec", "image", "builder", NULL);
	const char *url = kube_json_get_str(build, "spec", "source", "git", "url", NULL);
	const char *ctx = kube_json_get_str(build, "spec", "source", "contextDir", NULL);
	if (!svc || !*svc) {
		snprintf(msg, len, "spec.serviceName is required: name the PhoenixService to deploy");
		return false;
	}
	if (name && strlen(name) > PHX_BUILD_NAME_MAX) {
		snprintf(msg, len, "metadata.name is longer than %d characters: its Jobs "
			 "(<name>-<run>) would not be valid label values; use a shorter name",
			 PHX_BUILD_NAME_MAX);
		return false;
	}
	if (phx_build_kind_of(build) == PHX_BUILD_KIND_INVALID) {
		snprintf(msg, len, "one of spec.source, spec.image or spec.generate is required: "
			 "set spec.source.git.url to build a repository, spec.image.name to deploy a "
			 "prebuilt image, or spec.generate.image for a generator image");
		return false;
	}
	if (phx_build_kind_of(build) == PHX_BUILD_KIND_GENERATE &&
	    !str_or(kube_json_get_str(build, "spec", "generate", "image", NULL), NULL) &&
	    !str_or(kube_json_get_str(build, "spec", "specConfigMap", "name", NULL), NULL)) {
		/* the built-in generator writes the service from the SPEC: no Job without one */
		snprintf(msg, len, "spec.generate without an image runs the built-in generator, which "
			 "needs the SPEC: set spec.specConfigMap.name to a ConfigMap with the key "
			 "SPEC.md (an Intent's Build has one), or give spec.generate.image");
		return false;
	}
	if (builder && strcmp(builder, "buildah") && strcmp(builder, "kaniko") &&
	    strcmp(builder, "local")) {
		snprintf(msg, len, "spec.image.builder \"%.64s\" is unknown: use buildah, kaniko or "
			 "local", builder);
		return false;
	}
	if (has(build, "source") && (!url || !*url || *url == '-')) {
		snprintf(msg, len, "spec.source.git.url is required and may not start with '-'");
		return false;
	}
	if (ctx && (*ctx == '/' || strstr(ctx, ".."))) {
		snprintf(msg, len, "spec.source.contextDir \"%.128s\" must be relative, without '..'",
			 ctx);
		return false;
	}
	return true;
}

char *phx_build_job_name(const char *build, int run, char *buf, size_t len)
{
	snprintf(buf, len, "%s-%d", build ? build : "", run);
	return buf;
}

char *phx_build_target_image(const cJSON *build, char *buf, size_t len)
{
	const char *n = kube_json_get_str(build, "spec", "image", "name", NULL);
	if (n && *n)
		snprintf(buf, len, "%s", n);
	else
		snprintf(buf, len, "%s/%s/%s:latest", PHX_BUILD_DEFAULT_REGISTRY,
			 str_or(kube_json_namespace(build), "default"),
			 str_or(kube_json_get_str(build, "spec", "serviceName", NULL), "service"));
	return buf;
}

int phx_build_job_steps(const cJSON *build, const char *names[4])
{
	int n = 0;
	switch (phx_build_kind_of(build)) {
	case PHX_BUILD_KIND_SOURCE:
		names[n++] = "fetch";
		break;
	case PHX_BUILD_KIND_GENERATE:
		names[n++] = "generate";
		break;
	default:
		return 0;
	}
	names[n++] = "test";
	names[n++] = "image";
	return n;
}

static void env_add(cJSON *env, const char *name, const char *value)
{
	if (!value)
		return;
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "name", name);
	cJSON_AddStringToObject(e, "value", value);
	cJSON_AddItemToArray(env, e);
}

/* restricted (Pod Security Standards) for the steps; the image builder gets baseline: it runs
 * as root inside its user namespace and needs its capabilities (docs/build-steps.md). */
static cJSON *security_context(bool restricted)
{
	cJSON *sc = cJSON_CreateObject();
	if (!restricted) {
		cJSON_AddFalseToObject(sc, "privileged");
		return sc;
	}
	cJSON_AddFalseToObject(sc, "allowPrivilegeEscalation");
	cJSON_AddTrueToObject(sc, "runAsNonRoot");
	cJSON_AddNumberToObject(sc, "runAsUser", 65532);
	cJSON *caps = cJSON_AddObjectToObject(sc, "capabilities");
	cJSON *drop = cJSON_AddArrayToObject(caps, "drop");
	cJSON_AddItemToArray(drop, cJSON_CreateString("ALL"));
	cJSON_AddStringToObject(cJSON_AddObjectToObject(sc, "seccompProfile"), "type",
				"RuntimeDefault");
	return sc;
}

static cJSON *resources(int memory_factor)
{
	long mi = (long)PHX_BUILD_STEP_MEMORY_MI * (memory_factor > 1 ? memory_factor : 1);
	if (mi > PHX_BUILD_STEP_MEMORY_MAX_MI)
		mi = PHX_BUILD_STEP_MEMORY_MAX_MI;
	char mem[32];
	snprintf(mem, sizeof(mem), "%ldMi", mi);
	cJSON *r = cJSON_CreateObject();
	cJSON *lim = cJSON_AddObjectToObject(r, "limits");
	cJSON_AddStringToObject(lim, "cpu", "2");
	cJSON_AddStringToObject(lim, "memory", mem);
	cJSON *req = cJSON_AddObjectToObject(r, "requests");
	cJSON_AddStringToObject(req, "cpu", "100m");
	cJSON_AddStringToObject(req, "memory", "128Mi");
	return r;
}

static cJSON *step_container(const cJSON *build, const char *step, const char *image,
			     const struct phx_build_job_opts *o)
{
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "name", step);
	cJSON_AddStringToObject(c, "image", image);
	cJSON_AddStringToObject(c, "terminationMessagePolicy", "FallbackToLogsOnError");
	cJSON_AddStringToObject(c, "workingDir", "/workspace");
	cJSON *vm = cJSON_AddArrayToObject(c, "volumeMounts");
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "name", "workspace");
	cJSON_AddStringToObject(m, "mountPath", "/workspace");
	cJSON_AddItemToArray(vm, m);
	cJSON *env = cJSON_AddArrayToObject(c, "env");
	env_add(env, "PHOENIX_WORKSPACE", "/workspace");
	env_add(env, "PHOENIX_TERMINATION_LOG", "/dev/termination-log");
	env_add(env, "PHOENIX_CONTEXT_DIR",
		kube_json_get_str(build, "spec", "source", "contextDir", NULL));
	char n[16];
	snprintf(n, sizeof(n), "%d", o->attempt);
	env_add(env, "PHOENIX_ATTEMPT", n);
	cJSON_AddItemToObject(c, "resources", resources(o->memory_factor));
	return c;
}

static void command(cJSON *c, const char *a0, const char *a1, const char *a2)
{
	cJSON *cmd = cJSON_AddArrayToObject(c, "command");
	cJSON_AddItemToArray(cmd, cJSON_CreateString(a0));
	if (a1)
		cJSON_AddItemToArray(cmd, cJSON_CreateString(a1));
	if (a2)
		cJSON_AddItemToArray(cmd, cJSON_CreateString(a2));
}

/* The image step: builds workspace/contextDir and pushes it, then leaves
 * {"step":"image","image":"name@sha256:..."} in its termination message. */
static cJSON *image_container(const cJSON *build, const char *step_image, const char *target,
			      const struct phx_build_job_opts *o)
{
	const char *builder = str_or(kube_json_get_str(build, "spec", "image", "builder", NULL),
				     "buildah");
	const char *bimg = kube_json_get_str(build, "spec", "image", "builderImage", NULL);
	bool local = !strcmp(builder, "local");
	const char *img = str_or(bimg, local ? step_image
					     : !strcmp(builder, "kaniko") ? PHX_BUILD_KANIKO_IMAGE
									  : PHX_BUILD_BUILDAH_IMAGE);
	cJSON *c = step_container(build, "image", img, o);
	cJSON *env = cJSON_GetObjectItem(c, "env");
	env_add(env, "PHOENIX_IMAGE", target);
	if (local) {
		command(c, "phoenix-build", "image", NULL);
		env_add(env, "PHOENIX_IMAGE_STORE", "/image-store");
		cJSON *m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "name", "image-store");
		cJSON_AddStringToObject(m, "mountPath", "/image-store");
		cJSON_AddItemToArray(cJSON_GetObjectItem(c, "volumeMounts"), m);
	} else if (!strcmp(builder, "kaniko")) {
		command(c, "/busybox/sh", "-c",
			"/kaniko/executor --context \"dir://$PHOENIX_WORKSPACE/$PHOENIX_CONTEXT_DIR\" "
			"--destination \"$PHOENIX_IMAGE\" --digest-file /tmp/digest && "
			"printf '{\"step\":\"image\",\"result\":\"Succeeded\",\"image\":\"%s@%s\"}' "
			"\"${PHOENIX_IMAGE%%@*}\" \"$(cat /tmp/digest)\" > /dev/termination-log");
	} else {
		/* chroot isolation (no runtime inside the step's container); the reported name
		 * drops the tag (name:tag@digest is no valid reference for the tools). */
		if (cJSON_IsTrue(kube_json_get(build, "spec", "image", "insecureRegistry", NULL)))
			env_add(env, "PHOENIX_TLS_VERIFY", "false");
		/* A failure leaves the step's report (as phoenix-build's steps do): bud ->
		 * ImageBuildFailed, push -> PushFailed; buildah's output is the step's log. */
		command(c, "sh", "-c",
			"tls=--tls-verify=${PHOENIX_TLS_VERIFY:-true}; n=${PHOENIX_IMAGE%%@*}; "
			"case ${n##*/} in *:*) n=${n%:*} ;; esac; "
			"fail() { printf '{\"step\":\"image\",\"result\":\"Failed\",\"reason\":\"%s\","
			"\"message\":\"%s (exit %s), see the step log\"}' \"$1\" \"$2\" \"$3\" "
			"> /dev/termination-log; exit 1; }; "
			"buildah bud --storage-driver=vfs --isolation=chroot $tls -t \"$PHOENIX_IMAGE\" "
			"\"$PHOENIX_WORKSPACE/$PHOENIX_CONTEXT_DIR\" || fail ImageBuildFailed "
			"'buildah bud failed' $?; buildah push "
			"--storage-driver=vfs $tls --digestfile /tmp/digest \"$PHOENIX_IMAGE\" || fail "
			"PushFailed \"buildah push to ${n%%/*} failed\" $?; "
			"printf '{\"step\":\"image\",\"result\":\"Succeeded\",\"image\":\"%s@%s\"}' "
			"\"$n\" \"$(cat /tmp/digest)\" > /dev/termination-log");
	}
	cJSON *sc = security_context(local);
	if (!local && strcmp(builder, "kaniko")) {
		/* buildah (chroot isolation, vfs) in the step's container: what it needs beyond a
		 * runtime's defaults (docs/build-steps.md), named, so a runtime with a smaller
		 * default set (CRI-O's) gives them too; not privileged. */
		static const char *const caps[] = { "SYS_ADMIN", "SYS_CHROOT", "SETUID", "SETGID",
						    "CHOWN", "DAC_OVERRIDE", "FOWNER", "MKNOD",
						    "SETFCAP", "KILL" };
		cJSON *add = cJSON_AddArrayToObject(cJSON_AddObjectToObject(sc, "capabilities"),
						    "add");
		for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
			cJSON_AddItemToArray(add, cJSON_CreateString(caps[i]));
	}
	cJSON_AddItemToObject(c, "securityContext", sc);
	return c;
}

/* A Job named `name` of the Build, with its labels (build, run, and step when given) and owner
 * reference, and no spec yet. */
static cJSON *job_object(const cJSON *build, const char *name, const char *run, const char *step)
{
	cJSON *job = cJSON_CreateObject();
	cJSON_AddStringToObject(job, "apiVersion", "batch/v1");
	cJSON_AddStringToObject(job, "kind", "Job");
	cJSON *md = cJSON_AddObjectToObject(job, "metadata");
	cJSON_AddStringToObject(md, "name", name);
	cJSON_AddStringToObject(md, "namespace", kube_json_namespace(build));
	cJSON *labels = cJSON_AddObjectToObject(md, "labels");
	cJSON_AddStringToObject(labels, PHX_BUILD_LABEL, kube_json_name(build));
	cJSON_AddStringToObject(labels, PHX_BUILD_LABEL_RUN, run);
	if (step)
		cJSON_AddStringToObject(labels, PHX_BUILD_LABEL_STEP, step);
	cJSON_AddStringToObject(labels, "app.kubernetes.io/managed-by", "phoenix-operator");
	cJSON_AddItemToObject(md, "ownerReferences",
			      phx_owner_refs_new(build, PHX_API_VERSION, PHX_BUILD_KIND));
	return job;
}

cJSON *phx_build_job_new(const cJSON *build, const struct phx_build_job_opts *o)
{
	const char *bname = kube_json_name(build), *ns = kube_json_namespace(build);
	if (!build || !o || !bname || !ns)
		return NULL;
	const char *step_image = str_or(kube_json_get_str(build, "spec", "stepImage", NULL),
					PHX_BUILD_STEP_IMAGE_DEFAULT);
	char name[128], run[16], target[PHX_BUILD_TARGET_MAX];
	phx_build_job_name(bname, o->run, name, sizeof(name));
	snprintf(run, sizeof(run), "%d", o->run);
	phx_build_target_image(build, target, sizeof(target));

	cJSON *job = job_object(build, name, run, NULL);

	cJSON *spec = cJSON_AddObjectToObject(job, "spec");
	cJSON_AddNumberToObject(spec, "backoffLimit", 0);
	int64_t dl = 1800, ttl = 3600;
	kube_json_get_int(build, &dl, "spec", "activeDeadlineSeconds", NULL);
	kube_json_get_int(build, &ttl, "spec", "retention", "ttlSecondsAfterFinished", NULL);
	cJSON_AddNumberToObject(spec, "activeDeadlineSeconds",
				(double)(dl * (o->deadline_factor > 1 ? o->deadline_factor : 1)));
	cJSON_AddNumberToObject(spec, "ttlSecondsAfterFinished", (double)ttl);
	/* Disruptions do not count against the Job; our invalid-input and no-build-system exit
	 * codes fail it at once (retrying cannot help). */
	cJSON *pfp = cJSON_AddObjectToObject(spec, "podFailurePolicy");
	cJSON *rules = cJSON_AddArrayToObject(pfp, "rules");
	cJSON *r1 = cJSON_CreateObject();
	cJSON_AddStringToObject(r1, "action", "FailJob");
	cJSON *oec = cJSON_AddObjectToObject(r1, "onExitCodes");
	cJSON_AddStringToObject(oec, "operator", "In");
	cJSON *vals = cJSON_AddArrayToObject(oec, "values");
	cJSON_AddItemToArray(vals, cJSON_CreateNumber(64));
	cJSON_AddItemToArray(vals, cJSON_CreateNumber(65));
	cJSON_AddItemToArray(rules, r1);
	cJSON *r2 = cJSON_CreateObject();
	cJSON_AddStringToObject(r2, "action", "Ignore");
	cJSON *opc = cJSON_AddArrayToObject(r2, "onPodConditions");
	cJSON *dt = cJSON_CreateObject();
	cJSON_AddStringToObject(dt, "type", "DisruptionTarget");
	cJSON_AddItemToArray(opc, dt);
	cJSON_AddItemToArray(rules, r2);

	cJSON *tpl = cJSON_AddObjectToObject(spec, "template");
	cJSON *tmd = cJSON_AddObjectToObject(tpl, "metadata");
	cJSON *tl = cJSON_AddObjectToObject(tmd, "labels");
	cJSON_AddStringToObject(tl, PHX_BUILD_LABEL, bname);
	cJSON_AddStringToObject(tl, PHX_BUILD_LABEL_RUN, run);
	cJSON *ps = cJSON_AddObjectToObject(tpl, "spec");
	cJSON_AddStringToObject(ps, "restartPolicy", "Never");
	cJSON_AddFalseToObject(ps, "automountServiceAccountToken");
	cJSON_AddFalseToObject(ps, "enableServiceLinks");
	cJSON *psc = cJSON_AddObjectToObject(ps, "securityContext");
	cJSON_AddNumberToObject(psc, "fsGroup", 65532);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(psc, "seccompProfile"), "type",
				"RuntimeDefault");
	cJSON *vols = cJSON_AddArrayToObject(ps, "volumes");
	cJSON *v = cJSON_CreateObject();
	cJSON_AddStringToObject(v, "name", "workspace");
	cJSON_AddObjectToObject(v, "emptyDir");
	cJSON_AddItemToArray(vols, v);

	cJSON *init = cJSON_AddArrayToObject(ps, "initContainers");
	enum phx_build_kind kind = phx_build_kind_of(build);
	if (kind == PHX_BUILD_KIND_SOURCE) {
		cJSON *c = step_container(build, "fetch", step_image, o);
		command(c, "phoenix-build", "fetch", NULL);
		cJSON *env = cJSON_GetObjectItem(c, "env");
		env_add(env, "PHOENIX_GIT_URL",
			kube_json_get_str(build, "spec", "source", "git", "url", NULL));
		env_add(env, "PHOENIX_GIT_REVISION",
			kube_json_get_str(build, "spec", "source", "git", "revision", NULL));
		cJSON_AddItemToObject(c, "securityContext", security_context(true));
		cJSON_AddItemToArray(init, c);
	} else {
		const char *gimg = kube_json_get_str(build, "spec", "generate", "image", NULL);
		cJSON *c = step_container(build, "generate", str_or(gimg, step_image), o);
		const cJSON *gcmd = kube_json_get(build, "spec", "generate", "command", NULL);
		if (cJSON_IsArray(gcmd) && cJSON_GetArraySize(gcmd) > 0)
			cJSON_AddItemToObject(c, "command", cJSON_Duplicate(gcmd, 1));
		else if (!gimg || !*gimg)
			command(c, "phoenix-build", "generate", NULL);
		/* what the built-in generator (and a custom one) needs besides the SPEC */
		cJSON *genv = cJSON_GetObjectItem(c, "env");
		env_add(genv, "PHOENIX_SERVICE_NAME",
			kube_json_get_str(build, "spec", "serviceName", NULL));
		int64_t dport = 0;
		if (kube_json_get_int(build, &dport, "spec", "deploy", "port", NULL) && dport > 0) {
			char pnum[24];
			snprintf(pnum, sizeof(pnum), "%lld", (long long)dport);
			env_add(genv, "PHOENIX_PORT", pnum);
		}
		const char *cm = kube_json_get_str(build, "spec", "specConfigMap", "name", NULL);
		if (cm && *cm) {
			cJSON *sv = cJSON_CreateObject();
			cJSON_AddStringToObject(sv, "name", "spec");
			/* optional: a missing ConfigMap is the step's InvalidSpec, not a pod that
			 * waits for its volume until the deadline */
			cJSON *cmv = cJSON_AddObjectToObject(sv, "configMap");
			cJSON_AddStringToObject(cmv, "name", cm);
			cJSON_AddTrueToObject(cmv, "optional");
			cJSON_AddItemToArray(vols, sv);
			cJSON *sm = cJSON_CreateObject();
			cJSON_AddStringToObject(sm, "name", "spec");
			cJSON_AddStringToObject(sm, "mountPath", "/spec");
			cJSON_AddTrueToObject(sm, "readOnly");
			cJSON_AddItemToArray(cJSON_GetObjectItem(c, "volumeMounts"), sm);
			env_add(cJSON_GetObjectItem(c, "env"), "PHOENIX_SPEC_DIR", "/spec");
		}
		cJSON_AddItemToObject(c, "securityContext", security_context(true));
		cJSON_AddItemToArray(init, c);
	}
	cJSON *t = step_container(build, "test", step_image, o);
	command(t, "phoenix-build", "test", NULL);
	cJSON *tenv = cJSON_GetObjectItem(t, "env");
	env_add(tenv, "PHOENIX_TEST_COMMAND",
		kube_json_get_str(build, "spec", "test", "command", NULL));
	int64_t tto = 0;
	if (kube_json_get_int(build, &tto, "spec", "test", "timeoutSeconds", NULL) && tto > 0) {
		char s[24];
		snprintf(s, sizeof(s), "%lld", (long long)tto);
		env_add(tenv, "PHOENIX_TEST_TIMEOUT", s);
	}
	cJSON_AddItemToObject(t, "securityContext", security_context(true));
	cJSON_AddItemToArray(init, t);

	if (eq_str(kube_json_get_str(build, "spec", "image", "builder", NULL), "local")) {
		cJSON *hv = cJSON_CreateObject();
		cJSON_AddStringToObject(hv, "name", "image-store");
		cJSON *hp = cJSON_AddObjectToObject(hv, "hostPath");
		cJSON_AddStringToObject(hp, "path", str_or(kube_json_get_str(build, "spec", "image",
			"localStore", NULL), PHX_BUILD_LOCAL_STORE_DEFAULT));
		cJSON_AddStringToObject(hp, "type", "DirectoryOrCreate");
		cJSON_AddItemToArray(vols, hv);
	}
	cJSON *mains = cJSON_AddArrayToObject(ps, "containers");
	cJSON_AddItemToArray(mains, image_container(build, step_image, target, o));
	return job;
}

/* ---- the verify Job ---- */

cJSON *phx_build_verify_job_new(const cJSON *build, int run)
{
	const char *bname = kube_json_name(build), *ns = kube_json_namespace(build);
	const char *svc = kube_json_get_str(build, "spec", "serviceName", NULL);
	if (!build || !bname || !ns || !svc || run < 1)
		return NULL;
	char name[128], runs[16], url[512];
	phx_build_job_name(bname, run, name, sizeof(name));
	snprintf(runs, sizeof(runs), "%d", run);
	int64_t port = 8080, ttl = 3600;
	kube_json_get_int(build, &port, "spec", "deploy", "port", NULL);
	kube_json_get_int(build, &ttl, "spec", "retention", "ttlSecondsAfterFinished", NULL);
	snprintf(url, sizeof(url), "http://%s.%s.svc:%lld", svc, ns, (long long)port);

	cJSON *job = job_object(build, name, runs, "verify");
	cJSON *spec = cJSON_AddObjectToObject(job, "spec");
	cJSON_AddNumberToObject(spec, "backoffLimit", 0);
	cJSON_AddNumberToObject(spec, "activeDeadlineSeconds", PHX_BUILD_VERIFY_TIMEOUT_S + 90);
	cJSON_AddNumberToObject(spec, "ttlSecondsAfterFinished", (double)ttl);
	cJSON *tpl = cJSON_AddObjectToObject(spec, "template");
	cJSON *tl = cJSON_AddObjectToObject(cJSON_AddObjectToObject(tpl, "metadata"), "labels");
	cJSON_AddStringToObject(tl, PHX_BUILD_LABEL, bname);
	cJSON_AddStringToObject(tl, PHX_BUILD_LABEL_RUN, runs);
	cJSON_AddStringToObject(tl, PHX_BUILD_LABEL_STEP, "verify");
	cJSON *ps = cJSON_AddObjectToObject(tpl, "spec");
	cJSON_AddStringToObject(ps, "restartPolicy", "Never");
	cJSON_AddFalseToObject(ps, "automountServiceAccountToken");
	cJSON_AddFalseToObject(ps, "enableServiceLinks");
	cJSON_AddStringToObject(cJSON_AddObjectToObject(cJSON_AddObjectToObject(ps,
				"securityContext"), "seccompProfile"), "type", "RuntimeDefault");
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "name", "verify");
	cJSON_AddStringToObject(c, "image", str_or(kube_json_get_str(build, "spec", "stepImage",
						   NULL), PHX_BUILD_STEP_IMAGE_DEFAULT));
	command(c, "phoenix-build", "verify", NULL);
	cJSON_AddStringToObject(c, "terminationMessagePolicy", "FallbackToLogsOnError");
	cJSON *env = cJSON_AddArrayToObject(c, "env");
	env_add(env, "PHOENIX_VERIFY_URL", url);
	char to[16];
	snprintf(to, sizeof(to), "%d", PHX_BUILD_VERIFY_TIMEOUT_S);
	env_add(env, "PHOENIX_VERIFY_TIMEOUT", to);
	env_add(env, "PHOENIX_TERMINATION_LOG", "/dev/termination-log");
	const cJSON *eps = kube_json_get(build, "spec", "verify", "endpoints", NULL);
	char list[512] = "";
	const cJSON *e;
	cJSON_ArrayForEach(e, eps) {
		size_t l = strlen(list);
		if (cJSON_IsString(e))
			snprintf(list + l, sizeof(list) - l, "%s%s", l ? "," : "", e->valuestring);
	}
	if (list[0])
		env_add(env, "PHOENIX_VERIFY_ENDPOINTS", list);
	cJSON *r = cJSON_AddObjectToObject(c, "resources");
	cJSON *lim = cJSON_AddObjectToObject(r, "limits");
	cJSON_AddStringToObject(lim, "cpu", "500m");
	cJSON_AddStringToObject(lim, "memory", "128Mi");
	cJSON *req = cJSON_AddObjectToObject(r, "requests");
	cJSON_AddStringToObject(req, "cpu", "50m");
	cJSON_AddStringToObject(req, "memory", "32Mi");
	cJSON_AddItemToObject(c, "securityContext", security_context(true));
	cJSON_AddItemToArray(cJSON_AddArrayToObject(ps, "containers"), c);
	return job;
}

int phx_build_verify_job_set_address(cJSON *job, const char *address)
{
	cJSON *c = cJSON_GetArrayItem(kube_json_get(job, "spec", "template", "spec", "containers",
						    NULL), 0);
	cJSON *env = cJSON_GetObjectItem(c, "env");
	if (!cJSON_IsArray(env) || !address || !*address)
		return KUBE_EINVAL;
	env_add(env, "PHOENIX_VERIFY_ADDRESS", address);
	return 0;
}
