/* Watch stream decoding and the watch request; see kube_watch.h. The decoder owns a growing line
 * buffer so events may be split anywhere; kube_watch feeds it from libcurl's write callback. */
#include "kube_watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_json.h"
#include "kube_rest_internal.h"

struct kube_watch_decoder {
	kube_watch_cb cb;
	void *ud;
	char *buf;
	size_t len, cap;
	size_t max_line;
	int failed; /* sticky: after an error the stream is dead */
};

const char *kube_watch_type_name(enum kube_watch_type type)
{
	switch (type) {
	case KUBE_WATCH_ADDED: return "ADDED";
	case KUBE_WATCH_MODIFIED: return "MODIFIED";
	case KUBE_WATCH_DELETED: return "DELETED";
	case KUBE_WATCH_BOOKMARK: return "BOOKMARK";
	case KUBE_WATCH_ERROR: return "ERROR";
	}
	return "UNKNOWN";
}

int kube_watch_decoder_new(kube_watch_cb cb, void *ud, struct kube_watch_decoder **out)
{
	struct kube_watch_decoder *d;

	if (cb == NULL || out == NULL)
		return KUBE_EINVAL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return KUBE_ENOMEM;
	d->cb = cb;
	d->ud = ud;
	d->max_line = KUBE_WATCH_MAX_LINE;
	*out = d;
	return 0;
}

void kube_watch_decoder_free(struct kube_watch_decoder *d)
{
	if (d == NULL)
		return;
	free(d->buf);
	free(d);
}

void kube_watch_decoder_set_max_line(struct kube_watch_decoder *d, size_t max)
{
	if (d != NULL)
		d->max_line = max > 0 ? max : KUBE_WATCH_MAX_LINE;
}

size_t kube_watch_decoder_pending(const struct kube_watch_decoder *d)
{
	return d != NULL ? d->len : 0;
}

static int parse_type(const char *s, enum kube_watch_type *t)
{
	static const struct { const char *name; enum kube_watch_type type; } types[] = {
		{ "ADDED", KUBE_WATCH_ADDED },       { "MODIFIED", KUBE_WATCH_MODIFIED },
		{ "DELETED", KUBE_WATCH_DELETED },   { "BOOKMARK", KUBE_WATCH_BOOKMARK },
		{ "ERROR", KUBE_WATCH_ERROR },
	};

	for (size_t i = 0; s != NULL && i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(s, types[i].name) == 0) {
			*t = types[i].type;
			return 0;
		}
	}
	return KUBE_EPARSE;
}

/* Maps an ERROR event's Status to a code: 410/Expired/Gone is KUBE_EGONE. */
static int status_error(const cJSON *status)
{
	const char *reason = kube_json_get_str(status, "reason", NULL);
	double code = 0;
	int rc;

	kube_json_get_num(status, &code, "code", NULL);
	if (!(code >= 100 && code <= 999))
		code = 0; /* not an HTTP status (or too big for a long): as if absent */
	if (code == 410)
		return KUBE_EGONE;
	if (code == 0 && reason == NULL)
		return KUBE_EHTTP;
	if (code == 0) {
		rc = kube_err_from_http(500, reason);
		/* Only a reason we know maps; an unknown one with no code is just "HTTP error". */
		return rc == KUBE_ESERVER ? KUBE_EHTTP : rc;
	}
	rc = kube_err_from_http((long)code, reason);
	/* An ERROR event ends the stream whatever its code says (a 2xx would read as success). */
	return rc == 0 ? KUBE_EHTTP : rc;
}

static int decode_line(struct kube_watch_decoder *d, const char *line, size_t len)
{
	enum kube_watch_type type;
	cJSON *ev;
	const cJSON *obj;
	int rc;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	if (len == 0)
		return 0;
	ev = kube_json_parse_len(line, len);
	obj = kube_json_get(ev, "object", NULL);
	if (ev == NULL || parse_type(kube_json_get_str(ev, "type", NULL), &type) != 0 ||
	    !cJSON_IsObject(obj)) {
		rc = KUBE_EPARSE;
		goto out;
	}
	rc = d->cb(type, obj, d->ud);
	if (rc == 0 && type == KUBE_WATCH_ERROR)
		rc = status_error(obj);
out:
	cJSON_Delete(ev);
	return rc;
}

