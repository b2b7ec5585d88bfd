/* The dashboard's local proxy (phx_web_proxy.h): one thread per connection, one request per
 * connection (Connection: close), bytes piped both ways with poll(). */
#include "phx_web_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HEAD 16384
#define MAX_CONNS 64

int phx_web_proxy_parse_target(const char *url, char *host, size_t hostsz, int *port)
{
	const char *p, *end, *colon;
	size_t hl;
	char *e;
	long v = 80;

	if (!url || strncmp(url, "http://", 7) != 0)
		return -1;
	p = url + 7;
	end = p + strcspn(p, "/");
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));

		if (!rb)
			return -1;
		hl = (size_t)(rb - p - 1);
		if (hl == 0 || hl >= hostsz)
			return -1;
		memcpy(host, p + 1, hl);
		host[hl] = '\0';
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
		if (!colon && rb + 1 != end)
			return -1;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		hl = (size_t)((colon ? colon : end) - p);
		if (hl == 0 || hl >= hostsz)
			return -1;
		memcpy(host, p, hl);
		host[hl] = '\0';
	}
	if (colon) {
		v = strtol(colon + 1, &e, 10);
		if (e != end || v < 1 || v > 65535)
			return -1;
	}
	if (*end && strcmp(end, "/") != 0)
		return -1;
	*port = (int)v;
	return 0;
}

/* Header name of line (up to ':') equals name, case-insensitively. */
static bool is_header(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

static bool host_ok(const char *v, size_t len, int port)
{
	static const char *const hosts[] = {"127.0.0.1", "localhost", "[::1]"};
	char want[64];

	while (len && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		int n = snprintf(want, sizeof(want), "%s:%d", hosts[i], port);

		if ((size_t)n == len && strncasecmp(v, want, len) == 0)
			return true;
	}
	return false;
}

char *phx_web_proxy_rewrite(const char *head, const char *token, int port, int *status)
{
	size_t cap = strlen(head) + strlen(token) + 64, len = 0;
	char *out = malloc(cap);
	const char *line = head, *eol;
	bool first = true, host = false;

	*status = 400;
	if (!out)
		return NULL;
	while ((eol = strstr(line, "\r\n")) != NULL) {
		size_t n = (size_t)(eol - line);

		if (n == 0)
			break; /* end of the head */
		if (first) {
			/* "METHOD /path HTTP/1.x": origin-form only (no absolute URLs, no CONNECT). */
			const char *sp = memchr(line, ' ', n);

			if (!sp || sp[1] != '/' || !memchr(sp + 1, ' ', n - (size_t)(sp + 1 - line)))
				goto bad;
			first = false;
		} else if (is_header(line, n, "Host")) {
			if (host || !host_ok(line + 5, n - 5, port)) {
				*status = 403;
				goto bad;
			}
			host = true;
		} else if (is_header(line, n, "Authorization") || is_header(line, n, "Connection") ||
			   is_header(line, n, "Keep-Alive") || strncasecmp(line, "Proxy-", 6) == 0) {
			line = eol + 2;
			continue;
		}
		memcpy(out + len, line, n + 2);
		len += n + 2;
		line = eol + 2;
	}
	if (first || !eol || !host) {
		*status = host || first || !eol ? 400 : 403;
		goto bad;
	}
	len += (size_t)snprintf(out + len, cap - len,
				"Authorization: Bearer %s\r\nConnection: close\r\n\r\n", token);
	*status = 0;
	return out;
bad:
	free(out);
	return NULL;
}

/* ---------------------------------------------------------------- serving */

struct proxy {
	const struct phx_web_proxy_opts *o;
	char host[256];
	int tport, lport;
	pthread_mutex_t mu;
	int conns;
	int stopping; /* __atomic: *o->stop copied by the main thread (signals arrive there only) */
};

struct conn {
	struct proxy *p;
	int fd;
};

static void send_all(int fd, const char *b, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			return;
		}
		b += w;
		n -= (size_t)w;
	}
}

static void answer(int fd, int status, const char *msg)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf),
			 "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
			 "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
			 status, status == 403 ? "Forbidden" : status == 502 ? "Bad Gateway"
							    : "Bad Request", strlen(msg), msg);

	send_all(fd, buf, (size_t)n);
}

static int dial(const char *host, int port)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
	char ps[8];
	int fd = -1;

	snprintf(ps, sizeof(ps), "%d", port);
	if (getaddrinfo(host, ps, &hints, &res) != 0)
		return -1;
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

/* Pipes a <-> b until either side closes or the proxy stops. */
static void pump(struct proxy *p, int a, int b)
{
	char buf[16384];
	struct pollfd fds[2] = {{.fd = a, .events = POLLIN}, {.fd = b, .events = POLLIN}};

	while (!__atomic_load_n(&p->stopping, __ATOMIC_ACQUIRE)) {
		int r = poll(fds, 2, 200);

		if (r < 0 && errno != EINTR)
			return;
		for (int i = 0; i < 2 && r > 0; i++) {
			if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = recv(fds[i].fd, buf, sizeof(buf), 0);

			if (n <= 0)
				return;
			send_all(fds[1 - i].fd, buf, (size_t)n);
		}
	}
}

