/* intent_governance: every rule (table-driven: input -> result and message), the score, the
 * decision table (mode x tier x score, with the two reference cases of the original system) and
 * bad input that must never crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>

#include "json_testutil.h"

#include "intent/intent_governance.h"
#include "intent/intent_queue.h"
#include "intent/intent_text.h"
#include "kube_error.h"

#define PURPOSE "'purpose':'Computes daily revenue per product line from the billing ledger for the finance team and exposes it to dashboards'"
#define FEATURES "'keyFeatures':['Aggregate ledger entries into daily revenue per product line','Serve revenue totals over REST filtered by date range','Alert finance when daily revenue drops twenty percent']"
#define GOOD "{'spec':{'serviceName':'revenue-analytics','serviceType':'domain','tier':2,'priority':'high'," PURPOSE "," FEATURES ",'dependencies':['billing-ledger'],'port':8080}}"

static const char *const LEDGER_DEPS[] = {"revenue-analytics"};
static const char *const REPORTS_DEPS[] = {"ledger-loop"};
static const char *const DASHBOARD_DEPS[] = {"billing-ledger", "ghost"};

/* The namespace the rules see: a ledger service, a PhoenixService the Intent owns, an Intent
 * for "reports" on port 9000, two Intents that depend back on revenue-analytics and one that
 * does not. */
static const struct intent_peer PEERS[] = {
	{INTENT_PEER_SERVICE, "billing-ledger", 8000, 0, NULL, 0},
	{INTENT_PEER_SERVICE, "mine", 8081, 1, NULL, 0},
	{INTENT_PEER_SERVICE, "taken", 0, 0, NULL, 0},
	{INTENT_PEER_INTENT, "reports", 9000, 0, REPORTS_DEPS, 1},
	{INTENT_PEER_INTENT, "ledger-loop", 0, 0, LEDGER_DEPS, 1},
	{INTENT_PEER_INTENT, "dashboard", 0, 0, DASHBOARD_DEPS, 2},
};
static const struct intent_world WORLD = {PEERS, sizeof(PEERS) / sizeof(PEERS[0]), NULL, NULL};

struct rule_case {
	const char *name;
	const char *intent;
	const char *policy; /* NULL: built-in defaults */
	enum intent_rule rule;
	enum intent_result want;
	const char *msg; /* substring of the message */
};

#define SPEC(x) "{'spec':{'serviceName':'revenue-analytics'," PURPOSE "," FEATURES "," x "}}"

