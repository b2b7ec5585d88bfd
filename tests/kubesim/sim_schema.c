/* kubesim structural-schema handling for custom resources: pruning, defaulting and validation
 * against openAPIV3Schema, producing causes shaped and worded like the apiserver's (field.Error
 * bodies as kube-openapi words them), so tests can assert on real-looking 422 responses. */
#include "sim_schema.h"

#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_error.h"

static int schema_flag(const cJSON *schema, const char *name)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(schema, name));
}

/* ---------------------------------------------------------------------------------------------
 * Pruning */

static int is_meta_key(const char *k)
{
	return !strcmp(k, "apiVersion") || !strcmp(k, "kind") || !strcmp(k, "metadata");
}

/* Where prune() records what it removes: paths like "spec.foo" or "spec.ports[0].bar", as the
 * apiserver names them in "unknown field" errors. NULL list: nothing recorded. */
struct pctx {
	cJSON *pruned;
	int nomem;
};

static char *child_path(const char *path, const char *key);
static char *index_path(const char *path, int i);

static void record_pruned(struct pctx *pc, const char *path, const char *key)
{
	char *p;

	if (!pc->pruned)
		return;
	p = child_path(path, key);
	if (!p || !cJSON_AddItemToArray(pc->pruned, cJSON_CreateString(p)))
		pc->nomem = 1;
	free(p);
}

static void prune(struct pctx *pc, cJSON *obj, const cJSON *schema, const char *path,
		  int resource_root);

/* Prunes child, a member of the object at `path`, through its schema ps. */
static void prune_child(struct pctx *pc, cJSON *child, const cJSON *ps, const char *path,
			int embedded)
{
	char *p = NULL;

	if (pc->pruned) {
		p = child_path(path, child->string);
		if (!p) {
			pc->nomem = 1;
			return;
		}
	}
	prune(pc, child, ps, p ? p : "", embedded);
	free(p);
}

static void prune(struct pctx *pc, cJSON *obj, const cJSON *schema, const char *path,
		  int resource_root)
{
	const cJSON *props, *addl, *items;
	int preserve, i = 0;
	cJSON *c, *next;

	if (!cJSON_IsObject(schema))
		return;
	preserve = schema_flag(schema, "x-kubernetes-preserve-unknown-fields");
	if (cJSON_IsArray(obj)) {
		items = cJSON_GetObjectItemCaseSensitive(schema, "items");
		if (!cJSON_IsObject(items))
			return;
		cJSON_ArrayForEach(c, obj) {
			char *p = pc->pruned ? index_path(path, i) : NULL;

			i++;
			if (pc->pruned && !p) {
				pc->nomem = 1;
				return;
			}
			prune(pc, c, items, p ? p : "",
			      schema_flag(items, "x-kubernetes-embedded-resource"));
			free(p);
		}
		return;
	}
	if (!cJSON_IsObject(obj))
		return;
	props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
	addl = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
	for (c = obj->child; c; c = next) {
		const cJSON *ps = cJSON_GetObjectItemCaseSensitive(props, c->string);

		next = c->next;
		/* apiVersion/kind/metadata of a resource are the apiserver's business, not the
		 * schema's: ObjectMeta has its own (non-pruning) validation. */
		if (resource_root && is_meta_key(c->string)) {
			if (ps && strcmp(c->string, "metadata") != 0)
				prune_child(pc, c, ps, path, 0);
			continue;
		}
		if (ps) {
			prune_child(pc, c, ps, path,
				    schema_flag(ps, "x-kubernetes-embedded-resource"));
		} else if (cJSON_IsObject(addl)) {
			prune_child(pc, c, addl, path,
				    schema_flag(addl, "x-kubernetes-embedded-resource"));
		} else if (cJSON_IsTrue(addl) || preserve) {
			continue;
		} else {
			record_pruned(pc, path, c->string);
			cJSON_Delete(cJSON_DetachItemViaPointer(obj, c));
		}
	}
}

/* The fields of ObjectMeta (k8s.io/apimachinery meta/v1). A custom resource's metadata is
 * decoded into it, so anything else is dropped, and named by strict field validation. */
