/* Delegated authentication and authorization for a kube_httpd (controller-runtime's
 * filters.WithAuthenticationAndAuthorization): the caller's bearer token is checked with a
 * TokenReview, then a SubjectAccessReview asks whether that user may `get` the request's path as
 * a nonResourceURL. Answers are cached briefly per (token, path) so a scrape costs no API call. */
#ifndef KUBE_HTTPD_AUTH_H
#define KUBE_HTTPD_AUTH_H

#include <stddef.h>
#include <stdint.h>

struct kube_client;
struct kube_http_request;
struct kube_httpd_auth;

/* Makes an authorizer using `client` (borrowed; must outlive it) for the reviews, which the
 * client's identity must be allowed to create (tokenreviews.authentication.k8s.io,
 * subjectaccessreviews.authorization.k8s.io). The reviews pass the client's write gate (they
 * change nothing), so standbys answer too. cache_ms: how long an answer is kept (0 = 10000;
 * failures to reach the API server are never cached). Returns 0, KUBE_EINVAL, KUBE_ENOMEM. */
int kube_httpd_auth_new(struct kube_client *client, int64_t cache_ms,
			struct kube_httpd_auth **out);

/* NULL is a no-op. No request may be in kube_httpd_auth_check (stop the server first). */
void kube_httpd_auth_free(struct kube_httpd_auth *a);

/* A kube_http_auth_fn: data is the kube_httpd_auth. 0 = allowed; 401 without a bearer token or
 * when the TokenReview does not authenticate it; 403 when the user may not get the path or the
 * API server cannot be asked (fail closed); why says which. Thread-safe. */
int kube_httpd_auth_check(void *data, const struct kube_http_request *req, char *why,
			  size_t why_size);

/* Counters for tests: reviews sent to the API server. */
struct kube_httpd_auth_stats {
	uint64_t token_reviews, access_reviews, cache_hits;
};
void kube_httpd_auth_stats(struct kube_httpd_auth *a, struct kube_httpd_auth_stats *out);

/* ---- generic use: who is calling, and may they do X (e.g. a dashboard) ---- */

/* Who a TokenReview says the caller is. Strings are owned (kube_httpd_user_release). */
struct kube_httpd_user {
	char *name, *uid;
	char **groups;
	size_t ngroups;
};

/* Authenticates req's bearer token (TokenReview, cached per token hash for cache_ms):
 * 0 and *out filled; 401 without a token or when it is not accepted; 403 when the API server
 * cannot be asked. why as for kube_httpd_auth_check. Thread-safe. */
int kube_httpd_auth_user(struct kube_httpd_auth *a, const struct kube_http_request *req,
			 struct kube_httpd_user *out, char *why, size_t why_size);

/* Frees what u holds and zeroes it. NULL is a no-op. */
void kube_httpd_user_release(struct kube_httpd_user *u);

/* Deep copy. Returns 0 or KUBE_ENOMEM (dst is then zeroed). */
int kube_httpd_user_copy(struct kube_httpd_user *dst, const struct kube_httpd_user *src);

/* A SubjectAccessReview's resourceAttributes. namespace "" or NULL = cluster-wide (every
 * namespace); name NULL = any; subresource NULL or "" = the resource itself (as in the API
 * server, a rule for "pods" does not grant "pods/log": ask for subresource "log"). */
struct kube_httpd_access {
	const char *verb, *group, *resource, *namespace, *name, *subresource;
};

/* May u do what `what` says? 0 = allowed, 403 = not (or cannot ask; fail closed), why says
 * which. Answers are cached for cache_ms per (user, groups, attributes). Thread-safe. */
int kube_httpd_auth_can(struct kube_httpd_auth *a, const struct kube_httpd_user *u,
			const struct kube_httpd_access *what, char *why, size_t why_size);

#endif
