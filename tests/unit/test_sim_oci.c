/* kubesim --run-pods image mode, the pure parts (tests/kubesim/sim_oci.h): which references are
 * on a loopback registry, and the runc config built from umoci's config, the image's config
 * and the pod: Kubernetes command/args over entrypoint/cmd, workdir, user, read-only root,
 * volume and termination-log binds, the host's network, the memory limit, the capabilities
 * (containerd's defaults with the securityContext's add/drop, privileged). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "sim_controllers.h"
#include "sim_oci.h"

static void oci__local_refs(void **state)
{
	(void)state;
	assert_int_equal(sim_oci_local_ref("127.0.0.1:5000/phoenix-operator:0.1.0"), 1);
	assert_int_equal(sim_oci_local_ref("localhost:40123/a/b@sha256:00"), 1);
	assert_int_equal(sim_oci_local_ref("[::1]:5000/x"), 1);
	assert_int_equal(sim_oci_local_ref("127.0.0.1/x"), 0);      /* no port */
	assert_int_equal(sim_oci_local_ref("127.0.0.1:50a0/x"), 0); /* not a port */
	assert_int_equal(sim_oci_local_ref("127.0.0.1:5000"), 0);   /* no repository */
	assert_int_equal(sim_oci_local_ref("registry.example.com:5000/x"), 0);
	assert_int_equal(sim_oci_local_ref("localhost.evil.com:5000/x"), 0);
	assert_int_equal(sim_oci_local_ref("nginx:1.25"), 0);
	assert_int_equal(sim_oci_local_ref(NULL), 0);
}

static void oci__pull_ref(void **state)
{
	char b[128];

	(void)state;
	sim_oci_pull_ref("127.0.0.1:5000/a/b:1.28@sha256:ab", b, sizeof(b));
	assert_string_equal(b, "127.0.0.1:5000/a/b@sha256:ab"); /* the tag goes, not the port */
	sim_oci_pull_ref("127.0.0.1:5000/b@sha256:ab", b, sizeof(b));
	assert_string_equal(b, "127.0.0.1:5000/b@sha256:ab");
	sim_oci_pull_ref("127.0.0.1:5000/b:v1", b, sizeof(b));
	assert_string_equal(b, "127.0.0.1:5000/b:v1");
	sim_oci_pull_ref("b:v@sha256:x", b, sizeof(b));
	assert_string_equal(b, "b@sha256:x");
	sim_oci_pull_ref(NULL, b, sizeof(b));
	assert_string_equal(b, "");
	sim_oci_pull_ref("127.0.0.1:5000/a/b:1.28@sha256:ab", b, 8); /* truncated, terminated */
	assert_int_equal(strlen(b), 7);
}

static const char base_json[] =
	"{\"process\":{\"terminal\":true,\"user\":{\"uid\":65532,\"gid\":65532},"
	"\"args\":[\"/e\",\"c\"],\"cwd\":\"/\",\"env\":[]},\"root\":{\"path\":\"rootfs\"},"
	"\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"}],"
	"\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\"},{\"type\":\"ipc\"},"
	"{\"type\":\"uts\"},{\"type\":\"mount\"}],\"maskedPaths\":[\"/proc/kcore\"]}}";
static const char img_json[] =
	"{\"config\":{\"Entrypoint\":[\"/entry\"],\"Cmd\":[\"default\"],\"WorkingDir\":\"/app\"}}";

static cJSON *config_for(const char *pod_json, char *err, size_t errlen)
{
	cJSON *base = cJSON_Parse(base_json), *img = cJSON_Parse(img_json);
	cJSON *pod = cJSON_Parse(pod_json);
	cJSON *c;

	assert_non_null(pod);
	c = sim_oci_config(base, img, pod, cJSON_GetArrayItem(sim_j_at(pod, "spec.containers"), 0),
			   "/pods/u1", err, errlen);
	cJSON_Delete(base);
	cJSON_Delete(img);
	cJSON_Delete(pod);
	return c;
}

static char *args_of(const cJSON *c)
{
	return cJSON_PrintUnformatted(sim_j_at(c, "process.args"));
}