static int object_meta_field(const char *k)
{
	static const char *const fields[] = {
		"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion",
		"generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
		"labels", "annotations", "ownerReferences", "finalizers", "managedFields",
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (!strcmp(k, fields[i]))
			return 1;
	return 0;
}

/* Drops (and records) the fields of the root metadata that ObjectMeta does not have. */
static void prune_root_metadata(struct pctx *pc, cJSON *obj)
{
	cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata"), *c, *next;

	if (!cJSON_IsObject(md))
		return;
	for (c = md->child; c; c = next) {
		next = c->next;
		if (object_meta_field(c->string))
			continue;
		record_pruned(pc, "metadata", c->string);
		cJSON_Delete(cJSON_DetachItemViaPointer(md, c));
	}
}

int sim_schema_prune(cJSON *obj, const cJSON *schema)
{
	return sim_schema_prune_report(obj, schema, NULL);
}

int sim_schema_prune_report(cJSON *obj, const cJSON *schema, cJSON **pruned)
{
	struct pctx pc = { NULL, 0 };
	int rc = 0;

	if (pruned)
		*pruned = NULL;
	if (!obj)
		return KUBE_EINVAL;
	if (pruned) {
		pc.pruned = cJSON_CreateArray();
		if (!pc.pruned)
			return KUBE_ENOMEM;
	}
	prune(&pc, obj, schema, "", 1);
	if (schema)
		prune_root_metadata(&pc, obj);
	if (pc.nomem) {
		rc = KUBE_ENOMEM;
		cJSON_Delete(pc.pruned);
	} else if (pruned && cJSON_GetArraySize(pc.pruned) > 0) {
		*pruned = pc.pruned;
	} else {
		cJSON_Delete(pc.pruned);
	}
	return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Defaulting */

static int apply_defaults(cJSON *obj, const cJSON *schema)
{
	const cJSON *props, *addl, *items, *ps;
	cJSON *c;
	int rc = 0;

	if (!cJSON_IsObject(schema))
		goto out;
	if (cJSON_IsArray(obj)) {
		items = cJSON_GetObjectItemCaseSensitive(schema, "items");
		cJSON_ArrayForEach(c, obj) {
			rc = apply_defaults(c, items);
			if (rc)
				goto out;
		}
		goto out;
	}
	if (!cJSON_IsObject(obj))
		goto out;
	props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
	cJSON_ArrayForEach(ps, props) {
		const cJSON *dflt = cJSON_GetObjectItemCaseSensitive(ps, "default");

		c = cJSON_GetObjectItemCaseSensitive(obj, ps->string);
		/* Like the apiserver (1.20+), a null in a non-nullable field is dropped, and then
		 * defaulted as if it had never been sent. */
		if (cJSON_IsNull(c) && !schema_flag(ps, "nullable")) {
			cJSON_DeleteItemFromObjectCaseSensitive(obj, ps->string);
			c = NULL;
		}
		if (!c && dflt) {
			c = cJSON_Duplicate(dflt, 1);
			if (!c || !cJSON_AddItemToObject(obj, ps->string, c)) {
				cJSON_Delete(c);
				rc = KUBE_ENOMEM;
				goto out;
			}
		}
		if (c) {
			rc = apply_defaults(c, ps);
			if (rc)
				goto out;
		}
	}
	addl = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
	if (cJSON_IsObject(addl)) {
		cJSON_ArrayForEach(c, obj) {
			if (cJSON_GetObjectItemCaseSensitive(props, c->string))
				continue;
			rc = apply_defaults(c, addl);
			if (rc)
				goto out;
		}
	}
out:
	return rc;
}

int sim_schema_default(cJSON *obj, const cJSON *schema)
{
	if (!obj)
		return KUBE_EINVAL;
	return apply_defaults(obj, schema);
}

/* ---------------------------------------------------------------------------------------------
 * Validation */

struct vctx {
	cJSON *causes;
	int nomem;
};

/* A value as field.Error prints it: strings quoted, numbers bare (integers without ".0"),
 * composites as compact JSON (Go prints them with %#v; JSON reads better and is close). */
static char *render_value(const cJSON *v)
{
	char *s = NULL;

	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;

		if (d == floor(d) && fabs(d) < 1e15) {
			if (asprintf(&s, "%.0f", d) < 0)
				s = NULL;
		} else if (asprintf(&s, "%.17g", d) < 0) {
			s = NULL;
		}
		return s;
	}
	return cJSON_PrintUnformatted(v);
}

static const char *json_type_name(const cJSON *v)
{
	if (cJSON_IsObject(v))
		return "object";
	if (cJSON_IsArray(v))
		return "array";
	if (cJSON_IsString(v))
		return "string";
	if (cJSON_IsBool(v))
		return "boolean";
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsNumber(v))
		return v->valuedouble == floor(v->valuedouble) ? "integer" : "number";
	return "unknown";
}

