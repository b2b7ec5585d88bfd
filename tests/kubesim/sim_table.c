/* kubesim server-side printing: meta.k8s.io/v1 Tables for `kubectl get`. CRD columns follow the
 * apiextensions tableconvertor; built-in kinds follow the apiserver's printers (pkg/printers),
 * which always emit the wide (priority 1) cells too -- kubectl hides them without -o wide. */
#include "sim_table.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_error.h"
#include "kube_json.h"
#include "kube_selector.h"
#include "kube_time.h"
#include "sim_jsonpath.h"

/* ---- time -------------------------------------------------------------------------------- */

char *sim_duration_human(long seconds)
{
	char buf[64];
	long minutes, hours;

	/* Up to 2 s in the future counts as "now": clocks between machines drift. */
	if (seconds < -1) {
		snprintf(buf, sizeof(buf), "<invalid>");
	} else if (seconds < 0) {
		snprintf(buf, sizeof(buf), "0s");
	} else if (seconds < 60 * 2) {
		snprintf(buf, sizeof(buf), "%lds", seconds);
	} else if ((minutes = seconds / 60) < 10) {
		if (seconds % 60 == 0)
			snprintf(buf, sizeof(buf), "%ldm", minutes);
		else
			snprintf(buf, sizeof(buf), "%ldm%lds", minutes, seconds % 60);
	} else if (minutes < 60 * 3) {
		snprintf(buf, sizeof(buf), "%ldm", minutes);
	} else if ((hours = seconds / 3600) < 8) {
		if (minutes % 60 == 0)
			snprintf(buf, sizeof(buf), "%ldh", hours);
		else
			snprintf(buf, sizeof(buf), "%ldh%ldm", hours, minutes % 60);
	} else if (hours < 48) {
		snprintf(buf, sizeof(buf), "%ldh", hours);
	} else if (hours < 24 * 8) {
		if (hours % 24 == 0)
			snprintf(buf, sizeof(buf), "%ldd", hours / 24);
		else
			snprintf(buf, sizeof(buf), "%ldd%ldh", hours / 24, hours % 24);
	} else if (hours < 24 * 365 * 2) {
		snprintf(buf, sizeof(buf), "%ldd", hours / 24);
	} else if (hours < 24 * 365 * 8) {
		if ((hours / 24) % 365 == 0)
			snprintf(buf, sizeof(buf), "%ldy", hours / 24 / 365);
		else
			snprintf(buf, sizeof(buf), "%ldy%ldd", hours / 24 / 365, (hours / 24) % 365);
	} else {
		snprintf(buf, sizeof(buf), "%ldy", hours / 24 / 365);
	}
	return strdup(buf);
}

int sim_time_parse(const char *s, time_t *out)
{
	int64_t sec = 0;

	if (!out || kube_time_parse(s, &sec, NULL) != 0)
		return KUBE_EINVAL;
	*out = (time_t)sec;
	return 0;
}

/* kubectl's translateTimestampSince: "<unknown>" for a missing time. */
static char *age_of(const char *ts, time_t now)
{
	time_t t;

	if (!ts || sim_time_parse(ts, &t) != 0)
		return strdup("<unknown>");
	return sim_duration_human((long)(now - t));
}

/* ---- rows -------------------------------------------------------------------------------- */

/* Cells under construction; any allocation failure sets nomem and the table is dropped. */
struct row {
	cJSON *cells;
	int nomem;
};

static void cell_add(struct row *r, cJSON *c)
{
	if (!c || !cJSON_AddItemToArray(r->cells, c)) {
		cJSON_Delete(c);
		r->nomem = 1;
	}
}

static void cell_str(struct row *r, const char *s)
{
	cell_add(r, cJSON_CreateString(s ? s : ""));
}

/* Takes a malloc'd string (NULL means ENOMEM). */
static void cell_take(struct row *r, char *s)
{
	if (!s) {
		r->nomem = 1;
		return;
	}
	cell_str(r, s);
	free(s);
}

static void cell_fmt(struct row *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cell_fmt(struct row *r, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	cell_take(r, s);
}

static void cell_int(struct row *r, long long v)
{
	cell_add(r, cJSON_CreateNumber((double)v));
}

static void cell_age(struct row *r, const cJSON *obj, time_t now)
{
	cell_take(r, age_of(kube_json_get_str(obj, "metadata", "creationTimestamp", NULL), now));
}

static const char *name_of(const cJSON *obj)
{
	const char *n = kube_json_get_str(obj, "metadata", "name", NULL);

	return n ? n : "";
}

static long long int_at(const cJSON *obj, long long dflt, const char *a, const char *b)
{
	int64_t v;

	if (kube_json_get_int(obj, &v, a, b, NULL))
		return (long long)v;
	return dflt;
}

/* Joins `field` of every item of `list` with ","; "" when there are none. */
static char *join_field(const cJSON *list, const char *field)
{
	const cJSON *it;
	char *out = strdup(""), *grown;
	size_t len = 0;

	cJSON_ArrayForEach(it, list) {
		const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, field));

		if (!out || !v)
			continue;
		grown = realloc(out, len + strlen(v) + 2);
		if (!grown) {
			free(out);
			return NULL;
		}
		out = grown;
		len += (size_t)sprintf(out + len, "%s%s", len ? "," : "", v);
	}
	return out;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* labels.FormatLabels: "k=v,k2=v2" sorted by key, "<none>" for an empty map. */
