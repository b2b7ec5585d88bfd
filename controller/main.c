/* phoenix-controller: the Phoenix operator binary. Parses controller-runtime style flags, loads
 * the kube config, runs the manager until SIGTERM/SIGINT, then shuts down gracefully (releasing
 * the leader Lease so a standby replica takes over at once). */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube_config.h"
#include "kube_error.h"
#include "kube_informer.h"
#include "kube_log.h"
#include "kube_metrics.h"
#include "kube_rest.h"
#include "phx_manager.h"
#include "dash_server.h"

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
	long watch_idle_s; /* --watch-idle-timeout; 0 = off */
	bool metrics_auth;
	const char *dashboard_addr; /* --dashboard-bind-address; NULL = off */
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
		"  --metrics-bind-address ADDR          /metrics (default \":8080\": every\n"
		"                                       interface; \"127.0.0.1:8080\" keeps it local;\n"
		"                                       \"0\" disables it)\n"
		"  --metrics-auth[=true|false]          protect /metrics like\n"
		"                                       controller-runtime: the bearer token is checked\n"
		"                                       with a TokenReview and the caller must be allowed\n"
		"                                       to get the nonResourceURL (SubjectAccessReview);\n"
		"                                       needs create on tokenreviews and\n"
		"                                       subjectaccessreviews (default false)\n"
		"  --health-probe-bind-address ADDR     /healthz and /readyz only (default \":8081\";\n"
		"                                       \"0\" disables)\n"
		"  --leader-elect[=true|false]          elect a leader through a Lease so that several\n"
		"                                       replicas can run (default false)\n"
		"  --leader-election-namespace NS       namespace of the Lease (default: the pod's namespace,\n"
		"                                       $POD_NAMESPACE, or the kubeconfig's)\n"
		"  --leader-election-id NAME            name of the Lease (default \"phoenix-operator-leader\")\n"
		"  --kube-api-qps QPS                   client-side rate limit, requests/s (default 300),\n"
		"                                       applied to each of two separate clients: main\n"
		"                                       (reads, reconciles, status, Lease) and Events.\n"
		"                                       The process as a whole may send up to 2 x QPS;\n"
		"                                       set QPS to half the total budget you want.\n"
		"                                       A safety net: the API server's\n"
		"                                       flow control (429 + Retry-After) is honoured,\n"
		"                                       and failover writes have a reserve of their own\n"
		"                                       (200/s, burst 400, on top) that never waits\n"
		"                                       behind routine requests\n"
		"  --kube-api-burst N                   client-side burst (default 600), per client as\n"
		"                                       above (up to 2 x N at once)\n"
		"  --watch-idle-timeout SECONDS         restart a watch that brings no event and no\n"
		"                                       bookmark for this long (default 90; 0 = never);\n"
		"                                       keep it above 60 (the API server bookmarks a\n"
		"                                       quiet watch about once a minute)\n"
		"  --workers N                          concurrent reconciles (default 4; two more workers\n"
		"                                       serve failovers only)\n"
		"  --dashboard-bind-address ADDR        the web dashboard (default \"0\": off;\n"
		"                                       \"127.0.0.1:8082\" for kubectl phoenix dashboard\n"
		"                                       through a port-forward). Every request needs a\n"
		"                                       bearer token (TokenReview) and RBAC to list what\n"
		"                                       it shows (SubjectAccessReview); needs create on\n"
		"                                       tokenreviews and subjectaccessreviews\n"
		"  -v N, -v=N                           log verbosity: 0 info, 1 debug, 2 trace (default 0;\n"
		"                                       nothing else is accepted)\n"
		"  -h, --help                           show this help\n"
		"\n"
		"Endpoints: the probe port serves /healthz (alive) and /readyz (caches synced and,\n"
		"with --leader-elect, the elector not failing); the metrics port serves /metrics\n"
		"(Prometheus) only; the web dashboard has its own port (--dashboard-bind-address).\n"
		"SIGTERM or SIGINT stops gracefully.\n");
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

/* DNS-1123 label (namespaces): 1-63 of [a-z0-9-], alphanumeric at both ends. */
static bool dns1123_label(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* DNS-1123 subdomain (object names such as a Lease): at most 253 characters, dot-separated
 * labels. */
static bool dns1123_subdomain(const char *s)
{
	char buf[254];
	char *save = NULL;

	if (strlen(s) == 0 || strlen(s) > 253 || s[0] == '.' || s[strlen(s) - 1] == '.' ||
	    strstr(s, "..") != NULL)
		return false;
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *t = strtok_r(buf, ".", &save); t; t = strtok_r(NULL, ".", &save))
		if (!dns1123_label(t, 63))
			return false;
	return true;
}

