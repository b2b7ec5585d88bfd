/* Unit tests for the HTTP server, driven over real sockets with libcurl: probes, metrics, extra
 * handlers, method and size limits, bind addresses, and a prompt stop. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_server.h"
#include "kube_config.h"
#include "kube_error.h"
#include "kube_httpd.h"
#include "kube_httpd_auth.h"
#include "kube_log.h"
#include "kube_metrics.h"
#include "kube_rest.h"

struct fixture {
	struct kube_metrics *m;
	struct kube_httpd *h;
	int port;
};

struct reply {
	long status;
	char *body;
	size_t len;
	char ctype[128];
	char allow[64];
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct reply *r = ud;
	char *b = realloc(r->body, r->len + size * n + 1);

	if (!b)
		return 0;
	memcpy(b + r->len, p, size * n);
	r->body = b;
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct reply *r = ud;
	size_t len = size * n;

	if (len > 6 && strncasecmp(p, "Allow:", 6) == 0)
		snprintf(r->allow, sizeof(r->allow), "%.*s", (int)strcspn(p + 7, "\r\n"), p + 7);
	return len;
}

/* One request on a fresh or given handle; returns a reply with a NUL-terminated body. */
static struct reply http_on(CURL *c, int port, const char *method, const char *path,
			    const char *body, size_t body_len)
{
	struct reply r = {0};
	char url[512];
	char *ct = NULL;
	CURLcode rc;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	/* After HTTPGET, which resets it. */
	curl_easy_setopt(c, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
	if (strcmp(method, "HEAD") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST,
				 strcmp(method, "GET") == 0 && !body ? NULL : method);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		r.status = -1;
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
		curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
		if (ct)
			snprintf(r.ctype, sizeof(r.ctype), "%s", ct);
	}
	if (!r.body)
		r.body = calloc(1, 1);
	return r;
}

static struct reply http(int port, const char *method, const char *path, const char *body)
{
	CURL *c = curl_easy_init();
	struct reply r;

	assert_non_null(c);
	r = http_on(c, port, method, path, body, body ? strlen(body) : 0);
	curl_easy_cleanup(c);
	return r;
}

static void expect(int port, const char *method, const char *path, long status,
		   const char *body)
{
	struct reply r = http(port, method, path, NULL);

	if (r.status != status || (body && strcmp(r.body, body) != 0))
		fail_msg("%s %s: got %ld '%s', want %ld '%s'", method, path, r.status, r.body,
			 status, body ? body : "(any)");
	free(r.body);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->m = kube_metrics_new();
	if (!f->m || kube_httpd_new("127.0.0.1:0", f->m, &f->h) != 0 || kube_httpd_start(f->h) != 0)
		return -1;
	f->port = kube_httpd_port(f->h);
	if (f->port <= 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kube_httpd_free(f->h);
	kube_metrics_free(f->m);
	free(f);
	return 0;
}

static int failing_check(void *data, char *why, size_t why_size)
{
	snprintf(why, why_size, "%s", (const char *)data);
	return 1;
}

static int passing_check(void *data, char *why, size_t why_size)
{
	return 0;
}

static void httpd__healthz(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	expect(f->port, "GET", "/healthz", 200, "ok");
	assert_int_equal(kube_httpd_add_healthz(f->h, "ping", passing_check, NULL), 0);
	assert_int_equal(kube_httpd_add_healthz(f->h, "ping", passing_check, NULL),
			 KUBE_EALREADYEXISTS);
	expect(f->port, "GET", "/healthz?verbose", 200, "[+]ping ok\nhealthz check passed\n");
	assert_int_equal(kube_httpd_add_healthz(f->h, "deadlock", failing_check, "worker stuck"), 0);
	expect(f->port, "GET", "/healthz", 500,
	       "[+]ping ok\n[-]deadlock failed: worker stuck\nhealthz check failed\n");
	expect(f->port, "GET", "/healthz/ping", 200, "ok");
	expect(f->port, "GET", "/healthz/deadlock", 500,
	       "[-]deadlock failed: worker stuck\nhealthz check failed\n");
	expect(f->port, "GET", "/healthz/nope", 404, NULL);
	r = http(f->port, "HEAD", "/healthz/ping", NULL);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 0);
	free(r.body);
}

