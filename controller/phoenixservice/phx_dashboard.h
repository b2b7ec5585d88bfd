/* GET /dashboard on the metrics server: a JSON summary of every PhoenixService (services,
 * instances, capacity, failovers today, mean reaction time, failovers in progress). */
#ifndef PHX_DASHBOARD_H
#define PHX_DASHBOARD_H

struct kube_httpd;
struct phx_reconciler;

/* Serves /dashboard (JSON; ?pretty for indented output) from r's snapshot. Both borrowed: they
 * must outlive the server's run. Returns 0 or a kube_err from kube_httpd_handle. */
int phx_dashboard_register(struct kube_httpd *h, struct phx_reconciler *r);

#endif
