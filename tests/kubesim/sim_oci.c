/* kubesim --run-pods, image mode: see sim_oci.h. */
#include "sim_oci.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kube_error.h"
#include "sim_controllers.h"
#include "sim_runtime.h"

extern char **environ;

int sim_oci_local_ref(const char *image)
{
	static const char *const hosts[] = {"127.0.0.1:", "localhost:", "[::1]:"};
	const char *slash = image ? strchr(image, '/') : NULL;
	size_t i, n;

	if (!slash)
		return 0;
	for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		n = strlen(hosts[i]);
		if ((size_t)(slash - image) > n && strncmp(image, hosts[i], n) == 0) {
			const char *p = image + n;

			while (p < slash && *p >= '0' && *p <= '9')
				p++;
			return p == slash;
		}
	}
	return 0;
}

void sim_oci_pull_ref(const char *image, char *buf, size_t len)
{
	const char *at = image ? strchr(image, '@') : NULL, *slash, *colon;

	if (!len)
		return;
	snprintf(buf, len, "%s", image ? image : "");
	if (!at)
		return;
	for (slash = at; slash > image && slash[-1] != '/'; slash--)
		;
	colon = memchr(slash, ':', (size_t)(at - slash));
	if (colon)
		snprintf(buf, len, "%.*s%s", (int)(colon - image), image, at);
}

/* Appends the strings of arr (if an array) to out. */
static void add_strings(cJSON *out, const cJSON *arr)
{
	const cJSON *s;

	cJSON_ArrayForEach(s, arr) {
		if (cJSON_IsString(s))
			cJSON_AddItemToArray(out, cJSON_CreateString(s->valuestring));
	}
}

/* The host dir of a pod volume: hostPath's path, else pod_dir/volumes/<name>. */
static int volume_src(const cJSON *pod, const char *name, const char *pod_dir, char *buf,
		      size_t len)
{
	const cJSON *v;

	cJSON_ArrayForEach(v, sim_j_at(pod, "spec.volumes")) {
		const char *vn = sim_j_str(v, "name");

		if (!vn || strcmp(vn, name) != 0)
			continue;
		if (sim_j_str(v, "hostPath.path"))
			snprintf(buf, len, "%s", sim_j_str(v, "hostPath.path"));
		else
			snprintf(buf, len, "%s/volumes/%s", pod_dir, name);
		return 1;
	}
	return 0;
}

static void add_bind(cJSON *mounts, const char *src, const char *dst, int ro)
{
	cJSON *m = cJSON_CreateObject(), *opts = cJSON_CreateArray();

	cJSON_AddStringToObject(m, "destination", dst);
	cJSON_AddStringToObject(m, "type", "bind");
	cJSON_AddStringToObject(m, "source", src);
	cJSON_AddItemToArray(opts, cJSON_CreateString("rbind"));
	cJSON_AddItemToArray(opts, cJSON_CreateString(ro ? "ro" : "rw"));
	cJSON_AddItemToObject(m, "options", opts);
	cJSON_AddItemToArray(mounts, m);
}

/* Drops the network namespace: the container uses the host's network. */
static void host_network(cJSON *linux)
{
	cJSON *ns = cJSON_GetObjectItemCaseSensitive(linux, "namespaces");
	int i;

	for (i = cJSON_GetArraySize(ns) - 1; i >= 0; i--) {
		const char *t = sim_j_str(cJSON_GetArrayItem(ns, i), "type");

		if (t && strcmp(t, "network") == 0)
			cJSON_DeleteItemFromArray(ns, i);
	}
}

/* containerd's default capability set (oci.DefaultCapabilities), what a pod's container gets
 * before its securityContext's add/drop; privileged gets all of them. */
static const char *const default_caps[] = {
	"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID",
	"SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
};
static const char *const all_caps[] = {
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
	"SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST",
	"NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO",
	"SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
	"SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE",
	"AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
	"BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
};
#define NCAPS(a) (sizeof(a) / sizeof((a)[0]))

/* The index in all_caps of a Kubernetes capability name (SYS_ADMIN or CAP_SYS_ADMIN, any
 * case), -1 when unknown (ignored, as the runtimes' validation is not ours to model). */
