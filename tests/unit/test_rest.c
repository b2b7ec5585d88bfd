/* REST client against an in-test HTTP server: request shapes, error mapping, retries, rate
 * limiting, the write gate, pagination, token rotation, TLS and concurrent use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fake_server.h"
#include "kube_config.h"
#include "kube_exec.h"
#include "kube_json.h"
#include "kube_metrics.h"
#include "kube_rest.h"

struct fixture {
	struct fake_server fs;
	struct kube_config cfg;
	struct kube_client *c;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int setup_opts(void **state, const struct kube_client_opts *opts)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(fake_server_start(&f->fs), 0);
	assert_int_equal(kube_config_init_server(&f->cfg, f->fs.url), 0);
	assert_int_equal(kube_client_new(&f->cfg, opts, &f->c), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	/* Unlimited and fast retries so tests measure what they mean to. */
	struct kube_client_opts o = { .qps = -1, .retry_base_ms = 10 };

	return setup_opts(state, &o);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	kube_client_free(f->c);
	kube_config_release(&f->cfg);
	fake_server_stop(&f->fs);
	free(f);
	return 0;
}

static cJSON *obj_from(const char *json)
{
	cJSON *o = cJSON_Parse(json);

	assert_non_null(o);
	return o;
}

/* --- request shapes (table-driven) ---------------------------------------------------------- */

static const struct kube_gvr GVR_PHX = { "phoenix.fpai.io", "v1alpha1", "phoenixservices", true };

enum verb { V_GET, V_LIST, V_CREATE, V_UPDATE, V_PATCH, V_DELETE };

struct shape_case {
	const char *what;
	enum verb verb;
	const struct kube_gvr *gvr;
	const char *ns, *name, *sub;
	struct kube_list_opts lo;
	enum kube_patch_type pt;
	const char *payload;        /* create/update object or patch text */
	bool with_delete_opts;
	const char *want_method, *want_path, *want_query, *want_ctype;
	const char *want_body_has;  /* substring of the request body, or NULL for empty body */
};

static const struct shape_case shape_cases[] = {
	{ "get core namespaced", V_GET, &KUBE_GVR_PODS, "default", "p1", NULL, { 0 }, 0, NULL, false,
	  "GET", "/api/v1/namespaces/default/pods/p1", "", "", NULL },
	{ "get group subresource", V_GET, &KUBE_GVR_DEPLOYMENTS, "ns1", "d1", "scale", { 0 }, 0, NULL,
	  false, "GET", "/apis/apps/v1/namespaces/ns1/deployments/d1/scale", "", "", NULL },
	{ "get cluster-scoped ignores ns", V_GET, &KUBE_GVR_NODES, "ignored", "n1", NULL, { 0 }, 0,
	  NULL, false, "GET", "/api/v1/nodes/n1", "", "", NULL },
	{ "list all namespaces with selectors", V_LIST, &KUBE_GVR_PODS, NULL, NULL, NULL,
	  { .label_selector = "app=web,tier in (a,b)", .field_selector = "status.phase=Running" }, 0,
	  NULL, false, "GET", "/api/v1/pods",
	  "labelSelector=app=web,tier in (a,b)&fieldSelector=status.phase=Running", "", NULL },
	{ "list namespaced custom resource with rv", V_LIST, &GVR_PHX, "prod", NULL, NULL,
	  { .resource_version = "42", .timeout_seconds = 5 }, 0, NULL, false, "GET",
	  "/apis/phoenix.fpai.io/v1alpha1/namespaces/prod/phoenixservices",
	  "resourceVersion=42&timeoutSeconds=5", "", NULL },
	{ "create", V_CREATE, &KUBE_GVR_CONFIGMAPS, "default", NULL, NULL, { 0 }, 0,
	  "{\"metadata\":{\"name\":\"cm\"},\"data\":{\"k\":\"v\"}}", false, "POST",
	  "/api/v1/namespaces/default/configmaps", "", "application/json", "\"data\":{\"k\":\"v\"}" },
	{ "create cluster-scoped", V_CREATE, &KUBE_GVR_NAMESPACES, NULL, NULL, NULL, { 0 }, 0,
	  "{\"metadata\":{\"name\":\"ns9\"}}", false, "POST", "/api/v1/namespaces", "",
	  "application/json", "\"name\":\"ns9\"" },
	{ "update status", V_UPDATE, &GVR_PHX, "prod", "web", "status", { 0 }, 0,
	  "{\"metadata\":{\"name\":\"web\",\"resourceVersion\":\"7\"},\"status\":{\"phase\":\"Healthy\"}}",
	  false, "PUT", "/apis/phoenix.fpai.io/v1alpha1/namespaces/prod/phoenixservices/web/status",
	  "", "application/json", "\"resourceVersion\":\"7\"" },
	{ "merge patch", V_PATCH, &KUBE_GVR_PODS, "default", "p1", NULL, { 0 }, KUBE_PATCH_MERGE,
	  "{\"metadata\":{\"labels\":{\"a\":\"b\"}}}", false, "PATCH",
	  "/api/v1/namespaces/default/pods/p1", "", "application/merge-patch+json", "\"a\":\"b\"" },
	{ "json patch", V_PATCH, &KUBE_GVR_PODS, "default", "p1", NULL, { 0 }, KUBE_PATCH_JSON,
	  "[{\"op\":\"remove\",\"path\":\"/x\"}]", false, "PATCH",
	  "/api/v1/namespaces/default/pods/p1", "", "application/json-patch+json", "\"op\":\"remove\"" },
	{ "strategic patch on scale", V_PATCH, &KUBE_GVR_DEPLOYMENTS, "ns1", "d1", "scale", { 0 },
	  KUBE_PATCH_STRATEGIC, "{\"spec\":{\"replicas\":3}}", false, "PATCH",
	  "/apis/apps/v1/namespaces/ns1/deployments/d1/scale", "",
	  "application/strategic-merge-patch+json", "\"replicas\":3" },
	{ "delete plain", V_DELETE, &KUBE_GVR_PODS, "default", "p1", NULL, { 0 }, 0, NULL, false,
	  "DELETE", "/api/v1/namespaces/default/pods/p1", "", "", NULL },
	{ "delete with options", V_DELETE, &KUBE_GVR_JOBS, "ci", "j1", NULL, { 0 }, 0, NULL, true,
	  "DELETE", "/apis/batch/v1/namespaces/ci/jobs/j1", "", "application/json",
	  "\"propagationPolicy\":\"Foreground\"" },
};