static char *format_labels(const cJSON *map)
{
	int n = cJSON_GetArraySize(map), i = 0;
	const char **pairs;
	const cJSON *c;
	char *out = NULL;
	size_t len = 0;

	if (!cJSON_IsObject(map) || n == 0)
		return strdup("<none>");
	pairs = calloc((size_t)n, sizeof(*pairs));
	if (!pairs)
		return NULL;
	cJSON_ArrayForEach(c, map)
		pairs[i++] = c->string;
	qsort(pairs, (size_t)n, sizeof(*pairs), cmp_str);
	for (i = 0; i < n; i++) {
		const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(map, pairs[i]));
		char *grown = realloc(out, len + strlen(pairs[i]) + (v ? strlen(v) : 0) + 3);

		if (!grown) {
			free(out);
			out = NULL;
			break;
		}
		out = grown;
		len += (size_t)sprintf(out + len, "%s%s=%s", i ? "," : "", pairs[i], v ? v : "");
	}
	free(pairs);
	return out;
}

/* metav1.LabelSelector as text ("app=web"); "" when absent or unparseable. */
static char *format_selector(const cJSON *sel)
{
	struct kube_selector *s = NULL;
	char *out = NULL;

	if (!sel || kube_selector_from_object(sel, &s, NULL) != 0)
		return strdup("");
	if (kube_selector_to_string(s, &out) != 0)
		out = NULL;
	kube_selector_free(s);
	return out;
}

/* Wide Containers / Images / Selector cells shared by workload printers. */
static void cells_workload_wide(struct row *r, const cJSON *obj)
{
	const cJSON *containers = kube_json_get(obj, "spec", "template", "spec", "containers", NULL);

	cell_take(r, join_field(containers, "name"));
	cell_take(r, join_field(containers, "image"));
	cell_take(r, format_selector(kube_json_get(obj, "spec", "selector", NULL)));
}

static int has_condition_true(const cJSON *obj, const char *type)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, kube_json_get(obj, "status", "conditions", NULL)) {
		const char *t = kube_json_get_str(c, "type", NULL);
		const char *st = kube_json_get_str(c, "status", NULL);

		if (t && st && !strcmp(t, type) && !strcmp(st, "True"))
			return 1;
	}
	return 0;
}

/* ---- built-in printers ------------------------------------------------------------------- */

struct column {
	const char *name, *type, *format, *description;
	int priority;
};

#define DESC_NAME                                                                               \
	"Name must be unique within a namespace. Is required when creating resources, although "  \
	"some resources may allow a client to request the generation of an appropriate name "      \
	"automatically. Name is primarily intended for creation idempotence and configuration "    \
	"definition. Cannot be updated. More info: "                                               \
	"https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
#define DESC_CREATED                                                                            \
	"CreationTimestamp is a timestamp representing the server time when this object was "     \
	"created. It is not guaranteed to be set in happens-before order across separate "         \
	"operations. Clients may not set this value. It is represented in RFC3339 form and is in " \
	"UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "                  \
	"https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"

#define COL_NAME { "Name", "string", "name", DESC_NAME, 0 }
#define COL_AGE { "Age", "string", "", DESC_CREATED, 0 }

/* Pod: kubectl's printPod, including init-container and container state reasons. */
static const struct column pod_cols[] = {
	COL_NAME,
	{ "Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic.", 0 },
	{ "Status", "string", "", "The aggregate status of the containers in this pod.", 0 },
	{ "Restarts", "string", "", "The number of times the containers in this pod have been "
	  "restarted and when the last container in this pod has restarted.", 0 },
	COL_AGE,
	{ "IP", "string", "", "podIP address allocated to the pod.", 1 },
	{ "Node", "string", "", "NodeName indicates in which node this pod is scheduled.", 1 },
	{ "Nominated Node", "string", "", "nominatedNodeName is set when this pod preempts other "
	  "pods on the node.", 1 },
	{ "Readiness Gates", "string", "", "If specified, all readiness gates will be evaluated for "
	  "pod readiness.", 1 },
};

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* The reason a terminated container state shows: its reason, else Signal:N / ExitCode:N. */
static char *terminated_reason(const cJSON *term, const char *prefix)
{
	const char *reason = kube_json_get_str(term, "reason", NULL);
	long long sig = int_at(term, 0, "signal", NULL);

	if (reason && reason[0])
		return xasprintf("%s%s", prefix, reason);
	if (sig != 0)
		return xasprintf("%sSignal:%lld", prefix, sig);
	return xasprintf("%sExitCode:%lld", prefix, int_at(term, 0, "exitCode", NULL));
}

static void track_restart(const cJSON *cs, time_t *last)
{
	const char *fin = kube_json_get_str(cs, "lastState", "terminated", "finishedAt", NULL);
	time_t t;

	if (fin && sim_time_parse(fin, &t) == 0 && t > *last)
		*last = t;
}

/* What printPod works out from the container statuses. reason NULL means ENOMEM. */
struct pod_summary {
	char *reason;
	int ready;
	long long restarts;
	time_t last_restart;
};

static void set_reason(struct pod_summary *ps, char *reason)
{
	free(ps->reason);
	ps->reason = reason;
}

/* Init containers run in order; the first unfinished one names the status ("Init:1/2",
 * "Init:Error", "Init:CrashLoopBackOff"). Returns 1 while the pod is initializing. */
static int pod_init_state(struct pod_summary *ps, const cJSON *obj)
{
	int ninit = cJSON_GetArraySize(kube_json_get(obj, "spec", "initContainers", NULL));
	const cJSON *cs;
	int i = 0;

	cJSON_ArrayForEach(cs, kube_json_get(obj, "status", "initContainerStatuses", NULL)) {
		const cJSON *term = kube_json_get(cs, "state", "terminated", NULL);
		const char *wait = kube_json_get_str(cs, "state", "waiting", "reason", NULL);

		ps->restarts += int_at(cs, 0, "restartCount", NULL);
		track_restart(cs, &ps->last_restart);
		if (term && int_at(term, 0, "exitCode", NULL) == 0) {
			i++;
			continue;
		}
		if (term)
			set_reason(ps, terminated_reason(term, "Init:"));
		else if (wait && wait[0] && strcmp(wait, "PodInitializing") != 0)
			set_reason(ps, xasprintf("Init:%s", wait));
		else
			set_reason(ps, xasprintf("Init:%d/%d", i, ninit));
		return 1;
	}
	return 0;
}

