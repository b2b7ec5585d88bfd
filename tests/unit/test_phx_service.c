/* Tests of the PhoenixService reconciler against a scripted HTTP server: the exact order of
 * writes in a failover, idempotence on a stale cache (expectations), the fast path, invalid specs
 * and the dashboard snapshot. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <unistd.h>

#include "fake_server.h"
#include "kube_config.h"
#include "kube_error.h"
#include "kube_json.h"
#include "kube_rest.h"
#include "phx_failover.h"
#include "phx_service.h"

struct fixture {
	struct fake_server fs;
	struct kube_config cfg;
	struct kube_client *client;
	struct phx_reconciler *rec;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	assert_int_equal(fake_server_start(&f->fs), 0);
	/* Every write succeeds unless a test scripts otherwise. */
	f->fs.fallback.status = 200;
	f->fs.fallback.body = "{}";
	(void)fake_push;
	(void)fake_push_resp;
	assert_int_equal(kube_config_init_server(&f->cfg, f->fs.url), 0);
	struct kube_client_opts co = { .qps = -1 };
	assert_int_equal(kube_client_new(&f->cfg, &co, &f->client), 0);
	struct phx_reconciler_opts ro = { .client = f->client };
	assert_int_equal(phx_reconciler_new(&ro, &f->rec), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	phx_reconciler_free(f->rec);
	kube_client_free(f->client);
	kube_config_release(&f->cfg);
	fake_server_stop(&f->fs);
	free(f);
	return 0;
}

#define READY                                                                              \
	"\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}"
#define NOT_READY                                                                          \
	"\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":"   \
	"\"False\",\"lastTransitionTime\":\"2020-01-01T00:00:00Z\"}]}"

/* The controller ownerReference of what PhoenixService prod/web (uid-1) owns. */
#define OWNED_BY_WEB                                                                          \
	"\"ownerReferences\":[{\"apiVersion\":\"phoenix.fpai.io/v1alpha1\",\"kind\":"          \
	"\"PhoenixService\",\"name\":\"web\",\"uid\":\"uid-1\",\"controller\":true}]"

static char *pod_json(const char *name, const char *role, const char *serving, const char *status,
		      const char *rev)
{
	char *s = NULL;
	int n = asprintf(&s,
			 "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"prod\",\"creationTimestamp\":"
			 "\"2020-01-01T00:00:00Z\",\"labels\":{\"phoenix.fpai.io/service\":\"web\","
			 "\"phoenix.fpai.io/role\":\"%s\",\"phoenix.fpai.io/serving\":\"%s\","
			 "\"phoenix.fpai.io/revision\":\"%s\",\"phoenix.fpai.io/owner-uid\":"
			 "\"uid-1\"}," OWNED_BY_WEB "},%s}",
			 name, role, serving, rev, status);
	assert_true(n > 0);
	return s;
}

/* A failed primary already counted by a previous leader, still terminating. */
static const char pod_json_static_x[] =
	"{\"metadata\":{\"name\":\"web-x\",\"namespace\":\"prod\",\"creationTimestamp\":"
	"\"2020-01-01T00:00:00Z\",\"deletionTimestamp\":\"2020-01-01T00:00:09Z\",\"labels\":{"
	"\"phoenix.fpai.io/service\":\"web\",\"phoenix.fpai.io/role\":\"primary\","
	"\"phoenix.fpai.io/serving\":\"false\"}}," NOT_READY "}";

static cJSON *svc_json(const char *mode, const char *extra_container)
{
	char *s = NULL;
	int n = asprintf(&s,
			 "{\"apiVersion\":\"phoenix.fpai.io/v1alpha1\",\"kind\":\"PhoenixService\","
			 "\"metadata\":{\"name\":\"web\",\"namespace\":\"prod\",\"uid\":\"uid-1\","
			 "\"generation\":1},\"spec\":{\"standbys\":2,\"standbyCapacity\":2,"
			 "\"failover\":{\"mode\":\"%s\"},\"template\":{\"spec\":{\"containers\":[{"
			 "\"name\":\"app\",\"image\":\"x\",\"ports\":[{\"containerPort\":8080}]%s}]}}},"
			 "\"status\":{\"primary\":\"web-a\"}}",
			 mode, extra_container);
	assert_true(n > 0);
	cJSON *o = cJSON_Parse(s);
	free(s);
	assert_non_null(o);
	return o;
}

static char *revision_of(const cJSON *svc)
{
	struct phx_spec spec;
	phx_spec_parse(svc, &spec, NULL, 0);
	return strdup(spec.revision);
}

static cJSON *pods_array(int n, char **pods)
{
	cJSON *arr = cJSON_CreateArray();
	for (int i = 0; i < n; i++) {
		cJSON_AddItemToArray(arr, cJSON_Parse(pods[i]));
		free(pods[i]);
	}
	return arr;
}

/* A phx_load_fn for a service that is gone from every cache. */
static void load_nothing(void *ud, const char *key, cJSON **svc, cJSON **pods, cJSON **service,
			 cJSON **pdb)
{
	(void)ud;
	(void)key;
	*svc = *pods = *service = *pdb = NULL;
}