static int cap_index(const char *name)
{
	size_t i;

	if (!name)
		return -1;
	if (strncasecmp(name, "CAP_", 4) == 0)
		name += 4;
	for (i = 0; i < NCAPS(all_caps); i++)
		if (strcasecmp(name, all_caps[i]) == 0)
			return (int)i;
	return -1;
}

static int cap_list_has(const cJSON *list, const char *name)
{
	const cJSON *s;

	cJSON_ArrayForEach(s, list) {
		if (cJSON_IsString(s) && strcasecmp(s->valuestring, name) == 0)
			return 1;
	}
	return 0;
}

/* process.capabilities from the container's securityContext: privileged -> all; else in
 * containerd's order (WithCapabilities): the default set, add ALL -> every one, drop ALL ->
 * none, then the named adds, then the named drops (a drop beats an add of the same name, and
 * add ALL + drop CHOWN is everything but CHOWN). Bounding, effective and permitted; a non-root
 * user loses effective/permitted at exec (no ambient set), as on a node. */
static void set_capabilities(cJSON *proc, const cJSON *ctr)
{
	const cJSON *add = sim_j_at(ctr, "securityContext.capabilities.add");
	const cJSON *drop = sim_j_at(ctr, "securityContext.capabilities.drop");
	static const char *const sets[] = {"bounding", "effective", "permitted"};
	unsigned char on[NCAPS(all_caps)] = {0};
	const cJSON *s;
	cJSON *caps;
	size_t i, k;
	int j;

	if (sim_j_bool(ctr, "securityContext.privileged", 0)) {
		memset(on, 1, sizeof(on));
	} else {
		for (i = 0; i < NCAPS(default_caps); i++)
			on[cap_index(default_caps[i])] = 1;
		if (cap_list_has(add, "ALL"))
			memset(on, 1, sizeof(on));
		if (cap_list_has(drop, "ALL"))
			memset(on, 0, sizeof(on));
		cJSON_ArrayForEach(s, add) {
			if (cJSON_IsString(s) && (j = cap_index(s->valuestring)) >= 0)
				on[j] = 1;
		}
		cJSON_ArrayForEach(s, drop) {
			if (cJSON_IsString(s) && (j = cap_index(s->valuestring)) >= 0)
				on[j] = 0;
		}
	}
	caps = cJSON_CreateObject();
	for (k = 0; k < NCAPS(sets); k++) {
		cJSON *arr = cJSON_AddArrayToObject(caps, sets[k]);
		char name[40];

		for (i = 0; i < NCAPS(all_caps); i++) {
			if (!on[i])
				continue;
			snprintf(name, sizeof(name), "CAP_%s", all_caps[i]);
			cJSON_AddItemToArray(arr, cJSON_CreateString(name));
		}
	}
	sim_j_set(proc, "capabilities", caps);
	/* Kubernetes' allowPrivilegeEscalation defaults to true (false only when set so). */
	sim_j_set(proc, "noNewPrivileges",
		  cJSON_CreateBool(!sim_j_bool(ctr, "securityContext.privileged", 0) &&
				   !sim_j_bool(ctr, "securityContext.allowPrivilegeEscalation", 1)));
}

