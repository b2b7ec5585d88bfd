/* The PhoenixService reconciler: observed state -> pure plan -> ordered writes -> status.
 * See phx_service.h for the contract and docs/architecture.md for the data flow. */
#include "phx_service.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uthash.h>

#include "kube_error.h"
#include "kube_events.h"
#include "kube_json.h"
#include "kube_log.h"
#include "kube_metrics.h"
#include "kube_rest.h"
#include "phx_api.h"
#include "phx_failover.h"
#include "phx_meta.h"
#include "phx_owner.h"

#define COMP "phoenixservice"
/* Our own writes are trusted over the cache for this long (the watch normally confirms them
 * within milliseconds; the bound only matters when a watch event is lost). */
#define EXPECT_TTL_MS 30000
#define EVER_READY_MAX 32
#define FAIL_SEEN_MAX 4
#define COUNTED_MAX 16
/* Counted failures named in status.countedFailures (newest last), for the next leader. */
#define COUNTED_NAMES_MAX 8
/* At most one PodCreateFailed Event per service this often for the same refusal. */
#define CREATE_EVENT_INTERVAL_MS 60000
/* Keys this long or longer get no record (namespace/name is far shorter). */
#define KEY_MAX 512
#define FAILOVER_LOG_MAX 4096
/* How often a Service or PDB of our name that is not ours is looked at again. */
#define OWNER_RECHECK_MS 15000


enum expect_kind { EXPECT_CREATE, EXPECT_DELETE, EXPECT_LABEL };

/* Up to PHX_SUSPECTS_MAX pod names, allocated on first use. */
struct name_set {
	char (*names)[PHX_NAME_MAX];
	size_t n;
};

/* A write of ours the informer cache may not show yet (client-go "expectations"). */
struct expect {
	enum expect_kind kind;
	char name[PHX_NAME_MAX];
	enum phx_role role;
	bool serving;
	char revision[PHX_REV_MAX];
	int64_t at_ms;
};

struct ready_seen {
	uint64_t h;  /* pod name hash seen Ready ... */
	uint64_t rv; /* ... at this resourceVersion */
};

struct fail_seen {
	uint64_t h;
	int64_t us;
	char name[PHX_NAME_MAX];
};

/* Per-PhoenixService memory. `mu` serializes reconciles of the key; the fast fields (ever_ready,
 * seen*) are guarded by the reconciler's fast_mu so informer handlers never wait on a
 * reconcile that is doing network I/O.
 * Lifetime: every user holds a reference (rec_get/rec_put; increments only under map_lock while
 * the record is in the map, which holds one reference itself). A reconcile that sees the
 * service gone unlinks the record (under mu and map_lock) and drops the map's reference; the
 * last rec_put frees it. Lock order: mu -> map_lock, mu -> fast_mu; map_lock is never held
 * while waiting for a mu (see rec_snapshot). */
struct svc_rec {
	char *key; /* owned, exact length: the hash key */
	UT_hash_handle hh;
	pthread_mutex_t mu;
	atomic_size_t refs;
	bool linked; /* in the map; cleared only with mu and map_lock held */

	/* fast fields (fast_mu). Both rings are heap-allocated on first use: most services have
	 * a few pods and never see a failure. */
	struct ready_seen *ever_ready; /* ring of EVER_READY_MAX, grown up to that */
	size_t n_ever_ready, cap_ever_ready;
	/* primaries seen failing by the handlers, newest last (a ring of FAIL_SEEN_MAX) */
	struct fail_seen *seen;
	size_t n_seen;
	uint64_t fast_gen; /* bumped on every primary failure seen: preempts a running plan */
	size_t seen_from;  /* entries before this were seen before we led: not ours to count */

	/* bookkeeping (mu) */
	bool init;
	char uid[64];
	int64_t failovers;
	int64_t last_failover_ms;
	int64_t last_reaction_ms;
	double last_recovery_s;
	bool in_progress;
	int64_t started_us;
	char *failed_pod; /* owned; NULL = "" (name_set) */
	bool reaction_recorded;
	uint64_t counted[COUNTED_MAX];
	size_t n_counted;
	char *counted_name[COUNTED_NAMES_MAX]; /* owned ring; NULL slots unused */
	size_t n_counted_names;
	char *primary; /* owned; NULL = "" */
	struct expect *exp;
	size_t nexp, capexp;
	char *last_status;
	char *invalid_msg; /* owned; NULL = "" */
	int inst[3][2]; /* instances by role (none/primary/standby) and readiness, for the gauge */

	/* spec validity, pause, status and refusals (mu) */
	struct {                    /* the last spec that parsed: failover goes on with it */
		int standbys, grace_s;
		double capacity;
		enum phx_mode mode;
		char revision[PHX_REV_MAX];
	} valid;
	bool have_valid;
	bool paused;            /* the last reconcile saw spec.paused (or status said Paused) */
	int64_t resumed_us;     /* last resume: reaction time starts no earlier (0: never) */
	bool count_confirmed;   /* `failovers` confirmed against the live object since init */
	uint64_t status_rv;     /* resourceVersion of the object after our last status write */
	int64_t refresh_at_ms;  /* lastReconcileTime is refreshed by then */
	char *create_reason;    /* owned; the last pod create the API refused (NULL: none) */
	char *create_msg;       /* owned; the server's message for it */
	int64_t create_event_ms; /* last PodCreateFailed Event (rate limit) */
	bool rolling;           /* a rollout is under way (RolloutStarted sent) */

	/* dashboard snapshot (mu) */
	bool gone;
	char phase[16];
	int ready, total, capacity;

	/* The last reconcile left a failover with no Ready pod serving (set under mu, read by
	 * phx_reconciler_failover_pending without it). */
	atomic_bool failover_pending;

	/* ownership (fast_mu): our UID as the last reconcile saw it ("" before one), and pods
	 * labelled for us whose controller ownerReference does not match their owner label
	 * (foreign, or ours from before the label existed). */
	char fast_uid[64];
	struct name_set suspects;
	/* owned pods gone from the cache (fast_mu): deleted, or their service label removed (the
	 * cache selects by it); the reconcile looks which and takes the latter back */
	struct name_set vanished;
	/* ownership (mu): the conflict last reported in an Event, NULL = none, and whether it
	 * takes our traffic (a Service or PDB of our name that is not ours) */
	char *owner_msg;
	bool owner_traffic_lost;
};

struct phx_reconciler {
	struct kube_client *client;
	struct kube_client *urgent_client;
	struct kube_events *events;
	pthread_rwlock_t map_lock;
	struct svc_rec *recs;
	pthread_mutex_t fast_mu;

	pthread_mutex_t log_mu; /* failover log for the dashboard */
	int64_t fo_time_ms[FAILOVER_LOG_MAX];
	uint64_t fo_key[FAILOVER_LOG_MAX]; /* name_hash of the service's key, per entry */
	size_t fo_head, fo_len;
	double reaction_sum_ms;
	uint64_t reaction_count;

	struct kube_metric *m_failovers, *m_reaction, *m_recovery, *m_instances;
	struct kube_metric *m_reconcile, *m_errors, *m_duration;
};

/* ---------------------------------------------------------------- time and ids */

int64_t phx_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Bounded copy that always terminates (snprintf "%s" would do, but trips -Wformat-truncation). */
static void set_str(char *dst, size_t len, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (len == 0)
		return;
	if (n >= len)
		n = len - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

static bool str_eq(const char *a, const char *b)
{
	return strcmp(str_or_empty(a), str_or_empty(b)) == 0;
}

/* Sets an owned string as set_str would into a buffer of len bytes (same truncation); "" is
 * kept as NULL. On ENOMEM it is left NULL: "unknown", which every reader accepts. */
static void name_set(char **dst, size_t len, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n >= len)
		n = len - 1;
	if (*dst && strlen(*dst) == n && memcmp(*dst, src, n) == 0)
		return; /* unchanged (also makes name_set(&x, x) safe) */
	char *s = n ? malloc(n + 1) : NULL;
	if (s) {
		memcpy(s, src, n);
		s[n] = '\0';
	}
	free(*dst);
	*dst = s;
}

static uint64_t name_hash(const char *s)
{
	uint64_t h = UINT64_C(1469598103934665603);
	for (; s && *s; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(1099511628211);
	}
	return h ? h : 1;
}

static void random_suffix(char *out, size_t n)
{
	static atomic_uint_fast64_t ctr;
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
	uint64_t x = (uint64_t)wall_us() ^ (atomic_fetch_add(&ctr, 1) * UINT64_C(0x9E3779B97F4A7C15));
	for (size_t i = 0; i + 1 < n; i++) {
		x ^= x >> 33;
		x *= UINT64_C(0xff51afd7ed558ccd);
		x ^= x >> 29;
		out[i] = alphabet[x % (sizeof(alphabet) - 1)];
	}
	out[n - 1] = '\0';
}

/* ---------------------------------------------------------------- records */

/* A new record with two references: the map's and the caller's. NULL on ENOMEM. */
static struct svc_rec *rec_new(const char *key, size_t len)
{
	struct svc_rec *rec = calloc(1, sizeof(*rec));
	if (!rec)
		return NULL;
	rec->key = malloc(len + 1);
	if (!rec->key) {
		free(rec);
		return NULL;
	}
	memcpy(rec->key, key, len + 1);
	pthread_mutex_init(&rec->mu, NULL);
	atomic_init(&rec->refs, 2);
	rec->linked = true;
	rec->last_reaction_ms = -1;
	rec->last_recovery_s = -1;
	return rec;
}

static void rec_free(struct svc_rec *rec)
{
	pthread_mutex_destroy(&rec->mu);
	free(rec->key);
	free(rec->ever_ready);
	free(rec->seen);
	free(rec->failed_pod);
	free(rec->primary);
	free(rec->invalid_msg);
	free(rec->create_reason);
	free(rec->create_msg);
	for (size_t i = 0; i < COUNTED_NAMES_MAX; i++)
		free(rec->counted_name[i]);
	free(rec->exp);
	free(rec->last_status);
	free(rec->suspects.names);
	free(rec->vanished.names);
	free(rec->owner_msg);
	free(rec);
}

/* Drops a reference; the last one (the map's is gone once unlinked) frees. NULL is a no-op. */
static void rec_put(struct svc_rec *rec)
{
	if (rec && atomic_fetch_sub(&rec->refs, 1) == 1)
		rec_free(rec);
}

/* key's record with a reference for the caller (rec_put), or NULL: not there and !create, or
 * ENOMEM. References are only taken under map_lock while the record is in the map, so a count
 * that reached zero (unlinked, last user gone) is never raised again. */
static struct svc_rec *rec_get(struct phx_reconciler *r, const char *key, bool create)
{
	struct svc_rec *rec = NULL;
	size_t len = strlen(key);
	pthread_rwlock_rdlock(&r->map_lock);
	HASH_FIND_STR(r->recs, key, rec);
	if (rec)
		atomic_fetch_add(&rec->refs, 1);
	pthread_rwlock_unlock(&r->map_lock);
	if (rec || !create || len >= KEY_MAX)
		return rec;
	pthread_rwlock_wrlock(&r->map_lock);
	HASH_FIND_STR(r->recs, key, rec);
	if (rec) {
		atomic_fetch_add(&rec->refs, 1);
	} else {
		rec = rec_new(key, len);
		if (rec)
			HASH_ADD_KEYPTR(hh, r->recs, rec->key, len, rec);
	}
	pthread_rwlock_unlock(&r->map_lock);
	return rec;
}

