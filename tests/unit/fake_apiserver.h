/* A small stateful Kubernetes API server for informer and leader-election tests (libmicrohttpd,
 * header-only because every test file is its own executable): objects with resourceVersions,
 * list, chunked watch streams from a version, 410 for compacted versions, optimistic concurrency
 * (409 on a stale update), and knobs for faults. Not kubesim: just enough API for src/ tests. */
#ifndef FAKE_APISERVER_H
#define FAKE_APISERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <uthash.h>

#define FAKE_MAX_WATCHES 128

struct fake_obj {
	char *key; /* "resource|namespace|name" */
	cJSON *obj;
	UT_hash_handle hh;
};

struct fake_event {
	int64_t rv;
	char *res;
	char *ns;
	cJSON *obj;  /* for selector filtering */
	char *line;  /* {"type":..,"object":..}\n */
};

struct fake_api {
	struct MHD_Daemon *d;
	unsigned short port;
	char url[64];
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int64_t rv;
	uint64_t uid_seq;
	struct fake_obj *objs;
	struct fake_event *events;
	size_t nevents, cap;
	int64_t compacted_rv; /* a watch from a version below this gets 410 Gone */
	int close_gen;        /* bumped to end every open watch stream */
	bool paused;          /* open watches send nothing new while set */
	int stall_gen;        /* bumped to stall every open watch for good (new ones are fine) */
	bool stopping;
	/* Recorded for assertions (under mu). */
	char watch_rvs[FAKE_MAX_WATCHES][32];
	int nwatches;
	int nlists;
	int active_watches;
	int conflicts;        /* 409s sent for stale updates or existing creates */
	int lease_writes_ok;  /* successful PUT/POST on leases */
	int64_t last_lease_write_ms; /* CLOCK_MONOTONIC ms of the last successful lease write */
	/* Faults (set under mu or via the helpers). */
	int fail_lists;       /* the next N lists answer 500 */
	bool fail_lease_writes; /* every PUT/POST on leases answers 500 */
	bool gone_as_http;    /* a compacted watch gets HTTP 410 instead of a 410 ERROR event */
	char fail_holder[64]; /* lease writes whose holderIdentity is this answer 500 */
	int lease_namespace_missing; /* lease creates answer 404 "namespaces ... not found" */
};

struct fake_conn {
	char *body;
	size_t len;
};

struct fake_watch {
	struct fake_api *api;
	char *res, *ns, *selector;
	int64_t next_rv;   /* events with rv > next_rv are due */
	int gen;
	int stall_gen;     /* api->stall_gen at start: a later bump stalls this stream */
	bool gone;         /* send a 410 ERROR event, then end */
	bool ended;
	char *pending;     /* the line being sent */
	size_t off;
	int64_t last_send; /* ms, for heartbeats */
};

static inline int64_t fake_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline char *fake_key(const char *res, const char *ns, const char *name)
{
	char *k = NULL;
	if (asprintf(&k, "%s|%s|%s", res, ns ? ns : "", name ? name : "") < 0)
		return NULL;
	return k;
}

/* Equality-only selectors "a=b,c=d" (all the tests need). */
static inline bool fake_selector_matches(const char *sel, const cJSON *obj)
{
	char buf[512], *save = NULL, *term;
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels");
	if (sel == NULL || sel[0] == '\0')
		return true;
	snprintf(buf, sizeof(buf), "%s", sel);
	for (term = strtok_r(buf, ",", &save); term; term = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(term, '=');
		const cJSON *v;
		if (eq == NULL)
			return false;
		*eq = '\0';
		v = cJSON_GetObjectItemCaseSensitive(labels, term);
		if (!cJSON_IsString(v) || strcmp(v->valuestring, eq + 1) != 0)
			return false;
	}
	return true;
}

static inline cJSON *fake_meta(cJSON *obj)
{
	cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	if (m == NULL)
		m = cJSON_AddObjectToObject(obj, "metadata");
	return m;
}

static inline const char *fake_str(const cJSON *obj, const char *k1, const char *k2)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, k1);
	if (k2 != NULL)
		v = cJSON_GetObjectItemCaseSensitive(v, k2);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static inline void fake_set_str(cJSON *obj, const char *key, const char *val)
{
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	cJSON_AddStringToObject(obj, key, val);
}