static const struct rule_case RULE_CASES[] = {
	{"purpose specific", GOOD, NULL, INTENT_RULE_PURPOSE, INTENT_PASS, "specific"},
	{"purpose missing", "{'spec':{'serviceName':'a'}}", NULL, INTENT_RULE_PURPOSE, INTENT_FAIL, "spec.purpose is missing"},
	{"purpose vague", "{'spec':{'purpose':'a service that does stuff and things'}}", NULL, INTENT_RULE_PURPOSE, INTENT_FAIL, "vague"},
	{"purpose padded", "{'spec':{'purpose':'stuff stuff stuff revenue revenue revenue revenue revenue things things'}}", NULL, INTENT_RULE_PURPOSE, INTENT_FAIL, "vague"},
	{"purpose thin", "{'spec':{'purpose':'Computes revenue for finance dashboards'}}", NULL, INTENT_RULE_PURPOSE, INTENT_WARN, "thin"},
	{"features specific", GOOD, NULL, INTENT_RULE_FEATURES, INTENT_PASS, "3 specific features"},
	{"features missing", "{'spec':{}}", NULL, INTENT_RULE_FEATURES, INTENT_FAIL, "spec.keyFeatures is empty"},
	{"features not a list", "{'spec':{'keyFeatures':'fast'}}", NULL, INTENT_RULE_FEATURES, INTENT_FAIL, "empty"},
	{"features all vague", "{'spec':{'keyFeatures':['fast','good stuff']}}", NULL, INTENT_RULE_FEATURES, INTENT_FAIL, "no feature is specific"},
	{"features one vague", "{'spec':{'keyFeatures':['Serve revenue totals over REST','fast']}}", NULL, INTENT_RULE_FEATURES, INTENT_WARN, "spec.keyFeatures[1] is vague"},
	{"deps exist", GOOD, NULL, INTENT_RULE_DEPS_EXIST, INTENT_PASS, "all 1 dependencies exist"},
	{"deps none", SPEC("'dependencies':[]"), NULL, INTENT_RULE_DEPS_EXIST, INTENT_SKIP, "no dependencies"},
	{"deps missing", SPEC("'dependencies':['billing-ledger','ghost']"), NULL, INTENT_RULE_DEPS_EXIST, INTENT_FAIL, "dependency ghost (1 of 2 missing)"},
	{"deps allowed by policy", SPEC("'dependencies':['stripe']"), "{'spec':{'dependencies':{'allowed':['stripe']}}}", INTENT_RULE_DEPS_EXIST, INTENT_PASS, "exist"},
	{"deps an Intent counts", SPEC("'dependencies':['reports']"), NULL, INTENT_RULE_DEPS_EXIST, INTENT_PASS, "exist"},
	{"deps none forbidden", GOOD, "{'spec':{'dependencies':{'forbidden':['legacy-db']}}}", INTENT_RULE_DEPS_ALLOWED, INTENT_PASS, "no dependency is forbidden"},
	{"deps forbidden", SPEC("'dependencies':['billing-ledger','legacy-db']"), "{'spec':{'dependencies':{'forbidden':['legacy-db']}}}", INTENT_RULE_DEPS_ALLOWED, INTENT_FAIL, "legacy-db is forbidden"},
	{"no cycle", SPEC("'dependencies':['billing-ledger','dashboard']"), NULL, INTENT_RULE_DEPS_ACYCLIC, INTENT_PASS, "no cycle"},
	{"direct cycle", SPEC("'dependencies':['ledger-loop']"), NULL, INTENT_RULE_DEPS_ACYCLIC, INTENT_FAIL, "ledger-loop leads back to revenue-analytics"},
	{"self dependency", SPEC("'dependencies':['revenue-analytics']"), NULL, INTENT_RULE_DEPS_ACYCLIC, INTENT_FAIL, "cycle"},
	{"cycle two hops", "{'spec':{'serviceName':'ledger-loop','dependencies':['reports']}}", NULL, INTENT_RULE_DEPS_ACYCLIC, INTENT_FAIL, "reports leads back to ledger-loop"},
	{"port free", GOOD, NULL, INTENT_RULE_PORT, INTENT_PASS, "port 8080 is free"},
	{"port absent", SPEC("'tier':2"), NULL, INTENT_RULE_PORT, INTENT_SKIP, "no spec.port"},
	{"port below range", SPEC("'port':80"), NULL, INTENT_RULE_PORT, INTENT_FAIL, "outside the allowed range 1024-65535"},
	{"port policy range", SPEC("'port':8080"), "{'spec':{'ports':{'min':9000,'max':9999}}}", INTENT_RULE_PORT, INTENT_FAIL, "9000-9999"},
	{"port taken by service", SPEC("'port':8000"), NULL, INTENT_RULE_PORT, INTENT_FAIL, "used by PhoenixService billing-ledger"},
	{"port taken by intent", SPEC("'port':9000"), NULL, INTENT_RULE_PORT, INTENT_FAIL, "used by the Intent for reports"},
	{"port of own service", SPEC("'port':8081"), NULL, INTENT_RULE_PORT, INTENT_PASS, "free"},
	{"port invalid", SPEC("'port':0"), NULL, INTENT_RULE_PORT, INTENT_FAIL, "spec.port must be"},
	{"name free", GOOD, NULL, INTENT_RULE_NAME, INTENT_PASS, "available"},
	{"name missing", "{'spec':{}}", NULL, INTENT_RULE_NAME, INTENT_FAIL, "spec.serviceName is missing"},
	{"name of foreign service", "{'spec':{'serviceName':'taken'}}", NULL, INTENT_RULE_NAME, INTENT_FAIL, "PhoenixService named taken exists and is not owned"},
	{"name of own service", "{'spec':{'serviceName':'mine'}}", NULL, INTENT_RULE_NAME, INTENT_PASS, "available"},
	{"name asked by another Intent", "{'spec':{'serviceName':'reports'}}", NULL, INTENT_RULE_NAME, INTENT_FAIL, "another Intent already asks"},
	{"tier fits", GOOD, NULL, INTENT_RULE_TIER, INTENT_PASS, "tier 2 fits a domain service"},
	{"tier defaults", "{'spec':{}}", NULL, INTENT_RULE_TIER, INTENT_PASS, "tier 2 fits a domain service with priority medium"},
	{"infrastructure tier 2", "{'spec':{'serviceType':'infrastructure','tier':2,'priority':'high'}}", NULL, INTENT_RULE_TIER, INTENT_FAIL, "infrastructure services are tier 0 or 1"},
	{"experimental tier 0", "{'spec':{'serviceType':'experimental','tier':0,'priority':'high'}}", NULL, INTENT_RULE_TIER, INTENT_FAIL, "experimental services are tier 2 or 3"},
	{"experimental critical", "{'spec':{'serviceType':'experimental','tier':3,'priority':'critical'}}", NULL, INTENT_RULE_TIER, INTENT_FAIL, "cannot have priority critical"},
	{"tier 0 low priority", "{'spec':{'serviceType':'infrastructure','tier':0,'priority':'low'}}", NULL, INTENT_RULE_TIER, INTENT_WARN, "tier-0 service with priority low"},
	{"tier 3 critical", "{'spec':{'tier':3,'priority':'critical'}}", NULL, INTENT_RULE_TIER, INTENT_WARN, "tier-3"},
	{"tier 7", "{'spec':{'tier':7}}", NULL, INTENT_RULE_TIER, INTENT_FAIL, "spec.tier must be 0-3"},
	{"priority unknown", "{'spec':{'priority':'urgent'}}", NULL, INTENT_RULE_TIER, INTENT_FAIL, "spec.priority must be"},
};