/* key's record, in the map, with its mu held and a reference (rec_unlock), or NULL as rec_get.
 * A record unlinked while we waited for its mu is dropped and the lookup retried: all
 * reconciles of a key serialize on the one record in the map. */
static struct svc_rec *rec_lock(struct phx_reconciler *r, const char *key, bool create)
{
	for (;;) {
		struct svc_rec *rec = rec_get(r, key, create);
		if (!rec)
			return NULL;
		pthread_mutex_lock(&rec->mu);
		if (rec->linked)
			return rec;
		pthread_mutex_unlock(&rec->mu);
		rec_put(rec);
	}
}

static void rec_unlock(struct svc_rec *rec)
{
	if (!rec)
		return;
	pthread_mutex_unlock(&rec->mu);
	rec_put(rec);
}

/* mu held (and a reference, so this never frees). Removes the record from the map: the next
 * rec_get of its key makes a fresh one; users that still hold it finish on the old one. */
static void rec_unlink_locked(struct phx_reconciler *r, struct svc_rec *rec)
{
	if (!rec->linked)
		return;
	pthread_rwlock_wrlock(&r->map_lock);
	HASH_DEL(r->recs, rec);
	rec->linked = false;
	pthread_rwlock_unlock(&r->map_lock);
	rec_put(rec); /* the map's reference */
}

/* References to every record in the map (*n of them; NULL with *n = 0 when there are none or
 * on ENOMEM), for walks that lock each record's mu: map_lock is released before, since an
 * unlink takes it with a mu held. Release with rec_snapshot_free. */
static struct svc_rec **rec_snapshot(struct phx_reconciler *r, size_t *n)
{
	struct svc_rec **all = NULL, *rec, *tmp;
	size_t i = 0;
	pthread_rwlock_rdlock(&r->map_lock);
	size_t count = HASH_COUNT(r->recs);
	if (count)
		all = malloc(count * sizeof(*all));
	if (!all)
		goto out;
	HASH_ITER(hh, r->recs, rec, tmp) {
		atomic_fetch_add(&rec->refs, 1);
		all[i++] = rec;
	}
out:
	pthread_rwlock_unlock(&r->map_lock);
	*n = i;
	return all;
}

static void rec_snapshot_free(struct svc_rec **all, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rec_put(all[i]);
	free(all);
}

/* resourceVersion as a number for ordering observations of one object; UINT64_MAX when it is
 * not numeric (then every observation counts as newer: the conservative side). */
static uint64_t rv_num(const cJSON *obj)
{
	const char *rv = kube_json_resource_version(obj);
	char *end = NULL;
	if (!rv || !*rv)
		return UINT64_MAX;
	unsigned long long v = strtoull(rv, &end, 10);
	return end && *end == '\0' ? (uint64_t)v : UINT64_MAX;
}

/* Was this pod seen Ready in an observation older than `rv`? A copy of the cache taken before
 * the Ready event must not be judged with the knowledge of that event (a starting pod would
 * look like one that stopped being Ready). */
static bool ever_ready_before(const struct svc_rec *rec, uint64_t h, uint64_t rv)
{
	for (size_t i = 0; i < rec->n_ever_ready && i < EVER_READY_MAX; i++)
		if (rec->ever_ready[i].h == h)
			return rec->ever_ready[i].rv < rv || rv == UINT64_MAX;
	return false;
}

static void ever_ready_add(struct svc_rec *rec, uint64_t h, uint64_t rv)
{
	for (size_t i = 0; i < rec->n_ever_ready && i < EVER_READY_MAX; i++) {
		if (rec->ever_ready[i].h == h) {
			if (rv < rec->ever_ready[i].rv)
				rec->ever_ready[i].rv = rv;
			return;
		}
	}
	size_t slot = rec->n_ever_ready % EVER_READY_MAX;
	if (slot >= rec->cap_ever_ready) {
		/* Only before the ring first wraps: it then has all EVER_READY_MAX slots. */
		size_t cap = rec->cap_ever_ready ? rec->cap_ever_ready * 2 : 4;
		if (cap > EVER_READY_MAX)
			cap = EVER_READY_MAX;
		struct ready_seen *e = realloc(rec->ever_ready, cap * sizeof(*e));
		if (!e)
			return;
		rec->ever_ready = e;
		rec->cap_ever_ready = cap;
	}
	rec->ever_ready[slot].h = h;
	rec->ever_ready[slot].rv = rv;
	rec->n_ever_ready++;
}

static bool counted_has(const struct svc_rec *rec, const char *pod)
{
	uint64_t h = name_hash(pod);
	for (size_t i = 0; i < rec->n_counted && i < COUNTED_MAX; i++)
		if (rec->counted[i] == h)
			return true;
	return false;
}

static void counted_add(struct svc_rec *rec, const char *pod)
{
	rec->counted[rec->n_counted % COUNTED_MAX] = name_hash(pod);
	rec->n_counted++;
	name_set(&rec->counted_name[rec->n_counted_names % COUNTED_NAMES_MAX], PHX_NAME_MAX, pod);
	rec->n_counted_names++;
}

static void counted_clear(struct svc_rec *rec)
{
	rec->n_counted = 0;
	for (size_t i = 0; i < COUNTED_NAMES_MAX; i++)
		name_set(&rec->counted_name[i], PHX_NAME_MAX, NULL);
	rec->n_counted_names = 0;
}

/* The counted names, oldest first, into out (borrowed); returns how many. */
static size_t counted_names(const struct svc_rec *rec, const char **out)
{
	size_t n = 0, total = rec->n_counted_names;
	size_t from = total > COUNTED_NAMES_MAX ? total - COUNTED_NAMES_MAX : 0;
	for (size_t i = from; i < total; i++) {
		const char *s = rec->counted_name[i % COUNTED_NAMES_MAX];
		if (s)
			out[n++] = s;
	}
	return n;
}

