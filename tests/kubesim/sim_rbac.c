/* kubesim's identities and RBAC authorizer (see sim_rbac.h). The evaluation follows upstream's
 * plugin/pkg/auth/authorizer/rbac (RuleAllows, appliesTo, the visit order and reasons) and the
 * request attributes its RequestInfoFactory derives. */
#include "sim_rbac.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "kube_error.h"
#include "kube_json.h"
#include "kube_time.h"
#include "sim_store.h"
#include "sim_tls.h"

#define RBAC_GROUP "rbac.authorization.k8s.io"
#define SA_PREFIX "system:serviceaccount:"

/* ---- identities */

static int copy_str(char *dst, size_t len, const char *src)
{
	size_t n = strlen(src);
	if (n >= len)
		return -1;
	memcpy(dst, src, n + 1);
	return 0;
}

int sim_rbac_user_set(struct sim_rbac_user *u, const char *name)
{
	u->ngroups = 0;
	return copy_str(u->name, sizeof(u->name), name);
}

int sim_rbac_user_in_group(const struct sim_rbac_user *u, const char *group)
{
	for (int i = 0; i < u->ngroups; i++)
		if (strcmp(u->groups[i], group) == 0)
			return 1;
	return 0;
}

int sim_rbac_user_add_group(struct sim_rbac_user *u, const char *group)
{
	if (sim_rbac_user_in_group(u, group))
		return 0;
	if (u->ngroups == SIM_RBAC_MAX_GROUPS ||
	    copy_str(u->groups[u->ngroups], sizeof(u->groups[0]), group) != 0)
		return -1;
	u->ngroups++;
	return 0;
}

void sim_rbac_user_admin(struct sim_rbac_user *u)
{
	sim_rbac_user_set(u, SIM_RBAC_ADMIN_USER);
	sim_rbac_user_add_group(u, "system:masters");
	sim_rbac_user_add_group(u, "system:authenticated");
}

int sim_rbac_user_sa(struct sim_rbac_user *u, const char *ns, const char *name)
{
	char buf[SIM_RBAC_NAME_MAX];
	int n = snprintf(buf, sizeof(buf), SA_PREFIX "%s:%s", ns, name);
	if (n < 0 || (size_t)n >= sizeof(buf) || sim_rbac_user_set(u, buf) != 0)
		return -1;
	snprintf(buf, sizeof(buf), "system:serviceaccounts:%s", ns);
	if (sim_rbac_user_add_group(u, "system:serviceaccounts") ||
	    sim_rbac_user_add_group(u, buf) || sim_rbac_user_add_group(u, "system:authenticated"))
		return -1;
	return 0;
}

int sim_rbac_user_is_superuser(const struct sim_rbac_user *u)
{
	return sim_rbac_user_in_group(u, "system:masters");
}

int sim_rbac_split_sa(const char *username, char *ns, char *name)
{
	size_t plen = strlen(SA_PREFIX);
	if (strncmp(username, SA_PREFIX, plen) != 0)
		return 0;
	const char *rest = username + plen;
	const char *colon = strchr(rest, ':');
	if (!colon || colon == rest || !colon[1] || strchr(colon + 1, ':') ||
	    (size_t)(colon - rest) >= SIM_RBAC_NAME_MAX || strlen(colon + 1) >= SIM_RBAC_NAME_MAX)
		return 0;
	memcpy(ns, rest, (size_t)(colon - rest));
	ns[colon - rest] = '\0';
	strcpy(name, colon + 1);
	return 1;
}

/* ---- request attributes */

/* Appends s to a->buf; returns the copy, or NULL when full. */
static const char *attr_str(struct sim_rbac_attrs *a, size_t *used, const char *s, size_t n)
{
	if (*used + n + 1 > sizeof(a->buf))
		return NULL;
	char *dst = a->buf + *used;
	memcpy(dst, s, n);
	dst[n] = '\0';
	*used += n + 1;
	return dst;
}

static void attrs_clear(struct sim_rbac_attrs *a)
{
	a->resource_request = 0;
	a->verb = a->group = a->version = a->resource = a->subresource = "";
	a->ns = a->name = a->path = "";
}

/* The name a list/watch field selector requires (metadata.name=X or ==X in any AND term). */
static const char *selector_name(const char *fs, size_t *len)
{
	static const char key[] = "metadata.name";
	for (const char *t = fs; t && *t;) {
		const char *end = strchr(t, ',');
		size_t tl = end ? (size_t)(end - t) : strlen(t);
		if (tl > sizeof(key) - 1 && strncmp(t, key, sizeof(key) - 1) == 0) {
			const char *v = t + sizeof(key) - 1;
			const char *tend = t + tl;
			if (*v == '=') {
				v++;
				if (v < tend && *v == '=')
					v++;
				*len = (size_t)(tend - v);
				return *len ? v : NULL;
			}
		}
		t = end ? end + 1 : NULL;
	}
	return NULL;
}

static const char *method_verb(const char *method)
{
	if (strcasecmp(method, "GET") == 0 || strcasecmp(method, "HEAD") == 0)
		return "get";
	if (strcasecmp(method, "POST") == 0)
		return "create";
	if (strcasecmp(method, "PUT") == 0)
		return "update";
	if (strcasecmp(method, "PATCH") == 0)
		return "patch";
	if (strcasecmp(method, "DELETE") == 0)
		return "delete";
	return "";
}

