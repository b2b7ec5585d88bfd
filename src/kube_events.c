/* Event recorder: record() builds the ObjectReference and queues; one worker thread creates
 * Events, or patches count/lastTimestamp of a recent identical one (client-go's EventLogger). */
#include "kube_events.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>

#include "kube_clock.h"
#include "kube_error.h"
#include "kube_json.h"
#include "kube_log.h"
#include "kube_metrics.h"
#include "kube_rest.h"
#include "kube_time.h"

#define REASON_MAX 128
#define ACTION_MAX 128
#define MESSAGE_MAX 1024
#define NAME_MAX_LEN 253

struct item {
	struct item *next;
	cJSON *ref; /* the ObjectReference */
	char *type;
	char *reason;
	char *action;
	char *message;
	int64_t mono_ns;
	int64_t wall_ns;
};

/* An Event this recorder wrote recently: where it is and how often it happened. Keyed by a
 * 64-bit hash of client-go's aggregation key (the message included) instead of the key itself:
 * up to cache_size of these live as long as the process, and the keys were most of their size. */
struct seen {
	UT_hash_handle hh;
	uint64_t key;
	long count;
	int64_t last_mono_ns;
	char *name;        /* into ns */
	char ns[];         /* "ns\0name" */
};

/* The spam filter's token bucket for one involved object (by a hash of its reference). */
struct bucket {
	UT_hash_handle hh;
	uint64_t key;
	double tokens;
	int64_t last_ns;
};

/* FNV-1a 64 of the strings, each followed by a 0x1f separator. */
static uint64_t key_hash(const char *const *parts, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++) {
		for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++) {
			h ^= *p;
			h *= 1099511628211ULL;
		}
		h ^= 0x1f;
		h *= 1099511628211ULL;
	}
	return h;
}

struct kube_events {
	struct kube_client *client;
	char *component;
	char *instance;
	size_t queue_size;
	int64_t window_ns;
	size_t cache_size;
	int spam_burst; /* <= 0: no filter */
	int64_t spam_refill_ns;
	int64_t drain_ns;
	struct kube_clock *clock;

	pthread_mutex_t mu;
	pthread_cond_t work;  /* an item arrived or stopping */
	pthread_cond_t idle;  /* done advanced */
	struct item *head, *tail;
	size_t len;
	uint64_t queued, done; /* items ever queued / ever finished */
	bool stopping;
	int64_t deadline_ns; /* when stopping: queued events not started by then are dropped */
	bool warned_full; /* log the first drop of a burst, not every one */
	pthread_t worker;

	/* Worker-only state: no lock. */
	struct seen *cache; /* uthash in LRU order: the head is the least recently used */
	struct bucket *buckets; /* same, for the spam filter */
	int64_t last_name_ns;

	struct kube_metric *m_dropped;
	struct kube_metric *m_writes;
};

static void item_free(struct item *it)
{
	if (!it)
		return;
	cJSON_Delete(it->ref);
	free(it->type);
	free(it->reason);
	free(it->action);
	free(it->message);
	free(it);
}

static void seen_free(struct seen *s)
{
	free(s);
}

/* ---- formatting ---- */

/* metav1.Time ("2026-01-01T00:00:00Z") or, with micro, metav1.MicroTime (".000000Z"). */
static void format_time(int64_t wall_ns, bool micro, char *out, size_t size)
{
	char *r = micro ? kube_time_format_micro(wall_ns, out, size)
			: kube_time_format(wall_ns / 1000000000, out, size);

	if (r == NULL && size > 0)
		out[0] = '\0';
}

/* Cuts s to at most max bytes without splitting a UTF-8 sequence. */
static void truncate_utf8(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	s[n] = '\0';
}

__attribute__((format(printf, 1, 0)))
static char *vformat(const char *fmt, va_list ap)
{
	va_list copy;
	char *s;
	int n;

	va_copy(copy, ap);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		return strdup("");
	s = malloc((size_t)n + 1);
	if (s)
		vsnprintf(s, (size_t)n + 1, fmt, ap);
	return s;
}