static void expect_add(struct svc_rec *rec, enum expect_kind kind, const char *name,
		       enum phx_role role, bool serving, const char *revision)
{
	for (size_t i = 0; i < rec->nexp; i++) {
		if (strcmp(rec->exp[i].name, name) == 0) {
			/* the newest write about a pod wins, but a delete is final */
			if (rec->exp[i].kind == EXPECT_DELETE)
				return;
			if (kind == EXPECT_LABEL && rec->exp[i].kind == EXPECT_CREATE) {
				rec->exp[i].role = role;
				rec->exp[i].serving = serving;
				rec->exp[i].at_ms = phx_wall_ms();
				return;
			}
			rec->exp[i] = rec->exp[--rec->nexp];
			break;
		}
	}
	if (rec->nexp == rec->capexp) {
		size_t cap = rec->capexp ? rec->capexp * 2 : 4;
		struct expect *e = realloc(rec->exp, cap * sizeof(*e));
		if (!e)
			return;
		rec->exp = e;
		rec->capexp = cap;
	}
	struct expect *e = &rec->exp[rec->nexp++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	set_str(e->name, sizeof(e->name), name);
	e->role = role;
	e->serving = serving;
	set_str(e->revision, sizeof(e->revision), revision ? revision : "");
	e->at_ms = phx_wall_ms();
}

/* Merges our unconfirmed writes into the observed pods; drops the ones the cache confirms. */
static size_t expect_apply(struct svc_rec *rec, struct phx_pod *pods, size_t n, int64_t now_ms)
{
	size_t i = 0;
	while (i < rec->nexp) {
		struct expect *e = &rec->exp[i];
		struct phx_pod *p = NULL;
		bool drop = now_ms - e->at_ms > EXPECT_TTL_MS;
		for (size_t j = 0; j < n && !drop; j++)
			if (strcmp(pods[j].name, e->name) == 0)
				p = &pods[j];
		if (!drop) {
			switch (e->kind) {
			case EXPECT_CREATE:
				if (p) {
					drop = true;
				} else if (n < PHX_MAX_PODS) {
					p = &pods[n++];
					memset(p, 0, sizeof(*p));
					set_str(p->name, sizeof(p->name), e->name);
					set_str(p->revision, sizeof(p->revision), e->revision);
					p->role = e->role;
					p->serving = e->serving;
					p->health = PHX_HEALTH_STARTING;
					p->created_ms = e->at_ms;
				}
				break;
			case EXPECT_DELETE:
				if (!p) {
					drop = true;
					break;
				}
				/* We fenced it before deleting it (the plan's order), and the role is
				 * what our last write made it: a demoted primary deleted before the
				 * cache saw the demotion must not look like a primary failing (the
				 * delete replaced the label expectation). */
				p->serving = false;
				if (e->role != PHX_ROLE_NONE)
					p->role = e->role;
				if (p->health != PHX_HEALTH_FAILED) {
					p->health = PHX_HEALTH_FAILED;
					p->reason = PHX_FAIL_TERMINATING;
				} else if (p->reason != PHX_FAIL_TERMINATING) {
					p->reason = PHX_FAIL_TERMINATING;
				}
				break;
			case EXPECT_LABEL:
				if (!p || (p->role == e->role && p->serving == e->serving)) {
					drop = true;
				} else {
					p->role = e->role;
					p->serving = e->serving;
				}
				break;
			}
		}
		if (drop)
			rec->exp[i] = rec->exp[--rec->nexp];
		else
			i++;
	}
	return n;
}

/* ---------------------------------------------------------------- lifecycle */

int phx_reconciler_new(const struct phx_reconciler_opts *opts, struct phx_reconciler **out)
{
	if (!opts || !opts->client || !out)
		return KUBE_EINVAL;
	struct phx_reconciler *r = calloc(1, sizeof(*r));
	if (!r)
		return KUBE_ENOMEM;
	struct kube_metrics *m = opts->metrics ? opts->metrics : kube_metrics_default();
	static const char *const fo_labels[] = { "namespace", "service", NULL };
	static const char *const inst_labels[] = { "namespace", "service", "role", "ready", NULL };
	static const char *const res_labels[] = { "result", NULL };
	static const double reaction_b[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
					     0.25, 0.5, 1, 2.5, 5, 15 };
	static const double recovery_b[] = { 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300 };
	r->client = opts->client;
	r->urgent_client = opts->urgent_client ? opts->urgent_client : opts->client;
	r->events = opts->events;
	pthread_rwlock_init(&r->map_lock, NULL);
	pthread_mutex_init(&r->fast_mu, NULL);
	pthread_mutex_init(&r->log_mu, NULL);
	r->m_failovers = kube_metric_register(m, KUBE_COUNTER, "phoenix_failovers_total",
					      "Failovers of a PhoenixService primary.", fo_labels,
					      NULL, 0);
	r->m_reaction = kube_metric_register(m, KUBE_HISTOGRAM, "phoenix_failover_reaction_seconds",
					     "From the watch event showing the primary's failure to a "
					     "standby labelled serving.", NULL, reaction_b,
					     sizeof(reaction_b) / sizeof(reaction_b[0]));
	r->m_recovery = kube_metric_register(m, KUBE_HISTOGRAM, "phoenix_recovery_seconds",
					     "From a primary's failure to all desired instances "
					     "Ready again.", NULL, recovery_b,
					     sizeof(recovery_b) / sizeof(recovery_b[0]));
	r->m_instances = kube_metric_register(m, KUBE_GAUGE, "phoenix_instances",
					      "PhoenixService pods by service, role and readiness.",
					      inst_labels, NULL, 0);
	r->m_reconcile = kube_metric_register(m, KUBE_COUNTER, "phoenix_reconcile_total",
					      "PhoenixService reconciles by result.", res_labels,
					      NULL, 0);
	r->m_errors = kube_metric_register(m, KUBE_COUNTER, "phoenix_reconcile_errors_total",
					   "PhoenixService reconciles that failed.", NULL, NULL, 0);
	r->m_duration = kube_metric_register(m, KUBE_HISTOGRAM,
					     "phoenix_reconcile_duration_seconds",
					     "Time spent in one PhoenixService reconcile.", NULL,
					     NULL, 0);
	*out = r;
	return 0;
}

void phx_reconciler_free(struct phx_reconciler *r)
{
	if (!r)
		return;
	struct svc_rec *rec, *tmp;
	/* No call is running: the map's reference is the only one left. */
	HASH_ITER(hh, r->recs, rec, tmp) {
		HASH_DEL(r->recs, rec);
		rec_free(rec);
	}
	pthread_rwlock_destroy(&r->map_lock);
	pthread_mutex_destroy(&r->fast_mu);
	pthread_mutex_destroy(&r->log_mu);
	free(r);
}

size_t phx_reconciler_nrecords(struct phx_reconciler *r)
{
	pthread_rwlock_rdlock(&r->map_lock);
	size_t n = HASH_COUNT(r->recs);
	pthread_rwlock_unlock(&r->map_lock);
	return n;
}

void phx_reconciler_reset_bookkeeping(struct phx_reconciler *r)
{
	size_t n = 0;
	struct svc_rec **all = rec_snapshot(r, &n);
	if (!all && phx_reconciler_nrecords(r) > 0)
		kube_log(KUBE_LOG_ERROR, COMP, "out of memory: failover bookkeeping not reset", NULL);
	for (size_t i = 0; i < n; i++) {
		struct svc_rec *rec = all[i];
		pthread_mutex_lock(&rec->mu);
		rec->init = false;
		free(rec->last_status);
		rec->last_status = NULL;
		pthread_mutex_lock(&r->fast_mu);
		rec->seen_from = rec->n_seen;
		pthread_mutex_unlock(&r->fast_mu);
		pthread_mutex_unlock(&rec->mu);
	}
	rec_snapshot_free(all, n);
}

/* ---------------------------------------------------------------- fast path */

/* fast_mu held. The entry for a pod seen failing as primary, or NULL. */
static int64_t *seen_find(struct svc_rec *rec, uint64_t h)
{
	for (size_t i = 0; rec->seen && i < rec->n_seen && i < FAIL_SEEN_MAX; i++)
		if (rec->seen[i].h == h)
			return &rec->seen[i].us;
	return NULL;
}

/* Adds (in) or removes (!in) name; a full set (or ENOMEM) drops additions. */
static void name_set_update(struct name_set *set, const char *name, bool in)
{
	for (size_t i = 0; i < set->n; i++) {
		if (strcmp(set->names[i], name) != 0)
			continue;
		if (!in && i != --set->n)
			memcpy(set->names[i], set->names[set->n], PHX_NAME_MAX);
		return;
	}
	if (!in || set->n >= PHX_SUSPECTS_MAX)
		return;
	if (!set->names)
		set->names = calloc(PHX_SUSPECTS_MAX, sizeof(*set->names));
	if (set->names)
		set_str(set->names[set->n++], PHX_NAME_MAX, name);
}

/* Copies up to max names out of set; take: and empties it. */
static size_t name_set_copy(struct name_set *set, char (*names)[PHX_NAME_MAX], size_t max,
			    bool take)
{
	size_t n = 0;
	for (; n < set->n && n < max; n++)
		set_str(names[n], PHX_NAME_MAX, set->names[n]);
	if (take)
		set->n = 0;
	return n;
}

/* The service a pod belongs to: its service label, else (the label was removed: a watch
 * selecting by it reports the pod deleted) its controller PhoenixService reference. */
static const char *pod_service_name(const cJSON *pod)
{
	const char *svc = kube_json_get_str(pod, "metadata", "labels", PHX_LABEL_SERVICE, NULL);
	return svc ? svc : phx_owner_ref_name(pod, PHX_KIND, true);
}

/* fast_mu held. Is pod (labelled for rec's service) ours by its controller ownerReference?
 * Before the first reconcile our UID is unknown: a PhoenixService reference of our name is
 * taken as ours. Records the pod as a suspect when its reference and owner label disagree. */
static bool pod_fast_owned(struct svc_rec *rec, const cJSON *pod, bool deleted)
{
	const char *ou = phx_owner_uid(pod, pod_service_name(pod));
	const char *ol = kube_json_get_str(pod, "metadata", "labels", PHX_LABEL_OWNER, NULL);
	const char *name = kube_json_name(pod);
	if (name)
		name_set_update(&rec->suspects, name, !deleted && !(ou && ol && strcmp(ou, ol) == 0));
	bool owned = ou && (!rec->fast_uid[0] || strcmp(ou, rec->fast_uid) == 0);
	if (owned && deleted && name)
		name_set_update(&rec->vanished, name, true);
	return owned;
}

size_t phx_reconciler_suspects(struct phx_reconciler *r, const char *key,
			       char (*names)[PHX_NAME_MAX], size_t max)
{
	struct svc_rec *rec = key ? rec_get(r, key, false) : NULL;
	size_t n = 0;
	if (!rec)
		return 0;
	pthread_mutex_lock(&r->fast_mu);
	n = name_set_copy(&rec->suspects, names, max, false);
	pthread_mutex_unlock(&r->fast_mu);
	rec_put(rec);
	return n;
}

static char *pod_owner_key(const cJSON *pod)
{
	return phx_key(kube_json_namespace(pod), pod_service_name(pod));
}

bool phx_reconciler_pod_event(struct phx_reconciler *r, const cJSON *old_pod, const cJSON *new_pod,
			      bool deleted)
{
	const cJSON *pod = new_pod ? new_pod : old_pod;
	char *key = pod_owner_key(pod);
	bool urgent = false;
	struct svc_rec *rec = key ? rec_get(r, key, true) : NULL;
	if (!rec)
		goto out;
	uint64_t h = name_hash(kube_json_name(pod));
	int64_t now_us = wall_us();
	uint64_t rv = rv_num(pod);
	pthread_mutex_lock(&r->fast_mu);
	if (!deleted && phx_pod_is_ready(pod))
		ever_ready_add(rec, h, rv);
	struct phx_pod p;
	phx_pod_classify(pod, ever_ready_before(rec, h, rv), 0, now_us / 1000, &p);
	if (deleted) {
		p.health = PHX_HEALTH_FAILED;
		p.reason = PHX_FAIL_DELETED;
	}
	/* A pod that is not ours failing is no failover of ours (whatever its labels say). */
	bool owned = pod_fast_owned(rec, pod, deleted);
	if (owned && p.role == PHX_ROLE_PRIMARY && p.health == PHX_HEALTH_FAILED &&
	    !seen_find(rec, h)) {
		if (!rec->seen)
			rec->seen = calloc(FAIL_SEEN_MAX, sizeof(*rec->seen));
		/* Without the ring (ENOMEM) the failure still preempts and is reacted to at once;
		 * the reconcile finds the failed pod in the cache. */
		if (rec->seen) {
			size_t i = rec->n_seen % FAIL_SEEN_MAX;
			rec->seen[i].h = h;
			rec->seen[i].us = now_us;
			set_str(rec->seen[i].name, sizeof(rec->seen[i].name), p.name);
			rec->n_seen++;
		}
		rec->fast_gen++;
		urgent = true;
	}
	pthread_mutex_unlock(&r->fast_mu);
	if (urgent)
		kube_log(KUBE_LOG_INFO, COMP, "primary failure seen", "service", key, "pod",
			 p.name, "reason", phx_fail_reason_str(p.reason), NULL);
out:
	rec_put(rec);
	free(key);
	return urgent;
}

/* ---------------------------------------------------------------- writes */

static void event(struct phx_reconciler *r, const cJSON *svc, const char *type,
		  const char *reason, const char *msg)
{
	if (r->events)
		kube_events_record(r->events, svc, type, reason, "%s", msg);
}

static int patch_labels(struct phx_reconciler *r, const char *ns, const char *pod,
			enum phx_role role, bool serving)
{
	char body[512];
	snprintf(body, sizeof(body),
		 "{\"metadata\":{\"labels\":{\"" PHX_LABEL_ROLE "\":\"%s\",\"" PHX_LABEL_SERVING
		 "\":\"%s\"}}}", phx_role_str(role), serving ? "true" : "false");
	return kube_patch(r->urgent_client, &KUBE_GVR_PODS, ns, pod, NULL, KUBE_PATCH_MERGE, body,
			  NULL, NULL);
}

static int delete_pod(struct phx_reconciler *r, const char *ns, const char *pod, bool failed)
{
	struct kube_delete_opts o = KUBE_DELETE_OPTS_INIT;
	/* A failed pod serves nobody: no reason to wait for its grace period. */
	if (failed)
		o.grace_period_seconds = 0;
	int rc = kube_delete(r->client, &KUBE_GVR_PODS, ns, pod, &o, NULL, NULL);
	return rc == KUBE_ENOTFOUND ? 0 : rc;
}

/* mu held. Remembers (condition PodCreateFailed) and reports what the API server said when it
 * refused a pod: a Warning Event, at most once per CREATE_EVENT_INTERVAL_MS unless the message
 * changes, and the log. A refusal is an answer with an HTTP status; a transport error or the
 * write gate is not. */
static void create_refused(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			   const char *pod, int rc, const struct kube_status *st)
{
	const char *msg = st->message && *st->message ? st->message : kube_strerror(rc);
	int64_t now = phx_wall_ms();
	char ev[1024];
	kube_log(KUBE_LOG_WARN, COMP, "the API server refused to create a pod", "service",
		 rec->key, "pod", pod, "error", kube_strerror(rc), "reason",
		 st->reason && *st->reason ? st->reason : "none", "message", msg, NULL);
	if (st->http_status < 400)
		return;
	bool same = str_eq(rec->create_msg, msg);
	name_set(&rec->create_reason, 64, st->reason && *st->reason ? st->reason : "CreateRefused");
	name_set(&rec->create_msg, 1024, msg);
	if (same && now - rec->create_event_ms < CREATE_EVENT_INTERVAL_MS)
		return;
	rec->create_event_ms = now;
	snprintf(ev, sizeof(ev), "cannot create pod %s: %s", pod, msg);
	event(r, svc, KUBE_EVENT_WARNING, "PodCreateFailed", ev);
}

static int create_pod(struct phx_reconciler *r, const cJSON *svc, const struct phx_spec *spec,
		      enum phx_role role, bool serving, char *name, size_t namelen,
		      struct svc_rec *rec)
{
	char sfx[6];
	struct kube_status st = { 0 };
	random_suffix(sfx, sizeof(sfx));
	snprintf(name, namelen, "%.200s-%s", kube_json_name(svc), sfx);
	cJSON *pod = phx_pod_build(svc, spec, name, role, serving);
	if (!pod)
		return KUBE_ENOMEM;
	int rc = kube_create(r->client, &KUBE_GVR_PODS, kube_json_namespace(svc), pod, NULL, &st);
	if (rc < 0 && rc != KUBE_ENOTLEADER) {
		create_refused(r, rec, svc, name, rc, &st);
	} else if (rc == 0) {
		name_set(&rec->create_reason, 64, NULL);
		name_set(&rec->create_msg, 1024, NULL);
	}
	kube_status_release(&st);
	cJSON_Delete(pod);
	return rc;
}

/* What the ownership checks of one reconcile found, for its status and Events. */
struct owner_report {
	char msg[1024];
	bool traffic_lost; /* our Service or PDB is someone else's object */
};

static void report_add(struct owner_report *rep, const char *text)
{
	size_t off = strlen(rep->msg);
	snprintf(rep->msg + off, sizeof(rep->msg) - off, "%s%s", off ? "; " : "", text);
}

/* The API calls on a child (its Service, or with pdb its PDB) name the resource outright, so
 * that the RBAC check of tests/e2e/32_manifests.sh reads what the code uses. */
static int child_create(struct phx_reconciler *r, bool pdb, const char *ns, const cJSON *obj)
{
	return pdb ? kube_create(r->client, &KUBE_GVR_PDBS, ns, obj, NULL, NULL)
		   : kube_create(r->client, &KUBE_GVR_SERVICES, ns, obj, NULL, NULL);
}

/* The object `name` of gvr in ns, read around our caches (which select by our label): a list
 * by name, with the list permission the informers need anyway. *out NULL when there is none. */
static int lookup(struct phx_reconciler *r, const struct kube_gvr *gvr, const char *ns,
		  const char *name, cJSON **out)
{
	struct kube_list_opts lo = { 0 };
	char *fs = NULL;
	cJSON *list = NULL;
	*out = NULL;
	if (asprintf(&fs, "metadata.name=%s", name) < 0)
		return KUBE_ENOMEM;
	lo.field_selector = fs;
	int rc = kube_list(r->client, gvr, ns, &lo, &list, NULL);
	cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items");
	if (rc == 0 && cJSON_GetArraySize(items) > 0)
		*out = cJSON_DetachItemFromArray(items, 0);
	cJSON_Delete(list);
	free(fs);
	return rc;
}

static int child_patch(struct phx_reconciler *r, bool pdb, const char *ns, const char *name,
		       const char *json_patch)
{
	return pdb ? kube_patch(r->client, &KUBE_GVR_PDBS, ns, name, NULL, KUBE_PATCH_JSON,
				json_patch, NULL, NULL)
		   : kube_patch(r->client, &KUBE_GVR_SERVICES, ns, name, NULL, KUBE_PATCH_JSON,
				json_patch, NULL, NULL);
}

/* Creates the child `want` (a Service or PDB from the builders; borrowed) of svc or repairs
 * exactly the fields we own with a JSON patch. An object of that name that is not ours is
 * never touched: it goes into rep. */
static int ensure_child(struct phx_reconciler *r, const cJSON *svc, bool pdb, const cJSON *want,
			const cJSON *observed, struct owner_report *rep)
{
	const char *ns = kube_json_namespace(svc), *name = kube_json_name(svc);
	const char *kind = kube_json_get_str(want, "kind", NULL);
	cJSON *fetched = NULL, *patch = NULL;
	char *txt = NULL, msg[512];
	bool enomem = false;
	int rc = 0;
	if (!observed) {
		rc = child_create(r, pdb, ns, want);
		if (rc != KUBE_EALREADYEXISTS)
			goto out;
		rc = lookup(r, pdb ? &KUBE_GVR_PDBS : &KUBE_GVR_SERVICES, ns, name, &fetched);
		observed = fetched;
		if (rc < 0 || !observed)
			goto out;
	}
	if (!phx_owned_by(observed, kube_json_uid(svc))) {
		snprintf(msg, sizeof(msg), "%s %s is not owned by this PhoenixService (no controller "
			 "ownerReference with its UID): its traffic is not ours and it is left "
			 "untouched; delete or rename it", kind, name);
		report_add(rep, msg);
		rep->traffic_lost = true;
		goto out;
	}
	patch = phx_repair_patch(want, observed, &enomem);
	if (!patch) {
		rc = enomem ? KUBE_ENOMEM : 0;
		goto out;
	}
	txt = kube_json_print(patch);
	rc = txt ? child_patch(r, pdb, ns, name, txt) : KUBE_ENOMEM;
	if (rc == 0)
		kube_log(KUBE_LOG_INFO, COMP, "repaired", "kind", kind, "namespace", ns, "name",
			 name, "patch", txt, NULL);
out:
	free(txt);
	cJSON_Delete(patch);
	cJSON_Delete(fetched);
	return rc;
}

/* Drops our owner label from a builder's selector (selector under spec, or its matchLabels):
 * until every pod we own carries the label, switching to it would empty the Service. */
static void selector_without_owner(cJSON *want)
{
	cJSON *spec = cJSON_GetObjectItemCaseSensitive(want, "spec");
	cJSON *sel = cJSON_GetObjectItemCaseSensitive(spec, "selector");
	cJSON *ml = cJSON_GetObjectItemCaseSensitive(sel, "matchLabels");
	cJSON_DeleteItemFromObjectCaseSensitive(ml ? ml : sel, PHX_LABEL_OWNER);
}

static int ensure_service(struct phx_reconciler *r, const cJSON *svc, const cJSON *observed,
			  bool owner_labelled, struct owner_report *rep)
{
	cJSON *want = phx_service_build(svc);
	if (!want)
		return KUBE_ENOMEM;
	if (!owner_labelled)
		selector_without_owner(want);
	int rc = ensure_child(r, svc, false, want, observed, rep);
	cJSON_Delete(want);
	return rc;
}

static int ensure_pdb(struct phx_reconciler *r, const cJSON *svc, const cJSON *observed,
		      bool owner_labelled, struct owner_report *rep)
{
	cJSON *want = phx_pdb_build(svc);
	if (!want)
		return KUBE_ENOMEM;
	if (!owner_labelled)
		selector_without_owner(want);
	int rc = ensure_child(r, svc, true, want, observed, rep);
	cJSON_Delete(want);
	return rc;
}

/* Owned pods whose labels were changed by hand get them back (the owner label included, for
 * pods from before it existed). Returns 0 when every owned pod now carries our owner label
 * (*labelled true), else the first error. */
static int adopt_pods(struct phx_reconciler *r, const char *key, const cJSON *svc,
		      const cJSON *pods, bool *labelled)
{
	const char *uid = kube_json_uid(svc), *name = kube_json_name(svc);
	const cJSON *pod;
	int rc = 0;
	*labelled = true;
	cJSON_ArrayForEach(pod, pods) {
		char *patch = phx_pod_adopt_patch(pod, name, uid ? uid : "");
		if (!patch)
			continue;
		int prc = kube_patch(r->client, &KUBE_GVR_PODS, kube_json_namespace(svc),
				     kube_json_name(pod), NULL, KUBE_PATCH_MERGE, patch, NULL, NULL);
		if (prc == 0)
			kube_log(KUBE_LOG_INFO, COMP, "pod labels restored", "service", key, "pod",
				 kube_json_name(pod), "patch", patch, NULL);
		free(patch);
		if (prc < 0 && prc != KUBE_ENOTFOUND) {
			*labelled = false;
			if (rc == 0)
				rc = prc;
		}
	}
	return rc;
}

/* Owned pods the cache lost: one whose service label was removed still runs and is taken back
 * (labels restored: a standby that does not serve; the planner removes extras). One that is
 * gone or terminating is left alone. A failed look is tried again by the next reconcile. */
static int take_back_vanished(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc)
{
	char names[PHX_SUSPECTS_MAX][PHX_NAME_MAX];
	const char *uid = kube_json_uid(svc), *ns = kube_json_namespace(svc);
	int rc = 0;
	pthread_mutex_lock(&r->fast_mu);
	size_t n = name_set_copy(&rec->vanished, names, PHX_SUSPECTS_MAX, true);
	pthread_mutex_unlock(&r->fast_mu);
	for (size_t i = 0; i < n; i++) {
		cJSON *pod = NULL;
		char *patch = NULL;
		int grc = lookup(r, &KUBE_GVR_PODS, ns, names[i], &pod);
		if (grc == 0 && phx_owned_by(pod, uid) &&
		    !kube_json_get(pod, "metadata", "deletionTimestamp", NULL))
			patch = phx_pod_adopt_patch(pod, kube_json_name(svc), uid ? uid : "");
		if (patch) {
			grc = kube_patch(r->client, &KUBE_GVR_PODS, ns, names[i], NULL,
					 KUBE_PATCH_MERGE, patch, NULL, NULL);
			if (grc == 0)
				kube_log(KUBE_LOG_INFO, COMP, "pod labels restored", "service",
					 rec->key, "pod", names[i], "patch", patch, NULL);
		}
		if (grc < 0 && grc != KUBE_ENOTFOUND) {
			pthread_mutex_lock(&r->fast_mu);
			name_set_update(&rec->vanished, names[i], true);
			pthread_mutex_unlock(&r->fast_mu);
			if (rc == 0)
				rc = grc;
		}
		free(patch);
		cJSON_Delete(pod);
	}
	return rc;
}

/* Pods labelled for svc that it does not own: reported, and those that still carry our owner
 * label (a pod whose ownerReference was changed) fenced out of the Service by their labels.
 * Never deleted: they are not ours. Must run before the plan: in Promote mode the pod the plan
 * promotes must be the only one serving. */
static int fence_foreign(struct phx_reconciler *r, const char *key, const cJSON *svc,
			 const cJSON *foreign, struct owner_report *rep)
{
	const char *uid = kube_json_uid(svc), *name = kube_json_name(svc);
	const cJSON *pod;
	char names[512] = "", msg[768];
	int rc = 0;
	cJSON_ArrayForEach(pod, foreign) {
		const char *pn = kube_json_name(pod);
		const char *ol = kube_json_get_str(pod, "metadata", "labels", PHX_LABEL_OWNER, NULL);
		if (strcmp(str_or_empty(kube_json_get_str(pod, "metadata", "labels",
							  PHX_LABEL_SERVICE, NULL)),
			   str_or_empty(name)) != 0 || !pn)
			continue;
		size_t off = strlen(names);
		snprintf(names + off, sizeof(names) - off, "%s%.200s", off ? ", " : "", pn);
		if (!uid || !ol || strcmp(ol, uid) != 0)
			continue;
		int frc = kube_patch(r->urgent_client, &KUBE_GVR_PODS, kube_json_namespace(svc), pn,
				     NULL, KUBE_PATCH_MERGE, phx_pod_fence_patch(), NULL, NULL);
		if (frc == 0)
			kube_log(KUBE_LOG_WARN, COMP, "pod not owned fenced out of the Service",
				 "service", key, "pod", pn, NULL);
		else if (frc != KUBE_ENOTFOUND && rc == 0)
			rc = frc;
	}
	if (names[0]) {
		snprintf(msg, sizeof(msg), "pods labelled for this service but not owned by it (no "
			 "controller ownerReference with its UID) are kept out of its Service and "
			 "not deleted: %s", names);
		report_add(rep, msg);
	}
	return rc;
}

/* Says what is not ours in status, and once per change in a Warning Event and the log. */
static void note_ownership(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			   const struct owner_report *rep)
{
	if (strcmp(str_or_empty(rec->owner_msg), rep->msg) == 0)
		return;
	name_set(&rec->owner_msg, sizeof(rep->msg), rep->msg);
	if (!rep->msg[0])
		return;
	event(r, svc, KUBE_EVENT_WARNING, "OwnershipConflict", rep->msg);
	kube_log(KUBE_LOG_WARN, COMP, "ownership conflict", "service", rec->key, "message",
		 rep->msg, NULL);
}

static int clear_switchover(struct phx_reconciler *r, const cJSON *svc)
{
	int rc = kube_patch(r->client, &PHX_GVR, kube_json_namespace(svc), kube_json_name(svc), NULL,
			    KUBE_PATCH_MERGE,
			    "{\"metadata\":{\"annotations\":{\"" PHX_ANN_SWITCHOVER "\":null}}}",
			    NULL, NULL);
	return rc == KUBE_ENOTFOUND ? 0 : rc;
}

/* The status the object carries now: the cache's, unless the cache has not seen our last
 * write yet (its resourceVersion is older), then what we wrote. Borrowed from svc, or parsed
 * into *tmp (the caller frees it). Comparing against this, not against what we last wrote,
 * is what undoes hand edits and a write made from a stale snapshot. */
static const cJSON *status_now(const struct svc_rec *rec, const cJSON *svc, cJSON **tmp)
{
	uint64_t rv = rv_num(svc);
	*tmp = NULL;
	if (rec->last_status && (rec->status_rv == 0 || rv == UINT64_MAX || rv < rec->status_rv))
		*tmp = cJSON_Parse(rec->last_status);
	return *tmp ? *tmp : kube_json_get(svc, "status", NULL);
}

/* Whether merging `want` into `now` changes anything (lastReconcileTime aside). Keys of `now`
 * that `want` lacks stay as they are with a merge patch, so they are not compared: comparing
 * them would write on every reconcile without ever converging. */
static bool status_patch_changes(const cJSON *now, const cJSON *want)
{
	const cJSON *w;
	cJSON_ArrayForEach(w, want) {
		if (strcmp(w->string, "lastReconcileTime") == 0)
			continue;
		const cJSON *o = cJSON_GetObjectItemCaseSensitive(now, w->string);
		if (cJSON_IsNull(w) ? o && !cJSON_IsNull(o) : !o || !cJSON_Compare(o, w, 1))
			return true;
	}
	return false;
}

/* Optional fields a merge patch must remove explicitly (it keeps absent keys). */
static void status_null_absent(cJSON *status)
{
	static const char *const opt[] = { "failoverInProgress", "lastFailoverTime",
					   "lastFailoverReactionMs", "lastRecoverySeconds" };
	for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++)
		if (!cJSON_GetObjectItemCaseSensitive(status, opt[i]))
			cJSON_AddNullToObject(status, opt[i]);
}

