/* kubesim's authentication identities and RBAC authorizer, following the apiserver:
 *
 * - Identities (sim_rbac_user): the admin bearer token is "kubesim-admin" in system:masters (a
 *   superuser: never checked, as upstream's system:masters); service-account tokens minted
 *   through the control API (sim_rbac_tokens) are "system:serviceaccount:NS:NAME" in
 *   system:serviceaccounts, system:serviceaccounts:NS and system:authenticated.
 * - Request attributes (sim_rbac_attrs_parse) as upstream's RequestInfoFactory: /api and /apis
 *   paths are resource requests (GET object -> get, GET collection -> list or, with watch=true,
 *   watch; /watch/ paths -> watch; POST -> create; PUT -> update; PATCH -> patch; DELETE object ->
 *   delete, collection -> deletecollection; a list/watch with the field selector metadata.name=X
 *   names X), everything else is a non-resource request (verb = the lower-case method).
 * - Authorization (sim_rbac_authorize*) as upstream's RBAC authorizer: ClusterRoleBindings (their
 *   ClusterRole applies everywhere), then the RoleBindings of the request's namespace (their Role
 *   of that namespace or ClusterRole applies in it). Subjects User / Group / ServiceAccount (its
 *   namespace defaults to the binding's). Rules: apiGroups, resources ("*", "res/sub", and "*"
 *   + "/sub" for that subresource of any resource), verbs ("*"), resourceNames (match only
 *   requests that name an object), nonResourceURLs (a trailing "*" is a prefix match). The
 *   bootstrap policy every authenticated user has upstream is built in: system:discovery,
 *   system:public-info-viewer (discovery, /version, /openapi, health) and system:basic-user
 *   (create selfsubjectaccessreviews / selfsubjectrulesreviews).
 *
 * Everything here is thread-safe: the pure functions keep no state, the token table has a lock.
 */
#ifndef SIM_RBAC_H
#define SIM_RBAC_H

#include <stddef.h>
#include <cjson/cJSON.h>

struct sim_store;

#define SIM_RBAC_MAX_GROUPS 16
#define SIM_RBAC_NAME_MAX 320

#define SIM_RBAC_ADMIN_USER "kubesim-admin"

/* An authenticated identity. */
struct sim_rbac_user {
	char name[SIM_RBAC_NAME_MAX];
	char groups[SIM_RBAC_MAX_GROUPS][SIM_RBAC_NAME_MAX];
	int ngroups;
};

/* The admin: "kubesim-admin", groups system:masters and system:authenticated. */
void sim_rbac_user_admin(struct sim_rbac_user *u);
/* A service account: system:serviceaccount:NS:NAME with its three groups. -1 when too long. */
int sim_rbac_user_sa(struct sim_rbac_user *u, const char *ns, const char *name);
/* Sets the name and no groups (impersonation builds on this). -1 when too long. */
int sim_rbac_user_set(struct sim_rbac_user *u, const char *name);
/* Adds a group unless present. -1 when full or too long. */
int sim_rbac_user_add_group(struct sim_rbac_user *u, const char *group);
int sim_rbac_user_in_group(const struct sim_rbac_user *u, const char *group);
/* A superuser (group system:masters): allowed everything without an RBAC evaluation. */
int sim_rbac_user_is_superuser(const struct sim_rbac_user *u);
/* Splits "system:serviceaccount:NS:NAME" into ns / name (buffers of SIM_RBAC_NAME_MAX).
 * 1 when it is one, 0 otherwise. */
int sim_rbac_split_sa(const char *username, char *ns, char *name);

/* What a request asks for. Every string is non-NULL ("" when absent). */
struct sim_rbac_attrs {
	int resource_request; /* 1: /api, /apis; 0: a non-resource path */
	const char *verb;
	const char *group, *version, *resource, *subresource, *ns, *name;
	const char *path; /* the request path */
	char buf[2048];   /* storage for the strings above */
};

/* Fills a from a request: method ("GET"...), path (without the query), the query's watch and
 * fieldSelector values (NULL when absent). Returns 0, or -1 when the path does not fit. */
int sim_rbac_attrs_parse(struct sim_rbac_attrs *a, const char *method, const char *path,
			 const char *watch, const char *field_selector);
/* Fills a resource request from parts (as a SubjectAccessReview's resourceAttributes do);
 * NULLs are "". -1 when they do not fit. */
int sim_rbac_attrs_resource(struct sim_rbac_attrs *a, const char *verb, const char *group,
			    const char *resource, const char *subresource, const char *ns,
			    const char *name);
/* Fills a non-resource request (nonResourceAttributes). -1 when it does not fit. */
int sim_rbac_attrs_nonresource(struct sim_rbac_attrs *a, const char *verb, const char *path);

/* The RBAC objects to evaluate: arrays of ClusterRole, ClusterRoleBinding, Role, RoleBinding
 * objects (any may be NULL = none; Roles and RoleBindings of other namespaces are skipped). */
struct sim_rbac_policy {
	const cJSON *cluster_roles, *cluster_role_bindings, *roles, *role_bindings;
};

/* Returns 1 (allowed) or 0 (denied). reason (len bytes, may be NULL) receives upstream's
 * reason: on allow `RBAC: allowed by ClusterRoleBinding "b" of ClusterRole "r" to Group "g"`,
 * on deny "" or the errors met (`RBAC: clusterrole.rbac.authorization.k8s.io "x" not found`). */
