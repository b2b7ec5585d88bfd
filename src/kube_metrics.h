/* Prometheus metrics registry: counters, gauges and histograms with labels, rendered in the text
 * exposition format 0.0.4. Every call is thread-safe; every call on a NULL family is a no-op. */
#ifndef KUBE_METRICS_H
#define KUBE_METRICS_H

#include <stddef.h>

enum kube_metric_type {
	KUBE_COUNTER,   /* only goes up; resets when the process restarts */
	KUBE_GAUGE,     /* goes up and down */
	KUBE_HISTOGRAM, /* observations counted into cumulative buckets, plus _sum and _count */
};

/* A registry: a set of metric families keyed by name. */
struct kube_metrics;
/* A family: one name, help text, type and label names; children are keyed by label values.
 * A family lives as long as its registry; pointers to it may be cached freely. */
struct kube_metric;

/* The process-wide registry, created on first use (thread-safe). It stays until
 * kube_metrics_default_reset(); never NULL except on out-of-memory. */
struct kube_metrics *kube_metrics_default(void);
/* Frees the process-wide registry so leak checkers stay quiet (tests, valgrind). Every family
 * pointer taken from it becomes dangling: call only when no other thread uses metrics. */
void kube_metrics_default_reset(void);

/* A new empty registry (NULL on out-of-memory). kube_metrics_free() frees it and all its
 * families; kube_metrics_free(NULL) is a no-op. Not safe while other threads use it. */
struct kube_metrics *kube_metrics_new(void);
void kube_metrics_free(struct kube_metrics *m);

/* Registers a family, or returns the existing family of that name if type, label names and
 * buckets match, so modules may register lazily and more than once.
 * - name: [a-zA-Z_:][a-zA-Z0-9_:]*; help: any text (copied; escaped when rendered).
 * - label_names: NULL-terminated array of [a-zA-Z_][a-zA-Z0-9_]* (not "__*", not "le" for
 *   histograms), or NULL for no labels. Copied.
 * - buckets/nbuckets: histograms only; strictly increasing upper bounds without +Inf (added
 *   implicitly). buckets NULL selects the Prometheus defaults (.005 .. 10 seconds).
 * Returns NULL (and logs why) when m is NULL, the input is invalid, an existing family of that
 * name differs, or memory runs out; callers may keep using the NULL (all calls are no-ops). */
struct kube_metric *kube_metric_register(struct kube_metrics *m, enum kube_metric_type type,
					 const char *name, const char *help,
					 const char *const *label_names, const double *buckets,
					 size_t nbuckets);

/* Fills out[0..count-1] with start, start*factor, ... (client-go ExponentialBuckets). */
void kube_metric_exponential_buckets(double start, double factor, size_t count, double *out);

/* The updaters below take label_values: an array with exactly one value per label name, in the
 * order registered (a NULL value counts as ""), or NULL for a family without labels. A child is
 * created on first use. Values are copied. Thread-safe; out-of-memory drops the update. */

/* Counter or gauge += 1. */
void kube_metric_inc(struct kube_metric *f, const char *const *label_values);
/* Gauge -= 1 (ignored for counters). */
void kube_metric_dec(struct kube_metric *f, const char *const *label_values);
/* Counter or gauge += v. A negative v on a counter is ignored (counters never go down). */
void kube_metric_add(struct kube_metric *f, const char *const *label_values, double v);
/* Gauge = v (ignored for other types). */
void kube_metric_set(struct kube_metric *f, const char *const *label_values, double v);
/* Histogram: counts v into every bucket with v <= le, adds v to _sum, 1 to _count. */
void kube_metric_observe(struct kube_metric *f, const char *const *label_values, double v);
/* Removes one child (e.g. a gauge for an object that was deleted). No-op if absent. */
void kube_metric_remove(struct kube_metric *f, const char *const *label_values);

/* Current value of one child, 0 if absent or f is NULL. Histograms: the observation count.
 * For tests and the dashboard. */
double kube_metric_value(struct kube_metric *f, const char *const *label_values);
/* Histogram: the sum of observations of one child, 0 if absent. */
double kube_metric_sum(struct kube_metric *f, const char *const *label_values);

/* Renders every family in Prometheus text format 0.0.4, families sorted by name and children
 * sorted by label values, so the output is stable. On success *out is a NUL-terminated heap
 * buffer the caller frees and *len its length without the NUL. Returns 0, KUBE_EINVAL or
 * KUBE_ENOMEM (then *out is NULL). Consistent per family (each family is read under its lock). */
int kube_metrics_render(struct kube_metrics *m, char **out, size_t *len);

/* Adds the process metrics every Prometheus client exports, refreshed from /proc on each
 * render: process_cpu_seconds_total, process_resident_memory_bytes,
 * process_start_time_seconds, process_open_fds, process_max_fds. NULL is a no-op. */
void kube_metrics_process_enable(struct kube_metrics *m);

/* Sets <prefix>_build_info{version, revision} 1 (NULL values render "unknown").
 * Returns 0 or KUBE_EINVAL. */
int kube_metrics_build_info(struct kube_metrics *m, const char *prefix, const char *version,
			    const char *revision);

#endif
