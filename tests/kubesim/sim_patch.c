/* kubesim patch algorithms: RFC 7386 merge patch, RFC 6902 JSON patch and strategic merge patch.
 * Every entry point patches a private copy and swaps it in on success, so a failed patch never
 * leaves a half-patched object in the store. */
#include "sim_patch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_error.h"

/* Sets *errmsg (first error wins, so the innermost cause is reported). */
static void set_err(char **errmsg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(char **errmsg, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	if (!errmsg || *errmsg)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	*errmsg = s;
}

/* obj[key] = item, replacing any existing member; takes item (freed on failure). */
static int obj_set(cJSON *obj, const char *key, cJSON *item)
{
	cJSON_bool ok;

	if (!item)
		return KUBE_ENOMEM;
	if (cJSON_GetObjectItemCaseSensitive(obj, key))
		ok = cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item);
	else
		ok = cJSON_AddItemToObject(obj, key, item);
	if (!ok) {
		cJSON_Delete(item);
		return KUBE_ENOMEM;
	}
	return 0;
}

static void clear_children(cJSON *c)
{
	while (c->child)
		cJSON_Delete(cJSON_DetachItemViaPointer(c, c->child));
}

/* Inserts item (taken) before index i (i == size appends). cJSON_InsertItemInArray is not used:
 * the Debian 12 build of cJSON 1.7.15 refuses inserts in the middle of an array. */
static int array_insert(cJSON *arr, int i, cJSON *item)
{
	cJSON *tail = cJSON_CreateArray();

	if (!tail) {
		cJSON_Delete(item);
		return KUBE_ENOMEM;
	}
	while (cJSON_GetArraySize(arr) > i)
		cJSON_AddItemToArray(tail, cJSON_DetachItemFromArray(arr, i));
	cJSON_AddItemToArray(arr, item);
	while (tail->child)
		cJSON_AddItemToArray(arr, cJSON_DetachItemViaPointer(tail, tail->child));
	cJSON_Delete(tail);
	return 0;
}

/* Replaces *doc by `work` (taken). */
static void swap_in(cJSON **doc, cJSON *work)
{
	if (*doc != work)
		cJSON_Delete(*doc);
	*doc = work;
}

/* ---------------------------------------------------------------------------------------------
 * RFC 7386 merge patch */

static int merge_obj(cJSON *target, const cJSON *patch)
{
	const cJSON *p;
	int rc = 0;

	cJSON_ArrayForEach(p, patch) {
		cJSON *t = cJSON_GetObjectItemCaseSensitive(target, p->string);

		if (cJSON_IsNull(p)) {
			cJSON_DeleteItemFromObjectCaseSensitive(target, p->string);
			continue;
		}
		if (cJSON_IsObject(p)) {
			if (!cJSON_IsObject(t)) {
				/* A non-object (or absent) target is replaced by the patch with
				 * its nulls removed, which is merging into an empty object. */
				rc = obj_set(target, p->string, cJSON_CreateObject());
				if (rc)
					goto out;
				t = cJSON_GetObjectItemCaseSensitive(target, p->string);
			}
			rc = merge_obj(t, p);
		} else {
			rc = obj_set(target, p->string, cJSON_Duplicate(p, 1));
		}
		if (rc)
			goto out;
	}
out:
	return rc;
}

int sim_merge_patch(cJSON **doc, const cJSON *patch)
{
	cJSON *work = NULL;
	int rc = 0;

	if (!doc || !patch) {
		rc = KUBE_EINVAL;
		goto out;
	}
	if (!cJSON_IsObject(patch)) {
		work = cJSON_Duplicate(patch, 1);
	} else if (cJSON_IsObject(*doc)) {
		work = cJSON_Duplicate(*doc, 1);
	} else {
		work = cJSON_CreateObject();
	}
	if (!work) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	if (cJSON_IsObject(patch)) {
		rc = merge_obj(work, patch);
		if (rc)
			goto out;
	}
	swap_in(doc, work);
	work = NULL;
out:
	cJSON_Delete(work);
	return rc;
}

