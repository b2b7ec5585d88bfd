/* The endpoints controller and the ready-endpoints history (see sim_endpoints.h). */
#include "sim_endpoints.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "kube_error.h"
#include "sim_controllers.h"

/* ---- Pure: which pods, which ports ---- */

static int pod_terminal(const cJSON *pod)
{
	const char *phase = sim_j_str(pod, "status.phase");

	return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}


int sim_endpoints_pod_listed(const cJSON *pod, int include_terminating)
{
	const char *ip = sim_j_str(pod, "status.podIP");

	return ip && *ip && !pod_terminal(pod) &&
	       (include_terminating || !sim_j_at(pod, "metadata.deletionTimestamp"));
}

int sim_endpoints_pod_ready(const cJSON *pod)
{
	return sim_endpoints_pod_listed(pod, 0) && sim_condition_true(pod, "Ready");
}

static int svc_selects(const cJSON *svc, const cJSON *pod)
{
	return sim_selector_map_match(sim_j_at(svc, "spec.selector"),
				      sim_j_at(pod, "metadata.labels"));
}

/* Whether the pod is a ready endpoint of svc. publishNotReadyAddresses counts every listed pod,
 * terminating ones included: upstream keeps them in Endpoints until they are gone. */
static int svc_ready_member(const cJSON *svc, const cJSON *pod)
{
	if (!svc_selects(svc, pod))
		return 0;
	if (sim_j_bool(svc, "spec.publishNotReadyAddresses", 0))
		return sim_endpoints_pod_listed(pod, 1);
	return sim_endpoints_pod_ready(pod);
}

/* The container port of the pod that a targetPort resolves to, or -1. */
static int resolve_port(const cJSON *svc_port, const cJSON *pod)
{
	const cJSON *tp = sim_j_at(svc_port, "targetPort");
	const char *proto = sim_j_str(svc_port, "protocol");
	const cJSON *ctr;

	if (!tp)
		return (int)sim_j_int(svc_port, "port", -1);
	if (cJSON_IsNumber(tp))
		return tp->valueint;
	if (!cJSON_IsString(tp))
		return -1;
	/* An int-or-string given as digits is a number. */
	if (tp->valuestring[0] >= '0' && tp->valuestring[0] <= '9')
		return atoi(tp->valuestring);
	cJSON_ArrayForEach(ctr, sim_j_at(pod, "spec.containers")) {
		const cJSON *p;

		cJSON_ArrayForEach(p, sim_j_at(ctr, "ports")) {
			const char *n = sim_j_str(p, "name");
			const char *pp = sim_j_str(p, "protocol");

			if (n && strcmp(n, tp->valuestring) == 0 &&
			    strcmp(pp ? pp : "TCP", proto ? proto : "TCP") == 0)
				return (int)sim_j_int(p, "containerPort", -1);
		}
	}
	return -1;
}

/* The EndpointPort list for one pod. */
static cJSON *pod_ports(const cJSON *svc, const cJSON *pod)
{
	cJSON *ports = cJSON_CreateArray();
	const cJSON *sp;

	cJSON_ArrayForEach(sp, sim_j_at(svc, "spec.ports")) {
		int port = resolve_port(sp, pod);
		const char *name = sim_j_str(sp, "name");
		const char *proto = sim_j_str(sp, "protocol");
		cJSON *p;

		if (port < 0)
			continue;
		p = cJSON_CreateObject();
		if (name && *name)
			sim_j_set_str(p, "name", name);
		sim_j_set_num(p, "port", port);
		sim_j_set_str(p, "protocol", proto ? proto : "TCP");
		cJSON_AddItemToArray(ports, p);
	}
	return ports;
}

static cJSON *target_ref(const cJSON *pod)
{
	cJSON *r = cJSON_CreateObject();

	sim_j_set_str(r, "kind", "Pod");
	sim_j_set_str(r, "namespace", sim_j_str(pod, "metadata.namespace"));
	sim_j_set_str(r, "name", sim_j_str(pod, "metadata.name"));
	sim_j_set_str(r, "uid", sim_j_str(pod, "metadata.uid"));
	return r;
}

