/* Command runner for phoenix-build: fork/exec with a pipe, poll with a deadline, tail buffer. */
#include "pb_run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kube_error.h"

#define KILL_GRACE_MS 5000

struct tail {
	char buf[PB_TAIL_MAX];
	size_t len;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void tail_add(struct tail *t, const char *p, size_t n)
{
	if (n >= PB_TAIL_MAX) {
		memcpy(t->buf, p + n - PB_TAIL_MAX, PB_TAIL_MAX);
		t->len = PB_TAIL_MAX;
		return;
	}
	if (t->len + n > PB_TAIL_MAX) {
		size_t drop = t->len + n - PB_TAIL_MAX;
		memmove(t->buf, t->buf + drop, t->len - drop);
		t->len -= drop;
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
}

/* Copies the tail out, starting after the first newline when the window was cut mid-line. */
static void tail_finish(const struct tail *t, bool cut, char *out)
{
	size_t start = 0;
	if (cut) {
		const char *nl = memchr(t->buf, '\n', t->len);
		if (nl && (size_t)(nl - t->buf) + 1 < t->len)
			start = (size_t)(nl - t->buf) + 1;
	}
	size_t n = t->len - start;
	memcpy(out, t->buf + start, n);
	for (size_t i = 0; i < n; i++)
		if (out[i] == '\0')
			out[i] = ' '; /* the tail is a C string from here on */
	out[n] = '\0';
}

static void write_all(int fd, const char *p, size_t n)
{
	while (fd >= 0 && n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void child_exec(const char *dir, char *const argv[], int out_fd)
{
	setpgid(0, 0);
	dup2(out_fd, STDOUT_FILENO);
	dup2(out_fd, STDERR_FILENO);
	close(out_fd);
	int devnull = open("/dev/null", O_RDONLY);
	if (devnull >= 0) {
		dup2(devnull, STDIN_FILENO);
		close(devnull);
	}
	if (chdir(dir) != 0)
		_exit(127);
	execvp(argv[0], argv);
	_exit(127);
}

/* Pumps the pipe until EOF or the deadline escalation ends; returns when the pipe closed. */
static void pump(int fd, pid_t pid, unsigned timeout_sec, int echo_fd, struct tail *t,
		 bool *cut, bool *timed_out)
{
	int64_t deadline = timeout_sec ? now_ms() + (int64_t)timeout_sec * 1000 : INT64_MAX;
	int64_t kill_at = INT64_MAX;
	char buf[4096];
	size_t total = 0;
	for (;;) {
		int64_t now = now_ms();
		if (!*timed_out && now >= deadline) {
			*timed_out = true;
			kill(-pid, SIGTERM);
			kill_at = now + KILL_GRACE_MS;
		}
		if (now >= kill_at) {
			kill(-pid, SIGKILL);
			kill_at = INT64_MAX;
		}
		int64_t next = *timed_out ? kill_at : deadline;
		int wait_ms = next == INT64_MAX ? 1000 : (int)(next - now > 1000 ? 1000 : next - now);
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int pr = poll(&pfd, 1, wait_ms < 0 ? 0 : wait_ms);
		if (pr < 0 && errno != EINTR)
			return;
		if (pr <= 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* EOF: every writer (the whole group) is gone */
		write_all(echo_fd, buf, (size_t)n);
		tail_add(t, buf, (size_t)n);
		total += (size_t)n;
		*cut = total > PB_TAIL_MAX;
	}
}

int pb_run(const char *dir, char *const argv[], unsigned timeout_sec, int echo_fd,
	   struct pb_run_result *res)
{
	int fds[2] = { -1, -1 };
	int rc = 0;
	if (!dir || !argv || !argv[0] || !res)
		return KUBE_EINVAL;
	memset(res, 0, sizeof(*res));
	if (pipe(fds) != 0)
		return KUBE_EIO;
	pid_t pid = fork();
	if (pid < 0) {
		rc = KUBE_EIO;
		goto out;
	}
	if (pid == 0) {
		close(fds[0]);
		child_exec(dir, argv, fds[1]);
	}
	setpgid(pid, pid); /* also in the parent: no race with the first kill() */
	close(fds[1]);
	fds[1] = -1;
	struct tail t = { .len = 0 };
	bool cut = false;
	pump(fds[0], pid, timeout_sec, echo_fd, &t, &cut, &res->timed_out);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status))
		res->exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		res->exit_code = 128 + WTERMSIG(status);
	if (res->timed_out)
		res->exit_code = 124;
	tail_finish(&t, cut, res->tail);
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	return rc;
}

int pb_run_shell(const char *dir, const char *command, unsigned timeout_sec, int echo_fd,
		 struct pb_run_result *res)
{
	char *argv[] = { "/bin/sh", "-c", (char *)command, NULL };
	if (!command)
		return KUBE_EINVAL;
	return pb_run(dir, argv, timeout_sec, echo_fd, res);
}