/* ---------------------------------------------------------------------------------------------
 * RFC 6902 JSON patch */

/* A parsed JSON pointer: tokens unescaped, heap-allocated. */
struct pointer {
	char **tok;
	size_t n;
};

static void pointer_release(struct pointer *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->tok[i]);
	free(p->tok);
	p->tok = NULL;
	p->n = 0;
}

/* Returns 0, KUBE_EBADREQUEST (syntax) or KUBE_ENOMEM. */
static int pointer_parse(const char *s, struct pointer *p)
{
	size_t cap = 0;
	int rc = 0;

	p->tok = NULL;
	p->n = 0;
	if (s[0] == '\0')
		goto out;
	if (s[0] != '/') {
		rc = KUBE_EBADREQUEST;
		goto out;
	}
	for (const char *c = s + 1;; ) {
		size_t len = strcspn(c, "/");
		char *t = malloc(len + 1);
		size_t o = 0;

		if (!t) {
			rc = KUBE_ENOMEM;
			goto out;
		}
		if (p->n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char **nt = realloc(p->tok, ncap * sizeof(*nt));

			if (!nt) {
				free(t);
				rc = KUBE_ENOMEM;
				goto out;
			}
			p->tok = nt;
			cap = ncap;
		}
		p->tok[p->n++] = t;
		for (size_t i = 0; i < len; i++) {
			if (c[i] != '~') {
				t[o++] = c[i];
			} else if (i + 1 < len && (c[i + 1] == '0' || c[i + 1] == '1')) {
				t[o++] = c[i + 1] == '0' ? '~' : '/';
				i++;
			} else {
				rc = KUBE_EBADREQUEST; /* "~" must be followed by 0 or 1 */
				goto out;
			}
		}
		t[o] = '\0';
		if (c[len] == '\0')
			break;
		c += len + 1;
	}
out:
	if (rc)
		pointer_release(p);
	return rc;
}

/* Parses an array index token: digits only, no leading zero (RFC 6901). -1 if invalid. */
static long array_index(const char *t)
{
	long v = 0;

	if (!t[0] || (t[0] == '0' && t[1]))
		return -1;
	for (const char *c = t; *c; c++) {
		if (*c < '0' || *c > '9' || v > 100000000L)
			return -1;
		v = v * 10 + (*c - '0');
	}
	return v;
}

/* The child of `c` named by token t, or NULL. */
static cJSON *child_at(cJSON *c, const char *t)
{
	long i;

	if (cJSON_IsObject(c))
		return cJSON_GetObjectItemCaseSensitive(c, t);
	if (!cJSON_IsArray(c))
		return NULL;
	i = array_index(t);
	if (i < 0 || i >= cJSON_GetArraySize(c))
		return NULL;
	return cJSON_GetArrayItem(c, (int)i);
}

/* Walks the first `depth` tokens. */
static cJSON *resolve(cJSON *root, const struct pointer *p, size_t depth)
{
	cJSON *c = root;

	for (size_t i = 0; c && i < depth; i++)
		c = child_at(c, p->tok[i]);
	return c;
}

/* Adds `v` (taken) at pointer p in *root. 0 or KUBE_EINVALID/KUBE_ENOMEM (v freed). */
static int ptr_add(cJSON **root, const struct pointer *p, cJSON *v, const char **why)
{
	cJSON *parent;
	const char *last;
	int rc = 0;

	if (!v)
		return KUBE_ENOMEM;
	if (p->n == 0) {
		cJSON_Delete(*root);
		*root = v;
		return 0;
	}
	parent = resolve(*root, p, p->n - 1);
	last = p->tok[p->n - 1];
	if (cJSON_IsObject(parent)) {
		rc = obj_set(parent, last, v);
		v = NULL;
	} else if (cJSON_IsArray(parent)) {
		long i = strcmp(last, "-") == 0 ? cJSON_GetArraySize(parent) : array_index(last);

		if (i < 0 || i > cJSON_GetArraySize(parent)) {
			*why = "array index out of range";
			rc = KUBE_EINVALID;
		} else {
			rc = array_insert(parent, (int)i, v);
			v = NULL;
		}
	} else {
		*why = "parent path not found";
		rc = KUBE_EINVALID;
	}
	cJSON_Delete(v);
	return rc;
}

