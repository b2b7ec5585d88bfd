/* phoenix-contract-service: a small HTTP service implementing the Phoenix service contract
 * (GET /health, /capabilities, /state, /dependencies; POST /message), configured from its
 * environment, for the samples, the demo and the traffic benchmark.
 *
 * Environment: SERVICE_NAME (else POD_NAME, HOSTNAME, "contract-service"), POD_IP (bind address,
 * default 127.0.0.1), PORT (default 8080; 0 = any free port), DEPENDENCIES ("name=url,...",
 * each probed with GET url/health), DEPENDENCY_TIMEOUT_MS (default 500), SHUTDOWN_DELAY_MS
 * (default 2000), DRAIN_TIMEOUT_MS (default 10000). A dependency URL whose host has no dot ("http://registry") is resolved as
 * Kubernetes' service links do: REGISTRY_SERVICE_HOST (and _PORT when the URL has no port), when
 * set; else the name is left to DNS. Prints "listening on IP:PORT" on stdout once serving. SIGTERM/SIGINT: a lame-duck
 * period first (SHUTDOWN_DELAY_MS: still serving, /health 503 "draining", so that the endpoint
 * leaves every load balancer before the port closes), then stop accepting, let requests in
 * flight finish (up to the drain timeout), exit 0. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <microhttpd.h>

#define MAX_BODY (64 * 1024)
#define MAX_DEPS 32

struct dep {
	char *name, *url;
};

struct svc {
	const char *name;
	char bind_ip[64];
	int port;
	struct dep deps[MAX_DEPS];
	int ndeps;
	long dep_timeout_ms, drain_timeout_ms, shutdown_delay_ms;
	int64_t started_ms;
	atomic_long requests, messages, rejected, in_flight, dep_probes;
	atomic_int draining;
	pthread_mutex_t mu; /* last message */
	char last_type[64];
	int64_t last_message_ms;
};

/* Per request: the body being uploaded. */
struct req {
	char *body;
	size_t len;
	int too_big;
};

static int64_t now_ms(int clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void time_rfc3339(int64_t wall_ms, char *buf, size_t len)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- Configuration ---- */

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || !end || *end || end == s || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int env_long(const char *var, long def, long min, long max, long *out)
{
	const char *v = getenv(var);

	*out = def;
	if (!v || !*v)
		return 0;
	if (parse_long(v, min, max, out) == 0)
		return 0;
	fprintf(stderr, "contract-service: %s=%s: want an integer in [%ld, %ld]\n", var, v, min, max);
	return -1;
}

/* url with a dotless host replaced by its service-link variables (NAME_SERVICE_HOST/_PORT), or a
 * copy of url. Caller frees; NULL on ENOMEM. */
static char *resolve_url(const char *url)
{
	const char *host = strstr(url, "://") + 3, *end = host + strcspn(host, ":/");
	char var[160], *out;
	const char *h, *p;
	size_t i, n = (size_t)(end - host);

	if (n == 0 || n > 100 || memchr(host, '.', n))
		return strdup(url);
	for (i = 0; i < n; i++) {
		char c = host[i];

		var[i] = c == '-' ? '_' : (char)(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
	}
	snprintf(var + n, sizeof(var) - n, "_SERVICE_HOST");
	h = getenv(var);
	if (!h || !*h)
		return strdup(url);
	snprintf(var + n, sizeof(var) - n, "_SERVICE_PORT");
	p = *end == ':' ? NULL : getenv(var);
	n = strlen(url) + strlen(h) + (p ? strlen(p) : 0) + 2;
	out = malloc(n);
	if (out)
		snprintf(out, n, "%.*s%s%s%s%s", (int)(host - url), url, h, p ? ":" : "",
			 p ? p : "", end);
	return out;
}

/* DEPENDENCIES="name=url,name2=url2": names non-empty, urls http:// or https://. */
static int parse_deps(struct svc *s, const char *spec)
{
	char *copy = strdup(spec ? spec : ""), *save = NULL, *tok;
	int rc = 0;

	if (!copy)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		while (*tok == ' ')
			tok++;
		if (!*tok)
			continue;
		if (!eq || eq == tok || (strncmp(eq + 1, "http://", 7) != 0 &&
					 strncmp(eq + 1, "https://", 8) != 0)) {
			fprintf(stderr,
				"contract-service: DEPENDENCIES: '%s' is not name=http://host:port\n",
				tok);
			rc = -1;
			break;
		}
		if (s->ndeps == MAX_DEPS) {
			fprintf(stderr, "contract-service: DEPENDENCIES: more than %d\n", MAX_DEPS);
			rc = -1;
			break;
		}
		*eq = '\0';
		s->deps[s->ndeps].name = strdup(tok);
		s->deps[s->ndeps].url = resolve_url(eq + 1);
		s->ndeps++;
	}
	free(copy);
	return rc;
}

static int configure(struct svc *s)
{
	const char *ip = getenv("POD_IP");
	long port;
	struct in_addr a;

	s->name = getenv("SERVICE_NAME");
	if (!s->name || !*s->name)
		s->name = getenv("POD_NAME");
	if (!s->name || !*s->name)
		s->name = getenv("HOSTNAME");
	if (!s->name || !*s->name)
		s->name = "contract-service";
	snprintf(s->bind_ip, sizeof(s->bind_ip), "%s", ip && *ip ? ip : "127.0.0.1");
	if (inet_pton(AF_INET, s->bind_ip, &a) != 1) {
		fprintf(stderr, "contract-service: POD_IP=%s: want an IPv4 address\n", s->bind_ip);
		return -1;
	}
	if (env_long("PORT", 8080, 0, 65535, &port) ||
	    env_long("DEPENDENCY_TIMEOUT_MS", 500, 1, 60000, &s->dep_timeout_ms) ||
	    env_long("DRAIN_TIMEOUT_MS", 10000, 0, 600000, &s->drain_timeout_ms) ||
	    env_long("SHUTDOWN_DELAY_MS", 2000, 0, 600000, &s->shutdown_delay_ms))
		return -1;
	s->port = (int)port;
	return parse_deps(s, getenv("DEPENDENCIES"));
}

/* ---- Handlers ---- */

static enum MHD_Result send_json(struct svc *s, struct MHD_Connection *conn, unsigned code,
				 cJSON *o)
{
	char *txt = cJSON_PrintUnformatted(o);
	struct MHD_Response *r;
	enum MHD_Result ret;

	cJSON_Delete(o);
	if (!txt)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(txt), txt, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(txt);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "application/json");
	if (atomic_load(&s->draining))
		MHD_add_response_header(r, "Connection", "close");
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static cJSON *error_json(const char *reason, const char *message)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "error", reason);
	cJSON_AddStringToObject(o, "message", message);
	return o;
}

