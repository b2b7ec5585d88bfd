/* YAML -> cJSON via libyaml's document loader; see kube_yaml.h. Scalars follow the YAML 1.2
 * core schema (what Kubernetes manifests use in practice); a node budget stops alias bombs. */
#include "kube_yaml.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "kube_error.h"

#define MAX_DEPTH 512
#define MAX_NODES (1024L * 1024) /* expanded nodes per stream (alias bombs) */

struct conv {
	yaml_document_t *doc;
	long budget;
	const char *err; /* static text of the first conversion error */
	yaml_mark_t err_mark;
};

static bool is_plain_null(const char *s)
{
	return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	       strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static int plain_bool(const char *s)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
		return 1;
	if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
		return 0;
	return -1;
}

/* Integers: [-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+ ; floats: the 1.2 core float forms. */
static bool plain_number(const char *s, double *out)
{
	char *end = NULL;
	const char *p = s;
	bool digits = false, dot = false, exp = false;

	if (strcmp(s, ".inf") == 0 || strcmp(s, "+.inf") == 0 || strcmp(s, ".Inf") == 0) {
		*out = HUGE_VAL;
		return true;
	}
	if (strcmp(s, "-.inf") == 0 || strcmp(s, "-.Inf") == 0) {
		*out = -HUGE_VAL;
		return true;
	}
	if (strncmp(s, "0x", 2) == 0 && s[2] != '\0') {
		errno = 0;
		*out = (double)strtoull(s + 2, &end, 16);
		return *end == '\0' && errno == 0;
	}
	if (strncmp(s, "0o", 2) == 0 && s[2] != '\0') {
		errno = 0;
		*out = (double)strtoull(s + 2, &end, 8);
		return *end == '\0' && errno == 0;
	}
	if (*p == '-' || *p == '+')
		p++;
	for (; *p != '\0'; p++) {
		if (*p >= '0' && *p <= '9') {
			digits = true;
		} else if (*p == '.' && !dot && !exp) {
			dot = true;
		} else if ((*p == 'e' || *p == 'E') && digits && !exp) {
			exp = true;
			if (p[1] == '-' || p[1] == '+')
				p++;
			if (p[1] == '\0')
				return false;
		} else {
			return false;
		}
	}
	if (!digits)
		return false;
	errno = 0;
	*out = strtod(s, &end);
	return *end == '\0';
}

static cJSON *scalar_to_json(yaml_node_t *node)
{
	const char *s = (const char *)node->data.scalar.value;
	const char *tag = (const char *)node->tag;
	double num;
	int b;

	if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return cJSON_CreateString(s);
	/* libyaml's loader gives untagged plain scalars the str tag, so an explicit !!str cannot
	 * be told apart: plain scalars are resolved by content; quote a value to keep a string. */
	if (tag != NULL && strcmp(tag, YAML_NULL_TAG) == 0)
		return cJSON_CreateNull();
	if (is_plain_null(s))
		return cJSON_CreateNull();
	b = plain_bool(s);
	if (b >= 0)
		return cJSON_CreateBool(b);
	if (plain_number(s, &num))
		return cJSON_CreateNumber(num);
	return cJSON_CreateString(s);
}

static cJSON *node_to_json(struct conv *cv, yaml_node_t *node, int depth)
{
	cJSON *v = NULL, *child;
	yaml_node_item_t *item;
	yaml_node_pair_t *pair;
	yaml_node_t *k;

	if (node == NULL) {
		cv->err = "missing node";
		return NULL;
	}
	if (depth > MAX_DEPTH || --cv->budget < 0) {
		cv->err = depth > MAX_DEPTH ? "nesting too deep" : "document too large (alias expansion)";
		cv->err_mark = node->start_mark;
		return NULL;
	}
	switch (node->type) {
	case YAML_SCALAR_NODE:
		v = scalar_to_json(node);
		if (v == NULL)
			cv->err = "out of memory";
		return v;
	case YAML_SEQUENCE_NODE:
		v = cJSON_CreateArray();
		if (v == NULL)
			goto nomem;
		for (item = node->data.sequence.items.start; item < node->data.sequence.items.top;
		     item++) {
			child = node_to_json(cv, yaml_document_get_node(cv->doc, *item), depth + 1);
			if (child == NULL)
				goto fail;
			cJSON_AddItemToArray(v, child);
		}
		return v;
	case YAML_MAPPING_NODE:
		v = cJSON_CreateObject();
		if (v == NULL)
			goto nomem;
		for (pair = node->data.mapping.pairs.start; pair < node->data.mapping.pairs.top;
		     pair++) {
			k = yaml_document_get_node(cv->doc, pair->key);
			if (k == NULL || k->type != YAML_SCALAR_NODE) {
				cv->err = "mapping key is not a scalar";
				cv->err_mark = k != NULL ? k->start_mark : node->start_mark;
				goto fail;
			}
			child = node_to_json(cv, yaml_document_get_node(cv->doc, pair->value),
					     depth + 1);
			if (child == NULL)
				goto fail;
			/* Last duplicate key wins, as in most YAML loaders. */
			if (cJSON_GetObjectItemCaseSensitive(v, (const char *)k->data.scalar.value))
				cJSON_DeleteItemFromObjectCaseSensitive(
					v, (const char *)k->data.scalar.value);
			cJSON_AddItemToObject(v, (const char *)k->data.scalar.value, child);
		}
		return v;
	default:
		cv->err = "unknown node type";
		return NULL;
	}
nomem:
	cv->err = "out of memory";
fail:
	cJSON_Delete(v);
	return NULL;
}

