/* The Approval object an approver files (phoenix.fpai.io/v1alpha1): one builder for the plugin's
 * `kubectl phoenix approve/deny` and the dashboard's Approve/Deny buttons, so both send the
 * same shape. Pure (cJSON only); compiled into both binaries. */
#ifndef PHX_APPROVAL_H
#define PHX_APPROVAL_H

#include <stdint.h>

#include <cjson/cJSON.h>

/* An Approval for target KIND/NAME ("Intent" or "Build") at GENERATION (0 = not pinned) and
 * GATE: metadata.generateName "<name, lower-cased>-", spec.targetRef, gate, decision
 * ("Approve" | "Deny"), reason and approver. CREATED_BY (NULL = none) is recorded in the
 * annotation phoenix.fpai.io/created-by. NULL when out of memory. */
cJSON *phx_approval_new(const char *kind, const char *name, int64_t generation, const char *gate,
			const char *decision, const char *reason, const char *approver,
			const char *created_by);

#endif