static void httpd__readyz_flips(void **state)
{
	struct fixture *f = *state;

	expect(f->port, "GET", "/readyz", 200, "ok"); /* no checks yet */
	assert_int_equal(kube_httpd_set_ready(f->h, "informers-synced", 0), 0);
	expect(f->port, "GET", "/readyz", 503,
	       "[-]informers-synced failed: not ready yet\nreadyz check failed\n");
	assert_int_equal(kube_httpd_set_ready(f->h, "informers-synced", 1), 0);
	expect(f->port, "GET", "/readyz", 200, "ok");
	expect(f->port, "GET", "/readyz?verbose", 200,
	       "[+]informers-synced ok\nreadyz check passed\n");
	expect(f->port, "GET", "/readyz/informers-synced", 200, "ok");
	/* A function check beside the flag; the flag name cannot be re-registered as one. */
	assert_int_equal(kube_httpd_add_readyz(f->h, "leader", passing_check, NULL), 0);
	assert_int_equal(kube_httpd_set_ready(f->h, "leader", 1), KUBE_EALREADYEXISTS);
	assert_int_equal(kube_httpd_add_readyz(f->h, "informers-synced", passing_check, NULL),
			 KUBE_EALREADYEXISTS);
	expect(f->port, "GET", "/readyz?verbose=1", 200,
	       "[+]informers-synced ok\n[+]leader ok\nreadyz check passed\n");
	assert_int_equal(kube_httpd_set_ready(f->h, "informers-synced", 0), 0);
	expect(f->port, "GET", "/readyz", 503,
	       "[-]informers-synced failed: not ready yet\n[+]leader ok\nreadyz check failed\n");
	/* Names are validated. */
	assert_int_equal(kube_httpd_set_ready(f->h, "Bad Name", 1), KUBE_EINVAL);
	assert_int_equal(kube_httpd_add_readyz(f->h, "x", NULL, NULL), KUBE_EINVAL);
}

static void httpd__metrics(void **state)
{
	struct fixture *f = *state;
	static const char *const labels[] = {"code", NULL};
	struct kube_metric *c = kube_metric_register(f->m, KUBE_COUNTER, "demo_requests_total",
						     "Demo.", labels, NULL, 0);
	struct reply r;

	kube_metric_add(c, (const char *[]){"200"}, 41);
	kube_metric_inc(c, (const char *[]){"200"});
	r = http(f->port, "GET", "/metrics", NULL);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
	assert_non_null(strstr(r.body, "# TYPE demo_requests_total counter\n"
				       "demo_requests_total{code=\"200\"} 42\n"));
	free(r.body);
}

/* Echoes what it saw as JSON; 201 so the test knows the handler's status went through. */
static int echo_handler(void *data, const struct kube_http_request *req,
			struct kube_http_response *resp)
{
	const char *name = kube_http_request_query(req, "name");
	const char *flag = kube_http_request_query(req, "flag");
	const char *hdr = kube_http_request_header(req, "x-test");
	size_t len;
	const char *body = kube_http_request_body(req, &len);
	char out[1024];
	int n;

	(*(int *)data)++;
	n = snprintf(out, sizeof(out), "{\"method\":\"%s\",\"path\":\"%s\",\"name\":\"%s\","
			 "\"flag\":\"%s\",\"hdr\":\"%s\",\"body\":\"%s\",\"len\":%zu}",
		     kube_http_request_method(req), kube_http_request_path(req),
		     name ? name : "(null)", flag ? flag : "(null)", hdr ? hdr : "(null)", body,
		     len);
	return kube_http_response_set(resp, 201, "application/json", out, (size_t)n);
}