static cJSON *address(const cJSON *pod)
{
	cJSON *a = cJSON_CreateObject();
	const char *node = sim_j_str(pod, "spec.nodeName");

	sim_j_set_str(a, "ip", sim_j_str(pod, "status.podIP"));
	if (node)
		sim_j_set_str(a, "nodeName", node);
	sim_j_set(a, "targetRef", target_ref(pod));
	return a;
}

static int by_name(const void *a, const void *b)
{
	const cJSON *pa = *(const cJSON *const *)a, *pb = *(const cJSON *const *)b;
	const char *na = sim_j_str(pa, "metadata.name"), *nb = sim_j_str(pb, "metadata.name");

	return strcmp(na ? na : "", nb ? nb : "");
}

/* The pods svc selects, sorted by name (a new array of borrowed pointers; NULL when none). */
static size_t selected(const cJSON *svc, const cJSON *const *pods, size_t n, const cJSON ***out)
{
	const cJSON **v = n ? malloc(n * sizeof(*v)) : NULL;
	size_t i, k = 0;

	*out = NULL;
	if (!v)
		return 0;
	for (i = 0; i < n; i++) {
		if (svc_selects(svc, pods[i]))
			v[k++] = pods[i];
	}
	if (k == 0) {
		free(v);
		return 0;
	}
	qsort(v, k, sizeof(*v), by_name);
	*out = v;
	return k;
}

cJSON *sim_endpoints_build(const cJSON *svc, const cJSON *const *pods, size_t n)
{
	const cJSON **sel = NULL;
	size_t k = selected(svc, pods, n, &sel), i;
	cJSON *ep, *meta, *subsets, *labels;
	int pub = sim_j_bool(svc, "spec.publishNotReadyAddresses", 0);
	const cJSON *l;

	if (!cJSON_IsObject(sim_j_at(svc, "spec.selector"))) {
		free(sel);
		return NULL;
	}
	ep = cJSON_CreateObject();
	sim_j_set_str(ep, "apiVersion", "v1");
	sim_j_set_str(ep, "kind", "Endpoints");
	meta = sim_j_obj(ep, "metadata");
	sim_j_set_str(meta, "name", sim_j_str(svc, "metadata.name"));
	sim_j_set_str(meta, "namespace", sim_j_str(svc, "metadata.namespace"));
	labels = sim_j_obj(meta, "labels");
	cJSON_ArrayForEach(l, sim_j_at(svc, "metadata.labels"))
		cJSON_AddItemToObject(labels, l->string, cJSON_Duplicate(l, 1));
	subsets = cJSON_CreateArray();
	for (i = 0; i < k; i++) {
		const cJSON *pod = sel[i];
		cJSON *ports, *subset = NULL, *s;
		char *sig;
		int ready;

		if (!sim_endpoints_pod_listed(pod, pub))
			continue;
		ports = pod_ports(svc, pod);
		if (cJSON_GetArraySize(ports) == 0 && cJSON_GetArraySize(sim_j_at(svc, "spec.ports")) > 0) {
			cJSON_Delete(ports);
			continue;
		}
		sig = cJSON_PrintUnformatted(ports);
		cJSON_ArrayForEach(s, subsets) {
			char *other = cJSON_PrintUnformatted(cJSON_GetObjectItem(s, "ports"));
			int same = sig && other && strcmp(sig, other) == 0;

			free(other);
			if (same) {
				subset = s;
				break;
			}
		}
		free(sig);
		if (!subset) {
			subset = cJSON_CreateObject();
			cJSON_AddItemToArray(subsets, subset);
			sim_j_set(subset, "ports", ports);
		} else {
			cJSON_Delete(ports);
		}
		ready = pub || sim_endpoints_pod_ready(pod);
		{
			const char *key = ready ? "addresses" : "notReadyAddresses";
			cJSON *arr = cJSON_GetObjectItem(subset, key);

			if (!arr)
				arr = cJSON_AddArrayToObject(subset, key);
			cJSON_AddItemToArray(arr, address(pod));
		}
	}
	/* cJSON keeps insertion order; put "ports" last as the apiserver prints it. */
	{
		cJSON *s;

		cJSON_ArrayForEach(s, subsets) {
			cJSON *p = cJSON_DetachItemFromObject(s, "ports");

			cJSON_AddItemToObject(s, "ports", p);
		}
	}
	if (cJSON_GetArraySize(subsets) > 0)
		sim_j_set(ep, "subsets", subsets);
	else
		cJSON_Delete(subsets);
	free(sel);
	return ep;
}

