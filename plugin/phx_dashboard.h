/* The Phoenix dashboard drawn in a terminal: renders PhoenixService objects (and optionally their
 * pods) as read from the API server. Pure formatting, no I/O besides writing to `out`. */
#ifndef PHX_DASHBOARD_H
#define PHX_DASHBOARD_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include <cjson/cJSON.h>

/* What the caller learnt about the operator's leader-election Lease: whether any replica is
 * acting at all (a status nobody maintains keeps saying Healthy). */
enum phx_dash_lease {
	PHX_DASH_LEASE_UNCHECKED = 0, /* not looked at: no operator line, no staleness verdict */
	PHX_DASH_LEASE_CURRENT,       /* held: renewTime + leaseDurationSeconds is in the future */
	PHX_DASH_LEASE_EXPIRED,       /* exists, but nobody holds it now */
	PHX_DASH_LEASE_MISSING,       /* 404: leader election off, or another id or namespace */
	PHX_DASH_LEASE_FORBIDDEN,     /* 403: the caller may not read Leases there */
	PHX_DASH_LEASE_ERROR,         /* any other failure to read it */
};

struct phx_dash_operator {
	enum phx_dash_lease state;
	const char *ns, *name; /* the Lease looked at */
	const char *holder;    /* holderIdentity, NULL when none */
	time_t renewed;        /* renewTime, 0 when unknown */
	long duration_s;       /* leaseDurationSeconds, 0 when unknown */
	const char *detail;    /* FORBIDDEN, ERROR: the server's message (may be NULL) */
};

struct phx_dash_opts {
	bool color;          /* ANSI colours (callers enable it only on a TTY) */
	bool all_namespaces; /* show a NAMESPACE column */
	const char *scope;   /* "namespace default" or "all namespaces": the header names it */
	time_t now;          /* "ago" columns are relative to this */
	const struct phx_dash_operator *op; /* NULL: the Lease was not looked at */
	long stale_after_s; /* status.lastReconcileTime older than this, with no current Lease,
			     * marks a service's status stale; 0 = PHX_DASH_STALE_AFTER_S */
};

#define PHX_DASH_STALE_AFTER_S 300

/* Fills op (holder and the Lease's names borrowed from `lease`) from a coordination.k8s.io/v1
 * Lease and returns its state at `now`: CURRENT when it has a holder and renewTime +
 * leaseDurationSeconds is after now, else EXPIRED. Pure; op->ns/name are left as they are. */
enum phx_dash_lease phx_dash_lease_classify(const cJSON *lease, time_t now,
					    struct phx_dash_operator *op);

/* Draws the overview: a summary line, one row per service, and under each service with a
 * failover in progress its failed pod, promoted standbys and spawning replacements.
 * `list` is a PhoenixServiceList (borrowed). Returns 0, or -1 when out cannot be written. */
int phx_dash_render_list(FILE *out, const cJSON *list, const struct phx_dash_opts *o);

/* Draws one service in detail: spec summary, status, conditions, failover in progress and,
 * when `pods` (a PodList, may be NULL) is given, its instances. Returns 0 or -1 as above. */
int phx_dash_render_one(FILE *out, const cJSON *svc, const cJSON *pods,
			const struct phx_dash_opts *o);

/* "5s", "3m12s", "2h05m", "4d3h"; "-" for t <= 0. Writes at most n bytes into buf (NUL ended)
 * and returns buf. */
char *phx_dash_fmt_age(char *buf, size_t n, time_t now, time_t t);

/* Parses an RFC 3339 time as the API server writes it ("2026-11-22T20:29:02Z", optional
 * fraction, "Z" or +hh:mm). Returns 0 and sets *out, or -1 when s is NULL or malformed. */
int phx_dash_parse_time(const char *s, time_t *out);

/* Draws the pipeline summary under the overview: Intents (today, completed, failed, success
 * rate, active, queued, mean pipeline duration), Builds (total, queued, running, completed,
 * failed, success rate, mean build time) and the queue with positions. summary is
 * dash_pipeline_summary()'s (controller/dashboard/dash_summary.h). Returns 0 or -1. */
int phx_dash_render_pipeline(FILE *out, const cJSON *summary, const struct phx_dash_opts *o);

#endif
