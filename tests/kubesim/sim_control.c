/* The /sim/v1 control API (see sim_control.h and docs/kubesim-control-api.md). */
#include "sim_control.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kube_error.h"
#include "kube_log.h"
#include "sim_controllers.h"
#include "sim_endpoints.h"
#include "sim_fault.h"
#include "sim_jobs.h"
#include "sim_kubelet.h"
#include "sim_rbac.h"
#include "sim_server.h"
#include "sim_store.h"

#define PREFIX "/sim/v1/"
#define MAX_SEGS 8

struct sim_control {
	struct sim_controllers *c;
};

int sim_control_new(struct sim_controllers *c, struct sim_control **out)
{
	struct sim_control *ctl = calloc(1, sizeof(*ctl));
	int rc;

	*out = NULL;
	if (!ctl)
		return KUBE_ENOMEM;
	ctl->c = c;
	rc = sim_server_add_route(sim_ctl_server(c), PREFIX, sim_control_handle, ctl);
	if (rc != 0) {
		free(ctl);
		return rc;
	}
	*out = ctl;
	return 0;
}

void sim_control_free(struct sim_control *ctl)
{
	free(ctl);
}

static void reply(struct sim_http_resp *resp, int status, cJSON *body)
{
	resp->status = status;
	resp->body = body ? cJSON_PrintUnformatted(body) : strdup("{}");
	resp->content_type = "application/json";
	cJSON_Delete(body);
}

static void fail(struct sim_http_resp *resp, int status, const char *msg)
{
	cJSON *o = cJSON_CreateObject();

	sim_j_set_str(o, "error", msg);
	sim_j_set_num(o, "code", status);
	reply(resp, status, o);
}

static int http_of(int err)
{
	switch (err) {
	case KUBE_ENOTFOUND:
		return 404;
	case KUBE_EINVAL:
		return 400;
	case KUBE_ENOMEM:
		return 500;
	default:
		return err < 0 ? 500 : 200;
	}
}

static cJSON *ok_body(struct sim_controllers *c)
{
	cJSON *o = cJSON_CreateObject();
	char ts[40];

	sim_j_set_bool(o, "ok", 1);
	sim_j_set_num(o, "monoMs", (double)sim_ctl_now_ms(c));
	sim_ctl_time_format(sim_ctl_wall_ms(c), 3, ts, sizeof(ts));
	sim_j_set_str(o, "time", ts);
	return o;
}

/* Splits the path after the prefix into at most MAX_SEGS segments (in buf). */
static int split(const char *path, char *buf, size_t len, char **segs)
{
	int n = 0;
	char *p, *save = NULL;

	snprintf(buf, len, "%s", path + strlen(PREFIX));
	for (p = strtok_r(buf, "/", &save); p && n < MAX_SEGS; p = strtok_r(NULL, "/", &save))
		segs[n++] = p;
	return n;
}

static int64_t query_int(const struct sim_http_req *req, const char *key, int64_t def)
{
	const char *v = sim_http_query(req, key);

	return v && *v ? strtoll(v, NULL, 10) : def;
}

/* A pod's current status and identity, after the operation settled (from the store: the
 * controllers' cache keeps no containerStatuses). */
static cJSON *pod_body(struct sim_controllers *c, const char *ns, const char *name)
{
	cJSON *pod = NULL, *status = NULL;
	cJSON *o = ok_body(c);

	sim_j_set_str(o, "namespace", ns);
	sim_j_set_str(o, "name", name);
	if (sim_store_get(sim_ctl_store(c), "", "pods", ns, name, &pod, &status) == 200) {
		sim_j_set_str(o, "uid", sim_j_str(pod, "metadata.uid"));
		if (sim_j_at(pod, "status"))
			sim_j_set(o, "status", cJSON_Duplicate(sim_j_at(pod, "status"), 1));
	}
	cJSON_Delete(pod);
	cJSON_Delete(status);
	return o;
}

