/* kubesim image mode and the memory cgroup (tests/kubesim/sim_oci.h) against fake cgroupfs
 * trees (this machine has the hybrid v1 layout; there is no real cgroup v2 to test on): which
 * hierarchy holds the memory controller, and the wrapper's v2 path run with a fake runc: the
 * limit on the parent cgroup it makes (memory.max, memory.swap.max 0, +memory delegated), the
 * container's cgroupsPath under it, and OOMKilled from the parent's memory.events oom_kill count
 * only for a SIGKILLed container (137) whose cgroup counted a kill. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sim_oci.h"

static char tmp[256];

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/test_sim_oci_cg.XXXXXX");
	return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 32];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

/* Runs a shell command in tmp; its exit status. */
static int sh(const char *fmt, ...)
{
	char cmd[4096 + PATH_MAX];
	va_list ap;
	int n, st;

	n = snprintf(cmd, sizeof(cmd), "cd '%s' && ", tmp);
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *path_in(const char *rel, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", tmp, rel);
	return buf;
}

static void cg__layout_detection(void **state)
{
	char p[PATH_MAX];

	(void)state;
	/* Pure v2: the root is the unified hierarchy. */
	assert_int_equal(sh("mkdir -p v2 && echo 'cpuset cpu io memory pids' >v2/cgroup.controllers"), 0);
	assert_int_equal(sim_oci_cgroup_layout(path_in("v2", p, sizeof(p))), SIM_OCI_CG_V2);
	/* v2 without the memory controller: nothing to put a limit on. */
	assert_int_equal(sh("mkdir -p v2nomem && echo 'cpu io pids' >v2nomem/cgroup.controllers"), 0);
	assert_int_equal(sim_oci_cgroup_layout(path_in("v2nomem", p, sizeof(p))), SIM_OCI_CG_NONE);
	/* Hybrid (this machine): v1 controllers, an empty unified tree at root/unified. */
	assert_int_equal(sh("mkdir -p hy/memory hy/unified && : >hy/memory/memory.limit_in_bytes && "
			    ": >hy/unified/cgroup.controllers"), 0);
	assert_int_equal(sim_oci_cgroup_layout(path_in("hy", p, sizeof(p))), SIM_OCI_CG_V1);
	/* No memory controller at all, a missing root, NULL. */
	assert_int_equal(sh("mkdir -p none/cpu"), 0);
	assert_int_equal(sim_oci_cgroup_layout(path_in("none", p, sizeof(p))), SIM_OCI_CG_NONE);
	assert_int_equal(sim_oci_cgroup_layout(path_in("missing", p, sizeof(p))), SIM_OCI_CG_NONE);
	assert_int_equal(sim_oci_cgroup_layout(NULL), SIM_OCI_CG_NONE);
}

/* A fake runc on PATH: `run` records its config, counts FAKE_OOM kills in the parent cgroup's
 * memory.events (as the kernel's hierarchical count would) and exits FAKE_RC; the rest no-op. */
static const char fake_runc[] =
	"#!/bin/bash\n"
	"for a; do case $prev in --bundle) b=$a;; esac; prev=$a; done\n"
	"case \" $* \" in *' run '*)\n"
	"  cp \"$b/config.json\" \"$FAKE_OUT/run-config.json\"\n"
	"  p=$(jq -r '.linux.cgroupsPath // empty' \"$b/config.json\")\n"
	"  [ -z \"$p\" ] || printf 'low 0\\nhigh 0\\nmax 3\\noom 1\\noom_kill %s\\n' \"$FAKE_OOM\" "
	">\"$FAKE_ROOT${p%/c}/memory.events\"\n"
	"  exit \"$FAKE_RC\";;\n"
	"esac\n"
	"exit 0\n";

/* Sets up a container dir d/ (bundle, base config, a 64 MiB limit, "v2 <fake root>") and the
 * fake runc, then runs the wrapper; its exit status. */
static int run_wrapper_v2(int rc, int oom_kills)
{
	char p[PATH_MAX];
	FILE *f;

	assert_int_equal(sh("rm -rf root d pod out bin && mkdir -p root d/bundle pod/term/c out bin oci && "
			    "echo 'memory pids' >root/cgroup.controllers && "
			    "echo '{\"process\":{\"args\":[\"/x\"]},\"linux\":{\"resources\":{\"memory\":"
			    "{\"limit\":67108864}}}}' >d/config.base.json && printf 67108864 >d/memory && "
			    "echo \"v2 $PWD/root\" >d/cgroup"), 0);
	f = fopen(path_in("bin/runc", p, sizeof(p)), "w");
	assert_non_null(f);
	fputs(fake_runc, f);
	fclose(f);
	chmod(p, 0755);
	f = fopen(path_in("d/run.sh", p, sizeof(p)), "w");
	assert_non_null(f);
	fputs(sim_oci_wrapper_text(), f);
	fclose(f);
	return sh("PATH=$PWD/bin:$PATH FAKE_OUT=$PWD/out FAKE_ROOT=$PWD/root FAKE_RC=%d FAKE_OOM=%d "
		  "KUBESIM_OCI_DIR=$PWD/d KUBESIM_POD_DIR=$PWD/pod "
		  "bash -c 'source \"$KUBESIM_OCI_DIR/run.sh\"' kubesim-oci ks-uid-c c 2>out/stderr",
		  rc, oom_kills);
}

static void cg__v2_oom_killed(void **state)
{
	(void)state;
	assert_int_equal(run_wrapper_v2(137, 1), 137);
	/* The limit on a parent of runc's cgroup, memory delegated to it; runc sets none itself. */
	assert_int_equal(sh("d=$(ls -d root/kubesim/ks-uid-c-*) && [ \"$(cat $d/memory.max)\" = 67108864 ] && "
			    "grep -qx +memory $d/cgroup.subtree_control && "
			    "grep -qx +memory root/kubesim/cgroup.subtree_control && "
			    "jq -e --arg p \"/${d#root/}/c\" '.linux.cgroupsPath == $p and "
			    "(.linux.resources.memory == null)' out/run-config.json >/dev/null"), 0);
	assert_int_equal(sh("[ -e d/oom ] && grep -q 'OOM-killed' out/stderr"), 0);
	assert_int_equal(sim_oci_oom_killed(tmp, "../d"), 1);
}

static void cg__v2_not_oom(void **state)
{
	(void)state;
	/* SIGKILLed, but the cgroup counted no OOM kill (someone else's kill -9). */
	assert_int_equal(run_wrapper_v2(137, 0), 137);
	assert_int_equal(sh("[ ! -e d/oom ]"), 0);
	/* An OOM count with a clean exit is not the container's death. */
	assert_int_equal(run_wrapper_v2(0, 1), 0);
	assert_int_equal(sh("[ ! -e d/oom ]"), 0);
	assert_int_equal(sim_oci_oom_killed(tmp, "../d"), 0);
	/* No memory controller (no d/cgroup line): runc keeps the limit in its own config. */
	assert_int_equal(run_wrapper_v2(137, 1), 137);
	assert_int_equal(sh("rm -rf root/kubesim out/run-config.json && : >d/cgroup && "
			    "PATH=$PWD/bin:$PATH FAKE_OUT=$PWD/out FAKE_ROOT=$PWD/root FAKE_RC=137 FAKE_OOM=1 "
			    "KUBESIM_OCI_DIR=$PWD/d KUBESIM_POD_DIR=$PWD/pod "
			    "bash -c 'source \"$KUBESIM_OCI_DIR/run.sh\"' kubesim-oci ks-uid-c c 2>/dev/null; "
			    "[ $? = 137 ] && [ ! -e d/oom ] && [ ! -e root/kubesim ] && "
			    "jq -e '.linux.resources.memory.limit == 67108864' out/run-config.json >/dev/null"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(cg__layout_detection, setup, teardown),
		cmocka_unit_test_setup_teardown(cg__v2_oom_killed, setup, teardown),
		cmocka_unit_test_setup_teardown(cg__v2_not_oom, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
