/* The termination message of a phoenix-build step: one compact JSON line, always shorter than
 * the kubelet's 4096-byte limit, written to the termination-message path. */
#ifndef PB_REPORT_H
#define PB_REPORT_H

#include <stddef.h>

/* Exit codes of phoenix-build. 64 and 65 are reserved for the Job's podFailurePolicy (FailJob:
 * retrying cannot help); controller/build/phx_build_classify.h repeats them (a unit test checks
 * they agree). */
#define PB_EXIT_OK 0
#define PB_EXIT_STEP_FAILED 1     /* the step's work failed: reason in the message */
#define PB_EXIT_INVALID_INPUT 64  /* bad flags, URL, revision or contextDir (EX_USAGE) */
#define PB_EXIT_NO_BUILD_SYSTEM 65 /* nothing detected and no test command given */
#define PB_EXIT_TIMED_OUT 124     /* the test command ran past --timeout (as timeout(1)) */

/* Kubernetes keeps at most 4096 bytes of a container's termination message, and 12 KiB for all
 * of a pod's containers, split evenly: 1 KiB by default leaves room for 12 step containers. */
#define PB_REPORT_MAX 4096
#define PB_REPORT_DEFAULT 1024
#define PB_REPORT_MIN 256

/* Every string is borrowed and optional (NULL: the key is left out). */
struct pb_report {
	const char *step;         /* "fetch", "detect", "test" */
	const char *result;       /* "Succeeded" or "Failed" */
	const char *reason;       /* one word on failure: TestsFailed, SourceFetchFailed, ... */
	const char *warning;      /* one word, e.g. NoTestsDefined */
	const char *message;      /* human text; on failure it ends with the output's last lines */
	const char *tail;         /* appended to message after a newline; cut from the front so
				     the whole line fits */
	const char *build_system; /* pb_system_name() */
	const char *test_command;
	const char *commit_sha;
	const char *image;        /* image step: name@sha256:<64 hex> */
	const char *context_dir;
	const char *language;     /* generate: the generated service's language */
	int exit_code;            /* the test command's exit status; < 0: left out */
};

/* Formats *r as one JSON line (no trailing newline) into out[cap], cap <= PB_REPORT_MAX.
 * Control bytes other than newline and tab become spaces and invalid UTF-8 becomes '?', so the
 * line is valid JSON in valid UTF-8; when it would not fit, the tail loses its oldest bytes
 * first, then the message is shortened. Returns the length, KUBE_EINVAL for bad arguments,
 * KUBE_ENOMEM. Thread-safe. */
int pb_report_format(const struct pb_report *r, char *out, size_t cap);

/* Formats *r into at most cap - 1 bytes (cap <= PB_REPORT_MAX) and writes it to `path`
 * (truncating the file), and echoes it to stderr. When even the fixed fields do not fit, only
 * step, result, reason, warning, buildSystem, commitSha and exitCode are written. Returns 0, or the pb_report_format error, or
 * KUBE_EIO when the file cannot be written. */
int pb_report_write(const char *path, const struct pb_report *r, size_t cap);

/* A malloc'd copy of s as the report writes text: control bytes other than newline and tab
 * become spaces, invalid UTF-8 becomes '?'. NULL when out of memory. */
char *pb_report_sanitize(const char *s);

#endif