static cJSON *health(struct svc *s)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "status", atomic_load(&s->draining) ? "draining" : "active");
	cJSON_AddStringToObject(o, "service", s->name);
	cJSON_AddNumberToObject(o, "uptimeSeconds",
				(double)(now_ms(CLOCK_MONOTONIC) - s->started_ms) / 1000.0);
	return o;
}

static cJSON *capabilities(struct svc *s)
{
	static const char *const features[] = {"health", "capabilities", "state", "dependencies",
					       "message"};
	cJSON *o = cJSON_CreateObject(), *f = cJSON_AddArrayToObject(o, "features");
	cJSON *d;
	size_t i;

	cJSON_AddStringToObject(o, "service", s->name);
	for (i = 0; i < sizeof(features) / sizeof(features[0]); i++)
		cJSON_AddItemToArray(f, cJSON_CreateString(features[i]));
	d = cJSON_AddArrayToObject(o, "dependencies");
	for (i = 0; i < (size_t)s->ndeps; i++)
		cJSON_AddItemToArray(d, cJSON_CreateString(s->deps[i].name));
	return o;
}

static cJSON *state(struct svc *s)
{
	cJSON *o = cJSON_CreateObject();
	char buf[40];

	cJSON_AddStringToObject(o, "service", s->name);
	cJSON_AddNumberToObject(o, "requests", (double)atomic_load(&s->requests));
	cJSON_AddNumberToObject(o, "messagesAccepted", (double)atomic_load(&s->messages));
	cJSON_AddNumberToObject(o, "messagesRejected", (double)atomic_load(&s->rejected));
	cJSON_AddNumberToObject(o, "dependencyProbes", (double)atomic_load(&s->dep_probes));
	cJSON_AddNumberToObject(o, "inFlight", (double)atomic_load(&s->in_flight));
	pthread_mutex_lock(&s->mu);
	if (s->last_message_ms) {
		time_rfc3339(s->last_message_ms, buf, sizeof(buf));
		cJSON_AddStringToObject(o, "lastMessageAt", buf);
		if (s->last_type[0])
			cJSON_AddStringToObject(o, "lastMessageType", s->last_type);
	}
	pthread_mutex_unlock(&s->mu);
	return o;
}

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return sz * n;
}

