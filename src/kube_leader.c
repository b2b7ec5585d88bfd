/* Lease-based leader election (kube_leader.h), following client-go's leaderelection: expiry is
 * judged from when this elector last saw the Lease change, on its own monotonic clock, so clock
 * skew between nodes cannot cause an early takeover; renewTime is written for humans. */
#include "kube_leader.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube_clock.h"
#include "kube_error.h"
#include "kube_json.h"
#include "kube_log.h"
#include "kube_metrics.h"
#include "kube_time.h"

struct kube_leader {
	struct kube_client *client, *gated;
	char *ns, *name, *identity;
	int64_t lease_ns, renew_ns, retry_ns;
	bool keep_lease_on_stop;
	struct kube_leader_callbacks cb;
	struct kube_clock *clock;

	/* The write gate reads these from any thread without a lock. */
	atomic_bool leading;
	atomic_llong renewed_at; /* clock time the last successful acquire/renew was started */
	atomic_bool resigned;    /* stop() began: refuse writes while the elector is joined */

	pthread_mutex_t mu; /* guards started, stopping, holder */
	struct kube_cond *cond;
	bool started, stopping;
	char *holder;
	pthread_t thread;

	/* Elector thread only. */
	char *observed_rv;    /* resourceVersion of the Lease as last seen */
	int64_t observed_at;  /* clock time it was first seen */
	char *reported;       /* holder last passed to on_new_leader */
	unsigned seed;        /* jitter */
	struct kube_metric *m_status, *m_errors;
	int64_t last_warn_at; /* clock time of the last warning logged (rate limit) */
	int64_t failing_since; /* first failed attempt of the current streak; 0 = none */

	/* The current streak's error, read by kube_leader_healthy from any thread (under mu). */
	char why[256];
};

char *kube_leader_format_microtime(int64_t wall_ns, char *buf, size_t len)
{
	if (kube_time_format_micro(wall_ns > 0 ? wall_ns : 0, buf, len) == NULL && len > 0)
		buf[0] = '\0';
	return buf;
}

bool kube_leader_is_leader(struct kube_leader *le)
{
	if (le == NULL || !atomic_load(&le->leading) || atomic_load(&le->resigned))
		return false;
	return kube_clock_now(le->clock) - atomic_load(&le->renewed_at) < le->renew_ns;
}

static bool gate_allow(void *ud)
{
	return kube_leader_is_leader(ud);
}

static bool gate_deny(void *ud)
{
	return false;
}

static void set_status_metric(struct kube_leader *le, bool leading)
{
	const char *lv[] = {le->name};
	kube_metric_set(le->m_status, lv, leading ? 1.0 : 0.0);
}

/* Notes a Lease we just read or wrote: a new resourceVersion restarts the expiry clock, and a
 * new holder is reported. */
static void observe(struct kube_leader *le, const cJSON *lease)
{
	const char *rv = kube_json_resource_version(lease);
	const char *holder = kube_json_get_str(lease, "spec", "holderIdentity", NULL);
	char *copy;

	if (rv != NULL && (le->observed_rv == NULL || strcmp(rv, le->observed_rv) != 0)) {
		copy = strdup(rv);
		if (copy != NULL) {
			free(le->observed_rv);
			le->observed_rv = copy;
		}
		le->observed_at = kube_clock_now(le->clock);
	}
	copy = holder != NULL ? strdup(holder) : NULL;
	pthread_mutex_lock(&le->mu);
	free(le->holder);
	le->holder = copy;
	pthread_mutex_unlock(&le->mu);
	if (holder == NULL || holder[0] == '\0' ||
	    (le->reported != NULL && strcmp(le->reported, holder) == 0))
		return;
	copy = strdup(holder);
	if (copy == NULL)
		return;
	free(le->reported);
	le->reported = copy;
	kube_log(KUBE_LOG_INFO, "leader", "new leader observed", "lease", le->name, "holder",
		 holder, NULL);
	if (le->cb.on_new_leader != NULL)
		le->cb.on_new_leader(holder, le->cb.ud);
}