int sim_rbac_attrs_parse(struct sim_rbac_attrs *a, const char *method, const char *path,
			 const char *watch, const char *field_selector)
{
	size_t used = 0;
	const char *seg[16];
	size_t seglen[16];
	int n = 0;
	attrs_clear(a);
	a->path = attr_str(a, &used, path, strlen(path));
	if (!a->path)
		return -1;
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = strchr(p, '/');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (n == 16)
			break; /* deeper parts are not interpreted */
		seg[n] = p;
		seglen[n++] = l;
		p += l;
	}
	/* until proven a resource request: the verb is the method in lower case */
	char m[16];
	size_t ml = strlen(method);
	if (ml >= sizeof(m))
		ml = sizeof(m) - 1;
	for (size_t k = 0; k < ml; k++)
		m[k] = (char)(method[k] >= 'A' && method[k] <= 'Z' ? method[k] + 32 : method[k]);
	a->verb = attr_str(a, &used, m, ml);
	if (!a->verb)
		return -1;
#define SEG_IS(i, s) (seglen[i] == strlen(s) && strncmp(seg[i], s, seglen[i]) == 0)
	/* /api/V/... and /apis/G/V/... with a resource; /api, /api/V, /apis/G/V are discovery */
	int i;
	if (n >= 3 && SEG_IS(0, "api"))
		i = 1;
	else if (n >= 4 && SEG_IS(0, "apis"))
		i = 2;
	else
		return 0;
	a->group = i == 2 ? attr_str(a, &used, seg[1], seglen[1]) : "";
	a->version = attr_str(a, &used, seg[i], seglen[i]);
	i++;
	if (!a->group || !a->version)
		return -1;
	a->resource_request = 1;
	a->verb = method_verb(method);
	if (SEG_IS(i, "watch")) {
		a->verb = "watch";
		i++;
	}
	if (i < n && SEG_IS(i, "namespaces")) {
		if (i + 1 < n) {
			a->ns = attr_str(a, &used, seg[i + 1], seglen[i + 1]);
			if (!a->ns)
				return -1;
			/* namespaces/NS/RES...: the resource in NS; namespaces/NS[/status|finalize]
			 * is the namespace itself */
			if (i + 2 < n && !SEG_IS(i + 2, "status") && !SEG_IS(i + 2, "finalize"))
				i += 2;
		}
	}
	int parts = n - i;
	if (parts >= 3)
		a->subresource = attr_str(a, &used, seg[i + 2], seglen[i + 2]);
	if (parts >= 2)
		a->name = attr_str(a, &used, seg[i + 1], seglen[i + 1]);
	if (parts >= 1)
		a->resource = attr_str(a, &used, seg[i], seglen[i]);
	if (!a->subresource || !a->name || !a->resource)
		return -1;
#undef SEG_IS
	if (!*a->name && strcmp(a->verb, "get") == 0) {
		int w = watch && (strcmp(watch, "1") == 0 || strcasecmp(watch, "true") == 0);
		a->verb = w ? "watch" : "list";
		size_t nl = 0;
		const char *nm = selector_name(field_selector, &nl);
		if (nm) {
			a->name = attr_str(a, &used, nm, nl);
			if (!a->name)
				return -1;
		}
	}
	if (!*a->name && strcmp(a->verb, "delete") == 0)
		a->verb = "deletecollection";
	return 0;
}

int sim_rbac_attrs_resource(struct sim_rbac_attrs *a, const char *verb, const char *group,
			    const char *resource, const char *subresource, const char *ns,
			    const char *name)
{
	size_t used = 0;
	const char **dst[] = {&a->verb, &a->group, &a->resource, &a->subresource, &a->ns, &a->name};
	const char *src[] = {verb, group, resource, subresource, ns, name};
	attrs_clear(a);
	a->resource_request = 1;
	for (size_t i = 0; i < sizeof(src) / sizeof(src[0]); i++) {
		const char *s = src[i] ? src[i] : "";
		*dst[i] = attr_str(a, &used, s, strlen(s));
		if (!*dst[i])
			return -1;
	}
	return 0;
}

int sim_rbac_attrs_nonresource(struct sim_rbac_attrs *a, const char *verb, const char *path)
{
	size_t used = 0;
	attrs_clear(a);
	a->verb = attr_str(a, &used, verb ? verb : "", verb ? strlen(verb) : 0);
	a->path = attr_str(a, &used, path ? path : "", path ? strlen(path) : 0);
	return a->verb && a->path ? 0 : -1;
}

/* ---- rule evaluation (upstream's RuleAllows and helpers) */

static int str_in(const cJSON *arr, const char *s, const char *all)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, arr)
	{
		if (!cJSON_IsString(e))
			continue;
		if ((all && strcmp(e->valuestring, all) == 0) || strcmp(e->valuestring, s) == 0)
			return 1;
	}
	return 0;
}

static int resource_matches(const cJSON *rule, const struct sim_rbac_attrs *a)
{
	char combined[600];
	const char *sub = a->subresource;
	if (*sub)
		snprintf(combined, sizeof(combined), "%s/%s", a->resource, sub);
	else
		snprintf(combined, sizeof(combined), "%s", a->resource);
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rule, "resources"))
	{
		if (!cJSON_IsString(e))
			continue;
		const char *r = e->valuestring;
		if (strcmp(r, "*") == 0 || strcmp(r, combined) == 0)
			return 1;
		/* "*" + "/sub": that subresource of every resource */
		if (*sub && strncmp(r, "*/", 2) == 0 && strcmp(r + 2, sub) == 0)
			return 1;
	}
	return 0;
}

static int nonresource_matches(const cJSON *rule, const char *path)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rule, "nonResourceURLs"))
	{
		if (!cJSON_IsString(e))
			continue;
		const char *u = e->valuestring;
		size_t l = strlen(u);
		if (strcmp(u, "*") == 0 || strcmp(u, path) == 0)
			return 1;
		if (l && u[l - 1] == '*') {
			while (l && u[l - 1] == '*')
				l--;
			if (strncmp(u, path, l) == 0)
				return 1;
		}
	}
	return 0;
}

