/* phx_loadgen: an open-loop HTTP load generator that records when each failure happened.
 *
 * usage: phx_loadgen --url URL [--rate N] [--duration S] [--timeout-ms MS] [--max-in-flight N]
 *                    [--keepalive] [--post JSON] [--out FILE] [--quiet]
 * Sends --rate requests per second (default 100) on schedule (request i at start + i/rate,
 * whatever the previous ones do: no coordinated omission) for --duration seconds (0 = until
 * SIGINT/SIGTERM), each on a fresh connection unless --keepalive (a Service proxy balances
 * connections, so fresh ones see a failover at once). A failure is a transport error (refused,
 * reset, timeout after --timeout-ms, default 2000) or a status outside 2xx; a request due while
 * --max-in-flight (default 256) are pending fails as "saturated". Prints one JSON report on
 * stdout (and to --out): sent, ok, failed, errors by kind, latency p50/p99/max of the answered
 * requests, the longest run of consecutive failures, and every failure (up to 100,000) with its
 * time. Exit 0 when the run completed (failures or not), 2 on bad arguments. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#define MAX_FAILURES 100000

struct opts {
	const char *url, *post, *out;
	double rate;
	double duration_s;
	long timeout_ms, max_in_flight;
	int keepalive, quiet;
};

struct result {
	double latency_ms; /* < 0: failed */
};

struct failure {
	int64_t at_ms;   /* since the start, at the request's scheduled time */
	int64_t wall_ms; /* wall clock when it was scheduled */
	double after_ms; /* how long it took to fail */
	char error[64];
};

struct run {
	struct opts o;
	int64_t t0_mono, t0_wall;
	struct result *res;
	size_t nres, cap;
	struct failure *fails;
	size_t nfails;
	long in_flight;
	cJSON *kinds;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int64_t now_ms(int clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double now_ms_f(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return sz * n;
}

/* Grows the per-request table to hold seq; 0 or -1 on ENOMEM. */
static int reserve(struct run *r, size_t seq)
{
	struct result *nv;
	size_t cap;

	if (seq < r->cap)
		return 0;
	cap = r->cap ? r->cap * 2 : 4096;
	while (cap <= seq)
		cap *= 2;
	nv = realloc(r->res, cap * sizeof(*nv));
	if (!nv)
		return -1;
	r->res = nv;
	r->cap = cap;
	return 0;
}

static void record_failure(struct run *r, size_t seq, double after_ms, const char *kind)
{
	cJSON *k = cJSON_GetObjectItemCaseSensitive(r->kinds, kind);
	int64_t at = (int64_t)((double)seq * 1000.0 / r->o.rate);

	r->res[seq].latency_ms = -1;
	if (k)
		cJSON_SetNumberValue(k, k->valuedouble + 1);
	else
		cJSON_AddNumberToObject(r->kinds, kind, 1);
	if (r->nfails < MAX_FAILURES) {
		struct failure *f = &r->fails[r->nfails++];

		f->at_ms = at;
		f->wall_ms = r->t0_wall + at;
		f->after_ms = after_ms;
		snprintf(f->error, sizeof(f->error), "%s", kind);
	}
}

struct req {
	size_t seq;
	double sent_ms;
	struct curl_slist *hdrs;
};

static const char *error_kind(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		return "refused";
	case CURLE_OPERATION_TIMEDOUT:
		return "timeout";
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		return "reset";
	case CURLE_GOT_NOTHING:
		return "empty-reply";
	default:
		return curl_easy_strerror(rc);
	}
}

static void finish(struct run *r, CURLM *m, CURL *h, CURLcode rc)
{
	struct req *q = NULL;
	long code = 0;
	double took;
	char kind[32];

	curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&q);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	took = now_ms_f() - q->sent_ms;
	if (rc != CURLE_OK) {
		record_failure(r, q->seq, took, error_kind(rc));
	} else if (code < 200 || code > 299) {
		snprintf(kind, sizeof(kind), "http-%ld", code);
		record_failure(r, q->seq, took, kind);
	} else {
		r->res[q->seq].latency_ms = took;
	}
	curl_multi_remove_handle(m, h);
	curl_slist_free_all(q->hdrs);
	curl_easy_cleanup(h);
	free(q);
	r->in_flight--;
}

