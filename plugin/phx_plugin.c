/* kubectl-phoenix: the Phoenix kubectl plugin. On PATH it becomes `kubectl phoenix`: the
 * dashboard in the terminal (status), manual switchover, pause and resume of PhoenixServices. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "kube_config.h"
#include "kube_error.h"
#include "kube_json.h"
#include "kube_rest.h"
#include "kube_watch.h"
#include "phx_api.h"
#include "phx_dashboard.h"
#include "phx_pipeline.h"
#include "phx_completion.h"
#include "phx_web_proxy.h"
#include "phx_intents.h"
#include "phx_builds.h"

#define PLUGIN_VERSION "0.1.0"
/* Where the operator's leader-election Lease is by default: the namespace the chart and
 * manifests/deploy install it in, and controller/main.c's --leader-election-id default. */
#define DEFAULT_OPERATOR_NS "phoenix-system"
#define DEFAULT_LEASE_NAME "phoenix-operator-leader"
#define INSTALL_HINT                                                                              \
	"run `helm install phoenix-operator charts/phoenix-operator -n phoenix-system "            \
	"--create-namespace` (or `kubectl apply -f manifests/crds/`)"

enum { EXIT_OK = 0, EXIT_ERR = 1, EXIT_USAGE = 2 };

struct cli {
	const char *kubeconfig;
	const char *context;
	const char *ns;
	const char *color; /* auto | always | never */
	const char *operator_ns; /* namespace of the operator's leader-election Lease */
	const char *lease_name;  /* its name */
	const char *dash_target; /* dashboard: the operator's dashboard (a port-forward) */
	const char *dash_address; /* dashboard: where the local proxy listens */
	const char *dash_port;
	const char *gate;        /* approve/deny: --gate */
	const char *reason;      /* approve/deny: --reason */
	const char *output;      /* builds: -o wide|json|yaml */
	bool follow;             /* logs: -f */
	bool all_ns;
	bool watch;
	double interval;
	int nargs;
	char **args; /* positional: command and its operands */
};

struct session {
	struct kube_config cfg;
	struct kube_client *client;
	const char *ns; /* borrowed: cli->ns or the client's namespace */
};

static volatile sig_atomic_t stop_requested;
/* kube_watch polls this, so Ctrl-C ends a quiet watch within 100 ms. */
static atomic_bool watch_cancel;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
	atomic_store(&watch_cancel, true);
}