cJSON *sim_oci_config(const cJSON *base, const cJSON *img_cfg, const cJSON *pod, const cJSON *ctr,
		      const char *pod_dir, char *err, size_t errlen)
{
	const cJSON *command = sim_j_at(ctr, "command"), *args = sim_j_at(ctr, "args"), *vm;
	const char *wd = sim_j_str(ctr, "workingDir"), *name = sim_j_str(ctr, "name");
	const char *tpath = sim_j_str(ctr, "terminationMessagePath");
	const char *limit = sim_j_str(ctr, "resources.limits.memory");
	const cJSON *ic = sim_j_at(img_cfg, "config");
	cJSON *c, *proc, *argv, *mounts, *linux;
	char src[PATH_MAX * 2];
	int has_cmd = cJSON_GetArraySize(command) > 0;

	if (!cJSON_IsObject(base) || !cJSON_IsObject(sim_j_at(base, "process")) || !name) {
		snprintf(err, errlen, "image mode: the bundle's config.json has no process");
		return NULL;
	}
	c = cJSON_Duplicate(base, 1);
	proc = cJSON_GetObjectItemCaseSensitive(c, "process");
	/* Kubernetes over the image: command replaces the entrypoint and drops cmd; args replace
	 * cmd. */
	argv = cJSON_CreateArray();
	add_strings(argv, has_cmd ? command : sim_j_at(ic, "Entrypoint"));
	add_strings(argv, cJSON_GetArraySize(args) > 0 || has_cmd ? args : sim_j_at(ic, "Cmd"));
	if (cJSON_GetArraySize(argv) == 0) {
		snprintf(err, errlen, "image has no entrypoint and the container no command");
		cJSON_Delete(argv);
		cJSON_Delete(c);
		return NULL;
	}
	sim_j_set(proc, "args", argv);
	sim_j_set(proc, "terminal", cJSON_CreateFalse());
	if (wd && *wd)
		sim_j_set_str(proc, "cwd", wd);
	else if (sim_j_str(ic, "WorkingDir") && *sim_j_str(ic, "WorkingDir"))
		sim_j_set_str(proc, "cwd", sim_j_str(ic, "WorkingDir"));
	else
		sim_j_set_str(proc, "cwd", "/");
	if (sim_j_at(ctr, "securityContext.runAsUser"))
		sim_j_set_num(sim_j_obj(proc, "user"), "uid",
			      (double)sim_j_int(ctr, "securityContext.runAsUser", 0));
	if (sim_j_at(ctr, "securityContext.runAsGroup"))
		sim_j_set_num(sim_j_obj(proc, "user"), "gid",
			      (double)sim_j_int(ctr, "securityContext.runAsGroup", 0));
	set_capabilities(proc, ctr);
	if (sim_j_bool(ctr, "securityContext.privileged", 0)) {
		/* privileged: /proc and /sys as the host's, not masked or read-only */
		cJSON_DeleteItemFromObjectCaseSensitive(sim_j_obj(c, "linux"), "maskedPaths");
		cJSON_DeleteItemFromObjectCaseSensitive(sim_j_obj(c, "linux"), "readonlyPaths");
	}
	if (sim_j_bool(ctr, "securityContext.readOnlyRootFilesystem", 0))
		sim_j_set(sim_j_obj(c, "root"), "readonly", cJSON_CreateTrue());
	if (sim_j_str(pod, "metadata.name"))
		sim_j_set_str(c, "hostname", sim_j_str(pod, "metadata.name"));

	mounts = cJSON_GetObjectItemCaseSensitive(c, "mounts");
	if (!cJSON_IsArray(mounts)) {
		mounts = cJSON_CreateArray();
		sim_j_set(c, "mounts", mounts);
	}
	cJSON_ArrayForEach(vm, sim_j_at(ctr, "volumeMounts")) {
		const char *vn = sim_j_str(vm, "name"), *mp = sim_j_str(vm, "mountPath");
		const char *sub = sim_j_str(vm, "subPath");
		size_t n;

		if (!vn || !mp || mp[0] != '/' || !volume_src(pod, vn, pod_dir, src, sizeof(src) / 2))
			continue;
		n = strlen(src);
		if (sub && *sub)
			snprintf(src + n, sizeof(src) - n, "/%s", sub);
		add_bind(mounts, src, mp, sim_j_bool(vm, "readOnly", 0));
	}
	snprintf(src, sizeof(src), "%s/term/%s/termination-log", pod_dir, name);
	add_bind(mounts, src, tpath && tpath[0] == '/' ? tpath : "/dev/termination-log", 0);

	linux = sim_j_obj(c, "linux");
	host_network(linux);
	if (limit && sim_rt_quantity_bytes(limit) > 0) {
		cJSON *mem = sim_j_obj(sim_j_obj(linux, "resources"), "memory");

		/* swap = limit: over the limit is the kernel's OOM kill, not paging */
		sim_j_set_num(mem, "limit", (double)sim_rt_quantity_bytes(limit));
		sim_j_set_num(mem, "swap", (double)sim_rt_quantity_bytes(limit));
	}
	return c;
}

static int strv_from(char ***out, const cJSON *arr, const char *extra);