cJSON *sim_endpointslice_build(const cJSON *svc, const cJSON *const *pods, size_t n,
			       const char *name)
{
	const cJSON **sel = NULL;
	size_t k = selected(svc, pods, n, &sel), i;
	cJSON *es, *meta, *labels, *refs, *ref, *eps, *ports = NULL;
	int pub = sim_j_bool(svc, "spec.publishNotReadyAddresses", 0);

	es = cJSON_CreateObject();
	sim_j_set_str(es, "apiVersion", "discovery.k8s.io/v1");
	sim_j_set_str(es, "kind", "EndpointSlice");
	meta = sim_j_obj(es, "metadata");
	sim_j_set_str(meta, "name", name);
	sim_j_set_str(meta, "namespace", sim_j_str(svc, "metadata.namespace"));
	labels = sim_j_obj(meta, "labels");
	sim_j_set_str(labels, "kubernetes.io/service-name", sim_j_str(svc, "metadata.name"));
	sim_j_set_str(labels, "endpointslice.kubernetes.io/managed-by",
			 "endpointslice-controller.k8s.io");
	refs = cJSON_AddArrayToObject(meta, "ownerReferences");
	ref = cJSON_CreateObject();
	sim_j_set_str(ref, "apiVersion", "v1");
	sim_j_set_str(ref, "kind", "Service");
	sim_j_set_str(ref, "name", sim_j_str(svc, "metadata.name"));
	sim_j_set_str(ref, "uid", sim_j_str(svc, "metadata.uid"));
	sim_j_set_bool(ref, "controller", 1);
	sim_j_set_bool(ref, "blockOwnerDeletion", 1);
	cJSON_AddItemToArray(refs, ref);
	sim_j_set_str(es, "addressType", "IPv4");
	eps = cJSON_AddArrayToObject(es, "endpoints");
	for (i = 0; i < k; i++) {
		const cJSON *pod = sel[i];
		const char *ip = sim_j_str(pod, "status.podIP");
		const char *node = sim_j_str(pod, "spec.nodeName");
		int terminating = sim_j_at(pod, "metadata.deletionTimestamp") != NULL;
		int serving = sim_condition_true(pod, "Ready");
		cJSON *ep, *addrs, *conds;

		if (!ip || !*ip || pod_terminal(pod))
			continue;
		if (!ports) {
			ports = pod_ports(svc, pod);
			if (cJSON_GetArraySize(ports) == 0 &&
			    cJSON_GetArraySize(sim_j_at(svc, "spec.ports")) > 0) {
				cJSON_Delete(ports);
				ports = NULL;
				continue;
			}
		}
		ep = cJSON_CreateObject();
		addrs = cJSON_AddArrayToObject(ep, "addresses");
		cJSON_AddItemToArray(addrs, cJSON_CreateString(ip));
		conds = cJSON_AddObjectToObject(ep, "conditions");
		/* Upstream podToEndpoint: ready is never true for a terminating pod unless the
		 * Service publishes not-ready addresses. */
		sim_j_set_bool(conds, "ready", pub || (serving && !terminating));
		sim_j_set_bool(conds, "serving", pub || serving);
		sim_j_set_bool(conds, "terminating", terminating);
		if (node)
			sim_j_set_str(ep, "nodeName", node);
		sim_j_set(ep, "targetRef", target_ref(pod));
		cJSON_AddItemToArray(eps, ep);
	}
	if (!ports)
		ports = pod_ports(svc, NULL);
	sim_j_set(es, "ports", ports);
	free(sel);
	return es;
}