/* Requests as "METHOD last-path-segment(s)" joined by ", ", only for pods and status. */
static void requests_text(struct fake_server *fs, int from, char *out, size_t len, bool pods_only)
{
	size_t off = 0;
	out[0] = '\0';
	pthread_mutex_lock(&fs->mu);
	for (int i = from; i < fs->nreqs && off < len; i++) {
		const char *p = fs->reqs[i].path;
		const char *pods = strstr(p, "/pods");
		const char *st = strstr(p, "/phoenixservices/");
		const char *what = NULL;
		if (pods)
			what = pods + 1;
		else if (st && !pods_only)
			what = st + 1;
		if (!what)
			continue;
		off += (size_t)snprintf(out + off, len - off, "%s%s %s", off ? ", " : "",
					fs->reqs[i].method, what);
	}
	pthread_mutex_unlock(&fs->mu);
}

static const char *find_body(struct fake_server *fs, int from, const char *method,
			     const char *path_part)
{
	const char *b = NULL;
	pthread_mutex_lock(&fs->mu);
	for (int i = from; i < fs->nreqs; i++)
		if (!strcmp(fs->reqs[i].method, method) && strstr(fs->reqs[i].path, path_part))
			b = fs->reqs[i].body;
	pthread_mutex_unlock(&fs->mu);
	return b;
}

static void reconcile__surge_failover_order_and_idempotence(void **state)
{
	struct fixture *f = *state;
	cJSON *svc = svc_json("Surge", "");
	char *rev = revision_of(svc);
	char *p[] = {
		pod_json("web-a", "primary", "true", NOT_READY, rev),
		pod_json("web-b", "standby", "false", READY, rev),
		pod_json("web-c", "standby", "false", READY, rev),
	};
	cJSON *pods = pods_array(3, p);
	cJSON *service = cJSON_Parse("{\"metadata\":{\"name\":\"web\"," OWNED_BY_WEB "},\"spec\":{\"type\":"
				     "\"ClusterIP\",\"selector\":{\"phoenix.fpai.io/service\":\"web\","
				     "\"phoenix.fpai.io/serving\":\"true\"},\"ports\":[{\"name\":"
				     "\"default\",\"port\":8080,\"targetPort\":8080,\"protocol\":"
				     "\"TCP\"}]}}");
	cJSON *pdb = cJSON_Parse("{\"metadata\":{\"name\":\"web\"," OWNED_BY_WEB "}}");
	struct phx_observed obs = { svc, pods, service, pdb };
	int64_t requeue = 0;
	char got[2048];

	/* The fast path flags the primary's failure exactly once. */
	const cJSON *a = cJSON_GetArrayItem(pods, 0), *b = cJSON_GetArrayItem(pods, 1);
	assert_false(phx_reconciler_pod_event(f->rec, NULL, b, false));
	assert_true(phx_reconciler_pod_event(f->rec, NULL, a, false));
	assert_false(phx_reconciler_pod_event(f->rec, NULL, a, false));

	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	requests_text(&f->fs, 0, got, sizeof(got), false);
	/* Serve first, then take the failed primary out by deleting it at once (grace 0: no
	 * label write of its own), replace it, write status. */
	assert_string_equal(got, "PATCH pods/web-b, PATCH pods/web-c, DELETE pods/web-a, "
				 "POST pods, PATCH phoenixservices/web/status");
	assert_non_null(strstr(find_body(&f->fs, 0, "PATCH", "pods/web-b"),
			       "\"phoenix.fpai.io/role\":\"primary\",\"phoenix.fpai.io/serving\":\"true\""));
	assert_non_null(strstr(find_body(&f->fs, 0, "DELETE", "pods/web-a"),
			       "\"gracePeriodSeconds\":0"));
	const char *created = find_body(&f->fs, 0, "POST", "/pods");
	assert_non_null(strstr(created, "\"phoenix.fpai.io/role\":\"standby\""));
	const char *st = find_body(&f->fs, 0, "PATCH", "/status");
	assert_non_null(strstr(st, "\"failovers\":1"));
	assert_non_null(strstr(st, "\"phase\":\"Recovering\""));
	assert_non_null(strstr(st, "\"failedPod\":\"web-a\""));
	assert_non_null(strstr(st, "\"primary\":\"web-b\""));
	assert_non_null(strstr(st, "\"lastFailoverReactionMs\""));

	/* Same stale cache again: our writes are remembered, nothing is repeated or recounted. */
	int before = fake_nreqs(&f->fs);
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	requests_text(&f->fs, before, got, sizeof(got), true);
	assert_string_equal(got, "");

	/* The cache catches up and the replacement is Ready: the surged standby steps back and
	 * the failover completes. */
	cJSON *newpod = cJSON_Parse(created);
	char newname[128];
	snprintf(newname, sizeof(newname), "%s", kube_json_name(newpod));
	cJSON_Delete(newpod);
	char *q[] = {
		pod_json("web-b", "primary", "true", READY, rev),
		pod_json("web-c", "standby", "true", READY, rev),
		pod_json(newname, "standby", "false", READY, rev),
	};
	cJSON *pods2 = pods_array(3, q);
	obs.pods = pods2;
	before = fake_nreqs(&f->fs);
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	requests_text(&f->fs, before, got, sizeof(got), false);
	assert_string_equal(got, "PATCH pods/web-c, PATCH phoenixservices/web/status");
	st = find_body(&f->fs, before, "PATCH", "/status");
	assert_non_null(strstr(st, "\"phase\":\"Healthy\""));
	assert_non_null(strstr(st, "\"failoverInProgress\":null"));
	assert_non_null(strstr(st, "\"readyDisplay\":\"3/3\""));
	assert_non_null(strstr(st, "\"capacityDisplay\":\"500%\""));
	assert_non_null(strstr(st, "\"failovers\":1"));

	cJSON *dash = phx_reconciler_dashboard(f->rec);
	int64_t v = -1;
	assert_true(kube_json_get_int(dash, &v, "failoversTotal", NULL));
	assert_int_equal(v, 1);
	assert_true(kube_json_get_int(dash, &v, "failoversInProgress", NULL));
	assert_int_equal(v, 0);
	assert_true(kube_json_get_int(dash, &v, "services", NULL));
	assert_int_equal(v, 1);
	cJSON_Delete(dash);

	cJSON_Delete(pods2);
	cJSON_Delete(pods);
	cJSON_Delete(service);
	cJSON_Delete(pdb);
	cJSON_Delete(svc);
	free(rev);
}

