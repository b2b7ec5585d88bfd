/* kubesim's userspace kube-proxy: which endpoints are usable (upstream's rules), and with real
 * loopback sockets, round robin, relaying bytes and following endpoint changes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "sim_endpoints.h"
#include "sim_proxy.h"

/* ---- Pure ---- */

static cJSON *parse(const char *s)
{
	cJSON *o = cJSON_Parse(s);

	assert_non_null(o);
	return o;
}

/* An EndpointSlice of service web with one port (name, number) and the given endpoints JSON. */
static cJSON *slice(const char *name, const char *port_name, int port, const char *eps)
{
	char buf[2048];

	snprintf(buf, sizeof(buf),
		 "{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\","
		 "\"labels\":{\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv4\","
		 "\"ports\":[{\"name\":\"%s\",\"port\":%d,\"protocol\":\"TCP\"}],\"endpoints\":[%s]}",
		 name, port_name, port, eps);
	return parse(buf);
}

#define EP(ip, r, s, t)                                                                       \
	"{\"addresses\":[\"" ip "\"],\"conditions\":{\"ready\":" r ",\"serving\":" s             \
	",\"terminating\":" t "}}"

static long backends(cJSON **objs, size_t n, const char *port, struct sim_proxy_backend **out)
{
	return sim_proxy_backends((const cJSON *const *)objs, n, port, out);
}

static void pure__ready_only_sorted_unique(void **state)
{
	cJSON *s[2];
	struct sim_proxy_backend *be = NULL;
	long n;

	(void)state;
	s[0] = slice("a", "http", 8080,
		     EP("127.1.0.9", "true", "true", "false") "," EP("127.1.0.3", "false", "false",
								    "false") ","
		     "{\"addresses\":[\"127.1.0.10\"]}," /* nil conditions: ready */
		     EP("10.244.0.5", "true", "true", "false")); /* not loopback: never */
	s[1] = slice("b", "http", 8080, EP("127.1.0.9", "true", "true", "false"));
	n = backends(s, 2, "http", &be);
	assert_int_equal(n, 2);
	assert_string_equal(be[0].ip, "127.1.0.9");
	assert_string_equal(be[1].ip, "127.1.0.10"); /* numeric order, not text */
	assert_int_equal(be[0].port, 8080);
	free(be);
	/* another port name: nothing */
	assert_int_equal(backends(s, 2, "metrics", &be), 0);
	assert_null(be);
	cJSON_Delete(s[0]);
	cJSON_Delete(s[1]);
}

static void pure__terminating_fallback(void **state)
{
	cJSON *s[1];
	struct sim_proxy_backend *be = NULL;

	(void)state;
	/* no ready endpoint: the serving terminating ones (not the not-serving one) */
	s[0] = slice("a", "", 80,
		     EP("127.1.0.1", "false", "true", "true") "," EP("127.1.0.2", "false", "false",
								   "true") ","
		     EP("127.1.0.3", "false", "true", "false"));
	assert_int_equal(backends(s, 1, NULL, &be), 1);
	assert_string_equal(be[0].ip, "127.1.0.1");
	free(be);
	cJSON_Delete(s[0]);
	/* a ready one exists: terminating ones are not used */
	s[0] = slice("a", "", 80,
		     EP("127.1.0.1", "false", "true", "true") "," EP("127.1.0.4", "true", "true",
								   "false"));
	assert_int_equal(backends(s, 1, "", &be), 1);
	assert_string_equal(be[0].ip, "127.1.0.4");
	free(be);
	cJSON_Delete(s[0]);
}

static void pure__v1_endpoints(void **state)
{
	cJSON *e = parse("{\"kind\":\"Endpoints\",\"subsets\":["
			 "{\"addresses\":[{\"ip\":\"127.1.0.7\"}],\"notReadyAddresses\":[{\"ip\":"
			 "\"127.1.0.8\"}],\"ports\":[{\"name\":\"http\",\"port\":81}]},"
			 "{\"addresses\":[{\"ip\":\"127.1.0.6\"}],\"ports\":[{\"name\":\"http\","
			 "\"port\":82},{\"name\":\"dns\",\"port\":53,\"protocol\":\"UDP\"}]}]}");
	struct sim_proxy_backend *be = NULL;

	(void)state;
	assert_int_equal(backends(&e, 1, "http", &be), 2);
	assert_string_equal(be[0].ip, "127.1.0.6");
	assert_int_equal(be[0].port, 82);
	assert_string_equal(be[1].ip, "127.1.0.7");
	assert_int_equal(be[1].port, 81);
	free(be);
	assert_int_equal(backends(&e, 1, "dns", &be), 0); /* UDP is not proxied */
	cJSON_Delete(e);
}