static void rest__request_shapes(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(shape_cases) / sizeof(shape_cases[0]); i++) {
		const struct shape_case *tc = &shape_cases[i];
		struct kube_delete_opts dopts = KUBE_DELETE_OPTS_INIT;
		struct kube_status st = { 0 };
		cJSON *obj = NULL, *out = NULL;
		struct fake_req *r;
		int rc = KUBE_EINVAL;

		fake_reset(&f->fs);
		fake_push(&f->fs, 200, "{\"kind\":\"Thing\",\"metadata\":{\"name\":\"x\"}}");
		if (tc->verb == V_CREATE || tc->verb == V_UPDATE)
			obj = obj_from(tc->payload);
		dopts.propagation_policy = "Foreground";
		dopts.grace_period_seconds = 0;
		dopts.precondition_uid = "u-1";
		switch (tc->verb) {
		case V_GET: rc = kube_get(f->c, tc->gvr, tc->ns, tc->name, tc->sub, &out, &st); break;
		case V_LIST: rc = kube_list(f->c, tc->gvr, tc->ns, &tc->lo, &out, &st); break;
		case V_CREATE: rc = kube_create(f->c, tc->gvr, tc->ns, obj, &out, &st); break;
		case V_UPDATE:
			rc = kube_update(f->c, tc->gvr, tc->ns, tc->name, tc->sub, obj, &out, &st);
			break;
		case V_PATCH:
			rc = kube_patch(f->c, tc->gvr, tc->ns, tc->name, tc->sub, tc->pt, tc->payload,
					&out, &st);
			break;
		case V_DELETE:
			rc = kube_delete(f->c, tc->gvr, tc->ns, tc->name,
					 tc->with_delete_opts ? &dopts : NULL, &out, &st);
			break;
		}
		if (rc != 0)
			fail_msg("%s: rc %d (%s) %s", tc->what, rc, kube_strerror(rc),
				 st.message != NULL ? st.message : "");
		assert_int_equal(st.http_status, 200);
		assert_string_equal(kube_json_name(out), "x");
		assert_int_equal(fake_nreqs(&f->fs), 1);
		r = &f->fs.reqs[0];
		assert_string_equal(r->method, tc->want_method);
		assert_string_equal(r->path, tc->want_path);
		assert_string_equal(r->query, tc->want_query);
		assert_string_equal(r->content_type, tc->want_ctype);
		if (tc->want_body_has != NULL) {
			if (strstr(r->body, tc->want_body_has) == NULL)
				fail_msg("%s: body %s lacks %s", tc->what, r->body, tc->want_body_has);
		} else {
			assert_int_equal(r->body_len, 0);
		}
		if (tc->with_delete_opts) {
			cJSON *b = obj_from(r->body);

			assert_string_equal(kube_json_get_str(b, "kind", NULL), "DeleteOptions");
			assert_true(cJSON_IsNumber(kube_json_get(b, "gracePeriodSeconds", NULL)));
			assert_string_equal(kube_json_get_str(b, "preconditions", "uid", NULL), "u-1");
			cJSON_Delete(b);
		}
		assert_string_equal(r->user_agent, "phoenix-kube/0.1");
		cJSON_Delete(obj);
		cJSON_Delete(out);
		kube_status_release(&st);
	}
}

static void rest__argument_errors(void **state)
{
	struct fixture *f = *state;
	cJSON *o = obj_from("{}");

	assert_int_equal(kube_get(f->c, &KUBE_GVR_PODS, NULL, "p", NULL, NULL, NULL), KUBE_EINVAL);
	assert_int_equal(kube_get(f->c, &KUBE_GVR_PODS, "ns", "", NULL, NULL, NULL), KUBE_EINVAL);
	assert_int_equal(kube_create(f->c, &KUBE_GVR_PODS, NULL, o, NULL, NULL), KUBE_EINVAL);
	assert_int_equal(kube_patch(f->c, &KUBE_GVR_PODS, "ns", "p", NULL, KUBE_PATCH_MERGE, NULL,
				    NULL, NULL), KUBE_EINVAL);
	assert_int_equal(fake_nreqs(&f->fs), 0);
	cJSON_Delete(o);
}

static void rest__resource_path_escapes(void **state)
{
	char *p = kube_resource_path(&KUBE_GVR_CONFIGMAPS, "a b", "x/y", NULL);

	(void)state;
	assert_string_equal(p, "/api/v1/namespaces/a%20b/configmaps/x%2Fy");
	free(p);
	p = kube_resource_path(&KUBE_GVR_CRDS, NULL, "foos.example.com", "status");
	assert_string_equal(p, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
			       "foos.example.com/status");
	free(p);
}

/* --- API errors ------------------------------------------------------------------------------ */

static void rest__status_errors_mapped(void **state)
{
	static const struct {
		int status;
		const char *reason;
		int want;
	} cases[] = {
		{ 404, "NotFound", KUBE_ENOTFOUND },     { 409, "Conflict", KUBE_ECONFLICT },
		{ 409, "AlreadyExists", KUBE_EALREADYEXISTS }, { 403, "Forbidden", KUBE_EFORBIDDEN },
		{ 422, "Invalid", KUBE_EINVALID },       { 410, "Expired", KUBE_EGONE },
		{ 401, "Unauthorized", KUBE_EUNAUTHORIZED }, { 400, "BadRequest", KUBE_EBADREQUEST },
		{ 415, "UnsupportedMediaType", KUBE_EUNSUPPORTED },
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kube_status st = { 0 };
		char body[512], want_msg[64];
		cJSON *out = (cJSON *)1;
		int rc;

		snprintf(want_msg, sizeof(want_msg), "pods 'p' says %s", cases[i].reason);
		snprintf(body, sizeof(body),
			 "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
			 "\"message\":\"%s\",\"reason\":\"%s\",\"details\":{\"name\":\"p\","
			 "\"kind\":\"pods\"},\"code\":%d}", want_msg, cases[i].reason, cases[i].status);
		fake_reset(&f->fs);
		fake_push(&f->fs, cases[i].status, body);
		/* POST: never retried, so every status is seen exactly once. */
		rc = kube_patch(f->c, &KUBE_GVR_PODS, "default", "p", NULL, KUBE_PATCH_MERGE, "{}",
				&out, &st);
		assert_int_equal(rc, cases[i].want);
		assert_null(out);
		assert_int_equal(st.http_status, cases[i].status);
		assert_string_equal(st.reason, cases[i].reason);
		assert_string_equal(st.message, want_msg);
		assert_string_equal(kube_json_get_str(st.details, "name", NULL), "p");
		kube_status_release(&st);
	}
}

static void rest__stale_update_conflict(void **state)
{
	struct fixture *f = *state;
	struct kube_status st = { 0 };
	cJSON *o = obj_from("{\"metadata\":{\"name\":\"cm\",\"resourceVersion\":\"1\"}}");

	fake_push(&f->fs, 409, "{\"kind\":\"Status\",\"code\":409,\"reason\":\"Conflict\","
		  "\"message\":\"Operation cannot be fulfilled on configmaps \\\"cm\\\": the object "
		  "has been modified\"}");
	assert_int_equal(kube_update(f->c, &KUBE_GVR_CONFIGMAPS, "default", "cm", NULL, o, NULL,
				     &st), KUBE_ECONFLICT);
	assert_non_null(strstr(st.message, "has been modified"));
	assert_int_equal(fake_nreqs(&f->fs), 1);
	kube_status_release(&st);
	cJSON_Delete(o);
}

static void rest__non_status_error_body_kept(void **state)
{
	struct fixture *f = *state;
	struct kube_status st = { 0 };

	fake_push(&f->fs, 418, "teapot says no");
	assert_int_equal(kube_get(f->c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, &st), KUBE_EHTTP);
	assert_null(st.reason);
	assert_non_null(strstr(st.message, "teapot says no"));
	kube_status_release(&st);
}

