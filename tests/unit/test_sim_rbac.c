/* Tests for kubesim's RBAC: identities, request attributes (the verb mapping), rule matching
 * (wildcards, subresources, resourceNames, nonResourceURLs), binding scopes and subjects, the
 * bootstrap policy, upstream's allow/deny reasons and 403 messages, the store-backed authorizer
 * and the token table. Test JSON uses single quotes; J() turns them into double quotes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_testutil.h"

#include "kube_error.h"
#include "kube_json.h"
#include "sim_rbac.h"
#include "sim_registry.h"
#include "sim_store.h"

#define SA "system:serviceaccount:phoenix-system:phoenix-operator"

/* ---- request attributes */

struct attr_case {
	const char *method, *path, *watch, *fs;
	int resource_request;
	const char *verb, *group, *resource, *sub, *ns, *name;
};

static void test_attrs_verb_mapping(void **state)
{
	static const struct attr_case cases[] = {
		{"GET", "/api/v1/namespaces/default/pods", NULL, NULL, 1, "list", "", "pods", "",
		 "default", ""},
		{"GET", "/api/v1/namespaces/default/pods", "true", NULL, 1, "watch", "", "pods", "",
		 "default", ""},
		{"GET", "/api/v1/namespaces/default/pods", "1", "metadata.name=x", 1, "watch", "",
		 "pods", "", "default", "x"},
		{"GET", "/api/v1/pods", NULL, "spec.nodeName=n,metadata.name==y", 1, "list", "",
		 "pods", "", "", "y"},
		{"GET", "/api/v1/pods", NULL, "metadata.name!=y", 1, "list", "", "pods", "", "", ""},
		{"GET", "/api/v1/watch/namespaces/ns/pods", NULL, NULL, 1, "watch", "", "pods", "",
		 "ns", ""},
		{"GET", "/api/v1/namespaces/default/pods/x", NULL, NULL, 1, "get", "", "pods", "",
		 "default", "x"},
		{"GET", "/api/v1/namespaces/default/pods/x/log", NULL, NULL, 1, "get", "", "pods",
		 "log", "default", "x"},
		{"POST", "/api/v1/namespaces/default/pods", NULL, NULL, 1, "create", "", "pods", "",
		 "default", ""},
		{"PUT", "/apis/apps/v1/namespaces/a/deployments/d/scale", NULL, NULL, 1, "update",
		 "apps", "deployments", "scale", "a", "d"},
		{"PATCH", "/apis/phoenix.fpai.io/v1alpha1/namespaces/a/phoenixservices/h/status",
		 NULL, NULL, 1, "patch", "phoenix.fpai.io", "phoenixservices", "status", "a", "h"},
		{"DELETE", "/api/v1/namespaces/a/pods/p", NULL, NULL, 1, "delete", "", "pods", "",
		 "a", "p"},
		{"DELETE", "/api/v1/namespaces/a/pods", NULL, NULL, 1, "deletecollection", "", "pods",
		 "", "a", ""},
		/* namespaces/NAME is the namespace object, in its own namespace (as upstream) */
		{"GET", "/api/v1/namespaces/a", NULL, NULL, 1, "get", "", "namespaces", "", "a", "a"},
		{"PUT", "/api/v1/namespaces/a/finalize", NULL, NULL, 1, "update", "", "namespaces",
		 "finalize", "a", "a"},
		{"GET", "/api/v1/namespaces", NULL, NULL, 1, "list", "", "namespaces", "", "", ""},
		{"GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin", NULL, NULL, 1, "get",
		 "rbac.authorization.k8s.io", "clusterroles", "", "", "admin"},
		/* discovery and other paths are non-resource requests */
		{"GET", "/api", NULL, NULL, 0, "get", "", "", "", "", ""},
		{"GET", "/api/v1", NULL, NULL, 0, "get", "", "", "", "", ""},
		{"GET", "/apis/apps/v1", NULL, NULL, 0, "get", "", "", "", "", ""},
		{"POST", "/sim/v1/tokens", NULL, NULL, 0, "post", "", "", "", "", ""},
		{"GET", "/version", NULL, NULL, 0, "get", "", "", "", "", ""},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct attr_case *c = &cases[i];
		struct sim_rbac_attrs a;
		assert_int_equal(sim_rbac_attrs_parse(&a, c->method, c->path, c->watch, c->fs), 0);
		if (a.resource_request != c->resource_request || strcmp(a.verb, c->verb) != 0 ||
		    strcmp(a.group, c->group) != 0 || strcmp(a.resource, c->resource) != 0 ||
		    strcmp(a.subresource, c->sub) != 0 || strcmp(a.ns, c->ns) != 0 ||
		    strcmp(a.name, c->name) != 0 || strcmp(a.path, c->path) != 0)
			fail_msg("%s %s: got rr=%d verb=%s group=%s res=%s sub=%s ns=%s name=%s",
				 c->method, c->path, a.resource_request, a.verb, a.group,
				 a.resource, a.subresource, a.ns, a.name);
	}
}

/* ---- policy evaluation */

/* A policy from single-quoted JSON arrays (NULL = none). */
struct pol {
	cJSON *cr, *crb, *r, *rb;
	struct sim_rbac_policy p;
};

static void pol_init(struct pol *p, const char *cr, const char *crb, const char *r,
		     const char *rb)
{
	p->cr = J(cr);
	p->crb = J(crb);
	p->r = J(r);
	p->rb = J(rb);
	p->p.cluster_roles = p->cr;
	p->p.cluster_role_bindings = p->crb;
	p->p.roles = p->r;
	p->p.role_bindings = p->rb;
}

