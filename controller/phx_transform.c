/* Informer transforms (phx_transform.h): allow-lists applied in place. Allow-lists rather than
 * deny-lists so a field the API server adds tomorrow costs no memory until someone reads it.
 * Depends on cJSON only, so bench/ programs can compile it in. */
#include "phx_transform.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

static bool listed(const char *key, const char *const *keys)
{
	for (; key != NULL && *keys != NULL; keys++)
		if (strcmp(key, *keys) == 0)
			return true;
	return false;
}

/* Deletes every member of obj whose name is not in keys (NULL-terminated). */
static void keep_only(cJSON *obj, const char *const *keys)
{
	cJSON *c, *next;

	if (!cJSON_IsObject(obj))
		return;
	for (c = obj->child; c != NULL; c = next) {
		next = c->next;
		if (!listed(c->string, keys))
			cJSON_Delete(cJSON_DetachItemViaPointer(obj, c));
	}
}

static cJSON *member(cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static void trim_metadata(cJSON *md)
{
	static const char *const keep[] = {
		"name",		   "namespace",	       "uid",
		"resourceVersion", "generation",       "creationTimestamp",
		"deletionTimestamp", "deletionGracePeriodSeconds", "labels",
		"ownerReferences", NULL};
	keep_only(md, keep);
}

cJSON *phx_object_transform(cJSON *obj, void *ud)
{
	cJSON *md = member(obj, "metadata");

	(void)ud;
	cJSON_DeleteItemFromObjectCaseSensitive(md, "managedFields");
	cJSON_DeleteItemFromObjectCaseSensitive(
		member(md, "annotations"), "kubectl.kubernetes.io/last-applied-configuration");
	return obj;
}

/* state / lastState: {running|waiting|terminated: {...}}; the classifier reads which one is
 * present and its reason. */
static void trim_container_state(cJSON *state)
{
	static const char *const kinds[] = {"running", "waiting", "terminated", NULL};
	static const char *const keep[] = {"reason", "exitCode", NULL};
	cJSON *c;

	keep_only(state, kinds);
	cJSON_ArrayForEach(c, state)
		keep_only(c, keep);
}

static void trim_pod_status(cJSON *st)
{
	static const char *const keep[] = {"phase", "reason", "conditions", "containerStatuses",
					   NULL};
	static const char *const cond_keep[] = {"type", "status", "reason", "lastTransitionTime",
						NULL};
	static const char *const cs_keep[] = {"name", "ready", "restartCount", "state",
					      "lastState", NULL};
	cJSON *conds, *c, *next;

	keep_only(st, keep);
	conds = member(st, "conditions");
	if (cJSON_IsArray(conds)) {
		for (c = conds->child; c != NULL; c = next) {
			const char *type = cJSON_GetStringValue(member(c, "type"));

			next = c->next;
			if (type == NULL || strcmp(type, "Ready") != 0)
				cJSON_Delete(cJSON_DetachItemViaPointer(conds, c));
			else
				keep_only(c, cond_keep);
		}
	}
	cJSON_ArrayForEach(c, member(st, "containerStatuses")) {
		keep_only(c, cs_keep);
		trim_container_state(member(c, "state"));
		trim_container_state(member(c, "lastState"));
	}
}

cJSON *phx_pod_transform(cJSON *pod, void *ud)
{
	static const char *const keep[] = {"apiVersion", "kind", "metadata", "spec", "status",
					   NULL};
	static const char *const spec_keep[] = {"nodeName", NULL};

	(void)ud;
	keep_only(pod, keep);
	trim_metadata(member(pod, "metadata"));
	keep_only(member(pod, "spec"), spec_keep);
	trim_pod_status(member(pod, "status"));
	return pod;
}

cJSON *phx_service_transform(cJSON *svc, void *ud)
{
	static const char *const spec_keep[] = {"type", "selector", "ports",
						"publishNotReadyAddresses", "clusterIP", NULL};

	phx_object_transform(svc, ud);
	keep_only(member(svc, "spec"), spec_keep);
	cJSON_DeleteItemFromObjectCaseSensitive(svc, "status");
	return svc;
}

cJSON *phx_pdb_transform(cJSON *pdb, void *ud)
{
	phx_object_transform(pdb, ud);
	cJSON_DeleteItemFromObjectCaseSensitive(pdb, "status");
	return pdb;
}
