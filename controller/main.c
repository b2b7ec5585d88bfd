/* phoenix-controller: the Phoenix operator binary. Parses controller-runtime style flags, loads
 * the kube config, runs the manager until SIGTERM/SIGINT, then shuts down gracefully (releasing
 * the leader Lease so a standby replica takes over at once). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube_config.h"
#include "kube_error.h"
#include "kube_log.h"
#include "kube_rest.h"
#include "phx_manager.h"

struct flags {
	const char *kubeconfig;
	const char *namespace;
	const char *metrics_addr;
	const char *probe_addr;
	bool leader_elect;
	const char *leader_ns;
	const char *leader_id;
	double qps;
	int burst;
	int workers;
	int verbosity;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: phoenix-controller [flags]\n"
		"\n"
		"Runs the Phoenix operator: keeps every PhoenixService at 1 primary + N hot standbys\n"
		"and fails over from the watch event of a primary's failure.\n"
		"\n"
		"Flags:\n"
		"  --kubeconfig PATH                    kubeconfig file (default: $KUBECONFIG, in-cluster,\n"
		"                                       then ~/.kube/config)\n"
		"  --namespace NS                       watch only this namespace (default: all namespaces)\n"
		"  --metrics-bind-address ADDR          /metrics and /dashboard (default \":8080\";\n"
		"                                       \"0\" disables)\n"
		"  --health-probe-bind-address ADDR     /healthz and /readyz (default \":8081\";\n"
		"                                       \"0\" disables)\n"
		"  --leader-elect[=true|false]          elect a leader through a Lease so that several\n"
		"                                       replicas can run (default false)\n"
		"  --leader-election-namespace NS       namespace of the Lease (default: the pod's namespace,\n"
		"                                       $POD_NAMESPACE, or the kubeconfig's)\n"
		"  --leader-election-id NAME            name of the Lease (default \"phoenix-operator-leader\")\n"
		"  --kube-api-qps QPS                   client-side rate limit, requests/s (default 50)\n"
		"  --kube-api-burst N                   client-side burst (default 100)\n"
		"  --workers N                          concurrent reconciles (default 4; two more workers\n"
		"                                       serve failovers only)\n"
		"  -v N, -v=N                           log verbosity: 0 info, 1 debug, 2 trace (default 0)\n"
		"  -h, --help                           show this help\n"
		"\n"
		"Endpoints: /healthz (alive), /readyz (caches synced), /metrics (Prometheus),\n"
		"/dashboard (JSON summary). SIGTERM or SIGINT stops gracefully.\n");
}

/* Matches "--name=value" or "--name value"; *val gets the value. */
static int take_value(int argc, char **argv, int *i, const char *name, const char **val)
{
	const char *a = argv[*i];
	size_t n = strlen(name);
	if (strncmp(a, name, n) != 0)
		return 0;
	if (a[n] == '=') {
		*val = a + n + 1;
		return 1;
	}
	if (a[n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		fprintf(stderr, "phoenix-controller: flag %s needs a value\n", name);
		return -1;
	}
	*val = argv[++*i];
	return 1;
}

static int parse_int(const char *name, const char *s, long lo, long hi, long *out)
{
	char *end = NULL;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "phoenix-controller: %s: invalid value \"%s\" (want %ld..%ld)\n", name,
			s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_flags(int argc, char **argv, struct flags *f)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		long n;
		int r;
		if (!strcmp(a, "-h") || !strcmp(a, "--help") || !strcmp(a, "-help")) {
			usage(stdout);
			exit(0);
		}
		if (!strcmp(a, "--leader-elect")) {
			f->leader_elect = true;
			continue;
		}
		if (!strncmp(a, "--leader-elect=", 15)) {
			v = a + 15;
			if (strcmp(v, "true") && strcmp(v, "false") && strcmp(v, "1") && strcmp(v, "0")) {
				fprintf(stderr, "phoenix-controller: --leader-elect: want true or false\n");
				return -1;
			}
			f->leader_elect = !strcmp(v, "true") || !strcmp(v, "1");
			continue;
		}
#define STR_FLAG(name, field)                                               \
	r = take_value(argc, argv, &i, name, &v);                           \
	if (r < 0)                                                          \
		return -1;                                                  \
	if (r > 0) {                                                        \
		f->field = v;                                               \
		continue;                                                   \
	}
		STR_FLAG("--kubeconfig", kubeconfig)
		STR_FLAG("--namespace", namespace)
		STR_FLAG("--metrics-bind-address", metrics_addr)
		STR_FLAG("--health-probe-bind-address", probe_addr)
		STR_FLAG("--leader-election-namespace", leader_ns)
		STR_FLAG("--leader-election-id", leader_id)
#undef STR_FLAG
		r = take_value(argc, argv, &i, "--kube-api-qps", &v);
		if (r < 0)
			return -1;
		if (r > 0) {
			char *end = NULL;
			f->qps = strtod(v, &end);
			if (end == v || *end || f->qps <= 0) {
				fprintf(stderr, "phoenix-controller: --kube-api-qps: invalid value "
						"\"%s\"\n", v);
				return -1;
			}
			continue;
		}
		r = take_value(argc, argv, &i, "--kube-api-burst", &v);
		if (r < 0 || (r > 0 && parse_int("--kube-api-burst", v, 1, 100000, &n) < 0))
			return -1;
		if (r > 0) {
			f->burst = (int)n;
			continue;
		}
		r = take_value(argc, argv, &i, "--workers", &v);
		if (r < 0 || (r > 0 && parse_int("--workers", v, 1, 64, &n) < 0))
			return -1;
		if (r > 0) {
			f->workers = (int)n;
			continue;
		}
		r = take_value(argc, argv, &i, "-v", &v);
		if (r == 0)
			r = take_value(argc, argv, &i, "--v", &v);
		if (r < 0 || (r > 0 && parse_int("-v", v, 0, 10, &n) < 0))
			return -1;
		if (r > 0) {
			f->verbosity = (int)n;
			continue;
		}
		fprintf(stderr, "phoenix-controller: unknown flag %s (see --help)\n", a);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct flags f = {
		.metrics_addr = ":8080", .probe_addr = ":8081", .leader_id = "phoenix-operator-leader",
		.qps = 50, .burst = 100, .workers = 4,
	};
	struct kube_config cfg = { 0 };
	struct kube_client *client = NULL, *events_client = NULL, *urgent_client = NULL;
	struct phx_manager *mgr = NULL;
	char *errmsg = NULL, identity[HOST_NAME_MAX + 32];
	sigset_t sigs;
	int sig = 0, rc, code = 1;

	if (parse_flags(argc, argv, &f) < 0)
		return 2;
	kube_log_set_verbosity(f.verbosity);

	/* Block the stop signals before any thread starts so that only sigwait() sees them. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	rc = kube_config_load_default(f.kubeconfig, NULL, &cfg, &errmsg);
	if (rc < 0) {
		kube_log(KUBE_LOG_ERROR, "main", "cannot load kube config", "error",
			 errmsg ? errmsg : kube_strerror(rc), NULL);
		goto out;
	}
	struct kube_client_opts co = { .qps = f.qps, .burst = f.burst,
				       .user_agent = "phoenix-operator/0.1" };
	rc = kube_client_new(&cfg, &co, &client);
	if (rc < 0) {
		kube_log(KUBE_LOG_ERROR, "main", "cannot create client", "error", kube_strerror(rc),
			 NULL);
		goto out;
	}

	/* Events and the failover label patches get their own clients and rate limits: neither a
	 * burst of Events nor routine writes may delay the patch that makes a standby serve.
	 * Leader election gates their writes too. */
	rc = kube_client_new(&cfg, &co, &events_client);
	if (rc == 0)
		rc = kube_client_new(&cfg, &co, &urgent_client);
	if (rc < 0) {
		kube_log(KUBE_LOG_ERROR, "main", "cannot create client", "error", kube_strerror(rc),
			 NULL);
		goto out;
	}

	const char *pod = getenv("POD_NAME");
	if (pod && *pod) {
		snprintf(identity, sizeof(identity), "%s", pod);
	} else {
		char host[HOST_NAME_MAX + 1] = "phoenix";
		gethostname(host, sizeof(host) - 1);
		snprintf(identity, sizeof(identity), "%s_%ld", host, (long)getpid());
	}
	const char *lns = f.leader_ns;
	if (!lns || !*lns)
		lns = getenv("POD_NAMESPACE");
	if (!lns || !*lns)
		lns = kube_client_namespace(client);

	struct phx_manager_opts mo = {
		.client = client, .events_client = events_client, .urgent_client = urgent_client,
		.namespace = f.namespace,
		.metrics_addr = f.metrics_addr,
		.probe_addr = f.probe_addr, .leader_elect = f.leader_elect, .leader_namespace = lns,
		.leader_id = f.leader_id, .identity = identity, .workers = f.workers,
	};
	rc = phx_manager_new(&mo, &mgr);
	if (rc == 0)
		rc = phx_manager_start(mgr);
	if (rc < 0) {
		kube_log(KUBE_LOG_ERROR, "main", "cannot start", "error", kube_strerror(rc), NULL);
		goto out;
	}
	kube_log(KUBE_LOG_INFO, "main", "phoenix-controller running", "identity", identity,
		 "server", cfg.server, "leader-elect", f.leader_elect ? "true" : "false", NULL);
	sigwait(&sigs, &sig);
	kube_log(KUBE_LOG_INFO, "main", "signal received: shutting down", "signal",
		 sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
	code = 0;
out:
	phx_manager_free(mgr);
	kube_client_free(urgent_client);
	kube_client_free(events_client);
	kube_client_free(client);
	kube_config_release(&cfg);
	free(errmsg);
	return code;
}