/* Walks the containers backwards like kubectl, so the first container's state wins. */
static void pod_container_state(struct pod_summary *ps, const cJSON *obj)
{
	const cJSON *st = kube_json_get(obj, "status", "containerStatuses", NULL);
	int has_running = 0;

	ps->restarts = 0; /* init-container restarts stop counting once initialized */
	for (int k = cJSON_GetArraySize(st) - 1; k >= 0; k--) {
		const cJSON *c = cJSON_GetArrayItem(st, k);
		const char *wait = kube_json_get_str(c, "state", "waiting", "reason", NULL);
		const cJSON *term = kube_json_get(c, "state", "terminated", NULL);

		ps->restarts += int_at(c, 0, "restartCount", NULL);
		track_restart(c, &ps->last_restart);
		if (wait && wait[0]) {
			set_reason(ps, strdup(wait));
		} else if (term) {
			set_reason(ps, terminated_reason(term, ""));
		} else if (kube_json_get_bool(c, false, "ready", NULL) &&
			   kube_json_get(c, "state", "running", NULL)) {
			has_running = 1;
			ps->ready++;
		}
	}
	if (ps->reason && !strcmp(ps->reason, "Completed") && has_running)
		set_reason(ps, strdup(has_condition_true(obj, "Ready") ? "Running" : "NotReady"));
}

/* "0", or "3 (5m ago)" when the last restart time is known. */
static void cell_restarts(struct row *r, const struct pod_summary *ps, time_t now)
{
	char *ago;

	if (ps->restarts == 0 || ps->last_restart == 0) {
		cell_fmt(r, "%lld", ps->restarts);
		return;
	}
	ago = sim_duration_human((long)(now - ps->last_restart));
	if (ago)
		cell_fmt(r, "%lld (%s ago)", ps->restarts, ago);
	else
		r->nomem = 1;
	free(ago);
}

/* IP, Node, Nominated Node, Readiness Gates. */
static void pod_wide_cells(struct row *r, const cJSON *obj)
{
	const char *ip = kube_json_get_str(obj, "status", "podIP", NULL);
	const char *node = kube_json_get_str(obj, "spec", "nodeName", NULL);
	const char *nominated = kube_json_get_str(obj, "status", "nominatedNodeName", NULL);
	const cJSON *gates = kube_json_get(obj, "spec", "readinessGates", NULL);
	int ngates = cJSON_GetArraySize(gates), met = 0;
	const cJSON *g;

	if (!ip || !ip[0])
		ip = kube_json_get_str(cJSON_GetArrayItem(kube_json_get(obj, "status", "podIPs", NULL),
							  0), "ip", NULL);
	cell_str(r, ip && ip[0] ? ip : "<none>");
	cell_str(r, node && node[0] ? node : "<none>");
	cell_str(r, nominated && nominated[0] ? nominated : "<none>");
	if (ngates == 0) {
		cell_str(r, "<none>");
		return;
	}
	cJSON_ArrayForEach(g, gates) {
		const char *t = kube_json_get_str(g, "conditionType", NULL);

		met += t && has_condition_true(obj, t);
	}
	cell_fmt(r, "%d/%d", met, ngates);
}

static void row_pod(struct row *r, const cJSON *obj, time_t now)
{
	const char *phase = kube_json_get_str(obj, "status", "phase", NULL);
	const char *preason = kube_json_get_str(obj, "status", "reason", NULL);
	int total = cJSON_GetArraySize(kube_json_get(obj, "spec", "containers", NULL));
	struct pod_summary ps = { NULL, 0, 0, 0 };

	/* The pod's own reason (Evicted, NodeLost) beats its phase. */
	ps.reason = strdup(preason && preason[0] ? preason : phase ? phase : "");
	if (!pod_init_state(&ps, obj) || has_condition_true(obj, "Initialized"))
		pod_container_state(&ps, obj);
	if (kube_json_get(obj, "metadata", "deletionTimestamp", NULL)) {
		if (preason && !strcmp(preason, "NodeLost"))
			set_reason(&ps, strdup("Unknown"));
		else if (!phase || (strcmp(phase, "Succeeded") && strcmp(phase, "Failed")))
			set_reason(&ps, strdup("Terminating"));
	}
	cell_str(r, name_of(obj));
	cell_fmt(r, "%d/%d", ps.ready, total);
	cell_take(r, ps.reason);
	cell_restarts(r, &ps, now);
	cell_age(r, obj, now);
	pod_wide_cells(r, obj);
}

static const struct column svc_cols[] = {
	COL_NAME,
	{ "Type", "string", "", "type determines how the Service is exposed.", 0 },
	{ "Cluster-IP", "string", "", "clusterIP is the IP address of the service.", 0 },
	{ "External-IP", "string", "", "externalIPs is a list of IP addresses for which nodes in "
	  "the cluster will also accept traffic for this service.", 0 },
	{ "Port(s)", "string", "", "The list of ports that are exposed by this service.", 0 },
	COL_AGE,
	{ "Selector", "string", "", "Route service traffic to pods with label keys and values "
	  "matching this selector.", 1 },
};

