/* The pods/log subresource for kubesim --run-pods (see sim_podlog.h). */
#include "sim_podlog.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "sim_controllers.h"
#include "sim_runtime.h"
#include "sim_store.h"

struct sim_podlog {
	struct sim_store *store;
	char ns[254], name[254], uid[64], ctr[254];
	char dir[PATH_MAX];
	int run;
	int fd;
	int follow;
	long left; /* bytes still allowed, -1 = no limit */
	/* --timestamps: the line being assembled, and stamped lines not yet handed out */
	int ts;
	char *line;
	size_t line_len, line_cap;
	off_t line_start; /* file offset of the line's first byte */
	char *out;
	size_t out_len, out_off;
};

int64_t sim_podlog_stamp(const char *text, long long off)
{
	const char *p = text;

	while (p && *p) {
		long long from, to, ms;

		if (sscanf(p, "%lld %lld %lld", &from, &to, &ms) == 3 && off >= from && off < to)
			return ms;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

size_t sim_podlog_tail_offset(const char *text, size_t len, long n)
{
	size_t i = len;
	long lines = 0;

	if (n < 0)
		return 0;
	if (n == 0)
		return len;
	if (i > 0 && text[i - 1] == '\n')
		i--;
	while (i > 0) {
		if (text[i - 1] == '\n' && ++lines >= n)
			return i;
		i--;
	}
	return 0;
}

static int file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

/* The highest run with a log file, 0 if none. */
static int last_run(const char *pod_dir, const char *ctr)
{
	char path[PATH_MAX];
	int n = 0;

	for (;;) {
		sim_rt_log_file(pod_dir, ctr, n + 1, path, sizeof(path));
		if (!file_exists(path))
			return n;
		n++;
	}
}

/* Finds the container in the pod spec; writes the apiserver's message when it cannot. */
static const char *pick_container(const cJSON *pod, const char *want, char *msg, size_t len)
{
	const cJSON *main = sim_j_at(pod, "spec.containers"), *init = sim_j_at(pod, "spec.initContainers");
	const cJSON *lists[2] = {main, init}, *c;
	char names[512] = "";
	size_t off = 0;
	int i;

	if (!want && cJSON_GetArraySize(main) == 1 && cJSON_GetArraySize(init) == 0)
		return sim_j_str(cJSON_GetArrayItem(main, 0), "name");
	for (i = 0; i < 2; i++) {
		cJSON_ArrayForEach(c, lists[i]) {
			const char *n = sim_j_str(c, "name");

			if (want && n && strcmp(n, want) == 0)
				return n;
			if (i == 0 && n && off < sizeof(names))
				off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s",
							off ? " " : "", n);
		}
	}
	if (want)
		snprintf(msg, len, "container %s is not valid for pod %s", want,
			 sim_j_str(pod, "metadata.name"));
	else
		snprintf(msg, len, "a container name must be specified for pod %s, choose one of: [%s]",
			 sim_j_str(pod, "metadata.name"), names);
	return NULL;
}

/* The container's status object in the pod, or NULL. */
static const cJSON *ctr_status(const cJSON *pod, const char *ctr)
{
	const char *lists[2] = {"status.containerStatuses", "status.initContainerStatuses"};
	const cJSON *s;
	int i;

	for (i = 0; i < 2; i++) {
		cJSON_ArrayForEach(s, sim_j_at(pod, lists[i])) {
			const char *n = sim_j_str(s, "name");

			if (n && strcmp(n, ctr) == 0)
				return s;
		}
	}
	return NULL;
}

static int seek_tail(int fd, long tail)
{
	struct stat st;
	char *text;
	size_t off;
	ssize_t got;

	if (tail < 0 || fstat(fd, &st) != 0)
		return 0;
	text = malloc((size_t)st.st_size + 1);
	if (!text)
		return -1;
	got = pread(fd, text, (size_t)st.st_size, 0);
	off = got > 0 ? sim_podlog_tail_offset(text, (size_t)got, tail) : 0;
	free(text);
	return lseek(fd, (off_t)off, SEEK_SET) < 0 ? -1 : 0;
}

int sim_podlog_open(struct sim_store *store, const struct sim_runtime_config *cfg, const char *ns,
		    const char *name, const struct sim_podlog_query *q, struct sim_podlog **out,
		    char *msg, size_t msglen)
{
	cJSON *pod = NULL, *status = NULL;
	struct sim_podlog *l = NULL;
	const char *ctr, *uid;
	char path[PATH_MAX];
	int code = 400, run;

	*out = NULL;
	if (sim_store_get(store, "", "pods", ns, name, &pod, &status) != 200) {
		snprintf(msg, msglen, "pods \"%s\" not found", name);
		code = 404;
		goto out;
	}
	ctr = pick_container(pod, q->container, msg, msglen);
	uid = sim_j_str(pod, "metadata.uid");
	if (ctr && !sim_rt_name_ok(ctr)) {
		snprintf(msg, msglen, "container %s is not valid for pod %s", ctr, name);
		ctr = NULL;
	}
	if (!ctr || !uid)
		goto out;
	l = calloc(1, sizeof(*l));
	if (!l) {
		code = 500;
		goto out;
	}
	l->fd = -1;
	l->store = store;
	l->left = q->limit_bytes;
	l->follow = q->follow && !q->previous;
	snprintf(l->ns, sizeof(l->ns), "%s", ns);
	snprintf(l->name, sizeof(l->name), "%s", name);
	snprintf(l->uid, sizeof(l->uid), "%s", uid);
	snprintf(l->ctr, sizeof(l->ctr), "%s", ctr);
	sim_runtime_pod_dir(cfg, uid, l->dir, sizeof(l->dir));
	run = last_run(l->dir, ctr) - (q->previous ? 1 : 0);
	if (run < 1 && q->previous) {
		snprintf(msg, msglen, "previous terminated container \"%s\" in pod \"%s\" not found",
			 ctr, name);
		goto out;
	}
	if (run < 1) {
		const char *why = sim_j_str(ctr_status(pod, ctr), "state.waiting.reason");

		snprintf(msg, msglen, "container \"%s\" in pod \"%s\" is waiting to start: %s", ctr,
			 name, why ? why : "ContainerCreating");
		goto out;
	}
	l->run = run;
	l->ts = q->timestamps;
	sim_rt_log_file(l->dir, ctr, run, path, sizeof(path));
	l->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (l->fd < 0 || seek_tail(l->fd, q->tail_lines) != 0 ||
	    (l->line_start = lseek(l->fd, 0, SEEK_CUR)) < 0) {
		snprintf(msg, msglen, "cannot read the log of container \"%s\"", ctr);
		code = 500;
		goto out;
	}
	*out = l;
	l = NULL;
	code = 0;
out:
	sim_podlog_free(l);
	cJSON_Delete(pod);
	cJSON_Delete(status);
	return code;
}

/* 1 once the run being followed is over: a later run began, the container is no longer
 * running that run, or the pod is gone. */
static int run_over(struct sim_podlog *l)
{
	cJSON *pod = NULL, *status = NULL;
	const cJSON *st;
	char path[PATH_MAX];
	int over = 1;

	sim_rt_log_file(l->dir, l->ctr, l->run + 1, path, sizeof(path));
	if (file_exists(path))
		return 1;
	if (sim_store_get(l->store, "", "pods", l->ns, l->name, &pod, &status) == 200 &&
	    strcmp(sim_j_str(pod, "metadata.uid") ? sim_j_str(pod, "metadata.uid") : "", l->uid) == 0) {
		st = ctr_status(pod, l->ctr);
		/* Run N runs with restartCount N-1; a restart (or the end) moves past it. */
		over = st && !sim_j_at(st, "state.running") &&
		       (sim_j_at(st, "state.terminated") || sim_j_int(st, "restartCount", 0) >= l->run);
	}
	cJSON_Delete(pod);
	cJSON_Delete(status);
	return over;
}

static ssize_t raw_read(struct sim_podlog *l, char *buf, size_t max, int wait_ms)
{
	ssize_t got;
	int waited = 0;

	if (l->left == 0)
		return 0;
	if (l->left > 0 && (long)max > l->left)
		max = (size_t)l->left;
	for (;;) {
		got = read(l->fd, buf, max);
		if (got > 0) {
			if (l->left > 0)
				l->left -= got;
			return got;
		}
		if (!l->follow)
			return 0;
		if (run_over(l)) {
			got = read(l->fd, buf, max); /* what it wrote last */
			if (got > 0 && l->left > 0)
				l->left -= got;
			return got > 0 ? got : 0;
		}
		if (waited >= wait_ms)
			return SIM_PODLOG_AGAIN;
		{
			struct timespec nap = {0, 50 * 1000000L};

			nanosleep(&nap, NULL);
			waited += 50;
		}
	}
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t cap = 0, len = 0, n;
	char chunk[4096];

	if (!f)
		return NULL;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		char *t = realloc(text, cap = len + n + 1);

		if (!t)
			break;
		text = t;
		memcpy(text + len, chunk, n);
		len += n;
		text[len] = '\0';
	}
	fclose(f);
	return text;
}