int sim_oci_cgroup_layout(const char *root)
{
	char path[PATH_MAX], line[512];
	FILE *f;
	int v2 = 0;

	if (!root)
		return SIM_OCI_CG_NONE;
	/* The unified hierarchy mounted at the root: its controllers are listed there. */
	snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
	if ((f = fopen(path, "r")) != NULL) {
		while (fscanf(f, "%511s", line) == 1)
			v2 = v2 || strcmp(line, "memory") == 0;
		fclose(f);
		return v2 ? SIM_OCI_CG_V2 : SIM_OCI_CG_NONE;
	}
	/* v1 (or hybrid: v1 controllers with the unified tree under root/unified). */
	snprintf(path, sizeof(path), "%s/memory/memory.limit_in_bytes", root);
	return access(path, F_OK) == 0 ? SIM_OCI_CG_V1 : SIM_OCI_CG_NONE;
}

/* The wrapper the runtime spawns (see sim_oci.h); $1 is the container id's prefix (the runc id
 * adds the wrapper's pid: a dying run's watcher must not delete the next run), $2 its name. The
 * environment the runtime built becomes the container's (HOME=/ instead of the pod dir; the
 * runtime's own KUBESIM_OCI_DIR dropped). With a memory limit ($d/memory) the limit goes on a
 * parent cgroup the wrapper makes (runc's leaf under it has none), because runc removes its
 * leaf, and the leaf's counters with it, when the container ends. $d/cgroup says which
 * hierarchy holds the memory controller ("v1 ROOT" or "v2 ROOT", from sim_oci_cgroup_layout).
 * v1: the parent is under the wrapper's own memory cgroup; the kernel counts an OOM kill in
 * the victim's (leaf) cgroup only, so the verdict is: the container died of SIGKILL (137) and
 * the parent's peak usage reached the limit (memory.max_usage_in_bytes or its memsw twin;
 * failcnt stays 0 there, the charge fails in the leaf). v2: the parent is ROOT/kubesim/<id>
 * (a cgroup with processes cannot delegate controllers, so not under the wrapper's own),
 * memory.max the limit, memory.swap.max 0; memory.events is hierarchical, so the verdict is:
 * 137 and the parent's oom_kill count above 0. Either -> $d/oom and a line in the log.
 * Elsewhere runc sets the limit itself (the kernel still kills; it is not told). */
