/* intent_governance: the named, weighted rules, the score and the decision table. */
#include "intent_governance.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "intent_text.h"
#include "kube_error.h"

/* Specificity thresholds (distinct content words, see intent_text.h). */
#define PURPOSE_PASS 6
#define PURPOSE_WARN 3
#define FEATURE_SPECIFIC 3
#define CYCLE_DEPTH_MAX 256

static const struct {
	const char *name;
	double weight;
	enum intent_severity severity;
} RULES[INTENT_RULE_COUNT] = {
	[INTENT_RULE_PURPOSE] = {"purpose-specific", 0.20, INTENT_SEV_HIGH},
	[INTENT_RULE_FEATURES] = {"features-specific", 0.15, INTENT_SEV_MEDIUM},
	[INTENT_RULE_DEPS_EXIST] = {"dependencies-exist", 0.15, INTENT_SEV_HIGH},
	[INTENT_RULE_DEPS_ALLOWED] = {"dependencies-allowed", 0.10, INTENT_SEV_CRITICAL},
	[INTENT_RULE_DEPS_ACYCLIC] = {"dependencies-acyclic", 0.10, INTENT_SEV_CRITICAL},
	[INTENT_RULE_PORT] = {"port-available", 0.10, INTENT_SEV_HIGH},
	[INTENT_RULE_NAME] = {"name-available", 0.10, INTENT_SEV_CRITICAL},
	[INTENT_RULE_TIER] = {"tier-consistent", 0.10, INTENT_SEV_MEDIUM},
};

double intent_rule_weight(enum intent_rule r)
{
	return (unsigned)r < INTENT_RULE_COUNT ? RULES[r].weight : 0;
}

const char *intent_rule_name(enum intent_rule r)
{
	return (unsigned)r < INTENT_RULE_COUNT ? RULES[r].name : "unknown";
}

const char *intent_result_name(enum intent_result r)
{
	static const char *const n[] = {"pass", "fail", "warn", "error", "skip"};

	return (unsigned)r < 5 ? n[r] : "error";
}

const char *intent_severity_name(enum intent_severity s)
{
	static const char *const n[] = {"critical", "high", "medium", "low", "info"};

	return (unsigned)s < 5 ? n[s] : "info";
}

const char *intent_decision_name(enum intent_decision d)
{
	static const char *const n[] = {"AutoApproved", "RequiresApproval", "Rejected"};

	return (unsigned)d < 3 ? n[d] : "RequiresApproval";
}

/* The Intent's spec, read once. Strings are borrowed from the object. */
struct spec_view {
	const char *service;
	const char *type;
	const char *purpose;
	const cJSON *features;
	const cJSON *deps;
	int tier;          /* -1 when not 0-3 */
	int prio;          /* enum intent_priority, -1 when unknown */
	int port;          /* 0 absent, -1 invalid */
};

static void view_init(const cJSON *intent, struct spec_view *v)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(intent, "spec");
	const cJSON *tier = cJSON_GetObjectItemCaseSensitive(spec, "tier");
	const cJSON *port = cJSON_GetObjectItemCaseSensitive(spec, "port");
	const char *prio = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "priority"));
	enum intent_priority p = INTENT_PRIO_MEDIUM;

	memset(v, 0, sizeof(*v));
	v->service = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "serviceName"));
	v->type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "serviceType"));
	if (!v->type)
		v->type = "domain";
	v->purpose = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "purpose"));
	v->features = cJSON_GetObjectItemCaseSensitive(spec, "keyFeatures");
	v->deps = cJSON_GetObjectItemCaseSensitive(spec, "dependencies");
	v->tier = 2;
	if (tier)
		v->tier = cJSON_IsNumber(tier) && tier->valueint >= 0 && tier->valueint <= 3 ? tier->valueint : -1;
	v->prio = prio && intent_priority_parse(prio, &p) < 0 ? -1 : (int)p;
	if (port)
		v->port = cJSON_IsNumber(port) && port->valueint >= 1 && port->valueint <= 65535 ? port->valueint : -1;
}

