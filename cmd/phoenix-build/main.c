/* phoenix-build: the step program of a Build's Job. Each subcommand is one container (fetch or
 * generate, detect, test, image) working on a shared workspace and reporting one JSON line
 * through the termination message. Contract: docs/build-steps.md. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pb_detect.h"
#include "pb_generate.h"
#include "pb_image.h"
#include "pb_report.h"
#include "pb_run.h"
#include "pb_verify.h"

#define DEFAULT_WORKSPACE "/workspace"
#define DEFAULT_TERMINATION_LOG "/dev/termination-log"
#define DEFAULT_TEST_TIMEOUT 1800
#define GIT_TIMEOUT 600

struct opts {
	const char *cmd;
	const char *workspace;
	const char *context_dir;
	const char *termination_log;
	const char *test_command;
	const char *url;
	const char *revision;
	const char *spec;    /* generate: the SPEC file */
	const char *service; /* generate: the service name */
	const char *port;    /* generate: the deploy port */
	unsigned timeout;
	unsigned message_max; /* termination message bound, bytes including the final NUL */
	char dir[4096]; /* workspace/contextDir */
};

static const char usage[] =
	"usage: phoenix-build fetch|generate|detect|test|image [options]\n"
	"  --workspace DIR        shared workspace (PHOENIX_WORKSPACE, default /workspace)\n"
	"  --context-dir DIR      source folder inside it (PHOENIX_CONTEXT_DIR)\n"
	"  --termination-log PATH (PHOENIX_TERMINATION_LOG, default /dev/termination-log)\n"
	"  --url URL --revision REV   fetch: git source (PHOENIX_GIT_URL, PHOENIX_GIT_REVISION)\n"
	"  --spec FILE --service NAME --port N   generate: the SPEC (PHOENIX_SPEC_FILE, else\n"
	"                         PHOENIX_SPEC_DIR/SPEC.md), PHOENIX_SERVICE_NAME, PHOENIX_PORT\n"
	"  --command CMD          test: shell command instead of the detected one\n"
	"                         (PHOENIX_TEST_COMMAND)\n"
	"  --timeout SECONDS      test: limit for the command (PHOENIX_TEST_TIMEOUT, default 1800)\n"
	"  image (the local builder) reads PHOENIX_IMAGE (the reference to build) and\n"
	"                         PHOENIX_IMAGE_STORE (kubesim's --image-store directory)\n"
	"  --message-max BYTES    termination message bound, 256..4096 (PHOENIX_MESSAGE_MAX,\n"
	"                         default 1024)\n"
	"exit: 0 ok, 1 step failed, 64 invalid input, 65 no build system, 124 timed out\n";

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);
	return v && *v ? v : dflt;
}

static int fail(const struct opts *o, int code, const char *reason, const char *msg,
		const char *tail)
{
	struct pb_report r = { .step = o->cmd, .result = "Failed", .reason = reason,
			       .message = msg, .tail = tail, .context_dir = o->context_dir,
			       .exit_code = -1 };
	pb_report_write(o->termination_log, &r, o->message_max);
	return code;
}

static bool parse_uint(const char *s, unsigned *out)
{
	char *end = NULL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || !end || *end || end == s || *s == '-' || v > 7 * 86400)
		return false;
	*out = (unsigned)v;
	return true;
}

/* Fills *o from argv and the environment; returns NULL or a message naming the first bad
 * input. Parsing goes on after an error so that --termination-log is still honoured; a value
 * starting with "--" is taken as the next option, not as a value. */