static void pol_free(struct pol *p)
{
	cJSON_Delete(p->cr);
	cJSON_Delete(p->crb);
	cJSON_Delete(p->r);
	cJSON_Delete(p->rb);
}

static int can(const struct pol *p, const struct sim_rbac_user *u, const char *verb,
	       const char *group, const char *res, const char *sub, const char *ns,
	       const char *name)
{
	struct sim_rbac_attrs a;
	assert_int_equal(sim_rbac_attrs_resource(&a, verb, group, res, sub, ns, name), 0);
	return sim_rbac_authorize_policy(&p->p, u, &a, NULL, 0);
}

static int can_path(const struct pol *p, const struct sim_rbac_user *u, const char *verb,
		    const char *path)
{
	struct sim_rbac_attrs a;
	assert_int_equal(sim_rbac_attrs_nonresource(&a, verb, path), 0);
	return sim_rbac_authorize_policy(&p->p, u, &a, NULL, 0);
}

static struct sim_rbac_user sa_user(const char *ns, const char *name)
{
	struct sim_rbac_user u;
	assert_int_equal(sim_rbac_user_sa(&u, ns, name), 0);
	return u;
}

/* The operator's rendered RBAC (manifests/rbac/rbac.yaml), abridged. */
#define OP_CR                                                                                 \
	"[{'metadata':{'name':'phoenix-operator'},'rules':["                                   \
	"{'apiGroups':['phoenix.fpai.io'],'resources':['phoenixservices'],"                    \
	"'verbs':['list','watch','patch']},"                                                   \
	"{'apiGroups':['phoenix.fpai.io'],'resources':['phoenixservices/status'],"             \
	"'verbs':['patch']},"                                                                  \
	"{'apiGroups':[''],'resources':['pods'],'verbs':['list','watch','create','patch',"     \
	"'delete']}]}]"
#define OP_CRB                                                                                \
	"[{'metadata':{'name':'phoenix-operator'},'roleRef':{'kind':'ClusterRole',"            \
	"'name':'phoenix-operator'},'subjects':[{'kind':'ServiceAccount',"                    \
	"'name':'phoenix-operator','namespace':'phoenix-system'}]}]"
#define OP_ROLE                                                                               \
	"[{'metadata':{'name':'le','namespace':'phoenix-system'},'rules':["                    \
	"{'apiGroups':['coordination.k8s.io'],'resources':['leases'],"                         \
	"'verbs':['get','create','update']}]}]"
/* no namespace in the subject: defaults to the binding's */
#define OP_RB                                                                                 \
	"[{'metadata':{'name':'le','namespace':'phoenix-system'},'roleRef':{'kind':'Role',"    \
	"'name':'le'},'subjects':[{'kind':'ServiceAccount','name':'phoenix-operator'}]}]"

static void test_clusterrole_vs_role_bindings(void **state)
{
	struct pol p;
	struct sim_rbac_user u = sa_user("phoenix-system", "phoenix-operator");
	struct sim_rbac_user other = sa_user("default", "phoenix-operator");
	(void)state;
	pol_init(&p, OP_CR, OP_CRB, OP_ROLE, OP_RB);
	/* the ClusterRoleBinding: every namespace and the cluster scope */
	assert_true(can(&p, &u, "list", "", "pods", NULL, "default", NULL));
	assert_true(can(&p, &u, "watch", "", "pods", NULL, NULL, NULL));
	assert_true(can(&p, &u, "delete", "", "pods", NULL, "x", "p1"));
	assert_false(can(&p, &u, "get", "", "pods", NULL, "default", "p1"));
	assert_false(can(&p, &u, "update", "", "pods", NULL, "default", "p1"));
	assert_false(can(&p, &u, "list", "", "secrets", NULL, "default", NULL));
	assert_false(can(&p, &u, "list", "apps", "pods", NULL, "default", NULL));
	/* the RoleBinding: only in its namespace */
	assert_true(can(&p, &u, "get", "coordination.k8s.io", "leases", NULL, "phoenix-system",
			"x"));
	assert_false(can(&p, &u, "get", "coordination.k8s.io", "leases", NULL, "default", "x"));
	assert_false(can(&p, &u, "get", "coordination.k8s.io", "leases", NULL, NULL, "x"));
	assert_false(can(&p, &u, "delete", "coordination.k8s.io", "leases", NULL,
			 "phoenix-system", "x"));
	/* same SA name in another namespace: nothing */
	assert_false(can(&p, &other, "list", "", "pods", NULL, "default", NULL));
	assert_false(can(&p, &other, "get", "coordination.k8s.io", "leases", NULL,
			 "phoenix-system", "x"));
	pol_free(&p);
}

static void test_rolebinding_to_clusterrole_is_scoped(void **state)
{
	struct pol p;
	struct sim_rbac_user u = sa_user("team", "app");
	(void)state;
	pol_init(&p, "[{'metadata':{'name':'view'},'rules':[{'apiGroups':['*'],'resources':['*'],"
		     "'verbs':['get','list','watch']}]}]",
		 "[]", "[]",
		 "[{'metadata':{'name':'v','namespace':'team'},'roleRef':{'kind':'ClusterRole',"
		 "'name':'view'},'subjects':[{'kind':'ServiceAccount','name':'app'}]},"
		 /* a binding in another namespace naming this SA does not leak into team's */
		 "{'metadata':{'name':'v2','namespace':'prod'},'roleRef':{'kind':'ClusterRole',"
		 "'name':'view'},'subjects':[{'kind':'ServiceAccount','name':'app',"
		 "'namespace':'team'}]}]");
	assert_true(can(&p, &u, "list", "apps", "deployments", NULL, "team", NULL));
	assert_true(can(&p, &u, "get", "", "secrets", NULL, "prod", "s"));
	assert_false(can(&p, &u, "list", "", "pods", NULL, "other", NULL));
	assert_false(can(&p, &u, "list", "", "pods", NULL, NULL, NULL)); /* cluster scope */
	assert_false(can(&p, &u, "create", "", "pods", NULL, "team", NULL));
	pol_free(&p);
}

