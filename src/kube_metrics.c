/* Prometheus metrics registry: families in a uthash keyed by name, children in a per-family
 * uthash keyed by their label values, one mutex per family so hot counters do not contend. */
#include "kube_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kube_error.h"
#include "kube_log.h"

/* client_golang's DefBuckets: latencies of network services in seconds. */
static const double default_buckets[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};

struct child {
	UT_hash_handle hh;
	/* Label values, each followed by '\0', so distinct tuples never share a key ("a","bc" vs
	 * "ab","c"). The buffer has keylen + 1 bytes so an empty tuple still has storage. */
	char *key;
	size_t keylen;
	double value; /* counter / gauge */
	double sum;   /* histogram */
	uint64_t count;
	/* Histogram: per-bucket (not cumulative) counts, nbuckets + 1 entries (last is +Inf).
	 * Cumulated only when rendering so observe() touches one slot. */
	uint64_t buckets[];
};

struct kube_metric {
	UT_hash_handle hh;
	char *name;
	char *help;
	enum kube_metric_type type;
	char **labels;
	size_t nlabels;
	double *bounds;
	size_t nbounds;
	pthread_mutex_t lock; /* guards children and their values */
	struct child *children;
};

struct kube_metrics {
	pthread_mutex_t lock; /* guards the families hash, not the families themselves */
	struct kube_metric *families;
	int process; /* __atomic: refresh the process_* metrics on every render */
};

static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kube_metrics *default_registry;

struct kube_metrics *kube_metrics_default(void)
{
	struct kube_metrics *m;

	pthread_mutex_lock(&default_lock);
	if (!default_registry)
		default_registry = kube_metrics_new();
	m = default_registry;
	pthread_mutex_unlock(&default_lock);
	return m;
}

void kube_metrics_default_reset(void)
{
	pthread_mutex_lock(&default_lock);
	kube_metrics_free(default_registry);
	default_registry = NULL;
	pthread_mutex_unlock(&default_lock);
}

struct kube_metrics *kube_metrics_new(void)
{
	struct kube_metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	pthread_mutex_init(&m->lock, NULL);
	return m;
}