static void add_cause(struct vctx *vc, const char *reason, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void add_cause(struct vctx *vc, const char *reason, const char *field, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	cJSON *c = NULL;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	c = cJSON_CreateObject();
	if (!msg || !c || !cJSON_AddStringToObject(c, "reason", reason) ||
	    !cJSON_AddStringToObject(c, "message", msg) ||
	    !cJSON_AddStringToObject(c, "field", field) || !cJSON_AddItemToArray(vc->causes, c)) {
		cJSON_Delete(c);
		vc->nomem = 1;
	}
	free(msg);
}

/* "Invalid value: <v>: <detail>" for the value at `field`. */
static void add_invalid(struct vctx *vc, const char *field, const cJSON *v, const char *detail)
{
	char *val = render_value(v);

	if (!val) {
		vc->nomem = 1;
		return;
	}
	add_cause(vc, "FieldValueInvalid", field, "Invalid value: %s: %s", val, detail);
	free(val);
}

/* Does a JSON value have the schema type? integer requires an integral number. */
static int type_ok(const cJSON *v, const char *type)
{
	if (!strcmp(type, "object"))
		return cJSON_IsObject(v);
	if (!strcmp(type, "array"))
		return cJSON_IsArray(v);
	if (!strcmp(type, "string"))
		return cJSON_IsString(v);
	if (!strcmp(type, "boolean"))
		return cJSON_IsBool(v);
	if (!strcmp(type, "number"))
		return cJSON_IsNumber(v);
	if (!strcmp(type, "integer"))
		return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
		       !isinf(v->valuedouble);
	return 1; /* unknown type names are the CRD author's problem, not the object's */
}

/* Number of UTF-8 code points: maxLength counts characters, not bytes. */
static size_t utf8_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	}
	return n;
}

/* Translates the common Perl/RE2 escapes (\d \w \s, their negations, escaped punctuation) into
 * POSIX ERE. The apiserver evaluates `pattern` with Go's RE2, not POSIX: lazy quantifiers,
 * look-arounds and \b have no ERE equivalent and make regcomp fail, in which case the pattern is
 * skipped (accepted) rather than rejecting valid objects. Inside brackets POSIX treats "\" as a
 * literal, so escapes there are rewritten as plain characters or classes. */
static char *ere_from_re2(const char *p)
{
	size_t cap = strlen(p) * 12 + 1, o = 0;
	char *out = malloc(cap);
	int in_bracket = 0;

	if (!out)
		return NULL;
	for (const char *c = p; *c; c++) {
		const char *rep = NULL;
		char lit[2] = { 0, 0 };

		if (*c == '\\' && c[1]) {
			c++;
			switch (*c) {
			case 'd': rep = in_bracket ? "0-9" : "[0-9]"; break;
			case 'D': rep = in_bracket ? NULL : "[^0-9]"; break;
			case 'w': rep = in_bracket ? "A-Za-z0-9_" : "[A-Za-z0-9_]"; break;
			case 'W': rep = in_bracket ? NULL : "[^A-Za-z0-9_]"; break;
			case 's': rep = in_bracket ? "[:space:]" : "[[:space:]]"; break;
			case 'S': rep = in_bracket ? NULL : "[^[:space:]]"; break;
			case 't': rep = "\t"; break;
			case 'n': rep = "\n"; break;
			default:
				if (in_bracket) {
					lit[0] = *c;
					rep = lit;
				} else {
					out[o++] = '\\';
					lit[0] = *c;
					rep = lit;
				}
			}
			if (!rep) {
				free(out);
				return NULL;
			}
			memcpy(out + o, rep, strlen(rep));
			o += strlen(rep);
			continue;
		}
		if (*c == '[' && !in_bracket) {
			in_bracket = 1;
			out[o++] = *c;
			/* "]" or "^]" right after "[" is literal and does not close the bracket. */
			if (c[1] == '^')
				out[o++] = *++c;
			if (c[1] == ']')
				out[o++] = *++c;
			continue;
		}
		if (*c == ']' && in_bracket)
			in_bracket = 0;
		out[o++] = *c;
	}
	out[o] = '\0';
	return out;
}