static void rest__bad_json_is_parse_error(void **state)
{
	struct fixture *f = *state;
	cJSON *out = NULL;

	fake_push(&f->fs, 200, "{not json");
	assert_int_equal(kube_get(f->c, &KUBE_GVR_PODS, "d", "p", NULL, &out, NULL), KUBE_EPARSE);
	assert_null(out);
}

/* --- retries --------------------------------------------------------------------------------- */

static void rest__429_retry_after_honoured(void **state)
{
	struct fixture *f = *state;
	struct fake_resp r = { .status = 429, .retry_after = "1",
			       .body = "{\"kind\":\"Status\",\"code\":429,\"reason\":\"TooManyRequests\"}" };
	cJSON *out = NULL;
	double t0, dt;

	fake_push_resp(&f->fs, &r);
	fake_push(&f->fs, 200, "{\"metadata\":{\"name\":\"p\"}}");
	t0 = now_s();
	assert_int_equal(kube_get(f->c, &KUBE_GVR_PODS, "d", "p", NULL, &out, NULL), 0);
	dt = now_s() - t0;
	assert_int_equal(fake_nreqs(&f->fs), 2);
	assert_string_equal(kube_json_name(out), "p");
	/* Retry-After: 1 beats our 10 ms backoff. */
	assert_true(dt >= 0.95);
	assert_true(dt < 5.0);
	cJSON_Delete(out);
}

static void rest__500_retried_for_get_not_post(void **state)
{
	struct fixture *f = *state;
	const char *err = "{\"kind\":\"Status\",\"code\":500,\"reason\":\"InternalError\"}";
	cJSON *o = obj_from("{\"metadata\":{\"name\":\"x\"}}");

	fake_push(&f->fs, 500, err);
	fake_push(&f->fs, 503, err);
	fake_push(&f->fs, 200, "{}");
	assert_int_equal(kube_list(f->c, &KUBE_GVR_PODS, "d", NULL, NULL, NULL), 0);
	assert_int_equal(fake_nreqs(&f->fs), 3);

	fake_reset(&f->fs);
	fake_push(&f->fs, 500, err);
	fake_push(&f->fs, 200, "{}");
	assert_int_equal(kube_create(f->c, &KUBE_GVR_PODS, "d", o, NULL, NULL), KUBE_ESERVER);
	assert_int_equal(fake_nreqs(&f->fs), 1);

	fake_reset(&f->fs);
	fake_push(&f->fs, 500, err);
	fake_push(&f->fs, 200, "{}");
	assert_int_equal(kube_patch(f->c, &KUBE_GVR_PODS, "d", "x", NULL, KUBE_PATCH_MERGE, "{}",
				    NULL, NULL), KUBE_ESERVER);
	assert_int_equal(fake_nreqs(&f->fs), 1);

	/* DELETE is idempotent enough to retry. */
	fake_reset(&f->fs);
	fake_push(&f->fs, 500, err);
	fake_push(&f->fs, 200, "{}");
	assert_int_equal(kube_delete(f->c, &KUBE_GVR_PODS, "d", "x", NULL, NULL, NULL), 0);
	assert_int_equal(fake_nreqs(&f->fs), 2);
	cJSON_Delete(o);
}

static void rest__retries_are_bounded(void **state)
{
	struct fixture *f = *state;
	struct kube_status st = { 0 };

	/* Fallback is a 500 for every request: 1 try + 3 retries, then the error. */
	assert_int_equal(kube_get(f->c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, &st), KUBE_ESERVER);
	assert_int_equal(fake_nreqs(&f->fs), 4);
	assert_int_equal(st.http_status, 500);
	kube_status_release(&st);
}

static void rest__transport_error(void **state)
{
	struct kube_client_opts o = { .qps = -1, .max_retries = -1, .connect_timeout_ms = 2000 };
	struct kube_config cfg;
	struct kube_client *c = NULL;
	struct kube_status st = { 0 };
	struct fake_server fs;
	char url[64];

	(void)state;
	/* A port that was just free: start and stop a server to get one. */
	assert_int_equal(fake_server_start(&fs), 0);
	snprintf(url, sizeof(url), "%s", fs.url);
	fake_server_stop(&fs);
	assert_int_equal(kube_config_init_server(&cfg, url), 0);
	assert_int_equal(kube_client_new(&cfg, &o, &c), 0);
	assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, &st), KUBE_EIO);
	assert_int_equal(st.http_status, 0);
	assert_non_null(st.message);
	kube_status_release(&st);
	kube_client_free(c);
	kube_config_release(&cfg);
}

/* The client's own end of a connection to `port` (our process holds both ends on loopback:
 * the client's socket is the one whose peer is the server's port). -1 when none. */
static int client_socket_to(unsigned short port)
{
	for (int fd = 3; fd < 4096; fd++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int type = 0;
		socklen_t tlen = sizeof(type);

		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_STREAM)
			continue;
		if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0 || ss.ss_family != AF_INET)
			continue;
		if (ntohs(((struct sockaddr_in *)&ss)->sin_port) == port)
			return fd;
	}
	return -1;
}

/* A connection cut without FIN or RST must fail in bounded time: every socket the client opens
 * has TCP keepalive (15 s idle, 5 s interval) and a 30 s TCP_USER_TIMEOUT. */
static void rest__sockets_have_keepalive_and_user_timeout(void **state)
{
	struct fixture *f = *state;
	int fd, v = 0;
	unsigned int ut = 0;
	socklen_t len = sizeof(v);

	fake_push(&f->fs, 200, "{}");
	assert_int_equal(kube_get(f->c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), 0);
	/* The connection stays open in the client's pool. */
	fd = client_socket_to(f->fs.port);
	assert_true(fd >= 0);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, &len), 0);
	assert_int_equal(v, 1);
	len = sizeof(v);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, &len), 0);
	assert_int_equal(v, 15);
	len = sizeof(v);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, &len), 0);
	assert_int_equal(v, 5);
	len = sizeof(ut);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ut, &len), 0);
	assert_int_equal(ut, 30000);
}

/* --- pagination -------------------------------------------------------------------------------- */

static void rest__list_follows_continue(void **state)
{
	struct fixture *f = *state;
	struct kube_list_opts lo = { .limit = 2, .label_selector = "a=b" };
	cJSON *out = NULL;
	const cJSON *items;

	fake_push(&f->fs, 200, "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"10\","
		  "\"continue\":\"tok1\"},\"items\":[{\"metadata\":{\"name\":\"a\"}},"
		  "{\"metadata\":{\"name\":\"b\"}}]}");
	fake_push(&f->fs, 200, "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"11\"},"
		  "\"items\":[{\"metadata\":{\"name\":\"c\"}}]}");
	assert_int_equal(kube_list(f->c, &KUBE_GVR_PODS, "d", &lo, &out, NULL), 0);
	items = kube_json_get(out, "items", NULL);
	assert_int_equal(cJSON_GetArraySize(items), 3);
	assert_string_equal(kube_json_name(cJSON_GetArrayItem(items, 2)), "c");
	assert_string_equal(kube_json_get_str(out, "metadata", "resourceVersion", NULL), "11");
	assert_null(kube_json_get(out, "metadata", "continue", NULL));
	assert_int_equal(fake_nreqs(&f->fs), 2);
	assert_string_equal(f->fs.reqs[0].query, "labelSelector=a=b&limit=2");
	assert_string_equal(f->fs.reqs[1].query, "labelSelector=a=b&limit=2&continue=tok1");
	cJSON_Delete(out);
}

