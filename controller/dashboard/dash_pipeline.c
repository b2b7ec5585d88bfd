/* The pipeline pages of the web dashboard (dash_pipeline.h). */
#include "dash_pipeline.h"
#include "dash_summary.h"

#include <pthread.h>
#include <stdatomic.h>
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
#include "phx_approval.h"
#include "kube_log.h"
#include "kube_rest.h"

#define COMP "dashboard"
#define GROUP "phoenix.fpai.io"
#define SPEC_SUFFIX "-spec"  /* intent_wing.h INTENT_SPEC_SUFFIX */
#define SPEC_KEY "SPEC.md"   /* intent_wing.h INTENT_SPEC_KEY */
#define SPEC_MAX 65536       /* SPEC text shown, at most */
#define SPEC_REREAD_MS 5000  /* a live view reads a waiting Intent's SPEC this often */
#define REASON_MAX 1024
#define LOG_MAX (1024 * 1024) /* log bytes one live view shows, at most */
#define LOG_EVENT_MAX 16384   /* bytes per SSE event */
#define LOG_STREAM_MAX_S 600  /* a log view ends after this (the page can reopen it) */

static const struct kube_gvr INTENTS = {GROUP, "v1alpha1", "intents", true};
static const struct kube_gvr BUILDS = {GROUP, "v1alpha1", "builds", true};
static const struct kube_gvr APPROVALS = {GROUP, "v1alpha1", "approvals", true};
static const struct kube_gvr CONFIGMAPS = {"", "v1", "configmaps", true};

static bool eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static const char *s_or(const char *s, const char *d)
{
	return s ? s : d;
}

static void add_str(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
}

/* ---------------------------------------------------------------- state and access */

struct pipeline {
	struct kube_client *client;
	struct kube_informer *intents, *builds;
};

/* Who asks, and their answers so far ({"<verb> <resource> <ns>": bool}). A live view also
 * keeps the SPEC texts it read ({"ns/name": {"rv", "at", "text", "cut"}}): specs_was from its
 * last poll (the live view's; entries still good move to specs_now), specs_now filled by this
 * one; NULL in a one-shot request. */
struct asker {
	struct dash_call c;
	cJSON *memo;
	cJSON *specs_was;
	cJSON *specs_now;
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
	cJSON *specs; /* the SPEC texts of the last poll (see struct asker) */
};

static void live_free(void *ud)
{
	struct live *l = ud;

	if (l)
		cJSON_Delete(l->specs);
	free(l);
}

/* One poll of a live view; a stream polls its view from one thread at a time. */
static cJSON *live_poll(void *ud, const struct kube_httpd_user *u, int *status)
{
	struct live *l = ud;
	struct asker a = {{l->d, NULL, u, "", false}, cJSON_CreateObject(), l->specs,
			  cJSON_CreateObject()};
	cJSON *o = a.memo && a.specs_now ? l->view(l, &a, status) : NULL;

	cJSON_Delete(a.memo);
	if (o) {
		cJSON_Delete(l->specs);
		l->specs = a.specs_now;
	} else {
		cJSON_Delete(a.specs_now);
	}
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
	return dash_serve_live(c, live_poll, l, live_free, resp);
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
	struct asker a = {*c, cJSON_CreateObject(), NULL, NULL};
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

static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A live view's SPEC text of Intent obj as its last poll read it, when the Intent has not
 * changed since and the read is younger than SPEC_REREAD_MS; else NULL. */
static cJSON *spec_cached(struct asker *a, const char *key, const char *rv)
{
	cJSON *e = cJSON_GetObjectItemCaseSensitive(a->specs_was, key);
	double at = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "at"));

	if (!e || !eq(kube_json_get_str(e, "rv", NULL), rv) || mono_ms() - (int64_t)at >
	    SPEC_REREAD_MS)
		return NULL;
	return e;
}

static char *spec_read(struct pipeline *p, const char *ns, const char *name, bool *cut);

/* The SPEC ConfigMap's text of Intent obj (NULL when there is none), capped. A live view reads
 * it again only when the Intent changed or every SPEC_REREAD_MS, not on every poll. */
