/* kubesim fault injection: a small mutex-guarded list of error and latency rules. */
#include "sim_fault.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kube_clock.h"
#include "kube_error.h"

/* Rate-limit rules live in their own list (sim_fault_check never sees them). */
struct rate_rule {
	char *method, *prefix;
	double qps, burst, tokens;
	int retry_after_s;
	int64_t last_ns;
	unsigned long admitted, rejected;
	struct rate_rule *next;
};

enum { REQ_GET, REQ_POST, REQ_PUT, REQ_PATCH, REQ_DELETE, REQ_OTHER, REQ_N };

struct rule {
	int latency; /* 0: error rule, 1: latency rule, 2: stall-watches rule */
	unsigned long gen; /* stall-watches: streams opened before this generation stall */
	char *method, *prefix;
	int status, remaining, unlimited, ms;
	struct rule *next;
};

struct sim_fault {
	pthread_mutex_t mu;
	struct rule *rules; /* in the order added */
	unsigned long stall_gen;
	struct rate_rule *rates;
	unsigned long nreq[REQ_N], nrejected;
};

int sim_fault_new(struct sim_fault **out)
{
	struct sim_fault *f = calloc(1, sizeof(*f));
	if (!f)
		return KUBE_ENOMEM;
	pthread_mutex_init(&f->mu, NULL);
	*out = f;
	return 0;
}

static void rule_free(struct rule *r)
{
	free(r->method);
	free(r->prefix);
	free(r);
}

static void clear_locked(struct sim_fault *f)
{
	while (f->rules) {
		struct rule *r = f->rules;
		f->rules = r->next;
		rule_free(r);
	}
	while (f->rates) {
		struct rate_rule *q = f->rates;
		f->rates = q->next;
		free(q->method);
		free(q->prefix);
		free(q);
	}
}

