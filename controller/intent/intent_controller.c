/* The Intent controller (see intent_wing.h): governance -> approvals -> queue -> SPEC -> Build.
 * One worker: admissions are decided by one thread against an in-memory overlay of the slots
 * taken, so a stale cache never admits past maxConcurrentPipelines. */
#include "intent_wing.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "intent_audit.h"
#include "intent_evaluator.h"
#include "intent_generator.h"
#include "intent_governance.h"
#include "intent_policy.h"
#include "intent_queue.h"
#include "intent_spec.h"
#include "intent_state.h"
#include "intent_transform.h"
#include "kube_clock.h"
#include "kube_controller.h"
#include "kube_error.h"
#include "kube_events.h"
#include "kube_informer.h"
#include "kube_json.h"
#include "kube_log.h"
#include "kube_metrics.h"
#include "kube_rest.h"
#include "kube_time.h"
#include "phx_meta.h"
#include "phx_transform.h"

#define COMP "intent"
#define API_VERSION "phoenix.fpai.io/v1alpha1"

/* Spelled out: tests/e2e/32_manifests.sh reads the GVRs from the source (RBAC == code). */
static const struct kube_gvr INTENT_GVR = {"phoenix.fpai.io", "v1alpha1", "intents", true};
static const struct kube_gvr INTENT_POLICY_GVR = {"phoenix.fpai.io", "v1alpha1", "governancepolicies", true};
static const struct kube_gvr INTENT_APPROVAL_GVR = {"phoenix.fpai.io", "v1alpha1", "approvals", true};
static const struct kube_gvr INTENT_BUILD_GVR = {"phoenix.fpai.io", "v1alpha1", "builds", true};
static const struct kube_gvr INTENT_SERVICE_GVR = {"phoenix.fpai.io", "v1alpha1", "phoenixservices", true};
static const struct kube_gvr INTENT_CM_GVR = {"", "v1", "configmaps", true};

/* A slot holder or a finished pipeline, as this process decided it (authoritative over a
 * cache that may lag behind our own writes). */
struct slot {
	UT_hash_handle hh;
	int64_t gen;
	unsigned long long written_rv; /* resourceVersion of our last write to the Intent */
	const char *phase;     /* static (intent_phase); NULL: not counted yet */
	unsigned char admitted, done;
	char key[];            /* one allocation per Intent (issue 12: RSS) */
};

struct intent_wing {
	struct kube_client *client;
	struct kube_events *events;
	struct kube_controller *ctl;
	struct kube_cache *intents, *policies, *approvals, *cms, *services;
	struct kube_informer *builds;   /* not the manager's: the Build CRD may be absent */
	char *ns;
	struct intent_evaluator *eval; /* the policies' external evaluator calls (own threads) */
	struct intent_gen_logs *logs;  /* the generator Jobs' pods/log reads (own thread) */
	struct kube_cache *jobs;       /* the spec.generator Jobs the Intents own */
	pthread_mutex_t mu;
	struct slot *slots;
	/* The queue's index of the cached Intents (intent_queue.h), kept by map_index on the
	 * informer's thread; qmu is taken before mu, never after. */
	pthread_mutex_t qmu;
	struct intent_queue_index *qindex;
	/* The PhoenixServices by namespace (name, port), kept by map_service, also under qmu. */
	struct svc_ns *svcs;
	struct kube_metric *m_phase, *m_depth, *m_decisions, *m_spec, *m_sla;
	struct kube_metric *m_deployed;  /* seconds from submission to deployed (generation 1) */
	int builds_started;              /* worker thread only (builds_follow) */
	int builds_missing;              /* the last look found no Build CRD (worker thread only) */
	int64_t builds_next_check;       /* ms; when builds_follow asks discovery again */
};

/* A PhoenixService as governance's rules see it: an evaluation lists its namespace's from here
 * instead of walking (and reading) every cached PhoenixService (issue 12). */
struct svc_entry {
	UT_hash_handle hh;
	int port;
	char name[];
};

struct svc_ns {
	UT_hash_handle hh;
	struct svc_entry *svcs;
	char ns[];
};

/* ---- small helpers ---------------------------------------------------------------------- */

static void now_str(struct kube_clock *clk, char *buf, size_t len)
{
	if (!kube_time_format(kube_clock_wall(clk) / 1000000000LL, buf, len))
		snprintf(buf, len, "1970-01-01T00:00:00Z");
}

static int64_t now_ms(struct kube_clock *clk)
{
	return kube_clock_wall(clk) / 1000000LL;
}

static const char *str_or(const char *s, const char *d)
{
	return s && *s ? s : d;
}

/* obj[key] = item (owned), replacing what was there. */
static void set_item(cJSON *obj, const char *key, cJSON *item)
{
	if (!item)
		return;
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	cJSON_AddItemToObject(obj, key, item);
}

static int64_t obj_gen(const cJSON *o)
{
	int64_t g = 0;
	kube_json_get_int(o, &g, "metadata", "generation", NULL);
	return g;
}

static struct slot *slot_get(struct intent_wing *w, const char *key, int create)
{
	struct slot *s = NULL;

	HASH_FIND_STR(w->slots, key, s);
	if (!s && create) {
		size_t len = strlen(key);
		s = calloc(1, sizeof(*s) + len + 1);
		if (!s)
			return NULL;
		memcpy(s->key, key, len + 1);
		HASH_ADD_KEYPTR(hh, w->slots, s->key, len, s);
	}
	return s;
}

static void slot_drop(struct intent_wing *w, const char *key)
{
	struct slot *s = slot_get(w, key, 0);

	if (!s)
		return;
	if (s->phase)
		kube_metric_dec(w->m_phase, (const char *const[]){s->phase});
	HASH_DEL(w->slots, s);
	free(s);
}

/* phase: a static string (intent_phase). */
static void set_phase_metric(struct intent_wing *w, const char *key, const char *phase)
{
	struct slot *s = slot_get(w, key, 1);

	if (!s || (s->phase && strcmp(s->phase, phase) == 0))
		return;
	if (s->phase)
		kube_metric_dec(w->m_phase, (const char *const[]){s->phase});
	s->phase = phase; /* static */
	kube_metric_inc(w->m_phase, (const char *const[]){s->phase});
}

/* Remembers the resourceVersion our write to the Intent produced (out: the server's answer),
 * so that a reconcile on a cache that has not seen it yet waits instead of redoing the work. */
static void note_write(struct intent_wing *w, const char *key, const cJSON *out)
{
	const char *rv = kube_json_resource_version(out);
	char *end;
	unsigned long long v;

	if (!rv)
		return;
	v = strtoull(rv, &end, 10);
	pthread_mutex_lock(&w->mu);
	struct slot *s = slot_get(w, key, 1);
	if (s && !*end)
		s->written_rv = v;
	pthread_mutex_unlock(&w->mu);
}

/* 1 when the cached Intent is older than our last write to it. resourceVersions are opaque;
 * where they are numbers (etcd, kubesim) a smaller one is an older state. */
static int cache_behind(struct intent_wing *w, const char *key, const cJSON *obj)
{
	const char *rv = kube_json_resource_version(obj);
	char *end;
	int behind = 0;

	if (!rv)
		return 0;
	unsigned long long v = strtoull(rv, &end, 10);
	pthread_mutex_lock(&w->mu);
	struct slot *s = slot_get(w, key, 0);
	if (s && !*end && v < s->written_rv)
		behind = 1;
	pthread_mutex_unlock(&w->mu);
	return behind;
}

/* Duplicates of the cached objects of namespace ns, as a new array. */
struct collect {
	const char *ns;
	cJSON *arr;
};

static int collect_fn(const cJSON *obj, void *ud)
{
	struct collect *c = ud;
	const char *ns = kube_json_namespace(obj);

	if (c->ns && (!ns || strcmp(ns, c->ns) != 0))
		return 0;
	cJSON *d = cJSON_Duplicate(obj, 1);
	if (!d)
		return KUBE_ENOMEM;
	cJSON_AddItemToArray(c->arr, d);
	return 0;
}

static cJSON *cache_ns(struct kube_cache *cache, const char *ns)
{
	struct collect c = {ns, cJSON_CreateArray()};

	if (!c.arr)
		return NULL;
	if (cache)
		kube_cache_foreach(cache, collect_fn, &c);
	return c.arr;
}

static int split_key(const char *key, char *ns, size_t nslen, const char **name)
{
	const char *slash = strchr(key, '/');

	if (!slash || (size_t)(slash - key) >= nslen)
		return KUBE_EINVAL;
	memcpy(ns, key, (size_t)(slash - key));
	ns[slash - key] = '\0';
	*name = slash + 1;
	return 0;
}

/* The namespace's policy: the GovernancePolicy "default", else the built-in defaults. err gets
 * why a bad policy was not used. Returns the policy's name for status.governance.policy. */
static const char *load_policy(struct intent_wing *w, const char *ns, struct intent_policy *p,
			       char *err, size_t errlen)
{
	char key[320];
	cJSON *obj = NULL;

	err[0] = '\0';
	intent_policy_defaults(p);
	snprintf(key, sizeof(key), "%s/default", ns);
	if (kube_cache_get(w->policies, key, &obj) != 0)
		return "built-in";
	int rc = intent_policy_parse(obj, p, err, errlen);
	cJSON_Delete(obj);
	if (rc < 0) {
		intent_policy_defaults(p);
		return "built-in";
	}
	return "default";
}

static int owned_by(const cJSON *obj, const char *uid)
{
	const cJSON *ref = phx_controller_ref(obj);
	const char *kind = kube_json_get_str(ref, "kind", NULL);
	const char *ruid = kube_json_get_str(ref, "uid", NULL);

	return ref && kind && ruid && uid && strcmp(kind, "Intent") == 0 && strcmp(ruid, uid) == 0;
}

/* A controller ownerReference to the Intent (without blockOwnerDeletion: deleting the Intent
 * need not wait for its ConfigMap or Build). */
static cJSON *owner_refs(const cJSON *intent)
{
	cJSON *arr = cJSON_CreateArray(), *r = cJSON_CreateObject();

	if (!arr || !r) {
		cJSON_Delete(arr);
		cJSON_Delete(r);
		return NULL;
	}
	cJSON_AddItemToArray(arr, r);
	cJSON_AddStringToObject(r, "apiVersion", API_VERSION);
	cJSON_AddStringToObject(r, "kind", "Intent");
	cJSON_AddStringToObject(r, "name", str_or(kube_json_name(intent), ""));
	cJSON_AddStringToObject(r, "uid", str_or(kube_json_uid(intent), ""));
	cJSON_AddBoolToObject(r, "controller", 1);
	return arr;
}

/* ---- governance ----------------------------------------------------------------------- */

/* The service index (qmu held): put replaces, del removes; ENOMEM leaves it as it was. */
static int svc_index_put(struct intent_wing *w, const char *ns, const char *name, int port)
{
	struct svc_ns *sn = NULL;
	struct svc_entry *e = NULL;
	size_t nl = strlen(name);

	HASH_FIND_STR(w->svcs, ns, sn);
	if (!sn) {
		size_t l = strlen(ns);
		if (!(sn = calloc(1, sizeof(*sn) + l + 1)))
			return KUBE_ENOMEM;
		memcpy(sn->ns, ns, l + 1);
		HASH_ADD_KEYPTR(hh, w->svcs, sn->ns, l, sn);
	}
	HASH_FIND_STR(sn->svcs, name, e);
	if (e) {
		e->port = port;
		return 0;
	}
	if (!(e = calloc(1, sizeof(*e) + nl + 1)))
		return KUBE_ENOMEM;
	memcpy(e->name, name, nl + 1);
	e->port = port;
	HASH_ADD_KEYPTR(hh, sn->svcs, e->name, nl, e);
	return 0;
}

