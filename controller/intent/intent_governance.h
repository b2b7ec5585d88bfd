/* intent_governance: the deterministic rules an Intent is judged by, its score and the decision
 * by the policy's mode (docs/governance.md). Pure: the namespace's services and Intents come in
 * as a borrowed list, results go out in the PolicyReport shape. Thread-safe on distinct outputs. */
#ifndef INTENT_GOVERNANCE_H
#define INTENT_GOVERNANCE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "intent_policy.h"

enum intent_result { INTENT_PASS, INTENT_FAIL, INTENT_WARN, INTENT_ERROR, INTENT_SKIP };
enum intent_severity { INTENT_SEV_CRITICAL, INTENT_SEV_HIGH, INTENT_SEV_MEDIUM, INTENT_SEV_LOW, INTENT_SEV_INFO };
enum intent_decision { INTENT_AUTO_APPROVED, INTENT_REQUIRES_APPROVAL, INTENT_REJECTED };

/* Rule names, in evaluation order (also the order of the results). */
enum intent_rule {
	INTENT_RULE_PURPOSE,       /* purpose-specific */
	INTENT_RULE_FEATURES,      /* features-specific */
	INTENT_RULE_DEPS_EXIST,    /* dependencies-exist */
	INTENT_RULE_DEPS_ALLOWED,  /* dependencies-allowed (none forbidden) */
	INTENT_RULE_DEPS_ACYCLIC,  /* dependencies-acyclic */
	INTENT_RULE_PORT,          /* port-available */
	INTENT_RULE_NAME,          /* name-available */
	INTENT_RULE_TIER,          /* tier-consistent */
	INTENT_RULE_COUNT
};

/* Another service or Intent of the namespace, as the rules see it. All borrowed. */
enum intent_peer_kind { INTENT_PEER_SERVICE, INTENT_PEER_INTENT };
struct intent_peer {
	enum intent_peer_kind kind;
	const char *name;      /* the PhoenixService name, or the other Intent's serviceName */
	int port;              /* 0 when it has none */
	int owned;             /* a PhoenixService the evaluated Intent owns (its own earlier output) */
	const char *const *deps; /* an Intent's dependencies, for the cycle check */
	size_t ndeps;
};

struct intent_world {
	const struct intent_peer *peers; /* borrowed; the evaluated Intent itself must not be listed */
	size_t npeers;
	/* Optional: the namespace's other Intents from an index instead of listed in peers (the
	 * listed peers are checked first). find_intent fills *out with an Intent peer (strings
	 * borrowed, valid during the evaluation) whose serviceName is name, or, name NULL, whose
	 * port is port, and returns 1; 0 when there is none. Lets a rule look a name or port up in
	 * O(1) instead of walking every peer. */
	int (*find_intent)(void *ud, const char *name, int port, struct intent_peer *out);
	void *ud;
};

#define INTENT_MSG_MAX 256

struct intent_rule_result {
	enum intent_rule rule;
	enum intent_result result;
	enum intent_severity severity;
	double weight;
	char message[INTENT_MSG_MAX];
};

struct intent_report {
	struct intent_rule_result results[INTENT_RULE_COUNT];
	struct intent_rule_result evaluator; /* the external evaluator's result, when has_evaluator */
	int has_evaluator;
	int tier;                      /* the tier decided on (-1 when invalid) */
	double rule_score;             /* the rules alone, 0-1 */
	double score;                  /* 0-1, rounded to 2 decimals: rule_score, combined with the evaluator's */
	enum intent_decision decision;
	const char *risk;              /* "low", "medium", "high" (static) */
	int critical_failed;           /* a critical-severity rule failed */
};

/* Weight of a rule in the score (the weights sum to 1). */
double intent_rule_weight(enum intent_rule r);
const char *intent_rule_name(enum intent_rule r);
const char *intent_result_name(enum intent_result r);
const char *intent_severity_name(enum intent_severity s);
const char *intent_decision_name(enum intent_decision d);

/* Runs every rule on the Intent object (its "spec"; a NULL or malformed Intent fails the rules it
 * cannot satisfy, never crashes), computes the score and decides by *policy. world and policy
 * may be NULL (no peers; built-in defaults). Fills *out; returns 0, or KUBE_EINVAL when out is
 * NULL. */
int intent_governance_evaluate(const cJSON *intent, const struct intent_world *world,
			       const struct intent_policy *policy, struct intent_report *out);

/* The score of a set of results: the weights of the passing rules plus half the weights of the
 * warning ones, over the weights of the rules that were evaluated (error and skip are left out of
 * both), rounded to 2 decimals. 1 when no rule was evaluated. */
double intent_governance_score(const struct intent_rule_result *r, size_t n);

/* The decision table. Below reject_below: Rejected, every mode. supervised: RequiresApproval.
 * autonomous: AutoApproved at or above the threshold unless the tier is in human_tiers or a
 * critical rule failed. aggressive: AutoApproved unless a critical rule failed. */
enum intent_decision intent_governance_decide(const struct intent_policy *policy, int tier,
					      double score, int critical_failed);

/* Folds the external evaluator's answer into a report made by intent_governance_evaluate():
 * transport_rc < 0 (timeout, connection refused, HTTP error: a kube_err) or an answer that is not
 * {"score": 0..1, "reasons": ["..."]} records an `error` result named "external-evaluator" and
 * leaves the score as the rules made it; a good answer records `pass` with the reasons and sets
 * score = (1 - weight) * rule_score + weight * answer score (policy->evaluator_weight), then
 * decides again. Never fails on bad input: returns 0, or KUBE_EINVAL for NULL r. */
int intent_governance_apply_evaluator(struct intent_report *r, const struct intent_policy *policy,
				      int transport_rc, const char *answer, size_t len);

/* The results as a PolicyReport-shaped JSON array [{rule, result, severity, message}]; the caller
 * frees it. NULL on allocation failure. */
cJSON *intent_report_results_json(const struct intent_report *r);

/* status.governance for the Intent: {score, decision, riskLevel, mode, policy, results}; policy
 * names the GovernancePolicy used (NULL: "built-in"). The caller frees it; NULL on allocation
 * failure or NULL r. */
cJSON *intent_report_governance_json(const struct intent_report *r, const struct intent_policy *p,
				     const char *policy);

#endif
