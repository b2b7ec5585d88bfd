/* Built-in object validation for kubesim: labels, Pod specs and Services, with the wording of
 * k8s.io/apimachinery/pkg/util/validation and pkg/apis/core/validation (checked against
 * kube-apiserver v1.32.13). */
#include "sim_validate.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_error.h"

#define DNS1123_LABEL_MSG                                                                      \
	"a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', " \
	"and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', " \
	"regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
#define DNS1123_SUBDOMAIN_MSG                                                                 \
	"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' " \
	"or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "    \
	"regex used for validation is "                                                          \
	"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
#define DNS1035_LABEL_MSG                                                                        \
	"a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with " \
	"an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "   \
	"'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
#define LABEL_VALUE_MSG                                                                          \
	"a valid label must be an empty string or consist of alphanumeric characters, '-', '_' " \
	"or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "     \
	"'my_value',  or '12345', regex used for validation is "                                 \
	"'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
#define QUALIFIED_NAME_MSG                                                                      \
	"name part must consist of alphanumeric characters, '-', '_' or '.', and must start and " \
	"end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex " \
	"used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
#define PORT_RANGE_MSG "must be between 1 and 65535, inclusive"

/* The causes found so far; oom is set when an allocation failed (the list is then dropped). */
struct verr {
	cJSON *causes;
	int oom;
};

static void add_cause(struct verr *v, const char *reason, const char *field, const char *fmt,
		      ...)
{
	char msg[1400];
	va_list ap;
	cJSON *c;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c = cJSON_CreateObject();
	if (!c || !cJSON_AddStringToObject(c, "reason", reason) ||
	    !cJSON_AddStringToObject(c, "message", msg) ||
	    !cJSON_AddStringToObject(c, "field", field)) {
		cJSON_Delete(c);
		v->oom = 1;
		return;
	}
	cJSON_AddItemToArray(v->causes, c);
}

static void required(struct verr *v, const char *field)
{
	add_cause(v, "FieldValueRequired", field, "Required value");
}

static void invalid_str(struct verr *v, const char *field, const char *value, const char *msg)
{
	add_cause(v, "FieldValueInvalid", field, "Invalid value: \"%s\": %s", value, msg);
}

static void invalid_int(struct verr *v, const char *field, double value, const char *msg)
{
	add_cause(v, "FieldValueInvalid", field, "Invalid value: %.0f: %s", value, msg);
}

static int is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? over s[0..len) */
static int dns_label_chars(const char *s, size_t len)
{
	if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return 0;
	return 1;
}

static int dns_subdomain_chars(const char *s, size_t len)
{
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (!dns_label_chars(s + start, i - start))
			return 0;
		start = i + 1;
	}
	return len > 0;
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], non-empty */
static int qualified_chars(const char *s, size_t len)
{
	if (len == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("-_.", s[i]))
			return 0;
	return 1;
}

/* IsDNS1123Label: each failed rule is its own cause, as upstream. */
static void check_dns1123_label(struct verr *v, const char *field, const char *s)
{
	size_t len = strlen(s);
	if (len > 63)
		invalid_str(v, field, s, "must be no more than 63 characters");
	if (!dns_label_chars(s, len))
		invalid_str(v, field, s, DNS1123_LABEL_MSG);
}

static void check_label_key(struct verr *v, const char *field, const char *key)
{
	const char *slash = strchr(key, '/');
	const char *name = slash ? slash + 1 : key;
	size_t nlen = strlen(name);

	if (slash) {
		size_t plen = (size_t)(slash - key);
		if (plen == 0)
			invalid_str(v, field, key, "prefix part must be non-empty");
		else if (plen > 253)
			invalid_str(v, field, key,
				    "prefix part must be no more than 253 characters");
		else if (!dns_subdomain_chars(key, plen))
			invalid_str(v, field, key, "prefix part " DNS1123_SUBDOMAIN_MSG);
	}
	if (nlen == 0) {
		invalid_str(v, field, key, "name part must be non-empty");
		return;
	}
	if (nlen > 63)
		invalid_str(v, field, key, "name part must be no more than 63 characters");
	if (!qualified_chars(name, nlen))
		invalid_str(v, field, key, QUALIFIED_NAME_MSG);
}

/* ValidateLabels: for each label the key, then the value. prefix is "metadata." or
 * "spec.template." (upstream names a pod template's labels spec.template.labels). */