/* A failover of web-a (failed) to web-b in `mode` ("Promote", "Surge"); with deny_delete the API
 * refuses the first request (the failed pod's delete) with 403. Returns the reconcile's result;
 * got gets the pod writes from request `from` on. */
static int failover_of(struct fixture *f, const char *mode, bool deny_delete, int from, char *got,
		       size_t len)
{
	cJSON *svc = svc_json(mode, "");
	char *rev = revision_of(svc);
	char *p[] = {
		pod_json("web-a", "primary", "true", NOT_READY, rev),
		pod_json("web-b", "standby", "false", READY, rev),
		pod_json("web-c", "standby", "false", READY, rev),
	};
	cJSON *pods = pods_array(3, p);
	cJSON *pdb = cJSON_Parse("{\"metadata\":{\"name\":\"web\"," OWNED_BY_WEB "}}");
	struct phx_observed obs = { svc, pods, NULL, pdb };
	int64_t requeue = 0;
	if (deny_delete)
		fake_push(&f->fs, 403, "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":"
				       "\"Forbidden\",\"code\":403}");
	int rc = phx_reconcile(f->rec, "prod/web", &obs, &requeue);
	requests_text(&f->fs, from, got, len, true);
	cJSON_Delete(pods);
	cJSON_Delete(pdb);
	cJSON_Delete(svc);
	free(rev);
	return rc;
}

static int promote_failover(struct fixture *f, bool deny_delete, char *got, size_t len)
{
	return failover_of(f, "Promote", deny_delete, 0, got, len);
}

struct bg_failover {
	struct fixture *f;
	int from;
	char got[2048];
};

static void *surge_failover_bg(void *ud)
{
	struct bg_failover *b = ud;
	failover_of(b->f, "Surge", false, b->from, b->got, sizeof(b->got));
	return NULL;
}

/* The label patches that make pods serve are of the client's URGENT class: while the server has
 * told the client to back off (429 + Retry-After), they still go out at once; the routine writes
 * behind them wait out the hold. */
static void reconcile__serving_labels_are_urgent(void **state)
{
	struct fixture *f = *state;
	struct kube_client_opts co = { .qps = -1, .max_retries = -1 };
	struct fake_resp busy = { .status = 429, .retry_after = "2",
				  .body = "{\"kind\":\"Status\",\"code\":429,\"reason\":\"TooManyRequests\"}" };
	struct phx_reconciler_opts ro = { 0 };
	struct bg_failover b = { .f = f };
	pthread_t th;
	char got[2048];

	phx_reconciler_free(f->rec);
	kube_client_free(f->client);
	assert_int_equal(kube_client_new(&f->cfg, &co, &f->client), 0);
	ro.client = f->client;
	assert_int_equal(phx_reconciler_new(&ro, &f->rec), 0);
	fake_push_resp(&f->fs, &busy);
	assert_int_equal(kube_get(f->client, &KUBE_GVR_CONFIGMAPS, "d", "x", NULL, NULL, NULL),
			 KUBE_ETOOMANY);
	b.from = fake_nreqs(&f->fs);
	assert_int_equal(pthread_create(&th, NULL, surge_failover_bg, &b), 0);
	usleep(1000 * 1000);
	requests_text(&f->fs, b.from, got, sizeof(got), true);
	assert_string_equal(got, "PATCH pods/web-b, PATCH pods/web-c");
	pthread_join(th, NULL);
	assert_string_equal(b.got, "PATCH pods/web-b, PATCH pods/web-c, DELETE pods/web-a, POST pods");
}

static void reconcile__promote_fences_first(void **state)
{
	struct fixture *f = *state;
	char got[2048];
	assert_int_equal(promote_failover(f, false, got, sizeof(got)), 0);
	/* The fence is the failed pod's deletion (grace 0), before the promotion. */
	assert_string_equal(got, "DELETE pods/web-a, PATCH pods/web-b, POST pods");
	/* The missing Service is created selecting serving pods. */
	const char *s = find_body(&f->fs, 0, "POST", "/services");
	assert_non_null(s);
	assert_non_null(strstr(s, "\"phoenix.fpai.io/serving\":\"true\""));
}

/* A failed pod whose deletion was to take it out of the Service, and the API refuses the delete:
 * it is taken out by its label instead, the promotion still happens, and the delete's error is
 * returned (retried). */