static char *spec_text(struct pipeline *p, struct asker *a, const cJSON *obj, bool *cut)
{
	const char *ns = kube_json_namespace(obj), *name = kube_json_name(obj);
	const char *rv = kube_json_get_str(obj, "metadata", "resourceVersion", NULL);
	char key[600];
	cJSON *e;
	char *t;

	if (!a->specs_now)
		return spec_read(p, ns, name, cut);
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	e = spec_cached(a, key, rv);
	if (e) {
		const char *was = kube_json_get_str(e, "text", NULL);

		*cut = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "cut"));
		t = was ? strdup(was) : NULL;
		/* Moved, not copied: the last poll's set is replaced by this one's anyway. */
		cJSON_AddItemToObject(a->specs_now, key, cJSON_DetachItemViaPointer(a->specs_was, e));
		return t;
	}
	t = spec_read(p, ns, name, cut);
	cJSON *n = cJSON_CreateObject();
	if (n) {
		add_str(n, "rv", rv);
		cJSON_AddNumberToObject(n, "at", (double)mono_ms());
		add_str(n, "text", t);
		cJSON_AddBoolToObject(n, "cut", *cut);
		cJSON_AddItemToObject(a->specs_now, key, n);
	}
	return t;
}

static char *spec_read(struct pipeline *p, const char *ns, const char *name, bool *cut)
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
	cJSON_AddStringToObject(e, "phase", dash_phase_of(obj));
	kube_json_get_int(obj, &gen, "metadata", "generation", NULL);
	cJSON_AddNumberToObject(e, "generation", (double)gen);
	add_str(e, "service", kube_json_get_str(obj, "spec", "serviceName", NULL));
	add_str(e, "created", kube_json_get_str(obj, "metadata", "creationTimestamp", NULL));
	cJSON_AddBoolToObject(e, "mayDecide", may(a, "create", "approvals", ns));
	if (eq(kind, "Intent")) {
		const cJSON *g = kube_json_get(obj, "status", "governance", NULL);
		const cJSON *cd = dash_cond_of(obj, eq(gate, "Spec") ? "SpecReady" : "Approved");

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
		char *t = spec_text(p, a, obj, &cut);
		if (t) {
			cJSON_AddStringToObject(e, "spec", t);
			cJSON_AddBoolToObject(e, "specTruncated", cut);
		}
		free(t);
	} else {
		const cJSON *cd = dash_cond_of(obj, "DeployApproved");

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

static cJSON *live_approvals(struct live *l, struct asker *a, int *status)
{
	*status = 500;
	return approvals_view(l->p, a);
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
			 dash_phase_of(target), waiting ? " but " : "", s_or(waiting, ""));
		rc = dash_answer_error(resp, 409, msg);
		goto out;
	}
	int64_t gen = 0;
	kube_json_get_int(target, &gen, "metadata", "generation", NULL);
	apv = phx_approval_new(kind, name, gen, gate, decision, reason, who, "dashboard");
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
	struct asker a = {*c, cJSON_CreateObject(), NULL, NULL};
	const char *m = kube_http_request_method(c->req);
	int rc;

	if (!c->write && strcmp(c->rest, "/events") == 0)
		rc = serve_live(p, c, NULL, NULL, live_approvals, resp);
	else if (*c->rest)
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
	cJSON_AddStringToObject(o, "phase", dash_phase_of(b));
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

/* ---------------------------------------------------------------- a step's live log */

/* pods/log?follow of a step's container, relayed as SSE "log" events {"text": ...} (JSON, so
 * the page gets text it renders with textContent), capped at LOG_MAX; an "end" event says why
 * it stopped. The follow runs on its own thread; the server's read callback drains it. */
struct logstream {
	struct kube_client *client;
	char *path, *query;
	pthread_t th;
	bool started;
	atomic_bool cancel;
	pthread_mutex_t mu;
	char *buf;       /* received, not yet sent */
	size_t len, cap;
	size_t total;    /* received in all */
	bool done, truncated, end_sent;
	char why[300];   /* when the follow failed */
	char *pending;   /* the SSE bytes being sent */
	size_t plen, poff;
	struct timespec t0;
};

