/* `phoenix-build verify` (see pb_verify.h). */
#include "pb_verify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "pb_report.h"

const char *const pb_verify_endpoints[PB_VERIFY_ENDPOINTS] = {
	"GET /health", "GET /capabilities", "GET /state", "GET /dependencies", "POST /message",
};

#define BODY_MAX (64 * 1024)

static bool is_obj(const cJSON *j)
{
	return cJSON_IsObject(j);
}

bool pb_verify_check(const char *path, long code, const char *body, char *why, size_t len)
{
	if (!path || !why || !len)
		return false;
	why[0] = '\0';
	bool post = !strcmp(path, "/message");
	if (code == 404 || code == 405) {
		snprintf(why, len, "HTTP %ld: the endpoint is missing (want %s)", code,
			 post ? "2xx and a JSON object" : "200 and a JSON body");
		return false;
	}
	if (post ? (code < 200 || code > 299) : code != 200) {
		snprintf(why, len, "HTTP %ld, want %s", code, post ? "2xx" : "200");
		return false;
	}
	cJSON *j = body ? cJSON_Parse(body) : NULL;
	bool ok = false;
	if (!j) {
		snprintf(why, len, "the body is not JSON");
	} else if (!strcmp(path, "/health")) {
		const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(j, "status"));
		ok = is_obj(j) && st && !strcmp(st, "active");
		if (!ok)
			snprintf(why, len, "status is %s%.32s%s, want \"active\"", st ? "\"" : "",
				 st ? st : "missing", st ? "\"" : "");
	} else if (!strcmp(path, "/capabilities")) {
		const cJSON *f = cJSON_GetObjectItem(j, "features");
		ok = is_obj(j) && (!f || cJSON_IsArray(f));
		if (!ok)
			snprintf(why, len, "want a JSON object (its features an array)");
	} else if (!strcmp(path, "/dependencies")) {
		ok = is_obj(j) || cJSON_IsArray(j);
		if (!ok)
			snprintf(why, len, "want a JSON object or array");
	} else {
		ok = is_obj(j);
		if (!ok)
			snprintf(why, len, "want a JSON object");
	}
	cJSON_Delete(j);
	return ok;
}

struct buf {
	char *p;
	size_t n;
};

static size_t on_body(char *d, size_t sz, size_t nm, void *ud)
{
	struct buf *b = ud;
	size_t add = sz * nm;
	if (b->n + add > BODY_MAX)
		return 0;
	char *np = realloc(b->p, b->n + add + 1);
	if (!np)
		return 0;
	memcpy(np + b->n, d, add);
	b->p = np;
	b->n += add;
	b->p[b->n] = '\0';
	return add;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One request; transport errors and 503 are retried until `deadline` (monotonic seconds). */
static long call(CURL *c, const char *base, const char *path, const char *connect_to,
		 double deadline, struct buf *b, char *err, size_t len)
{
	char url[2048];
	snprintf(url, sizeof(url), "%s%s", base, path);
	bool post = !strcmp(path, "/message");
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	struct curl_slist *ct = connect_to ? curl_slist_append(NULL, connect_to) : NULL;
	long code = 0;
	for (;;) {
		curl_easy_reset(c);
		free(b->p);
		b->p = NULL;
		b->n = 0;
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
		curl_easy_setopt(c, CURLOPT_PROXY, "");
		if (ct)
			curl_easy_setopt(c, CURLOPT_CONNECT_TO, ct);
		if (post) {
			curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, PB_VERIFY_MESSAGE);
		}
		CURLcode rc = curl_easy_perform(c);
		code = 0;
		if (rc == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		else
			snprintf(err, len, "%s", curl_easy_strerror(rc));
		if ((rc == CURLE_OK && code != 503) || now_s() >= deadline)
			break;
		struct timespec ts = {0, 250 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	curl_slist_free_all(hdr);
	curl_slist_free_all(ct);
	return code;
}

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);
	return v && *v ? v : dflt;
}

/* Whether path is among the comma-separated list (NULL: every endpoint). */
static bool wanted(const char *list, const char *path)
{
	if (!list)
		return true;
	size_t pl = strlen(path);
	for (const char *p = list; *p;) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == pl && !strncmp(p, path, n))
			return true;
		p += n + (e ? 1 : 0);
	}
	return false;
}

