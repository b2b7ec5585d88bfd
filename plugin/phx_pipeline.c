/* `kubectl phoenix status`: the pipeline summary under the PhoenixServices (phx_pipeline.h). */
#include "phx_pipeline.h"

#include <time.h>

#include "dash_summary.h"
#include "kube_error.h"
#include "kube_json.h"
#include "kube_rest.h"

static const struct kube_gvr INTENTS = {"phoenix.fpai.io", "v1alpha1", "intents", true};
static const struct kube_gvr BUILDS = {"phoenix.fpai.io", "v1alpha1", "builds", true};

/* The items of kind gvr in ns (NULL = all), or an empty array when the kind is not served;
 * NULL (and the reason printed) when the caller may not list them. */
static cJSON *items_of(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
		       FILE *out, bool *shown)
{
	struct kube_status st = {0};
	cJSON *list = NULL, *items;
	int rc = kube_list(c, gvr, ns, NULL, &list, &st);

	if (rc == KUBE_ENOTFOUND) {
		kube_status_release(&st);
		return cJSON_CreateArray();
	}
	if (rc < 0) {
		fprintf(out, "\nPipeline: cannot list %s%s%s: %s\n", gvr->resource,
			ns ? " in namespace " : "", ns ? ns : "", st.message ? st.message
									    : kube_strerror(rc));
		kube_status_release(&st);
		cJSON_Delete(list);
		return NULL;
	}
	kube_status_release(&st);
	items = cJSON_DetachItemFromObjectCaseSensitive(list, "items");
	cJSON_Delete(list);
	if (cJSON_GetArraySize(items) > 0)
		*shown = true;
	return items ? items : cJSON_CreateArray();
}

int phx_status_pipeline(FILE *out, struct kube_client *c, const char *ns,
			const struct phx_dash_opts *o)
{
	bool any = false;
	cJSON *in = items_of(c, &INTENTS, ns, out, &any);
	cJSON *bu = in ? items_of(c, &BUILDS, ns, out, &any) : NULL;
	int rc = 0;

	/* Nothing to say where no Intent or Build exists (or the kinds are not installed). */
	if (in && bu && any) {
		cJSON *sum = dash_pipeline_summary(in, bu, (int64_t)o->now * 1000);

		rc = sum ? phx_dash_render_pipeline(out, sum, o) : -1;
		cJSON_Delete(sum);
	}
	cJSON_Delete(in);
	cJSON_Delete(bu);
	return rc;
}