static void usage(FILE *out)
{
	fprintf(out,
		"kubectl-phoenix " PLUGIN_VERSION " — the Phoenix Operator from your terminal.\n"
		"\n"
		"Usage:\n"
		"  kubectl phoenix status [NAME] [-w]     the dashboard: every PhoenixService (or one in\n"
		"                                         detail) with ready/total instances, capacity, phase,\n"
		"                                         failovers, last failover and failovers in progress\n"
		"  kubectl phoenix switchover NAME [POD]  hand the primary role to POD (default: any ready\n"
		"                                         standby)\n"
		"  kubectl phoenix pause NAME             stop every operator action on NAME (spec.paused=true)\n"
		"  kubectl phoenix resume NAME            let the operator act on NAME again\n"
		"  kubectl phoenix dashboard              the web dashboard as you: a local proxy that adds\n"
		"                                         your kubeconfig user's token; prints the URL.\n"
		"                                         Reach the operator first, e.g. `kubectl -n\n"
		"                                         phoenix-system port-forward deploy/phoenix-operator\n"
		"                                         8082` (the operator's --dashboard-bind-address)\n"
		"  kubectl phoenix intents                the Intents: service, tier, priority, phase,\n"
		"                                         governance score and decision\n"
		"  kubectl phoenix queue                  the whole pipeline queue in the order it is served\n"
		"  kubectl phoenix approve intent/NAME [--gate Governance|Spec] --reason TEXT\n"
		"  kubectl phoenix deny intent/NAME [--gate G] --reason TEXT\n"
		"                                         an Approval with you (SelfSubjectReview) as\n"
		"                                         approver; build/NAME for the Deploy gate\n"
		"  kubectl phoenix builds [-o wide|json|yaml]  the Builds: service, phase, step, attempt,\n"
		"                                         result (-A: every namespace)\n"
		"  kubectl phoenix logs build/NAME [-f]   every step container of every attempt (and the\n"
		"                                         verify Job), in order; -f follows, waiting\n"
		"                                         quietly while a pod is Pending\n"
		"  kubectl phoenix completion bash|zsh    a shell completion script\n"
		"\n"
		"Options:\n"
		"  --kubeconfig PATH      kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)\n"
		"      --context NAME     kubeconfig context (default: the current context)\n"
		"  -n, --namespace NS     namespace (default: the context's namespace, else \"default\")\n"
		"  -A, --all-namespaces   status: every namespace\n"
		"  -w, --watch            status: redraw on every change until interrupted\n"
		"      --interval SECONDS status --watch: redraw at least this often (default 1)\n"
		"      --color WHEN       auto (default: only on a terminal, unless NO_COLOR is set),\n"
		"                         always or never\n"
		"      --operator-namespace NS    status: namespace of the operator's leader-election\n"
		"                                 Lease (default " DEFAULT_OPERATOR_NS ")\n"
		"      --leader-election-id NAME  status: name of that Lease, as the operator's\n"
		"                                 --leader-election-id (default " DEFAULT_LEASE_NAME ")\n"
		"      --target URL       dashboard: the operator's dashboard (default\n"
		"                         http://127.0.0.1:8082, a port-forward)\n"
		"      --address HOST     dashboard: where the proxy listens (default 127.0.0.1)\n"
		"      --port N           dashboard: its port (default 0: any free port)\n"
		"\n"
		"status warns when no operator replica holds a current Lease (every replica down: the\n"
		"status shown is nobody's) and when a service was last reconciled long ago.\n"
		"  -h, --help             this help\n"
		"      --version          print the version\n");
}

/* Matches `-s VALUE`, `-sVALUE`, `--long VALUE`, `--long=VALUE` at argv[*i]; advances *i past
 * a separate value. Returns 1 on a match, 0 when argv[*i] is another flag, -1 when the value is
 * missing. */
static int match_value(int argc, char **argv, int *i, const char *shrt, const char *lng,
		       const char **val)
{
	const char *a = argv[*i];
	size_t ll = strlen(lng);

	if ((shrt && !strcmp(a, shrt)) || !strcmp(a, lng)) {
		if (*i + 1 >= argc)
			return -1;
		*val = argv[++*i];
		return 1;
	}
	if (!strncmp(a, lng, ll) && a[ll] == '=') {
		*val = a + ll + 1;
		return 1;
	}
	if (shrt && !strncmp(a, shrt, strlen(shrt)) && strlen(a) > strlen(shrt) && shrt[1] != '-') {
		*val = a + strlen(shrt);
		if (**val == '=')
			(*val)++;
		return 1;
	}
	return 0;
}

/* Parses argv into cli; flags may appear anywhere (kubectl passes them through after the
 * plugin name). Returns 0, 1 when help/version was printed, -1 on a usage error (reported). */