static int rule_allows(const cJSON *rule, const struct sim_rbac_attrs *a)
{
	if (!str_in(cJSON_GetObjectItemCaseSensitive(rule, "verbs"), a->verb, "*"))
		return 0;
	if (!a->resource_request)
		return nonresource_matches(rule, a->path);
	if (!str_in(cJSON_GetObjectItemCaseSensitive(rule, "apiGroups"), a->group, "*") ||
	    !resource_matches(rule, a))
		return 0;
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(rule, "resourceNames");
	return cJSON_GetArraySize(names) == 0 || str_in(names, a->name, NULL);
}

/* upstream's appliesToUser: ns is the binding's namespace ("" for a ClusterRoleBinding) */
static int subject_applies(const cJSON *subj, const struct sim_rbac_user *u, const char *ns)
{
	const char *kind = kube_json_get_str(subj, "kind", NULL);
	const char *name = kube_json_get_str(subj, "name", NULL);
	if (!kind || !name)
		return 0;
	if (strcmp(kind, "User") == 0)
		return strcmp(u->name, name) == 0;
	if (strcmp(kind, "Group") == 0)
		return sim_rbac_user_in_group(u, name);
	if (strcmp(kind, "ServiceAccount") == 0) {
		const char *sns = kube_json_get_str(subj, "namespace", NULL);
		if (!sns || !*sns)
			sns = ns;
		if (!*sns)
			return 0;
		size_t pl = strlen(SA_PREFIX), nl = strlen(sns);
		return strncmp(u->name, SA_PREFIX, pl) == 0 && strncmp(u->name + pl, sns, nl) == 0 &&
		       u->name[pl + nl] == ':' && strcmp(u->name + pl + nl + 1, name) == 0;
	}
	return 0;
}

static const cJSON *find_named(const cJSON *arr, const char *ns, const char *name)
{
	const cJSON *o;
	cJSON_ArrayForEach(o, arr)
	{
		const char *n = kube_json_get_str(o, "metadata", "name", NULL);
		const char *ons = kube_json_get_str(o, "metadata", "namespace", NULL);
		if (n && strcmp(n, name) == 0 && (!ns || (ons && strcmp(ons, ns) == 0)))
			return o;
	}
	return NULL;
}

/* upstream's describeSubject */
static void describe_subject(char *buf, size_t len, const cJSON *subj, const char *bns)
{
	const char *kind = kube_json_get_str(subj, "kind", NULL);
	const char *name = kube_json_get_str(subj, "name", NULL);
	if (strcmp(kind, "ServiceAccount") == 0) {
		const char *sns = kube_json_get_str(subj, "namespace", NULL);
		snprintf(buf, len, "%s \"%s/%s\"", kind, name, sns && *sns ? sns : bns);
	} else {
		snprintf(buf, len, "%s \"%s\"", kind, name);
	}
}

struct eval {
	const struct sim_rbac_user *u;
	const struct sim_rbac_attrs *a;
	char *reason;
	size_t len;
	char errors[1024]; /* ", "-joined role lookup errors */
	int nerrors;
};

static void add_error(struct eval *ev, const char *kind, const char *name)
{
	size_t l = strlen(ev->errors);
	snprintf(ev->errors + l, sizeof(ev->errors) - l, "%s%s.%s \"%s\" not found",
		 ev->nerrors ? ", " : "", kind, RBAC_GROUP, name);
	ev->nerrors++;
}

/* Evaluates one binding (ns "" for a ClusterRoleBinding). 1 when it allows the request. */
static int visit_binding(struct eval *ev, const struct sim_rbac_policy *p, const cJSON *b,
			 const char *ns)
{
	const cJSON *subj, *subject = NULL;
	cJSON_ArrayForEach(subj, cJSON_GetObjectItemCaseSensitive(b, "subjects"))
	{
		if (subject_applies(subj, ev->u, ns)) {
			subject = subj;
			break;
		}
	}
	if (!subject)
		return 0;
	const char *rkind = kube_json_get_str(b, "roleRef", "kind", NULL);
	const char *rname = kube_json_get_str(b, "roleRef", "name", NULL);
	if (!rkind || !rname)
		return 0;
	const cJSON *role = NULL;
	int cluster = strcmp(rkind, "ClusterRole") == 0;
	if (cluster)
		role = find_named(p->cluster_roles, NULL, rname);
	else if (strcmp(rkind, "Role") == 0 && *ns)
		role = find_named(p->roles, ns, rname);
	else
		return 0;
	if (!role) {
		add_error(ev, cluster ? "clusterrole" : "role", rname);
		return 0;
	}
	const cJSON *rule;
	cJSON_ArrayForEach(rule, cJSON_GetObjectItemCaseSensitive(role, "rules"))
	{
		if (!rule_allows(rule, ev->a))
			continue;
		if (ev->reason && ev->len) {
			char sdesc[2 * SIM_RBAC_NAME_MAX];
			const char *bname = kube_json_get_str(b, "metadata", "name", NULL);
			describe_subject(sdesc, sizeof(sdesc), subject, ns);
			if (*ns)
				snprintf(ev->reason, ev->len,
					 "RBAC: allowed by RoleBinding \"%s/%s\" of %s \"%s\" to %s",
					 bname ? bname : "", ns, rkind, rname, sdesc);
			else
				snprintf(ev->reason, ev->len,
					 "RBAC: allowed by ClusterRoleBinding \"%s\" of %s \"%s\" to %s",
					 bname ? bname : "", rkind, rname, sdesc);
		}
		return 1;
	}
	return 0;
}