int kube_watch_decoder_feed(struct kube_watch_decoder *d, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len, *nl;
	int rc = 0;

	if (d == NULL || (buf == NULL && len > 0))
		return KUBE_EINVAL;
	if (d->failed != 0)
		return d->failed;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			/* Unfinished line: keep it for the next chunk. */
			size_t n = (size_t)(end - p);

			if (d->len + n > d->max_line) {
				rc = KUBE_EPARSE;
				goto out;
			}
			if (d->len + n > d->cap) {
				size_t cap = d->cap == 0 ? 4096 : d->cap;
				char *nb;

				while (cap < d->len + n)
					cap *= 2;
				nb = realloc(d->buf, cap);
				if (nb == NULL) {
					rc = KUBE_ENOMEM;
					goto out;
				}
				d->buf = nb;
				d->cap = cap;
			}
			memcpy(d->buf + d->len, p, n);
			d->len += n;
			break;
		}
		if (d->len > 0) {
			/* Completes a buffered line: decode buffer + head of this chunk. */
			size_t n = (size_t)(nl - p);

			if (d->len + n > d->max_line) {
				rc = KUBE_EPARSE;
				goto out;
			}
			if (d->len + n > d->cap) {
				char *nb = realloc(d->buf, d->len + n);

				if (nb == NULL) {
					rc = KUBE_ENOMEM;
					goto out;
				}
				d->buf = nb;
				d->cap = d->len + n;
			}
			memcpy(d->buf + d->len, p, n);
			rc = decode_line(d, d->buf, d->len + n);
			d->len = 0;
		} else {
			if ((size_t)(nl - p) > d->max_line) {
				rc = KUBE_EPARSE;
				goto out;
			}
			rc = decode_line(d, p, (size_t)(nl - p));
		}
		if (rc != 0)
			goto out;
		p = nl + 1;
	}
out:
	if (rc != 0)
		d->failed = rc;
	return rc;
}

/* --- the watch request -------------------------------------------------------------------- */

struct watch_ctx {
	struct kube_watch_decoder *dec;
	int rc;
	kube_watch_cb cb;
	void *ud;
	struct kube_status *st;
	struct kube__idle idle; /* an event or bookmark is progress; a blank line is not */
};

/* Keeps an ERROR event's Status in st so the caller can log why the stream ended. */
static int on_event(enum kube_watch_type type, const cJSON *obj, void *ud)
{
	struct watch_ctx *w = ud;
	const char *reason, *message;

	w->idle.last_ns = kube__now_ns();
	if (type == KUBE_WATCH_ERROR && w->st != NULL) {
		reason = kube_json_get_str(obj, "reason", NULL);
		message = kube_json_get_str(obj, "message", NULL);
		free(w->st->reason);
		free(w->st->message);
		cJSON_Delete(w->st->details);
		w->st->reason = reason != NULL ? strdup(reason) : NULL;
		w->st->message = message != NULL ? strdup(message) : NULL;
		w->st->details = cJSON_Duplicate(kube_json_get(obj, "details", NULL), true);
	}
	return w->cb(type, obj, w->ud);
}

static int on_body(const char *buf, size_t len, void *ud)
{
	struct watch_ctx *w = ud;

	w->rc = kube_watch_decoder_feed(w->dec, buf, len);
	return w->rc;
}

int kube_watch(struct kube_client *c, const struct kube_gvr *gvr, const char *ns,
	       const struct kube_list_opts *opts, kube_watch_cb cb, void *ud,
	       const atomic_bool *cancel, struct kube_status *st)
{
	struct kube_list_opts o = { 0 };
	struct watch_ctx w = { 0 };
	char *path = NULL, *query = NULL;
	int rc;

	if (c == NULL || gvr == NULL || cb == NULL)
		return KUBE_EINVAL;
	if (opts != NULL)
		o = *opts;
	o.allow_bookmarks = true;
	o.limit = 0;
	o.continue_token = NULL;
	w.cb = cb;
	w.ud = ud;
	w.st = st;
	w.idle.idle_ms = o.idle_timeout_ms;
	rc = kube_watch_decoder_new(on_event, &w, &w.dec);
	if (rc != 0)
		goto out;
	path = kube_resource_path(gvr, gvr->namespaced && ns != NULL && ns[0] != '\0' ? ns : NULL,
				  NULL, NULL);
	query = kube__list_query(&o, true);
	if (path == NULL || query == NULL) {
		rc = KUBE_ENOMEM;
		goto out;
	}
	rc = kube__stream(c, path, query, gvr->resource, o.timeout_seconds, &w.idle, on_body, &w,
			  cancel, st);
	if (rc == 0 && w.rc != 0)
		rc = w.rc;
	if (w.idle.stalled && st != NULL) {
		free(st->message);
		st->message = NULL;
		if (asprintf(&st->message, "watch %s stalled: no event or bookmark for %ld ms",
			     gvr->resource, o.idle_timeout_ms) < 0)
			st->message = NULL;
	}
out:
	free(path);
	free(query);
	kube_watch_decoder_free(w.dec);
	return rc;
}
