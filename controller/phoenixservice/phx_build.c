/* PhoenixService decision logic, builders: the pod, Service and PodDisruptionBudget a
 * PhoenixService makes (phx_failover.h). Pure functions. */
#include "phx_failover.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube_error.h"
#include "kube_json.h"
#include "kube_time.h"
#include "phx_failover_util.h"
#include "phx_meta.h"

/* ---------------------------------------------------------------- builders */

static void set_label(cJSON *labels, const char *k, const char *v, bool keep_existing)
{
	if (keep_existing && cJSON_GetObjectItemCaseSensitive(labels, k))
		return;
	kube_json_set_str(labels, k, v);
}

static cJSON *base_object(const cJSON *svc, const char *api, const char *kind, const char *name)
{
	const char *svcname = kube_json_name(svc);
	cJSON *o = cJSON_CreateObject();
	cJSON *md = cJSON_AddObjectToObject(o, "metadata");
	cJSON *labels = md ? cJSON_AddObjectToObject(md, "labels") : NULL;
	if (!labels || !svcname) {
		cJSON_Delete(o);
		return NULL;
	}
	cJSON_AddStringToObject(o, "apiVersion", api);
	cJSON_AddStringToObject(o, "kind", kind);
	cJSON_AddStringToObject(md, "name", name);
	if (kube_json_namespace(svc))
		cJSON_AddStringToObject(md, "namespace", kube_json_namespace(svc));
	set_label(labels, PHX_LABEL_SERVICE, svcname, false);
	set_label(labels, "app.kubernetes.io/name", svcname, false);
	set_label(labels, "app.kubernetes.io/instance", svcname, false);
	set_label(labels, "app.kubernetes.io/managed-by", "phoenix-operator", false);
	set_label(labels, "app.kubernetes.io/part-of", svcname, false);
	cJSON_AddItemToObject(md, "ownerReferences",
			      phx_owner_refs_new(svc, PHX_API_VERSION, PHX_KIND));
	return o;
}

static void scale_resources(cJSON *container, double factor)
{
	static const char *kinds[] = { "requests", "limits" };
	for (size_t k = 0; k < 2; k++) {
		cJSON *res = (cJSON *)kube_json_get(container, "resources", kinds[k], NULL);
		cJSON *q = res ? res->child : NULL, *next;
		/* Replacing an item frees it: keep the successor first. */
		for (; q; q = next) {
			char in[48], out[48];
			next = q->next;
			if (cJSON_IsString(q))
				snprintf(in, sizeof(in), "%s", q->valuestring);
			else if (cJSON_IsNumber(q))
				snprintf(in, sizeof(in), "%.17g", q->valuedouble);
			else
				continue;
			if (phx_quantity_scale(in, factor, out, sizeof(out)) == 0)
				cJSON_ReplaceItemInObjectCaseSensitive(res, q->string,
								      cJSON_CreateString(out));
		}
	}
}

static void add_probe(cJSON *podspec, const cJSON *spec)
{
	cJSON *containers = cJSON_GetObjectItemCaseSensitive(podspec, "containers");
	cJSON *c;
	cJSON_ArrayForEach(c, containers) {
		if (cJSON_GetObjectItemCaseSensitive(c, "readinessProbe"))
			return;
	}
	const cJSON *hb = kube_json_get(spec, "heartbeat", NULL);
	const cJSON *port = kube_json_get(hb, "port", NULL);
	/* The CRD's defaults (1 s x 2): an object stored before they were set gets the same. */
	int64_t period = 1, threshold = 2;
	kube_json_get_int(hb, &period, "periodSeconds", NULL);
	kube_json_get_int(hb, &threshold, "failureThreshold", NULL);
	const char *path = kube_json_get_str(hb, "path", NULL);
	int first = phx_first_container_port(containers);
	if (!port && first == 0)
		return;
	cJSON *probe = cJSON_AddObjectToObject(cJSON_GetArrayItem(containers, 0), "readinessProbe");
	cJSON *get = cJSON_AddObjectToObject(probe, "httpGet");
	cJSON_AddStringToObject(get, "path", path ? path : "/health");
	if (port)
		cJSON_AddItemToObject(get, "port", cJSON_Duplicate(port, 1));
	else
		cJSON_AddNumberToObject(get, "port", first);
	cJSON_AddNumberToObject(probe, "periodSeconds", (double)period);
	cJSON_AddNumberToObject(probe, "failureThreshold", (double)threshold);
}

static void add_anti_affinity(cJSON *podspec, const char *svcname)
{
	if (cJSON_GetObjectItemCaseSensitive(podspec, "affinity"))
		return;
	cJSON *aff = cJSON_AddObjectToObject(podspec, "affinity");
	cJSON *anti = cJSON_AddObjectToObject(aff, "podAntiAffinity");
	cJSON *pref = cJSON_AddArrayToObject(anti, "preferredDuringSchedulingIgnoredDuringExecution");
	cJSON *term = cJSON_CreateObject();
	cJSON_AddItemToArray(pref, term);
	cJSON_AddNumberToObject(term, "weight", 100);
	cJSON *pat = cJSON_AddObjectToObject(term, "podAffinityTerm");
	cJSON_AddStringToObject(pat, "topologyKey", "kubernetes.io/hostname");
	cJSON *ml = cJSON_AddObjectToObject(cJSON_AddObjectToObject(pat, "labelSelector"),
					    "matchLabels");
	cJSON_AddStringToObject(ml, PHX_LABEL_SERVICE, svcname);
}