static void test_subjects_users_and_groups(void **state)
{
	struct pol p;
	struct sim_rbac_user alice, bob, sa = sa_user("ci", "builder");
	(void)state;
	sim_rbac_user_set(&alice, "alice");
	sim_rbac_user_add_group(&alice, "devs");
	sim_rbac_user_set(&bob, "bob");
	pol_init(&p, "[{'metadata':{'name':'r'},'rules':[{'apiGroups':[''],"
		     "'resources':['configmaps'],'verbs':['*']}]}]",
		 "[{'metadata':{'name':'g'},'roleRef':{'kind':'ClusterRole','name':'r'},"
		 "'subjects':[{'kind':'Group','name':'devs'}]},"
		 "{'metadata':{'name':'u'},'roleRef':{'kind':'ClusterRole','name':'r'},"
		 "'subjects':[{'kind':'User','name':'carol'},"
		 "{'kind':'Group','name':'system:serviceaccounts:ci'}]},"
		 /* a ServiceAccount subject of a ClusterRoleBinding needs its namespace */
		 "{'metadata':{'name':'nons'},'roleRef':{'kind':'ClusterRole','name':'r'},"
		 "'subjects':[{'kind':'ServiceAccount','name':'bob'}]}]",
		 NULL, NULL);
	assert_true(can(&p, &alice, "deletecollection", "", "configmaps", NULL, "x", NULL));
	assert_false(can(&p, &bob, "get", "", "configmaps", NULL, "x", "c"));
	assert_true(can(&p, &sa, "get", "", "configmaps", NULL, "x", "c"));
	struct sim_rbac_user carol;
	sim_rbac_user_set(&carol, "carol");
	assert_true(can(&p, &carol, "patch", "", "configmaps", NULL, NULL, "c"));
	/* the groups of a service account */
	assert_true(sim_rbac_user_in_group(&sa, "system:serviceaccounts"));
	assert_true(sim_rbac_user_in_group(&sa, "system:serviceaccounts:ci"));
	assert_true(sim_rbac_user_in_group(&sa, "system:authenticated"));
	assert_false(sim_rbac_user_is_superuser(&sa));
	struct sim_rbac_user admin;
	sim_rbac_user_admin(&admin);
	assert_string_equal(admin.name, "kubesim-admin");
	assert_true(sim_rbac_user_is_superuser(&admin));
	char ns[SIM_RBAC_NAME_MAX], name[SIM_RBAC_NAME_MAX];
	assert_true(sim_rbac_split_sa(SA, ns, name));
	assert_string_equal(ns, "phoenix-system");
	assert_string_equal(name, "phoenix-operator");
	assert_false(sim_rbac_split_sa("system:serviceaccount:x", ns, name));
	assert_false(sim_rbac_split_sa("alice", ns, name));
	pol_free(&p);
}

static void test_wildcards_subresources_resource_names(void **state)
{
	struct pol p;
	struct sim_rbac_user u;
	(void)state;
	sim_rbac_user_set(&u, "u");
	pol_init(&p, "[{'metadata':{'name':'r'},'rules':["
		     "{'apiGroups':[''],'resources':['pods/status'],'verbs':['patch']},"
		     "{'apiGroups':['apps'],'resources':['*/scale'],'verbs':['update']},"
		     "{'apiGroups':['*'],'resources':['widgets'],'verbs':['*']},"
		     "{'apiGroups':[''],'resources':['configmaps'],'verbs':['get','update','list',"
		     "'watch','create','delete'],'resourceNames':['cfg']}]}]",
		 "[{'metadata':{'name':'b'},'roleRef':{'kind':'ClusterRole','name':'r'},"
		 "'subjects':[{'kind':'User','name':'u'}]}]",
		 NULL, NULL);
	/* pods/status does not grant pods, nor pods/log */
	assert_true(can(&p, &u, "patch", "", "pods", "status", "a", "p"));
	assert_false(can(&p, &u, "patch", "", "pods", NULL, "a", "p"));
	assert_false(can(&p, &u, "patch", "", "pods", "log", "a", "p"));
	/* "*" + "/scale": any resource's scale in the rule's groups, not the resource itself */
	assert_true(can(&p, &u, "update", "apps", "deployments", "scale", "a", "d"));
	assert_true(can(&p, &u, "update", "apps", "statefulsets", "scale", "a", "s"));
	assert_false(can(&p, &u, "update", "apps", "deployments", NULL, "a", "d"));
	assert_false(can(&p, &u, "update", "", "replicationcontrollers", "scale", "a", "r"));
	/* "*" verbs and groups; a plain resource does not cover its subresources */
	assert_true(can(&p, &u, "deletecollection", "example.com", "widgets", NULL, "a", NULL));
	assert_true(can(&p, &u, "escalate", "other.io", "widgets", NULL, NULL, "w"));
	assert_false(can(&p, &u, "get", "example.com", "widgets", "status", "a", "w"));
	/* resourceNames: requests naming that object only; a list/watch only with the name in
	 * the field selector; create never (it names no object) */
	assert_true(can(&p, &u, "get", "", "configmaps", NULL, "a", "cfg"));
	assert_true(can(&p, &u, "update", "", "configmaps", NULL, "a", "cfg"));
	assert_false(can(&p, &u, "get", "", "configmaps", NULL, "a", "other"));
	assert_false(can(&p, &u, "list", "", "configmaps", NULL, "a", NULL));
	assert_true(can(&p, &u, "list", "", "configmaps", NULL, "a", "cfg"));
	assert_false(can(&p, &u, "create", "", "configmaps", NULL, "a", NULL));
	struct sim_rbac_attrs a;
	assert_int_equal(sim_rbac_attrs_parse(&a, "GET", "/api/v1/namespaces/a/configmaps", "true",
					      "metadata.name=cfg"),
			 0);
	assert_true(sim_rbac_authorize_policy(&p.p, &u, &a, NULL, 0));
	assert_int_equal(sim_rbac_attrs_parse(&a, "GET", "/api/v1/namespaces/a/configmaps", "true",
					      NULL),
			 0);
	assert_false(sim_rbac_authorize_policy(&p.p, &u, &a, NULL, 0));
	pol_free(&p);
}

