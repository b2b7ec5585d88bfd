/* intent_state: the small pure pieces of the Intent controller's status handling: conditions
 * that may be Unknown and keep lastTransitionTime while their status stays, the phase derived
 * from the conditions (the PHASE column), and a content hash that tells an operator-written SPEC
 * ConfigMap from a human's edit. No I/O; thread-safe on distinct objects. */
#ifndef INTENT_STATE_H
#define INTENT_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* Condition types of an Intent's status.conditions. */
#define INTENT_COND_EVALUATED "Evaluated"
#define INTENT_COND_APPROVED "Approved"
#define INTENT_COND_DENIED "Denied"
#define INTENT_COND_QUEUED "Queued"
#define INTENT_COND_SPEC_READY "SpecReady"
#define INTENT_COND_SPEC_APPROVED "SpecApproved"
#define INTENT_COND_BUILD_SUCCEEDED "BuildSucceeded"
#define INTENT_COND_READY "Ready"
#define INTENT_COND_SLA_BREACHED "SLABreached"

/* The condition of this type in the array conds (borrowed), or NULL. */
const cJSON *intent_cond_find(const cJSON *conds, const char *type);

/* 1 when conds has the condition type with this status ("True", "False", "Unknown") for
 * generation gen (its observedGeneration; gen < 0: any). */
int intent_cond_is(const cJSON *conds, const char *type, const char *status, int64_t gen);

/* Sets (replacing one of the same type, else appending) the condition type/status/reason/msg
 * (msg NULL: "") with observedGeneration gen in the array conds (changed in place). Its
 * lastTransitionTime is kept from prev (the array as the object has it now; may be NULL) when
 * the status there is the same, else now (metav1.Time). Returns 0, KUBE_EINVAL (NULL conds,
 * type, status, reason, now; a status that is not True/False/Unknown), KUBE_ENOMEM (conds
 * unchanged). */
int intent_cond_set(cJSON *conds, const cJSON *prev, const char *type, const char *status,
		    const char *reason, const char *msg, int64_t gen, const char *now);

/* Removes the condition of this type from conds, if there. */
void intent_cond_remove(cJSON *conds, const char *type);

/* The phase for the PHASE column, from the conditions of generation gen (static string):
 * Cancelled (cancelled true), Denied, Rejected, Ready, Failed, Deploying, Building, SpecReady,
 * SpecReview, Specifying, Queued, AwaitingApproval, Evaluated, Pending. */
const char *intent_phase(const cJSON *conds, int64_t gen, bool cancelled);

/* FNV-1a 64 of s (NULL: of ""), as 16 lower-case hex digits into out (>= 17 bytes). */
void intent_hash_hex(const char *s, char out[17]);

/* Longest object name (DNS subdomain) and label value. */
#define INTENT_NAME_MAX 253
#define INTENT_LABEL_MAX 63

/* A name derived from base (an Intent's name, up to 253 characters): base then suffix when
 * that fits in max characters; else base cut short (trailing '-' and '.' dropped), '-', the
 * first 8 hex digits of intent_hash_hex(base), then suffix. Always at most max characters
 * (and len - 1), distinct for distinct long bases up to the hash, the same for the same base;
 * names that fit come out as before. max < strlen(suffix) + 9 gives the suffix cut to fit. */
void intent_derived_name(const char *base, const char *suffix, size_t max, char *buf, size_t len);

#endif
