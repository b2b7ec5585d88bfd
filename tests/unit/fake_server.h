/* A scriptable HTTP(S) server for client tests (libmicrohttpd, header-only: every test file is
 * its own executable). Tests queue responses, run client code, then inspect recorded requests. */
#ifndef FAKE_SERVER_H
#define FAKE_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#define FAKE_MAX_REQS 256
#define FAKE_MAX_SCRIPT 64
#define FAKE_MAX_CHUNKS 16

struct fake_req {
	char method[16];
	char path[512];
	char query[1024];   /* reassembled "k=v&k=v" from MHD's decoded arguments, in order */
	char content_type[128];
	char auth[512];
	char user_agent[128];
	char *body;         /* NUL-terminated; owned by the server */
	size_t body_len;
};

/* One scripted response. With chunks, the body is streamed chunk by chunk (chunked encoding);
 * with hold, the stream then stays open until the client goes away or the server stops. */
struct fake_resp {
	int status;
	const char *body;          /* borrowed; must outlive the request */
	const char *retry_after;   /* Retry-After header value or NULL */
	const char *pl_uid;        /* X-Kubernetes-PF-PriorityLevel-UID header value or NULL */
	const char *chunks[FAKE_MAX_CHUNKS];
	int nchunks;
	bool hold;
};

struct fake_server {
	struct MHD_Daemon *d;
	unsigned short port;
	char url[64];
	pthread_mutex_t mu;
	struct fake_req reqs[FAKE_MAX_REQS];
	int nreqs;
	struct fake_resp script[FAKE_MAX_SCRIPT];
	int nscript, next;
	struct fake_resp fallback; /* used when the script is exhausted */
	atomic_bool stopping;
	atomic_int holding; /* streams currently held open */
	atomic_int connections; /* TCP connections accepted so far (connection reuse tests) */
};

struct fake_conn {
	char *body;
	size_t len;
};

struct fake_stream {
	struct fake_server *fs;
	struct fake_resp resp;
	int idx;
	size_t off;
};

static ssize_t fake_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct fake_stream *st = cls;
	const char *chunk;
	size_t n;

	(void)pos;
	if (st->idx < st->resp.nchunks) {
		chunk = st->resp.chunks[st->idx];
		n = strlen(chunk) - st->off;
		if (n > max)
			n = max;
		memcpy(buf, chunk + st->off, n);
		st->off += n;
		if (st->off == strlen(chunk)) {
			st->idx++;
			st->off = 0;
		}
		return (ssize_t)n;
	}
	if (!st->resp.hold)
		return MHD_CONTENT_READER_END_OF_STREAM;
	/* Hold the stream open (thread-per-connection mode lets us block here). A zero-length
	 * chunk would end the chunked body, so we just wait until told to stop. */
	atomic_fetch_add(&st->fs->holding, 1);
	for (int i = 0; i < 2000 && !atomic_load(&st->fs->stopping); i++) {
		struct timespec ts = { 0, 5 * 1000000L };

		nanosleep(&ts, NULL);
	}
	atomic_fetch_sub(&st->fs->holding, 1);
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void fake_stream_free(void *cls)
{
	free(cls);
}

static enum MHD_Result fake_collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
					const char *value)
{
	struct fake_req *r = cls;
	size_t n = strlen(r->query);

	(void)kind;
	snprintf(r->query + n, sizeof(r->query) - n, "%s%s=%s", n > 0 ? "&" : "", key,
		 value != NULL ? value : "");
	return MHD_YES;
}

static enum MHD_Result fake_handler(void *cls, struct MHD_Connection *conn, const char *url,
				    const char *method, const char *version,
				    const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct fake_server *fs = cls;
	struct fake_conn *fc = *con_cls;
	struct fake_resp resp;
	struct fake_req *r = NULL;
	struct MHD_Response *mr;
	const char *h;
	enum MHD_Result ret;

	(void)version;
	if (fc == NULL) {
		fc = calloc(1, sizeof(*fc));
		if (fc == NULL)
			return MHD_NO;
		*con_cls = fc;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		char *nb = realloc(fc->body, fc->len + *upload_size + 1);

		if (nb == NULL)
			return MHD_NO;
		fc->body = nb;
		memcpy(fc->body + fc->len, upload_data, *upload_size);
		fc->len += *upload_size;
		fc->body[fc->len] = '\0';
		*upload_size = 0;
		return MHD_YES;
	}
	pthread_mutex_lock(&fs->mu);
	if (fs->nreqs < FAKE_MAX_REQS) {
		r = &fs->reqs[fs->nreqs++];
		memset(r, 0, sizeof(*r));
		snprintf(r->method, sizeof(r->method), "%s", method);
		snprintf(r->path, sizeof(r->path), "%s", url);
		MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, fake_collect_arg, r);
		h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
		snprintf(r->content_type, sizeof(r->content_type), "%s", h != NULL ? h : "");
		h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
		snprintf(r->auth, sizeof(r->auth), "%s", h != NULL ? h : "");
		h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");
		snprintf(r->user_agent, sizeof(r->user_agent), "%s", h != NULL ? h : "");
		r->body = fc->body != NULL ? fc->body : strdup("");
		r->body_len = fc->len;
		fc->body = NULL;
	}
	resp = fs->next < fs->nscript ? fs->script[fs->next++] : fs->fallback;
	pthread_mutex_unlock(&fs->mu);

	if (resp.nchunks > 0 || resp.hold) {
		struct fake_stream *st = calloc(1, sizeof(*st));

		if (st == NULL)
			return MHD_NO;
		st->fs = fs;
		st->resp = resp;
		mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, fake_stream_read, st,
						       fake_stream_free);
	} else {
		const char *body = resp.body != NULL ? resp.body : "";

		mr = MHD_create_response_from_buffer(strlen(body), (void *)body,
						     MHD_RESPMEM_MUST_COPY);
	}
	if (mr == NULL)
		return MHD_NO;
	MHD_add_response_header(mr, "Content-Type", "application/json");
	if (resp.retry_after != NULL)
		MHD_add_response_header(mr, "Retry-After", resp.retry_after);
	if (resp.pl_uid != NULL)
		MHD_add_response_header(mr, "X-Kubernetes-PF-PriorityLevel-UID", resp.pl_uid);
	ret = MHD_queue_response(conn, (unsigned)resp.status, mr);
	MHD_destroy_response(mr);
	return ret;
}

