/* The wing table and how it is added to the operator's manager (see phx_wings.h). */
#include "phx_wings.h"

#include <stdlib.h>

#include "kube_error.h"
#include "kube_log.h"
#include "build/phx_build_controller.h"
#include "intent/intent_wing.h"

/* One line per wing, in registration order. */
const struct phx_wing phx_wings[] = {
	{ "intent", intent_wing_add, intent_wing_free },
	{ "build", build_wing_add, build_wing_free },
	{ NULL, NULL, NULL },
};

struct phx_wings_host {
	void *state[16];
	int n;
};

int phx_wings_count(void)
{
	int n = 0;
	while (phx_wings[n].name)
		n++;
	return n;
}

int phx_wings_new(const struct phx_wings_opts *o, struct phx_wings_host **out)
{
	if (!o || !o->manager || !o->client || !out)
		return KUBE_EINVAL;
	*out = NULL;
	int n = phx_wings_count();
	if (n == 0)
		return 0;
	if (n > (int)(sizeof(((struct phx_wings_host *)0)->state) / sizeof(void *)))
		return KUBE_EINVAL;
	struct phx_wings_host *h = calloc(1, sizeof(*h));
	if (!h)
		return KUBE_ENOMEM;
	struct phx_wing_env env = { .client = o->client, .events = o->events,
				    .namespace = o->namespace ? o->namespace : "",
				    .identity = o->identity };
	int rc = 0;
	while (rc == 0 && h->n < n) {
		rc = phx_wings[h->n].add(o->manager, &env, &h->state[h->n]);
		if (rc < 0)
			kube_log(KUBE_LOG_ERROR, "wings", "cannot add wing", "wing",
				 phx_wings[h->n].name, "error", kube_strerror(rc), NULL);
		else
			h->n++;
	}
	if (rc < 0) {
		phx_wings_free(h);
		return rc;
	}
	*out = h;
	return 0;
}

void phx_wings_free(struct phx_wings_host *h)
{
	if (!h)
		return;
	for (int i = h->n - 1; i >= 0; i--)
		if (phx_wings[i].free)
			phx_wings[i].free(h->state[i]);
	free(h);
}
