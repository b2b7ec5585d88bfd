/* Container probes for kubesim --run-pods: the kubelet's result state machine (pure: thresholds,
 * initial delay, period) and the blocking probe executors (httpGet, tcpSocket, exec).
 *
 * Threads: the state machine is plain data owned by its caller; sim_probe_exec_* block for at
 * most the timeout and touch nothing shared, so any thread may run them. */
#ifndef SIM_PROBE_H
#define SIM_PROBE_H

#include <stdint.h>
#include <cjson/cJSON.h>

enum sim_probe_kind { SIM_PROBE_NONE = 0, SIM_PROBE_HTTP, SIM_PROBE_TCP, SIM_PROBE_EXEC };

struct sim_probe_spec {
	enum sim_probe_kind kind;
	char path[256];   /* httpGet.path (default "/") */
	char host[64];    /* httpGet.host / tcpSocket.host; "" = the pod IP */
	int port;         /* resolved (named ports through the container's ports) */
	int https;        /* scheme HTTPS: not supported, the probe fails (documented) */
	const cJSON *exec_command; /* exec.command, borrowed from the spec it was read from */
	int64_t initial_delay_ms, period_ms, timeout_ms;
	int success_threshold, failure_threshold;
};

/* Reads a probe (readinessProbe / livenessProbe / startupProbe object) with the API defaults
 * (period 10 s, timeout 1 s, success 1, failure 3, delay 0). `ctr` gives the named ports.
 * Returns 0, or KUBE_EINVAL for a probe without a handler or a port that cannot be resolved
 * (the spec's kind is then SIM_PROBE_NONE). Pure. */
int sim_probe_spec_read(const cJSON *probe, const cJSON *ctr, struct sim_probe_spec *out);

/* The kubelet's view of one probe: the current result and the run of equal outcomes. */
struct sim_probe_state {
	int result;      /* 1 success, 0 failure */
	int run_ok;      /* consecutive successes */
	int run_fail;    /* consecutive failures */
	int64_t next_ms; /* when the probe runs next */
};

/* Resets the state for a container started at `started_ms`: the result is `initial` (0 for
 * readiness and startup, 1 for liveness) and the first run is due after initialDelaySeconds. */
void sim_probe_state_init(struct sim_probe_state *st, const struct sim_probe_spec *spec,
			  int initial, int64_t started_ms);

/* Records one outcome at `now`: the result flips to success after successThreshold
 * consecutive successes and to failure after failureThreshold consecutive failures; the next
 * run is due one period later. Returns 1 if the result changed, else 0. Pure. */
int sim_probe_record(struct sim_probe_state *st, const struct sim_probe_spec *spec, int ok,
		     int64_t now);

/* Runs the probe once, blocking for at most spec->timeout_ms. `ip` is the pod IP (used when
 * the spec names no host); for exec, argv runs with envp in cwd. Returns 1 success, 0 failure. */
int sim_probe_exec_http(const struct sim_probe_spec *spec, const char *ip);
int sim_probe_exec_tcp(const struct sim_probe_spec *spec, const char *ip);
int sim_probe_exec_command(const struct sim_probe_spec *spec, char *const *argv,
			   char *const *envp, const char *cwd);

/* Parses an HTTP status line ("HTTP/1.1 200 OK"): 1 for 200..399 (the kubelet's success), else
 * 0. Pure. */
int sim_probe_http_ok(const char *status_line);

#endif