static int parse_args(int argc, char **argv, struct cli *cli)
{
	static const struct {
		const char *shrt, *lng;
		size_t off;
	} vflags[] = {
		{NULL, "--kubeconfig", offsetof(struct cli, kubeconfig)},
		{NULL, "--context", offsetof(struct cli, context)},
		{"-n", "--namespace", offsetof(struct cli, ns)},
		{NULL, "--color", offsetof(struct cli, color)},
		{NULL, "--operator-namespace", offsetof(struct cli, operator_ns)},
		{NULL, "--leader-election-id", offsetof(struct cli, lease_name)},
		{NULL, "--target", offsetof(struct cli, dash_target)},
		{NULL, "--address", offsetof(struct cli, dash_address)},
		{NULL, "--port", offsetof(struct cli, dash_port)},
		{NULL, "--gate", offsetof(struct cli, gate)},
		{NULL, "--reason", offsetof(struct cli, reason)},
		{"-o", "--output", offsetof(struct cli, output)},
	};

	cli->args = calloc((size_t)argc, sizeof(char *));
	if (!cli->args) {
		fprintf(stderr, "error: out of memory\n");
		return -1;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		bool matched = false;

		if (!strcmp(a, "-h") || !strcmp(a, "--help") || !strcmp(a, "help")) {
			usage(stdout);
			return 1;
		}
		if (!strcmp(a, "--version") || !strcmp(a, "version")) {
			printf("kubectl-phoenix %s\n", PLUGIN_VERSION);
			return 1;
		}
		if (!strcmp(a, "-A") || !strcmp(a, "--all-namespaces")) {
			cli->all_ns = true;
			continue;
		}
		if (!strcmp(a, "-f") || !strcmp(a, "--follow")) {
			cli->follow = true;
			continue;
		}
		if (!strcmp(a, "-w") || !strcmp(a, "--watch")) {
			cli->watch = true;
			continue;
		}
		if (!strcmp(a, "--")) {
			for (i++; i < argc; i++)
				cli->args[cli->nargs++] = argv[i];
			break;
		}
		for (size_t f = 0; f < sizeof(vflags) / sizeof(vflags[0]); f++) {
			int m = match_value(argc, argv, &i, vflags[f].shrt, vflags[f].lng, &val);
			if (m < 0) {
				fprintf(stderr, "error: %s needs a value\n", vflags[f].lng);
				return -1;
			}
			if (m > 0) {
				*(const char **)((char *)cli + vflags[f].off) = val;
				matched = true;
				break;
			}
		}
		if (matched)
			continue;
		{
			int m = match_value(argc, argv, &i, NULL, "--interval", &val);
			if (m < 0) {
				fprintf(stderr, "error: --interval needs a value\n");
				return -1;
			}
			if (m > 0) {
				char *end;
				cli->interval = strtod(val, &end);
				if (*end || cli->interval < 0.1 || cli->interval > 3600) {
					fprintf(stderr, "error: --interval wants seconds between 0.1 and 3600, got %s\n", val);
					return -1;
				}
				continue;
			}
		}
		if (a[0] == '-' && a[1]) {
			fprintf(stderr, "error: unknown flag %s (see kubectl phoenix --help)\n", a);
			return -1;
		}
		cli->args[cli->nargs++] = argv[i];
	}
	if (strcmp(cli->color, "auto") && strcmp(cli->color, "always") && strcmp(cli->color, "never")) {
		fprintf(stderr, "error: --color wants auto, always or never, got %s\n", cli->color);
		return -1;
	}
	return 0;
}

static bool use_color(const struct cli *cli)
{
	const char *term = getenv("TERM");
	const char *no_color = getenv("NO_COLOR");

	if (!strcmp(cli->color, "always"))
		return true;
	if (!strcmp(cli->color, "never"))
		return false;
	return isatty(STDOUT_FILENO) && !(no_color && *no_color) && !(term && !strcmp(term, "dumb"));
}

static int session_open(struct session *s, const struct cli *cli)
{
	struct kube_client_opts opts = {
		.timeout_ms = 15000,
		.connect_timeout_ms = 5000,
		/* A human is waiting: one quick retry, not a long backoff, before saying what failed. */
		.max_retries = 1,
		.retry_base_ms = 200,
		.user_agent = "kubectl-phoenix/" PLUGIN_VERSION,
	};
	char *err = NULL;
	int rc;

	memset(s, 0, sizeof(*s));
	rc = kube_config_load_default(cli->kubeconfig, cli->context, &s->cfg, &err);
	if (rc < 0) {
		fprintf(stderr, "error: cannot load the kubeconfig: %s\n", err ? err : kube_strerror(rc));
		goto out;
	}
	rc = kube_client_new(&s->cfg, &opts, &s->client);
	if (rc < 0) {
		fprintf(stderr, "error: cannot create a client for %s: %s\n",
			s->cfg.server ? s->cfg.server : "(no server)", kube_strerror(rc));
		goto out;
	}
	s->ns = cli->ns && *cli->ns ? cli->ns : kube_client_namespace(s->client);
out:
	free(err);
	return rc;
}