static void test_nonresource_urls_and_bootstrap(void **state)
{
	struct pol p;
	struct sim_rbac_user u = sa_user("a", "b"), anon;
	(void)state;
	sim_rbac_user_set(&anon, "system:anonymous");
	sim_rbac_user_add_group(&anon, "system:unauthenticated");
	pol_init(&p, "[{'metadata':{'name':'m'},'rules':[{'nonResourceURLs':['/metrics',"
		     "'/logs/*'],'verbs':['get']},{'nonResourceURLs':['*'],'verbs':['post']}]}]",
		 "[{'metadata':{'name':'m'},'roleRef':{'kind':'ClusterRole','name':'m'},"
		 "'subjects':[{'kind':'ServiceAccount','name':'b','namespace':'a'}]}]",
		 NULL, NULL);
	assert_true(can_path(&p, &u, "get", "/metrics"));
	assert_false(can_path(&p, &u, "get", "/metrics/x"));
	assert_true(can_path(&p, &u, "get", "/logs/"));
	assert_true(can_path(&p, &u, "get", "/logs/kube/x"));
	assert_false(can_path(&p, &u, "get", "/logs"));
	assert_true(can_path(&p, &u, "post", "/anything"));
	assert_false(can_path(&p, &u, "put", "/metrics"));
	/* the bootstrap policy: discovery for every authenticated user, health for everyone */
	assert_true(can_path(&p, &u, "get", "/api"));
	assert_true(can_path(&p, &u, "get", "/apis/apps/v1"));
	assert_true(can_path(&p, &u, "get", "/version"));
	assert_true(can_path(&p, &u, "get", "/openapi/v3/apis/apps/v1"));
	assert_false(can_path(&p, &u, "delete", "/api"));
	assert_false(can_path(&p, &u, "get", "/sim/v1/nodes"));
	assert_true(can_path(&p, &anon, "get", "/healthz"));
	assert_false(can_path(&p, &anon, "get", "/apis"));
	assert_true(can(&p, &u, "create", "authorization.k8s.io", "selfsubjectaccessreviews", NULL,
			NULL, NULL));
	assert_true(can(&p, &u, "create", "authorization.k8s.io", "selfsubjectrulesreviews", NULL,
			NULL, NULL));
	assert_false(can(&p, &u, "create", "authorization.k8s.io", "subjectaccessreviews", NULL,
			 NULL, NULL));
	pol_free(&p);
}

static void test_reasons(void **state)
{
	struct pol p;
	struct sim_rbac_user u = sa_user("phoenix-system", "phoenix-operator");
	struct sim_rbac_attrs a;
	char reason[512];
	(void)state;
	pol_init(&p, OP_CR, NULL, OP_ROLE, OP_RB);
	/* a binding to a missing role, then the operator's */
	p.crb = J("[{'metadata':{'name':'gone'},'roleRef':{'kind':'ClusterRole','name':'missing'},"
		  "'subjects':[{'kind':'Group','name':'system:serviceaccounts'}]}]");
	cJSON *op = J(OP_CRB);
	cJSON_AddItemToArray(p.crb, cJSON_DetachItemFromArray(op, 0));
	cJSON_Delete(op);
	p.p.cluster_role_bindings = p.crb;

	sim_rbac_attrs_resource(&a, "list", "", "pods", NULL, "default", NULL);
	assert_true(sim_rbac_authorize_policy(&p.p, &u, &a, reason, sizeof(reason)));
	assert_string_equal(reason, "RBAC: allowed by ClusterRoleBinding \"phoenix-operator\" of "
				    "ClusterRole \"phoenix-operator\" to ServiceAccount "
				    "\"phoenix-operator/phoenix-system\"");
	sim_rbac_attrs_resource(&a, "update", "coordination.k8s.io", "leases", NULL,
				"phoenix-system", "l");
	assert_true(sim_rbac_authorize_policy(&p.p, &u, &a, reason, sizeof(reason)));
	assert_string_equal(reason, "RBAC: allowed by RoleBinding \"le/phoenix-system\" of Role "
				    "\"le\" to ServiceAccount \"phoenix-operator/phoenix-system\"");
	sim_rbac_attrs_nonresource(&a, "get", "/version");
	assert_true(sim_rbac_authorize_policy(&p.p, &u, &a, reason, sizeof(reason)));
	assert_string_equal(reason, "RBAC: allowed by ClusterRoleBinding \"system:discovery\" of "
				    "ClusterRole \"system:discovery\" to Group "
				    "\"system:authenticated\"");
	/* denied: the binding to a missing role is the reason */
	sim_rbac_attrs_resource(&a, "list", "", "secrets", NULL, "default", NULL);
	assert_false(sim_rbac_authorize_policy(&p.p, &u, &a, reason, sizeof(reason)));
	assert_string_equal(reason,
			    "RBAC: clusterrole.rbac.authorization.k8s.io \"missing\" not found");
	pol_free(&p);
}