static void reconcile__refused_fence_delete_labels_instead(void **state)
{
	struct fixture *f = *state;
	char got[2048];
	assert_int_equal(promote_failover(f, true, got, sizeof(got)), KUBE_EFORBIDDEN);
	assert_string_equal(got, "DELETE pods/web-a, PATCH pods/web-a, PATCH pods/web-b, POST pods");
	assert_non_null(strstr(find_body(&f->fs, 0, "PATCH", "pods/web-a"),
			       "\"phoenix.fpai.io/serving\":\"false\""));
}

/* A rollout switches over to an updated standby, then deletes the demoted old primary. When
 * the cache still shows that pod as the primary (the demotion's event not seen yet) and then
 * terminating, it is our own deletion of a standby, not a primary failing: no failover. */
static void reconcile__rollout_deleting_demoted_primary_is_not_a_failover(void **state)
{
	struct fixture *f = *state;
	cJSON *svc = svc_json("Surge", "");
	char *rev = revision_of(svc);
	char *p[] = {
		pod_json("web-a", "primary", "true", READY, "r0"),
		pod_json("web-d", "standby", "false", READY, rev),
		pod_json("web-e", "standby", "false", READY, rev),
	};
	cJSON *pods = pods_array(3, p);
	struct phx_observed obs = { svc, pods, NULL, NULL };
	int64_t requeue = 0;
	char got[2048];

	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	requests_text(&f->fs, 0, got, sizeof(got), true);
	assert_string_equal(got, "PATCH pods/web-d, PATCH pods/web-a");
	/* Same stale cache: web-a is a standby now (our write), of the old revision: replaced. */
	int before = fake_nreqs(&f->fs);
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	requests_text(&f->fs, before, got, sizeof(got), true);
	assert_string_equal(got, "DELETE pods/web-a, POST pods");
	/* The cache now shows web-a terminating but still labelled primary. */
	cJSON *meta = cJSON_GetObjectItem(cJSON_GetArrayItem(pods, 0), "metadata");
	cJSON_AddStringToObject(meta, "deletionTimestamp", "2020-01-01T00:00:01Z");
	before = fake_nreqs(&f->fs);
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	requests_text(&f->fs, before, got, sizeof(got), true);
	assert_string_equal(got, "");
	const char *st = find_body(&f->fs, before, "PATCH", "/status");
	assert_true(st == NULL || strstr(st, "\"failovers\":0") != NULL);
	cJSON *dash = phx_reconciler_dashboard(f->rec);
	int64_t v = -1;
	assert_true(kube_json_get_int(dash, &v, "failoversTotal", NULL));
	assert_int_equal(v, 0);
	cJSON_Delete(dash);
	cJSON_Delete(pods);
	cJSON_Delete(svc);
	free(rev);
}

/* An invalid spec holds spawning, not failover: a Ready standby is promoted (labels only). */
static void reconcile__invalid_spec_fails_over_but_spawns_nothing(void **state)
{
	struct fixture *f = *state;
	cJSON *svc = svc_json("Surge", ",\"resources\":{\"requests\":{\"cpu\":\"lots\"}}");
	char *rev = revision_of(svc);
	char *p[] = {
		pod_json("web-a", "primary", "true", NOT_READY, rev),
		pod_json("web-b", "standby", "false", READY, rev),
	};
	cJSON *pods = pods_array(2, p);
	struct phx_observed obs = { svc, pods, NULL, NULL };
	int64_t requeue = 0;
	char got[2048];
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	requests_text(&f->fs, 0, got, sizeof(got), false);
	assert_string_equal(got, "PATCH pods/web-b, PATCH pods/web-a, PATCH phoenixservices/web/status");
	assert_null(find_body(&f->fs, 0, "POST", "/services"));
	assert_null(find_body(&f->fs, 0, "POST", "/pods"));
	assert_null(find_body(&f->fs, 0, "DELETE", "/pods"));
	const char *st = find_body(&f->fs, 0, "PATCH", "/status");
	assert_non_null(strstr(st, "\"type\":\"Invalid\",\"status\":\"True\""));
	assert_non_null(strstr(st, "resources.requests.cpu"));
	assert_non_null(strstr(st, "no pod is spawned"));
	assert_non_null(strstr(st, "\"phase\":\"Invalid\""));
	assert_non_null(strstr(st, "\"primary\":\"web-b\""));
	assert_non_null(strstr(st, "\"failovers\":1"));
	cJSON_Delete(pods);
	cJSON_Delete(svc);
	free(rev);
}

static cJSON *settled_pods(const char *rev)
{
	char *p[] = {
		pod_json("web-a", "primary", "true", READY, rev),
		pod_json("web-b", "standby", "false", READY, rev),
		pod_json("web-c", "standby", "false", READY, rev),
	};
	return pods_array(3, p);
}

/* A settled service web (primary web-a, standbys web-b, web-c) with its Service and PDB. */
struct settled {
	cJSON *svc, *pods, *service, *pdb;
	char *rev;
	struct phx_observed obs;
};

static void settled_init(struct settled *t)
{
	t->svc = svc_json("Surge", "");
	t->rev = revision_of(t->svc);
	t->pods = settled_pods(t->rev);
	/* Exactly what the operator builds: nothing to repair, so the tests see only status. */
	t->service = phx_service_build(t->svc);
	t->pdb = phx_pdb_build(t->svc);
	t->obs = (struct phx_observed){ t->svc, t->pods, t->service, t->pdb };
}

