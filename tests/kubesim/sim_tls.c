/* kubesim credentials with OpenSSL: CA + serving certificate + token, and the kubeconfig. */
#include "sim_tls.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "kube_error.h"

static EVP_PKEY *ec_key(void)
{
	return EVP_EC_gen("P-256");
}

static char *bio_string(BIO *bio)
{
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	char *s = malloc((size_t)len + 1);
	if (!s)
		return NULL;
	memcpy(s, data, (size_t)len);
	s[len] = '\0';
	return s;
}

static char *cert_pem(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s = NULL;
	if (b && PEM_write_bio_X509(b, x) == 1)
		s = bio_string(b);
	BIO_free(b);
	return s;
}

static char *key_pem(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s = NULL;
	if (b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1)
		s = bio_string(b);
	BIO_free(b);
	return s;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -1;
	int ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

/* A certificate for `key` named `cn`, signed by issuer/issuer_key (self-signed when NULL). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
		       int ca)
{
	X509 *x = X509_new();
	if (!x)
		return NULL;
	unsigned char serial[16];
	RAND_bytes(serial, sizeof(serial));
	serial[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(serial, sizeof(serial), NULL);
	X509_set_version(x, 2);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 60L * 60 * 24 * 365);
	X509_set_pubkey(x, key);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	int rc = 0;
	if (ca) {
		rc |= add_ext(x, issuer ? issuer : x, NID_basic_constraints, "critical,CA:TRUE");
		rc |= add_ext(x, issuer ? issuer : x, NID_key_usage,
			      "critical,keyCertSign,cRLSign,digitalSignature");
		rc |= add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
	} else {
		rc |= add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
		rc |= add_ext(x, issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
		rc |= add_ext(x, issuer, NID_ext_key_usage, "serverAuth");
		rc |= add_ext(x, issuer, NID_subject_alt_name,
			      "IP:127.0.0.1,IP:::1,DNS:localhost,DNS:kubernetes,"
			      "DNS:kubernetes.default,DNS:kubernetes.default.svc");
		rc |= add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
	}
	if (rc || X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) == 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

char *sim_tls_token(void)
{
	unsigned char b[32];
	if (RAND_bytes(b, sizeof(b)) != 1)
		return NULL;
	char *t = malloc(65);
	if (!t)
		return NULL;
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(t + 2 * i, 3, "%02x", b[i]);
	return t;
}

int sim_tls_generate(struct sim_tls *tls)
{
	int rc = KUBE_EIO;
	EVP_PKEY *ca_key = ec_key(), *srv_key = ec_key();
	X509 *ca = NULL, *srv = NULL;
	if (!ca_key || !srv_key)
		goto out;
	ca = make_cert(ca_key, "kubesim-ca", NULL, NULL, 1);
	if (!ca)
		goto out;
	srv = make_cert(srv_key, "kubesim", ca, ca_key, 0);
	if (!srv)
		goto out;
	tls->ca_pem = cert_pem(ca);
	tls->cert_pem = cert_pem(srv);
	tls->key_pem = key_pem(srv_key);
	tls->token = sim_tls_token();
	rc = (tls->ca_pem && tls->cert_pem && tls->key_pem && tls->token) ? 0 : KUBE_ENOMEM;
out:
	if (rc)
		sim_tls_release(tls);
	X509_free(ca);
	X509_free(srv);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(srv_key);
	return rc;
}

void sim_tls_release(struct sim_tls *tls)
{
	free(tls->ca_pem);
	free(tls->cert_pem);
	free(tls->key_pem);
	free(tls->token);
	tls->ca_pem = tls->cert_pem = tls->key_pem = tls->token = NULL;
}

int sim_tls_write_kubeconfig(const char *path, const char *url, const char *ca_pem,
			     const char *token)
{
	int rc = KUBE_EIO;
	char *tmp = NULL, *ca_b64 = NULL;
	FILE *f = NULL;
	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0) {
		tmp = NULL;
		return KUBE_ENOMEM;
	}
	if (ca_pem) {
		size_t len = strlen(ca_pem);
		ca_b64 = malloc(4 * ((len + 2) / 3) + 1);
		if (!ca_b64) {
			rc = KUBE_ENOMEM;
			goto out;
		}
		EVP_EncodeBlock((unsigned char *)ca_b64, (const unsigned char *)ca_pem, (int)len);
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		goto out;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		goto out;
	}
	fprintf(f, "apiVersion: v1\nkind: Config\nclusters:\n- name: kubesim\n  cluster:\n"
		   "    server: %s\n", url);
	if (ca_b64)
		fprintf(f, "    certificate-authority-data: %s\n", ca_b64);
	fprintf(f, "users:\n- name: kubesim\n  user:\n");
	if (token)
		fprintf(f, "    token: %s\n", token);
	else
		fprintf(f, "    {}\n");
	fprintf(f, "contexts:\n- name: kubesim\n  context:\n    cluster: kubesim\n"
		   "    user: kubesim\n    namespace: default\ncurrent-context: kubesim\n"
		   "preferences: {}\n");
	if (fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	f = NULL;
	if (rename(tmp, path) != 0)
		goto out;
	rc = 0;
out:
	if (f)
		fclose(f);
	if (rc)
		unlink(tmp);
	free(tmp);
	free(ca_b64);
	return rc;
}