static void svc_index_del(struct intent_wing *w, const char *ns, const char *name)
{
	struct svc_ns *sn = NULL;
	struct svc_entry *e = NULL;

	HASH_FIND_STR(w->svcs, ns, sn);
	if (sn)
		HASH_FIND_STR(sn->svcs, name, e);
	if (!e)
		return;
	HASH_DEL(sn->svcs, e);
	free(e);
	if (!sn->svcs) {
		HASH_DEL(w->svcs, sn);
		free(sn);
	}
}

static void svc_index_free(struct intent_wing *w)
{
	struct svc_ns *sn, *stmp;
	struct svc_entry *e, *etmp;

	HASH_ITER(hh, w->svcs, sn, stmp) {
		HASH_ITER(hh, sn->svcs, e, etmp) {
			HASH_DEL(sn->svcs, e);
			free(e);
		}
		HASH_DEL(w->svcs, sn);
		free(sn);
	}
}

/* The namespace's PhoenixServices as peers (names borrowed from the index: qmu held while they
 * are used). *out is a new array (caller frees; NULL with *n 0 when there are none). */
static int svc_peers_locked(struct intent_wing *w, const char *ns, const char *served,
			    struct intent_peer **out, size_t *n)
{
	struct svc_ns *sn = NULL;
	struct svc_entry *e, *tmp;

	*out = NULL;
	*n = 0;
	HASH_FIND_STR(w->svcs, ns, sn);
	if (!sn)
		return 0;
	if (!(*out = calloc(HASH_COUNT(sn->svcs), sizeof(**out))))
		return KUBE_ENOMEM;
	HASH_ITER(hh, sn->svcs, e, tmp)
		(*out)[(*n)++] = (struct intent_peer){INTENT_PEER_SERVICE, e->name, e->port,
						      served && strcmp(served, e->name) == 0, NULL, 0};
	return 0;
}

/* The namespace's other Intents, from the queue index (qmu held): O(1) a name or port. */
struct peer_find {
	struct intent_wing *w;
	const char *ns, *self;
};

static int peer_intent_find(void *ud, const char *name, int port, struct intent_peer *out)
{
	const struct peer_find *f = ud;
	const struct intent_queue_entry *e =
		intent_queue_index_find(f->w->qindex, f->ns, name, port, f->self);

	if (!e || !e->svc)
		return 0;
	*out = (struct intent_peer){INTENT_PEER_INTENT, e->svc, e->port, 0, e->deps, e->ndeps};
	return 1;
}

static int evaluate(struct intent_wing *w, const cJSON *intent, const char *ns,
		    const struct intent_policy *pol, struct intent_report *rep)
{
	const char *served = kube_json_get_str(intent, "status", "serviceRef", "name", NULL);
	struct peer_find f = {w, ns, kube_json_name(intent)};
	struct intent_peer *v = NULL;
	size_t n = 0;
	int rc;

	/* The namespace's services are listed from their index; the Intents (thousands in a
	 * burst) are looked up in the queue index. */
	pthread_mutex_lock(&w->qmu);
	rc = svc_peers_locked(w, ns, served, &v, &n);
	if (rc == 0) {
		struct intent_world world = {v, n, peer_intent_find, &f};
		rc = intent_governance_evaluate(intent, &world, pol, rep);
	}
	pthread_mutex_unlock(&w->qmu);
	free(v);
	return rc;
}

/* ---- the reconcile state -------------------------------------------------------------- */

struct rstate {
	struct intent_wing *w;
	struct kube_reconcile_ctx *ctx;
	const char *ns, *name, *key;
	char label[INTENT_LABEL_MAX + 1]; /* INTENT_LABEL's value: the name, made to fit */
	cJSON *intent;         /* copy from the cache */
	const cJSON *prev;     /* intent.status.conditions as cached */
	cJSON *status;         /* the status being computed */
	cJSON *conds;          /* status.conditions */
	int64_t gen;
	char now[32];
	struct intent_policy pol;
	const char *policy_name;
	char policy_err[256];
	cJSON *approval_writes; /* [{name, outcome, message, generation, event}] */
	int64_t requeue_ms;
};

