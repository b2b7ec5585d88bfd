/* Where the API server is and how to authenticate to it: kubeconfig files and in-cluster config.
 * A loaded kube_config is a plain struct of owned strings (and an owned exec stanza); it does no
 * I/O after loading (an exec credential plugin is run by the REST client, see kube_exec.h). */
#ifndef KUBE_CONFIG_H
#define KUBE_CONFIG_H

#include <stdbool.h>

struct kube_exec_config; /* kube_exec.h */

/* Every string is malloc'd and owned by the struct (NULL = not set); kube_config_release frees
 * them. Fields may be set by hand (strdup'd) before kube_client_new, e.g. by tests. */
struct kube_config {
	char *server;            /* "https://host:port" (no trailing slash) */
	char *ca_file;           /* PEM file with the CA bundle to verify the server with */
	char *ca_data;           /* PEM bytes (certificate-authority-data, base64-decoded) */
	char *client_cert_file;  /* client certificate (PEM file) */
	char *client_key_file;   /* client key (PEM file) */
	char *client_cert_data;  /* client certificate PEM bytes (decoded) */
	char *client_key_data;   /* client key PEM bytes (decoded) */
	char *token;             /* bearer token given inline */
	char *token_file;        /* bearer token read from this file, re-read when it changes
	                          * (in-cluster rotation); wins over `token` when both are set */
	struct kube_exec_config *exec; /* users[].user.exec credential plugin (owned), NULL = none;
	                                * run by the REST client when no token/tokenFile is set */
	bool insecure_skip_tls_verify;
	char *namespace;         /* from the context or in-cluster; "default" if none */
	char *context;           /* name of the context used; NULL for in-cluster or by-hand */
	char *source;            /* file the config came from, or "in-cluster"; for messages */
};

/* Loads `context` (NULL = current-context) from a kubeconfig file. Relative file paths in the
 * file (certificate-authority, client-certificate, client-key, tokenFile) are resolved against
 * the file's directory; *-data fields are base64-decoded. On success *out is filled (any previous
 * contents are overwritten, not freed: pass a zeroed struct) and 0 is returned.
 * Errors: KUBE_EINVAL (NULL path/out), KUBE_ECONFIG (missing file, missing context/cluster/user,
 * no server, bad base64, ...), KUBE_EPARSE (malformed YAML), KUBE_ENOMEM. On error *out is left
 * zeroed and, if errmsg is non-NULL, *errmsg is a malloc'd message naming the file and the field
 * (caller frees). Reentrant. An exec stanza is parsed and validated (kube_exec.h) into cfg->exec
 * but not run; auth-provider users are not supported (KUBE_ECONFIG). */
int kube_config_load_file(const char *path, const char *context, struct kube_config *out,
			  char **errmsg);

/* In-cluster config: server from $KUBERNETES_SERVICE_HOST/$KUBERNETES_SERVICE_PORT (IPv6 hosts
 * are bracketed), token_file = sa_dir/token (re-read on rotation by the REST client), ca_file =
 * sa_dir/ca.crt, namespace from sa_dir/namespace ("default" if absent). sa_dir NULL means
 * /var/run/secrets/kubernetes.io/serviceaccount. Errors as kube_config_load_file
 * (KUBE_ECONFIG when the env vars or the token file are missing). */
int kube_config_load_incluster(const char *sa_dir, struct kube_config *out, char **errmsg);

/* The usual search order (client-go's): explicit_path if non-NULL/non-empty; else the first
 * entry of $KUBECONFIG that exists; else in-cluster when $KUBERNETES_SERVICE_HOST is set; else
 * $HOME/.kube/config. `context` as in kube_config_load_file (ignored in-cluster). */
int kube_config_load_default(const char *explicit_path, const char *context,
			     struct kube_config *out, char **errmsg);

/* Fills a config that talks to `server` with no authentication (tests, kubesim, plain HTTP).
 * Returns 0, KUBE_EINVAL, KUBE_ENOMEM; on error *out is zeroed. */
int kube_config_init_server(struct kube_config *out, const char *server);

/* Deep copy of src into a zeroed *dst. Returns 0 or KUBE_ENOMEM (dst zeroed). */
int kube_config_copy(struct kube_config *dst, const struct kube_config *src);

/* The bearer token to send now: the trimmed contents of token_file if set (read each call; the
 * REST client caches by mtime), else a copy of token, else NULL. Returns 0 with *out malloc'd
 * (or NULL when no token is configured), KUBE_ECONFIG when token_file cannot be read,
 * KUBE_ENOMEM. */
int kube_config_read_token(const struct kube_config *cfg, char **out);

/* Frees every string and zeroes the struct. NULL-safe; idempotent. */
void kube_config_release(struct kube_config *cfg);

#endif