/* Writes holder/renewTime (and, on takeover, acquireTime and leaseTransitions) into spec. */
static int fill_spec(struct kube_leader *le, cJSON *spec, const char *holder, bool takeover,
		     int64_t duration_s)
{
	char now[40];
	cJSON *transitions;
	double n = 1;

	kube_leader_format_microtime(kube_clock_wall(le->clock), now, sizeof(now));
	if (kube_json_set_str(spec, "holderIdentity", holder) != 0 ||
	    kube_json_set_str(spec, "renewTime", now) != 0)
		return KUBE_ENOMEM;
	cJSON_DeleteItemFromObjectCaseSensitive(spec, "leaseDurationSeconds");
	if (cJSON_AddNumberToObject(spec, "leaseDurationSeconds", (double)duration_s) == NULL)
		return KUBE_ENOMEM;
	if (!takeover)
		return 0;
	if (kube_json_set_str(spec, "acquireTime", now) != 0)
		return KUBE_ENOMEM;
	transitions = cJSON_GetObjectItemCaseSensitive(spec, "leaseTransitions");
	if (cJSON_IsNumber(transitions))
		n = transitions->valuedouble + 1;
	/* A missing count is 0 (client-go's int32 default): this takeover makes it 1. */
	cJSON_DeleteItemFromObjectCaseSensitive(spec, "leaseTransitions");
	if (cJSON_AddNumberToObject(spec, "leaseTransitions", n) == NULL)
		return KUBE_ENOMEM;
	return 0;
}

/* An attempt the API server refused (not "another holder's lease is still valid", not a lost
 * 409 race): counted, kept for kube_leader_healthy, and logged at warning level at most once
 * per WARN_EVERY_NS so a configuration that can never work (a Lease namespace that does not
 * exist, RBAC missing) is plain to see without flooding the log. */
#define WARN_EVERY_NS KUBE_SEC(30)

static void lease_error(struct kube_leader *le, const char *what, int rc,
			const struct kube_status *st)
{
	const char *lv[] = {le->name, NULL};
	const char *hint = "";
	int64_t now = kube_clock_now(le->clock);
	char code[16];

	if (rc == KUBE_ENOTFOUND)
		hint = " (does the Lease namespace exist? check --leader-election-namespace)";
	else if (rc == KUBE_EFORBIDDEN)
		hint = " (RBAC: the service account needs get/create/update on "
		       "coordination.k8s.io leases in that namespace)";
	kube_metric_inc(le->m_errors, lv);
	pthread_mutex_lock(&le->mu);
	snprintf(le->why, sizeof(le->why), "%s lease %s/%s: %s%s%s%s", what, le->ns, le->name,
		 kube_strerror(rc), st != NULL && st->message != NULL ? ": " : "",
		 st != NULL && st->message != NULL ? st->message : "", hint);
	if (le->failing_since == 0)
		le->failing_since = now;
	pthread_mutex_unlock(&le->mu);
	if (le->last_warn_at != 0 && now - le->last_warn_at < WARN_EVERY_NS)
		return;
	le->last_warn_at = now;
	snprintf(code, sizeof(code), "%ld", st != NULL ? st->http_status : 0L);
	kube_log(KUBE_LOG_WARN, "leader", "leader election is failing", "lease", le->name,
		 "namespace", le->ns, "http", code, "error", le->why, NULL);
}

/* An attempt that succeeded (acquired, renewed, or saw another holder's valid Lease) ends an
 * error streak. */
static void lease_ok(struct kube_leader *le)
{
	pthread_mutex_lock(&le->mu);
	le->failing_since = 0;
	le->why[0] = '\0';
	pthread_mutex_unlock(&le->mu);
	le->last_warn_at = 0;
}

bool kube_leader_healthy(struct kube_leader *le, char *why, size_t why_size)
{
	bool ok;

	if (le == NULL)
		return true;
	pthread_mutex_lock(&le->mu);
	ok = le->failing_since == 0 ||
	     kube_clock_now(le->clock) - le->failing_since < le->renew_ns;
	if (!ok && why != NULL && why_size > 0)
		snprintf(why, why_size, "%s", le->why);
	pthread_mutex_unlock(&le->mu);
	return ok;
}

static int64_t lease_seconds(const struct kube_leader *le)
{
	int64_t s = (le->lease_ns + KUBE_NS_PER_SEC - 1) / KUBE_NS_PER_SEC;
	return s > 0 ? s : 1;
}