static void cond(struct rstate *r, const char *type, const char *status, const char *reason,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void cond(struct rstate *r, const char *type, const char *status, const char *reason,
		 const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	intent_cond_set(r->conds, r->prev, type, status, reason, msg, r->gen, r->now);
}

static int is(struct rstate *r, const char *type, const char *status)
{
	return intent_cond_is(r->conds, type, status, r->gen);
}

static void audit(struct rstate *r, const char *actor, const char *action, const char *gate,
		  const char *decision, const char *reason)
{
	struct intent_audit_entry e = {r->now, actor, action, gate, decision, reason};
	intent_audit_append(r->status, &e, INTENT_AUDIT_KEEP);
}

static void requeue(struct rstate *r, int64_t ms)
{
	if (ms < 1)
		ms = 1;
	if (r->requeue_ms == 0 || ms < r->requeue_ms)
		r->requeue_ms = ms;
}

static const char *spec_str(struct rstate *r, const char *field)
{
	return kube_json_get_str(r->intent, "spec", field, NULL);
}

static int cancelled(const cJSON *intent)
{
	const char *s = kube_json_get_str(intent, "spec", "state", NULL);
	return s && strcmp(s, "Cancelled") == 0;
}

/* A new generation: judge it, forget the gates of the last one. */
static void govern(struct rstate *r)
{
	struct intent_report rep;
	char msg[768];
	const char *gate_conds[] = {INTENT_COND_APPROVED, INTENT_COND_DENIED, INTENT_COND_QUEUED,
				    INTENT_COND_SPEC_READY, INTENT_COND_SPEC_APPROVED,
				    INTENT_COND_SLA_BREACHED};

	for (size_t i = 0; i < sizeof(gate_conds) / sizeof(gate_conds[0]); i++)
		intent_cond_remove(r->conds, gate_conds[i]);
	cJSON_DeleteItemFromObjectCaseSensitive(r->status, "queue");
	cJSON_DeleteItemFromObjectCaseSensitive(r->status, "spec");
	pthread_mutex_lock(&r->w->mu);
	struct slot *s = slot_get(r->w, r->key, 0);
	if (s) {
		s->admitted = 0;
		s->done = 0;
		s->gen = r->gen;
	}
	pthread_mutex_unlock(&r->w->mu);

	evaluate(r->w, r->intent, r->ns, &r->pol, &rep);
	if (!intent_evaluator_fold(r->w->eval, r->key, r->intent, &r->pol, &rep)) {
		/* The evaluator is still thinking (on its own thread): its end enqueues us again. */
		cond(r, INTENT_COND_EVALUATED, "Unknown", "Evaluating",
		     "rule score %.2f; waiting for the external evaluator %s (at most %d s)",
		     rep.rule_score, r->pol.evaluator_url, r->pol.evaluator_timeout_s);
		requeue(r, (int64_t)(r->pol.evaluator_timeout_s + 5) * 1000);
		return;
	}
	cJSON *gov = intent_report_governance_json(&rep, &r->pol, r->policy_name);
	if (gov)
		set_item(r->status, "governance", gov);
	const char *dec = intent_decision_name(rep.decision);
	const char *mode = intent_mode_name(r->pol.mode);
	size_t off = (size_t)snprintf(msg, sizeof(msg), "score %.2f in %s mode (policy %s)",
				      rep.score, mode, r->policy_name);
	if (r->policy_err[0] && off < sizeof(msg))
		off += (size_t)snprintf(msg + off, sizeof(msg) - off,
					"; GovernancePolicy default is invalid (%s), built-in defaults used",
					r->policy_err);
	for (int i = 0; i < INTENT_RULE_COUNT && off < sizeof(msg); i++)
		if (rep.results[i].result == INTENT_FAIL)
			off += (size_t)snprintf(msg + off, sizeof(msg) - off, "; %s: %s",
						intent_rule_name(rep.results[i].rule),
						rep.results[i].message);
	if (rep.has_evaluator && rep.evaluator.result == INTENT_ERROR && off < sizeof(msg))
		off += (size_t)snprintf(msg + off, sizeof(msg) - off, "; external-evaluator: %s",
					rep.evaluator.message);
	cond(r, INTENT_COND_EVALUATED, "True", dec, "%s", msg);
	switch (rep.decision) {
	case INTENT_AUTO_APPROVED:
		cond(r, INTENT_COND_APPROVED, "True", "AutoApproved",
		     "approved by the policy: score %.2f >= %.2f in %s mode", rep.score,
		     r->pol.auto_approve_threshold, mode);
		break;
	case INTENT_REQUIRES_APPROVAL:
		cond(r, INTENT_COND_APPROVED, "Unknown", "AwaitingApproval",
		     "needs an Approval at gate Governance: kubectl phoenix approve intent/%s "
		     "--reason \"...\" (or deny)", r->name);
		break;
	case INTENT_REJECTED:
		cond(r, INTENT_COND_APPROVED, "False", "Rejected",
		     "score %.2f is below rejectBelow %.2f: edit the Intent (see status.governance.results)",
		     rep.score, r->pol.reject_below);
		break;
	}
	char sc[16];
	snprintf(sc, sizeof(sc), "%.2f", rep.score);
	audit(r, "operator", "Evaluated", "Governance", dec, sc);
	kube_metric_inc(r->w->m_decisions, (const char *const[]){mode, dec});
	set_item(r->status, "observedGeneration", cJSON_CreateNumber((double)r->gen));
}

/* ---- approvals ------------------------------------------------------------------------ */

static void approval_outcome(struct rstate *r, const cJSON *apv, const char *outcome,
			     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void approval_outcome(struct rstate *r, const cJSON *apv, const char *outcome,
			     const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	cJSON *o = cJSON_CreateObject();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!o)
		return;
	cJSON_AddItemToObject(o, "obj", cJSON_Duplicate(apv, 1));
	cJSON_AddStringToObject(o, "outcome", outcome);
	cJSON_AddStringToObject(o, "message", msg);
	cJSON_AddItemToArray(r->approval_writes, o);
}

static int spec_gate_pending(struct rstate *r)
{
	const char *mode = spec_str(r, "approvalMode");
	if (is(r, INTENT_COND_SPEC_APPROVED, "True") || is(r, INTENT_COND_DENIED, "True"))
		return 0;
	if (is(r, INTENT_COND_SPEC_READY, "False"))
		return 1;
	return is(r, INTENT_COND_SPEC_READY, "True") && mode && strcmp(mode, "checkpoints") == 0;
}

/* 1 when the gate already shows this approver's decision (an Approval applied before its own
 * status write failed). */
static int already_applied(struct rstate *r, const char *gate, int approve, const char *who)
{
	const char *type = !approve ? INTENT_COND_DENIED
			   : strcmp(gate, "Spec") == 0 ? INTENT_COND_SPEC_APPROVED
						       : INTENT_COND_APPROVED;
	const cJSON *c = intent_cond_find(r->conds, type);
	const char *reason = kube_json_get_str(c, "reason", NULL);

	return is(r, type, "True") && reason && strcmp(reason, who) == 0;
}

static void apply_approval(struct rstate *r, const cJSON *apv)
{
	const char *gate = str_or(kube_json_get_str(apv, "spec", "gate", NULL), "");
	const char *decision = str_or(kube_json_get_str(apv, "spec", "decision", NULL), "");
	const char *why = str_or(kube_json_get_str(apv, "spec", "reason", NULL), "");
	const char *who = str_or(kube_json_get_str(apv, "spec", "approver", NULL), "unknown");
	int approve = strcmp(decision, "Approve") == 0;
	int64_t tgen = 0;

	if (kube_json_get_int(apv, &tgen, "spec", "targetRef", "generation", NULL) && tgen > r->gen) {
		/* Made from a newer Intent than the cache has: wait for it. */
		requeue(r, 500);
		return;
	}
	if (tgen > 0 && tgen != r->gen) {
		approval_outcome(r, apv, "Ignored",
				 "for generation %lld of Intent %s, which is at generation %lld: "
				 "an edit starts over; create a new Approval",
				 (long long)tgen, r->name, (long long)r->gen);
		return;
	}
	if (strcmp(gate, "Deploy") == 0) {
		approval_outcome(r, apv, "Ignored",
				 "gate Deploy is the Build's: target Build %s instead", r->name);
		return;
	}
	if (already_applied(r, gate, approve, who)) {
		approval_outcome(r, apv, "Applied", "%s at gate %s of generation %lld",
				 approve ? "approved" : "denied", gate, (long long)r->gen);
		return;
	}
	if (is(r, INTENT_COND_DENIED, "True") || cancelled(r->intent) ||
	    is(r, INTENT_COND_APPROVED, "False")) {
		approval_outcome(r, apv, "Ignored", "Intent %s is %s: nothing to decide", r->name,
				 cancelled(r->intent) ? "cancelled"
				 : is(r, INTENT_COND_DENIED, "True") ? "already denied"
								     : "rejected by governance");
		return;
	}
	int gov_pending = is(r, INTENT_COND_APPROVED, "Unknown");
	int pending = strcmp(gate, "Spec") == 0 ? spec_gate_pending(r) : gov_pending;
	if (!approve && (pending || strcmp(gate, "Governance") == 0)) {
		cond(r, INTENT_COND_DENIED, "True", who, "%s", why);
		if (gov_pending)
			cond(r, INTENT_COND_APPROVED, "False", "Denied", "denied by %s: %s", who, why);
		audit(r, who, "Denied", gate, "Deny", why);
		approval_outcome(r, apv, "Applied", "denied at gate %s of generation %lld", gate,
				 (long long)r->gen);
		return;
	}
	if (!pending) {
		approval_outcome(r, apv, "Ignored",
				 "gate %s of Intent %s (generation %lld) is not waiting for a decision",
				 gate, r->name, (long long)r->gen);
		return;
	}
	if (strcmp(gate, "Spec") == 0)
		cond(r, INTENT_COND_SPEC_APPROVED, "True", who, "%s", why);
	else
		cond(r, INTENT_COND_APPROVED, "True", who, "%s", why);
	audit(r, who, "Approved", gate, "Approve", why);
	approval_outcome(r, apv, "Applied", "approved at gate %s of generation %lld", gate,
			 (long long)r->gen);
}

static int cmp_created(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	const char *tx = str_or(kube_json_get_str(x, "metadata", "creationTimestamp", NULL), "");
	const char *ty = str_or(kube_json_get_str(y, "metadata", "creationTimestamp", NULL), "");
	int c = strcmp(tx, ty);
	return c ? c : strcmp(str_or(kube_json_name(x), ""), str_or(kube_json_name(y), ""));
}

/* The Approvals of ns targeting Intent name that have no outcome yet, oldest first, in a new
 * array; *v holds borrowed pointers into it (caller frees both). */
static cJSON *pending_approvals(struct intent_wing *w, const char *ns, const char *name,
				const cJSON ***v, size_t *n)
{
	cJSON *all = cache_ns(w->approvals, ns);
	const cJSON *a;
	size_t k = 0;

	*v = NULL;
	*n = 0;
	if (!all)
		return NULL;
	*v = calloc((size_t)cJSON_GetArraySize(all) + 1, sizeof(**v));
	if (!*v) {
		cJSON_Delete(all);
		return NULL;
	}
	cJSON_ArrayForEach(a, all) {
		const char *kind = kube_json_get_str(a, "spec", "targetRef", "kind", NULL);
		const char *tn = kube_json_get_str(a, "spec", "targetRef", "name", NULL);
		if (!kind || !tn || strcmp(kind, "Intent") != 0 || strcmp(tn, name) != 0)
			continue;
		if (kube_json_get_str(a, "status", "outcome", NULL))
			continue;
		(*v)[k++] = a;
	}
	qsort(*v, k, sizeof(**v), cmp_created);
	*n = k;
	return all;
}

static void apply_approvals(struct rstate *r)
{
	const cJSON **v;
	size_t n;
	cJSON *all = pending_approvals(r->w, r->ns, r->name, &v, &n);

	for (size_t i = 0; i < n; i++)
		apply_approval(r, v[i]);
	free(v);
	cJSON_Delete(all);
}

/* Writes the Approvals' outcomes (after the Intent's status, so a failed Intent write leaves
 * them pending) with an Event each. */
static int write_approvals(struct intent_wing *w, struct kube_client *client, const cJSON *writes)
{
	const cJSON *o;
	int rc = 0;

	cJSON_ArrayForEach(o, writes) {
		const cJSON *apv = cJSON_GetObjectItemCaseSensitive(o, "obj");
		const char *outcome = kube_json_get_str(o, "outcome", NULL);
		const char *msg = kube_json_get_str(o, "message", NULL);
		cJSON *patch = cJSON_CreateObject(), *st = kube_json_ensure_obj(patch, "status");
		char *body;
		int r;

		if (!st) {
			cJSON_Delete(patch);
			return KUBE_ENOMEM;
		}
		cJSON_AddStringToObject(st, "outcome", outcome);
		cJSON_AddStringToObject(st, "message", msg);
		cJSON_AddNumberToObject(st, "observedGeneration", (double)obj_gen(apv));
		body = cJSON_PrintUnformatted(patch);
		cJSON_Delete(patch);
		if (!body)
			return KUBE_ENOMEM;
		r = kube_patch(client, &INTENT_APPROVAL_GVR, kube_json_namespace(apv),
			       kube_json_name(apv), "status", KUBE_PATCH_MERGE, body, NULL, NULL);
		free(body);
		if (r == KUBE_ENOTFOUND)
			r = 0;
		if (r < 0) {
			rc = r;
			continue;
		}
		kube_events_record(w->events, apv,
				   strcmp(outcome, "Applied") == 0 ? KUBE_EVENT_NORMAL : KUBE_EVENT_WARNING,
				   outcome, "%s", msg);
	}
	return rc;
}

/* ---- the queue ------------------------------------------------------------------------ */

/* 1 when the Intent (cached object, or self with its computed conditions) holds or wants a
 * pipeline slot: approved for its generation, not denied, cancelled or finished. */
static int finished_conds(const cJSON *conds, int64_t gen, const cJSON *intent)
{
	if (intent_cond_is(conds, INTENT_COND_BUILD_SUCCEEDED, "True", gen) ||
	    intent_cond_is(conds, INTENT_COND_BUILD_SUCCEEDED, "False", gen))
		return 1;
	if (!kube_json_get_bool(intent, 1, "spec", "autoBuild", NULL) &&
	    (intent_cond_is(conds, INTENT_COND_SPEC_READY, "True", gen) ||
	     intent_cond_is(conds, INTENT_COND_SPEC_APPROVED, "True", gen)))
		return 1;
	return 0;
}

static int candidate(const cJSON *conds, int64_t gen, const cJSON *intent)
{
	return intent_cond_is(conds, INTENT_COND_APPROVED, "True", gen) &&
	       !intent_cond_is(conds, INTENT_COND_DENIED, "True", gen) && !cancelled(intent) &&
	       !kube_json_get_str(intent, "metadata", "deletionTimestamp", NULL);
}

static int admitted_conds(const cJSON *conds, int64_t gen)
{
	const cJSON *q = intent_cond_find(conds, INTENT_COND_QUEUED);
	const char *reason = kube_json_get_str(q, "reason", NULL);
	return intent_cond_is(conds, INTENT_COND_QUEUED, "False", gen) && reason &&
	       strcmp(reason, "Admitted") == 0;
}

struct qresult {
	int admitted;      /* self holds a slot */
	int position;      /* self's position (0: none written) */
	int waiting;       /* Intents waiting in the namespace */
	int running;       /* slots taken */
};

/* What the queue needs of one Intent (the cached object, or self with its computed conditions
 * and self_done): 0 and *e (strings borrowed from obj), or KUBE_ENOTFOUND without a name. */
static int queue_entry(const cJSON *obj, const cJSON *conds, int is_self, int self_done,
		       struct intent_queue_entry *e)
{
	int64_t gen = obj_gen(obj);

	memset(e, 0, sizeof(*e));
	e->ns = kube_json_namespace(obj);
	e->name = kube_json_name(obj);
	e->rv = kube_json_get_str(obj, "metadata", "resourceVersion", NULL);
	if (!e->name || !e->ns)
		return KUBE_ENOTFOUND;
	e->candidate = candidate(conds, gen, obj);
	e->priority = INTENT_PRIO_MEDIUM;
	intent_priority_parse(kube_json_get_str(obj, "spec", "priority", NULL), &e->priority);
	kube_time_parse_ms(kube_json_get_str(obj, "metadata", "creationTimestamp", NULL),
			   &e->created_ms);
	if (!is_self)
		kube_json_get_int(obj, &e->position, "status", "queue", "position", NULL);
	e->gen = gen;
	e->done = is_self ? self_done : finished_conds(conds, gen, obj);
	e->admitted_cond = admitted_conds(conds, gen);
	int64_t port = 0;
	e->svc = kube_json_get_str(obj, "spec", "serviceName", NULL);
	if (kube_json_get_int(obj, &port, "spec", "port", NULL) && port > 0 && port <= 65535)
		e->port = (int)port;
	e->deleting = kube_json_get_str(obj, "metadata", "deletionTimestamp", NULL) != NULL;
	return 0;
}

/* The Intent informer's events keep the queue index: an Intent is read again only when its
 * resourceVersion changed, so a queue pass parses no cached object (issue 12). */
static void map_index(struct kube_controller *ctl, const struct kube_event *ev, void *ud)
{
	struct intent_wing *w = ud;
	struct intent_queue_entry e;
	const char *small[16], **deps = small;

	(void)ctl;
	if (queue_entry(ev->obj, kube_json_get(ev->obj, "status", "conditions", NULL), 0, 0, &e) < 0)
		return;
	const cJSON *dl = kube_json_get(ev->obj, "spec", "dependencies", NULL), *d;
	if (!cJSON_IsArray(dl))
		dl = NULL;
	int nd = dl ? cJSON_GetArraySize(dl) : 0;
	if (nd > (int)(sizeof(small) / sizeof(small[0])))
		deps = calloc((size_t)nd, sizeof(*deps));
	if (deps) {
		cJSON_ArrayForEach(d, dl)
			if (cJSON_IsString(d))
				deps[e.ndeps++] = d->valuestring;
		e.deps = deps;
	}
	pthread_mutex_lock(&w->qmu);
	if (ev->type == KUBE_EVENT_DELETE)
		intent_queue_index_del(w->qindex, e.ns, e.name);
	else if (!deps || intent_queue_index_put(w->qindex, &e) < 0)
		kube_log(KUBE_LOG_ERROR, COMP, "out of memory indexing an Intent for the queue",
			 "intent", e.name, NULL);
	pthread_mutex_unlock(&w->qmu);
	if (deps != small)
		free(deps);
}

/* The namespace's candidates in queue order, self's cached entry skipped and its computed
 * one (mine) merged in at its place as the ordered walk passes it. */
struct qcollect {
	const char *self;
	const struct intent_queue_entry *mine; /* not yet placed; NULL once placed, or none */
	struct intent_queue_entry *v;  /* strings borrowed from the index (qmu held) or self */
	size_t n, cap;
};

static int qsrc_push(struct qcollect *c, const struct intent_queue_entry *e)
{
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 64;
		struct intent_queue_entry *nv = realloc(c->v, nc * sizeof(*nv));
		if (!nv)
			return KUBE_ENOMEM;
		c->v = nv;
		c->cap = nc;
	}
	c->v[c->n++] = *e;
	return 0;
}

static int qcollect_fn(const struct intent_queue_entry *e, void *ud)
{
	struct qcollect *c = ud;

	if (!e->candidate || (c->self && strcmp(e->name, c->self) == 0))
		return 0;
	if (c->mine && intent_queue_entry_cmp(c->mine, e) < 0) {
		if (qsrc_push(c, c->mine) < 0)
			return KUBE_ENOMEM;
		c->mine = NULL;
	}
	return qsrc_push(c, e);
}

/* Computes the namespace's queue with self's computed state (self_conds; NULL when self is
 * gone or not a candidate), admits under the cap, and enqueues the others whose status must
 * change (admitted now, position changed). Runs on the one worker. */
