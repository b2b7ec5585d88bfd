/* The simulated nodes and kubelet (see sim_kubelet.h): a pure pod timeline and status builder,
 * and the glue that binds pods, runs the timeline on the loop's timers and applies faults. */
#include "sim_kubelet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uthash.h>

#include "kube_error.h"
#include "sim_controllers.h"
#include "sim_jobs.h"
#include "sim_rbac.h"
#include "sim_runtime.h"
#include "sim_server.h"
#include "sim_store.h"

/* ---- Pure pod run ---- */

static const char *const phase_names[] = {"Pending", "Running", "Succeeded", "Failed", "Unknown"};

const char *sim_pod_phase_name(enum sim_pod_phase p)
{
	if ((int)p < 0 || p > SIM_POD_UNKNOWN)
		return "Unknown";
	return phase_names[p];
}

int sim_pod_phase_parse(const char *s)
{
	int i;

	if (!s)
		return -1;
	for (i = 0; i <= SIM_POD_UNKNOWN; i++) {
		if (strcmp(s, phase_names[i]) == 0)
			return i;
	}
	return -1;
}

static int add_ctrs(struct sim_pod_run *run, const cJSON *list, int init)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, list) {
		struct sim_ctr *x = &run->ctrs[run->n_ctrs];
		const char *name = sim_j_str(c, "name");
		const char *image = sim_j_str(c, "image");

		memset(x, 0, sizeof(*x));
		x->name = strdup(name ? name : "main");
		x->image = strdup(image ? image : "busybox");
		if (!x->name || !x->image) {
			free(x->name);
			free(x->image);
			return -1;
		}
		x->init = init;
		x->has_readiness_probe = sim_j_at(c, "readinessProbe") != NULL;
		x->state = SIM_CTR_WAITING;
		snprintf(x->waiting_reason, sizeof(x->waiting_reason), "%s",
			 init ? "PodInitializing" : "ContainerCreating");
		run->n_ctrs++;
	}
	return 0;
}

struct sim_pod_run *sim_pod_run_new(const cJSON *pod)
{
	struct sim_pod_run *run = NULL;
	const cJSON *init = sim_j_at(pod, "spec.initContainers");
	const cJSON *main = sim_j_at(pod, "spec.containers");
	const char *rp = sim_j_str(pod, "spec.restartPolicy");
	const char *uid = sim_j_str(pod, "metadata.uid");
	int n = cJSON_GetArraySize(init) + cJSON_GetArraySize(main);
	int i;

	if (cJSON_GetArraySize(main) <= 0)
		return NULL;
	run = calloc(1, sizeof(*run));
	if (!run)
		goto fail;
	run->ctrs = calloc((size_t)n, sizeof(*run->ctrs));
	run->uid = strdup(uid ? uid : "");
	run->restart_policy = strdup(rp ? rp : "Always");
	if (!run->ctrs || !run->uid || !run->restart_policy)
		goto fail;
	if (add_ctrs(run, init, 1) < 0)
		goto fail;
	run->n_init = run->n_ctrs;
	if (add_ctrs(run, main, 0) < 0)
		goto fail;
	run->phase = SIM_POD_PENDING;
	for (i = 0; i < SIM_COND_COUNT; i++)
		run->cond_status[i] = -1;
	return run;
fail:
	sim_pod_run_free(run);
	return NULL;
}

void sim_pod_run_free(struct sim_pod_run *run)
{
	size_t i;

	if (!run)
		return;
	for (i = 0; i < run->n_ctrs; i++) {
		free(run->ctrs[i].name);
		free(run->ctrs[i].image);
		free(run->ctrs[i].rt_msg);
		free(run->ctrs[i].rt_last_msg);
	}
	free(run->ctrs);
	free(run->uid);
	free(run->restart_policy);
	free(run->node);
	free(run);
}

struct sim_ctr *sim_pod_run_ctr(struct sim_pod_run *run, const char *name)
{
	size_t i;

	if (!name)
		return run->n_ctrs > run->n_init ? &run->ctrs[run->n_init] : NULL;
	for (i = 0; i < run->n_ctrs; i++) {
		if (strcmp(run->ctrs[i].name, name) == 0)
			return &run->ctrs[i];
	}
	return NULL;
}

static int terminal(enum sim_pod_phase p)
{
	return p == SIM_POD_SUCCEEDED || p == SIM_POD_FAILED;
}

static void ctr_run(struct sim_ctr *x, int64_t now)
{
	x->state = SIM_CTR_RUNNING;
	x->started_ms = now;
	x->restart_due_ms = 0;
	x->waiting_reason[0] = '\0';
	x->id_seq++;
}

static void ctr_terminate(struct sim_ctr *x, int exit_code, const char *reason, const char *message,
			  int64_t now)
{
	x->state = SIM_CTR_TERMINATED;
	x->term.exit_code = exit_code;
	x->term.signal = exit_code == 137 ? 9 : 0;
	snprintf(x->term.reason, sizeof(x->term.reason), "%s",
		 reason && *reason ? reason : (exit_code == 0 ? "Completed" : "Error"));
	snprintf(x->term.message, sizeof(x->term.message), "%s", message ? message : "");
	x->term.started_ms = x->started_ms;
	x->term.finished_ms = now;
}

/* Whether a container that ended with this code is restarted in place. */
static int restarts(const struct sim_pod_run *run, int exit_code)
{
	if (strcmp(run->restart_policy, "Always") == 0)
		return 1;
	return strcmp(run->restart_policy, "OnFailure") == 0 && exit_code != 0;
}

/* After a container ended for good: the pod's terminal phase once no main container is left. */
static void settle_phase(struct sim_pod_run *run, int64_t now)
{
	size_t i;
	int failed = 0;

	for (i = run->n_init; i < run->n_ctrs; i++) {
		const struct sim_ctr *x = &run->ctrs[i];

		if (x->state != SIM_CTR_TERMINATED)
			return;
		if (x->term.exit_code != 0)
			failed = 1;
	}
	(void)now;
	run->phase = failed ? SIM_POD_FAILED : SIM_POD_SUCCEEDED;
}

/* An init container failed for good: main containers never start, the pod fails. */
static void fail_init(struct sim_pod_run *run)
{
	run->phase = SIM_POD_FAILED;
}

void sim_pod_run_start(struct sim_pod_run *run, int64_t now)
{
	size_t i;

	if (run->started || terminal(run->phase))
		return;
	run->started = 1;
	run->start_ms = now;
	for (i = 0; i < run->n_ctrs; i++) {
		if (run->ctrs[i].plan.set)
			run->sequential = 1;
	}
	run->cursor = 0;
	if (run->n_init > 0) {
		ctr_run(&run->ctrs[0], now);
	} else {
		run->phase = SIM_POD_RUNNING;
		if (run->sequential) {
			ctr_run(&run->ctrs[0], now);
		} else {
			for (i = 0; i < run->n_ctrs; i++)
				ctr_run(&run->ctrs[i], now);
		}
	}
	sim_pod_run_advance(run, now);
}

/* Moves the cursor past a container that completed; starts what comes next. */
static void next_after(struct sim_pod_run *run, size_t done, int64_t now)
{
	size_t i;

	run->cursor = done + 1;
	if (run->cursor < run->n_init) {
		ctr_run(&run->ctrs[run->cursor], now);
		return;
	}
	if (run->cursor == run->n_init) {
		run->phase = SIM_POD_RUNNING;
		if (!run->sequential) {
			for (i = run->n_init; i < run->n_ctrs; i++)
				ctr_run(&run->ctrs[i], now);
			return;
		}
	}
	if (run->cursor < run->n_ctrs)
		ctr_run(&run->ctrs[run->cursor], now);
	else
		settle_phase(run, now);
}