/* PATCHes /status with `txt`; until the failover count is confirmed, only if the object is
 * still at the cached resourceVersion (KUBE_ECONFLICT otherwise). Sets rec->status_rv. */
static int patch_status(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			const char *txt)
{
	const char *rv = kube_json_resource_version(svc);
	bool precond = !rec->count_confirmed && rv && *rv;
	size_t len = strlen(txt) + (precond ? strlen(rv) : 0) + 64;
	char *body = malloc(len);
	cJSON *out = NULL;
	int rc;
	if (!body)
		return KUBE_ENOMEM;
	if (precond)
		snprintf(body, len, "{\"metadata\":{\"resourceVersion\":\"%s\"},\"status\":%s}", rv,
			 txt);
	else
		snprintf(body, len, "{\"status\":%s}", txt);
	rc = kube_patch(r->client, &PHX_GVR, kube_json_namespace(svc), kube_json_name(svc),
			"status", KUBE_PATCH_MERGE, body, &out, NULL);
	free(body);
	if (rc == 0) {
		uint64_t n = out ? rv_num(out) : UINT64_MAX;
		rec->status_rv = n == UINT64_MAX ? 0 : n;
		rec->count_confirmed = true;
	}
	cJSON_Delete(out);
	return rc;
}

/* Writes status when it differs from what the object says now, or when lastReconcileTime is
 * due for a refresh (PHX_STATUS_REFRESH_MS). Returns 0 (also when the object is gone) or the
 * write's error; KUBE_ECONFLICT: the cache was behind, re-read it. */