/* Records a change: bumps the version, stamps it on obj and appends a watch event. mu held. */
static inline void fake_emit_locked(struct fake_api *api, const char *type, const char *res,
			     const char *ns, cJSON *obj)
{
	char rvs[32];
	cJSON *ev;
	char *s;
	struct fake_event *e;

	snprintf(rvs, sizeof(rvs), "%lld", (long long)++api->rv);
	fake_set_str(fake_meta(obj), "resourceVersion", rvs);
	if (api->nevents == api->cap) {
		api->cap = api->cap ? api->cap * 2 : 64;
		api->events = realloc(api->events, api->cap * sizeof(*api->events));
	}
	e = &api->events[api->nevents++];
	e->rv = api->rv;
	e->res = strdup(res);
	e->ns = strdup(ns ? ns : "");
	e->obj = cJSON_Duplicate(obj, true);
	ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "type", type);
	cJSON_AddItemToObject(ev, "object", cJSON_Duplicate(obj, true));
	s = cJSON_PrintUnformatted(ev);
	cJSON_Delete(ev);
	if (asprintf(&e->line, "%s\n", s) < 0)
		e->line = NULL;
	free(s);
	pthread_cond_broadcast(&api->cond);
}

/* Create or replace (no version check) as another client would; obj is taken. mu held. */
static inline void fake_put_locked(struct fake_api *api, const char *res, cJSON *obj)
{
	const char *ns = fake_str(obj, "metadata", "namespace");
	const char *name = fake_str(obj, "metadata", "name");
	char *key = fake_key(res, ns, name);
	struct fake_obj *o;

	HASH_FIND_STR(api->objs, key, o);
	if (o == NULL) {
		char uid[64];
		snprintf(uid, sizeof(uid), "uid-%llu", (unsigned long long)++api->uid_seq);
		if (fake_str(obj, "metadata", "uid") == NULL)
			fake_set_str(fake_meta(obj), "uid", uid);
		o = calloc(1, sizeof(*o));
		o->key = key;
		o->obj = obj;
		HASH_ADD_KEYPTR(hh, api->objs, o->key, strlen(o->key), o);
		fake_emit_locked(api, "ADDED", res, ns, obj);
		return;
	}
	free(key);
	if (fake_str(obj, "metadata", "uid") == NULL && fake_str(o->obj, "metadata", "uid"))
		fake_set_str(fake_meta(obj), "uid", fake_str(o->obj, "metadata", "uid"));
	cJSON_Delete(o->obj);
	o->obj = obj;
	fake_emit_locked(api, "MODIFIED", res, ns, obj);
}

static inline bool fake_delete_locked(struct fake_api *api, const char *res, const char *ns,
			       const char *name)
{
	char *key = fake_key(res, ns, name);
	struct fake_obj *o;

	HASH_FIND_STR(api->objs, key, o);
	free(key);
	if (o == NULL)
		return false;
	HASH_DEL(api->objs, o);
	fake_emit_locked(api, "DELETED", res, ns, o->obj);
	cJSON_Delete(o->obj);
	free(o->key);
	free(o);
	return true;
}

/* ---- HTTP ---- */

/* What a request is answered with; built under the lock, sent after it is released so the
 * server's lock is never held while MHD holds its own (a watch reader runs under MHD's). */
struct fake_out {
	int status;
	char *body;
	struct fake_watch *watch;
};

static inline void fake_reply(struct fake_out *out, int status, const char *body)
{
	out->status = status;
	out->body = strdup(body);
}

static inline void fake_reply_json(struct fake_out *out, int status, const cJSON *o)
{
	out->status = status;
	out->body = cJSON_PrintUnformatted(o);
}

static inline void fake_status(struct fake_out *out, int code, const char *reason,
			       const char *msg)
{
	char buf[512];
	snprintf(buf, sizeof(buf),
		 "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
		 "\"message\":\"%s\",\"reason\":\"%s\",\"code\":%d}",
		 msg, reason, code);
	fake_reply(out, code, buf);
}

static inline enum MHD_Result fake_send(struct MHD_Connection *conn, struct fake_out *out);

