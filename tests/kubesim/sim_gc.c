/* The garbage collector (see sim_gc.h): an index of objects and owner -> dependents, and the
 * three deletion policies driven from the store's events. */
#include "sim_gc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "kube_error.h"
#include "sim_controllers.h"
#include "sim_registry.h"
#include "sim_server.h"
#include "sim_store.h"

struct gc_ref {
	char *uid;
	int block; /* blockOwnerDeletion */
};

struct gc_obj {
	UT_hash_handle hh;
	char *uid;
	char *group, *resource, *ns, *name;
	struct gc_ref *owners;
	size_t n_owners;
	int fg;          /* being deleted in the foreground (finalizer seen) */
	int fg_started;  /* its dependents were asked to go */
	int orphan_done; /* the orphan finalizer was handled */
};

/* owner uid -> uids of the objects that name it */
struct gc_deps {
	UT_hash_handle hh;
	char *owner;
	char **deps;
	size_t n, cap;
};

struct sim_gc {
	struct gc_obj *objs;
	struct gc_deps *deps;
};

int sim_gc_new(struct sim_controllers *c, struct sim_gc **out)
{
	(void)c;
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : KUBE_ENOMEM;
}

static void obj_free(struct gc_obj *o)
{
	size_t i;

	for (i = 0; i < o->n_owners; i++)
		free(o->owners[i].uid);
	free(o->owners);
	free(o->uid);
	free(o->group);
	free(o->resource);
	free(o->ns);
	free(o->name);
	free(o);
}

static void deps_free(struct gc_deps *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		free(d->deps[i]);
	free(d->deps);
	free(d->owner);
	free(d);
}

void sim_gc_free(struct sim_gc *gc)
{
	struct gc_obj *o, *ot;
	struct gc_deps *d, *dt;

	if (!gc)
		return;
	HASH_ITER(hh, gc->objs, o, ot) {
		HASH_DEL(gc->objs, o);
		obj_free(o);
	}
	HASH_ITER(hh, gc->deps, d, dt) {
		HASH_DEL(gc->deps, d);
		deps_free(d);
	}
	free(gc);
}

unsigned sim_gc_objects(struct sim_controllers *c)
{
	return HASH_COUNT(sim_ctl_gc(c)->objs);
}

static struct gc_obj *find_obj(struct sim_gc *gc, const char *uid)
{
	struct gc_obj *o = NULL;

	if (uid)
		HASH_FIND_STR(gc->objs, uid, o);
	return o;
}

static struct gc_deps *find_deps(struct sim_gc *gc, const char *owner)
{
	struct gc_deps *d = NULL;

	HASH_FIND_STR(gc->deps, owner, d);
	return d;
}

static void deps_add(struct sim_gc *gc, const char *owner, const char *dep)
{
	struct gc_deps *d = find_deps(gc, owner);
	size_t i;

	if (!d) {
		d = calloc(1, sizeof(*d));
		if (!d)
			return;
		d->owner = strdup(owner);
		if (!d->owner) {
			free(d);
			return;
		}
		HASH_ADD_KEYPTR(hh, gc->deps, d->owner, strlen(d->owner), d);
	}
	for (i = 0; i < d->n; i++) {
		if (strcmp(d->deps[i], dep) == 0)
			return;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 4;
		char **v = realloc(d->deps, cap * sizeof(*v));

		if (!v)
			return;
		d->deps = v;
		d->cap = cap;
	}
	d->deps[d->n] = strdup(dep);
	if (d->deps[d->n])
		d->n++;
}

static void deps_remove(struct sim_gc *gc, const char *owner, const char *dep)
{
	struct gc_deps *d = find_deps(gc, owner);
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n; i++) {
		if (strcmp(d->deps[i], dep) == 0) {
			free(d->deps[i]);
			d->deps[i] = d->deps[--d->n];
			break;
		}
	}
	if (d->n == 0) {
		HASH_DEL(gc->deps, d);
		deps_free(d);
	}
}

