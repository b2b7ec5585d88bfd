/* The pipeline pages of the web dashboard (dash_pipeline.h). */
#include "dash_pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dash_server.h"
#include "kube_error.h"
#include "kube_httpd.h"
#include "kube_httpd_auth.h"
#include "kube_informer.h"
#include "kube_json.h"
#include "kube_log.h"
#include "kube_rest.h"
#include "kube_time.h"

#define COMP "dashboard"
#define GROUP "phoenix.fpai.io"
#define SPEC_SUFFIX "-spec"  /* intent_wing.h INTENT_SPEC_SUFFIX */
#define SPEC_KEY "SPEC.md"   /* intent_wing.h INTENT_SPEC_KEY */
#define SPEC_MAX 65536       /* SPEC text shown, at most */
#define REASON_MAX 1024

static const struct kube_gvr INTENTS = {GROUP, "v1alpha1", "intents", true};
static const struct kube_gvr BUILDS = {GROUP, "v1alpha1", "builds", true};
static const struct kube_gvr APPROVALS = {GROUP, "v1alpha1", "approvals", true};
static const struct kube_gvr CONFIGMAPS = {"", "v1", "configmaps", true};

/* ---------------------------------------------------------------- pure parts */

static bool eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static const char *s_or(const char *s, const char *d)
{
	return s ? s : d;
}

static int64_t ms_of(const char *t)
{
	int64_t ms;

	return t && kube_time_parse_ms(t, &ms) == 0 ? ms : -1;
}

static const cJSON *cond_of(const cJSON *obj, const char *type)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, kube_json_get(obj, "status", "conditions", NULL))
		if (eq(kube_json_get_str(c, "type", NULL), type))
			return c;
	return NULL;
}

static const char *phase_of(const cJSON *obj)
{
	return s_or(kube_json_get_str(obj, "status", "phase", NULL), "Pending");
}

const char *dash_pipeline_gate(const char *kind, const cJSON *obj)
{
	const char *p = phase_of(obj);

	if (eq(kind, "Build"))
		return eq(p, "AwaitingApproval") ? "Deploy" : NULL;
	if (eq(p, "AwaitingApproval"))
		return "Governance";
	if (eq(p, "SpecReview"))
		return "Spec";
	return NULL;
}

static bool intent_done(const char *p)
{
	return eq(p, "Ready") || eq(p, "Failed") || eq(p, "Rejected") || eq(p, "Denied") ||
	       eq(p, "Cancelled");
}

static double rate(double ok, double bad)
{
	return ok + bad > 0 ? (double)(long long)(1000.0 * ok / (ok + bad)) / 10.0 : 0;
}

static void add_str(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
}

/* Queue entries sort by position (then name). */
static int by_position(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	double px = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(x, "position"));
	double py = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(y, "position"));

	if (px != py)
		return px < py ? -1 : 1;
	return strcmp(s_or(kube_json_get_str(x, "name", NULL), ""),
		      s_or(kube_json_get_str(y, "name", NULL), ""));
}

static void sort_queue(cJSON *queue)
{
	int n = cJSON_GetArraySize(queue);
	cJSON **v = n > 0 ? calloc((size_t)n, sizeof(*v)) : NULL;
	int i = 0;

	if (!v)
		return;
	while (queue->child)
		v[i++] = cJSON_DetachItemViaPointer(queue, queue->child);
	qsort(v, (size_t)n, sizeof(*v), by_position);
	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(queue, v[i]);
	free(v);
}