static inline ssize_t fake_watch_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct fake_watch *w = cls;
	struct fake_api *api = w->api;
	ssize_t n = 0;

	pthread_mutex_lock(&api->mu);
	for (;;) {
		if (w->pending != NULL) {
			size_t left = strlen(w->pending) - w->off;
			n = (ssize_t)(left < max ? left : max);
			memcpy(buf, w->pending + w->off, (size_t)n);
			w->off += (size_t)n;
			if (w->off == strlen(w->pending)) {
				free(w->pending);
				w->pending = NULL;
				w->off = 0;
			}
			w->last_send = fake_ms();
			break;
		}
		if (w->ended || api->stopping || w->gen != api->close_gen) {
			n = MHD_CONTENT_READER_END_OF_STREAM;
			break;
		}
		if (w->gone) {
			w->pending = strdup(
				"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":"
				"\"v1\",\"status\":\"Failure\",\"message\":\"too old resource "
				"version\",\"reason\":\"Expired\",\"code\":410}}\n");
			w->gone = false;
			w->ended = true;
			continue;
		}
		if (!api->paused && w->stall_gen == api->stall_gen) {
			for (size_t i = 0; i < api->nevents; i++) {
				struct fake_event *e = &api->events[i];
				if (e->rv <= w->next_rv)
					continue;
				w->next_rv = e->rv;
				if (strcmp(e->res, w->res) != 0 ||
				    (w->ns[0] != '\0' && strcmp(e->ns, w->ns) != 0) ||
				    !fake_selector_matches(w->selector, e->obj))
					continue;
				w->pending = strdup(e->line);
				break;
			}
			if (w->pending != NULL)
				continue;
		}
		/* A blank line now and then (the decoder skips it) lets MHD notice a client that
		 * went away, so its thread ends. */
		if (fake_ms() - w->last_send >= 200) {
			w->pending = strdup("\n");
			continue;
		}
		{
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 20 * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&api->cond, &api->mu, &ts);
		}
	}
	pthread_mutex_unlock(&api->mu);
	return n;
}

static inline void fake_watch_free(void *cls)
{
	struct fake_watch *w = cls;
	pthread_mutex_lock(&w->api->mu);
	w->api->active_watches--;
	pthread_mutex_unlock(&w->api->mu);
	free(w->res);
	free(w->ns);
	free(w->selector);
	free(w->pending);
	free(w);
}

/* Splits /api/v1/... or /apis/g/v/... into resource, namespace and name. */
static inline bool fake_parse_path(const char *url, char *res, char *ns, char *name)
{
	char buf[512], *seg[12], *save = NULL, *t;
	int n = 0, i;

	snprintf(buf, sizeof(buf), "%s", url);
	for (t = strtok_r(buf, "/", &save); t && n < 12; t = strtok_r(NULL, "/", &save))
		seg[n++] = t;
	res[0] = ns[0] = name[0] = '\0';
	if (n >= 2 && strcmp(seg[0], "api") == 0)
		i = 2;
	else if (n >= 3 && strcmp(seg[0], "apis") == 0)
		i = 3;
	else
		return false;
	if (n - i >= 3 && strcmp(seg[i], "namespaces") == 0) {
		snprintf(ns, 128, "%s", seg[i + 1]);
		i += 2;
	}
	if (i >= n)
		return false;
	snprintf(res, 128, "%s", seg[i]);
	if (i + 1 < n)
		snprintf(name, 256, "%s", seg[i + 1]);
	return true;
}

static inline void fake_list(struct fake_api *api, struct fake_out *out, const char *res,
			     const char *ns, const char *sel)
{
	cJSON *list = cJSON_CreateObject(), *items;
	struct fake_obj *o, *tmp;
	char rvs[32];

	/* Like the apiserver for built-ins: "PodList", and items without kind/apiVersion. */
	cJSON_AddStringToObject(list, "kind", strcmp(res, "pods") == 0 ? "PodList" : "List");
	cJSON_AddStringToObject(list, "apiVersion", "v1");
	items = cJSON_AddArrayToObject(list, "items");
	HASH_ITER(hh, api->objs, o, tmp) {
		char prefix[300];
		snprintf(prefix, sizeof(prefix), "%s|%s|", res, ns);
		if (ns[0] != '\0' ? strncmp(o->key, prefix, strlen(prefix)) != 0
				  : strncmp(o->key, res, strlen(res)) != 0 ||
					    o->key[strlen(res)] != '|')
			continue;
		if (!fake_selector_matches(sel, o->obj))
			continue;
		cJSON *item = cJSON_Duplicate(o->obj, true);
		cJSON_DeleteItemFromObjectCaseSensitive(item, "kind");
		cJSON_DeleteItemFromObjectCaseSensitive(item, "apiVersion");
		cJSON_AddItemToArray(items, item);
	}
	snprintf(rvs, sizeof(rvs), "%lld", (long long)api->rv);
	cJSON_AddItemToObject(list, "metadata", cJSON_CreateObject());
	cJSON_AddStringToObject(cJSON_GetObjectItem(list, "metadata"), "resourceVersion", rvs);
	fake_reply_json(out, 200, list);
	cJSON_Delete(list);
}