static int has_finalizer(const cJSON *obj, const char *f)
{
	const cJSON *x;

	cJSON_ArrayForEach(x, sim_j_at(obj, "metadata.finalizers")) {
		if (cJSON_IsString(x) && strcmp(x->valuestring, f) == 0)
			return 1;
	}
	return 0;
}

/* Edit callbacks for sim_ctl_modify. */
static int edit_drop_finalizer(cJSON *obj, void *ud)
{
	cJSON *fins = (cJSON *)sim_j_at(obj, "metadata.finalizers");
	int i, n = cJSON_GetArraySize(fins);

	for (i = 0; i < n; i++) {
		cJSON *x = cJSON_GetArrayItem(fins, i);

		if (cJSON_IsString(x) && strcmp(x->valuestring, ud) == 0) {
			cJSON_DeleteItemFromArray(fins, i);
			return 1;
		}
	}
	return 0;
}

static int edit_drop_owner(cJSON *obj, void *ud)
{
	cJSON *meta = (cJSON *)sim_j_at(obj, "metadata");
	cJSON *refs = (cJSON *)sim_j_at(obj, "metadata.ownerReferences");
	int i, changed = 0;

	for (i = cJSON_GetArraySize(refs) - 1; i >= 0; i--) {
		const char *uid = sim_j_str(cJSON_GetArrayItem(refs, i), "uid");

		if (uid && strcmp(uid, ud) == 0) {
			cJSON_DeleteItemFromArray(refs, i);
			changed = 1;
		}
	}
	if (changed && cJSON_GetArraySize(refs) == 0)
		cJSON_DeleteItemFromObject(meta, "ownerReferences");
	return changed;
}

static void drop_finalizer(struct sim_controllers *c, const struct gc_obj *o, const char *f)
{
	sim_ctl_modify(c, o->group, o->resource, o->ns, o->name, edit_drop_finalizer, (void *)f);
}

/* Owner in foreground deletion: done when no dependent that blocks it is left. */
static void check_foreground(struct sim_controllers *c, struct gc_obj *owner)
{
	struct sim_gc *gc = sim_ctl_gc(c);
	struct gc_deps *d;
	size_t i, j;

	if (!owner || !owner->fg)
		return;
	d = find_deps(gc, owner->uid);
	for (i = 0; d && i < d->n; i++) {
		struct gc_obj *dep = find_obj(gc, d->deps[i]);

		for (j = 0; dep && j < dep->n_owners; j++) {
			if (strcmp(dep->owners[j].uid, owner->uid) == 0 && dep->owners[j].block)
				return;
		}
	}
	owner->fg = 0;
	drop_finalizer(c, owner, "foregroundDeletion");
}

/* Copies the uids of owner's dependents (the index changes while we act on them). */
static size_t dep_uids(struct sim_gc *gc, const char *owner, char ***out)
{
	struct gc_deps *d = find_deps(gc, owner);
	char **v;
	size_t i, n = 0;

	*out = NULL;
	if (!d || d->n == 0)
		return 0;
	v = calloc(d->n, sizeof(*v));
	if (!v)
		return 0;
	for (i = 0; i < d->n; i++) {
		v[n] = strdup(d->deps[i]);
		if (v[n])
			n++;
	}
	*out = v;
	return n;
}