static void check_forbidden(const char *method, const char *path, const char *fs,
			    const char *reason, const char *want)
{
	struct sim_rbac_user u;
	struct sim_rbac_attrs a;
	sim_rbac_user_sa(&u, "phoenix-system", "phoenix-operator");
	assert_int_equal(sim_rbac_attrs_parse(&a, method, path, NULL, fs), 0);
	cJSON *st = sim_rbac_forbidden(&u, &a, reason);
	assert_non_null(st);
	assert_json_eq(st, want, path);
	cJSON_Delete(st);
}

static void test_forbidden_messages(void **state)
{
	(void)state;
	check_forbidden("GET", "/api/v1/namespaces/default/pods", NULL, NULL,
			"{'kind':'Status','apiVersion':'v1','metadata':{},'status':'Failure',"
			"'message':'pods is forbidden: User \\'" SA "\\' cannot list resource "
			"\\'pods\\' in API group \\'\\' in the namespace \\'default\\'',"
			"'reason':'Forbidden','details':{'kind':'pods'},'code':403}");
	check_forbidden("GET", "/api/v1/secrets", NULL, "",
			"{'kind':'Status','apiVersion':'v1','metadata':{},'status':'Failure',"
			"'message':'secrets is forbidden: User \\'" SA "\\' cannot list resource "
			"\\'secrets\\' in API group \\'\\' at the cluster scope',"
			"'reason':'Forbidden','details':{'kind':'secrets'},'code':403}");
	check_forbidden("PATCH", "/api/v1/namespaces/a/pods/x/status", NULL, NULL,
			"{'kind':'Status','apiVersion':'v1','metadata':{},'status':'Failure',"
			"'message':'pods \\'x\\' is forbidden: User \\'" SA "\\' cannot patch "
			"resource \\'pods/status\\' in API group \\'\\' in the namespace \\'a\\'',"
			"'reason':'Forbidden','details':{'name':'x','kind':'pods'},'code':403}");
	check_forbidden("DELETE", "/apis/coordination.k8s.io/v1/namespaces/ps/leases/l", NULL,
			"RBAC: role.rbac.authorization.k8s.io \"r\" not found",
			"{'kind':'Status','apiVersion':'v1','metadata':{},'status':'Failure',"
			"'message':'leases.coordination.k8s.io \\'l\\' is forbidden: User \\'" SA
			"\\' cannot delete resource \\'leases\\' in API group "
			"\\'coordination.k8s.io\\' in the namespace \\'ps\\': RBAC: "
			"role.rbac.authorization.k8s.io \\'r\\' not found',"
			"'reason':'Forbidden','details':{'name':'l','group':'coordination.k8s.io',"
			"'kind':'leases'},'code':403}");
	check_forbidden("POST", "/sim/v1/tokens", NULL, NULL,
			"{'kind':'Status','apiVersion':'v1','metadata':{},'status':'Failure',"
			"'message':'forbidden: User \\'" SA "\\' cannot post path "
			"\\'/sim/v1/tokens\\'','reason':'Forbidden','details':{},'code':403}");
}

/* ---- against the store */

static int store_can(struct sim_store *s, const struct sim_rbac_user *u, const char *method,
		     const char *path)
{
	struct sim_rbac_attrs a;
	assert_int_equal(sim_rbac_attrs_parse(&a, method, path, NULL, NULL), 0);
	return sim_rbac_authorize(s, u, &a, NULL, 0);
}

static void create(struct sim_store *s, const char *res, const char *ns, const char *json)
{
	cJSON *obj = J(json), *out = NULL, *st = NULL;
	assert_int_equal(sim_store_create(s, "rbac.authorization.k8s.io", res, ns, obj, 0, &out,
					  &st),
			 201);
	cJSON_Delete(obj);
	cJSON_Delete(out);
}

/* A ClusterRole `role` with the one rule (JSON, single quotes), bound to the service account
 * monitoring/prometheus. */
static void grant_prometheus(struct sim_store *s, const char *role, const char *rule)
{
	char json[512];

	snprintf(json, sizeof(json), "{'apiVersion':'rbac.authorization.k8s.io/v1','kind':"
		 "'ClusterRole','metadata':{'name':'%s'},'rules':[%s]}", role, rule);
	create(s, "clusterroles", NULL, json);
	snprintf(json, sizeof(json), "{'apiVersion':'rbac.authorization.k8s.io/v1','kind':"
		 "'ClusterRoleBinding','metadata':{'name':'%s'},'roleRef':{'apiGroup':"
		 "'rbac.authorization.k8s.io','kind':'ClusterRole','name':'%s'},'subjects':[{"
		 "'kind':'ServiceAccount','name':'prometheus','namespace':'monitoring'}]}", role,
		 role);
	create(s, "clusterrolebindings", NULL, json);
}

/* Does the SubjectAccessReview rev come back allowed? */
static bool allowed(struct sim_store *s, const cJSON *rev)
{
	cJSON *st = NULL, *out = sim_rbac_subject_access_review(s, rev, &st);
	bool ok = cJSON_IsTrue(kube_json_get(out, "status", "allowed", NULL));

	assert_non_null(out);
	cJSON_Delete(out);
	cJSON_Delete(st);
	return ok;
}

