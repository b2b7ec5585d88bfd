/* The PhoenixService reconciler, records: wall time and ids, the per-service record (lookup,
 * references, lifetime), readiness history, counted failures, write expectations. */
#include "phx_service_int.h"

/* ---------------------------------------------------------------- time and ids */

int64_t phx_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t svc_wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Bounded copy that always terminates (snprintf "%s" would do, but trips -Wformat-truncation). */
void svc_set_str(char *dst, size_t len, const char *src)
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

const char *svc_str_or_empty(const char *s)
{
	return s ? s : "";
}

bool svc_str_eq(const char *a, const char *b)
{
	return strcmp(svc_str_or_empty(a), svc_str_or_empty(b)) == 0;
}

/* Sets an owned string as svc_set_str would into a buffer of len bytes (same truncation); "" is
 * kept as NULL. On ENOMEM it is left NULL: "unknown", which every reader accepts. */
void svc_name_set(char **dst, size_t len, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n >= len)
		n = len - 1;
	if (*dst && strlen(*dst) == n && memcmp(*dst, src, n) == 0)
		return; /* unchanged (also makes svc_name_set(&x, x) safe) */
	char *s = n ? malloc(n + 1) : NULL;
	if (s) {
		memcpy(s, src, n);
		s[n] = '\0';
	}
	free(*dst);
	*dst = s;
}

uint64_t svc_name_hash(const char *s)
{
	uint64_t h = UINT64_C(1469598103934665603);
	for (; s && *s; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(1099511628211);
	}
	return h ? h : 1;
}

void svc_random_suffix(char *out, size_t n)
{
	static atomic_uint_fast64_t ctr;
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
	uint64_t x = (uint64_t)svc_wall_us() ^ (atomic_fetch_add(&ctr, 1) * UINT64_C(0x9E3779B97F4A7C15));
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

void svc_rec_free(struct svc_rec *rec)
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
	svc_expect_clear(rec);
	free(rec->counted);
	free(rec->last_status);
	free(rec->suspects.names);
	free(rec->vanished.names);
	free(rec->owner_msg);
	free(rec);
}

/* Drops a reference; the last one (the map's is gone once unlinked) frees. NULL is a no-op. */
void svc_rec_put(struct svc_rec *rec)
{
	if (rec && atomic_fetch_sub(&rec->refs, 1) == 1)
		svc_rec_free(rec);
}

/* key's record with a reference for the caller (svc_rec_put), or NULL: not there and !create, or
 * ENOMEM. References are only taken under map_lock while the record is in the map, so a count
 * that reached zero (unlinked, last user gone) is never raised again. */
struct svc_rec *svc_rec_get(struct phx_reconciler *r, const char *key, bool create)
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

/* key's record, in the map, with its mu held and a reference (svc_rec_unlock), or NULL as svc_rec_get.
 * A record unlinked while we waited for its mu is dropped and the lookup retried: all
 * reconciles of a key serialize on the one record in the map. */
struct svc_rec *svc_rec_lock(struct phx_reconciler *r, const char *key, bool create)
{
	for (;;) {
		struct svc_rec *rec = svc_rec_get(r, key, create);
		if (!rec)
			return NULL;
		pthread_mutex_lock(&rec->mu);
		if (rec->linked)
			return rec;
		pthread_mutex_unlock(&rec->mu);
		svc_rec_put(rec);
	}
}

void svc_rec_unlock(struct svc_rec *rec)
{
	if (!rec)
		return;
	pthread_mutex_unlock(&rec->mu);
	svc_rec_put(rec);
}

/* mu held (and a reference, so this never frees). Removes the record from the map: the next
 * svc_rec_get of its key makes a fresh one; users that still hold it finish on the old one. */
void svc_rec_unlink_locked(struct phx_reconciler *r, struct svc_rec *rec)
{
	if (!rec->linked)
		return;
	pthread_rwlock_wrlock(&r->map_lock);
	HASH_DEL(r->recs, rec);
	rec->linked = false;
	pthread_rwlock_unlock(&r->map_lock);
	svc_rec_put(rec); /* the map's reference */
}

/* References to every record in the map (*n of them; NULL with *n = 0 when there are none or
 * on ENOMEM), for walks that lock each record's mu: map_lock is released before, since an
 * unlink takes it with a mu held. Release with svc_rec_snapshot_free. */
struct svc_rec **svc_rec_snapshot(struct phx_reconciler *r, size_t *n)
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

void svc_rec_snapshot_free(struct svc_rec **all, size_t n)
{
	for (size_t i = 0; i < n; i++)
		svc_rec_put(all[i]);
	free(all);
}