/* The planned end of a running container, or -1. Init containers without a plan end at once. */
static int64_t planned_end(const struct sim_pod_run *run, const struct sim_ctr *x)
{
	if (x->state != SIM_CTR_RUNNING)
		return -1;
	if (x->plan.set)
		return x->started_ms + x->plan.duration_ms;
	if (x->init)
		return x->started_ms;
	(void)run;
	return -1;
}

int64_t sim_pod_run_advance(struct sim_pod_run *run, int64_t now)
{
	int64_t next = -1;
	int progressed = 1;
	size_t i;

	if (!run->started || run->real)
		return -1; /* --run-pods: the processes decide */
	while (progressed && !terminal(run->phase)) {
		progressed = 0;
		next = -1;
		for (i = 0; i < run->n_ctrs; i++) {
			struct sim_ctr *x = &run->ctrs[i];
			int64_t due = -1;

			if (x->state == SIM_CTR_WAITING && x->restart_due_ms > 0 && !x->stay_down) {
				due = x->restart_due_ms;
				if (due <= now) {
					ctr_run(x, due);
					progressed = 1;
					run->steps++;
					break;
				}
			} else if (x->state == SIM_CTR_RUNNING) {
				due = planned_end(run, x);
				if (due >= 0 && due <= now) {
					int code = x->plan.set ? x->plan.exit_code : 0;

					ctr_terminate(x, code, x->plan.set ? x->plan.reason : NULL,
						      x->plan.set ? x->plan.message : NULL, due);
					if (code != 0 && restarts(run, code)) {
						/* A scripted failure under OnFailure: the
						 * kubelet restarts it in place. */
						x->last = x->term;
						x->has_last = 1;
						x->restart_count++;
						/* The retry succeeds after the same time. */
						x->plan.exit_code = 0;
						x->plan.reason[0] = '\0';
						x->plan.message[0] = '\0';
						ctr_run(x, due);
					} else if (code != 0 && x->init) {
						fail_init(run);
					} else if (run->sequential || x->init) {
						next_after(run, i, due);
					} else {
						settle_phase(run, due);
					}
					progressed = 1;
					run->steps++;
					break;
				}
			}
			if (due >= 0 && (next < 0 || due < next))
				next = due;
		}
	}
	return terminal(run->phase) ? -1 : next;
}

int sim_pod_run_kill(struct sim_pod_run *run, const char *ctr, int exit_code, const char *reason,
		     int64_t now, int64_t restart_delay_ms, int stay)
{
	struct sim_ctr *x = sim_pod_run_ctr(run, ctr);

	if (!x || terminal(run->phase) || !run->started)
		return -1;
	if (x->state == SIM_CTR_RUNNING)
		ctr_terminate(x, exit_code, reason, NULL, now);
	else if (x->state == SIM_CTR_WAITING)
		ctr_terminate(x, exit_code, reason, NULL, now); /* the restarted one dies again */
	if (restarts(run, exit_code)) {
		x->last = x->term;
		x->has_last = 1;
		x->restart_count++;
		x->state = SIM_CTR_WAITING;
		snprintf(x->waiting_reason, sizeof(x->waiting_reason), "%s", "CrashLoopBackOff");
		x->stay_down = stay;
		x->restart_due_ms = now + (restart_delay_ms > 0 ? restart_delay_ms : 1);
		return 0;
	}
	if (x->init)
		fail_init(run);
	else if (run->sequential && exit_code == 0)
		next_after(run, (size_t)(x - run->ctrs), now);
	else if (run->sequential)
		run->phase = SIM_POD_FAILED;
	else
		settle_phase(run, now);
	return 0;
}

void sim_pod_run_restore(struct sim_pod_run *run, int64_t now)
{
	size_t i;

	run->readiness_failed = 0;
	if (terminal(run->phase))
		return;
	for (i = 0; i < run->n_ctrs; i++) {
		struct sim_ctr *x = &run->ctrs[i];

		if (x->state == SIM_CTR_WAITING && x->stay_down) {
			x->stay_down = 0;
			ctr_run(x, now);
		}
	}
}

void sim_pod_run_set_phase(struct sim_pod_run *run, enum sim_pod_phase phase, const char *reason,
			   const char *message, int64_t now)
{
	size_t i;

	snprintf(run->reason, sizeof(run->reason), "%s", reason ? reason : "");
	snprintf(run->message, sizeof(run->message), "%s", message ? message : "");
	if (terminal(phase)) {
		int code = phase == SIM_POD_SUCCEEDED ? 0 : 1;

		for (i = 0; i < run->n_ctrs; i++) {
			struct sim_ctr *x = &run->ctrs[i];

			if (x->state != SIM_CTR_TERMINATED) {
				if (!run->started)
					x->started_ms = now;
				ctr_terminate(x, x->init ? 0 : code, NULL, NULL, now);
			}
		}
		if (!run->started) {
			run->started = 1;
			run->start_ms = now;
		}
	}
	run->phase = phase;
}

static int ctr_ready(const struct sim_pod_run *run, const struct sim_ctr *x)
{
	return x->state == SIM_CTR_RUNNING && !run->readiness_failed && !run->node_down &&
	       !terminal(run->phase) && (!run->real || x->rt_ready);
}

int sim_pod_run_ready(const struct sim_pod_run *run)
{
	size_t i;

	if (!run->started || run->phase != SIM_POD_RUNNING || run->node_down)
		return 0;
	for (i = run->n_init; i < run->n_ctrs; i++) {
		if (!ctr_ready(run, &run->ctrs[i]))
			return 0;
	}
	return 1;
}

static cJSON *term_json(const struct sim_ctr_term *t, const char *cid, const char *long_msg)
{
	cJSON *o = cJSON_CreateObject();
	char ts[40];

	sim_j_set_num(o, "exitCode", t->exit_code);
	if (t->signal)
		sim_j_set_num(o, "signal", t->signal);
	sim_j_set_str(o, "reason", t->reason);
	if (long_msg)
		sim_j_set_str(o, "message", long_msg);
	else if (t->message[0])
		sim_j_set_str(o, "message", t->message);
	sim_ctl_time_format(t->started_ms, 0, ts, sizeof(ts));
	sim_j_set_str(o, "startedAt", ts);
	sim_ctl_time_format(t->finished_ms, 0, ts, sizeof(ts));
	sim_j_set_str(o, "finishedAt", ts);
	if (cid)
		sim_j_set_str(o, "containerID", cid);
	return o;
}

