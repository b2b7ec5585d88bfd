/* The Phoenix board (dash_phoenix.h). */
#include "dash_phoenix.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>

#include "dash_server.h"
#include "kube_error.h"
#include "kube_json.h"
#include "phx_api.h"
#include "phx_service.h"

struct seen {
	UT_hash_handle hh;
	char *key;
	double failovers;
	int64_t last_ms; /* 0 = not seen to grow */
	int64_t mark;    /* snapshot generation that last listed it */
};

struct dash_failover_log {
	pthread_mutex_t mu;
	struct seen *by_key;
	int64_t gen;
};

struct dash_failover_log *dash_failover_log_new(void)
{
	struct dash_failover_log *l = calloc(1, sizeof(*l));

	if (l)
		pthread_mutex_init(&l->mu, NULL);
	return l;
}

void dash_failover_log_free(struct dash_failover_log *l)
{
	struct seen *s, *tmp;

	if (!l)
		return;
	HASH_ITER(hh, l->by_key, s, tmp) {
		HASH_DEL(l->by_key, s);
		free(s->key);
		free(s);
	}
	pthread_mutex_destroy(&l->mu);
	free(l);
}

static void rfc3339(int64_t ms, char *buf, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The log entry of key, created (with the current count, not a failover) on first sight. */
static struct seen *seen_get(struct dash_failover_log *l, const char *key, double failovers)
{
	struct seen *s;

	HASH_FIND_STR(l->by_key, key, s);
	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->key = strdup(key);
	if (!s->key) {
		free(s);
		return NULL;
	}
	s->failovers = failovers;
	HASH_ADD_KEYPTR(hh, l->by_key, s->key, strlen(s->key), s);
	return s;
}

void dash_phoenix_annotate(cJSON *snap, struct dash_failover_log *l, int64_t now_ms)
{
	cJSON *items = cJSON_GetObjectItemCaseSensitive(snap, "items"), *it;
	struct seen *s, *tmp;

	pthread_mutex_lock(&l->mu);
	l->gen++;
	cJSON_ArrayForEach(it, items) {
		const char *key = kube_json_get_str(it, "service", NULL);
		const char *slash = key ? strchr(key, '/') : NULL;
		double fo = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it, "failovers"));
		char ns[256], when[32];

		if (!slash || (size_t)(slash - key) >= sizeof(ns))
			continue;
		snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
		cJSON_AddStringToObject(it, "namespace", ns);
		cJSON_AddStringToObject(it, "name", slash + 1);
		s = seen_get(l, key, fo);
		if (!s)
			continue;
		s->mark = l->gen;
		if (fo > s->failovers)
			s->last_ms = now_ms;
		s->failovers = fo;
		/* The reconciler's own time, when its snapshot carries it, wins over ours. */
		double known = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(it,
										   "lastFailoverMs"));
		if (known > 0)
			s->last_ms = (int64_t)known;
		if (s->last_ms > 0) {
			rfc3339(s->last_ms, when, sizeof(when));
			cJSON_AddStringToObject(it, "lastFailoverTime", when);
		}
	}
	/* A service gone from the snapshot is forgotten (a new one of that name starts fresh). */
	HASH_ITER(hh, l->by_key, s, tmp) {
		if (s->mark != l->gen) {
			HASH_DEL(l->by_key, s);
			free(s->key);
			free(s);
		}
	}
	pthread_mutex_unlock(&l->mu);
}

static const char *str_or(const char *s)
{
	return s ? s : "";
}

static double num(const cJSON *o, const char *k)
{
	return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static void set_num(cJSON *o, const char *k, double v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, k);
	cJSON_AddNumberToObject(o, k, v);
}

void dash_phoenix_summarize(cJSON *board, bool all, void *data)
{
	cJSON *items = cJSON_GetObjectItemCaseSensitive(board, "items"), *it;
	cJSON *progress = cJSON_CreateArray(), *last = NULL;
	double services = 0, ready = 0, total = 0, capacity = 0, failovers = 0;
	const char *last_time = NULL;

	(void)data;
	cJSON_ArrayForEach(it, items) {
		const char *t = kube_json_get_str(it, "lastFailoverTime", NULL);

		services++;
		ready += num(it, "readyInstances");
		total += num(it, "totalInstances");
		capacity += num(it, "capacityPercent");
		failovers += num(it, "failovers");
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "failoverInProgress"))) {
			cJSON *p = cJSON_CreateObject();

			cJSON_AddStringToObject(p, "service", kube_json_get_str(it, "service", NULL));
			cJSON_AddStringToObject(p, "failedPod",
						str_or(kube_json_get_str(it, "failedPod", NULL)));
			cJSON_AddStringToObject(p, "primary",
						str_or(kube_json_get_str(it, "primary", NULL)));
			cJSON_AddItemToArray(progress, p);
		}
		/* RFC 3339 in UTC with the same layout sorts as text. */
		if (t && (!last_time || strcmp(t, last_time) > 0)) {
			last_time = t;
			last = it;
		}
	}
	set_num(board, "services", services);
	set_num(board, "readyInstances", ready);
	set_num(board, "totalInstances", total);
	set_num(board, "capacityPercent", services > 0 ? (double)((long long)(capacity / services))
						       : 0);
	set_num(board, "capacityPercentTotal", capacity);
	set_num(board, "failoversTotal", failovers);
	set_num(board, "failoversInProgress", (double)cJSON_GetArraySize(progress));
	cJSON_DeleteItemFromObjectCaseSensitive(board, "trackedServices");
	if (!all) {
		cJSON_DeleteItemFromObjectCaseSensitive(board, "failoversToday");
		cJSON_DeleteItemFromObjectCaseSensitive(board, "meanReactionMs");
	}
	if (last) {
		cJSON *l = cJSON_AddObjectToObject(board, "lastFailover");

		cJSON_AddStringToObject(l, "service", kube_json_get_str(last, "service", NULL));
		cJSON_AddStringToObject(l, "time", last_time);
		if (cJSON_GetObjectItemCaseSensitive(last, "lastFailoverReactionMs"))
			cJSON_AddNumberToObject(l, "reactionMs", num(last, "lastFailoverReactionMs"));
	}
	cJSON_AddItemToObject(board, "inProgress", progress);
}

/* ---------------------------------------------------------------- registration */

struct phoenix_board {
	struct phx_reconciler *r;
	struct dash_failover_log *log;
};

static cJSON *snapshot(void *data)
{
	struct phoenix_board *pb = data;
	cJSON *snap = phx_reconciler_dashboard(pb->r);

	if (snap)
		dash_phoenix_annotate(snap, pb->log, phx_wall_ms());
	return snap;
}

static void board_free(void *data)
{
	struct phoenix_board *pb = data;

	dash_failover_log_free(pb->log);
	free(pb);
}

int dash_phoenix_register(struct dash_server *d, struct phx_reconciler *r)
{
	struct phoenix_board *pb;

	if (!d)
		d = dash_server_default();
	if (!d)
		return 0;
	pb = calloc(1, sizeof(*pb));
	if (!pb)
		return KUBE_ENOMEM;
	pb->r = r;
	pb->log = dash_failover_log_new();
	if (!pb->log) {
		free(pb);
		return KUBE_ENOMEM;
	}
	struct dash_board b = {
		.name = "phoenix", .group = PHX_GROUP, .resource = PHX_RESOURCE,
		.snapshot = snapshot, .summarize = dash_phoenix_summarize, .data = pb,
		.free = board_free,
	};
	return dash_server_add_board(d, &b);
}
