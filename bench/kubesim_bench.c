/* kubesim benchmark: small-write throughput over loopback (libcurl keep-alive, several threads
 * creating ConfigMaps), watch fan-out (N watchers must see every write, with the lag measured),
 * and the memory kubesim needs to hold 10,000 pods (VmRSS from /proc).
 *
 * usage: kubesim_bench [--kubesim PATH] [--threads N] [--seconds S] [--watchers N] [--pods N]
 * Starts its own kubesim (--http, on a free port) and stops it at the end. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

static char g_url[128];
static atomic_long g_writes, g_errors;
static atomic_int g_stop_writers;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return sz * n;
}

/* ---- kubesim process */

static pid_t start_kubesim(const char *bin, const char *dir)
{
	char kc[512], urlf[512];
	snprintf(kc, sizeof(kc), "%s/kubeconfig", dir);
	snprintf(urlf, sizeof(urlf), "%s/url", dir);
	pid_t pid = fork();
	if (pid == 0) {
		if (!freopen(urlf, "w", stdout))
			_exit(127);
		execl(bin, bin, "--listen", "127.0.0.1:0", "--http", "--kubeconfig-out", kc,
		      "--pod-ready-delay-ms", "50", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		FILE *f = fopen(urlf, "r");
		if (f) {
			if (fgets(g_url, sizeof(g_url), f)) {
				g_url[strcspn(g_url, "\n")] = '\0';
				fclose(f);
				if (*g_url)
					return pid;
			} else {
				fclose(f);
			}
		}
		usleep(20000);
	}
	kill(pid, SIGKILL);
	return -1;
}

/* CPU seconds (user + system) the process has used so far. */
static double cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* ---- writers */

struct writer {
	int id;
	const char *resource_path; /* e.g. "/api/v1/namespaces/default/configmaps" */
	int pods;                  /* create pods instead of configmaps */
	long limit;                /* stop after this many (0 = until g_stop_writers) */
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	CURL *c = curl_easy_init();
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	char url[256], body[1024];
	snprintf(url, sizeof(url), "%s%s", g_url, w->resource_path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	for (long i = 0; !atomic_load(&g_stop_writers) && (!w->limit || i < w->limit); i++) {
		if (w->pods)
			snprintf(body, sizeof(body),
				 "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":"
				 "\"p-%d-%ld\",\"labels\":{\"app\":\"bench\",\"shard\":\"%d\"}},"
				 "\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":"
				 "\"registry.example/app:1.0\",\"ports\":[{\"containerPort\":8080}],"
				 "\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":"
				 "\"64Mi\"}}}]}}",
				 w->id, i, w->id);
		else
			snprintf(body, sizeof(body),
				 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":"
				 "\"cm-%d-%ld\",\"labels\":{\"bench\":\"1\"}},\"data\":{\"key\":"
				 "\"value-%ld\"}}",
				 w->id, i, i);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		long code = 0;
		if (curl_easy_perform(c) == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		if (code == 201)
			atomic_fetch_add(&g_writes, 1);
		else
			atomic_fetch_add(&g_errors, 1);
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return NULL;
}

/* ---- watchers: count ADDED lines on a configmaps watch */

struct watcher {
	pthread_t th;
	atomic_long added;
	double last_event;
	char start_rv[32];
	CURL *c;
};

/* Every event is one line and this test only creates, so lines = ADDED events (counting the
 * "ADDED" text instead would miss the ones split across two reads). */
static size_t watch_data(char *p, size_t sz, size_t n, void *ud)
{
	struct watcher *w = ud;
	size_t len = sz * n;
	long lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += p[i] == '\n';
	if (lines) {
		atomic_fetch_add(&w->added, lines);
		w->last_event = now_s();
	}
	return len;
}

static int watch_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	(void)ud;
	(void)a;
	(void)b;
	(void)c;
	(void)d;
	return atomic_load(&g_stop_writers) == 2; /* abort the transfer at the end */
}

static void *watcher_main(void *arg)
{
	struct watcher *w = arg;
	char url[256];
	snprintf(url, sizeof(url),
		 "%s/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=%s"
		 "&timeoutSeconds=600",
		 g_url, w->start_rv);
	w->c = curl_easy_init();
	curl_easy_setopt(w->c, CURLOPT_URL, url);
	curl_easy_setopt(w->c, CURLOPT_WRITEFUNCTION, watch_data);
	curl_easy_setopt(w->c, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(w->c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(w->c, CURLOPT_XFERINFOFUNCTION, watch_progress);
	curl_easy_perform(w->c);
	curl_easy_cleanup(w->c);
	return NULL;
}

/* The current resourceVersion (from an empty list). */
static void current_rv(char *out, size_t len)
{
	char url[256];
	snprintf(url, sizeof(url), "%s/api/v1/namespaces/kube-public/configmaps", g_url);
	FILE *mem;
	char *buf = NULL;
	size_t blen = 0;
	mem = open_memstream(&buf, &blen);
	CURL *c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, mem);
	curl_easy_perform(c);
	curl_easy_cleanup(c);
	fclose(mem);
	const char *p = buf ? strstr(buf, "\"resourceVersion\":\"") : NULL;
	snprintf(out, len, "0");
	if (p) {
		p += 19;
		size_t n = strcspn(p, "\"");
		snprintf(out, len, "%.*s", (int)n, p);
	}
	free(buf);
}

int main(int argc, char **argv)
{
	const char *bin = getenv("KUBESIM");
	int threads = 4, seconds = 5, nwatchers = 10, pods = 10000;
	static const struct option opts[] = {{"kubesim", required_argument, NULL, 'k'},
					     {"threads", required_argument, NULL, 't'},
					     {"seconds", required_argument, NULL, 's'},
					     {"watchers", required_argument, NULL, 'w'},
					     {"pods", required_argument, NULL, 'p'},
					     {NULL, 0, NULL, 0}};
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			bin = optarg;
			break;
		case 't':
			threads = atoi(optarg);
			break;
		case 's':
			seconds = atoi(optarg);
			break;
		case 'w':
			nwatchers = atoi(optarg);
			break;
		case 'p':
			pods = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [--kubesim PATH] [--threads N] [--seconds S] "
					"[--watchers N] [--pods N]\n",
				argv[0]);
			return 2;
		}
	}
	if (!bin)
		bin = "build/bin/kubesim";
	char dir[] = "/tmp/kubesim-bench.XXXXXX";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	curl_global_init(CURL_GLOBAL_ALL);
	pid_t pid = start_kubesim(bin, dir);
	if (pid < 0) {
		fprintf(stderr, "cannot start %s\n", bin);
		return 1;
	}
	printf("kubesim %s (pid %d), %d writer threads, %d s, %d watchers\n", g_url, (int)pid,
	       threads, seconds, nwatchers);

	/* 1. writes with watchers attached */
	struct watcher *ws = calloc((size_t)(nwatchers ? nwatchers : 1), sizeof(*ws));
	char rv[32];
	current_rv(rv, sizeof(rv));
	for (int i = 0; i < nwatchers; i++) {
		snprintf(ws[i].start_rv, sizeof(ws[i].start_rv), "%s", rv);
		pthread_create(&ws[i].th, NULL, watcher_main, &ws[i]);
	}
	usleep(300000); /* let the watch streams open (their first bytes come with the first event) */
	pthread_t *th = calloc((size_t)threads, sizeof(*th));
	struct writer *wr = calloc((size_t)threads, sizeof(*wr));
	double t0 = now_s(), c0 = cpu_s(pid);
	for (int i = 0; i < threads; i++) {
		wr[i].id = i;
		wr[i].resource_path = "/api/v1/namespaces/default/configmaps";
		pthread_create(&th[i], NULL, writer_main, &wr[i]);
	}
	usleep((useconds_t)seconds * 1000000);
	atomic_store(&g_stop_writers, 1);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	double t1 = now_s();
	long writes = atomic_load(&g_writes);
	double c1 = cpu_s(pid);
	printf("writes: %ld ConfigMap creates in %.2f s = %.0f writes/s (%ld errors); kubesim used "
	       "%.1f us CPU per write (incl. fan-out to the watchers)\n",
	       writes, t1 - t0, (double)writes / (t1 - t0), atomic_load(&g_errors),
	       writes ? (c1 - c0) * 1e6 / (double)writes : 0.0);

	/* watchers must catch up: every one sees every create */
	double deadline = now_s() + 10;
	int behind = 1;
	while (behind && now_s() < deadline) {
		behind = 0;
		for (int i = 0; i < nwatchers; i++)
			if (atomic_load(&ws[i].added) < writes)
				behind = 1;
		if (behind)
			usleep(1000);
	}
	double lag_max = 0;
	long min_seen = writes;
	for (int i = 0; i < nwatchers; i++) {
		long a = atomic_load(&ws[i].added);
		if (a < min_seen)
			min_seen = a;
		double lag = ws[i].last_event - t1;
		if (lag > lag_max)
			lag_max = lag;
	}
	printf("watch fan-out: %d watchers, each saw >= %ld/%ld events; last event %.1f ms after "
	       "the last write returned%s\n",
	       nwatchers, min_seen, writes, lag_max * 1000 > 0 ? lag_max * 1000 : 0.0,
	       behind ? " (BEHIND)" : "");
	atomic_store(&g_stop_writers, 2);
	for (int i = 0; i < nwatchers; i++)
		pthread_join(ws[i].th, NULL);

	/* 2. memory for N pods (the simulated kubelet binds and starts them) */
	long rss0 = rss_kb(pid);
	if (pods <= 0)
		goto done;
	atomic_store(&g_stop_writers, 0);
	atomic_store(&g_writes, 0);
	atomic_store(&g_errors, 0);
	int pthreads = threads < 1 ? 1 : threads;
	double p0 = now_s();
	for (int i = 0; i < pthreads; i++) {
		wr[i].id = i;
		wr[i].pods = 1;
		wr[i].limit = pods / pthreads + (i < pods % pthreads);
		wr[i].resource_path = "/api/v1/namespaces/default/pods";
		pthread_create(&th[i], NULL, writer_main, &wr[i]);
	}
	for (int i = 0; i < pthreads; i++)
		pthread_join(th[i], NULL);
	double p1 = now_s();
	usleep(1500000); /* let the kubelet finish starting them (memory after steady state) */
	long rss1 = rss_kb(pid);
	printf("pods: %ld created in %.2f s (%ld errors); kubesim VmRSS %.1f MB before, %.1f MB "
	       "with the pods\n",
	       atomic_load(&g_writes), p1 - p0, atomic_load(&g_errors), (double)rss0 / 1024,
	       (double)rss1 / 1024);

done:
	kill(pid, SIGTERM);
	int st = 0;
	waitpid(pid, &st, 0);
	printf("kubesim exit: %s\n", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "clean" : "FAILED");
	free(th);
	free(wr);
	free(ws);
	curl_global_cleanup();
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return 0;
}
