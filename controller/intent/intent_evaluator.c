/* The external evaluator (see intent_evaluator.h): a FIFO of calls served by a small pool of
 * threads with libcurl; results are kept per Intent key. */
#include "intent_evaluator.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <uthash.h>

#include <cjson/cJSON.h>

#include "intent_governance.h"
#include "intent_policy.h"
#include "kube_error.h"
#include "kube_json.h"

enum call_state { CALL_QUEUED, CALL_RUNNING, CALL_DONE };

struct call {
	char *key;
	int64_t gen;
	char *url;
	char *body;
	int timeout_s;
	enum call_state state;
	int orphan;                /* forgotten or replaced while running: the thread frees it */
	struct intent_eval_result res;
	struct call *next_q;       /* FIFO link while queued */
	UT_hash_handle hh;
};

struct intent_evaluator {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t threads[INTENT_EVAL_THREADS];
	int nthreads;
	atomic_int stop;
	struct call *calls;        /* by key */
	struct call *qhead, *qtail;
	intent_evaluator_done_fn done;
	void *ud;
};

static void call_free(struct call *c)
{
	if (!c)
		return;
	free(c->key);
	free(c->url);
	free(c->body);
	free(c->res.body);
	free(c);
}

/* ---- one call ------------------------------------------------------------------------- */

struct sink {
	char *buf;
	size_t len;
	int too_big;
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
	struct sink *s = ud;
	size_t add = sz * n;

	if (s->len + add > INTENT_EVAL_BODY_MAX) {
		s->too_big = 1;
		return 0;
	}
	char *nb = realloc(s->buf, s->len + add + 1);
	if (!nb)
		return 0;
	s->buf = nb;
	memcpy(s->buf + s->len, p, add);
	s->len += add;
	s->buf[s->len] = '\0';
	return add;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const atomic_int *flag = ud;
	(void)dt; (void)dn; (void)ut; (void)un;
	return flag && atomic_load(flag) ? 1 : 0;
}

static int cap_timeout(int s)
{
	return s < 1 ? 1 : s > INTENT_EVAL_TIMEOUT_MAX_S ? INTENT_EVAL_TIMEOUT_MAX_S : s;
}

static int http_rc(long code)
{
	if (code == 400) return KUBE_EBADREQUEST;
	if (code == 401) return KUBE_EUNAUTHORIZED;
	if (code == 403) return KUBE_EFORBIDDEN;
	if (code == 404) return KUBE_ENOTFOUND;
	if (code == 429) return KUBE_ETOOMANY;
	if (code == 504) return KUBE_ESERVERTIMEOUT;
	if (code >= 500 && code <= 599) return KUBE_ESERVER;
	return KUBE_EHTTP;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void intent_evaluator_call(const char *url, int timeout_s, const char *body,
			   const atomic_int *abort_flag, struct intent_eval_result *out)
{
	struct sink s = {0};
	struct curl_slist *hdrs = NULL;
	CURL *h;
	CURLcode cc;
	int t = cap_timeout(timeout_s);

	memset(out, 0, sizeof(*out));
	if (!url || !body) {
		out->rc = KUBE_EINVAL;
		snprintf(out->detail, sizeof(out->detail), "no URL or body");
		return;
	}
	pthread_once(&curl_once, curl_init_once);
	h = curl_easy_init();
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = hdrs ? curl_slist_append(hdrs, "Accept: application/json") : NULL;
	if (!h || !hdrs) {
		out->rc = KUBE_ENOMEM;
		snprintf(out->detail, sizeof(out->detail), "out of memory");
		goto done;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)t * 1000);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)t * 1000);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)abort_flag);
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->http_status);
	if (cc == CURLE_OPERATION_TIMEDOUT) {
		out->rc = KUBE_ETIMEDOUT;
		snprintf(out->detail, sizeof(out->detail), "no answer within %d s", t);
	} else if (cc == CURLE_WRITE_ERROR && s.too_big) {
		out->rc = KUBE_ETOOBIG;
		snprintf(out->detail, sizeof(out->detail), "answer longer than %d bytes",
			 INTENT_EVAL_BODY_MAX);
	} else if (cc == CURLE_ABORTED_BY_CALLBACK) {
		out->rc = KUBE_ECANCELED;
		snprintf(out->detail, sizeof(out->detail), "canceled (operator stopping)");
	} else if (cc != CURLE_OK) {
		out->rc = KUBE_EIO;
		snprintf(out->detail, sizeof(out->detail), "%s", curl_easy_strerror(cc));
	} else if (out->http_status < 200 || out->http_status > 299) {
		out->rc = http_rc(out->http_status);
		snprintf(out->detail, sizeof(out->detail), "HTTP %ld", out->http_status);
	} else {
		out->body = s.buf ? s.buf : strdup("");
		out->len = s.buf ? s.len : 0;
		s.buf = NULL;
		if (!out->body) {
			out->rc = KUBE_ENOMEM;
			snprintf(out->detail, sizeof(out->detail), "out of memory");
		}
	}
