/* `kubectl phoenix dashboard`: a local HTTP proxy in front of the operator's web dashboard
 * that adds the kubeconfig user's own bearer token to every request, so a browser on this
 * machine sees what that user may see (the operator checks the token with a TokenReview and
 * RBAC with SubjectAccessReviews). Plain TCP piping, so Server-Sent Events stream through. */
#ifndef PHX_WEB_PROXY_H
#define PHX_WEB_PROXY_H

#include <signal.h>
#include <stdio.h>

struct phx_web_proxy_opts {
	const char *listen_host; /* "127.0.0.1" (default) */
	int listen_port;         /* 0 = any free port */
	const char *target;      /* "http://host:port" of the dashboard (a port-forward) */
	const char *token;       /* the user's bearer token (borrowed; never printed) */
	FILE *out;               /* where the URL is printed */
	volatile sig_atomic_t *stop; /* serving ends when *stop becomes nonzero */
};

/* Serves until *stop. Returns 0, or -1 after printing the reason to stderr (bad target,
 * cannot listen). */
int phx_web_proxy_run(const struct phx_web_proxy_opts *o);

/* Splits "http://host:port[/]" (IPv6 in brackets; port default 80). Returns 0 or -1. Pure. */
int phx_web_proxy_parse_target(const char *url, char *host, size_t hostsz, int *port);

/* Rewrites a request head (request line + headers, ending "\r\n\r\n", NUL-terminated) for the
 * dashboard: drops Authorization, Proxy-*, Connection and Keep-Alive, adds the bearer token and
 * "Connection: close". Refuses (returns NULL, *status 403) a Host that is not this proxy's
 * (host:port with host 127.0.0.1, localhost or [::1]): a page elsewhere that rebinds its DNS
 * name to 127.0.0.1 must not ride on the token. *status 400 on a malformed head. Returns a
 * malloc'd head. Pure. */
char *phx_web_proxy_rewrite(const char *head, const char *token, int port, int *status);

#endif