/* 1 match, 0 no match, -1 pattern unusable (skipped). */
static int pattern_match(const char *pattern, const char *s)
{
	char *ere = ere_from_re2(pattern);
	regex_t re;
	int rc = -1;

	if (!ere)
		goto out;
	if (regcomp(&re, ere, REG_EXTENDED | REG_NOSUB) != 0)
		goto out;
	rc = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
out:
	free(ere);
	return rc;
}

static char *child_path(const char *path, const char *key)
{
	char *s = NULL;

	if (asprintf(&s, "%s%s%s", path, path[0] ? "." : "", key) < 0)
		s = NULL;
	return s;
}

static char *index_path(const char *path, int i)
{
	char *s = NULL;

	if (asprintf(&s, "%s[%d]", path, i) < 0)
		s = NULL;
	return s;
}

static void validate_node(struct vctx *vc, const cJSON *v, const cJSON *schema, const char *path,
			  int resource_root);

static void validate_number(struct vctx *vc, const cJSON *v, const cJSON *schema,
			    const char *path)
{
	const cJSON *min = cJSON_GetObjectItemCaseSensitive(schema, "minimum");
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(schema, "maximum");
	char detail[256];
	char *lim;

	if (cJSON_IsNumber(min)) {
		int excl = schema_flag(schema, "exclusiveMinimum");

		if (excl ? v->valuedouble <= min->valuedouble : v->valuedouble < min->valuedouble) {
			lim = render_value(min);
			snprintf(detail, sizeof(detail), "%s in body should be greater than %s%s",
				 path, excl ? "" : "or equal to ", lim ? lim : "?");
			free(lim);
			add_invalid(vc, path, v, detail);
		}
	}
	if (cJSON_IsNumber(max)) {
		int excl = schema_flag(schema, "exclusiveMaximum");

		if (excl ? v->valuedouble >= max->valuedouble : v->valuedouble > max->valuedouble) {
			lim = render_value(max);
			snprintf(detail, sizeof(detail), "%s in body should be less than %s%s", path,
				 excl ? "" : "or equal to ", lim ? lim : "?");
			free(lim);
			add_invalid(vc, path, v, detail);
		}
	}
}

static void validate_string(struct vctx *vc, const cJSON *v, const cJSON *schema,
			    const char *path)
{
	const cJSON *minl = cJSON_GetObjectItemCaseSensitive(schema, "minLength");
	const cJSON *maxl = cJSON_GetObjectItemCaseSensitive(schema, "maxLength");
	const char *pat = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(schema, "pattern"));
	size_t len = utf8_len(v->valuestring);
	char detail[512];

	if (cJSON_IsNumber(minl) && (double)len < minl->valuedouble) {
		snprintf(detail, sizeof(detail), "%s in body should be at least %.0f chars long", path,
			 minl->valuedouble);
		add_invalid(vc, path, v, detail);
	}
	if (cJSON_IsNumber(maxl) && (double)len > maxl->valuedouble) {
		snprintf(detail, sizeof(detail), "%s in body should be at most %.0f chars long", path,
			 maxl->valuedouble);
		add_invalid(vc, path, v, detail);
	}
	if (pat && pattern_match(pat, v->valuestring) == 0) {
		snprintf(detail, sizeof(detail), "%s in body should match '%s'", path, pat);
		add_invalid(vc, path, v, detail);
	}
}

