/* The Intent informer's projection (intent_transform.h): a table of the fields kept, walked
 * once over the object. */
#include "intent_transform.h"

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
static const struct kept STATUS[] = {
	{"observedGeneration", NULL}, {"phase", NULL}, {"queue", QUEUE}, {"conditions", COND},
	{NULL, NULL},
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

cJSON *intent_transform(cJSON *obj, void *ud)
{
	(void)ud;
	project(obj, TOP);
	return obj;
}