static void queue_pass(struct intent_wing *w, struct kube_controller *ctl, const char *ns,
		       const char *self, const cJSON *self_obj, const cJSON *self_conds,
		       int self_done, int max_concurrent, struct qresult *out)
{
	struct qcollect c = {self, NULL, NULL, 0, 0};
	struct intent_queue_entry se;
	struct intent_queue_item *items = NULL;
	size_t *idx = NULL, *src = NULL, k = 0;
	unsigned char *now = NULL;
	int depth[INTENT_PRIO_COUNT] = {0};
	char key[512];

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&w->qmu);
	if (self && self_obj && self_conds && queue_entry(self_obj, self_conds, 1, self_done, &se) == 0 &&
	    se.candidate)
		c.mine = &se;
	/* In queue order already (the index keeps it): nothing is sorted here (issue 12). */
	if (intent_queue_index_foreach_ordered(w->qindex, ns, qcollect_fn, &c) < 0 ||
	    (c.mine && qsrc_push(&c, c.mine) < 0))
		goto out;
	items = calloc(c.n + 1, sizeof(*items));
	idx = calloc(c.n + 1, sizeof(*idx));
	src = calloc(c.n + 1, sizeof(*src));
	now = calloc(c.n + 1, 1);
	if (!items || !idx || !src || !now)
		goto out;
	pthread_mutex_lock(&w->mu);
	for (size_t i = 0; i < c.n; i++) {
		struct intent_queue_entry *q = &c.v[i];
		snprintf(key, sizeof(key), "%s/%s", ns, q->name);
		struct slot *s = slot_get(w, key, 0);
		if (q->done || (s && s->gen == q->gen && s->done))
			continue;
		src[k] = i;
		items[k++] = (struct intent_queue_item){
			.name = q->name, .priority = q->priority, .created_ms = q->created_ms,
			.admitted = (s && s->gen == q->gen && s->admitted) || q->admitted_cond,
			.status_position = (int)q->position,
		};
	}
	int nadm = intent_queue_admit_sorted(items, k, max_concurrent, idx);
	for (int j = 0; j < nadm; j++)
		now[idx[j]] = 1;
	for (size_t i = 0; i < k; i++) {
		int self_is = self && strcmp(items[i].name, self) == 0;
		int now_admitted = now[i];
		if (items[i].admitted) {
			out->running++;
			snprintf(key, sizeof(key), "%s/%s", ns, items[i].name);
			struct slot *s = slot_get(w, key, 1);
			if (s && (!s->admitted || now_admitted)) {
				s->admitted = 1;
				s->done = 0;
				s->gen = c.v[src[i]].gen;
			}
			if (now_admitted && !self_is)
				kube_controller_enqueue(ctl, key);
		} else {
			out->waiting++;
			depth[items[i].priority]++;
		}
		if (self_is) {
			out->admitted = items[i].admitted;
			out->position = items[i].position;
		}
	}
	pthread_mutex_unlock(&w->mu);
	int nch = intent_queue_changed(items, k, idx);
	for (int i = 0; i < nch; i++) {
		if (self && strcmp(items[idx[i]].name, self) == 0)
			continue;
		snprintf(key, sizeof(key), "%s/%s", ns, items[idx[i]].name);
		kube_controller_enqueue(ctl, key);
	}
	for (int p = 0; p < INTENT_PRIO_COUNT; p++)
		kube_metric_set(w->m_depth, (const char *const[]){ns, intent_priority_name(p)},
				depth[p]);
out:
	pthread_mutex_unlock(&w->qmu);
	free(c.v);
	free(items);
	free(idx);
	free(src);
	free(now);
}

static void queue_status(struct rstate *r, const struct qresult *q)
{
	cJSON *qs = kube_json_ensure_obj(r->status, "queue");
	enum intent_priority prio = INTENT_PRIO_MEDIUM;
	int64_t enq = 0, deadline = 0;
	const char *enq_s = kube_json_get_str(qs, "enqueuedAt", NULL);
	char buf[32];

	if (!qs)
		return;
	intent_priority_parse(spec_str(r, "priority"), &prio);
	kube_json_set_str(qs, "priority", intent_priority_name(prio));
	if (!enq_s || kube_time_parse_ms(enq_s, &enq) < 0) {
		kube_json_set_str(qs, "enqueuedAt", r->now);
		kube_time_parse_ms(r->now, &enq);
	}
	int has_sla = intent_sla_deadline(&r->pol, prio, enq, &deadline) == 0;
	if (has_sla && kube_time_format(deadline / 1000, buf, sizeof(buf)))
		kube_json_set_str(qs, "slaDeadline", buf);
	else
		cJSON_DeleteItemFromObjectCaseSensitive(qs, "slaDeadline");
	cJSON_DeleteItemFromObjectCaseSensitive(qs, "position");
	if (q->admitted) {
		if (!is(r, INTENT_COND_QUEUED, "False"))
			audit(r, "operator", "Admitted", NULL, NULL, NULL);
		cond(r, INTENT_COND_QUEUED, "False", "Admitted",
		     "admitted to a pipeline slot (%d of maxConcurrentPipelines %d in use)",
		     q->running, r->pol.max_concurrent);
		return;
	}
	if (q->position > 0)
		cJSON_AddNumberToObject(qs, "position", q->position);
	char pos[32] = "past the first 20";
	if (q->position > 0)
		snprintf(pos, sizeof(pos), "%d", q->position);
	/* Nothing here that changes when others come and go: one admission must not rewrite
	 * every waiting Intent. */
	cond(r, INTENT_COND_QUEUED, "True", "Waiting",
	     "waiting for a pipeline slot: position %s; maxConcurrentPipelines %d", pos,
	     r->pol.max_concurrent);
	if (!has_sla)
		return;
	int64_t now = now_ms(r->ctx->clock);
	if (intent_sla_breached(deadline, now)) {
		if (!is(r, INTENT_COND_SLA_BREACHED, "True")) {
			kube_metric_inc(r->w->m_sla, (const char *const[]){intent_priority_name(prio)});
			audit(r, "operator", "SLABreached", NULL, NULL, buf);
		}
		cond(r, INTENT_COND_SLA_BREACHED, "True", "DeadlinePassed",
		     "still waiting after the %s SLA (deadline %s)", intent_priority_name(prio), buf);
	} else {
		if (!intent_cond_find(r->conds, INTENT_COND_SLA_BREACHED))
			cond(r, INTENT_COND_SLA_BREACHED, "False", "WithinSLA", "deadline %s", buf);
		requeue(r, deadline - now + 1000);
	}
}

/* ---- SPEC ----------------------------------------------------------------------------- */

static void spec_findings(cJSON *spec, const struct intent_spec_verdict *v)
{
	cJSON *f = cJSON_CreateArray();
	char line[256];

	if (!f)
		return;
	for (size_t i = 0; i < v->nfindings; i++) {
		snprintf(line, sizeof(line), "%s: %s", v->findings[i].name, v->findings[i].message);
		cJSON_AddItemToArray(f, cJSON_CreateString(line));
	}
	cJSON_AddItemToObject(spec, "findings", f);
}

static char *cm_body(struct rstate *r, const char *cmname, const char *md, int passes,
		     const char *verified, int with_meta)
{
	cJSON *cm = cJSON_CreateObject();
	char gen[24], ps[16];
	char *out;

	if (!cm)
		return NULL;
	snprintf(gen, sizeof(gen), "%lld", (long long)r->gen);
	snprintf(ps, sizeof(ps), "%d", passes);
	cJSON *meta = kube_json_ensure_obj(cm, "metadata");
	cJSON *ann = kube_json_ensure_obj(meta, "annotations");
	kube_json_set_str(ann, INTENT_ANN_GENERATION, gen);
	kube_json_set_str(ann, INTENT_ANN_VERIFIED, verified);
	if (md)
		kube_json_set_str(ann, INTENT_ANN_WRITTEN, verified);
	kube_json_set_str(ann, INTENT_ANN_PASSES, ps);
	if (with_meta) {
		cJSON_AddStringToObject(cm, "apiVersion", "v1");
		cJSON_AddStringToObject(cm, "kind", "ConfigMap");
		kube_json_set_str(meta, "name", cmname);
		kube_json_set_str(meta, "namespace", r->ns);
		kube_json_set_str(kube_json_ensure_obj(meta, "labels"), INTENT_LABEL, r->label);
		kube_json_set_str(kube_json_ensure_obj(meta, "labels"),
				  "app.kubernetes.io/managed-by", "phoenix-operator");
		cJSON_AddItemToObject(meta, "ownerReferences", owner_refs(r->intent));
	}
	if (md)
		kube_json_set_str(kube_json_ensure_obj(cm, "data"), INTENT_SPEC_KEY, md);
	out = cJSON_PrintUnformatted(cm);
	cJSON_Delete(cm);
	return out;
}

/* A SPEC was written or a human's edit verified: audit and metric. */
static void spec_scored(struct rstate *r, const char *action, int score, int gate)
{
	char sc[16];

	snprintf(sc, sizeof(sc), "%d", score);
	audit(r, "operator", action, "Spec", score >= gate ? "Passed" : "BelowGate", sc);
	kube_metric_observe(r->w->m_spec, NULL, score);
}

/* ---- spec.generator (intent_generator.h) ---------------------------------------------- */

static struct intent_gen_io gen_io(struct rstate *r)
{
	return (struct intent_gen_io){r->ctx->client, r->w->jobs, r->w->cms, r->w->events, r->w->logs};
}

/* The SPEC to write: the built-in loop, or the generator Jobs' best. 1 while the Jobs run or
 * wait for a retry (SpecReady Unknown says so); 0 with *out filled (after giving up: the
 * built-in SPEC, for the human review that follows). */
static int spec_outcome(struct rstate *r, int gate, struct intent_spec_outcome *out, int *rc)
{
	struct intent_gen_result g;
	struct intent_gen_io io = gen_io(r);

	if (!intent_generator_of(r->intent, NULL, NULL)) {
		*rc = intent_spec_run(r->intent, NULL, gate, r->pol.spec_max_passes, out);
		return 0;
	}
	*rc = intent_generator_step(&io, r->intent, r->gen, r->now, now_ms(r->ctx->clock), r->status, &g);
	if (*rc < 0)
		return 0;
	if (g.state == INTENT_GEN_PENDING) {
		cond(r, INTENT_COND_SPEC_READY, "Unknown", "Generating", "%s", g.message);
		if (g.requeue_ms > 0)
			requeue(r, g.requeue_ms);
		return 1;
	}
	if (g.state == INTENT_GEN_FAILED) {
		*rc = intent_spec_run(r->intent, NULL, gate, 1, out);
		return 0;
	}
	memset(out, 0, sizeof(*out));
	out->md = g.md;
	out->passes = 1;
	out->verdict = g.verdict;
	out->passed = g.verdict.score >= gate;
	return 0;
}

/* After the generator gave up, the SPEC the operator wrote waits for a human whatever it
 * scores (an edit of it is verified as usual). */
static void spec_generator_failed(struct rstate *r, const char *cmname, int score)
{
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(r->status, "generator");
	int64_t gg = -1;
	const char *ph = kube_json_get_str(g, "phase", NULL);

	if (!intent_generator_of(r->intent, NULL, NULL) || !ph || strcmp(ph, "Failed") != 0 ||
	    !kube_json_get_int(g, &gg, "generation", NULL) || gg != r->gen)
		return;
	cond(r, INTENT_COND_SPEC_READY, "False", "GeneratorFailed",
	     "%s. Waiting for a human: ConfigMap %s holds the built-in SPEC (score %d); approve it "
	     "(kubectl phoenix approve intent/%s --gate Spec --reason \"...\"), edit it, or fix "
	     "spec.generator", str_or(kube_json_get_str(g, "message", NULL), "the generator failed"),
	     cmname, score, r->name);
}