cJSON *dash_pipeline_summary(const cJSON *intents, const cJSON *builds, int64_t now_ms)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *in = cJSON_AddObjectToObject(o, "intents");
	cJSON *active = cJSON_AddArrayToObject(o, "active");
	cJSON *queue = cJSON_AddArrayToObject(o, "queue");
	cJSON *bo = cJSON_AddObjectToObject(o, "builds");
	double total = 0, today = 0, done = 0, failed = 0, dur = 0, ndur = 0;
	double bt = 0, bq = 0, br = 0, bd = 0, bf = 0, bdur = 0, nbdur = 0;
	int64_t day = now_ms / 86400000;
	const cJSON *it;

	if (!o || !in || !active || !queue || !bo) {
		cJSON_Delete(o);
		return NULL;
	}
	cJSON_ArrayForEach(it, intents) {
		const char *p = phase_of(it);
		int64_t created = ms_of(kube_json_get_str(it, "metadata", "creationTimestamp",
							  NULL));

		total++;
		if (created >= 0 && created / 86400000 == day)
			today++;
		if (eq(p, "Ready")) {
			const cJSON *r = cond_of(it, "Ready");
			int64_t end = ms_of(kube_json_get_str(r, "lastTransitionTime", NULL));

			done++;
			if (created >= 0 && end >= created) {
				dur += (double)(end - created);
				ndur++;
			}
		} else if (eq(p, "Failed") || eq(p, "Rejected") || eq(p, "Denied")) {
			failed++;
		}
		if (!intent_done(p)) {
			cJSON *a = cJSON_CreateObject();

			add_str(a, "namespace", kube_json_namespace(it));
			add_str(a, "name", kube_json_name(it));
			add_str(a, "phase", p);
			add_str(a, "service", kube_json_get_str(it, "spec", "serviceName", NULL));
			add_str(a, "priority", kube_json_get_str(it, "spec", "priority", NULL));
			add_str(a, "build", kube_json_get_str(it, "status", "buildRef", "name", NULL));
			add_str(a, "since", kube_json_get_str(it, "metadata", "creationTimestamp",
							      NULL));
			cJSON_AddItemToArray(active, a);
		}
		const cJSON *q = kube_json_get(it, "status", "queue", NULL);
		if (cJSON_IsObject(q) && eq(p, "Queued")) {
			cJSON *e = cJSON_CreateObject();
			int64_t pos = 0;

			kube_json_get_int(q, &pos, "position", NULL);
			cJSON_AddNumberToObject(e, "position", (double)pos);
			add_str(e, "namespace", kube_json_namespace(it));
			add_str(e, "name", kube_json_name(it));
			add_str(e, "priority", kube_json_get_str(q, "priority", NULL));
			add_str(e, "enqueuedAt", kube_json_get_str(q, "enqueuedAt", NULL));
			add_str(e, "slaDeadline", kube_json_get_str(q, "slaDeadline", NULL));
			const cJSON *sla = cond_of(it, "SLABreached");
			cJSON_AddBoolToObject(e, "slaBreached",
					      eq(kube_json_get_str(sla, "status", NULL), "True"));
			cJSON_AddItemToArray(queue, e);
		}
	}
	sort_queue(queue);
	cJSON_AddNumberToObject(in, "total", total);
	cJSON_AddNumberToObject(in, "today", today);
	cJSON_AddNumberToObject(in, "completed", done);
	cJSON_AddNumberToObject(in, "failed", failed);
	cJSON_AddNumberToObject(in, "active", cJSON_GetArraySize(active));
	cJSON_AddNumberToObject(in, "successRate", rate(done, failed));
	if (ndur > 0)
		cJSON_AddNumberToObject(in, "avgDurationMs", (double)(long long)(dur / ndur));

	cJSON_ArrayForEach(it, builds) {
		const char *p = phase_of(it);

		bt++;
		if (eq(p, "Pending"))
			bq++;
		else if (eq(p, "Succeeded"))
			bd++;
		else if (eq(p, "Failed"))
			bf++;
		else if (!eq(p, "Cancelled"))
			br++;
		int64_t s = ms_of(kube_json_get_str(it, "status", "startTime", NULL));
		int64_t e = ms_of(kube_json_get_str(it, "status", "completionTime", NULL));
		if (eq(p, "Succeeded") && s >= 0 && e >= s) {
			bdur += (double)(e - s);
			nbdur++;
		}
	}
	cJSON_AddNumberToObject(bo, "total", bt);
	cJSON_AddNumberToObject(bo, "queued", bq);
	cJSON_AddNumberToObject(bo, "running", br);
	cJSON_AddNumberToObject(bo, "completed", bd);
	cJSON_AddNumberToObject(bo, "failed", bf);
	cJSON_AddNumberToObject(bo, "successRate", rate(bd, bf));
	if (nbdur > 0)
		cJSON_AddNumberToObject(bo, "avgBuildMs", (double)(long long)(bdur / nbdur));
	return o;
}

/* ---------------------------------------------------------------- state and access */

