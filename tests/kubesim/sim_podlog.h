/* kubesim --run-pods: the pods/log subresource (kubectl logs [-f] [-c] [--previous] [--tail])
 * served from the log files the runtime writes (DIR/logs/<container>/<run>.log).
 *
 * Threads: a reader belongs to the HTTP connection thread that opened it; it only reads files and
 * the (thread-safe) store. */
#ifndef SIM_PODLOG_H
#define SIM_PODLOG_H

#include <stddef.h>
#include <sys/types.h>

struct sim_store;
struct sim_runtime_config;
struct sim_podlog;

struct sim_podlog_query {
	const char *container; /* NULL = the pod's only container */
	int previous;
	int follow;
	long tail_lines;  /* -1 = all */
	long limit_bytes; /* -1 = no limit */
	int timestamps;   /* prefix each line with the RFC 3339 time it was written (100 ms) */
};

/* Opens the log of ns/name's container. Returns 0 with *out (free with sim_podlog_free), or an
 * HTTP code (404 pod not found, 400 bad container / no previous run / not started) with the
 * apiserver's message in msg. */
int sim_podlog_open(struct sim_store *store, const struct sim_runtime_config *cfg, const char *ns,
		    const char *name, const struct sim_podlog_query *q, struct sim_podlog **out,
		    char *msg, size_t msglen);

#define SIM_PODLOG_AGAIN (-2)

/* Copies up to max bytes of log. Returns the count, 0 at the end (not following, or the run
 * ended and everything was read), or SIM_PODLOG_AGAIN when following and nothing new arrived
 * within wait_ms. */
ssize_t sim_podlog_read(struct sim_podlog *l, char *buf, size_t max, int wait_ms);

void sim_podlog_free(struct sim_podlog *l);

/* The time stamping the log byte at `off` from a .ts file's text ("FROM TO MS" lines), or -1
 * when no line covers it. Pure. */
int64_t sim_podlog_stamp(const char *ts_text, long long off);

/* Offset in text[0..len) where its last n lines start (a final line without '\n' counts).
 * Pure. */
size_t sim_podlog_tail_offset(const char *text, size_t len, long n);

#endif