void sim_names_free(char **names, size_t n)
{
	size_t i;

	if (!names)
		return;
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

long sim_endpoints_ready_names(const cJSON *svc, const cJSON *const *pods, size_t n, char ***out)
{
	char **v = n ? calloc(n, sizeof(*v)) : NULL;
	size_t i, k = 0;

	*out = NULL;
	if (n && !v)
		return -1;
	for (i = 0; i < n; i++) {
		if (!svc_ready_member(svc, pods[i]))
			continue;
		v[k] = strdup(sim_j_str(pods[i], "metadata.name"));
		if (!v[k]) {
			sim_names_free(v, k);
			return -1;
		}
		k++;
	}
	if (k == 0) {
		free(v);
		return 0;
	}
	qsort(v, k, sizeof(*v), cmp_str);
	*out = v;
	return (long)k;
}

/* ---- Pure: history ---- */

struct ep_entry {
	int64_t mono_ms, wall_ms;
	size_t n;
	char **names; /* sorted */
};

struct sim_ep_history {
	struct ep_entry *v;
	size_t len, cap;
};

/* Past this many entries the oldest half is dropped (a chaos run makes a few per kill). */
#define HISTORY_MAX 200000

struct sim_ep_history *sim_ep_history_new(void)
{
	return calloc(1, sizeof(struct sim_ep_history));
}

static void entry_release(struct ep_entry *e)
{
	sim_names_free(e->names, e->n);
	e->names = NULL;
	e->n = 0;
}

void sim_ep_history_free(struct sim_ep_history *h)
{
	size_t i;

	if (!h)
		return;
	for (i = 0; i < h->len; i++)
		entry_release(&h->v[i]);
	free(h->v);
	free(h);
}

static int same_names(const struct ep_entry *e, char *const *names, size_t n)
{
	size_t i;

	if (e->n != n)
		return 0;
	for (i = 0; i < n; i++) {
		if (strcmp(e->names[i], names[i]) != 0)
			return 0;
	}
	return 1;
}

int sim_ep_history_add(struct sim_ep_history *h, int64_t mono_ms, int64_t wall_ms,
		       char *const *names, size_t n)
{
	struct ep_entry e;
	size_t i;

	memset(&e, 0, sizeof(e));
	e.mono_ms = mono_ms;
	e.wall_ms = wall_ms;
	if (n) {
		e.names = calloc(n, sizeof(*e.names));
		if (!e.names)
			return -1;
		for (i = 0; i < n; i++) {
			e.names[i] = strdup(names[i]);
			if (!e.names[i]) {
				sim_names_free(e.names, i);
				return -1;
			}
		}
		e.n = n;
		qsort(e.names, n, sizeof(*e.names), cmp_str);
	}
	if (h->len > 0 && same_names(&h->v[h->len - 1], e.names, e.n)) {
		entry_release(&e);
		return 0;
	}
	if (h->len >= HISTORY_MAX) {
		size_t drop = h->len / 2;

		for (i = 0; i < drop; i++)
			entry_release(&h->v[i]);
		memmove(h->v, h->v + drop, (h->len - drop) * sizeof(*h->v));
		h->len -= drop;
	}
	if (h->len == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		struct ep_entry *v = realloc(h->v, cap * sizeof(*v));

		if (!v) {
			entry_release(&e);
			return -1;
		}
		h->v = v;
		h->cap = cap;
	}
	h->v[h->len++] = e;
	return 1;
}

void sim_ep_history_reset(struct sim_ep_history *h, int64_t mono_ms, int64_t wall_ms)
{
	size_t i;

	if (h->len == 0)
		return;
	for (i = 0; i + 1 < h->len; i++)
		entry_release(&h->v[i]);
	h->v[0] = h->v[h->len - 1];
	h->len = 1;
	h->v[0].mono_ms = mono_ms;
	h->v[0].wall_ms = wall_ms;
}

size_t sim_ep_history_len(const struct sim_ep_history *h)
{
	return h ? h->len : 0;
}

/* Index of the first entry of the window: the one in force at since_ms. */
static size_t window_start(const struct sim_ep_history *h, int64_t since_ms)
{
	size_t i = 0;

	while (i + 1 < h->len && h->v[i + 1].mono_ms <= since_ms)
		i++;
	return i;
}

void sim_ep_history_stats(const struct sim_ep_history *h, int64_t since_ms, int64_t now_ms,
			  struct sim_ep_stats *st, int64_t *zero_durations, size_t max_durations)
{
	size_t i, nz = 0;

	memset(st, 0, sizeof(*st));
	st->min_ready = -1;
	st->max_ready = -1;
	st->from_ms = since_ms;
	st->to_ms = now_ms;
	if (!h || h->len == 0)
		return;
	i = window_start(h, since_ms);
	if (st->from_ms < h->v[i].mono_ms)
		st->from_ms = h->v[i].mono_ms;
	for (; i < h->len; i++) {
		const struct ep_entry *e = &h->v[i];
		int64_t start = e->mono_ms > st->from_ms ? e->mono_ms : st->from_ms;
		int64_t end = i + 1 < h->len ? h->v[i + 1].mono_ms : now_ms;
		long cnt = (long)e->n;

		if (end < start)
			end = start;
		st->entries++;
		if (st->min_ready < 0 || cnt < st->min_ready)
			st->min_ready = cnt;
		if (cnt > st->max_ready)
			st->max_ready = cnt;
		if (cnt >= 2)
			st->multi_moments++;
		if (cnt == 0) {
			int64_t d = end - start;

			st->zero_moments++;
			st->zero_total_ms += d;
			if (d > st->zero_max_ms)
				st->zero_max_ms = d;
			if (zero_durations && nz < max_durations)
				zero_durations[nz++] = d;
		}
	}
}

cJSON *sim_ep_history_json(const struct sim_ep_history *h, int64_t since_ms, int64_t now_ms)
{
	cJSON *o = cJSON_CreateObject(), *entries, *stats, *zd;
	struct sim_ep_stats st;
	int64_t durs[256];
	size_t i, nd;
	char ts[40];

	if (!o)
		return NULL;
	sim_ep_history_stats(h, since_ms, now_ms, &st, durs, 256);
	entries = cJSON_AddArrayToObject(o, "entries");
	if (h && h->len) {
		for (i = window_start(h, since_ms); i < h->len; i++) {
			const struct ep_entry *e = &h->v[i];
			cJSON *je = cJSON_CreateObject(), *names;
			size_t j;

			sim_j_set_num(je, "monoMs", (double)e->mono_ms);
			sim_ctl_time_format(e->wall_ms, 3, ts, sizeof(ts));
			sim_j_set_str(je, "time", ts);
			sim_j_set_num(je, "count", (double)e->n);
			names = cJSON_AddArrayToObject(je, "ready");
			for (j = 0; j < e->n; j++)
				cJSON_AddItemToArray(names, cJSON_CreateString(e->names[j]));
			cJSON_AddItemToArray(entries, je);
		}
	}
	stats = cJSON_AddObjectToObject(o, "stats");
	sim_j_set_num(stats, "fromMs", (double)st.from_ms);
	sim_j_set_num(stats, "toMs", (double)st.to_ms);
	sim_j_set_num(stats, "entries", (double)st.entries);
	sim_j_set_num(stats, "minReady", (double)st.min_ready);
	sim_j_set_num(stats, "maxReady", (double)st.max_ready);
	sim_j_set_num(stats, "zeroMoments", (double)st.zero_moments);
	sim_j_set_num(stats, "zeroTotalMs", (double)st.zero_total_ms);
	sim_j_set_num(stats, "zeroMaxMs", (double)st.zero_max_ms);
	sim_j_set_num(stats, "multiMoments", (double)st.multi_moments);
	zd = cJSON_AddArrayToObject(stats, "zeroDurationsMs");
	nd = st.zero_moments < 256 ? (size_t)st.zero_moments : 256;
	for (i = 0; i < nd; i++)
		cJSON_AddItemToArray(zd, cJSON_CreateNumber((double)durs[i]));
	/* Also at the top level, where scripts look first. */
	sim_j_set(o, "zeroDurationsMs", cJSON_Duplicate(zd, 1));
	return o;
}

/* ---- Glue ---- */

struct ep_svc {
	UT_hash_handle hh;
	char *key; /* ns/name */
	char *ns, *name;
	int exists;   /* the Service exists and has a selector */
	int dirty;
	char **ready; /* sorted */
	size_t n_ready;
	struct sim_ep_history *hist;
	char *last_ep, *last_slice; /* what we last wrote, to skip no-op writes */
};

struct sim_endpoints {
	struct ep_svc *svcs;
	int any_dirty;
};

int sim_endpoints_new(struct sim_controllers *c, struct sim_endpoints **out)
{
	(void)c;
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : KUBE_ENOMEM;
}

static void svc_free(struct ep_svc *s)
{
	sim_names_free(s->ready, s->n_ready);
	sim_ep_history_free(s->hist);
	free(s->last_ep);
	free(s->last_slice);
	free(s->key);
	free(s->ns);
	free(s->name);
	free(s);
}

void sim_endpoints_free(struct sim_endpoints *e)
{
	struct ep_svc *s, *tmp;

	if (!e)
		return;
	HASH_ITER(hh, e->svcs, s, tmp) {
		HASH_DEL(e->svcs, s);
		svc_free(s);
	}
	free(e);
}

static struct ep_svc *svc_find(struct sim_endpoints *e, const char *ns, const char *name)
{
	struct ep_svc *s = NULL;
	char key[512];

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	HASH_FIND_STR(e->svcs, key, s);
	return s;
}

static struct ep_svc *svc_get(struct sim_endpoints *e, const char *ns, const char *name)
{
	struct ep_svc *s = svc_find(e, ns, name);
	char key[512];

	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	s->key = strdup(key);
	s->ns = strdup(ns);
	s->name = strdup(name);
	s->hist = sim_ep_history_new();
	if (!s->key || !s->ns || !s->name || !s->hist) {
		svc_free(s);
		return NULL;
	}
	HASH_ADD_KEYPTR(hh, e->svcs, s->key, strlen(s->key), s);
	return s;
}

/* Replaces the ready set and records the change at the current event's commit time. */
static void set_ready(struct sim_controllers *c, struct ep_svc *s, char **names, size_t n)
{
	sim_names_free(s->ready, s->n_ready);
	s->ready = names;
	s->n_ready = n;
	sim_ep_history_add(s->hist, sim_ctl_event_ms(c), sim_ctl_event_wall_ms(c), names, n);
}

static long find_name(const struct ep_svc *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->n_ready; i++) {
		if (strcmp(s->ready[i], name) == 0)
			return (long)i;
	}
	return -1;
}