struct pipeline {
	struct kube_client *client;
	struct kube_informer *intents, *builds;
};

/* Who asks, and their answers so far ({"<verb> <resource> <ns>": bool}). */
struct asker {
	struct dash_call c;
	cJSON *memo;
};

static bool may(struct asker *a, const char *verb, const char *resource, const char *ns)
{
	char key[400];
	const cJSON *m;
	bool ok;

	snprintf(key, sizeof(key), "%s %s %s", verb, resource, ns);
	m = cJSON_GetObjectItemCaseSensitive(a->memo, key);
	if (m)
		return cJSON_IsTrue(m);
	ok = dash_call_can(&a->c, verb, GROUP, resource, ns);
	cJSON_AddBoolToObject(a->memo, key, ok);
	return ok;
}

struct collect {
	struct asker *a;
	const char *resource;
	cJSON *out;
};

static int collect_one(const cJSON *obj, void *ud)
{
	struct collect *c = ud;
	const char *ns = kube_json_namespace(obj);

	if (ns && may(c->a, "get", c->resource, ns))
		cJSON_AddItemToArray(c->out, cJSON_Duplicate(obj, 1));
	return 0;
}

/* The cached objects of inf the asker may get, as a new array. */
static cJSON *visible(struct asker *a, struct kube_informer *inf, const char *resource)
{
	struct collect c = {a, resource, cJSON_CreateArray()};

	if (c.out && inf)
		kube_informer_foreach(inf, collect_one, &c);
	return c.out;
}

static bool synced(struct pipeline *p)
{
	return kube_informer_has_synced(p->intents) && kube_informer_has_synced(p->builds);
}

/* ---------------------------------------------------------------- /api/v1/pipeline */

static cJSON *pipeline_view(struct pipeline *p, struct asker *a)
{
	cJSON *in = visible(a, p->intents, "intents"), *bu = visible(a, p->builds, "builds");
	cJSON *o = in && bu ? dash_pipeline_summary(in, bu, (int64_t)time(NULL) * 1000) : NULL;

	if (o) {
		cJSON_AddBoolToObject(o, "synced", synced(p));
		cJSON_AddBoolToObject(o, "buildsListed", kube_informer_has_synced(p->builds));
		cJSON_AddStringToObject(o, "scope", may(a, "get", "intents", "") ? "cluster"
									 : "namespaces");
	}
	cJSON_Delete(in);
	cJSON_Delete(bu);
	return o;
}

struct live {
	struct pipeline *p;
	struct dash_server *d;
	char ns[254], name[254]; /* a Build's detail */
	cJSON *(*view)(struct live *l, struct asker *a, int *status);
};

static cJSON *live_poll(void *ud, const struct kube_httpd_user *u, int *status)
{
	struct live *l = ud;
	struct asker a = {{l->d, NULL, u, "", false}, cJSON_CreateObject()};
	cJSON *o = a.memo ? l->view(l, &a, status) : NULL;

	cJSON_Delete(a.memo);
	return o;
}

static cJSON *live_pipeline(struct live *l, struct asker *a, int *status)
{
	*status = 500;
	return pipeline_view(l->p, a);
}

static int serve_live(struct pipeline *p, const struct dash_call *c, const char *ns,
		      const char *name, cJSON *(*view)(struct live *, struct asker *, int *),
		      struct kube_http_response *resp)
{
	struct live *l = calloc(1, sizeof(*l));

	if (!l)
		return KUBE_ENOMEM;
	l->p = p;
	l->d = c->d;
	l->view = view;
	snprintf(l->ns, sizeof(l->ns), "%s", s_or(ns, ""));
	snprintf(l->name, sizeof(l->name), "%s", s_or(name, ""));
	return dash_serve_live(c, live_poll, l, free, resp);
}

static int answer(struct kube_http_response *resp, int status, cJSON *o)
{
	int rc = o ? dash_answer_json(resp, status, o) : dash_answer_error(resp, 500, "error");

	cJSON_Delete(o);
	return rc;
}

