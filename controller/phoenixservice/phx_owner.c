/* What a PhoenixService owns: ownership tests, exact repairs of its Service and PDB, adoption
 * and fencing patches for pods, and the ownership note in its status. See phx_owner.h. */
#include "phx_owner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_json.h"
#include "phx_api.h"
#include "phx_failover.h"
#include "phx_meta.h"

static bool str_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

bool phx_owned_by(const cJSON *obj, const char *uid)
{
	const cJSON *ref = phx_controller_ref(obj);
	return uid && *uid && ref && str_eq(kube_json_get_str(ref, "uid", NULL), uid);
}

const char *phx_owner_uid(const cJSON *obj, const char *name)
{
	const cJSON *ref = phx_controller_ref(obj);
	if (!ref || !str_eq(kube_json_get_str(ref, "kind", NULL), PHX_KIND) ||
	    !str_eq(kube_json_get_str(ref, "name", NULL), name))
		return NULL;
	return kube_json_get_str(ref, "uid", NULL);
}

/* ---------------------------------------------------------------- repair */

/* A port with the server's defaults filled in, for comparison. */
static void port_sig(const cJSON *p, char *out, size_t len)
{
	const cJSON *tp = kube_json_get(p, "targetPort", NULL);
	int64_t port = 0;
	char tps[64] = "";
	kube_json_get_int(p, &port, "port", NULL);
	if (cJSON_IsString(tp))
		snprintf(tps, sizeof(tps), "%.60s", tp->valuestring);
	else if (cJSON_IsNumber(tp))
		snprintf(tps, sizeof(tps), "%d", tp->valueint);
	else
		snprintf(tps, sizeof(tps), "%lld", (long long)port);
	const char *proto = kube_json_get_str(p, "protocol", NULL);
	const char *name = kube_json_get_str(p, "name", NULL);
	snprintf(out, len, "%.100s:%lld:%s:%.16s", name ? name : "", (long long)port, tps,
		 proto ? proto : "TCP");
}

static bool ports_equal(const cJSON *a, const cJSON *b)
{
	char sa[256], sb[256];
	if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
		return false;
	for (const cJSON *x = a ? a->child : NULL, *y = b ? b->child : NULL; x && y;
	     x = x->next, y = y->next) {
		port_sig(x, sa, sizeof(sa));
		port_sig(y, sb, sizeof(sb));
		if (strcmp(sa, sb) != 0)
			return false;
	}
	return true;
}

/* want's ports, each keeping the nodePort the server allocated for the same port number. */
static cJSON *ports_keeping_node_ports(const cJSON *want, const cJSON *observed)
{
	cJSON *out = cJSON_Duplicate(want, 1);
	cJSON *p;
	cJSON_ArrayForEach(p, out) {
		int64_t port = 0, op = 0, np = 0;
		const cJSON *o;
		kube_json_get_int(p, &port, "port", NULL);
		cJSON_ArrayForEach(o, observed) {
			if (kube_json_get_int(o, &op, "port", NULL) && op == port &&
			    kube_json_get_int(o, &np, "nodePort", NULL) && np > 0)
				cJSON_AddNumberToObject(p, "nodePort", (double)np);
		}
	}
	return out;
}

/* Appends {"op": op, "path": path, "value": value (taken; NULL = none)}. */
static bool add_op(cJSON *arr, const char *op, const char *path, cJSON *value)
{
	cJSON *o = cJSON_CreateObject();
	if (!o || !cJSON_AddStringToObject(o, "op", op) || !cJSON_AddStringToObject(o, "path", path)) {
		cJSON_Delete(o);
		cJSON_Delete(value);
		return false;
	}
	if (value)
		cJSON_AddItemToObject(o, "value", value);
	cJSON_AddItemToArray(arr, o);
	return true;
}

/* Ops for the field at spec.<key> when it differs (absent in want: left alone). */
static bool repair_field(cJSON *arr, const cJSON *ws, const cJSON *os, const char *key)
{
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(ws, key);
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(os, key);
	char path[64];
	if (!w || (o && cJSON_Compare(w, o, 1)))
		return true;
	snprintf(path, sizeof(path), "/spec/%s", key);
	cJSON *v = cJSON_Duplicate(w, 1);
	return v && add_op(arr, "add", path, v);
}

static bool repair_service(cJSON *arr, const cJSON *ws, const cJSON *os)
{
	const char *wt = kube_json_get_str(ws, "type", NULL);
	const char *ot = kube_json_get_str(os, "type", NULL);
	const cJSON *wp = kube_json_get(ws, "ports", NULL), *op = kube_json_get(os, "ports", NULL);
	bool ok = true;
	if (wt && !str_eq(wt, ot ? ot : "ClusterIP"))
		ok = add_op(arr, "add", "/spec/type", cJSON_CreateString(wt));
	if (ok)
		ok = repair_field(arr, ws, os, "selector");
	if (ok && !ports_equal(wp, op)) {
		/* nodePorts only exist for these types (the API rejects them on a ClusterIP) */
		bool node = str_eq(wt, "NodePort") || str_eq(wt, "LoadBalancer");
		cJSON *ports = node ? ports_keeping_node_ports(wp, op) : cJSON_Duplicate(wp, 1);
		ok = ports && add_op(arr, "add", "/spec/ports", ports);
	}
	if (ok && kube_json_get_bool(ws, 0, "publishNotReadyAddresses", NULL) !=
			  kube_json_get_bool(os, 0, "publishNotReadyAddresses", NULL))
		ok = repair_field(arr, ws, NULL, "publishNotReadyAddresses");
	return ok;
}