void sim_fault_free(struct sim_fault *f)
{
	if (!f)
		return;
	clear_locked(f);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

static int add(struct sim_fault *f, struct rule *r, const char *method, const char *prefix)
{
	r->method = strdup(method && *method ? method : "*");
	r->prefix = strdup(prefix ? prefix : "");
	if (!r->method || !r->prefix) {
		rule_free(r);
		return KUBE_ENOMEM;
	}
	pthread_mutex_lock(&f->mu);
	struct rule **tail = &f->rules;
	while (*tail)
		tail = &(*tail)->next;
	*tail = r;
	pthread_mutex_unlock(&f->mu);
	return 0;
}

int sim_fault_add_error(struct sim_fault *f, const char *method, const char *path_prefix,
			int status, int count)
{
	if (status < 400 || status > 599)
		return KUBE_EINVAL;
	struct rule *r = calloc(1, sizeof(*r));
	if (!r)
		return KUBE_ENOMEM;
	r->status = status;
	r->remaining = count;
	r->unlimited = count <= 0;
	return add(f, r, method, path_prefix);
}

int sim_fault_add_latency(struct sim_fault *f, const char *method, const char *path_prefix,
			  int ms)
{
	if (ms < 0)
		return KUBE_EINVAL;
	struct rule *r = calloc(1, sizeof(*r));
	if (!r)
		return KUBE_ENOMEM;
	r->latency = 1;
	r->ms = ms;
	return add(f, r, method, path_prefix);
}

int sim_fault_stall_watches(struct sim_fault *f, const char *path_prefix)
{
	struct rule *r = calloc(1, sizeof(*r));
	if (!r)
		return KUBE_ENOMEM;
	r->latency = 2;
	pthread_mutex_lock(&f->mu);
	r->gen = ++f->stall_gen;
	pthread_mutex_unlock(&f->mu);
	return add(f, r, "GET", path_prefix);
}

unsigned long sim_fault_watch_generation(struct sim_fault *f)
{
	pthread_mutex_lock(&f->mu);
	unsigned long g = f->stall_gen;
	pthread_mutex_unlock(&f->mu);
	return g;
}

int sim_fault_watch_stalled(struct sim_fault *f, unsigned long generation, const char *path)
{
	int stalled = 0;
	pthread_mutex_lock(&f->mu);
	for (struct rule *r = f->rules; r && !stalled; r = r->next)
		stalled = r->latency == 2 && r->gen > generation &&
			  strncmp(path, r->prefix, strlen(r->prefix)) == 0;
	pthread_mutex_unlock(&f->mu);
	return stalled;
}

void sim_fault_clear(struct sim_fault *f)
{
	pthread_mutex_lock(&f->mu);
	clear_locked(f);
	pthread_mutex_unlock(&f->mu);
}

static int matches(const struct rule *r, const char *method, const char *path)
{
	if (strcmp(r->method, "*") != 0 && strcasecmp(r->method, method) != 0)
		return 0;
	return strncmp(path, r->prefix, strlen(r->prefix)) == 0;
}

int sim_fault_check(struct sim_fault *f, const char *method, const char *path, int *delay_ms)
{
	int status = 0;
	*delay_ms = 0;
	pthread_mutex_lock(&f->mu);
	if (!f->rules) {
		pthread_mutex_unlock(&f->mu);
		return 0;
	}
	struct rule **pp = &f->rules;
	while (*pp) {
		struct rule *r = *pp;
		if (r->latency == 2 || !matches(r, method, path)) {
			pp = &r->next;
			continue;
		}
		if (r->latency) {
			*delay_ms += r->ms;
		} else if (!status) {
			status = r->status;
			if (!r->unlimited && --r->remaining <= 0) {
				/* used up: drop it so the rule list only shows what is still armed */
				*pp = r->next;
				rule_free(r);
				continue;
			}
		}
		pp = &r->next;
	}
	pthread_mutex_unlock(&f->mu);
	return status;
}

cJSON *sim_fault_rules(struct sim_fault *f)
{
	cJSON *arr = cJSON_CreateArray();
	if (!arr)
		return NULL;
	pthread_mutex_lock(&f->mu);
	for (struct rule *r = f->rules; r; r = r->next) {
		cJSON *o = cJSON_CreateObject();
		if (!o)
			break;
		cJSON_AddStringToObject(o, "type", r->latency == 2 ? "stall-watches"
						   : r->latency ? "latency" : "error");
		cJSON_AddStringToObject(o, "method", r->method);
		cJSON_AddStringToObject(o, "path", r->prefix);
		if (r->latency == 2) {
			cJSON_AddNumberToObject(o, "generation", (double)r->gen);
		} else if (r->latency) {
			cJSON_AddNumberToObject(o, "ms", r->ms);
		} else {
			cJSON_AddNumberToObject(o, "status", r->status);
			cJSON_AddNumberToObject(o, "remaining", r->unlimited ? -1 : r->remaining);
		}
		cJSON_AddItemToArray(arr, o);
	}
	for (struct rate_rule *q = f->rates; q; q = q->next) {
		cJSON *o = cJSON_CreateObject();
		if (!o)
			break;
		cJSON_AddStringToObject(o, "type", "rate-limit");
		cJSON_AddStringToObject(o, "method", q->method);
		cJSON_AddStringToObject(o, "path", q->prefix);
		cJSON_AddNumberToObject(o, "qps", q->qps);
		cJSON_AddNumberToObject(o, "burst", q->burst);
		cJSON_AddNumberToObject(o, "retryAfter", q->retry_after_s);
		cJSON_AddNumberToObject(o, "admitted", (double)q->admitted);
		cJSON_AddNumberToObject(o, "rejected", (double)q->rejected);
		cJSON_AddItemToArray(arr, o);
	}
	pthread_mutex_unlock(&f->mu);
	return arr;
}

const char *sim_fault_reason(int status)
{
	switch (status) {
	case 400:
		return "BadRequest";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "NotFound";
	case 405:
		return "MethodNotAllowed";
	case 406:
		return "NotAcceptable";
	case 409:
		return "Conflict";
	case 410:
		return "Expired";
	case 415:
		return "UnsupportedMediaType";
	case 422:
		return "Invalid";
	case 429:
		return "TooManyRequests";
	case 503:
		return "ServiceUnavailable";
	case 504:
		return "Timeout";
	default:
		return status >= 500 ? "InternalError" : "BadRequest";
	}
}

/* ---- rate limit ---- */

int sim_fault_add_rate_limit(struct sim_fault *f, const char *method, const char *path_prefix,
			     double qps, int burst, int retry_after_s)
{
	if (!(qps > 0) || burst < 1 || retry_after_s < 0)
		return KUBE_EINVAL;
	struct rate_rule *q = calloc(1, sizeof(*q));
	if (!q)
		return KUBE_ENOMEM;
	q->method = strdup(method && *method ? method : "*");
	q->prefix = strdup(path_prefix ? path_prefix : "");
	if (!q->method || !q->prefix) {
		free(q->method);
		free(q->prefix);
		free(q);
		return KUBE_ENOMEM;
	}
	q->qps = qps;
	q->burst = q->tokens = burst;
	q->retry_after_s = retry_after_s;
	q->last_ns = kube_clock_now(NULL);
	pthread_mutex_lock(&f->mu);
	struct rate_rule **tail = &f->rates;
	while (*tail)
		tail = &(*tail)->next;
	*tail = q;
	pthread_mutex_unlock(&f->mu);
	return 0;
}

static int method_index(const char *m)
{
	static const char *const names[] = { "GET", "POST", "PUT", "PATCH", "DELETE" };
	for (int i = 0; i < REQ_OTHER; i++)
		if (strcasecmp(m, names[i]) == 0)
			return i;
	return REQ_OTHER;
}

static int rate_matches(const struct rate_rule *q, const char *method, const char *path)
{
	if (strcmp(q->method, "*") != 0 && strcasecmp(q->method, method) != 0)
		return 0;
	return strncmp(path, q->prefix, strlen(q->prefix)) == 0;
}

int sim_fault_check_rate(struct sim_fault *f, const char *method, const char *path,
			 int *retry_after_s)
{
	int status = 0;
	int64_t now = kube_clock_now(NULL);
	*retry_after_s = 0;
	pthread_mutex_lock(&f->mu);
	f->nreq[method_index(method)]++;
	/* Refill every matching rule; refuse when one is empty (taking nothing from the others). */
	for (struct rate_rule *q = f->rates; q; q = q->next) {
		if (!rate_matches(q, method, path))
			continue;
		if (now > q->last_ns) {
			q->tokens += (double)(now - q->last_ns) * q->qps / 1e9;
			if (q->tokens > q->burst)
				q->tokens = q->burst;
			q->last_ns = now;
		}
		if (q->tokens < 1.0 && !status) {
			status = 429;
			*retry_after_s = q->retry_after_s;
			q->rejected++;
		}
	}
	for (struct rate_rule *q = f->rates; q && !status; q = q->next) {
		if (rate_matches(q, method, path)) {
			q->tokens -= 1.0;
			q->admitted++;
		}
	}
	if (status)
		f->nrejected++;
	pthread_mutex_unlock(&f->mu);
	return status;
}

cJSON *sim_fault_requests(struct sim_fault *f)
{
	static const char *const names[] = { "GET", "POST", "PUT", "PATCH", "DELETE", "other" };
	cJSON *o = cJSON_CreateObject();
	unsigned long total = 0;
	if (!o)
		return NULL;
	pthread_mutex_lock(&f->mu);
	for (int i = 0; i < REQ_N; i++) {
		cJSON_AddNumberToObject(o, names[i], (double)f->nreq[i]);
		total += f->nreq[i];
	}
	cJSON_AddNumberToObject(o, "total", (double)total);
	cJSON_AddNumberToObject(o, "rejected429", (double)f->nrejected);
	pthread_mutex_unlock(&f->mu);
	return o;
}