static int route_pipeline(void *data, const struct dash_call *c, struct kube_http_response *resp)
{
	struct pipeline *p = data;
	struct asker a = {*c, cJSON_CreateObject()};
	int rc;

	if (c->write)
		rc = dash_answer_error(resp, 405, "method not allowed");
	else if (strcmp(c->rest, "/events") == 0)
		rc = serve_live(p, c, NULL, NULL, live_pipeline, resp);
	else if (!*c->rest)
		rc = answer(resp, 200, pipeline_view(p, &a));
	else
		rc = dash_answer_error(resp, 404, "not found");
	cJSON_Delete(a.memo);
	return rc;
}

/* ---------------------------------------------------------------- /api/v1/approvals */

/* The SPEC ConfigMap's text of Intent ns/name (NULL when there is none), capped. */
static char *spec_text(struct pipeline *p, const char *ns, const char *name, bool *cut)
{
	char cm[300];
	cJSON *o = NULL;
	char *t = NULL;

	*cut = false;
	snprintf(cm, sizeof(cm), "%s%s", name, SPEC_SUFFIX);
	if (kube_get(p->client, &CONFIGMAPS, ns, cm, NULL, &o, NULL) == 0) {
		const char *s = kube_json_get_str(o, "data", SPEC_KEY, NULL);

		if (s) {
			size_t n = strlen(s);

			*cut = n > SPEC_MAX;
			t = strndup(s, *cut ? SPEC_MAX : n);
		}
	}
	cJSON_Delete(o);
	return t;
}

static void add_pending(struct pipeline *p, struct asker *a, cJSON *out, const char *kind,
			const cJSON *obj)
{
	const char *gate = dash_pipeline_gate(kind, obj);
	const char *ns = kube_json_namespace(obj), *name = kube_json_name(obj);
	cJSON *e;
	int64_t gen = 0;

	if (!gate || !ns || !name)
		return;
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "kind", kind);
	cJSON_AddStringToObject(e, "namespace", ns);
	cJSON_AddStringToObject(e, "name", name);
	cJSON_AddStringToObject(e, "gate", gate);
	cJSON_AddStringToObject(e, "phase", phase_of(obj));
	kube_json_get_int(obj, &gen, "metadata", "generation", NULL);
	cJSON_AddNumberToObject(e, "generation", (double)gen);
	add_str(e, "service", kube_json_get_str(obj, "spec", "serviceName", NULL));
	add_str(e, "created", kube_json_get_str(obj, "metadata", "creationTimestamp", NULL));
	cJSON_AddBoolToObject(e, "mayDecide", may(a, "create", "approvals", ns));
	if (eq(kind, "Intent")) {
		const cJSON *g = kube_json_get(obj, "status", "governance", NULL);
		const cJSON *cd = cond_of(obj, eq(gate, "Spec") ? "SpecReady" : "Approved");

		add_str(e, "priority", kube_json_get_str(obj, "spec", "priority", NULL));
		add_str(e, "tier", kube_json_get_str(obj, "spec", "tier", NULL));
		add_str(e, "purpose", kube_json_get_str(obj, "spec", "purpose", NULL));
		add_str(e, "message", kube_json_get_str(cd, "message", NULL));
		if (cJSON_IsObject(g)) {
			cJSON *gov = cJSON_AddObjectToObject(e, "governance");

			cJSON_AddItemToObject(gov, "score", cJSON_Duplicate(
				cJSON_GetObjectItemCaseSensitive(g, "score"), 1));
			add_str(gov, "decision", kube_json_get_str(g, "decision", NULL));
			add_str(gov, "riskLevel", kube_json_get_str(g, "riskLevel", NULL));
			add_str(gov, "mode", kube_json_get_str(g, "mode", NULL));
			cJSON_AddItemToObject(gov, "results", cJSON_Duplicate(
				kube_json_get(g, "results", NULL), 1));
		}
		const cJSON *sp = kube_json_get(obj, "status", "spec", NULL);
		if (cJSON_IsObject(sp))
			cJSON_AddItemToObject(e, "specReview", cJSON_Duplicate(sp, 1));
		bool cut;
		char *t = spec_text(p, ns, name, &cut);
		if (t) {
			cJSON_AddStringToObject(e, "spec", t);
			cJSON_AddBoolToObject(e, "specTruncated", cut);
		}
		free(t);
	} else {
		const cJSON *cd = cond_of(obj, "DeployApproved");

		add_str(e, "image", kube_json_get_str(obj, "status", "output", "image", NULL));
		add_str(e, "previousImage", kube_json_get_str(obj, "status", "previousImage", NULL));
		add_str(e, "message", kube_json_get_str(cd, "message", NULL));
		cJSON_AddItemToObject(e, "steps", cJSON_Duplicate(
			kube_json_get(obj, "status", "steps", NULL), 1));
	}
	cJSON_AddItemToArray(out, e);
}