static void settled_release(struct settled *t)
{
	cJSON_Delete(t->pods);
	cJSON_Delete(t->service);
	cJSON_Delete(t->pdb);
	cJSON_Delete(t->svc);
	free(t->rev);
}

/* Replaces svc's status with `status` (parsed) and sets its resourceVersion. */
static void set_cached(cJSON *svc, const char *status, const char *rv)
{
	cJSON *md = cJSON_GetObjectItem(svc, "metadata");
	cJSON_DeleteItemFromObject(md, "resourceVersion");
	cJSON_AddStringToObject(md, "resourceVersion", rv);
	cJSON_DeleteItemFromObject(svc, "status");
	cJSON *st = cJSON_Parse(status);
	assert_non_null(st);
	cJSON_AddItemToObject(svc, "status", st);
}

/* The status a PATCH body carries, as text (caller frees). */
static char *status_of(const char *body)
{
	cJSON *b = cJSON_Parse(body);
	assert_non_null(b);
	char *txt = cJSON_PrintUnformatted(cJSON_GetObjectItem(b, "status"));
	cJSON_Delete(b);
	return txt;
}

/* The spec turns invalid on a running service: the plan keeps the last valid spec (revision,
 * standbys), so no rollout to the invalid template starts and the failover runs on labels. */
static void reconcile__invalid_spec_keeps_last_valid_template(void **state)
{
	struct fixture *f = *state;
	struct settled t;
	settled_init(&t);
	const char *rev = t.rev;
	int64_t requeue = 0;
	char got[2048];
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &t.obs, &requeue), 0);

	cJSON *bad = svc_json("Surge", ",\"resources\":{\"requests\":{\"cpu\":\"lots\"}}");
	char *p[] = {
		pod_json("web-a", "primary", "true", NOT_READY, rev),
		pod_json("web-b", "standby", "false", READY, rev),
		pod_json("web-c", "standby", "false", READY, rev),
	};
	cJSON *pods2 = pods_array(3, p);
	struct phx_observed obs2 = { bad, pods2, t.service, t.pdb };
	int before = fake_nreqs(&f->fs);
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs2, &requeue), 0);
	requests_text(&f->fs, before, got, sizeof(got), true);
	assert_string_equal(got, "PATCH pods/web-b, PATCH pods/web-c, PATCH pods/web-a");
	const char *st = find_body(&f->fs, before, "PATCH", "/status");
	char want[128];
	snprintf(want, sizeof(want), "\"updateRevision\":\"%s\"", rev);
	assert_non_null(strstr(st, want));
	assert_non_null(strstr(st, "\"phase\":\"Invalid\""));
	assert_non_null(strstr(st, "\"failedPod\":\"web-a\""));
	cJSON_Delete(pods2);
	cJSON_Delete(bad);
	settled_release(&t);
}

/* The writer compares with what the object says now: a hand edit is undone, lastReconcileTime
 * is refreshed when due, and a cache still behind our own write is not "corrected". */
static void status__compared_with_the_object_now(void **state)
{
	struct fixture *f = *state;
	struct settled t;
	settled_init(&t);
	cJSON *svc = t.svc;
	struct phx_observed obs = t.obs;
	int64_t requeue = 0;
	char got[2048];
	set_cached(svc, "{\"primary\":\"web-a\"}", "10");

	fake_push(&f->fs, 200, "{\"metadata\":{\"resourceVersion\":\"11\"}}");
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	requests_text(&f->fs, 0, got, sizeof(got), false);
	assert_string_equal(got, "PATCH phoenixservices/web/status");
	const char *body = find_body(&f->fs, 0, "PATCH", "/status");
	/* first write since the count was read: only onto the version it was read from */
	assert_non_null(strstr(body, "\"resourceVersion\":\"10\""));
	assert_non_null(strstr(body, "\"lastReconcileTime\""));
	assert_non_null(strstr(body, "\"phase\":\"Healthy\""));
	assert_true(requeue > 0 && requeue <= PHX_STATUS_REFRESH_MS);
	char *written = status_of(body);

	/* The cache shows our write: nothing to do. */
	set_cached(svc, written, "11");
	int before = fake_nreqs(&f->fs);
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	assert_int_equal(fake_nreqs(&f->fs), before);

	/* Hand edit: phase and count are put back; no precondition any more. */
	cJSON *edited = cJSON_Parse(written);
	cJSON_ReplaceItemInObject(edited, "phase", cJSON_CreateString("Degraded"));
	cJSON_ReplaceItemInObject(edited, "failovers", cJSON_CreateNumber(999));
	char *etxt = cJSON_PrintUnformatted(edited);
	set_cached(svc, etxt, "12");
	before = fake_nreqs(&f->fs);
	fake_push(&f->fs, 200, "{\"metadata\":{\"resourceVersion\":\"13\"}}");
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	body = find_body(&f->fs, before, "PATCH", "/status");
	assert_non_null(body);
	assert_non_null(strstr(body, "\"phase\":\"Healthy\""));
	assert_non_null(strstr(body, "\"failovers\":0"));
	assert_null(strstr(body, "resourceVersion"));

	/* A cache older than our last write (rv 12 < 13) still shows the edit: not rewritten. */
	before = fake_nreqs(&f->fs);
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	assert_int_equal(fake_nreqs(&f->fs), before);

	/* Unchanged but lastReconcileTime is old: refreshed. */
	cJSON_ReplaceItemInObject(edited, "phase", cJSON_CreateString("Healthy"));
	cJSON_ReplaceItemInObject(edited, "failovers", cJSON_CreateNumber(0));
	cJSON_ReplaceItemInObject(edited, "lastReconcileTime",
				  cJSON_CreateString("2020-01-01T00:00:00Z"));
	free(etxt);
	etxt = cJSON_PrintUnformatted(edited);
	set_cached(svc, etxt, "14");
	before = fake_nreqs(&f->fs);
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	requests_text(&f->fs, before, got, sizeof(got), false);
	assert_string_equal(got, "PATCH phoenixservices/web/status");

	free(etxt);
	cJSON_Delete(edited);
	free(written);
	settled_release(&t);
}

