/* TokenReview + SubjectAccessReview authorizer for kube_httpd (see kube_httpd_auth.h). A small
 * fixed cache keyed by a SHA-256 of token and path: the token itself is never kept. */
#include "kube_httpd_auth.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "kube_error.h"
#include "kube_httpd.h"
#include "kube_json.h"
#include "kube_log.h"
#include "kube_rest.h"

#define CACHE_SLOTS 128
#define DEFAULT_CACHE_MS 10000
#define TOKEN_REVIEW_PATH "/apis/authentication.k8s.io/v1/tokenreviews"
#define ACCESS_REVIEW_PATH "/apis/authorization.k8s.io/v1/subjectaccessreviews"

struct slot {
	unsigned char key[32]; /* SHA-256 of token "\n" path */
	int64_t expires_ns;    /* 0 = empty */
	int code;
	char why[160];
};

/* A cached TokenReview answer: who a token hash belongs to. */
struct user_slot {
	unsigned char key[32]; /* SHA-256 of the token */
	int64_t expires_ns;    /* 0 = empty */
	struct kube_httpd_user user;
};

struct kube_httpd_auth {
	struct kube_client *client;
	int64_t cache_ns;
	pthread_mutex_t mu;
	struct slot slots[CACHE_SLOTS];
	struct user_slot users[CACHE_SLOTS];
	struct kube_httpd_auth_stats stats;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int kube_httpd_auth_new(struct kube_client *client, int64_t cache_ms,
			struct kube_httpd_auth **out)
{
	struct kube_httpd_auth *a;

