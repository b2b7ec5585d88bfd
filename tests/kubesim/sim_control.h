/* The /sim/v1 control API for tests: script pods (readiness, crashes, OOM kills, phases), nodes
 * (down/up) and jobs (container outcomes), inject API faults, read the endpoints history, and
 * reset the cluster. JSON in and out; docs/kubesim-control-api.md documents every route.
 * Handlers run on the server's connection threads and take the controllers' lock. */
#ifndef SIM_CONTROL_H
#define SIM_CONTROL_H

struct sim_controllers;
struct sim_control;
struct sim_http_req;
struct sim_http_resp;

/* Registers the "/sim/v1/" route with the server of c. Returns 0 or KUBE_ENOMEM. */
int sim_control_new(struct sim_controllers *c, struct sim_control **out);
/* NULL is a no-op. The route must no longer be called (the server has stopped). */
void sim_control_free(struct sim_control *ctl);

/* The route handler (exposed for tests): answers one request. Always returns 0. */
int sim_control_handle(void *ud, const struct sim_http_req *req, struct sim_http_resp *resp);

#endif
