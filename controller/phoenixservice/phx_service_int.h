/* Private to the PhoenixService reconciler (phx_service.h is its contract): the per-service
 * record, the reconciler's state and the functions its files share (phx_record.c,
 * phx_fastpath.c, phx_writes.c, phx_status_write.c, phx_bookkeeping.c, phx_execute.c,
 * phx_service.c, phx_dashboard_data.c). Not for use outside this directory. */
#ifndef PHX_SERVICE_INT_H
#define PHX_SERVICE_INT_H

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
/* Failures counted, by pod name hash: more than a snapshot can hold pods (each counted pod that
 * still exists stays remembered, however many fail meanwhile; see svc_counted_prune). */
#define COUNTED_MAX (PHX_MAX_PODS + FAIL_SEEN_MAX + 4)
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
struct svc_name_set {
	char (*names)[PHX_NAME_MAX];
	size_t n;
};

/* A write of ours the informer cache may not show yet (client-go "expectations"). */
struct expect {
	enum expect_kind kind;
	char *name; /* owned (a buffer of PHX_NAME_MAX was 1 KB a service at peak) */
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
 * Lifetime: every user holds a reference (svc_rec_get/svc_rec_put; increments only under map_lock while
 * the record is in the map, which holds one reference itself). A reconcile that sees the
 * service gone unlinks the record (under mu and map_lock) and drops the map's reference; the
 * last svc_rec_put frees it. Lock order: mu -> map_lock, mu -> fast_mu; map_lock is never held
 * while waiting for a mu (see svc_rec_snapshot). */
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
	char *failed_pod; /* owned; NULL = "" (svc_name_set) */
	bool reaction_recorded;
	uint64_t *counted; /* ring of COUNTED_MAX, allocated on the first count */
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
	struct svc_name_set suspects;
	/* owned pods gone from the cache (fast_mu): deleted, or their service label removed (the
	 * cache selects by it); the reconcile looks which and takes the latter back */
	struct svc_name_set vanished;
	/* ownership (mu): the conflict last reported in an Event, NULL = none, and whether it
	 * takes our traffic (a Service or PDB of our name that is not ours) */
	char *owner_msg;
	bool owner_traffic_lost;
};

struct phx_reconciler {
	struct kube_client *client;
	struct kube_events *events;
	pthread_rwlock_t map_lock;
	struct svc_rec *recs;
	pthread_mutex_t fast_mu;

	pthread_mutex_t log_mu; /* failover log for the dashboard */
	int64_t fo_time_ms[FAILOVER_LOG_MAX];
	uint64_t fo_key[FAILOVER_LOG_MAX]; /* svc_name_hash of the service's key, per entry */
	size_t fo_head, fo_len;
	double reaction_sum_ms;
	uint64_t reaction_count;

	struct kube_metric *m_failovers, *m_reaction, *m_recovery, *m_instances;
	struct kube_metric *m_reconcile, *m_errors, *m_duration;
};

/* What the ownership checks of one reconcile found, for its status and Events. */
struct owner_report {
	char msg[1024];
	bool traffic_lost; /* our Service or PDB is someone else's object */
};

/* ---- phx_record.c */
int64_t svc_wall_us(void);
void svc_set_str(char *dst, size_t len, const char *src);
const char *svc_str_or_empty(const char *s);
bool svc_str_eq(const char *a, const char *b);
void svc_name_set(char **dst, size_t len, const char *src);
uint64_t svc_name_hash(const char *s);
void svc_random_suffix(char *out, size_t n);
void svc_rec_free(struct svc_rec *rec);
void svc_rec_put(struct svc_rec *rec);
struct svc_rec *svc_rec_get(struct phx_reconciler *r, const char *key, bool create);
struct svc_rec *svc_rec_lock(struct phx_reconciler *r, const char *key, bool create);
void svc_rec_unlock(struct svc_rec *rec);
void svc_rec_unlink_locked(struct phx_reconciler *r, struct svc_rec *rec);
struct svc_rec **svc_rec_snapshot(struct phx_reconciler *r, size_t *n);
void svc_rec_snapshot_free(struct svc_rec **all, size_t n);
uint64_t svc_rv_num(const cJSON *obj);
bool svc_ever_ready_before(const struct svc_rec *rec, uint64_t h, uint64_t rv);
void svc_ever_ready_add(struct svc_rec *rec, uint64_t h, uint64_t rv);
bool svc_counted_has(const struct svc_rec *rec, const char *pod);
void svc_counted_add(struct svc_rec *rec, const char *pod);
void svc_counted_clear(struct svc_rec *rec);
/* When the counted set is full: forgets the failures of pods that are gone, i.e. in none of
 * pods[0..n) (a snapshot at least as new as the ones they were counted from), not the recorded
 * primary and not in keep[0..nkeep) (hashes of failures the handlers saw, which may be newer than
 * the snapshot). Pod names are never reused (generated), so a failure stays counted once for as
 * long as its pod exists. */