/* body.signal: a number or a name ("KILL", "SIGTERM", ...); -1 if neither. */
static int signal_of(const cJSON *body)
{
	static const struct {
		const char *name;
		int sig;
	} names[] = {{"HUP", 1}, {"INT", 2}, {"QUIT", 3}, {"KILL", 9}, {"USR1", 10},
		     {"USR2", 12}, {"TERM", 15}, {"CONT", 18}, {"STOP", 19}};
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "signal");
	const char *s;
	size_t i;

	if (cJSON_IsNumber(v))
		return (int)v->valuedouble;
	if (!cJSON_IsString(v))
		return -1;
	s = v->valuestring;
	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i].name) == 0)
			return names[i].sig;
	}
	return atoi(s) > 0 ? atoi(s) : -1;
}

static void do_pod(struct sim_controllers *c, const struct sim_http_req *req, const cJSON *body,
		   char **segs, int n, struct sim_http_resp *resp)
{
	const char *ns, *name, *op, *ctr;
	int rc;

	if (n != 4 || strcmp(req->method, "POST") != 0) {
		fail(resp, 404, "expected POST /sim/v1/pods/{namespace}/{name}/{operation}");
		return;
	}
	ns = segs[1];
	name = segs[2];
	op = segs[3];
	ctr = sim_j_str(body, "container");
	sim_ctl_lock(c);
	sim_ctl_drain_locked(c); /* a pod created just before must be known */
	if (strcmp(op, "fail-readiness") == 0) {
		rc = sim_kubelet_fail_readiness(c, ns, name, 1);
	} else if (strcmp(op, "restore-readiness") == 0) {
		rc = sim_kubelet_fail_readiness(c, ns, name, 0);
	} else if (strcmp(op, "restore") == 0) {
		rc = sim_kubelet_restore(c, ns, name);
	} else if (strcmp(op, "crash") == 0 || strcmp(op, "oom") == 0) {
		rc = sim_kubelet_kill(c, ns, name, ctr, strcmp(op, "oom") == 0,
				      (int)sim_j_int(body, "exitCode", 1), sim_j_bool(body, "stay", 0),
				      sim_j_int(body, "restartDelayMs", 200));
	} else if (strcmp(op, "signal") == 0) {
		rc = sim_kubelet_signal(c, ns, name, ctr, signal_of(body));
	} else if (strcmp(op, "freeze") == 0 || strcmp(op, "thaw") == 0) {
		rc = sim_kubelet_freeze(c, ns, name, strcmp(op, "freeze") == 0);
	} else if (strcmp(op, "block-probes") == 0 || strcmp(op, "unblock-probes") == 0) {
		rc = sim_kubelet_block_probes(c, ns, name, ctr, strcmp(op, "block-probes") == 0);
	} else if (strcmp(op, "phase") == 0) {
		rc = sim_kubelet_set_phase(c, ns, name, sim_j_str(body, "phase"),
					   sim_j_str(body, "reason"), sim_j_str(body, "message"));
	} else {
		sim_ctl_unlock(c);
		fail(resp, 404, "unknown pod operation");
		return;
	}
	if (rc != 0) {
		sim_ctl_unlock(c);
		fail(resp, http_of(rc), rc == KUBE_ENOTFOUND ? "pod not found (or not known to the kubelet)"
							     : "operation not possible in the pod's state");
		return;
	}
	sim_ctl_drain_locked(c);
	reply(resp, 200, pod_body(c, ns, name));
	sim_ctl_unlock(c);
}

static void do_nodes(struct sim_controllers *c, const struct sim_http_req *req, char **segs, int n,
		     struct sim_http_resp *resp)
{
	int rc;