static cJSON *ctr_status_json(const struct sim_pod_run *run, const struct sim_ctr *x)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *state = cJSON_CreateObject();
	char cid[96], ts[40];

	snprintf(cid, sizeof(cid), "containerd://%.24s%08x%04x", run->uid,
		 (unsigned)(x - run->ctrs), (unsigned)x->id_seq & 0xffff);
	sim_j_set_str(o, "name", x->name);
	sim_j_set_str(o, "image", x->image);
	{
		char iid[300];

		snprintf(iid, sizeof(iid), "kubesim.local/%s@sha256:%064x", x->image, 0);
		sim_j_set_str(o, "imageID", iid);
	}
	if (x->state == SIM_CTR_RUNNING) {
		cJSON *r = cJSON_CreateObject();

		sim_ctl_time_format(x->started_ms, 0, ts, sizeof(ts));
		sim_j_set_str(r, "startedAt", ts);
		sim_j_set(state, "running", r);
	} else if (x->state == SIM_CTR_TERMINATED) {
		sim_j_set(state, "terminated", term_json(&x->term, cid, x->rt_msg));
	} else {
		cJSON *w = cJSON_CreateObject();

		sim_j_set_str(w, "reason", x->waiting_reason[0] ? x->waiting_reason : "ContainerCreating");
		if (x->rt_wait_msg[0]) {
			sim_j_set_str(w, "message", x->rt_wait_msg);
		} else if (strcmp(x->waiting_reason, "CrashLoopBackOff") == 0) {
			char msg[300];

			snprintf(msg, sizeof(msg), "back-off 10s restarting failed container=%s", x->name);
			sim_j_set_str(w, "message", msg);
		}
		sim_j_set(state, "waiting", w);
	}
	sim_j_set(o, "state", state);
	{
		cJSON *last = cJSON_CreateObject();

		if (x->has_last)
			sim_j_set(last, "terminated", term_json(&x->last, NULL, x->rt_last_msg));
		sim_j_set(o, "lastState", last);
	}
	sim_j_set_bool(o, "ready", x->init ? x->state == SIM_CTR_TERMINATED && x->term.exit_code == 0
					      : ctr_ready(run, x));
	sim_j_set_bool(o, "started", x->state == SIM_CTR_RUNNING && (!run->real || x->rt_started));
	sim_j_set_num(o, "restartCount", x->restart_count);
	if (x->state != SIM_CTR_WAITING || x->has_last)
		sim_j_set_str(o, "containerID", cid);
	return o;
}

static const char *const cond_names[SIM_COND_COUNT] = {
	"PodScheduled", "PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready",
};

/* Names of the containers in [from, to) not done (init) or not ready, as "[a b]". */
static void unready_list(const struct sim_pod_run *run, size_t from, size_t to, int init, char *buf,
			 size_t len)
{
	size_t i, off = 0;

	off += (size_t)snprintf(buf + off, len - off, "[");
	for (i = from; i < to && off < len; i++) {
		const struct sim_ctr *x = &run->ctrs[i];
		int ok = init ? (x->state == SIM_CTR_TERMINATED && x->term.exit_code == 0)
			      : ctr_ready(run, x);

		if (!ok)
			off += (size_t)snprintf(buf + off, len - off, "%s%s", off > 1 ? " " : "", x->name);
	}
	if (off < len)
		snprintf(buf + off, len - off, "]");
}

cJSON *sim_pod_status_build(struct sim_pod_run *run, const char *qos_class, int64_t now)
{
	cJSON *st = cJSON_CreateObject();
	cJSON *conds, *list;
	int want[SIM_COND_COUNT];
	char reason[SIM_COND_COUNT][32];
	char msg[SIM_COND_COUNT][300];
	char ts[40];
	size_t i;
	int inited = 1, all_ready = 1;

	if (!st)
		return NULL;
	memset(reason, 0, sizeof(reason));
	memset(msg, 0, sizeof(msg));
	for (i = 0; i < run->n_init; i++) {
		if (!(run->ctrs[i].state == SIM_CTR_TERMINATED && run->ctrs[i].term.exit_code == 0))
			inited = 0;
	}
	for (i = run->n_init; i < run->n_ctrs; i++) {
		if (!ctr_ready(run, &run->ctrs[i]))
			all_ready = 0;
	}
	want[SIM_COND_SCHEDULED] = run->node != NULL;
	want[SIM_COND_READY_TO_START] = run->started && !terminal(run->phase) && !run->node_down;
	want[SIM_COND_INITIALIZED] = inited;
	want[SIM_COND_CONTAINERS_READY] = run->started && all_ready;
	want[SIM_COND_READY] = sim_pod_run_ready(run);
	if (!want[SIM_COND_INITIALIZED]) {
		char names[250];

		unready_list(run, 0, run->n_init, 1, names, sizeof(names));
		snprintf(reason[SIM_COND_INITIALIZED], 32, "ContainersNotInitialized");
		snprintf(msg[SIM_COND_INITIALIZED], 300, "containers with incomplete status: %s", names);
	}
	for (i = SIM_COND_CONTAINERS_READY; i <= SIM_COND_READY; i++) {
		char names[250];

		if (want[i])
			continue;
		if (run->phase == SIM_POD_SUCCEEDED) {
			snprintf(reason[i], 32, "PodCompleted");
			continue;
		}
		if (i == SIM_COND_READY && run->node_down) {
			snprintf(reason[i], 32, "NodeLost");
			snprintf(msg[i], 300, "Node %s which was running the pod is unresponsive",
				 run->node ? run->node : "");
			continue;
		}
		unready_list(run, run->n_init, run->n_ctrs, 0, names, sizeof(names));
		snprintf(reason[i], 32, "ContainersNotReady");
		snprintf(msg[i], 300, "containers with unready status: %s", names);
	}
	conds = cJSON_AddArrayToObject(st, "conditions");
	for (i = 0; i < SIM_COND_COUNT; i++) {
		cJSON *c;

		if (i == SIM_COND_SCHEDULED ? !want[i] : !run->node)
			continue; /* an unscheduled pod shows no other condition */
		if (run->cond_status[i] != want[i]) {
			run->cond_status[i] = want[i];
			run->cond_ltt[i] = now;
		}
		c = cJSON_CreateObject();
		sim_j_set_str(c, "type", cond_names[i]);
		sim_j_set_str(c, "status", want[i] ? "True" : "False");
		cJSON_AddNullToObject(c, "lastProbeTime");
		sim_ctl_time_format(run->cond_ltt[i], 0, ts, sizeof(ts));
		sim_j_set_str(c, "lastTransitionTime", ts);
		if (reason[i][0])
			sim_j_set_str(c, "reason", reason[i]);
		if (msg[i][0])
			sim_j_set_str(c, "message", msg[i]);
		cJSON_AddItemToArray(conds, c);
	}
	sim_j_set_str(st, "phase", sim_pod_phase_name(run->phase));
	if (run->reason[0])
		sim_j_set_str(st, "reason", run->reason);
	if (run->message[0])
		sim_j_set_str(st, "message", run->message);
	if (run->node && run->host_ip[0]) {
		cJSON *ips = cJSON_CreateArray(), *ip = cJSON_CreateObject();

		sim_j_set_str(st, "hostIP", run->host_ip);
		sim_j_set_str(ip, "ip", run->host_ip);
		cJSON_AddItemToArray(ips, ip);
		sim_j_set(st, "hostIPs", ips);
	}
	if (run->started && run->pod_ip[0]) {
		cJSON *ips = cJSON_CreateArray(), *ip = cJSON_CreateObject();

		sim_j_set_str(st, "podIP", run->pod_ip);
		sim_j_set_str(ip, "ip", run->pod_ip);
		cJSON_AddItemToArray(ips, ip);
		sim_j_set(st, "podIPs", ips);
	}
	if (run->started) {
		sim_ctl_time_format(run->start_ms, 0, ts, sizeof(ts));
		sim_j_set_str(st, "startTime", ts);
	}
	if (run->node) {
		if (run->n_init > 0) {
			list = cJSON_AddArrayToObject(st, "initContainerStatuses");
			for (i = 0; i < run->n_init; i++)
				cJSON_AddItemToArray(list, ctr_status_json(run, &run->ctrs[i]));
		}
		list = cJSON_AddArrayToObject(st, "containerStatuses");
		for (i = run->n_init; i < run->n_ctrs; i++)
			cJSON_AddItemToArray(list, ctr_status_json(run, &run->ctrs[i]));
	}
	if (qos_class)
		sim_j_set_str(st, "qosClass", qos_class);
	return st;
}