static const char wrapper[] =
	"# kubesim --run-pods image mode (tests/kubesim/sim_oci.c): runs this dir's bundle with runc\n"
	"d=$KUBESIM_OCI_DIR r=" SIM_OCI_RUNC_ROOT " id=$1-$$ cg= mode= root=\n"
	"rm -f \"$d/oom\"\n"
	"env -u KUBESIM_OCI_DIR -u PWD -u OLDPWD -u SHLVL -u _ HOME=/ \\\n"
	"  jq -n '[env | to_entries[] | \"\\(.key)=\\(.value)\"]' >\"$d/env.json\" &&\n"
	"  jq --slurpfile e \"$d/env.json\" '.process.env = $e[0]' \"$d/config.base.json\" "
	">\"$d/bundle/config.json\" || exit 126\n"
	": >>\"$KUBESIM_POD_DIR/term/$2/termination-log\" || exit 126\n"
	"[ ! -s \"$d/cgroup\" ] || read -r mode root <\"$d/cgroup\"\n"
	"if [ -s \"$d/memory\" ] && [ \"$mode\" = v1 ]; then\n"
	"  own=$(awk -F: '$2 == \"memory\" {print $3}' /proc/self/cgroup); own=${own%/}\n"
	"  c=$root/memory$own/$id\n"
	"  if [ -n \"$own\" ] && mkdir -p \"$c\" && cat \"$d/memory\" >\"$c/memory.limit_in_bytes\"; then\n"
	"    [ ! -e \"$c/memory.memsw.limit_in_bytes\" ] || cat \"$d/memory\" >\"$c/memory.memsw.limit_in_bytes\"\n"
	"    jq --arg p \"$own/$id/c\" '.linux.cgroupsPath = $p | del(.linux.resources.memory)' "
	"\"$d/bundle/config.json\" >\"$d/config.cg.json\" && mv \"$d/config.cg.json\" \"$d/bundle/config.json\" && cg=$c\n"
	"  fi\n"
	"elif [ -s \"$d/memory\" ] && [ \"$mode\" = v2 ]; then\n"
	"  c=$root/kubesim/$id\n"
	"  if mkdir -p \"$c\" && { grep -qw memory \"$root/kubesim/cgroup.subtree_control\" 2>/dev/null ||\n"
	"      echo +memory >\"$root/kubesim/cgroup.subtree_control\"; } &&\n"
	"    cat \"$d/memory\" >\"$c/memory.max\" && echo +memory >\"$c/cgroup.subtree_control\"; then\n"
	"    [ ! -e \"$c/memory.swap.max\" ] || echo 0 >\"$c/memory.swap.max\"\n"
	"    jq --arg p \"/kubesim/$id/c\" '.linux.cgroupsPath = $p | del(.linux.resources.memory)' "
	"\"$d/bundle/config.json\" >\"$d/config.cg.json\" && mv \"$d/config.cg.json\" \"$d/bundle/config.json\" && cg=$c\n"
	"  fi\n"
	"fi\n"
	"exec 3> >(exec setsid bash -c 'cat >/dev/null; runc --root \"$0\" delete --force \"$1\" "
	">/dev/null 2>&1; [ -z \"$2\" ] || rmdir \"$2\" 2>/dev/null' \"$r\" \"$id\" \"$cg\")\n"
	"printf %s \"$id\" >\"$d/id\"\n"
	"runc --root \"$r\" run --bundle \"$d/bundle\" \"$id\" 3>&- </dev/null &\n"
	"pid=$!\n"
	"for s in TERM INT HUP QUIT USR1 USR2; do trap \"kill -$s $pid 2>/dev/null\" $s; done\n"
	"while :; do wait \"$pid\"; rc=$?; kill -0 \"$pid\" 2>/dev/null || break; done\n"
	"if [ \"$rc\" = 137 ] && [ -n \"$cg\" ] && if [ \"$mode\" = v2 ]; then\n"
	"    awk '$1 == \"oom_kill\" && $2 + 0 > 0 {f = 1} END {exit !f}' \"$cg/memory.events\" 2>/dev/null\n"
	"  else\n"
	"    cat \"$cg/memory.max_usage_in_bytes\" \"$cg/memory.memsw.max_usage_in_bytes\" 2>/dev/null |\n"
	"    awk -v l=\"$(cat \"$d/memory\")\" '$1 + 0 >= l + 0 {f = 1} END {exit !f}'\n"
	"  fi; then\n"
	"  : >\"$d/oom\"\n"
	"  echo \"kubesim: the kernel OOM-killed the container (memory limit $(cat \"$d/memory\") bytes)\" >&2\n"
	"fi\n"
	"exit \"$rc\"\n";

char **sim_oci_exec_argv(const cJSON *command)
{
	cJSON *argv = cJSON_CreateArray();
	char **out = NULL;

	if (!argv)
		return NULL;
	/* runc exec keeps the container's process env, cwd and user (its config.json's). The
	 * process it starts is in a session of its own, out of reach of the probe's SIGKILL of
	 * this process group at the timeout: a watcher in its own session kills it (by runc's pid
	 * file) when this shell dies before runc returned. */
	cJSON_AddItemToArray(argv, cJSON_CreateString("/bin/bash"));
	cJSON_AddItemToArray(argv, cJSON_CreateString("-c"));
	cJSON_AddItemToArray(argv, cJSON_CreateString(
		"id=$(cat \"$KUBESIM_OCI_DIR/id\") && f=$KUBESIM_OCI_DIR/exec.$$.pid || exit 126\n"
		"exec 3> >(exec setsid bash -c 'cat >/dev/null; [ ! -s \"$0\" ] || "
		"kill -KILL \"$(cat \"$0\")\" 2>/dev/null; rm -f \"$0\"' \"$f\")\n"
		"runc --root " SIM_OCI_RUNC_ROOT " exec --pid-file \"$f\" \"$id\" \"$@\" </dev/null 3>&-\n"
		"rc=$?; rm -f \"$f\"; exit $rc\n"));
	cJSON_AddItemToArray(argv, cJSON_CreateString("kubesim-exec")); /* $0 */
	add_strings(argv, command);
	if (cJSON_GetArraySize(command) > 0 && strv_from(&out, argv, NULL) != 0) {
		sim_rt_strv_free(out);
		out = NULL;
	}
	cJSON_Delete(argv);
	return out;
}

const char *sim_oci_wrapper_text(void)
{
	return wrapper;
}