static int evaluate(struct eval *ev, const struct sim_rbac_policy *p)
{
	const cJSON *b;
	cJSON_ArrayForEach(b, p->cluster_role_bindings)
	{
		if (visit_binding(ev, p, b, ""))
			return 1;
	}
	if (!*ev->a->ns)
		return 0;
	cJSON_ArrayForEach(b, p->role_bindings)
	{
		const char *bns = kube_json_get_str(b, "metadata", "namespace", NULL);
		if (bns && strcmp(bns, ev->a->ns) == 0 && visit_binding(ev, p, b, bns))
			return 1;
	}
	return 0;
}

/* The bootstrap policy upstream's apiserver creates (the parts authenticated users rely on). */
static const char bootstrap_json[] =
	"{\"clusterRoles\":["
	"{\"metadata\":{\"name\":\"system:discovery\"},\"rules\":[{\"verbs\":[\"get\"],"
	"\"nonResourceURLs\":[\"/api\",\"/api/*\",\"/apis\",\"/apis/*\",\"/healthz\",\"/livez\","
	"\"/openapi\",\"/openapi/*\",\"/readyz\",\"/version\",\"/version/\"]}]},"
	"{\"metadata\":{\"name\":\"system:public-info-viewer\"},\"rules\":[{\"verbs\":[\"get\"],"
	"\"nonResourceURLs\":[\"/healthz\",\"/livez\",\"/readyz\",\"/version\",\"/version/\"]}]},"
	"{\"metadata\":{\"name\":\"system:basic-user\"},\"rules\":["
	"{\"verbs\":[\"create\"],\"apiGroups\":[\"authorization.k8s.io\"],"
	"\"resources\":[\"selfsubjectaccessreviews\",\"selfsubjectrulesreviews\"]},"
	"{\"verbs\":[\"create\"],\"apiGroups\":[\"authentication.k8s.io\"],"
	"\"resources\":[\"selfsubjectreviews\"]}]}],"
	"\"clusterRoleBindings\":["
	"{\"metadata\":{\"name\":\"system:discovery\"},\"roleRef\":{\"kind\":\"ClusterRole\","
	"\"name\":\"system:discovery\"},\"subjects\":[{\"kind\":\"Group\",\"name\":"
	"\"system:authenticated\"}]},"
	"{\"metadata\":{\"name\":\"system:public-info-viewer\"},\"roleRef\":{\"kind\":"
	"\"ClusterRole\",\"name\":\"system:public-info-viewer\"},\"subjects\":[{\"kind\":\"Group\","
	"\"name\":\"system:authenticated\"},{\"kind\":\"Group\",\"name\":"
	"\"system:unauthenticated\"}]},"
	"{\"metadata\":{\"name\":\"system:basic-user\"},\"roleRef\":{\"kind\":\"ClusterRole\","
	"\"name\":\"system:basic-user\"},\"subjects\":[{\"kind\":\"Group\",\"name\":"
	"\"system:authenticated\"}]}]}";

static cJSON *bootstrap;
static pthread_once_t bootstrap_once = PTHREAD_ONCE_INIT;

static void bootstrap_init(void)
{
	bootstrap = cJSON_Parse(bootstrap_json);
}

static struct sim_rbac_policy bootstrap_policy(void)
{
	pthread_once(&bootstrap_once, bootstrap_init);
	struct sim_rbac_policy boot = {
		.cluster_roles = cJSON_GetObjectItemCaseSensitive(bootstrap, "clusterRoles"),
		.cluster_role_bindings =
			cJSON_GetObjectItemCaseSensitive(bootstrap, "clusterRoleBindings"),
	};
	return boot;
}

int sim_rbac_authorize_policy(const struct sim_rbac_policy *p, const struct sim_rbac_user *u,
			      const struct sim_rbac_attrs *a, char *reason, size_t len)
{
	struct eval ev = {.u = u, .a = a, .reason = reason, .len = len};
	if (reason && len)
		reason[0] = '\0';
	struct sim_rbac_policy boot = bootstrap_policy();
	if (evaluate(&ev, &boot) || evaluate(&ev, p))
		return 1;
	if (reason && len && ev.nerrors)
		snprintf(reason, len, ev.nerrors > 1 ? "RBAC: [%s]" : "RBAC: %s", ev.errors);
	return 0;
}

static cJSON *list_rbac(struct sim_store *s, const char *resource, const char *ns)
{
	cJSON *items = NULL, *status = NULL;
	int rc = sim_store_list(s, RBAC_GROUP, resource, ns, NULL, NULL, &items, NULL, &status);
	cJSON_Delete(status);
	if (rc != 200) {
		cJSON_Delete(items);
		return rc == 404 ? cJSON_CreateArray() : NULL;
	}
	return items;
}

static void policy_free(struct sim_rbac_policy *p)
{
	cJSON_Delete((cJSON *)p->cluster_roles);
	cJSON_Delete((cJSON *)p->cluster_role_bindings);
	cJSON_Delete((cJSON *)p->roles);
	cJSON_Delete((cJSON *)p->role_bindings);
}

/* The store's RBAC objects: every cluster one, the namespaced ones of ns ("" = none).
 * 0, or -1 on ENOMEM. */
static int policy_load(struct sim_store *s, const char *ns, struct sim_rbac_policy *p)
{
	p->cluster_role_bindings = list_rbac(s, "clusterrolebindings", NULL);
	p->cluster_roles = list_rbac(s, "clusterroles", NULL);
	p->role_bindings = *ns ? list_rbac(s, "rolebindings", ns) : cJSON_CreateArray();
	p->roles = *ns ? list_rbac(s, "roles", ns) : cJSON_CreateArray();
	if (p->cluster_role_bindings && p->cluster_roles && p->role_bindings && p->roles)
		return 0;
	policy_free(p);
	return -1;
}