/* The same namespace with its Intents in the queue index (as the controller has them): the
 * services listed, the Intents looked up by serviceName and port (intent_queue_index_find). */
#define NS_SERVICES 3
struct indexed {
	struct intent_queue_index *idx;
	struct intent_world world;
};

static int find_in_index(void *ud, const char *name, int port, struct intent_peer *out)
{
	const struct intent_queue_entry *e =
		intent_queue_index_find(ud, "ns", name, port, "self-intent");

	if (!e)
		return 0;
	*out = (struct intent_peer){INTENT_PEER_INTENT, e->svc, e->port, 0, e->deps, e->ndeps};
	return 1;
}

static void indexed_init(struct indexed *x)
{
	char name[32];

	x->idx = intent_queue_index_new();
	assert_non_null(x->idx);
	for (size_t i = NS_SERVICES; i < sizeof(PEERS) / sizeof(PEERS[0]); i++) {
		snprintf(name, sizeof(name), "intent-%zu", i);
		struct intent_queue_entry e = {.ns = "ns", .name = name, .rv = "1", .svc = PEERS[i].name,
					       .port = PEERS[i].port, .deps = PEERS[i].deps,
					       .ndeps = PEERS[i].ndeps};
		assert_int_equal(intent_queue_index_put(x->idx, &e), 1);
	}
	/* Neither the evaluated Intent itself nor one being deleted is a peer. */
	assert_int_equal(intent_queue_index_put(x->idx, &(struct intent_queue_entry){
		.ns = "ns", .name = "self-intent", .svc = "revenue-analytics", .port = 8080}), 1);
	assert_int_equal(intent_queue_index_put(x->idx, &(struct intent_queue_entry){
		.ns = "ns", .name = "going", .svc = "revenue-analytics", .port = 8080, .deleting = 1}), 1);
	x->world = (struct intent_world){PEERS, NS_SERVICES, find_in_index, x->idx};
}

static void run_rule_cases(const struct intent_world *world)
{
	for (size_t i = 0; i < sizeof(RULE_CASES) / sizeof(RULE_CASES[0]); i++) {
		const struct rule_case *c = &RULE_CASES[i];
		cJSON *intent = J(c->intent), *pobj = J(c->policy);
		struct intent_policy pol;
		struct intent_report rep;
		const struct intent_rule_result *r;
		char err[128];

		assert_int_equal(intent_policy_parse(pobj, &pol, err, sizeof(err)), 0);
		assert_int_equal(intent_governance_evaluate(intent, world, &pol, &rep), 0);
		r = &rep.results[c->rule];
		if (r->result != c->want || !strstr(r->message, c->msg))
			fail_msg("%s: rule %s gave %s \"%s\", want %s containing \"%s\"", c->name,
				 intent_rule_name(c->rule), intent_result_name(r->result), r->message,
				 intent_result_name(c->want), c->msg);
		intent_policy_release(&pol);
		cJSON_Delete(intent);
		cJSON_Delete(pobj);
	}
}

static void rules__table(void **state)
{
	(void)state;
	run_rule_cases(&WORLD);
}

