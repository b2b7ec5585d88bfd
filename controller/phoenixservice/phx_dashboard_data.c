/* The PhoenixService reconciler, dashboard data: the JSON snapshot /dashboard serves
 * (phx_reconciler_dashboard). */
#include "phx_service_int.h"

/* ---------------------------------------------------------------- dashboard */

cJSON *phx_reconciler_dashboard(struct phx_reconciler *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *rows = cJSON_CreateArray();
	int services = 0, ready = 0, total = 0, in_progress = 0;
	int64_t failovers = 0, capacity = 0;
	size_t nall = 0;
	struct svc_rec **all = NULL;
	if (!o || !rows)
		goto fail;
	all = svc_rec_snapshot(r, &nall);
	if (!all && phx_reconciler_nrecords(r) > 0)
		goto fail;
	for (size_t i = 0; i < nall; i++) {
		struct svc_rec *rec = all[i];
		pthread_mutex_lock(&rec->mu);
		if (rec->init && !rec->gone && rec->linked) {
			cJSON *row = cJSON_CreateObject();
			services++;
			ready += rec->ready;
			total += rec->total;
			capacity += rec->capacity;
			failovers += rec->failovers;
			in_progress += rec->in_progress;
			cJSON_AddStringToObject(row, "service", rec->key);
			cJSON_AddStringToObject(row, "phase", rec->phase);
			cJSON_AddStringToObject(row, "primary", svc_str_or_empty(rec->primary));
			cJSON_AddNumberToObject(row, "readyInstances", rec->ready);
			cJSON_AddNumberToObject(row, "totalInstances", rec->total);
			cJSON_AddNumberToObject(row, "capacityPercent", rec->capacity);
			cJSON_AddNumberToObject(row, "failovers", (double)rec->failovers);
			cJSON_AddBoolToObject(row, "failoverInProgress", rec->in_progress);
			if (rec->in_progress)
				cJSON_AddStringToObject(row, "failedPod",
							svc_str_or_empty(rec->failed_pod));
			if (rec->last_reaction_ms >= 0)
				cJSON_AddNumberToObject(row, "lastFailoverReactionMs",
							(double)rec->last_reaction_ms);
			cJSON_AddItemToArray(rows, row);
		}
		pthread_mutex_unlock(&rec->mu);
	}
	svc_rec_snapshot_free(all, nall);

	int64_t now = phx_wall_ms(), midnight = now - now % 86400000;
	int today = 0;
	double mean = 0;
	pthread_mutex_lock(&r->log_mu);
	for (size_t i = 0; i < r->fo_len; i++)
		today += r->fo_time_ms[(r->fo_head + i) % FAILOVER_LOG_MAX] >= midnight;
	if (r->reaction_count)
		mean = r->reaction_sum_ms / (double)r->reaction_count;
	pthread_mutex_unlock(&r->log_mu);

	cJSON_AddNumberToObject(o, "services", services);
	/* Every service this replica keeps memory for, standbys' warm records included. */
	cJSON_AddNumberToObject(o, "trackedServices", (double)nall);
	cJSON_AddNumberToObject(o, "readyInstances", ready);
	cJSON_AddNumberToObject(o, "totalInstances", total);
	cJSON_AddNumberToObject(o, "capacityPercent",
				services ? (double)(capacity / services) : 0);
	cJSON_AddNumberToObject(o, "capacityPercentTotal", (double)capacity);
	cJSON_AddNumberToObject(o, "failoversTotal", (double)failovers);
	cJSON_AddNumberToObject(o, "failoversToday", today);
	cJSON_AddNumberToObject(o, "meanReactionMs", round(mean * 1000) / 1000);
	cJSON_AddNumberToObject(o, "failoversInProgress", in_progress);
	cJSON_AddItemToObject(o, "items", rows);
	return o;
fail:
	cJSON_Delete(o);
	cJSON_Delete(rows);
	return NULL;
}