	if (n == 1 && strcmp(req->method, "GET") == 0) {
		cJSON *o = ok_body(c);

		sim_ctl_lock(c);
		sim_j_set(o, "nodes", sim_kubelet_nodes_json(c));
		sim_ctl_unlock(c);
		reply(resp, 200, o);
		return;
	}
	if (n != 3 || strcmp(req->method, "POST") != 0 ||
	    (strcmp(segs[2], "down") != 0 && strcmp(segs[2], "up") != 0)) {
		fail(resp, 404, "expected POST /sim/v1/nodes/{name}/down|up");
		return;
	}
	sim_ctl_lock(c);
	sim_ctl_drain_locked(c);
	rc = sim_kubelet_node_set_down(c, segs[1], strcmp(segs[2], "down") == 0);
	if (rc == 0)
		sim_ctl_drain_locked(c);
	sim_ctl_unlock(c);
	if (rc != 0) {
		fail(resp, http_of(rc), "node not found");
		return;
	}
	reply(resp, 200, ok_body(c));
}

static void do_jobs(struct sim_controllers *c, const struct sim_http_req *req, const cJSON *body,
		    char **segs, int n, struct sim_http_resp *resp)
{
	int rc;

	if (n == 2 && strcmp(segs[1], "scripts") == 0 && strcmp(req->method, "GET") == 0) {
		cJSON *o = ok_body(c);

		sim_ctl_lock(c);
		sim_j_set(o, "scripts", sim_jobs_scripts_json(c));
		sim_ctl_unlock(c);
		reply(resp, 200, o);
		return;
	}
	if (n == 2 && strcmp(segs[1], "scripts") == 0 && strcmp(req->method, "DELETE") == 0) {
		sim_ctl_lock(c);
		sim_jobs_scripts_clear(c);
		sim_ctl_unlock(c);
		reply(resp, 200, ok_body(c));
		return;
	}
	if (n != 2 || strcmp(segs[1], "script") != 0 || strcmp(req->method, "POST") != 0) {
		fail(resp, 404, "expected POST /sim/v1/jobs/script, GET|DELETE /sim/v1/jobs/scripts");
		return;
	}
	if (!cJSON_IsObject(body)) {
		fail(resp, 400, "body must be a JSON object");
		return;
	}
	sim_ctl_lock(c);
	rc = sim_jobs_script(c, sim_j_str(body, "namespace"), sim_j_str(body, "job"),
			     sim_j_str(body, "selector"), body);
	sim_ctl_unlock(c);
	if (rc != 0) {
		fail(resp, http_of(rc), "bad selector");
		return;
	}
	reply(resp, 200, ok_body(c));
}

/* "qps" of a rate-limit fault: a number (fractions allowed), default 50. */
static double qps_of(const cJSON *body)
{
	const cJSON *q = cJSON_GetObjectItemCaseSensitive(body, "qps");
	return cJSON_IsNumber(q) ? q->valuedouble : 50.0;
}

static void do_faults(struct sim_controllers *c, const struct sim_http_req *req, const cJSON *body,
		      char **segs, int n, struct sim_http_resp *resp)
{
	struct sim_fault *f = sim_server_fault(sim_ctl_server(c));
	struct sim_store *s = sim_ctl_store(c);
	const char *op = n >= 2 ? segs[1] : "";
	int rc = 0;

	if (n == 1 && strcmp(req->method, "GET") == 0) {
		cJSON *o = ok_body(c);

		sim_j_set(o, "rules", sim_fault_rules(f));
		sim_j_set(o, "requests", sim_fault_requests(f));
		reply(resp, 200, o);
		return;
	}
	if (n == 1 && strcmp(req->method, "DELETE") == 0) {
		sim_fault_clear(f);
		reply(resp, 200, ok_body(c));
		return;
	}
	if (n != 2 || strcmp(req->method, "POST") != 0) {
		fail(resp, 404, "expected POST /sim/v1/faults/"
				"{errors|latency|rate-limit|stall-watches|close-watches|compact}");
		return;
	}
	if (strcmp(op, "errors") == 0) {
		rc = sim_fault_add_error(f, sim_j_str(body, "method"), sim_j_str(body, "path"),
					 (int)sim_j_int(body, "status", 500),
					 (int)sim_j_int(body, "count", 1));
	} else if (strcmp(op, "latency") == 0) {
		rc = sim_fault_add_latency(f, sim_j_str(body, "method"), sim_j_str(body, "path"),
					   (int)sim_j_int(body, "ms", 100));
	} else if (strcmp(op, "rate-limit") == 0) {
		rc = sim_fault_add_rate_limit(f, sim_j_str(body, "method"), sim_j_str(body, "path"),
					      qps_of(body),
					      (int)sim_j_int(body, "burst", 100),
					      (int)sim_j_int(body, "retryAfterSeconds", 1));
	} else if (strcmp(op, "stall-watches") == 0) {
		rc = sim_fault_stall_watches(f, sim_j_str(body, "path"));
	} else if (strcmp(op, "close-watches") == 0) {
		sim_store_close_watches(s);
	} else if (strcmp(op, "compact") == 0) {
		sim_store_compact(s);
	} else {
		fail(resp, 404, "unknown fault");
		return;
	}
	if (rc != 0) {
		fail(resp, http_of(rc), "invalid fault (status must be 400..599, ms >= 0)");
		return;
	}
	reply(resp, 200, ok_body(c));
}