static bool repair_pdb(cJSON *arr, const cJSON *ws, const cJSON *os)
{
	bool ok = repair_field(arr, ws, os, "selector");
	if (ok)
		ok = repair_field(arr, ws, os, "maxUnavailable");
	if (ok && cJSON_GetObjectItemCaseSensitive(os, "minAvailable"))
		ok = add_op(arr, "remove", "/spec/minAvailable", NULL);
	return ok;
}

/* Our service label back on an object that lost it (the caches select by it). */
static bool repair_labels(cJSON *arr, const cJSON *want, const cJSON *observed)
{
	const char *v = kube_json_get_str(want, "metadata", "labels", PHX_LABEL_SERVICE, NULL);
	const cJSON *ol = kube_json_get(observed, "metadata", "labels", NULL);
	if (!v || str_eq(kube_json_get_str(ol, PHX_LABEL_SERVICE, NULL), v))
		return true;
	if (!cJSON_IsObject(ol)) {
		cJSON *labels = cJSON_CreateObject();
		return labels && cJSON_AddStringToObject(labels, PHX_LABEL_SERVICE, v) &&
		       add_op(arr, "add", "/metadata/labels", labels);
	}
	/* JSON pointer: "/" in a key is written "~1". */
	return add_op(arr, "add", "/metadata/labels/phoenix.fpai.io~1service",
		      cJSON_CreateString(v));
}

cJSON *phx_repair_patch(const cJSON *want, const cJSON *observed, bool *enomem)
{
	const cJSON *ws = kube_json_get(want, "spec", NULL);
	const cJSON *os = kube_json_get(observed, "spec", NULL);
	cJSON *arr = cJSON_CreateArray();
	bool ok = arr != NULL;
	if (ok && !cJSON_IsObject(os))
		ok = add_op(arr, "add", "/spec", cJSON_CreateObject());
	if (ok && str_eq(kube_json_get_str(want, "kind", NULL), "Service"))
		ok = repair_service(arr, ws, os);
	else if (ok)
		ok = repair_pdb(arr, ws, os);
	if (ok)
		ok = repair_labels(arr, want, observed);
	if (enomem)
		*enomem = !ok;
	if (!ok || cJSON_GetArraySize(arr) == 0 ||
	    (cJSON_GetArraySize(arr) == 1 && !cJSON_IsObject(os))) {
		cJSON_Delete(arr);
		return NULL;
	}
	return arr;
}

/* ---------------------------------------------------------------- pods */

char *phx_pod_adopt_patch(const cJSON *pod, const char *svcname, const char *uid)
{
	const cJSON *labels = kube_json_get(pod, "metadata", "labels", NULL);
	bool uid_ok = str_eq(kube_json_get_str(labels, PHX_LABEL_OWNER, NULL), uid);
	bool svc_ok = str_eq(kube_json_get_str(labels, PHX_LABEL_SERVICE, NULL), svcname);
	char *out = NULL;
	if (uid_ok && svc_ok)
		return NULL;
	cJSON *patch = cJSON_CreateObject();
	cJSON *l = kube_json_ensure_obj(kube_json_ensure_obj(patch, "metadata"), "labels");
	if (!l)
		goto out;
	kube_json_set_str(l, PHX_LABEL_OWNER, uid);
	if (!svc_ok) {
		kube_json_set_str(l, PHX_LABEL_SERVICE, svcname);
		kube_json_set_str(l, PHX_LABEL_ROLE, phx_role_str(PHX_ROLE_STANDBY));
		kube_json_set_str(l, PHX_LABEL_SERVING, "false");
	}
	out = kube_json_print(patch);
out:
	cJSON_Delete(patch);
	return out;
}

const char *phx_pod_fence_patch(void)
{
	return "{\"metadata\":{\"labels\":{\"" PHX_LABEL_SERVING "\":\"false\",\"" PHX_LABEL_OWNER
	       "\":null}}}";
}

/* ---------------------------------------------------------------- status */

static void drop_condition(cJSON *conds, const char *type)
{
	cJSON *c = conds ? conds->child : NULL, *next;
	for (; c; c = next) {
		next = c->next;
		if (str_eq(kube_json_get_str(c, "type", NULL), type))
			cJSON_Delete(cJSON_DetachItemViaPointer(conds, c));
	}
}

void phx_status_note_ownership(cJSON *status, const cJSON *prev_status, const char *msg,
			       bool traffic_lost, int64_t generation, int64_t now_ms)
{
	cJSON *conds = cJSON_GetObjectItemCaseSensitive(status, "conditions");
	bool conflict = msg && *msg;
	if (!cJSON_IsArray(conds))
		conds = cJSON_AddArrayToObject(status, "conditions");
	if (!conds)
		return;
	drop_condition(conds, PHX_COND_OWNERSHIP_CONFLICT);
	phx_condition_add(conds, prev_status, PHX_COND_OWNERSHIP_CONFLICT, conflict,
			  conflict ? PHX_REASON_NOT_OWNED : PHX_REASON_ALL_OWNED, conflict ? msg : "",
			  generation, now_ms);
	if (!traffic_lost)
		return;
	cJSON_DeleteItemFromObjectCaseSensitive(status, "phase");
	cJSON_AddStringToObject(status, "phase", "Degraded");
	drop_condition(conds, PHX_COND_DEGRADED);
	phx_condition_add(conds, prev_status, PHX_COND_DEGRADED, true, PHX_REASON_NOT_OWNED, msg,
			  generation, now_ms);
}