int sim_rbac_authorize(struct sim_store *s, const struct sim_rbac_user *u,
		       const struct sim_rbac_attrs *a, char *reason, size_t len)
{
	if (sim_rbac_user_is_superuser(u)) {
		if (reason && len)
			snprintf(reason, len, "%s", "");
		return 1;
	}
	struct sim_rbac_policy p;
	if (policy_load(s, a->ns, &p) != 0)
		return -1;
	int rc = sim_rbac_authorize_policy(&p, u, a, reason, len);
	policy_free(&p);
	return rc;
}

/* ---- the 403 (upstream's responsewriters.forbiddenMessage + errors.NewForbidden) */

cJSON *sim_rbac_forbidden(const struct sim_rbac_user *u, const struct sim_rbac_attrs *a,
			  const char *reason)
{
	size_t cap = strlen(a->path) + strlen(a->resource) + strlen(a->subresource) +
		     strlen(a->group) + strlen(a->ns) + 2 * strlen(a->name) + strlen(u->name) +
		     (reason ? strlen(reason) : 0) + 256;
	char *msg = malloc(cap);
	if (!msg)
		return NULL;
	size_t l = 0;
	const char *sep = a->resource_request && *a->subresource ? "/" : "";
	if (!a->resource_request) {
		l = (size_t)snprintf(msg, cap, "forbidden: User \"%s\" cannot %s path \"%s\"",
				     u->name, a->verb, a->path);
	} else {
		/* the qualified resource: "pods", "phoenixservices.phoenix.fpai.io" */
		l = (size_t)snprintf(msg, cap, "%s%s%s", a->resource, *a->group ? "." : "",
				     a->group);
		if (*a->name)
			l += (size_t)snprintf(msg + l, cap - l, " \"%s\"", a->name);
		l += (size_t)snprintf(msg + l, cap - l,
				      " is forbidden: User \"%s\" cannot %s resource \"%s%s%s\" in "
				      "API group \"%s\"",
				      u->name, a->verb, a->resource, sep, a->subresource, a->group);
		if (*a->ns)
			l += (size_t)snprintf(msg + l, cap - l, " in the namespace \"%s\"", a->ns);
		else
			l += (size_t)snprintf(msg + l, cap - l, " at the cluster scope");
	}
	if (reason && *reason)
		snprintf(msg + l, cap - l, ": %s", reason);
	cJSON *details = cJSON_CreateObject();
	if (details && a->resource_request) {
		if (*a->name)
			cJSON_AddStringToObject(details, "name", a->name);
		if (*a->group)
			cJSON_AddStringToObject(details, "group", a->group);
		cJSON_AddStringToObject(details, "kind", a->resource);
	}
	cJSON *st = details ? sim_status_new(403, "Forbidden", msg, details) : NULL;
	free(msg);
	return st;
}

/* ---- impersonation and access reviews */

static cJSON *bad_request(const char *msg)
{
	return sim_status_new(400, "BadRequest", msg, NULL);
}

/* 0 when u may impersonate (resource, ns, name); else 403 or 400 with *status. */
static int may_impersonate(struct sim_store *s, const struct sim_rbac_user *u,
			   const char *resource, const char *ns, const char *name,
			   cJSON **status)
{
	struct sim_rbac_attrs a;
	char reason[512];
	if (sim_rbac_user_is_superuser(u))
		return 0;
	if (sim_rbac_attrs_resource(&a, "impersonate", "", resource, NULL, ns, name) != 0) {
		*status = bad_request("impersonated name too long");
		return 400;
	}
	if (sim_rbac_authorize(s, u, &a, reason, sizeof(reason)) == 1)
		return 0;
	*status = sim_rbac_forbidden(u, &a, reason);
	return 403;
}

int sim_rbac_impersonate(struct sim_store *s, struct sim_rbac_user *u, const char *user,
			 const char *const *groups, int ngroups, cJSON **status)
{
	char ns[SIM_RBAC_NAME_MAX], name[SIM_RBAC_NAME_MAX];
	struct sim_rbac_user imp;
	*status = NULL;
	if (!user || !*user) {
		if (ngroups == 0)
			return 0;
		*status = bad_request("requested impersonation of groups without a user");
		return 400;
	}
	int sa = sim_rbac_split_sa(user, ns, name);
	int rc = sa ? may_impersonate(s, u, "serviceaccounts", ns, name, status)
		    : may_impersonate(s, u, "users", NULL, user, status);
	for (int i = 0; i < ngroups && rc == 0; i++)
		rc = may_impersonate(s, u, "groups", NULL, groups[i], status);
	if (rc)
		return rc;
	if (sa && ngroups == 0) {
		if (sim_rbac_user_sa(&imp, ns, name) != 0)
			goto too_long;
	} else {
		if (sim_rbac_user_set(&imp, user) != 0)
			goto too_long;
		for (int i = 0; i < ngroups; i++)
			if (sim_rbac_user_add_group(&imp, groups[i]) != 0)
				goto too_long;
		if (strcmp(user, "system:anonymous") != 0 &&
		    !sim_rbac_user_in_group(&imp, "system:unauthenticated") &&
		    sim_rbac_user_add_group(&imp, "system:authenticated") != 0)
			goto too_long;
	}
	*u = imp;
	return 0;
too_long:
	*status = bad_request("too many or too long impersonated names");
	return 400;
}