/* Adds or removes one pod from the ready set (sorted), recording the change. */
static void update_member(struct sim_controllers *c, struct ep_svc *s, const char *pod, int member)
{
	long at = find_name(s, pod);
	char **v;
	size_t i, k = 0;

	if ((at >= 0) == (member != 0))
		return;
	v = calloc(s->n_ready + 1, sizeof(*v));
	if (!v)
		return;
	for (i = 0; i < s->n_ready; i++) {
		if ((long)i == at)
			continue;
		v[k] = strdup(s->ready[i]);
		if (!v[k]) {
			sim_names_free(v, k);
			return;
		}
		k++;
	}
	if (member) {
		v[k] = strdup(pod);
		if (!v[k]) {
			sim_names_free(v, k);
			return;
		}
		k++;
		qsort(v, k, sizeof(*v), cmp_str);
	}
	if (k == 0) {
		free(v);
		v = NULL;
	}
	set_ready(c, s, v, k);
}

void sim_endpoints_on_pod(struct sim_controllers *c, const char *type, const cJSON *pod,
			  const cJSON *old)
{
	struct sim_endpoints *e = sim_ctl_endpoints(c);
	const char *ns = sim_j_str(pod, "metadata.namespace");
	const char *name = sim_j_str(pod, "metadata.name");
	int deleted = strcmp(type, "DELETED") == 0;
	struct ep_svc *s, *tmp;

	if (!ns || !name)
		return;
	HASH_ITER(hh, e->svcs, s, tmp) {
		const cJSON *svc;
		int now_sel, was_sel;

		if (!s->exists || strcmp(s->ns, ns) != 0)
			continue;
		svc = sim_cache_get(c, SIM_K_SERVICES, s->ns, s->name);
		if (!svc)
			continue;
		now_sel = !deleted && svc_selects(svc, pod);
		was_sel = old && svc_selects(svc, old);
		if (!now_sel && !was_sel && find_name(s, name) < 0)
			continue;
		update_member(c, s, name, now_sel && svc_ready_member(svc, pod));
		s->dirty = 1;
		e->any_dirty = 1;
	}
}