static cJSON *approvals_view(struct pipeline *p, struct asker *a)
{
	cJSON *in = visible(a, p->intents, "intents"), *bu = visible(a, p->builds, "builds");
	cJSON *o = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(o, "items");
	const cJSON *it;

	cJSON_ArrayForEach(it, in)
		add_pending(p, a, items, "Intent", it);
	cJSON_ArrayForEach(it, bu)
		add_pending(p, a, items, "Build", it);
	cJSON_AddBoolToObject(o, "synced", synced(p));
	cJSON_Delete(in);
	cJSON_Delete(bu);
	return o;
}

static bool valid_dns(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > max)
		return false;
	for (const char *q = s; *q; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-' ||
		      *q == '.'))
			return false;
	return true;
}

/* POST /api/v1/approvals {kind, namespace, name, gate?, decision, reason} */
static int decide(struct pipeline *p, struct asker *a, struct kube_http_response *resp)
{
	size_t len = 0;
	const char *body = kube_http_request_body(a->c.req, &len);
	cJSON *in = cJSON_ParseWithLength(body, len), *target = NULL, *apv = NULL, *out = NULL;
	const char *kind = kube_json_get_str(in, "kind", NULL);
	const char *ns = kube_json_get_str(in, "namespace", NULL);
	const char *name = kube_json_get_str(in, "name", NULL);
	const char *gate = kube_json_get_str(in, "gate", NULL);
	const char *decision = kube_json_get_str(in, "decision", NULL);
	const char *reason = kube_json_get_str(in, "reason", NULL);
	const char *who = a->c.user->name;
	struct kube_status st = {0};
	char msg[700], key[600];
	int rc;

	if (!in || !(eq(kind, "Intent") || eq(kind, "Build")) || !valid_dns(ns, 63) ||
	    !valid_dns(name, 253) || !(eq(decision, "Approve") || eq(decision, "Deny"))) {
		rc = dash_answer_error(resp, 422, "want {\"kind\": \"Intent\"|\"Build\", "
				       "\"namespace\", \"name\", \"decision\": \"Approve\"|\"Deny\", "
				       "\"reason\", \"gate\" (optional)}");
		goto out;
	}
	if (!reason || !*reason || strlen(reason) > REASON_MAX) {
		rc = dash_answer_error(resp, 422, "reason: required (at most 1024 characters): it "
				       "is recorded with the decision");
		goto out;
	}
	if (!who || !*who || !may(a, "create", "approvals", ns)) {
		kube_log(KUBE_LOG_INFO, COMP, "approval refused: no RBAC", "user", s_or(who, ""),
			 "namespace", ns, "target", name, NULL);
		snprintf(msg, sizeof(msg), "Forbidden: %s may not create approvals in namespace "
			 "%s", s_or(who, "(nobody)"), ns);
		rc = dash_answer_error(resp, 403, msg);
		goto out;
	}
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	rc = kube_informer_get(eq(kind, "Build") ? p->builds : p->intents, key, &target);
	if (rc < 0 || !may(a, "get", eq(kind, "Build") ? "builds" : "intents", ns)) {
		snprintf(msg, sizeof(msg), "no %s %s in namespace %s", kind, name, ns);
		rc = dash_answer_error(resp, 404, msg);
		goto out;
	}
	const char *waiting = dash_pipeline_gate(kind, target);
	if (!gate)
		gate = waiting;
	if (!waiting || !eq(gate, waiting)) {
		snprintf(msg, sizeof(msg), "%s %s is %s: it waits at no gate%s%s", kind, name,
			 phase_of(target), waiting ? " but " : "", s_or(waiting, ""));
		rc = dash_answer_error(resp, 409, msg);
		goto out;
	}
	int64_t gen = 0;
	char gname[300];
	kube_json_get_int(target, &gen, "metadata", "generation", NULL);
	snprintf(gname, sizeof(gname), "%.200s-", name);
	apv = cJSON_CreateObject();
	cJSON_AddStringToObject(apv, "apiVersion", "phoenix.fpai.io/v1alpha1");
	cJSON_AddStringToObject(apv, "kind", "Approval");
	cJSON *md = kube_json_ensure_obj(apv, "metadata");
	kube_json_set_str(md, "generateName", gname);
	cJSON *lab = kube_json_ensure_obj(md, "annotations");
	kube_json_set_str(lab, "phoenix.fpai.io/created-by", "dashboard");
	cJSON *spec = kube_json_ensure_obj(apv, "spec");
	cJSON *ref = kube_json_ensure_obj(spec, "targetRef");
	kube_json_set_str(ref, "kind", kind);
	kube_json_set_str(ref, "name", name);
	if (gen > 0)
		cJSON_AddNumberToObject(ref, "generation", (double)gen);
	kube_json_set_str(spec, "gate", gate);
	kube_json_set_str(spec, "decision", decision);
	kube_json_set_str(spec, "reason", reason);
	kube_json_set_str(spec, "approver", who);
	char *path = kube_resource_path(&APPROVALS, ns, NULL, NULL);
	char *txt = kube_json_print(apv);
	/* A user's decision, not the controller's write: standbys take it too. */
	rc = path && txt ? kube_request(p->client, "POST", path, NULL, "application/json", txt,
					KUBE_REQ_BYPASS_GATE, &out, &st)
			 : KUBE_ENOMEM;
	free(path);
	free(txt);
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "creating the Approval failed: %s%s%s", kube_strerror(rc),
			 st.message ? ": " : "", s_or(st.message, ""));
		rc = dash_answer_error(resp, 502, msg);
		goto out;
	}
	kube_log(KUBE_LOG_INFO, COMP, "approval created", "user", who, "namespace", ns,
		 "target", name, "gate", gate, "decision", decision, "approval",
		 s_or(kube_json_name(out), ""), NULL);
	cJSON *r = cJSON_CreateObject();
	add_str(r, "approval", kube_json_name(out));
	cJSON_AddStringToObject(r, "approver", who);
	cJSON_AddStringToObject(r, "gate", gate);
	cJSON_AddStringToObject(r, "decision", decision);
	rc = answer(resp, 201, r);