static void *serve(void *arg)
{
	struct conn *c = arg;
	struct proxy *p = c->p;
	char head[MAX_HEAD + 1];
	size_t len = 0;
	char *end = NULL, *rewritten = NULL;
	int up = -1, status;

	/* Read the head (a slow or silent client gives up after the proxy stops). */
	while (!end && len < MAX_HEAD && !__atomic_load_n(&p->stopping, __ATOMIC_ACQUIRE)) {
		struct pollfd pf = {.fd = c->fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pf, 1, 200) <= 0)
			continue;
		n = recv(c->fd, head + len, MAX_HEAD - len, 0);
		if (n <= 0)
			goto out;
		len += (size_t)n;
		head[len] = '\0';
		end = strstr(head, "\r\n\r\n");
	}
	if (!end) {
		answer(c->fd, 400, "request head too large or incomplete\n");
		goto out;
	}
	char saved = end[4];

	end[4] = '\0';
	rewritten = phx_web_proxy_rewrite(head, p->o->token, p->lport, &status);
	end[4] = saved;
	if (!rewritten) {
		answer(c->fd, status, status == 403 ? "Forbidden: this proxy only serves "
			"http://127.0.0.1, localhost or [::1] on its own port\n" : "bad request\n");
		goto out;
	}
	up = dial(p->host, p->tport);
	if (up < 0) {
		char msg[512];

		snprintf(msg, sizeof(msg), "cannot reach the dashboard at %s (is the port-forward "
			 "running? see kubectl phoenix --help)\n", p->o->target);
		answer(c->fd, 502, msg);
		goto out;
	}
	send_all(up, rewritten, strlen(rewritten));
	/* Body bytes that came with the head. */
	if (len > (size_t)(end + 4 - head))
		send_all(up, end + 4, len - (size_t)(end + 4 - head));
	pump(p, c->fd, up);
out:
	if (rewritten) {
		memset(rewritten, 0, strlen(rewritten)); /* it held the token */
		free(rewritten);
	}
	if (up >= 0)
		close(up);
	close(c->fd);
	pthread_mutex_lock(&p->mu);
	p->conns--;
	pthread_mutex_unlock(&p->mu);
	free(c);
	return NULL;
}

static int listen_on(const char *host, int port, int *bound)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ps[8];
	int fd, one = 1;

	snprintf(ps, sizeof(ps), "%d", port);
	if (getaddrinfo(host, ps, &hints, &res) != 0 || !res)
		return -1;
	fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 64) != 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return -1;
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	*bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						  : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

int phx_web_proxy_run(const struct phx_web_proxy_opts *o)
{
	struct proxy p = {.o = o};
	const char *lh = o->listen_host && *o->listen_host ? o->listen_host : "127.0.0.1";
	int lfd;

	if (phx_web_proxy_parse_target(o->target, p.host, sizeof(p.host), &p.tport) < 0) {
		fprintf(stderr, "error: --target wants http://HOST:PORT (the dashboard's address, "
			"e.g. a port-forward), got \"%s\"\n", o->target ? o->target : "");
		return -1;
	}
	lfd = listen_on(lh, o->listen_port, &p.lport);
	if (lfd < 0) {
		fprintf(stderr, "error: cannot listen on %s:%d: %s\n", lh, o->listen_port,
			strerror(errno));
		return -1;
	}
	pthread_mutex_init(&p.mu, NULL);
	fprintf(o->out, "Phoenix dashboard: http://%s:%d/\n", strchr(lh, ':') ? "[::1]" : lh,
		p.lport);
	fprintf(o->out, "(proxying to %s with your kubeconfig user's token; Ctrl-C stops)\n",
		o->target);
	fflush(o->out);
	while (!*o->stop) {
		struct pollfd pf = {.fd = lfd, .events = POLLIN};
		pthread_t t;
		struct conn *c;
		int fd;

		if (poll(&pf, 1, 200) <= 0)
			continue;
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&p.mu);
		bool full = p.conns >= MAX_CONNS;

		if (!full)
			p.conns++;
		pthread_mutex_unlock(&p.mu);
		c = full ? NULL : malloc(sizeof(*c));
		if (!c) {
			if (!full) {
				pthread_mutex_lock(&p.mu);
				p.conns--;
				pthread_mutex_unlock(&p.mu);
			}
			close(fd);
			continue;
		}
		c->p = &p;
		c->fd = fd;
		/* Connection threads block the stop signals: the handler runs on this thread. */
		sigset_t all, old;
		int made;

		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		made = pthread_create(&t, NULL, serve, c);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (made != 0) {
			close(fd);
			free(c);
			pthread_mutex_lock(&p.mu);
			p.conns--;
			pthread_mutex_unlock(&p.mu);
			continue;
		}
		pthread_detach(t);
	}
	__atomic_store_n(&p.stopping, 1, __ATOMIC_RELEASE);
	close(lfd);
	/* Every connection thread ends within 200 ms of the stop (or once its connect gives up). */
	for (;;) {
		pthread_mutex_lock(&p.mu);
		int left = p.conns;

		pthread_mutex_unlock(&p.mu);
		if (left == 0)
			break;
		usleep(100000);
	}
	pthread_mutex_destroy(&p.mu);
	return 0;
}