static int write_status(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			cJSON *status, int64_t now_ms)
{
	cJSON *tmp = NULL;
	const cJSON *now = status_now(rec, svc, &tmp);
	char ts[32];
	char *txt = NULL;
	int rc = 0;
	int64_t last = phx_time_parse_ms(kube_json_get_str(now, "lastReconcileTime", NULL));

	status_null_absent(status);
	if (!status_patch_changes(now, status) && !phx_status_refresh_due(last, now_ms)) {
		rec->refresh_at_ms = last + PHX_STATUS_REFRESH_MS;
		goto out;
	}
	phx_time_format(now_ms, ts, sizeof(ts));
	kube_json_set_str(status, "lastReconcileTime", ts);
	txt = kube_json_print(status);
	if (!txt) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	rc = patch_status(r, rec, svc, txt);
	if (rc == KUBE_ENOTFOUND)
		rc = 0;
	if (rc == 0) {
		free(rec->last_status);
		rec->last_status = txt;
		txt = NULL;
		rec->refresh_at_ms = now_ms + PHX_STATUS_REFRESH_MS;
	}
out:
	cJSON_Delete(tmp);
	free(txt);
	return rc;
}

/* ---------------------------------------------------------------- bookkeeping */

static void rec_init_from_status(struct svc_rec *rec, const cJSON *svc)
{
	const cJSON *st = kube_json_get(svc, "status", NULL);
	int64_t v;
	double d;
	const char *uid = kube_json_uid(svc);
	if (rec->init && strcmp(rec->uid, uid ? uid : "") == 0)
		return;
	if (strcmp(rec->uid, uid ? uid : "") != 0) {
		/* A new object under an old name: forget everything about the old one. */
		rec->nexp = 0;
		counted_clear(rec);
		name_set(&rec->primary, PHX_NAME_MAX, NULL);
		rec->have_valid = false;
		rec->paused = false;
		rec->resumed_us = 0;
		rec->rolling = false;
	}
	set_str(rec->uid, sizeof(rec->uid), uid ? uid : "");
	rec->init = true;
	/* Read from a cache that may be behind the live object: confirmed by the first status
	 * write (resourceVersion precondition), until then never lowered (phx_failovers_merge). */
	rec->count_confirmed = false;
	rec->status_rv = 0;
	rec->refresh_at_ms = 0;
	rec->paused = rec->paused || str_eq(kube_json_get_str(st, "phase", NULL), "Paused");
	rec->failovers = kube_json_get_int(st, &v, "failovers", NULL) ? v : 0;
	rec->last_failover_ms = phx_time_parse_ms(kube_json_get_str(st, "lastFailoverTime", NULL));
	rec->last_reaction_ms = kube_json_get_int(st, &v, "lastFailoverReactionMs", NULL) ? v : -1;
	rec->last_recovery_s = kube_json_get_num(st, &d, "lastRecoverySeconds", NULL) ? d : -1;
	const char *prim = kube_json_get_str(st, "primary", NULL);
	name_set(&rec->primary, PHX_NAME_MAX, prim);
	/* Failures a previous leader counted are never counted again. */
	const cJSON *cf;
	cJSON_ArrayForEach(cf, kube_json_get(st, "countedFailures", NULL)) {
		if (cJSON_IsString(cf) && !counted_has(rec, cf->valuestring))
			counted_add(rec, cf->valuestring);
	}
	const cJSON *fip = kube_json_get(st, "failoverInProgress", NULL);
	rec->in_progress = cJSON_IsObject(fip);
	name_set(&rec->failed_pod, PHX_NAME_MAX, NULL);
	if (rec->in_progress) {
		const char *fp = kube_json_get_str(fip, "failedPod", NULL);
		name_set(&rec->failed_pod, PHX_NAME_MAX, fp);
		rec->started_us = phx_time_parse_ms(kube_json_get_str(fip, "startedAt", NULL)) * 1000;
		if (rec->started_us <= 0)
			rec->started_us = wall_us();
		rec->reaction_recorded = cJSON_GetArraySize(kube_json_get(fip, "promoted", NULL)) > 0;
		if (fp && !counted_has(rec, fp))
			counted_add(rec, fp);
	}
	free(rec->last_status);
	rec->last_status = NULL;
}

static void log_failover(struct phx_reconciler *r, const char *key, int64_t now_ms)
{
	pthread_mutex_lock(&r->log_mu);
	r->fo_key[(r->fo_head + r->fo_len) % FAILOVER_LOG_MAX] = name_hash(key);
	r->fo_time_ms[(r->fo_head + r->fo_len) % FAILOVER_LOG_MAX] = now_ms;
	if (r->fo_len < FAILOVER_LOG_MAX)
		r->fo_len++;
	else
		r->fo_head = (r->fo_head + 1) % FAILOVER_LOG_MAX;
	pthread_mutex_unlock(&r->log_mu);
}

static void start_failover(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			   const char *failed, enum phx_fail_reason reason, bool degraded)
{
	const char *ns = kube_json_namespace(svc), *name = kube_json_name(svc);
	const char *lv[] = { ns, name };
	int64_t now_us = wall_us();
	char msg[1024];

	pthread_mutex_lock(&r->fast_mu);
	int64_t *seenp = seen_find(rec, name_hash(failed));
	int64_t seen = seenp ? *seenp : 0;
	pthread_mutex_unlock(&r->fast_mu);
	counted_add(rec, failed);
	rec->failovers++;
	rec->in_progress = true;
	rec->started_us = phx_reaction_start(seen, rec->resumed_us, now_us);
	rec->last_failover_ms = rec->started_us / 1000;
	rec->reaction_recorded = false;
	name_set(&rec->failed_pod, PHX_NAME_MAX, failed);
	kube_metric_inc(r->m_failovers, lv);
	log_failover(r, rec->key, rec->last_failover_ms);
	snprintf(msg, sizeof(msg), "primary %s failed (%s); failover #%" PRId64 " started", failed,
		 phx_fail_reason_str(reason), rec->failovers);
	kube_log(KUBE_LOG_INFO, COMP, "failover started", "service", rec->key, "pod", failed,
		 "reason", phx_fail_reason_str(reason), NULL);
	event(r, svc, KUBE_EVENT_WARNING, "FailoverStarted", msg);
	if (degraded) {
		snprintf(msg, sizeof(msg), "primary %s failed with no Ready standby: replacing it "
					   "directly", failed);
		event(r, svc, KUBE_EVENT_WARNING, "Degraded", msg);
	}
}