/* Whether resources.<kind> has cpu or memory set. */
static int has_res(const cJSON *ctr, const char *kind, const char *res)
{
	const cJSON *r = sim_j_at(ctr, "resources");

	r = r ? cJSON_GetObjectItemCaseSensitive(r, kind) : NULL;
	return r && cJSON_GetObjectItemCaseSensitive(r, res) != NULL;
}

static int same_res(const cJSON *ctr, const char *res)
{
	const cJSON *req = sim_j_at(ctr, "resources.requests");
	const cJSON *lim = sim_j_at(ctr, "resources.limits");
	const cJSON *a = req ? cJSON_GetObjectItemCaseSensitive(req, res) : NULL;
	const cJSON *b = lim ? cJSON_GetObjectItemCaseSensitive(lim, res) : NULL;
	char *sa, *sb;
	int eq;

	if (!b)
		return 0;
	if (!a)
		return 1; /* requests default to limits */
	sa = cJSON_PrintUnformatted(a);
	sb = cJSON_PrintUnformatted(b);
	eq = sa && sb && strcmp(sa, sb) == 0;
	free(sa);
	free(sb);
	return eq;
}

const char *sim_pod_qos_class(const cJSON *pod)
{
	const char *lists[2] = {"spec.containers", "spec.initContainers"};
	int any = 0, guaranteed = 1, l;

	for (l = 0; l < 2; l++) {
		const cJSON *c;

		cJSON_ArrayForEach(c, sim_j_at(pod, lists[l])) {
			if (has_res(c, "requests", "cpu") || has_res(c, "requests", "memory") ||
			    has_res(c, "limits", "cpu") || has_res(c, "limits", "memory"))
				any = 1;
			if (!same_res(c, "cpu") || !same_res(c, "memory"))
				guaranteed = 0;
		}
	}
	if (!any)
		return "BestEffort";
	return guaranteed ? "Guaranteed" : "Burstable";
}

/* ---- Glue: nodes, binding, timers, faults ---- */

struct knode {
	char name[64];
	char ip[24];
	int down;
	int pods;
};

struct kpod {
	UT_hash_handle hh;
	char *uid;
	char *ns, *name;
	char *owner;       /* uid of the first ownerReference, for spreading */
	struct sim_pod_run *run;
	const char *qos;   /* static string */
	int node;          /* index, -1 unbound */
	int ip;            /* index in the pod IP map, -1 none */
	int64_t timer_due; /* wall ms of the pending advance timer, 0 none */
	int started;       /* the start timer ran */
	int removing;      /* deletionTimestamp seen: removal scheduled or waiting for the node */
	int64_t remove_delay_ms;
	enum sim_pod_phase phase_before_down;
};

#define IP_SLOTS 65536

struct sim_kubelet {
	struct kpod *pods;
	struct knode *nodes;
	int n_nodes;
	int64_t ready_delay_ms;
	int64_t grace_cap_ms;
	unsigned rr;
	unsigned ip_next;
	unsigned char ipmap[IP_SLOTS / 8];
	struct sim_runtime *rt; /* --run-pods, else NULL */
};

static struct sim_kubelet *K(struct sim_controllers *c)
{
	return sim_ctl_kubelet(c);
}

int64_t sim_kubelet_ready_delay(struct sim_controllers *c)
{
	return K(c) ? K(c)->ready_delay_ms : 100;
}

int64_t sim_kubelet_grace_cap(struct sim_controllers *c)
{
	return K(c) ? K(c)->grace_cap_ms : 1000;
}

void sim_kubelet_set_grace_cap(struct sim_controllers *c, int64_t cap_ms)
{
	if (K(c))
		K(c)->grace_cap_ms = cap_ms < 0 ? 0 : cap_ms;
}

void sim_kubelet_set_ready_delay(struct sim_controllers *c, int64_t delay_ms)
{
	if (K(c))
		K(c)->ready_delay_ms = delay_ms < 0 ? 0 : delay_ms;
}

static int ip_alloc(struct sim_kubelet *k)
{
	unsigned i;

	for (i = 0; i < IP_SLOTS; i++) {
		unsigned x = (k->ip_next + i) % IP_SLOTS;
		unsigned last = x & 0xff;

		if (last < 2 || last == 255)
			continue;
		if (!(k->ipmap[x / 8] & (1u << (x % 8)))) {
			k->ipmap[x / 8] |= (unsigned char)(1u << (x % 8));
			k->ip_next = x + 1;
			return (int)x;
		}
	}
	return -1;
}

static void ip_release(struct sim_kubelet *k, int x)
{
	if (x >= 0 && x < IP_SLOTS)
		k->ipmap[x / 8] &= (unsigned char)~(1u << (x % 8));
}

static void kpod_free(struct sim_kubelet *k, struct kpod *kp)
{
	if (kp->node >= 0 && kp->node < k->n_nodes)
		k->nodes[kp->node].pods--;
	ip_release(k, kp->ip);
	if (k->rt)
		sim_runtime_pod_forget(k->rt, kp->uid);
	sim_pod_run_free(kp->run);
	free(kp->uid);
	free(kp->owner);
	free(kp->ns);
	free(kp->name);
	free(kp);
}

static struct kpod *kpod_by_uid(struct sim_kubelet *k, const char *uid)
{
	struct kpod *kp = NULL;

	if (uid)
		HASH_FIND_STR(k->pods, uid, kp);
	return kp;
}

static struct kpod *kpod_by_name(struct sim_controllers *c, const char *ns, const char *name)
{
	const cJSON *pod = sim_cache_get(c, SIM_K_PODS, ns, name);

	return pod ? kpod_by_uid(K(c), sim_j_str(pod, "metadata.uid")) : NULL;
}

static void node_status(const struct knode *n, int64_t now_ms, cJSON *st)
{
	static const char *const types[4] = {"MemoryPressure", "DiskPressure", "PIDPressure", "Ready"};
	static const char *const ok_reason[4] = {"KubeletHasSufficientMemory", "KubeletHasNoDiskPressure",
						 "KubeletHasSufficientPID", "KubeletReady"};
	static const char *const ok_msg[4] = {"kubelet has sufficient memory available",
					      "kubelet has no disk pressure",
					      "kubelet has sufficient PID available",
					      "kubelet is posting ready status"};
	cJSON *conds = cJSON_CreateArray(), *addrs = cJSON_CreateArray(), *a, *cap, *info;
	char ts[40];
	int i;

	sim_ctl_time_format(now_ms, 0, ts, sizeof(ts));
	for (i = 0; i < 4; i++) {
		cJSON *cnd = cJSON_CreateObject();

		sim_j_set_str(cnd, "type", types[i]);
		if (n->down) {
			sim_j_set_str(cnd, "status", "Unknown");
			sim_j_set_str(cnd, "reason", "NodeStatusUnknown");
			sim_j_set_str(cnd, "message", "Kubelet stopped posting node status.");
		} else {
			sim_j_set_str(cnd, "status", i == 3 ? "True" : "False");
			sim_j_set_str(cnd, "reason", ok_reason[i]);
			sim_j_set_str(cnd, "message", ok_msg[i]);
		}
		sim_j_set_str(cnd, "lastHeartbeatTime", ts);
		sim_j_set_str(cnd, "lastTransitionTime", ts);
		cJSON_AddItemToArray(conds, cnd);
	}
	sim_j_set(st, "conditions", conds);
	a = cJSON_CreateObject();
	sim_j_set_str(a, "type", "InternalIP");
	sim_j_set_str(a, "address", n->ip);
	cJSON_AddItemToArray(addrs, a);
	a = cJSON_CreateObject();
	sim_j_set_str(a, "type", "Hostname");
	sim_j_set_str(a, "address", n->name);
	cJSON_AddItemToArray(addrs, a);
	sim_j_set(st, "addresses", addrs);
	cap = cJSON_CreateObject();
	sim_j_set_str(cap, "cpu", "8");
	sim_j_set_str(cap, "memory", "32Gi");
	sim_j_set_str(cap, "pods", "110");
	sim_j_set_str(cap, "ephemeral-storage", "100Gi");
	sim_j_set(st, "allocatable", cJSON_Duplicate(cap, 1));
	sim_j_set(st, "capacity", cap);
	info = cJSON_CreateObject();
	sim_j_set_str(info, "architecture", "amd64");
	sim_j_set_str(info, "containerRuntimeVersion", "containerd://1.7.0-kubesim");
	sim_j_set_str(info, "kernelVersion", "6.0.0-kubesim");
	sim_j_set_str(info, "kubeProxyVersion", "v1.32.0");
	sim_j_set_str(info, "kubeletVersion", "v1.32.0");
	sim_j_set_str(info, "operatingSystem", "linux");
	sim_j_set_str(info, "osImage", "kubesim");
	sim_j_set_str(info, "machineID", n->name);
	sim_j_set_str(info, "systemUUID", n->name);
	sim_j_set_str(info, "bootID", n->name);
	sim_j_set(st, "nodeInfo", info);
}

