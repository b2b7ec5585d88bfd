/* The Build commands of kubectl-phoenix (see phx_builds.h): list Builds (table, wide, json,
 * yaml), and the logs of every step container of every attempt's Job (and the verify Job), in
 * order, following them with -f and waiting quietly while a pod is Pending. */
#include "phx_builds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "kube_config.h"
#include "kube_error.h"
#include "kube_json.h"
#include "kube_rest.h"
#include "kube_time.h"

static const struct kube_gvr BUILDS = {"phoenix.fpai.io", "v1alpha1", "builds", true};
#define LABEL_BUILD "phoenix.fpai.io/build"
#define LABEL_RUN "phoenix.fpai.io/build-run"

static const char *s_or(const char *s, const char *d)
{
	return s && *s ? s : d;
}

static void say_error(int rc, const struct kube_status *st, const char *what)
{
	fprintf(stderr, "error: %s: %s\n", what, st && st->message ? st->message : kube_strerror(rc));
}

static const char *succeeded(const cJSON *o, const char *field)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, kube_json_get(o, "status", "conditions", NULL))
		if (!strcmp(s_or(kube_json_get_str(c, "type", NULL), ""), "Succeeded"))
			return kube_json_get_str(c, field, NULL);
	return NULL;
}

static void age(const cJSON *o, char *buf, size_t len)
{
	int64_t ms = 0;
	const char *ts = kube_json_get_str(o, "metadata", "creationTimestamp", NULL);
	if (!ts || kube_time_parse_ms(ts, &ms) != 0) {
		snprintf(buf, len, "-");
		return;
	}
	long long s = (long long)time(NULL) - ms / 1000;
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, len, "%llds", s);
	else if (s < 7200)
		snprintf(buf, len, "%lldm", s / 60);
	else if (s < 172800)
		snprintf(buf, len, "%lldh", s / 3600);
	else
		snprintf(buf, len, "%lldd", s / 86400);
}

/* Block-style YAML of a JSON value; strings double-quoted (JSON escapes are YAML's). */
static void yaml(const cJSON *v, int indent, bool in_seq)
{
	const cJSON *e;
	bool first = true;
	if (cJSON_IsObject(v) && v->child) {
		cJSON_ArrayForEach(e, v) {
			if (!(first && in_seq))
				printf("%*s", indent, "");
			first = false;
			cJSON *ks = cJSON_CreateString(e->string);
			char *k = ks ? cJSON_PrintUnformatted(ks) : NULL;
			printf("%s:", k ? k : "\"\"");
			free(k);
			cJSON_Delete(ks);
			if ((cJSON_IsObject(e) || cJSON_IsArray(e)) && e->child) {
				printf("\n");
				yaml(e, indent + 2, false);
			} else {
				printf(" ");
				yaml(e, indent + 2, false);
			}
		}
	} else if (cJSON_IsArray(v) && v->child) {
		cJSON_ArrayForEach(e, v) {
			if (!(first && in_seq))
				printf("%*s", indent, "");
			first = false;
			printf("- ");
			if ((cJSON_IsObject(e) || cJSON_IsArray(e)) && e->child)
				yaml(e, indent + 2, true);
			else
				yaml(e, indent + 2, false);
		}
	} else {
		char *t = cJSON_PrintUnformatted(v);
		printf("%s\n", t ? t : "null");
		free(t);
	}
}