/* The answer to an access review of `kind` for u (see sim_rbac_access_review). */
static cJSON *access_review_as(struct sim_store *s, const struct sim_rbac_user *u,
			       const cJSON *review, const char *kind, cJSON **status)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(review, "spec");
	const cJSON *ra = cJSON_GetObjectItemCaseSensitive(spec, "resourceAttributes");
	const cJSON *na = cJSON_GetObjectItemCaseSensitive(spec, "nonResourceAttributes");
	struct sim_rbac_attrs a;
	char reason[512];
	*status = NULL;
	if (!cJSON_IsObject(ra) == !cJSON_IsObject(na)) {
		*status = bad_request("exactly one of spec.resourceAttributes and "
				      "spec.nonResourceAttributes must be set");
		return NULL;
	}
	int rc = ra ? sim_rbac_attrs_resource(&a, kube_json_get_str(ra, "verb", NULL),
					      kube_json_get_str(ra, "group", NULL),
					      kube_json_get_str(ra, "resource", NULL),
					      kube_json_get_str(ra, "subresource", NULL),
					      kube_json_get_str(ra, "namespace", NULL),
					      kube_json_get_str(ra, "name", NULL))
		    : sim_rbac_attrs_nonresource(&a, kube_json_get_str(na, "verb", NULL),
						 kube_json_get_str(na, "path", NULL));
	if (rc != 0) {
		*status = bad_request("the review's attributes are too long");
		return NULL;
	}
	int allowed = sim_rbac_authorize(s, u, &a, reason, sizeof(reason));
	cJSON *out = cJSON_CreateObject();
	cJSON *st = cJSON_CreateObject();
	if (!out || !st) {
		cJSON_Delete(out);
		cJSON_Delete(st);
		return NULL;
	}
	cJSON_AddStringToObject(out, "kind", kind);
	cJSON_AddStringToObject(out, "apiVersion", "authorization.k8s.io/v1");
	cJSON *md = cJSON_GetObjectItemCaseSensitive(review, "metadata");
	cJSON_AddItemToObject(out, "metadata",
			      cJSON_IsObject(md) ? cJSON_Duplicate(md, 1) : cJSON_CreateObject());
	cJSON_AddItemToObject(out, "spec", cJSON_Duplicate(spec, 1));
	cJSON_AddBoolToObject(st, "allowed", allowed == 1);
	if (*reason)
		cJSON_AddStringToObject(st, "reason", reason);
	if (allowed < 0)
		cJSON_AddStringToObject(st, "evaluationError", "out of memory");
	cJSON_AddItemToObject(out, "status", st);
	return out;
}

cJSON *sim_rbac_access_review(struct sim_store *s, const struct sim_rbac_user *u,
			      const cJSON *review, cJSON **status)
{
	return access_review_as(s, u, review, "SelfSubjectAccessReview", status);
}

cJSON *sim_rbac_subject_access_review(struct sim_store *s, const cJSON *review, cJSON **status)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(review, "spec");
	const cJSON *groups = cJSON_GetObjectItemCaseSensitive(spec, "groups");
	const char *user = kube_json_get_str(spec, "user", NULL);
	const cJSON *g;
	struct sim_rbac_user u;

	*status = NULL;
	if ((!user || !*user) && !cJSON_IsArray(groups)) {
		*status = bad_request("at least one of spec.user and spec.groups must be set");
		return NULL;
	}
	if (sim_rbac_user_set(&u, user ? user : "") != 0) {
		*status = bad_request("spec.user is too long");
		return NULL;
	}
	cJSON_ArrayForEach(g, groups) {
		if (cJSON_IsString(g) && sim_rbac_user_add_group(&u, g->valuestring) != 0) {
			*status = bad_request("spec.groups: too many or too long");
			return NULL;
		}
	}
	if (sim_rbac_user_is_superuser(&u)) {
		/* As upstream: system:masters is allowed without an RBAC evaluation. */
		cJSON *out = access_review_as(s, &u, review, "SubjectAccessReview", status);
		cJSON *st = cJSON_GetObjectItemCaseSensitive(out, "status");
		if (st)
			cJSON_ReplaceItemInObjectCaseSensitive(st, "allowed", cJSON_CreateTrue());
		return out;
	}
	return access_review_as(s, &u, review, "SubjectAccessReview", status);
}

cJSON *sim_rbac_token_review(struct sim_rbac_tokens *t, const char *admin_token,
			     const cJSON *review, cJSON **status)
{
	const char *token = kube_json_get_str(review, "spec", "token", NULL);
	struct sim_rbac_user u;
	int known = 0;

	*status = NULL;
	if (!token || !*token) {
		*status = bad_request("spec.token: Required value");
		return NULL;
	}
	if (admin_token && strcmp(token, admin_token) == 0) {
		sim_rbac_user_admin(&u);
		known = 1;
	} else {
		known = sim_rbac_tokens_lookup(t, token, &u);
	}
	cJSON *out = cJSON_CreateObject(), *st = cJSON_CreateObject(), *user = NULL, *gs;
	if (!out || !st)
		goto oom;
	cJSON_AddStringToObject(out, "kind", "TokenReview");
	cJSON_AddStringToObject(out, "apiVersion", "authentication.k8s.io/v1");
	cJSON_AddItemToObject(out, "metadata", cJSON_CreateObject());
	/* Upstream never echoes the token back. */
	cJSON_AddItemToObject(out, "spec", cJSON_CreateObject());
	cJSON_AddBoolToObject(st, "authenticated", known);
	if (!known) {
		cJSON_AddStringToObject(st, "error", "invalid bearer token");
		cJSON_AddItemToObject(out, "status", st);
		return out;
	}
	user = cJSON_AddObjectToObject(st, "user");
	gs = user ? cJSON_AddArrayToObject(user, "groups") : NULL;
	if (!gs)
		goto oom;
	cJSON_AddStringToObject(user, "username", u.name);
	for (int i = 0; i < u.ngroups; i++)
		cJSON_AddItemToArray(gs, cJSON_CreateString(u.groups[i]));
	cJSON_AddItemToObject(out, "status", st);
	return out;
oom:
	cJSON_Delete(out);
	cJSON_Delete(st);
	return NULL;
}