static const char *parse(int argc, char **argv, struct opts *o)
{
	static char msg[160];
	const char *err = NULL;
	o->workspace = env_or("PHOENIX_WORKSPACE", DEFAULT_WORKSPACE);
	o->context_dir = env_or("PHOENIX_CONTEXT_DIR", NULL);
	o->termination_log = env_or("PHOENIX_TERMINATION_LOG", DEFAULT_TERMINATION_LOG);
	o->test_command = env_or("PHOENIX_TEST_COMMAND", NULL);
	o->url = env_or("PHOENIX_GIT_URL", NULL);
	o->revision = env_or("PHOENIX_GIT_REVISION", NULL);
	o->spec = env_or("PHOENIX_SPEC_FILE", NULL);
	o->service = env_or("PHOENIX_SERVICE_NAME", NULL);
	o->port = env_or("PHOENIX_PORT", NULL);
	const char *timeout = env_or("PHOENIX_TEST_TIMEOUT", NULL);
	const char *message_max = env_or("PHOENIX_MESSAGE_MAX", NULL);
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		const char **slot = !strcmp(a, "--workspace") ? &o->workspace
			: !strcmp(a, "--context-dir") ? &o->context_dir
			: !strcmp(a, "--termination-log") ? &o->termination_log
			: !strcmp(a, "--command") ? &o->test_command
			: !strcmp(a, "--url") ? &o->url
			: !strcmp(a, "--revision") ? &o->revision
			: !strcmp(a, "--spec") ? &o->spec
			: !strcmp(a, "--service") ? &o->service
			: !strcmp(a, "--port") ? &o->port
			: !strcmp(a, "--timeout") ? &timeout
			: !strcmp(a, "--message-max") ? &message_max : NULL;
		if (!slot || !v || !strncmp(v, "--", 2)) {
			if (!err)
				snprintf(msg, sizeof(msg), slot ? "option %.64s needs a value"
							       : "unknown option %.64s", a);
			err = msg;
			continue;
		}
		*slot = v;
		i++;
	}
	o->timeout = DEFAULT_TEST_TIMEOUT;
	o->message_max = PB_REPORT_DEFAULT;
	unsigned mm = 0;
	if (message_max && (!parse_uint(message_max, &mm) || mm < PB_REPORT_MIN ||
			    mm > PB_REPORT_MAX))
		err = err ? err : "message-max must be a number of bytes from 256 to 4096";
	else if (message_max)
		o->message_max = mm;
	if (!err && timeout && !parse_uint(timeout, &o->timeout))
		err = "timeout must be a whole number of seconds from 0 to 604800";
	return err;
}

