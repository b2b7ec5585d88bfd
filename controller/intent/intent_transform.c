/* The Intent informer's projection (intent_transform.h): a table of the fields kept, walked
 * once over the object. */
#include "intent_transform.h"

#include "intent_state.h"

#include <stddef.h>
#include <string.h>

/* One kept member; sub NULL keeps its whole value, else the value (an object, or each object
 * of an array) is reduced to sub, recursively. A list ends with {NULL, NULL}. */
struct kept {
	const char *name;
	const struct kept *sub;
};

static const struct kept COND[] = {
	{"type", NULL}, {"status", NULL}, {"reason", NULL}, {"observedGeneration", NULL}, {NULL, NULL},
};
static const struct kept QUEUE[] = {{"position", NULL}, {NULL, NULL}};
static const struct kept STATUS[] = {{"queue", QUEUE}, {"conditions", COND}, {NULL, NULL}};

/* The condition types read across Intents (candidate, finished_conds and admitted_conds in
 * intent_controller.c); Evaluated, Ready and SLABreached are read only on the Intent a
 * reconcile GETs. */
static const char *const COND_TYPES[] = {
	INTENT_COND_APPROVED,	 INTENT_COND_DENIED,	       INTENT_COND_QUEUED,
	INTENT_COND_SPEC_READY, INTENT_COND_SPEC_APPROVED, INTENT_COND_BUILD_SUCCEEDED, NULL,
};
static const struct kept SPEC[] = {
	{"serviceName", NULL}, {"priority", NULL}, {"state", NULL},	    {"autoBuild", NULL},
	{"port", NULL},	       {"dependencies", NULL}, {NULL, NULL},
};
static const struct kept META[] = {
	{"name", NULL},		 {"namespace", NULL},	      {"uid", NULL},
	{"resourceVersion", NULL}, {"generation", NULL},      {"creationTimestamp", NULL},
	{"deletionTimestamp", NULL}, {"labels", NULL},	      {"ownerReferences", NULL},
	{NULL, NULL},
};
static const struct kept TOP[] = {
	{"apiVersion", NULL}, {"kind", NULL}, {"metadata", META}, {"spec", SPEC}, {"status", STATUS},
	{NULL, NULL},
};

static const struct kept *find(const struct kept *list, const char *name)
{
	for (; name != NULL && list->name != NULL; list++)
		if (strcmp(list->name, name) == 0)
			return list;
	return NULL;
}

static void project(cJSON *node, const struct kept *list)
{
	cJSON *c, *next;

	if (cJSON_IsArray(node)) {
		cJSON_ArrayForEach(c, node)
			project(c, list);
		return;
	}
	if (!cJSON_IsObject(node))
		return;
	for (c = node->child; c != NULL; c = next) {
		const struct kept *k = find(list, c->string);

		next = c->next;
		if (k == NULL)
			cJSON_Delete(cJSON_DetachItemViaPointer(node, c));
		else if (k->sub != NULL)
			project(c, k->sub);
	}
}

static int cond_kept(const cJSON *c)
{
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "type"));

	if (!cJSON_IsObject(c) || type == NULL)
		return 1; /* not a condition we know how to judge: left as it is */
	for (const char *const *t = COND_TYPES; *t != NULL; t++)
		if (strcmp(*t, type) == 0)
			return 1;
	return 0;
}

static void drop_conditions(cJSON *obj)
{
	cJSON *status = cJSON_GetObjectItemCaseSensitive(obj, "status");
	cJSON *conds = cJSON_GetObjectItemCaseSensitive(status, "conditions"), *c, *next;

	if (!cJSON_IsObject(status) || !cJSON_IsArray(conds))
		return;
	for (c = conds->child; c != NULL; c = next) {
		next = c->next;
		if (!cond_kept(c))
			cJSON_Delete(cJSON_DetachItemViaPointer(conds, c));
	}
}

cJSON *intent_transform(cJSON *obj, void *ud)
{
	(void)ud;
	project(obj, TOP);
	if (cJSON_IsObject(obj))
		drop_conditions(obj);
	return obj;
}