/* Appends the rules of the role a binding that applies to u names (ns "" for a
 * ClusterRoleBinding) to res / nonres, upstream's split. */
static void collect_binding(const struct sim_rbac_policy *p, const struct sim_rbac_user *u,
			    const cJSON *b, const char *ns, cJSON *res, cJSON *nonres)
{
	const cJSON *subj, *rule;
	int applies = 0;
	cJSON_ArrayForEach(subj, cJSON_GetObjectItemCaseSensitive(b, "subjects"))
		applies |= subject_applies(subj, u, ns);
	const char *rkind = kube_json_get_str(b, "roleRef", "kind", NULL);
	const char *rname = kube_json_get_str(b, "roleRef", "name", NULL);
	if (!applies || !rkind || !rname)
		return;
	const cJSON *role = strcmp(rkind, "ClusterRole") == 0 ? find_named(p->cluster_roles, NULL, rname)
			    : strcmp(rkind, "Role") == 0 && *ns ? find_named(p->roles, ns, rname)
							      : NULL;
	cJSON_ArrayForEach(rule, cJSON_GetObjectItemCaseSensitive(role, "rules"))
	{
		int nr = cJSON_GetObjectItemCaseSensitive(rule, "nonResourceURLs") != NULL;
		cJSON *r = cJSON_CreateObject();
		static const char *const fields[] = {"verbs", "apiGroups", "resources",
						     "resourceNames", "nonResourceURLs"};
		for (size_t i = 0; r && i < sizeof(fields) / sizeof(fields[0]); i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(rule, fields[i]);
			if (v && (i == 0 || (nr ? i == 4 : i < 4)))
				cJSON_AddItemToObject(r, fields[i], cJSON_Duplicate(v, 1));
		}
		cJSON_AddItemToArray(nr ? nonres : res, r);
	}
}

static void collect_policy(const struct sim_rbac_policy *p, const struct sim_rbac_user *u,
			   const char *ns, cJSON *res, cJSON *nonres)
{
	const cJSON *b;
	cJSON_ArrayForEach(b, p->cluster_role_bindings)
		collect_binding(p, u, b, "", res, nonres);
	cJSON_ArrayForEach(b, p->role_bindings)
	{
		const char *bns = kube_json_get_str(b, "metadata", "namespace", NULL);
		if (*ns && bns && strcmp(bns, ns) == 0)
			collect_binding(p, u, b, bns, res, nonres);
	}
}

cJSON *sim_rbac_rules_review(struct sim_store *s, const struct sim_rbac_user *u,
			     const cJSON *review, cJSON **status)
{
	const char *ns = kube_json_get_str(review, "spec", "namespace", NULL);
	struct sim_rbac_policy p;
	*status = NULL;
	if (!ns)
		ns = "";
	if (policy_load(s, ns, &p) != 0)
		return NULL;
	cJSON *out = cJSON_CreateObject();
	cJSON *st = cJSON_AddObjectToObject(out, "status");
	cJSON *res = cJSON_AddArrayToObject(st, "resourceRules");
	cJSON *nonres = cJSON_AddArrayToObject(st, "nonResourceRules");
	if (!res || !nonres) {
		cJSON_Delete(out);
		policy_free(&p);
		return NULL;
	}
	cJSON_AddStringToObject(out, "kind", "SelfSubjectRulesReview");
	cJSON_AddStringToObject(out, "apiVersion", "authorization.k8s.io/v1");
	cJSON_AddItemToObject(out, "spec", cJSON_CreateObject());
	cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(out, "spec"), "namespace", ns);
	if (sim_rbac_user_is_superuser(u)) {
		/* upstream: system:masters is bound to cluster-admin */
		cJSON_AddItemToArray(res, cJSON_Parse("{\"verbs\":[\"*\"],\"apiGroups\":[\"*\"],"
						      "\"resources\":[\"*\"]}"));
		cJSON_AddItemToArray(nonres, cJSON_Parse("{\"verbs\":[\"*\"],"
							 "\"nonResourceURLs\":[\"*\"]}"));
	}
	struct sim_rbac_policy boot = bootstrap_policy();
	collect_policy(&boot, u, ns, res, nonres);
	collect_policy(&p, u, ns, res, nonres);
	cJSON_AddBoolToObject(st, "incomplete", 0);
	policy_free(&p);
	return out;
}

cJSON *sim_rbac_self_review(const struct sim_rbac_user *u)
{
	cJSON *out = cJSON_CreateObject();
	cJSON *info = cJSON_CreateObject();
	cJSON *groups = cJSON_CreateArray();
	cJSON *md = cJSON_CreateObject();
	cJSON *st = cJSON_CreateObject();
	if (!out || !info || !groups || !md || !st) {
		cJSON_Delete(out);
		cJSON_Delete(info);
		cJSON_Delete(groups);
		cJSON_Delete(md);
		cJSON_Delete(st);
		return NULL;
	}
	for (int i = 0; i < u->ngroups; i++)
		cJSON_AddItemToArray(groups, cJSON_CreateString(u->groups[i]));
	cJSON_AddStringToObject(out, "kind", "SelfSubjectReview");
	cJSON_AddStringToObject(out, "apiVersion", "authentication.k8s.io/v1");
	cJSON_AddItemToObject(out, "metadata", md);
	cJSON_AddStringToObject(info, "username", u->name);
	cJSON_AddItemToObject(info, "groups", groups);
	cJSON_AddItemToObject(st, "userInfo", info);
	cJSON_AddItemToObject(out, "status", st);
	return out;
}

