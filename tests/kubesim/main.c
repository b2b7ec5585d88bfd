/* kubesim: a Kubernetes API simulator for tests and demos. Prints its URL, writes a kubeconfig,
 * serves until SIGTERM/SIGINT, then shuts down cleanly (threads joined, memory freed). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_log.h"
#include "sim_runtime.h"
#include "sim_server.h"

#if defined(__has_include)
#if __has_include("sim_controllers.h") && !defined(SIM_NO_CONTROLLERS)
#include "sim_controllers.h"
#define HAVE_SIM_CONTROLLERS 1
#endif
#endif

#include "sim_proxy.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kubesim [--listen HOST:PORT] [--kubeconfig-out PATH] [--http]\n"
		"               [--nodes N] [--pod-ready-delay-ms N] [--history N] [-v]\n"
		"  --listen              address to listen on (default 127.0.0.1:0 = any free port)\n"
		"  --kubeconfig-out      write a kubeconfig for kubectl/helm/the operator here\n"
		"  --http                plain HTTP without a token (default HTTPS + bearer token)\n"
		"  --proxy               userspace kube-proxy: Services get loopback clusterIPs\n"
		"                        (127.2.0.0/16) relayed to their endpoints (--run-pods\n"
		"                        implies it)\n"
		"  --nodes               simulated nodes (default 3)\n"
		"  --pod-ready-delay-ms  time from pod creation to Running/Ready (default 100)\n"
		"  --history             watch events kept for resuming watches (default 10000)\n"
		"  -v                    log every request\n"
		"  --run-pods            run containers as local processes (docs/kubesim.md)\n"
		"  --run-pods-dir DIR    state dir for --run-pods (default $TMPDIR/kubesim-runpods-UID)\n"
		"  --image-map IMG=PATH  program standing for an image (repeatable)\n"
		"  --image-store DIR     images as DIR/<image>/manifest.json\n"
		"  --crashloop-backoff-scale F  CrashLoopBackOff and pull back-off times F (default 1)\n"
		"Prints the server URL on stdout once it is serving.\n");
}

static int parse_int(const char *s, long min, long max, long *out)
{
	char *end = NULL;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || !end || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

#define RUNPODS_OPT 0x5200

/* --run-pods and its companions; 0, or -1 for a bad value. */
static int runpods_opt(int c, const char *arg, struct sim_runtime_config *rc, int *on)
{
	char *end = NULL;

	switch (c) {
	case RUNPODS_OPT:
		*on = 1;
		return 0;
	case RUNPODS_OPT + 1:
		rc->dir = arg;
		return 0;
	case RUNPODS_OPT + 2:
		if (!strchr(arg, '=') || rc->n_image_map >= SIM_RT_MAX_IMAGE_MAP)
			return -1;
		rc->image_map[rc->n_image_map++] = arg;
		return 0;
	case RUNPODS_OPT + 3:
		rc->image_store = arg;
		return 0;
	default:
		rc->backoff_scale = strtod(arg, &end);
		return end && !*end && rc->backoff_scale > 0 ? 0 : -1;
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"kubeconfig-out", required_argument, NULL, 'k'},
		{"http", no_argument, NULL, 'H'},
		{"proxy", no_argument, NULL, 'P'},
		{"nodes", required_argument, NULL, 'n'},
		{"pod-ready-delay-ms", required_argument, NULL, 'd'},
		{"history", required_argument, NULL, 'y'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"run-pods", no_argument, NULL, RUNPODS_OPT},
		{"run-pods-dir", required_argument, NULL, RUNPODS_OPT + 1},
		{"image-map", required_argument, NULL, RUNPODS_OPT + 2},
		{"image-store", required_argument, NULL, RUNPODS_OPT + 3},
		{"crashloop-backoff-scale", required_argument, NULL, RUNPODS_OPT + 4},
		{NULL, 0, NULL, 0},
	};
	int proxy = 0;
	struct sim_options opts = {
		.listen = "127.0.0.1:0",
		.nodes = 3,
		.pod_ready_delay_ms = 100,
	};
	struct sim_runtime_config runtime = {.backoff_scale = 1};
	int rc = 1, c, run_pods = 0;
	long v;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			opts.listen = optarg;
			break;
		case 'k':
			opts.kubeconfig_out = optarg;
			break;
		case 'H':
			opts.http = 1;
			break;
		case 'P':
			proxy = 1;
			break;
		case 'n':
			if (parse_int(optarg, 0, 1000, &v))
				goto bad;
			opts.nodes = (int)v;
			break;
		case 'd':
			if (parse_int(optarg, 0, 3600000, &v))
				goto bad;
			opts.pod_ready_delay_ms = (int)v;
			break;
		case 'y':
			if (parse_int(optarg, 1, 10000000, &v))
				goto bad;
			opts.history = (size_t)v;
			break;
		case 'v':
			opts.verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case RUNPODS_OPT:
		case RUNPODS_OPT + 1:
		case RUNPODS_OPT + 2:
		case RUNPODS_OPT + 3:
		case RUNPODS_OPT + 4:
			if (runpods_opt(c, optarg, &runtime, &run_pods))
				goto bad;
			break;
		default:
			goto bad;
		}
	}
	if (optind != argc)
		goto bad;
	/* --run-pods implies --proxy: pods that are processes get Services that carry traffic. */
	if (run_pods) {
		opts.runtime = &runtime;
		proxy = 1;
	}

	/* Signals are taken synchronously by this thread; every other thread inherits the mask. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct sim_server *srv = NULL;
	struct sim_proxy *px = NULL;
#ifdef HAVE_SIM_CONTROLLERS
	struct sim_controllers *ctl = NULL;
#endif
	if (sim_server_new(&opts, &srv) != 0) {
		fprintf(stderr, "kubesim: cannot initialise\n");
		return 1;
	}
	/* Before the controllers: its /sim/v1/proxy route must precede the control API's prefix. */
	if (proxy && sim_proxy_start(srv, &px) != 0) {
		fprintf(stderr, "kubesim: cannot start the service proxy\n");
		goto out;
	}
#ifdef HAVE_SIM_CONTROLLERS
	if (sim_controllers_start(srv, sim_server_options(srv), &ctl) != 0) {
		fprintf(stderr, "kubesim: cannot start the simulated controllers\n");
		goto out;
	}
#endif
	if (sim_server_start(srv) != 0) {
		fprintf(stderr, "kubesim: cannot start serving on %s\n", opts.listen);
		goto out;
	}
	printf("%s\n", sim_server_url(srv));
	fflush(stdout);
	kube_log(KUBE_LOG_INFO, "kubesim", "serving", "url", sim_server_url(srv), "kubeconfig",
		 opts.kubeconfig_out ? opts.kubeconfig_out : "-", NULL);

	int sig = 0;
	sigwait(&set, &sig);
	kube_log(KUBE_LOG_INFO, "kubesim", "shutting down", "signal",
		 sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
	rc = 0;
out:
	sim_server_stop(srv);
#ifdef HAVE_SIM_CONTROLLERS
	sim_controllers_stop(ctl);
#endif
	sim_proxy_stop(px);
	sim_server_free(srv);
	return rc;
bad:
	usage(stderr);
	return 2;
}