static int failing_handler(void *data, const struct kube_http_request *req,
			   struct kube_http_response *resp)
{
	/* A body set before failing must not leak. */
	kube_http_response_set(resp, 200, NULL, "partial", 7);
	return KUBE_EIO;
}

static int bad_status_handler(void *data, const struct kube_http_request *req,
			      struct kube_http_response *resp)
{
	resp->status = 42;
	return 0;
}

static int post_only_handler(void *data, const struct kube_http_request *req,
			     struct kube_http_response *resp)
{
	if (strcmp(kube_http_request_method(req), "POST") != 0)
		return kube_http_response_set(resp, 405, "text/plain", "POST only", 9);
	return 0;
}

static void httpd__default_registry(void **state)
{
	struct kube_httpd *h = NULL;
	struct kube_metric *c;
	struct reply r;

	(void)state;
	assert_int_equal(kube_httpd_new("127.0.0.1:0", NULL, &h), 0);
	assert_int_equal(kube_httpd_start(h), 0);
	c = kube_metric_register(kube_metrics_default(), KUBE_GAUGE, "default_gauge", "g", NULL,
				 NULL, 0);
	kube_metric_set(c, NULL, 2.5);
	r = http(kube_httpd_port(h), "GET", "/metrics", NULL);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "\ndefault_gauge 2.5\n"));
	free(r.body);
	kube_httpd_free(h);
	kube_metrics_default_reset();
}

static void httpd__custom_handler_query_and_body(void **state)
{
	struct fixture *f = *state;
	CURL *c = curl_easy_init();
	struct curl_slist *hdrs = curl_slist_append(NULL, "X-Test: yes");
	int calls = 0;
	struct reply r;

	assert_int_equal(kube_httpd_handle(f->h, "/dashboard/", echo_handler, &calls), 0);
	assert_int_equal(kube_httpd_handle(f->h, "/dashboard/", echo_handler, &calls),
			 KUBE_EALREADYEXISTS);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	r = http_on(c, f->port, "POST", "/dashboard/api?name=a%20b&flag", "{\"x\":1}", 7);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.ctype, "application/json");
	assert_string_equal(r.body, "{\"method\":\"POST\",\"path\":\"/dashboard/api\",\"name\":\"a b\","
				    "\"flag\":\"\",\"hdr\":\"yes\",\"body\":\"{\"x\":1}\",\"len\":7}");
	free(r.body);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	assert_int_equal(calls, 1);

	r = http(f->port, "GET", "/dashboard", NULL);
	assert_int_equal(r.status, 201);
	assert_non_null(strstr(r.body, "\"name\":\"(null)\""));
	assert_non_null(strstr(r.body, "\"len\":0"));
	free(r.body);
	assert_int_equal(calls, 2);
}

static void httpd__routing_table(void **state)
{
	struct fixture *f = *state;
	int exact = 0, prefix = 0, deeper = 0;
	static const struct {
		const char *path;
		long status;
		int exact, prefix, deeper;
	} cases[] = {
		{"/exact", 201, 1, 0, 0},
		{"/exact/x", 404, 0, 0, 0},
		{"/exactly", 404, 0, 0, 0},
		{"/p", 201, 0, 1, 0},
		{"/p/", 201, 0, 1, 0},
		{"/p/a", 201, 0, 1, 0},
		{"/p/deep", 201, 0, 0, 1},
		{"/p/deep/er", 201, 0, 0, 1},
		{"/px", 404, 0, 0, 0},
		{"/", 404, 0, 0, 0},
		{"/nothing", 404, 0, 0, 0},
	};
	size_t i;

	assert_int_equal(kube_httpd_handle(f->h, "/exact", echo_handler, &exact), 0);
	assert_int_equal(kube_httpd_handle(f->h, "/p/", echo_handler, &prefix), 0);
	assert_int_equal(kube_httpd_handle(f->h, "/p/deep/", echo_handler, &deeper), 0);
	/* Built-ins cannot be shadowed; paths must be absolute. */
	assert_int_equal(kube_httpd_handle(f->h, "/metrics", echo_handler, NULL), KUBE_EINVAL);
	assert_int_equal(kube_httpd_handle(f->h, "/readyz/x", echo_handler, NULL), KUBE_EINVAL);
	assert_int_equal(kube_httpd_handle(f->h, "rel", echo_handler, NULL), KUBE_EINVAL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int e = exact, p = prefix, d = deeper;
		struct reply r = http(f->port, "GET", cases[i].path, NULL);

		if (r.status != cases[i].status || exact - e != cases[i].exact ||
		    prefix - p != cases[i].prefix || deeper - d != cases[i].deeper)
			fail_msg("%s: status %ld, calls %d/%d/%d", cases[i].path, r.status,
				 exact - e, prefix - p, deeper - d);
		free(r.body);
	}
}

