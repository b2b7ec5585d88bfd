/* Small helpers shared by the PhoenixService decision logic (phx_units.c, phx_spec.c,
 * phx_classify.c, phx_plan.c, phx_status.c, phx_build.c). Internal: not for the reconciler. */
#ifndef PHX_FAILOVER_UTIL_H
#define PHX_FAILOVER_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "phx_failover.h"

static inline void copy_str(char *dst, size_t len, const char *src)
{
	if (len == 0)
		return;
	snprintf(dst, len, "%s", src ? src : "");
}

static inline bool str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static inline bool alive(const struct phx_pod *p)
{
	return p->health != PHX_HEALTH_FAILED;
}

/* The first containerPort of the containers (0: none); phx_spec.c. */
int phx_first_container_port(const cJSON *containers);
/* The primary the planner keeps among pods (the best alive one labelled primary), or NULL;
 * phx_plan.c. */
const struct phx_pod *phx_pick_primary(const struct phx_spec *spec, const struct phx_pod *pods,
				       size_t n);

#endif
