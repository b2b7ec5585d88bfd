/* kubectl phoenix intents | queue | approve | deny: the Intent commands of the plugin. */
#ifndef PHX_INTENTS_H
#define PHX_INTENTS_H

#include <stdbool.h>

struct kube_client;

struct phx_intents_args {
	struct kube_client *client;
	const char *ns;        /* the namespace */
	bool all_ns;           /* intents, queue: every namespace */
	const char *target;    /* approve/deny: "intent/NAME" or "build/NAME" (or NAME: an Intent) */
	const char *gate;      /* approve/deny: NULL = Governance (Intent) or Deploy (Build) */
	const char *reason;    /* approve/deny: required */
};

/* Each returns a process exit code (0 ok, 1 error: reported on stderr, 2 usage). */
int phx_cmd_intents(const struct phx_intents_args *a);
int phx_cmd_queue(const struct phx_intents_args *a);
int phx_cmd_decide(const struct phx_intents_args *a, bool approve);

#endif
