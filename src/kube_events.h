/* Event recorder (client-go record.EventRecorder): writes core/v1 Events about objects,
 * asynchronously through a bounded queue and one worker, aggregating repeats into a count. */
#ifndef KUBE_EVENTS_H
#define KUBE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct kube_client;
struct kube_clock;
struct kube_metrics;

#define KUBE_EVENT_NORMAL "Normal"
#define KUBE_EVENT_WARNING "Warning"

struct kube_events_opts {
	size_t queue_size;      /* events waiting to be written; 0 = 1000. Full queue: drop. */
	int64_t window_ns;      /* a repeat within this long of the last one is aggregated into
	                         * the existing Event; 0 = 10 minutes */
	size_t cache_size;      /* Events (and objects, for the spam filter) remembered; LRU;
	                         * 0 = 4096 */
	int spam_burst;         /* Events per object allowed at once (client-go's spam filter,
	                         * a token bucket per involved object); 0 = 25, <0 = no filter */
	int64_t spam_refill_ns; /* one more Event per object every this long; 0 = 5 minutes */
	int64_t drain_ns;       /* at shutdown, write queued events for at most this long, then
	                         * drop the rest (counted as dropped); 0 = 5 s */
	struct kube_clock *clock;     /* time source; NULL = real. Borrowed. */
	struct kube_metrics *metrics; /* NULL = kube_metrics_default(). Borrowed. */
};

struct kube_events;

/* Starts a recorder writing through client (borrowed; must outlive the recorder).
 * component becomes source.component and reportingComponent (e.g. "phoenix-operator": a
 * qualified name, the API server checks it), instance source.host and reportingInstance (the
 * pod name). Both are copied. opts may be NULL. Starts one worker thread.
 * Returns 0, KUBE_EINVAL (NULL client/component/instance/out) or KUBE_ENOMEM. */
int kube_events_new(struct kube_client *client, const char *component, const char *instance,
		    const struct kube_events_opts *opts, struct kube_events **out);

/* Stops accepting events (record then returns KUBE_ESHUTDOWN) and starts the drain: queued
 * events are still written until opts.drain_ns has passed; what is left then is dropped. Returns
 * at once. Idempotent; thread-safe. Call it early on SIGTERM so the drain overlaps other cleanup.
 */
void kube_events_shutdown(struct kube_events *rec);

/* kube_events_shutdown() if not yet done, then waits for the drain (at most drain_ns plus one
 * request timeout of the client, for the write in flight), joins the worker and frees
 * everything. NULL is a no-op. Call once, when no other thread uses rec any more. */
void kube_events_free(struct kube_events *rec);

/* Queues an Event about involved_object and returns at once; never blocks on the network.
 * - involved_object: the object (kind, apiVersion and metadata.{namespace,name,uid,
 *   resourceVersion} are copied into the ObjectReference), or an ObjectReference itself (no
 *   "metadata", top-level "name"). Borrowed, read only during the call.
 * - type: KUBE_EVENT_NORMAL or KUBE_EVENT_WARNING. reason: UpperCamelCase, at most 128 bytes.
 * - message: printf-style; cut to 1024 bytes (the API's limit) at a UTF-8 boundary.
 * The same object, type, reason, action and message within the window bumps count and
 * lastTimestamp of the existing Event (PATCH) instead of creating one, like client-go. Beyond
 * spam_burst Events about one object (repeats included: each is a write), further ones are
 * dropped until the bucket refills; counted as kube_events_writes_total{result="filtered"}.
 * Returns 0 (queued), KUBE_EINVAL (bad type/reason/object; logged), KUBE_ETOOMANY (queue full:
 * dropped and counted in kube_events_dropped_total), KUBE_ESHUTDOWN, KUBE_ENOMEM.
 * Write failures happen later on the worker: logged and counted, never reported here.
 * Thread-safe. */
int kube_events_record(struct kube_events *rec, const cJSON *involved_object, const char *type,
		       const char *reason, const char *message_fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* As kube_events_record, with the Event's action (what was done: "Failover", "Scale"; at most 128
 * bytes). Without one, the reason is used: the API requires an action whenever eventTime is set. */
int kube_events_record_action(struct kube_events *rec, const cJSON *involved_object,
			      const char *type, const char *reason, const char *action,
			      const char *message_fmt, ...) __attribute__((format(printf, 6, 7)));

/* Blocks until every event queued before the call has been written, has failed or was dropped.
 * Not bounded in time (each write may take a full request timeout when the API is unreachable):
 * for tests and checkpoints, not for shutdown (use kube_events_shutdown/free). Thread-safe. */
void kube_events_flush(struct kube_events *rec);

#endif