static void record_reaction(struct phx_reconciler *r, struct svc_rec *rec)
{
	if (!rec->in_progress || rec->reaction_recorded)
		return;
	int64_t us = wall_us() - rec->started_us;
	if (us < 0)
		us = 0;
	rec->reaction_recorded = true;
	rec->last_reaction_ms = (us + 500) / 1000;
	kube_metric_observe(r->m_reaction, NULL, (double)us / 1e6);
	pthread_mutex_lock(&r->log_mu);
	r->reaction_sum_ms += (double)us / 1000.0;
	r->reaction_count++;
	pthread_mutex_unlock(&r->log_mu);
}

static void finish_failover(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc)
{
	char msg[1024];
	double s = (double)(wall_us() - rec->started_us) / 1e6;
	rec->in_progress = false;
	rec->last_recovery_s = s < 0 ? 0 : s;
	kube_metric_observe(r->m_recovery, NULL, rec->last_recovery_s);
	snprintf(msg, sizeof(msg), "failover of %s completed: %s is primary, all instances Ready "
				   "after %.3fs (reaction %" PRId64 " ms)",
		 str_or_empty(rec->failed_pod), str_or_empty(rec->primary), rec->last_recovery_s,
		 rec->last_reaction_ms);
	kube_log(KUBE_LOG_INFO, COMP, "failover completed", "service", rec->key, "primary",
		 str_or_empty(rec->primary), NULL);
	event(r, svc, KUBE_EVENT_NORMAL, "FailoverCompleted", msg);
}

/* Splits "ns/name" into ns (a buffer of nslen) and *name (into key); false when malformed. */
static bool key_split(const char *key, char *ns, size_t nslen, const char **name)
{
	const char *slash = strchr(key, '/');
	if (!slash || (size_t)(slash - key) >= nslen)
		return false;
	memcpy(ns, key, (size_t)(slash - key));
	ns[slash - key] = '\0';
	*name = slash + 1;
	return true;
}

/* The phoenix_instances series of this service follow its pods; a gone service's are removed. */
static void update_instances(struct phx_reconciler *r, struct svc_rec *rec,
			     const struct phx_pod *pods, size_t n, bool gone)
{
	int now[3][2] = { { 0 } };
	static const char *roles[] = { "none", "primary", "standby" };
	static const char *ready[] = { "false", "true" };
	char ns[256];
	const char *name;
	if (!key_split(rec->key, ns, sizeof(ns), &name))
		return;
	for (size_t i = 0; i < n && !gone; i++) {
		if (pods[i].health == PHX_HEALTH_FAILED)
			continue;
		now[pods[i].role][pods[i].health == PHX_HEALTH_READY]++;
	}
	for (int a = 0; a < 3; a++) {
		for (int b = 0; b < 2; b++) {
			const char *lv[] = { ns, name, roles[a], ready[b] };
			if (gone)
				kube_metric_remove(r->m_instances, lv);
			else if (now[a][b] != rec->inst[a][b])
				kube_metric_set(r->m_instances, lv, now[a][b]);
			rec->inst[a][b] = now[a][b];
		}
	}
}

/* ---------------------------------------------------------------- reconcile */

/* Mirrors a successful action into the view so status describes the state just written. */
static size_t view_apply(const struct phx_action *a, const char *created, const char *revision,
			 struct phx_pod *pods, size_t n, int64_t now_ms)
{
	if (a->kind == PHX_ACT_CREATE) {
		if (n >= PHX_MAX_PODS)
			return n;
		struct phx_pod *p = &pods[n++];
		memset(p, 0, sizeof(*p));
		set_str(p->name, sizeof(p->name), created);
		set_str(p->revision, sizeof(p->revision), revision);
		p->role = a->role;
		p->serving = a->serving;
		p->health = PHX_HEALTH_STARTING;
		p->created_ms = now_ms;
		return n;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(pods[i].name, a->pod) != 0)
			continue;
		if (a->kind == PHX_ACT_LABEL) {
			pods[i].role = a->role;
			pods[i].serving = a->serving;
		} else if (a->kind == PHX_ACT_DELETE) {
			pods[i].health = PHX_HEALTH_FAILED;
			pods[i].reason = PHX_FAIL_TERMINATING;
		}
	}
	return n;
}

static void append_name(char *buf, size_t len, const char *pod, enum phx_role role)
{
	size_t off = strlen(buf);
	snprintf(buf + off, len - off, "%s%.200s (%s)", off ? ", " : "", pod, phx_role_str(role));
}

/* One log line per action with only the fields that say something (no pod="" role=""). */
static void log_action(enum kube_log_level lvl, const char *msg, const char *key,
		       const struct phx_action *a, const char *created, const char *failure,
		       const char *error)
{
	const char *kv[14] = { 0 };
	size_t n = 0;
	const char *pod = a->kind == PHX_ACT_CREATE ? created : a->pod;
	bool has_role = a->kind == PHX_ACT_LABEL || a->kind == PHX_ACT_CREATE;
#define KV(k, v)                                  \
	do {                                      \
		if ((v) && *(v)) {                \
			kv[n++] = (k);            \
			kv[n++] = (v);            \
		}                                 \
	} while (0)
	KV("service", key);
	KV("pod", pod);
	if (lvl != KUBE_LOG_INFO)
		KV("action", a->why);
	if (has_role) {
		KV("role", phx_role_str(a->role));
		KV("serving", a->serving ? "true" : "false");
	}
	KV("failure", failure);
	KV("error", error);
#undef KV
	kube_log(lvl, COMP, msg, kv[0], kv[1], kv[2], kv[3], kv[4], kv[5], kv[6], kv[7], kv[8],
		 kv[9], kv[10], kv[11], kv[12], kv[13], NULL);
}

static uint64_t fast_gen(struct phx_reconciler *r, struct svc_rec *rec)
{
	pthread_mutex_lock(&r->fast_mu);
	uint64_t g = rec->fast_gen;
	pthread_mutex_unlock(&r->fast_mu);
	return g;
}

/* Executes the plan in order, stopping at the first error. Also stops (returning 0 with
 * *preempted set) when a primary failure was seen after the snapshot the plan was made from:
 * every prefix of a plan is safe, and the failure deserves a plan made from fresh data. */
static int execute(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
		   const struct phx_spec *spec, const struct phx_plan *pl, struct phx_pod *pods,
		   size_t *npods, uint64_t gen, bool *preempted)
{
	const char *ns = kube_json_namespace(svc);
	char msg[1024], promoted[768] = "";
	int rc = 0;
	for (size_t i = 0; i < pl->nacts; i++) {
		const struct phx_action *a = &pl->acts[i];
		char created[PHX_NAME_MAX] = "";
		if (fast_gen(r, rec) != gen) {
			*preempted = true;
			kube_log(KUBE_LOG_DEBUG, COMP, "plan preempted by a new failure", "service",
				 rec->key, NULL);
			break;
		}
		bool was_failed = false;
		const char *reason = "";
		for (size_t j = 0; j < *npods; j++) {
			if (strcmp(pods[j].name, a->pod) != 0)
				continue;
			was_failed = pods[j].health == PHX_HEALTH_FAILED;
			if (was_failed)
				reason = phx_fail_reason_str(pods[j].reason);
		}
		switch (a->kind) {
		case PHX_ACT_LABEL:
			rc = patch_labels(r, ns, a->pod, a->role, a->serving);
			if (rc == KUBE_ENOTFOUND) {
				rc = 0; /* gone meanwhile: the next pass sees it */
				break;
			}
			if (rc == 0) {
				expect_add(rec, EXPECT_LABEL, a->pod, a->role, a->serving, NULL);
				if (a->serving && !was_failed) {
					record_reaction(r, rec);
					if (pl->kind == PHX_PLAN_FAILOVER)
						append_name(promoted, sizeof(promoted), a->pod,
							    a->role);
				}
			}
			break;
		case PHX_ACT_DELETE:
			rc = delete_pod(r, ns, a->pod, was_failed);
			if (rc == 0)
				expect_add(rec, EXPECT_DELETE, a->pod, a->role, false, NULL);
			break;
		case PHX_ACT_CREATE:
			rc = create_pod(r, svc, spec, a->role, a->serving, created, sizeof(created),
					rec);
			if (rc == 0) {
				expect_add(rec, EXPECT_CREATE, created, a->role, a->serving,
					   spec->revision);
				snprintf(msg, sizeof(msg), "spawned %s %s", phx_role_str(a->role),
					 created);
				event(r, svc, KUBE_EVENT_NORMAL,
				      a->role == PHX_ROLE_PRIMARY ? "PrimarySpawned" : "StandbySpawned",
				      msg);
			}
			break;
		case PHX_ACT_CLEAR_SWITCHOVER:
			rc = clear_switchover(r, svc);
			if (rc == 0 && pl->kind == PHX_PLAN_SWITCHOVER) {
				snprintf(msg, sizeof(msg), "switched over to %s", pl->new_primary);
				event(r, svc, KUBE_EVENT_NORMAL, "SwitchoverCompleted", msg);
			} else if (rc == 0) {
				snprintf(msg, sizeof(msg), "switchover request %s dropped: %s",
					 spec->switchover_to, a->why);
				event(r, svc, KUBE_EVENT_NORMAL, "SwitchoverSkipped", msg);
			}
			break;
		}
		if (rc < 0) {
			log_action(KUBE_LOG_WARN, "action failed", rec->key, a, created, reason,
				   kube_strerror(rc));
			return rc;
		}
		log_action(KUBE_LOG_INFO, a->why, rec->key, a, created, reason, NULL);
		*npods = view_apply(a, created, spec->revision, pods, *npods, phx_wall_ms());
	}
	if (promoted[0]) {
		snprintf(msg, sizeof(msg), "now serving: %s", promoted);
		event(r, svc, KUBE_EVENT_NORMAL, "StandbyPromoted", msg);
	}
	if (pl->kind == PHX_PLAN_ROLLOUT && pl->new_primary[0]) {
		snprintf(msg, sizeof(msg), "rollout: switched over to updated %s", pl->new_primary);
		event(r, svc, KUBE_EVENT_NORMAL, "SwitchoverCompleted", msg);
	}
	return 0;
}

static size_t observe_pods(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			   const cJSON *arr, int grace_s, int64_t now_ms, struct phx_pod *pods)
{
	size_t n = 0;
	const cJSON *pod;
	const char *name = kube_json_name(svc);
	cJSON_ArrayForEach(pod, arr) {
		if (n >= PHX_MAX_PODS)
			break;
		/* Only pods we manage: a pod borrowed through a stray owner reference is not ours. */
		if (strcmp(kube_json_get_str(pod, "metadata", "labels", PHX_LABEL_SERVICE, NULL)
				   ? kube_json_get_str(pod, "metadata", "labels", PHX_LABEL_SERVICE, NULL)
				   : "",
			   name) != 0)
			continue;
		uint64_t h = name_hash(kube_json_name(pod)), rv = rv_num(pod);
		pthread_mutex_lock(&r->fast_mu);
		if (phx_pod_is_ready(pod))
			ever_ready_add(rec, h, rv);
		bool ever = ever_ready_before(rec, h, rv);
		pthread_mutex_unlock(&r->fast_mu);
		phx_pod_classify(pod, ever, grace_s, now_ms, &pods[n++]);
	}
	return n;
}

