/* intent_policy: a namespace's GovernancePolicy as a plain struct, parsed from the object with the
 * documented built-in defaults for every absent field (docs/governance.md). Pure: no I/O.
 * Invariants after a successful parse: 0 <= reject_below <= auto_approve_threshold <= 1,
 * 1 <= port_min <= port_max <= 65535, max_passes >= 1, max_concurrent >= 1. */
#ifndef INTENT_POLICY_H
#define INTENT_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

enum intent_mode { INTENT_MODE_SUPERVISED, INTENT_MODE_AUTONOMOUS, INTENT_MODE_AGGRESSIVE };

/* Queue priorities, most urgent first (the order the queue serves them in). */
enum intent_priority {
	INTENT_PRIO_CRITICAL,
	INTENT_PRIO_HIGH,
	INTENT_PRIO_MEDIUM,
	INTENT_PRIO_LOW,
	INTENT_PRIO_COUNT
};

#define INTENT_POLICY_MAX_NAMES 256

struct intent_policy {
	enum intent_mode mode;
	double auto_approve_threshold; /* 0.8 */
	double reject_below;           /* 0.4 */
	unsigned human_tiers;          /* bit t set: tier t always needs a human; default bit 0 */
	int max_concurrent;            /* maxConcurrentPipelines, 3 */
	int64_t sla_ms[INTENT_PRIO_COUNT]; /* -1 = no SLA; 5m, 15m, 1h, none */
	char **allowed_deps;           /* owned; NULL-free array of nallowed strings */
	size_t nallowed;
	char **forbidden_deps;         /* owned */
	size_t nforbidden;
	int port_min, port_max;        /* 1024, 65535 */
	int spec_min_score;            /* 90 */
	int spec_max_passes;           /* 3 */
	char *evaluator_url;           /* owned, NULL when none */
	int evaluator_timeout_s;       /* 5 */
	double evaluator_weight;       /* 0.3 */
};

/* Fills *p with the built-in defaults (supervised, 0.8, 0.4, tiers [0], 3 pipelines, SLA 5m/15m/
 * 1h/none, ports 1024-65535, gate 90, 3 passes, no evaluator). Owns nothing afterwards. */
void intent_policy_defaults(struct intent_policy *p);

/* Parses a GovernancePolicy object (its "spec"; the whole object or NULL give the defaults for
 * what is absent) into *p, which the caller releases with intent_policy_release(). On a bad value
 * returns KUBE_EINVAL with a message naming the field in err (when errlen > 0), and *p holds the
 * defaults only (nothing to release, but release is harmless); KUBE_ENOMEM on allocation failure.
 * Pure and thread-safe on distinct *p. */
int intent_policy_parse(const cJSON *policy, struct intent_policy *p, char *err, size_t errlen);

/* Frees what *p owns and resets it to the defaults. NULL is a no-op. */
void intent_policy_release(struct intent_policy *p);

/* Parses a duration "5m", "1h30m", "90s", "2h" into milliseconds, "none" into -1. Returns 0, or
 * KUBE_EINVAL for anything else (NULL, empty, unknown unit, overflow). */
int intent_duration_parse(const char *s, int64_t *ms);

/* "supervised" etc.; 0 or KUBE_EINVAL. */
int intent_mode_parse(const char *s, enum intent_mode *out);
const char *intent_mode_name(enum intent_mode m);

/* "critical" etc.; 0 or KUBE_EINVAL. */
int intent_priority_parse(const char *s, enum intent_priority *out);
const char *intent_priority_name(enum intent_priority p);

/* 1 when name is in the policy's allowed (resp. forbidden) list. NULL name gives 0. */
int intent_policy_allows(const struct intent_policy *p, const char *name);
int intent_policy_forbids(const struct intent_policy *p, const char *name);

#endif