/* Recomputes a Service's ready set from the pod cache. */
static void recompute(struct sim_controllers *c, struct ep_svc *s, const cJSON *svc)
{
	const cJSON **pods = NULL;
	size_t n = sim_cache_list(c, SIM_K_PODS, s->ns, &pods);
	char **names = NULL;
	long k = sim_endpoints_ready_names(svc, pods, n, &names);

	free(pods);
	if (k < 0)
		return;
	if (s->hist && sim_ep_history_len(s->hist) > 0 && (size_t)k == s->n_ready) {
		size_t i;
		int same = 1;

		for (i = 0; i < (size_t)k; i++) {
			if (strcmp(names[i], s->ready[i]) != 0)
				same = 0;
		}
		if (same) {
			sim_names_free(names, (size_t)k);
			return;
		}
	}
	set_ready(c, s, names, (size_t)k);
}

static void slice_name(const cJSON *svc, char *buf, size_t len)
{
	const char *uid = sim_j_str(svc, "metadata.uid");
	const char *alpha = "bcdfghjklmnpqrstvwxz2456789";
	unsigned h = 2166136261u;
	char sfx[6];
	int i;

	for (; uid && *uid; uid++)
		h = (h ^ (unsigned char)*uid) * 16777619u;
	for (i = 0; i < 5; i++) {
		sfx[i] = alpha[h % 27];
		h /= 27;
	}
	sfx[5] = '\0';
	snprintf(buf, len, "%s-%s", sim_j_str(svc, "metadata.name"), sfx);
}