static void oci__command_and_args(void **state)
{
	char err[256], *s;
	cJSON *c;

	(void)state;
	c = config_for("{\"spec\":{\"containers\":[{\"name\":\"a\"}]}}", err, sizeof(err));
	assert_non_null(c);
	s = args_of(c);
	assert_string_equal(s, "[\"/entry\",\"default\"]"); /* the image's entrypoint + cmd */
	free(s);
	assert_string_equal(sim_j_str(c, "process.cwd"), "/app");
	assert_false(cJSON_IsTrue(sim_j_at(c, "process.terminal")));
	cJSON_Delete(c);

	c = config_for("{\"spec\":{\"containers\":[{\"name\":\"a\",\"args\":[\"x\",\"y\"]}]}}", err,
		       sizeof(err));
	s = args_of(c);
	assert_string_equal(s, "[\"/entry\",\"x\",\"y\"]"); /* args replace cmd */
	free(s);
	cJSON_Delete(c);

	c = config_for("{\"spec\":{\"containers\":[{\"name\":\"a\",\"command\":[\"/bin/p\"],"
		       "\"workingDir\":\"/w\"}]}}",
		       err, sizeof(err));
	s = args_of(c);
	assert_string_equal(s, "[\"/bin/p\"]"); /* command replaces entrypoint, drops cmd */
	free(s);
	assert_string_equal(sim_j_str(c, "process.cwd"), "/w");
	cJSON_Delete(c);
}

static void oci__mounts_network_memory_user(void **state)
{
	char err[256];
	const cJSON *m, *ns;
	int binds = 0, net = 0;
	cJSON *c = config_for(
		"{\"metadata\":{\"name\":\"p\"},\"spec\":{\"volumes\":[{\"name\":\"data\",\"emptyDir\":{}},"
		"{\"name\":\"host\",\"hostPath\":{\"path\":\"/srv\"}}],"
		"\"containers\":[{\"name\":\"a\",\"volumeMounts\":["
		"{\"name\":\"data\",\"mountPath\":\"/data\"},"
		"{\"name\":\"host\",\"mountPath\":\"/h\",\"subPath\":\"sub\",\"readOnly\":true},"
		"{\"name\":\"missing\",\"mountPath\":\"/m\"}],"
		"\"resources\":{\"limits\":{\"memory\":\"64Mi\"}},"
		"\"securityContext\":{\"runAsUser\":1000,\"readOnlyRootFilesystem\":true}}]}}",
		err, sizeof(err));

	(void)state;
	assert_non_null(c);
	cJSON_ArrayForEach(m, sim_j_at(c, "mounts")) {
		const char *d = sim_j_str(m, "destination"), *src = sim_j_str(m, "source");

		if (strcmp(sim_j_str(m, "type"), "bind") != 0)
			continue;
		binds++;
		if (strcmp(d, "/data") == 0)
			assert_string_equal(src, "/pods/u1/volumes/data");
		else if (strcmp(d, "/h") == 0)
			assert_string_equal(src, "/srv/sub");
		else
			assert_string_equal(d, "/dev/termination-log");
	}
	assert_int_equal(binds, 3); /* a mount of an undeclared volume is skipped */
	cJSON_ArrayForEach(ns, sim_j_at(c, "linux.namespaces")) net |=
		strcmp(sim_j_str(ns, "type"), "network") == 0;
	assert_int_equal(net, 0);
	assert_int_equal(sim_j_int(c, "linux.resources.memory.limit", 0), 64 << 20);
	assert_int_equal(sim_j_int(c, "linux.resources.memory.swap", 0), 64 << 20);
	assert_int_equal(sim_j_int(c, "process.user.uid", 0), 1000);
	assert_int_equal(sim_j_int(c, "process.user.gid", 0), 65532);
	assert_true(cJSON_IsTrue(sim_j_at(c, "root.readonly")));
	assert_string_equal(sim_j_str(c, "hostname"), "p");
	cJSON_Delete(c);
}

/* 1 when process.capabilities.<set> holds CAP_<name>. */
static int has_cap(const cJSON *c, const char *set, const char *name)
{
	char path[64], want[48];
	const cJSON *s;

	snprintf(path, sizeof(path), "process.capabilities.%s", set);
	snprintf(want, sizeof(want), "CAP_%s", name);
	cJSON_ArrayForEach(s, sim_j_at(c, path)) {
		if (strcmp(s->valuestring, want) == 0)
			return 1;
	}
	return 0;
}

