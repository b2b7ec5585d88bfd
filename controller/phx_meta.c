/* Shared object metadata: work-queue keys, owner references and conditions. See phx_meta.h. */
#include "phx_meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_json.h"
#include "kube_time.h"

static bool str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

char *phx_key(const char *ns, const char *name)
{
	char *key = NULL;

	if (!ns || !name || asprintf(&key, "%s/%s", ns, name) < 0)
		return NULL;
	return key;
}

const cJSON *phx_controller_ref(const cJSON *obj)
{
	const cJSON *ref;

	cJSON_ArrayForEach(ref, kube_json_get(obj, "metadata", "ownerReferences", NULL)) {
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ref, "controller")))
			return ref;
	}
	return NULL;
}

const char *phx_owner_ref_name(const cJSON *obj, const char *kind, bool controller_only)
{
	const char *name = NULL;
	const cJSON *ref;

	if (controller_only) {
		ref = phx_controller_ref(obj);
		if (ref && str_eq(kube_json_get_str(ref, "kind", NULL), kind))
			name = kube_json_get_str(ref, "name", NULL);
		return name;
	}
	cJSON_ArrayForEach(ref, kube_json_get(obj, "metadata", "ownerReferences", NULL)) {
		const char *k = kube_json_get_str(ref, "kind", NULL);

		if (k && strcmp(k, kind) == 0)
			name = kube_json_get_str(ref, "name", NULL);
	}
	return name;
}

cJSON *phx_owner_refs_new(const cJSON *owner, const char *api_version, const char *kind)
{
	cJSON *arr = cJSON_CreateArray();
	cJSON *o = cJSON_CreateObject();
	if (!arr || !o) {
		cJSON_Delete(arr);
		cJSON_Delete(o);
		return NULL;
	}
	cJSON_AddStringToObject(o, "apiVersion", api_version);
	cJSON_AddStringToObject(o, "kind", kind);
	cJSON_AddStringToObject(o, "name", kube_json_name(owner) ? kube_json_name(owner) : "");
	cJSON_AddStringToObject(o, "uid", kube_json_uid(owner) ? kube_json_uid(owner) : "");
	cJSON_AddBoolToObject(o, "controller", 1);
	cJSON_AddBoolToObject(o, "blockOwnerDeletion", 1);
	cJSON_AddItemToArray(arr, o);
	return arr;
}

void phx_condition_add(cJSON *arr, const cJSON *prev_status, const char *type, bool status,
		       const char *reason, const char *msg, int64_t gen, int64_t now_ms)
{
	const char *st = status ? "True" : "False";
	char ts[KUBE_TIME_LEN] = "";
	const char *ltt = NULL;
	const cJSON *c;
	cJSON_ArrayForEach(c, kube_json_get(prev_status, "conditions", NULL)) {
		if (str_eq(kube_json_get_str(c, "type", NULL), type) &&
		    str_eq(kube_json_get_str(c, "status", NULL), st))
			ltt = kube_json_get_str(c, "lastTransitionTime", NULL);
	}
	if (!ltt) {
		kube_time_format(now_ms / 1000, ts, sizeof(ts));
		ltt = ts;
	}
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return;
	cJSON_AddStringToObject(o, "type", type);
	cJSON_AddStringToObject(o, "status", st);
	cJSON_AddStringToObject(o, "reason", reason);
	cJSON_AddStringToObject(o, "message", msg ? msg : "");
	cJSON_AddStringToObject(o, "lastTransitionTime", ltt);
	cJSON_AddNumberToObject(o, "observedGeneration", (double)gen);
	cJSON_AddItemToArray(arr, o);
}