void sim_endpoints_on_service(struct sim_controllers *c, const char *type, const cJSON *svc)
{
	struct sim_endpoints *e = sim_ctl_endpoints(c);
	const char *ns = sim_j_str(svc, "metadata.namespace");
	const char *name = sim_j_str(svc, "metadata.name");
	struct ep_svc *s;

	if (!ns || !name)
		return;
	if (strcmp(type, "DELETED") == 0) {
		s = svc_find(e, ns, name);
		if (!s || !s->exists)
			return;
		s->exists = 0;
		set_ready(c, s, NULL, 0);
		free(s->last_ep);
		free(s->last_slice);
		s->last_ep = s->last_slice = NULL;
		/* Endpoints have no owner; the slice has one, but the GC does not index slices
		 * (their events are not queued, for speed), so both go here. */
		sim_ctl_delete(c, "", "endpoints", ns, name, NULL, -1, NULL);
		{
			char sname[300];

			slice_name(svc, sname, sizeof(sname));
			sim_ctl_delete(c, "discovery.k8s.io", "endpointslices", ns, sname, NULL, -1, NULL);
		}
		return;
	}
	if (!cJSON_IsObject(sim_j_at(svc, "spec.selector")) ||
	    cJSON_GetArraySize(sim_j_at(svc, "spec.selector")) == 0) {
		s = svc_find(e, ns, name);
		if (s)
			s->exists = 0;
		return; /* without a selector the user manages the endpoints */
	}
	s = svc_get(e, ns, name);
	if (!s)
		return;
	s->exists = 1;
	svc = sim_cache_get(c, SIM_K_SERVICES, ns, name) ? sim_cache_get(c, SIM_K_SERVICES, ns, name)
							 : svc;
	recompute(c, s, svc);
	s->dirty = 1;
	e->any_dirty = 1;
}