static void test_store_backed(void **state)
{
	struct sim_registry *reg;
	struct sim_store *s;
	struct sim_rbac_user u = sa_user("phoenix-system", "phoenix-operator"), admin;
	cJSON *ns = J("{'apiVersion':'v1','kind':'Namespace','metadata':{'name':'phoenix-system'}}");
	cJSON *out = NULL, *st = NULL;
	(void)state;
	sim_rbac_user_admin(&admin);
	assert_int_equal(sim_registry_new(&reg), 0);
	assert_int_equal(sim_store_new(reg, 64, &s), 0);
	assert_int_equal(sim_store_create(s, "", "namespaces", NULL, ns, 0, &out, &st), 201);
	cJSON_Delete(ns);
	cJSON_Delete(out);
	/* nothing bound yet: denied; the superuser needs no binding */
	assert_int_equal(store_can(s, &u, "GET", "/api/v1/namespaces/default/pods"), 0);
	assert_int_equal(store_can(s, &admin, "DELETE", "/api/v1/namespaces/default/pods"), 1);
	assert_int_equal(store_can(s, &u, "GET", "/apis"), 1);
	/* the operator's RBAC, stored through the store's verbs */
	static const struct {
		const char *res, *ns, *json;
	} objs[] = {{"clusterroles", NULL, OP_CR},
		    {"clusterrolebindings", NULL, OP_CRB},
		    {"roles", "phoenix-system", OP_ROLE},
		    {"rolebindings", "phoenix-system", OP_RB}};
	for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
		cJSON *arr = J(objs[i].json);
		char *t = cJSON_PrintUnformatted(cJSON_GetArrayItem(arr, 0));
		create(s, objs[i].res, objs[i].ns, t);
		free(t);
		cJSON_Delete(arr);
	}
	static const struct {
		const char *method, *path;
		int want;
	} reqs[] = {
		{"GET", "/api/v1/namespaces/default/pods", 1},
		{"PATCH", "/apis/phoenix.fpai.io/v1/namespaces/a/phoenixservices/h/status", 1},
		{"PUT", "/apis/phoenix.fpai.io/v1/namespaces/a/phoenixservices/h/status", 0},
		{"PUT", "/apis/coordination.k8s.io/v1/namespaces/phoenix-system/leases/l", 1},
		{"PUT", "/apis/coordination.k8s.io/v1/namespaces/default/leases/l", 0},
		{"GET", "/api/v1/secrets", 0},
	};
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
		if (store_can(s, &u, reqs[i].method, reqs[i].path) != reqs[i].want)
			fail_msg("%s %s: want %d", reqs[i].method, reqs[i].path, reqs[i].want);
	sim_store_free(s);
	sim_registry_free(reg);
}