static bool create_lease(struct kube_leader *le)
{
	cJSON *lease = cJSON_CreateObject(), *meta, *spec, *out = NULL;
	struct kube_status st = {0};
	bool ok = false;
	int rc;

	if (lease == NULL)
		goto out;
	meta = kube_json_ensure_obj(lease, "metadata");
	spec = kube_json_ensure_obj(lease, "spec");
	if (kube_json_set_str(lease, "apiVersion", "coordination.k8s.io/v1") != 0 ||
	    kube_json_set_str(lease, "kind", "Lease") != 0 || meta == NULL || spec == NULL ||
	    kube_json_set_str(meta, "name", le->name) != 0 ||
	    kube_json_set_str(meta, "namespace", le->ns) != 0 ||
	    fill_spec(le, spec, le->identity, true, lease_seconds(le)) != 0)
		goto out;
	/* fill_spec counted a takeover; a brand-new Lease starts at 0 transitions. */
	cJSON_ReplaceItemInObjectCaseSensitive(spec, "leaseTransitions", cJSON_CreateNumber(0));
	rc = kube_create(le->client, &KUBE_GVR_LEASES, le->ns, lease, &out, &st);
	if (rc == KUBE_EALREADYEXISTS || rc == KUBE_ECONFLICT) {
		kube_log(KUBE_LOG_DEBUG, "leader", "creating lease lost a race", "lease", le->name,
			 "error", kube_strerror(rc), NULL);
		goto out;
	}
	if (rc != 0) {
		lease_error(le, "creating", rc, &st);
		goto out;
	}
	lease_ok(le);
	observe(le, out);
	ok = true;
out:
	cJSON_Delete(lease);
	cJSON_Delete(out);
	kube_status_release(&st);
	return ok;
}

/* One client-go tryAcquireOrRenew: true when we hold the Lease now. */
static bool try_acquire_or_renew(struct kube_leader *le)
{
	struct kube_status st = {0};
	cJSON *lease = NULL, *out = NULL, *spec;
	const char *holder;
	bool ok = false, ours;
	int rc;

	rc = kube_get(le->client, &KUBE_GVR_LEASES, le->ns, le->name, NULL, &lease, &st);
	if (rc == KUBE_ENOTFOUND) {
		ok = create_lease(le);
		goto out;
	}
	if (rc != 0) {
		lease_error(le, "reading", rc, &st);
		goto out;
	}
	observe(le, lease);
	holder = kube_json_get_str(lease, "spec", "holderIdentity", NULL);
	ours = holder != NULL && strcmp(holder, le->identity) == 0;
	if (holder != NULL && holder[0] != '\0' && !ours &&
	    kube_clock_now(le->clock) < le->observed_at + le->lease_ns) {
		lease_ok(le); /* someone else holds a lease that has not expired: all is well */
		goto out;
	}
	spec = kube_json_ensure_obj(lease, "spec");
	if (spec == NULL || fill_spec(le, spec, le->identity, !ours, lease_seconds(le)) != 0)
		goto out;
	/* The PUT carries the resourceVersion we read: if another contender wrote in between,
	 * the server answers 409 and we lost this round. */
	rc = kube_update(le->client, &KUBE_GVR_LEASES, le->ns, le->name, NULL, lease, &out, &st);
	if (rc == KUBE_ECONFLICT) {
		kube_log(KUBE_LOG_DEBUG, "leader", ours ? "renewing lease lost a race"
			 : "taking over lease lost a race", "lease", le->name, NULL);
		goto out;
	}
	if (rc != 0) {
		lease_error(le, ours ? "renewing" : "taking over", rc, &st);
		goto out;
	}
	observe(le, out);
	lease_ok(le);
	ok = true;
out:
	cJSON_Delete(lease);
	cJSON_Delete(out);
	kube_status_release(&st);
	return ok;
}