static void free_uids(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void delete_dependents(struct sim_controllers *c, const char *owner_uid, int foreground)
{
	struct sim_gc *gc = sim_ctl_gc(c);
	char **uids = NULL;
	size_t n = dep_uids(gc, owner_uid, &uids), i, j;

	for (i = 0; i < n; i++) {
		struct gc_obj *dep = find_obj(gc, uids[i]);
		int other_owner = 0;

		if (!dep)
			continue;
		for (j = 0; j < dep->n_owners; j++) {
			if (strcmp(dep->owners[j].uid, owner_uid) != 0 &&
			    find_obj(gc, dep->owners[j].uid))
				other_owner = 1;
		}
		if (other_owner && !foreground) {
			sim_ctl_modify(c, dep->group, dep->resource, dep->ns, dep->name,
				       edit_drop_owner, (void *)owner_uid);
			continue;
		}
		sim_ctl_delete(c, dep->group, dep->resource, dep->ns, dep->name,
			       foreground ? "Foreground" : "Background", -1, dep->uid);
	}
	free_uids(uids, n);
}

static void orphan_dependents(struct sim_controllers *c, struct gc_obj *owner)
{
	struct sim_gc *gc = sim_ctl_gc(c);
	char **uids = NULL;
	size_t n = dep_uids(gc, owner->uid, &uids), i;

	for (i = 0; i < n; i++) {
		struct gc_obj *dep = find_obj(gc, uids[i]);

		if (dep)
			sim_ctl_modify(c, dep->group, dep->resource, dep->ns, dep->name,
				       edit_drop_owner, owner->uid);
	}
	free_uids(uids, n);
	drop_finalizer(c, owner, "orphan");
}

static char *dup0(const char *s)
{
	return strdup(s ? s : "");
}

/* Re-reads obj's identity and owners into o, keeping the owner index in step. */
static int index_obj(struct sim_gc *gc, struct gc_obj *o, const cJSON *obj)
{
	const cJSON *refs = sim_j_at(obj, "metadata.ownerReferences");
	int n = cJSON_GetArraySize(refs);
	struct gc_ref *owners;
	size_t k = 0, j;
	const cJSON *r;

	/* Most writes (status) leave the owners alone: keep the index as it is. */
	if ((size_t)n == o->n_owners) {
		int same = 1;

		j = 0;
		cJSON_ArrayForEach(r, refs) {
			const char *uid = sim_j_str(r, "uid");

			if (!uid || strcmp(uid, o->owners[j].uid) != 0 ||
			    sim_j_bool(r, "blockOwnerDeletion", 0) != o->owners[j].block)
				same = 0;
			j++;
		}
		if (same)
			return 0;
	}
	owners = n > 0 ? calloc((size_t)n, sizeof(*owners)) : NULL;
	if (n > 0 && !owners)
		return -1;
	cJSON_ArrayForEach(r, refs) {
		const char *uid = sim_j_str(r, "uid");

		if (!uid)
			continue;
		owners[k].uid = strdup(uid);
		if (!owners[k].uid)
			break;
		owners[k].block = sim_j_bool(r, "blockOwnerDeletion", 0);
		k++;
	}
	for (j = 0; j < o->n_owners; j++)
		deps_remove(gc, o->owners[j].uid, o->uid);
	for (j = 0; j < o->n_owners; j++)
		free(o->owners[j].uid);
	free(o->owners);
	o->owners = owners;
	o->n_owners = k;
	for (j = 0; j < k; j++)
		deps_add(gc, owners[j].uid, o->uid);
	return 0;
}

static void unindex_obj(struct sim_gc *gc, struct gc_obj *o)
{
	size_t j;

	for (j = 0; j < o->n_owners; j++)
		deps_remove(gc, o->owners[j].uid, o->uid);
	HASH_DEL(gc->objs, o);
}

/* After a dependent changed or went: owners waiting in the foreground may now be done. */
static void recheck_owners(struct sim_controllers *c, char **owner_uids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		check_foreground(c, find_obj(sim_ctl_gc(c), owner_uids[i]));
}

static size_t owner_uids_of(const struct gc_obj *o, char ***out)
{
	char **v;
	size_t i, n = 0;

	*out = NULL;
	if (o->n_owners == 0)
		return 0;
	v = calloc(o->n_owners, sizeof(*v));
	if (!v)
		return 0;
	for (i = 0; i < o->n_owners; i++) {
		v[n] = strdup(o->owners[i].uid);
		if (v[n])
			n++;
	}
	*out = v;
	return n;
}

/* Whether the owner a reference names exists (same uid). Unknown kinds count as existing: the
 * real collector does not delete what it cannot resolve either. */
static int owner_exists(struct sim_controllers *c, const cJSON *ref, const char *dep_ns)
{
	const char *api = sim_j_str(ref, "apiVersion");
	const char *kind = sim_j_str(ref, "kind");
	const char *name = sim_j_str(ref, "name");
	const char *uid = sim_j_str(ref, "uid");
	const struct sim_rtype *t;
	char group[256];
	const char *slash;
	cJSON *obj = NULL, *status = NULL;
	int exists;

	if (!api || !kind || !name || !uid)
		return 1;
	if (find_obj(sim_ctl_gc(c), uid))
		return 1;
	slash = strchr(api, '/');
	snprintf(group, sizeof(group), "%.*s", slash ? (int)(slash - api) : 0, api);
	t = sim_registry_find_kind(sim_server_registry(sim_ctl_server(c)), group, kind);
	if (!t)
		return 1;
	exists = sim_store_get(sim_ctl_store(c), t->group, t->resource, t->namespaced ? dep_ns : NULL,
			       name, &obj, &status) == 200;
	if (exists) {
		const char *got = sim_j_str(obj, "metadata.uid");

		exists = got && strcmp(got, uid) == 0;
	}
	cJSON_Delete(obj);
	cJSON_Delete(status);
	return exists;
}

/* A new object whose owners are all gone already (deleted before it was created, or a bogus
 * reference) is collected at once, as the real collector does with dangling references. */
static void collect_if_dangling(struct sim_controllers *c, const struct gc_obj *o, const cJSON *obj)
{
	const cJSON *r;

	if (o->n_owners == 0 || sim_j_at(obj, "metadata.deletionTimestamp"))
		return;
	cJSON_ArrayForEach(r, sim_j_at(obj, "metadata.ownerReferences")) {
		if (owner_exists(c, r, o->ns[0] ? o->ns : NULL))
			return;
	}
	sim_ctl_delete(c, o->group, o->resource, o->ns[0] ? o->ns : NULL, o->name, "Background", -1,
		       o->uid);
}

void sim_gc_on_event(struct sim_controllers *c, const char *type, const char *group,
		     const char *resource, const cJSON *obj, const cJSON *old)
{
	struct sim_gc *gc = sim_ctl_gc(c);
	const char *uid = sim_j_str(obj, "metadata.uid");
	struct gc_obj *o;
	char **prev_owners = NULL;
	size_t n_prev = 0;

	(void)old;
	if (!gc || !uid)
		return;
	o = find_obj(gc, uid);
	if (strcmp(type, "DELETED") == 0) {
		int fg = 0;

		if (!o)
			return;
		fg = o->fg || o->fg_started;
		n_prev = owner_uids_of(o, &prev_owners);
		unindex_obj(gc, o);
		delete_dependents(c, uid, fg);
		/* The object is gone: its dependents no longer point at anything that exists. */
		obj_free(o);
		recheck_owners(c, prev_owners, n_prev);
		free_uids(prev_owners, n_prev);
		return;
	}
	if (!o) {
		o = calloc(1, sizeof(*o));
		if (!o)
			return;
		o->uid = strdup(uid);
		o->group = dup0(group);
		o->resource = dup0(resource);
		o->ns = dup0(sim_j_str(obj, "metadata.namespace"));
		o->name = dup0(sim_j_str(obj, "metadata.name"));
		if (!o->uid || !o->group || !o->resource || !o->ns || !o->name) {
			obj_free(o);
			return;
		}
		HASH_ADD_KEYPTR(hh, gc->objs, o->uid, strlen(o->uid), o);
	}
	n_prev = owner_uids_of(o, &prev_owners);
	index_obj(gc, o, obj);
	if (strcmp(type, "ADDED") == 0)
		collect_if_dangling(c, o, obj);
	/* Owners this object stopped naming (orphaned, or ref removed) may be done waiting. */
	recheck_owners(c, prev_owners, n_prev);
	free_uids(prev_owners, n_prev);

	if (!sim_j_at(obj, "metadata.deletionTimestamp"))
		return;
	if (has_finalizer(obj, "orphan") && !o->orphan_done) {
		o->orphan_done = 1;
		orphan_dependents(c, o);
		return;
	}
	if (has_finalizer(obj, "foregroundDeletion")) {
		o->fg = 1;
		if (!o->fg_started) {
			o->fg_started = 1;
			delete_dependents(c, o->uid, 1);
		}
		check_foreground(c, find_obj(gc, uid));
	}
}