#define POD_FMT                                                                            \
	"{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",\"uid\":\"u%s\","           \
	"\"labels\":{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":"      \
	"[{\"name\":\"web\",\"containerPort\":9090}]}]},\"status\":{\"phase\":\"Running\","     \
	"\"podIP\":\"%s\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"%s\"}]}}"

/* What kubesim's endpoints controller publishes for a named targetPort is what the proxy uses;
 * publishNotReadyAddresses makes not-ready pods usable, as upstream. */
static void pure__follows_published_slice(void **state)
{
	char buf[1024];
	cJSON *pods[2], *svc, *es;
	struct sim_proxy_backend *be = NULL;

	(void)state;
	snprintf(buf, sizeof(buf), POD_FMT, "p1", "1", "127.1.0.21", "True");
	pods[0] = parse(buf);
	snprintf(buf, sizeof(buf), POD_FMT, "p2", "2", "127.1.0.22", "False");
	pods[1] = parse(buf);
	svc = parse("{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\",\"uid\":\"s\"},"
		    "\"spec\":{\"selector\":{\"app\":\"web\"},\"ports\":[{\"name\":\"http\","
		    "\"port\":80,\"targetPort\":\"web\",\"protocol\":\"TCP\"}]}}");
	es = sim_endpointslice_build(svc, (const cJSON *const *)pods, 2, "web-x");
	assert_int_equal(backends(&es, 1, "http", &be), 1);
	assert_string_equal(be[0].ip, "127.1.0.21");
	assert_int_equal(be[0].port, 9090);
	free(be);
	cJSON_Delete(es);
	cJSON_AddTrueToObject(cJSON_GetObjectItem(svc, "spec"), "publishNotReadyAddresses");
	es = sim_endpointslice_build(svc, (const cJSON *const *)pods, 2, "web-x");
	assert_int_equal(backends(&es, 1, "http", &be), 2);
	free(be);
	cJSON_Delete(es);
	cJSON_Delete(svc);
	cJSON_Delete(pods[0]);
	cJSON_Delete(pods[1]);
}

static void pure__loopback(void **state)
{
	(void)state;
	assert_true(sim_proxy_is_loopback("127.2.0.9"));
	assert_false(sim_proxy_is_loopback("10.96.0.1"));
	assert_false(sim_proxy_is_loopback("None"));
	assert_false(sim_proxy_is_loopback(NULL));
}

/* ---- With sockets ---- */

struct net {
	struct sim_proxy *px;
	char vip[16], be_ip[2][16];
	int vport, be_fd[2], be_port[2];
};

static int listen_on(const char *ip, int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	inet_pton(AF_INET, ip, &sa.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	*port = ntohs(sa.sin_port);
	return fd;
}

static void feed(struct net *n, const char *resource, const char *group, const char *type,
		 const char *json)
{
	cJSON *o = parse(json);

	sim_proxy_on_change(n->px, type, group, resource, o, NULL);
	cJSON_Delete(o);
	assert_int_equal(sim_proxy_sync(n->px, 5000), 0);
}

static void feed_slice(struct net *n, const char *type, int a_ready, int b_ready)
{
	char buf[1024];

	snprintf(buf, sizeof(buf),
		 "{\"metadata\":{\"name\":\"web-1\",\"namespace\":\"default\",\"labels\":"
		 "{\"kubernetes.io/service-name\":\"web\"}},\"addressType\":\"IPv4\",\"ports\":"
		 "[{\"name\":\"http\",\"port\":%d}],\"endpoints\":["
		 "{\"addresses\":[\"%s\"],\"conditions\":{\"ready\":%s}},"
		 "{\"addresses\":[\"%s\"],\"conditions\":{\"ready\":%s}}]}",
		 n->be_port[0], n->be_ip[0], a_ready ? "true" : "false", n->be_ip[1],
		 b_ready ? "true" : "false");
	feed(n, "endpointslices", "discovery.k8s.io", type, buf);
}

static int setup_net(void **state)
{
	struct net *n = calloc(1, sizeof(*n));
	unsigned r = (unsigned)getpid() % 200 + 20;
	char buf[512];
	int tries;

	assert_non_null(n);
	snprintf(n->be_ip[0], 16, "127.3.%u.2", r);
	snprintf(n->be_ip[1], 16, "127.3.%u.3", r);
	snprintf(n->vip, 16, "127.3.%u.1", r);
	n->be_fd[0] = listen_on(n->be_ip[0], &n->be_port[0]);
	/* both backends on the same port number, as pods of one Deployment */
	for (tries = 0; tries < 50; tries++) {
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)n->be_port[0])};
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		inet_pton(AF_INET, n->be_ip[1], &sa.sin_addr);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 16) == 0) {
			n->be_fd[1] = fd;
			n->be_port[1] = n->be_port[0];
			break;
		}
		close(fd);
	}
	assert_true(n->be_port[1] > 0);
	n->vport = 18080;
	assert_int_equal(sim_proxy_start(NULL, &n->px), 0);
	snprintf(buf, sizeof(buf),
		 "{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"type\":"
		 "\"ClusterIP\",\"clusterIP\":\"%s\",\"ports\":[{\"name\":\"http\",\"port\":%d,"
		 "\"protocol\":\"TCP\"}]}}",
		 n->vip, n->vport);
	feed(n, "services", "", "ADDED", buf);
	*state = n;
	return 0;
}