/* Copies the string fields keys[] of src into dst. Returns false on out-of-memory. */
static bool copy_strings(cJSON *dst, const cJSON *src, const char *const *keys, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const char *v = kube_json_get_str(src, keys[i], NULL);

		if (v && !cJSON_AddStringToObject(dst, keys[i], v))
			return false;
	}
	return true;
}

/* ObjectReference from an object (metadata.*) or from a reference (top-level fields). */
static cJSON *make_ref(const cJSON *obj)
{
	static const char *const top[] = {"kind", "apiVersion"};
	static const char *const meta[] = {"namespace", "name", "uid", "resourceVersion"};
	static const char *const ref_fields[] = {"kind", "apiVersion",	    "namespace", "name",
						 "uid",	 "resourceVersion", "fieldPath"};
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	cJSON *ref = cJSON_CreateObject();
	bool ok;

	if (!ref)
		goto out;
	if (cJSON_IsObject(md))
		ok = copy_strings(ref, obj, top, 2) && copy_strings(ref, md, meta, 4);
	else
		ok = copy_strings(ref, obj, ref_fields, 7);
	if (!ok) {
		cJSON_Delete(ref);
		ref = NULL;
	}
out:
	return ref;
}

/* ---- the worker ---- */

static const char *ref_str(const cJSON *ref, const char *key)
{
	const char *v = kube_json_get_str(ref, key, NULL);

	return v ? v : "";
}

/* client-go's getEventKey, minus what is constant per recorder (source), hashed. */
static uint64_t aggregation_key(const struct item *it)
{
	const cJSON *r = it->ref;
	const char *parts[] = {ref_str(r, "uid"), ref_str(r, "kind"), ref_str(r, "apiVersion"),
			       ref_str(r, "namespace"), ref_str(r, "name"), it->type, it->reason,
			       it->action, it->message};

	return key_hash(parts, sizeof(parts) / sizeof(parts[0]));
}

static const char *event_namespace(const struct item *it)
{
	const char *ns = kube_json_get_str(it->ref, "namespace", NULL);

	/* Cluster-scoped objects' Events live in "default", as client-go puts them. */
	return ns && *ns ? ns : "default";
}

static cJSON *build_event(struct kube_events *rec, const struct item *it, const char *name)
{
	char ts[40], micro[40];
	cJSON *ev = cJSON_CreateObject();
	cJSON *md, *src;
	bool ok;

	if (!ev)
		return NULL;
	format_time(it->wall_ns, false, ts, sizeof(ts));
	format_time(it->wall_ns, true, micro, sizeof(micro));
	md = cJSON_AddObjectToObject(ev, "metadata");
	src = cJSON_AddObjectToObject(ev, "source");
	ok = md && src && cJSON_AddStringToObject(ev, "apiVersion", "v1") &&
	     cJSON_AddStringToObject(ev, "kind", "Event") &&
	     cJSON_AddStringToObject(md, "name", name) &&
	     cJSON_AddStringToObject(md, "namespace", event_namespace(it)) &&
	     cJSON_AddItemReferenceToObject(ev, "involvedObject", it->ref) &&
	     cJSON_AddStringToObject(ev, "reason", it->reason) &&
	     cJSON_AddStringToObject(ev, "message", it->message) &&
	     cJSON_AddStringToObject(ev, "type", it->type) &&
	     cJSON_AddStringToObject(src, "component", rec->component) &&
	     cJSON_AddStringToObject(src, "host", rec->instance) &&
	     cJSON_AddStringToObject(ev, "firstTimestamp", ts) &&
	     cJSON_AddStringToObject(ev, "lastTimestamp", ts) &&
	     cJSON_AddNumberToObject(ev, "count", 1) &&
	     cJSON_AddStringToObject(ev, "eventTime", micro) &&
	     cJSON_AddStringToObject(ev, "reportingComponent", rec->component) &&
	     cJSON_AddStringToObject(ev, "reportingInstance", rec->instance) &&
	     cJSON_AddStringToObject(ev, "action", it->action);
	if (!ok) {
		cJSON_Delete(ev);
		return NULL;
	}
	return ev;
}