static void write_node(struct sim_controllers *c, const struct knode *n, int create)
{
	cJSON *obj = cJSON_CreateObject(), *meta, *labels, *st, *spec, *taints;
	char ts[40];

	sim_j_set_str(obj, "apiVersion", "v1");
	sim_j_set_str(obj, "kind", "Node");
	meta = sim_j_obj(obj, "metadata");
	sim_j_set_str(meta, "name", n->name);
	if (create) {
		labels = sim_j_obj(meta, "labels");
		sim_j_set_str(labels, "kubernetes.io/hostname", n->name);
		sim_j_set_str(labels, "kubernetes.io/os", "linux");
		sim_j_set_str(labels, "kubernetes.io/arch", "amd64");
		sim_j_set_str(labels, "beta.kubernetes.io/os", "linux");
		sim_j_set_str(labels, "beta.kubernetes.io/arch", "amd64");
		sim_j_set_str(labels, "node.kubernetes.io/instance-type", "kubesim");
		sim_j_set_str(labels, "type", "kubesim");
		sim_ctl_create(c, "", "nodes", NULL, obj, NULL);
	} else {
		spec = sim_j_obj(obj, "spec");
		taints = cJSON_CreateArray();
		if (n->down) {
			static const char *const effects[2] = {"NoSchedule", "NoExecute"};
			int i;

			sim_ctl_time_format(sim_ctl_wall_ms(c), 0, ts, sizeof(ts));
			for (i = 0; i < 2; i++) {
				cJSON *t = cJSON_CreateObject();

				sim_j_set_str(t, "key", "node.kubernetes.io/unreachable");
				sim_j_set_str(t, "effect", effects[i]);
				if (i == 1)
					sim_j_set_str(t, "timeAdded", ts);
				cJSON_AddItemToArray(taints, t);
			}
			sim_j_set(spec, "taints", taints);
		} else {
			cJSON_Delete(taints);
			sim_j_set(spec, "taints", cJSON_CreateNull());
		}
		sim_ctl_patch(c, "", "nodes", NULL, n->name, NULL, obj, NULL);
		cJSON_DeleteItemFromObject(obj, "spec");
	}
	st = sim_j_obj(obj, "status");
	node_status(n, sim_ctl_wall_ms(c), st);
	sim_ctl_update(c, "", "nodes", NULL, n->name, "status", obj, NULL);
	cJSON_Delete(obj);
}

static void write_status(struct sim_controllers *c, struct kpod *kp);

/* --run-pods: the runtime reported a change (loop thread). */
static void runtime_changed(struct sim_controllers *c, void *arg)
{
	struct kpod *kp = K(c) ? kpod_by_uid(K(c), arg) : NULL;
	int gone;

	if (!kp || kp->run->node_down)
		return; /* an unreachable kubelet reports nothing; node up writes the status */
	gone = sim_runtime_fill(K(c)->rt, kp->uid, kp->run);
	if (gone == 1)
		sim_ctl_delete(c, "", "pods", kp->ns, kp->name, NULL, 0, kp->uid);
	else if (gone == 0)
		write_status(c, kp);
}

/* Runtime thread: hand the change to the loop. */
static void runtime_notify(void *ud, const char *uid)
{
	char *arg = strdup(uid);

	if (arg)
		sim_ctl_after(ud, 0, runtime_changed, arg, free);
}

/* Runtime hook: a token of the ServiceAccount, as the kubelet's TokenRequest for a projected
 * serviceAccountToken (kubesim's authn accepts it as system:serviceaccount:NS:SA). */
static char *runtime_sa_token(void *ud, const char *ns, const char *sa)
{
	char *tok = NULL;

	if (sim_rbac_tokens_mint(sim_server_tokens(sim_ctl_server(ud)), ns, sa, &tok) != 0)
		return NULL;
	return tok;
}

/* The API server's address from its URL (https://HOST:PORT); none in --http mode, where an
 * in-cluster client (always https) could not use it. */
static int api_addr_of(const char *url, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *h, *colon;

	if (!url || strncmp(url, "https://", 8) != 0)
		return -1;
	h = url + 8;
	colon = strrchr(h, ':');
	if (!colon || colon == h || !colon[1])
		return -1;
	snprintf(host, hostlen, "%.*s", (int)(colon - h), h);
	snprintf(port, portlen, "%s", colon + 1);
	return 0;
}

static int runtime_api_addr(void *ud, char *host, size_t hostlen, char *port, size_t portlen)
{
	return api_addr_of(sim_server_url(sim_ctl_server(ud)), host, hostlen, port, portlen);
}

/* default/kubernetes as the apiserver keeps it: a Service without selector whose Endpoints are
 * the API server's own address (created when missing: at the first pod, again after a reset). */
static void ensure_kubernetes_service(struct sim_controllers *c)
{
	struct sim_store *st = sim_ctl_store(c);
	cJSON *obj = NULL, *status = NULL;
	char host[128], port[16], buf[900];

	if (runtime_api_addr(c, host, sizeof(host), port, sizeof(port)) != 0)
		return;
	if (sim_store_get(st, "", "services", "default", "kubernetes", &obj, &status) != 200) {
		cJSON_Delete(status);
		status = NULL;
		snprintf(buf, sizeof(buf),
			 "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
			 "\"kubernetes\",\"labels\":{\"component\":\"apiserver\",\"provider\":"
			 "\"kubernetes\"}},\"spec\":{\"type\":\"ClusterIP\",\"ports\":[{\"name\":"
			 "\"https\",\"protocol\":\"TCP\",\"port\":%s,\"targetPort\":%s}]}}",
			 port, port);
		cJSON *svc = cJSON_Parse(buf);
		if (svc)
			sim_store_create(st, "", "services", "default", svc, 0, NULL, &status);
		cJSON_Delete(svc);
		cJSON_Delete(status);
		status = NULL;
		snprintf(buf, sizeof(buf),
			 "{\"apiVersion\":\"v1\",\"kind\":\"Endpoints\",\"metadata\":{\"name\":"
			 "\"kubernetes\",\"labels\":{\"endpointslice.kubernetes.io/"
			 "skip-mirror\":\"true\"}},\"subsets\":[{\"addresses\":[{\"ip\":\"%s\"}],"
			 "\"ports\":[{\"name\":\"https\",\"port\":%s,\"protocol\":\"TCP\"}]}]}",
			 host, port);
		cJSON *ep = cJSON_Parse(buf);
		if (ep)
			sim_store_create(st, "", "endpoints", "default", ep, 0, NULL, &status);
		cJSON_Delete(ep);
	}
	cJSON_Delete(obj);
	cJSON_Delete(status);
}