/* Every rule gives the same result and message with the Intents from the index. */
static void rules__table_with_the_index(void **state)
{
	struct indexed x;
	struct intent_report a, b;
	cJSON *o = J(GOOD);

	(void)state;
	indexed_init(&x);
	run_rule_cases(&x.world);
	assert_int_equal(intent_governance_evaluate(o, &WORLD, NULL, &a), 0);
	assert_int_equal(intent_governance_evaluate(o, &x.world, NULL, &b), 0);
	for (int i = 0; i < INTENT_RULE_COUNT; i++) {
		assert_int_equal(a.results[i].result, b.results[i].result);
		assert_string_equal(a.results[i].message, b.results[i].message);
	}
	assert_true(a.score == b.score);
	/* Once the one Intent on port 9000 is gone, the port is free. */
	cJSON *p9000 = J("{'spec':{'serviceName':'revenue-analytics','port':9000}}");
	assert_int_equal(intent_governance_evaluate(p9000, &x.world, NULL, &b), 0);
	assert_int_equal(b.results[INTENT_RULE_PORT].result, INTENT_FAIL);
	intent_queue_index_del(x.idx, "ns", "intent-3");
	assert_int_equal(intent_governance_evaluate(p9000, &x.world, NULL, &b), 0);
	assert_int_equal(b.results[INTENT_RULE_PORT].result, INTENT_PASS);
	cJSON_Delete(p9000);
	cJSON_Delete(o);
	intent_queue_index_free(x.idx);
}

static void rules__good_intent_scores_one(void **state)
{
	cJSON *intent = J(GOOD);
	struct intent_report rep;

	(void)state;
	assert_int_equal(intent_governance_evaluate(intent, &WORLD, NULL, &rep), 0);
	for (int i = 0; i < INTENT_RULE_COUNT; i++)
		assert_int_equal(rep.results[i].result, INTENT_PASS);
	assert_true(rep.score == 1.0);
	assert_string_equal(rep.risk, "low");
	/* Built-in policy is supervised: even a perfect Intent waits for a human. */
	assert_int_equal(rep.decision, INTENT_REQUIRES_APPROVAL);
	cJSON_Delete(intent);
}

static void rules__weights_sum_to_one(void **state)
{
	double sum = 0;

	(void)state;
	for (int i = 0; i < INTENT_RULE_COUNT; i++) {
		assert_true(intent_rule_weight((enum intent_rule)i) > 0);
		sum += intent_rule_weight((enum intent_rule)i);
	}
	assert_true(sum > 0.999 && sum < 1.001);
}

struct score_case {
	enum intent_result r[INTENT_RULE_COUNT];
	double want;
};