static void check_labels(struct verr *v, const char *prefix, const cJSON *meta)
{
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(meta, "labels");
	const cJSON *l;
	char field[300];

	snprintf(field, sizeof(field), "%slabels", prefix);
	cJSON_ArrayForEach(l, labels) {
		const char *val = cJSON_IsString(l) ? l->valuestring : "";
		size_t len = strlen(val);
		check_label_key(v, field, l->string);
		if (len > 63)
			invalid_str(v, field, val, "must be no more than 63 characters");
		if (len > 0 && !qualified_chars(val, len))
			invalid_str(v, field, val, LABEL_VALUE_MSG);
	}
}

static const char *str_at(const cJSON *o, const char *key)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(s) ? s->valuestring : NULL;
}

/* IsValidPortName: at most 15 characters of [a-z0-9-], a letter, no "--", no edge '-'. */
static const char *port_name_problem(const char *n)
{
	size_t len = strlen(n);
	int letter = 0;

	if (len > 15)
		return "must be no more than 15 characters";
	for (size_t i = 0; i < len; i++) {
		if (!is_lower_alnum(n[i]) && n[i] != '-')
			return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)";
		if (n[i] >= 'a' && n[i] <= 'z')
			letter = 1;
	}
	if (!letter)
		return "must contain at least one letter (a-z)";
	if (strstr(n, "--"))
		return "must not contain consecutive hyphens";
	if (len && (n[0] == '-' || n[len - 1] == '-'))
		return "must not begin or end with a hyphen";
	return NULL;
}

static void check_container_ports(struct verr *v, const char *path, const cJSON *c)
{
	const cJSON *ports = cJSON_GetObjectItemCaseSensitive(c, "ports"), *p;
	char field[400];
	int i = 0;

	cJSON_ArrayForEach(p, ports) {
		const cJSON *cp = cJSON_GetObjectItemCaseSensitive(p, "containerPort");
		const cJSON *hp = cJSON_GetObjectItemCaseSensitive(p, "hostPort");
		const char *name = str_at(p, "name"), *problem;

		if (name && *name) {
			problem = port_name_problem(name);
			snprintf(field, sizeof(field), "%s.ports[%d].name", path, i);
			if (problem)
				invalid_str(v, field, name, problem);
		}
		snprintf(field, sizeof(field), "%s.ports[%d].containerPort", path, i);
		if (!cJSON_IsNumber(cp) || cp->valuedouble == 0)
			required(v, field);
		else if (cp->valuedouble < 1 || cp->valuedouble > 65535)
			invalid_int(v, field, cp->valuedouble, PORT_RANGE_MSG);
		snprintf(field, sizeof(field), "%s.ports[%d].hostPort", path, i);
		if (cJSON_IsNumber(hp) && hp->valuedouble != 0 &&
		    (hp->valuedouble < 1 || hp->valuedouble > 65535))
			invalid_int(v, field, hp->valuedouble, PORT_RANGE_MSG);
		i++;
	}
}

/* One list of containers ("containers" or "initContainers") under path. */
static void check_containers(struct verr *v, const char *spec_path, const cJSON *spec,
			     const char *list)
{
	const cJSON *cs = cJSON_GetObjectItemCaseSensitive(spec, list), *c;
	char path[300], field[400];
	int i = 0;

	cJSON_ArrayForEach(c, cs) {
		const char *name = str_at(c, "name"), *image = str_at(c, "image");

		snprintf(path, sizeof(path), "%s.%s[%d]", spec_path, list, i);
		snprintf(field, sizeof(field), "%s.name", path);
		if (!name || !*name)
			required(v, field);
		else
			check_dns1123_label(v, field, name);
		snprintf(field, sizeof(field), "%s.image", path);
		if (!image || !*image)
			required(v, field);
		check_container_ports(v, path, c);
		i++;
	}
}

static void check_pod_spec(struct verr *v, const char *spec_path, const cJSON *spec)
{
	const cJSON *cs = cJSON_GetObjectItemCaseSensitive(spec, "containers");
	char field[300];

	snprintf(field, sizeof(field), "%s.containers", spec_path);
	if (cJSON_GetArraySize(cs) == 0)
		required(v, field);
	check_containers(v, spec_path, spec, "initContainers");
	check_containers(v, spec_path, spec, "containers");
}