static void httpd__errors(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	char *big;

	expect(f->port, "GET", "/unknown", 404, "404 page not found\n");
	r = http(f->port, "POST", "/healthz", "x");
	assert_int_equal(r.status, 405);
	assert_string_equal(r.allow, "GET, HEAD");
	free(r.body);
	r = http(f->port, "DELETE", "/metrics", NULL);
	assert_int_equal(r.status, 405);
	free(r.body);
	r = http(f->port, "PUT", "/readyz", "x");
	assert_int_equal(r.status, 405);
	free(r.body);

	/* A handler's own 405 is not given the built-ins' Allow header. */
	assert_int_equal(kube_httpd_handle(f->h, "/post-only", post_only_handler, NULL), 0);
	r = http(f->port, "GET", "/post-only", NULL);
	assert_int_equal(r.status, 405);
	assert_string_equal(r.allow, "");
	free(r.body);
	assert_int_equal(kube_httpd_handle(f->h, "/bad-status", bad_status_handler, NULL), 0);
	expect(f->port, "GET", "/bad-status", 500, "invalid status");
	assert_int_equal(kube_httpd_handle(f->h, "/fail", failing_handler, NULL), 0);
	r = http(f->port, "GET", "/fail", NULL);
	assert_int_equal(r.status, 500);
	assert_string_equal(r.body, kube_strerror(KUBE_EIO));
	free(r.body);

	big = malloc(1024 * 1024 + 2);
	assert_non_null(big);
	memset(big, 'a', 1024 * 1024 + 1);
	big[1024 * 1024 + 1] = '\0';
	assert_int_equal(kube_httpd_handle(f->h, "/upload", echo_handler, &(int){0}), 0);
	r = http(f->port, "POST", "/upload", big);
	assert_int_equal(r.status, 413);
	free(r.body);
	free(big);
}

