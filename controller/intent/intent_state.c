/* The Intent's conditions and phase (see intent_state.h). */
#include "intent_state.h"

#include <stdio.h>
#include <string.h>

#include "kube_error.h"
#include "kube_json.h"

const cJSON *intent_cond_find(const cJSON *conds, const char *type)
{
	const cJSON *c;

	if (!cJSON_IsArray(conds) || !type)
		return NULL;
	cJSON_ArrayForEach(c, conds) {
		const char *t = kube_json_get_str(c, "type", NULL);
		if (t && strcmp(t, type) == 0)
			return c;
	}
	return NULL;
}

int intent_cond_is(const cJSON *conds, const char *type, const char *status, int64_t gen)
{
	const cJSON *c = intent_cond_find(conds, type);
	const char *s = kube_json_get_str(c, "status", NULL);
	int64_t g = -1;

	if (!c || !s || !status || strcmp(s, status) != 0)
		return 0;
	if (gen < 0)
		return 1;
	return kube_json_get_int(c, &g, "observedGeneration", NULL) && g == gen;
}

static int valid_status(const char *s)
{
	return strcmp(s, "True") == 0 || strcmp(s, "False") == 0 || strcmp(s, "Unknown") == 0;
}

void intent_cond_remove(cJSON *conds, const char *type)
{
	int i = 0;
	const cJSON *c;

	if (!cJSON_IsArray(conds) || !type)
		return;
	cJSON_ArrayForEach(c, conds) {
		const char *t = kube_json_get_str(c, "type", NULL);
		if (t && strcmp(t, type) == 0) {
			cJSON_DeleteItemFromArray(conds, i);
			return;
		}
		i++;
	}
}

int intent_cond_set(cJSON *conds, const cJSON *prev, const char *type, const char *status,
		    const char *reason, const char *msg, int64_t gen, const char *now)
{
	const cJSON *old;
	const char *ltt = now;
	cJSON *c;

	if (!cJSON_IsArray(conds) || !type || !status || !reason || !now || !valid_status(status))
		return KUBE_EINVAL;
	old = intent_cond_find(prev, type);
	if (old) {
		const char *s = kube_json_get_str(old, "status", NULL);
		const char *t = kube_json_get_str(old, "lastTransitionTime", NULL);
		if (s && t && strcmp(s, status) == 0)
			ltt = t;
	}
	c = cJSON_CreateObject();
	if (!c || !cJSON_AddStringToObject(c, "type", type) ||
	    !cJSON_AddStringToObject(c, "status", status) ||
	    !cJSON_AddStringToObject(c, "reason", reason) ||
	    !cJSON_AddStringToObject(c, "message", msg ? msg : "") ||
	    !cJSON_AddStringToObject(c, "lastTransitionTime", ltt) ||
	    !cJSON_AddNumberToObject(c, "observedGeneration", (double)gen)) {
		cJSON_Delete(c);
		return KUBE_ENOMEM;
	}
	intent_cond_remove(conds, type);
	cJSON_AddItemToArray(conds, c);
	return 0;
}

const char *intent_phase(const cJSON *conds, int64_t gen, bool cancelled)
{
	const cJSON *ev = intent_cond_find(conds, INTENT_COND_EVALUATED);
	const char *evr = kube_json_get_str(ev, "reason", NULL);
	const cJSON *q;

	if (cancelled)
		return "Cancelled";
	if (intent_cond_is(conds, INTENT_COND_DENIED, "True", gen))
		return "Denied";
	if (!intent_cond_is(conds, INTENT_COND_EVALUATED, "True", gen))
		return "Pending";
	if (evr && strcmp(evr, "Rejected") == 0)
		return "Rejected";
	if (intent_cond_is(conds, INTENT_COND_READY, "True", gen))
		return "Ready";
	if (intent_cond_is(conds, INTENT_COND_BUILD_SUCCEEDED, "False", gen))
		return "Failed";
	if (intent_cond_is(conds, INTENT_COND_BUILD_SUCCEEDED, "True", gen))
		return "Deploying";
	if (intent_cond_is(conds, INTENT_COND_BUILD_SUCCEEDED, "Unknown", gen))
		return "Building";
	if (intent_cond_is(conds, INTENT_COND_SPEC_READY, "True", gen) ||
	    intent_cond_is(conds, INTENT_COND_SPEC_APPROVED, "True", gen))
		return "SpecReady";
	if (intent_cond_is(conds, INTENT_COND_SPEC_READY, "False", gen))
		return "SpecReview";
	q = intent_cond_find(conds, INTENT_COND_QUEUED);
	if (q && intent_cond_is(conds, INTENT_COND_QUEUED, "False", gen)) {
		const char *r = kube_json_get_str(q, "reason", NULL);
		if (r && strcmp(r, "Admitted") == 0)
			return "Specifying";
	}
	if (intent_cond_is(conds, INTENT_COND_QUEUED, "True", gen))
		return "Queued";
	if (intent_cond_is(conds, INTENT_COND_APPROVED, "Unknown", gen))
		return "AwaitingApproval";
	return "Evaluated";
}

void intent_hash_hex(const char *s, char out[17])
{
	uint64_t h = 1469598103934665603ULL;

	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

void intent_derived_name(const char *base, const char *suffix, size_t max, char *buf, size_t len)
{
	char hash[17];
	size_t bl, sl;

	if (!buf || len == 0)
		return;
	base = base ? base : "";
	suffix = suffix ? suffix : "";
	if (max > len - 1)
		max = len - 1;
	bl = strlen(base);
	sl = strlen(suffix);
	if (bl + sl <= max) {
		snprintf(buf, len, "%s%s", base, suffix);
		return;
	}
	if (sl + 9 > max) { /* no room for base and hash: the suffix alone, cut */
		snprintf(buf, len, "%.*s", (int)max, suffix);
		return;
	}
	size_t keep = max - sl - 9;
	while (keep > 0 && (base[keep - 1] == '-' || base[keep - 1] == '.'))
		keep--;
	intent_hash_hex(base, hash);
	snprintf(buf, len, "%.*s%s%.8s%s", (int)keep, base, keep ? "-" : "", hash, suffix);
}
