/* Leader election adapter. Placeholder until the library's kube_leader lands: acts as leader at
 * once (correct for a single replica only). */
#include "phx_leader.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "kube_error.h"

struct phx_leader {
	struct phx_leader_opts opts;
	atomic_bool leading;
	bool started;
};

int phx_leader_new(const struct phx_leader_opts *opts, struct phx_leader **out)
{
	if (!opts || !opts->client || !out)
		return KUBE_EINVAL;
	struct phx_leader *l = calloc(1, sizeof(*l));
	if (!l)
		return KUBE_ENOMEM;
	l->opts = *opts;
	*out = l;
	return 0;
}

int phx_leader_start(struct phx_leader *l)
{
	l->started = true;
	atomic_store(&l->leading, true);
	if (l->opts.on_started)
		l->opts.on_started(l->opts.ud);
	return 0;
}

void phx_leader_stop(struct phx_leader *l)
{
	if (!l || !l->started)
		return;
	l->started = false;
	atomic_store(&l->leading, false);
	if (l->opts.on_stopped)
		l->opts.on_stopped(l->opts.ud);
}

void phx_leader_free(struct phx_leader *l)
{
	if (!l)
		return;
	phx_leader_stop(l);
	free(l);
}

bool phx_leader_is_leader(struct phx_leader *l)
{
	return l && atomic_load(&l->leading);
}