/* Detaches and returns the value at p (the caller owns it), or NULL when missing. */
static cJSON *ptr_detach(cJSON *root, const struct pointer *p)
{
	cJSON *parent = resolve(root, p, p->n - 1);
	cJSON *item = parent ? child_at(parent, p->tok[p->n - 1]) : NULL;

	return item ? cJSON_DetachItemViaPointer(parent, item) : NULL;
}

/* Is pointer a a proper prefix of b (moving a value into its own child is an error)? */
static int pointer_is_prefix(const struct pointer *a, const struct pointer *b)
{
	if (a->n >= b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++) {
		if (strcmp(a->tok[i], b->tok[i]) != 0)
			return 0;
	}
	return 1;
}

/* Applies one operation to *work. */
static int apply_op(cJSON **work, const cJSON *op, size_t idx, char **errmsg)
{
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op, "op"));
	const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op, "path"));
	const char *from = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(op, "from"));
	const cJSON *value = cJSON_GetObjectItemCaseSensitive(op, "value");
	struct pointer pp = { NULL, 0 }, pf = { NULL, 0 };
	const char *why = NULL;
	int need_from, rc = 0;

	if (!cJSON_IsObject(op) || !name || !path) {
		rc = KUBE_EBADREQUEST;
		set_err(errmsg, "op %zu: must be an object with string \"op\" and \"path\"", idx);
		goto out;
	}
	need_from = strcmp(name, "move") == 0 || strcmp(name, "copy") == 0;
	if ((need_from && !from) ||
	    (!value && (!strcmp(name, "add") || !strcmp(name, "replace") || !strcmp(name, "test")))) {
		rc = KUBE_EBADREQUEST;
		set_err(errmsg, "op %zu (%s %s): missing \"%s\"", idx, name, path,
			need_from ? "from" : "value");
		goto out;
	}
	rc = pointer_parse(path, &pp);
	if (rc == 0 && need_from)
		rc = pointer_parse(from, &pf);
	if (rc) {
		if (rc == KUBE_EBADREQUEST)
			set_err(errmsg, "op %zu (%s %s): invalid JSON pointer", idx, name, path);
		goto out;
	}

	if (strcmp(name, "add") == 0) {
		rc = ptr_add(work, &pp, cJSON_Duplicate(value, 1), &why);
	} else if (strcmp(name, "remove") == 0 || strcmp(name, "replace") == 0) {
		cJSON *old;

		if (pp.n == 0) {
			/* Only replace can address the whole document. */
			if (strcmp(name, "replace") == 0) {
				rc = ptr_add(work, &pp, cJSON_Duplicate(value, 1), &why);
			} else {
				why = "cannot remove the whole document";
				rc = KUBE_EINVALID;
			}
			goto out;
		}
		old = ptr_detach(*work, &pp);
		if (!old) {
			why = "path not found";
			rc = KUBE_EINVALID;
			goto out;
		}
		cJSON_Delete(old);
		/* Re-adding at the same pointer puts a replaced array item back at its index. */
		if (strcmp(name, "replace") == 0)
			rc = ptr_add(work, &pp, cJSON_Duplicate(value, 1), &why);
	} else if (strcmp(name, "move") == 0 || strcmp(name, "copy") == 0) {
		cJSON *v;

		if (name[0] == 'm' && pointer_is_prefix(&pf, &pp)) {
			why = "cannot move a value into one of its children";
			rc = KUBE_EINVALID;
			goto out;
		}
		if (pf.n == 0) {
			v = cJSON_Duplicate(*work, 1);
			if (!v) {
				rc = KUBE_ENOMEM;
				goto out;
			}
		} else if (name[0] == 'm') {
			v = ptr_detach(*work, &pf);
		} else {
			v = resolve(*work, &pf, pf.n);
			v = v ? cJSON_Duplicate(v, 1) : NULL;
		}
		if (!v) {
			why = "\"from\" path not found";
			rc = KUBE_EINVALID;
			goto out;
		}
		rc = ptr_add(work, &pp, v, &why);
	} else if (strcmp(name, "test") == 0) {
		const cJSON *cur = resolve(*work, &pp, pp.n);

		if (!cur) {
			why = "path not found";
			rc = KUBE_EINVALID;
		} else if (!cJSON_Compare(cur, value, 1)) {
			why = "test failed: value differs";
			rc = KUBE_EINVALID;
		}
	} else {
		rc = KUBE_EBADREQUEST;
		set_err(errmsg, "op %zu: unknown op \"%s\"", idx, name);
	}
