/* The pipeline summary (dash_summary.h): pure, shared by the dashboard and kubectl phoenix
 * status. */
#include "dash_summary.h"

#include <stdlib.h>
#include <string.h>

#include "kube_json.h"
#include "kube_time.h"

static bool eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static const char *s_or(const char *s, const char *d)
{
	return s ? s : d;
}

static int64_t ms_of(const char *t)
{
	int64_t ms;

	return t && kube_time_parse_ms(t, &ms) == 0 ? ms : -1;
}

const cJSON *dash_cond_of(const cJSON *obj, const char *type)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, kube_json_get(obj, "status", "conditions", NULL))
		if (eq(kube_json_get_str(c, "type", NULL), type))
			return c;
	return NULL;
}

const char *dash_phase_of(const cJSON *obj)
{
	return s_or(kube_json_get_str(obj, "status", "phase", NULL), "Pending");
}

const char *dash_pipeline_gate(const char *kind, const cJSON *obj)
{
	const char *p = dash_phase_of(obj);

	if (eq(kind, "Build"))
		return eq(p, "AwaitingApproval") ? "Deploy" : NULL;
	if (eq(p, "AwaitingApproval"))
		return "Governance";
	if (eq(p, "SpecReview"))
		return "Spec";
	return NULL;
}

static bool intent_done(const char *p)
{
	return eq(p, "Ready") || eq(p, "Failed") || eq(p, "Rejected") || eq(p, "Denied") ||
	       eq(p, "Cancelled");
}

/* The success rate in percent, one decimal; absent while nothing has finished (a board shows
 * "-", not a 0% that reads as "everything failed"). */
static void add_rate(cJSON *o, double ok, double bad)
{
	if (ok + bad > 0)
		cJSON_AddNumberToObject(o, "successRate",
					(double)(long long)(1000.0 * ok / (ok + bad)) / 10.0);
}

static void add_str(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
}

/* Queue entries sort by position (then name). */
static int by_position(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	double px = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(x, "position"));
	double py = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(y, "position"));

	if (px != py)
		return px < py ? -1 : 1;
	return strcmp(s_or(kube_json_get_str(x, "name", NULL), ""),
		      s_or(kube_json_get_str(y, "name", NULL), ""));
}

static void sort_queue(cJSON *queue)
{
	int n = cJSON_GetArraySize(queue);
	cJSON **v = n > 0 ? calloc((size_t)n, sizeof(*v)) : NULL;
	int i = 0;

	if (!v)
		return;
	while (queue->child)
		v[i++] = cJSON_DetachItemViaPointer(queue, queue->child);
	qsort(v, (size_t)n, sizeof(*v), by_position);
	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(queue, v[i]);
	free(v);
}

cJSON *dash_pipeline_summary(const cJSON *intents, const cJSON *builds, int64_t now_ms)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *in = cJSON_AddObjectToObject(o, "intents");
	cJSON *active = cJSON_AddArrayToObject(o, "active");
	cJSON *queue = cJSON_AddArrayToObject(o, "queue");
	cJSON *bo = cJSON_AddObjectToObject(o, "builds");
	double total = 0, today = 0, done = 0, failed = 0, dur = 0, ndur = 0;
	double bt = 0, bq = 0, br = 0, bd = 0, bf = 0, bdur = 0, nbdur = 0;
	int64_t day = now_ms / 86400000;
	const cJSON *it;

	if (!o || !in || !active || !queue || !bo) {
		cJSON_Delete(o);
		return NULL;
	}
	cJSON_ArrayForEach(it, intents) {
		const char *p = dash_phase_of(it);
		int64_t created = ms_of(kube_json_get_str(it, "metadata", "creationTimestamp",
							  NULL));

		total++;
		if (created >= 0 && created / 86400000 == day)
			today++;
		if (eq(p, "Ready")) {
			const cJSON *r = dash_cond_of(it, "Ready");
			int64_t end = ms_of(kube_json_get_str(r, "lastTransitionTime", NULL));

			done++;
			if (created >= 0 && end >= created) {
				dur += (double)(end - created);
				ndur++;
			}
		} else if (eq(p, "Failed") || eq(p, "Rejected") || eq(p, "Denied")) {
			failed++;
		}
		if (!intent_done(p)) {
			cJSON *a = cJSON_CreateObject();

			add_str(a, "namespace", kube_json_namespace(it));
			add_str(a, "name", kube_json_name(it));
			add_str(a, "phase", p);
			add_str(a, "service", kube_json_get_str(it, "spec", "serviceName", NULL));
			add_str(a, "priority", kube_json_get_str(it, "spec", "priority", NULL));
			add_str(a, "build", kube_json_get_str(it, "status", "buildRef", "name", NULL));
			add_str(a, "since", kube_json_get_str(it, "metadata", "creationTimestamp",
							      NULL));
			cJSON_AddItemToArray(active, a);
		}
		const cJSON *q = kube_json_get(it, "status", "queue", NULL);
		if (cJSON_IsObject(q) && eq(p, "Queued")) {
			cJSON *e = cJSON_CreateObject();
			int64_t pos = 0;

			kube_json_get_int(q, &pos, "position", NULL);
			cJSON_AddNumberToObject(e, "position", (double)pos);
			add_str(e, "namespace", kube_json_namespace(it));
			add_str(e, "name", kube_json_name(it));
			add_str(e, "priority", kube_json_get_str(q, "priority", NULL));
			add_str(e, "enqueuedAt", kube_json_get_str(q, "enqueuedAt", NULL));
			add_str(e, "slaDeadline", kube_json_get_str(q, "slaDeadline", NULL));
			const cJSON *sla = dash_cond_of(it, "SLABreached");
			cJSON_AddBoolToObject(e, "slaBreached",
					      eq(kube_json_get_str(sla, "status", NULL), "True"));
			cJSON_AddItemToArray(queue, e);
		}
	}
	sort_queue(queue);
	cJSON_AddNumberToObject(in, "total", total);
	cJSON_AddNumberToObject(in, "today", today);
	cJSON_AddNumberToObject(in, "completed", done);
	cJSON_AddNumberToObject(in, "failed", failed);
	cJSON_AddNumberToObject(in, "active", cJSON_GetArraySize(active));
	add_rate(in, done, failed);
	if (ndur > 0)
		cJSON_AddNumberToObject(in, "avgDurationMs", (double)(long long)(dur / ndur));

	cJSON_ArrayForEach(it, builds) {
		const char *p = dash_phase_of(it);

		bt++;
		if (eq(p, "Pending"))
			bq++;
		else if (eq(p, "Succeeded"))
			bd++;
		else if (eq(p, "Failed"))
			bf++;
		else if (!eq(p, "Cancelled"))
			br++;
		int64_t s = ms_of(kube_json_get_str(it, "status", "startTime", NULL));
		int64_t e = ms_of(kube_json_get_str(it, "status", "completionTime", NULL));
		if (eq(p, "Succeeded") && s >= 0 && e >= s) {
			bdur += (double)(e - s);
			nbdur++;
		}
	}
	cJSON_AddNumberToObject(bo, "total", bt);
	cJSON_AddNumberToObject(bo, "queued", bq);
	cJSON_AddNumberToObject(bo, "running", br);
	cJSON_AddNumberToObject(bo, "completed", bd);
	cJSON_AddNumberToObject(bo, "failed", bf);
	add_rate(bo, bd, bf);
	if (nbdur > 0)
		cJSON_AddNumberToObject(bo, "avgBuildMs", (double)(long long)(bdur / nbdur));
	return o;
}