static void count_write(struct kube_events *rec, const char *result)
{
	kube_metric_inc(rec->m_writes, (const char *[]){result});
}

static void log_failure(const struct item *it, const char *verb, const char *ns, int rc,
			const struct kube_status *st)
{
	kube_log(KUBE_LOG_WARN, "events", "cannot write event", "verb", verb, "namespace", ns,
		 "object", ref_str(it->ref, "name"), "reason", it->reason, "error",
		 kube_strerror(rc), "detail", st->message ? st->message : "", NULL);
}

/* Remembers an Event just created (takes key), evicting the least recently used entry when full.
 * Out of memory only forgets: the next repeat then creates a new Event. */
static void cache_put(struct kube_events *rec, uint64_t key, const char *ns, const char *name,
		      int64_t mono_ns)
{
	struct seen *s = NULL, *old = NULL;
	size_t nl = strlen(ns), ml = strlen(name);

	HASH_FIND(hh, rec->cache, &key, sizeof(key), old);
	if (old) {
		HASH_DEL(rec->cache, old);
		seen_free(old);
	}
	if (HASH_COUNT(rec->cache) >= rec->cache_size && rec->cache) {
		old = rec->cache; /* head = least recently used */
		HASH_DEL(rec->cache, old);
		seen_free(old);
	}
	s = calloc(1, sizeof(*s) + nl + ml + 2);
	if (!s)
		return;
	s->key = key;
	memcpy(s->ns, ns, nl + 1);
	s->name = s->ns + nl + 1;
	memcpy(s->name, name, ml + 1);
	s->count = 1;
	s->last_mono_ns = mono_ns;
	HASH_ADD(hh, rec->cache, key, sizeof(s->key), s);
}

/* PATCHes count and lastTimestamp of a recent identical Event. Returns 0 when done, or the
 * error; the caller creates a new Event on KUBE_ENOTFOUND (it expired or was deleted). */
static int aggregate(struct kube_events *rec, const struct item *it, struct seen *s)
{
	struct kube_status st = {0};
	char ts[40], patch[128];
	int rc;

	format_time(it->wall_ns, false, ts, sizeof(ts));
	snprintf(patch, sizeof(patch), "{\"count\":%ld,\"lastTimestamp\":\"%s\"}", s->count + 1, ts);
	rc = kube_patch(rec->client, &KUBE_GVR_EVENTS, s->ns, s->name, NULL, KUBE_PATCH_MERGE, patch,
			NULL, &st);
	if (rc == 0) {
		s->count++;
		s->last_mono_ns = it->mono_ns;
		/* Move to the tail: most recently used. */
		HASH_DEL(rec->cache, s);
		HASH_ADD(hh, rec->cache, key, sizeof(s->key), s);
		count_write(rec, "patched");
	} else if (rc != KUBE_ENOTFOUND) {
		log_failure(it, "patch", s->ns, rc, &st);
		count_write(rec, "failed");
	}
	kube_status_release(&st);
	return rc;
}

static void create(struct kube_events *rec, const struct item *it, uint64_t key)
{
	struct kube_status st = {0};
	const char *objname = ref_str(it->ref, "name");
	const char *ns = event_namespace(it);
	char name[NAME_MAX_LEN + 1];
	int64_t t = it->wall_ns;
	cJSON *ev = NULL;
	int rc;

	/* "<object>.<hex ns>" as client-go names them; unique per recorder even when the clock
	 * does not move between two events (fake clocks, coarse clocks). */
	if (t <= rec->last_name_ns)
		t = rec->last_name_ns + 1;
	rec->last_name_ns = t;
	snprintf(name, sizeof(name), "%.*s.%llx", NAME_MAX_LEN - 17, objname, (unsigned long long)t);
	ev = build_event(rec, it, name);
	if (!ev) {
		count_write(rec, "failed");
		goto out;
	}
	rc = kube_create(rec->client, &KUBE_GVR_EVENTS, ns, ev, NULL, &st);
	if (rc != 0) {
		log_failure(it, "create", ns, rc, &st);
		count_write(rec, "failed");
		goto out;
	}
	count_write(rec, "created");
	cache_put(rec, key, ns, name, it->mono_ns);
out:
	cJSON_Delete(ev);
	kube_status_release(&st);
}