int phx_cmd_builds(const struct phx_builds_args *a)
{
	const char *o = a->output;
	if (o && strcmp(o, "wide") && strcmp(o, "json") && strcmp(o, "yaml")) {
		fprintf(stderr, "error: -o wants wide, json or yaml, got %s\n", o);
		return 2;
	}
	cJSON *list = NULL;
	struct kube_status st = {0};
	int rc = kube_list(a->client, &BUILDS, a->all_ns ? NULL : a->ns, NULL, &list, &st);
	if (rc < 0) {
		say_error(rc, &st, "builds (is the Build CRD installed? kubectl get crd builds.phoenix.fpai.io)");
		kube_status_release(&st);
		return 1;
	}
	kube_status_release(&st);
	cJSON *items = cJSON_GetObjectItem(list, "items");
	if (o && (!strcmp(o, "json") || !strcmp(o, "yaml"))) {
		cJSON *out = cJSON_CreateObject();
		cJSON_AddStringToObject(out, "apiVersion", "v1");
		cJSON_AddStringToObject(out, "kind", "List");
		cJSON_AddItemToObject(out, "items", cJSON_Duplicate(items ? items : cJSON_CreateArray(), 1));
		if (!strcmp(o, "json")) {
			char *t = cJSON_Print(out);
			printf("%s\n", t ? t : "{}");
			free(t);
		} else {
			yaml(out, 0, false);
		}
		cJSON_Delete(out);
		cJSON_Delete(list);
		return 0;
	}
	bool wide = o != NULL;
	if (cJSON_GetArraySize(items) == 0) {
		printf("No Builds in %s%s.\n", a->all_ns ? "any namespace" : "namespace ",
		       a->all_ns ? "" : a->ns);
		cJSON_Delete(list);
		return 0;
	}
	printf("%-16s %-24s %-20s %-16s %-9s %-7s %-9s %-16s %-5s", "NAMESPACE", "NAME", "SERVICE",
	       "PHASE", "STEP", "ATTEMPT", "SUCCEEDED", "REASON", "AGE");
	if (wide)
		printf(" %-20s %-10s %-9s %s", "JOB", "VERIFY", "REGISTERED", "IMAGE");
	printf("\n");
	const cJSON *b;
	cJSON_ArrayForEach(b, items) {
		char ag[32], att[24] = "-";
		int64_t n = 0;
		age(b, ag, sizeof(ag));
		if (kube_json_get_int(b, &n, "status", "attempt", NULL))
			snprintf(att, sizeof(att), "%lld", (long long)n);
		printf("%-16s %-24s %-20s %-16s %-9s %-7s %-9s %-16s %-5s",
		       s_or(kube_json_namespace(b), "-"), s_or(kube_json_name(b), "-"),
		       s_or(kube_json_get_str(b, "spec", "serviceName", NULL), "-"),
		       s_or(kube_json_get_str(b, "status", "phase", NULL), "Pending"),
		       s_or(kube_json_get_str(b, "status", "step", NULL), "-"), att,
		       s_or(succeeded(b, "status"), "Unknown"), s_or(succeeded(b, "reason"), "-"), ag);
		if (wide)
			printf(" %-20s %-10s %-10s %s", s_or(kube_json_get_str(b, "status", "job", NULL), "-"),
			       s_or(kube_json_get_str(b, "status", "verify", "phase", NULL), "-"),
			       kube_json_get_bool(b, 0, "status", "registered", NULL) ? "true" : "false",
			       s_or(kube_json_get_str(b, "status", "output", "image", NULL), "-"));
		printf("\n");
	}
	cJSON_Delete(list);
	return 0;
}

/* ---- logs ---- */

static bool cancelled(const struct phx_builds_args *a)
{
	return a->cancel && atomic_load(a->cancel);
}

/* libcurl's progress callback: non-zero aborts a followed log on Ctrl-C. */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt, (void)dn, (void)ut, (void)un;
	return cancelled(ud) ? 1 : 0;
}

static size_t to_stdout(char *d, size_t sz, size_t nm, void *ud)
{
	size_t n = fwrite(d, sz, nm, stdout);
	fflush(stdout);
	*(size_t *)ud += n * sz;
	return n * sz;
}