done:
	free(s.buf);
	curl_slist_free_all(hdrs);
	if (h)
		curl_easy_cleanup(h);
}

/* ---- the pool ------------------------------------------------------------------------- */

static void *worker(void *arg)
{
	struct intent_evaluator *ev = arg;

	pthread_mutex_lock(&ev->mu);
	for (;;) {
		while (!ev->qhead && !atomic_load(&ev->stop))
			pthread_cond_wait(&ev->cv, &ev->mu);
		if (atomic_load(&ev->stop))
			break;
		struct call *c = ev->qhead;
		ev->qhead = c->next_q;
		if (!ev->qhead)
			ev->qtail = NULL;
		c->next_q = NULL;
		c->state = CALL_RUNNING;
		pthread_mutex_unlock(&ev->mu);

		struct intent_eval_result res;
		intent_evaluator_call(c->url, c->timeout_s, c->body, &ev->stop, &res);

		pthread_mutex_lock(&ev->mu);
		c->res = res;
		c->state = CALL_DONE;
		if (c->orphan) {
			call_free(c);
			continue;
		}
		char *key = strdup(c->key);
		pthread_mutex_unlock(&ev->mu);
		if (key && !atomic_load(&ev->stop))
			ev->done(key, ev->ud);
		free(key);
		pthread_mutex_lock(&ev->mu);
	}
	pthread_mutex_unlock(&ev->mu);
	return NULL;
}

struct intent_evaluator *intent_evaluator_new(intent_evaluator_done_fn done, void *ud)
{
	struct intent_evaluator *ev = calloc(1, sizeof(*ev));

	if (!ev || !done) {
		free(ev);
		return NULL;
	}
	pthread_mutex_init(&ev->mu, NULL);
	pthread_cond_init(&ev->cv, NULL);
	atomic_init(&ev->stop, 0);
	ev->done = done;
	ev->ud = ud;
	for (int i = 0; i < INTENT_EVAL_THREADS; i++)
		if (pthread_create(&ev->threads[ev->nthreads], NULL, worker, ev) == 0)
			ev->nthreads++;
	if (ev->nthreads == 0) {
		intent_evaluator_free(ev);
		return NULL;
	}
	return ev;
}

void intent_evaluator_free(struct intent_evaluator *ev)
{
	struct call *c, *tmp;

	if (!ev)
		return;
	pthread_mutex_lock(&ev->mu);
	atomic_store(&ev->stop, 1);
	pthread_cond_broadcast(&ev->cv);
	pthread_mutex_unlock(&ev->mu);
	for (int i = 0; i < ev->nthreads; i++)
		pthread_join(ev->threads[i], NULL);
	HASH_ITER(hh, ev->calls, c, tmp) {
		HASH_DEL(ev->calls, c);
		call_free(c);
	}
	pthread_cond_destroy(&ev->cv);
	pthread_mutex_destroy(&ev->mu);
	free(ev);
}

/* Takes c out of the table (and the FIFO); frees it unless a thread is running it. Under mu. */
static void drop_locked(struct intent_evaluator *ev, struct call *c)
{
	HASH_DEL(ev->calls, c);
	if (c->state == CALL_QUEUED) {
		struct call **pp = &ev->qhead, *prev = NULL;
		while (*pp && *pp != c) {
			prev = *pp;
			pp = &(*pp)->next_q;
		}
		if (*pp)
			*pp = c->next_q;
		if (ev->qtail == c)
			ev->qtail = prev;
	}
	if (c->state == CALL_RUNNING)
		c->orphan = 1;
	else
		call_free(c);
}

int intent_evaluator_poll(struct intent_evaluator *ev, const char *key, int64_t gen,
			  const char *url, int timeout_s, const char *body,
			  struct intent_eval_result *out)
{
	struct call *c;
	int rc = 0;