/* Appends s to *out with a "," separator; returns 0 or KUBE_ENOMEM (then *out is freed). */
static int append_csv(char **out, const char *s)
{
	size_t len = *out ? strlen(*out) : 0;
	char *grown = realloc(*out, len + strlen(s) + 2);

	if (!grown) {
		free(*out);
		*out = NULL;
		return KUBE_ENOMEM;
	}
	sprintf(grown + len, "%s%s", len ? "," : "", s);
	*out = grown;
	return 0;
}

static char *service_external_ip(const cJSON *obj, const char *type)
{
	const cJSON *ext = kube_json_get(obj, "spec", "externalIPs", NULL);
	const cJSON *c;
	char *out = NULL;

	if (!strcmp(type, "ExternalName")) {
		const char *n = kube_json_get_str(obj, "spec", "externalName", NULL);

		return strdup(n ? n : "");
	}
	if (!strcmp(type, "LoadBalancer")) {
		cJSON_ArrayForEach(c, kube_json_get(obj, "status", "loadBalancer", "ingress", NULL)) {
			const char *v = kube_json_get_str(c, "ip", NULL);

			if (!v || !v[0])
				v = kube_json_get_str(c, "hostname", NULL);
			if (v && v[0] && append_csv(&out, v))
				return NULL;
		}
	} else if (strcmp(type, "ClusterIP") && strcmp(type, "NodePort")) {
		return strdup("<unknown>");
	}
	cJSON_ArrayForEach(c, ext) {
		if (cJSON_IsString(c) && append_csv(&out, c->valuestring))
			return NULL;
	}
	if (!out)
		out = strdup(!strcmp(type, "LoadBalancer") ? "<pending>" : "<none>");
	return out;
}

static void row_service(struct row *r, const cJSON *obj, time_t now)
{
	const char *type = kube_json_get_str(obj, "spec", "type", NULL);
	const cJSON *cips = kube_json_get(obj, "spec", "clusterIPs", NULL);
	const char *cip = cJSON_GetStringValue(cJSON_GetArrayItem(cips, 0));
	const cJSON *p;
	char *ports = NULL;

	if (!type || !type[0])
		type = "ClusterIP";
	if (!cip)
		cip = kube_json_get_str(obj, "spec", "clusterIP", NULL);
	cJSON_ArrayForEach(p, kube_json_get(obj, "spec", "ports", NULL)) {
		const char *proto = kube_json_get_str(p, "protocol", NULL);
		long long nodeport = int_at(p, 0, "nodePort", NULL);
		char piece[96];

		if (nodeport > 0)
			snprintf(piece, sizeof(piece), "%lld:%lld/%s", int_at(p, 0, "port", NULL),
				 nodeport, proto ? proto : "TCP");
		else
			snprintf(piece, sizeof(piece), "%lld/%s", int_at(p, 0, "port", NULL),
				 proto ? proto : "TCP");
		if (append_csv(&ports, piece)) {
			r->nomem = 1;
			return;
		}
	}
	cell_str(r, name_of(obj));
	cell_str(r, type);
	cell_str(r, cip && cip[0] ? cip : "<none>");
	cell_take(r, service_external_ip(obj, type));
	cell_take(r, ports ? ports : strdup("<none>"));
	cell_age(r, obj, now);
	cell_take(r, format_labels(kube_json_get(obj, "spec", "selector", NULL)));
}

static const struct column deploy_cols[] = {
	COL_NAME,
	{ "Ready", "string", "", "Number of the pod with ready state", 0 },
	{ "Up-to-date", "integer", "", "Total number of non-terminated pods targeted by this "
	  "deployment that have the desired template spec.", 0 },
	{ "Available", "integer", "", "Total number of available pods (ready for at least "
	  "minReadySeconds) targeted by this deployment.", 0 },
	COL_AGE,
	{ "Containers", "string", "", "Names of each container in the template.", 1 },
	{ "Images", "string", "", "Images referenced by each container in the template.", 1 },
	{ "Selector", "string", "", "Label selector for pods.", 1 },
};

static void row_deployment(struct row *r, const cJSON *obj, time_t now)
{
	cell_str(r, name_of(obj));
	cell_fmt(r, "%lld/%lld", int_at(obj, 0, "status", "readyReplicas"),
		 int_at(obj, 1, "spec", "replicas"));
	cell_int(r, int_at(obj, 0, "status", "updatedReplicas"));
	cell_int(r, int_at(obj, 0, "status", "availableReplicas"));
	cell_age(r, obj, now);
	cells_workload_wide(r, obj);
}

static const struct column rs_cols[] = {
	COL_NAME,
	{ "Desired", "integer", "", "Number of desired pods.", 0 },
	{ "Current", "integer", "", "Replicas is the most recently observed number of replicas.", 0 },
	{ "Ready", "integer", "", "The number of ready replicas for this replica set.", 0 },
	COL_AGE,
	{ "Containers", "string", "", "Names of each container in the template.", 1 },
	{ "Images", "string", "", "Images referenced by each container in the template.", 1 },
	{ "Selector", "string", "", "Label selector for pods.", 1 },
};

static void row_replicaset(struct row *r, const cJSON *obj, time_t now)
{
	cell_str(r, name_of(obj));
	cell_int(r, int_at(obj, 1, "spec", "replicas"));
	cell_int(r, int_at(obj, 0, "status", "replicas"));
	cell_int(r, int_at(obj, 0, "status", "readyReplicas"));
	cell_age(r, obj, now);
	cells_workload_wide(r, obj);
}

static const struct column job_cols[] = {
	COL_NAME,
	{ "Status", "string", "", "Status of the job.", 0 },
	{ "Completions", "string", "", "The desired number of successfully finished pods the job "
	  "should be run with.", 0 },
	{ "Duration", "string", "", "Time required to complete the job.", 0 },
	COL_AGE,
	{ "Containers", "string", "", "Names of each container in the template.", 1 },
	{ "Images", "string", "", "Images referenced by each container in the template.", 1 },
	{ "Selector", "string", "", "A label query over pods that should match the pod count.", 1 },
};

