/* The Phoenix board: the PhoenixService reconciler's snapshot (services, instances, capacity,
 * failovers, the failover in progress) on the web dashboard, with when each service last failed
 * over. */
#ifndef DASH_PHOENIX_H
#define DASH_PHOENIX_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct phx_reconciler;
struct dash_server;
struct dash_failover_log;

/* Registers the "phoenix" board of r (borrowed: it must outlive the server's run) on d, or on
 * dash_server_default() when d is NULL (no-op returning 0 when there is none). Returns 0 or a
 * kube_err from dash_server_add_board. */
int dash_phoenix_register(struct dash_server *d, struct phx_reconciler *r);

/* ---- pure parts, exposed for tests ---- */

/* Remembers, per service, its failover count and when it was seen to grow. */
struct dash_failover_log *dash_failover_log_new(void);
void dash_failover_log_free(struct dash_failover_log *l);

/* Turns a phx_reconciler_dashboard() snapshot into the board in place: each item gains
 * "namespace" and "name" (from "service" = "ns/name") and, once its failovers were seen to
 * grow at or before now_ms (wall clock), "lastFailoverTime" (RFC 3339). An item's own
 * "lastFailoverMs" (epoch ms, when the reconciler's snapshot has it) wins; without it a service
 * first seen with failovers has no time until the next one (the dashboard only knows what it
 * saw). */
void dash_phoenix_annotate(cJSON *snap, struct dash_failover_log *l, int64_t now_ms);

/* The board's summarize hook: totals from the items left; with all, the global figures
 * (failoversToday, meanReactionMs) stay, else they go. Adds "lastFailover" (the most recent
 * item's) and "inProgress" (the items failing over). data is unused. */
void dash_phoenix_summarize(cJSON *board, bool all, void *data);

#endif