static bool pod_alive(const struct phx_pod *pods, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(pods[i].name, name) == 0)
			return pods[i].health != PHX_HEALTH_FAILED;
	return false;
}

static const char *current_primary(const struct phx_pod *pods, size_t n)
{
	const char *best = "";
	for (size_t i = 0; i < n; i++) {
		if (pods[i].health == PHX_HEALTH_FAILED || pods[i].role != PHX_ROLE_PRIMARY)
			continue;
		if (!best[0] || pods[i].health == PHX_HEALTH_READY)
			best = pods[i].name;
	}
	return best;
}

/* A valid spec is remembered; an invalid one is replaced by the last valid one (keeping what
 * the user asks now: paused, switchover), so that failover goes on: promoting a Ready standby
 * needs no new pod. Without a remembered one (started on an invalid spec) the parse's defaults
 * stand: the plan is held to label changes anyway (plan_hold_spawning). */
static void spec_for_plan(struct svc_rec *rec, struct phx_spec *spec, bool valid)
{
	if (valid) {
		rec->valid.standbys = spec->standbys;
		rec->valid.grace_s = spec->grace_s;
		rec->valid.capacity = spec->capacity;
		rec->valid.mode = spec->mode;
		memcpy(rec->valid.revision, spec->revision, sizeof(rec->valid.revision));
		rec->have_valid = true;
		return;
	}
	if (!rec->have_valid)
		return;
	spec->standbys = rec->valid.standbys;
	spec->grace_s = rec->valid.grace_s;
	spec->capacity = rec->valid.capacity;
	spec->mode = rec->valid.mode;
	memcpy(spec->revision, rec->valid.revision, sizeof(spec->revision));
}

/* Remembers when a paused service is resumed: time paused is not failover reaction. */
static void track_pause(struct svc_rec *rec, const struct phx_spec *spec)
{
	if (spec->paused) {
		rec->paused = true;
	} else if (rec->paused) {
		rec->paused = false;
		rec->resumed_us = wall_us();
	}
}

/* Says once per distinct message (Warning Event, log) that the spec is invalid and what is held;
 * err gets the explanation appended (it is the Invalid condition's message). */
static void report_invalid(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			   char *err, size_t errlen)
{
	size_t off = strlen(err);
	snprintf(err + off, errlen - off, "; failover goes on with the last valid spec, but no pod "
		 "is spawned or replaced until the spec is fixed");
	if (str_eq(rec->invalid_msg, err))
		return;
	name_set(&rec->invalid_msg, errlen, err);
	event(r, svc, KUBE_EVENT_WARNING, "InvalidSpec", err);
	kube_log(KUBE_LOG_WARN, COMP, "invalid spec", "service", rec->key, "message", err, NULL);
}

/* Invalid spec: keep only what needs no new pod (labels: promote, fence; the switchover
 * annotation). No create, no delete: every prefix of a plan is safe, and so is this subset,
 * whose label actions keep their order. */
static void plan_hold_spawning(struct phx_plan *pl)
{
	size_t k = 0;
	for (size_t i = 0; i < pl->nacts; i++)
		if (pl->acts[i].kind == PHX_ACT_LABEL || pl->acts[i].kind == PHX_ACT_CLEAR_SWITCHOVER)
			pl->acts[k++] = pl->acts[i];
	pl->nacts = k;
}

/* RolloutStarted when a rollout's first step ran, RolloutCompleted once settled on it. */
static void rollout_events(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			   const struct phx_spec *spec, const struct phx_plan *pl,
			   const struct phx_pod *pods, size_t n)
{
	char msg[256];
	if (pl->kind == PHX_PLAN_ROLLOUT && !rec->rolling) {
		rec->rolling = true;
		snprintf(msg, sizeof(msg), "rolling out revision %s, one standby at a time",
			 spec->revision);
		event(r, svc, KUBE_EVENT_NORMAL, "RolloutStarted", msg);
	} else if (rec->rolling && phx_settled(spec, pods, n)) {
		rec->rolling = false;
		snprintf(msg, sizeof(msg), "rollout of revision %s done: every instance updated",
			 spec->revision);
		event(r, svc, KUBE_EVENT_NORMAL, "RolloutCompleted", msg);
	}
}

/* After the checks ran: reports a changed conflict. Else (paused, a failed plan) what was last
 * found still stands. */
static void ownership_settle(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			     struct owner_report *orep, bool checked)
{
	if (checked) {
		note_ownership(r, rec, svc, orep);
		rec->owner_traffic_lost = orep->traffic_lost;
		return;
	}
	set_str(orep->msg, sizeof(orep->msg), str_or_empty(rec->owner_msg));
	orep->traffic_lost = rec->owner_traffic_lost;
}

/* A failover is under way (or planned) and no Ready pod serves: its retries are urgent. */
static bool failover_unserved(const struct svc_rec *rec, const struct phx_plan *pl,
			      const struct phx_pod *pods, size_t n)
{
	if (!rec->in_progress && pl->kind != PHX_PLAN_FAILOVER)
		return false;
	for (size_t i = 0; i < n; i++)
		if (pods[i].serving && pods[i].health == PHX_HEALTH_READY)
			return false;
	return true;
}

bool phx_reconciler_failover_pending(struct phx_reconciler *r, const char *key)
{
	struct svc_rec *rec = key ? rec_get(r, key, false) : NULL;
	bool pending = rec && atomic_load(&rec->failover_pending);
	rec_put(rec);
	return pending;
}

/* foreign: pods labelled for the service that it does not own (may be NULL). */
static int reconcile_locked(struct phx_reconciler *r, struct svc_rec *rec,
			    const struct phx_observed *obs, const cJSON *foreign,
			    int64_t *requeue_after_ms)
{
	const cJSON *svc = obs->svc;
	struct phx_spec spec;
	struct phx_pod pods[PHX_MAX_PODS];
	struct phx_plan pl;
	char err[512];
	int64_t now_ms = phx_wall_ms(), gen = 0;
	int rc = 0, src;
	size_t n;

	rec_init_from_status(rec, svc);
	rec->gone = false;
	pthread_mutex_lock(&r->fast_mu);
	set_str(rec->fast_uid, sizeof(rec->fast_uid), str_or_empty(kube_json_uid(svc)));
	pthread_mutex_unlock(&r->fast_mu);
	/* Taken before the pods are read: a failure seen after this preempts the plan. */
	uint64_t fgen = fast_gen(r, rec);
	bool preempted = false;
	kube_json_get_int(svc, &gen, "metadata", "generation", NULL);
	int invalid = phx_spec_parse(svc, &spec, err, sizeof(err));
	spec_for_plan(rec, &spec, invalid == 0);
	track_pause(rec, &spec);
	n = observe_pods(r, rec, svc, obs->pods, spec.grace_s, now_ms, pods);
	n = expect_apply(rec, pods, n, now_ms);
	struct owner_report orep = { .msg = "" };
	bool ochecked = false;
	int frc = fence_foreign(r, rec->key, svc, foreign, &orep);

	if (invalid < 0)
		report_invalid(r, rec, svc, err, sizeof(err));
	else
		name_set(&rec->invalid_msg, sizeof(err), NULL);
	{
		struct phx_plan_input in = {
			.spec = &spec, .pods = pods, .npods = n,
			.prev_primary = str_or_empty(rec->primary),
			.failover_in_progress = rec->in_progress,
		};
		phx_plan_compute(&in, &pl);
		if (invalid < 0)
			plan_hold_spawning(&pl);

		/* Count each lost primary once: the one status named that is gone even though
		 * a takeover already happened (a previous leader acted but died before writing
		 * status) included.
		 * Every failed primary is counted, not only the one the plan reacts to: under
		 * rapid kills a new primary can fail while the old one is still terminating. */
		if (!spec.paused) {
			for (size_t i = 0; i < n; i++) {
				if (pods[i].role != PHX_ROLE_PRIMARY ||
				    pods[i].health != PHX_HEALTH_FAILED ||
				    counted_has(rec, pods[i].name))
					continue;
				start_failover(r, rec, svc, pods[i].name, pods[i].reason,
					       pl.degraded);
			}
			if (pl.primary_failed && !counted_has(rec, pl.failed_pod))
				start_failover(r, rec, svc, pl.failed_pod, pl.failed_reason,
					       pl.degraded);
			if (rec->primary && !pod_alive(pods, n, rec->primary) &&
			    !counted_has(rec, rec->primary))
				start_failover(r, rec, svc, rec->primary, PHX_FAIL_DELETED,
					       pl.degraded);
		}

		/* ... and primaries the handlers saw failing, even if this snapshot predates the
		 * failure and a relabel since made them standbys. */
		pthread_mutex_lock(&r->fast_mu);
		char names[FAIL_SEEN_MAX][PHX_NAME_MAX];
		size_t nnames = 0;
		for (size_t i = rec->seen_from; rec->seen && i < rec->n_seen; i++)
			if (rec->n_seen - i <= FAIL_SEEN_MAX)
				set_str(names[nnames++], PHX_NAME_MAX,
					rec->seen[i % FAIL_SEEN_MAX].name);
		pthread_mutex_unlock(&r->fast_mu);
		for (size_t i = 0; i < nnames && !spec.paused; i++)
			if (!counted_has(rec, names[i]))
				start_failover(r, rec, svc, names[i], PHX_FAIL_NONE, pl.degraded);

		rc = frc < 0 ? frc : execute(r, rec, svc, &spec, &pl, pods, &n, fgen, &preempted);
		if (rc == 0)
			rollout_events(r, rec, svc, &spec, &pl, pods, n);
		if (rc == 0 && !spec.paused && invalid == 0) {
			bool labelled = false;
			int arc = adopt_pods(r, rec->key, svc, obs->pods, &labelled);
			src = ensure_service(r, svc, obs->service, labelled, &orep);
			int prc = ensure_pdb(r, svc, obs->pdb, labelled, &orep);
			int vrc = take_back_vanished(r, rec, svc);
			rc = arc < 0 ? arc : src < 0 ? src : prc < 0 ? prc : vrc;
			ochecked = true;
		}
		const char *prim = current_primary(pods, n);
		if (prim[0])
			name_set(&rec->primary, PHX_NAME_MAX, prim);
		if (rec->in_progress && !preempted && phx_recovered(&spec, pods, n))
			finish_failover(r, rec, svc);
		*requeue_after_ms = preempted ? 1 : pl.requeue_after_ms;
		atomic_store(&rec->failover_pending, failover_unserved(rec, &pl, pods, n));
	}

	struct phx_status_input si = {
		.spec = &spec, .pods = pods, .npods = n,
		.prev_status = kube_json_get(svc, "status", NULL), .generation = gen,
		.now_ms = now_ms, .invalid = invalid < 0, .invalid_msg = err,
		.failovers = rec->failovers, .last_failover_ms = rec->last_failover_ms,
		.last_reaction_ms = rec->last_reaction_ms, .last_recovery_s = rec->last_recovery_s,
		.in_progress = rec->in_progress, .in_progress_started_ms = rec->started_us / 1000,
		.in_progress_failed_pod = str_or_empty(rec->failed_pod),
		.create_fail_reason = rec->create_reason, .create_fail_msg = rec->create_msg,
	};
	const char *counted[COUNTED_NAMES_MAX];
	si.counted_failures = counted;
	si.ncounted_failures = counted_names(rec, counted);
	cJSON *tmp = NULL;
	int64_t live = 0;
	if (kube_json_get_int(status_now(rec, svc, &tmp), &live, "failovers", NULL))
		rec->failovers = si.failovers =
			phx_failovers_merge(rec->failovers, live, rec->count_confirmed);
	cJSON_Delete(tmp);
	cJSON *status = phx_status_build(&si);
	ownership_settle(r, rec, svc, &orep, ochecked);
	/* A Service or PDB that is not ours is outside our caches: no event says it is gone. */
	if (orep.traffic_lost && (*requeue_after_ms <= 0 || *requeue_after_ms > OWNER_RECHECK_MS))
		*requeue_after_ms = OWNER_RECHECK_MS;
	if (status)
		phx_status_note_ownership(status, si.prev_status, orep.msg, orep.traffic_lost, gen,
					  now_ms);
	if (status) {
		snprintf(rec->phase, sizeof(rec->phase), "%s",
			 kube_json_get_str(status, "phase", NULL));
		int64_t v = 0;
		kube_json_get_int(status, &v, "readyInstances", NULL);
		rec->ready = (int)v;
		rec->total = 1 + spec.standbys;
		rec->capacity = phx_capacity_percent(&spec, pods, n);
		/* Preempted: the reconcile right behind us writes a status that includes the new
		 * failure; spending a request on this one would only delay it. */
		int wrc = preempted ? 0 : write_status(r, rec, svc, status, now_ms);
		if (wrc == KUBE_ECONFLICT) {
			/* The cache is behind the live object: its count is taken over (never lowered)
			 * once the cache catches up; retry then. */
			kube_log(KUBE_LOG_DEBUG, COMP, "status write conflict: cache behind", "service",
				 rec->key, NULL);
			wrc = 0;
			if (*requeue_after_ms <= 0 || *requeue_after_ms > 1000)
				*requeue_after_ms = 1000;
		}
		if (rc == 0)
			rc = wrc;
		cJSON_Delete(status);
	}
	update_instances(r, rec, pods, n, false);
	if (rec->nexp > 0 && *requeue_after_ms == 0)
		*requeue_after_ms = EXPECT_TTL_MS + 100; /* re-check if a watch event never comes */
	if (*requeue_after_ms == 0 && rec->refresh_at_ms > 0)
		*requeue_after_ms = rec->refresh_at_ms > now_ms ? rec->refresh_at_ms - now_ms : 1;
	return rc;
}

