/* kubesim's credentials: a CA generated at start (OpenSSL, EC P-256), a serving certificate for
 * 127.0.0.1 and localhost signed by it, a random bearer token, and the kubeconfig that ties them
 * to the server URL. Nothing is read from or written to disk except the kubeconfig. */
#ifndef SIM_TLS_H
#define SIM_TLS_H

struct sim_tls {
	char *ca_pem;   /* CA certificate (PEM) */
	char *cert_pem; /* serving certificate (PEM) */
	char *key_pem;  /* serving key (PKCS#8 PEM) */
	char *token;    /* bearer token: 64 hex characters */
};

/* Generates everything into tls (zeroed by the caller). Returns 0, KUBE_ENOMEM or KUBE_EIO (an
 * OpenSSL failure); on error tls holds nothing (already released). */
int sim_tls_generate(struct sim_tls *tls);

/* Frees the strings; the struct may be reused. */
void sim_tls_release(struct sim_tls *tls);

/* Generates only a token (for --http, where a token is optional). malloc'd, NULL on ENOMEM. */
char *sim_tls_token(void);

/* Writes a kubeconfig (cluster, user and context "kubesim") for `url`, with the CA data and the
 * token when given (NULL for plain HTTP), atomically (temp file + rename), mode 0600.
 * Returns 0 or KUBE_EIO. */
int sim_tls_write_kubeconfig(const char *path, const char *url, const char *ca_pem,
			     const char *token);

#endif