/* A new leader reads a stale cache (failovers 8; the previous leader's last write said 9): its
 * first write is refused (409, resourceVersion precondition) and once the cache catches up it
 * writes 9, not 8. A leader that takes over reads countedFailures and does not count web-x,
 * still terminating as primary, a second time. */
static void status__failover_count_never_rewinds(void **state)
{
	struct fixture *f = *state;
	struct settled t;
	settled_init(&t);
	cJSON *svc = t.svc, *pods = t.pods;
	struct phx_observed obs = t.obs;
	int64_t requeue = 0;
	set_cached(svc, "{\"primary\":\"web-a\",\"failovers\":8}", "5");
	fake_push(&f->fs, 409, "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":"
			       "\"Conflict\",\"code\":409,\"message\":\"the object has been "
			       "modified\"}");
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	assert_true(requeue > 0 && requeue <= 1000);
	const char *body = find_body(&f->fs, 0, "PATCH", "/status");
	assert_non_null(strstr(body, "\"resourceVersion\":\"5\""));

	set_cached(svc, "{\"primary\":\"web-a\",\"failovers\":9}", "7");
	int before = fake_nreqs(&f->fs);
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	body = find_body(&f->fs, before, "PATCH", "/status");
	assert_non_null(body);
	assert_non_null(strstr(body, "\"failovers\":9"));
	assert_non_null(strstr(body, "\"resourceVersion\":\"7\""));

	/* Leadership changes hands: web-x was counted by the previous leader. */
	phx_reconciler_reset_bookkeeping(f->rec);
	cJSON *x = cJSON_Parse(pod_json_static_x);
	assert_non_null(x);
	cJSON_AddItemToArray(pods, x);
	set_cached(svc, "{\"primary\":\"web-a\",\"failovers\":9,\"countedFailures\":[\"web-x\"]}",
		   "9");
	before = fake_nreqs(&f->fs);
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	body = find_body(&f->fs, before, "PATCH", "/status");
	assert_non_null(body);
	assert_non_null(strstr(body, "\"failovers\":9"));
	settled_release(&t);
}

/* The API refuses a pod (Pod Security): the server's message is in condition PodCreateFailed
 * until a create succeeds. */
static void reconcile__refused_create_is_a_condition(void **state)
{
	struct fixture *f = *state;
	cJSON *svc = svc_json("Surge", "");
	cJSON *pods = cJSON_CreateArray();
	struct phx_observed obs = { svc, pods, NULL, NULL };
	int64_t requeue = 0;
	fake_push(&f->fs, 403, "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":"
			       "\"Forbidden\",\"code\":403,\"message\":\"pods is forbidden: "
			       "violates PodSecurity restricted:latest\"}");
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), KUBE_EFORBIDDEN);
	const char *body = find_body(&f->fs, 0, "PATCH", "/status");
	assert_non_null(body);
	assert_non_null(strstr(body, "\"type\":\"PodCreateFailed\",\"status\":\"True\","
				     "\"reason\":\"Forbidden\",\"message\":\"pods is forbidden: "
				     "violates PodSecurity"));
	int before = fake_nreqs(&f->fs);
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	body = find_body(&f->fs, before, "PATCH", "/status");
	assert_non_null(body);
	assert_non_null(strstr(body, "\"type\":\"PodCreateFailed\",\"status\":\"False\""));
	cJSON_Delete(pods);
	cJSON_Delete(svc);
}

static void reconcile__create_from_nothing_once(void **state)
{
	struct fixture *f = *state;
	cJSON *svc = svc_json("Surge", "");
	cJSON_DeleteItemFromObject(svc, "status");
	cJSON *pods = cJSON_CreateArray();
	struct phx_observed obs = { svc, pods, NULL, NULL };
	int64_t requeue = 0;
	char got[2048];
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	requests_text(&f->fs, 0, got, sizeof(got), true);
	assert_string_equal(got, "POST pods, POST pods, POST pods");
	assert_non_null(find_body(&f->fs, 0, "POST", "/poddisruptionbudgets"));
	const char *st = find_body(&f->fs, 0, "PATCH", "/status");
	assert_non_null(strstr(st, "\"phase\":\"Pending\""));
	assert_non_null(strstr(st, "\"failovers\":0"));
	/* The cache has not seen the pods yet: no second round of creates. */
	int before = fake_nreqs(&f->fs);
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	requests_text(&f->fs, before, got, sizeof(got), true);
	assert_string_equal(got, "");
	assert_true(requeue > 0);
	cJSON_Delete(pods);
	cJSON_Delete(svc);
}

/* A copy of the cache taken before a starting pod's Ready event must not make it look like a
 * pod that stopped being Ready (it would be replaced for nothing). */