/* Writes obj unless it is what we wrote last; create when missing. */
static void write_obj(struct sim_controllers *c, const char *group, const char *resource,
		      const char *ns, cJSON *obj, char **last)
{
	char *json = cJSON_PrintUnformatted(obj);
	const char *name = sim_j_str(obj, "metadata.name");
	int code;

	if (!json)
		return;
	if (*last && strcmp(*last, json) == 0) {
		free(json);
		return;
	}
	code = sim_ctl_update(c, group, resource, ns, name, NULL, obj, NULL);
	if (code == 404)
		code = sim_ctl_create(c, group, resource, ns, obj, NULL);
	free(*last);
	*last = code < 300 ? json : NULL;
	if (code >= 300)
		free(json);
}

static void flush_one(struct sim_controllers *c, struct ep_svc *s)
{
	const cJSON *svc = sim_cache_get(c, SIM_K_SERVICES, s->ns, s->name);
	const cJSON **pods = NULL;
	size_t n;
	cJSON *ep, *es;
	char sname[300];

	if (!svc || !s->exists)
		return;
	n = sim_cache_list(c, SIM_K_PODS, s->ns, &pods);
	ep = sim_endpoints_build(svc, pods, n);
	slice_name(svc, sname, sizeof(sname));
	es = sim_endpointslice_build(svc, pods, n, sname);
	free(pods);
	if (ep)
		write_obj(c, "", "endpoints", s->ns, ep, &s->last_ep);
	if (es)
		write_obj(c, "discovery.k8s.io", "endpointslices", s->ns, es, &s->last_slice);
	cJSON_Delete(ep);
	cJSON_Delete(es);
}

void sim_endpoints_flush(struct sim_controllers *c)
{
	struct sim_endpoints *e = sim_ctl_endpoints(c);
	struct ep_svc *s, *tmp;

	if (!e || !e->any_dirty)
		return;
	e->any_dirty = 0;
	HASH_ITER(hh, e->svcs, s, tmp) {
		if (!s->dirty)
			continue;
		s->dirty = 0;
		flush_one(c, s);
	}
}

static cJSON *history_of(struct sim_controllers *c, struct ep_svc *s, int64_t since_ms)
{
	cJSON *o = sim_ep_history_json(s->hist, since_ms, sim_ctl_now_ms(c));
	cJSON *cur;
	size_t i;

	if (!o)
		return NULL;
	sim_j_set_str(o, "namespace", s->ns);
	sim_j_set_str(o, "service", s->name);
	sim_j_set_bool(o, "exists", s->exists);
	sim_j_set_num(o, "nowMs", (double)sim_ctl_now_ms(c));
	cur = cJSON_AddArrayToObject(o, "ready");
	for (i = 0; i < s->n_ready; i++)
		cJSON_AddItemToArray(cur, cJSON_CreateString(s->ready[i]));
	return o;
}

cJSON *sim_endpoints_history_get(struct sim_controllers *c, const char *ns, const char *name,
				 int64_t since_ms)
{
	struct ep_svc *s = svc_find(sim_ctl_endpoints(c), ns, name);

	return s ? history_of(c, s, since_ms) : NULL;
}

cJSON *sim_endpoints_history_all(struct sim_controllers *c, int64_t since_ms)
{
	struct sim_endpoints *e = sim_ctl_endpoints(c);
	cJSON *arr = cJSON_CreateArray();
	struct ep_svc *s, *tmp;

	HASH_ITER(hh, e->svcs, s, tmp) {
		cJSON *o = history_of(c, s, since_ms);

		if (o) {
			cJSON_DeleteItemFromObject(o, "entries");
			cJSON_AddItemToArray(arr, o);
		}
	}
	return arr;
}

int sim_endpoints_history_reset(struct sim_controllers *c, const char *ns, const char *name)
{
	struct sim_endpoints *e = sim_ctl_endpoints(c);
	struct ep_svc *s, *tmp;
	int n = 0;

	HASH_ITER(hh, e->svcs, s, tmp) {
		if (ns && strcmp(ns, s->ns) != 0)
			continue;
		if (name && strcmp(name, s->name) != 0)
			continue;
		sim_ep_history_reset(s->hist, sim_ctl_now_ms(c), sim_ctl_wall_ms(c));
		n++;
	}
	return n;
}