static void row_job(struct row *r, const cJSON *obj, time_t now)
{
	const char *start = kube_json_get_str(obj, "status", "startTime", NULL);
	const char *done = kube_json_get_str(obj, "status", "completionTime", NULL);
	long long succeeded = int_at(obj, 0, "status", "succeeded");
	long long parallelism = int_at(obj, 0, "spec", "parallelism");
	const char *status;
	time_t ts, tc;

	if (has_condition_true(obj, "Complete"))
		status = "Complete";
	else if (has_condition_true(obj, "Failed"))
		status = "Failed";
	else if (kube_json_get(obj, "metadata", "deletionTimestamp", NULL))
		status = "Terminating";
	else if (has_condition_true(obj, "Suspended"))
		status = "Suspended";
	else if (has_condition_true(obj, "FailureTarget"))
		status = "FailureTarget";
	else if (has_condition_true(obj, "SuccessCriteriaMet"))
		status = "SuccessCriteriaMet";
	else
		status = "Running";
	cell_str(r, name_of(obj));
	cell_str(r, status);
	if (kube_json_get(obj, "spec", "completions", NULL))
		cell_fmt(r, "%lld/%lld", succeeded, int_at(obj, 0, "spec", "completions"));
	else if (parallelism > 1)
		cell_fmt(r, "%lld/1 of %lld", succeeded, parallelism);
	else
		cell_fmt(r, "%lld/1", succeeded);
	if (!start || sim_time_parse(start, &ts) != 0)
		cell_str(r, "");
	else if (!done || sim_time_parse(done, &tc) != 0)
		cell_take(r, sim_duration_human((long)(now - ts)));
	else
		cell_take(r, sim_duration_human((long)(tc - ts)));
	cell_age(r, obj, now);
	cells_workload_wide(r, obj);
}

static const struct column ns_cols[] = {
	COL_NAME,
	{ "Status", "string", "", "The status of the namespace", 0 },
	COL_AGE,
};

static void row_namespace(struct row *r, const cJSON *obj, time_t now)
{
	const char *phase = kube_json_get_str(obj, "status", "phase", NULL);

	cell_str(r, name_of(obj));
	cell_str(r, phase ? phase : "Active");
	cell_age(r, obj, now);
}

static const struct column cm_cols[] = {
	COL_NAME,
	{ "Data", "integer", "", "Data contains the configuration data.", 0 },
	COL_AGE,
};

static void row_configmap(struct row *r, const cJSON *obj, time_t now)
{
	cell_str(r, name_of(obj));
	cell_int(r, cJSON_GetArraySize(kube_json_get(obj, "data", NULL)) +
		    cJSON_GetArraySize(kube_json_get(obj, "binaryData", NULL)));
	cell_age(r, obj, now);
}

static const struct column secret_cols[] = {
	COL_NAME,
	{ "Type", "string", "", "Used to facilitate programmatic handling of secret data.", 0 },
	{ "Data", "integer", "", "Data contains the secret data.", 0 },
	COL_AGE,
};

static void row_secret(struct row *r, const cJSON *obj, time_t now)
{
	const char *type = kube_json_get_str(obj, "type", NULL);

	cell_str(r, name_of(obj));
	cell_str(r, type ? type : "Opaque");
	cell_int(r, cJSON_GetArraySize(kube_json_get(obj, "data", NULL)));
	cell_age(r, obj, now);
}

static const struct column sa_cols[] = {
	COL_NAME,
	{ "Secrets", "integer", "", "Secrets is a list of the secrets in the same namespace that "
	  "pods running using this ServiceAccount are allowed to use.", 0 },
	COL_AGE,
};

static void row_serviceaccount(struct row *r, const cJSON *obj, time_t now)
{
	cell_str(r, name_of(obj));
	cell_int(r, cJSON_GetArraySize(kube_json_get(obj, "secrets", NULL)));
	cell_age(r, obj, now);
}

static const struct column lease_cols[] = {
	COL_NAME,
	{ "Holder", "string", "", "The holder of the lease.", 0 },
	COL_AGE,
};

static void row_lease(struct row *r, const cJSON *obj, time_t now)
{
	cell_str(r, name_of(obj));
	cell_str(r, kube_json_get_str(obj, "spec", "holderIdentity", NULL));
	cell_age(r, obj, now);
}

static const struct column node_cols[] = {
	COL_NAME,
	{ "Status", "string", "", "The status of the node", 0 },
	{ "Roles", "string", "", "The roles of the node", 0 },
	COL_AGE,
	{ "Version", "string", "", "Kubelet Version reported by the node.", 0 },
	{ "Internal-IP", "string", "", "List of addresses reachable to the node.", 1 },
	{ "External-IP", "string", "", "List of addresses reachable to the node.", 1 },
	{ "OS-Image", "string", "", "OS Image reported by the node from /etc/os-release.", 1 },
	{ "Kernel-Version", "string", "", "Kernel Version reported by the node.", 1 },
	{ "Container-Runtime", "string", "", "Container Runtime Version reported by the node.", 1 },
};

static const char *node_address(const cJSON *obj, const char *type)
{
	const cJSON *a;

	cJSON_ArrayForEach(a, kube_json_get(obj, "status", "addresses", NULL)) {
		const char *t = kube_json_get_str(a, "type", NULL);

		if (t && !strcmp(t, type))
			return kube_json_get_str(a, "address", NULL);
	}
	return "<none>";
}