/* client-go's EventSourceObjectSpamFilter: a token bucket per involved object, so a hot loop
 * that keeps emitting (even identical, aggregated) Events cannot flood the API with writes.
 * Returns true when the Event may be written. Out of memory lets it through. */
static bool spam_allow(struct kube_events *rec, const struct item *it)
{
	const cJSON *r = it->ref;
	struct bucket *b = NULL;
	bool allow = true;
	double refill;

	if (rec->spam_burst <= 0)
		return true;
	const char *parts[] = {ref_str(r, "uid"), ref_str(r, "kind"), ref_str(r, "apiVersion"),
			       ref_str(r, "namespace"), ref_str(r, "name")};
	uint64_t key = key_hash(parts, sizeof(parts) / sizeof(parts[0]));
	HASH_FIND(hh, rec->buckets, &key, sizeof(key), b);
	if (b) {
		HASH_DEL(rec->buckets, b); /* re-added below: most recently used at the tail */
		refill = (double)(it->mono_ns - b->last_ns) / (double)rec->spam_refill_ns;
		if (refill > 0)
			b->tokens += refill;
		if (b->tokens > rec->spam_burst)
			b->tokens = rec->spam_burst;
		b->last_ns = it->mono_ns;
	} else {
		if (HASH_COUNT(rec->buckets) >= rec->cache_size && rec->buckets) {
			struct bucket *old = rec->buckets;

			HASH_DEL(rec->buckets, old);
			free(old);
		}
		b = calloc(1, sizeof(*b));
		if (!b)
			return true;
		b->key = key;
		b->tokens = rec->spam_burst;
		b->last_ns = it->mono_ns;
	}
	HASH_ADD(hh, rec->buckets, key, sizeof(b->key), b);
	if (b->tokens < 1)
		allow = false;
	else
		b->tokens -= 1;
	return allow;
}

static void process(struct kube_events *rec, const struct item *it)
{
	uint64_t key;
	struct seen *s = NULL;

	if (!spam_allow(rec, it)) {
		kube_log(KUBE_LOG_DEBUG, "events", "event filtered as spam", "object",
			 ref_str(it->ref, "name"), "reason", it->reason, NULL);
		count_write(rec, "filtered");
		return;
	}
	key = aggregation_key(it);
	HASH_FIND(hh, rec->cache, &key, sizeof(key), s);
	if (s && it->mono_ns - s->last_mono_ns <= rec->window_ns) {
		if (aggregate(rec, it, s) != KUBE_ENOTFOUND)
			return;
	}
	create(rec, it, key);
}

/* Shutdown ran out of time: drops what is still queued. Needs rec->mu held. */
static void drop_queue_locked(struct kube_events *rec)
{
	struct item *it;
	size_t n = 0;
	char num[24];

	while (rec->head) {
		it = rec->head;
		rec->head = it->next;
		item_free(it);
		n++;
	}
	rec->tail = NULL;
	rec->len = 0;
	rec->done += n;
	pthread_cond_broadcast(&rec->idle);
	kube_metric_add(rec->m_dropped, NULL, (double)n);
	snprintf(num, sizeof(num), "%zu", n);
	kube_log(KUBE_LOG_WARN, "events", "shutdown deadline passed, dropping queued events",
		 "count", num, NULL);
}