/* Writes or re-verifies the SPEC ConfigMap; sets status.spec and SpecReady. */
static int spec_step(struct rstate *r)
{
	char cmname[300], key[600], hash[17];
	cJSON *cm = NULL;
	struct intent_spec_verdict v;
	int passes = 0, rc = 0, edited = 0;
	int gate = r->pol.spec_min_score;

	intent_derived_name(r->name, INTENT_SPEC_SUFFIX, INTENT_NAME_MAX, cmname, sizeof(cmname));
	snprintf(key, sizeof(key), "%s/%s", r->ns, cmname);
	kube_cache_get(r->w->cms, key, &cm);
	const char *cmgen = kube_json_get_str(cm, "metadata", "annotations", INTENT_ANN_GENERATION, NULL);
	char want_gen[24];
	snprintf(want_gen, sizeof(want_gen), "%lld", (long long)r->gen);

	if (cm && !owned_by(cm, kube_json_uid(r->intent))) {
		cond(r, INTENT_COND_SPEC_READY, "False", "ConfigMapTaken",
		     "ConfigMap %s exists and is not owned by this Intent: delete or rename it", cmname);
		cJSON_Delete(cm);
		return 0;
	}
	if (!cm || !cmgen || strcmp(cmgen, want_gen) != 0) {
		struct intent_spec_outcome out;
		if (spec_outcome(r, gate, &out, &rc) || rc < 0)
			goto done;
		intent_hash_hex(out.md, hash);
		char *body = cm_body(r, cmname, out.md, out.passes, hash, !cm);
		v = out.verdict;
		passes = out.passes;
		intent_spec_outcome_release(&out);
		if (!body) {
			rc = KUBE_ENOMEM;
			goto done;
		}
		if (cm) {
			rc = kube_patch(r->ctx->client, &INTENT_CM_GVR, r->ns, cmname, NULL,
					KUBE_PATCH_MERGE, body, NULL, NULL);
		} else {
			cJSON *obj = cJSON_Parse(body);
			rc = obj ? kube_create(r->ctx->client, &INTENT_CM_GVR, r->ns, obj, NULL, NULL)
				 : KUBE_ENOMEM;
			cJSON_Delete(obj);
			if (rc == KUBE_EALREADYEXISTS) /* created by a reconcile the cache has not seen */
				rc = kube_patch(r->ctx->client, &INTENT_CM_GVR, r->ns, cmname, NULL,
						KUBE_PATCH_MERGE, body, NULL, NULL);
		}
		free(body);
		if (rc < 0)
			goto done;
		spec_scored(r, "SpecWritten", v.score, gate);
	} else {
		const char *md = kube_json_get_str(cm, "data", INTENT_SPEC_KEY, NULL);
		const char *verified = kube_json_get_str(cm, "metadata", "annotations",
							 INTENT_ANN_VERIFIED, NULL);
		int64_t p = 0;
		const char *ps = kube_json_get_str(cm, "metadata", "annotations", INTENT_ANN_PASSES, NULL);
		if (ps)
			p = strtoll(ps, NULL, 10);
		passes = (int)p;
		const char *written = kube_json_get_str(cm, "metadata", "annotations",
							INTENT_ANN_WRITTEN, NULL);
		intent_spec_verify(md, r->intent, &v);
		intent_hash_hex(md, hash);
		edited = !written || strcmp(written, hash) != 0;
		if (!verified || strcmp(verified, hash) != 0) {
			/* A human edited SPEC.md: verified again, recorded. */
			char *body = cm_body(r, cmname, NULL, passes, hash, 0);
			rc = body ? kube_patch(r->ctx->client, &INTENT_CM_GVR, r->ns, cmname, NULL,
					       KUBE_PATCH_MERGE, body, NULL, NULL)
				  : KUBE_ENOMEM;
			free(body);
			if (rc < 0)
				goto done;
			spec_scored(r, "SpecEdited", v.score, gate);
		}
	}
	cJSON *spec = cJSON_CreateObject();
	if (spec) {
		cJSON_AddStringToObject(spec, "configMap", cmname);
		cJSON_AddNumberToObject(spec, "score", v.score);
		cJSON_AddNumberToObject(spec, "passes", passes);
		spec_findings(spec, &v);
		cJSON_DeleteItemFromObjectCaseSensitive(r->status, "spec");
		cJSON_AddItemToObject(r->status, "spec", spec);
	}
	if (v.score >= gate) {
		cond(r, INTENT_COND_SPEC_READY, "True", edited ? "EditPassed" : "GatePassed",
		     "SPEC score %d >= gate %d (%d pass%s)", v.score, gate, passes,
		     passes == 1 ? "" : "es");
	} else {
		char msg[700];
		size_t off = (size_t)snprintf(msg, sizeof(msg), "SPEC score %d < gate %d after %d pass%s",
					      v.score, gate, passes, passes == 1 ? "" : "es");
		for (size_t i = 0; i < v.nfindings && i < 4 && off < sizeof(msg); i++)
			off += (size_t)snprintf(msg + off, sizeof(msg) - off, "; %s",
						v.findings[i].name);
		cond(r, INTENT_COND_SPEC_READY, "False", "BelowGate",
		     "%s. Waiting for a human: kubectl phoenix approve intent/%s --gate Spec --reason "
		     "\"...\", or edit ConfigMap %s (re-verified on change)", msg, r->name, cmname);
	}
	if (!edited)
		spec_generator_failed(r, cmname, v.score);
done:
	cJSON_Delete(cm);
	return rc;
}

/* ---- Build ---------------------------------------------------------------------------- */

static cJSON *build_spec(struct rstate *r)
{
	cJSON *s = cJSON_CreateObject();
	const cJSON *src = kube_json_get(r->intent, "spec", "source", NULL);
	const char *image = spec_str(r, "image");
	int64_t port = 0, tier = 2;
	char cmname[300];

	if (!s)
		return NULL;
	intent_derived_name(r->name, INTENT_SPEC_SUFFIX, INTENT_NAME_MAX, cmname, sizeof(cmname));
	cJSON_AddStringToObject(s, "serviceName", str_or(spec_str(r, "serviceName"), r->name));
	cJSON *ir = kube_json_ensure_obj(s, "intentRef");
	kube_json_set_str(ir, "name", r->name);
	cJSON_AddNumberToObject(ir, "generation", (double)r->gen);
	kube_json_set_str(kube_json_ensure_obj(s, "specConfigMap"), "name", cmname);
	const cJSON *ib = kube_json_get(r->intent, "spec", "imageBuild", NULL);
	if (cJSON_IsObject(src))
		cJSON_AddItemToObject(s, "source", cJSON_Duplicate(src, 1));
	else if (image)
		kube_json_set_str(kube_json_ensure_obj(s, "image"), "name", image);
	else
		kube_json_ensure_obj(s, "generate");
	/* How a built image is built (the schema refuses it next to a prebuilt image). */
	if (!image && cJSON_IsObject(ib))
		cJSON_AddItemToObject(s, "image", cJSON_Duplicate(ib, 1));
	cJSON *dep = kube_json_ensure_obj(s, "deploy");
	if (kube_json_get_int(r->intent, &port, "spec", "port", NULL))
		cJSON_AddNumberToObject(dep, "port", (double)port);
	kube_json_get_int(r->intent, &tier, "spec", "tier", NULL);
	cJSON_AddNumberToObject(dep, "tier", (double)tier);
	cJSON_AddStringToObject(s, "approvalMode", str_or(spec_str(r, "approvalMode"), "final"));
	return s;
}

static int add_finalizer(struct rstate *r)
{
	const cJSON *f = kube_json_get(r->intent, "metadata", "finalizers", NULL), *e;
	cJSON_ArrayForEach(e, f)
		if (cJSON_IsString(e) && strcmp(e->valuestring, INTENT_FINALIZER) == 0)
			return 0;
	cJSON *patch = cJSON_CreateObject();
	cJSON *arr = cJSON_IsArray(f) ? cJSON_Duplicate(f, 1) : cJSON_CreateArray();
	cJSON_AddItemToArray(arr, cJSON_CreateString(INTENT_FINALIZER));
	cJSON_AddItemToObject(kube_json_ensure_obj(patch, "metadata"), "finalizers", arr);
	kube_json_set_str(kube_json_ensure_obj(patch, "metadata"), "resourceVersion",
			  kube_json_resource_version(r->intent));
	char *body = cJSON_PrintUnformatted(patch);
	cJSON *out = NULL;
	cJSON_Delete(patch);
	int rc = body ? kube_patch(r->ctx->client, &INTENT_GVR, r->ns, r->name, NULL,
				   KUBE_PATCH_MERGE, body, &out, NULL)
		      : KUBE_ENOMEM;
	free(body);
	if (rc == 0)
		note_write(r->w, r->key, out);
	cJSON_Delete(out);
	return rc;
}

static int served(struct kube_client *c, const char *resource);

/* Follows the Builds once the API server serves them. Without the Build CRD the wing does not
 * run the Build informer (it would log a failed list every backoff, forever): it says so once
 * at start, the Intents that reach their Build say BuildCRDMissing, and this looks again at
 * most every INTENT_BUILD_CRD_RETRY_MS when one needs its Build, starting the informer (and
 * saying so) once the CRD is there. Runs on the one worker. */
static void builds_follow(struct intent_wing *w, struct kube_client *c, int64_t now)
{
	if (w->builds_started || now < w->builds_next_check)
		return;
	w->builds_next_check = now + INTENT_BUILD_CRD_RETRY_MS;
	w->builds_missing = !served(c, "builds");
	if (w->builds_missing)
		return;
	if (kube_informer_start(w->builds) == 0) {
		w->builds_started = 1;
		kube_log(KUBE_LOG_INFO, COMP,
			 "the API server serves builds.phoenix.fpai.io now: following the Intents' Builds",
			 NULL);
	}
}

static cJSON *get_build(struct rstate *r, int *rc)
{
	char key[600];
	cJSON *b = NULL;

	builds_follow(r->w, r->ctx->client, now_ms(r->ctx->clock));

	snprintf(key, sizeof(key), "%s/%s", r->ns, r->name);
	if (kube_informer_has_synced(r->w->builds)) {
		*rc = kube_informer_get(r->w->builds, key, &b);
		return b;
	}
	*rc = kube_get(r->ctx->client, &INTENT_BUILD_GVR, r->ns, r->name, NULL, &b, NULL);
	return b;
}

/* The Build CRD is known to be missing until the next look (or, refused, a create just said
 * so): say so, create nothing. */
static int builds_absent(struct rstate *r, int refused)
{
	int64_t now = now_ms(r->ctx->clock);

	if (!refused) {
		builds_follow(r->w, r->ctx->client, now);
		if (r->w->builds_started || !r->w->builds_missing)
			return 0;
	}
	cond(r, INTENT_COND_BUILD_SUCCEEDED, "Unknown", "BuildCRDMissing",
	     "the API server does not serve builds.phoenix.fpai.io: install the Build "
	     "CRD (kubectl apply -f manifests/crds/); retrying every %d s",
	     INTENT_BUILD_CRD_RETRY_MS / 1000);
	requeue(r, r->w->builds_next_check > now ? r->w->builds_next_check - now + 1 : 1);
	return 1;
}