static void session_close(struct session *s)
{
	kube_client_free(s->client);
	kube_config_release(&s->cfg);
	memset(s, 0, sizeof(*s));
}

/* True when the API server does not serve phoenix.fpai.io/v1alpha1: the CRD is not installed.
 * Asked only after a 404, to tell "no such type" from "no such object". */
static bool crd_missing(struct session *s)
{
	struct kube_status st = {0};
	int rc = kube_request(s->client, "GET", "/apis/phoenix.fpai.io/v1alpha1", NULL, NULL, NULL, 0,
			      NULL, &st);
	bool missing = rc == KUBE_ENOTFOUND;

	/* Served group but no phoenixservices in it is just as missing. */
	kube_status_release(&st);
	return missing;
}

/* Says what went wrong in words a user can act on. `name` is the object asked for, or NULL for
 * a list. */
static void report(struct session *s, int rc, const struct kube_status *st, const char *name)
{
	const char *server = s->cfg.server ? s->cfg.server : "(unknown)";
	const char *msg = st && st->message ? st->message : kube_strerror(rc);

	switch (rc) {
	case KUBE_EIO:
	case KUBE_ETIMEDOUT:
		fprintf(stderr, "error: cannot reach the cluster at %s: %s\n", server, msg);
		break;
	case KUBE_ENOTFOUND:
		if (crd_missing(s))
			fprintf(stderr, "error: PhoenixService CRD not installed in the cluster at %s: %s\n",
				server, INSTALL_HINT);
		else if (name)
			fprintf(stderr, "error: phoenixservice \"%s\" not found in namespace \"%s\"\n",
				name, s->ns);
		else
			fprintf(stderr, "error: not found: %s\n", msg);
		break;
	case KUBE_EUNAUTHORIZED:
		fprintf(stderr, "error: the cluster at %s did not accept our credentials: %s\n", server,
			msg);
		break;
	case KUBE_EFORBIDDEN:
		fprintf(stderr, "error: forbidden: %s\n", msg);
		break;
	default:
		fprintf(stderr, "error: %s (%s)\n", msg, kube_strerror(rc));
		break;
	}
}

static int cmp_by_key(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	const char *xn = kube_json_namespace(x), *yn = kube_json_namespace(y);
	int c = strcmp(xn ? xn : "", yn ? yn : "");

	if (c)
		return c;
	xn = kube_json_name(x);
	yn = kube_json_name(y);
	return strcmp(xn ? xn : "", yn ? yn : "");
}

/* Sorts list.items by namespace/name in place so the dashboard is stable between redraws. */
static int sort_items(cJSON *list)
{
	cJSON *items = cJSON_GetObjectItemCaseSensitive(list, "items");
	int n = cJSON_GetArraySize(items);
	cJSON **v;

	if (n < 2)
		return 0;
	v = calloc((size_t)n, sizeof(*v));
	if (!v)
		return KUBE_ENOMEM;
	for (int i = n - 1; i >= 0; i--)
		v[i] = cJSON_DetachItemFromArray(items, i);
	qsort(v, (size_t)n, sizeof(*v), cmp_by_key);
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(items, v[i]);
	free(v);
	return 0;
}

/* Reads the operator's Lease into op (state, holder...). Never fails the frame: a 404, 403 or
 * any other error becomes a state the dashboard explains. *lease receives the object (caller
 * frees; op->holder points into it) and *st the server's answer (caller releases). */
static void read_operator_lease(struct session *s, const struct cli *cli, time_t now,
				struct phx_dash_operator *op, cJSON **lease, struct kube_status *st)
{
	int rc;