static void httpd__bind_addresses(void **state)
{
	static const struct {
		const char *addr;
		int rc;
	} cases[] = {
		{"127.0.0.1:0", 0}, {":0", 0},          {"[::1]:0", 0},       {"localhost:0", 0},
		{"0", 0},           {"", 0},            {"8080", KUBE_EINVAL}, {"::1:80", KUBE_EINVAL},
		{"1.2.3.4:99999", KUBE_EINVAL},         {"1.2.3.4:x", KUBE_EINVAL},
		{"1.2.3.4:", KUBE_EINVAL},
	};
	struct kube_httpd *h;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		h = NULL;
		rc = kube_httpd_new(cases[i].addr, NULL, &h);
		if (rc != cases[i].rc)
			fail_msg("'%s': rc %d, want %d", cases[i].addr, rc, cases[i].rc);
		if (rc == 0) {
			int disabled = !cases[i].addr[0] || strcmp(cases[i].addr, "0") == 0;

			/* IPv6 may be missing in a container: only loopback v4 must start. */
			rc = kube_httpd_start(h);
			if (strcmp(cases[i].addr, "[::1]:0") != 0 && rc != 0)
				fail_msg("'%s': start %d", cases[i].addr, rc);
			if (rc == 0 && disabled != (kube_httpd_port(h) == 0))
				fail_msg("'%s': port %d", cases[i].addr, kube_httpd_port(h));
			/* Only v4 literals and all-interfaces are surely reachable at 127.0.0.1. */
			if (rc == 0 && !disabled && (cases[i].addr[0] == '1' || cases[i].addr[0] == ':'))
				expect(kube_httpd_port(h), "GET", "/healthz", 200, "ok");
			kube_httpd_free(h);
		} else {
			assert_null(h);
		}
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads what the library logged to fd (from the start of the file). */
static const char *logged(int fd)
{
	static char buf[8192];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void httpd__port_in_use(void **state)
{
	struct fixture *f = *state;
	struct kube_httpd *h = NULL;
	char addr[64], path[] = "/tmp/test_httpd_logXXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", f->port);
	assert_int_equal(kube_httpd_new(addr, NULL, &h), 0);
	kube_log_set_fd(fd);
	assert_int_equal(kube_httpd_start(h), KUBE_EIO);
	kube_log_set_fd(2);
	assert_int_equal(kube_httpd_port(h), 0);
	/* The log says why, not just that it failed. */
	assert_non_null(strstr(logged(fd), "cannot listen"));
	assert_non_null(strstr(logged(fd), "Address already in use"));
	close(fd);
	kube_httpd_free(h);
}

static struct kube_httpd *start_opts(struct kube_httpd_opts *o, struct kube_metrics *m)
{
	struct kube_httpd *h = NULL;

	o->bind_addr = "127.0.0.1:0";
	o->metrics = m;
	assert_int_equal(kube_httpd_new_opts(o, &h), 0);
	assert_int_equal(kube_httpd_start(h), 0);
	assert_true(kube_httpd_port(h) > 0);
	return h;
}

static int hello(void *data, const struct kube_http_request *req,
		 struct kube_http_response *resp)
{
	(void)data;
	(void)req;
	return kube_http_response_set(resp, 200, "text/plain", "hi", 2);
}

/* A probe port answers probes only, a metrics port /metrics (and its handlers) only: neither
 * shows what belongs to the other. */
static void httpd__each_port_serves_only_its_paths(void **state)
{
	struct fixture *f = *state;
	struct kube_httpd_opts po = {.serves = KUBE_HTTPD_PROBES};
	struct kube_httpd_opts mo = {.serves = KUBE_HTTPD_METRICS};
	struct kube_httpd *probes = start_opts(&po, f->m), *metrics = start_opts(&mo, f->m);
	int pp = kube_httpd_port(probes), mp = kube_httpd_port(metrics);

	assert_int_equal(kube_httpd_handle(metrics, "/dashboard", hello, NULL), 0);
	expect(pp, "GET", "/healthz", 200, "ok");
	expect(pp, "GET", "/readyz", 200, "ok");
	expect(pp, "GET", "/metrics", 404, NULL);
	expect(pp, "GET", "/dashboard", 404, NULL);
	expect(mp, "GET", "/metrics", 200, NULL);
	expect(mp, "GET", "/dashboard", 200, "hi");
	expect(mp, "GET", "/healthz", 404, NULL);
	expect(mp, "GET", "/readyz", 404, NULL);
	expect(mp, "GET", "/readyz/x", 404, NULL);
	kube_httpd_free(probes);
	kube_httpd_free(metrics);
	/* "0" really serves nothing, and says so. */
	assert_int_equal(kube_httpd_new("0", NULL, &probes), 0);
	assert_true(kube_httpd_disabled(probes));
	assert_int_equal(kube_httpd_start(probes), 0);
	assert_int_equal(kube_httpd_port(probes), 0);
	kube_httpd_free(probes);
	assert_false(kube_httpd_disabled(f->h));
}

/* Idle connections (a flood, or a slowloris that never finishes its request) hold no thread:
 * with 200 of them open, /healthz still answers at once. */
static void httpd__probe_survives_idle_connection_flood(void **state)
{
	struct fixture *f = *state;
	struct kube_httpd_opts po = {.serves = KUBE_HTTPD_PROBES};
	struct kube_httpd *h = start_opts(&po, f->m);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fds[200], n = 0;
	double t0, took;

	sa.sin_port = htons((unsigned short)kube_httpd_port(h));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (n = 0; n < 200; n++) {
		fds[n] = socket(AF_INET, SOCK_STREAM, 0);
		assert_true(fds[n] >= 0);
		assert_int_equal(connect(fds[n], (struct sockaddr *)&sa, sizeof(sa)), 0);
		if (n % 2 == 0) /* half of them start a request and never finish it */
			assert_true(write(fds[n], "GET /healthz HTTP/1.1\r\n", 24) == 24);
	}
	t0 = now_s();
	expect(kube_httpd_port(h), "GET", "/healthz", 200, "ok");
	took = now_s() - t0;
	print_message("/healthz with 200 idle connections open: %.1f ms\n", took * 1e3);
	assert_true(took < 2.0);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	kube_httpd_free(h);
}

static int token_auth(void *data, const struct kube_http_request *req, char *why, size_t len)
{
	const char *h = kube_http_request_header(req, "Authorization");

	(void)data;
	if (!h)
		return 401;
	if (strcmp(h, "Bearer good") != 0) {
		snprintf(why, len, "no: %s", h);
		return 403;
	}
	return 0;
}

static long get_with_token(int port, const char *path, const char *token)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	char line[128];
	struct reply r;

	if (token) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", token);
		hdrs = curl_slist_append(hdrs, line);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	}
	r = http_on(c, port, "GET", path, NULL, 0);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	free(r.body);
	return r.status;
}