static int build_step(struct rstate *r)
{
	int rc = 0;
	cJSON *b;

	/* Without the CRD a create is refused: another holder's reconcile in the meantime (its
	 * position, an event) must not retry it before the next look (issue 12: writes). */
	if (builds_absent(r, 0))
		return 0;
	b = get_build(r, &rc);
	if (rc == KUBE_ENOTFOUND) {
		cJSON *obj = cJSON_CreateObject();
		struct kube_status st = {0};
		cJSON_AddStringToObject(obj, "apiVersion", API_VERSION);
		cJSON_AddStringToObject(obj, "kind", "Build");
		cJSON *meta = kube_json_ensure_obj(obj, "metadata");
		kube_json_set_str(meta, "name", r->name);
		kube_json_set_str(meta, "namespace", r->ns);
		kube_json_set_str(kube_json_ensure_obj(meta, "labels"), INTENT_LABEL, r->label);
		cJSON_AddItemToObject(meta, "ownerReferences", owner_refs(r->intent));
		cJSON_AddItemToObject(obj, "spec", build_spec(r));
		rc = kube_create(r->ctx->client, &INTENT_BUILD_GVR, r->ns, obj, &b, &st);
		cJSON_Delete(obj);
		if (rc == KUBE_ENOTFOUND) {
			kube_status_release(&st);
			r->w->builds_missing = 1;
			r->w->builds_next_check = now_ms(r->ctx->clock) + INTENT_BUILD_CRD_RETRY_MS;
			builds_absent(r, 1);
			return 0;
		}
		if (rc == KUBE_EALREADYEXISTS) {
			kube_status_release(&st);
			rc = kube_get(r->ctx->client, &INTENT_BUILD_GVR, r->ns, r->name, NULL, &b, NULL);
		} else if (rc < 0) {
			cond(r, INTENT_COND_BUILD_SUCCEEDED, "Unknown", "BuildCreateFailed",
			     "cannot create Build %s: %s", r->name,
			     str_or(st.message, kube_strerror(rc)));
			kube_status_release(&st);
			return rc;
		} else {
			kube_status_release(&st);
			audit(r, "operator", "BuildCreated", NULL, NULL, r->name);
			/* builds are served: follow them now, not at the next look */
			r->w->builds_next_check = 0;
			builds_follow(r->w, r->ctx->client, now_ms(r->ctx->clock));
		}
		if (rc < 0)
			return rc;
	} else if (rc < 0) {
		return rc;
	}
	if (!owned_by(b, kube_json_uid(r->intent))) {
		cond(r, INTENT_COND_BUILD_SUCCEEDED, "False", "BuildNameTaken",
		     "a Build named %s exists and is not owned by this Intent: delete or rename it",
		     r->name);
		cJSON_Delete(b);
		return 0;
	}
	/* A Build exists: deleting the Intent must now decide what happens to what it deploys. */
	rc = add_finalizer(r);
	if (rc < 0) {
		cJSON_Delete(b);
		return rc;
	}
	kube_json_set_str(kube_json_ensure_obj(r->status, "buildRef"), "name", r->name);
	int64_t bgen = 0;
	if (!kube_json_get_int(b, &bgen, "spec", "intentRef", "generation", NULL) || bgen != r->gen) {
		cJSON *patch = cJSON_CreateObject();
		cJSON_AddItemToObject(patch, "spec", build_spec(r));
		char *body = cJSON_PrintUnformatted(patch);
		cJSON_Delete(patch);
		rc = body ? kube_patch(r->ctx->client, &INTENT_BUILD_GVR, r->ns, r->name, NULL,
				       KUBE_PATCH_MERGE, body, NULL, NULL)
			  : KUBE_ENOMEM;
		free(body);
		if (rc < 0) {
			cJSON_Delete(b);
			return rc;
		}
		cond(r, INTENT_COND_BUILD_SUCCEEDED, "Unknown", "BuildUpdated",
		     "Build %s updated for generation %lld", r->name, (long long)r->gen);
		cJSON_Delete(b);
		return 0;
	}
	const cJSON *sc = intent_cond_find(kube_json_get(b, "status", "conditions", NULL), "Succeeded");
	const char *s = kube_json_get_str(sc, "status", NULL);
	if (!s || (strcmp(s, "True") && strcmp(s, "False")))
		s = "Unknown";
	cond(r, INTENT_COND_BUILD_SUCCEEDED, s,
	     str_or(kube_json_get_str(sc, "reason", NULL), sc ? "Running" : "Pending"), "%s",
	     str_or(kube_json_get_str(sc, "message", NULL),
		    sc ? "" : "the Build has not reported yet"));
	const char *svc = kube_json_get_str(b, "status", "serviceRef", "name", NULL);
	if (svc) {
		kube_json_set_str(kube_json_ensure_obj(r->status, "serviceRef"), "name", svc);
		char key[600];
		cJSON *ps = NULL;
		snprintf(key, sizeof(key), "%s/%s", r->ns, svc);
		kube_cache_get(r->w->services, key, &ps);
		bool avail = intent_cond_is(kube_json_get(ps, "status", "conditions", NULL),
					    "Available", "True", -1);
		if (avail && !strcmp(s, "True"))
			cond(r, INTENT_COND_READY, "True", "Available", "PhoenixService %s is Available", svc);
		else if (avail) /* deployed, not yet verified and registered (or it failed) */
			cond(r, INTENT_COND_READY, "False", !strcmp(s, "False") ? "BuildFailed"
										: "BuildRunning",
			     "PhoenixService %s is Available but Build %s has %s", svc, r->name,
			     !strcmp(s, "False") ? "failed" : "not succeeded yet");
		else
			cond(r, INTENT_COND_READY, "False", ps ? "NotAvailable" : "ServiceMissing",
			     "PhoenixService %s is %s", svc, ps ? "not Available yet" : "not there");
		cJSON_Delete(ps);
	}
	cJSON_Delete(b);
	return 0;
}

/* Stops a Build that has not finished (cancel). */
static int stop_build(struct rstate *r)
{
	int rc = 0;
	cJSON *b = get_build(r, &rc);

	if (rc == KUBE_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	if (!owned_by(b, kube_json_uid(r->intent)) ||
	    intent_cond_is(kube_json_get(b, "status", "conditions", NULL), "Succeeded", "True", -1)) {
		cJSON_Delete(b);
		return 0;
	}
	cJSON_Delete(b);
	struct kube_delete_opts o = KUBE_DELETE_OPTS_INIT;
	o.propagation_policy = "Background";
	rc = kube_delete(r->ctx->client, &INTENT_BUILD_GVR, r->ns, r->name, &o, NULL, NULL);
	if (rc == 0)
		audit(r, "operator", "BuildStopped", NULL, NULL, "cancelled");
	return rc == KUBE_ENOTFOUND ? 0 : rc;
}

/* ---- writes and Events ---------------------------------------------------------------- */

/* An Intent's first generation deployed (BuildSucceeded True: its Build deployed the
 * PhoenixService, Available, and registered it; once per generation): seconds since it was
 * submitted (metadata.creationTimestamp). Later generations (edits) are not counted: their
 * submission is not recorded. */
static void observe_deployed(struct rstate *r)
{
	int64_t created;

	if (kube_time_parse_ms(kube_json_get_str(r->intent, "metadata", "creationTimestamp", NULL),
			       &created) < 0)
		return;
	int64_t ms = now_ms(r->ctx->clock) - created;
	kube_metric_observe(r->w->m_deployed, NULL, ms > 0 ? (double)ms / 1000.0 : 0.0);
}

static void transition_events(struct rstate *r)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, r->conds) {
		const char *type = kube_json_get_str(c, "type", NULL);
		const char *st = kube_json_get_str(c, "status", NULL);
		const char *reason = kube_json_get_str(c, "reason", NULL);
		const cJSON *old = intent_cond_find(r->prev, type);
		const char *ost = kube_json_get_str(old, "status", NULL);
		const char *oreason = kube_json_get_str(old, "reason", NULL);
		int64_t og = -1, ng = -1;

		if (!type || !st || !reason)
			continue;
		kube_json_get_int(old, &og, "observedGeneration", NULL);
		kube_json_get_int(c, &ng, "observedGeneration", NULL);
		if (old && ost && oreason && strcmp(ost, st) == 0 && strcmp(oreason, reason) == 0 &&
		    og == ng)
			continue;
		if (strcmp(type, INTENT_COND_SLA_BREACHED) == 0 && strcmp(st, "True") != 0)
			continue;
		if (strcmp(type, INTENT_COND_BUILD_SUCCEEDED) == 0 && strcmp(st, "True") == 0 &&
		    ng == 1)
			observe_deployed(r);
		int warn = (strcmp(st, "False") == 0 &&
			    (strcmp(type, INTENT_COND_SPEC_READY) == 0 ||
			     strcmp(type, INTENT_COND_BUILD_SUCCEEDED) == 0 ||
			     strcmp(type, INTENT_COND_APPROVED) == 0)) ||
			   (strcmp(st, "True") == 0 && (strcmp(type, INTENT_COND_SLA_BREACHED) == 0 ||
							 strcmp(type, INTENT_COND_DENIED) == 0)) ||
			   strcmp(reason, "BuildCRDMissing") == 0;
		kube_events_record(r->w->events, r->intent, warn ? KUBE_EVENT_WARNING : KUBE_EVENT_NORMAL,
				   type, "%s=%s (%s): %s", type, st, reason,
				   str_or(kube_json_get_str(c, "message", NULL), ""));
	}
}

static int write_status(struct rstate *r)
{
	const cJSON *old = kube_json_get(r->intent, "status", NULL);

	if (old && cJSON_Compare(old, r->status, 1))
		return 0;
	cJSON *patch = cJSON_CreateObject();
	if (!patch)
		return KUBE_ENOMEM;
	cJSON_AddItemToObject(patch, "status", cJSON_Duplicate(r->status, 1));
	/* Replace, not merge: null out what the new status dropped. */
	const cJSON *e;
	cJSON_ArrayForEach(e, old)
		if (!cJSON_GetObjectItemCaseSensitive(r->status, e->string))
			cJSON_AddNullToObject(cJSON_GetObjectItemCaseSensitive(patch, "status"), e->string);
	static const char *const nested[] = {"queue", "generator"};
	for (size_t i = 0; i < sizeof(nested) / sizeof(nested[0]); i++) {
		const cJSON *oq = kube_json_get(old, nested[i], NULL);
		const cJSON *nq = kube_json_get(r->status, nested[i], NULL);
		if (cJSON_IsObject(oq) && cJSON_IsObject(nq))
			cJSON_ArrayForEach(e, oq)
				if (!cJSON_GetObjectItemCaseSensitive(nq, e->string))
					cJSON_AddNullToObject(kube_json_ensure_obj(kube_json_ensure_obj(patch, "status"), nested[i]), e->string);
	}
	char *body = cJSON_PrintUnformatted(patch);
	cJSON_Delete(patch);
	if (!body)
		return KUBE_ENOMEM;
	cJSON *out = NULL;
	int rc = kube_patch(r->ctx->client, &INTENT_GVR, r->ns, r->name, "status", KUBE_PATCH_MERGE,
			    body, &out, NULL);
	free(body);
	if (rc == 0)
		note_write(r->w, r->key, out);
	cJSON_Delete(out);
	if (rc == KUBE_ENOTFOUND)
		return 0;
	if (rc == 0)
		transition_events(r);
	return rc;
}

/* ---- delete, missing target ----------------------------------------------------------- */

static int finalize(struct rstate *r)
{
	const cJSON *f = kube_json_get(r->intent, "metadata", "finalizers", NULL), *e;
	int has = 0;

	cJSON_ArrayForEach(e, f)
		if (cJSON_IsString(e) && strcmp(e->valuestring, INTENT_FINALIZER) == 0)
			has = 1;
	if (!has)
		return 0;
	const char *policy = str_or(spec_str(r, "deletionPolicy"), "Retain");
	struct kube_delete_opts o = KUBE_DELETE_OPTS_INIT;
	int rc = 0;
	if (strcmp(policy, "Delete") == 0) {
		const char *svc = kube_json_get_str(r->intent, "status", "serviceRef", "name", NULL);
		if (svc) {
			o.propagation_policy = "Background";
			rc = kube_delete(r->ctx->client, &INTENT_SERVICE_GVR, r->ns, svc, &o, NULL, NULL);
			if (rc == KUBE_ENOTFOUND)
				rc = 0;
		}
	} else {
		/* Retain: the Build goes, what it deployed stays. */
		o.propagation_policy = "Orphan";
		int brc = 0;
		cJSON *b = get_build(r, &brc);
		if (b && owned_by(b, kube_json_uid(r->intent)))
			rc = kube_delete(r->ctx->client, &INTENT_BUILD_GVR, r->ns, r->name, &o, NULL, NULL);
		cJSON_Delete(b);
		if (rc == KUBE_ENOTFOUND)
			rc = 0;
	}
	if (rc < 0)
		return rc;
	kube_events_record(r->w->events, r->intent, KUBE_EVENT_NORMAL, "Finalized",
			   "deletionPolicy %s: %s", policy,
			   strcmp(policy, "Delete") == 0 ? "the PhoenixService it produced is deleted"
							 : "the PhoenixService it produced is kept");
	cJSON *patch = cJSON_CreateObject();
	cJSON *arr = cJSON_CreateArray();
	cJSON_ArrayForEach(e, f)
		if (!cJSON_IsString(e) || strcmp(e->valuestring, INTENT_FINALIZER) != 0)
			cJSON_AddItemToArray(arr, cJSON_Duplicate(e, 1));
	cJSON *meta = kube_json_ensure_obj(patch, "metadata");
	cJSON_AddItemToObject(meta, "finalizers", arr);
	kube_json_set_str(meta, "resourceVersion", kube_json_resource_version(r->intent));
	char *body = cJSON_PrintUnformatted(patch);
	cJSON_Delete(patch);
	rc = body ? kube_patch(r->ctx->client, &INTENT_GVR, r->ns, r->name, NULL, KUBE_PATCH_MERGE,
			       body, NULL, NULL)
		  : KUBE_ENOMEM;
	free(body);
	return rc == KUBE_ENOTFOUND ? 0 : rc;
}