/* Streams GET path?query (text) to stdout with the kubeconfig's server and credentials. */
static int stream(const struct phx_builds_args *a, const char *path, const char *query,
		  bool quiet, size_t *wrote)
{
	const struct kube_config *cfg = a->cfg;
	char url[2048], auth[4096 + 32] = "";
	snprintf(url, sizeof(url), "%s%s?%s", cfg->server, path, query);
	CURL *c = curl_easy_init();
	if (!c)
		return KUBE_ENOMEM;
	struct curl_slist *h = NULL;
	char tok[4096] = "";
	if (cfg->token_file) {
		FILE *f = fopen(cfg->token_file, "r");
		if (f) {
			size_t n = fread(tok, 1, sizeof(tok) - 1, f);
			tok[n] = '\0';
			tok[strcspn(tok, "\r\n")] = '\0';
			fclose(f);
		}
	} else if (cfg->token) {
		snprintf(tok, sizeof(tok), "%s", cfg->token);
	}
	if (tok[0]) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
		h = curl_slist_append(h, auth);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_stdout);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, wrote);
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)a);
	if (cfg->insecure_skip_tls_verify) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	struct curl_blob ca = {cfg->ca_data, cfg->ca_data ? strlen(cfg->ca_data) : 0,
			       CURL_BLOB_NOCOPY};
	struct curl_blob cc = {cfg->client_cert_data, cfg->client_cert_data ?
			       strlen(cfg->client_cert_data) : 0, CURL_BLOB_NOCOPY};
	struct curl_blob ck = {cfg->client_key_data, cfg->client_key_data ?
			       strlen(cfg->client_key_data) : 0, CURL_BLOB_NOCOPY};
	if (cfg->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_file);
	else if (cfg->ca_data)
		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
	if (cfg->client_cert_file)
		curl_easy_setopt(c, CURLOPT_SSLCERT, cfg->client_cert_file);
	else if (cfg->client_cert_data)
		curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &cc);
	if (cfg->client_key_file)
		curl_easy_setopt(c, CURLOPT_SSLKEY, cfg->client_key_file);
	else if (cfg->client_key_data)
		curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &ck);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK && !cancelled(a) && !quiet)
		fprintf(stderr, "error: GET %s: %s\n", path, curl_easy_strerror(rc));
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	memset(tok, 0, sizeof(tok));
	memset(auth, 0, sizeof(auth));
	return rc == CURLE_OK ? 0 : KUBE_EIO;
}

static long run_of(const cJSON *pod)
{
	const char *r = kube_json_get_str(pod, "metadata", "labels", LABEL_RUN, NULL);
	return r ? strtol(r, NULL, 10) : 0;
}

static int cmp_pods(const void *x, const void *y)
{
	const cJSON *a = *(const cJSON *const *)x, *b = *(const cJSON *const *)y;
	long ra = run_of(a), rb = run_of(b);
	if (ra != rb)
		return ra < rb ? -1 : 1;
	return strcmp(s_or(kube_json_get_str(a, "metadata", "creationTimestamp", NULL), ""),
		      s_or(kube_json_get_str(b, "metadata", "creationTimestamp", NULL), ""));
}

static const cJSON *cstatus(const cJSON *pod, const char *name)
{
	const char *lists[] = {"initContainerStatuses", "containerStatuses"};
	for (int l = 0; l < 2; l++) {
		const cJSON *cs;
		cJSON_ArrayForEach(cs, kube_json_get(pod, "status", lists[l], NULL))
			if (!strcmp(s_or(kube_json_get_str(cs, "name", NULL), ""), name))
				return cs;
	}
	return NULL;
}

static void nap(void)
{
	struct timespec ts = {0, 500 * 1000 * 1000};
	nanosleep(&ts, NULL);
}

static bool finished_phase(const char *p)
{
	return p && (!strcmp(p, "Succeeded") || !strcmp(p, "Failed") || !strcmp(p, "Cancelled"));
}

/* Whether the Build `name` has ended (or is gone). */
static bool build_over(const struct phx_builds_args *a, const char *name)
{
	cJSON *b = NULL;
	if (kube_get(a->client, &BUILDS, a->ns, name, NULL, &b, NULL) != 0)
		return true;
	bool over = finished_phase(kube_json_get_str(b, "status", "phase", NULL));
	cJSON_Delete(b);
	return over;
}

/* Waits (quietly) until container `c` of pod `name` has started or the pod ended; false when
 * the pod is gone or being deleted, the Build ended with the container never started (a pod
 * that stayed Pending), or (without -f) the container has not started. */
static bool started(const struct phx_builds_args *a, const char *build, const char *name,
		    const char *c)
{
	for (;;) {
		cJSON *pod = NULL;
		if (kube_get(a->client, &KUBE_GVR_PODS, a->ns, name, NULL,
			     &pod, NULL) != 0)
			return false;
		const cJSON *cs = cstatus(pod, c);
		bool go = kube_json_get(cs, "state", "running", NULL) ||
			  kube_json_get(cs, "state", "terminated", NULL);
		const char *ph = kube_json_get_str(pod, "status", "phase", NULL);
		bool over = (ph && (!strcmp(ph, "Succeeded") || !strcmp(ph, "Failed"))) ||
			    kube_json_get(pod, "metadata", "deletionTimestamp", NULL);
		cJSON_Delete(pod);
		if (go)
			return true;
		if (over || !a->follow || cancelled(a) || build_over(a, build))
			return false;
		nap();
	}
}