static int log_body(const char *buf, size_t len, void *ud)
{
	struct logstream *ls = ud;
	int rc = 0;

	pthread_mutex_lock(&ls->mu);
	if (ls->total + len > LOG_MAX) {
		len = LOG_MAX - ls->total;
		ls->truncated = true;
		rc = 1; /* stop following */
	}
	if (ls->len + len > ls->cap) {
		size_t cap = (ls->len + len) * 2;
		char *n = realloc(ls->buf, cap);

		if (!n) {
			pthread_mutex_unlock(&ls->mu);
			return KUBE_ENOMEM;
		}
		ls->buf = n;
		ls->cap = cap;
	}
	memcpy(ls->buf + ls->len, buf, len);
	ls->len += len;
	ls->total += len;
	pthread_mutex_unlock(&ls->mu);
	return rc;
}

static void *log_follow(void *data)
{
	struct logstream *ls = data;
	struct kube_status st = {0};
	int rc = kube_get_stream(ls->client, ls->path, ls->query, "pods", 0, log_body, ls,
				 &ls->cancel, &st);

	pthread_mutex_lock(&ls->mu);
	ls->done = true;
	if (rc < 0 && !atomic_load(&ls->cancel))
		snprintf(ls->why, sizeof(ls->why), "%s%s%s", kube_strerror(rc),
			 st.message ? ": " : "", s_or(st.message, ""));
	pthread_mutex_unlock(&ls->mu);
	kube_status_release(&st);
	return NULL;
}

static void log_free(void *data)
{
	struct logstream *ls = data;

	atomic_store(&ls->cancel, true);
	if (ls->started)
		pthread_join(ls->th, NULL);
	pthread_mutex_destroy(&ls->mu);
	free(ls->path);
	free(ls->query);
	free(ls->buf);
	free(ls->pending);
	free(ls);
}

/* Queues one event; false on out-of-memory. */
static bool log_event(struct logstream *ls, const char *event, cJSON *o)
{
	char *txt = kube_json_print(o);
	size_t n = txt ? strlen(txt) + strlen(event) + 32 : 0;

	cJSON_Delete(o);
	free(ls->pending);
	ls->pending = txt ? malloc(n) : NULL;
	if (ls->pending)
		ls->plen = (size_t)snprintf(ls->pending, n, "event: %s\ndata: %s\n\n", event, txt);
	ls->poff = 0;
	free(txt);
	return ls->pending != NULL;
}

/* The next event from what arrived: true when one is queued. */
static bool log_next(struct logstream *ls)
{
	bool queued = false;

	pthread_mutex_lock(&ls->mu);
	if (ls->len > 0) {
		size_t n = ls->len > LOG_EVENT_MAX ? LOG_EVENT_MAX : ls->len;
		cJSON *o = cJSON_CreateObject();

		/* Whole UTF-8 characters only: a cut one waits for its rest. */
		while (n < ls->len && n > 0 && ((unsigned char)ls->buf[n] & 0xC0) == 0x80)
			n--;
		char *t = strndup(ls->buf, n);
		cJSON_AddStringToObject(o, "text", t ? t : "");
		free(t);
		memmove(ls->buf, ls->buf + n, ls->len - n);
		ls->len -= n;
		queued = log_event(ls, "log", o);
	} else if (ls->done && !ls->end_sent) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddBoolToObject(o, "truncated", ls->truncated);
		if (ls->why[0])
			cJSON_AddStringToObject(o, "error", ls->why);
		ls->end_sent = true;
		queued = log_event(ls, "end", o);
	}
	pthread_mutex_unlock(&ls->mu);
	return queued;
}

