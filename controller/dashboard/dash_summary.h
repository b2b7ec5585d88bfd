/* The pipeline summary of the dashboard's pages and of `kubectl phoenix status`: pure functions
 * of Intent and Build objects as the API server has them (no I/O, thread-safe). */
#ifndef DASH_SUMMARY_H
#define DASH_SUMMARY_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* The summary of arrays of Intents and Builds (borrowed, as the API server has them) at now_ms
 * (epoch ms; "today" is the UTC day): {"intents": {...}, "active": [...], "queue": [...],
 * "builds": {...}}. NULL on out-of-memory. */
cJSON *dash_pipeline_summary(const cJSON *intents, const cJSON *builds, int64_t now_ms);

/* Which gate an Intent or Build (kind "Intent"/"Build") waits at for a human: "Governance",
 * "Spec", "Deploy" or NULL. */
const char *dash_pipeline_gate(const char *kind, const cJSON *obj);

/* An object's status.phase ("Pending" without one) and its condition of this type (or NULL);
 * borrowed. */
const char *dash_phase_of(const cJSON *obj);
const cJSON *dash_cond_of(const cJSON *obj, const char *type);

#endif