/* Runs argv (argv[0] found on PATH), output appended to log; its exit status, -1 if it did not
 * run. */
static int run_tool(char *const *argv, const char *log)
{
	char exe[PATH_MAX];
	char *v[16];
	pid_t pid;
	int st = 0, i;

	if (!sim_rt_find_exe(argv[0], getenv("PATH"), NULL, exe, sizeof(exe)))
		return -1;
	for (i = 0; argv[i] && i < 15; i++)
		v[i] = argv[i];
	v[0] = exe;
	v[i] = NULL;
	pid = sim_rt_spawn(v, environ, "/", log, 0);
	if (pid < 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static cJSON *read_json(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;
	cJSON *j = NULL;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < (8 << 20) &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
		if (fread(buf, 1, (size_t)n, f) == (size_t)n) {
			buf[n] = '\0';
			j = cJSON_Parse(buf);
		}
		free(buf);
	}
	fclose(f);
	return j;
}

static int write_text(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -1;
	ok = fputs(text, f) >= 0;
	ok = fclose(f) == 0 && ok;
	return ok && chmod(path, mode) == 0 ? 0 : -1;
}

static int strv_from(char ***out, const cJSON *arr, const char *extra)
{
	size_t n = 0, cap = (size_t)cJSON_GetArraySize(arr) + 2;
	const cJSON *s;
	char **v = calloc(cap, sizeof(*v));

	if (!v)
		return KUBE_ENOMEM;
	cJSON_ArrayForEach(s, arr) {
		if (cJSON_IsString(s))
			v[n++] = strdup(s->valuestring);
	}
	if (extra)
		v[n++] = strdup(extra);
	*out = v;
	for (size_t i = 0; i < n; i++) {
		if (!v[i])
			return KUBE_ENOMEM;
	}
	return 0;
}

/* The slow part of a resolve: skopeo copy, umoci unpack, skopeo inspect --config into dir
 * (pod_dir/oci/<ctr>, which exists). 0, SIM_OCI_NOT_MINE (not in the registry, no tools) or
 * KUBE_EIO with a message. Touches dir only: any thread may run it. */
static int fetch(const char *image, const char *dir, char *err, size_t errlen)
{
	char layout[PATH_MAX + 16], bundle[PATH_MAX + 16], logf[PATH_MAX + 16];
	char src[PATH_MAX + 32], dst[PATH_MAX + 32], path[PATH_MAX + 32];

	snprintf(layout, sizeof(layout), "%s/layout", dir);
	snprintf(bundle, sizeof(bundle), "%s/bundle", dir);
	snprintf(logf, sizeof(logf), "%s/pull.log", dir);
	memcpy(src, "docker://", 9);
	sim_oci_pull_ref(image, src + 9, sizeof(src) - 9);
	snprintf(dst, sizeof(dst), "oci:%s:img", layout);
	{
		char *rm[] = {"rm", "-rf", bundle, layout, NULL};
		char *copy[] = {"skopeo", "copy", "-q", "--src-tls-verify=false", src, dst, NULL};
		char *unpack[] = {"umoci", "unpack", "--image", dst + 4, bundle, NULL};
		char *inspect[] = {"skopeo", "inspect", "--config", dst, NULL};

		snprintf(path, sizeof(path), "%s/image-config.json", dir);
		/* Not in the registry (or no tools): today's process mapping applies. */
		if (run_tool(rm, logf) != 0 || run_tool(copy, logf) != 0)
			return SIM_OCI_NOT_MINE;
		if (run_tool(unpack, logf) != 0) {
			snprintf(err, errlen, "failed to unpack image \"%s\" (umoci, see %s)", image, logf);
			return KUBE_EIO;
		}
		unlink(path);
		if (run_tool(inspect, path) != 0) {
			snprintf(err, errlen, "failed to read the config of image \"%s\"", image);
			return KUBE_EIO;
		}
	}
	return 0;
}

#define PULL_NONE 2
#define PULLED_FILE "pulled"

/* The outcome a pull worker left in dir/pulled ("0", "1" = not mine, or "-N message"),
 * consumed; PULL_NONE if there is none (the resolve then pulls itself). */
static int pulled(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX + 16], line[512] = "";
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/" PULLED_FILE, dir);
	if ((f = fopen(path, "r")) == NULL)
		return PULL_NONE;
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	unlink(path);
	line[strcspn(line, "\n")] = '\0';
	rc = atoi(line);
	if (rc < 0 && strchr(line, ' '))
		snprintf(err, errlen, "%s", strchr(line, ' ') + 1);
	return rc;
}