static int64_t since_ms(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

static long log_read(void *data, char *buf, size_t max)
{
	struct logstream *ls = data;

	for (int waited = 0; !ls->pending || ls->poff == ls->plen; waited += 100) {
		if (log_next(ls))
			break;
		if (ls->end_sent || since_ms(&ls->t0) > LOG_STREAM_MAX_S * 1000)
			return 0;
		if (waited >= 1000)
			break;
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
	return dash_sse_send(ls->pending, ls->plen, &ls->poff, buf, max);
}

/* The newest pod of Job job in ns (malloc'd name) or NULL. */
static char *job_pod(struct pipeline *p, const char *ns, const char *job)
{
	char sel[320];
	struct kube_list_opts lo = {0};
	cJSON *list = NULL;
	const cJSON *it;
	const char *best = NULL, *best_t = "";
	char *out = NULL;

	snprintf(sel, sizeof(sel), "job-name=%s", job);
	lo.label_selector = sel;
	if (kube_list(p->client, &KUBE_GVR_PODS, ns, &lo, &list, NULL) == 0) {
		cJSON_ArrayForEach(it, kube_json_get(list, "items", NULL)) {
			const char *t = s_or(kube_json_get_str(it, "metadata", "creationTimestamp",
							       NULL), "");

			if (!best || strcmp(t, best_t) >= 0) {
				best = kube_json_name(it);
				best_t = t;
			}
		}
		out = best ? strdup(best) : NULL;
	}
	cJSON_Delete(list);
	return out;
}

/* GET /api/v1/builds/NS/NAME/log?step=STEP (default: the step running now, else the last). */
static int serve_log(struct pipeline *p, struct asker *a, const char *ns, const char *name,
		     struct kube_http_response *resp)
{
	const char *want = kube_http_request_query(a->c.req, "step");
	char key[600], msg[400];
	cJSON *b = NULL;
	const cJSON *st, *step = NULL;
	char *pod = NULL;
	int rc;

	if (!may(a, "get", "builds", ns))
		return dash_answer_error(resp, 403, "Forbidden: you may not get builds in this "
					 "namespace");
	/* The log is the step pod's: whoever reads it here must be allowed to read it there. */
	struct kube_httpd_access logs = {.verb = "get", .group = "", .resource = "pods",
					 .subresource = "log", .namespace = ns};
	if (!dash_call_may(&a->c, &logs))
		return dash_answer_error(resp, 403, "Forbidden: you may not get pods/log in this "
					 "namespace");
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	if (kube_informer_get(p->builds, key, &b) < 0)
		return dash_answer_error(resp, 404, "no such Build");
	if (!want || !*want)
		want = kube_json_get_str(b, "status", "step", NULL);
	cJSON_ArrayForEach(st, kube_json_get(b, "status", "steps", NULL))
		if (!want || eq(kube_json_get_str(st, "name", NULL), want))
			step = st; /* the named one, or the last */
	const char *job = kube_json_get_str(step, "job", NULL);
	const char *ctr = kube_json_get_str(step, "container", NULL);
	if (job)
		pod = job_pod(p, ns, job);
	if (!pod) {
		snprintf(msg, sizeof(msg), "no pod for step %s of Build %s yet", s_or(want, "(none)"),
			 name);
		cJSON_Delete(b);
		return dash_answer_error(resp, 404, msg);
	}
	struct logstream *ls = calloc(1, sizeof(*ls));
	char *ec = kube_query_escape(ctr);

	if (!ls) {
		free(pod);
		free(ec);
		cJSON_Delete(b);
		return KUBE_ENOMEM;
	}
	pthread_mutex_init(&ls->mu, NULL);
	clock_gettime(CLOCK_MONOTONIC, &ls->t0);
	ls->client = p->client;
	ls->path = kube_resource_path(&KUBE_GVR_PODS, ns, pod, "log");
	char q[400];
	snprintf(q, sizeof(q), "follow=true&limitBytes=%d%s%s", LOG_MAX, ec ? "&container=" : "",
		 ec ? ec : "");
	ls->query = strdup(q);
	free(ec);
	free(pod);
	cJSON_Delete(b);
	if (!ls->path || !ls->query || pthread_create(&ls->th, NULL, log_follow, ls) != 0) {
		log_free(ls);
		return dash_answer_error(resp, 500, "cannot follow the log");
	}
	ls->started = true;
	resp->status = 200;
	snprintf(resp->content_type, sizeof(resp->content_type), "text/event-stream");
	kube_http_response_header(resp, "X-Accel-Buffering", "no");
	rc = kube_http_response_stream(resp, log_read, ls, log_free);
	if (rc < 0)
		log_free(ls);
	return rc;
}

static cJSON *live_build(struct live *l, struct asker *a, int *status)
{
	return build_view(l->p, a, l->ns, l->name, status);
}

static int route_builds(void *data, const struct dash_call *c, struct kube_http_response *resp)
{
	struct pipeline *p = data;
	struct asker a = {*c, cJSON_CreateObject(), NULL, NULL};
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
	if (!valid_dns(ns, 63) || !valid_dns(name, 253) ||
	    (*tail && strcmp(tail, "/events") && strcmp(tail, "/log"))) {
		rc = dash_answer_error(resp, 404, "want /api/v1/builds/NAMESPACE/NAME[/events|/log]");
		goto out;
	}
	if (strcmp(tail, "/log") == 0) {
		rc = serve_log(p, &a, ns, name, resp);
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