/* The auth hook guards /metrics and every extra handler; probes never ask it. */
static void httpd__auth_guards_metrics_and_handlers_not_probes(void **state)
{
	struct fixture *f = *state;
	struct kube_httpd_opts o = {.auth = token_auth};
	struct kube_httpd *h = start_opts(&o, f->m);
	int p = kube_httpd_port(h);

	assert_int_equal(kube_httpd_handle(h, "/dashboard", hello, NULL), 0);
	assert_int_equal(get_with_token(p, "/metrics", NULL), 401);
	assert_int_equal(get_with_token(p, "/metrics", "bad"), 403);
	assert_int_equal(get_with_token(p, "/metrics", "good"), 200);
	assert_int_equal(get_with_token(p, "/dashboard", NULL), 401);
	assert_int_equal(get_with_token(p, "/dashboard", "good"), 200);
	assert_int_equal(get_with_token(p, "/healthz", NULL), 200);
	assert_int_equal(get_with_token(p, "/readyz", NULL), 200);
	kube_httpd_free(h);
}

/* --- kube_httpd_auth: TokenReview + SubjectAccessReview against a scripted API server ------ */

#define TR_OK "{\"kind\":\"TokenReview\",\"status\":{\"authenticated\":true,\"user\":" \
	      "{\"username\":\"system:serviceaccount:mon:prom\",\"groups\":[\"g1\"]}}}"
#define TR_NO "{\"kind\":\"TokenReview\",\"status\":{\"authenticated\":false," \
	      "\"error\":\"invalid bearer token\"}}"
#define SAR(allowed) "{\"kind\":\"SubjectAccessReview\",\"status\":{\"allowed\":" allowed "}}"