static void test_impersonation_and_reviews(void **state)
{
	struct sim_registry *reg;
	struct sim_store *s;
	struct sim_rbac_tokens *t;
	struct sim_rbac_user u;
	cJSON *st = NULL;
	(void)state;
	assert_int_equal(sim_registry_new(&reg), 0);
	assert_int_equal(sim_store_new(reg, 64, &s), 0);
	assert_int_equal(sim_rbac_tokens_new(&t), 0);
	/* the admin impersonates a service account: its groups; a user: + system:authenticated */
	sim_rbac_user_admin(&u);
	assert_int_equal(sim_rbac_impersonate(s, &u, SA, NULL, 0, &st), 0);
	assert_string_equal(u.name, SA);
	assert_true(sim_rbac_user_in_group(&u, "system:serviceaccounts:phoenix-system"));
	assert_false(sim_rbac_user_is_superuser(&u));
	const char *groups[] = {"devs"};
	sim_rbac_user_admin(&u);
	assert_int_equal(sim_rbac_impersonate(s, &u, "alice", groups, 1, &st), 0);
	assert_string_equal(u.name, "alice");
	assert_int_equal(u.ngroups, 2);
	assert_true(sim_rbac_user_in_group(&u, "devs"));
	assert_true(sim_rbac_user_in_group(&u, "system:authenticated"));
	/* alice may not impersonate; groups without a user are a 400 */
	assert_int_equal(sim_rbac_impersonate(s, &u, "bob", NULL, 0, &st), 403);
	assert_string_equal(kube_json_get_str(st, "message", NULL),
			    "users \"bob\" is forbidden: User \"alice\" cannot impersonate resource "
			    "\"users\" in API group \"\" at the cluster scope");
	cJSON_Delete(st);
	assert_int_equal(sim_rbac_impersonate(s, &u, NULL, groups, 1, &st), 400);
	cJSON_Delete(st);
	assert_string_equal(u.name, "alice");

	/* SelfSubjectAccessReview: allowed with upstream's reason, denied, malformed */
	struct sim_rbac_user sa = sa_user("ns", "x");
	cJSON *obj;
	cJSON *rev = J("{'spec':{'nonResourceAttributes':{'path':'/apis','verb':'get'}}}");
	cJSON *out = sim_rbac_access_review(s, &sa, rev, &st);
	assert_json_eq(cJSON_GetObjectItem(out, "status"),
		       "{'allowed':true,'reason':'RBAC: allowed by ClusterRoleBinding "
		       "\\'system:discovery\\' of ClusterRole \\'system:discovery\\' to Group "
		       "\\'system:authenticated\\''}",
		       "allowed review");
	cJSON_Delete(out);
	cJSON_Delete(rev);
	rev = J("{'spec':{'resourceAttributes':{'verb':'list','resource':'pods','namespace':'a'}}}");
	out = sim_rbac_access_review(s, &sa, rev, &st);
	assert_json_eq(cJSON_GetObjectItem(out, "status"), "{'allowed':false}", "denied review");
	assert_string_equal(kube_json_get_str(out, "kind", NULL), "SelfSubjectAccessReview");
	cJSON_Delete(out);
	cJSON_Delete(rev);
	rev = J("{'spec':{}}");
	assert_null(sim_rbac_access_review(s, &sa, rev, &st));
	assert_int_equal(cJSON_GetObjectItem(st, "code")->valueint, 400);
	cJSON_Delete(st);
	cJSON_Delete(rev);
	out = sim_rbac_self_review(&sa);
	assert_json_eq(cJSON_GetObjectItem(out, "status"),
		       "{'userInfo':{'username':'system:serviceaccount:ns:x','groups':["
		       "'system:serviceaccounts','system:serviceaccounts:ns','system:authenticated']}}",
		       "self review");
	cJSON_Delete(out);

	/* SelfSubjectRulesReview: the bootstrap rules, then a RoleBinding's in its namespace */
	obj = J("{'apiVersion':'v1','kind':'Namespace','metadata':{'name':'ns'}}");
	assert_int_equal(sim_store_create(s, "", "namespaces", NULL, obj, 0, &out, &st), 201);
	cJSON_Delete(obj);
	cJSON_Delete(out);
	obj = J("{'metadata':{'name':'r','namespace':'ns'},'rules':[{'apiGroups':[''],"
		"'resources':['pods'],'verbs':['get']}]}");
	assert_int_equal(sim_store_create(s, "rbac.authorization.k8s.io", "roles", "ns", obj, 0,
					  &out, &st),
			 201);
	cJSON_Delete(obj);
	cJSON_Delete(out);
	obj = J("{'metadata':{'name':'b','namespace':'ns'},'roleRef':{'kind':'Role','name':'r'},"
		"'subjects':[{'kind':'ServiceAccount','name':'x'}]}");
	assert_int_equal(sim_store_create(s, "rbac.authorization.k8s.io", "rolebindings", "ns", obj,
					  0, &out, &st),
			 201);
	cJSON_Delete(obj);
	cJSON_Delete(out);
	rev = J("{'spec':{'namespace':'ns'}}");
	out = sim_rbac_rules_review(s, &sa, rev, &st);
	cJSON_Delete(rev);
	cJSON *rr = cJSON_GetObjectItem(cJSON_GetObjectItem(out, "status"), "resourceRules");
	assert_int_equal(cJSON_GetArraySize(rr), 3); /* basic-user's two, the Role's */
	assert_json_eq(cJSON_GetArrayItem(rr, 2),
		       "{'verbs':['get'],'apiGroups':[''],'resources':['pods']}", "role rule");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "status"),
								"nonResourceRules")),
			 2);
	cJSON_Delete(out);
	rev = J("{'spec':{'namespace':'other'}}");
	out = sim_rbac_rules_review(s, &sa, rev, &st);
	cJSON_Delete(rev);
	rr = cJSON_GetObjectItem(cJSON_GetObjectItem(out, "status"), "resourceRules");
	assert_int_equal(cJSON_GetArraySize(rr), 2);
	cJSON_Delete(out);

	/* TokenRequest: the service account must exist; the token authenticates as it */
	assert_null(sim_rbac_token_request(t, s, "default", "bot", NULL, &st));
	assert_int_equal(cJSON_GetObjectItem(st, "code")->valueint, 404);
	cJSON_Delete(st);
	obj = J("{'apiVersion':'v1','kind':'ServiceAccount','metadata':{'name':'bot'}}");
	assert_int_equal(sim_store_create(s, "", "serviceaccounts", "default", obj, 0, &out, &st),
			 201);
	cJSON_Delete(obj);
	cJSON_Delete(out);
	obj = J("{'spec':{'expirationSeconds':7200}}");
	out = sim_rbac_token_request(t, s, "default", "bot", obj, &st);
	cJSON_Delete(obj);
	assert_non_null(out);
	assert_string_equal(kube_json_get_str(out, "kind", NULL), "TokenRequest");
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "spec"), "expirationSeconds")
				 ->valueint,
			 7200);
	assert_int_equal(sim_rbac_tokens_lookup(t, kube_json_get_str(out, "status", "token", NULL),
						&u),
			 1);
	assert_string_equal(u.name, "system:serviceaccount:default:bot");
	cJSON_Delete(out);
	sim_rbac_tokens_free(t);
	sim_store_free(s);
	sim_registry_free(reg);
}

static void test_tokens(void **state)
{
	struct sim_rbac_tokens *t;
	struct sim_rbac_user u;
	char *a = NULL, *b = NULL;
	(void)state;
	assert_int_equal(sim_rbac_tokens_new(&t), 0);
	assert_int_equal(sim_rbac_tokens_mint(t, "phoenix-system", "phoenix-operator", &a), 0);
	assert_int_equal(sim_rbac_tokens_mint(t, "default", "default", &b), 0);
	assert_int_equal(strlen(a), 64);
	assert_string_not_equal(a, b);
	assert_int_equal(sim_rbac_tokens_lookup(t, a, &u), 1);
	assert_string_equal(u.name, SA);
	assert_true(sim_rbac_user_in_group(&u, "system:serviceaccounts:phoenix-system"));
	assert_int_equal(sim_rbac_tokens_lookup(t, b, &u), 1);
	assert_string_equal(u.name, "system:serviceaccount:default:default");
	assert_int_equal(sim_rbac_tokens_lookup(t, "nope", &u), 0);
	char *c = NULL;
	assert_int_equal(sim_rbac_tokens_mint(t, "", "x", &c), KUBE_EINVAL);
	assert_int_equal(sim_rbac_tokens_mint(t, "a:b", "x", &c), KUBE_EINVAL);
	assert_null(c);
	sim_rbac_tokens_clear(t);
	assert_int_equal(sim_rbac_tokens_lookup(t, a, &u), 0);
	free(a);
	free(b);
	sim_rbac_tokens_free(t);
}

