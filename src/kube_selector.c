/* Label and field selector parsing and matching; see kube_selector.h. Semantics follow
 * k8s.io/apimachinery/pkg/labels: != and notin also match objects without the key. */
#include "kube_selector.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_error.h"
#include "kube_json.h"

enum op { OP_EQ, OP_NEQ, OP_IN, OP_NOTIN, OP_EXISTS, OP_NOTEXISTS };

struct req {
	char *key;
	enum op op;
	char **values;
	size_t nvalues;
};

struct kube_selector {
	struct req *reqs;
	size_t n, cap;
	bool field;
};

static int seterr(char **errmsg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int seterr(char **errmsg, const char *fmt, ...)
{
	va_list ap;

	if (errmsg == NULL)
		return KUBE_EPARSE;
	free(*errmsg);
	va_start(ap, fmt);
	if (vasprintf(errmsg, fmt, ap) < 0)
		*errmsg = NULL;
	va_end(ap);
	return KUBE_EPARSE;
}

void kube_selector_free(struct kube_selector *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++) {
		free(s->reqs[i].key);
		for (size_t j = 0; j < s->reqs[i].nvalues; j++)
			free(s->reqs[i].values[j]);
		free(s->reqs[i].values);
	}
	free(s->reqs);
	free(s);
}

/* Appends a requirement, taking ownership of key (freed on failure). */
static struct req *add_req(struct kube_selector *s, char *key, enum op op)
{
	struct req *nr;

	if (key == NULL)
		return NULL;
	if (s->n == s->cap) {
		size_t cap = s->cap == 0 ? 4 : s->cap * 2;

		nr = realloc(s->reqs, cap * sizeof(*nr));
		if (nr == NULL) {
			free(key);
			return NULL;
		}
		s->reqs = nr;
		s->cap = cap;
	}
	nr = &s->reqs[s->n++];
	memset(nr, 0, sizeof(*nr));
	nr->key = key;
	nr->op = op;
	return nr;
}

static int add_value(struct req *r, const char *v, size_t len)
{
	char **nv = realloc(r->values, (r->nvalues + 1) * sizeof(*nv));

	if (nv == NULL)
		return KUBE_ENOMEM;
	r->values = nv;
	nv[r->nvalues] = strndup(v, len);
	if (nv[r->nvalues] == NULL)
		return KUBE_ENOMEM;
	r->nvalues++;
	return 0;
}

/* --- text parser ------------------------------------------------------------------------- */