/* ---- service-account tokens */

struct token {
	char *token, *ns, *name;
};

struct sim_rbac_tokens {
	pthread_mutex_t mu;
	struct token *v;
	size_t n, cap;
};

int sim_rbac_tokens_new(struct sim_rbac_tokens **out)
{
	struct sim_rbac_tokens *t = calloc(1, sizeof(*t));
	if (!t)
		return KUBE_ENOMEM;
	pthread_mutex_init(&t->mu, NULL);
	*out = t;
	return 0;
}

static void token_free(struct token *k)
{
	free(k->token);
	free(k->ns);
	free(k->name);
}

void sim_rbac_tokens_clear(struct sim_rbac_tokens *t)
{
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->n; i++)
		token_free(&t->v[i]);
	t->n = 0;
	pthread_mutex_unlock(&t->mu);
}

void sim_rbac_tokens_free(struct sim_rbac_tokens *t)
{
	if (!t)
		return;
	sim_rbac_tokens_clear(t);
	free(t->v);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

int sim_rbac_tokens_mint(struct sim_rbac_tokens *t, const char *ns, const char *name,
			 char **token)
{
	struct sim_rbac_user u;
	*token = NULL;
	if (!ns || !name || !*ns || !*name || strchr(ns, ':') || strchr(name, ':') ||
	    sim_rbac_user_sa(&u, ns, name) != 0)
		return KUBE_EINVAL;
	struct token k = {sim_tls_token(), strdup(ns), strdup(name)};
	char *copy = k.token ? strdup(k.token) : NULL;
	if (!k.token || !k.ns || !k.name || !copy) {
		token_free(&k);
		free(copy);
		return KUBE_ENOMEM;
	}
	pthread_mutex_lock(&t->mu);
	if (t->n == t->cap) {
		size_t ncap = t->cap ? 2 * t->cap : 8;
		struct token *nv = realloc(t->v, ncap * sizeof(*nv));
		if (!nv) {
			pthread_mutex_unlock(&t->mu);
			token_free(&k);
			free(copy);
			return KUBE_ENOMEM;
		}
		t->v = nv;
		t->cap = ncap;
	}
	t->v[t->n++] = k;
	pthread_mutex_unlock(&t->mu);
	*token = copy;
	return 0;
}

int sim_rbac_tokens_lookup(struct sim_rbac_tokens *t, const char *token,
			   struct sim_rbac_user *u)
{
	int found = 0;
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->n && !found; i++) {
		if (strcmp(t->v[i].token, token) == 0)
			found = sim_rbac_user_sa(u, t->v[i].ns, t->v[i].name) == 0;
	}
	pthread_mutex_unlock(&t->mu);
	return found;
}

cJSON *sim_rbac_token_request(struct sim_rbac_tokens *t, struct sim_store *s, const char *ns,
			      const char *name, const cJSON *body, cJSON **status)
{
	cJSON *sa = NULL;
	*status = NULL;
	int rc = sim_store_get(s, "", "serviceaccounts", ns, name, &sa, status);
	cJSON_Delete(sa);
	if (rc != 200)
		return NULL;
	double exp = 0;
	if (!kube_json_get_num(body, &exp, "spec", "expirationSeconds", NULL) || exp <= 0)
		exp = 3600;
	else if (exp < 600)
		exp = 600; /* the apiserver's minimum */
	char *token = NULL;
	rc = sim_rbac_tokens_mint(t, ns, name, &token);
	if (rc != 0) {
		if (rc == KUBE_EINVAL)
			*status = bad_request("invalid service account name");
		return NULL;
	}
	char now[32], until[32];
	sim_now_rfc3339(now, sizeof(now));
	kube_time_format((int64_t)time(NULL) + (int64_t)exp, until, sizeof(until));
	cJSON *out = cJSON_CreateObject();
	cJSON *md = cJSON_AddObjectToObject(out, "metadata");
	cJSON *spec = cJSON_AddObjectToObject(out, "spec");
	cJSON *st = cJSON_AddObjectToObject(out, "status");
	const cJSON *aud = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(body, "spec"), "audiences");
	cJSON *audiences = cJSON_GetArraySize(aud) > 0 ? cJSON_Duplicate(aud, 1)
						      : cJSON_CreateArray();
	if (audiences && cJSON_GetArraySize(audiences) == 0)
		cJSON_AddItemToArray(audiences,
				     cJSON_CreateString("https://kubernetes.default.svc.cluster.local"));
	if (!out || !md || !spec || !st || !audiences) {
		cJSON_Delete(out);
		cJSON_Delete(audiences);
		free(token);
		return NULL;
	}
	cJSON_AddStringToObject(out, "kind", "TokenRequest");
	cJSON_AddStringToObject(out, "apiVersion", "authentication.k8s.io/v1");
	cJSON_AddStringToObject(md, "name", name);
	cJSON_AddStringToObject(md, "namespace", ns);
	cJSON_AddStringToObject(md, "creationTimestamp", now);
	cJSON_AddItemToObject(spec, "audiences", audiences);
	cJSON_AddNumberToObject(spec, "expirationSeconds", exp);
	cJSON_AddNullToObject(spec, "boundObjectRef");
	cJSON_AddStringToObject(st, "token", token);
	cJSON_AddStringToObject(st, "expirationTimestamp", until);
	free(token);
	return out;
}