static void validate_array(struct vctx *vc, const cJSON *v, const cJSON *schema, const char *path)
{
	const cJSON *mini = cJSON_GetObjectItemCaseSensitive(schema, "minItems");
	const cJSON *maxi = cJSON_GetObjectItemCaseSensitive(schema, "maxItems");
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
	int n = cJSON_GetArraySize(v), i = 0;
	char detail[256];
	const cJSON *c;

	if (cJSON_IsNumber(mini) && n < mini->valuedouble) {
		snprintf(detail, sizeof(detail), "%s in body should have at least %.0f items", path,
			 mini->valuedouble);
		add_invalid(vc, path, v, detail);
	}
	if (cJSON_IsNumber(maxi) && n > maxi->valuedouble) {
		snprintf(detail, sizeof(detail), "%s in body should have at most %.0f items", path,
			 maxi->valuedouble);
		add_invalid(vc, path, v, detail);
	}
	if (!cJSON_IsObject(items))
		return;
	cJSON_ArrayForEach(c, v) {
		char *p = index_path(path, i++);

		if (!p) {
			vc->nomem = 1;
			return;
		}
		validate_node(vc, c, items, p, schema_flag(items, "x-kubernetes-embedded-resource"));
		free(p);
	}
}

/* The only part of a root metadata schema the apiserver honours (its structural-schema rules
 * forbid anything else there): constraints on the name and generateName strings. */
static void validate_root_metadata(struct vctx *vc, const cJSON *md, const cJSON *schema)
{
	static const char *const keys[] = { "name", "generateName" };
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, keys[i]);
		const cJSON *ps = cJSON_GetObjectItemCaseSensitive(props, keys[i]);
		char *p;

		if (!v || !ps)
			continue;
		p = child_path("metadata", keys[i]);
		if (!p) {
			vc->nomem = 1;
			return;
		}
		validate_node(vc, v, ps, p, 0);
		free(p);
	}
}

static void validate_object(struct vctx *vc, const cJSON *v, const cJSON *schema,
			    const char *path, int resource_root)
{
	const cJSON *req = cJSON_GetObjectItemCaseSensitive(schema, "required");
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
	const cJSON *addl = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
	const cJSON *minp = cJSON_GetObjectItemCaseSensitive(schema, "minProperties");
	const cJSON *maxp = cJSON_GetObjectItemCaseSensitive(schema, "maxProperties");
	int n = cJSON_GetArraySize(v);
	char detail[256];
	const cJSON *c;

	cJSON_ArrayForEach(c, req) {
		char *p;

		if (!cJSON_IsString(c) || cJSON_GetObjectItemCaseSensitive(v, c->valuestring))
			continue;
		p = child_path(path, c->valuestring);
		if (!p) {
			vc->nomem = 1;
			return;
		}
		add_cause(vc, "FieldValueRequired", p, "Required value");
		free(p);
	}
	if (cJSON_IsNumber(minp) && n < minp->valuedouble) {
		snprintf(detail, sizeof(detail), "%s in body should have at least %.0f properties",
			 path, minp->valuedouble);
		add_invalid(vc, path, v, detail);
	}
	if (cJSON_IsNumber(maxp) && n > maxp->valuedouble) {
		snprintf(detail, sizeof(detail), "%s in body should have at most %.0f properties",
			 path, maxp->valuedouble);
		add_invalid(vc, path, v, detail);
	}
	cJSON_ArrayForEach(c, v) {
		const cJSON *ps = cJSON_GetObjectItemCaseSensitive(props, c->string);
		char *p;

		/* ObjectMeta is validated by the apiserver itself; the CRD schema may only add
		 * constraints on metadata.name and metadata.generateName. */
		if (resource_root && strcmp(c->string, "metadata") == 0) {
			validate_root_metadata(vc, c, ps);
			continue;
		}
		if (!ps && cJSON_IsObject(addl))
			ps = addl;
		if (!ps)
			continue;
		p = child_path(path, c->string);
		if (!p) {
			vc->nomem = 1;
			return;
		}
		validate_node(vc, c, ps, p, schema_flag(ps, "x-kubernetes-embedded-resource"));
		free(p);
	}
}