static void httpd__kube_auth_reviews_and_caches(void **state)
{
	struct fixture *f = *state;
	struct kube_client_opts co = {.qps = -1, .max_retries = -1};
	struct fake_server fs;
	struct kube_config cfg;
	struct kube_client *c = NULL;
	struct kube_httpd_auth *a = NULL;
	struct kube_httpd_auth_stats st;
	struct kube_httpd *h;
	struct kube_httpd_opts o = {.auth = kube_httpd_auth_check};
	int p;

	assert_int_equal(fake_server_start(&fs), 0);
	assert_int_equal(kube_config_init_server(&cfg, fs.url), 0);
	assert_int_equal(kube_client_new(&cfg, &co, &c), 0);
	assert_int_equal(kube_httpd_auth_new(c, 60000, &a), 0);
	o.auth_data = a;
	h = start_opts(&o, f->m);
	p = kube_httpd_port(h);

	/* Allowed: one TokenReview, one SubjectAccessReview for get /metrics with the user. */
	fake_push(&fs, 201, TR_OK);
	fake_push(&fs, 201, SAR("true"));
	assert_int_equal(get_with_token(p, "/metrics", "tok-a"), 200);
	assert_int_equal(fake_nreqs(&fs), 2);
	assert_string_equal(fs.reqs[0].path, "/apis/authentication.k8s.io/v1/tokenreviews");
	assert_non_null(strstr(fs.reqs[0].body, "\"token\":\"tok-a\""));
	assert_string_equal(fs.reqs[1].path, "/apis/authorization.k8s.io/v1/subjectaccessreviews");
	assert_non_null(strstr(fs.reqs[1].body, "\"user\":\"system:serviceaccount:mon:prom\""));
	assert_non_null(strstr(fs.reqs[1].body, "\"groups\":[\"g1\"]"));
	assert_non_null(strstr(fs.reqs[1].body, "\"path\":\"/metrics\""));
	assert_non_null(strstr(fs.reqs[1].body, "\"verb\":\"get\""));
	/* Cached: the next scrape asks nobody. */
	assert_int_equal(get_with_token(p, "/metrics", "tok-a"), 200);
	assert_int_equal(fake_nreqs(&fs), 2);
	/* No token: 401 without asking; an unknown token: 401; a user without RBAC: 403. */
	assert_int_equal(get_with_token(p, "/metrics", NULL), 401);
	fake_push(&fs, 201, TR_NO);
	assert_int_equal(get_with_token(p, "/metrics", "tok-b"), 401);
	fake_push(&fs, 201, TR_OK);
	fake_push(&fs, 201, SAR("false"));
	assert_int_equal(get_with_token(p, "/metrics", "tok-c"), 403);
	assert_int_equal(fake_nreqs(&fs), 5);
	/* The API server failing: refused (fail closed) and not cached. */
	struct fake_resp down = {.status = 500, .body = "{}"};
	fake_push_resp(&fs, &down);
	assert_int_equal(get_with_token(p, "/metrics", "tok-d"), 403);
	fake_push(&fs, 201, TR_OK);
	fake_push(&fs, 201, SAR("true"));
	assert_int_equal(get_with_token(p, "/metrics", "tok-d"), 200);
	kube_httpd_auth_stats(a, &st);
	assert_int_equal(st.token_reviews, 5);
	assert_int_equal(st.access_reviews, 3);
	assert_int_equal(st.cache_hits, 1);

	/* A subresource is sent in resourceAttributes, and "pods/log" is cached apart from
	 * "pods": allowed for the one says nothing about the other. */
	char why[256];
	char *grp[] = {"g1"};
	struct kube_httpd_user u = {.name = "alice", .uid = "u1", .groups = grp, .ngroups = 1};
	struct kube_httpd_access pods = {.verb = "get", .group = "", .resource = "pods",
					 .namespace = "ns1"};
	struct kube_httpd_access logs = pods;
	int n0 = fake_nreqs(&fs);

	logs.subresource = "log";
	fake_push(&fs, 201, SAR("true"));
	assert_int_equal(kube_httpd_auth_can(a, &u, &pods, why, sizeof(why)), 0);
	assert_null(strstr(fs.reqs[n0].body, "subresource"));
	fake_push(&fs, 201, SAR("false"));
	assert_int_equal(kube_httpd_auth_can(a, &u, &logs, why, sizeof(why)), 403);
	assert_non_null(strstr(fs.reqs[n0 + 1].body, "\"subresource\":\"log\""));
	assert_non_null(strstr(fs.reqs[n0 + 1].body, "\"resource\":\"pods\""));
	assert_non_null(strstr(why, "pods/log"));
	assert_int_equal(kube_httpd_auth_can(a, &u, &logs, why, sizeof(why)), 403); /* cached */
	assert_int_equal(fake_nreqs(&fs), n0 + 2);
	kube_httpd_free(h);
	kube_httpd_auth_free(a);
	kube_client_free(c);
	kube_config_release(&cfg);
	fake_server_stop(&fs);
}