out:
	if (rc && why)
		set_err(errmsg, "op %zu (%s %s): %s", idx, name, path, why);
	else if (rc == KUBE_ENOMEM)
		set_err(errmsg, "op %zu: out of memory", idx);
	pointer_release(&pp);
	pointer_release(&pf);
	return rc;
}

int sim_json_patch(cJSON **doc, const cJSON *ops, char **errmsg)
{
	cJSON *work = NULL;
	const cJSON *op;
	size_t idx = 0;
	int rc = 0;

	if (!doc || !ops) {
		rc = KUBE_EINVAL;
		goto out;
	}
	if (!cJSON_IsArray(ops)) {
		rc = KUBE_EBADREQUEST;
		set_err(errmsg, "a JSON patch must be an array of operations");
		goto out;
	}
	if (*doc) {
		work = cJSON_Duplicate(*doc, 1);
		if (!work) {
			rc = KUBE_ENOMEM;
			goto out;
		}
	}
	cJSON_ArrayForEach(op, ops) {
		rc = apply_op(&work, op, idx++, errmsg);
		if (rc)
			goto out;
	}
	swap_in(doc, work);
	work = NULL;
out:
	cJSON_Delete(work);
	return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Strategic merge patch
 *
 * The real apiserver reads patchStrategy/patchMergeKey from Go struct tags at each path. We key
 * the table by field name only (plus an optional kind), which is exact for the built-in kinds
 * kubesim serves because no field name there has two different strategies within one kind.
 * key "" marks a list of primitives merged as a set (finalizers); key NULL and absent fields are
 * atomic (replaced whole). */

struct merge_key {
	const char *field;
	const char *kind; /* NULL: any kind */
	const char *key;
};

static const struct merge_key merge_keys[] = {
	/* First match wins: these kinds have atomic lists named like keyed ones elsewhere. */
	{ "ports", "EndpointSlice", NULL },
	{ "ports", "NetworkPolicy", NULL },
	{ "ports", "Service", "port" },
	{ "ports", NULL, "containerPort" },
	{ "containers", NULL, "name" },
	{ "initContainers", NULL, "name" },
	{ "ephemeralContainers", NULL, "name" },
	{ "volumes", NULL, "name" },
	{ "env", NULL, "name" },
	{ "imagePullSecrets", NULL, "name" },
	{ "resourceClaims", NULL, "name" },
	{ "secrets", "ServiceAccount", "name" },
	{ "volumeMounts", NULL, "mountPath" },
	{ "volumeDevices", NULL, "devicePath" },
	{ "hostAliases", NULL, "ip" },
	{ "topologySpreadConstraints", NULL, "topologyKey" },
	{ "ownerReferences", NULL, "uid" },
	{ "conditions", NULL, "type" },
	{ "addresses", "Node", "type" },
	{ "finalizers", NULL, "" },
};

const char *sim_smp_merge_key(const char *field, const char *kind_hint)
{
	if (!field)
		return NULL;
	for (size_t i = 0; i < sizeof(merge_keys) / sizeof(merge_keys[0]); i++) {
		const struct merge_key *m = &merge_keys[i];

		if (strcmp(m->field, field) != 0)
			continue;
		if (m->kind && (!kind_hint || strcmp(m->kind, kind_hint) != 0))
			continue;
		return m->key;
	}
	return NULL;
}

#define DIR_PATCH "$patch"
#define DIR_RETAIN "$retainKeys"
#define DIR_ORDER "$setElementOrder/"
#define DIR_DELPRIM "$deleteFromPrimitiveList/"

struct smp {
	const char *kind;
	char **errmsg;
};

static int smp_merge_map(struct smp *s, cJSON *orig, const cJSON *patch, int *deleted);
static int smp_merge_list(struct smp *s, const char *field, cJSON *orig, const cJSON *patch);

static int has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int is_directive(const char *k)
{
	return !strcmp(k, DIR_PATCH) || !strcmp(k, DIR_RETAIN) || has_prefix(k, DIR_ORDER) ||
	       has_prefix(k, DIR_DELPRIM);
}

/* A copy of a patch value with directives and nulls applied against nothing: what gets stored
 * when the original has no counterpart. NULL on ENOMEM or a bad patch (errmsg set). */
static cJSON *smp_clean(struct smp *s, const char *field, const cJSON *v, int *rc)
{
	cJSON *n = NULL;
	int deleted = 0;

	if (cJSON_IsObject(v)) {
		n = cJSON_CreateObject();
		*rc = n ? smp_merge_map(s, n, v, &deleted) : KUBE_ENOMEM;
	} else if (cJSON_IsArray(v)) {
		n = cJSON_CreateArray();
		*rc = n ? smp_merge_list(s, field, n, v) : KUBE_ENOMEM;
	} else {
		n = cJSON_Duplicate(v, 1);
		*rc = n ? 0 : KUBE_ENOMEM;
	}
	if (*rc) {
		cJSON_Delete(n);
		n = NULL;
	}
	return n;
}

static const char *patch_directive(const cJSON *item)
{
	return cJSON_IsObject(item) ?
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, DIR_PATCH)) : NULL;
}