/* Names the API server would refuse never start an operator that can never work. */
static int check_name(const char *flag, const char *v, bool subdomain)
{
	if (v == NULL || (subdomain ? dns1123_subdomain(v) : dns1123_label(v, 63)))
		return 0;
	fprintf(stderr,
		"phoenix-controller: %s: \"%s\" is not a valid %s (%s)\n", flag, v,
		subdomain ? "object name" : "namespace name",
		subdomain ? "lowercase letters, digits, '-' and '.', at most 253 characters, "
			    "starting and ending with a letter or digit"
			  : "lowercase letters, digits and '-', at most 63 characters, starting and "
			    "ending with a letter or digit");
	return -1;
}

/* "--name" alone, or "--name=true|false|1|0". Returns 1 when it matched, 0 when not, -1 on a
 * bad value. */
static int take_bool(const char *a, const char *name, bool *out)
{
	size_t n = strlen(name);
	const char *v;

	if (strncmp(a, name, n) != 0 || (a[n] != '\0' && a[n] != '='))
		return 0;
	if (a[n] == '\0') {
		*out = true;
		return 1;
	}
	v = a + n + 1;
	if (strcmp(v, "true") && strcmp(v, "false") && strcmp(v, "1") && strcmp(v, "0")) {
		fprintf(stderr, "phoenix-controller: %s: want true or false\n", name);
		return -1;
	}
	*out = !strcmp(v, "true") || !strcmp(v, "1");
	return 1;
}

/* After parsing: values each flag accepted alone but the operator cannot run with. */
static int check_flags(const struct flags *f)
{
	bool no_metrics = f->metrics_addr && (!*f->metrics_addr || !strcmp(f->metrics_addr, "0"));

	if (check_name("--namespace", f->namespace, false) < 0 ||
	    check_name("--leader-election-namespace", f->leader_ns, false) < 0 ||
	    check_name("--leader-election-id", f->leader_id, true) < 0)
		return -1;
	if (f->metrics_auth && no_metrics) {
		fprintf(stderr, "phoenix-controller: --metrics-auth needs a --metrics-bind-address "
				"(metrics are disabled)\n");
		return -1;
	}
	return 0;
}

/* "90" or "90s": seconds, 0 (off) or 5..3600. */
static int parse_seconds(const char *name, const char *s, long *out)
{
	char buf[32];
	size_t n = strlen(s);

	if (n > 0 && n < sizeof(buf) && s[n - 1] == 's') {
		snprintf(buf, sizeof(buf), "%.*s", (int)(n - 1), s);
		s = buf;
	}
	if (parse_int(name, s, 0, 3600, out) < 0)
		return -1;
	if (*out > 0 && *out < 5) {
		fprintf(stderr, "phoenix-controller: %s: %ld s is too short (0 = off, or 5..3600)\n",
			name, *out);
		return -1;
	}
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
		r = take_bool(a, "--leader-elect", &f->leader_elect);
		if (r == 0)
			r = take_bool(a, "--metrics-auth", &f->metrics_auth);
		if (r < 0)
			return -1;
		if (r > 0)
			continue;
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
		STR_FLAG("--dashboard-bind-address", dashboard_addr)
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
		r = take_value(argc, argv, &i, "--watch-idle-timeout", &v);
		if (r < 0 || (r > 0 && parse_seconds("--watch-idle-timeout", v, &f->watch_idle_s) < 0))
			return -1;
		if (r > 0)
			continue;
		r = take_value(argc, argv, &i, "-v", &v);
		if (r == 0)
			r = take_value(argc, argv, &i, "--v", &v);
		if (r < 0 || (r > 0 && parse_int("-v (0 info, 1 debug, 2 trace)", v, 0, 2, &n) < 0))
			return -1;
		if (r > 0) {
			f->verbosity = (int)n;
			continue;
		}
		fprintf(stderr, "phoenix-controller: unknown flag %s (see --help)\n", a);
		return -1;
	}
	return check_flags(f);
}

/* Without the CRD every PhoenixService list answers 404 and the informer retries forever: say
 * once, at start, what is missing and how to install it. Discovery is readable by every
 * authenticated user, so this needs no extra RBAC. Logs only; the operator keeps running and
 * starts working once the CRD is installed. */
static void check_crd_installed(struct kube_client *c)
{
	struct kube_status st = { 0 };
	int rc = kube_request(c, "GET", "/apis/phoenix.fpai.io/v1alpha1", NULL, NULL, NULL, 0, NULL,
			      &st);

	if (rc == KUBE_ENOTFOUND)
		kube_log(KUBE_LOG_ERROR, "main",
			 "the PhoenixService CRD is not installed (the API server does not serve "
			 "phoenix.fpai.io/v1alpha1): install it with `kubectl apply -f "
			 "manifests/crds/phoenix.fpai.io_phoenixservices.yaml` (the Helm chart ships "
			 "it too); waiting for it",
			 "crd", "phoenixservices.phoenix.fpai.io", NULL);
	kube_status_release(&st);
}