static void httpd__stop_is_prompt_with_open_connection(void **state)
{
	struct fixture *f = *state;
	CURL *c = curl_easy_init();
	struct reply r;
	double t0, took;
	int port = f->port;

	/* A keep-alive connection stays open in the server after this request. */
	r = http_on(c, port, "GET", "/healthz", NULL, 0);
	assert_int_equal(r.status, 200);
	free(r.body);
	t0 = now_s();
	kube_httpd_stop(f->h);
	took = now_s() - t0;
	print_message("stop with an open keep-alive connection took %.2f ms\n", took * 1e3);
	if (took > 1.0)
		fail_msg("stop took %.3f s", took);
	assert_int_equal(kube_httpd_port(f->h), 0);
	kube_httpd_stop(f->h); /* idempotent */
	r = http_on(c, port, "GET", "/healthz", NULL, 0);
	assert_int_equal(r.status, -1);
	free(r.body);
	curl_easy_cleanup(c);
	/* It can start again (on a new ephemeral port). */
	assert_int_equal(kube_httpd_start(f->h), 0);
	expect(kube_httpd_port(f->h), "GET", "/healthz", 200, "ok");
}

struct client_arg {
	int port;
	int ok;
};

static void *client(void *p)
{
	struct client_arg *a = p;
	CURL *c = curl_easy_init();
	int i;

	for (i = 0; i < 50 && c; i++) {
		struct reply r = http_on(c, a->port, "GET", i % 2 ? "/metrics" : "/readyz", NULL, 0);

		a->ok += r.status == 200;
		free(r.body);
	}
	curl_easy_cleanup(c);
	return NULL;
}

static void httpd__concurrent_clients_and_registration(void **state)
{
	struct fixture *f = *state;
	struct client_arg args[6];
	pthread_t t[6];
	char name[32];
	int i;

	for (i = 0; i < 6; i++) {
		args[i].port = f->port;
		args[i].ok = 0;
		assert_int_equal(pthread_create(&t[i], NULL, client, &args[i]), 0);
	}
	/* Registrations race with requests; every check added passes, so all answers are 200. */
	for (i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		assert_int_equal(kube_httpd_set_ready(f->h, name, 1), 0);
	}
	for (i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(args[i].ok, 50);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(httpd__healthz, setup, teardown),
		cmocka_unit_test_setup_teardown(httpd__readyz_flips, setup, teardown),
		cmocka_unit_test_setup_teardown(httpd__metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(httpd__custom_handler_query_and_body, setup, teardown),
		cmocka_unit_test_setup_teardown(httpd__routing_table, setup, teardown),
		cmocka_unit_test_setup_teardown(httpd__errors, setup, teardown),
		cmocka_unit_test(httpd__bind_addresses),
		cmocka_unit_test(httpd__default_registry),
		cmocka_unit_test_setup_teardown(httpd__port_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(httpd__each_port_serves_only_its_paths, setup,
						teardown),
		cmocka_unit_test_setup_teardown(httpd__probe_survives_idle_connection_flood, setup,
						teardown),
		cmocka_unit_test_setup_teardown(httpd__auth_guards_metrics_and_handlers_not_probes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(httpd__kube_auth_reviews_and_caches, setup,
						teardown),
		cmocka_unit_test_setup_teardown(httpd__stop_is_prompt_with_open_connection, setup,
						teardown),
		cmocka_unit_test_setup_teardown(httpd__concurrent_clients_and_registration, setup,
						teardown),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	kube_metrics_default_reset();
	return rc;
}