static int runtime_start(struct sim_controllers *c, struct sim_kubelet *k)
{
	struct sim_server *srv = sim_ctl_server(c);
	const struct sim_options *o = sim_server_options(srv);
	struct sim_rt_cluster cl = {runtime_sa_token, runtime_api_addr, c};
	int rc;

	if (!o || !o->runtime)
		return 0;
	rc = sim_runtime_new(o->runtime, sim_ctl_store(c), runtime_notify, c, &k->rt);
	if (rc != 0)
		return rc;
	sim_runtime_set_cluster(k->rt, &cl);
	/* What the control plane gives pods for in-cluster config (not in --http mode: no CA). */
	if (sim_server_ca_pem(srv))
		sim_store_set_sa_admission(sim_ctl_store(c), sim_server_ca_pem(srv));
	return 0;
}

int sim_kubelet_new(struct sim_controllers *c, int nodes, int64_t ready_delay_ms,
		    struct sim_kubelet **out)
{
	struct sim_kubelet *k = calloc(1, sizeof(*k));
	int i;

	*out = NULL;
	if (!k)
		return KUBE_ENOMEM;
	k->nodes = calloc((size_t)(nodes > 0 ? nodes : 1), sizeof(*k->nodes));
	if (!k->nodes) {
		free(k);
		return KUBE_ENOMEM;
	}
	k->n_nodes = nodes;
	k->ready_delay_ms = ready_delay_ms;
	k->grace_cap_ms = 1000;
	k->ip_next = 2;
	*out = k;
	if (runtime_start(c, k) != 0)
		return KUBE_EIO;
	if (k->rt) /* kubesims running side by side (parallel tests) rarely share a pod IP */
		k->ip_next = (unsigned)(getpid() % 250) * 256 + 2;
	sim_store_set_pod_grace(sim_ctl_store(c), 1);
	for (i = 0; i < nodes; i++) {
		snprintf(k->nodes[i].name, sizeof(k->nodes[i].name), "kubesim-node-%d", i + 1);
		snprintf(k->nodes[i].ip, sizeof(k->nodes[i].ip), "172.18.%d.%d", (i + 2) / 250,
			 (i + 2) % 250);
		write_node(c, &k->nodes[i], 1);
	}
	return 0;
}

void sim_kubelet_free(struct sim_kubelet *k)
{
	struct kpod *kp, *t;

	if (!k)
		return;
	sim_runtime_free(k->rt); /* every process first: SIGTERM, then SIGKILL */
	k->rt = NULL;
	HASH_ITER(hh, k->pods, kp, t) {
		HASH_DEL(k->pods, kp);
		kpod_free(k, kp);
	}
	free(k->nodes);
	free(k);
}

static void write_status(struct sim_controllers *c, struct kpod *kp)
{
	cJSON *body = cJSON_CreateObject(), *meta, *st;

	st = sim_pod_status_build(kp->run, kp->qos, sim_ctl_wall_ms(c));
	sim_j_set_str(body, "apiVersion", "v1");
	sim_j_set_str(body, "kind", "Pod");
	meta = sim_j_obj(body, "metadata");
	sim_j_set_str(meta, "name", kp->name);
	sim_j_set_str(meta, "namespace", kp->ns);
	sim_j_set(body, "status", st);
	sim_ctl_update(c, "", "pods", kp->ns, kp->name, "status", body, NULL);
	cJSON_Delete(body);
}

static void advance_timer(struct sim_controllers *c, void *arg);

/* Applies what is due (writing the status if anything changed: time passes while we work) and
 * arms a timer for the next step. */
static void schedule_advance(struct sim_controllers *c, struct kpod *kp)
{
	int64_t now = sim_ctl_wall_ms(c);
	unsigned before = kp->run->steps;
	int64_t due = sim_pod_run_advance(kp->run, now);
	char *arg;

	if (kp->run->steps != before)
		write_status(c, kp);
	if (due < 0 || (kp->timer_due > 0 && kp->timer_due <= due))
		return;
	arg = strdup(kp->uid);
	if (!arg)
		return;
	kp->timer_due = due;
	sim_ctl_after(c, due - now, advance_timer, arg, free);
}

static void advance_timer(struct sim_controllers *c, void *arg)
{
	struct kpod *kp = kpod_by_uid(K(c), arg);

	if (!kp)
		return;
	kp->timer_due = 0;
	if (kp->run->node_down)
		return; /* an unreachable kubelet reports nothing; resumes on node up */
	sim_pod_run_advance(kp->run, sim_ctl_wall_ms(c));
	write_status(c, kp);
	schedule_advance(c, kp);
}

/* --run-pods: the runtime starts the containers (it needs the whole pod: the cache keeps
 * none of its spec). */
static void runtime_add(struct sim_controllers *c, struct kpod *kp)
{
	cJSON *pod = NULL, *status = NULL;

	kp->run->real = 1;
	kp->run->started = 1;
	kp->run->start_ms = sim_ctl_wall_ms(c);
	ensure_kubernetes_service(c);
	if (sim_store_get(sim_ctl_store(c), "", "pods", kp->ns, kp->name, &pod, &status) == 200)
		sim_runtime_pod_add(K(c)->rt, pod, kp->run->pod_ip, kp->run->node);
	cJSON_Delete(pod);
	cJSON_Delete(status);
	write_status(c, kp);
}

static void start_timer(struct sim_controllers *c, void *arg)
{
	struct kpod *kp = kpod_by_uid(K(c), arg);
	const cJSON *pod;

	if (!kp || kp->started || kp->removing)
		return;
	if (kp->run->node_down)
		return; /* started on node up */
	kp->started = 1;
	pod = sim_cache_get(c, SIM_K_PODS, kp->ns, kp->name);
	if (K(c)->rt) {
		runtime_add(c, kp);
		return;
	}
	if (pod)
		sim_jobs_plan_pod(c, pod, kp->run);
	sim_pod_run_start(kp->run, sim_ctl_wall_ms(c));
	write_status(c, kp);
	schedule_advance(c, kp);
}

static void remove_timer(struct sim_controllers *c, void *arg)
{
	struct kpod *kp = kpod_by_uid(K(c), arg);

	if (!kp)
		return;
	if (kp->node >= 0 && K(c)->nodes[kp->node].down)
		return; /* nobody confirms the kill: stays Terminating until the node is back */
	sim_ctl_delete(c, "", "pods", kp->ns, kp->name, NULL, 0, kp->uid);
}

static void schedule_remove(struct sim_controllers *c, struct kpod *kp)
{
	char *arg = strdup(kp->uid);

	if (arg)
		sim_ctl_after(c, kp->remove_delay_ms, remove_timer, arg, free);
}