static int teardown_net(void **state)
{
	struct net *n = *state;

	sim_proxy_stop(n->px);
	close(n->be_fd[0]);
	close(n->be_fd[1]);
	free(n);
	return 0;
}

static int dial(const struct net *n)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)n->vport)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, n->vip, &sa.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Which backend accepted the next connection (0 or 1; -1 if none within 2 s); *out its fd. */
static int which_backend(const struct net *n, int *out)
{
	struct pollfd p[2] = {{.fd = n->be_fd[0], .events = POLLIN},
			      {.fd = n->be_fd[1], .events = POLLIN}};
	int i;

	if (poll(p, 2, 2000) <= 0)
		return -1;
	for (i = 0; i < 2; i++) {
		if (p[i].revents & POLLIN) {
			*out = accept(n->be_fd[i], NULL, NULL);
			return i;
		}
	}
	return -1;
}

/* 1 if the proxy closed fd without data within 2 s (reset or EOF). */
static int closed_by_proxy(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char c;

	if (poll(&p, 1, 2000) <= 0)
		return 0;
	return read(fd, &c, 1) <= 0;
}

static void net__round_robin_and_relay(void **state)
{
	struct net *n = *state;
	int seen[2] = {0, 0}, last = -1, i;

	feed_slice(n, "ADDED", 1, 1);
	for (i = 0; i < 4; i++) {
		int c = dial(n), b = -1, who = which_backend(n, &b);
		char buf[8] = {0};

		assert_true(who >= 0);
		assert_int_not_equal(who, last); /* alternates */
		last = who;
		seen[who]++;
		/* bytes both ways, then a half close travels through */
		assert_int_equal(write(c, "ping", 4), 4);
		assert_int_equal(read(b, buf, 4), 4);
		assert_string_equal(buf, "ping");
		assert_int_equal(write(b, "pong", 4), 4);
		shutdown(b, SHUT_WR);
		memset(buf, 0, sizeof(buf));
		assert_int_equal(read(c, buf, 4), 4);
		assert_string_equal(buf, "pong");
		assert_int_equal(read(c, buf, 4), 0);
		close(c);
		close(b);
	}
	assert_int_equal(seen[0], 2);
	assert_int_equal(seen[1], 2);
}

static void net__follows_endpoints(void **state)
{
	struct net *n = *state;
	int i, c, b = -1;
	cJSON *st;
	char *txt;

	feed_slice(n, "ADDED", 1, 1);
	feed_slice(n, "MODIFIED", 0, 1); /* first backend not ready */
	for (i = 0; i < 3; i++) {
		c = dial(n);
		assert_int_equal(which_backend(n, &b), 1);
		close(b);
		close(c);
	}
	feed_slice(n, "MODIFIED", 0, 0); /* none ready: the client is reset */
	c = dial(n);
	assert_true(closed_by_proxy(c));
	close(c);
	st = sim_proxy_status(n->px);
	txt = cJSON_PrintUnformatted(st);
	assert_non_null(strstr(txt, "\"noEndpoint\":1"));
	assert_non_null(strstr(txt, "\"backends\":[]"));
	free(txt);
	cJSON_Delete(st);
	feed_slice(n, "MODIFIED", 1, 0);
	c = dial(n);
	assert_int_equal(which_backend(n, &b), 0);
	close(b);
	close(c);
	feed_slice(n, "DELETED", 1, 0); /* slice gone: no endpoint */
	c = dial(n);
	assert_true(closed_by_proxy(c));
	close(c);
}

static void net__refused_backend_resets(void **state)
{
	struct net *n = *state;
	int c;

	close(n->be_fd[0]); /* the process died: its port refuses */
	n->be_fd[0] = socket(AF_INET, SOCK_STREAM, 0);
	feed_slice(n, "ADDED", 1, 0);
	c = dial(n);
	assert_true(closed_by_proxy(c));
	close(c);
}

static void net__service_deleted_stops_listening(void **state)
{
	struct net *n = *state;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)n->vport)};
	char buf[256];
	int fd;

	snprintf(buf, sizeof(buf), "{\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"}}");
	feed(n, "services", "", "DELETED", buf);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, n->vip, &sa.sin_addr);
	assert_int_not_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(errno, ECONNREFUSED);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pure__ready_only_sorted_unique),
		cmocka_unit_test(pure__terminating_fallback),
		cmocka_unit_test(pure__v1_endpoints),
		cmocka_unit_test(pure__follows_published_slice),
		cmocka_unit_test(pure__loopback),
		cmocka_unit_test_setup_teardown(net__round_robin_and_relay, setup_net, teardown_net),
		cmocka_unit_test_setup_teardown(net__follows_endpoints, setup_net, teardown_net),
		cmocka_unit_test_setup_teardown(net__refused_backend_resets, setup_net, teardown_net),
		cmocka_unit_test_setup_teardown(net__service_deleted_stops_listening, setup_net,
						teardown_net),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