static void check_service(struct verr *v, const cJSON *obj)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
	const cJSON *ports = cJSON_GetObjectItemCaseSensitive(spec, "ports"), *p, *q;
	const char *cip = str_at(spec, "clusterIP"), *type = str_at(spec, "type");
	int n = cJSON_GetArraySize(ports), i = 0;
	char field[200];

	if (n == 0 && !(cip && strcmp(cip, "None") == 0) &&
	    !(type && strcmp(type, "ExternalName") == 0))
		required(v, "spec.ports");
	cJSON_ArrayForEach(p, ports) {
		const cJSON *port = cJSON_GetObjectItemCaseSensitive(p, "port");
		const cJSON *tp = cJSON_GetObjectItemCaseSensitive(p, "targetPort");
		const char *name = str_at(p, "name");
		int j = 0;

		snprintf(field, sizeof(field), "spec.ports[%d].name", i);
		if (n > 1 && (!name || !*name))
			required(v, field);
		else if (name && *name)
			check_dns1123_label(v, field, name);
		cJSON_ArrayForEach(q, ports) {
			const char *other = str_at(q, "name");
			if (j++ < i && name && *name && other && strcmp(other, name) == 0) {
				add_cause(v, "FieldValueDuplicate", field, "Duplicate value: \"%s\"", name);
				break;
			}
		}
		snprintf(field, sizeof(field), "spec.ports[%d].port", i);
		if (!cJSON_IsNumber(port) || port->valuedouble < 1 || port->valuedouble > 65535)
			invalid_int(v, field, cJSON_IsNumber(port) ? port->valuedouble : 0,
				    PORT_RANGE_MSG);
		snprintf(field, sizeof(field), "spec.ports[%d].targetPort", i);
		/* targetPort 0 is unset: the apiserver defaults it to port */
		if (cJSON_IsNumber(tp) && tp->valuedouble != 0 &&
		    (tp->valuedouble < 1 || tp->valuedouble > 65535))
			invalid_int(v, field, tp->valuedouble, PORT_RANGE_MSG);
		i++;
	}
}

/* Service names are DNS-1035 labels; the generic subdomain check ran before us. */
static void check_service_name(struct verr *v, const cJSON *meta)
{
	const char *name = str_at(meta, "name");
	size_t len;

	if (!name || !*name)
		return;
	len = strlen(name);
	if (len > 63)
		invalid_str(v, "metadata.name", name, "must be no more than 63 characters");
	if (!dns_label_chars(name, len) || !(name[0] >= 'a' && name[0] <= 'z'))
		invalid_str(v, "metadata.name", name, DNS1035_LABEL_MSG);
}

static int has_pod_template(const char *group, const char *resource)
{
	if (strcmp(group, "apps") == 0)
		return strcmp(resource, "deployments") == 0 || strcmp(resource, "replicasets") == 0 ||
		       strcmp(resource, "statefulsets") == 0 || strcmp(resource, "daemonsets") == 0;
	return strcmp(group, "batch") == 0 && strcmp(resource, "jobs") == 0;
}

int sim_validate_object(const char *group, const char *resource, const cJSON *obj,
			cJSON **causes)
{
	struct verr v = { cJSON_CreateArray(), 0 };
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
	const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(spec, "template");
	int core = group[0] == '\0', rc;

	*causes = NULL;
	if (!v.causes)
		return KUBE_ENOMEM;
	if (core && strcmp(resource, "services") == 0)
		check_service_name(&v, meta);
	check_labels(&v, "metadata.", meta);
	if (core && strcmp(resource, "pods") == 0) {
		check_pod_spec(&v, "spec", spec);
	} else if (core && strcmp(resource, "services") == 0) {
		check_service(&v, obj);
	} else if (has_pod_template(group, resource) && tmpl) {
		check_labels(&v, "spec.template.", cJSON_GetObjectItemCaseSensitive(tmpl, "metadata"));
		check_pod_spec(&v, "spec.template.spec", cJSON_GetObjectItemCaseSensitive(tmpl, "spec"));
	}
	if (v.oom) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	if (cJSON_GetArraySize(v.causes) == 0) {
		rc = 0;
		goto out;
	}
	*causes = v.causes;
	v.causes = NULL;
	rc = KUBE_EINVALID;
out:
	cJSON_Delete(v.causes);
	return rc;
}