static char *node_roles(const cJSON *obj)
{
	static const char prefix[] = "node-role.kubernetes.io/";
	const cJSON *labels = kube_json_get(obj, "metadata", "labels", NULL);
	const char **roles = calloc((size_t)cJSON_GetArraySize(labels) + 1, sizeof(*roles));
	const cJSON *l;
	char *out = NULL;
	size_t n = 0;

	if (!roles)
		return NULL;
	cJSON_ArrayForEach(l, labels) {
		if (!strncmp(l->string, prefix, sizeof(prefix) - 1) && l->string[sizeof(prefix) - 1])
			roles[n++] = l->string + sizeof(prefix) - 1;
		else if (!strcmp(l->string, "kubernetes.io/role") && cJSON_IsString(l) &&
			 l->valuestring[0])
			roles[n++] = l->valuestring;
	}
	qsort(roles, n, sizeof(*roles), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (append_csv(&out, roles[i]))
			break;
	}
	free(roles);
	return n == 0 ? strdup("<none>") : out;
}

static void row_node(struct row *r, const cJSON *obj, time_t now)
{
	const char *ready = NULL, *v;
	const cJSON *c;

	cJSON_ArrayForEach(c, kube_json_get(obj, "status", "conditions", NULL)) {
		const char *t = kube_json_get_str(c, "type", NULL);

		if (t && !strcmp(t, "Ready")) {
			v = kube_json_get_str(c, "status", NULL);
			ready = v && !strcmp(v, "True") ? "Ready" : "NotReady";
		}
	}
	cell_str(r, name_of(obj));
	if (kube_json_get_bool(obj, false, "spec", "unschedulable", NULL))
		cell_fmt(r, "%s,SchedulingDisabled", ready ? ready : "Unknown");
	else
		cell_str(r, ready ? ready : "Unknown");
	cell_take(r, node_roles(obj));
	cell_age(r, obj, now);
	cell_str(r, kube_json_get_str(obj, "status", "nodeInfo", "kubeletVersion", NULL));
	cell_str(r, node_address(obj, "InternalIP"));
	cell_str(r, node_address(obj, "ExternalIP"));
	v = kube_json_get_str(obj, "status", "nodeInfo", "osImage", NULL);
	cell_str(r, v && v[0] ? v : "<unknown>");
	v = kube_json_get_str(obj, "status", "nodeInfo", "kernelVersion", NULL);
	cell_str(r, v && v[0] ? v : "<unknown>");
	v = kube_json_get_str(obj, "status", "nodeInfo", "containerRuntimeVersion", NULL);
	cell_str(r, v && v[0] ? v : "<unknown>");
}

/* Events have no Name column first: kubectl shows LAST SEEN TYPE REASON OBJECT MESSAGE. */
static const struct column event_cols[] = {
	{ "Last Seen", "string", "", "The time at which the most recent occurrence of this event "
	  "was recorded.", 0 },
	{ "Type", "string", "", "Type of this event (Normal, Warning).", 0 },
	{ "Reason", "string", "", "This should be a short, machine understandable string that "
	  "gives the reason for the transition into the object's current status.", 0 },
	{ "Object", "string", "", "The object that this event is about.", 0 },
	{ "Subobject", "string", "", "The field of the object this event is about.", 1 },
	{ "Source", "string", "", "The component reporting this event.", 1 },
	{ "Message", "string", "", "A human-readable description of the status of this "
	  "operation.", 0 },
	{ "First Seen", "string", "", "The time at which the event was first recorded.", 1 },
	{ "Count", "string", "", "The number of times this event has occurred.", 1 },
	{ "Name", "string", "name", DESC_NAME, 1 },
};

/* The first non-empty string among the given fields of obj (NULL-terminated list). */
static const char *first_str(const cJSON *obj, const char *const *keys)
{
	for (; *keys; keys++) {
		const char *v = kube_json_get_str(obj, *keys, NULL);

		if (v && v[0])
			return v;
	}
	return NULL;
}