/* contextDir is relative, without "..", and must name a directory in the workspace. */
static const char *resolve_dir(struct opts *o)
{
	const char *cd = o->context_dir ? o->context_dir : "";
	if (cd[0] == '/')
		return "contextDir must be a relative path inside the source";
	for (const char *p = cd; *p;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return "contextDir must not contain \"..\"";
		p += len + (slash ? 1 : 0);
	}
	if (snprintf(o->dir, sizeof(o->dir), "%s%s%s", o->workspace, *cd ? "/" : "", cd) >=
	    (int)sizeof(o->dir))
		return "workspace/contextDir path is too long";
	struct stat st;
	if (stat(o->dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return *cd ? "contextDir does not name a directory in the source"
			   : "the workspace is not a directory";
	return NULL;
}

static bool have_pytest(const char *dir)
{
	char *argv[] = { "python3", "-c", "import pytest", NULL };
	struct pb_run_result res;
	return pb_run(dir, argv, 60, -1, &res) == 0 && res.exit_code == 0;
}

/* Detection with the pytest probe only when it matters. Returns pb_detect's code. */
static int detect(const char *dir, struct pb_detection *d)
{
	struct pb_env env = { .have_pytest = false };
	int rc = pb_detect(dir, &env, d);
	if (rc == 0 && d->system == PB_SYSTEM_PYTHON && have_pytest(dir)) {
		env.have_pytest = true;
		rc = pb_detect(dir, &env, d);
	}
	return rc;
}

static const char no_system_msg[] =
	"no build system detected: looked for Cargo.toml, package.json, pyproject.toml, setup.py, "
	"requirements.txt, pom.xml, build.gradle(.kts), settings.gradle(.kts), gradlew, "
	"GNUmakefile, Makefile, makefile, Dockerfile; set spec.test.command or spec.source.contextDir";

static int cmd_detect(struct opts *o)
{
	const char *bad = resolve_dir(o);
	struct pb_detection d;
	if (bad)
		return fail(o, PB_EXIT_INVALID_INPUT, "InvalidSpec", bad, NULL);
	if (detect(o->dir, &d) != 0)
		return fail(o, PB_EXIT_NO_BUILD_SYSTEM, "NoBuildSystemDetected", no_system_msg, NULL);
	struct pb_report r = { .step = "detect", .result = "Succeeded",
			       .build_system = pb_system_name(d.system),
			       .test_command = o->test_command ? o->test_command
				       : d.test_command[0] ? d.test_command : NULL,
			       .warning = d.no_tests && !o->test_command ? "NoTestsDefined" : NULL,
			       .message = d.note[0] ? d.note : NULL,
			       .context_dir = o->context_dir, .exit_code = -1 };
	pb_report_write(o->termination_log, &r, o->message_max);
	return PB_EXIT_OK;
}

/* pytest exits 5 when it collected nothing; unittest says "Ran 0 tests" (3.12+: exits 5). */
static bool python_ran_nothing(const struct pb_run_result *res)
{
	return res->exit_code == 5 || (res->exit_code == 0 && strstr(res->tail, "\nRan 0 tests"));
}

static void report_failed(struct pb_report *r, const char *reason, const char *msg,
			  const char *tail)
{
	r->result = "Failed";
	r->reason = reason;
	r->message = msg;
	r->tail = tail;
}

static int run_tests(struct opts *o, const struct pb_detection *d, const char *command)
{
	struct pb_run_result *res = calloc(1, sizeof(*res));
	char msg[512];
	int code = PB_EXIT_STEP_FAILED;
	if (!res)
		return fail(o, PB_EXIT_STEP_FAILED, "TestsFailed", "out of memory", NULL);
	fprintf(stderr, "phoenix-build: running `%s` in %s\n", command, o->dir);
	fflush(stdout);
	if (pb_run_shell(o->dir, command, o->timeout, STDOUT_FILENO, res) != 0) {
		snprintf(msg, sizeof(msg), "could not start `%.200s`", command);
		code = fail(o, PB_EXIT_STEP_FAILED, "TestsFailed", msg, NULL);
		goto out;
	}
	struct pb_report r = { .step = "test", .build_system = pb_system_name(d->system),
			       .test_command = command, .context_dir = o->context_dir,
			       .exit_code = res->exit_code };
	if (res->timed_out) {
		snprintf(msg, sizeof(msg), "`%.200s` ran longer than %us; last output:", command,
			 o->timeout);
		report_failed(&r, "TestsTimedOut", msg, res->tail);
		code = PB_EXIT_TIMED_OUT;
	} else if (d->system == PB_SYSTEM_PYTHON && !o->test_command && python_ran_nothing(res)) {
		r.result = "Succeeded";
		r.warning = "NoTestsDefined";
		r.message = "the test runner found no tests";
		code = PB_EXIT_OK;
	} else if (res->exit_code == 0) {
		r.result = "Succeeded";
		code = PB_EXIT_OK;
	} else {
		snprintf(msg, sizeof(msg), "`%.200s` exited %d%s; last output:", command,
			 res->exit_code, res->exit_code == 127 ? " (command not found?)" : "");
		report_failed(&r, "TestsFailed", msg, res->tail);
	}
	pb_report_write(o->termination_log, &r, o->message_max);
out:
	free(res);
	return code;
}

static int cmd_test(struct opts *o)
{
	const char *bad = resolve_dir(o);
	struct pb_detection d;
	if (bad)
		return fail(o, PB_EXIT_INVALID_INPUT, "InvalidSpec", bad, NULL);
	int rc = detect(o->dir, &d);
	if (rc != 0 && !o->test_command)
		return fail(o, PB_EXIT_NO_BUILD_SYSTEM, "NoBuildSystemDetected", no_system_msg, NULL);
	if (!o->test_command && d.no_tests) {
		struct pb_report r = { .step = "test", .result = "Succeeded",
				       .warning = "NoTestsDefined",
				       .build_system = pb_system_name(d.system),
				       .message = d.note, .context_dir = o->context_dir,
				       .exit_code = -1 };
		pb_report_write(o->termination_log, &r, o->message_max);
		return PB_EXIT_OK;
	}
	return run_tests(o, &d, o->test_command ? o->test_command : d.test_command);
}

/* Runs git with argv; on failure reports SourceFetchFailed. Returns 0 or an exit code. */
static int git(struct opts *o, char *const argv[], struct pb_run_result *res, const char *what)
{
	char msg[256];
	if (pb_run(o->workspace, argv, GIT_TIMEOUT, STDOUT_FILENO, res) == 0 &&
	    res->exit_code == 0)
		return 0;
	snprintf(msg, sizeof(msg), "git %s failed (exit %d)%s; last output:", what,
		 res->exit_code, res->timed_out ? ", timed out" : "");
	return fail(o, PB_EXIT_STEP_FAILED, "SourceFetchFailed", msg, res->tail);
}

static int checkout(struct opts *o, struct pb_run_result *res)
{
	char remote[512];
	char *argv[] = { "git", "-c", "safe.directory=*", "-c", "advice.detachedHead=false",
			 "checkout", "--quiet", "--detach", (char *)o->revision, "--", NULL };
	if (pb_run(o->workspace, argv, GIT_TIMEOUT, STDOUT_FILENO, res) == 0 &&
	    res->exit_code == 0)
		return 0;
	/* A branch other than the default exists only as origin/<name> after the clone. */
	snprintf(remote, sizeof(remote), "origin/%s", o->revision);
	argv[8] = remote;
	return git(o, argv, res, "checkout of the revision");
}

static int cmd_fetch(struct opts *o)
{
	struct pb_run_result *res = calloc(1, sizeof(*res));
	int code;
	if (!res)
		return fail(o, PB_EXIT_STEP_FAILED, "SourceFetchFailed", "out of memory", NULL);
	if (!o->url || !*o->url || o->url[0] == '-') {
		code = fail(o, PB_EXIT_INVALID_INPUT, "InvalidSpec",
			    "source.git.url is required and must not start with '-'", NULL);
		goto out;
	}
	if (o->revision && (o->revision[0] == '-' || strlen(o->revision) > 255)) {
		code = fail(o, PB_EXIT_INVALID_INPUT, "InvalidSpec",
			    "source.git.revision must not start with '-' (at most 255 bytes)", NULL);
		goto out;
	}
	setenv("GIT_TERMINAL_PROMPT", "0", 1);
	if (mkdir(o->workspace, 0755) != 0 && errno != EEXIST) {
		code = fail(o, PB_EXIT_INVALID_INPUT, "InvalidSpec", "cannot create the workspace",
			    NULL);
		goto out;
	}
	char *clone[] = { "git", "clone", "--quiet", "--", (char *)o->url, ".", NULL };
	code = git(o, clone, res, "clone");
	if (code == 0 && o->revision && *o->revision)
		code = checkout(o, res);
	char *head[] = { "git", "-c", "safe.directory=*", "rev-parse", "HEAD", NULL };
	if (code == 0 && pb_run(o->workspace, head, 60, -1, res) == 0 && res->exit_code == 0) {
		res->tail[strcspn(res->tail, "\r\n")] = '\0';
		bool bad_dir = o->context_dir && resolve_dir(o) != NULL;
		struct pb_report r = { .step = "fetch", .result = bad_dir ? "Failed" : "Succeeded",
				       .reason = bad_dir ? "InvalidSpec" : NULL,
				       .message = bad_dir ? resolve_dir(o) : NULL,
				       .commit_sha = res->tail, .context_dir = o->context_dir,
				       .exit_code = -1 };
		pb_report_write(o->termination_log, &r, o->message_max);
		code = bad_dir ? PB_EXIT_INVALID_INPUT : PB_EXIT_OK;
	} else if (code == 0) {
		code = fail(o, PB_EXIT_STEP_FAILED, "SourceFetchFailed", "git rev-parse HEAD failed",
			    res->tail);
	}
out:
	free(res);
	return code;
}

/* The local builder: the source (workspace/contextDir) and a manifest from its Dockerfile
 * into STORE/<name@sha256:digest>, the digest being that of the image's content. */
static int cmd_image(struct opts *o)
{
	const char *bad = resolve_dir(o);
	const char *ref = env_or("PHOENIX_IMAGE", NULL);
	const char *store = env_or("PHOENIX_IMAGE_STORE", NULL);
	if (bad)
		return fail(o, PB_EXIT_INVALID_INPUT, "InvalidSpec", bad, NULL);
	if (!ref || !store || ref[0] == '-')
		return fail(o, PB_EXIT_INVALID_INPUT, "InvalidSpec",
			    "the local builder needs PHOENIX_IMAGE and PHOENIX_IMAGE_STORE", NULL);
	char path[4300], name[512], tmp[4096], final[4800], msg[512];
	snprintf(path, sizeof(path), "%s/Dockerfile", o->dir);
	FILE *f = fopen(path, "r");
	char *df = NULL;
	if (f) {
		df = calloc(1, 65537);
		if (df)
			(void)!fread(df, 1, 65536, f);
		fclose(f);
	}
	cJSON *m = pb_image_manifest(df);
	free(df);
	if (!m)
		return fail(o, PB_EXIT_STEP_FAILED, "ImageBuildFailed",
			    "the local builder needs a Dockerfile with ENTRYPOINT or CMD in the "
			    "source (contextDir)", NULL);
	pb_image_name(ref, name, sizeof(name));
	snprintf(tmp, sizeof(tmp), "%s/.build-%ld", store, (long)getpid());
	struct pb_run_result *res = calloc(1, sizeof(*res));
	char *line = cJSON_PrintUnformatted(m);
	cJSON_Delete(m);
	int code = PB_EXIT_OK;
	if (!res || !line) {
		code = fail(o, PB_EXIT_STEP_FAILED, "ImageBuildFailed", "out of memory", NULL);
		goto out;
	}
	char src[4200];
	snprintf(src, sizeof(src), "%s/.", o->dir);
	char *mk[] = { "mkdir", "-p", tmp, NULL };
	char *cp[] = { "cp", "-R", src, tmp, NULL };
	if (pb_run(o->workspace, mk, 60, -1, res) != 0 || res->exit_code != 0 ||
	    pb_run(o->workspace, cp, 600, -1, res) != 0 || res->exit_code != 0) {
		snprintf(msg, sizeof(msg), "cannot copy the source into the image store %.200s",
			 store);
		code = fail(o, PB_EXIT_STEP_FAILED, "ImageBuildFailed", msg, res->tail);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/manifest.json", tmp);
	f = fopen(path, "w");
	if (!f || fputs(line, f) < 0 || fclose(f) != 0) {
		code = fail(o, PB_EXIT_STEP_FAILED, "ImageBuildFailed",
			    "cannot write the image's manifest.json", NULL);
		goto out;
	}
	if (pb_run_shell(tmp, "rm -rf .git && tar --sort=name --mtime=@0 --owner=0 --group=0 "
			 "--numeric-owner -cf - . | sha256sum", 600, -1, res) != 0 ||
	    res->exit_code != 0 || strlen(res->tail) < 64) {
		code = fail(o, PB_EXIT_STEP_FAILED, "ImageBuildFailed",
			    "cannot compute the image's digest (tar | sha256sum)", res->tail);
		goto out;
	}
	char *hex = res->tail + strspn(res->tail, "\n");
	hex[64] = '\0';
	char image[700], dir_name[700];
	snprintf(image, sizeof(image), "%s@sha256:%s", name, hex);
	pb_image_store_name(image, dir_name, sizeof(dir_name));
	snprintf(final, sizeof(final), "%s/%s", store, dir_name);
	struct stat st;
	if (stat(final, &st) == 0) {
		char *rm[] = { "rm", "-rf", tmp, NULL };
		pb_run(o->workspace, rm, 600, -1, res); /* the same content is there already */
	} else if (rename(tmp, final) != 0) {
		snprintf(msg, sizeof(msg), "cannot store the image as %.300s: %s", final,
			 strerror(errno));
		code = fail(o, PB_EXIT_STEP_FAILED, "ImageBuildFailed", msg, NULL);
		goto out;
	}
	fprintf(stderr, "phoenix-build: image %s in %s\n", image, store);
	struct pb_report r = { .step = "image", .result = "Succeeded", .image = image,
			       .context_dir = o->context_dir, .exit_code = -1 };
	pb_report_write(o->termination_log, &r, o->message_max);
out:
	free(line);
	free(res);
	return code;
}

/* The SPEC's text (malloc'd), or NULL with msg set. */
static char *read_spec(const struct opts *o, char *msg, size_t len)
{
	char path[4200];
	const char *dir = env_or("PHOENIX_SPEC_DIR", NULL);
	if (o->spec)
		snprintf(path, sizeof(path), "%s", o->spec);
	else if (dir)
		snprintf(path, sizeof(path), "%s/SPEC.md", dir);
	else {
		snprintf(msg, len, "no SPEC: the built-in generator reads SPEC.md from the ConfigMap "
			 "named by spec.specConfigMap (an Intent's Build has one); create it and set "
			 "spec.specConfigMap.name");
		return NULL;
	}
	FILE *f = fopen(path, "rb");
	char *text = f ? calloc(1, PB_GEN_SPEC_MAX + 2) : NULL;
	size_t n = text ? fread(text, 1, PB_GEN_SPEC_MAX + 1, f) : 0;
	if (f)
		fclose(f);
	if (!f || !text) {
		snprintf(msg, len, "cannot read the SPEC %.300s: %s (does the ConfigMap named by "
			 "spec.specConfigMap exist, with the key SPEC.md?)", path,
			 f ? "out of memory" : strerror(errno));
	} else if (n > PB_GEN_SPEC_MAX) {
		snprintf(msg, len, "the SPEC %.300s is larger than %d KiB", path, PB_GEN_SPEC_MAX / 1024);
	} else if (memchr(text, '\0', n)) {
		snprintf(msg, len, "the SPEC %.300s is not text (it holds a NUL byte)", path);
	} else {
		return text;
	}
	free(text);
	return NULL;
}

/* The built-in generator: a service from the SPEC into workspace/contextDir. */
static int cmd_generate(struct opts *o)
{
	char msg[700], err[512], files[256];
	unsigned port = 0;
	if (o->port && (!parse_uint(o->port, &port) || port == 0 || port > 65535))
		return fail(o, PB_EXIT_INVALID_INPUT, "InvalidSpec",
			    "the port (spec.deploy.port) must be a number from 1 to 65535", NULL);
	if (mkdir(o->workspace, 0755) != 0 && errno != EEXIST)
		return fail(o, PB_EXIT_INVALID_INPUT, "InvalidSpec", "cannot create the workspace",
			    NULL);
	const char *bad = resolve_dir(o);
	if (bad)
		return fail(o, PB_EXIT_INVALID_INPUT, "InvalidSpec", bad, NULL);
	char *md = read_spec(o, msg, sizeof(msg));
	if (!md)
		return fail(o, PB_EXIT_INVALID_INPUT, "InvalidSpec", msg, NULL);
	struct pb_gen_spec *spec = calloc(1, sizeof(*spec));
	int code = PB_EXIT_OK;
	if (!spec) {
		code = fail(o, PB_EXIT_STEP_FAILED, "GenerateFailed", "out of memory", NULL);
	} else if (pb_gen_parse(md, o->service, (int)port, spec, err, sizeof(err)) != 0) {
		snprintf(msg, sizeof(msg), "the SPEC cannot be generated from: %s", err);
		code = fail(o, PB_EXIT_INVALID_INPUT, "InvalidSpec", msg, NULL);
	} else if (pb_gen_write(o->dir, spec, files, sizeof(files), err, sizeof(err)) < 0) {
		code = fail(o, PB_EXIT_STEP_FAILED, "GenerateFailed", err, NULL);
	} else {
		snprintf(msg, sizeof(msg), "generated service %s (%s, port %d, %d feature stub%s, "
			 "%d dependenc%s): wrote %s", spec->service, PB_GEN_LANGUAGE, spec->port,
			 spec->nfeatures, spec->nfeatures == 1 ? "" : "s", spec->ndeps,
			 spec->ndeps == 1 ? "y" : "ies", files);
		fprintf(stderr, "phoenix-build: %s in %s\n", msg, o->dir);
		struct pb_report r = { .step = "generate", .result = "Succeeded",
				       .build_system = PB_GEN_BUILD_SYSTEM, .language = PB_GEN_LANGUAGE,
				       .message = msg, .context_dir = o->context_dir,
				       .exit_code = -1 };
		pb_report_write(o->termination_log, &r, o->message_max);
	}
	free(spec);
	free(md);
	return code;
}

int main(int argc, char **argv)
{
	struct opts o = { .cmd = argc > 1 ? argv[1] : "", .message_max = PB_REPORT_DEFAULT };
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "verify"))
		return pb_verify_main(argc, argv);
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? PB_EXIT_INVALID_INPUT : PB_EXIT_OK;
	}
	const char *bad = parse(argc, argv, &o);
	if (bad) {
		fprintf(stderr, "%s", usage);
		return fail(&o, PB_EXIT_INVALID_INPUT, "InvalidSpec", bad, NULL);
	}
	if (!strcmp(o.cmd, "fetch"))
		return cmd_fetch(&o);
	if (!strcmp(o.cmd, "generate"))
		return cmd_generate(&o);
	if (!strcmp(o.cmd, "detect"))
		return cmd_detect(&o);
	if (!strcmp(o.cmd, "test"))
		return cmd_test(&o);
	if (!strcmp(o.cmd, "image"))
		return cmd_image(&o);
	fprintf(stderr, "%s", usage);
	o.cmd = NULL;
	return fail(&o, PB_EXIT_INVALID_INPUT, "InvalidSpec", "unknown subcommand", NULL);
}