static void do_endpoints(struct sim_controllers *c, const struct sim_http_req *req, char **segs,
			 int n, struct sim_http_resp *resp)
{
	int64_t since = query_int(req, "sinceMs", -1);

	/* Epoch milliseconds (`date +%s%3N`) are accepted too: map them onto the monotonic clock. */
	if (since > INT64_C(1000000000000))
		since -= sim_ctl_wall_ms(c) - sim_ctl_now_ms(c);
	int is_reset = (n >= 2 && strcmp(segs[n - 1], "reset") == 0 && strcmp(req->method, "POST") == 0) ||
		       strcmp(req->method, "DELETE") == 0;

	sim_ctl_lock(c);
	sim_ctl_drain_locked(c);
	if (n == 2 && strcmp(segs[1], "history") == 0 && !is_reset) {
		cJSON *o = ok_body(c);

		sim_j_set(o, "services", sim_endpoints_history_all(c, since));
		reply(resp, 200, o);
	} else if (n >= 2 && strcmp(segs[1], "history") == 0 && is_reset) {
		cJSON *o = ok_body(c);

		sim_j_set_num(o, "reset", sim_endpoints_history_reset(c, NULL, NULL));
		reply(resp, 200, o);
	} else if (n >= 4 && strcmp(segs[3], "history") == 0 && is_reset) {
		cJSON *o = ok_body(c);

		sim_j_set_num(o, "reset", sim_endpoints_history_reset(c, segs[1], segs[2]));
		reply(resp, 200, o);
	} else if (n == 4 && strcmp(segs[3], "history") == 0) {
		cJSON *h = sim_endpoints_history_get(c, segs[1], segs[2], since);

		if (h)
			reply(resp, 200, h);
		else
			fail(resp, 404, "no history for that service (never seen with a selector)");
	} else {
		fail(resp, 404, "expected GET /sim/v1/endpoints/{namespace}/{service}/history");
	}
	sim_ctl_unlock(c);
}

static void do_config(struct sim_controllers *c, const struct sim_http_req *req, const cJSON *body,
		      struct sim_http_resp *resp)
{
	cJSON *o;

	sim_ctl_lock(c);
	if (strcmp(req->method, "GET") != 0) {
		if (sim_j_at(body, "podReadyDelayMs"))
			sim_kubelet_set_ready_delay(c, sim_j_int(body, "podReadyDelayMs", 0));
		if (sim_j_at(body, "graceCapMs"))
			sim_kubelet_set_grace_cap(c, sim_j_int(body, "graceCapMs", 1000));
	}
	o = ok_body(c);
	sim_j_set_num(o, "podReadyDelayMs", (double)sim_kubelet_ready_delay(c));
	sim_j_set_num(o, "graceCapMs", (double)sim_kubelet_grace_cap(c));
	sim_ctl_unlock(c);
	reply(resp, 200, o);
}