/* GET url/health with the timeout: {"name","url","status":"active"|"unhealthy"|"unreachable",
 * "httpStatus","latencyMs","error"}. */
static cJSON *probe(struct svc *s, const struct dep *d)
{
	cJSON *o = cJSON_CreateObject();
	CURL *h = curl_easy_init();
	char url[1024], err[CURL_ERROR_SIZE] = "";
	size_t ul = strlen(d->url);
	long code = 0;
	int64_t t0 = now_ms(CLOCK_MONOTONIC);
	CURLcode rc = CURLE_FAILED_INIT;

	atomic_fetch_add(&s->dep_probes, 1);
	snprintf(url, sizeof(url), "%s%s", d->url,
		 ul >= 7 && strcmp(d->url + ul - 7, "/health") == 0 ? ""
		 : ul && d->url[ul - 1] == '/'                     ? "health"
								   : "/health");
	cJSON_AddStringToObject(o, "name", d->name);
	cJSON_AddStringToObject(o, "url", d->url);
	if (h) {
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, s->dep_timeout_ms);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
		rc = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_cleanup(h);
	}
	cJSON_AddStringToObject(o, "status", rc != CURLE_OK ? "unreachable"
					     : code == 200  ? "active"
							    : "unhealthy");
	if (code)
		cJSON_AddNumberToObject(o, "httpStatus", (double)code);
	cJSON_AddNumberToObject(o, "latencyMs", (double)(now_ms(CLOCK_MONOTONIC) - t0));
	if (rc != CURLE_OK)
		cJSON_AddStringToObject(o, "error", err[0] ? err : curl_easy_strerror(rc));
	return o;
}

static cJSON *dependencies(struct svc *s)
{
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "dependencies");
	int i, healthy = 1;

	cJSON_AddStringToObject(o, "service", s->name);
	for (i = 0; i < s->ndeps; i++) {
		cJSON *p = probe(s, &s->deps[i]);
		const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(p, "status"));

		healthy = healthy && st && strcmp(st, "active") == 0;
		cJSON_AddItemToArray(arr, p);
	}
	cJSON_AddBoolToObject(o, "allHealthy", healthy);
	return o;
}

/* POST /message: a JSON object; its optional "type" is remembered. */
static enum MHD_Result message(struct svc *s, struct MHD_Connection *conn, const struct req *rq)
{
	cJSON *msg, *o;
	const char *type;
	long id;

	if (rq->too_big) {
		atomic_fetch_add(&s->rejected, 1);
		return send_json(s, conn, 413, error_json("TooLarge", "the message exceeds 64 KiB"));
	}
	msg = rq->body ? cJSON_ParseWithLength(rq->body, rq->len) : NULL;
	if (!cJSON_IsObject(msg)) {
		cJSON_Delete(msg);
		atomic_fetch_add(&s->rejected, 1);
		return send_json(s, conn, 400,
				 error_json("BadRequest", "the body must be a JSON object"));
	}
	type = cJSON_GetStringValue(cJSON_GetObjectItem(msg, "type"));
	pthread_mutex_lock(&s->mu);
	snprintf(s->last_type, sizeof(s->last_type), "%s", type ? type : "");
	s->last_message_ms = now_ms(CLOCK_REALTIME);
	pthread_mutex_unlock(&s->mu);
	cJSON_Delete(msg);
	id = atomic_fetch_add(&s->messages, 1) + 1;
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "accepted", 1);
	cJSON_AddNumberToObject(o, "id", (double)id);
	cJSON_AddStringToObject(o, "service", s->name);
	return send_json(s, conn, 200, o);
}