/* Appends "TIME line" for the assembled line to the output. */
static int emit_line(struct sim_podlog *l)
{
	char path[PATH_MAX], ts[64], base[32];
	char *text, *out;
	int64_t ms;
	time_t secs;
	struct tm tm;
	size_t n;

	sim_rt_ts_file(l->dir, l->ctr, l->run, path, sizeof(path));
	text = read_text(path);
	ms = sim_podlog_stamp(text, (long long)l->line_start);
	free(text);
	if (ms < 0) {
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	}
	secs = (time_t)(ms / 1000);
	gmtime_r(&secs, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	n = (size_t)snprintf(ts, sizeof(ts), "%s.%03d000000Z ", base, (int)(ms % 1000));
	out = realloc(l->out, l->out_len + n + l->line_len);
	if (!out)
		return -1;
	l->out = out;
	memcpy(out + l->out_len, ts, n);
	memcpy(out + l->out_len + n, l->line, l->line_len);
	l->out_len += n + l->line_len;
	l->line_start += (off_t)l->line_len;
	l->line_len = 0;
	return 0;
}

/* Takes raw bytes into the line being assembled, stamping every line they complete. */
static int take(struct sim_podlog *l, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (l->line_len == l->line_cap) {
			size_t cap = l->line_cap ? l->line_cap * 2 : 256;
			char *line = realloc(l->line, cap);

			if (!line)
				return -1;
			l->line = line;
			l->line_cap = cap;
		}
		l->line[l->line_len++] = b[i];
		if (b[i] == '\n' && emit_line(l) != 0)
			return -1;
	}
	return 0;
}