static void rest__list_repeated_continue_token_fails(void **state)
{
	struct fixture *f = *state;
	struct kube_list_opts lo = { .limit = 1 };
	cJSON *out = NULL;

	/* A broken server that hands back the same continue token forever must not make us page
	 * (and grow the list) without end. */
	f->fs.fallback.status = 200;
	f->fs.fallback.body = "{\"kind\":\"PodList\",\"metadata\":{\"continue\":\"same\"},"
			      "\"items\":[{\"metadata\":{\"name\":\"a\"}}]}";
	assert_int_equal(kube_list(f->c, &KUBE_GVR_PODS, "d", &lo, &out, NULL), KUBE_EPARSE);
	assert_null(out);
	assert_true(fake_nreqs(&f->fs) <= 3);
}

/* A server that keeps paging with fresh tokens stops at max_items: items or pages. */
static void rest__list_max_items_bounds_paging(void **state)
{
	struct fixture *f = *state;
	struct kube_list_opts lo = { .limit = 1, .max_items = 3 };
	struct kube_status st = { 0 };
	cJSON *out = NULL;
	char body[6][160]; /* the script keeps pointers: one buffer per page */

	for (int i = 0; i < 6; i++) {
		snprintf(body[i], sizeof(body[i]), "{\"kind\":\"PodList\",\"metadata\":"
			 "{\"continue\":\"t%d\"},\"items\":[{\"metadata\":{\"name\":\"p%d\"}}]}",
			 i, i);
		fake_push(&f->fs, 200, body[i]);
	}
	assert_int_equal(kube_list(f->c, &KUBE_GVR_PODS, "d", &lo, &out, &st), KUBE_ETOOBIG);
	assert_null(out);
	assert_int_equal(fake_nreqs(&f->fs), 3);
	assert_non_null(st.message);
	assert_non_null(strstr(st.message, "more than 3 pages"));
	kube_status_release(&st);

	/* Pages with no items and ever new tokens end too; one big page counts its items. */
	fake_reset(&f->fs);
	for (int i = 0; i < 6; i++) {
		snprintf(body[i], sizeof(body[i]), "{\"kind\":\"PodList\",\"metadata\":"
			 "{\"continue\":\"e%d\"},\"items\":[]}", i);
		fake_push(&f->fs, 200, body[i]);
	}
	assert_int_equal(kube_list(f->c, &KUBE_GVR_PODS, "d", &lo, &out, NULL), KUBE_ETOOBIG);
	assert_int_equal(fake_nreqs(&f->fs), 3);
	fake_reset(&f->fs);
	lo.limit = 0;
	fake_push(&f->fs, 200, "{\"kind\":\"PodList\",\"metadata\":{},\"items\":[{},{},{},{}]}");
	assert_int_equal(kube_list(f->c, &KUBE_GVR_PODS, "d", &lo, &out, &st), KUBE_ETOOBIG);
	assert_non_null(strstr(st.message, "more than 3 items"));
	kube_status_release(&st);
	fake_push(&f->fs, 200, "{\"kind\":\"PodList\",\"metadata\":{},\"items\":[{},{},{}]}");
	assert_int_equal(kube_list(f->c, &KUBE_GVR_PODS, "d", &lo, &out, NULL), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(out, "items")), 3);
	cJSON_Delete(out);
}

/* --- rate limit -------------------------------------------------------------------------------- */

static void rest__rate_limit_qps(void **state)
{
	struct kube_client_opts o = { .qps = 5, .burst = 1 };
	struct kube_client *c = NULL;
	struct fixture *f = *state;
	const int n = 6;
	double t0, dt;
	struct kube_metric *wait;

	f->fs.fallback.status = 200;
	f->fs.fallback.body = "{}";
	assert_int_equal(kube_client_new(&f->cfg, &o, &c), 0);
	t0 = now_s();
	for (int i = 0; i < n; i++)
		assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), 0);
	dt = now_s() - t0;
	/* Burst 1: the first goes at once, each next one waits 1/5 s. */
	assert_true(dt >= (n - 1) / 5.0 - 0.02);
	assert_true(dt < (n - 1) / 5.0 + 1.5);
	wait = kube_metric_register(kube_metrics_default(), KUBE_HISTOGRAM,
				    "kube_client_rate_limiter_wait_seconds",
				    "Time requests waited for the client-side rate limiter.", NULL,
				    NULL, 0);
	assert_true(kube_metric_value(wait, NULL) >= n);
	/* Waiting is most of dt on an idle machine, but the time a request itself takes refills
	 * the bucket too, so on a loaded one the waits shrink: bound them by dt, not by 1 s. */
	assert_true(kube_metric_sum(wait, NULL) > 0.0);
	assert_true(kube_metric_sum(wait, NULL) <= dt);
	kube_client_free(c);
}

/* An urgent request passes a bucket that normal ones queue for; without a reserve it queues. */
static void rest__urgent_passes_drained_bucket(void **state)
{
	struct kube_client_opts o = { .qps = 5, .burst = 1 };
	struct kube_client *c = NULL;
	struct fixture *f = *state;
	double t0, dt;

	f->fs.fallback.status = 200;
	f->fs.fallback.body = "{}";
	assert_int_equal(kube_client_new(&f->cfg, &o, &c), 0);
	assert_int_equal(kube_get_priority(), KUBE_PRIORITY_NORMAL);
	t0 = now_s();
	assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), 0);
	/* The bucket is empty now; five urgent requests do not wait for it. */
	assert_int_equal(kube_set_priority(KUBE_PRIORITY_URGENT), KUBE_PRIORITY_NORMAL);
	for (int i = 0; i < 5; i++)
		assert_int_equal(kube_patch(c, &KUBE_GVR_PODS, "d", "p", NULL, KUBE_PATCH_MERGE,
					    "{}", NULL, NULL), 0);
	assert_int_equal(kube_set_priority(KUBE_PRIORITY_NORMAL), KUBE_PRIORITY_URGENT);
	dt = now_s() - t0;
	assert_true(dt < 0.15);
	/* A normal one still waits its 1/5 s. */
	assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), 0);
	assert_true(now_s() - t0 >= 0.18);
	kube_client_free(c);

	/* urgent_qps < 0: no reserve, urgent requests queue like any. */
	o.urgent_qps = -1;
	assert_int_equal(kube_client_new(&f->cfg, &o, &c), 0);
	t0 = now_s();
	kube_set_priority(KUBE_PRIORITY_URGENT);
	for (int i = 0; i < 2; i++)
		assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), 0);
	kube_set_priority(KUBE_PRIORITY_NORMAL);
	assert_true(now_s() - t0 >= 0.18);
	kube_client_free(c);
}

/* The server's flow control: a PATCH turned away with 429 + Retry-After is retried after it
 * (without Retry-After it is not: see rest__status_errors_mapped's table and below). */