static int send_one(struct run *r, CURLM *m, size_t seq)
{
	struct req *q;
	CURL *h;

	if (reserve(r, seq) != 0)
		return -1;
	r->nres = seq + 1;
	r->res[seq].latency_ms = 0;
	if (r->in_flight >= r->o.max_in_flight) {
		record_failure(r, seq, 0, "saturated");
		return 0;
	}
	q = calloc(1, sizeof(*q));
	h = curl_easy_init();
	if (!q || !h) {
		free(q);
		curl_easy_cleanup(h);
		return -1;
	}
	q->seq = seq;
	q->sent_ms = now_ms_f();
	curl_easy_setopt(h, CURLOPT_URL, r->o.url);
	curl_easy_setopt(h, CURLOPT_PRIVATE, q);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, r->o.timeout_ms);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	if (!r->o.keepalive) {
		curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
	}
	if (r->o.post) {
		q->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, q->hdrs);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->o.post);
	}
	curl_multi_add_handle(m, h);
	r->in_flight++;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

static cJSON *report(struct run *r)
{
	cJSON *o = cJSON_CreateObject(), *lat = cJSON_CreateObject(), *run = cJSON_CreateObject();
	cJSON *fl = cJSON_CreateArray();
	double *ok = malloc((r->nres + 1) * sizeof(*ok));
	size_t i, nok = 0, cur = 0, best = 0, best_start = 0, cur_start = 0;

	for (i = 0; i < r->nres; i++) {
		if (r->res[i].latency_ms >= 0) {
			if (ok)
				ok[nok] = r->res[i].latency_ms;
			nok++;
			cur = 0;
			continue;
		}
		if (cur == 0)
			cur_start = i;
		cur++;
		if (cur > best) {
			best = cur;
			best_start = cur_start;
		}
	}
	if (ok)
		qsort(ok, nok, sizeof(*ok), cmp_double);
	cJSON_AddStringToObject(o, "url", r->o.url);
	cJSON_AddNumberToObject(o, "rate", r->o.rate);
	cJSON_AddNumberToObject(o, "durationMs", (double)(now_ms(CLOCK_MONOTONIC) - r->t0_mono));
	cJSON_AddBoolToObject(o, "keepalive", r->o.keepalive);
	cJSON_AddNumberToObject(o, "sent", (double)r->nres);
	cJSON_AddNumberToObject(o, "ok", (double)nok);
	cJSON_AddNumberToObject(o, "failed", (double)(r->nres - nok));
	cJSON_AddItemToObject(o, "errors", r->kinds);
	r->kinds = NULL;
	cJSON_AddNumberToObject(lat, "p50", ok ? pct(ok, nok, 0.50) : 0);
	cJSON_AddNumberToObject(lat, "p99", ok ? pct(ok, nok, 0.99) : 0);
	cJSON_AddNumberToObject(lat, "max", ok && nok ? ok[nok - 1] : 0);
	cJSON_AddItemToObject(o, "latencyMs", lat);
	cJSON_AddNumberToObject(run, "count", (double)best);
	if (best) {
		cJSON_AddNumberToObject(run, "startMs", (double)best_start * 1000.0 / r->o.rate);
		cJSON_AddNumberToObject(run, "spanMs", (double)(best - 1) * 1000.0 / r->o.rate);
	}
	cJSON_AddItemToObject(o, "longestFailureRun", run);
	for (i = 0; i < r->nfails; i++) {
		cJSON *f = cJSON_CreateObject();

		cJSON_AddNumberToObject(f, "atMs", (double)r->fails[i].at_ms);
		cJSON_AddNumberToObject(f, "wallMs", (double)r->fails[i].wall_ms);
		cJSON_AddNumberToObject(f, "afterMs", r->fails[i].after_ms);
		cJSON_AddStringToObject(f, "error", r->fails[i].error);
		cJSON_AddItemToArray(fl, f);
	}
	cJSON_AddItemToObject(o, "failures", fl);
	cJSON_AddBoolToObject(o, "failuresTruncated", r->nfails == MAX_FAILURES);
	free(ok);
	return o;
}

static void drain_done(struct run *r, CURLM *m)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(m, &left)) != NULL) {
		if (msg->msg == CURLMSG_DONE)
			finish(r, m, msg->easy_handle, msg->data.result);
	}
}