static inline void fake_start_watch(struct fake_api *api, struct MHD_Connection *conn,
				    struct fake_out *out, const char *res, const char *ns,
				    const char *sel)
{
	const char *rv = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
						     "resourceVersion");
	struct fake_watch *w = calloc(1, sizeof(*w));

	if (api->nwatches < FAKE_MAX_WATCHES)
		snprintf(api->watch_rvs[api->nwatches], 32, "%s", rv ? rv : "");
	api->nwatches++;
	w->api = api;
	w->res = strdup(res);
	w->ns = strdup(ns);
	w->selector = strdup(sel ? sel : "");
	w->gen = api->close_gen;
	w->stall_gen = api->stall_gen;
	w->last_send = fake_ms();
	if (rv == NULL || rv[0] == '\0' || strcmp(rv, "0") == 0)
		w->next_rv = api->rv;
	else
		w->next_rv = strtoll(rv, NULL, 10);
	w->gone = w->next_rv < api->compacted_rv;
	if (w->gone && api->gone_as_http) {
		/* Some servers (and proxies) answer the watch request itself with 410. */
		free(w->res);
		free(w->ns);
		free(w->selector);
		free(w);
		fake_status(out, 410, "Expired", "too old resource version");
		return;
	}
	api->active_watches++;
	out->status = 200;
	out->watch = w;
}

static inline bool fake_write_fails_locked(struct fake_api *api, const char *res, const cJSON *body)
{
	const char *holder;
	if (strcmp(res, "leases") != 0)
		return false;
	if (api->fail_lease_writes)
		return true;
	holder = fake_str(cJSON_GetObjectItemCaseSensitive(body, "spec"), "holderIdentity", NULL);
	return api->fail_holder[0] != '\0' && holder != NULL &&
	       strcmp(holder, api->fail_holder) == 0;
}