/* Drops a gone service's failovers from the log, so that the dashboard's failoversToday counts
 * the same services as its failoversTotal. */
static void log_forget(struct phx_reconciler *r, const char *key)
{
	uint64_t h = name_hash(key);
	size_t k = 0;
	pthread_mutex_lock(&r->log_mu);
	for (size_t i = 0; i < r->fo_len; i++) {
		size_t from = (r->fo_head + i) % FAILOVER_LOG_MAX;
		size_t to = (r->fo_head + k) % FAILOVER_LOG_MAX;
		if (r->fo_key[from] == h)
			continue;
		r->fo_key[to] = r->fo_key[from];
		r->fo_time_ms[to] = r->fo_time_ms[from];
		k++;
	}
	r->fo_len = k;
	pthread_mutex_unlock(&r->log_mu);
}

/* mu held. The service is gone: drop its gauges and failover counter and unlink the record, so
 * a service that comes back under this name gets a fresh one; handlers or the dashboard still
 * holding this one free it with their last put. */
static void forget_locked(struct phx_reconciler *r, struct svc_rec *rec)
{
	update_instances(r, rec, NULL, 0, true);
	log_forget(r, rec->key);
	rec->gone = true;
	rec->init = false;
	char ns[256];
	const char *slash = strchr(rec->key, '/');
	if (slash && (size_t)(slash - rec->key) < sizeof(ns)) {
		memcpy(ns, rec->key, (size_t)(slash - rec->key));
		ns[slash - rec->key] = '\0';
		const char *lv[] = { ns, slash + 1 };
		kube_metric_remove(r->m_failovers, lv);
	}
	rec_unlink_locked(r, rec);
}

void phx_reconciler_forget(struct phx_reconciler *r, const char *key)
{
	struct svc_rec *rec = key ? rec_lock(r, key, false) : NULL;
	if (rec)
		forget_locked(r, rec);
	rec_unlock(rec);
}

/* mu of rec held, rec in the map (rec may be NULL: a key we never saw, now gone). */
static int reconcile_rec(struct phx_reconciler *r, struct svc_rec *rec,
			 const struct phx_observed *obs, const cJSON *foreign,
			 int64_t *requeue_after_ms)
{
	if (!rec)
		return 0;
	if (!obs->svc) {
		/* Deleted: the garbage collector removes the pods through their owner reference. */
		forget_locked(r, rec);
		return 0;
	}
	if (kube_json_get(obs->svc, "metadata", "deletionTimestamp", NULL)) {
		rec->gone = true;
		return 0;
	}
	return reconcile_locked(r, rec, obs, foreign, requeue_after_ms);
}

static void account(struct phx_reconciler *r, const struct timespec *t0, int rc)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
	const char *res[] = { rc == 0 ? "success" : "error" };
	kube_metric_inc(r->m_reconcile, res);
	kube_metric_observe(r->m_duration, NULL, secs);
	if (rc < 0)
		kube_metric_inc(r->m_errors, NULL);
}

int phx_reconcile(struct phx_reconciler *r, const char *key, const struct phx_observed *obs,
		  int64_t *requeue_after_ms)
{
	struct timespec t0;
	int rc;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	*requeue_after_ms = 0;
	struct svc_rec *rec = rec_lock(r, key, obs->svc != NULL);
	rc = reconcile_rec(r, rec, obs, NULL, requeue_after_ms);
	rec_unlock(rec);
	account(r, &t0, rc);
	return rc;
}

/* Moves the pods of arr that uid does not own into a new array (NULL when there are none). */
static cJSON *split_foreign(cJSON *arr, const char *uid)
{
	cJSON *foreign = NULL, *pod = arr ? arr->child : NULL, *next;
	for (; pod; pod = next) {
		next = pod->next;
		if (phx_owned_by(pod, uid))
			continue;
		if (!foreign)
			foreign = cJSON_CreateArray();
		cJSON *item = cJSON_DetachItemViaPointer(arr, pod);
		if (foreign)
			cJSON_AddItemToArray(foreign, item);
		else
			cJSON_Delete(item); /* ENOMEM: not ours either way */
	}
	return foreign;
}

int phx_reconcile_load(struct phx_reconciler *r, const char *key, phx_load_fn load, void *ud,
		       int64_t *requeue_after_ms)
{
	struct timespec t0;
	struct phx_observed obs = { 0 };
	cJSON *svc = NULL, *pods = NULL, *service = NULL, *pdb = NULL;
	int rc;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	*requeue_after_ms = 0;
	struct svc_rec *rec = rec_lock(r, key, true);
	/* Read the caches only now: a snapshot taken before waiting for the lock could be older
	 * than what the previous reconcile of this key already acted on. */
	load(ud, key, &svc, &pods, &service, &pdb);
	obs.svc = svc;
	obs.pods = pods;
	obs.service = service;
	obs.pdb = pdb;
	cJSON *foreign = split_foreign(pods, kube_json_uid(svc));
	rc = reconcile_rec(r, rec, &obs, foreign, requeue_after_ms);
	rec_unlock(rec);
	cJSON_Delete(svc);
	cJSON_Delete(pods);
	cJSON_Delete(foreign);
	cJSON_Delete(service);
	cJSON_Delete(pdb);
	account(r, &t0, rc);
	return rc;
}

/* ---------------------------------------------------------------- dashboard */

cJSON *phx_reconciler_dashboard(struct phx_reconciler *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *rows = cJSON_CreateArray();
	int services = 0, ready = 0, total = 0, in_progress = 0;
	int64_t failovers = 0, capacity = 0;
	size_t nall = 0;
	struct svc_rec **all = NULL;
	if (!o || !rows)
		goto fail;
	all = rec_snapshot(r, &nall);
	if (!all && phx_reconciler_nrecords(r) > 0)
		goto fail;
	for (size_t i = 0; i < nall; i++) {
		struct svc_rec *rec = all[i];
		pthread_mutex_lock(&rec->mu);
		if (rec->init && !rec->gone && rec->linked) {
			cJSON *row = cJSON_CreateObject();
			services++;
			ready += rec->ready;
			total += rec->total;
			capacity += rec->capacity;
			failovers += rec->failovers;
			in_progress += rec->in_progress;
			cJSON_AddStringToObject(row, "service", rec->key);
			cJSON_AddStringToObject(row, "phase", rec->phase);
			cJSON_AddStringToObject(row, "primary", str_or_empty(rec->primary));
			cJSON_AddNumberToObject(row, "readyInstances", rec->ready);
			cJSON_AddNumberToObject(row, "totalInstances", rec->total);
			cJSON_AddNumberToObject(row, "capacityPercent", rec->capacity);
			cJSON_AddNumberToObject(row, "failovers", (double)rec->failovers);
			cJSON_AddBoolToObject(row, "failoverInProgress", rec->in_progress);
			if (rec->in_progress)
				cJSON_AddStringToObject(row, "failedPod",
							str_or_empty(rec->failed_pod));
			if (rec->last_reaction_ms >= 0)
				cJSON_AddNumberToObject(row, "lastFailoverReactionMs",
							(double)rec->last_reaction_ms);
			cJSON_AddItemToArray(rows, row);
		}
		pthread_mutex_unlock(&rec->mu);
	}
	rec_snapshot_free(all, nall);

	int64_t now = phx_wall_ms(), midnight = now - now % 86400000;
	int today = 0;
	double mean = 0;
	pthread_mutex_lock(&r->log_mu);
	for (size_t i = 0; i < r->fo_len; i++)
		today += r->fo_time_ms[(r->fo_head + i) % FAILOVER_LOG_MAX] >= midnight;
	if (r->reaction_count)
		mean = r->reaction_sum_ms / (double)r->reaction_count;
	pthread_mutex_unlock(&r->log_mu);

	cJSON_AddNumberToObject(o, "services", services);
	/* Every service this replica keeps memory for, standbys' warm records included. */
	cJSON_AddNumberToObject(o, "trackedServices", (double)nall);
	cJSON_AddNumberToObject(o, "readyInstances", ready);
	cJSON_AddNumberToObject(o, "totalInstances", total);
	cJSON_AddNumberToObject(o, "capacityPercent",
				services ? (double)(capacity / services) : 0);
	cJSON_AddNumberToObject(o, "capacityPercentTotal", (double)capacity);
	cJSON_AddNumberToObject(o, "failoversTotal", (double)failovers);
	cJSON_AddNumberToObject(o, "failoversToday", today);
	cJSON_AddNumberToObject(o, "meanReactionMs", round(mean * 1000) / 1000);
	cJSON_AddNumberToObject(o, "failoversInProgress", in_progress);
	cJSON_AddItemToObject(o, "items", rows);
	return o;
fail:
	cJSON_Delete(o);
	cJSON_Delete(rows);
	return NULL;
}