/* client-go ReleaseOnCancel: clear the holder so a successor need not wait for expiry. */
static void release_lease(struct kube_leader *le)
{
	struct kube_status st = {0};
	cJSON *lease = NULL, *spec;
	const char *holder;
	int rc;

	rc = kube_get(le->client, &KUBE_GVR_LEASES, le->ns, le->name, NULL, &lease, &st);
	if (rc != 0)
		goto out;
	holder = kube_json_get_str(lease, "spec", "holderIdentity", NULL);
	if (holder == NULL || strcmp(holder, le->identity) != 0)
		goto out; /* not ours any more: nothing to hand back */
	spec = kube_json_ensure_obj(lease, "spec");
	if (spec == NULL || fill_spec(le, spec, "", false, 1) != 0)
		goto out;
	rc = kube_update(le->client, &KUBE_GVR_LEASES, le->ns, le->name, NULL, lease, NULL, &st);
	if (rc == 0)
		kube_log(KUBE_LOG_INFO, "leader", "released lease", "lease", le->name, NULL);
	else
		kube_log(KUBE_LOG_WARN, "leader", "releasing lease failed", "lease", le->name,
			 "error", kube_strerror(rc), NULL);
out:
	cJSON_Delete(lease);
	kube_status_release(&st);
}

static void start_leading(struct kube_leader *le)
{
	atomic_store(&le->leading, true);
	set_status_metric(le, true);
	kube_log(KUBE_LOG_INFO, "leader", "became leader", "lease", le->name, "identity",
		 le->identity, NULL);
	if (le->cb.on_started_leading != NULL)
		le->cb.on_started_leading(le->cb.ud);
}

static void stop_leading(struct kube_leader *le, const char *why)
{
	atomic_store(&le->leading, false);
	set_status_metric(le, false);
	kube_log(KUBE_LOG_WARN, "leader", "stopped leading", "lease", le->name, "identity",
		 le->identity, "reason", why, NULL);
	if (le->cb.on_stopped_leading != NULL)
		le->cb.on_stopped_leading(le->cb.ud);
}

/* Candidates wait retry * [1, 2.2) like client-go's JitterUntil(retry, 1.2) so that several
 * replicas do not hit the API server in step; the leader renews every retry period. */
static int64_t next_wait(struct kube_leader *le)
{
	double jitter;

	if (atomic_load(&le->leading))
		return le->retry_ns;
	jitter = (double)rand_r(&le->seed) / ((double)RAND_MAX + 1.0) * 1.2;
	return le->retry_ns + (int64_t)((double)le->retry_ns * jitter);
}

static void *elector_main(void *arg)
{
	struct kube_leader *le = arg;

	pthread_mutex_lock(&le->mu);
	while (!le->stopping) {
		int64_t start, deadline;
		bool ok;

		pthread_mutex_unlock(&le->mu);
		start = kube_clock_now(le->clock);
		ok = try_acquire_or_renew(le);
		if (ok) {
			atomic_store(&le->renewed_at, start);
			if (!atomic_load(&le->leading))
				start_leading(le);
		} else if (atomic_load(&le->leading) &&
			   kube_clock_now(le->clock) - atomic_load(&le->renewed_at) >= le->renew_ns) {
			stop_leading(le, "renew deadline passed");
		}
		pthread_mutex_lock(&le->mu);
		deadline = kube_clock_now(le->clock) + next_wait(le);
		while (!le->stopping)
			if (kube_cond_wait_until(le->cond, deadline) == KUBE_ETIMEDOUT)
				break;
	}
	pthread_mutex_unlock(&le->mu);
	return NULL;
}

