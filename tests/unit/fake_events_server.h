/* A tiny fake API server for Event tests (libmicrohttpd): stores Events created by POST, applies
 * merge patches to count/lastTimestamp, records every request, and can fail or hold requests.
 * Header-only with static functions: each tests/unit file is compiled alone. */
#ifndef FAKE_EVENTS_SERVER_H
#define FAKE_EVENTS_SERVER_H

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define FES_MAX_REQ 256

struct fes_request {
	char method[16];
	char path[512];
	char content_type[128];
	cJSON *body; /* parsed request body, NULL when none or not JSON */
};

struct fes {
	struct MHD_Daemon *d;
	int port;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct fes_request req[FES_MAX_REQ];
	int nreq;
	cJSON *events;     /* object: name -> stored Event */
	int fail_status;   /* answer the next fail_count requests with this status */
	int fail_count;
	bool hold;         /* park requests until released */
	int held;          /* requests parked right now */
	int rv;            /* resourceVersion counter */
};

struct fes_conn {
	char *body;
	size_t len;
};

static void fes_status(struct MHD_Connection *conn, int code, const char *reason,
		       const char *msg)
{
	char buf[512];
	struct MHD_Response *r;

	snprintf(buf, sizeof(buf),
		 "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
		 "\"reason\":\"%s\",\"message\":\"%s\",\"code\":%d}",
		 reason, msg, code);
	r = MHD_create_response_from_buffer(strlen(buf), buf, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_queue_response(conn, (unsigned int)code, r);
	MHD_destroy_response(r);
}

static void fes_json(struct MHD_Connection *conn, int code, const cJSON *obj)
{
	char *text = cJSON_PrintUnformatted(obj);
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);

	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_queue_response(conn, (unsigned int)code, r);
	MHD_destroy_response(r);
}

/* Handles one complete request under the lock. */
static void fes_serve_locked(struct fes *s, struct MHD_Connection *conn, const char *method,
			     const char *url, cJSON *body)
{
	static const char prefix[] = "/api/v1/namespaces/";
	char ns[128] = "", name[256] = "";
	const char *rest;
	cJSON *ev;
	char rvbuf[16];

	if (s->fail_count > 0) {
		s->fail_count--;
		fes_status(conn, s->fail_status, "InternalError", "injected failure");
		return;
	}
	if (strncmp(url, prefix, sizeof(prefix) - 1) != 0) {
		fes_status(conn, 404, "NotFound", "no such path");
		return;
	}
	rest = url + sizeof(prefix) - 1;
	if (sscanf(rest, "%127[^/]/events/%255s", ns, name) < 1 ||
	    strncmp(rest + strlen(ns), "/events", 7) != 0) {
		fes_status(conn, 404, "NotFound", "no such path");
		return;
	}
	if (strcmp(method, "POST") == 0 && !name[0]) {
		const char *n = cJSON_GetStringValue(
			cJSON_GetObjectItem(cJSON_GetObjectItem(body, "metadata"), "name"));

		if (!n) {
			fes_status(conn, 422, "Invalid", "metadata.name required");
			return;
		}
		if (cJSON_GetObjectItem(s->events, n)) {
			fes_status(conn, 409, "AlreadyExists", "event exists");
			return;
		}
		ev = cJSON_Duplicate(body, 1);
		snprintf(rvbuf, sizeof(rvbuf), "%d", ++s->rv);
		cJSON_AddStringToObject(cJSON_GetObjectItem(ev, "metadata"), "resourceVersion",
					rvbuf);
		cJSON_AddItemToObject(s->events, n, ev);
		fes_json(conn, 201, ev);
		return;
	}
	if (strcmp(method, "PATCH") == 0 && name[0]) {
		cJSON *field;

		ev = cJSON_GetObjectItem(s->events, name);
		if (!ev) {
			fes_status(conn, 404, "NotFound", "event not found");
			return;
		}
		cJSON_ArrayForEach(field, body)
			cJSON_ReplaceItemInObject(ev, field->string, cJSON_Duplicate(field, 1));
		fes_json(conn, 200, ev);
		return;
	}
	fes_status(conn, 405, "MethodNotAllowed", "unsupported");
}