static const cJSON *array_or_null(const cJSON *v)
{
	return cJSON_IsArray(v) ? v : NULL;
}

static void set(struct intent_rule_result *r, enum intent_result res, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set(struct intent_rule_result *r, enum intent_result res, const char *fmt, ...)
{
	va_list ap;

	r->result = res;
	va_start(ap, fmt);
	vsnprintf(r->message, sizeof(r->message), fmt, ap);
	va_end(ap);
}

static void rule_purpose(const struct spec_view *v, struct intent_rule_result *r)
{
	size_t n = intent_text_specificity(v->purpose);

	if (!v->purpose || !*v->purpose)
		set(r, INTENT_FAIL, "spec.purpose is missing: say who uses the service and what it does for them");
	else if (n >= PURPOSE_PASS)
		set(r, INTENT_PASS, "purpose is specific (%zu distinct content words)", n);
	else if (n >= PURPOSE_WARN)
		set(r, INTENT_WARN, "purpose is thin (%zu distinct content words, %d wanted): name the users, the inputs and the result", n, PURPOSE_PASS);
	else
		set(r, INTENT_FAIL, "purpose is vague (%zu distinct content words, %d wanted): name the users, the inputs and the result", n, PURPOSE_PASS);
}

static void rule_features(const struct spec_view *v, struct intent_rule_result *r)
{
	const cJSON *f;
	size_t n = 0, specific = 0, first_vague = 0;
	int have_vague = 0;

	cJSON_ArrayForEach(f, array_or_null(v->features)) {
		if (intent_text_specificity(cJSON_GetStringValue(f)) >= FEATURE_SPECIFIC)
			specific++;
		else if (!have_vague) {
			have_vague = 1;
			first_vague = n;
		}
		n++;
	}
	if (n == 0)
		set(r, INTENT_FAIL, "spec.keyFeatures is empty: list what the service must do, one feature per item");
	else if (specific == 0)
		set(r, INTENT_FAIL, "no feature is specific: spec.keyFeatures[0] needs %d+ distinct content words", FEATURE_SPECIFIC);
	else if (have_vague)
		set(r, INTENT_WARN, "spec.keyFeatures[%zu] is vague: say what it does, for whom, with what result", first_vague);
	else
		set(r, INTENT_PASS, "%zu specific feature%s", n, n == 1 ? "" : "s");
}

/* The first listed peer named name (an Intent's only when intents_only), else the index's. */
static const struct intent_peer *find_peer(const struct intent_world *w, const char *name, int intents_only,
					   struct intent_peer *buf)
{
	for (size_t i = 0; w && name && i < w->npeers; i++) {
		const struct intent_peer *p = &w->peers[i];

		if (p->name && strcmp(p->name, name) == 0 && (!intents_only || p->kind == INTENT_PEER_INTENT))
			return p;
	}
	if (w && name && w->find_intent && w->find_intent(w->ud, name, 0, buf) == 1)
		return buf;
	return NULL;
}

static void rule_deps_exist(const struct spec_view *v, const struct intent_world *w,
			    const struct intent_policy *pol, struct intent_rule_result *r)
{
	const cJSON *d;
	size_t n = 0, missing = 0;
	const char *first = NULL;
	struct intent_peer buf;

	cJSON_ArrayForEach(d, array_or_null(v->deps)) {
		const char *name = cJSON_GetStringValue(d);

		n++;
		if (name && (find_peer(w, name, 0, &buf) || intent_policy_allows(pol, name)))
			continue;
		if (!missing++)
			first = name ? name : "(not a string)";
	}
	if (n == 0)
		set(r, INTENT_SKIP, "no dependencies");
	else if (missing)
		set(r, INTENT_FAIL, "dependency %s (%zu of %zu missing) is no PhoenixService or Intent in the namespace and not allowed by the policy", first, missing, n);
	else
		set(r, INTENT_PASS, "all %zu dependencies exist", n);
}

static void rule_deps_allowed(const struct spec_view *v, const struct intent_policy *pol,
			      struct intent_rule_result *r)
{
	const cJSON *d;
	size_t n = 0;

	cJSON_ArrayForEach(d, array_or_null(v->deps)) {
		n++;
		if (intent_policy_forbids(pol, cJSON_GetStringValue(d))) {
			set(r, INTENT_FAIL, "dependency %s is forbidden by the GovernancePolicy", d->valuestring);
			return;
		}
	}
	if (n == 0)
		set(r, INTENT_SKIP, "no dependencies");
	else
		set(r, INTENT_PASS, "no dependency is forbidden");
}

/* The peers' serviceNames a cycle search has been through (find_peer gives one peer a name). */
struct visit {
	const char *name;              /* borrowed */
	UT_hash_handle hh;
};

/* 1 when a path of Intent dependencies from name leads back to self; -1 when too deep or out
 * of memory. */
static int reaches(const struct intent_world *w, const char *name, const char *self, int depth,
		   struct visit **visited)
{
	struct intent_peer buf;
	const struct intent_peer *p;
	struct visit *v = NULL;
	int rc = 0;

	if (strcmp(name, self) == 0)
		return 1;
	if (depth > CYCLE_DEPTH_MAX)
		return -1;
	p = find_peer(w, name, 1, &buf);
	if (!p)
		return 0;
	HASH_FIND_STR(*visited, p->name, v);
	if (v)
		return 0;
	if (!(v = calloc(1, sizeof(*v))))
		return -2;
	v->name = p->name;
	HASH_ADD_KEYPTR(hh, *visited, v->name, strlen(v->name), v);
	const char *const *deps = p->deps;
	size_t ndeps = p->ndeps;
	for (size_t i = 0; i < ndeps && rc == 0; i++)
		if (deps[i])
			rc = reaches(w, deps[i], self, depth + 1, visited);
	return rc;
}

static void rule_deps_acyclic(const struct spec_view *v, const struct intent_world *w,
			      struct intent_rule_result *r)
{
	struct visit *visited = NULL, *x, *tmp;
	const cJSON *d;
	int rc = 0;
	size_t n = 0;

	if (!cJSON_IsArray(v->deps) || cJSON_GetArraySize(v->deps) == 0 || !v->service) {
		set(r, INTENT_SKIP, v->service ? "no dependencies" : "no spec.serviceName to check against");
		return;
	}
	cJSON_ArrayForEach(d, v->deps) {
		const char *name = cJSON_GetStringValue(d);

		n++;
		rc = name ? reaches(w, name, v->service, 0, &visited) : 0;
		if (rc)
			break;
	}
	HASH_ITER(hh, visited, x, tmp) {
		HASH_DEL(visited, x);
		free(x);
	}
	if (rc > 0)
		set(r, INTENT_FAIL, "dependency %s leads back to %s: a dependency cycle", d->valuestring, v->service);
	else if (rc == -2)
		set(r, INTENT_ERROR, "out of memory checking for cycles");
	else if (rc < 0)
		set(r, INTENT_ERROR, "dependency chain deeper than %d: not checked", CYCLE_DEPTH_MAX);
	else
		set(r, INTENT_PASS, "no cycle through %zu dependencies", n);
}

static void rule_port(const struct spec_view *v, const struct intent_world *w,
		      const struct intent_policy *pol, struct intent_rule_result *r)
{
	if (v->port == 0) {
		set(r, INTENT_SKIP, "no spec.port");
		return;
	}
	if (v->port < 0) {
		set(r, INTENT_FAIL, "spec.port must be a number from 1 to 65535");
		return;
	}
	if (v->port < pol->port_min || v->port > pol->port_max) {
		set(r, INTENT_FAIL, "spec.port %d is outside the allowed range %d-%d", v->port, pol->port_min, pol->port_max);
		return;
	}
	struct intent_peer buf;
	const struct intent_peer *p = NULL;
	for (size_t i = 0; w && i < w->npeers && !p; i++)
		if (w->peers[i].port == v->port && !w->peers[i].owned)
			p = &w->peers[i];
	if (!p && w && w->find_intent && w->find_intent(w->ud, NULL, v->port, &buf) == 1)
		p = &buf;
	if (p) {
		set(r, INTENT_FAIL, "spec.port %d is already used by %s %s", v->port,
		    p->kind == INTENT_PEER_SERVICE ? "PhoenixService" : "the Intent for", p->name ? p->name : "?");
		return;
	}
	set(r, INTENT_PASS, "port %d is free and inside %d-%d", v->port, pol->port_min, pol->port_max);
}

static void rule_name(const struct spec_view *v, const struct intent_world *w, struct intent_rule_result *r)
{
	if (!v->service || !*v->service) {
		set(r, INTENT_FAIL, "spec.serviceName is missing");
		return;
	}
	struct intent_peer buf;
	const struct intent_peer *p = NULL;
	for (size_t i = 0; w && i < w->npeers && !p; i++)
		if (w->peers[i].name && strcmp(w->peers[i].name, v->service) == 0 && !w->peers[i].owned)
			p = &w->peers[i];
	if (!p && w && w->find_intent && w->find_intent(w->ud, v->service, 0, &buf) == 1)
		p = &buf;
	if (p) {
		if (p->kind == INTENT_PEER_SERVICE)
			set(r, INTENT_FAIL, "a PhoenixService named %s exists and is not owned by this Intent: choose another spec.serviceName", v->service);
		else
			set(r, INTENT_FAIL, "another Intent already asks for service %s: choose another spec.serviceName", v->service);
		return;
	}
	set(r, INTENT_PASS, "service name %s is available", v->service);
}

static void rule_tier(const struct spec_view *v, struct intent_rule_result *r)
{
	if (v->tier < 0 || v->prio < 0)
		set(r, INTENT_FAIL, "%s", v->tier < 0 ? "spec.tier must be 0-3" : "spec.priority must be critical, high, medium or low");
	else if (strcmp(v->type, "infrastructure") == 0 && v->tier >= 2)
		set(r, INTENT_FAIL, "infrastructure services are tier 0 or 1, not %d", v->tier);
	else if (strcmp(v->type, "experimental") == 0 && v->tier <= 1)
		set(r, INTENT_FAIL, "experimental services are tier 2 or 3, not %d", v->tier);
	else if (strcmp(v->type, "experimental") == 0 && v->prio == INTENT_PRIO_CRITICAL)
		set(r, INTENT_FAIL, "an experimental service cannot have priority critical");
	else if (v->tier == 0 && v->prio >= INTENT_PRIO_MEDIUM)
		set(r, INTENT_WARN, "a tier-0 service with priority %s: tier 0 usually means critical or high", intent_priority_name(v->prio));
	else if (v->tier == 3 && v->prio == INTENT_PRIO_CRITICAL)
		set(r, INTENT_WARN, "a tier-3 service with priority critical: raise the tier or lower the priority");
	else
		set(r, INTENT_PASS, "tier %d fits a %s service with priority %s", v->tier, v->type, intent_priority_name(v->prio));
}

double intent_governance_score(const struct intent_rule_result *r, size_t n)
{
	double got = 0, total = 0;

	for (size_t i = 0; r && i < n; i++) {
		if (r[i].result == INTENT_ERROR || r[i].result == INTENT_SKIP)
			continue;
		total += r[i].weight;
		if (r[i].result == INTENT_PASS)
			got += r[i].weight;
		else if (r[i].result == INTENT_WARN)
			got += r[i].weight / 2;
	}
	if (total <= 0)
		return 1;
	return round(got / total * 100) / 100;
}

enum intent_decision intent_governance_decide(const struct intent_policy *policy, int tier,
					      double score, int critical_failed)
{
	struct intent_policy dflt;
	int human_tier;

	if (!policy) {
		intent_policy_defaults(&dflt);
		policy = &dflt;
	}
	human_tier = tier < 0 || tier > 3 || (policy->human_tiers & (1u << tier));
	if (score < policy->reject_below)
		return INTENT_REJECTED;
	switch (policy->mode) {
	case INTENT_MODE_AUTONOMOUS:
		return score >= policy->auto_approve_threshold && !human_tier && !critical_failed
			       ? INTENT_AUTO_APPROVED : INTENT_REQUIRES_APPROVAL;
	case INTENT_MODE_AGGRESSIVE:
		return critical_failed ? INTENT_REQUIRES_APPROVAL : INTENT_AUTO_APPROVED;
	case INTENT_MODE_SUPERVISED:
	default:
		return INTENT_REQUIRES_APPROVAL;
	}
}

static const char *risk_of(double score, int critical_failed)
{
	if (critical_failed || score < 0.6)
		return "high";
	return score < 0.8 ? "medium" : "low";
}

int intent_governance_evaluate(const cJSON *intent, const struct intent_world *world,
			       const struct intent_policy *policy, struct intent_report *out)
{
	struct intent_policy dflt;
	struct spec_view v;

	if (!out)
		return KUBE_EINVAL;
	if (!policy) {
		intent_policy_defaults(&dflt);
		policy = &dflt;
	}
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < INTENT_RULE_COUNT; i++) {
		out->results[i].rule = (enum intent_rule)i;
		out->results[i].weight = RULES[i].weight;
		out->results[i].severity = RULES[i].severity;
	}
	view_init(intent, &v);
	rule_purpose(&v, &out->results[INTENT_RULE_PURPOSE]);
	rule_features(&v, &out->results[INTENT_RULE_FEATURES]);
	rule_deps_exist(&v, world, policy, &out->results[INTENT_RULE_DEPS_EXIST]);
	rule_deps_allowed(&v, policy, &out->results[INTENT_RULE_DEPS_ALLOWED]);
	rule_deps_acyclic(&v, world, &out->results[INTENT_RULE_DEPS_ACYCLIC]);
	rule_port(&v, world, policy, &out->results[INTENT_RULE_PORT]);
	rule_name(&v, world, &out->results[INTENT_RULE_NAME]);
	rule_tier(&v, &out->results[INTENT_RULE_TIER]);
	for (int i = 0; i < INTENT_RULE_COUNT; i++)
		if (out->results[i].result == INTENT_FAIL && out->results[i].severity == INTENT_SEV_CRITICAL)
			out->critical_failed = 1;
	out->tier = v.tier;
	out->rule_score = intent_governance_score(out->results, INTENT_RULE_COUNT);
	out->score = out->rule_score;
	out->decision = intent_governance_decide(policy, v.tier, out->score, out->critical_failed);
	out->risk = risk_of(out->score, out->critical_failed);
	return 0;
}