cJSON *phx_pod_build(const cJSON *svc, const struct phx_spec *spec, const char *pod_name,
		     enum phx_role role, bool serving)
{
	const cJSON *tspec = kube_json_get(svc, "spec", "template", "spec", NULL);
	const cJSON *tmeta = kube_json_get(svc, "spec", "template", "metadata", NULL);
	cJSON *pod = NULL, *podspec, *labels, *md;
	const cJSON *kv;

	if (!tspec || !pod_name)
		return NULL;
	pod = base_object(svc, "v1", "Pod", pod_name);
	if (!pod)
		return NULL;
	md = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
	labels = cJSON_GetObjectItemCaseSensitive(md, "labels");
	cJSON_ArrayForEach(kv, kube_json_get(tmeta, "labels", NULL)) {
		if (cJSON_IsString(kv) && strncmp(kv->string, "phoenix.fpai.io/", 16) != 0)
			kube_json_set_str(labels, kv->string, kv->valuestring);
	}
	set_label(labels, PHX_LABEL_ROLE, phx_role_str(role), false);
	set_label(labels, PHX_LABEL_SERVING, serving ? "true" : "false", false);
	set_label(labels, PHX_LABEL_REVISION, spec->revision, false);
	set_label(labels, PHX_LABEL_OWNER, kube_json_uid(svc) ? kube_json_uid(svc) : "", false);
	if (kube_json_get(tmeta, "annotations", NULL))
		cJSON_AddItemToObject(md, "annotations",
				      cJSON_Duplicate(kube_json_get(tmeta, "annotations", NULL), 1));
	podspec = cJSON_Duplicate(tspec, 1);
	if (!podspec) {
		cJSON_Delete(pod);
		return NULL;
	}
	cJSON_AddItemToObject(pod, "spec", podspec);
	if (role == PHX_ROLE_STANDBY && spec->capacity != 1) {
		cJSON *c;
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(podspec, "containers"))
			scale_resources(c, spec->capacity);
	}
	add_probe(podspec, kube_json_get(svc, "spec", NULL));
	add_anti_affinity(podspec, kube_json_name(svc));
	return pod;
}

cJSON *phx_service_build(const cJSON *svc)
{
	const char *name = kube_json_name(svc);
	const cJSON *spec = kube_json_get(svc, "spec", NULL);
	const char *type = kube_json_get_str(spec, "service", "type", NULL);
	const cJSON *ports = kube_json_get(spec, "service", "ports", NULL);
	cJSON *o = base_object(svc, "v1", "Service", name ? name : "");
	if (!o)
		return NULL;
	cJSON *s = cJSON_AddObjectToObject(o, "spec");
	cJSON_AddStringToObject(s, "type", type ? type : "ClusterIP");
	/* Membership is the serving label, which this controller owns, not pod readiness: with
	 * readiness in the loop the endpoints controller drops a failing primary at the same moment
	 * we see it fail, and the Service is empty until a standby is relabelled. Publishing
	 * not-ready (and terminating) addresses lets Surge add the standby before the failed pod
	 * leaves, so the endpoint set is never empty. */
	cJSON_AddBoolToObject(s, "publishNotReadyAddresses", 1);
	cJSON *sel = cJSON_AddObjectToObject(s, "selector");
	cJSON_AddStringToObject(sel, PHX_LABEL_SERVICE, name);
	cJSON_AddStringToObject(sel, PHX_LABEL_SERVING, "true");
	/* Labels alone do not make a pod ours: only pods we created carry our UID. */
	if (kube_json_uid(svc))
		cJSON_AddStringToObject(sel, PHX_LABEL_OWNER, kube_json_uid(svc));
	cJSON *out = cJSON_AddArrayToObject(s, "ports");
	const cJSON *p;
	cJSON_ArrayForEach(p, ports) {
		cJSON *q = cJSON_CreateObject();
		const char *pname = kube_json_get_str(p, "name", NULL);
		const char *proto = kube_json_get_str(p, "protocol", NULL);
		const cJSON *tp = kube_json_get(p, "targetPort", NULL);
		int64_t port = 0;
		kube_json_get_int(p, &port, "port", NULL);
		if (pname)
			cJSON_AddStringToObject(q, "name", pname);
		cJSON_AddNumberToObject(q, "port", (double)port);
		if (tp)
			cJSON_AddItemToObject(q, "targetPort", cJSON_Duplicate(tp, 1));
		else
			cJSON_AddNumberToObject(q, "targetPort", (double)port);
		cJSON_AddStringToObject(q, "protocol", proto ? proto : "TCP");
		cJSON_AddItemToArray(out, q);
	}
	if (cJSON_GetArraySize(out) == 0) {
		int port = phx_first_container_port(kube_json_get(spec, "template", "spec", "containers",
							      NULL));
		cJSON *q = cJSON_CreateObject();
		cJSON_AddStringToObject(q, "name", "default");
		cJSON_AddNumberToObject(q, "port", port);
		cJSON_AddNumberToObject(q, "targetPort", port);
		cJSON_AddStringToObject(q, "protocol", "TCP");
		cJSON_AddItemToArray(out, q);
	}
	return o;
}

cJSON *phx_pdb_build(const cJSON *svc)
{
	const char *name = kube_json_name(svc);
	cJSON *o = base_object(svc, "policy/v1", "PodDisruptionBudget", name ? name : "");
	if (!o)
		return NULL;
	cJSON *s = cJSON_AddObjectToObject(o, "spec");
	cJSON_AddNumberToObject(s, "maxUnavailable", 1);
	cJSON *ml = cJSON_AddObjectToObject(cJSON_AddObjectToObject(s, "selector"), "matchLabels");
	cJSON_AddStringToObject(ml, PHX_LABEL_SERVICE, name);
	if (kube_json_uid(svc))
		cJSON_AddStringToObject(ml, PHX_LABEL_OWNER, kube_json_uid(svc));
	return o;
}