out:
	kube_status_release(&st);
	cJSON_Delete(in);
	cJSON_Delete(target);
	cJSON_Delete(apv);
	cJSON_Delete(out);
	return rc;
}

static int route_approvals(void *data, const struct dash_call *c,
			   struct kube_http_response *resp)
{
	struct pipeline *p = data;
	struct asker a = {*c, cJSON_CreateObject()};
	const char *m = kube_http_request_method(c->req);
	int rc;

	if (*c->rest)
		rc = dash_answer_error(resp, 404, "not found");
	else if (c->write && !eq(m, "POST"))
		rc = dash_answer_error(resp, 405, "method not allowed");
	else if (c->write)
		rc = decide(p, &a, resp);
	else
		rc = answer(resp, 200, approvals_view(p, &a));
	cJSON_Delete(a.memo);
	return rc;
}

/* ---------------------------------------------------------------- /api/v1/builds/NS/NAME */

static cJSON *build_view(struct pipeline *p, struct asker *a, const char *ns, const char *name,
			 int *status)
{
	char key[600];
	cJSON *b = NULL, *o;

	if (!may(a, "get", "builds", ns)) {
		*status = 403;
		return NULL;
	}
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	if (kube_informer_get(p->builds, key, &b) < 0) {
		*status = 404;
		return NULL;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "namespace", ns);
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddStringToObject(o, "phase", phase_of(b));
	add_str(o, "step", kube_json_get_str(b, "status", "step", NULL));
	add_str(o, "service", kube_json_get_str(b, "spec", "serviceName", NULL));
	add_str(o, "intent", kube_json_get_str(b, "metadata", "labels", "phoenix.fpai.io/intent",
					       NULL));
	add_str(o, "image", kube_json_get_str(b, "status", "output", "image", NULL));
	add_str(o, "startTime", kube_json_get_str(b, "status", "startTime", NULL));
	add_str(o, "completionTime", kube_json_get_str(b, "status", "completionTime", NULL));
	add_str(o, "gate", dash_pipeline_gate("Build", b));
	cJSON_AddBoolToObject(o, "mayDecide", may(a, "create", "approvals", ns));
	static const char *const copy[] = {"attempt", "steps", "conditions", "history", "retry"};
	for (size_t i = 0; i < sizeof(copy) / sizeof(copy[0]); i++) {
		const cJSON *v = kube_json_get(b, "status", copy[i], NULL);

		if (v)
			cJSON_AddItemToObject(o, copy[i], cJSON_Duplicate(v, 1));
	}
	cJSON_Delete(b);
	return o;
}