	if (client == NULL || out == NULL || cache_ms < 0)
		return KUBE_EINVAL;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return KUBE_ENOMEM;
	a->client = client;
	a->cache_ns = (cache_ms > 0 ? cache_ms : DEFAULT_CACHE_MS) * 1000000;
	pthread_mutex_init(&a->mu, NULL);
	*out = a;
	return 0;
}

void kube_httpd_auth_free(struct kube_httpd_auth *a)
{
	if (a == NULL)
		return;
	for (int i = 0; i < CACHE_SLOTS; i++)
		kube_httpd_user_release(&a->users[i].user);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

void kube_httpd_auth_stats(struct kube_httpd_auth *a, struct kube_httpd_auth_stats *out)
{
	pthread_mutex_lock(&a->mu);
	*out = a->stats;
	pthread_mutex_unlock(&a->mu);
}

static void cache_key(const char *token, const char *path, unsigned char key[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;

	memset(key, 0, 32);
	if (ctx == NULL)
		return;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
		EVP_DigestUpdate(ctx, token, strlen(token));
		EVP_DigestUpdate(ctx, "\n", 1);
		EVP_DigestUpdate(ctx, path, strlen(path));
		EVP_DigestFinal_ex(ctx, key, &n);
	}
	EVP_MD_CTX_free(ctx);
}

/* A cached answer: true and *code / why filled when one is fresh. */
static bool cache_get(struct kube_httpd_auth *a, const unsigned char key[32], int *code,
		      char *why, size_t why_size)
{
	int64_t now = now_ns();
	bool hit = false;

	pthread_mutex_lock(&a->mu);
	for (int i = 0; i < CACHE_SLOTS && !hit; i++) {
		struct slot *s = &a->slots[i];

		if (s->expires_ns > now && memcmp(s->key, key, 32) == 0) {
			*code = s->code;
			snprintf(why, why_size, "%s", s->why);
			hit = true;
			a->stats.cache_hits++;
		}
	}
	pthread_mutex_unlock(&a->mu);
	return hit;
}

/* Keeps an answer in the empty or oldest slot. */
static void cache_put(struct kube_httpd_auth *a, const unsigned char key[32], int code,
		      const char *why)
{
	struct slot *victim;

	pthread_mutex_lock(&a->mu);
	victim = &a->slots[0];
	for (int i = 0; i < CACHE_SLOTS; i++) {
		if (memcmp(a->slots[i].key, key, 32) == 0) {
			victim = &a->slots[i];
			break;
		}
		if (a->slots[i].expires_ns < victim->expires_ns)
			victim = &a->slots[i];
	}
	memcpy(victim->key, key, 32);
	victim->expires_ns = now_ns() + a->cache_ns;
	victim->code = code;
	snprintf(victim->why, sizeof(victim->why), "%s", why);
	pthread_mutex_unlock(&a->mu);
}

/* POSTs a review and returns its status object's parent (caller frees) or NULL. */
static cJSON *post_review(struct kube_httpd_auth *a, const char *path, cJSON *review,
			  char *why, size_t why_size)
{
	struct kube_status st = {0};
	cJSON *out = NULL;
	char *body = cJSON_PrintUnformatted(review);
	int rc;

	if (body == NULL) {
		snprintf(why, why_size, "out of memory");
		return NULL;
	}
	/* A review writes nothing: it must work on standbys, whose writes the gate refuses. */
	rc = kube_request(a->client, "POST", path, NULL, "application/json", body,
			  KUBE_REQ_BYPASS_GATE, &out, &st);
	memset(body, 0, strlen(body));
	free(body);
	if (rc != 0) {
		snprintf(why, why_size, "cannot check the credentials: %s: %s", kube_strerror(rc),
			 st.message != NULL ? st.message : "");
		kube_log(KUBE_LOG_WARN, "httpd-auth", "review failed", "path", path, "error",
			 kube_strerror(rc), "message", st.message, NULL);
		cJSON_Delete(out);
		out = NULL;
	}
	kube_status_release(&st);
	return out;
}

static cJSON *new_review(const char *kind, const char *api_version, cJSON **spec)
{
	cJSON *r = cJSON_CreateObject();

	*spec = NULL;
	if (r == NULL)
		return NULL;
	cJSON_AddStringToObject(r, "apiVersion", api_version);
	cJSON_AddStringToObject(r, "kind", kind);
	*spec = cJSON_AddObjectToObject(r, "spec");
	if (*spec == NULL) {
		cJSON_Delete(r);
		return NULL;
	}
	return r;
}

/* TokenReview: 0 and *u filled, 401 (not authenticated) or 403 (cannot ask). */
static int authenticate(struct kube_httpd_auth *a, const char *token, struct kube_httpd_user *u,
			char *why, size_t why_size)
{
	cJSON *spec, *review = new_review("TokenReview", "authentication.k8s.io/v1", &spec);
	cJSON *out = NULL;
	const cJSON *groups;
	const char *name, *uid;
	int code = 403;

	memset(u, 0, sizeof(*u));
	if (review == NULL || cJSON_AddStringToObject(spec, "token", token) == NULL) {
		snprintf(why, why_size, "out of memory");
		goto out;
	}
	out = post_review(a, TOKEN_REVIEW_PATH, review, why, why_size);
	if (out == NULL)
		goto out;
	name = kube_json_get_str(out, "status", "user", "username", NULL);
	if (!cJSON_IsTrue(kube_json_get(out, "status", "authenticated", NULL)) || name == NULL) {
		const char *err = kube_json_get_str(out, "status", "error", NULL);

		snprintf(why, why_size, "Unauthorized: %s", err != NULL ? err : "invalid token");
		code = 401;
		goto out;
	}
	uid = kube_json_get_str(out, "status", "user", "uid", NULL);
	groups = kube_json_get(out, "status", "user", "groups", NULL);
	u->name = strdup(name);
	u->uid = uid != NULL ? strdup(uid) : NULL;
	code = u->name != NULL ? 0 : 403;
	if (cJSON_IsArray(groups) && cJSON_GetArraySize(groups) > 0) {
		const cJSON *g;

		u->groups = calloc((size_t)cJSON_GetArraySize(groups), sizeof(*u->groups));
		if (u->groups == NULL)
			code = 403;
		cJSON_ArrayForEach(g, groups) {
			if (u->groups == NULL || !cJSON_IsString(g))
				continue;
			u->groups[u->ngroups] = strdup(g->valuestring);
			if (u->groups[u->ngroups] == NULL)
				code = 403;
			else
				u->ngroups++;
		}
	}
	if (code != 0) {
		snprintf(why, why_size, "out of memory");
		kube_httpd_user_release(u);
	}
out:
	if (review != NULL && spec != NULL)
		cJSON_DeleteItemFromObjectCaseSensitive(spec, "token");
	cJSON_Delete(review);
	cJSON_Delete(out);
	return code;
}

/* Fills spec's user, uid and groups. 0 or -1 (out of memory). */
static int add_subject(cJSON *spec, const struct kube_httpd_user *u)
{
	cJSON *groups;

	if (cJSON_AddStringToObject(spec, "user", u->name) == NULL)
		return -1;
	if (u->uid != NULL && cJSON_AddStringToObject(spec, "uid", u->uid) == NULL)
		return -1;
	if (u->ngroups == 0)
		return 0;
	groups = cJSON_AddArrayToObject(spec, "groups");
	if (groups == NULL)
		return -1;
	for (size_t i = 0; i < u->ngroups; i++)
		if (!cJSON_AddItemToArray(groups, cJSON_CreateString(u->groups[i])))
			return -1;
	return 0;
}

/* Sends a SubjectAccessReview (spec filled but for the subject): 0 allowed, 403 not or
 * cannot ask ("Forbidden..." in why only for a real refusal, which the caller writes). */
static int review_access(struct kube_httpd_auth *a, const struct kube_httpd_user *u, cJSON *review,
			 cJSON *spec, char *why, size_t why_size, bool *refused)
{
	cJSON *out;
	int code = 403;

	*refused = false;
	if (add_subject(spec, u) < 0) {
		snprintf(why, why_size, "out of memory");
		return 403;
	}
	out = post_review(a, ACCESS_REVIEW_PATH, review, why, why_size);
	if (out == NULL)
		return 403;
	if (cJSON_IsTrue(kube_json_get(out, "status", "allowed", NULL)))
		code = 0;
	else
		*refused = true;
	cJSON_Delete(out);
	return code;
}

/* SubjectAccessReview of get on the nonResourceURL path: 0 or 403. */
static int authorize(struct kube_httpd_auth *a, const struct kube_httpd_user *u, const char *path,
		     char *why, size_t why_size)
{
	cJSON *spec, *review = new_review("SubjectAccessReview", "authorization.k8s.io/v1", &spec);
	cJSON *attrs;
	bool refused;
	int code = 403;

	if (review == NULL)
		goto oom;
	attrs = cJSON_AddObjectToObject(spec, "nonResourceAttributes");
	if (attrs == NULL || cJSON_AddStringToObject(attrs, "path", path) == NULL ||
	    cJSON_AddStringToObject(attrs, "verb", "get") == NULL)
		goto oom;
	code = review_access(a, u, review, spec, why, why_size, &refused);
	if (refused)
		snprintf(why, why_size, "Forbidden: user \"%s\" may not get %s (RBAC: grant get on "
			 "the nonResourceURL %s)", u->name, path, path);
	goto out;
oom:
	snprintf(why, why_size, "out of memory");
out:
	cJSON_Delete(review);
	return code;
}

static void count(struct kube_httpd_auth *a, uint64_t *field)
{
	pthread_mutex_lock(&a->mu);
	(*field)++;
	pthread_mutex_unlock(&a->mu);
}

int kube_httpd_auth_check(void *data, const struct kube_http_request *req, char *why,
			  size_t why_size)
{
	struct kube_httpd_auth *a = data;
	const char *h = kube_http_request_header(req, "Authorization");
	const char *path = kube_http_request_path(req);
	struct kube_httpd_user u = {0};
	unsigned char key[32];
	int code;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0') {
		snprintf(why, why_size, "Unauthorized: a bearer token is required");
		return 401;
	}
	cache_key(h + 7, path, key);
	if (cache_get(a, key, &code, why, why_size))
		return code;
	count(a, &a->stats.token_reviews);
	code = authenticate(a, h + 7, &u, why, why_size);
	if (code == 0) {
		count(a, &a->stats.access_reviews);
		code = authorize(a, &u, path, why, why_size);
	}
	/* "Cannot ask" (no review answer) is not cached: the next scrape asks again. */
	if (code == 0 || code == 401 || strncmp(why, "Forbidden", 9) == 0)
		cache_put(a, key, code, why);
	kube_httpd_user_release(&u);
	return code;
}

/* ---- generic use ---- */

void kube_httpd_user_release(struct kube_httpd_user *u)
{
	if (u == NULL)
		return;
	free(u->name);
	free(u->uid);
	for (size_t i = 0; i < u->ngroups; i++)
		free(u->groups[i]);
	free(u->groups);
	memset(u, 0, sizeof(*u));
}

int kube_httpd_user_copy(struct kube_httpd_user *dst, const struct kube_httpd_user *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->name = src->name != NULL ? strdup(src->name) : NULL;
	dst->uid = src->uid != NULL ? strdup(src->uid) : NULL;
	if (src->ngroups > 0)
		dst->groups = calloc(src->ngroups, sizeof(*dst->groups));
	if ((src->name != NULL && dst->name == NULL) || (src->uid != NULL && dst->uid == NULL) ||
	    (src->ngroups > 0 && dst->groups == NULL))
		goto oom;
	for (; dst->ngroups < src->ngroups; dst->ngroups++) {
		dst->groups[dst->ngroups] = strdup(src->groups[dst->ngroups]);
		if (dst->groups[dst->ngroups] == NULL)
			goto oom;
	}
	return 0;
oom:
	kube_httpd_user_release(dst);
	return KUBE_ENOMEM;
}

static void hash_token(const char *token, unsigned char key[32])
{
	unsigned int n = 0;

	memset(key, 0, 32);
	EVP_Digest(token, strlen(token), key, &n, EVP_sha256(), NULL);
}

static bool user_cache_get(struct kube_httpd_auth *a, const unsigned char key[32],
			   struct kube_httpd_user *out)
{
	int64_t now = now_ns();
	bool hit = false;