	memset(op, 0, sizeof(*op));
	op->ns = cli->operator_ns;
	op->name = cli->lease_name;
	rc = kube_get(s->client, &KUBE_GVR_LEASES, op->ns, op->name, NULL, lease, st);
	if (rc == 0) {
		phx_dash_lease_classify(*lease, now, op);
		return;
	}
	op->detail = st->message ? st->message : kube_strerror(rc);
	if (rc == KUBE_ENOTFOUND)
		op->state = PHX_DASH_LEASE_MISSING;
	else if (rc == KUBE_EFORBIDDEN)
		op->state = PHX_DASH_LEASE_FORBIDDEN;
	else
		op->state = PHX_DASH_LEASE_ERROR;
}

/* One frame of `status`: the overview, or one service in detail with its pods. When rv is
 * non-NULL it receives the resourceVersion the frame shows (malloc'd, or NULL), for --watch. */
static int status_frame(struct session *s, const struct cli *cli, const char *name, bool color,
			char **rv)
{
	struct kube_status st = {0}, lease_st = {0};
	cJSON *obj = NULL, *pods = NULL, *lease = NULL;
	char scope[320];
	struct phx_dash_operator op;
	struct phx_dash_opts o = {.color = color, .all_namespaces = cli->all_ns && !name,
				  .scope = scope, .now = time(NULL), .op = &op};
	int rc;

	if (o.all_namespaces)
		snprintf(scope, sizeof(scope), "all namespaces");
	else
		snprintf(scope, sizeof(scope), "namespace %s", s->ns);
	if (name) {
		struct kube_list_opts lo = {0};
		char sel[320];

		rc = kube_get(s->client, &PHX_GVR, s->ns, name, NULL, &obj, &st);
		if (rc < 0) {
			report(s, rc, &st, name);
			goto out;
		}
		snprintf(sel, sizeof(sel), PHX_LABEL_SERVICE "=%s", name);
		lo.label_selector = sel;
		/* The pods are a bonus: without them (e.g. no RBAC to list pods) the service still shows. */
		if (kube_list(s->client, &KUBE_GVR_PODS, s->ns, &lo, &pods, NULL) == 0)
			sort_items(pods);
		read_operator_lease(s, cli, o.now, &op, &lease, &lease_st);
		rc = phx_dash_render_one(stdout, obj, pods, &o);
	} else {
		rc = kube_list(s->client, &PHX_GVR, cli->all_ns ? NULL : s->ns, NULL, &obj, &st);
		if (rc < 0) {
			report(s, rc, &st, NULL);
			goto out;
		}
		sort_items(obj);
		read_operator_lease(s, cli, o.now, &op, &lease, &lease_st);
		rc = phx_dash_render_list(stdout, obj, &o);
		if (rc == 0) /* the pipeline summary (phx_pipeline.h) */
			rc = phx_status_pipeline(stdout, s->client, cli->all_ns ? NULL : s->ns, &o);
	}
	if (rc < 0)
		fprintf(stderr, "error: cannot write the dashboard: %s\n", strerror(errno));
	if (rv) {
		const char *v = name ? kube_json_resource_version(obj)
				     : kube_json_get_str(obj, "metadata", "resourceVersion", NULL);
		*rv = v ? strdup(v) : NULL;
	}
out:
	fflush(stdout);
	cJSON_Delete(obj);
	cJSON_Delete(pods);
	cJSON_Delete(lease);
	kube_status_release(&st);
	kube_status_release(&lease_st);
	return rc;
}