/* resourceVersion as a number for ordering observations of one object; UINT64_MAX when it is
 * not numeric (then every observation counts as newer: the conservative side). */
uint64_t svc_rv_num(const cJSON *obj)
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
bool svc_ever_ready_before(const struct svc_rec *rec, uint64_t h, uint64_t rv)
{
	for (size_t i = 0; i < rec->n_ever_ready && i < EVER_READY_MAX; i++)
		if (rec->ever_ready[i].h == h)
			return rec->ever_ready[i].rv < rv || rv == UINT64_MAX;
	return false;
}

void svc_ever_ready_add(struct svc_rec *rec, uint64_t h, uint64_t rv)
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

bool svc_counted_has(const struct svc_rec *rec, const char *pod)
{
	uint64_t h = svc_name_hash(pod);
	for (size_t i = 0; rec->counted && i < rec->n_counted && i < COUNTED_MAX; i++)
		if (rec->counted[i] == h)
			return true;
	return false;
}

void svc_counted_add(struct svc_rec *rec, const char *pod)
{
	if (!rec->counted)
		rec->counted = calloc(COUNTED_MAX, sizeof(*rec->counted));
	if (rec->counted) { /* out of memory: the names below still reach status */
		rec->counted[rec->n_counted % COUNTED_MAX] = svc_name_hash(pod);
		rec->n_counted++;
	}
	svc_name_set(&rec->counted_name[rec->n_counted_names % COUNTED_NAMES_MAX], PHX_NAME_MAX, pod);
	rec->n_counted_names++;
}

void svc_counted_prune(struct svc_rec *rec, const struct phx_pod *pods, size_t n,
		       const uint64_t *keep, size_t nkeep)
{
	if (rec->n_counted < COUNTED_MAX)
		return;
	uint64_t prim = rec->primary ? svc_name_hash(rec->primary) : 0;
	size_t k = 0;
	for (size_t i = 0; i < COUNTED_MAX; i++) {
		uint64_t h = rec->counted[i];
		bool live = h == prim;
		for (size_t j = 0; !live && j < n; j++)
			live = svc_name_hash(pods[j].name) == h;
		for (size_t j = 0; !live && j < nkeep; j++)
			live = keep[j] == h;
		if (live)
			rec->counted[k++] = h;
	}
	rec->n_counted = k;
}

void svc_counted_clear(struct svc_rec *rec)
{
	rec->n_counted = 0;
	for (size_t i = 0; i < COUNTED_NAMES_MAX; i++)
		svc_name_set(&rec->counted_name[i], PHX_NAME_MAX, NULL);
	rec->n_counted_names = 0;
}

/* The counted names, oldest first, into out (borrowed); returns how many. */
size_t svc_counted_names(const struct svc_rec *rec, const char **out)
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

void svc_expect_clear(struct svc_rec *rec)
{
	for (size_t i = 0; i < rec->nexp; i++)
		free(rec->exp[i].name);
	free(rec->exp);
	rec->exp = NULL;
	rec->nexp = rec->capexp = 0;
}

void svc_expect_add(struct svc_rec *rec, enum expect_kind kind, const char *name,
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
			free(rec->exp[i].name);
			rec->exp[i] = rec->exp[--rec->nexp];
			break;
		}
	}
	char *nm = strndup(name, PHX_NAME_MAX - 1);
	if (!nm)
		return;
	if (rec->nexp == rec->capexp) {
		size_t cap = rec->capexp ? rec->capexp * 2 : 4;
		struct expect *e = realloc(rec->exp, cap * sizeof(*e));
		if (!e) {
			free(nm);
			return;
		}
		rec->exp = e;
		rec->capexp = cap;
	}
	struct expect *e = &rec->exp[rec->nexp++];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->name = nm;
	e->role = role;
	e->serving = serving;
	svc_set_str(e->revision, sizeof(e->revision), revision ? revision : "");
	e->at_ms = phx_wall_ms();
}

/* Merges our unconfirmed writes into the observed pods; drops the ones the cache confirms. */
size_t svc_expect_apply(struct svc_rec *rec, struct phx_pod *pods, size_t n, int64_t now_ms)
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
					svc_set_str(p->name, sizeof(p->name), e->name);
					svc_set_str(p->revision, sizeof(p->revision), e->revision);
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
		if (drop) {
			free(e->name);
			rec->exp[i] = rec->exp[--rec->nexp];
		} else {
			i++;
		}
	}
	if (rec->nexp == 0) /* held by every service otherwise, once its pods are seen */
		svc_expect_clear(rec);
	return n;
}