static void validate_enum(struct vctx *vc, const cJSON *v, const cJSON *en, const char *path)
{
	const cJSON *e;
	char *val, *list = NULL;
	size_t len = 0;

	cJSON_ArrayForEach(e, en) {
		if (cJSON_Compare(e, v, 1))
			return;
	}
	/* "supported values: "Surge", "Promote"" lists the enum in schema order. */
	cJSON_ArrayForEach(e, en) {
		char *s = render_value(e);
		char *nl;

		if (!s)
			goto nomem;
		nl = realloc(list, len + strlen(s) + 3);
		if (!nl) {
			free(s);
			goto nomem;
		}
		list = nl;
		len += (size_t)sprintf(list + len, "%s%s", len ? ", " : "", s);
		free(s);
	}
	val = render_value(v);
	if (!val)
		goto nomem;
	add_cause(vc, "FieldValueNotSupported", path, "Unsupported value: %s: supported values: %s",
		  val, list ? list : "");
	free(val);
	free(list);
	return;
nomem:
	free(list);
	vc->nomem = 1;
}

static void validate_node(struct vctx *vc, const cJSON *v, const cJSON *schema, const char *path,
			  int resource_root)
{
	const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(schema, "type"));
	const cJSON *en = cJSON_GetObjectItemCaseSensitive(schema, "enum");
	const char *want = type;
	char detail[512];
	int ok = 1;

	if (!cJSON_IsObject(schema))
		return;
	if (cJSON_IsNull(v)) {
		if (schema_flag(schema, "nullable") || !type)
			return;
		ok = 0;
	} else if (schema_flag(schema, "x-kubernetes-int-or-string")) {
		ok = type_ok(v, "integer") || cJSON_IsString(v);
		want = "integer,string";
	} else if (type) {
		ok = type_ok(v, type);
	}
	if (!ok) {
		/* kube-openapi: `spec.r: Invalid value: "string": spec.r in body must be of type
		 * integer: "string"` -- the value shown is the type actually sent. */
		const char *got = json_type_name(v);

		snprintf(detail, sizeof(detail), "%s in body must be of type %s: \"%s\"", path, want,
			 got);
		add_cause(vc, "FieldValueTypeInvalid", path, "Invalid value: \"%s\": %s", got, detail);
		return;
	}
	if (cJSON_IsArray(en))
		validate_enum(vc, v, en, path);
	if (cJSON_IsNumber(v))
		validate_number(vc, v, schema, path);
	else if (cJSON_IsString(v))
		validate_string(vc, v, schema, path);
	else if (cJSON_IsArray(v))
		validate_array(vc, v, schema, path);
	else if (cJSON_IsObject(v))
		validate_object(vc, v, schema, path, resource_root);
}

int sim_schema_validate(const cJSON *obj, const cJSON *schema, cJSON **causes)
{
	struct vctx vc = { NULL, 0 };
	int rc = 0;

	if (causes)
		*causes = NULL;
	if (!obj || !schema)
		goto out;
	vc.causes = cJSON_CreateArray();
	if (!vc.causes) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	validate_node(&vc, obj, schema, "", 1);
	if (vc.nomem) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	if (cJSON_GetArraySize(vc.causes) > 0) {
		rc = KUBE_EINVALID;
		if (causes) {
			*causes = vc.causes;
			vc.causes = NULL;
		}
	}
out:
	cJSON_Delete(vc.causes);
	return rc;
}

char *sim_schema_causes_message(const cJSON *causes, const char *qualified_kind,
				const char *name)
{
	int n = cJSON_GetArraySize(causes), i = 0;
	char *out = NULL, *body = NULL;
	size_t len = 0;
	const cJSON *c;

	/* field.ErrorList.ToAggregate().Error(): one error bare, several in [a, b]. */
	cJSON_ArrayForEach(c, causes) {
		const char *field = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "field"));
		const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "message"));
		size_t need = (field ? strlen(field) : 0) + (msg ? strlen(msg) : 0) + 8;
		char *nb = realloc(body, len + need);

		if (!nb)
			goto out;
		body = nb;
		len += (size_t)sprintf(body + len, "%s%s%s%s%s", i ? ", " : (n > 1 ? "[" : ""),
				       field && field[0] ? field : "",
				       field && field[0] ? ": " : "", msg ? msg : "",
				       i == n - 1 && n > 1 ? "]" : "");
		i++;
	}
	if (asprintf(&out, "%s \"%s\" is invalid: %s", qualified_kind ? qualified_kind : "",
		     name ? name : "", body ? body : "") < 0)
		out = NULL;
out:
	free(body);
	return out;
}
