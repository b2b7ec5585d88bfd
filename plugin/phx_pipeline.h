/* `kubectl phoenix status`: the pipeline summary (Intents and Builds, the queue) under the
 * PhoenixServices, computed as the web dashboard does (controller/dashboard/dash_summary.h). */
#ifndef PHX_PIPELINE_H
#define PHX_PIPELINE_H

#include <stdio.h>

#include "phx_dashboard.h"

struct kube_client;

/* Lists Intents and Builds in ns (NULL = all namespaces) and draws their summary on out; draws
 * nothing when there are none (or the kinds are not installed), says so when they may not be
 * listed. Returns 0, or -1 when out cannot be written. */
int phx_status_pipeline(FILE *out, struct kube_client *c, const char *ns,
			const struct phx_dash_opts *o);

#endif
