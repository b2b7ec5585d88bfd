/* Probes for kubesim --run-pods (see sim_probe.h): the result state machine and the httpGet,
 * tcpSocket and exec executors. */
#include "sim_probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kube_error.h"
#include "sim_controllers.h"
#include "sim_runtime.h"

static int port_of(const cJSON *port, const cJSON *ctr)
{
	const cJSON *p;

	if (cJSON_IsNumber(port))
		return (int)port->valuedouble;
	if (!cJSON_IsString(port))
		return -1;
	cJSON_ArrayForEach(p, sim_j_at(ctr, "ports")) {
		const char *name = sim_j_str(p, "name");

		if (name && strcmp(name, port->valuestring) == 0)
			return (int)sim_j_int(p, "containerPort", -1);
	}
	return atoi(port->valuestring) > 0 ? atoi(port->valuestring) : -1;
}

int sim_probe_spec_read(const cJSON *probe, const cJSON *ctr, struct sim_probe_spec *out)
{
	const cJSON *h;
	const char *s;

	memset(out, 0, sizeof(*out));
	out->initial_delay_ms = sim_j_int(probe, "initialDelaySeconds", 0) * 1000;
	out->period_ms = sim_j_int(probe, "periodSeconds", 10) * 1000;
	out->timeout_ms = sim_j_int(probe, "timeoutSeconds", 1) * 1000;
	out->success_threshold = (int)sim_j_int(probe, "successThreshold", 1);
	out->failure_threshold = (int)sim_j_int(probe, "failureThreshold", 3);
	if (out->period_ms <= 0)
		out->period_ms = 10000;
	if (out->timeout_ms <= 0)
		out->timeout_ms = 1000;
	if (out->success_threshold <= 0)
		out->success_threshold = 1;
	if (out->failure_threshold <= 0)
		out->failure_threshold = 3;
	if ((h = sim_j_at(probe, "httpGet")) != NULL) {
		out->kind = SIM_PROBE_HTTP;
		s = sim_j_str(h, "path");
		snprintf(out->path, sizeof(out->path), "%s", s && *s ? s : "/");
		s = sim_j_str(h, "scheme");
		out->https = s && strcmp(s, "HTTPS") == 0;
	} else if ((h = sim_j_at(probe, "tcpSocket")) != NULL) {
		out->kind = SIM_PROBE_TCP;
	} else if ((h = sim_j_at(probe, "exec")) != NULL) {
		out->kind = SIM_PROBE_EXEC;
		out->exec_command = sim_j_at(h, "command");
		if (cJSON_GetArraySize(out->exec_command) <= 0)
			goto bad;
		return 0;
	} else {
		goto bad;
	}
	s = sim_j_str(h, "host");
	snprintf(out->host, sizeof(out->host), "%s", s ? s : "");
	out->port = port_of(sim_j_at(h, "port"), ctr);
	if (out->port <= 0 || out->port > 65535)
		goto bad;
	return 0;
bad:
	out->kind = SIM_PROBE_NONE;
	return KUBE_EINVAL;
}

void sim_probe_state_init(struct sim_probe_state *st, const struct sim_probe_spec *spec,
			  int initial, int64_t started_ms)
{
	memset(st, 0, sizeof(*st));
	st->result = initial;
	st->next_ms = started_ms + spec->initial_delay_ms;
}

int sim_probe_record(struct sim_probe_state *st, const struct sim_probe_spec *spec, int ok,
		     int64_t now)
{
	int before = st->result;

	st->next_ms = now + spec->period_ms;
	if (ok) {
		st->run_ok++;
		st->run_fail = 0;
		if (st->run_ok >= spec->success_threshold)
			st->result = 1;
	} else {
		st->run_fail++;
		st->run_ok = 0;
		if (st->run_fail >= spec->failure_threshold)
			st->result = 0;
	}
	return st->result != before;
}

int sim_probe_http_ok(const char *line)
{
	int code;

	if (!line || strncmp(line, "HTTP/", 5) != 0)
		return 0;
	line = strchr(line, ' ');
	if (!line)
		return 0;
	code = atoi(line + 1);
	return code >= 200 && code < 400;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connects to host:port within the deadline; the socket, or -1. */
static int connect_by(const char *host, int port, int64_t deadline)
{
	struct sockaddr_in sa;
	struct pollfd pfd;
	int fd, err = 0;
	socklen_t len = sizeof(err);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto fail;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, (int)(deadline - mono_ms() > 0 ? deadline - mono_ms() : 0)) != 1)
		goto fail;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

static const char *host_of(const struct sim_probe_spec *spec, const char *ip)
{
	return spec->host[0] ? spec->host : (ip && *ip ? ip : "127.0.0.1");
}

int sim_probe_exec_tcp(const struct sim_probe_spec *spec, const char *ip)
{
	int fd = connect_by(host_of(spec, ip), spec->port, mono_ms() + spec->timeout_ms);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

int sim_probe_exec_http(const struct sim_probe_spec *spec, const char *ip)
{
	int64_t deadline = mono_ms() + spec->timeout_ms;
	const char *host = host_of(spec, ip);
	char req[512], resp[256];
	size_t got = 0;
	int fd = -1, ok = 0, n;

	if (spec->https)
		goto out;
	fd = connect_by(host, spec->port, deadline);
	if (fd < 0)
		goto out;
	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: kube-probe/1.32\r\n"
		     "Accept: */*\r\nConnection: close\r\n\r\n",
		     spec->path, host, spec->port);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		goto out;
	while (got < sizeof(resp) - 1 && !memchr(resp, '\n', got)) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int64_t left = deadline - mono_ms();
		ssize_t r;

		if (left <= 0 || poll(&pfd, 1, (int)left) != 1)
			goto out;
		r = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	resp[got] = '\0';
	ok = sim_probe_http_ok(resp);
out:
	if (fd >= 0)
		close(fd);
	return ok;
}

int sim_probe_exec_command(const struct sim_probe_spec *spec, char *const *argv,
			   char *const *envp, const char *cwd)
{
	int64_t deadline = mono_ms() + spec->timeout_ms;
	int status = 0;
	pid_t pid = sim_rt_spawn(argv, envp, cwd, "/dev/null", 1);

	if (pid < 0)
		return 0;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		struct timespec nap = {0, 10 * 1000000L};

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return 0;
		if (mono_ms() >= deadline) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			return 0;
		}
		nanosleep(&nap, NULL);
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