static void score__table(void **state)
{
	/* weights: purpose .20, features .15, deps-exist .15, deps-allowed .10, acyclic .10,
	 * port .10, name .10, tier .10 */
	static const struct score_case cases[] = {
		{{INTENT_PASS, INTENT_PASS, INTENT_PASS, INTENT_PASS, INTENT_PASS, INTENT_PASS, INTENT_PASS, INTENT_PASS}, 1.0},
		{{INTENT_FAIL, INTENT_FAIL, INTENT_FAIL, INTENT_FAIL, INTENT_FAIL, INTENT_FAIL, INTENT_FAIL, INTENT_FAIL}, 0.0},
		{{INTENT_FAIL, INTENT_PASS, INTENT_PASS, INTENT_PASS, INTENT_PASS, INTENT_PASS, INTENT_PASS, INTENT_PASS}, 0.80},
		{{INTENT_WARN, INTENT_PASS, INTENT_PASS, INTENT_PASS, INTENT_PASS, INTENT_PASS, INTENT_PASS, INTENT_PASS}, 0.90},
		{{INTENT_PASS, INTENT_WARN, INTENT_PASS, INTENT_PASS, INTENT_PASS, INTENT_PASS, INTENT_PASS, INTENT_WARN}, 0.88},
		/* skip and error leave the rule out: .20+.15 of .20+.15+.10+.10 */
		{{INTENT_PASS, INTENT_PASS, INTENT_SKIP, INTENT_SKIP, INTENT_SKIP, INTENT_SKIP, INTENT_FAIL, INTENT_ERROR}, 0.78},
		{{INTENT_SKIP, INTENT_SKIP, INTENT_SKIP, INTENT_SKIP, INTENT_SKIP, INTENT_SKIP, INTENT_SKIP, INTENT_ERROR}, 1.0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct intent_rule_result r[INTENT_RULE_COUNT];
		double got;

		for (int j = 0; j < INTENT_RULE_COUNT; j++) {
			r[j].rule = (enum intent_rule)j;
			r[j].weight = intent_rule_weight((enum intent_rule)j);
			r[j].result = cases[i].r[j];
		}
		got = intent_governance_score(r, INTENT_RULE_COUNT);
		if (got < cases[i].want - 1e-9 || got > cases[i].want + 1e-9)
			fail_msg("score case %zu: got %.4f, want %.2f", i, got, cases[i].want);
	}
	assert_true(intent_governance_score(NULL, 0) == 1.0);
}

struct decide_case {
	const char *policy;
	int tier;
	double score;
	int critical;
	enum intent_decision want;
};

static void decide__table(void **state)
{
	static const char *const AUTO = "{'spec':{'mode':'autonomous'}}";
	static const char *const AGGR = "{'spec':{'mode':'aggressive'}}";
	static const char *const SUP = "{'spec':{'mode':'supervised'}}";
	static const struct decide_case cases[] = {
		/* the reference cases of the original system */
		{AUTO, 0, 0.95, 0, INTENT_REQUIRES_APPROVAL},
		{AUTO, 2, 0.92, 0, INTENT_AUTO_APPROVED},
		/* supervised: always a human, unless rejected */
		{SUP, 2, 1.0, 0, INTENT_REQUIRES_APPROVAL},
		{SUP, 3, 0.5, 0, INTENT_REQUIRES_APPROVAL},
		{SUP, 2, 0.39, 0, INTENT_REJECTED},
		{NULL, 2, 0.95, 0, INTENT_REQUIRES_APPROVAL}, /* built-in = supervised */
		/* autonomous: threshold (inclusive), tier, critical failure */
		{AUTO, 1, 0.80, 0, INTENT_AUTO_APPROVED},
		{AUTO, 1, 0.79, 0, INTENT_REQUIRES_APPROVAL},
		{AUTO, 3, 1.0, 1, INTENT_REQUIRES_APPROVAL},
		{AUTO, 0, 1.0, 0, INTENT_REQUIRES_APPROVAL},
		{AUTO, 2, 0.40, 0, INTENT_REQUIRES_APPROVAL},
		{AUTO, 2, 0.39, 0, INTENT_REJECTED},
		{"{'spec':{'mode':'autonomous','requireApprovalTiers':[]}}", 0, 0.95, 0, INTENT_AUTO_APPROVED},
		{"{'spec':{'mode':'autonomous','requireApprovalTiers':[0,1,2]}}", 2, 0.92, 0, INTENT_REQUIRES_APPROVAL},
		{"{'spec':{'mode':'autonomous','autoApproveThreshold':0.95}}", 2, 0.92, 0, INTENT_REQUIRES_APPROVAL},
		/* aggressive: approve unless rejected or a critical rule failed */
		{AGGR, 0, 0.41, 0, INTENT_AUTO_APPROVED},
		{AGGR, 3, 0.40, 0, INTENT_AUTO_APPROVED},
		{AGGR, 3, 0.39, 0, INTENT_REJECTED},
		{AGGR, 2, 0.9, 1, INTENT_REQUIRES_APPROVAL},
		{"{'spec':{'mode':'aggressive','rejectBelow':0.6}}", 2, 0.59, 0, INTENT_REJECTED},
		/* rejectBelow wins in every mode, even with a perfect tier */
		{"{'spec':{'mode':'autonomous','rejectBelow':0.8,'autoApproveThreshold':0.8}}", 2, 0.79, 0, INTENT_REJECTED},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct decide_case *c = &cases[i];
		cJSON *pobj = J(c->policy);
		struct intent_policy pol;
		enum intent_decision got;

		assert_int_equal(intent_policy_parse(pobj, &pol, NULL, 0), 0);
		got = intent_governance_decide(&pol, c->tier, c->score, c->critical);
		if (got != c->want)
			fail_msg("decide case %zu (%s, tier %d, score %.2f, critical %d): got %s, want %s", i,
				 c->policy ? c->policy : "built-in", c->tier, c->score, c->critical,
				 intent_decision_name(got), intent_decision_name(c->want));
		intent_policy_release(&pol);
		cJSON_Delete(pobj);
	}
	assert_int_equal(intent_governance_decide(NULL, 2, 0.1, 0), INTENT_REJECTED);
}

/* The reference cases end to end: an Intent whose rules give 0.95 / 0.92 through evaluate(). */
static void evaluate__reference_cases(void **state)
{
	/* governance: tier 0 infrastructure with priority low, a tier warning (half of .10 lost):
	 * 0.95. revenue-analytics: no port (port skipped, .90 evaluated), one vague feature (half of
	 * .15 lost): .825 / .90 = 0.92. */
	cJSON *gov = J("{'spec':{'serviceName':'governance','serviceType':'infrastructure','tier':0,'priority':'low'," PURPOSE "," FEATURES ",'dependencies':['billing-ledger'],'port':8100}}");
	cJSON *rev = J("{'spec':{'serviceName':'revenue-analytics','tier':2,'priority':'high'," PURPOSE ",'keyFeatures':['Aggregate ledger entries into daily revenue per product line','fast'],'dependencies':['billing-ledger']}}");
	cJSON *auto_pol = J("{'spec':{'mode':'autonomous'}}");
	struct intent_policy pol;
	struct intent_report rep;

	(void)state;
	assert_int_equal(intent_policy_parse(auto_pol, &pol, NULL, 0), 0);
	assert_int_equal(intent_governance_evaluate(gov, &WORLD, &pol, &rep), 0);
	assert_true(rep.score == 0.95);
	assert_int_equal(rep.decision, INTENT_REQUIRES_APPROVAL);
	assert_string_equal(rep.risk, "low");
	assert_int_equal(intent_governance_evaluate(rev, &WORLD, &pol, &rep), 0);
	assert_int_equal(rep.results[INTENT_RULE_FEATURES].result, INTENT_WARN);
	assert_int_equal(rep.results[INTENT_RULE_PORT].result, INTENT_SKIP);
	assert_true(rep.score == 0.92);
	assert_int_equal(rep.decision, INTENT_AUTO_APPROVED);
	intent_policy_release(&pol);
	cJSON_Delete(gov);
	cJSON_Delete(rev);
	cJSON_Delete(auto_pol);
}

static void evaluate__bad_input_never_crashes(void **state)
{
	static const char *const BAD[] = {
		"{}", "[]", "{'spec':null}", "{'spec':[]}", "{'spec':{'serviceName':7,'purpose':[],'keyFeatures':[1,null,{}],'dependencies':[null,3,'x'],'port':'80','tier':'zero','priority':5}}",
		"{'spec':{'serviceName':'x','dependencies':[1,2]}}",
	};
	struct intent_report rep;

	(void)state;
	assert_int_equal(intent_governance_evaluate(NULL, NULL, NULL, NULL), KUBE_EINVAL);
	assert_int_equal(intent_governance_evaluate(NULL, NULL, NULL, &rep), 0);
	assert_int_equal(rep.results[INTENT_RULE_NAME].result, INTENT_FAIL);
	assert_int_equal(rep.decision, INTENT_REJECTED);
	for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
		cJSON *o = J(BAD[i]);

		assert_int_equal(intent_governance_evaluate(o, &WORLD, NULL, &rep), 0);
		assert_true(rep.score >= 0 && rep.score <= 1);
		assert_int_not_equal(rep.decision, INTENT_AUTO_APPROVED);
		cJSON_Delete(o);
	}
}