static int missing(struct intent_wing *w, struct kube_reconcile_ctx *ctx, const char *ns,
		   const char *name, const char *key)
{
	const cJSON **v;
	size_t n;
	struct rstate r = {.w = w, .ctx = ctx, .ns = ns, .name = name, .key = key};
	struct qresult q;
	struct intent_policy pol;
	char err[64];

	intent_evaluator_forget(w->eval, key);
	r.approval_writes = cJSON_CreateArray();
	cJSON *all = pending_approvals(w, ns, name, &v, &n);
	if (n > 0) {
		/* The Approval's informer may be ahead of the Intents': ask the API server before
		 * calling the target unknown. */
		int grc = kube_get(ctx->client, &INTENT_GVR, ns, name, NULL, NULL, NULL);
		if (grc != KUBE_ENOTFOUND) {
			free(v);
			cJSON_Delete(all);
			cJSON_Delete(r.approval_writes);
			if (grc == 0)
				ctx->requeue_after_ms = 500;
			return grc;
		}
	}
	for (size_t i = 0; i < n; i++)
		approval_outcome(&r, v[i], "Ignored", "no Intent %s in namespace %s", name, ns);
	free(v);
	int rc = write_approvals(w, ctx->client, r.approval_writes);
	cJSON_Delete(all);
	cJSON_Delete(r.approval_writes);
	pthread_mutex_lock(&w->mu);
	slot_drop(w, key);
	pthread_mutex_unlock(&w->mu);
	load_policy(w, ns, &pol, err, sizeof(err));
	queue_pass(w, w->ctl, ns, NULL, NULL, NULL, 0, pol.max_concurrent, &q);
	intent_policy_release(&pol);
	return rc;
}

/* ---- reconcile ------------------------------------------------------------------------ */

static int reconcile(struct kube_reconcile_ctx *ctx, const char *key)
{
	struct intent_wing *w = ctx->ud;
	char ns[256];
	const char *name;
	struct rstate r = {.w = w, .ctx = ctx, .key = key};
	int rc = 0;

	if (split_key(key, ns, sizeof(ns), &name) < 0)
		return 0;
	r.ns = ns;
	r.name = name;
	intent_derived_name(name, "", INTENT_LABEL_MAX, r.label, sizeof(r.label));
	if (kube_cache_get(w->intents, key, &r.intent) != 0)
		return missing(w, ctx, ns, name, key);
	if (cache_behind(w, key, r.intent)) {
		/* Our last write has not reached the cache yet: its event will bring us back. */
		cJSON_Delete(r.intent);
		ctx->requeue_after_ms = 500;
		return 0;
	}
	/* The cache holds a projection (intent_transform.h); the status is rebuilt from the whole
	 * previous one: read it from the API server. */
	cJSON_Delete(r.intent);
	r.intent = NULL;
	rc = kube_get(ctx->client, &INTENT_GVR, ns, name, NULL, &r.intent, NULL);
	if (rc == KUBE_ENOTFOUND)
		return missing(w, ctx, ns, name, key);
	if (rc < 0)
		return rc;
	r.gen = obj_gen(r.intent);
	now_str(ctx->clock, r.now, sizeof(r.now));
	r.policy_name = load_policy(w, ns, &r.pol, r.policy_err, sizeof(r.policy_err));
	r.approval_writes = cJSON_CreateArray();
	const cJSON *st = kube_json_get(r.intent, "status", NULL);
	r.status = cJSON_IsObject(st) ? cJSON_Duplicate(st, 1) : cJSON_CreateObject();
	r.prev = kube_json_get(r.intent, "status", "conditions", NULL);
	if (!r.status || !r.approval_writes) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	r.conds = cJSON_GetObjectItemCaseSensitive(r.status, "conditions");
	if (!cJSON_IsArray(r.conds)) {
		cJSON_DeleteItemFromObjectCaseSensitive(r.status, "conditions");
		r.conds = cJSON_AddArrayToObject(r.status, "conditions");
	}

	if (kube_json_get_str(r.intent, "metadata", "deletionTimestamp", NULL)) {
		rc = finalize(&r);
		if (rc == 0) {
			pthread_mutex_lock(&w->mu);
			slot_drop(w, key);
			pthread_mutex_unlock(&w->mu);
		}
		goto out;
	}

	int64_t og = -1;
	kube_json_get_int(r.status, &og, "observedGeneration", NULL);
	if (og != r.gen) {
		if (og > 0 && !is(&r, INTENT_COND_EVALUATED, "Unknown"))
			audit(&r, "operator", "SpecChanged", NULL, NULL, "starts over from governance");
		govern(&r);
	}
	int is_cancelled = cancelled(r.intent);
	struct qresult q = {0};
	if (is_cancelled) {
		if (!intent_cond_find(r.prev, "Cancelled") &&
		    strcmp(str_or(kube_json_get_str(r.intent, "status", "phase", NULL), ""), "Cancelled"))
			audit(&r, "operator", "Cancelled", NULL, NULL, NULL);
		rc = stop_build(&r);
		struct intent_gen_io gio = gen_io(&r);
		if (rc == 0 && w->jobs)
			rc = intent_generator_stop(&gio, r.intent);
		cJSON_DeleteItemFromObjectCaseSensitive(r.status, "queue");
		intent_cond_remove(r.conds, INTENT_COND_QUEUED);
	} else if (!is(&r, INTENT_COND_EVALUATED, "Unknown")) {
		/* (While the external evaluator thinks nothing is pending: its end brings us back.) */
		apply_approvals(&r);
	}
	int denied = is(&r, INTENT_COND_DENIED, "True") || !is(&r, INTENT_COND_APPROVED, "True");
	if (rc == 0 && !is_cancelled && !denied) {
		int done = finished_conds(r.conds, r.gen, r.intent);
		/* Once finished, a generation keeps its admission (an edit of its SPEC ConfigMap is
		 * verified again without queueing). */
		pthread_mutex_lock(&w->mu);
		struct slot *sl = slot_get(w, key, 0);
		if (sl && sl->gen == r.gen && sl->done)
			done = 1;
		pthread_mutex_unlock(&w->mu);
		queue_pass(w, ctx->controller, ns, name, r.intent, r.conds, done, r.pol.max_concurrent, &q);
		if (!done)
			queue_status(&r, &q);
		/* A finished pipeline keeps following its SPEC ConfigMap and its Build (Ready comes
		 * after BuildSucceeded). */
		if (q.admitted || done) {
			rc = spec_step(&r);
			int gate_ok = is(&r, INTENT_COND_SPEC_APPROVED, "True") ||
				      (is(&r, INTENT_COND_SPEC_READY, "True") && !spec_gate_pending(&r));
			if (rc == 0 && gate_ok && kube_json_get_bool(r.intent, 1, "spec", "autoBuild", NULL))
				rc = build_step(&r);
			if (rc == 0 && !done && finished_conds(r.conds, r.gen, r.intent)) {
				pthread_mutex_lock(&w->mu);
				struct slot *s = slot_get(w, key, 1);
				if (s) {
					s->gen = r.gen;
					s->done = 1;
				}
				pthread_mutex_unlock(&w->mu);
				struct qresult q2;
				queue_pass(w, ctx->controller, ns, name, r.intent, r.conds, 1,
					   r.pol.max_concurrent, &q2);
			}
		}
	} else if (rc == 0) {
		/* Denied, rejected or cancelled: free the slot for the next one. */
		pthread_mutex_lock(&w->mu);
		struct slot *s = slot_get(w, key, 0);
		int had = s && s->admitted && !s->done;
		if (s) {
			s->admitted = 0;
			s->done = 0;
			s->gen = r.gen;
		}
		pthread_mutex_unlock(&w->mu);
		if (had || is_cancelled || is(&r, INTENT_COND_DENIED, "True"))
			queue_pass(w, ctx->controller, ns, NULL, NULL, NULL, 0, r.pol.max_concurrent, &q);
	}
	const char *phase = intent_phase(r.conds, r.gen, is_cancelled);
	kube_json_set_str(r.status, "phase", phase);
	pthread_mutex_lock(&w->mu);
	set_phase_metric(w, key, phase);
	pthread_mutex_unlock(&w->mu);
	const char *old_phase = str_or(kube_json_get_str(r.intent, "status", "phase", NULL), "");
	int wrc = write_status(&r);
	if (wrc == 0 && is_cancelled && strcmp(old_phase, "Cancelled") != 0)
		kube_events_record(w->events, r.intent, KUBE_EVENT_NORMAL, "Cancelled",
				   "spec.state is Cancelled: its pipeline slot is freed and an unfinished "
				   "Build stopped");
	if (wrc == 0)
		wrc = write_approvals(w, ctx->client, r.approval_writes);
	if (rc == 0)
		rc = wrc;
	if (rc == 0)
		ctx->requeue_after_ms = r.requeue_ms;
out:
	if (rc < 0 && rc != KUBE_ENOTLEADER)
		kube_log(KUBE_LOG_WARN, COMP, "reconcile failed", "intent", key, "error",
			 kube_strerror(rc), NULL);
	intent_policy_release(&r.pol);
	cJSON_Delete(r.status);
	cJSON_Delete(r.approval_writes);
	cJSON_Delete(r.intent);
	return rc;
}

/* ---- watches -------------------------------------------------------------------------- */

struct ns_enqueue {
	struct kube_controller *ctl;
	const char *ns;
	const char *svc; /* NULL: every Intent of ns; else those naming this service */
};

static int enqueue_fn(const cJSON *obj, void *ud)
{
	struct ns_enqueue *e = ud;
	const char *ns = kube_json_namespace(obj);
	char *key;

	if (!ns || strcmp(ns, e->ns) != 0)
		return 0;
	if (e->svc) {
		const char *a = kube_json_get_str(obj, "spec", "serviceName", NULL);
		const char *b = kube_json_get_str(obj, "status", "serviceRef", "name", NULL);
		if (!(a && strcmp(a, e->svc) == 0) && !(b && strcmp(b, e->svc) == 0))
			return 0;
	}
	key = kube_json_key(obj);
	if (key)
		kube_controller_enqueue(e->ctl, key);
	free(key);
	return 0;
}

static void map_policy(struct kube_controller *ctl, const struct kube_event *ev, void *ud)
{
	struct intent_wing *w = ud;
	const char *name = kube_json_name(ev->obj);
	struct ns_enqueue e = {ctl, kube_json_namespace(ev->obj), NULL};

	if (ev->type == KUBE_EVENT_RESYNC || !name || strcmp(name, "default") != 0 || !e.ns)
		return;
	kube_cache_foreach(w->intents, enqueue_fn, &e);
}

