/* intent_audit: the bounded audit trail on an Intent's status: {"total": N, "entries": [...]},
 * the latest `keep` entries oldest first, total counting every entry ever recorded (as
 * Gatekeeper keeps totalViolations next to a capped list). Pure cJSON edits. */
#ifndef INTENT_AUDIT_H
#define INTENT_AUDIT_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* The audit trail keeps this many entries by default (the CRD's maxItems). */
#define INTENT_AUDIT_KEEP 20

struct intent_audit_entry {
	const char *time;     /* RFC 3339; required */
	const char *actor;    /* required: a user or "operator" */
	const char *action;   /* required: Evaluated, Approved, ... */
	const char *gate;     /* optional (NULL: left out) */
	const char *decision; /* optional */
	const char *reason;   /* optional */
};

/* Appends e to the trail in status (creating status.audit when absent), drops the oldest entries
 * beyond keep (>= 1) and increments total. A malformed audit (not an object, entries not an array,
 * total not a number) is replaced by a fresh one whose total still counts the entries it had.
 * Returns 0; KUBE_EINVAL for NULL status or e, a missing required field or keep < 1 (nothing
 * changed); KUBE_ENOMEM (status.audit may then lack the new entry, but stays well formed). */
int intent_audit_append(cJSON *status, const struct intent_audit_entry *e, size_t keep);

#endif