/* $retainKeys: drop original keys not listed; the patch may only set listed keys. */
static int smp_retain_keys(struct smp *s, cJSON *orig, const cJSON *patch, const cJSON *keys)
{
	const cJSON *k;
	cJSON *o, *next;

	if (!cJSON_IsArray(keys))
		goto bad;
	cJSON_ArrayForEach(k, keys) {
		if (!cJSON_IsString(k))
			goto bad;
	}
	cJSON_ArrayForEach(k, patch) {
		const cJSON *r;
		int found = 0;

		if (is_directive(k->string))
			continue;
		cJSON_ArrayForEach(r, keys) {
			if (strcmp(r->valuestring, k->string) == 0)
				found = 1;
		}
		if (!found) {
			set_err(s->errmsg, "%s: key \"%s\" is not listed in $retainKeys", DIR_RETAIN,
				k->string);
			return KUBE_EBADREQUEST;
		}
	}
	for (o = orig->child; o; o = next) {
		const cJSON *r;
		int found = 0;

		next = o->next;
		cJSON_ArrayForEach(r, keys) {
			if (strcmp(r->valuestring, o->string) == 0)
				found = 1;
		}
		if (!found)
			cJSON_Delete(cJSON_DetachItemViaPointer(orig, o));
	}
	return 0;
bad:
	set_err(s->errmsg, "%s must be a list of strings", DIR_RETAIN);
	return KUBE_EBADREQUEST;
}

/* $deleteFromPrimitiveList/<field>: remove those values from orig[field]. */
static int smp_delete_primitives(struct smp *s, cJSON *orig, const char *field, const cJSON *vals)
{
	cJSON *list = cJSON_GetObjectItemCaseSensitive(orig, field);
	cJSON *o, *next;

	if (!cJSON_IsArray(vals)) {
		set_err(s->errmsg, "%s%s must be a list", DIR_DELPRIM, field);
		return KUBE_EBADREQUEST;
	}
	if (!cJSON_IsArray(list))
		return 0;
	for (o = list->child; o; o = next) {
		const cJSON *v;

		next = o->next;
		cJSON_ArrayForEach(v, vals) {
			if (cJSON_Compare(o, v, 1)) {
				cJSON_Delete(cJSON_DetachItemViaPointer(list, o));
				break;
			}
		}
	}
	return 0;
}