int sim_rbac_authorize_policy(const struct sim_rbac_policy *p, const struct sim_rbac_user *u,
			      const struct sim_rbac_attrs *a, char *reason, size_t len);

/* The same against the store's current RBAC objects (superusers: allowed at once).
 * 1 allowed, 0 denied, -1 out of memory (deny). */
int sim_rbac_authorize(struct sim_store *s, const struct sim_rbac_user *u,
		       const struct sim_rbac_attrs *a, char *reason, size_t len);

/* The 403 Status for a denied request, upstream's wording, e.g.
 * `pods "x" is forbidden: User "u" cannot get resource "pods" in API group "" in the namespace
 * "ns"` with details {name, group, kind = the resource}. reason may be NULL or "".
 * NULL on ENOMEM. */
cJSON *sim_rbac_forbidden(const struct sim_rbac_user *u, const struct sim_rbac_attrs *a,
			  const char *reason);

/* Impersonation (the Impersonate-User / Impersonate-Group headers), as upstream: the requester
 * *u needs the verb "impersonate" on users (or on the serviceaccount for a
 * system:serviceaccount:NS:NAME user) and on each group -- a superuser has it. Then *u becomes
 * the impersonated user: the given groups (a service account without groups: its own), plus
 * system:authenticated. Returns 0 (done; nothing to do when user is NULL), 403 with *status
 * (the upstream Forbidden), or 400 with *status (groups without a user, names too long). */
int sim_rbac_impersonate(struct sim_store *s, struct sim_rbac_user *u, const char *user,
			 const char *const *groups, int ngroups, cJSON **status);

/* A SelfSubjectAccessReview for u: returns the review with status {allowed, reason} as the
 * apiserver answers it, or NULL with *status (400) for a review without exactly one of
 * spec.resourceAttributes / spec.nonResourceAttributes (or on ENOMEM, *status NULL). */
cJSON *sim_rbac_access_review(struct sim_store *s, const struct sim_rbac_user *u,
			      const cJSON *review, cJSON **status);

/* A SubjectAccessReview (authorization.k8s.io/v1, what a delegated authorizer such as a
 * controller's metrics filter sends): the same as a SelfSubjectAccessReview for the user given
 * by spec.user and spec.groups (system:masters allowed at once), kind SubjectAccessReview.
 * NULL with *status (400) when neither is set, or as sim_rbac_access_review. */
cJSON *sim_rbac_subject_access_review(struct sim_store *s, const cJSON *review, cJSON **status);

struct sim_rbac_tokens;
/* A TokenReview (authentication.k8s.io/v1): spec.token checked as a request's bearer token
 * would be, against admin_token (NULL when the server has none) and the minted
 * service-account tokens. status {authenticated: true, user {username, groups}} or
 * {authenticated: false, error}; the token is not echoed. NULL with *status (400) without
 * spec.token, or on ENOMEM (*status NULL). */
cJSON *sim_rbac_token_review(struct sim_rbac_tokens *t, const char *admin_token,
			     const cJSON *review, cJSON **status);

/* A SelfSubjectRulesReview (kubectl auth can-i --list) for u in the review's spec.namespace:
 * status.resourceRules / nonResourceRules of every binding that applies (the bootstrap policy
 * included; a superuser gets "*"), incomplete false. NULL on ENOMEM (*status NULL). */
cJSON *sim_rbac_rules_review(struct sim_store *s, const struct sim_rbac_user *u,
			     const cJSON *review, cJSON **status);

/* A SelfSubjectReview's answer for u (kubectl auth whoami): status.userInfo {username,
 * groups}. NULL on ENOMEM. */
cJSON *sim_rbac_self_review(const struct sim_rbac_user *u);

/* ---- Service-account tokens (minted through the control API). */
struct sim_rbac_tokens;

int sim_rbac_tokens_new(struct sim_rbac_tokens **out);
/* NULL is a no-op. */
void sim_rbac_tokens_free(struct sim_rbac_tokens *t);
/* A new random token (64 hex characters, malloc'd into *token) for the service account ns/name.
 * 0, KUBE_EINVAL (empty or too long names) or KUBE_ENOMEM. */
int sim_rbac_tokens_mint(struct sim_rbac_tokens *t, const char *ns, const char *name,
			 char **token);
/* 1 and *u filled when token is one of ours, else 0. */
int sim_rbac_tokens_lookup(struct sim_rbac_tokens *t, const char *token,
			   struct sim_rbac_user *u);
/* The TokenRequest subresource (POST .../serviceaccounts/NAME/token): mints a token for the
 * service account ns/name, which must exist in s (else 404 with *status), and returns the
 * TokenRequest as the apiserver answers it (spec.expirationSeconds from body, default 3600;
 * kubesim's tokens do not expire). NULL with *status NULL on ENOMEM. */
cJSON *sim_rbac_token_request(struct sim_rbac_tokens *t, struct sim_store *s, const char *ns,
			      const char *name, const cJSON *body, cJSON **status);
/* Forgets every token (the control API's reset). */
void sim_rbac_tokens_clear(struct sim_rbac_tokens *t);

#endif