static void sleep_interruptible(double seconds)
{
	struct timespec ts = {.tv_sec = (time_t)seconds,
			      .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};

	while (!stop_requested && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int on_watch_event(enum kube_watch_type type, const cJSON *object, void *ud)
{
	(void)object;
	(void)ud;
	return type == KUBE_WATCH_BOOKMARK ? 0 : 1; /* any change: stop and redraw */
}

/* Waits until the shown PhoenixServices change after resourceVersion rv, or at most the redraw
 * interval (the "ago" columns age). Returns 0 to redraw, KUBE_ECANCELED on Ctrl-C. */
static int wait_for_change(struct session *s, const struct cli *cli, const char *name,
			   const char *rv)
{
	struct kube_list_opts lo = {0};
	char sel[320];
	int rc;

	if (!rv) {
		sleep_interruptible(cli->interval);
		return stop_requested ? KUBE_ECANCELED : 0;
	}
	lo.resource_version = rv;
	lo.timeout_seconds = (int)ceil(cli->interval);
	if (name) {
		snprintf(sel, sizeof(sel), "metadata.name=%s", name);
		lo.field_selector = sel;
	}
	rc = kube_watch(s->client, &PHX_GVR, name || !cli->all_ns ? s->ns : NULL, &lo,
			on_watch_event, NULL, &watch_cancel, NULL);
	if (rc == KUBE_ECANCELED || stop_requested)
		return KUBE_ECANCELED;
	if (rc == 1)
		sleep_interruptible(0.05); /* let a burst of changes land in one redraw */
	else if (rc < 0 && rc != KUBE_EGONE)
		sleep_interruptible(cli->interval); /* cluster unreachable: retry at the interval */
	return stop_requested ? KUBE_ECANCELED : 0;
}

/* The cmd_* functions run after check_usage: their operand counts are already right. */
static int cmd_status(struct session *s, const struct cli *cli)
{
	const char *name = cli->nargs > 1 ? cli->args[1] : NULL;
	bool color = use_color(cli);
	bool tty = isatty(STDOUT_FILENO);
	char *rv = NULL;
	int rc;

	if (!cli->watch)
		return status_frame(s, cli, name, color, NULL) < 0 ? EXIT_ERR : EXIT_OK;
	/* Redraw on every change (a watch on the PhoenixServices, which carry the failover state
	 * in their status) and at least every --interval. */
	while (!stop_requested) {
		if (tty)
			fputs("\033[H\033[2J", stdout); /* home + clear: redraw in place */
		else
			printf("--- %ld\n", (long)time(NULL));
		free(rv);
		rv = NULL;
		rc = status_frame(s, cli, name, color, &rv);
		if (rc < 0 && rc != KUBE_EIO && rc != KUBE_ETIMEDOUT) {
			free(rv);
			return EXIT_ERR; /* a missing CRD or object will not fix itself */
		}
		if (tty)
			printf("\nredrawn on every change, at least every %gs · Ctrl-C to quit\n",
			       cli->interval);
		fflush(stdout);
		if (wait_for_change(s, cli, name, rv) == KUBE_ECANCELED)
			break;
	}
	free(rv);
	return EXIT_OK;
}

/* Merge-patches the PhoenixService `name` with `patch` (a JSON object, borrowed). */
static int patch_service(struct session *s, const char *name, const cJSON *patch)
{
	struct kube_status st = {0};
	char *body = kube_json_print(patch);
	int rc;

	if (!body) {
		fprintf(stderr, "error: out of memory\n");
		return KUBE_ENOMEM;
	}
	rc = kube_patch(s->client, &PHX_GVR, s->ns, name, NULL, KUBE_PATCH_MERGE, body, NULL, &st);
	if (rc < 0)
		report(s, rc, &st, name);
	kube_status_release(&st);
	free(body);
	return rc;
}

static bool array_has(const cJSON *arr, const char *s)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
		if (cJSON_IsString(it) && !strcmp(it->valuestring, s))
			return true;
	return false;
}

static int cmd_switchover(struct session *s, const struct cli *cli)
{
	const char *name, *pod, *primary;
	const cJSON *standbys;
	struct kube_status st = {0};
	cJSON *obj = NULL, *patch = NULL, *ann;
	int rc = EXIT_ERR, err;

	name = cli->args[1];
	pod = cli->nargs == 3 ? cli->args[2] : "any";
	err = kube_get(s->client, &PHX_GVR, s->ns, name, NULL, &obj, &st);
	if (err < 0) {
		report(s, err, &st, name);
		goto out;
	}
	primary = kube_json_get_str(obj, "status", "primary", NULL);
	standbys = kube_json_get(obj, "status", "standbys", NULL);
	if (strcmp(pod, "any")) {
		/* Catch a typo here rather than leave an annotation the operator will refuse. */
		if (primary && !strcmp(pod, primary)) {
			fprintf(stderr, "error: %s is already the primary of %s\n", pod, name);
			goto out;
		}
		if (standbys && !array_has(standbys, pod)) {
			char *list = kube_json_print(standbys);
			fprintf(stderr, "error: %s is not a standby of %s (standbys: %s)\n", pod, name,
				list ? list : "?");
			free(list);
			goto out;
		}
	}
	if (kube_json_get_bool(obj, false, "spec", "paused", NULL))
		fprintf(stderr, "warning: %s is paused: the switchover happens after `kubectl phoenix "
			"resume %s`\n", name, name);
	patch = cJSON_CreateObject();
	ann = kube_json_ensure_obj(kube_json_ensure_obj(patch, "metadata"), "annotations");
	if (!ann || kube_json_set_str(ann, PHX_ANN_SWITCHOVER, pod) < 0) {
		fprintf(stderr, "error: out of memory\n");
		goto out;
	}
	if (patch_service(s, name, patch) < 0)
		goto out;
	printf("phoenixservice/%s: switchover to %s requested (primary now: %s)\n", name,
	       strcmp(pod, "any") ? pod : "any ready standby", primary ? primary : "none");
	printf("watch it: kubectl phoenix status %s -n %s\n", name, s->ns);
	rc = EXIT_OK;
out:
	kube_status_release(&st);
	cJSON_Delete(obj);
	cJSON_Delete(patch);
	return rc;
}

static int cmd_pause(struct session *s, const struct cli *cli, bool paused)
{
	cJSON *patch = NULL, *spec;
	int rc = EXIT_ERR;

	patch = cJSON_CreateObject();
	spec = kube_json_ensure_obj(patch, "spec");
	if (!spec || !cJSON_AddBoolToObject(spec, "paused", paused)) {
		fprintf(stderr, "error: out of memory\n");
		goto out;
	}
	if (patch_service(s, cli->args[1], patch) < 0)
		goto out;
	printf("phoenixservice/%s %s%s\n", cli->args[1], paused ? "paused" : "resumed",
	       paused ? ": the operator takes no action on it until `kubectl phoenix resume`" : "");
	rc = EXIT_OK;
out:
	cJSON_Delete(patch);
	return rc;
}

/* dashboard: the local proxy with the user's own token (phx_web_proxy.h). */
static int cmd_dashboard(struct session *s, const struct cli *cli)
{
	struct phx_web_proxy_opts o = {
		.listen_host = cli->dash_address ? cli->dash_address : "127.0.0.1",
		.target = cli->dash_target ? cli->dash_target : "http://127.0.0.1:8082",
		.out = stdout,
		.stop = &stop_requested,
	};
	char *token = NULL, *end = NULL;
	int rc;

	if (cli->dash_port) {
		long p = strtol(cli->dash_port, &end, 10);

		if (!*cli->dash_port || *end || p < 0 || p > 65535) {
			fprintf(stderr, "error: --port wants 0..65535, got %s\n", cli->dash_port);
			return EXIT_USAGE;
		}
		o.listen_port = (int)p;
	}
	rc = kube_config_read_token(&s->cfg, &token);
	if (rc < 0 || !token || !*token) {
		fprintf(stderr, "error: the dashboard needs a bearer token, and the kubeconfig user of "
			"context %s has none (%s); use a context with a token (e.g. a ServiceAccount "
			"token: kubectl create token NAME)\n", s->cfg.context ? s->cfg.context : "(none)",
			rc < 0 ? kube_strerror(rc) : "client certificates or exec plugins are not "
			"forwarded");
		free(token);
		return EXIT_ERR;
	}
	o.token = token;
	rc = phx_web_proxy_run(&o);
	memset(token, 0, strlen(token));
	free(token);
	return rc < 0 ? EXIT_ERR : EXIT_OK;
}

/* Checks the command and its operand count before any I/O, so a typo gets a usage message
 * rather than a connection error. Returns 0 or -1 (reported). */
static int check_usage(const struct cli *cli)
{
	static const struct {
		const char *cmd, *usage;
		int min, max; /* operands after the command */
	} cmds[] = {
		{"status", "status [NAME]", 0, 1},
		{"switchover", "switchover NAME [POD]", 1, 2},
		{"pause", "pause NAME", 1, 1},
		{"resume", "resume NAME", 1, 1},
		{"dashboard", "dashboard [--target URL] [--address HOST] [--port N]", 0, 0},
		{"intents", "intents", 0, 0},
		{"queue", "queue", 0, 0},
		{"approve", "approve intent/NAME [--gate G] --reason TEXT", 1, 1},
		{"deny", "deny intent/NAME [--gate G] --reason TEXT", 1, 1},
		{"builds", "builds [-o wide|json|yaml]", 0, 0},
		{"logs", "logs build/NAME [-f]", 1, 1},
		{"completion", "completion bash|zsh", 1, 1},
	};
	int n = cli->nargs - 1;

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cli->args[0], cmds[i].cmd))
			continue;
		if (n < cmds[i].min || n > cmds[i].max) {
			fprintf(stderr, "error: usage: kubectl phoenix %s\n", cmds[i].usage);
			return -1;
		}
		return 0;
	}
	fprintf(stderr, "error: unknown command \"%s\" (see kubectl phoenix --help)\n", cli->args[0]);
	return -1;
}