struct lex {
	const char *text;
	size_t pos;
	bool field;
	char **errmsg;
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(struct lex *lx)
{
	while (is_space(lx->text[lx->pos]))
		lx->pos++;
}

/* Identifier characters: everything but whitespace and the operator/punctuation characters. */
static bool is_ident(char c)
{
	return c != '\0' && !is_space(c) && strchr(",=!()", c) == NULL;
}

static size_t ident_len(const struct lex *lx)
{
	size_t n = 0;

	while (is_ident(lx->text[lx->pos + n]))
		n++;
	return n;
}

static bool alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A label value: empty, or <= 63 chars of [A-Za-z0-9._-] beginning and ending alphanumeric. */
static bool valid_value(const char *v, size_t len)
{
	if (len == 0)
		return true;
	if (len > 63 || !alnum(v[0]) || !alnum(v[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!alnum(v[i]) && v[i] != '-' && v[i] != '_' && v[i] != '.')
			return false;
	return true;
}

/* A label key: [prefix/]name, name a valid non-empty value, prefix a DNS subdomain. */
static bool valid_key(const char *k, size_t len)
{
	const char *slash = memchr(k, '/', len);
	size_t plen;

	if (slash == NULL)
		return len > 0 && valid_value(k, len);
	plen = (size_t)(slash - k);
	/* One '/' at most: checked before the name so this recurses only once (a long "a/a/a/..."
	 * key overflowed the stack). */
	if (plen == 0 || plen > 253 || memchr(slash + 1, '/', len - plen - 1) != NULL ||
	    !valid_key(slash + 1, len - plen - 1))
		return false;
	for (size_t i = 0; i < plen; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '-' ||
		      k[i] == '.'))
			return false;
	return true;
}

static int read_key(struct lex *lx, char **out)
{
	size_t n;

	skip_ws(lx);
	n = ident_len(lx);
	*out = NULL;
	if (n == 0)
		return seterr(lx->errmsg, "selector \"%s\": position %zu: expected a key, found %s",
			      lx->text, lx->pos + 1,
			      lx->text[lx->pos] == '\0' ? "end of input" : "an operator");
	if (!lx->field && !valid_key(lx->text + lx->pos, n))
		return seterr(lx->errmsg, "selector \"%s\": position %zu: invalid label key \"%.*s\"",
			      lx->text, lx->pos + 1, (int)n, lx->text + lx->pos);
	*out = strndup(lx->text + lx->pos, n);
	lx->pos += n;
	return *out == NULL ? KUBE_ENOMEM : 0;
}

static int read_value(struct lex *lx, struct req *r)
{
	size_t n;

	skip_ws(lx);
	n = ident_len(lx);
	if (!lx->field && !valid_value(lx->text + lx->pos, n))
		return seterr(lx->errmsg, "selector \"%s\": position %zu: invalid label value \"%.*s\"",
			      lx->text, lx->pos + 1, (int)n, lx->text + lx->pos);
	if (add_value(r, lx->text + lx->pos, n) != 0)
		return KUBE_ENOMEM;
	lx->pos += n;
	return 0;
}

static int read_set(struct lex *lx, struct req *r)
{
	int rc;

	skip_ws(lx);
	if (lx->text[lx->pos] != '(')
		return seterr(lx->errmsg, "selector \"%s\": position %zu: expected '(' after %s",
			      lx->text, lx->pos + 1, r->op == OP_IN ? "in" : "notin");
	lx->pos++;
	skip_ws(lx);
	if (lx->text[lx->pos] == ')')
		return seterr(lx->errmsg, "selector \"%s\": position %zu: the value set of %s must "
			      "not be empty", lx->text, lx->pos + 1, r->op == OP_IN ? "in" : "notin");
	for (;;) {
		rc = read_value(lx, r);
		if (rc != 0)
			return rc;
		skip_ws(lx);
		if (lx->text[lx->pos] == ',') {
			lx->pos++;
			continue;
		}
		if (lx->text[lx->pos] == ')') {
			lx->pos++;
			return 0;
		}
		return seterr(lx->errmsg, "selector \"%s\": position %zu: expected ',' or ')' in value set",
			      lx->text, lx->pos + 1);
	}
}

static int parse_req(struct lex *lx, struct kube_selector *s)
{
	const char *t = lx->text;
	char *key = NULL;
	struct req *r;
	size_t n;
	int rc;

	skip_ws(lx);
	if (t[lx->pos] == '!' && !lx->field) {
		lx->pos++;
		rc = read_key(lx, &key);
		if (rc != 0)
			return rc;
		return add_req(s, key, OP_NOTEXISTS) == NULL ? KUBE_ENOMEM : 0;
	}
	rc = read_key(lx, &key);
	if (rc != 0)
		return rc;
	skip_ws(lx);
	if ((t[lx->pos] == '\0' || t[lx->pos] == ',') && !lx->field)
		return add_req(s, key, OP_EXISTS) == NULL ? KUBE_ENOMEM : 0;
	if (t[lx->pos] == '=' || (t[lx->pos] == '!' && t[lx->pos + 1] == '=')) {
		enum op op = t[lx->pos] == '=' ? OP_EQ : OP_NEQ;

		lx->pos += (op == OP_EQ && t[lx->pos + 1] == '=') || op == OP_NEQ ? 2 : 1;
		r = add_req(s, key, op);
		return r == NULL ? KUBE_ENOMEM : read_value(lx, r);
	}
	n = ident_len(lx);
	if (!lx->field && ((n == 2 && strncmp(t + lx->pos, "in", 2) == 0) ||
			   (n == 5 && strncmp(t + lx->pos, "notin", 5) == 0))) {
		lx->pos += n;
		r = add_req(s, key, n == 2 ? OP_IN : OP_NOTIN);
		return r == NULL ? KUBE_ENOMEM : read_set(lx, r);
	}
	free(key);
	return seterr(lx->errmsg, "selector \"%s\": position %zu: expected %s", t, lx->pos + 1,
		      lx->field ? "'=', '==' or '!='"
				: "'=', '==', '!=', 'in', 'notin', ',' or end of input");
}

static int parse_text(const char *text, bool field, struct kube_selector **out, char **errmsg)
{
	struct lex lx = { .text = text != NULL ? text : "", .field = field, .errmsg = errmsg };
	struct kube_selector *s = NULL;
	int rc = 0;

	if (errmsg != NULL)
		*errmsg = NULL;
	if (out == NULL)
		return KUBE_EINVAL;
	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return KUBE_ENOMEM;
	s->field = field;
	skip_ws(&lx);
	if (lx.text[lx.pos] == '\0')
		goto out;
	for (;;) {
		rc = parse_req(&lx, s);
		if (rc != 0)
			goto out;
		skip_ws(&lx);
		if (lx.text[lx.pos] == '\0')
			break;
		if (lx.text[lx.pos] != ',') {
			rc = seterr(errmsg, "selector \"%s\": position %zu: expected ',' or end of input",
				    lx.text, lx.pos + 1);
			goto out;
		}
		lx.pos++;
	}
out:
	if (rc != 0) {
		kube_selector_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int kube_selector_parse(const char *text, struct kube_selector **out, char **errmsg)
{
	return parse_text(text, false, out, errmsg);
}

int kube_field_selector_parse(const char *text, struct kube_selector **out, char **errmsg)
{
	return parse_text(text, true, out, errmsg);
}

/* --- LabelSelector objects ---------------------------------------------------------------- */

static int from_expression(struct kube_selector *s, const cJSON *e, size_t idx, char **errmsg)
{
	const char *key = kube_json_get_str(e, "key", NULL);
	const char *opname = kube_json_get_str(e, "operator", NULL);
	const cJSON *values = kube_json_get(e, "values", NULL), *v;
	int nvalues = cJSON_IsArray(values) ? cJSON_GetArraySize(values) : 0;
	struct req *r;
	enum op op;

	if (key == NULL || !valid_key(key, strlen(key)))
		return seterr(errmsg, "matchExpressions[%zu].key: missing or invalid", idx);
	if (values != NULL && !cJSON_IsNull(values) && !cJSON_IsArray(values))
		return seterr(errmsg, "matchExpressions[%zu].values: must be a list", idx);
	if (opname == NULL)
		return seterr(errmsg, "matchExpressions[%zu].operator: missing", idx);
	if (strcmp(opname, "In") == 0)
		op = OP_IN;
	else if (strcmp(opname, "NotIn") == 0)
		op = OP_NOTIN;
	else if (strcmp(opname, "Exists") == 0)
		op = OP_EXISTS;
	else if (strcmp(opname, "DoesNotExist") == 0)
		op = OP_NOTEXISTS;
	else
		return seterr(errmsg, "matchExpressions[%zu].operator: \"%s\" is not In, NotIn, "
			      "Exists or DoesNotExist", idx, opname);
	if ((op == OP_IN || op == OP_NOTIN) && nvalues == 0)
		return seterr(errmsg, "matchExpressions[%zu].values: must be non-empty for %s", idx,
			      opname);
	if ((op == OP_EXISTS || op == OP_NOTEXISTS) && nvalues != 0)
		return seterr(errmsg, "matchExpressions[%zu].values: must be empty for %s", idx, opname);
	r = add_req(s, strdup(key), op);
	if (r == NULL)
		return KUBE_ENOMEM;
	cJSON_ArrayForEach(v, values) {
		if (!cJSON_IsString(v) || !valid_value(v->valuestring, strlen(v->valuestring)))
			return seterr(errmsg, "matchExpressions[%zu].values: invalid value", idx);
		if (add_value(r, v->valuestring, strlen(v->valuestring)) != 0)
			return KUBE_ENOMEM;
	}
	return 0;
}

int kube_selector_from_object(const cJSON *ls, struct kube_selector **out, char **errmsg)
{
	struct kube_selector *s = NULL;
	const cJSON *ml, *me, *it;
	struct req *r;
	size_t idx = 0;
	int rc = 0;

	if (errmsg != NULL)
		*errmsg = NULL;
	if (out == NULL)
		return KUBE_EINVAL;
	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return KUBE_ENOMEM;
	if (ls == NULL || cJSON_IsNull(ls))
		goto out;
	if (!cJSON_IsObject(ls)) {
		rc = seterr(errmsg, "label selector: must be an object");
		goto out;
	}
	ml = kube_json_get(ls, "matchLabels", NULL);
	me = kube_json_get(ls, "matchExpressions", NULL);
	if (ml != NULL && !cJSON_IsNull(ml) && !cJSON_IsObject(ml)) {
		rc = seterr(errmsg, "matchLabels: must be an object");
		goto out;
	}
	if (me != NULL && !cJSON_IsNull(me) && !cJSON_IsArray(me)) {
		rc = seterr(errmsg, "matchExpressions: must be a list");
		goto out;
	}
	if (!cJSON_IsObject(ml))
		ml = NULL;
	if (!cJSON_IsArray(me))
		me = NULL;
	cJSON_ArrayForEach(it, ml) {
		if (!valid_key(it->string, strlen(it->string)) || !cJSON_IsString(it) ||
		    !valid_value(it->valuestring, strlen(it->valuestring))) {
			rc = seterr(errmsg, "matchLabels[%s]: invalid key or value", it->string);
			goto out;
		}
		r = add_req(s, strdup(it->string), OP_EQ);
		if (r == NULL || add_value(r, it->valuestring, strlen(it->valuestring)) != 0) {
			rc = KUBE_ENOMEM;
			goto out;
		}
	}
	cJSON_ArrayForEach(it, me) {
		rc = from_expression(s, it, idx++, errmsg);
		if (rc != 0)
			goto out;
	}
out:
	if (rc != 0) {
		kube_selector_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

/* --- matching ----------------------------------------------------------------------------- */

static bool in_set(const struct req *r, const char *v)
{
	for (size_t i = 0; i < r->nvalues; i++)
		if (strcmp(r->values[i], v) == 0)
			return true;
	return false;
}

/* `v` is the object's value for r->key, NULL when absent. */
static bool req_matches(const struct req *r, const char *v)
{
	switch (r->op) {
	case OP_EQ: return v != NULL && strcmp(v, r->values[0]) == 0;
	case OP_NEQ: return v == NULL || strcmp(v, r->values[0]) != 0;
	case OP_IN: return v != NULL && in_set(r, v);
	case OP_NOTIN: return v == NULL || !in_set(r, v);
	case OP_EXISTS: return v != NULL;
	case OP_NOTEXISTS: return v == NULL;
	}
	return false;
}

bool kube_selector_matches(const struct kube_selector *s, const cJSON *labels)
{
	if (s == NULL)
		return true;
	for (size_t i = 0; i < s->n; i++) {
		const cJSON *v = cJSON_IsObject(labels)
			? cJSON_GetObjectItemCaseSensitive(labels, s->reqs[i].key) : NULL;

		if (!req_matches(&s->reqs[i], cJSON_IsString(v) ? v->valuestring : NULL))
			return false;
	}
	return true;
}

bool kube_selector_matches_object(const struct kube_selector *s, const cJSON *obj)
{
	return kube_selector_matches(s, kube_json_get(obj, "metadata", "labels", NULL));
}

/* Resolves a dotted path; writes the scalar's text (numbers via %g) into buf. */
static const char *field_value(const cJSON *obj, const char *path, char *buf, size_t buflen)
{
	const cJSON *cur = obj;
	const char *p = path, *dot;
	char seg[256];

	while (cur != NULL) {
		size_t n;

		dot = strchr(p, '.');
		n = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (n >= sizeof(seg) || !cJSON_IsObject(cur))
			return "";
		memcpy(seg, p, n);
		seg[n] = '\0';
		cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	if (cJSON_IsString(cur))
		return cur->valuestring;
	if (cJSON_IsNumber(cur)) {
		snprintf(buf, buflen, "%.15g", cur->valuedouble);
		return buf;
	}
	if (cJSON_IsBool(cur))
		return cJSON_IsTrue(cur) ? "true" : "false";
	return "";
}

bool kube_field_selector_matches(const struct kube_selector *s, const cJSON *obj)
{
	char buf[64];

	if (s == NULL)
		return true;
	for (size_t i = 0; i < s->n; i++)
		if (!req_matches(&s->reqs[i], field_value(obj, s->reqs[i].key, buf, sizeof(buf))))
			return false;
	return true;
}

bool kube_selector_empty(const struct kube_selector *s)
{
	return s == NULL || s->n == 0;
}

int kube_selector_to_string(const struct kube_selector *s, char **out)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (out == NULL)
		return KUBE_EINVAL;
	*out = NULL;
	f = open_memstream(&buf, &len);
	if (f == NULL)
		return KUBE_ENOMEM;
	for (size_t i = 0; s != NULL && i < s->n; i++) {
		const struct req *r = &s->reqs[i];

		if (i > 0)
			fputc(',', f);
		switch (r->op) {
		case OP_EQ: fprintf(f, "%s=%s", r->key, r->values[0]); break;
		case OP_NEQ: fprintf(f, "%s!=%s", r->key, r->values[0]); break;
		case OP_EXISTS: fputs(r->key, f); break;
		case OP_NOTEXISTS: fprintf(f, "!%s", r->key); break;
		case OP_IN:
		case OP_NOTIN:
			fprintf(f, "%s %s (", r->key, r->op == OP_IN ? "in" : "notin");
			for (size_t j = 0; j < r->nvalues; j++)
				fprintf(f, "%s%s", j > 0 ? "," : "", r->values[j]);
			fputc(')', f);
			break;
		}
	}
	if (fclose(f) != 0 || buf == NULL) {
		free(buf);
		return KUBE_ENOMEM;
	}
	*out = buf;
	return 0;
}
