/* Deployment and ReplicaSet controllers (see sim_workloads.h). */
#include "sim_workloads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "kube_error.h"
#include "sim_controllers.h"

#define HASH_LABEL "pod-template-hash"
#define MAX_CREATES_PER_TURN 500

struct dirty {
	UT_hash_handle hh;
	char *key; /* ns/name */
};

struct sim_workloads {
	struct dirty *deploys;
	struct dirty *rss;
};

void sim_pod_template_hash(const cJSON *template, char *buf, size_t len)
{
	const char *alpha = "bcdfghjklmnpqrstvwxz2456789";
	char *json = cJSON_PrintUnformatted(template);
	unsigned h = 2166136261u;
	char dec[16];
	const char *p;
	size_t i;

	for (p = json ? json : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	free(json);
	snprintf(dec, sizeof(dec), "%u", h);
	for (i = 0; dec[i] && i + 1 < len; i++)
		buf[i] = alpha[(unsigned char)dec[i] % 27];
	buf[i] = '\0';
}

int sim_workloads_new(struct sim_controllers *c, struct sim_workloads **out)
{
	(void)c;
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : KUBE_ENOMEM;
}

static void dirty_clear(struct dirty **set)
{
	struct dirty *d, *t;

	HASH_ITER(hh, *set, d, t) {
		HASH_DEL(*set, d);
		free(d->key);
		free(d);
	}
}

void sim_workloads_free(struct sim_workloads *w)
{
	if (!w)
		return;
	dirty_clear(&w->deploys);
	dirty_clear(&w->rss);
	free(w);
}

static void mark(struct dirty **set, const char *ns, const char *name)
{
	struct dirty *d = NULL;
	char key[512];

	if (!ns || !name)
		return;
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	HASH_FIND_STR(*set, key, d);
	if (d)
		return;
	d = calloc(1, sizeof(*d));
	if (!d)
		return;
	d->key = strdup(key);
	if (!d->key) {
		free(d);
		return;
	}
	HASH_ADD_KEYPTR(hh, *set, d->key, strlen(d->key), d);
}

/* The name of obj's controller of this kind, or NULL. */
static const char *controller_name(const cJSON *obj, const char *kind)
{
	const cJSON *r;

	cJSON_ArrayForEach(r, sim_j_at(obj, "metadata.ownerReferences")) {
		const char *k = sim_j_str(r, "kind");

		if (k && strcmp(k, kind) == 0 && sim_j_bool(r, "controller", 0))
			return sim_j_str(r, "name");
	}
	return NULL;
}

void sim_workloads_on_object(struct sim_controllers *c, const char *type, const char *resource,
			     const cJSON *obj)
{
	struct sim_workloads *w = sim_ctl_workloads(c);
	const char *ns = sim_j_str(obj, "metadata.namespace");
	int deleted = strcmp(type, "DELETED") == 0;

	if (strcmp(resource, "deployments") == 0) {
		if (!deleted)
			mark(&w->deploys, ns, sim_j_str(obj, "metadata.name"));
		return;
	}
	if (!deleted)
		mark(&w->rss, ns, sim_j_str(obj, "metadata.name"));
	mark(&w->deploys, ns, controller_name(obj, "Deployment"));
}

void sim_workloads_on_pod(struct sim_controllers *c, const char *type, const cJSON *pod)
{
	(void)type;
	mark(&sim_ctl_workloads(c)->rss, sim_j_str(pod, "metadata.namespace"),
	     controller_name(pod, "ReplicaSet"));
}

static int pod_active(const cJSON *pod)
{
	const char *phase = sim_j_str(pod, "status.phase");

	if (sim_j_at(pod, "metadata.deletionTimestamp"))
		return 0;
	return !phase || (strcmp(phase, "Succeeded") != 0 && strcmp(phase, "Failed") != 0);
}


/* Writes status when it differs from the object's (unconditional PUT of the status stanza). */
static void write_status(struct sim_controllers *c, const char *group, const char *resource,
			 const cJSON *obj, cJSON *status)
{
	const cJSON *cur = sim_j_at(obj, "status");
	char *a = cur ? cJSON_PrintUnformatted(cur) : NULL;
	char *b = cJSON_PrintUnformatted(status);
	cJSON *body;

	if (a && b && strcmp(a, b) == 0) {
		free(a);
		free(b);
		cJSON_Delete(status);
		return;
	}
	free(a);
	free(b);
	body = cJSON_CreateObject();
	sim_j_set_str(body, "apiVersion", sim_j_str(obj, "apiVersion"));
	sim_j_set_str(body, "kind", sim_j_str(obj, "kind"));
	sim_j_set(body, "metadata", cJSON_CreateObject());
	sim_j_set_str(cJSON_GetObjectItem(body, "metadata"), "name",
			 sim_j_str(obj, "metadata.name"));
	sim_j_set_str(cJSON_GetObjectItem(body, "metadata"), "namespace",
			 sim_j_str(obj, "metadata.namespace"));
	sim_j_set(body, "status", status);
	sim_ctl_update(c, group, resource, sim_j_str(obj, "metadata.namespace"),
		       sim_j_str(obj, "metadata.name"), "status", body, NULL);
	cJSON_Delete(body);
}

static cJSON *owner_ref(const char *api_version, const char *kind, const cJSON *owner)
{
	cJSON *refs = cJSON_CreateArray(), *r = cJSON_CreateObject();

	sim_j_set_str(r, "apiVersion", api_version);
	sim_j_set_str(r, "kind", kind);
	sim_j_set_str(r, "name", sim_j_str(owner, "metadata.name"));
	sim_j_set_str(r, "uid", sim_j_str(owner, "metadata.uid"));
	sim_j_set_bool(r, "controller", 1);
	sim_j_set_bool(r, "blockOwnerDeletion", 1);
	cJSON_AddItemToArray(refs, r);
	return refs;
}

/* Real controllers adopt matching objects that have no controller (e.g. after an orphaning
 * delete of their old owner): add our ownerReference. */
static int has_controller(const cJSON *obj)
{
	const cJSON *r;

	cJSON_ArrayForEach(r, sim_j_at(obj, "metadata.ownerReferences")) {
		if (sim_j_bool(r, "controller", 0))
			return 1;
	}
	return 0;
}

struct adopt_ctx {
	const char *api_version, *kind, *name, *uid;
};

static int edit_adopt(cJSON *obj, void *ud)
{
	const struct adopt_ctx *a = ud;
	cJSON *meta = sim_j_obj(obj, "metadata");
	cJSON *refs = cJSON_GetObjectItemCaseSensitive(meta, "ownerReferences");
	cJSON *r;

	if (has_controller(obj) || sim_j_at(obj, "metadata.deletionTimestamp"))
		return 0;
	if (!cJSON_IsArray(refs)) {
		refs = cJSON_CreateArray();
		sim_j_set(meta, "ownerReferences", refs);
	}
	r = cJSON_CreateObject();
	sim_j_set_str(r, "apiVersion", a->api_version);
	sim_j_set_str(r, "kind", a->kind);
	sim_j_set_str(r, "name", a->name);
	sim_j_set_str(r, "uid", a->uid);
	sim_j_set_bool(r, "controller", 1);
	sim_j_set_bool(r, "blockOwnerDeletion", 1);
	cJSON_AddItemToArray(refs, r);
	return 1;
}

/* Adopts the orphans of kind k in ns that owner's selector matches. */
static void adopt(struct sim_controllers *c, enum sim_kind k, const char *group,
		  const char *resource, const cJSON *owner, const char *api_version,
		  const char *kind)
{
	const cJSON **objs = NULL;
	const cJSON *sel = sim_j_at(owner, "spec.selector");
	const char *ns = sim_j_str(owner, "metadata.namespace");
	size_t n, i;
	struct adopt_ctx a;

	if (!sel || cJSON_GetArraySize(sel) == 0)
		return; /* an empty selector would adopt everything: the API rejects it anyway */
	a.api_version = api_version;
	a.kind = kind;
	a.name = sim_j_str(owner, "metadata.name");
	a.uid = sim_j_str(owner, "metadata.uid");
	n = sim_cache_list(c, k, ns, &objs);
	for (i = 0; i < n; i++) {
		if (has_controller(objs[i]) || sim_j_at(objs[i], "metadata.deletionTimestamp"))
			continue;
		if (!sim_label_selector_match(sel, sim_j_at(objs[i], "metadata.labels")))
			continue;
		sim_ctl_modify(c, group, resource, ns, sim_j_str(objs[i], "metadata.name"), edit_adopt,
			       &a);
	}
	free(objs);
}

/* ---- ReplicaSets ---- */

static int newest_first_unready_first(const void *a, const void *b)
{
	const cJSON *pa = *(const cJSON *const *)a, *pb = *(const cJSON *const *)b;
	int sa = sim_j_str(pa, "spec.nodeName") != NULL, sb = sim_j_str(pb, "spec.nodeName") != NULL;
	int ra = sim_condition_true(pa, "Ready"), rb = sim_condition_true(pb, "Ready");
	const char *ta = sim_j_str(pa, "metadata.creationTimestamp");
	const char *tb = sim_j_str(pb, "metadata.creationTimestamp");
	int t;

	if (sa != sb)
		return sa - sb; /* unscheduled first */
	if (ra != rb)
		return ra - rb; /* not ready first */
	t = strcmp(tb ? tb : "", ta ? ta : "");
	if (t)
		return t; /* newest first */
	return strcmp(sim_j_str(pb, "metadata.name"), sim_j_str(pa, "metadata.name"));
}

static void create_pod(struct sim_controllers *c, const cJSON *rs)
{
	const cJSON *tmpl = sim_j_at(rs, "spec.template");
	cJSON *pod = cJSON_CreateObject(), *meta;
	const cJSON *m = sim_j_at(tmpl, "metadata");
	char gen[300];

	sim_j_set_str(pod, "apiVersion", "v1");
	sim_j_set_str(pod, "kind", "Pod");
	meta = sim_j_obj(pod, "metadata");
	snprintf(gen, sizeof(gen), "%s-", sim_j_str(rs, "metadata.name"));
	sim_j_set_str(meta, "generateName", gen);
	sim_j_set_str(meta, "namespace", sim_j_str(rs, "metadata.namespace"));
	if (sim_j_at(m, "labels"))
		sim_j_set(meta, "labels", cJSON_Duplicate(sim_j_at(m, "labels"), 1));
	if (sim_j_at(m, "annotations"))
		sim_j_set(meta, "annotations", cJSON_Duplicate(sim_j_at(m, "annotations"), 1));
	sim_j_set(meta, "ownerReferences", owner_ref("apps/v1", "ReplicaSet", rs));
	sim_j_set(pod, "spec", cJSON_Duplicate(sim_j_at(tmpl, "spec"), 1));
	sim_ctl_create(c, "", "pods", sim_j_str(rs, "metadata.namespace"), pod, NULL);
	cJSON_Delete(pod);
}

static void reconcile_rs(struct sim_controllers *c, const char *ns, const char *name)
{
	const cJSON *rs = sim_cache_get(c, SIM_K_REPLICASETS, ns, name);
	const cJSON **pods = NULL, **mine = NULL;
	size_t n, i, k = 0;
	long desired, active, ready = 0;
	const char *uid;
	cJSON *st;

	if (!rs)
		return;
	uid = sim_j_str(rs, "metadata.uid");
	desired = (long)sim_j_int(rs, "spec.replicas", 1);
	if (!sim_j_at(rs, "metadata.deletionTimestamp"))
		adopt(c, SIM_K_PODS, "", "pods", rs, "apps/v1", "ReplicaSet");
	n = sim_cache_list(c, SIM_K_PODS, ns, &pods);
	mine = n ? calloc(n, sizeof(*mine)) : NULL;
	for (i = 0; mine && i < n; i++) {
		if (sim_is_controlled_by(pods[i], uid) && pod_active(pods[i]))
			mine[k++] = pods[i];
	}
	active = (long)k;
	for (i = 0; i < k; i++)
		ready += sim_condition_true(mine[i], "Ready");
	if (!sim_j_at(rs, "metadata.deletionTimestamp")) {
		if (active < desired) {
			long want = desired - active, j;

			if (want > MAX_CREATES_PER_TURN)
				want = MAX_CREATES_PER_TURN;
			for (j = 0; j < want; j++)
				create_pod(c, rs);
		} else if (active > desired) {
			long extra = active - desired, j;

			qsort(mine, k, sizeof(*mine), newest_first_unready_first);
			for (j = 0; j < extra; j++)
				sim_ctl_delete(c, "", "pods", ns, sim_j_str(mine[j], "metadata.name"),
					       NULL, -1, sim_j_str(mine[j], "metadata.uid"));
		}
	}
	free(mine);
	free(pods);
	rs = sim_cache_get(c, SIM_K_REPLICASETS, ns, name);
	if (!rs)
		return;
	st = cJSON_CreateObject();
	sim_j_set_num(st, "replicas", (double)active);
	sim_j_set_num(st, "fullyLabeledReplicas", (double)active);
	sim_j_set_num(st, "readyReplicas", (double)ready);
	sim_j_set_num(st, "availableReplicas", (double)ready);
	sim_j_set_num(st, "observedGeneration", (double)sim_j_int(rs, "metadata.generation", 1));
	write_status(c, "apps", "replicasets", rs, st);
}

/* ---- Deployments ---- */

/* maxUnavailable of a RollingUpdate deployment (int or percentage, rounded down). */
static long max_unavailable(const cJSON *d, long desired)
{
	const char *type = sim_j_str(d, "spec.strategy.type");
	const cJSON *mu = sim_j_at(d, "spec.strategy.rollingUpdate.maxUnavailable");
	long v;

	if (type && strcmp(type, "Recreate") == 0)
		return 0;
	if (cJSON_IsNumber(mu))
		v = mu->valueint;
	else if (cJSON_IsString(mu))
		v = strtol(mu->valuestring, NULL, 10) * desired / (strchr(mu->valuestring, '%') ? 100 : 1);
	else
		v = desired * 25 / 100;
	return v > desired ? desired : v;
}

static cJSON *condition(const cJSON *old_conds, const char *type, int ok, const char *reason,
			const char *message, const char *now)
{
	cJSON *c = cJSON_CreateObject();
	const cJSON *prev = NULL, *x;
	const char *st = ok ? "True" : "False";

	cJSON_ArrayForEach(x, old_conds) {
		const char *t = sim_j_str(x, "type");

		if (t && strcmp(t, type) == 0)
			prev = x;
	}
	sim_j_set_str(c, "type", type);
	sim_j_set_str(c, "status", st);
	if (prev && strcmp(sim_j_str(prev, "reason") ? sim_j_str(prev, "reason") : "", reason) == 0 &&
	    strcmp(sim_j_str(prev, "message") ? sim_j_str(prev, "message") : "", message) == 0 &&
	    sim_j_str(prev, "lastUpdateTime"))
		sim_j_set_str(c, "lastUpdateTime", sim_j_str(prev, "lastUpdateTime"));
	else
		sim_j_set_str(c, "lastUpdateTime", now);
	if (prev && sim_j_str(prev, "status") && strcmp(sim_j_str(prev, "status"), st) == 0 &&
	    sim_j_str(prev, "lastTransitionTime"))
		sim_j_set_str(c, "lastTransitionTime", sim_j_str(prev, "lastTransitionTime"));
	else
		sim_j_set_str(c, "lastTransitionTime", now);
	sim_j_set_str(c, "reason", reason);
	sim_j_set_str(c, "message", message);
	return c;
}

static cJSON *new_rs_object(const cJSON *d, const char *hash, long replicas, long revision)
{
	cJSON *rs = cJSON_CreateObject(), *meta, *spec, *tmpl, *sel, *ann, *labels;
	const cJSON *l;
	char name[300], buf[32];

	sim_j_set_str(rs, "apiVersion", "apps/v1");
	sim_j_set_str(rs, "kind", "ReplicaSet");
	meta = sim_j_obj(rs, "metadata");
	snprintf(name, sizeof(name), "%s-%s", sim_j_str(d, "metadata.name"), hash);
	sim_j_set_str(meta, "name", name);
	sim_j_set_str(meta, "namespace", sim_j_str(d, "metadata.namespace"));
	labels = sim_j_obj(meta, "labels");
	cJSON_ArrayForEach(l, sim_j_at(d, "spec.template.metadata.labels"))
		cJSON_AddItemToObject(labels, l->string, cJSON_Duplicate(l, 1));
	sim_j_set_str(labels, HASH_LABEL, hash);
	ann = sim_j_obj(meta, "annotations");
	snprintf(buf, sizeof(buf), "%ld", revision);
	sim_j_set_str(ann, "deployment.kubernetes.io/revision", buf);
	snprintf(buf, sizeof(buf), "%ld", (long)sim_j_int(d, "spec.replicas", 1));
	sim_j_set_str(ann, "deployment.kubernetes.io/desired-replicas", buf);
	sim_j_set_str(ann, "deployment.kubernetes.io/max-replicas", buf);
	sim_j_set(meta, "ownerReferences", owner_ref("apps/v1", "Deployment", d));
	spec = sim_j_obj(rs, "spec");
	sim_j_set_num(spec, "replicas", (double)replicas);
	sim_j_set_num(spec, "minReadySeconds", (double)sim_j_int(d, "spec.minReadySeconds", 0));
	sel = cJSON_Duplicate(sim_j_at(d, "spec.selector"), 1);
	if (!sel)
		sel = cJSON_CreateObject();
	sim_j_set_str(sim_j_obj(sel, "matchLabels"), HASH_LABEL, hash);
	sim_j_set(spec, "selector", sel);
	tmpl = cJSON_Duplicate(sim_j_at(d, "spec.template"), 1);
	if (!tmpl)
		tmpl = cJSON_CreateObject();
	sim_j_set_str(sim_j_obj(sim_j_obj(tmpl, "metadata"), "labels"), HASH_LABEL, hash);
	sim_j_set(spec, "template", tmpl);
	return rs;
}

static void scale_rs(struct sim_controllers *c, const cJSON *rs, long replicas)
{
	cJSON *patch;

	if (sim_j_int(rs, "spec.replicas", 1) == replicas)
		return;
	patch = cJSON_CreateObject();
	sim_j_set_num(sim_j_obj(patch, "spec"), "replicas", (double)replicas);
	sim_ctl_patch(c, "apps", "replicasets", sim_j_str(rs, "metadata.namespace"),
		      sim_j_str(rs, "metadata.name"), NULL, patch, NULL);
	cJSON_Delete(patch);
}

static void reconcile_deploy(struct sim_controllers *c, const char *ns, const char *name)
{
	const cJSON *d = sim_cache_get(c, SIM_K_DEPLOYMENTS, ns, name);
	const cJSON **rss = NULL, **mine = NULL, *newrs = NULL;
	size_t n, i, k = 0;
	long desired, replicas = 0, ready = 0, available = 0, updated = 0, revision = 0, old_active = 0;
	int recreate, paused, created = 0, complete;
	const char *uid, *type;
	char hash[16], now[40], msg[400];
	cJSON *st, *conds;
	const cJSON *old_conds;

	if (!d || sim_j_at(d, "metadata.deletionTimestamp"))
		return;
	uid = sim_j_str(d, "metadata.uid");
	desired = (long)sim_j_int(d, "spec.replicas", 1);
	type = sim_j_str(d, "spec.strategy.type");
	recreate = type && strcmp(type, "Recreate") == 0;
	paused = sim_j_bool(d, "spec.paused", 0);
	sim_pod_template_hash(sim_j_at(d, "spec.template"), hash, sizeof(hash));
	adopt(c, SIM_K_REPLICASETS, "apps", "replicasets", d, "apps/v1", "Deployment");
	n = sim_cache_list(c, SIM_K_REPLICASETS, ns, &rss);
	mine = n ? calloc(n, sizeof(*mine)) : NULL;
	for (i = 0; mine && i < n; i++) {
		const char *h = sim_j_str(rss[i], "metadata.labels." HASH_LABEL);
		const cJSON *ann = sim_j_at(rss[i], "metadata.annotations");
		const cJSON *rv = ann ? cJSON_GetObjectItemCaseSensitive(ann,
				"deployment.kubernetes.io/revision") : NULL;
		long r = cJSON_IsString(rv) ? strtol(rv->valuestring, NULL, 10) : 0;

		if (!sim_is_controlled_by(rss[i], uid))
			continue;
		if (r > revision)
			revision = r;
		if (h && strcmp(h, hash) == 0)
			newrs = rss[i];
		else
			old_active += (long)sim_j_int(rss[i], "status.replicas", 0) +
				      (long)sim_j_int(rss[i], "spec.replicas", 0);
		mine[k++] = rss[i];
	}
	if (!paused) {
		if (!newrs) {
			cJSON *obj = new_rs_object(d, hash, recreate && old_active > 0 ? 0 : desired,
						   revision + 1);

			sim_ctl_create(c, "apps", "replicasets", ns, obj, NULL);
			cJSON_Delete(obj);
			created = 1;
		} else {
			if (!recreate || old_active == 0)
				scale_rs(c, newrs, desired);
			/* Simple rolling update: old sets go once the new one is fully available. */
			for (i = 0; i < k; i++) {
				if (mine[i] == newrs)
					continue;
				if (recreate || sim_j_int(newrs, "status.availableReplicas", 0) >= desired)
					scale_rs(c, mine[i], 0);
			}
		}
	}
	/* Status from the (possibly just updated) replicasets. */
	free(mine);
	free(rss);
	n = sim_cache_list(c, SIM_K_REPLICASETS, ns, &rss);
	newrs = NULL;
	for (i = 0; i < n; i++) {
		const char *h = sim_j_str(rss[i], "metadata.labels." HASH_LABEL);

		if (!sim_is_controlled_by(rss[i], uid))
			continue;
		replicas += (long)sim_j_int(rss[i], "status.replicas", 0);
		ready += (long)sim_j_int(rss[i], "status.readyReplicas", 0);
		available += (long)sim_j_int(rss[i], "status.availableReplicas", 0);
		if (h && strcmp(h, hash) == 0) {
			newrs = rss[i];
			updated = (long)sim_j_int(rss[i], "status.replicas", 0);
		}
	}
	free(rss);
	d = sim_cache_get(c, SIM_K_DEPLOYMENTS, ns, name);
	if (!d)
		return;
	sim_ctl_time_format(sim_ctl_wall_ms(c), 0, now, sizeof(now));
	old_conds = sim_j_at(d, "status.conditions");
	st = cJSON_CreateObject();
	sim_j_set_num(st, "observedGeneration", (double)sim_j_int(d, "metadata.generation", 1));
	sim_j_set_num(st, "replicas", (double)replicas);
	sim_j_set_num(st, "updatedReplicas", (double)updated);
	sim_j_set_num(st, "readyReplicas", (double)ready);
	sim_j_set_num(st, "availableReplicas", (double)available);
	if (desired - available > 0)
		sim_j_set_num(st, "unavailableReplicas", (double)(desired - available));
	conds = cJSON_AddArrayToObject(st, "conditions");
	{
		int ok = available >= desired - max_unavailable(d, desired);

		cJSON_AddItemToArray(conds, condition(old_conds, "Available", ok,
						      ok ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
						      ok ? "Deployment has minimum availability."
							 : "Deployment does not have minimum availability.",
						      now));
	}
	complete = newrs && updated == desired && replicas == desired && available == desired;
	{
		char rsname[300];

		snprintf(rsname, sizeof(rsname), "%s-%s", name, hash);
		if (paused) {
			cJSON_AddItemToArray(conds, condition(old_conds, "Progressing", 0, "DeploymentPaused",
							      "Deployment is paused", now));
		} else if (complete) {
			snprintf(msg, sizeof(msg), "ReplicaSet \"%s\" has successfully progressed.", rsname);
			cJSON_AddItemToArray(conds, condition(old_conds, "Progressing", 1,
							      "NewReplicaSetAvailable", msg, now));
		} else if (created) {
			snprintf(msg, sizeof(msg), "Created new replica set \"%s\"", rsname);
			cJSON_AddItemToArray(conds, condition(old_conds, "Progressing", 1,
							      "NewReplicaSetCreated", msg, now));
		} else {
			snprintf(msg, sizeof(msg), "ReplicaSet \"%s\" is progressing.", rsname);
			cJSON_AddItemToArray(conds, condition(old_conds, "Progressing", 1,
							      "ReplicaSetUpdated", msg, now));
		}
	}
	write_status(c, "apps", "deployments", d, st);
}

static void run_set(struct sim_controllers *c, struct dirty **set,
		    void (*fn)(struct sim_controllers *c, const char *ns, const char *name))
{
	struct dirty *all = *set, *d, *t;

	*set = NULL; /* reconciles may mark again: that is the next turn */
	HASH_ITER(hh, all, d, t) {
		char *slash = strchr(d->key, '/');

		HASH_DEL(all, d);
		if (slash) {
			*slash = '\0';
			fn(c, d->key, slash + 1);
		}
		free(d->key);
		free(d);
	}
}

void sim_workloads_flush(struct sim_controllers *c)
{
	struct sim_workloads *w = sim_ctl_workloads(c);

	if (!w)
		return;
	run_set(c, &w->deploys, reconcile_deploy);
	run_set(c, &w->rss, reconcile_rs);
}
