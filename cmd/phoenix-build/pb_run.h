/* Runs one shell command for phoenix-build: in a directory, with a deadline, its stdout and
 * stderr merged and streamed to our stdout (the container log) while the last bytes are kept
 * for the termination message. */
#ifndef PB_RUN_H
#define PB_RUN_H

#include <stdbool.h>
#include <stddef.h>

#define PB_TAIL_MAX 2048

struct pb_run_result {
	int exit_code;       /* the command's exit status; 128+N when killed by signal N */
	bool timed_out;      /* killed because the deadline passed (exit_code is then 124) */
	char tail[PB_TAIL_MAX + 1]; /* last output bytes, NUL-terminated, starts at a line break
				       when one is in the window */
};

/* Runs argv (argv[0] looked up in PATH; no shell) in directory `dir` (its own process group),
 * with stdin from /dev/null, waiting at most
 * `timeout_sec` seconds (0: no limit); at the deadline the group gets SIGTERM, then SIGKILL
 * 5 s later. Output is copied to `echo_fd` (-1: not copied) as it arrives. Returns 0 when the
 * command ran (whatever its exit status; see *res), KUBE_EINVAL for NULL arguments, KUBE_EIO
 * when it could not be started. Not thread-safe with respect to SIGCHLD handling: call from
 * one thread. */
int pb_run(const char *dir, char *const argv[], unsigned timeout_sec, int echo_fd,
	   struct pb_run_result *res);

/* pb_run of `/bin/sh -c command`: for the test command, which is shell text by contract. */
int pb_run_shell(const char *dir, const char *command, unsigned timeout_sec, int echo_fd,
		 struct pb_run_result *res);

#endif