static inline enum MHD_Result fake_handle(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version,
				   const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct fake_api *api = cls;
	struct fake_conn *c = *con_cls;
	char res[128], ns[128], name[256];
	const char *watch, *sel;
	cJSON *body = NULL;
	struct fake_out out = {0};

	if (c == NULL) {
		c = calloc(1, sizeof(*c));
		*con_cls = c;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		c->body = realloc(c->body, c->len + *upload_data_size + 1);
		memcpy(c->body + c->len, upload_data, *upload_data_size);
		c->len += *upload_data_size;
		c->body[c->len] = '\0';
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!fake_parse_path(url, res, ns, name)) {
		fake_status(&out, 404, "NotFound", "no such path");
		return fake_send(conn, &out);
	}
	watch = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "watch");
	sel = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "labelSelector");
	if (c->body != NULL)
		body = cJSON_Parse(c->body);

	pthread_mutex_lock(&api->mu);
	if (strcmp(method, "GET") == 0 && name[0] == '\0') {
		if (watch != NULL && (strcmp(watch, "1") == 0 || strcmp(watch, "true") == 0)) {
			fake_start_watch(api, conn, &out, res, ns, sel);
		} else if (api->fail_lists > 0) {
			api->fail_lists--;
			api->nlists++;
			fake_status(&out, 500, "InternalError", "injected list failure");
		} else {
			api->nlists++;
			fake_list(api, &out, res, ns, sel);
		}
	} else if (strcmp(method, "GET") == 0) {
		char *key = fake_key(res, ns, name);
		struct fake_obj *o;
		HASH_FIND_STR(api->objs, key, o);
		free(key);
		if (o != NULL)
			fake_reply_json(&out, 200, o->obj);
		else
			fake_status(&out, 404, "NotFound", "not found");
	} else if ((strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) && body == NULL) {
		fake_status(&out, 400, "BadRequest", "no body");
	} else if (fake_write_fails_locked(api, res, body)) {
		fake_status(&out, 500, "InternalError", "injected write failure");
	} else if (api->lease_namespace_missing && strcmp(res, "leases") == 0 &&
		   strcmp(method, "POST") == 0) {
		char msg[200];
		snprintf(msg, sizeof(msg), "namespaces \\\"%s\\\" not found", ns); /* JSON-escaped */
		fake_status(&out, 404, "NotFound", msg);
	} else if (strcmp(method, "POST") == 0) {
		const char *n = fake_str(body, "metadata", "name");
		char *key = fake_key(res, ns, n);
		struct fake_obj *o;
		HASH_FIND_STR(api->objs, key, o);
		free(key);
		if (o != NULL || n == NULL) {
			api->conflicts += o != NULL;
			if (o != NULL)
				fake_status(&out, 409, "AlreadyExists", "already exists");
			else
				fake_status(&out, 422, "Invalid", "no name");
		} else {
			if (ns[0] != '\0')
				fake_set_str(fake_meta(body), "namespace", ns);
			if (strcmp(res, "leases") == 0) {
				api->lease_writes_ok++;
				api->last_lease_write_ms = fake_ms();
			}
			fake_put_locked(api, res, body);
			fake_reply_json(&out, 201, body);
			body = NULL; /* stored */
		}
	} else if (strcmp(method, "PUT") == 0) {
		char *key = fake_key(res, ns, name);
		struct fake_obj *o;
		const char *want;
		HASH_FIND_STR(api->objs, key, o);
		free(key);
		want = fake_str(body, "metadata", "resourceVersion");
		if (o == NULL) {
			fake_status(&out, 404, "NotFound", "not found");
		} else if (want == NULL ||
			   strcmp(want, fake_str(o->obj, "metadata", "resourceVersion")) != 0) {
			api->conflicts++;
			fake_status(&out, 409, "Conflict",
					  "the object has been modified; please apply your "
					  "changes to the latest version and try again");
		} else {
			if (strcmp(res, "leases") == 0) {
				api->lease_writes_ok++;
				api->last_lease_write_ms = fake_ms();
			}
			fake_put_locked(api, res, body);
			fake_reply_json(&out, 200, body);
			body = NULL;
		}
	} else if (strcmp(method, "DELETE") == 0) {
		fake_delete_locked(api, res, ns, name)
			      ? fake_reply(&out, 200, "{\"kind\":\"Status\",\"status\":\"Success\"}")
			      : fake_status(&out, 404, "NotFound", "not found");
	} else {
		fake_status(&out, 405, "MethodNotAllowed", "method not allowed");
	}
	pthread_mutex_unlock(&api->mu);
	cJSON_Delete(body);
	return fake_send(conn, &out);
}

static inline enum MHD_Result fake_send(struct MHD_Connection *conn, struct fake_out *out)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (out->watch != NULL)
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, fake_watch_read,
						      out->watch, fake_watch_free);
	else
		r = MHD_create_response_from_buffer(strlen(out->body), out->body,
						    MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, (unsigned)out->status, r);
	MHD_destroy_response(r);
	return ret;
}

static inline void fake_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			   enum MHD_RequestTerminationCode toe)
{
	struct fake_conn *c = *con_cls;
	if (c != NULL) {
		free(c->body);
		free(c);
		*con_cls = NULL;
	}
}

/* ---- test-facing API ---- */

/* Starts on 127.0.0.1 with a free port; NULL if the daemon cannot start. */
static inline struct fake_api *fake_api_start(void)
{
	struct fake_api *api = calloc(1, sizeof(*api));
	const union MHD_DaemonInfo *info;

	pthread_mutex_init(&api->mu, NULL);
	pthread_cond_init(&api->cond, NULL);
	api->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
				  0, NULL, NULL, fake_handle, api, MHD_OPTION_NOTIFY_COMPLETED,
				  fake_completed, api, MHD_OPTION_END);
	if (api->d == NULL) {
		free(api);
		return NULL;
	}
	info = MHD_get_daemon_info(api->d, MHD_DAEMON_INFO_BIND_PORT);
	api->port = info->port;
	snprintf(api->url, sizeof(api->url), "http://127.0.0.1:%u", api->port);
	return api;
}