static int node_fits(const struct knode *n, const cJSON *node_selector)
{
	const cJSON *kv;

	if (n->down)
		return 0;
	/* Our nodes carry the labels written in write_node. */
	cJSON_ArrayForEach(kv, node_selector) {
		const char *v = cJSON_IsString(kv) ? kv->valuestring : "";

		if (strcmp(kv->string, "kubernetes.io/hostname") == 0 && strcmp(v, n->name) == 0)
			continue;
		if ((strcmp(kv->string, "kubernetes.io/os") == 0 ||
		     strcmp(kv->string, "beta.kubernetes.io/os") == 0) && strcmp(v, "linux") == 0)
			continue;
		if ((strcmp(kv->string, "kubernetes.io/arch") == 0 ||
		     strcmp(kv->string, "beta.kubernetes.io/arch") == 0) && strcmp(v, "amd64") == 0)
			continue;
		if ((strcmp(kv->string, "type") == 0 ||
		     strcmp(kv->string, "node.kubernetes.io/instance-type") == 0) &&
		    strcmp(v, "kubesim") == 0)
			continue;
		return 0;
	}
	return 1;
}

static char *first_owner_uid(const cJSON *pod)
{
	const char *uid = sim_j_str(cJSON_GetArrayItem(sim_j_at(pod, "metadata.ownerReferences"), 0),
				       "uid");

	return uid ? strdup(uid) : NULL;
}

/* Pods of the same owner on a node: a soft spread, like preferred anti-affinity. */
static int same_owner_on(struct sim_controllers *c, int node, const char *owner)
{
	struct kpod *kp, *t;
	int n = 0;

	if (!owner)
		return 0;
	HASH_ITER(hh, K(c)->pods, kp, t) {
		if (kp->node == node && kp->owner && strcmp(kp->owner, owner) == 0)
			n++;
	}
	return n;
}

/* Picks a node: spec.nodeName if set, else the fitting node with the fewest pods of the same
 * owner, then the fewest pods, round-robin on ties. -1 if none fits. */
static int pick_node(struct sim_controllers *c, const cJSON *pod, const char *owner)
{
	struct sim_kubelet *k = K(c);
	const char *want = sim_j_str(pod, "spec.nodeName");
	const cJSON *sel = sim_j_at(pod, "spec.nodeSelector");
	int i, best = -1, best_same = 0, best_load = 0;

	if (want) {
		for (i = 0; i < k->n_nodes; i++) {
			if (strcmp(k->nodes[i].name, want) == 0)
				return i;
		}
		return -1;
	}
	for (i = 0; i < k->n_nodes; i++) {
		int n = (int)((k->rr + (unsigned)i) % (unsigned)k->n_nodes);
		int same, load;

		if (!node_fits(&k->nodes[n], sel))
			continue;
		same = same_owner_on(c, n, owner);
		load = k->nodes[n].pods;
		if (best < 0 || same < best_same || (same == best_same && load < best_load)) {
			best = n;
			best_same = same;
			best_load = load;
		}
	}
	if (best >= 0)
		k->rr = (unsigned)best + 1;
	return best;
}

static void write_unschedulable(struct sim_controllers *c, struct kpod *kp)
{
	cJSON *body = cJSON_CreateObject(), *st, *conds, *cnd;
	char ts[40], msg[128];

	sim_ctl_time_format(sim_ctl_wall_ms(c), 0, ts, sizeof(ts));
	sim_j_set_str(body, "apiVersion", "v1");
	sim_j_set_str(body, "kind", "Pod");
	sim_j_set_str(sim_j_obj(body, "metadata"), "name", kp->name);
	sim_j_set_str(sim_j_obj(body, "metadata"), "namespace", kp->ns);
	st = sim_j_obj(body, "status");
	sim_j_set_str(st, "phase", "Pending");
	conds = cJSON_AddArrayToObject(st, "conditions");
	cnd = cJSON_CreateObject();
	sim_j_set_str(cnd, "type", "PodScheduled");
	sim_j_set_str(cnd, "status", "False");
	cJSON_AddNullToObject(cnd, "lastProbeTime");
	sim_j_set_str(cnd, "lastTransitionTime", ts);
	sim_j_set_str(cnd, "reason", "Unschedulable");
	snprintf(msg, sizeof(msg), "0/%d nodes are available: no node matches the pod.",
		 K(c)->n_nodes);
	sim_j_set_str(cnd, "message", msg);
	cJSON_AddItemToArray(conds, cnd);
	sim_j_set_str(st, "qosClass", kp->qos);
	sim_ctl_update(c, "", "pods", kp->ns, kp->name, "status", body, NULL);
	cJSON_Delete(body);
}

/* Binds an unbound pod and schedules its start. Returns 0, -1 if no node fits. */
static int bind(struct sim_controllers *c, struct kpod *kp, const cJSON *pod)
{
	struct sim_kubelet *k = K(c);
	struct knode *n;
	int idx = pick_node(c, pod, kp->owner);

	if (idx < 0)
		return -1;
	n = &k->nodes[idx];
	kp->node = idx;
	n->pods++;
	kp->ip = ip_alloc(k);
	free(kp->run->node);
	kp->run->node = strdup(n->name);
	snprintf(kp->run->host_ip, sizeof(kp->run->host_ip), "%s", n->ip);
	if (kp->ip >= 0)
		snprintf(kp->run->pod_ip, sizeof(kp->run->pod_ip), "%s.%d.%d",
			 k->rt ? "127.1" : "10.244", kp->ip >> 8, kp->ip & 0xff);
	if (!sim_j_str(pod, "spec.nodeName")) {
		cJSON *patch = cJSON_CreateObject();

		sim_j_set_str(sim_j_obj(patch, "spec"), "nodeName", n->name);
		sim_ctl_patch(c, "", "pods", kp->ns, kp->name, NULL, patch, NULL);
		cJSON_Delete(patch);
	}
	/* Pending, scheduled, containers creating: worth a write only when it will be seen for a
	 * while (each write is a snapshot in the watch history). */
	if (k->ready_delay_ms >= 200)
		write_status(c, kp);
	{
		char *arg = strdup(kp->uid);

		if (arg)
			sim_ctl_after(c, k->ready_delay_ms, start_timer, arg, free);
	}
	return 0;
}

static void on_pod_deleting(struct sim_controllers *c, struct kpod *kp, const cJSON *pod)
{
	int64_t grace = sim_j_int(pod, "metadata.deletionGracePeriodSeconds", 30) * 1000;
	int64_t cap = K(c)->grace_cap_ms;

	kp->removing = 1;
	kp->remove_delay_ms = grace < cap ? grace : cap;
	if (K(c)->rt && kp->started) {
		/* Real processes: SIGTERM, SIGKILL after the whole grace period; the pod goes when
		 * they are gone (runtime_changed). */
		sim_runtime_pod_stop(K(c)->rt, kp->uid, grace);
		return;
	}
	if (kp->node < 0) {
		sim_ctl_delete(c, "", "pods", kp->ns, kp->name, NULL, 0, kp->uid);
		return;
	}
	schedule_remove(c, kp);
}

void sim_kubelet_on_pod(struct sim_controllers *c, const char *type, const cJSON *pod)
{
	struct sim_kubelet *k = K(c);
	const char *uid = sim_j_str(pod, "metadata.uid");
	struct kpod *kp;

	if (!k || !uid)
		return;
	kp = kpod_by_uid(k, uid);
	if (strcmp(type, "DELETED") == 0) {
		if (kp) {
			HASH_DEL(k->pods, kp);
			kpod_free(k, kp);
		}
		return;
	}
	if (!kp) {
		const char *phase = sim_j_str(pod, "status.phase");

		if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0))
			return;
		kp = calloc(1, sizeof(*kp));
		if (!kp)
			return;
		kp->node = -1;
		kp->ip = -1;
		kp->uid = strdup(uid);
		kp->ns = strdup(sim_j_str(pod, "metadata.namespace") ? sim_j_str(pod, "metadata.namespace") : "");
		kp->name = strdup(sim_j_str(pod, "metadata.name") ? sim_j_str(pod, "metadata.name") : "");
		kp->owner = first_owner_uid(pod);
		kp->run = sim_pod_run_new(pod);
		kp->qos = sim_pod_qos_class(pod);
		if (!kp->uid || !kp->ns || !kp->name || !kp->run) {
			kpod_free(k, kp);
			return;
		}
		HASH_ADD_KEYPTR(hh, k->pods, kp->uid, strlen(kp->uid), kp);
		if (!sim_j_at(pod, "metadata.deletionTimestamp") && bind(c, kp, pod) < 0)
			write_unschedulable(c, kp);
	}
	if (sim_j_at(pod, "metadata.deletionTimestamp") && !kp->removing)
		on_pod_deleting(c, kp, pod);
}