/* Hands out stamped output; 0 when there is none. */
static ssize_t give(struct sim_podlog *l, char *buf, size_t max)
{
	size_t n = l->out_len - l->out_off;

	if (n > max)
		n = max;
	memcpy(buf, l->out + l->out_off, n);
	l->out_off += n;
	if (l->out_off == l->out_len)
		l->out_len = l->out_off = 0;
	return (ssize_t)n;
}

ssize_t sim_podlog_read(struct sim_podlog *l, char *buf, size_t max, int wait_ms)
{
	char raw[8192];
	ssize_t n;

	if (!l->ts)
		return raw_read(l, buf, max, wait_ms);
	for (;;) {
		if (l->out_len > l->out_off)
			return give(l, buf, max);
		n = raw_read(l, raw, sizeof(raw), wait_ms);
		if (n == SIM_PODLOG_AGAIN)
			return n;
		if (n > 0 && take(l, raw, (size_t)n) != 0)
			return 0;
		if (n == 0 && l->line_len > 0 && emit_line(l) != 0)
			return 0;
		if (n == 0 && l->out_len == l->out_off)
			return 0;
	}
}

void sim_podlog_free(struct sim_podlog *l)
{
	if (!l)
		return;
	free(l->line);
	free(l->out);
	if (l->fd >= 0)
		close(l->fd);
	free(l);
}
