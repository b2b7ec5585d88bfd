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

struct kube_httpd_auth {
	struct kube_client *client;
	int64_t cache_ns;
	pthread_mutex_t mu;
	struct slot slots[CACHE_SLOTS];
	struct kube_httpd_auth_stats stats;
};

/* Who the TokenReview says the caller is. */
struct user {
	char *name, *uid;
	cJSON *groups; /* array of strings, or NULL */
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
static int authenticate(struct kube_httpd_auth *a, const char *token, struct user *u,
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
	u->groups = cJSON_IsArray(groups) ? cJSON_Duplicate(groups, true) : NULL;
	code = u->name != NULL ? 0 : 403;
out:
	if (review != NULL && spec != NULL)
		cJSON_DeleteItemFromObjectCaseSensitive(spec, "token");
	cJSON_Delete(review);
	cJSON_Delete(out);
	return code;
}

/* SubjectAccessReview of get on the nonResourceURL path: 0 or 403. */
static int authorize(struct kube_httpd_auth *a, const struct user *u, const char *path,
		     char *why, size_t why_size)
{
	cJSON *spec, *review = new_review("SubjectAccessReview", "authorization.k8s.io/v1", &spec);
	cJSON *out = NULL, *attrs;
	int code = 403;

	if (review == NULL)
		goto oom;
	attrs = cJSON_AddObjectToObject(spec, "nonResourceAttributes");
	if (attrs == NULL || cJSON_AddStringToObject(spec, "user", u->name) == NULL ||
	    cJSON_AddStringToObject(attrs, "path", path) == NULL ||
	    cJSON_AddStringToObject(attrs, "verb", "get") == NULL)
		goto oom;
	if (u->uid != NULL)
		cJSON_AddStringToObject(spec, "uid", u->uid);
	if (u->groups != NULL)
		cJSON_AddItemToObject(spec, "groups", cJSON_Duplicate(u->groups, true));
	out = post_review(a, ACCESS_REVIEW_PATH, review, why, why_size);
	if (out == NULL)
		goto out;
	if (cJSON_IsTrue(kube_json_get(out, "status", "allowed", NULL))) {
		code = 0;
		goto out;
	}
	snprintf(why, why_size, "Forbidden: user \"%s\" may not get %s (RBAC: grant get on the "
		 "nonResourceURL %s)", u->name, path, path);
	goto out;
oom:
	snprintf(why, why_size, "out of memory");
out:
	cJSON_Delete(review);
	cJSON_Delete(out);
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
	struct user u = {0};
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
	free(u.name);
	free(u.uid);
	cJSON_Delete(u.groups);
	return code;
}