static enum MHD_Result route(struct svc *s, struct MHD_Connection *conn, const char *url,
			     const char *method, const struct req *rq)
{
	static const struct {
		const char *path;
		cJSON *(*get)(struct svc *s);
	} gets[] = {
		{"/health", health},
		{"/capabilities", capabilities},
		{"/state", state},
		{"/dependencies", dependencies},
	};
	size_t i;

	for (i = 0; i < sizeof(gets) / sizeof(gets[0]); i++) {
		if (strcmp(url, gets[i].path) != 0)
			continue;
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return send_json(s, conn, 405, error_json("MethodNotAllowed", "use GET"));
		/* Draining: readiness fails, everything else still answers. */
		return send_json(s, conn,
				 gets[i].get == health && atomic_load(&s->draining) ? 503 : 200,
				 gets[i].get(s));
	}
	if (strcmp(url, "/message") == 0) {
		if (strcmp(method, "POST") != 0)
			return send_json(s, conn, 405, error_json("MethodNotAllowed", "use POST"));
		return message(s, conn, rq);
	}
	return send_json(s, conn, 404, error_json("NotFound", url));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_size, void **con_cls)
{
	struct svc *s = cls;
	struct req *rq = *con_cls;

	(void)version;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
		atomic_fetch_add(&s->in_flight, 1);
		atomic_fetch_add(&s->requests, 1);
		return MHD_YES;
	}
	if (*data_size) {
		if (!rq->too_big && rq->len + *data_size <= MAX_BODY) {
			char *nb = realloc(rq->body, rq->len + *data_size + 1);

			if (!nb)
				return MHD_NO;
			rq->body = nb;
			memcpy(rq->body + rq->len, data, *data_size);
			rq->len += *data_size;
			rq->body[rq->len] = '\0';
		} else {
			rq->too_big = 1;
		}
		*data_size = 0;
		return MHD_YES;
	}
	return route(s, conn, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct svc *s = cls;
	struct req *rq = *con_cls;

	(void)conn;
	(void)toe;
	if (!rq)
		return;
	free(rq->body);
	free(rq);
	*con_cls = NULL;
	atomic_fetch_sub(&s->in_flight, 1);
}

/* ---- Main ---- */

static struct MHD_Daemon *start(struct svc *s)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;

	inet_pton(AF_INET, s->bind_ip, &sa.sin_addr);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
				     MHD_USE_ITC | MHD_USE_ERROR_LOG,
			     0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &sa,
			     MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_LISTENING_ADDRESS_REUSE,
			     1, MHD_OPTION_END);
	if (!d)
		return NULL;
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (info)
		s->port = info->port;
	return d;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Graceful stop: the lame-duck period (a second signal cuts it short), then no new connections
 * and the requests in flight finish (up to the drain timeout). */
static void drain(struct svc *s, struct MHD_Daemon *d, const sigset_t *set)
{
	struct timespec delay = {s->shutdown_delay_ms / 1000, (s->shutdown_delay_ms % 1000) * 1000000L};
	MHD_socket lfd;
	int64_t deadline;

	atomic_store(&s->draining, 1);
	fprintf(stderr, "contract-service: %s draining: still serving for %ld ms\n", s->name,
		s->shutdown_delay_ms);
	if (s->shutdown_delay_ms > 0)
		sigtimedwait(set, NULL, &delay);
	deadline = now_ms(CLOCK_MONOTONIC) + s->drain_timeout_ms;
	lfd = MHD_quiesce_daemon(d);
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);
	while (atomic_load(&s->in_flight) > 0 && now_ms(CLOCK_MONOTONIC) < deadline)
		sleep_ms(10);
	fprintf(stderr, "contract-service: %s stopping, %ld request(s) still in flight\n", s->name,
		atomic_load(&s->in_flight));
	MHD_stop_daemon(d);
}

int main(int argc, char **argv)
{
	static struct svc s;
	struct MHD_Daemon *d;
	sigset_t set;
	int sig = 0, i, rc = 2;

	if (argc > 1) {
		fprintf(argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr,
			"usage: phoenix-contract-service (configured by SERVICE_NAME, POD_IP, PORT, "
			"DEPENDENCIES=name=url,..., DEPENDENCY_TIMEOUT_MS, SHUTDOWN_DELAY_MS, "
			"DRAIN_TIMEOUT_MS)\n");
		return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
	}
	pthread_mutex_init(&s.mu, NULL);
	if (configure(&s) != 0)
		goto out;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	s.started_ms = now_ms(CLOCK_MONOTONIC);
	d = start(&s);
	rc = 1;
	if (!d) {
		fprintf(stderr, "contract-service: cannot listen on %s:%d: %s\n", s.bind_ip, s.port,
			strerror(errno));
		goto out_curl;
	}
	printf("listening on %s:%d\n", s.bind_ip, s.port);
	fflush(stdout);
	fprintf(stderr, "contract-service: %s serving on %s:%d with %d dependencies\n", s.name,
		s.bind_ip, s.port, s.ndeps);
	sigwait(&set, &sig);
	drain(&s, d, &set);
	rc = 0;
out_curl:
	curl_global_cleanup();
out:
	for (i = 0; i < s.ndeps; i++) {
		free(s.deps[i].name);
		free(s.deps[i].url);
	}
	pthread_mutex_destroy(&s.mu);
	return rc;
}