	pthread_mutex_lock(&a->mu);
	for (int i = 0; i < CACHE_SLOTS && !hit; i++) {
		struct user_slot *s = &a->users[i];

		if (s->expires_ns > now && memcmp(s->key, key, 32) == 0 &&
		    kube_httpd_user_copy(out, &s->user) == 0) {
			hit = true;
			a->stats.cache_hits++;
		}
	}
	pthread_mutex_unlock(&a->mu);
	return hit;
}

static void user_cache_put(struct kube_httpd_auth *a, const unsigned char key[32],
			   const struct kube_httpd_user *u)
{
	struct user_slot *victim;
	struct kube_httpd_user copy;

	if (kube_httpd_user_copy(&copy, u) != 0)
		return;
	pthread_mutex_lock(&a->mu);
	victim = &a->users[0];
	for (int i = 0; i < CACHE_SLOTS; i++) {
		if (memcmp(a->users[i].key, key, 32) == 0) {
			victim = &a->users[i];
			break;
		}
		if (a->users[i].expires_ns < victim->expires_ns)
			victim = &a->users[i];
	}
	kube_httpd_user_release(&victim->user);
	memcpy(victim->key, key, 32);
	victim->expires_ns = now_ns() + a->cache_ns;
	victim->user = copy;
	pthread_mutex_unlock(&a->mu);
}

int kube_httpd_auth_user(struct kube_httpd_auth *a, const struct kube_http_request *req,
			 struct kube_httpd_user *out, char *why, size_t why_size)
{
	const char *h = kube_http_request_header(req, "Authorization");
	unsigned char key[32];
	int code;