/* How often the main thread hands malloc's free pages back to the kernel while it waits. */
#define TRIM_PERIOD_S 10

/* Waits for one of sigs, every TRIM_PERIOD_S seconds returning the heap's free pages to the
 * kernel (malloc_trim: glibc keeps the pages of freed chunks in its arenas, and the parse/free
 * cycles of the reconciles and watch events leave many; about 0.2 KiB per cached Intent at
 * 2,000, bench/intent_queue_bench.sh with PHX_BENCH_TRIM=1). Returns the signal. */
static int wait_trimming(const sigset_t *sigs)
{
	struct timespec ts = {.tv_sec = TRIM_PERIOD_S};
	int sig;

	for (;;) {
		sig = sigtimedwait(sigs, NULL, &ts);
		if (sig > 0)
			return sig;
		if (errno == EAGAIN)
			malloc_trim(0);
	}
}

int main(int argc, char **argv)
{
	struct flags f = {
		.metrics_addr = ":8080", .probe_addr = ":8081", .leader_id = "phoenix-operator-leader",
		.qps = 300, .burst = 600, .workers = 4,
		.watch_idle_s = KUBE_INFORMER_WATCH_IDLE_DEFAULT_MS / 1000,
	};
	struct kube_config cfg = { 0 };
	struct kube_client *client = NULL, *events_client = NULL;
	struct phx_manager *mgr = NULL;
	struct dash_server *dash = NULL;
	char *errmsg = NULL, identity[HOST_NAME_MAX + 32];
	sigset_t sigs;
	int sig = 0, rc, code = 1;

	if (parse_flags(argc, argv, &f) < 0)
		return 2;
	kube_log_set_verbosity(f.verbosity);
	kube_informer_set_default_watch_idle_timeout(f.watch_idle_s * 1000);

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

	/* Events get their own client and rate limit: a burst of them never delays a reconcile's
	 * writes. The failover writes need none: they are of the URGENT class (kube_set_priority),
	 * whose reserve in the main client never waits behind routine requests. Leader election
	 * gates the Events' writes too. */
	rc = kube_client_new(&cfg, &co, &events_client);
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
	if (f.leader_elect && check_name(f.leader_ns ? "--leader-election-namespace"
				       : "the Lease namespace ($POD_NAMESPACE or the kubeconfig's)",
				       lns, false) < 0)
		goto out;

	struct phx_manager_opts mo = {
		.client = client, .events_client = events_client,
		.namespace = f.namespace,
		.metrics_addr = f.metrics_addr,
		.probe_addr = f.probe_addr, .leader_elect = f.leader_elect, .leader_namespace = lns,
		.leader_id = f.leader_id, .identity = identity, .workers = f.workers,
		.metrics_auth = f.metrics_auth,
	};
	check_crd_installed(client);
	kube_metrics_process_enable(kube_metrics_default());
	kube_metrics_build_info(kube_metrics_default(), "phoenix", PHX_VERSION, PHX_REVISION);
	/* The web dashboard (controller/dashboard/): made before the manager, whose controllers
	 * register their boards into it (dash_server_default). */
	struct dash_server_opts dso = { .bind_addr = f.dashboard_addr, .client = client };
	rc = f.dashboard_addr ? dash_server_new(&dso, &dash) : 0;
	dash_server_set_default(dash);
	if (rc == 0)
		rc = phx_manager_new(&mo, &mgr);
	if (rc == 0)
		rc = phx_manager_start(mgr);
	if (rc == 0 && dash)
		rc = dash_server_start(dash);
	if (rc < 0) {
		kube_log(KUBE_LOG_ERROR, "main",
			 rc == KUBE_EIO ? "cannot start (a listening port could not be bound: see "
					  "the \"cannot listen\" line above)"
					: "cannot start",
			 "error", kube_strerror(rc), NULL);
		goto out;
	}
	kube_log(KUBE_LOG_INFO, "main", "phoenix-controller running", "identity", identity,
		 "server", cfg.server, "leader-elect", f.leader_elect ? "true" : "false", NULL);
	sig = wait_trimming(&sigs);
	kube_log(KUBE_LOG_INFO, "main", "signal received: shutting down", "signal",
		 sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
	code = 0;
	/* No worker may sleep out a server's Retry-After (up to 10 s) while we stop: held requests
	 * end now. Not the Events client: its queue drains for a while (kube_events_shutdown). */
	kube_client_shutdown(client);
out:
	dash_server_stop(dash); /* before the controllers: the boards read them */
	phx_manager_free(mgr);
	dash_server_free(dash);
	kube_client_free(events_client);
	kube_client_free(client);
	kube_config_release(&cfg);
	free(errmsg);
	return code;
}