static void map_approval(struct kube_controller *ctl, const struct kube_event *ev, void *ud)
{
	const char *kind = kube_json_get_str(ev->obj, "spec", "targetRef", "kind", NULL);
	const char *name = kube_json_get_str(ev->obj, "spec", "targetRef", "name", NULL);
	const char *ns = kube_json_namespace(ev->obj);
	char *key;

	(void)ud;
	if (ev->type == KUBE_EVENT_DELETE || !kind || !name || !ns || strcmp(kind, "Intent") != 0)
		return;
	if (kube_json_get_str(ev->obj, "status", "outcome", NULL))
		return;
	key = phx_key(ns, name);
	if (key)
		kube_controller_enqueue(ctl, key);
	free(key);
}

/* The port a PhoenixService serves on, as governance's port rule compares it with an Intent's
 * spec.port: its Service's first port, or (no spec.service.ports) the first container port of
 * its template, which is then what the Service exposes (the CRD's documented default). 0: none. */
static int service_port(const cJSON *obj)
{
	const cJSON *ports = kube_json_get(obj, "spec", "service", "ports", NULL);
	const cJSON *cs = kube_json_get(obj, "spec", "template", "spec", "containers", NULL);
	int64_t port = 0;

	if (cJSON_GetArraySize(ports) > 0)
		kube_json_get_int(cJSON_GetArrayItem(ports, 0), &port, "port", NULL);
	else
		kube_json_get_int(cJSON_GetArrayItem(kube_json_get(cJSON_GetArrayItem(cs, 0), "ports",
								     NULL), 0),
				  &port, "containerPort", NULL);
	return port >= 1 && port <= 65535 ? (int)port : 0;
}

static void map_service(struct kube_controller *ctl, const struct kube_event *ev, void *ud)
{
	struct intent_wing *w = ud;
	struct ns_enqueue e = {ctl, kube_json_namespace(ev->obj), kube_json_name(ev->obj)};

	if (ev->type == KUBE_EVENT_RESYNC || !e.ns || !e.svc)
		return;
	int port = service_port(ev->obj);
	pthread_mutex_lock(&w->qmu);
	if (ev->type == KUBE_EVENT_DELETE)
		svc_index_del(w, e.ns, e.svc);
	else if (svc_index_put(w, e.ns, e.svc, port) < 0)
		kube_log(KUBE_LOG_ERROR, COMP, "out of memory indexing a PhoenixService for governance",
			 "service", e.svc, NULL);
	pthread_mutex_unlock(&w->qmu);
	if (ev->type == KUBE_EVENT_UPDATE && ev->old_obj &&
	    cJSON_Compare(kube_json_get(ev->old_obj, "status", "conditions", NULL),
			  kube_json_get(ev->obj, "status", "conditions", NULL), 1))
		return;
	kube_cache_foreach(w->intents, enqueue_fn, &e);
}

static void build_event(struct intent_wing *w, const cJSON *obj)
{
	const cJSON *ref = phx_controller_ref(obj);
	const char *kind = kube_json_get_str(ref, "kind", NULL);
	const char *name = kube_json_get_str(ref, "name", NULL);
	char *key;

	if (!kind || !name || strcmp(kind, "Intent") != 0 || !w->ctl)
		return;
	key = phx_key(kube_json_namespace(obj), name);
	if (key)
		kube_controller_enqueue(w->ctl, key);
	free(key);
}

static void build_add(const cJSON *obj, void *ud)
{
	build_event(ud, obj);
}

static void build_update(const cJSON *old_obj, const cJSON *new_obj, void *ud)
{
	if (old_obj == new_obj)
		return;
	build_event(ud, new_obj);
}

static void build_delete(const cJSON *obj, bool final_state_unknown, void *ud)
{
	(void)final_state_unknown;
	build_event(ud, obj);
}

static int setup(struct kube_controller *ctl, void *ud)
{
	struct intent_wing *w = ud;
	struct kube_source pol = {.gvr = &INTENT_POLICY_GVR};
	struct kube_source apv = {.gvr = &INTENT_APPROVAL_GVR};
	/* The PhoenixService wing's transform: one shared informer (the key includes it). */
	struct kube_source svc = {.gvr = &INTENT_SERVICE_GVR, .transform = phx_object_transform};
	struct kube_source cms = {.gvr = &INTENT_CM_GVR, .label_selector = INTENT_LABEL};
	int rc;

	w->ctl = ctl;
	w->intents = kube_controller_primary(ctl);
	/* The primary's informer (same source: shared), for the queue index. */
	struct kube_source idx = {.gvr = &INTENT_GVR, .transform = intent_transform, .compact = true};
	rc = kube_controller_watches(ctl, &idx, map_index, w, NULL);
	if (rc < 0)
		return rc;
	rc = kube_controller_watches(ctl, &pol, map_policy, w, &w->policies);
	if (rc == 0)
		rc = kube_controller_watches(ctl, &apv, map_approval, w, &w->approvals);
	if (rc == 0)
		rc = kube_controller_watches(ctl, &svc, map_service, w, &w->services);
	if (rc == 0)
		rc = kube_controller_owns(ctl, &cms, &w->cms);
	struct kube_source jobs = {.gvr = &INTENT_GEN_JOB_GVR, .label_selector = INTENT_LABEL};
	if (rc == 0)
		rc = kube_controller_owns(ctl, &jobs, &w->jobs);
	return rc;
}

/* Leadership gained: forget the slots this process handed out while it led before (another
 * replica may have decided since); the statuses say who holds a slot. */
static void on_leading(struct kube_controller *ctl, bool leading, void *ud)
{
	struct intent_wing *w = ud;
	struct slot *s, *tmp;

	(void)ctl;
	if (!leading)
		return;
	pthread_mutex_lock(&w->mu);
	HASH_ITER(hh, w->slots, s, tmp) {
		s->admitted = 0;
		s->done = 0;
		s->gen = 0;
		s->written_rv = 0;
	}
	pthread_mutex_unlock(&w->mu);
}

/* ---- the wing ------------------------------------------------------------------------- */

/* 1 when the API server serves `resource` in phoenix.fpai.io/v1alpha1; 0 when it definitely
 * does not; 1 when it cannot tell (the informers will say). */
static int served(struct kube_client *c, const char *resource)
{
	cJSON *out = NULL;
	struct kube_status st = {0};
	int rc = kube_request(c, "GET", "/apis/phoenix.fpai.io/v1alpha1", NULL, NULL, NULL, 0, &out, &st);
	int served = 1;

	if (rc == KUBE_ENOTFOUND) {
		served = 0;
	} else if (rc == 0) {
		const cJSON *r;
		served = 0;
		cJSON_ArrayForEach(r, kube_json_get(out, "resources", NULL)) {
			const char *n = kube_json_get_str(r, "name", NULL);
			if (n && strcmp(n, resource) == 0)
				served = 1;
		}
	}
	cJSON_Delete(out);
	kube_status_release(&st);
	return served;
}

/* An evaluator call or a generator log read ended (on its thread): reconcile the Intent again. */
static void evaluator_done(const char *key, void *ud)
{
	struct intent_wing *w = ud;
	if (w->ctl)
		kube_controller_enqueue(w->ctl, key);
}

int intent_wing_add(struct kube_manager *m, const struct phx_wing_env *env, void **state)
{
	struct intent_wing *w;
	int rc;

	if (!m || !env || !state)
		return KUBE_EINVAL;
	*state = NULL;
	if (!served(env->client, "intents")) {
		kube_log(KUBE_LOG_WARN, COMP,
			 "the API server does not serve intents.phoenix.fpai.io: the Intent controller "
			 "is off (install manifests/crds/ and restart the operator to turn it on)", NULL);
		return 0;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return KUBE_ENOMEM;
	pthread_mutex_init(&w->mu, NULL);
	pthread_mutex_init(&w->qmu, NULL);
	w->client = env->client;
	w->events = env->events;
	w->ns = strdup(env->namespace ? env->namespace : "");
	w->eval = intent_evaluator_new(evaluator_done, w);
	/* A generator Job's log is read on its own thread too; its end enqueues the Intent. */
	w->logs = intent_gen_logs_new(env->client, evaluator_done, w);
	w->qindex = intent_queue_index_new();
	struct kube_metrics *reg = kube_metrics_default();
	w->m_phase = kube_metric_register(reg, KUBE_GAUGE, "phoenix_intents",
					  "Intents by phase", (const char *const[]){"phase", NULL}, NULL, 0);
	w->m_depth = kube_metric_register(reg, KUBE_GAUGE, "phoenix_intent_queue_depth",
					  "Approved Intents waiting for a pipeline slot",
					  (const char *const[]){"namespace", "priority", NULL}, NULL, 0);
	w->m_decisions = kube_metric_register(reg, KUBE_COUNTER, "phoenix_intent_decisions_total",
					      "Governance decisions",
					      (const char *const[]){"mode", "decision", NULL}, NULL, 0);
	static const double spec_buckets[] = {50, 60, 70, 80, 90, 95, 100};
	w->m_spec = kube_metric_register(reg, KUBE_HISTOGRAM, "phoenix_intent_spec_score",
					 "Verifier scores of the SPECs written or edited", NULL,
					 spec_buckets, sizeof(spec_buckets) / sizeof(spec_buckets[0]));
	w->m_sla = kube_metric_register(reg, KUBE_COUNTER, "phoenix_intent_sla_breaches_total",
					"Intents that waited in the queue past their SLA",
					(const char *const[]){"priority", NULL}, NULL, 0);
	static const double deployed_buckets[] = {10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600};
	w->m_deployed = kube_metric_register(
		reg, KUBE_HISTOGRAM, "phoenix_intent_time_to_deployed_seconds",
		"Seconds from an Intent's submission (creation) to deployed (BuildSucceeded: its "
		"PhoenixService Available and registered), first generation only", NULL, deployed_buckets, sizeof(deployed_buckets) / sizeof(deployed_buckets[0]));

	struct kube_informer_opts bo = {
		.gvr = &INTENT_BUILD_GVR, .namespace = w->ns, .label_selector = INTENT_LABEL,
		.name = "intent-builds", .backoff_max_ms = 10000,
	};
	rc = kube_informer_new(env->client, &bo, &w->builds);
	struct kube_informer_handlers h = {build_add, build_update, build_delete, w};
	if (rc == 0)
		rc = kube_informer_add_handlers(w->builds, &h);
	struct kube_controller_ops ops = {
		.name = "intent",
		.primary = {.gvr = &INTENT_GVR, .transform = intent_transform, .compact = true},
		.api_version = API_VERSION,
		.kind = "Intent",
		.setup = setup,
		.reconcile = reconcile,
		.on_leading = on_leading,
		.workers = 1,
	};
	if (rc == 0 && !w->qindex)
		rc = KUBE_ENOMEM;
	if (rc == 0)
		rc = kube_manager_add_controller(m, &ops, w, NULL);
	if (rc == 0 && served(env->client, "builds")) {
		rc = kube_informer_start(w->builds);
		w->builds_started = rc == 0;
	} else if (rc == 0) {
		kube_log(KUBE_LOG_WARN, COMP,
			 "the API server does not serve builds.phoenix.fpai.io: Intents that reach "
			 "their Build wait with BuildSucceeded Unknown (BuildCRDMissing) until it is "
			 "installed (kubectl apply -f manifests/crds/); no restart needed", NULL);
	}
	if (rc < 0) {
		intent_wing_free(w);
		return rc;
	}
	*state = w;
	return 0;
}

void intent_wing_free(void *state)
{
	struct intent_wing *w = state;
	struct slot *s, *tmp;

	if (!w)
		return;
	intent_evaluator_free(w->eval);
	intent_gen_logs_free(w->logs);
	kube_informer_free(w->builds);
	HASH_ITER(hh, w->slots, s, tmp) {
		HASH_DEL(w->slots, s);
		free(s);
	}
	pthread_mutex_destroy(&w->mu);
	pthread_mutex_destroy(&w->qmu);
	intent_queue_index_free(w->qindex);
	svc_index_free(w);
	free(w->ns);
	free(w);
}