int kube_leader_new(const struct kube_leader_config *cfg, struct kube_leader **out)
{
	static const char *const labels[] = {"name", NULL};
	struct kube_leader *le;
	int rc = KUBE_ENOMEM;

	if (out != NULL)
		*out = NULL;
	if (cfg == NULL || out == NULL || cfg->client == NULL || cfg->lease_namespace == NULL ||
	    cfg->lease_name == NULL || cfg->identity == NULL || cfg->identity[0] == '\0' ||
	    cfg->lease_name[0] == '\0' || cfg->lease_namespace[0] == '\0')
		return KUBE_EINVAL;
	le = calloc(1, sizeof(*le));
	if (le == NULL)
		return KUBE_ENOMEM;
	pthread_mutex_init(&le->mu, NULL);
	le->client = cfg->client;
	le->gated = cfg->gated_client != NULL ? cfg->gated_client : cfg->client;
	le->lease_ns = KUBE_MS(cfg->lease_duration_ms > 0 ? cfg->lease_duration_ms : 15000);
	le->renew_ns = KUBE_MS(cfg->renew_deadline_ms > 0 ? cfg->renew_deadline_ms : 10000);
	le->retry_ns = KUBE_MS(cfg->retry_period_ms > 0 ? cfg->retry_period_ms : 2000);
	le->keep_lease_on_stop = cfg->keep_lease_on_stop;
	le->cb = cfg->callbacks;
	le->clock = cfg->clock != NULL ? cfg->clock : kube_clock_real();
	atomic_init(&le->leading, false);
	atomic_init(&le->renewed_at, 0);
	atomic_init(&le->resigned, false);
	le->seed = (unsigned)kube_clock_now(NULL);
	for (const char *p = cfg->identity; *p != '\0'; p++)
		le->seed = le->seed * 31 + (unsigned char)*p;
	/* client-go's rule: the leader must give up before anyone may take over. */
	if (le->lease_ns <= le->renew_ns || le->renew_ns <= le->retry_ns) {
		rc = KUBE_EINVAL;
		goto fail;
	}
	le->ns = strdup(cfg->lease_namespace);
	le->name = strdup(cfg->lease_name);
	le->identity = strdup(cfg->identity);
	le->cond = kube_cond_new(le->clock, &le->mu);
	if (le->ns == NULL || le->name == NULL || le->identity == NULL || le->cond == NULL)
		goto fail;
	le->m_status = kube_metric_register(kube_metrics_default(), KUBE_GAUGE,
					    "leader_election_master_status",
					    "1 while this process leads the named lease, else 0",
					    labels, NULL, 0);
	le->m_errors = kube_metric_register(kube_metrics_default(), KUBE_COUNTER,
					    "leader_election_errors_total",
					    "Lease reads and writes the API server refused (lost "
					    "409 races excluded)", labels, NULL, 0);
	set_status_metric(le, false);
	kube_client_set_write_gate(le->gated, gate_allow, le);
	*out = le;
	return 0;
fail:
	kube_cond_free(le->cond);
	free(le->ns);
	free(le->name);
	free(le->identity);
	pthread_mutex_destroy(&le->mu);
	free(le);
	return rc;
}

int kube_leader_start(struct kube_leader *le)
{
	int rc = 0;

	if (le == NULL)
		return KUBE_EINVAL;
	pthread_mutex_lock(&le->mu);
	if (le->started) {
		rc = KUBE_EINVAL;
		goto out;
	}
	if (pthread_create(&le->thread, NULL, elector_main, le) != 0) {
		rc = KUBE_EIO;
		goto out;
	}
	le->started = true;
	kube_log(KUBE_LOG_INFO, "leader", "candidate started", "lease", le->name, "identity",
		 le->identity, NULL);
out:
	pthread_mutex_unlock(&le->mu);
	return rc;
}

void kube_leader_stop(struct kube_leader *le)
{
	bool join;

	if (le == NULL)
		return;
	pthread_mutex_lock(&le->mu);
	join = le->started && !le->stopping;
	le->stopping = true;
	/* Writes stop now, not after the join: the elector may be in a renew that takes up to
	 * the client's request timeout. */
	atomic_store(&le->resigned, true);
	kube_cond_broadcast(le->cond);
	pthread_mutex_unlock(&le->mu);
	if (!join)
		return;
	pthread_join(le->thread, NULL);
	if (!atomic_load(&le->leading))
		return;
	/* Writes stop before the lease is handed back, so a successor never overlaps us. */
	atomic_store(&le->leading, false);
	if (!le->keep_lease_on_stop)
		release_lease(le);
	stop_leading(le, "stopped");
}

void kube_leader_free(struct kube_leader *le)
{
	if (le == NULL)
		return;
	kube_leader_stop(le);
	kube_client_set_write_gate(le->gated, gate_deny, NULL);
	kube_cond_free(le->cond);
	pthread_mutex_destroy(&le->mu);
	free(le->ns);
	free(le->name);
	free(le->identity);
	free(le->holder);
	free(le->observed_rv);
	free(le->reported);
	free(le);
}

char *kube_leader_current_holder(struct kube_leader *le)
{
	char *h;

	if (le == NULL)
		return NULL;
	pthread_mutex_lock(&le->mu);
	h = le->holder != NULL && le->holder[0] != '\0' ? strdup(le->holder) : NULL;
	pthread_mutex_unlock(&le->mu);
	return h;
}