/* The delegated reviews a controller's protected metrics endpoint sends: a TokenReview checks
 * a bearer token (the admin's, a minted service account's, or nothing known), a
 * SubjectAccessReview evaluates RBAC for the user and groups the review names. */
static void test_token_and_subject_access_reviews(void **state)
{
	struct sim_registry *reg;
	struct sim_store *s;
	struct sim_rbac_tokens *t;
	char *tok = NULL;
	cJSON *st = NULL, *out, *rev;
	char json[300];
	(void)state;
	assert_int_equal(sim_registry_new(&reg), 0);
	assert_int_equal(sim_store_new(reg, 64, &s), 0);
	assert_int_equal(sim_rbac_tokens_new(&t), 0);
	assert_int_equal(sim_rbac_tokens_mint(t, "monitoring", "prometheus", &tok), 0);

	snprintf(json, sizeof(json), "{\"spec\":{\"token\":\"%s\"}}", tok);
	rev = cJSON_Parse(json);
	out = sim_rbac_token_review(t, "admin-secret", rev, &st);
	assert_string_equal(kube_json_get_str(out, "kind", NULL), "TokenReview");
	assert_json_eq(cJSON_GetObjectItem(out, "status"),
		       "{'authenticated':true,'user':{'username':"
		       "'system:serviceaccount:monitoring:prometheus','groups':["
		       "'system:serviceaccounts','system:serviceaccounts:monitoring',"
		       "'system:authenticated']}}",
		       "service-account token");
	assert_null(kube_json_get_str(out, "spec", "token", NULL));
	cJSON_Delete(out);
	cJSON_Delete(rev);
	rev = J("{'spec':{'token':'admin-secret'}}");
	out = sim_rbac_token_review(t, "admin-secret", rev, &st);
	assert_string_equal(kube_json_get_str(out, "status", "user", "username", NULL),
			    SIM_RBAC_ADMIN_USER);
	cJSON_Delete(out);
	out = sim_rbac_token_review(t, NULL, rev, &st); /* a server without an admin token */
	assert_json_eq(cJSON_GetObjectItem(out, "status"),
		       "{'authenticated':false,'error':'invalid bearer token'}", "unknown token");
	cJSON_Delete(out);
	cJSON_Delete(rev);
	rev = J("{'spec':{}}");
	assert_null(sim_rbac_token_review(t, NULL, rev, &st));
	assert_int_equal(cJSON_GetObjectItem(st, "code")->valueint, 400);
	cJSON_Delete(st);
	cJSON_Delete(rev);

	/* get /metrics: denied until a ClusterRole with the nonResourceURL is bound. */
	rev = J("{'spec':{'user':'system:serviceaccount:monitoring:prometheus','groups':["
		"'system:serviceaccounts','system:authenticated'],'nonResourceAttributes':"
		"{'path':'/metrics','verb':'get'}}}");
	out = sim_rbac_subject_access_review(s, rev, &st);
	assert_string_equal(kube_json_get_str(out, "kind", NULL), "SubjectAccessReview");
	assert_json_eq(cJSON_GetObjectItem(out, "status"), "{'allowed':false}", "not bound");
	cJSON_Delete(out);
	grant_prometheus(s, "metrics-reader", "{'nonResourceURLs':['/metrics'],'verbs':['get']}");
	assert_true(allowed(s, rev));
	cJSON_Delete(rev);
	/* resourceAttributes.subresource: a rule for "pods" does not grant "pods/log"; a rule
	 * for "pods/log" does (the dashboard's Build log asks exactly this). */
	rev = J("{'spec':{'user':'system:serviceaccount:monitoring:prometheus','groups':["
		"'system:authenticated'],'resourceAttributes':{'verb':'get','group':'',"
		"'resource':'pods','subresource':'log','namespace':'monitoring'}}}");
	assert_false(allowed(s, rev));
	grant_prometheus(s, "pod-reader", "{'apiGroups':[''],'resources':['pods'],'verbs':['get']}");
	assert_false(allowed(s, rev));
	grant_prometheus(s, "log-reader",
			 "{'apiGroups':[''],'resources':['pods/log'],'verbs':['get']}");
	assert_true(allowed(s, rev));
	cJSON_Delete(rev);
	rev = J("{'spec':{'nonResourceAttributes':{'path':'/metrics','verb':'get'}}}");
	assert_null(sim_rbac_subject_access_review(s, rev, &st));
	assert_int_equal(cJSON_GetObjectItem(st, "code")->valueint, 400);
	cJSON_Delete(st);
	cJSON_Delete(rev);
	free(tok);
	sim_rbac_tokens_free(t);
	sim_store_free(s);
	sim_registry_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attrs_verb_mapping),
		cmocka_unit_test(test_clusterrole_vs_role_bindings),
		cmocka_unit_test(test_rolebinding_to_clusterrole_is_scoped),
		cmocka_unit_test(test_subjects_users_and_groups),
		cmocka_unit_test(test_wildcards_subresources_resource_names),
		cmocka_unit_test(test_nonresource_urls_and_bootstrap),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_forbidden_messages),
		cmocka_unit_test(test_store_backed),
		cmocka_unit_test(test_impersonation_and_reviews),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_token_and_subject_access_reviews),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
