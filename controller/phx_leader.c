/* Leader election adapter over kube_leader (Lease, 15 s / 10 s / 2 s like client-go). The
 * library installs the write gate on the client at once, so a replica writes nothing until it
 * leads, and nothing from the moment its renew deadline passes. */
#include "phx_leader.h"

#include <stdlib.h>

#include "kube_error.h"
#include "kube_leader.h"
#include "kube_log.h"

struct phx_leader {
	struct phx_leader_opts opts;
	struct kube_leader *le;
};

static void started(void *ud)
{
	struct phx_leader *l = ud;
	if (l->opts.on_started)
		l->opts.on_started(l->opts.ud);
}

static void stopped(void *ud)
{
	struct phx_leader *l = ud;
	if (l->opts.on_stopped)
		l->opts.on_stopped(l->opts.ud);
}

static void new_leader(const char *identity, void *ud)
{
	struct phx_leader *l = ud;
	kube_log(KUBE_LOG_INFO, "leader", "leader observed", "leader", identity, "me",
		 l->opts.identity, NULL);
}

int phx_leader_new(const struct phx_leader_opts *opts, struct phx_leader **out)
{
	if (!opts || !opts->client || !out)
		return KUBE_EINVAL;
	struct phx_leader *l = calloc(1, sizeof(*l));
	if (!l)
		return KUBE_ENOMEM;
	l->opts = *opts;
	struct kube_leader_config cfg = {
		.client = opts->client,
		.lease_namespace = opts->namespace,
		.lease_name = opts->name,
		.identity = opts->identity,
		.callbacks = { started, stopped, new_leader, l },
	};
	int rc = kube_leader_new(&cfg, &l->le);
	if (rc < 0) {
		free(l);
		return rc;
	}
	*out = l;
	return 0;
}

int phx_leader_start(struct phx_leader *l)
{
	return kube_leader_start(l->le);
}

void phx_leader_stop(struct phx_leader *l)
{
	if (l)
		kube_leader_stop(l->le);
}

void phx_leader_free(struct phx_leader *l)
{
	if (!l)
		return;
	kube_leader_free(l->le);
	free(l);
}

bool phx_leader_healthy(struct phx_leader *l, char *why, size_t why_size)
{
	return !l || kube_leader_healthy(l->le, why, why_size);
}

bool phx_leader_is_leader(struct phx_leader *l)
{
	return l && kube_leader_is_leader(l->le);
}