static void rest__429_retry_after_retries_patch(void **state)
{
	struct fixture *f = *state;
	struct fake_resp r = { .status = 429, .retry_after = "1", .pl_uid = "pl-workload-low",
			       .body = "{\"kind\":\"Status\",\"code\":429,\"reason\":\"TooManyRequests\"}" };
	struct fake_resp bare = { .status = 429,
				  .body = "{\"kind\":\"Status\",\"code\":429,\"reason\":\"TooManyRequests\"}" };
	const char *lv[] = { "pl-workload-low", NULL };
	static const char *const names[] = { "priority_level", NULL };
	struct kube_metric *thr;
	double t0, dt;

	fake_push_resp(&f->fs, &r);
	fake_push(&f->fs, 200, "{}");
	t0 = now_s();
	assert_int_equal(kube_patch(f->c, &KUBE_GVR_PODS, "d", "p", NULL, KUBE_PATCH_MERGE, "{}",
				    NULL, NULL), 0);
	dt = now_s() - t0;
	assert_int_equal(fake_nreqs(&f->fs), 2);
	assert_true(dt >= 0.95);
	assert_true(dt < 5.0);
	thr = kube_metric_register(kube_metrics_default(), KUBE_COUNTER,
				   "kube_client_throttled_total", "", names, NULL, 0);
	assert_non_null(thr);
	assert_true(kube_metric_value(thr, lv) >= 1);

	fake_reset(&f->fs);
	fake_push_resp(&f->fs, &bare);
	assert_int_equal(kube_patch(f->c, &KUBE_GVR_PODS, "d", "p", NULL, KUBE_PATCH_MERGE, "{}",
				    NULL, NULL), KUBE_ETOOMANY);
	assert_int_equal(fake_nreqs(&f->fs), 1);
}

/* One 429 + Retry-After holds the client's NORMAL requests until then (no storm of requests the
 * server just said it cannot take), but not URGENT ones nor Lease requests. */
static void rest__server_backoff_holds_normal_not_urgent(void **state)
{
	struct kube_client_opts o = { .qps = -1, .max_retries = -1 };
	struct fake_resp r = { .status = 429, .retry_after = "1",
			       .body = "{\"kind\":\"Status\",\"code\":429,\"reason\":\"TooManyRequests\"}" };
	struct kube_client *c = NULL;
	struct fixture *f = *state;
	double t0;

	f->fs.fallback.status = 200;
	f->fs.fallback.body = "{}";
	assert_int_equal(kube_client_new(&f->cfg, &o, &c), 0);
	fake_push_resp(&f->fs, &r);
	t0 = now_s();
	assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), KUBE_ETOOMANY);
	kube_set_priority(KUBE_PRIORITY_URGENT);
	assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), 0);
	kube_set_priority(KUBE_PRIORITY_NORMAL);
	/* Nor Lease requests: leader election must renew within its deadline. */
	assert_int_equal(kube_get(c, &KUBE_GVR_LEASES, "d", "l", NULL, NULL, NULL), 0);
	assert_true(now_s() - t0 < 0.5);
	assert_int_equal(fake_nreqs(&f->fs), 3);
	assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), 0);
	assert_true(now_s() - t0 >= 0.95);
	assert_int_equal(fake_nreqs(&f->fs), 4);
	kube_client_free(c);
}

struct shutdown_arg {
	struct kube_client *c;
	int rc;
};

static void *held_get(void *ud)
{
	struct shutdown_arg *a = ud;
	a->rc = kube_get(a->c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL);
	return NULL;
}

/* A request held by the server's Retry-After (or backing off before a retry) does not sleep out
 * the hold once the client is shut down: it ends at once, and later ones do not wait. */
static void rest__shutdown_ends_429_hold(void **state)
{
	struct kube_client_opts o = { .qps = -1, .max_retries = -1 };
	struct fake_resp r = { .status = 429, .retry_after = "5",
			       .body = "{\"kind\":\"Status\",\"code\":429,\"reason\":\"TooManyRequests\"}" };
	struct kube_client *c = NULL;
	struct fixture *f = *state;
	struct shutdown_arg a = { 0 };
	pthread_t th;
	double t0;

	f->fs.fallback.status = 200;
	f->fs.fallback.body = "{}";
	assert_int_equal(kube_client_new(&f->cfg, &o, &c), 0);
	fake_push_resp(&f->fs, &r);
	assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), KUBE_ETOOMANY);
	a.c = c;
	t0 = now_s();
	assert_int_equal(pthread_create(&th, NULL, held_get, &a), 0);
	usleep(200 * 1000); /* let it reach the hold; the assertion below holds either way */
	kube_client_shutdown(c);
	pthread_join(th, NULL);
	assert_true(now_s() - t0 < 1.5);
	assert_int_equal(a.rc, KUBE_ESHUTDOWN);
	assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), KUBE_ESHUTDOWN);
	/* Lease requests are never held: they still go out (releasing the Lease at shutdown). */
	assert_int_equal(kube_get(c, &KUBE_GVR_LEASES, "d", "l", NULL, NULL, NULL), 0);
	assert_int_equal(fake_nreqs(&f->fs), 2);
	kube_client_free(c);

	/* A retry's Retry-After backoff ends too, with the last answer. */
	o.max_retries = 3;
	assert_int_equal(kube_client_new(&f->cfg, &o, &c), 0);
	fake_reset(&f->fs);
	fake_push_resp(&f->fs, &r);
	a.c = c;
	t0 = now_s();
	assert_int_equal(pthread_create(&th, NULL, held_get, &a), 0);
	usleep(200 * 1000);
	kube_client_shutdown(c);
	pthread_join(th, NULL);
	assert_true(now_s() - t0 < 1.5);
	assert_int_equal(a.rc, KUBE_ETOOMANY);
	assert_int_equal(fake_nreqs(&f->fs), 1);
	kube_client_free(c);
}

/* --- kube_get_stream --------------------------------------------------------------------------- */

struct chunks {
	char buf[256];
	size_t len;
	int calls;
};

static int collect_chunk(const char *b, size_t n, void *ud)
{
	struct chunks *c = ud;

	if (c->len + n < sizeof(c->buf)) {
		memcpy(c->buf + c->len, b, n);
		c->len += n;
		c->buf[c->len] = 0;
	}
	c->calls++;
	return 0;
}

struct stream_arg {
	struct kube_client *c;
	atomic_bool cancel;
	struct chunks got;
	int rc;
};

static void *held_stream(void *ud)
{
	struct stream_arg *a = ud;

	a->rc = kube_get_stream(a->c, "/api/v1/namespaces/d/pods/p/log", "follow=true", "pods", 0,
				collect_chunk, &a->got, &a->cancel, NULL);
	return NULL;
}

