/* Watch streams: a decoder that turns newline-delimited watch events into callbacks whatever the
 * chunk boundaries, and kube_watch(), which runs one watch request over the REST client. */
#ifndef KUBE_WATCH_H
#define KUBE_WATCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "kube_rest.h"

enum kube_watch_type {
	KUBE_WATCH_ADDED,
	KUBE_WATCH_MODIFIED,
	KUBE_WATCH_DELETED,
	KUBE_WATCH_BOOKMARK,
	KUBE_WATCH_ERROR,     /* object is a Status */
};

/* Returns "ADDED", "MODIFIED", ... ; a static string. */
const char *kube_watch_type_name(enum kube_watch_type type);

/* Called once per event. `object` is borrowed for the duration of the call (copy it with
 * cJSON_Duplicate to keep it). Return 0 to continue; any non-zero value stops the stream and
 * becomes the return value of kube_watch_decoder_feed / kube_watch. */
typedef int (*kube_watch_cb)(enum kube_watch_type type, const cJSON *object, void *ud);

/* Largest single event line accepted (64 MiB); longer is KUBE_EPARSE. */
#define KUBE_WATCH_MAX_LINE (64u * 1024u * 1024u)

struct kube_watch_decoder;

/* New decoder. Returns 0, KUBE_EINVAL (cb NULL), KUBE_ENOMEM. Not thread-safe: one decoder per
 * stream. */
int kube_watch_decoder_new(kube_watch_cb cb, void *ud, struct kube_watch_decoder **out);

/* Feeds `len` bytes. Every complete line (ending in '\n'; blank lines skipped, "\r\n" ok) is
 * decoded and passed to cb; the rest is buffered until more bytes arrive. Returns 0; the cb's
 * non-zero value; KUBE_EPARSE for a line that is not a watch event ({"type":..,"object":{..}})
 * or is longer than KUBE_WATCH_MAX_LINE; for an ERROR event (delivered to cb first) the code of
 * its Status: KUBE_EGONE for 410/Expired/Gone, else kube_err_from_http(code, reason) or
 * KUBE_EHTTP; KUBE_ENOMEM. After a non-zero return the decoder must not be fed again. */
int kube_watch_decoder_feed(struct kube_watch_decoder *dec, const char *buf, size_t len);

/* Lowers (or raises) the line cap of this decoder from KUBE_WATCH_MAX_LINE; 0 restores the
 * default. For tests and for callers that know their objects are small. */
void kube_watch_decoder_set_max_line(struct kube_watch_decoder *dec, size_t max);

/* Bytes of an unfinished line held in the buffer (0 at a clean end of stream). */
size_t kube_watch_decoder_pending(const struct kube_watch_decoder *dec);

/* Frees the decoder; NULL-safe. */
void kube_watch_decoder_free(struct kube_watch_decoder *dec);

/* One watch request: GET <collection>?watch=1&allowWatchBookmarks=true
 * [&resourceVersion=RV][&labelSelector=..][&fieldSelector=..][&timeoutSeconds=N], events to cb on
 * the calling thread. ns NULL on a namespaced GVR watches all namespaces; opts may be NULL.
 * Returns 0 when the server ends the stream normally (the caller rewatches from the last
 * resourceVersion it saw), KUBE_EGONE on HTTP 410 or an ERROR event with 410/Expired,
 * KUBE_ETIMEDOUT when opts->idle_timeout_ms > 0 and that long passed without an event or a
 * bookmark (a stalled stream; st->message says so; rewatch from the last resourceVersion),
 * KUBE_ECANCELED when *cancel became true (polled at least every 100 ms even on a quiet
 * stream), the cb's non-zero value, KUBE_EPARSE on a garbage line, KUBE_EIO/KUBE_ETIMEDOUT on
 * transport problems, or an API error (st filled as for kube_get; for an ERROR event st keeps
 * the event's Status reason/message/details, http_status stays the stream's 200). Not retried: reconnecting is
 * the caller's (the informer's) decision. Takes one rate-limiter token. Thread-safe (each call is
 * its own stream). cancel may be NULL. */
int kube_watch(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
	       const struct kube_list_opts *opts, kube_watch_cb cb, void *ud,
	       const atomic_bool *cancel, struct kube_status *st);

#endif