cJSON *intent_report_results_json(const struct intent_report *r)
{
	cJSON *arr = cJSON_CreateArray();

	int n = r && r->has_evaluator ? INTENT_RULE_COUNT + 1 : INTENT_RULE_COUNT;

	for (int i = 0; arr && r && i < n; i++) {
		const struct intent_rule_result *x = i < INTENT_RULE_COUNT ? &r->results[i] : &r->evaluator;
		cJSON *o = cJSON_CreateObject();

		if (!o)
			goto fail;
		cJSON_AddItemToArray(arr, o);
		if (!cJSON_AddStringToObject(o, "rule", i < INTENT_RULE_COUNT ? intent_rule_name(x->rule) : "external-evaluator") ||
		    !cJSON_AddStringToObject(o, "result", intent_result_name(x->result)) ||
		    !cJSON_AddStringToObject(o, "severity", intent_severity_name(x->severity)) ||
		    !cJSON_AddStringToObject(o, "message", x->message))
			goto fail;
	}
	return arr;
fail:
	cJSON_Delete(arr);
	return NULL;
}

/* {"score": 0..1, "reasons": [strings]} -> 0 with *score and the reasons joined into msg. */
static int parse_answer(const char *answer, size_t len, double *score, char *msg, size_t msglen)
{
	cJSON *o = answer ? cJSON_ParseWithLength(answer, len) : NULL;
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "score");
	const cJSON *reasons = cJSON_GetObjectItemCaseSensitive(o, "reasons");
	const cJSON *it;
	size_t used;
	int rc = KUBE_EPARSE;

	if (!cJSON_IsNumber(s) || s->valuedouble < 0 || s->valuedouble > 1 || (reasons && !cJSON_IsArray(reasons)))
		goto out;
	*score = s->valuedouble;
	used = (size_t)snprintf(msg, msglen, "score %.2f", *score);
	cJSON_ArrayForEach(it, reasons) {
		if (!cJSON_IsString(it))
			goto out;
		if (used < msglen)
			used += (size_t)snprintf(msg + used, msglen - used, "; %s", it->valuestring);
	}
	rc = 0;