static void oci__capabilities(void **state)
{
	char err[256];
	cJSON *c;

	(void)state;
	/* no securityContext: containerd's default set, privilege escalation allowed */
	c = config_for("{\"spec\":{\"containers\":[{\"name\":\"a\"}]}}", err, sizeof(err));
	assert_int_equal(cJSON_GetArraySize(sim_j_at(c, "process.capabilities.bounding")), 14);
	assert_true(has_cap(c, "effective", "CHOWN") && has_cap(c, "permitted", "KILL"));
	assert_false(has_cap(c, "bounding", "SYS_ADMIN"));
	assert_false(cJSON_IsTrue(sim_j_at(c, "process.noNewPrivileges")));
	assert_non_null(sim_j_at(c, "linux.maskedPaths"));
	cJSON_Delete(c);
	/* add over the defaults, drop of one, names with CAP_ and in any case, unknown ignored */
	c = config_for("{\"spec\":{\"containers\":[{\"name\":\"a\",\"securityContext\":{"
		       "\"capabilities\":{\"add\":[\"SYS_ADMIN\",\"cap_ipc_lock\",\"NOPE\"],"
		       "\"drop\":[\"NET_RAW\"]}}}]}}",
		       err, sizeof(err));
	assert_true(has_cap(c, "bounding", "SYS_ADMIN") && has_cap(c, "effective", "IPC_LOCK"));
	assert_false(has_cap(c, "bounding", "NET_RAW"));
	assert_true(has_cap(c, "bounding", "SETUID"));
	assert_int_equal(cJSON_GetArraySize(sim_j_at(c, "process.capabilities.permitted")), 15);
	cJSON_Delete(c);
	/* drop ALL (the restricted profile) with one added back; no privilege escalation */
	c = config_for("{\"spec\":{\"containers\":[{\"name\":\"a\",\"securityContext\":{"
		       "\"allowPrivilegeEscalation\":false,"
		       "\"capabilities\":{\"add\":[\"NET_BIND_SERVICE\"],\"drop\":[\"ALL\"]}}}]}}",
		       err, sizeof(err));
	assert_int_equal(cJSON_GetArraySize(sim_j_at(c, "process.capabilities.bounding")), 1);
	assert_true(has_cap(c, "bounding", "NET_BIND_SERVICE"));
	assert_true(cJSON_IsTrue(sim_j_at(c, "process.noNewPrivileges")));
	cJSON_Delete(c);
	/* containerd's order: add ALL, drop ALL, named adds, named drops (a drop beats an add) */
	c = config_for("{\"spec\":{\"containers\":[{\"name\":\"a\",\"securityContext\":{"
		       "\"capabilities\":{\"add\":[\"ALL\",\"SYS_ADMIN\"],\"drop\":[\"CHOWN\",\"SYS_ADMIN\"]}}}]}}",
		       err, sizeof(err));
	assert_int_equal(cJSON_GetArraySize(sim_j_at(c, "process.capabilities.bounding")), 39);
	assert_false(has_cap(c, "bounding", "CHOWN") || has_cap(c, "bounding", "SYS_ADMIN"));
	assert_true(has_cap(c, "bounding", "BPF"));
	cJSON_Delete(c);
	/* privileged: every capability, /proc not masked */
	c = config_for("{\"spec\":{\"containers\":[{\"name\":\"a\",\"securityContext\":{"
		       "\"privileged\":true,\"capabilities\":{\"drop\":[\"ALL\"]}}}]}}",
		       err, sizeof(err));
	assert_int_equal(cJSON_GetArraySize(sim_j_at(c, "process.capabilities.effective")), 41);
	assert_true(has_cap(c, "bounding", "SYS_ADMIN") && has_cap(c, "bounding", "BPF"));
	assert_null(sim_j_at(c, "linux.maskedPaths"));
	cJSON_Delete(c);
	/* bad input: capabilities not arrays, non-string entries */
	c = config_for("{\"spec\":{\"containers\":[{\"name\":\"a\",\"securityContext\":{"
		       "\"capabilities\":{\"add\":\"SYS_ADMIN\",\"drop\":[1,null,{}]}}}]}}",
		       err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(cJSON_GetArraySize(sim_j_at(c, "process.capabilities.bounding")), 14);
	cJSON_Delete(c);
}

static void oci__bad_input(void **state)
{
	char err[256] = "";
	cJSON *pod = cJSON_Parse("{\"spec\":{\"containers\":[{\"name\":\"a\"}]}}");
	cJSON *empty = cJSON_Parse("{\"config\":{}}"), *base = cJSON_Parse(base_json);
	const cJSON *ctr = cJSON_GetArrayItem(sim_j_at(pod, "spec.containers"), 0);

	(void)state;
	assert_null(sim_oci_config(NULL, empty, pod, ctr, "/p", err, sizeof(err)));
	assert_non_null(strstr(err, "config.json"));
	assert_null(sim_oci_config(base, empty, pod, ctr, "/p", err, sizeof(err)));
	assert_non_null(strstr(err, "no entrypoint"));
	assert_null(sim_oci_config(base, NULL, pod, NULL, "/p", err, sizeof(err)));
	cJSON_Delete(pod);
	cJSON_Delete(empty);
	cJSON_Delete(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(oci__local_refs),
		cmocka_unit_test(oci__pull_ref),
		cmocka_unit_test(oci__command_and_args),
		cmocka_unit_test(oci__mounts_network_memory_user),
		cmocka_unit_test(oci__capabilities),
		cmocka_unit_test(oci__bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