	memset(out, 0, sizeof(*out));
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0') {
		snprintf(why, why_size, "Unauthorized: a bearer token is required");
		return 401;
	}
	hash_token(h + 7, key);
	if (user_cache_get(a, key, out))
		return 0;
	count(a, &a->stats.token_reviews);
	code = authenticate(a, h + 7, out, why, why_size);
	if (code == 0)
		user_cache_put(a, key, out);
	return code;
}

/* The access cache key: the subject and the attributes, each field ended by a newline. */
static void access_key(const struct kube_httpd_user *u, const struct kube_httpd_access *w,
		       unsigned char key[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const char *parts[] = {"sar", u->name, u->uid, w->verb, w->group, w->resource,
			       w->namespace, w->name, w->subresource};
	unsigned int n = 0;

	memset(key, 0, 32);
	if (ctx == NULL)
		return;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1) {
		for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
			const char *p = parts[i] != NULL ? parts[i] : "";

			EVP_DigestUpdate(ctx, p, strlen(p) + 1);
		}
		for (size_t i = 0; i < u->ngroups; i++)
			EVP_DigestUpdate(ctx, u->groups[i], strlen(u->groups[i]) + 1);
		EVP_DigestFinal_ex(ctx, key, &n);
	}
	EVP_MD_CTX_free(ctx);
}