/* POST /sim/v1/tokens {"namespace":NS,"serviceAccount":NAME}: a bearer token that
 * authenticates as system:serviceaccount:NS:NAME (RBAC applies to it). */
static void do_tokens(struct sim_controllers *c, const struct sim_http_req *req, const cJSON *body,
		      int n, struct sim_http_resp *resp)
{
	char *token = NULL;
	int rc;

	if (n != 1 || strcmp(req->method, "POST") != 0) {
		fail(resp, 404, "expected POST /sim/v1/tokens");
		return;
	}
	rc = sim_rbac_tokens_mint(sim_server_tokens(sim_ctl_server(c)), sim_j_str(body, "namespace"),
				  sim_j_str(body, "serviceAccount"), &token);
	if (rc != 0) {
		fail(resp, http_of(rc), rc == KUBE_EINVAL ? "namespace and serviceAccount are required "
							    "(names without ':')"
							  : kube_strerror(rc));
		return;
	}
	cJSON *o = ok_body(c);

	sim_j_set_str(o, "token", token);
	sim_j_set_str(o, "namespace", sim_j_str(body, "namespace"));
	sim_j_set_str(o, "serviceAccount", sim_j_str(body, "serviceAccount"));
	free(token);
	reply(resp, 201, o);
}

int sim_control_handle(void *ud, const struct sim_http_req *req, struct sim_http_resp *resp)
{
	struct sim_control *ctl = ud;
	struct sim_controllers *c = ctl->c;
	char buf[1024];
	char *segs[MAX_SEGS];
	cJSON *body = NULL;
	int n;

	if (strncmp(req->path, PREFIX, strlen(PREFIX)) != 0) {
		fail(resp, 404, "not a control path");
		return 0;
	}
	n = split(req->path, buf, sizeof(buf), segs);
	if (req->body && req->body_len > 0) {
		body = cJSON_ParseWithLength(req->body, req->body_len);
		if (!body) {
			fail(resp, 400, "body is not valid JSON");
			return 0;
		}
	}
	if (n == 0) {
		fail(resp, 404, "see docs/kubesim-control-api.md");
	} else if (strcmp(segs[0], "pods") == 0) {
		do_pod(c, req, body, segs, n, resp);
	} else if (strcmp(segs[0], "nodes") == 0) {
		do_nodes(c, req, segs, n, resp);
	} else if (strcmp(segs[0], "jobs") == 0) {
		do_jobs(c, req, body, segs, n, resp);
	} else if (strcmp(segs[0], "faults") == 0) {
		do_faults(c, req, body, segs, n, resp);
	} else if (strcmp(segs[0], "endpoints") == 0) {
		do_endpoints(c, req, segs, n, resp);
	} else if (strcmp(segs[0], "tokens") == 0) {
		do_tokens(c, req, body, n, resp);
	} else if (strcmp(segs[0], "config") == 0) {
		do_config(c, req, body, resp);
	} else if (strcmp(segs[0], "time") == 0 && n == 1) {
		reply(resp, 200, ok_body(c));
	} else if (strcmp(segs[0], "settle") == 0 && n == 1) {
		/* Everything queued so far has been handled when this answers. */
		sim_ctl_lock(c);
		sim_ctl_drain_locked(c);
		sim_ctl_unlock(c);
		reply(resp, 200, ok_body(c));
	} else if (strcmp(segs[0], "reset") == 0 && n == 1 && strcmp(req->method, "POST") == 0) {
		int rc;

		sim_fault_clear(sim_server_fault(sim_ctl_server(c)));
		sim_rbac_tokens_clear(sim_server_tokens(sim_ctl_server(c)));
		sim_ctl_lock(c);
		rc = sim_ctl_reset_locked(c);
		sim_ctl_unlock(c);
		if (rc != 0)
			fail(resp, 500, kube_strerror(rc));
		else
			reply(resp, 200, ok_body(c));
	} else {
		fail(resp, 404, "unknown control path; see docs/kubesim-control-api.md");
	}
	cJSON_Delete(body);
	return 0;
}