out:
	cJSON_Delete(o);
	return rc;
}

int intent_governance_apply_evaluator(struct intent_report *r, const struct intent_policy *policy,
				      int transport_rc, const char *answer, size_t len)
{
	struct intent_policy dflt;
	struct intent_rule_result *e;
	double es = 0;

	if (!r)
		return KUBE_EINVAL;
	if (!policy) {
		intent_policy_defaults(&dflt);
		policy = &dflt;
	}
	e = &r->evaluator;
	memset(e, 0, sizeof(*e));
	e->rule = INTENT_RULE_COUNT;
	e->severity = INTENT_SEV_INFO;
	e->weight = policy->evaluator_weight;
	r->has_evaluator = 1;
	r->score = r->rule_score;
	if (transport_rc < 0) {
		set(e, INTENT_ERROR, "evaluator failed (%s): the rule score stands", kube_strerror(transport_rc));
	} else if (parse_answer(answer, len, &es, e->message, sizeof(e->message)) < 0) {
		set(e, INTENT_ERROR, "evaluator answered no {\"score\": 0..1, \"reasons\": [...]}: the rule score stands");
	} else {
		e->result = INTENT_PASS;
		r->score = round(((1 - e->weight) * r->rule_score + e->weight * es) * 100) / 100;
	}
	r->decision = intent_governance_decide(policy, r->tier, r->score, r->critical_failed);
	r->risk = risk_of(r->score, r->critical_failed);
	return 0;
}

static double round2(double x)
{
	return round(x * 100) / 100;
}

cJSON *intent_report_governance_json(const struct intent_report *r, const struct intent_policy *p,
				     const char *policy)
{
	cJSON *g = r ? cJSON_CreateObject() : NULL;
	cJSON *results = intent_report_results_json(r);

	if (!g || !results || !cJSON_AddNumberToObject(g, "score", round2(r->score)) ||
	    !cJSON_AddStringToObject(g, "decision", intent_decision_name(r->decision)) ||
	    !cJSON_AddStringToObject(g, "riskLevel", r->risk ? r->risk : "high") ||
	    !cJSON_AddStringToObject(g, "mode", intent_mode_name(p ? p->mode : INTENT_MODE_SUPERVISED)) ||
	    !cJSON_AddStringToObject(g, "policy", policy ? policy : "built-in")) {
		cJSON_Delete(g);
		cJSON_Delete(results);
		return NULL;
	}
	cJSON_AddItemToObject(g, "results", results);
	return g;
}