static void *worker(void *arg)
{
	struct kube_events *rec = arg;
	struct item *it;

	pthread_mutex_lock(&rec->mu);
	for (;;) {
		while (!rec->head && !rec->stopping)
			pthread_cond_wait(&rec->work, &rec->mu);
		/* Bounded drain: with the API unreachable every write takes a full request timeout,
		 * and a pod has only its termination grace period. */
		if (rec->head && rec->stopping && kube_clock_now(rec->clock) >= rec->deadline_ns)
			drop_queue_locked(rec);
		if (!rec->head)
			break; /* stopping and drained */
		it = rec->head;
		rec->head = it->next;
		if (!rec->head)
			rec->tail = NULL;
		rec->len--;
		pthread_mutex_unlock(&rec->mu);

		process(rec, it);
		item_free(it);

		pthread_mutex_lock(&rec->mu);
		rec->done++;
		pthread_cond_broadcast(&rec->idle);
	}
	pthread_mutex_unlock(&rec->mu);
	return NULL;
}

/* ---- public API ---- */

int kube_events_new(struct kube_client *client, const char *component, const char *instance,
		    const struct kube_events_opts *opts, struct kube_events **out)
{
	static const char *const result_label[] = {"result", NULL};
	struct kube_events_opts o = {0};
	struct kube_metrics *m;
	struct kube_events *rec;
	int rc = 0;

	if (!client || !component || !*component || !instance || !*instance || !out)
		return KUBE_EINVAL;
	if (opts)
		o = *opts;
	rec = calloc(1, sizeof(*rec));
	if (!rec)
		return KUBE_ENOMEM;
	rec->client = client;
	rec->queue_size = o.queue_size ? o.queue_size : 1000;
	rec->window_ns = o.window_ns ? o.window_ns : KUBE_SEC(600);
	rec->cache_size = o.cache_size ? o.cache_size : 4096;
	rec->spam_burst = o.spam_burst ? o.spam_burst : 25;
	rec->spam_refill_ns = o.spam_refill_ns > 0 ? o.spam_refill_ns : KUBE_SEC(300);
	rec->drain_ns = o.drain_ns ? o.drain_ns : KUBE_SEC(5);
	rec->clock = o.clock;
	rec->component = strdup(component);
	rec->instance = strndup(instance, 128); /* the API's reportingInstance limit */
	pthread_mutex_init(&rec->mu, NULL);
	pthread_cond_init(&rec->work, NULL);
	pthread_cond_init(&rec->idle, NULL);
	if (!rec->component || !rec->instance) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	m = o.metrics ? o.metrics : kube_metrics_default();
	rec->m_dropped = kube_metric_register(m, KUBE_COUNTER, "kube_events_dropped_total",
					      "Events dropped: queue full or shutdown deadline passed.",
					      NULL, NULL, 0);
	rec->m_writes = kube_metric_register(m, KUBE_COUNTER, "kube_events_writes_total",
					     "Event writes by result: created, patched (aggregated "
					     "repeat), failed, or filtered (spam filter).",
					     result_label, NULL, 0);
	if (pthread_create(&rec->worker, NULL, worker, rec) != 0)
		rc = KUBE_ENOMEM;
out:
	if (rc < 0) {
		pthread_cond_destroy(&rec->idle);
		pthread_cond_destroy(&rec->work);
		pthread_mutex_destroy(&rec->mu);
		free(rec->component);
		free(rec->instance);
		free(rec);
		return rc;
	}
	*out = rec;
	return 0;
}

void kube_events_shutdown(struct kube_events *rec)
{
	if (!rec)
		return;
	pthread_mutex_lock(&rec->mu);
	if (!rec->stopping) {
		rec->stopping = true;
		rec->deadline_ns = kube_clock_now(rec->clock) + rec->drain_ns;
		pthread_cond_broadcast(&rec->work);
	}
	pthread_mutex_unlock(&rec->mu);
}

void kube_events_free(struct kube_events *rec)
{
	struct seen *s, *tmp;
	struct bucket *b, *btmp;

	if (!rec)
		return;
	kube_events_shutdown(rec);
	pthread_join(rec->worker, NULL); /* the worker drains the queue before it exits */
	HASH_ITER(hh, rec->cache, s, tmp) {
		HASH_DEL(rec->cache, s);
		seen_free(s);
	}
	HASH_ITER(hh, rec->buckets, b, btmp) {
		HASH_DEL(rec->buckets, b);
		free(b);
	}
	pthread_cond_destroy(&rec->idle);
	pthread_cond_destroy(&rec->work);
	pthread_mutex_destroy(&rec->mu);
	free(rec->component);
	free(rec->instance);
	free(rec);
}