static void family_free(struct kube_metric *f)
{
	struct child *c, *tmp;
	size_t i;

	if (!f)
		return;
	HASH_ITER(hh, f->children, c, tmp) {
		HASH_DEL(f->children, c);
		free(c->key);
		free(c);
	}
	for (i = 0; i < f->nlabels; i++)
		free(f->labels[i]);
	free(f->labels);
	free(f->bounds);
	free(f->name);
	free(f->help);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

void kube_metrics_free(struct kube_metrics *m)
{
	struct kube_metric *f, *tmp;

	if (!m)
		return;
	HASH_ITER(hh, m->families, f, tmp) {
		HASH_DEL(m->families, f);
		family_free(f);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static int valid_name(const char *s, int allow_colon)
{
	size_t i;

	if (!s || !*s)
		return 0;
	for (i = 0; s[i]; i++) {
		char c = s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			 (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
		if (!ok)
			return 0;
	}
	return 1;
}

static int valid_label(const char *s, enum kube_metric_type type)
{
	if (!valid_name(s, 0))
		return 0;
	if (strncmp(s, "__", 2) == 0) /* reserved for Prometheus itself */
		return 0;
	if (type == KUBE_HISTOGRAM && strcmp(s, "le") == 0)
		return 0;
	return 1;
}

static size_t count_labels(const char *const *label_names)
{
	size_t n = 0;

	while (label_names && label_names[n])
		n++;
	return n;
}

/* Same shape as an existing family? Help text may differ: the first registration wins. */
static int family_matches(const struct kube_metric *f, enum kube_metric_type type,
			  const char *const *label_names, size_t nlabels, const double *bounds,
			  size_t nbounds)
{
	size_t i;

	if (f->type != type || f->nlabels != nlabels)
		return 0;
	for (i = 0; i < nlabels; i++)
		if (strcmp(f->labels[i], label_names[i]) != 0)
			return 0;
	if (type != KUBE_HISTOGRAM)
		return 1;
	if (f->nbounds != nbounds)
		return 0;
	for (i = 0; i < nbounds; i++)
		if (f->bounds[i] != bounds[i])
			return 0;
	return 1;
}

static struct child *child_new(const struct kube_metric *f, const char *key, size_t keylen)
{
	size_t nb = f->type == KUBE_HISTOGRAM ? f->nbounds + 1 : 0;
	struct child *c = calloc(1, sizeof(*c) + nb * sizeof(c->buckets[0]));

	if (!c)
		goto out;
	c->key = malloc(keylen + 1);
	if (!c->key) {
		free(c);
		c = NULL;
		goto out;
	}
	memcpy(c->key, key, keylen);
	c->key[keylen] = '\0';
	c->keylen = keylen;
out:
	return c;
}

static struct kube_metric *family_new(enum kube_metric_type type, const char *name,
				      const char *help, const char *const *label_names,
				      size_t nlabels, const double *bounds, size_t nbounds)
{
	struct kube_metric *f = calloc(1, sizeof(*f));
	struct child *c;
	int ok = 0;
	size_t i;

	if (!f)
		return NULL;
	pthread_mutex_init(&f->lock, NULL);
	f->type = type;
	f->name = strdup(name);
	f->help = strdup(help ? help : "");
	f->labels = calloc(nlabels + 1, sizeof(*f->labels));
	if (!f->name || !f->help || !f->labels)
		goto out;
	for (i = 0; i < nlabels; i++) {
		f->labels[i] = strdup(label_names[i]);
		if (!f->labels[i])
			goto out;
		f->nlabels = i + 1;
	}
	if (type == KUBE_HISTOGRAM) {
		f->bounds = malloc((nbounds ? nbounds : 1) * sizeof(*f->bounds));
		if (!f->bounds)
			goto out;
		memcpy(f->bounds, bounds, nbounds * sizeof(*bounds));
		f->nbounds = nbounds;
	}
	/* A family without labels has exactly one child; create it now so it renders as 0 from
	 * the start, as client_golang does, instead of appearing only after the first event. */
	if (nlabels == 0) {
		c = child_new(f, "", 0);
		if (!c)
			goto out;
		HASH_ADD_KEYPTR(hh, f->children, c->key, c->keylen, c);
	}
	ok = 1;
out:
	if (!ok) {
		family_free(f);
		f = NULL;
	}
	return f;
}

struct kube_metric *kube_metric_register(struct kube_metrics *m, enum kube_metric_type type,
					 const char *name, const char *help,
					 const char *const *label_names, const double *buckets,
					 size_t nbuckets)
{
	struct kube_metric *f = NULL;
	size_t nlabels = count_labels(label_names);
	const double *bounds = NULL;
	size_t nbounds = 0, i;
	const char *why = NULL;

	if (!m)
		return NULL;
	if (type != KUBE_COUNTER && type != KUBE_GAUGE && type != KUBE_HISTOGRAM) {
		why = "unknown metric type";
		goto out;
	}
	if (!valid_name(name, 1)) {
		why = "invalid metric name";
		goto out;
	}
	for (i = 0; i < nlabels; i++) {
		if (!valid_label(label_names[i], type)) {
			why = "invalid label name";
			goto out;
		}
	}
	if (type == KUBE_HISTOGRAM) {
		bounds = buckets ? buckets : default_buckets;
		nbounds = buckets ? nbuckets
				  : sizeof(default_buckets) / sizeof(default_buckets[0]);
		for (i = 0; i < nbounds; i++) {
			if (isnan(bounds[i]) || isinf(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
				why = "histogram buckets must be finite and strictly increasing";
				goto out;
			}
		}
	}

	pthread_mutex_lock(&m->lock);
	HASH_FIND_STR(m->families, name, f);
	if (f) {
		if (!family_matches(f, type, label_names, nlabels, bounds, nbounds)) {
			f = NULL;
			why = "already registered with a different type, labels or buckets";
		}
	} else {
		f = family_new(type, name, help, label_names, nlabels, bounds, nbounds);
		if (f)
			HASH_ADD_KEYPTR(hh, m->families, f->name, strlen(f->name), f);
		else
			why = "out of memory";
	}
	pthread_mutex_unlock(&m->lock);
out:
	if (why)
		kube_log(KUBE_LOG_ERROR, "metrics", "cannot register metric", "name",
			 name ? name : "(null)", "reason", why, NULL);
	return f;
}

void kube_metric_exponential_buckets(double start, double factor, size_t count, double *out)
{
	size_t i;

	for (i = 0; i < count; i++) {
		out[i] = start;
		start *= factor;
	}
}

/* Builds the child key for label_values into buf (or a heap buffer when it does not fit).
 * Returns the buffer (buf or heap; heap only when != buf) or NULL on out-of-memory. */
static char *make_key(const struct kube_metric *f, const char *const *label_values, char *buf,
		      size_t bufsize, size_t *keylen)
{
	size_t i, len = 0, off = 0;
	char *key = buf;

	for (i = 0; i < f->nlabels; i++) {
		const char *v = label_values && label_values[i] ? label_values[i] : "";
		len += strlen(v) + 1;
	}
	if (len + 1 > bufsize) {
		key = malloc(len + 1);
		if (!key)
			return NULL;
	}
	for (i = 0; i < f->nlabels; i++) {
		const char *v = label_values && label_values[i] ? label_values[i] : "";
		size_t n = strlen(v) + 1;

		memcpy(key + off, v, n);
		off += n;
	}
	key[len] = '\0';
	*keylen = len;
	return key;
}

/* Finds (and with create, makes) the child for label_values. Needs f->lock held. */
static struct child *child_get_locked(struct kube_metric *f, const char *const *label_values,
				      int create)
{
	char stack[256];
	size_t keylen = 0;
	char *key = make_key(f, label_values, stack, sizeof(stack), &keylen);
	struct child *c = NULL;

	if (!key)
		goto out;
	HASH_FIND(hh, f->children, key, keylen, c);
	if (c || !create)
		goto out;
	c = child_new(f, key, keylen);
	if (c)
		HASH_ADD_KEYPTR(hh, f->children, c->key, c->keylen, c);
out:
	if (key != stack)
		free(key);
	return c;
}

static void update(struct kube_metric *f, const char *const *label_values, double v, int set)
{
	struct child *c;

	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	c = child_get_locked(f, label_values, 1);
	if (c) {
		if (set)
			c->value = v;
		else
			c->value += v;
	}
	pthread_mutex_unlock(&f->lock);
}

void kube_metric_inc(struct kube_metric *f, const char *const *label_values)
{
	kube_metric_add(f, label_values, 1);
}

void kube_metric_dec(struct kube_metric *f, const char *const *label_values)
{
	if (f && f->type == KUBE_GAUGE)
		update(f, label_values, -1, 0);
}

void kube_metric_add(struct kube_metric *f, const char *const *label_values, double v)
{
	if (!f || f->type == KUBE_HISTOGRAM)
		return;
	if (f->type == KUBE_COUNTER && !(v >= 0)) /* also rejects NaN */
		return;
	update(f, label_values, v, 0);
}

void kube_metric_set(struct kube_metric *f, const char *const *label_values, double v)
{
	if (f && f->type == KUBE_GAUGE)
		update(f, label_values, v, 1);
}

void kube_metric_observe(struct kube_metric *f, const char *const *label_values, double v)
{
	struct child *c;
	size_t lo, hi;

	if (!f || f->type != KUBE_HISTOGRAM)
		return;
	/* First bucket with v <= bound: a binary search, so wide histograms stay cheap. NaN
	 * compares false everywhere and lands in +Inf, like client_golang. */
	lo = 0;
	hi = f->nbounds;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v <= f->bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	if (isnan(v))
		lo = f->nbounds;
	pthread_mutex_lock(&f->lock);
	c = child_get_locked(f, label_values, 1);
	if (c) {
		c->buckets[lo]++;
		c->count++;
		c->sum += v;
	}
	pthread_mutex_unlock(&f->lock);
}

void kube_metric_remove(struct kube_metric *f, const char *const *label_values)
{
	struct child *c;

	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	c = child_get_locked(f, label_values, 0);
	if (c)
		HASH_DEL(f->children, c);
	pthread_mutex_unlock(&f->lock);
	if (c) {
		free(c->key);
		free(c);
	}
}

static double read_child(struct kube_metric *f, const char *const *label_values, int want_sum)
{
	struct child *c;
	double v = 0;

	if (!f)
		return 0;
	pthread_mutex_lock(&f->lock);
	c = child_get_locked(f, label_values, 0);
	if (c) {
		if (f->type != KUBE_HISTOGRAM)
			v = want_sum ? 0 : c->value;
		else
			v = want_sum ? c->sum : (double)c->count;
	}
	pthread_mutex_unlock(&f->lock);
	return v;
}

double kube_metric_value(struct kube_metric *f, const char *const *label_values)
{
	return read_child(f, label_values, 0);
}

double kube_metric_sum(struct kube_metric *f, const char *const *label_values)
{
	return read_child(f, label_values, 1);
}

/* ---- rendering ---- */

struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static int buf_grow(struct buf *b, size_t extra)
{
	size_t cap;
	char *p;

	if (b->oom)
		return -1;
	if (b->len + extra + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + extra + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

static void buf_putn(struct buf *b, const char *s, size_t n)
{
	if (buf_grow(b, n) < 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s)
{
	buf_putn(b, s, strlen(s));
}

/* Escapes per the exposition format: HELP escapes backslash and newline; label values also
 * escape the double quote. */
static void buf_put_escaped(struct buf *b, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_puts(b, "\\\\");
		else if (*s == '\n')
			buf_puts(b, "\\n");
		else if (quote && *s == '"')
			buf_puts(b, "\\\"");
		else
			buf_putn(b, s, 1);
	}
}

/* Shortest text that reads back as the same double, and Prometheus' spellings of the
 * non-finite values, so 0.1 renders as "0.1" and not "0.10000000000000001". Plain decimals
 * between 1e-4 and 1e21 (so counters and bucket bounds read as "10", not "1e+01"). */
static void format_double(double v, char *out, size_t size)
{
	const char *e;
	int prec, exp, decimals;

	if (isnan(v)) {
		snprintf(out, size, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (prec = 1; prec < 17; prec++) {
		snprintf(out, size, "%.*e", prec - 1, v);
		if (strtod(out, NULL) == v)
			break;
	}
	snprintf(out, size, "%.*e", prec - 1, v);
	e = strchr(out, 'e');
	exp = e ? atoi(e + 1) : 0;
	if (exp < -4 || exp >= 21)
		return;
	decimals = prec - 1 - exp;
	snprintf(out, size, "%.*f", decimals > 0 ? decimals : 0, v);
}

static void buf_put_double(struct buf *b, double v)
{
	char num[64];

	format_double(v, num, sizeof(num));
	buf_puts(b, num);
}

/* Writes `{a="x",b="y"[,le="..."]}`, or nothing when there are no labels at all. */
static void put_labels(struct buf *b, const struct kube_metric *f, const struct child *c,
		       const char *le)
{
	const char *v = c->key;
	size_t i;

	if (f->nlabels == 0 && !le)
		return;
	buf_puts(b, "{");
	for (i = 0; i < f->nlabels; i++) {
		if (i > 0)
			buf_puts(b, ",");
		buf_puts(b, f->labels[i]);
		buf_puts(b, "=\"");
		buf_put_escaped(b, v, 1);
		buf_puts(b, "\"");
		v += strlen(v) + 1;
	}
	if (le) {
		if (f->nlabels > 0)
			buf_puts(b, ",");
		buf_puts(b, "le=\"");
		buf_puts(b, le);
		buf_puts(b, "\"");
	}
	buf_puts(b, "}");
}

static void put_sample(struct buf *b, const struct kube_metric *f, const struct child *c,
		       const char *suffix, const char *le, double v)
{
	buf_puts(b, f->name);
	buf_puts(b, suffix);
	put_labels(b, f, c, le);
	buf_puts(b, " ");
	buf_put_double(b, v);
	buf_puts(b, "\n");
}

static void render_child(struct buf *b, const struct kube_metric *f, const struct child *c)
{
	char le[64];
	uint64_t cum = 0;
	size_t i;

	if (f->type != KUBE_HISTOGRAM) {
		put_sample(b, f, c, "", NULL, c->value);
		return;
	}
	for (i = 0; i <= f->nbounds; i++) {
		cum += c->buckets[i];
		if (i < f->nbounds)
			format_double(f->bounds[i], le, sizeof(le));
		else
			snprintf(le, sizeof(le), "+Inf");
		put_sample(b, f, c, "_bucket", le, (double)cum);
	}
	put_sample(b, f, c, "_sum", NULL, c->sum);
	put_sample(b, f, c, "_count", NULL, (double)c->count);
}

/* Orders children by their label values, value by value (the key holds them in label order,
 * NUL-separated, so a byte comparison over the shorter key does exactly that). */
static int child_cmp(const void *a, const void *b)
{
	const struct child *x = *(const struct child *const *)a;
	const struct child *y = *(const struct child *const *)b;
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int r = memcmp(x->key, y->key, n);

	if (r != 0)
		return r;
	return (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

static int family_cmp(const void *a, const void *b)
{
	const struct kube_metric *x = *(const struct kube_metric *const *)a;
	const struct kube_metric *y = *(const struct kube_metric *const *)b;

	return strcmp(x->name, y->name);
}

static const char *type_name(enum kube_metric_type t)
{
	switch (t) {
	case KUBE_COUNTER:
		return "counter";
	case KUBE_GAUGE:
		return "gauge";
	case KUBE_HISTOGRAM:
		return "histogram";
	}
	return "untyped";
}

static void render_family(struct buf *b, struct kube_metric *f)
{
	struct child **kids = NULL, *c, *tmp;
	size_t n, i = 0;

	pthread_mutex_lock(&f->lock);
	n = HASH_COUNT(f->children);
	if (n == 0)
		goto out; /* a labeled family nobody used yet: nothing to expose */
	kids = malloc(n * sizeof(*kids));
	if (!kids) {
		b->oom = 1;
		goto out;
	}
	HASH_ITER(hh, f->children, c, tmp)
		kids[i++] = c;
	qsort(kids, n, sizeof(*kids), child_cmp);
	buf_puts(b, "# HELP ");
	buf_puts(b, f->name);
	buf_puts(b, " ");
	buf_put_escaped(b, f->help, 0);
	buf_puts(b, "\n# TYPE ");
	buf_puts(b, f->name);
	buf_puts(b, " ");
	buf_puts(b, type_name(f->type));
	buf_puts(b, "\n");
	for (i = 0; i < n; i++)
		render_child(b, f, kids[i]);
out:
	pthread_mutex_unlock(&f->lock);
	free(kids);
}

/* ---- process and build metrics ---- */

void kube_metrics_process_enable(struct kube_metrics *m)
{
	if (m)
		__atomic_store_n(&m->process, 1, __ATOMIC_RELEASE);
}

/* The first number after field `skip` spaces-separated fields past the ')' of /proc/self/stat
 * (the command may contain spaces and parentheses: start after the last ')'). */
static int read_stat(double *utime, double *stime, double *start_ticks, double *rss_pages)
{
	char buf[1024], *p;
	FILE *f = fopen("/proc/self/stat", "r");
	size_t n;
	int field = 2; /* the field after ')' is the 3rd (state) */
	unsigned long long v[64] = {0};

	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	p++;
	while (*p && field < 30) {
		char *end;

		while (*p == ' ')
			p++;
		field++;
		v[field] = strtoull(p, &end, 10);
		if (end == p)
			while (*end && *end != ' ')
				end++; /* the state letter */
		p = end;
	}
	*utime = (double)v[14];
	*stime = (double)v[15];
	*start_ticks = (double)v[22];
	*rss_pages = (double)v[24];
	return 0;
}

static double count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	double n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static double max_fds(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	return (double)rl.rlim_cur;
}

/* Seconds since the epoch at boot, from /proc/stat's btime. */
static double boot_time(void)
{
	char line[256];
	double bt = 0;
	FILE *f = fopen("/proc/stat", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "btime ", 6) == 0)
			bt = strtod(line + 6, NULL);
	fclose(f);
	return bt;
}

/* Sets a counter or gauge without labels to v (a counter read from the kernel). */
static void set_value(struct kube_metric *f, double v)
{
	if (f)
		update(f, NULL, v, 1);
}

static void process_collect(struct kube_metrics *m)
{
	double ut, st, start, rss, hz = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);

	if (read_stat(&ut, &st, &start, &rss) != 0 || hz <= 0)
		return;
	set_value(kube_metric_register(m, KUBE_COUNTER, "process_cpu_seconds_total",
				       "Total user and system CPU time spent in seconds.", NULL,
				       NULL, 0), (ut + st) / hz);
	set_value(kube_metric_register(m, KUBE_GAUGE, "process_resident_memory_bytes",
				       "Resident memory size in bytes.", NULL, NULL, 0), rss * page);
	set_value(kube_metric_register(m, KUBE_GAUGE, "process_start_time_seconds",
				       "Start time of the process since unix epoch in seconds.", NULL,
				       NULL, 0), boot_time() + start / hz);
	set_value(kube_metric_register(m, KUBE_GAUGE, "process_open_fds",
				       "Number of open file descriptors.", NULL, NULL, 0),
		  count_fds());
	set_value(kube_metric_register(m, KUBE_GAUGE, "process_max_fds",
				       "Maximum number of open file descriptors.", NULL, NULL, 0),
		  max_fds());
}

int kube_metrics_build_info(struct kube_metrics *m, const char *prefix, const char *version,
			    const char *revision)
{
	static const char *const labels[] = {"version", "revision", NULL};
	const char *values[] = {version ? version : "unknown", revision ? revision : "unknown"};
	char name[128];
	struct kube_metric *f;

	if (!m || !prefix || snprintf(name, sizeof(name), "%s_build_info", prefix) >=
				     (int)sizeof(name))
		return KUBE_EINVAL;
	f = kube_metric_register(m, KUBE_GAUGE, name,
				 "A metric with a constant '1' value labelled by the version and "
				 "git revision it was built from.", labels, NULL, 0);
	if (!f)
		return KUBE_EINVAL;
	kube_metric_set(f, values, 1);
	return 0;
}

int kube_metrics_render(struct kube_metrics *m, char **out, size_t *len)
{
	struct kube_metric **fams = NULL, *f, *tmp;
	struct buf b = {0};
	size_t n, i = 0;
	int rc = KUBE_OK;

	if (!out)
		return KUBE_EINVAL;
	*out = NULL;
	if (len)
		*len = 0;
	if (!m)
		return KUBE_EINVAL;
	if (__atomic_load_n(&m->process, __ATOMIC_ACQUIRE))
		process_collect(m);
	/* Families are never freed while the registry lives, so the snapshot of pointers stays
	 * valid after the registry lock is dropped; each family is then read under its own lock. */
	pthread_mutex_lock(&m->lock);
	n = HASH_COUNT(m->families);
	fams = malloc((n ? n : 1) * sizeof(*fams));
	if (fams) {
		HASH_ITER(hh, m->families, f, tmp)
			fams[i++] = f;
	}
	pthread_mutex_unlock(&m->lock);
	if (!fams) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	qsort(fams, n, sizeof(*fams), family_cmp);
	buf_grow(&b, 0); /* an empty registry still yields "" rather than NULL */
	for (i = 0; i < n; i++)
		render_family(&b, fams[i]);
	if (b.oom) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	b.p[b.len] = '\0';
	*out = b.p;
	b.p = NULL;
	if (len)
		*len = b.len;
out:
	free(b.p);
	free(fams);
	return rc;
}