/* Does list item `o` match order entry `want` (by merge key, or whole value for primitives)? */
static int order_match(const cJSON *o, const cJSON *want, const char *key)
{
	if (key && key[0] && cJSON_IsObject(want)) {
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(want, key);

		return a && b && cJSON_Compare(a, b, 1);
	}
	return cJSON_Compare(o, want, 1);
}

/* Position of `item` in the server's list (matched like order entries), or -1. */
static int server_index(const cJSON *server, const cJSON *item, const char *key)
{
	const cJSON *o;
	int i = 0;

	cJSON_ArrayForEach(o, server) {
		if (order_match(o, item, key))
			return i;
		i++;
	}
	return -1;
}

/* $setElementOrder/<field>, as the apiserver's normalizeElementOrder does it: items named in the
 * order list come in that order; items only the server has keep their place relative to them by
 * their position in the server's list before the patch (`server`). Only reorders. */
static int smp_set_order(struct smp *s, cJSON *orig, const char *field, const cJSON *order,
			 const cJSON *server)
{
	cJSON *list = cJSON_GetObjectItemCaseSensitive(orig, field);
	const char *key = sim_smp_merge_key(field, s->kind);
	cJSON *listed = NULL, *others = NULL;
	const cJSON *want;
	int rc = 0;

	if (!cJSON_IsArray(order)) {
		set_err(s->errmsg, "%s%s must be a list", DIR_ORDER, field);
		rc = KUBE_EBADREQUEST;
		goto out;
	}
	if (!cJSON_IsArray(list))
		goto out;
	listed = cJSON_CreateArray();
	others = cJSON_CreateArray();
	if (!listed || !others) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	cJSON_ArrayForEach(want, order) {
		cJSON *o;

		for (o = list->child; o; o = o->next) {
			if (order_match(o, want, key))
				break;
		}
		if (o)
			cJSON_AddItemToArray(listed, cJSON_DetachItemViaPointer(list, o));
	}
	while (list->child)
		cJSON_AddItemToArray(others, cJSON_DetachItemViaPointer(list, list->child));
	/* mergeSortedSlice: a server-only item goes first only when both it and the next listed
	 * item were on the server and it came earlier there. */
	while (listed->child || others->child) {
		cJSON *from = listed;

		if (!listed->child) {
			from = others;
		} else if (others->child) {
			int oi = server_index(server, others->child, key);
			int li = server_index(server, listed->child, key);

			if (oi >= 0 && li >= 0 && oi < li)
				from = others;
		}
		cJSON_AddItemToArray(list, cJSON_DetachItemViaPointer(from, from->child));
	}
out:
	cJSON_Delete(listed);
	cJSON_Delete(others);
	return rc;
}

/* Merges one patch member p (not null, not a directive) into orig[p->string]. */
static int smp_merge_member(struct smp *s, cJSON *orig, const cJSON *p)
{
	cJSON *o = cJSON_GetObjectItemCaseSensitive(orig, p->string);
	int rc = 0, deleted = 0;

	if (cJSON_IsObject(p) && cJSON_IsObject(o)) {
		rc = smp_merge_map(s, o, p, &deleted);
		if (rc == 0 && deleted)
			cJSON_DeleteItemFromObjectCaseSensitive(orig, p->string);
	} else if (cJSON_IsArray(p) && cJSON_IsArray(o)) {
		rc = smp_merge_list(s, p->string, o, p);
	} else if (cJSON_IsObject(p) && patch_directive(p) &&
		   strcmp(patch_directive(p), "delete") == 0) {
		/* Deleting a map that is not there: nothing to store. */
		cJSON_DeleteItemFromObjectCaseSensitive(orig, p->string);
	} else {
		cJSON *n = smp_clean(s, p->string, p, &rc);

		if (n)
			rc = obj_set(orig, p->string, n);
	}
	return rc;
}

