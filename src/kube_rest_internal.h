/* Internals shared by kube_rest.c and kube_watch.c (not a public API): query building and the
 * streaming request that watches run on. */
#ifndef KUBE_REST_INTERNAL_H
#define KUBE_REST_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "kube_rest.h"

/* Receives body bytes of a 2xx streaming response; non-zero aborts the transfer and becomes the
 * return value of kube__stream. */
typedef int (*kube__body_cb)(const char *buf, size_t len, void *ud);

/* "labelSelector=..&fieldSelector=..&resourceVersion=..&limit=..&continue=..&timeoutSeconds=.."
 * (plus "watch=1&allowWatchBookmarks=true" when watch) from opts (may be NULL); values are
 * percent-encoded. Returns a malloc'd string ("" when empty) or NULL on ENOMEM. */
char *kube__list_query(const struct kube_list_opts *opts, bool watch);

/* Percent-encodes s (RFC 3986 unreserved characters kept). malloc'd or NULL on ENOMEM. */
char *kube__escape(const char *s);

/* GET server+path?query as a stream: 2xx body bytes go to on_body as they arrive; a non-2xx
 * response is parsed as a Status into st and mapped to a kube_err. Takes one rate-limiter token,
 * never retries. cancel (may be NULL) is polled at least every 100 ms. timeout_seconds > 0 bounds
 * the whole stream client-side (plus a margin); 0 leaves it unbounded. `resource` labels
 * metrics. Returns as kube_watch documents. */
int kube__stream(struct kube_client *c, const char *path, const char *query, const char *resource,
		 int timeout_seconds, kube__body_cb on_body, void *ud, const atomic_bool *cancel,
		 struct kube_status *st);

#endif
