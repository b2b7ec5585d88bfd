/* Exec credential plugins (kubeconfig users[].user.exec): the client.authentication.k8s.io
 * ExecCredential protocol, v1 and v1beta1, as client-go runs it. A plugin is a program that
 * prints an ExecCredential with a bearer token and/or a client certificate and key. */
#ifndef KUBE_EXEC_H
#define KUBE_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "kube_config.h"

#define KUBE_EXEC_API_V1 "client.authentication.k8s.io/v1"
#define KUBE_EXEC_API_V1BETA1 "client.authentication.k8s.io/v1beta1"
#define KUBE_EXEC_TIMEOUT_MS 30000L        /* default plugin run time limit */
#define KUBE_EXEC_MAX_STDOUT (1024 * 1024) /* longer output is an error */
#define KUBE_EXEC_MAX_STDERR 4096          /* kept for the error message; the rest is dropped */

struct kube_exec_env {
	char *name, *value;
};

/* A parsed exec stanza; every string owned (kube_exec_config_free). */
struct kube_exec_config {
	char *command;                 /* absolute, resolved against the kubeconfig's directory
	                                * when it contains a '/', or a bare name looked up in PATH */
	char **args;                   /* nargs strings */
	size_t nargs;
	struct kube_exec_env *env;     /* nenv entries, added to (and overriding) our environment */
	size_t nenv;
	char *api_version;             /* KUBE_EXEC_API_V1 or KUBE_EXEC_API_V1BETA1 */
	char *install_hint;            /* NULL = none */
	bool provide_cluster_info;     /* send spec.cluster in KUBERNETES_EXEC_INFO */
	char *cluster_config;          /* JSON text of the cluster's client.authentication.k8s.io/exec
	                                * extension (spec.cluster.config), NULL = none */
	long timeout_ms;               /* 0 = KUBE_EXEC_TIMEOUT_MS; tests set it short */
};

/* What a plugin returned; strings owned (kube_exec_cred_release). token, or cert and key, or
 * all three are set. */
struct kube_exec_cred {
	char *token;
	char *client_cert_data;        /* PEM */
	char *client_key_data;         /* PEM */
	time_t expiry;                 /* status.expirationTimestamp (UTC); 0 = none given */
};

/* Parses users[].user.exec (`exec`) into a zeroed *out, validating as client-go does: command and
 * apiVersion required, apiVersion v1 or v1beta1 (v1alpha1 is rejected: removed upstream), env
 * entries need a name, interactiveMode Never/IfAvailable/Always and required for v1 (v1beta1
 * defaults to IfAvailable); Always is rejected since this library never runs interactively.
 * `dir` is the kubeconfig's directory for relative commands. Returns 0, KUBE_ECONFIG (with
 * *errmsg = "<field>: <problem>", field relative to `where`, caller frees) or KUBE_ENOMEM; on
 * error *out is zeroed. */
int kube_exec_config_parse(const cJSON *exec, const char *dir, const char *where,
			   struct kube_exec_config *out, char **errmsg);

/* Deep copy into a zeroed *dst; 0 or KUBE_ENOMEM (dst zeroed). */
int kube_exec_config_copy(struct kube_exec_config *dst, const struct kube_exec_config *src);

/* Frees every member and zeroes the struct; NULL-safe, idempotent. */
void kube_exec_config_free(struct kube_exec_config *x);

/* Runs the plugin once (no shell, stdin /dev/null) with our environment + x->env +
 * KUBERNETES_EXEC_INFO, and parses its stdout into a zeroed *out. `cluster` (may be NULL)
 * supplies spec.cluster when provide_cluster_info. stdout is bounded by KUBE_EXEC_MAX_STDOUT,
 * stderr is captured (its first KUBE_EXEC_MAX_STDERR bytes go into the error message); a plugin
 * still running after the time limit is killed. The child is always reaped.
 * Returns 0, KUBE_ECONFIG (cannot run, non-zero exit, killed, timed out, bad output; *errmsg
 * says which, naming the field for bad output, and includes installHint when the command cannot
 * be run) or KUBE_ENOMEM. Thread-safe (no shared state). */
int kube_exec_run(const struct kube_exec_config *x, const struct kube_config *cluster,
		  struct kube_exec_cred *out, char **errmsg);

/* Parses a plugin's output (an ExecCredential of `api_version`) into a zeroed *out. Errors as
 * kube_exec_run. */
int kube_exec_parse_output(const char *api_version, const char *buf, size_t len,
			   struct kube_exec_cred *out, char **errmsg);

/* Frees and zeroes (wiping the secrets first); NULL-safe. */
void kube_exec_cred_release(struct kube_exec_cred *cred);

#endif