/* Merges patch (an object) into orig (an object, modified). *deleted is set when the patch says
 * `$patch: delete`; the caller then removes orig from its parent. */
static int smp_merge_map(struct smp *s, cJSON *orig, const cJSON *patch, int *deleted)
{
	const char *dir = NULL;
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(patch, DIR_PATCH);
	cJSON *server = NULL;
	const cJSON *p;
	int rc = 0;

	*deleted = 0;
	if (d) {
		dir = cJSON_GetStringValue(d);
		if (!dir || (strcmp(dir, "replace") && strcmp(dir, "delete") && strcmp(dir, "merge"))) {
			set_err(s->errmsg, "unknown $patch directive (want replace, delete or merge)");
			rc = KUBE_EBADREQUEST;
			goto out;
		}
		if (strcmp(dir, "delete") == 0) {
			*deleted = 1;
			goto out;
		}
		if (strcmp(dir, "replace") == 0)
			clear_children(orig);
	}
	/* $setElementOrder needs the lists as they were before this patch. */
	cJSON_ArrayForEach(p, patch) {
		const cJSON *list;
		cJSON *copy;

		if (!has_prefix(p->string, DIR_ORDER))
			continue;
		list = cJSON_GetObjectItemCaseSensitive(orig, p->string + strlen(DIR_ORDER));
		if (!cJSON_IsArray(list))
			continue;
		if (!server)
			server = cJSON_CreateObject();
		copy = server ? cJSON_Duplicate(list, 1) : NULL;
		if (!copy || !cJSON_AddItemToObject(server, p->string + strlen(DIR_ORDER), copy)) {
			cJSON_Delete(copy);
			rc = KUBE_ENOMEM;
			goto out;
		}
	}
	d = cJSON_GetObjectItemCaseSensitive(patch, DIR_RETAIN);
	if (d) {
		rc = smp_retain_keys(s, orig, patch, d);
		if (rc)
			goto out;
	}
	/* Deletions from primitive lists come before the list's own patch, as in the apiserver. */
	cJSON_ArrayForEach(p, patch) {
		if (has_prefix(p->string, DIR_DELPRIM)) {
			rc = smp_delete_primitives(s, orig, p->string + strlen(DIR_DELPRIM), p);
			if (rc)
				goto out;
		}
	}
	cJSON_ArrayForEach(p, patch) {
		if (is_directive(p->string))
			continue;
		if (cJSON_IsNull(p)) {
			cJSON_DeleteItemFromObjectCaseSensitive(orig, p->string);
			continue;
		}
		rc = smp_merge_member(s, orig, p);
		if (rc)
			goto out;
	}
	cJSON_ArrayForEach(p, patch) {
		if (has_prefix(p->string, DIR_ORDER)) {
			const char *field = p->string + strlen(DIR_ORDER);

			rc = smp_set_order(s, orig, field, p,
					   cJSON_GetObjectItemCaseSensitive(server, field));
			if (rc)
				goto out;
		}
	}
out:
	cJSON_Delete(server);
	return rc;
}

/* Appends cleaned copies of the patch list's items (skipping directive-only items). */
static int smp_replace_list(struct smp *s, cJSON *orig, const cJSON *patch)
{
	const cJSON *p;
	int rc = 0;

	clear_children(orig);
	cJSON_ArrayForEach(p, patch) {
		const char *dir = patch_directive(p);
		cJSON *n;

		if (dir && (strcmp(dir, "replace") == 0 || strcmp(dir, "delete") == 0))
			continue;
		n = smp_clean(s, NULL, p, &rc);
		if (!n)
			goto out;
		cJSON_AddItemToArray(orig, n);
	}
out:
	return rc;
}

static cJSON *find_by_key(cJSON *list, const char *key, const cJSON *kv)
{
	cJSON *o;

	cJSON_ArrayForEach(o, list) {
		const cJSON *ov = cJSON_GetObjectItemCaseSensitive(o, key);

		if (ov && cJSON_Compare(ov, kv, 1))
			return o;
	}
	return NULL;
}