static void row_event(struct row *r, const cJSON *obj, time_t now)
{
	static const char *const first_keys[] = { "firstTimestamp", "deprecatedFirstTimestamp",
						   "eventTime", NULL };
	static const char *const last_keys[] = { "lastTimestamp", "deprecatedLastTimestamp", NULL };
	const cJSON *inv = kube_json_get(obj, "involvedObject", NULL);
	const char *series_last = kube_json_get_str(obj, "series", "lastObservedTime", NULL);
	const char *kind, *name, *msg, *comp, *host;
	char *first, *last, *target = NULL, *lkind;
	long long count;

	if (!inv)
		inv = kube_json_get(obj, "regarding", NULL);
	first = age_of(first_str(obj, first_keys), now);
	last = first_str(obj, last_keys) ? age_of(first_str(obj, last_keys), now) :
					    (first ? strdup(first) : NULL);
	count = int_at(obj, 0, "count", NULL);
	if (!count)
		count = int_at(obj, 0, "deprecatedCount", NULL);
	if (kube_json_get(obj, "series", NULL)) {
		free(last);
		last = age_of(series_last, now);
		count = int_at(obj, 0, "series", "count");
	} else if (count == 0) {
		count = 1; /* singleton events of the new API carry no count */
	}
	kind = kube_json_get_str(inv, "kind", NULL);
	name = kube_json_get_str(inv, "name", NULL);
	lkind = strdup(kind ? kind : "");
	for (char *c = lkind; c && *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (lkind)
		target = name && name[0] ? xasprintf("%s/%s", lkind, name) : strdup(lkind);
	free(lkind);
	msg = kube_json_get_str(obj, "message", NULL);
	if (!msg)
		msg = kube_json_get_str(obj, "note", NULL);
	comp = kube_json_get_str(obj, "source", "component", NULL);
	if (!comp || !comp[0])
		comp = first_str(obj, (const char *const[]){ "reportingComponent",
							     "reportingController", NULL });
	host = kube_json_get_str(obj, "source", "host", NULL);
	if (!host || !host[0])
		host = kube_json_get_str(obj, "reportingInstance", NULL);

	cell_take(r, last);
	cell_str(r, kube_json_get_str(obj, "type", NULL));
	cell_str(r, kube_json_get_str(obj, "reason", NULL));
	cell_take(r, target);
	cell_str(r, kube_json_get_str(inv, "fieldPath", NULL));
	if (host && host[0])
		cell_fmt(r, "%s, %s", comp ? comp : "", host);
	else
		cell_str(r, comp);
	{
		/* strings.TrimSpace(message) */
		const char *b = msg ? msg : "";
		size_t len;

		while (isspace((unsigned char)*b))
			b++;
		len = strlen(b);
		while (len && isspace((unsigned char)b[len - 1]))
			len--;
		cell_take(r, strndup(b, len));
	}
	cell_take(r, first);
	cell_int(r, count);
	cell_str(r, name_of(obj));
}

/* The apiserver's default convertor for kinds without a printer (CRDs included). */
static const struct column default_cols[] = {
	COL_NAME,
	{ "Created At", "date", "", DESC_CREATED, 0 },
};

static void row_default(struct row *r, const cJSON *obj, time_t now)
{
	const char *ts = kube_json_get_str(obj, "metadata", "creationTimestamp", NULL);
	time_t t;
	char buf[80];

	(void)now;
	cell_str(r, name_of(obj));
	/* Always RFC 3339 UTC, whole seconds, like metav1.Time. */
	if (!ts || sim_time_parse(ts, &t) != 0)
		t = -62135596800; /* Go's zero time, 0001-01-01T00:00:00Z */
	{
		struct tm tm;

		/* Not strftime: %Y does not pad year 1 to four digits. */
		gmtime_r(&t, &tm);
		snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	}
	cell_str(r, buf);
}

struct printer {
	const char *kind;
	const struct column *cols;
	size_t ncols;
	void (*row)(struct row *r, const cJSON *obj, time_t now);
};

#define PRINTER(k, c, f) { k, c, sizeof(c) / sizeof(c[0]), f }

static const struct printer printers[] = {
	PRINTER("Pod", pod_cols, row_pod),
	PRINTER("Service", svc_cols, row_service),
	PRINTER("Deployment", deploy_cols, row_deployment),
	PRINTER("ReplicaSet", rs_cols, row_replicaset),
	PRINTER("Job", job_cols, row_job),
	PRINTER("Namespace", ns_cols, row_namespace),
	PRINTER("ConfigMap", cm_cols, row_configmap),
	PRINTER("Secret", secret_cols, row_secret),
	PRINTER("ServiceAccount", sa_cols, row_serviceaccount),
	PRINTER("Lease", lease_cols, row_lease),
	PRINTER("Node", node_cols, row_node),
	PRINTER("Event", event_cols, row_event),
};

static const struct printer default_printer = PRINTER(NULL, default_cols, row_default);

/* ---- CRD columns ------------------------------------------------------------------------- */

/* cellForJSONValue: the value must match the column type, else the cell is null. */
static cJSON *crd_cell(const cJSON *col, const cJSON *obj, time_t now)
{
	const char *path = kube_json_get_str(col, "jsonPath", NULL);
	const char *type = kube_json_get_str(col, "type", NULL);
	const cJSON *v;

	if (!path || !type)
		return cJSON_CreateNull();
	v = sim_jsonpath_get(obj, path); /* first result only, as the apiserver does */
	if (!v || cJSON_IsNull(v))
		return cJSON_CreateNull();
	if (!strcmp(type, "integer"))
		return cJSON_IsNumber(v) ? cJSON_CreateNumber((double)(long long)v->valuedouble) :
					   cJSON_CreateNull();
	if (!strcmp(type, "number"))
		return cJSON_IsNumber(v) ? cJSON_CreateNumber(v->valuedouble) : cJSON_CreateNull();
	if (!strcmp(type, "boolean"))
		return cJSON_IsBool(v) ? cJSON_CreateBool(cJSON_IsTrue(v)) : cJSON_CreateNull();
	if (!strcmp(type, "date")) {
		time_t t;
		char *s;
		cJSON *c;

		if (!cJSON_IsString(v))
			return cJSON_CreateNull();
		if (sim_time_parse(v->valuestring, &t) != 0)
			return cJSON_CreateString("<invalid>");
		s = sim_duration_human((long)(now - t));
		c = s ? cJSON_CreateString(s) : NULL;
		free(s);
		return c;
	}
	if (!strcmp(type, "string")) {
		char *s = sim_jsonpath_render(v);
		cJSON *c = s ? cJSON_CreateString(s) : NULL;

		free(s);
		return c;
	}
	return cJSON_CreateNull();
}

/* The CRD version's printer columns, or the implicit Age column when it has none. */
static int crd_column_defs(cJSON *defs, const cJSON *cols)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, cols) {
		const char *name = kube_json_get_str(c, "name", NULL);
		const char *type = kube_json_get_str(c, "type", NULL);
		const char *format = kube_json_get_str(c, "format", NULL);
		const char *desc = kube_json_get_str(c, "description", NULL);
		const char *path = kube_json_get_str(c, "jsonPath", NULL);
		cJSON *d = cJSON_CreateObject();
		char *dflt = desc ? NULL : xasprintf("Custom resource definition column (in "
						     "JSONPath format): %s", path ? path : "");

		if (!d || !cJSON_AddItemToArray(defs, d)) {
			cJSON_Delete(d);
			free(dflt);
			return KUBE_ENOMEM;
		}
		/* From here d belongs to defs. */
		if (!cJSON_AddStringToObject(d, "name", name ? name : "") ||
		    !cJSON_AddStringToObject(d, "type", type ? type : "string") ||
		    !cJSON_AddStringToObject(d, "format", format ? format : "") ||
		    !cJSON_AddStringToObject(d, "description", desc ? desc : dflt ? dflt : "") ||
		    !cJSON_AddNumberToObject(d, "priority",
					     (double)int_at(c, 0, "priority", NULL))) {
			free(dflt);
			return KUBE_ENOMEM;
		}
		free(dflt);
	}
	return 0;
}