struct sim_oci_pull {
	pthread_t th;
	atomic_int done;
	char *image, *dir;
	void (*wake)(void *);
	void *ud;
};

static void *pull_main(void *arg)
{
	struct sim_oci_pull *pl = arg;
	char err[400] = "", path[PATH_MAX + 16], line[440];
	int rc = fetch(pl->image, pl->dir, err, sizeof(err));
	FILE *f;

	snprintf(line, sizeof(line), "%d %s\n", rc, err);
	snprintf(path, sizeof(path), "%s/" PULLED_FILE, pl->dir);
	if ((f = fopen(path, "w")) != NULL) {
		fputs(line, f);
		fclose(f);
	}
	atomic_store(&pl->done, 1);
	if (pl->wake)
		pl->wake(pl->ud);
	return NULL;
}

struct sim_oci_pull *sim_oci_pull_start(const cJSON *ctr, const char *pod_dir,
					void (*wake)(void *), void *ud)
{
	const char *image = sim_j_str(ctr, "image"), *name = sim_j_str(ctr, "name");
	struct sim_oci_pull *pl;
	char dir[PATH_MAX];

	if (!sim_oci_local_ref(image) || !name || !pod_dir)
		return NULL;
	snprintf(dir, sizeof(dir), "%s/oci", pod_dir);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return NULL;
	snprintf(dir, sizeof(dir), "%s/oci/%s", pod_dir, name);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return NULL;
	pl = calloc(1, sizeof(*pl));
	if (!pl)
		return NULL;
	pl->image = strdup(image);
	pl->dir = strdup(dir);
	pl->wake = wake;
	pl->ud = ud;
	snprintf(dir, sizeof(dir), "%s/oci/%s/" PULLED_FILE, pod_dir, name);
	unlink(dir);
	if (!pl->image || !pl->dir || pthread_create(&pl->th, NULL, pull_main, pl) != 0) {
		free(pl->image);
		free(pl->dir);
		free(pl);
		return NULL;
	}
	return pl;
}

int sim_oci_pull_done(const struct sim_oci_pull *pl)
{
	return pl && atomic_load(&((struct sim_oci_pull *)pl)->done);
}

void sim_oci_pull_free(struct sim_oci_pull *pl)
{
	if (!pl)
		return;
	pthread_join(pl->th, NULL);
	free(pl->image);
	free(pl->dir);
	free(pl);
}

int sim_oci_resolve(const cJSON *pod, const cJSON *ctr, const char *pod_dir,
		    struct sim_rt_image *out, char *err, size_t errlen)
{
	const char *image = sim_j_str(ctr, "image"), *name = sim_j_str(ctr, "name");
	const char *uid = sim_j_str(pod, "metadata.uid");
	char dir[PATH_MAX], bundle[PATH_MAX + 16], path[PATH_MAX + 32], id[160], *text;
	cJSON *base = NULL, *imgcfg = NULL, *cfg = NULL, *argv;
	int rc = SIM_OCI_NOT_MINE;