static void rest__get_stream(void **state)
{
	struct fixture *f = *state;
	struct kube_status st = { 0 };
	struct chunks got = { 0 };
	struct fake_req *r;

	/* the body as it comes, chunk by chunk; path and query as given */
	struct fake_resp ok = { .status = 200, .nchunks = 2, .chunks = { "line 1\n", "line 2\n" } };
	char *esc = kube_query_escape("a b&c");
	assert_string_equal(esc, "a%20b%26c");
	free(esc);
	assert_null(kube_query_escape(NULL));
	fake_push_resp(&f->fs, &ok);
	assert_int_equal(kube_get_stream(f->c, "/api/v1/namespaces/d/pods/p/log",
					 "container=app&follow=true", "pods", 5, collect_chunk, &got,
					 NULL, &st), 0);
	assert_string_equal(got.buf, "line 1\nline 2\n");
	assert_int_equal(fake_nreqs(&f->fs), 1);
	r = &f->fs.reqs[0];
	assert_string_equal(r->method, "GET");
	assert_string_equal(r->path, "/api/v1/namespaces/d/pods/p/log");
	assert_string_equal(r->query, "container=app&follow=true");

	/* an error answer is a Status, mapped */
	fake_reset(&f->fs);
	fake_push(&f->fs, 403, "{\"kind\":\"Status\",\"code\":403,\"reason\":\"Forbidden\","
			       "\"message\":\"pods \\\"p\\\" is forbidden\"}");
	memset(&got, 0, sizeof(got));
	assert_int_equal(kube_get_stream(f->c, "/api/v1/namespaces/d/pods/p/log", NULL, NULL, 0,
					 collect_chunk, &got, NULL, &st), KUBE_EFORBIDDEN);
	assert_non_null(st.message);
	assert_non_null(strstr(st.message, "forbidden"));
	assert_int_equal(got.calls, 0);
	assert_int_equal(fake_nreqs(&f->fs), 1); /* never retried */
	kube_status_release(&st);

	/* a stream that never ends: cancel ends it */
	struct fake_resp held = { .status = 200, .nchunks = 1, .chunks = { "first\n" }, .hold = true };
	struct stream_arg a = { .c = f->c };
	pthread_t th;
	fake_reset(&f->fs);
	fake_push_resp(&f->fs, &held);
	assert_int_equal(pthread_create(&th, NULL, held_stream, &a), 0);
	double t0 = now_s();
	while (atomic_load(&f->fs.holding) == 0 && now_s() - t0 < 5)
		usleep(10 * 1000);
	atomic_store(&a.cancel, true);
	pthread_join(th, NULL);
	assert_int_equal(a.rc, KUBE_ECANCELED);
	assert_string_equal(a.got.buf, "first\n");

	/* bad arguments */
	assert_int_equal(kube_get_stream(f->c, "no-slash", NULL, NULL, 0, collect_chunk, &got, NULL,
					 NULL), KUBE_EINVAL);
	assert_int_equal(kube_get_stream(f->c, "/x", NULL, NULL, 0, NULL, NULL, NULL, NULL),
			 KUBE_EINVAL);
}

/* --- write gate -------------------------------------------------------------------------------- */

static bool gate_fn(void *ud)
{
	return *(bool *)ud;
}

static void rest__write_gate(void **state)
{
	struct fixture *f = *state;
	struct kube_status st = { 0 };
	bool leader = false;
	cJSON *o = obj_from("{\"metadata\":{\"name\":\"x\"}}");

	f->fs.fallback.status = 200;
	f->fs.fallback.body = "{}";
	kube_client_set_write_gate(f->c, gate_fn, &leader);
	assert_int_equal(kube_create(f->c, &KUBE_GVR_PODS, "d", o, NULL, &st), KUBE_ENOTLEADER);
	assert_non_null(st.message);
	assert_int_equal(kube_delete(f->c, &KUBE_GVR_PODS, "d", "x", NULL, NULL, NULL),
			 KUBE_ENOTLEADER);
	assert_int_equal(kube_patch(f->c, &KUBE_GVR_PODS, "d", "x", NULL, KUBE_PATCH_MERGE, "{}",
				    NULL, NULL), KUBE_ENOTLEADER);
	assert_int_equal(fake_nreqs(&f->fs), 0);
	/* Reads pass; the Lease itself is exempt so the elector can reacquire. */
	assert_int_equal(kube_get(f->c, &KUBE_GVR_PODS, "d", "x", NULL, NULL, NULL), 0);
	assert_int_equal(kube_update(f->c, &KUBE_GVR_LEASES, "d", "x", NULL, o, NULL, NULL), 0);
	assert_int_equal(kube_request(f->c, "POST", "/api/v1/namespaces/d/pods", NULL,
				      "application/json", "{}", KUBE_REQ_BYPASS_GATE, NULL, NULL), 0);
	assert_int_equal(fake_nreqs(&f->fs), 3);
	leader = true;
	assert_int_equal(kube_create(f->c, &KUBE_GVR_PODS, "d", o, NULL, NULL), 0);
	kube_client_set_write_gate(f->c, NULL, NULL);
	leader = false;
	assert_int_equal(kube_create(f->c, &KUBE_GVR_PODS, "d", o, NULL, NULL), 0);
	kube_status_release(&st);
	cJSON_Delete(o);
}

/* Allows the first `budget` writes, then refuses: leadership lost while a request waits. */
static bool gate_budget(void *ud)
{
	int *budget = ud;

	return (*budget)-- > 0;
}

static void rest__write_gate_checked_before_each_attempt(void **state)
{
	struct fixture *f = *state;
	const char *err = "{\"kind\":\"Status\",\"code\":503,\"reason\":\"ServiceUnavailable\"}";
	struct kube_status st = { 0 };
	int budget = 2; /* the check before the first attempt and the one as it goes out */

	/* A DELETE is retried; if the lease is lost during the backoff, the retry must not go out. */
	fake_push(&f->fs, 503, err);
	fake_push(&f->fs, 200, "{}");
	kube_client_set_write_gate(f->c, gate_budget, &budget);
	assert_int_equal(kube_delete(f->c, &KUBE_GVR_PODS, "d", "x", NULL, NULL, &st),
			 KUBE_ENOTLEADER);
	assert_int_equal(fake_nreqs(&f->fs), 1);
	kube_client_set_write_gate(f->c, NULL, NULL);
	kube_status_release(&st);
}

/* --- auth ---------------------------------------------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void rest__token_file_rotation(void **state)
{
	struct fixture *f = *state;
	struct kube_config cfg;
	struct kube_client *c = NULL;
	struct kube_client_opts o = { .qps = -1 };
	char dir[] = "/tmp/kube-rest-XXXXXX", path[64], tmp[64];

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/token", dir);
	snprintf(tmp, sizeof(tmp), "%s/token.new", dir);
	write_file(path, "first-token\n");
	f->fs.fallback.status = 200;
	f->fs.fallback.body = "{}";
	assert_int_equal(kube_config_init_server(&cfg, f->fs.url), 0);
	cfg.token = strdup("inline-ignored");
	cfg.token_file = strdup(path);
	assert_int_equal(kube_client_new(&cfg, &o, &c), 0);
	assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), 0);
	assert_string_equal(f->fs.reqs[0].auth, "Bearer first-token");
	/* Rotate the way kubelet does: a new file renamed over the old one. */
	write_file(tmp, "second-token");
	assert_int_equal(rename(tmp, path), 0);
	assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), 0);
	assert_string_equal(f->fs.reqs[1].auth, "Bearer second-token");
	/* The file vanishing mid-rotation keeps the last good token. */
	unlink(path);
	assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), 0);
	assert_string_equal(f->fs.reqs[2].auth, "Bearer second-token");
	rmdir(dir);
	kube_client_free(c);
	kube_config_release(&cfg);
}