static char *fmt_parser_error(const yaml_parser_t *p)
{
	char *msg = NULL;
	const yaml_mark_t *m = &p->problem_mark;

	if (p->error == YAML_MEMORY_ERROR)
		return strdup("out of memory");
	if (p->context != NULL) {
		if (asprintf(&msg, "line %zu column %zu: %s %s", m->line + 1, m->column + 1,
			     p->problem != NULL ? p->problem : "syntax error", p->context) < 0)
			msg = NULL;
	} else if (asprintf(&msg, "line %zu column %zu: %s", m->line + 1, m->column + 1,
			    p->problem != NULL ? p->problem : "syntax error") < 0) {
		msg = NULL;
	}
	return msg;
}

/* Parses documents into `arr` (all of them when `all`, else the first into *single). */
static int parse(const char *buf, size_t len, bool all, cJSON **out, char **errmsg)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct conv cv;
	cJSON *arr = NULL, *v = NULL;
	yaml_node_t *root;
	long budget = MAX_NODES; /* for the whole stream: documents must not multiply it */
	int rc = 0;

	if (errmsg != NULL)
		*errmsg = NULL;
	if (out == NULL || (buf == NULL && len > 0))
		return KUBE_EINVAL;
	*out = NULL;
	if (!yaml_parser_initialize(&parser))
		return KUBE_ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)(buf != NULL ? buf : ""),
				     len);
	if (all) {
		arr = cJSON_CreateArray();
		if (arr == NULL) {
			rc = KUBE_ENOMEM;
			goto out;
		}
	}
	for (;;) {
		if (!yaml_parser_load(&parser, &doc)) {
			rc = parser.error == YAML_MEMORY_ERROR ? KUBE_ENOMEM : KUBE_EPARSE;
			if (errmsg != NULL)
				*errmsg = fmt_parser_error(&parser);
			goto out;
		}
		root = yaml_document_get_root_node(&doc);
		if (root == NULL) {
			/* End of stream (or an empty stream). */
			yaml_document_delete(&doc);
			break;
		}
		memset(&cv, 0, sizeof(cv));
		cv.doc = &doc;
		cv.budget = budget;
		v = node_to_json(&cv, root, 0);
		budget = cv.budget;
		yaml_document_delete(&doc);
		if (v == NULL) {
			rc = strcmp(cv.err, "out of memory") == 0 ? KUBE_ENOMEM : KUBE_EPARSE;
			if (errmsg != NULL && asprintf(errmsg, "line %zu column %zu: %s",
						       cv.err_mark.line + 1, cv.err_mark.column + 1,
						       cv.err) < 0)
				*errmsg = NULL;
			goto out;
		}
		if (!all) {
			*out = v;
			v = NULL;
			goto out;
		}
		if (cJSON_IsNull(v))
			cJSON_Delete(v);
		else
			cJSON_AddItemToArray(arr, v);
		v = NULL;
	}
	if (all) {
		*out = arr;
		arr = NULL;
	} else {
		*out = cJSON_CreateNull();
		if (*out == NULL)
			rc = KUBE_ENOMEM;
	}
out:
	cJSON_Delete(arr);
	yaml_parser_delete(&parser);
	return rc;
}

int kube_yaml_parse(const char *buf, size_t len, cJSON **out, char **errmsg)
{
	return parse(buf, len, false, out, errmsg);
}

int kube_yaml_parse_all(const char *buf, size_t len, cJSON **out, char **errmsg)
{
	return parse(buf, len, true, out, errmsg);
}

int kube_yaml_load_file(const char *path, cJSON **out, char **errmsg)
{
	FILE *f = NULL;
	char *buf = NULL, *inner = NULL;
	size_t len = 0;
	int rc;

	if (errmsg != NULL)
		*errmsg = NULL;
	if (path == NULL || out == NULL)
		return KUBE_EINVAL;
	*out = NULL;
	f = fopen(path, "rb");
	if (f == NULL) {
		rc = KUBE_ECONFIG;
		if (errmsg != NULL && asprintf(errmsg, "%s: %s", path, strerror(errno)) < 0)
			*errmsg = NULL;
		goto out;
	}
	{
		/* open_memstream-free slurp: grow a buffer until EOF. */
		size_t cap = 0, n;
		char *nb;

		for (;;) {
			if (len + 4096 > cap) {
				cap = cap == 0 ? 8192 : cap * 2;
				nb = realloc(buf, cap);
				if (nb == NULL) {
					rc = KUBE_ENOMEM;
					goto out;
				}
				buf = nb;
			}
			n = fread(buf + len, 1, cap - len, f);
			len += n;
			if (n == 0)
				break;
		}
		if (ferror(f)) {
			rc = KUBE_ECONFIG;
			if (errmsg != NULL &&
			    asprintf(errmsg, "%s: read error: %s", path, strerror(errno)) < 0)
				*errmsg = NULL;
			goto out;
		}
	}
	rc = kube_yaml_parse(buf, len, out, &inner);
	if (rc != 0 && errmsg != NULL) {
		if (asprintf(errmsg, "%s: %s", path, inner != NULL ? inner : kube_strerror(rc)) < 0)
			*errmsg = NULL;
	}
out:
	free(inner);
	free(buf);
	if (f != NULL)
		fclose(f);
	return rc;
}