/* ---- the Table --------------------------------------------------------------------------- */

int sim_table_parse_include(const char *value)
{
	if (!value || !value[0] || !strcmp(value, "Metadata"))
		return SIM_TABLE_INCLUDE_METADATA;
	if (!strcmp(value, "None"))
		return SIM_TABLE_INCLUDE_NONE;
	if (!strcmp(value, "Object"))
		return SIM_TABLE_INCLUDE_OBJECT;
	return -1;
}

static int add_static_defs(cJSON *defs, const struct column *cols, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		cJSON *d = cJSON_CreateObject();

		if (!d || !cJSON_AddItemToArray(defs, d)) {
			cJSON_Delete(d);
			return KUBE_ENOMEM;
		}
		if (!cJSON_AddStringToObject(d, "name", cols[i].name) ||
		    !cJSON_AddStringToObject(d, "type", cols[i].type) ||
		    !cJSON_AddStringToObject(d, "format", cols[i].format) ||
		    !cJSON_AddStringToObject(d, "description", cols[i].description) ||
		    !cJSON_AddNumberToObject(d, "priority", cols[i].priority))
			return KUBE_ENOMEM;
	}
	return 0;
}

/* What a row carries in "object"; NULL on ENOMEM. */
static cJSON *row_object(const cJSON *obj, int include)
{
	const cJSON *src = kube_json_get(obj, "metadata", NULL);
	cJSON *o = NULL, *meta = NULL;

	if (include == SIM_TABLE_INCLUDE_OBJECT)
		return cJSON_Duplicate(obj, 1);
	if (include != SIM_TABLE_INCLUDE_METADATA)
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	meta = src ? cJSON_Duplicate(src, 1) : cJSON_CreateObject();
	if (!o || !meta || !cJSON_AddStringToObject(o, "kind", "PartialObjectMetadata") ||
	    !cJSON_AddStringToObject(o, "apiVersion", "meta.k8s.io/v1") ||
	    !cJSON_AddItemToObject(o, "metadata", meta))
		goto fail;
	return o;
fail:
	cJSON_Delete(meta);
	cJSON_Delete(o);
	return NULL;
}

cJSON *sim_table_build(const cJSON *crd_version, const char *kind, const cJSON *const *objs,
		       size_t n, int include_object, const char *resource_version, time_t now)
{
	const struct printer *pr = &default_printer;
	const cJSON *crd_cols = NULL;
	cJSON *table = cJSON_CreateObject();
	cJSON *meta, *defs, *rows;
	int ok = 0;

	if (!table)
		goto out;
	if (crd_version) {
		crd_cols = kube_json_get(crd_version, "additionalPrinterColumns", NULL);
		if (cJSON_GetArraySize(crd_cols) == 0)
			crd_cols = NULL;
	} else {
		for (size_t i = 0; kind && i < sizeof(printers) / sizeof(printers[0]); i++) {
			if (!strcmp(printers[i].kind, kind))
				pr = &printers[i];
		}
	}
	if (!cJSON_AddStringToObject(table, "kind", "Table") ||
	    !cJSON_AddStringToObject(table, "apiVersion", "meta.k8s.io/v1"))
		goto out;
	meta = cJSON_AddObjectToObject(table, "metadata");
	if (!meta || (resource_version &&
		      !cJSON_AddStringToObject(meta, "resourceVersion", resource_version)))
		goto out;
	defs = cJSON_AddArrayToObject(table, "columnDefinitions");
	rows = cJSON_AddArrayToObject(table, "rows");
	if (!defs || !rows)
		goto out;
	if (crd_version) {
		static const struct column name_age[] = { COL_NAME, { "Age", "date", "",
								     DESC_CREATED, 0 } };

		/* Name always comes first; a CRD without columns gets Age. */
		if (add_static_defs(defs, name_age, crd_cols ? 1 : 2) ||
		    (crd_cols && crd_column_defs(defs, crd_cols)))
			goto out;
	} else if (add_static_defs(defs, pr->cols, pr->ncols)) {
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct row r = { cJSON_CreateArray(), 0 };
		cJSON *row = cJSON_CreateObject(), *ro;
		const cJSON *c;

		if (!row || !r.cells || !cJSON_AddItemToArray(rows, row)) {
			cJSON_Delete(row);
			cJSON_Delete(r.cells);
			goto out;
		}
		if (!cJSON_AddItemToObject(row, "cells", r.cells)) {
			cJSON_Delete(r.cells);
			goto out;
		}
		if (!crd_version) {
			pr->row(&r, objs[i], now);
		} else {
			cell_str(&r, name_of(objs[i]));
			if (!crd_cols)
				cell_age(&r, objs[i], now);
			cJSON_ArrayForEach(c, crd_cols)
				cell_add(&r, crd_cell(c, objs[i], now));
		}
		if (r.nomem)
			goto out;
		ro = row_object(objs[i], include_object);
		if (!ro || !cJSON_AddItemToObject(row, "object", ro)) {
			cJSON_Delete(ro);
			goto out;
		}
	}
	ok = 1;
out:
	if (!ok) {
		cJSON_Delete(table);
		table = NULL;
	}
	return table;
}
