/* intent_audit: append to a capped audit list while counting everything. */
#include "intent_audit.h"

#include "kube_error.h"

/* status.audit as a well-formed {total, entries}; NULL on allocation failure. */
static cJSON *audit_obj(cJSON *status)
{
	cJSON *audit = cJSON_GetObjectItemCaseSensitive(status, "audit");
	cJSON *entries = cJSON_GetObjectItemCaseSensitive(audit, "entries");
	cJSON *total = cJSON_GetObjectItemCaseSensitive(audit, "total");
	double count = cJSON_IsNumber(total) ? total->valuedouble : 0;

	if (cJSON_IsObject(audit) && cJSON_IsArray(entries) && cJSON_IsNumber(total))
		return audit;
	if (cJSON_IsArray(entries) && count < cJSON_GetArraySize(entries))
		count = cJSON_GetArraySize(entries);
	cJSON_DeleteItemFromObjectCaseSensitive(status, "audit");
	audit = cJSON_AddObjectToObject(status, "audit");
	if (!audit || !cJSON_AddNumberToObject(audit, "total", count) || !cJSON_AddArrayToObject(audit, "entries"))
		return NULL;
	return audit;
}

static int add_opt(cJSON *o, const char *key, const char *v)
{
	return !v || cJSON_AddStringToObject(o, key, v) ? 0 : KUBE_ENOMEM;
}

int intent_audit_append(cJSON *status, const struct intent_audit_entry *e, size_t keep)
{
	cJSON *audit, *entries, *o;
	int rc = KUBE_ENOMEM;

	if (!cJSON_IsObject(status) || !e || !e->time || !e->actor || !e->action || keep < 1)
		return KUBE_EINVAL;
	audit = audit_obj(status);
	if (!audit)
		goto out;
	entries = cJSON_GetObjectItemCaseSensitive(audit, "entries");
	o = cJSON_CreateObject();
	if (!o)
		goto out;
	if (add_opt(o, "time", e->time) < 0 || add_opt(o, "actor", e->actor) < 0 ||
	    add_opt(o, "action", e->action) < 0 || add_opt(o, "gate", e->gate) < 0 ||
	    add_opt(o, "decision", e->decision) < 0 || add_opt(o, "reason", e->reason) < 0) {
		cJSON_Delete(o);
		goto out;
	}
	cJSON_AddItemToArray(entries, o);
	while ((size_t)cJSON_GetArraySize(entries) > keep)
		cJSON_DeleteItemFromArray(entries, 0);
	cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(audit, "total"),
			     cJSON_GetObjectItemCaseSensitive(audit, "total")->valuedouble + 1);
	rc = 0;
out:
	return rc;
}