static void reconcile__stale_copy_of_starting_pod_is_not_a_failure(void **state)
{
	struct fixture *f = *state;
	cJSON *svc = svc_json("Surge", "");
	char *rev = revision_of(svc);
	char now[32];
	phx_time_format(phx_wall_ms(), now, sizeof(now));
	char *ready = NULL, *starting = NULL;
	assert_true(asprintf(&ready, "{\"metadata\":{\"name\":\"web-n\",\"namespace\":\"prod\","
				     "\"resourceVersion\":\"20\",\"creationTimestamp\":\"%s\","
				     "\"labels\":{\"phoenix.fpai.io/service\":\"web\","
				     "\"phoenix.fpai.io/role\":\"standby\",\"phoenix.fpai.io/serving\":"
				     "\"false\",\"phoenix.fpai.io/revision\":\"%s\","
				     "\"phoenix.fpai.io/owner-uid\":\"uid-1\"}," OWNED_BY_WEB "},%s}",
			     now, rev, READY) > 0);
	assert_true(asprintf(&starting, "{\"metadata\":{\"name\":\"web-n\",\"namespace\":\"prod\","
					"\"resourceVersion\":\"15\",\"creationTimestamp\":\"%s\","
					"\"labels\":{\"phoenix.fpai.io/service\":\"web\","
					"\"phoenix.fpai.io/role\":\"standby\",\"phoenix.fpai.io/serving\":"
					"\"false\",\"phoenix.fpai.io/revision\":\"%s\","
					"\"phoenix.fpai.io/owner-uid\":\"uid-1\"}," OWNED_BY_WEB "},"
					"\"status\":{\"phase\":\"Pending\",\"conditions\":[{\"type\":"
					"\"Ready\",\"status\":\"False\"}]}}",
			     now, rev) > 0);
	cJSON *ready_pod = cJSON_Parse(ready);
	/* The handler saw it Ready at resourceVersion 20 ... */
	assert_false(phx_reconciler_pod_event(f->rec, NULL, ready_pod, false));
	/* ... and a reconcile holds a copy from resourceVersion 15, when it was starting. */
	char *p[] = {
		pod_json("web-a", "primary", "true", READY, rev),
		pod_json("web-b", "standby", "false", READY, rev),
		starting,
	};
	cJSON *pods = pods_array(3, p);
	cJSON *pdb = cJSON_Parse("{\"metadata\":{\"name\":\"web\"," OWNED_BY_WEB "}}");
	cJSON *service = cJSON_Parse("{\"metadata\":{\"name\":\"web\"," OWNED_BY_WEB "},\"spec\":{\"type\":"
				     "\"ClusterIP\",\"selector\":{\"phoenix.fpai.io/service\":\"web\","
				     "\"phoenix.fpai.io/serving\":\"true\"},\"ports\":[{\"name\":"
				     "\"default\",\"port\":8080,\"targetPort\":8080,\"protocol\":"
				     "\"TCP\"}]}}");
	struct phx_observed obs = { svc, pods, service, pdb };
	int64_t requeue = 0;
	char got[1024];
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	requests_text(&f->fs, 0, got, sizeof(got), true);
	assert_string_equal(got, "");
	cJSON_Delete(ready_pod);
	cJSON_Delete(pods);
	cJSON_Delete(pdb);
	cJSON_Delete(service);
	cJSON_Delete(svc);
	free(ready);
	free(rev);
}

/* A deleted service's memory is freed, even when the garbage collector's pod deletions bring a
 * record back for a moment; a service recreated under the same name starts afresh (the old
 * primary's failure is not counted against it). */
static void reconcile__deleted_service_is_forgotten(void **state)
{
	struct fixture *f = *state;
	cJSON *svc = svc_json("Surge", "");
	cJSON_DeleteItemFromObject(svc, "status");
	cJSON *pods = cJSON_CreateArray();
	struct phx_observed obs = { svc, pods, NULL, NULL };
	struct phx_observed gone = { NULL, NULL, NULL, NULL };
	int64_t requeue = 0;
	char got[2048];
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	assert_int_equal(phx_reconciler_nrecords(f->rec), 1);
	char *pj = pod_json("web-a", "primary", "true", READY, "r1");
	cJSON *pod = cJSON_Parse(pj);
	assert_true(phx_reconciler_pod_event(f->rec, pod, NULL, true));

	assert_int_equal(phx_reconcile(f->rec, "prod/web", &gone, &requeue), 0);
	assert_int_equal(phx_reconciler_nrecords(f->rec), 0);
	/* The garbage collector deletes the pods: a handler makes a record again ... */
	assert_true(phx_reconciler_pod_event(f->rec, pod, NULL, true));
	assert_int_equal(phx_reconciler_nrecords(f->rec), 1);
	/* ... which the reconcile it enqueued drops. */
	assert_int_equal(phx_reconcile_load(f->rec, "prod/web", load_nothing, NULL, &requeue), 0);
	assert_int_equal(phx_reconciler_nrecords(f->rec), 0);
	/* A reconcile of a key never seen keeps nothing. */
	assert_int_equal(phx_reconcile(f->rec, "prod/other", &gone, &requeue), 0);
	assert_int_equal(phx_reconciler_nrecords(f->rec), 0);

	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(svc, "metadata"), "uid",
				  cJSON_CreateString("uid-2"));
	int before = fake_nreqs(&f->fs);
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &obs, &requeue), 0);
	assert_int_equal(phx_reconciler_nrecords(f->rec), 1);
	requests_text(&f->fs, before, got, sizeof(got), true);
	assert_string_equal(got, "POST pods, POST pods, POST pods");
	const char *st = find_body(&f->fs, before, "PATCH", "/status");
	assert_non_null(st);
	assert_non_null(strstr(st, "\"failovers\":0"));
	cJSON *dash = phx_reconciler_dashboard(f->rec);
	assert_non_null(dash);
	assert_int_equal(cJSON_GetObjectItem(dash, "services")->valueint, 1);
	cJSON_Delete(dash);
	cJSON_Delete(pod);
	free(pj);
	cJSON_Delete(pods);
	cJSON_Delete(svc);
}