/* A long chain of Intents: the cycle check neither recurses without bound nor misses the end. */
static void evaluate__deep_chain(void **state)
{
	enum { N = 600 };
	static struct intent_peer peers[N];
	static char names[N][16];
	static const char *deps[N][1];
	struct intent_world w = {peers, N, NULL, NULL};
	cJSON *o = J("{'spec':{'serviceName':'head','dependencies':['n0']}}");
	struct intent_report rep;

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "n%d", i);
		peers[i] = (struct intent_peer){INTENT_PEER_INTENT, names[i], 0, 0, deps[i], 1};
	}
	for (int i = 0; i < N; i++)
		deps[i][0] = i + 1 < N ? names[i + 1] : "head";
	assert_int_equal(intent_governance_evaluate(o, &w, NULL, &rep), 0);
	assert_int_equal(rep.results[INTENT_RULE_DEPS_ACYCLIC].result, INTENT_ERROR);
	deps[N - 1][0] = "end";
	peers[100].ndeps = 0;
	assert_int_equal(intent_governance_evaluate(o, &w, NULL, &rep), 0);
	assert_int_equal(rep.results[INTENT_RULE_DEPS_ACYCLIC].result, INTENT_PASS);
	cJSON_Delete(o);
}

/* The same chain in the index: the cycle search follows dependencies by serviceName lookups. */
static void evaluate__deep_chain_in_the_index(void **state)
{
	enum { N = 600 };
	static char names[N][16], keys[N][16];
	static const char *deps[N][1];
	struct intent_queue_index *idx = intent_queue_index_new();
	cJSON *o = J("{'spec':{'serviceName':'head','dependencies':['n0']}}");
	struct intent_report rep;

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "n%d", i);
		snprintf(keys[i], sizeof(keys[i]), "i%d", i);
	}
	for (int i = 0; i < N; i++) {
		deps[i][0] = i + 1 < N ? names[i + 1] : "head";
		assert_int_equal(intent_queue_index_put(idx, &(struct intent_queue_entry){
			.ns = "ns", .name = keys[i], .svc = names[i], .deps = deps[i], .ndeps = 1}), 1);
	}
	struct intent_world w = {NULL, 0, find_in_index, idx};
	assert_int_equal(intent_governance_evaluate(o, &w, NULL, &rep), 0);
	assert_int_equal(rep.results[INTENT_RULE_DEPS_ACYCLIC].result, INTENT_ERROR);
	/* A short cycle is found; cut it and the rule passes. */
	assert_int_equal(intent_queue_index_put(idx, &(struct intent_queue_entry){
		.ns = "ns", .name = "i5", .svc = "n5", .deps = (const char *const[]){"head"}, .ndeps = 1}), 1);
	assert_int_equal(intent_governance_evaluate(o, &w, NULL, &rep), 0);
	assert_int_equal(rep.results[INTENT_RULE_DEPS_ACYCLIC].result, INTENT_FAIL);
	assert_non_null(strstr(rep.results[INTENT_RULE_DEPS_ACYCLIC].message, "leads back to head"));
	assert_int_equal(intent_queue_index_put(idx, &(struct intent_queue_entry){
		.ns = "ns", .name = "i5", .svc = "n5"}), 1);
	assert_int_equal(intent_governance_evaluate(o, &w, NULL, &rep), 0);
	assert_int_equal(rep.results[INTENT_RULE_DEPS_ACYCLIC].result, INTENT_PASS);
	cJSON_Delete(o);
	intent_queue_index_free(idx);
}