static void rest__inline_token(void **state)
{
	struct fixture *f = *state;
	struct kube_config cfg;
	struct kube_client *c = NULL;

	f->fs.fallback.status = 200;
	f->fs.fallback.body = "{}";
	assert_int_equal(kube_config_init_server(&cfg, f->fs.url), 0);
	cfg.token = strdup("abc");
	assert_int_equal(kube_client_new(&cfg, NULL, &c), 0);
	kube_config_release(&cfg); /* the client keeps its own copy */
	assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), 0);
	assert_string_equal(f->fs.reqs[0].auth, "Bearer abc");
	kube_client_free(c);
}

/* A user with an exec credential plugin: its token is the bearer token (the plugin runs lazily,
 * once); after a 401 it runs again and the request goes out once more with the new token, for
 * writes too; a second 401 in a row is the answer. */
static void rest__exec_plugin_token_and_401(void **state)
{
	static const char unauthorized[] =
		"{\"kind\":\"Status\",\"code\":401,\"reason\":\"Unauthorized\",\"message\":\"no\"}";
	struct fixture *f = *state;
	struct kube_config cfg;
	struct kube_client *c = NULL;
	struct kube_client_opts o = { .qps = -1, .retry_base_ms = 1 };
	struct kube_status st = { 0 };
	char dir[] = "/tmp/kube-rest-exec-XXXXXX", path[128], text[1024], *err = NULL;
	cJSON *pod = obj_from("{\"metadata\":{\"name\":\"p\"}}");
	FILE *fp;
	int runs = 0;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/plugin.sh", dir);
	snprintf(text, sizeof(text),
		 "#!/bin/sh\nn=$(cat '%s/count' 2>/dev/null || echo 0); n=$((n+1)); "
		 "echo $n > '%s/count'\n"
		 "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":"
		 "\"ExecCredential\",\"status\":{\"token\":\"plugin-token-%%s\"}}' \"$n\"\n",
		 dir, dir);
	write_file(path, text);
	assert_int_equal(chmod(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/kubeconfig", dir);
	snprintf(text, sizeof(text),
		 "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
		 "clusters: [{name: k, cluster: {server: '%s'}}]\n"
		 "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
		 "users:\n- name: u\n  user:\n    exec:\n"
		 "      apiVersion: client.authentication.k8s.io/v1\n"
		 "      command: ./plugin.sh\n      interactiveMode: Never\n",
		 f->fs.url);
	write_file(path, text);
	if (kube_config_load_file(path, NULL, &cfg, &err) != 0)
		fail_msg("%s", err);
	assert_int_equal(kube_client_new(&cfg, &o, &c), 0);
	kube_config_release(&cfg);

	fake_push(&f->fs, 200, "{}");
	assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), 0);
	assert_string_equal(f->fs.reqs[0].auth, "Bearer plugin-token-1");
	fake_push(&f->fs, 401, unauthorized);
	fake_push(&f->fs, 200, "{}");
	assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), 0);
	assert_int_equal(fake_nreqs(&f->fs), 3);
	assert_string_equal(f->fs.reqs[1].auth, "Bearer plugin-token-1");
	assert_string_equal(f->fs.reqs[2].auth, "Bearer plugin-token-2");
	fake_push(&f->fs, 401, unauthorized);
	fake_push(&f->fs, 201, "{}");
	assert_int_equal(kube_create(c, &KUBE_GVR_PODS, "d", pod, NULL, NULL), 0);
	assert_int_equal(fake_nreqs(&f->fs), 5);
	assert_string_equal(f->fs.reqs[4].method, "POST");
	assert_string_equal(f->fs.reqs[4].auth, "Bearer plugin-token-3");
	fake_push(&f->fs, 401, unauthorized);
	fake_push(&f->fs, 401, unauthorized);
	assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, &st), KUBE_EUNAUTHORIZED);
	assert_int_equal(st.http_status, 401);
	assert_int_equal(fake_nreqs(&f->fs), 7);
	assert_string_equal(f->fs.reqs[6].auth, "Bearer plugin-token-4");
	snprintf(path, sizeof(path), "%s/count", dir);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_int_equal(fscanf(fp, "%d", &runs), 1);
	fclose(fp);
	assert_int_equal(runs, 4);
	kube_status_release(&st);
	kube_client_free(c);
	cJSON_Delete(pod);
	unlink(path);
	snprintf(path, sizeof(path), "%s/plugin.sh", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/kubeconfig", dir);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

/* --- concurrency ------------------------------------------------------------------------------- */

struct worker {
	struct kube_client *c;
	int ok;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 25; i++) {
		cJSON *out = NULL;

		if (kube_get(w->c, &KUBE_GVR_PODS, "d", "p", NULL, &out, NULL) == 0 &&
		    kube_json_name(out) != NULL)
			w->ok++;
		cJSON_Delete(out);
	}
	return NULL;
}

static void rest__concurrent_requests(void **state)
{
	struct fixture *f = *state;
	pthread_t th[8];
	struct worker w[8];
	int total = 0;

	f->fs.fallback.status = 200;
	f->fs.fallback.body = "{\"metadata\":{\"name\":\"p\"}}";
	for (int i = 0; i < 8; i++) {
		w[i].c = f->c;
		w[i].ok = 0;
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		total += w[i].ok;
	}
	assert_int_equal(total, 200);
	assert_int_equal(fake_nreqs(&f->fs), 200);
}

static void rest__connections_reused(void **state)
{
	struct fixture *f = *state;
	double t0, dt;
	const int n = 200;

	f->fs.fallback.status = 200;
	f->fs.fallback.body = "{\"metadata\":{\"name\":\"p\"}}";
	t0 = now_s();
	for (int i = 0; i < n; i++)
		assert_int_equal(kube_get(f->c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), 0);
	dt = now_s() - t0;
	/* One keep-alive connection serves every sequential request (pooled easy handle). */
	assert_int_equal(atomic_load(&f->fs.connections), 1);
	print_message("%d sequential GETs in %.3f s (%.0f req/s)\n", n, dt, n / dt);
}

static void rest__metrics_counted(void **state)
{
	static const char *const labels[] = { "verb", "resource", "code", NULL };
	static const char *const lv404[] = { "get", "secrets", "404", NULL };
	struct fixture *f = *state;
	struct kube_metric *m;
	double before;

	m = kube_metric_register(kube_metrics_default(), KUBE_COUNTER, "kube_client_requests_total",
				 "API requests by verb, resource and HTTP code (\"<error>\" when no "
				 "response arrived).", labels, NULL, 0);
	assert_non_null(m);
	before = kube_metric_value(m, lv404);
	fake_push(&f->fs, 404, "{\"kind\":\"Status\",\"reason\":\"NotFound\",\"code\":404}");
	assert_int_equal(kube_get(f->c, &KUBE_GVR_SECRETS, "d", "s", NULL, NULL, NULL),
			 KUBE_ENOTFOUND);
	assert_true(kube_metric_value(m, lv404) == before + 1);
}