int pb_verify_main(int argc, char **argv)
{
	const char *url = env_or("PHOENIX_VERIFY_URL", NULL);
	const char *addr = env_or("PHOENIX_VERIFY_ADDRESS", NULL);
	const char *list = env_or("PHOENIX_VERIFY_ENDPOINTS", NULL);
	const char *tl = env_or("PHOENIX_TERMINATION_LOG", "/dev/termination-log");
	const char *tos = env_or("PHOENIX_VERIFY_TIMEOUT", "30");
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--url"))
			url = argv[i + 1];
		else if (!strcmp(argv[i], "--address"))
			addr = argv[i + 1];
		else if (!strcmp(argv[i], "--termination-log"))
			tl = argv[i + 1];
	}
	struct pb_report r = { .step = "verify", .result = "Failed", .reason = "InvalidSpec",
			       .exit_code = -1 };
	char *end = NULL;
	errno = 0;
	long to = strtol(tos, &end, 10);
	if (!url || strncmp(url, "http://", 7) || errno || *end || to < 0 || to > 3600) {
		r.message = !url || strncmp(url, "http://", 7)
				    ? "PHOENIX_VERIFY_URL must be the Service's http:// base URL"
				    : "PHOENIX_VERIFY_TIMEOUT must be 0..3600 seconds";
		pb_report_write(tl, &r, PB_REPORT_DEFAULT);
		return PB_EXIT_INVALID_INPUT;
	}
	char base[1024];
	snprintf(base, sizeof(base), "%s", url);
	size_t bl = strlen(base);
	while (bl > 7 && base[bl - 1] == '/')
		base[--bl] = '\0';
	char connect_to[128] = "";
	if (addr)
		snprintf(connect_to, sizeof(connect_to), "::%s:", addr);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *c = curl_easy_init();
	if (!c) {
		r.reason = "VerifyFailed";
		r.message = "cannot start libcurl";
		pb_report_write(tl, &r, PB_REPORT_DEFAULT);
		return PB_EXIT_STEP_FAILED;
	}
	double t0 = now_s(), deadline = t0 + (double)to;
	char msg[PB_REPORT_MAX], failed[512] = "";
	size_t ml = 0;
	int ok = 0, checked = 0;
	struct buf b = {0};
	for (int i = 0; i < PB_VERIFY_ENDPOINTS; i++) {
		const char *path = strchr(pb_verify_endpoints[i], ' ') + 1;
		if (!wanted(list, path))
			continue;
		checked++;
		char err[256] = "", why[256];
		double t1 = now_s();
		long code = call(c, base, path, addr ? connect_to : NULL, deadline, &b, err,
				 sizeof(err));
		bool pass = code > 0 && pb_verify_check(path, code, b.p, why, sizeof(why));
		if (code <= 0)
			snprintf(why, sizeof(why), "no answer: %.200s", err);
		printf("%-18s %s %ld %.0f ms%s%s\n", pb_verify_endpoints[i], pass ? "ok  " : "FAIL",
		       code, (now_s() - t1) * 1000, pass ? "" : ": ", pass ? "" : why);
		if (pass) {
			ok++;
		} else if (!failed[0]) {
			snprintf(failed, sizeof(failed), "%s: %s", pb_verify_endpoints[i], why);
		} else {
			size_t fl = strlen(failed);
			snprintf(failed + fl, sizeof(failed) - fl, "; %s", pb_verify_endpoints[i]);
		}
	}
	free(b.p);
	curl_easy_cleanup(c);
	curl_global_cleanup();
	ml = (size_t)snprintf(msg, sizeof(msg), "%s%s%d/%d contract endpoints answered as the "
			      "contract says through %s (%.0f ms)", failed, failed[0] ? "; " : "",
			      ok, checked, base, (now_s() - t0) * 1000);
	(void)ml;
	bool all = ok == checked;
	r.result = all ? "Succeeded" : "Failed";
	r.reason = all ? NULL : "VerifyFailed";
	r.message = msg;
	pb_report_write(tl, &r, PB_REPORT_DEFAULT);
	return all ? PB_EXIT_OK : PB_EXIT_STEP_FAILED;
}