int main(int argc, char **argv)
{
	struct cli cli = {.color = "auto", .interval = 1.0, .operator_ns = DEFAULT_OPERATOR_NS,
			  .lease_name = DEFAULT_LEASE_NAME};
	struct session s;
	struct sigaction sa;
	const char *cmd;
	int rc, exit_code = EXIT_USAGE;

	memset(&s, 0, sizeof(s));
	rc = parse_args(argc, argv, &cli);
	if (rc != 0) {
		exit_code = rc > 0 ? EXIT_OK : EXIT_USAGE;
		goto out;
	}
	if (cli.nargs == 0) {
		usage(stderr);
		goto out;
	}
	cmd = cli.args[0];
	if (check_usage(&cli) < 0)
		goto out;
	if (!strcmp(cmd, "completion")) { /* no cluster needed (phx_completion.h) */
		exit_code = phx_cmd_completion(stdout, cli.args[1]);
		goto out;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (session_open(&s, &cli) < 0) {
		exit_code = EXIT_ERR;
		goto out;
	}
	if (!strcmp(cmd, "status"))
		exit_code = cmd_status(&s, &cli);
	else if (!strcmp(cmd, "switchover"))
		exit_code = cmd_switchover(&s, &cli);
	else if (!strcmp(cmd, "dashboard"))
		exit_code = cmd_dashboard(&s, &cli);
	else if (!strcmp(cmd, "intents") || !strcmp(cmd, "queue") || !strcmp(cmd, "approve") ||
		 !strcmp(cmd, "deny")) {
		struct phx_intents_args ia = {s.client, s.ns, cli.all_ns,
					      cli.nargs > 1 ? cli.args[1] : NULL, cli.gate, cli.reason};
		exit_code = !strcmp(cmd, "intents") ? phx_cmd_intents(&ia)
			    : !strcmp(cmd, "queue") ? phx_cmd_queue(&ia)
						    : phx_cmd_decide(&ia, !strcmp(cmd, "approve"));
	}
	else if (!strcmp(cmd, "builds") || !strcmp(cmd, "logs")) {
		struct phx_builds_args ba = {s.client, &s.cfg, s.ns, cli.all_ns, cli.output,
					     cli.nargs > 1 ? cli.args[1] : NULL, cli.follow, &watch_cancel};
		exit_code = !strcmp(cmd, "builds") ? phx_cmd_builds(&ba) : phx_cmd_build_logs(&ba);
	}
	else
		exit_code = cmd_pause(&s, &cli, !strcmp(cmd, "pause"));
out:
	session_close(&s);
	free(cli.args);
	return exit_code;
}