	if (!ev || !key || !url || !body || !out)
		return KUBE_EINVAL;
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&ev->mu);
	HASH_FIND_STR(ev->calls, key, c);
	if (c && (c->gen != gen || strcmp(c->url, url) != 0)) {
		/* Another generation or URL: replace it (a running call ends unreported). */
		drop_locked(ev, c);
		c = NULL;
	}
	if (c && c->state == CALL_DONE) {
		*out = c->res;
		out->body = NULL;
		if (c->res.body && !(out->body = malloc(c->res.len + 1))) {
			rc = KUBE_ENOMEM;
		} else {
			if (out->body)
				memcpy(out->body, c->res.body, c->res.len + 1);
			rc = 1;
		}
	} else if (!c) {
		c = calloc(1, sizeof(*c));
		if (c) {
			c->key = strdup(key);
			c->url = strdup(url);
			c->body = strdup(body);
		}
		if (!c || !c->key || !c->url || !c->body) {
			call_free(c);
			rc = KUBE_ENOMEM;
		} else {
			c->gen = gen;
			c->timeout_s = cap_timeout(timeout_s);
			c->state = CALL_QUEUED;
			HASH_ADD_KEYPTR(hh, ev->calls, c->key, strlen(c->key), c);
			if (ev->qtail)
				ev->qtail->next_q = c;
			else
				ev->qhead = c;
			ev->qtail = c;
			pthread_cond_signal(&ev->cv);
		}
	}
	pthread_mutex_unlock(&ev->mu);
	return rc;
}

void intent_evaluator_forget(struct intent_evaluator *ev, const char *key)
{
	struct call *c;

	if (!ev || !key)
		return;
	pthread_mutex_lock(&ev->mu);
	HASH_FIND_STR(ev->calls, key, c);
	if (c)
		drop_locked(ev, c);
	pthread_mutex_unlock(&ev->mu);
}

/* ---- the controller's step -------------------------------------------------------------- */

static void copy_item(cJSON *dst, const cJSON *src, const char *name)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(src, name);
	cJSON *d = it ? cJSON_Duplicate(it, 1) : NULL;
	if (d)
		cJSON_AddItemToObject(dst, name, d);
}

char *intent_evaluator_body(const cJSON *intent)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *md = o ? cJSON_AddObjectToObject(o, "metadata") : NULL;
	const cJSON *imd = cJSON_GetObjectItemCaseSensitive(intent, "metadata");
	char *s = NULL;

	if (md) {
		copy_item(o, intent, "apiVersion");
		copy_item(o, intent, "kind");
		copy_item(md, imd, "name");
		copy_item(md, imd, "namespace");
		copy_item(md, imd, "uid");
		copy_item(md, imd, "generation");
		copy_item(md, imd, "labels");
		copy_item(o, intent, "spec");
		s = cJSON_PrintUnformatted(o);
	}
	cJSON_Delete(o);
	return s;
}

int intent_evaluator_fold(struct intent_evaluator *ev, const char *key, const cJSON *intent,
			  const struct intent_policy *policy, struct intent_report *rep)
{
	struct intent_eval_result res;
	int64_t gen = 0;
	char *body;
	int rc;

	if (!policy || !policy->evaluator_url || !rep)
		return 1;
	kube_json_get_int(intent, &gen, "metadata", "generation", NULL);
	body = intent_evaluator_body(intent);
	rc = body ? intent_evaluator_poll(ev, key, gen, policy->evaluator_url,
					  policy->evaluator_timeout_s, body, &res)
		  : KUBE_ENOMEM;
	free(body);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		memset(&res, 0, sizeof(res));
		res.rc = rc;
		snprintf(res.detail, sizeof(res.detail), "%s", ev ? kube_strerror(rc) : "no evaluator running");
	}
	intent_governance_apply_evaluator(rep, policy, res.rc, res.body, res.len);
	if (res.rc < 0)
		snprintf(rep->evaluator.message, sizeof(rep->evaluator.message),
			 "evaluator %s failed (%s): the rule score stands", policy->evaluator_url, res.detail);
	else if (rep->evaluator.result == INTENT_ERROR)
		snprintf(rep->evaluator.message, sizeof(rep->evaluator.message),
			 "evaluator %s answered no {\"score\": 0..1, \"reasons\": [...]} (HTTP %ld, %zu bytes): "
			 "the rule score stands", policy->evaluator_url, res.http_status, res.len);
	free(res.body);
	return 1;
}