static int run_load(struct run *r)
{
	CURLM *m = curl_multi_init();
	size_t next = 0;
	int running = 0;

	if (!m)
		return -1;
	r->t0_mono = now_ms(CLOCK_MONOTONIC);
	r->t0_wall = now_ms(CLOCK_REALTIME);
	for (;;) {
		double elapsed = now_ms_f() - (double)r->t0_mono;
		/* Every request scheduled before the end is sent, however late the loop wakes. */
		int sending = !stop_flag && (r->o.duration_s <= 0 ||
					     (double)next * 1000.0 / r->o.rate <
						     r->o.duration_s * 1000.0);
		double due_ms;
		int wait_ms;

		while (sending && (double)next * 1000.0 / r->o.rate <= elapsed &&
		       (r->o.duration_s <= 0 ||
			(double)next * 1000.0 / r->o.rate < r->o.duration_s * 1000.0)) {
			if (send_one(r, m, next) != 0) {
				curl_multi_cleanup(m);
				return -1;
			}
			next++;
		}
		curl_multi_perform(m, &running);
		drain_done(r, m);
		if (!sending && r->in_flight == 0)
			break;
		due_ms = (double)next * 1000.0 / r->o.rate - (now_ms_f() - (double)r->t0_mono);
		wait_ms = sending ? (int)(due_ms < 0 ? 0 : due_ms < 50 ? due_ms : 50) : 50;
		curl_multi_poll(m, NULL, 0, wait_ms, NULL);
	}
	curl_multi_cleanup(m);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: phx_loadgen --url URL [--rate N] [--duration S] [--timeout-ms MS]\n"
		   "                   [--max-in-flight N] [--keepalive] [--post JSON] [--out FILE]\n"
		   "                   [--quiet]\n"
		   "  --duration 0 runs until SIGINT/SIGTERM. Prints a JSON report on stdout.\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"url", required_argument, NULL, 'u'},      {"rate", required_argument, NULL, 'r'},
		{"duration", required_argument, NULL, 'd'}, {"timeout-ms", required_argument, NULL, 't'},
		{"max-in-flight", required_argument, NULL, 'm'},
		{"keepalive", no_argument, NULL, 'k'},      {"post", required_argument, NULL, 'p'},
		{"out", required_argument, NULL, 'o'},      {"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
	};
	int c;
	char *end;

	*o = (struct opts){.rate = 100, .duration_s = 10, .timeout_ms = 2000, .max_in_flight = 256};
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		end = NULL;
		errno = 0;
		switch (c) {
		case 'u': o->url = optarg; break;
		case 'r': o->rate = strtod(optarg, &end); break;
		case 'd': o->duration_s = strtod(optarg, &end); break;
		case 't': o->timeout_ms = strtol(optarg, &end, 10); break;
		case 'm': o->max_in_flight = strtol(optarg, &end, 10); break;
		case 'k': o->keepalive = 1; break;
		case 'p': o->post = optarg; break;
		case 'o': o->out = optarg; break;
		case 'q': o->quiet = 1; break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
		if (end && (*end || errno)) {
			fprintf(stderr, "phx_loadgen: bad number '%s'\n", optarg);
			return -1;
		}
	}
	if (!o->url || optind != argc || o->rate <= 0 || o->rate > 100000 || o->duration_s < 0 ||
	    o->timeout_ms <= 0 || o->max_in_flight <= 0) {
		fprintf(stderr, "phx_loadgen: --url is required; rate in (0, 100000], duration >= 0, "
				"timeout and max-in-flight > 0\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct run r = {0};
	struct sigaction sa = {0};
	cJSON *rep;
	char *txt;
	int rc = 1;

	if (parse_args(argc, argv, &r.o) != 0) {
		usage(stderr);
		return 2;
	}
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	r.kinds = cJSON_CreateObject();
	r.fails = malloc(MAX_FAILURES * sizeof(*r.fails));
	if (!r.kinds || !r.fails || run_load(&r) != 0) {
		fprintf(stderr, "phx_loadgen: out of memory\n");
		goto out;
	}
	rep = report(&r);
	txt = rep ? cJSON_Print(rep) : NULL;
	if (txt) {
		if (!r.o.quiet)
			printf("%s\n", txt);
		if (r.o.out) {
			FILE *f = fopen(r.o.out, "w");

			if (!f || fprintf(f, "%s\n", txt) < 0 || fclose(f) != 0)
				fprintf(stderr, "phx_loadgen: cannot write %s\n", r.o.out);
		}
		rc = 0;
	}
	free(txt);
	cJSON_Delete(rep);
out:
	cJSON_Delete(r.kinds);
	free(r.fails);
	free(r.res);
	curl_global_cleanup();
	return rc;
}