	memset(out, 0, sizeof(*out));
	if (!sim_oci_local_ref(image) || !name || !uid)
		return SIM_OCI_NOT_MINE;
	snprintf(dir, sizeof(dir), "%s/oci/%s", pod_dir, name);
	snprintf(path, sizeof(path), "%s/oci", pod_dir);
	if ((mkdir(path, 0755) != 0 && errno != EEXIST) || (mkdir(dir, 0755) != 0 && errno != EEXIST))
		return SIM_OCI_NOT_MINE;
	snprintf(bundle, sizeof(bundle), "%s/bundle", dir);
	rc = pulled(dir, err, errlen);
	if (rc == PULL_NONE)
		rc = fetch(image, dir, err, errlen);
	if (rc != 0)
		return rc;
	snprintf(path, sizeof(path), "%s/config.json", bundle);
	base = read_json(path);
	snprintf(path, sizeof(path), "%s/image-config.json", dir);
	imgcfg = read_json(path);
	cfg = sim_oci_config(base, imgcfg, pod, ctr, pod_dir, err, errlen);
	rc = KUBE_EIO;
	if (!cfg)
		goto out;
	text = cJSON_Print(cfg);
	snprintf(path, sizeof(path), "%s/config.base.json", dir);
	if (!text || write_text(path, text, 0644) != 0) {
		free(text);
		snprintf(err, errlen, "cannot write %s", path);
		goto out;
	}
	free(text);
	snprintf(path, sizeof(path), "%s/memory", dir);
	unlink(path);
	if (sim_j_int(cfg, "linux.resources.memory.limit", 0) > 0) {
		char lim[32];

		snprintf(lim, sizeof(lim), "%lld",
			 (long long)sim_j_int(cfg, "linux.resources.memory.limit", 0));
		if (write_text(path, lim, 0644) != 0) {
			snprintf(err, errlen, "cannot write %s", path);
			goto out;
		}
	}
	snprintf(path, sizeof(path), "%s/cgroup", dir);
	{
		static const char *const names[] = {"", "v1", "v2"};
		int cg = sim_oci_cgroup_layout(SIM_OCI_CGROUP_ROOT);
		char line[64];

		snprintf(line, sizeof(line), "%s %s\n", names[cg], SIM_OCI_CGROUP_ROOT);
		if (write_text(path, cg ? line : "", 0644) != 0) {
			snprintf(err, errlen, "cannot write %s", path);
			goto out;
		}
	}
	snprintf(path, sizeof(path), "%s/run.sh", dir);
	if (write_text(path, wrapper, 0755) != 0) {
		snprintf(err, errlen, "cannot write %s", path);
		goto out;
	}
	/* The wrapper's argv holds no absolute path (the runtime rewrites mount paths in argv). */
	snprintf(id, sizeof(id), "ks-%.64s-%.63s", uid, name);
	argv = cJSON_CreateArray();
	cJSON_AddItemToArray(argv, cJSON_CreateString("/bin/bash"));
	cJSON_AddItemToArray(argv, cJSON_CreateString("-c"));
	cJSON_AddItemToArray(argv, cJSON_CreateString("source \"$KUBESIM_OCI_DIR/run.sh\""));
	cJSON_AddItemToArray(argv, cJSON_CreateString("kubesim-oci")); /* $0 */
	cJSON_AddItemToArray(argv, cJSON_CreateString(id));
	cJSON_AddItemToArray(argv, cJSON_CreateString(name));
	snprintf(path, sizeof(path), "KUBESIM_OCI_DIR=%s", dir);
	rc = strv_from(&out->argv, argv, NULL);
	cJSON_Delete(argv);
	if (rc == 0)
		rc = strv_from(&out->env, sim_j_at(imgcfg, "config.Env"), path);
	if (rc == 0) {
		out->workdir = strdup(dir);
		rc = out->workdir ? 0 : KUBE_ENOMEM;
	}
	if (rc == 0)
		mkdir(SIM_OCI_RUNC_ROOT, 0700);
out:
	if (rc != 0 && rc != SIM_OCI_NOT_MINE)
		sim_rt_image_release(out);
	cJSON_Delete(base);
	cJSON_Delete(imgcfg);
	cJSON_Delete(cfg);
	return rc;
}

int sim_oci_oom_killed(const char *pod_dir, const char *ctr)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/oci/%s/oom", pod_dir, ctr ? ctr : "");
	return ctr && access(path, F_OK) == 0;
}

int sim_oci_pause(const char *pod_dir, const char *ctr, int pause)
{
	char path[PATH_MAX], id[256] = "";
	char *argv[] = {"runc", "--root", SIM_OCI_RUNC_ROOT, pause ? "pause" : "resume", id, NULL};
	FILE *f;

	snprintf(path, sizeof(path), "%s/oci/%s/id", pod_dir ? pod_dir : "", ctr ? ctr : "");
	if (!pod_dir || !ctr || (f = fopen(path, "r")) == NULL)
		return -1;
	if (!fgets(id, sizeof(id), f))
		id[0] = '\0';
	fclose(f);
	id[strcspn(id, "\n")] = '\0';
	return id[0] && run_tool(argv, "/dev/null") == 0 ? 0 : -1;
}