static void report__json_shape(void **state)
{
	cJSON *o = J(GOOD), *arr;
	struct intent_report rep;

	(void)state;
	assert_int_equal(intent_governance_evaluate(o, &WORLD, NULL, &rep), 0);
	arr = intent_report_results_json(&rep);
	assert_non_null(arr);
	assert_int_equal(cJSON_GetArraySize(arr), INTENT_RULE_COUNT);
	assert_json_eq(cJSON_GetArrayItem(arr, 6),
		       "{'rule':'name-available','result':'pass','severity':'critical','message':'service name revenue-analytics is available'}",
		       "name result");
	cJSON_Delete(arr);
	cJSON_Delete(o);
}

struct eval_case {
	int transport_rc;
	const char *answer;
	enum intent_result want;
	double want_score;
	enum intent_decision want_decision;
	const char *msg;
};

/* The external evaluator: a good answer is combined by the policy's weight (0.5 here) and the
 * decision taken again; a timeout, an error or garbage is an `error` result and the rule score
 * (0.92, auto-approved in autonomous mode) stands. */
static void evaluator__combine_or_record_error(void **state)
{
	static const struct eval_case cases[] = {
		{0, "{\"score\":0.5,\"reasons\":[\"overlaps billing\",\"no owner\"]}", INTENT_PASS, 0.71, INTENT_REQUIRES_APPROVAL, "score 0.50; overlaps billing; no owner"},
		{0, "{\"score\":1}", INTENT_PASS, 0.96, INTENT_AUTO_APPROVED, "score 1.00"},
		{0, "{\"score\":0}", INTENT_PASS, 0.46, INTENT_REQUIRES_APPROVAL, "score 0.00"},
		{KUBE_ETIMEDOUT, NULL, INTENT_ERROR, 0.92, INTENT_AUTO_APPROVED, "evaluator failed"},
		{KUBE_EIO, "{\"score\":0.1}", INTENT_ERROR, 0.92, INTENT_AUTO_APPROVED, "rule score stands"},
		{0, "<html>502</html>", INTENT_ERROR, 0.92, INTENT_AUTO_APPROVED, "evaluator answered no"},
		{0, "", INTENT_ERROR, 0.92, INTENT_AUTO_APPROVED, "rule score stands"},
		{0, "{\"score\":7}", INTENT_ERROR, 0.92, INTENT_AUTO_APPROVED, "rule score stands"},
		{0, "{\"score\":\"high\"}", INTENT_ERROR, 0.92, INTENT_AUTO_APPROVED, "rule score stands"},
		{0, "{\"score\":0.9,\"reasons\":[1]}", INTENT_ERROR, 0.92, INTENT_AUTO_APPROVED, "rule score stands"},
		{0, "{\"score\":0.9,\"reasons\":\"ok\"}", INTENT_ERROR, 0.92, INTENT_AUTO_APPROVED, "rule score stands"},
	};
	cJSON *rev = J("{'spec':{'serviceName':'revenue-analytics','tier':2,'priority':'high'," PURPOSE ",'keyFeatures':['Aggregate ledger entries into daily revenue per product line','fast'],'dependencies':['billing-ledger']}}");
	cJSON *pobj = J("{'spec':{'mode':'autonomous','evaluator':{'url':'http://127.0.0.1:1/','weight':0.5}}}");
	struct intent_policy pol;

	(void)state;
	assert_int_equal(intent_policy_parse(pobj, &pol, NULL, 0), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct eval_case *c = &cases[i];
		struct intent_report rep;

		assert_int_equal(intent_governance_evaluate(rev, &WORLD, &pol, &rep), 0);
		assert_int_equal(intent_governance_apply_evaluator(&rep, &pol, c->transport_rc, c->answer,
								   c->answer ? strlen(c->answer) : 0), 0);
		if (rep.evaluator.result != c->want || rep.score < c->want_score - 1e-9 || rep.score > c->want_score + 1e-9 ||
		    rep.decision != c->want_decision || !strstr(rep.evaluator.message, c->msg))
			fail_msg("evaluator case %zu: %s %.2f %s \"%s\"", i, intent_result_name(rep.evaluator.result),
				 rep.score, intent_decision_name(rep.decision), rep.evaluator.message);
	}
	assert_int_equal(intent_governance_apply_evaluator(NULL, &pol, 0, NULL, 0), KUBE_EINVAL);
	intent_policy_release(&pol);
	cJSON_Delete(rev);
	cJSON_Delete(pobj);
}