static enum MHD_Result fes_handler(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version,
				   const char *upload_data, size_t *upload_data_size,
				   void **con_cls)
{
	struct fes *s = cls;
	struct fes_conn *c = *con_cls;
	struct fes_request *r;
	const char *ct;
	cJSON *body;

	if (!c) {
		*con_cls = calloc(1, sizeof(struct fes_conn));
		return *con_cls ? MHD_YES : MHD_NO;
	}
	if (*upload_data_size) {
		c->body = realloc(c->body, c->len + *upload_data_size + 1);
		memcpy(c->body + c->len, upload_data, *upload_data_size);
		c->len += *upload_data_size;
		c->body[c->len] = '\0';
		*upload_data_size = 0;
		return MHD_YES;
	}
	body = c->body ? cJSON_Parse(c->body) : NULL;
	ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
	pthread_mutex_lock(&s->mu);
	if (s->hold) {
		s->held++;
		pthread_cond_broadcast(&s->cv);
		while (s->hold)
			pthread_cond_wait(&s->cv, &s->mu);
		s->held--;
	}
	if (s->nreq < FES_MAX_REQ) {
		r = &s->req[s->nreq++];
		snprintf(r->method, sizeof(r->method), "%s", method);
		snprintf(r->path, sizeof(r->path), "%s", url);
		snprintf(r->content_type, sizeof(r->content_type), "%s", ct ? ct : "");
		r->body = body ? cJSON_Duplicate(body, 1) : NULL;
	}
	fes_serve_locked(s, conn, method, url, body);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	cJSON_Delete(body);
	return MHD_YES;
}

static void fes_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			  enum MHD_RequestTerminationCode toe)
{
	struct fes_conn *c = *con_cls;

	if (c) {
		free(c->body);
		free(c);
		*con_cls = NULL;
	}
}

/* Starts on an ephemeral loopback port; returns NULL on failure. */
static struct fes *fes_start(void)
{
	struct fes *s = calloc(1, sizeof(*s));
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *info;

	if (!s)
		return NULL;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->events = cJSON_CreateObject();
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(0x7f000001);
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
					MHD_USE_ITC,
				0, NULL, NULL, fes_handler, s, MHD_OPTION_SOCK_ADDR, &sa,
				MHD_OPTION_NOTIFY_COMPLETED, fes_completed, s, MHD_OPTION_END);
	if (!s->d) {
		cJSON_Delete(s->events);
		free(s);
		return NULL;
	}
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : 0;
	return s;
}

static void fes_stop(struct fes *s)
{
	int i;

	pthread_mutex_lock(&s->mu);
	s->hold = false;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	MHD_stop_daemon(s->d);
	for (i = 0; i < s->nreq; i++)
		cJSON_Delete(s->req[i].body);
	cJSON_Delete(s->events);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Blocks until at least n requests are parked by hold. */
static void fes_wait_held(struct fes *s, int n)
{
	pthread_mutex_lock(&s->mu);
	while (s->held < n)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
}

static void fes_set_hold(struct fes *s, bool hold)
{
	pthread_mutex_lock(&s->mu);
	s->hold = hold;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void fes_fail_next(struct fes *s, int status, int count)
{
	pthread_mutex_lock(&s->mu);
	s->fail_status = status;
	s->fail_count = count;
	pthread_mutex_unlock(&s->mu);
}

static int fes_count(struct fes *s)
{
	int n;

	pthread_mutex_lock(&s->mu);
	n = s->nreq;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* Forgets a stored Event (as if it expired on the server). */
static void fes_delete_event(struct fes *s, const char *name)
{
	pthread_mutex_lock(&s->mu);
	cJSON_DeleteItemFromObject(s->events, name);
	pthread_mutex_unlock(&s->mu);
}

#endif