static inline void fake_api_stop(struct fake_api *api)
{
	struct fake_obj *o, *tmp;

	pthread_mutex_lock(&api->mu);
	api->stopping = true;
	pthread_cond_broadcast(&api->cond);
	pthread_mutex_unlock(&api->mu);
	MHD_stop_daemon(api->d);
	HASH_ITER(hh, api->objs, o, tmp) {
		HASH_DEL(api->objs, o);
		cJSON_Delete(o->obj);
		free(o->key);
		free(o);
	}
	for (size_t i = 0; i < api->nevents; i++) {
		free(api->events[i].res);
		free(api->events[i].ns);
		free(api->events[i].line);
		cJSON_Delete(api->events[i].obj);
	}
	free(api->events);
	pthread_cond_destroy(&api->cond);
	pthread_mutex_destroy(&api->mu);
	free(api);
}

/* Creates or replaces an object given as JSON text, as another client would. */
static inline void fake_api_put(struct fake_api *api, const char *res, const char *json)
{
	cJSON *obj = cJSON_Parse(json);
	pthread_mutex_lock(&api->mu);
	fake_put_locked(api, res, obj);
	pthread_mutex_unlock(&api->mu);
}

static inline bool fake_api_delete(struct fake_api *api, const char *res, const char *ns,
			    const char *name)
{
	bool ok;
	pthread_mutex_lock(&api->mu);
	ok = fake_delete_locked(api, res, ns, name);
	pthread_mutex_unlock(&api->mu);
	return ok;
}

/* Open watches stop sending new events (true) or resume (false). */
static inline void fake_api_pause_watches(struct fake_api *api, bool paused)
{
	pthread_mutex_lock(&api->mu);
	api->paused = paused;
	pthread_cond_broadcast(&api->cond);
	pthread_mutex_unlock(&api->mu);
}

/* Every open watch stream stalls for good: it stays open and sends no event (only the blank
 * heartbeat lines), as after a silent network cut behind a proxy. Watches opened later work. */
static inline void fake_api_stall_watches(struct fake_api *api)
{
	pthread_mutex_lock(&api->mu);
	api->stall_gen++;
	pthread_cond_broadcast(&api->cond);
	pthread_mutex_unlock(&api->mu);
}

/* Ends every open watch stream normally (as an apiserver timeout would). */
static inline void fake_api_close_watches(struct fake_api *api)
{
	pthread_mutex_lock(&api->mu);
	api->close_gen++;
	pthread_cond_broadcast(&api->cond);
	pthread_mutex_unlock(&api->mu);
}

/* Forgets the event history: a watch from any version before now gets 410 Gone. */
static inline void fake_api_compact(struct fake_api *api)
{
	pthread_mutex_lock(&api->mu);
	api->compacted_rv = api->rv;
	pthread_mutex_unlock(&api->mu);
}

/* Current value of an int field read under the lock (e.g. &api->nwatches). */
static inline int fake_api_read(struct fake_api *api, const int *field)
{
	int v;
	pthread_mutex_lock(&api->mu);
	v = *field;
	pthread_mutex_unlock(&api->mu);
	return v;
}

/* A deep copy of a stored object, or NULL. */
static inline cJSON *fake_api_get(struct fake_api *api, const char *res, const char *ns,
			   const char *name)
{
	char *key = fake_key(res, ns, name);
	struct fake_obj *o;
	cJSON *copy = NULL;
	pthread_mutex_lock(&api->mu);
	HASH_FIND_STR(api->objs, key, o);
	if (o != NULL)
		copy = cJSON_Duplicate(o->obj, true);
	pthread_mutex_unlock(&api->mu);
	free(key);
	return copy;
}

/* Polls pred until it holds or timeout_ms pass: waiting for a condition, never a fixed sleep. */
static inline bool fake_eventually(bool (*pred)(void *), void *arg, int timeout_ms)
{
	int64_t deadline = fake_ms() + timeout_ms;
	struct timespec ts = {0, 2000000};
	while (!pred(arg)) {
		if (fake_ms() > deadline)
			return false;
		nanosleep(&ts, NULL);
	}
	return true;
}

#endif
