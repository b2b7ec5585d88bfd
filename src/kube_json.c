/* cJSON helpers: path lookups and metadata shortcuts; see kube_json.h. */
#include "kube_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_error.h"

static const cJSON *walk(const cJSON *root, va_list ap)
{
	const cJSON *cur = root;
	const char *key;

	for (;;) {
		key = va_arg(ap, const char *);
		if (key == NULL)
			break;
		if (cur == NULL || !cJSON_IsObject(cur))
			return NULL;
		cur = cJSON_GetObjectItemCaseSensitive(cur, key);
	}
	return cur;
}

const cJSON *kube_json_get(const cJSON *root, ...)
{
	const cJSON *v;
	va_list ap;

	va_start(ap, root);
	v = walk(root, ap);
	va_end(ap);
	return v;
}

const char *kube_json_get_str(const cJSON *root, ...)
{
	const cJSON *v;
	va_list ap;

	va_start(ap, root);
	v = walk(root, ap);
	va_end(ap);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool kube_json_get_num(const cJSON *root, double *out, ...)
{
	const cJSON *v;
	va_list ap;

	va_start(ap, out);
	v = walk(root, ap);
	va_end(ap);
	if (!cJSON_IsNumber(v))
		return false;
	*out = v->valuedouble;
	return true;
}

bool kube_json_get_int(const cJSON *root, int64_t *out, ...)
{
	const cJSON *v;
	va_list ap;

	va_start(ap, out);
	v = walk(root, ap);
	va_end(ap);
	if (!cJSON_IsNumber(v))
		return false;
	/* Server data: a double outside int64's range (1e300, inf) would be undefined behaviour
	 * to convert, so clamp it. 2^63 is exactly representable; anything below converts. */
	if (v->valuedouble >= 9223372036854775808.0)
		*out = INT64_MAX;
	else if (v->valuedouble < -9223372036854775808.0)
		*out = INT64_MIN;
	else
		*out = (int64_t)v->valuedouble;
	return true;
}

bool kube_json_get_bool(const cJSON *root, int dflt, ...)
{
	const cJSON *v;
	va_list ap;

	va_start(ap, dflt);
	v = walk(root, ap);
	va_end(ap);
	if (!cJSON_IsBool(v))
		return dflt;
	return cJSON_IsTrue(v);
}

const char *kube_json_name(const cJSON *obj)
{
	return kube_json_get_str(obj, "metadata", "name", NULL);
}

const char *kube_json_namespace(const cJSON *obj)
{
	return kube_json_get_str(obj, "metadata", "namespace", NULL);
}

const char *kube_json_uid(const cJSON *obj)
{
	return kube_json_get_str(obj, "metadata", "uid", NULL);
}

const char *kube_json_resource_version(const cJSON *obj)
{
	return kube_json_get_str(obj, "metadata", "resourceVersion", NULL);
}

cJSON *kube_json_ensure_obj(cJSON *obj, const char *key)
{
	cJSON *child;

	if (!cJSON_IsObject(obj) || key == NULL)
		return NULL;
	child = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (cJSON_IsObject(child))
		return child;
	child = cJSON_CreateObject();
	if (child == NULL)
		return NULL;
	if (cJSON_GetObjectItemCaseSensitive(obj, key) != NULL) {
		if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, key, child)) {
			cJSON_Delete(child);
			return NULL;
		}
	} else if (!cJSON_AddItemToObject(obj, key, child)) {
		cJSON_Delete(child);
		return NULL;
	}
	return child;
}

int kube_json_set_str(cJSON *obj, const char *key, const char *value)
{
	cJSON *s;

	if (!cJSON_IsObject(obj) || key == NULL || value == NULL)
		return KUBE_EINVAL;
	s = cJSON_CreateString(value);
	if (s == NULL)
		return KUBE_ENOMEM;
	if (cJSON_GetObjectItemCaseSensitive(obj, key) != NULL) {
		if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, key, s)) {
			cJSON_Delete(s);
			return KUBE_ENOMEM;
		}
		return 0;
	}
	if (!cJSON_AddItemToObject(obj, key, s)) {
		cJSON_Delete(s);
		return KUBE_ENOMEM;
	}
	return 0;
}

cJSON *kube_json_parse_len(const char *buf, size_t len)
{
	const char *end = NULL;
	cJSON *v;

	if (buf == NULL)
		return NULL;
	v = cJSON_ParseWithLengthOpts(buf, len, &end, false);
	if (v == NULL)
		return NULL;
	/* Trailing whitespace is fine; anything else means two values or garbage. */
	while (end != NULL && end < buf + len &&
	       (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n' || *end == '\0'))
		end++;
	if (end != NULL && end < buf + len) {
		cJSON_Delete(v);
		return NULL;
	}
	return v;
}

char *kube_json_print(const cJSON *obj)
{
	return cJSON_PrintUnformatted(obj);
}

char *kube_json_key(const cJSON *obj)
{
	const char *name = kube_json_name(obj);
	const char *ns = kube_json_namespace(obj);
	char *key = NULL;

	if (name == NULL || name[0] == '\0')
		return NULL;
	if (ns != NULL && ns[0] != '\0') {
		if (asprintf(&key, "%s/%s", ns, name) < 0)
			return NULL;
		return key;
	}
	return strdup(name);
}