void svc_counted_prune(struct svc_rec *rec, const struct phx_pod *pods, size_t n,
		       const uint64_t *keep, size_t nkeep);
size_t svc_counted_names(const struct svc_rec *rec, const char **out);
void svc_expect_clear(struct svc_rec *rec);
void svc_expect_add(struct svc_rec *rec, enum expect_kind kind, const char *name,
		       enum phx_role role, bool serving, const char *revision);
size_t svc_expect_apply(struct svc_rec *rec, struct phx_pod *pods, size_t n, int64_t now_ms);
/* ---- phx_fastpath.c */
int64_t *svc_seen_find(struct svc_rec *rec, uint64_t h);
void svc_name_set_update(struct svc_name_set *set, const char *name, bool in);
size_t svc_name_set_copy(struct svc_name_set *set, char (*names)[PHX_NAME_MAX], size_t max,
			    bool take);
/* ---- phx_writes.c */
void svc_event(struct phx_reconciler *r, const cJSON *svc, const char *type,
		  const char *reason, const char *msg);
int svc_patch_labels(struct phx_reconciler *r, const char *ns, const char *pod,
			enum phx_role role, bool serving);
int svc_delete_pod(struct phx_reconciler *r, const char *ns, const char *pod, bool failed);
int svc_create_pod(struct phx_reconciler *r, const cJSON *svc, const struct phx_spec *spec,
		      enum phx_role role, bool serving, char *name, size_t namelen,
		      struct svc_rec *rec);
int svc_lookup(struct phx_reconciler *r, const struct kube_gvr *gvr, const char *ns,
		  const char *name, cJSON **out);
int svc_ensure_service(struct phx_reconciler *r, const cJSON *svc, const cJSON *observed,
			  bool owner_labelled, struct owner_report *rep);
int svc_ensure_pdb(struct phx_reconciler *r, const cJSON *svc, const cJSON *observed,
		      bool owner_labelled, struct owner_report *rep);
int svc_adopt_pods(struct phx_reconciler *r, const char *key, const cJSON *svc,
		      const cJSON *pods, bool *labelled);
int svc_take_back_vanished(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc);
int svc_fence_foreign(struct phx_reconciler *r, const char *key, const cJSON *svc,
			 const cJSON *foreign, struct owner_report *rep);
void svc_note_ownership(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			   const struct owner_report *rep);
int svc_clear_switchover(struct phx_reconciler *r, const cJSON *svc);
/* ---- phx_status_write.c */
const cJSON *svc_status_now(const struct svc_rec *rec, const cJSON *svc, cJSON **tmp);
int svc_write_status(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			cJSON *status, int64_t now_ms);
/* ---- phx_bookkeeping.c */
void svc_rec_init_from_status(struct svc_rec *rec, const cJSON *svc);
void svc_start_failover(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			   const char *failed, enum phx_fail_reason reason, bool degraded);
void svc_record_reaction(struct phx_reconciler *r, struct svc_rec *rec);
void svc_finish_failover(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc);
void svc_update_instances(struct phx_reconciler *r, struct svc_rec *rec,
			     const struct phx_pod *pods, size_t n, bool gone);
/* ---- phx_execute.c */
uint64_t svc_fast_gen(struct phx_reconciler *r, struct svc_rec *rec);
int svc_execute(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
		   const struct phx_spec *spec, const struct phx_plan *pl, struct phx_pod *pods,
		   size_t *npods, uint64_t gen, bool *preempted);
size_t svc_observe_pods(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			   const cJSON *arr, int grace_s, int64_t now_ms, struct phx_pod *pods);
bool svc_pod_alive(const struct phx_pod *pods, size_t n, const char *name);
const char *svc_current_primary(const struct phx_pod *pods, size_t n);
void svc_spec_for_plan(struct svc_rec *rec, struct phx_spec *spec, bool valid);
void svc_track_pause(struct svc_rec *rec, const struct phx_spec *spec);
void svc_report_invalid(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			   char *err, size_t errlen);
void svc_plan_hold_spawning(struct phx_plan *pl);
void svc_rollout_events(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			   const struct phx_spec *spec, const struct phx_plan *pl,
			   const struct phx_pod *pods, size_t n);
void svc_ownership_settle(struct phx_reconciler *r, struct svc_rec *rec, const cJSON *svc,
			     struct owner_report *orep, bool checked);
bool svc_failover_unserved(const struct svc_rec *rec, const struct phx_plan *pl,
			      const struct phx_pod *pods, size_t n);

#endif