/* Merges a list of maps item by item on `key`. */
static int smp_merge_keyed(struct smp *s, const char *field, const char *key, cJSON *orig,
			   const cJSON *patch)
{
	const cJSON *p;
	int rc = 0;

	cJSON_ArrayForEach(p, patch) {
		const char *dir = patch_directive(p);
		const cJSON *kv = cJSON_GetObjectItemCaseSensitive(p, key);
		cJSON *o;
		int deleted = 0;

		if (!cJSON_IsObject(p) || !kv) {
			set_err(s->errmsg, "%s: list item does not contain the merge key \"%s\"", field,
				key);
			rc = KUBE_EBADREQUEST;
			goto out;
		}
		o = find_by_key(orig, key, kv);
		if (dir && strcmp(dir, "delete") == 0) {
			while (o) {
				cJSON_Delete(cJSON_DetachItemViaPointer(orig, o));
				o = find_by_key(orig, key, kv);
			}
			continue;
		}
		if (o) {
			rc = smp_merge_map(s, o, p, &deleted);
		} else {
			o = cJSON_CreateObject();
			if (!o) {
				rc = KUBE_ENOMEM;
				goto out;
			}
			cJSON_AddItemToArray(orig, o);
			rc = smp_merge_map(s, o, p, &deleted);
		}
		if (rc)
			goto out;
	}
out:
	return rc;
}

/* A set of primitives (finalizers): add what is missing, keep the original order. */
static int smp_merge_primitive_set(cJSON *orig, const cJSON *patch)
{
	const cJSON *p;
	int rc = 0;

	cJSON_ArrayForEach(p, patch) {
		const cJSON *o;
		int found = 0;

		cJSON_ArrayForEach(o, orig) {
			if (cJSON_Compare(o, p, 1))
				found = 1;
		}
		if (found)
			continue;
		if (!cJSON_AddItemToArray(orig, cJSON_Duplicate(p, 1))) {
			rc = KUBE_ENOMEM;
			goto out;
		}
	}
out:
	return rc;
}

/* Merges patch (an array) into orig (an array, modified) by the strategy of `field`. A
 * `{"$patch":"replace"}` item makes any list atomic for this patch. */
static int smp_merge_list(struct smp *s, const char *field, cJSON *orig, const cJSON *patch)
{
	const char *key = sim_smp_merge_key(field, s->kind);
	const cJSON *p;
	int replace = key == NULL;

	cJSON_ArrayForEach(p, patch) {
		const char *dir = patch_directive(p);

		if (dir && strcmp(dir, "replace") == 0)
			replace = 1;
	}
	if (replace)
		return smp_replace_list(s, orig, patch);
	if (key[0] == '\0')
		return smp_merge_primitive_set(orig, patch);
	return smp_merge_keyed(s, field, key, orig, patch);
}

int sim_strategic_merge_patch(cJSON **doc, const cJSON *patch, const char *kind_hint,
			      char **errmsg)
{
	struct smp s = { kind_hint, errmsg };
	cJSON *work = NULL;
	int rc = 0, deleted = 0;

	if (!doc || !patch) {
		rc = KUBE_EINVAL;
		goto out;
	}
	if (!cJSON_IsObject(patch)) {
		set_err(errmsg, "a strategic merge patch must be a JSON object");
		rc = KUBE_EBADREQUEST;
		goto out;
	}
	work = cJSON_IsObject(*doc) ? cJSON_Duplicate(*doc, 1) : cJSON_CreateObject();
	if (!work) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	rc = smp_merge_map(&s, work, patch, &deleted);
	if (rc)
		goto out;
	if (deleted)
		clear_children(work);
	swap_in(doc, work);
	work = NULL;
out:
	if (rc == KUBE_ENOMEM)
		set_err(errmsg, "out of memory");
	cJSON_Delete(work);
	return rc;
}