static void report__governance_json(void **state)
{
	cJSON *rev = J("{'spec':{'serviceName':'revenue-analytics','tier':2,'priority':'high'," PURPOSE ",'keyFeatures':['Aggregate ledger entries into daily revenue per product line','fast'],'dependencies':['billing-ledger']}}");
	cJSON *pobj = J("{'spec':{'mode':'autonomous'}}"), *g, *results;
	struct intent_policy pol;
	struct intent_report rep;

	(void)state;
	assert_int_equal(intent_policy_parse(pobj, &pol, NULL, 0), 0);
	assert_int_equal(intent_governance_evaluate(rev, &WORLD, &pol, &rep), 0);
	g = intent_report_governance_json(&rep, &pol, "default");
	assert_non_null(g);
	results = cJSON_DetachItemFromObject(g, "results");
	assert_json_eq(g, "{'score':0.92,'decision':'AutoApproved','riskLevel':'low','mode':'autonomous','policy':'default'}", "governance");
	assert_int_equal(cJSON_GetArraySize(results), INTENT_RULE_COUNT);
	cJSON_Delete(results);
	cJSON_Delete(g);
	assert_int_equal(intent_governance_apply_evaluator(&rep, &pol, KUBE_ETIMEDOUT, NULL, 0), 0);
	g = intent_report_governance_json(&rep, NULL, NULL);
	assert_string_equal(cJSON_GetObjectItem(g, "policy")->valuestring, "built-in");
	results = cJSON_GetObjectItem(g, "results");
	assert_int_equal(cJSON_GetArraySize(results), INTENT_RULE_COUNT + 1);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(results, INTENT_RULE_COUNT), "rule")->valuestring, "external-evaluator");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(results, INTENT_RULE_COUNT), "result")->valuestring, "error");
	cJSON_Delete(g);
	assert_null(intent_report_governance_json(NULL, NULL, NULL));
	intent_policy_release(&pol);
	cJSON_Delete(rev);
	cJSON_Delete(pobj);
}

static void text__specificity(void **state)
{
	(void)state;
	assert_int_equal(intent_text_specificity(NULL), 0);
	assert_int_equal(intent_text_specificity(""), 0);
	assert_int_equal(intent_text_specificity("stuff things various service"), 0);
	assert_int_equal(intent_text_specificity("Revenue revenue REVENUE ledger"), 2);
	assert_int_equal(intent_text_specificity("a b c dd eee"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rules__table),
		cmocka_unit_test(rules__good_intent_scores_one),
		cmocka_unit_test(rules__weights_sum_to_one),
		cmocka_unit_test(score__table),
		cmocka_unit_test(decide__table),
		cmocka_unit_test(evaluate__reference_cases),
		cmocka_unit_test(evaluate__bad_input_never_crashes),
		cmocka_unit_test(evaluate__deep_chain),
		cmocka_unit_test(report__json_shape),
		cmocka_unit_test(evaluator__combine_or_record_error),
		cmocka_unit_test(report__governance_json),
		cmocka_unit_test(text__specificity),
		cmocka_unit_test(rules__table_with_the_index),
		cmocka_unit_test(evaluate__deep_chain_in_the_index),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
