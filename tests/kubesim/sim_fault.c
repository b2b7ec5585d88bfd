/* kubesim fault injection: a small mutex-guarded list of error and latency rules. */
#include "sim_fault.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kube_error.h"

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
