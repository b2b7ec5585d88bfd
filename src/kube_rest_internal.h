/* Internals shared by kube_rest.c and kube_watch.c (not a public API): query building and the
 * streaming request that watches run on. */
#ifndef KUBE_REST_INTERNAL_H
#define KUBE_REST_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube_rest.h"

/* Receives body bytes of a 2xx streaming response; non-zero aborts the transfer and becomes the
 * return value of kube__stream. */
typedef kube_chunk_cb kube__body_cb;

/* "labelSelector=..&fieldSelector=..&resourceVersion=..&limit=..&continue=..&timeoutSeconds=.."
 * (plus "watch=1&allowWatchBookmarks=true" when watch) from opts (may be NULL); values are
 * percent-encoded. Returns a malloc'd string ("" when empty) or NULL on ENOMEM. */
char *kube__list_query(const struct kube_list_opts *opts, bool watch);

/* Percent-encodes s (RFC 3986 unreserved characters kept). malloc'd or NULL on ENOMEM. */
char *kube__escape(const char *s);

/* Stall detection of one stream. The caller sets idle_ms and, whenever it sees progress it
 * counts (a whole watch event, not a blank line), last_ns = kube__now_ns(); kube__stream sets
 * last_ns when the request starts and ends the stream with KUBE_ETIMEDOUT, stalled = true, once
 * idle_ms pass without progress (checked every 100 ms). idle_ms <= 0 disables the check. Used on
 * the streaming thread only. */
struct kube__idle {
	long idle_ms;
	int64_t last_ns;
	bool stalled;
};

/* CLOCK_MONOTONIC in ns. */
int64_t kube__now_ns(void);

/* GET server+path?query as a stream: 2xx body bytes go to on_body as they arrive; a non-2xx
 * response is parsed as a Status into st and mapped to a kube_err. Takes one rate-limiter token,
 * never retries. cancel (may be NULL) is polled at least every 100 ms. timeout_seconds > 0 bounds
 * the whole stream client-side (plus a margin); 0 leaves it unbounded. idle (may be NULL) bounds
 * the time without progress, see kube__idle. `resource` labels metrics. Returns as kube_watch
 * documents. */
int kube__stream(struct kube_client *c, const char *path, const char *query, const char *resource,
		 int timeout_seconds, struct kube__idle *idle, kube__body_cb on_body, void *ud,
		 const atomic_bool *cancel, struct kube_status *st);

/* TCP keepalive timing and TCP_USER_TIMEOUT every client socket gets, so a connection cut
 * without FIN or RST (a NAT or load balancer losing state) fails within about
 * KUBE__TCP_USER_TIMEOUT_MS instead of hanging. */
#define KUBE__TCP_KEEPIDLE_S 15
#define KUBE__TCP_KEEPINTVL_S 5
#define KUBE__TCP_USER_TIMEOUT_MS 30000

/* Applies TCP_USER_TIMEOUT (KUBE__TCP_USER_TIMEOUT_MS) to a TCP socket; libcurl calls it for
 * each socket it opens. Returns 0 or KUBE_EIO (not a TCP socket). Exposed for tests. */
int kube__tune_socket(int fd);

#endif
