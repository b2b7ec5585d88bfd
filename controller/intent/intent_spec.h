/* intent_spec: SPEC.md for an Intent — a builder that writes a first draft from the Intent alone,
 * a rule-based verifier that scores a SPEC 0-100 with named findings by what the sections say
 * (not by their headings: a vague Intent cannot reach the gate by padding), an optimizer that
 * rewrites the sections the findings name from what the Intent says, marking what it assumed,
 * and the gated loop of at most N passes. Pure: no I/O; thread-safe on distinct outputs. */
#ifndef INTENT_SPEC_H
#define INTENT_SPEC_H

#include <stddef.h>

#include <cjson/cJSON.h>

#define INTENT_SPEC_MAX_FINDINGS 24
#define INTENT_SPEC_FINDING_MAX 160

/* What the optimizer writes in front of anything it did not read in the Intent. */
#define INTENT_SPEC_ASSUMPTION "[assumption]"

struct intent_spec_finding {
	char name[48];                      /* e.g. "purpose-vague", "acceptance-missing" */
	char message[INTENT_SPEC_FINDING_MAX];
	int lost;                           /* points this finding cost */
};

struct intent_spec_verdict {
	int score;                          /* 0-100 */
	size_t nfindings;
	struct intent_spec_finding findings[INTENT_SPEC_MAX_FINDINGS];
};

/* Writes the first draft of SPEC.md for the Intent object into *md (caller frees). A NULL or
 * malformed Intent still gives a SPEC (with what it lacks left out). Returns 0, KUBE_EINVAL for
 * NULL md, KUBE_ENOMEM. */
int intent_spec_build(const cJSON *intent, char **md);

/* Scores md against the Intent: purpose 15, features with acceptance criteria 20, the five
 * contract endpoints with request and response shapes 20, dependencies with failure behaviour 10,
 * configuration 8, tests 10, deployment 7, SLOs 10. A NULL md scores 0 with a finding. Fills *v;
 * returns 0 or KUBE_EINVAL for NULL v. */
int intent_spec_verify(const char *md, const cJSON *intent, struct intent_spec_verdict *v);

/* Rewrites the sections of md that v's findings name, from the Intent, marking assumptions, and
 * appends the sections md lacks. *out is a new string (caller frees); md is not changed. Returns
 * 0, KUBE_EINVAL for NULL md, v or out, KUBE_ENOMEM. */
int intent_spec_optimize(const char *md, const cJSON *intent, const struct intent_spec_verdict *v,
			 char **out);

struct intent_spec_outcome {
	char *md;                           /* owned: the best SPEC reached */
	int passes;                         /* verifications run (1..max_passes) */
	int passed;                         /* score >= gate */
	struct intent_spec_verdict verdict; /* of md */
};

/* Builds, verifies, and optimizes while below gate, for at most max_passes verifications (a pass
 * that does not raise the score ends the loop). When start_md is not NULL it is the SPEC to start
 * from (e.g. a human's edit of the ConfigMap) instead of the builder's draft. Fills *out (release
 * with intent_spec_outcome_release). Returns 0, KUBE_EINVAL (NULL out, max_passes < 1),
 * KUBE_ENOMEM (nothing to release). */
int intent_spec_run(const cJSON *intent, const char *start_md, int gate, int max_passes,
		    struct intent_spec_outcome *out);

/* Frees out->md. NULL is a no-op. */
void intent_spec_outcome_release(struct intent_spec_outcome *out);

#endif
