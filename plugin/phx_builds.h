/* kubectl phoenix builds | logs build/NAME: the Build commands of the plugin. */
#ifndef PHX_BUILDS_H
#define PHX_BUILDS_H

#include <stdatomic.h>
#include <stdbool.h>

struct kube_client;
struct kube_config;

struct phx_builds_args {
	struct kube_client *client;
	const struct kube_config *cfg; /* logs: the server and credentials (the log is text) */
	const char *ns;
	bool all_ns;                   /* builds: every namespace */
	const char *output;            /* builds: NULL (table), wide, json or yaml */
	const char *target;            /* logs: build/NAME */
	bool follow;                   /* logs: -f */
	const atomic_bool *cancel;     /* logs -f: set (Ctrl-C) ends it; may be NULL */
};

/* Each returns a process exit code (0 ok, 1 error: reported on stderr, 2 usage). */
int phx_cmd_builds(const struct phx_builds_args *a);
int phx_cmd_build_logs(const struct phx_builds_args *a);

#endif