void kube_events_flush(struct kube_events *rec)
{
	uint64_t target;

	if (!rec)
		return;
	pthread_mutex_lock(&rec->mu);
	target = rec->queued;
	while (rec->done < target)
		pthread_cond_wait(&rec->idle, &rec->mu);
	pthread_mutex_unlock(&rec->mu);
}

static int enqueue(struct kube_events *rec, struct item *it)
{
	int rc = 0;

	pthread_mutex_lock(&rec->mu);
	if (rec->stopping) {
		rc = KUBE_ESHUTDOWN;
	} else if (rec->len >= rec->queue_size) {
		rc = KUBE_ETOOMANY;
	} else {
		if (rec->tail)
			rec->tail->next = it;
		else
			rec->head = it;
		rec->tail = it;
		rec->len++;
		rec->queued++;
		rec->warned_full = false;
		pthread_cond_signal(&rec->work);
	}
	if (rc == KUBE_ETOOMANY && !rec->warned_full) {
		rec->warned_full = true;
		kube_log(KUBE_LOG_WARN, "events", "event queue full, dropping events", "reason",
			 it->reason, NULL);
	}
	pthread_mutex_unlock(&rec->mu);
	if (rc == KUBE_ETOOMANY)
		kube_metric_inc(rec->m_dropped, NULL);
	return rc;
}

__attribute__((format(printf, 6, 0)))
static int recordv(struct kube_events *rec, const cJSON *obj, const char *type,
		   const char *reason, const char *action, const char *fmt, va_list ap)
{
	struct item *it = NULL;
	const char *bad = NULL;
	int rc = 0;

	if (!rec || !obj || !fmt)
		return KUBE_EINVAL;
	if (!type || (strcmp(type, KUBE_EVENT_NORMAL) != 0 && strcmp(type, KUBE_EVENT_WARNING) != 0))
		bad = "type must be Normal or Warning";
	else if (!reason || !*reason || strlen(reason) > REASON_MAX)
		bad = "reason must be 1..128 bytes";
	else if (action && (!*action || strlen(action) > ACTION_MAX))
		bad = "action must be 1..128 bytes";
	if (bad) {
		rc = KUBE_EINVAL;
		goto out;
	}
	it = calloc(1, sizeof(*it));
	if (!it) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	it->ref = make_ref(obj);
	it->type = strdup(type);
	it->reason = strdup(reason);
	it->action = strdup(action ? action : reason);
	it->message = vformat(fmt, ap);
	if (!it->ref || !it->type || !it->reason || !it->action || !it->message) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	if (!kube_json_get_str(it->ref, "name", NULL)) {
		bad = "involved object has no name";
		rc = KUBE_EINVAL;
		goto out;
	}
	truncate_utf8(it->message, MESSAGE_MAX);
	it->mono_ns = kube_clock_now(rec->clock);
	it->wall_ns = kube_clock_wall(rec->clock);
	rc = enqueue(rec, it);
	if (rc == 0)
		it = NULL;
out:
	if (bad)
		kube_log(KUBE_LOG_ERROR, "events", "invalid event", "reason", reason ? reason : "",
			 "error", bad, NULL);
	item_free(it);
	return rc;
}

int kube_events_record(struct kube_events *rec, const cJSON *involved_object, const char *type,
		       const char *reason, const char *message_fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, message_fmt);
	rc = recordv(rec, involved_object, type, reason, NULL, message_fmt, ap);
	va_end(ap);
	return rc;
}

int kube_events_record_action(struct kube_events *rec, const cJSON *involved_object,
			      const char *type, const char *reason, const char *action,
			      const char *message_fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, message_fmt);
	rc = recordv(rec, involved_object, type, reason, action, message_fmt, ap);
	va_end(ap);
	return rc;
}