static cJSON *live_build(struct live *l, struct asker *a, int *status)
{
	return build_view(l->p, a, l->ns, l->name, status);
}

static int route_builds(void *data, const struct dash_call *c, struct kube_http_response *resp)
{
	struct pipeline *p = data;
	struct asker a = {*c, cJSON_CreateObject()};
	char ns[64], name[254];
	const char *r = c->rest, *slash;
	int rc, status = 500;

	if (c->write) {
		rc = dash_answer_error(resp, 405, "method not allowed");
		goto out;
	}
	/* /NS/NAME[/events] */
	slash = *r == '/' ? strchr(r + 1, '/') : NULL;
	if (!slash || (size_t)(slash - r - 1) >= sizeof(ns)) {
		rc = dash_answer_error(resp, 404, "want /api/v1/builds/NAMESPACE/NAME");
		goto out;
	}
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - r - 1), r + 1);
	size_t nl = strcspn(slash + 1, "/");
	snprintf(name, sizeof(name), "%.*s", (int)(nl < sizeof(name) ? nl : 0), slash + 1);
	const char *tail = slash + 1 + nl;
	if (!valid_dns(ns, 63) || !valid_dns(name, 253) || (*tail && strcmp(tail, "/events"))) {
		rc = dash_answer_error(resp, 404, "want /api/v1/builds/NAMESPACE/NAME[/events]");
		goto out;
	}
	if (*tail) {
		rc = serve_live(p, c, ns, name, live_build, resp);
		goto out;
	}
	cJSON *o = build_view(p, &a, ns, name, &status);
	rc = o ? answer(resp, 200, o)
	       : dash_answer_error(resp, status, status == 403 ? "Forbidden: you may not get "
				   "builds in this namespace" : "no such Build");
out:
	cJSON_Delete(a.memo);
	return rc;
}

/* ---------------------------------------------------------------- registration */

static void pipeline_free(void *data)
{
	struct pipeline *p = data;

	if (!p)
		return;
	kube_informer_free(p->intents);
	kube_informer_free(p->builds);
	free(p);
}

/* The routes share p; the first one frees it. */
static void no_free(void *data)
{
	(void)data;
}

int dash_pipeline_register(struct dash_server *d, struct kube_client *client, const char *ns)
{
	struct pipeline *p;
	int rc;

	if (!d)
		d = dash_server_default();
	if (!d)
		return 0;
	if (!client)
		return KUBE_EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return KUBE_ENOMEM;
	p->client = client;
	struct kube_informer_opts io = {.gvr = &INTENTS, .namespace = ns, .name = "dash-intents"};
	struct kube_informer_opts bo = {.gvr = &BUILDS, .namespace = ns, .name = "dash-builds"};
	rc = kube_informer_new(client, &io, &p->intents);
	if (rc == 0)
		rc = kube_informer_new(client, &bo, &p->builds);
	if (rc == 0)
		rc = kube_informer_start(p->intents);
	if (rc == 0)
		rc = kube_informer_start(p->builds);
	if (rc < 0) {
		pipeline_free(p);
		return rc;
	}
	/* The first route owns p (on its failure add_route has freed it). */
	struct dash_route r1 = {"builds", route_builds, p, pipeline_free};
	struct dash_route r2 = {"pipeline", route_pipeline, p, no_free};
	struct dash_route r3 = {"approvals", route_approvals, p, no_free};
	rc = dash_server_add_route(d, &r1);
	if (rc == 0)
		rc = dash_server_add_route(d, &r2);
	if (rc == 0)
		rc = dash_server_add_route(d, &r3);
	return rc;
}