void sim_kubelet_on_node(struct sim_controllers *c, const char *type, const cJSON *node)
{
	(void)c;
	(void)type;
	(void)node; /* nodes are ours; changes by others are left alone */
}

int sim_kubelet_fail_readiness(struct sim_controllers *c, const char *ns, const char *name, int fail)
{
	struct kpod *kp = kpod_by_name(c, ns, name);

	if (!kp)
		return KUBE_ENOTFOUND;
	kp->run->readiness_failed = fail;
	if (kp->started)
		write_status(c, kp);
	return 0;
}

int sim_kubelet_kill(struct sim_controllers *c, const char *ns, const char *name, const char *ctr,
		     int oom, int exit_code, int stay, int64_t restart_delay_ms)
{
	struct kpod *kp = kpod_by_name(c, ns, name);
	int code = oom ? 137 : (exit_code ? exit_code : 1);

	if (!kp)
		return KUBE_ENOTFOUND;
	if (!kp->started)
		return KUBE_EINVAL;
	if (K(c)->rt)
		return sim_runtime_signal(K(c)->rt, kp->uid, ctr, 9, oom);
	if (sim_pod_run_kill(kp->run, ctr, code, oom ? "OOMKilled" : "Error", sim_ctl_wall_ms(c),
			     restart_delay_ms, stay) < 0)
		return KUBE_EINVAL;
	write_status(c, kp);
	schedule_advance(c, kp);
	return 0;
}

int sim_kubelet_restore(struct sim_controllers *c, const char *ns, const char *name)
{
	struct kpod *kp = kpod_by_name(c, ns, name);

	if (!kp)
		return KUBE_ENOTFOUND;
	if (K(c)->rt)
		sim_runtime_block_probes(K(c)->rt, kp->uid, NULL, 0);
	sim_pod_run_restore(kp->run, sim_ctl_wall_ms(c));
	if (kp->started)
		write_status(c, kp);
	schedule_advance(c, kp);
	return 0;
}

int sim_kubelet_set_phase(struct sim_controllers *c, const char *ns, const char *name,
			  const char *phase, const char *reason, const char *message)
{
	struct kpod *kp = kpod_by_name(c, ns, name);
	int p = sim_pod_phase_parse(phase);

	if (!kp)
		return KUBE_ENOTFOUND;
	if (p < 0 || p == SIM_POD_PENDING)
		return KUBE_EINVAL;
	kp->started = 1;
	sim_pod_run_set_phase(kp->run, (enum sim_pod_phase)p, reason, message, sim_ctl_wall_ms(c));
	write_status(c, kp);
	return 0;
}

int sim_kubelet_node_set_down(struct sim_controllers *c, const char *node, int down)
{
	struct sim_kubelet *k = K(c);
	struct kpod *kp, *t;
	int i, idx = -1;

	for (i = 0; i < k->n_nodes; i++) {
		if (strcmp(k->nodes[i].name, node) == 0)
			idx = i;
	}
	if (idx < 0)
		return KUBE_ENOTFOUND;
	if (k->nodes[idx].down == down)
		return 0;
	k->nodes[idx].down = down;
	write_node(c, &k->nodes[idx], 0);
	HASH_ITER(hh, k->pods, kp, t) {
		struct sim_pod_run *run = kp->run;

		if (kp->node != idx)
			continue;
		if (k->rt)
			sim_runtime_freeze(k->rt, kp->uid, down, 1);
		if (down) {
			/* What the node lifecycle controller does: Ready False on the pods; the
			 * phase shows Unknown as well, as tests of node loss expect. */
			run->node_down = 1;
			kp->phase_before_down = run->phase;
			if (run->phase == SIM_POD_RUNNING || run->phase == SIM_POD_PENDING) {
				run->phase = SIM_POD_UNKNOWN;
				snprintf(run->reason, sizeof(run->reason), "%s", "NodeLost");
				snprintf(run->message, sizeof(run->message),
					 "Node %s which was running pod %s is unresponsive", node, kp->name);
			}
			write_status(c, kp);
			continue;
		}
		run->node_down = 0;
		if (run->phase == SIM_POD_UNKNOWN) {
			run->phase = kp->phase_before_down;
			run->reason[0] = '\0';
			run->message[0] = '\0';
		}
		if (kp->removing) {
			schedule_remove(c, kp);
			continue;
		}
		if (!kp->started) {
			char *arg = strdup(kp->uid);

			if (arg)
				sim_ctl_after(c, 0, start_timer, arg, free);
		}
		write_status(c, kp);
		schedule_advance(c, kp);
	}
	if (!down) {
		/* Pods nobody could take: try again. */
		HASH_ITER(hh, k->pods, kp, t) {
			const cJSON *pod;

			if (kp->node >= 0 || kp->removing)
				continue;
			pod = sim_cache_get(c, SIM_K_PODS, kp->ns, kp->name);
			if (pod)
				bind(c, kp, pod);
		}
	}
	return 0;
}

cJSON *sim_kubelet_nodes_json(struct sim_controllers *c)
{
	struct sim_kubelet *k = K(c);
	cJSON *arr = cJSON_CreateArray();
	int i;

	for (i = 0; i < k->n_nodes; i++) {
		cJSON *o = cJSON_CreateObject();

		sim_j_set_str(o, "name", k->nodes[i].name);
		sim_j_set_str(o, "ip", k->nodes[i].ip);
		sim_j_set_bool(o, "down", k->nodes[i].down);
		sim_j_set_num(o, "pods", k->nodes[i].pods);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

/* ---- --run-pods faults on real processes ---- */

int sim_kubelet_signal(struct sim_controllers *c, const char *ns, const char *name, const char *ctr,
		       int sig)
{
	struct kpod *kp = kpod_by_name(c, ns, name);

	if (!kp)
		return KUBE_ENOTFOUND;
	if (!K(c)->rt || !kp->started || sig <= 0 || sig >= 65)
		return KUBE_EINVAL;
	return sim_runtime_signal(K(c)->rt, kp->uid, ctr, sig, 0);
}

int sim_kubelet_freeze(struct sim_controllers *c, const char *ns, const char *name, int freeze)
{
	struct kpod *kp = kpod_by_name(c, ns, name);

	if (!kp)
		return KUBE_ENOTFOUND;
	if (!K(c)->rt || !kp->started)
		return KUBE_EINVAL;
	return sim_runtime_freeze(K(c)->rt, kp->uid, freeze, 0);
}

int sim_kubelet_block_probes(struct sim_controllers *c, const char *ns, const char *name,
			     const char *ctr, int block)
{
	struct kpod *kp = kpod_by_name(c, ns, name);

	if (!kp)
		return KUBE_ENOTFOUND;
	if (!K(c)->rt || !kp->started)
		return KUBE_EINVAL;
	return sim_runtime_block_probes(K(c)->rt, kp->uid, ctr, block);
}