/* A replica that does not reconcile (a standby) keeps records from pod events alone; forget
 * drops them with the service's failover counter, and is a no-op for keys it never saw. */
static void forget__drops_the_record_without_a_reconcile(void **state)
{
	struct fixture *f = *state;
	char *pj = pod_json("web-a", "primary", "true", READY, "r1");
	cJSON *pod = cJSON_Parse(pj);
	assert_false(phx_reconciler_pod_event(f->rec, NULL, pod, false));
	assert_int_equal(phx_reconciler_nrecords(f->rec), 1);
	phx_reconciler_forget(f->rec, "prod/other");
	assert_int_equal(phx_reconciler_nrecords(f->rec), 1);
	phx_reconciler_forget(f->rec, "prod/web");
	assert_int_equal(phx_reconciler_nrecords(f->rec), 0);
	phx_reconciler_forget(f->rec, "prod/web");
	assert_int_equal(phx_reconciler_nrecords(f->rec), 0);
	/* A later event makes a fresh record. */
	assert_true(phx_reconciler_pod_event(f->rec, pod, NULL, true));
	assert_int_equal(phx_reconciler_nrecords(f->rec), 1);
	cJSON_Delete(pod);
	free(pj);
}

/* Handlers, reconciles that see services come and go, the dashboard and a leadership change
 * all at once on a few keys (run under ASan and TSan: no use after free, no race, no leak). */
struct churn_arg {
	struct phx_reconciler *rec;
	int role;
};

static void *churn_main(void *p)
{
	struct churn_arg *a = p;
	char *pj = pod_json("web-a", "primary", "true", NOT_READY, "r1");
	cJSON *pod = cJSON_Parse(pj);
	struct phx_observed gone = { NULL, NULL, NULL, NULL };
	int64_t requeue = 0;
	for (int i = 0; i < 2000; i++) {
		switch (a->role) {
		case 0:
			phx_reconciler_pod_event(a->rec, NULL, pod, i % 2);
			break;
		case 1:
			phx_reconcile(a->rec, "prod/web", &gone, &requeue);
			phx_reconcile_load(a->rec, "prod/web", load_nothing, NULL, &requeue);
			break;
		case 2:
			cJSON_Delete(phx_reconciler_dashboard(a->rec));
			break;
		default:
			phx_reconciler_reset_bookkeeping(a->rec);
			break;
		}
	}
	cJSON_Delete(pod);
	free(pj);
	return NULL;
}

static void reconcile__records_survive_churn(void **state)
{
	struct fixture *f = *state;
	pthread_t t[6];
	struct churn_arg args[6] = {
		{ f->rec, 0 }, { f->rec, 0 }, { f->rec, 1 }, { f->rec, 1 }, { f->rec, 2 }, { f->rec, 3 },
	};
	for (int i = 0; i < 6; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn_main, &args[i]), 0);
	for (int i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	struct phx_observed gone = { NULL, NULL, NULL, NULL };
	int64_t requeue = 0;
	assert_int_equal(phx_reconcile(f->rec, "prod/web", &gone, &requeue), 0);
	assert_int_equal(phx_reconciler_nrecords(f->rec), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(reconcile__surge_failover_order_and_idempotence,
						setup, teardown),
		cmocka_unit_test_setup_teardown(reconcile__promote_fences_first, setup, teardown),
		cmocka_unit_test_setup_teardown(reconcile__refused_fence_delete_labels_instead, setup,
						teardown),
		cmocka_unit_test_setup_teardown(reconcile__serving_labels_are_urgent, setup, teardown),
		cmocka_unit_test_setup_teardown(
			reconcile__rollout_deleting_demoted_primary_is_not_a_failover, setup, teardown),
		cmocka_unit_test_setup_teardown(reconcile__invalid_spec_fails_over_but_spawns_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(reconcile__invalid_spec_keeps_last_valid_template,
						setup, teardown),
		cmocka_unit_test_setup_teardown(status__compared_with_the_object_now, setup,
						teardown),
		cmocka_unit_test_setup_teardown(status__failover_count_never_rewinds, setup,
						teardown),
		cmocka_unit_test_setup_teardown(reconcile__refused_create_is_a_condition, setup,
						teardown),
		cmocka_unit_test_setup_teardown(reconcile__create_from_nothing_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			reconcile__stale_copy_of_starting_pod_is_not_a_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(reconcile__deleted_service_is_forgotten, setup,
						teardown),
		cmocka_unit_test_setup_teardown(forget__drops_the_record_without_a_reconcile, setup,
						teardown),
		cmocka_unit_test_setup_teardown(reconcile__records_survive_churn, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