int phx_cmd_build_logs(const struct phx_builds_args *a)
{
	const char *t = a->target ? a->target : "";
	if (strncmp(t, "build/", 6) || !t[6]) {
		fprintf(stderr, "error: logs wants build/NAME, got %s\n", t);
		return 2;
	}
	const char *name = t + 6;
	char sel[320], done_key[2048] = "";
	snprintf(sel, sizeof(sel), LABEL_BUILD "=%s", name);
	char *seen = NULL; /* "pod/container\n" already shown */
	size_t seen_len = 0;
	int code = 0;
	for (;;) {
		cJSON *b = NULL;
		struct kube_status st = {0};
		int rc = kube_get(a->client, &BUILDS, a->ns, name, NULL, &b, &st);
		if (rc < 0) {
			char what[400];
			snprintf(what, sizeof(what), "Build %s in namespace %s", name, a->ns);
			say_error(rc, &st, what);
			kube_status_release(&st);
			code = 1;
			break;
		}
		kube_status_release(&st);
		bool over = finished_phase(kube_json_get_str(b, "status", "phase", NULL));
		cJSON_Delete(b);
		cJSON *pods = NULL;
		struct kube_list_opts lo = {.label_selector = sel};
		rc = kube_list(a->client, &KUBE_GVR_PODS, a->ns, &lo,
			       &pods, &st);
		if (rc < 0) {
			say_error(rc, &st, "pods");
			kube_status_release(&st);
			code = 1;
			break;
		}
		kube_status_release(&st);
		const cJSON *items = kube_json_get(pods, "items", NULL);
		int n = cJSON_GetArraySize(items), k = 0;
		const cJSON **v = calloc((size_t)n + 1, sizeof(*v));
		const cJSON *p;
		cJSON_ArrayForEach(p, items)
			v[k++] = p;
		qsort(v, (size_t)n, sizeof(*v), cmp_pods);
		bool shown_any = false;
		for (int i = 0; i < n; i++) {
			const char *pn = kube_json_name(v[i]);
			const char *job = s_or(kube_json_get_str(v[i], "metadata", "labels", "job-name",
								 NULL), pn);
			const char *lists[] = {"initContainers", "containers"};
			for (int l = 0; l < 2; l++) {
				const cJSON *c;
				cJSON_ArrayForEach(c, kube_json_get(v[i], "spec", lists[l], NULL)) {
					const char *cn = kube_json_get_str(c, "name", NULL);
					snprintf(done_key, sizeof(done_key), "%s/%s\n", pn, cn);
					if (!cn || (seen && strstr(seen, done_key)))
						continue;
					if (!started(a, name, pn, cn))
						continue;
					printf("==> job/%s pod/%s container %s (run %ld) <==\n", job, pn,
					       cn, run_of(v[i]));
					fflush(stdout);
					char path[600], q[300];
					snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/log",
						 a->ns, pn);
					snprintf(q, sizeof(q), "container=%s%s", cn,
						 a->follow ? "&follow=true" : "");
					/* A container just started may not have a log yet (the
					 * server says 400): try again a few times with -f, as long
					 * as nothing was shown. */
					for (int try = 0;; try++) {
						size_t wrote = 0;
						bool last = !a->follow || try == 9;
						if (stream(a, path, q, !last, &wrote) == 0 || wrote ||
						    last || cancelled(a))
							break;
						nap();
					}
					size_t kl = strlen(done_key);
					char *ns_ = realloc(seen, seen_len + kl + 1);
					if (ns_) {
						seen = ns_;
						memcpy(seen + seen_len, done_key, kl + 1);
						seen_len += kl;
					}
					shown_any = true;
				}
			}
		}
		free(v);
		cJSON_Delete(pods);
		if (!a->follow || (over && !shown_any) || cancelled(a))
			break;
		nap();
	}
	free(seen);
	return code;
}