static void fake_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			   enum MHD_RequestTerminationCode toe)
{
	struct fake_conn *fc = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (fc != NULL) {
		free(fc->body);
		free(fc);
		*con_cls = NULL;
	}
}

static void fake_notify_conn(void *cls, struct MHD_Connection *conn, void **socket_context,
			     enum MHD_ConnectionNotificationCode toe)
{
	struct fake_server *fs = cls;

	(void)conn;
	(void)socket_context;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&fs->connections, 1);
}

/* Starts on an ephemeral 127.0.0.1 port; with cert_pem/key_pem (both or neither), over TLS.
 * Returns 0 or -1. */
static int fake_server_start_tls(struct fake_server *fs, const char *cert_pem,
				 const char *key_pem)
{
	const union MHD_DaemonInfo *info;
	/* No MHD_USE_ERROR_LOG: the TLS test's refused handshake would print noise. */
	unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;

	memset(fs, 0, sizeof(*fs));
	pthread_mutex_init(&fs->mu, NULL);
	fs->fallback.status = 500;
	fs->fallback.body = "{\"kind\":\"Status\",\"code\":500,\"message\":\"fake: no script\"}";
	if (cert_pem != NULL) {
		flags |= MHD_USE_TLS;
		fs->d = MHD_start_daemon(flags, 0, NULL, NULL, fake_handler, fs,
					 MHD_OPTION_NOTIFY_COMPLETED, fake_completed, fs,
					 MHD_OPTION_NOTIFY_CONNECTION, fake_notify_conn, fs,
					 MHD_OPTION_HTTPS_MEM_CERT, cert_pem,
					 MHD_OPTION_HTTPS_MEM_KEY, key_pem, MHD_OPTION_END);
	} else {
		fs->d = MHD_start_daemon(flags, 0, NULL, NULL, fake_handler, fs,
					 MHD_OPTION_NOTIFY_COMPLETED, fake_completed, fs,
					 MHD_OPTION_NOTIFY_CONNECTION, fake_notify_conn, fs,
					 MHD_OPTION_END);
	}
	if (fs->d == NULL)
		return -1;
	info = MHD_get_daemon_info(fs->d, MHD_DAEMON_INFO_BIND_PORT);
	if (info == NULL)
		return -1;
	fs->port = info->port;
	snprintf(fs->url, sizeof(fs->url), "%s://127.0.0.1:%u", cert_pem != NULL ? "https" : "http",
		 fs->port);
	return 0;
}

static int fake_server_start(struct fake_server *fs)
{
	return fake_server_start_tls(fs, NULL, NULL);
}

/* Queues a plain response. Call before the client request (not thread-safe against it). */
static void fake_push(struct fake_server *fs, int status, const char *body)
{
	struct fake_resp r = { 0 };

	r.status = status;
	r.body = body;
	pthread_mutex_lock(&fs->mu);
	if (fs->nscript < FAKE_MAX_SCRIPT)
		fs->script[fs->nscript++] = r;
	pthread_mutex_unlock(&fs->mu);
}

static void fake_push_resp(struct fake_server *fs, const struct fake_resp *r)
{
	pthread_mutex_lock(&fs->mu);
	if (fs->nscript < FAKE_MAX_SCRIPT)
		fs->script[fs->nscript++] = *r;
	pthread_mutex_unlock(&fs->mu);
}

static int fake_nreqs(struct fake_server *fs)
{
	int n;

	pthread_mutex_lock(&fs->mu);
	n = fs->nreqs;
	pthread_mutex_unlock(&fs->mu);
	return n;
}

/* Forgets recorded requests and the script. */
static void fake_reset(struct fake_server *fs)
{
	pthread_mutex_lock(&fs->mu);
	for (int i = 0; i < fs->nreqs; i++)
		free(fs->reqs[i].body);
	fs->nreqs = 0;
	fs->nscript = 0;
	fs->next = 0;
	pthread_mutex_unlock(&fs->mu);
}

static void fake_server_stop(struct fake_server *fs)
{
	atomic_store(&fs->stopping, true);
	if (fs->d != NULL)
		MHD_stop_daemon(fs->d);
	fs->d = NULL;
	fake_reset(fs);
	pthread_mutex_destroy(&fs->mu);
}

#endif
