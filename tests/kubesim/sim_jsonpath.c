/* kubesim's kubectl-JSONPath subset: evaluates a path over a cJSON tree in one pass (parse a
 * segment, map the current node set to the next), and prints results like kubectl does. */
#include "sim_jsonpath.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_error.h"

/* A growable set of borrowed nodes. */
struct nodeset {
	const cJSON **v;
	size_t n, cap;
};

static int ns_push(struct nodeset *s, const cJSON *node)
{
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 8;
		const cJSON **nv = realloc(s->v, ncap * sizeof(*nv));

		if (!nv)
			return KUBE_ENOMEM;
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n++] = node;
	return 0;
}

static void ns_release(struct nodeset *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

/* Reads a field name up to an unescaped '.', '[' or the end (or `stop` chars); "\." keeps the
 * dot in the name, as in `.metadata.labels.app\.kubernetes\.io/name`. Returns a malloc'd name
 * and advances *pp, or NULL on ENOMEM / empty name. */
static char *read_name(const char **pp, const char *stop)
{
	const char *p = *pp;
	char *out = malloc(strlen(p) + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	while (*p && *p != '.' && *p != '[' && !strchr(stop, *p)) {
		if (*p == '\\' && p[1])
			p++;
		out[o++] = *p++;
	}
	out[o] = '\0';
	if (o == 0) {
		free(out);
		return NULL;
	}
	*pp = p;
	return out;
}

/* Reads a quoted string starting at the quote; advances past the closing quote. */
static char *read_quoted(const char **pp)
{
	const char *p = *pp;
	char q = *p++;
	char *out = malloc(strlen(p) + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	while (*p && *p != q) {
		if (*p == '\\' && p[1])
			p++;
		out[o++] = *p++;
	}
	if (*p != q) {
		free(out);
		return NULL;
	}
	out[o] = '\0';
	*pp = p + 1;
	return out;
}

static void skip_ws(const char **pp)
{
	while (isspace((unsigned char)**pp))
		(*pp)++;
}

/* ---- filters: [?(@.a.b op literal)] ------------------------------------------------------ */

enum cmp { CMP_EXISTS, CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };

struct filter {
	char **path;
	size_t npath;
	enum cmp op;
	cJSON *lit;
};

static void filter_release(struct filter *f)
{
	for (size_t i = 0; i < f->npath; i++)
		free(f->path[i]);
	free(f->path);
	cJSON_Delete(f->lit);
}

static int filter_add_name(struct filter *f, char *name)
{
	char **np = realloc(f->path, (f->npath + 1) * sizeof(*np));

	if (!np) {
		free(name);
		return KUBE_ENOMEM;
	}
	f->path = np;
	f->path[f->npath++] = name;
	return 0;
}

/* Parses the literal on the right of a comparison: 'str', "str", number, true, false, null. */
static cJSON *parse_literal(const char **pp)
{
	const char *p = *pp;
	cJSON *v = NULL;

	if (*p == '\'' || *p == '"') {
		char *s = read_quoted(&p);

		if (s)
			v = cJSON_CreateString(s);
		free(s);
	} else if (strncmp(p, "true", 4) == 0) {
		v = cJSON_CreateTrue();
		p += 4;
	} else if (strncmp(p, "false", 5) == 0) {
		v = cJSON_CreateFalse();
		p += 5;
	} else if (strncmp(p, "null", 4) == 0) {
		v = cJSON_CreateNull();
		p += 4;
	} else {
		char *end;
		double d = strtod(p, &end);

		if (end != p) {
			v = cJSON_CreateNumber(d);
			p = end;
		}
	}
	if (v)
		*pp = p;
	return v;
}

/* Parses "@.a.b == 'x'" between "?(" and ")". */
static int filter_parse(const char *s, struct filter *f)
{
	const char *p = s;
	int rc = KUBE_EINVAL;

	memset(f, 0, sizeof(*f));
	skip_ws(&p);
	if (*p++ != '@')
		goto out;
	while (*p == '.' || *p == '[') {
		char *name;

		if (*p == '.') {
			p++;
			name = read_name(&p, " =!<>)");
		} else {
			p++;
			skip_ws(&p);
			if (*p != '\'' && *p != '"')
				goto out;
			name = read_quoted(&p);
			skip_ws(&p);
			if (!name || *p++ != ']') {
				free(name);
				goto out;
			}
		}
		if (!name || filter_add_name(f, name))
			goto out;
	}
	skip_ws(&p);
	if (!*p) {
		f->op = CMP_EXISTS;
		rc = 0;
		goto out;
	}
	if (!strncmp(p, "==", 2)) {
		f->op = CMP_EQ;
		p += 2;
	} else if (!strncmp(p, "!=", 2)) {
		f->op = CMP_NE;
		p += 2;
	} else if (!strncmp(p, "<=", 2)) {
		f->op = CMP_LE;
		p += 2;
	} else if (!strncmp(p, ">=", 2)) {
		f->op = CMP_GE;
		p += 2;
	} else if (*p == '<') {
		f->op = CMP_LT;
		p++;
	} else if (*p == '>') {
		f->op = CMP_GT;
		p++;
	} else {
		goto out;
	}
	skip_ws(&p);
	f->lit = parse_literal(&p);
	skip_ws(&p);
	if (f->lit && !*p)
		rc = 0;
out:
	if (rc) {
		filter_release(f);
		memset(f, 0, sizeof(*f));
	}
	return rc;
}

static int filter_match(const struct filter *f, const cJSON *elem)
{
	const cJSON *v = elem;
	int c;

	for (size_t i = 0; v && i < f->npath; i++)
		v = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, f->path[i]) : NULL;
	if (!v)
		return 0;
	if (f->op == CMP_EXISTS)
		return 1;
	if (cJSON_IsNumber(v) && cJSON_IsNumber(f->lit)) {
		c = v->valuedouble < f->lit->valuedouble ? -1 : v->valuedouble > f->lit->valuedouble;
	} else if (cJSON_IsString(v) && cJSON_IsString(f->lit)) {
		c = strcmp(v->valuestring, f->lit->valuestring);
	} else if (f->op == CMP_EQ || f->op == CMP_NE) {
		c = cJSON_Compare(v, f->lit, 1) ? 0 : 1;
	} else {
		return 0; /* ordering across types: never matches */
	}
	switch (f->op) {
	case CMP_EQ: return c == 0;
	case CMP_NE: return c != 0;
	case CMP_LT: return c < 0;
	case CMP_LE: return c <= 0;
	case CMP_GT: return c > 0;
	case CMP_GE: return c >= 0;
	default: return 0;
	}
}

/* ---- segments ---------------------------------------------------------------------------- */

static int step_field(const struct nodeset *cur, struct nodeset *next, const char *name)
{
	for (size_t i = 0; i < cur->n; i++) {
		const cJSON *c = cJSON_IsObject(cur->v[i]) ?
			cJSON_GetObjectItemCaseSensitive(cur->v[i], name) : NULL;

		if (c && ns_push(next, c))
			return KUBE_ENOMEM;
	}
	return 0;
}

static int step_wild(const struct nodeset *cur, struct nodeset *next)
{
	for (size_t i = 0; i < cur->n; i++) {
		const cJSON *c;

		if (!cJSON_IsObject(cur->v[i]) && !cJSON_IsArray(cur->v[i]))
			continue;
		cJSON_ArrayForEach(c, cur->v[i]) {
			if (ns_push(next, c))
				return KUBE_ENOMEM;
		}
	}
	return 0;
}

/* [start:end] with either bound optional; a single index when !is_slice. Negative bounds count
 * from the end. Out-of-range indexes yield nothing (kubectl reports an error; the table shows
 * <none> either way). */
static int step_index(const struct nodeset *cur, struct nodeset *next, long start, long end,
		      int has_start, int has_end, int is_slice)
{
	for (size_t i = 0; i < cur->n; i++) {
		long size, a, b;

		if (!cJSON_IsArray(cur->v[i]))
			continue;
		size = cJSON_GetArraySize(cur->v[i]);
		a = has_start ? (start < 0 ? start + size : start) : 0;
		if (!is_slice) {
			if (a >= 0 && a < size && ns_push(next, cJSON_GetArrayItem(cur->v[i], (int)a)))
				return KUBE_ENOMEM;
			continue;
		}
		b = has_end ? (end < 0 ? end + size : end) : size;
		if (a < 0)
			a = 0;
		if (b > size)
			b = size;
		for (long k = a; k < b; k++) {
			if (ns_push(next, cJSON_GetArrayItem(cur->v[i], (int)k)))
				return KUBE_ENOMEM;
		}
	}
	return 0;
}

static int step_filter(const struct nodeset *cur, struct nodeset *next, const struct filter *f)
{
	for (size_t i = 0; i < cur->n; i++) {
		const cJSON *c;

		if (!cJSON_IsArray(cur->v[i]))
			continue;
		cJSON_ArrayForEach(c, cur->v[i]) {
			if (filter_match(f, c) && ns_push(next, c))
				return KUBE_ENOMEM;
		}
	}
	return 0;
}

/* Parses and applies one "[...]" segment; *pp points after '['. */
static int step_bracket(const char **pp, const struct nodeset *cur, struct nodeset *next)
{
	const char *p = *pp;
	int rc = KUBE_EINVAL;

	skip_ws(&p);
	if (*p == '*') {
		p++;
		skip_ws(&p);
		if (*p != ']')
			goto out;
		rc = step_wild(cur, next);
	} else if (*p == '\'' || *p == '"') {
		char *name = read_quoted(&p);

		skip_ws(&p);
		if (!name || *p != ']') {
			free(name);
			goto out;
		}
		rc = step_field(cur, next, name);
		free(name);
	} else if (*p == '?') {
		const char *body, *q;
		char *expr;
		struct filter f;
		char quote = 0;
		int depth = 0;

		p++;
		skip_ws(&p);
		if (*p != '(')
			goto out;
		body = ++p;
		/* Find the ")" that closes "?(", skipping quoted literals. */
		for (q = body; *q; q++) {
			if (quote) {
				if (*q == '\\' && q[1])
					q++;
				else if (*q == quote)
					quote = 0;
			} else if (*q == '\'' || *q == '"') {
				quote = *q;
			} else if (*q == '(') {
				depth++;
			} else if (*q == ')') {
				if (depth-- == 0)
					break;
			}
		}
		if (*q != ')')
			goto out;
		expr = strndup(body, (size_t)(q - body));
		if (!expr) {
			rc = KUBE_ENOMEM;
			goto out;
		}
		p = q + 1;
		skip_ws(&p);
		rc = *p == ']' ? filter_parse(expr, &f) : KUBE_EINVAL;
		free(expr);
		if (rc)
			goto out;
		rc = step_filter(cur, next, &f);
		filter_release(&f);
	} else {
		long start = 0, end = 0;
		int has_start = 0, has_end = 0, is_slice = 0;
		char *e;

		if (*p == '-' || isdigit((unsigned char)*p)) {
			start = strtol(p, &e, 10);
			has_start = e != p;
			p = e;
		}
		skip_ws(&p);
		if (*p == ':') {
			is_slice = 1;
			p++;
			skip_ws(&p);
			if (*p == '-' || isdigit((unsigned char)*p)) {
				end = strtol(p, &e, 10);
				has_end = e != p;
				p = e;
			}
			skip_ws(&p);
		}
		if (*p != ']' || (!has_start && !is_slice))
			goto out;
		rc = step_index(cur, next, start, end, has_start, has_end, is_slice);
	}
	if (rc == 0)
		p++; /* the ']' */
out:
	*pp = p;
	return rc;
}

/* Strips blanks, one pair of surrounding braces and a leading '$'. Returns a malloc'd copy. */
static char *normalize(const char *expr)
{
	const char *b = expr, *e = expr + strlen(expr);

	while (b < e && isspace((unsigned char)*b))
		b++;
	while (e > b && isspace((unsigned char)e[-1]))
		e--;
	if (e - b >= 2 && *b == '{' && e[-1] == '}') {
		b++;
		e--;
		while (b < e && isspace((unsigned char)*b))
			b++;
		while (e > b && isspace((unsigned char)e[-1]))
			e--;
	}
	if (b < e && *b == '$')
		b++;
	return strndup(b, (size_t)(e - b));
}

int sim_jsonpath_eval(const cJSON *root, const char *expr, const cJSON **out, size_t max,
		      size_t *n)
{
	struct nodeset cur = { NULL, 0, 0 }, next = { NULL, 0, 0 };
	char *norm = NULL;
	const char *p;
	int rc = 0;

	if (n)
		*n = 0;
	if (!root || !expr || !n || (max && !out)) {
		rc = KUBE_EINVAL;
		goto out;
	}
	norm = normalize(expr);
	if (!norm) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	rc = ns_push(&cur, root);
	for (p = norm; rc == 0 && *p; ) {
		next.n = 0;
		if (*p == '.') {
			p++;
			if (*p == '.') {
				rc = KUBE_EINVAL; /* recursive descent is not in the subset */
			} else if (*p == '*') {
				p++;
				rc = step_wild(&cur, &next);
			} else if (*p == '[' || *p == '\0') {
				continue; /* ".[0]" and a lone "." (the root) */
			} else {
				char *name = read_name(&p, "");

				rc = name ? step_field(&cur, &next, name) : KUBE_EINVAL;
				free(name);
			}
		} else if (*p == '[') {
			p++;
			rc = step_bracket(&p, &cur, &next);
		} else {
			rc = KUBE_EINVAL;
		}
		if (rc == 0) {
			struct nodeset t = cur;

			cur = next;
			next = t;
		}
	}
	if (rc)
		goto out;
	for (size_t i = 0; i < cur.n && i < max; i++)
		out[i] = cur.v[i];
	*n = cur.n;
out:
	free(norm);
	ns_release(&cur);
	ns_release(&next);
	return rc;
}

const cJSON *sim_jsonpath_get(const cJSON *root, const char *expr)
{
	const cJSON *v = NULL;
	size_t n = 0;

	if (sim_jsonpath_eval(root, expr, &v, 1, &n) != 0 || n == 0)
		return NULL;
	return v;
}

/* Shortest "%g" form that reads back as the same double, like Go's strconv 'g' -1. */
static char *format_double(double d)
{
	char buf[64];

	if (d == floor(d) && fabs(d) < 1e15) {
		snprintf(buf, sizeof(buf), "%.0f", d);
		return strdup(buf);
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return strdup(buf);
}

char *sim_jsonpath_render(const cJSON *v)
{
	if (!v)
		return NULL;
	if (cJSON_IsString(v))
		return strdup(v->valuestring);
	if (cJSON_IsNumber(v))
		return format_double(v->valuedouble);
	if (cJSON_IsTrue(v))
		return strdup("true");
	if (cJSON_IsFalse(v))
		return strdup("false");
	if (cJSON_IsNull(v))
		return strdup("null");
	return cJSON_PrintUnformatted(v);
}

char *sim_jsonpath_print(const cJSON *root, const char *expr)
{
	const cJSON **res = NULL;
	char *out = NULL, *s = NULL;
	size_t n = 0, len = 0;
	int ok = 0;

	if (sim_jsonpath_eval(root, expr, NULL, 0, &n) != 0 || n == 0)
		goto out;
	res = calloc(n, sizeof(*res));
	if (!res || sim_jsonpath_eval(root, expr, res, n, &n) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char *grown;

		s = sim_jsonpath_render(res[i]);
		grown = s ? realloc(out, len + strlen(s) + 2) : NULL;
		if (!grown)
			goto out;
		out = grown;
		len += (size_t)sprintf(out + len, "%s%s", i ? "," : "", s);
		free(s);
		s = NULL;
	}
	ok = 1;
out:
	free(s);
	free(res);
	if (!ok) {
		free(out);
		out = NULL;
	}
	return out;
}
