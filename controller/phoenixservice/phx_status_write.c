/* The PhoenixService reconciler, status writes: /status is patched only when it changes from
 * what the API holds (not from what we last wrote, nor from a stale cached copy). */
#include "phx_service_int.h"

/* The status the object carries now: the cache's, unless the cache has not seen our last
 * write yet (its resourceVersion is older), then what we wrote. Borrowed from svc, or parsed
 * into *tmp (the caller frees it). Comparing against this, not against what we last wrote,
 * is what undoes hand edits and a write made from a stale snapshot. */
const cJSON *svc_status_now(const struct svc_rec *rec, const cJSON *svc, cJSON **tmp)
{
	uint64_t rv = svc_rv_num(svc);
	*tmp = NULL;
	if (rec->last_status && (rec->status_rv == 0 || rv == UINT64_MAX || rv < rec->status_rv))
		*tmp = cJSON_Parse(rec->last_status);
	return *tmp ? *tmp : kube_json_get(svc, "status", NULL);
}

/* Whether merging `want` into `now` changes anything (lastReconcileTime aside). Keys of `now`
 * that `want` lacks stay as they are with a merge patch, so they are not compared: comparing
 * them would write on every reconcile without ever converging. */
static bool status_patch_changes(const cJSON *now, const cJSON *want)
{
	const cJSON *w;
	cJSON_ArrayForEach(w, want) {
		if (strcmp(w->string, "lastReconcileTime") == 0)
			continue;
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(now, w->string);
		if (cJSON_IsNull(w) ? o && !cJSON_IsNull(o) : !o || !cJSON_Compare(o, w, 1))
			return true;
	}
	return false;
}

/* Optional fields a merge patch must remove explicitly (it keeps absent keys). */
static void status_null_absent(cJSON *status)
{
	static const char *const opt[] = { "failoverInProgress", "lastFailoverTime",
					   "lastFailoverReactionMs", "lastRecoverySeconds" };
	for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
		if (!cJSON_GetObjectItemCaseSensitive(status, opt[i]))
			cJSON_AddNullToObject(status, opt[i]);
}

/* PATCHes /status with `txt`; until the failover count is confirmed, only if the object is
 * still at the cached resourceVersion (KUBE_ECONFLICT otherwise). Sets rec->status_rv. */
static int patch_status(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			const char *txt)
{
	const char *rv = kube_json_resource_version(svc);
	bool precond = !rec->count_confirmed && rv && *rv;
	size_t len = strlen(txt) + (precond ? strlen(rv) : 0) + 64;
	char *body = malloc(len);
	cJSON *out = NULL;
	int rc;
	if (!body)
		return KUBE_ENOMEM;
	if (precond)
		snprintf(body, len, "{\"metadata\":{\"resourceVersion\":\"%s\"},\"status\":%s}", rv,
			 txt);
	else
		snprintf(body, len, "{\"status\":%s}", txt);
	rc = kube_patch(r->client, &PHX_GVR, kube_json_namespace(svc), kube_json_name(svc),
			"status", KUBE_PATCH_MERGE, body, &out, NULL);
	free(body);
	if (rc == 0) {
		uint64_t n = out ? svc_rv_num(out) : UINT64_MAX;
		rec->status_rv = n == UINT64_MAX ? 0 : n;
		rec->count_confirmed = true;
	}
	cJSON_Delete(out);
	return rc;
}

/* Writes status when it differs from what the object says now, or when lastReconcileTime is
 * due for a refresh (PHX_STATUS_REFRESH_MS). Returns 0 (also when the object is gone) or the
 * write's error; KUBE_ECONFLICT: the cache was behind, re-read it. */
int svc_write_status(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			cJSON *status, int64_t now_ms)
{
	cJSON *tmp = NULL;
	uint64_t rv = svc_rv_num(svc);
	if (rec->status_rv != 0 && rv != UINT64_MAX && rv >= rec->status_rv) {
		/* the cache shows our last write: svc_status_now reads it there from now on */
		free(rec->last_status);
		rec->last_status = NULL;
	}
	const cJSON *now = svc_status_now(rec, svc, &tmp);
	char ts[32];
	char *txt = NULL;
	int rc = 0;
	int64_t last = phx_time_parse_ms(kube_json_get_str(now, "lastReconcileTime", NULL));

	status_null_absent(status);
	if (!status_patch_changes(now, status) && !phx_status_refresh_due(last, now_ms)) {
		rec->refresh_at_ms = last + PHX_STATUS_REFRESH_MS;
		goto out;
	}
	phx_time_format(now_ms, ts, sizeof(ts));
	kube_json_set_str(status, "lastReconcileTime", ts);
	txt = kube_json_print(status);
	if (!txt) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	rc = patch_status(r, rec, svc, txt);
	if (rc == KUBE_ENOTFOUND)
		rc = 0;
	if (rc == 0) {
		free(rec->last_status);
		rec->last_status = txt;
		txt = NULL;
		rec->refresh_at_ms = now_ms + PHX_STATUS_REFRESH_MS;
	}
out:
	cJSON_Delete(tmp);
	free(txt);
	return rc;
}