int kube_httpd_auth_can(struct kube_httpd_auth *a, const struct kube_httpd_user *u,
			const struct kube_httpd_access *w, char *why, size_t why_size)
{
	cJSON *spec = NULL, *review = NULL, *attrs;
	unsigned char key[32];
	bool refused = false;
	int code = 403;
	const char *ns = w != NULL && w->namespace != NULL ? w->namespace : "";
	const char *sub = w != NULL && w->subresource != NULL ? w->subresource : "";

	if (a == NULL || u == NULL || u->name == NULL || w == NULL || w->verb == NULL ||
	    w->resource == NULL) {
		snprintf(why, why_size, "Forbidden: nothing to review");
		return 403;
	}
	access_key(u, w, key);
	if (cache_get(a, key, &code, why, why_size))
		return code;
	count(a, &a->stats.access_reviews);
	review = new_review("SubjectAccessReview", "authorization.k8s.io/v1", &spec);
	if (review == NULL)
		goto oom;
	attrs = cJSON_AddObjectToObject(spec, "resourceAttributes");
	if (attrs == NULL || cJSON_AddStringToObject(attrs, "verb", w->verb) == NULL ||
	    cJSON_AddStringToObject(attrs, "group", w->group != NULL ? w->group : "") == NULL ||
	    cJSON_AddStringToObject(attrs, "resource", w->resource) == NULL ||
	    (*ns && cJSON_AddStringToObject(attrs, "namespace", ns) == NULL) ||
	    (w->name != NULL && cJSON_AddStringToObject(attrs, "name", w->name) == NULL) ||
	    (*sub && cJSON_AddStringToObject(attrs, "subresource", sub) == NULL))
		goto oom;
	code = review_access(a, u, review, spec, why, why_size, &refused);
	if (refused)
		snprintf(why, why_size, "Forbidden: user \"%s\" may not %s %s%s%s%s%s%s%s", u->name,
			 w->verb, w->resource, *sub ? "/" : "", sub,
			 w->group != NULL && *w->group ? "." : "", w->group != NULL ? w->group : "",
			 *ns ? " in namespace " : " cluster-wide", ns);
	if (code == 0 || refused)
		cache_put(a, key, code, why);
	cJSON_Delete(review);
	return code;
oom:
	snprintf(why, why_size, "out of memory");
	cJSON_Delete(review);
	return 403;
}