/* --- TLS ------------------------------------------------------------------------------------------ */

/* A self-signed certificate for 127.0.0.1/localhost, made with the OpenSSL API. */
static void make_cert(char **cert_pem, char **key_pem)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	X509_EXTENSION *ext;
	X509V3_CTX ctx;
	BIO *b;
	char *data;
	long len;

	assert_non_null(pkey);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pkey);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
				   -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);

	b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	len = BIO_get_mem_data(b, &data);
	*cert_pem = strndup(data, (size_t)len);
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, pkey, NULL, NULL, 0, NULL, NULL);
	len = BIO_get_mem_data(b, &data);
	*key_pem = strndup(data, (size_t)len);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(pkey);
}

/* A TLS fake server with a fresh self-signed certificate, answering 200 `body` by default;
 * skips the test when libmicrohttpd has no TLS. */
static void start_tls(struct fake_server *fs, char **cert, char **key, const char *body)
{
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		skip();
	make_cert(cert, key);
	assert_int_equal(fake_server_start_tls(fs, *cert, *key), 0);
	fs->fallback.status = 200;
	fs->fallback.body = body;
}

static void rest__tls_verification(void **state)
{
	struct kube_client_opts o = { .qps = -1, .max_retries = -1 };
	struct fake_server fs;
	struct kube_config cfg;
	struct kube_client *c = NULL;
	struct kube_status st = { 0 };
	char *cert = NULL, *key = NULL;

	(void)state;
	start_tls(&fs, &cert, &key, "{\"metadata\":{\"name\":\"tls\"}}");

	/* Verification is on by default: an unknown CA fails. */
	assert_int_equal(kube_config_init_server(&cfg, fs.url), 0);
	assert_int_equal(kube_client_new(&cfg, &o, &c), 0);
	assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, &st), KUBE_EIO);
	assert_non_null(st.message);
	kube_status_release(&st);
	kube_client_free(c);

	/* With the CA as data it passes. */
	cfg.ca_data = strdup(cert);
	assert_int_equal(kube_client_new(&cfg, &o, &c), 0);
	assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, &st), 0);
	kube_client_free(c);
	free(cfg.ca_data);
	cfg.ca_data = NULL;

	/* And with the CA as a file. */
	{
		char path[] = "/tmp/kube-ca-XXXXXX";
		int fd = mkstemp(path);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, cert, strlen(cert)), (ssize_t)strlen(cert));
		close(fd);
		cfg.ca_file = strdup(path);
		assert_int_equal(kube_client_new(&cfg, &o, &c), 0);
		assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), 0);
		kube_client_free(c);
		free(cfg.ca_file);
		cfg.ca_file = NULL;
		unlink(path);
	}

	/* insecure-skip-tls-verify passes without a CA. */
	cfg.insecure_skip_tls_verify = true;
	assert_int_equal(kube_client_new(&cfg, &o, &c), 0);
	assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), 0);
	kube_client_free(c);

	kube_status_release(&st);
	kube_config_release(&cfg);
	fake_server_stop(&fs);
	free(cert);
	free(key);
}

/* An exec plugin's client certificate goes to libcurl as a blob: a good one makes the TLS
 * connection (and no Authorization header is sent), a broken one fails it. */
static void rest__exec_plugin_client_cert(void **state)
{
	struct kube_client_opts o = { .qps = -1, .max_retries = -1 };
	struct fake_server fs;
	struct kube_config cfg;
	struct kube_client *c = NULL;
	struct kube_status st = { 0 };
	char dir[] = "/tmp/kube-rest-cert-XXXXXX", path[128], text[256], *cert = NULL, *key = NULL;
	const char *bad = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

	(void)state;
	start_tls(&fs, &cert, &key, "{}");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/plugin.sh", dir);
	snprintf(text, sizeof(text), "#!/bin/sh\ncat '%s/cred.json'\n", dir);
	write_file(path, text);
	assert_int_equal(chmod(path, 0755), 0);
	assert_int_equal(kube_config_init_server(&cfg, fs.url), 0);
	cfg.ca_data = strdup(cert);
	cfg.exec = calloc(1, sizeof(*cfg.exec));
	assert_non_null(cfg.exec);
	cfg.exec->command = strdup(path);
	cfg.exec->api_version = strdup(KUBE_EXEC_API_V1BETA1);
	snprintf(path, sizeof(path), "%s/cred.json", dir);
	for (int i = 0; i < 2; i++) {
		cJSON *cred = obj_from("{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\","
				       "\"kind\":\"ExecCredential\",\"status\":{}}");
		cJSON *status = cJSON_GetObjectItem(cred, "status");
		char *json;

		cJSON_AddStringToObject(status, "clientCertificateData", i == 0 ? cert : bad);
		cJSON_AddStringToObject(status, "clientKeyData", i == 0 ? key : bad);
		json = cJSON_PrintUnformatted(cred);
		write_file(path, json);
		free(json);
		cJSON_Delete(cred);
		assert_int_equal(kube_client_new(&cfg, &o, &c), 0);
		if (i == 0) {
			assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, NULL), 0);
			assert_int_equal(fake_nreqs(&fs), 1);
			assert_string_equal(fs.reqs[0].auth, "");
		} else {
			assert_int_equal(kube_get(c, &KUBE_GVR_PODS, "d", "p", NULL, NULL, &st),
					 KUBE_EIO);
			assert_int_equal(fake_nreqs(&fs), 1);
		}
		kube_client_free(c);
	}
	unlink(path);
	snprintf(path, sizeof(path), "%s/plugin.sh", dir);
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
	kube_status_release(&st);
	kube_config_release(&cfg);
	fake_server_stop(&fs);
	free(cert);
	free(key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(rest__request_shapes, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__argument_errors, setup, teardown),
		cmocka_unit_test(rest__resource_path_escapes),
		cmocka_unit_test_setup_teardown(rest__status_errors_mapped, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__stale_update_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__non_status_error_body_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__bad_json_is_parse_error, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__429_retry_after_honoured, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__500_retried_for_get_not_post, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__retries_are_bounded, setup, teardown),
		cmocka_unit_test(rest__transport_error),
		cmocka_unit_test_setup_teardown(rest__sockets_have_keepalive_and_user_timeout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(rest__list_follows_continue, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__rate_limit_qps, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__write_gate, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__write_gate_checked_before_each_attempt, setup,
						teardown),
		cmocka_unit_test_setup_teardown(rest__list_repeated_continue_token_fails, setup,
						teardown),
		cmocka_unit_test_setup_teardown(rest__list_max_items_bounds_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__token_file_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__inline_token, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__exec_plugin_token_and_401, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__concurrent_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__connections_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__metrics_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__urgent_passes_drained_bucket, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__429_retry_after_retries_patch, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__shutdown_ends_429_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__get_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(rest__server_backoff_holds_normal_not_urgent, setup,
						teardown),
		cmocka_unit_test(rest__tls_verification),
		cmocka_unit_test(rest__exec_plugin_client_cert),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	kube_metrics_default_reset();
	return rc;
}
