/* kubesim's HTTP(S) front end: libmicrohttpd (a thread per connection, so a watch may block its
 * own thread), bearer-token auth, fault injection, discovery, and the Kubernetes REST layout
 * mapped onto sim_store_do, with Table printing and chunked watch streams. */
#include "sim_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/evp.h>

#include "kube_error.h"
#include "kube_json.h"
#include "kube_log.h"
#include "kube_time.h"
#include "kube_yaml.h"
#include "sim_fault.h"
#include "sim_podlog.h"
#include "sim_openapi.h"
#include "sim_rbac.h"
#include "sim_registry.h"
#include "sim_store.h"
#include "sim_table.h"
#include "sim_tls.h"

#define MAX_ROUTES 8
#define MAX_BODY (3u * 1024 * 1024) /* the apiserver's request size limit */
#define WATCH_SLICE_MS 500
#define DEFAULT_WATCH_TIMEOUT_S 3600

struct route {
	char *prefix;
	sim_route_fn fn;
	void *ud;
};

struct sim_server {
	struct sim_options opts;
	char *listen;
	char *kubeconfig_out;
	struct sim_store *store;
	struct sim_registry *reg;
	struct sim_fault *fault;
	struct sim_tls tls;
	struct sim_rbac_tokens *tokens; /* service-account tokens (the control API mints them) */
	struct MHD_Daemon *daemon;
	char url[128];
	char addr[64];
	struct route routes[MAX_ROUTES];
	int nroutes;
	atomic_int stopping;
	int stopped;
};

/* Per-request state across libmicrohttpd's handler calls (headers, body chunks, final). */
struct conn_req {
	char *body;
	size_t len, cap;
	int too_big;
};

/* A growable string. */
struct sb {
	char *s;
	size_t len, cap;
	int oom;
};

static void sb_add(struct sb *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		char *ns = realloc(b->s, ncap);
		if (!ns) {
			b->oom = 1;
			return;
		}
		b->s = ns;
		b->cap = ncap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_str(struct sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* ---- small accessors */

const char *sim_http_query(const struct sim_http_req *req, const char *key)
{
	return MHD_lookup_connection_value((struct MHD_Connection *)req->conn,
					   MHD_GET_ARGUMENT_KIND, key);
}

struct sim_store *sim_server_store(struct sim_server *srv)
{
	return srv->store;
}

struct sim_registry *sim_server_registry(struct sim_server *srv)
{
	return srv->reg;
}

struct sim_fault *sim_server_fault(struct sim_server *srv)
{
	return srv->fault;
}

struct sim_rbac_tokens *sim_server_tokens(struct sim_server *srv)
{
	return srv->tokens;
}

const struct sim_options *sim_server_options(const struct sim_server *srv)
{
	return &srv->opts;
}

const char *sim_server_url(const struct sim_server *srv)
{
	return srv->url;
}

const char *sim_server_token(const struct sim_server *srv)
{
	return srv->opts.http ? NULL : srv->tls.token;
}

const char *sim_server_ca_pem(const struct sim_server *srv)
{
	return srv->opts.http ? NULL : srv->tls.ca_pem;
}

int sim_server_add_route(struct sim_server *srv, const char *prefix, sim_route_fn fn, void *ud)
{
	if (srv->nroutes == MAX_ROUTES)
		return KUBE_ENOMEM;
	char *p = strdup(prefix);
	if (!p)
		return KUBE_ENOMEM;
	srv->routes[srv->nroutes].prefix = p;
	srv->routes[srv->nroutes].fn = fn;
	srv->routes[srv->nroutes].ud = ud;
	srv->nroutes++;
	return 0;
}

/* ---- responses */

/* send_body with a `Warning: 299 - "TEXT"` header for each string of warnings (may be NULL),
 * as the apiserver sends them (kubectl prints "Warning: TEXT"). */
static enum MHD_Result send_body_warn(struct MHD_Connection *conn, int status, char *body,
				      const char *content_type, const cJSON *warnings);

static enum MHD_Result send_body(struct MHD_Connection *conn, int status, char *body,
				 const char *content_type)
{
	return send_body_warn(conn, status, body, content_type, NULL);
}

static void add_warning_header(struct MHD_Response *resp, const char *text)
{
	size_t n = strlen(text), o = 0;
	char *v = malloc(2 * n + 16);

	if (!v)
		return;
	o += (size_t)sprintf(v, "299 - \"");
	for (const char *c = text; *c; c++) {
		if (*c == '"' || *c == '\\')
			v[o++] = '\\';
		v[o++] = *c;
	}
	v[o++] = '"';
	v[o] = '\0';
	MHD_add_response_header(resp, "Warning", v);
	free(v);
}

static enum MHD_Result send_body_warn(struct MHD_Connection *conn, int status, char *body,
				      const char *content_type, const cJSON *warnings)
{
	const cJSON *w;
	size_t len = body ? strlen(body) : 0;
	struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(
		len, body ? body : (char *)"", body ? free : NULL);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type",
				content_type ? content_type : "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
	cJSON_ArrayForEach(w, warnings)
		if (cJSON_IsString(w))
			add_warning_header(resp, w->valuestring);
	enum MHD_Result r = MHD_queue_response(conn, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, int status, const cJSON *obj)
{
	char *body = obj ? cJSON_PrintUnformatted(obj) : NULL;
	if (!body)
		return send_body(conn, 500, strdup("{\"kind\":\"Status\",\"apiVersion\":\"v1\","
						   "\"status\":\"Failure\",\"reason\":"
						   "\"InternalError\",\"code\":500}"),
				 NULL);
	return send_body(conn, status, body, NULL);
}

static enum MHD_Result send_status(struct MHD_Connection *conn, int code, const char *reason,
				   const char *message)
{
	cJSON *st = sim_status_new(code, reason, message, NULL);
	enum MHD_Result r = send_json(conn, code, st);
	cJSON_Delete(st);
	return r;
}

/* 429 from a rate-limit fault, as API Priority and Fairness answers: Retry-After and the
 * flow schema / priority level the request was classified into. */
static enum MHD_Result send_throttled(struct MHD_Connection *conn, int retry_after_s)
{
	cJSON *st = sim_status_new(429, "TooManyRequests",
				   "too many requests, please try again later", NULL);
	char *body = st ? cJSON_PrintUnformatted(st) : NULL;
	char ra[24];
	cJSON_Delete(st);
	struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(
		body ? strlen(body) : 0, body ? body : (char *)"", body ? free : NULL);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	snprintf(ra, sizeof(ra), "%d", retry_after_s);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Retry-After", ra);
	MHD_add_response_header(resp, "X-Kubernetes-PF-FlowSchema-UID", "kubesim-flowschema-service-accounts");
	MHD_add_response_header(resp, "X-Kubernetes-PF-PriorityLevel-UID", "kubesim-prioritylevel-workload-low");
	enum MHD_Result r = MHD_queue_response(conn, 429, resp);
	MHD_destroy_response(resp);
	return r;
}

/* A store result: the Status on failure, else the snapshot's object. */
static enum MHD_Result send_store_error(struct MHD_Connection *conn, int rc, cJSON *status)
{
	enum MHD_Result r;
	if (status)
		r = send_json(conn, rc, status);
	else
		r = send_status(conn, rc >= 400 ? rc : 500, "InternalError",
				"an internal error occurred");
	cJSON_Delete(status);
	return r;
}


/* ---- Kubernetes protobuf request bodies. client-go's typed clients (kubectl create
 * configmap/secret/namespace/serviceaccount, helm's release Secrets) send
 * application/vnd.kubernetes.protobuf and do not fall back to JSON on 415, so the kinds they
 * create are decoded here: the "k8s\0" + runtime.Unknown envelope, then a per-kind field table
 * (field numbers from k8s.io/api generated.proto). Other kinds still get 415. */

enum pb_type { PB_STR, PB_BYTES, PB_INT, PB_BOOL, PB_MSG, PB_MAP_SS, PB_MAP_SB, PB_REP_STR,
	       PB_REP_MSG, PB_TIME };

struct pb_field {
	int num;
	const char *name;
	enum pb_type type;
	const struct pb_field *sub; /* PB_MSG, PB_REP_MSG */
};

static const struct pb_field pb_owner_ref[] = {
	{1, "kind", PB_STR, NULL},        {3, "name", PB_STR, NULL},
	{4, "uid", PB_STR, NULL},         {5, "apiVersion", PB_STR, NULL},
	{6, "controller", PB_BOOL, NULL}, {7, "blockOwnerDeletion", PB_BOOL, NULL},
	{0, NULL, PB_STR, NULL}};
static const struct pb_field pb_meta[] = {
	{1, "name", PB_STR, NULL},
	{2, "generateName", PB_STR, NULL},
	{3, "namespace", PB_STR, NULL},
	{5, "uid", PB_STR, NULL},
	{6, "resourceVersion", PB_STR, NULL},
	{7, "generation", PB_INT, NULL},
	{8, "creationTimestamp", PB_TIME, NULL},
	{9, "deletionTimestamp", PB_TIME, NULL},
	{10, "deletionGracePeriodSeconds", PB_INT, NULL},
	{11, "labels", PB_MAP_SS, NULL},
	{12, "annotations", PB_MAP_SS, NULL},
	{13, "ownerReferences", PB_REP_MSG, pb_owner_ref},
	{14, "finalizers", PB_REP_STR, NULL},
	{0, NULL, PB_STR, NULL}};
static const struct pb_field pb_secret[] = {
	{1, "metadata", PB_MSG, pb_meta},     {2, "data", PB_MAP_SB, NULL},
	{3, "type", PB_STR, NULL},            {4, "stringData", PB_MAP_SS, NULL},
	{5, "immutable", PB_BOOL, NULL},      {0, NULL, PB_STR, NULL}};
static const struct pb_field pb_configmap[] = {
	{1, "metadata", PB_MSG, pb_meta},     {2, "data", PB_MAP_SS, NULL},
	{3, "binaryData", PB_MAP_SB, NULL},   {4, "immutable", PB_BOOL, NULL},
	{0, NULL, PB_STR, NULL}};
static const struct pb_field pb_ns_spec[] = {{1, "finalizers", PB_REP_STR, NULL},
					     {0, NULL, PB_STR, NULL}};
static const struct pb_field pb_namespace[] = {
	{1, "metadata", PB_MSG, pb_meta}, {2, "spec", PB_MSG, pb_ns_spec}, {0, NULL, PB_STR, NULL}};
static const struct pb_field pb_sa[] = {{1, "metadata", PB_MSG, pb_meta},
					{4, "automountServiceAccountToken", PB_BOOL, NULL},
					{0, NULL, PB_STR, NULL}};
static const struct pb_field pb_delete_opts[] = {{1, "gracePeriodSeconds", PB_INT, NULL},
						 {4, "propagationPolicy", PB_STR, NULL},
						 {0, NULL, PB_STR, NULL}};
static const struct pb_field pb_typemeta[] = {{1, "apiVersion", PB_STR, NULL},
					      {2, "kind", PB_STR, NULL},
					      {0, NULL, PB_STR, NULL}};

static const struct pb_field pb_res_attrs[] = {
	{1, "namespace", PB_STR, NULL}, {2, "verb", PB_STR, NULL},
	{3, "group", PB_STR, NULL},     {4, "version", PB_STR, NULL},
	{5, "resource", PB_STR, NULL},  {6, "subresource", PB_STR, NULL},
	{7, "name", PB_STR, NULL},      {0, NULL, PB_STR, NULL}};
static const struct pb_field pb_nonres_attrs[] = {
	{1, "path", PB_STR, NULL}, {2, "verb", PB_STR, NULL}, {0, NULL, PB_STR, NULL}};
static const struct pb_field pb_ssar_spec[] = {
	{1, "resourceAttributes", PB_MSG, pb_res_attrs},
	{2, "nonResourceAttributes", PB_MSG, pb_nonres_attrs},
	{0, NULL, PB_STR, NULL}};
static const struct pb_field pb_ssar[] = {{1, "metadata", PB_MSG, pb_meta},
					  {2, "spec", PB_MSG, pb_ssar_spec},
					  {0, NULL, PB_STR, NULL}};
static const struct pb_field pb_ssrr_spec[] = {{1, "namespace", PB_STR, NULL},
					       {0, NULL, PB_STR, NULL}};
static const struct pb_field pb_ssrr[] = {{1, "metadata", PB_MSG, pb_meta},
					  {2, "spec", PB_MSG, pb_ssrr_spec},
					  {0, NULL, PB_STR, NULL}};
static const struct pb_field pb_token_spec[] = {{1, "audiences", PB_REP_STR, NULL},
						{4, "expirationSeconds", PB_INT, NULL},
						{0, NULL, PB_STR, NULL}};
static const struct pb_field pb_token_req[] = {{1, "metadata", PB_MSG, pb_meta},
					       {2, "spec", PB_MSG, pb_token_spec},
					       {0, NULL, PB_STR, NULL}};

struct pb_kind {
	const char *kind;
	const struct pb_field *fields;
};

static const struct pb_kind pb_kinds[] = {
	{"Secret", pb_secret},       {"ConfigMap", pb_configmap},
	{"Namespace", pb_namespace}, {"ServiceAccount", pb_sa},
	{"DeleteOptions", pb_delete_opts},
	{"SelfSubjectAccessReview", pb_ssar}, {"SelfSubjectRulesReview", pb_ssrr},
	{"TokenRequest", pb_token_req},
};

struct pb_buf {
	const unsigned char *p, *end;
};

static int pb_varint(struct pb_buf *b, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (b->p >= b->end)
			return -1;
		unsigned char c = *b->p++;
		*v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return 0;
	}
	return -1;
}

/* Reads one field header and, for length-delimited ones, the payload slice. */
static int pb_next(struct pb_buf *b, int *num, int *wire, uint64_t *v, struct pb_buf *sub)
{
	uint64_t key;
	if (pb_varint(b, &key))
		return -1;
	*num = (int)(key >> 3);
	*wire = (int)(key & 7);
	switch (*wire) {
	case 0:
		return pb_varint(b, v);
	case 1:
		if (b->end - b->p < 8)
			return -1;
		b->p += 8;
		return 0;
	case 5:
		if (b->end - b->p < 4)
			return -1;
		b->p += 4;
		return 0;
	case 2:
		if (pb_varint(b, v) || *v > (uint64_t)(b->end - b->p))
			return -1;
		sub->p = b->p;
		sub->end = b->p + *v;
		b->p += *v;
		return 0;
	default:
		return -1;
	}
}

static char *pb_strdup(const struct pb_buf *b)
{
	return strndup((const char *)b->p, (size_t)(b->end - b->p));
}

static cJSON *pb_decode(struct pb_buf b, const struct pb_field *fields);

static cJSON *pb_scalar(const struct pb_buf *sub, enum pb_type type)
{
	if (type == PB_BYTES) {
		size_t len = (size_t)(sub->end - sub->p);
		char *enc = malloc(4 * ((len + 2) / 3) + 1);
		if (!enc)
			return NULL;
		EVP_EncodeBlock((unsigned char *)enc, sub->p, (int)len);
		cJSON *v = cJSON_CreateString(enc);
		free(enc);
		return v;
	}
	char *str = pb_strdup(sub);
	cJSON *v = str ? cJSON_CreateString(str) : NULL;
	free(str);
	return v;
}

/* A map entry message {1: key, 2: value}. */
static void pb_map_entry(cJSON *map, struct pb_buf e, int bytes)
{
	char *key = NULL;
	cJSON *val = NULL;
	int num, wire;
	uint64_t v;
	struct pb_buf sub;
	while (e.p < e.end && pb_next(&e, &num, &wire, &v, &sub) == 0) {
		if (num == 1 && wire == 2) {
			free(key);
			key = pb_strdup(&sub);
		} else if (num == 2 && wire == 2) {
			cJSON_Delete(val);
			val = pb_scalar(&sub, bytes ? PB_BYTES : PB_STR);
		}
	}
	if (key && !val)
		val = cJSON_CreateString("");
	if (key && val) {
		cJSON_AddItemToObject(map, key, val);
		val = NULL;
	}
	cJSON_Delete(val);
	free(key);
}

static cJSON *pb_time(struct pb_buf b)
{
	int num, wire;
	uint64_t v, secs = 0;
	struct pb_buf sub;
	while (b.p < b.end && pb_next(&b, &num, &wire, &v, &sub) == 0)
		if (num == 1 && wire == 0)
			secs = v;
	char buf[KUBE_TIME_LEN] = "";
	kube_time_format((int64_t)secs, buf, sizeof(buf));
	return cJSON_CreateString(buf);
}

static cJSON *pb_decode(struct pb_buf b, const struct pb_field *fields)
{
	cJSON *obj = cJSON_CreateObject();
	int num, wire;
	uint64_t v;
	struct pb_buf sub;
	while (obj && b.p < b.end) {
		if (pb_next(&b, &num, &wire, &v, &sub)) {
			cJSON_Delete(obj);
			return NULL;
		}
		const struct pb_field *f = NULL;
		for (size_t i = 0; fields[i].name; i++)
			if (fields[i].num == num)
				f = &fields[i];
		if (!f)
			continue;
		cJSON *cur = cJSON_GetObjectItemCaseSensitive(obj, f->name);
		switch (f->type) {
		case PB_STR:
		case PB_BYTES:
			/* proto2 sends empty optional strings; JSON clients omit them */
			if (wire == 2 && (sub.end > sub.p || f->type == PB_BYTES))
				cJSON_AddItemToObject(obj, f->name, pb_scalar(&sub, f->type));
			break;
		case PB_INT:
			if (wire == 0)
				cJSON_AddNumberToObject(obj, f->name, (double)(int64_t)v);
			break;
		case PB_BOOL:
			if (wire == 0)
				cJSON_AddBoolToObject(obj, f->name, v != 0);
			break;
		case PB_TIME:
			if (wire == 2)
				cJSON_AddItemToObject(obj, f->name, pb_time(sub));
			break;
		case PB_MSG:
			if (wire == 2)
				cJSON_AddItemToObject(obj, f->name, pb_decode(sub, f->sub));
			break;
		case PB_MAP_SS:
		case PB_MAP_SB:
			if (wire != 2)
				break;
			if (!cur)
				cur = cJSON_AddObjectToObject(obj, f->name);
			pb_map_entry(cur, sub, f->type == PB_MAP_SB);
			break;
		case PB_REP_STR:
		case PB_REP_MSG:
			if (wire != 2)
				break;
			if (!cur)
				cur = cJSON_AddArrayToObject(obj, f->name);
			cJSON_AddItemToArray(cur, f->type == PB_REP_STR ? pb_scalar(&sub, PB_STR)
								       : pb_decode(sub, f->sub));
			break;
		}
	}
	return obj;
}

/* Decodes a "k8s\0"-prefixed runtime.Unknown. NULL when not decodable (unknown kind too). */
static cJSON *decode_k8s_protobuf(const char *body, size_t len)
{
	if (len < 4 || memcmp(body, "k8s\0", 4) != 0)
		return NULL;
	struct pb_buf b = {(const unsigned char *)body + 4, (const unsigned char *)body + len};
	struct pb_buf raw = {NULL, NULL}, sub;
	cJSON *tm = NULL, *obj = NULL;
	int num, wire;
	uint64_t v;
	while (b.p < b.end) {
		if (pb_next(&b, &num, &wire, &v, &sub))
			goto out;
		if (num == 1 && wire == 2) {
			cJSON_Delete(tm);
			tm = pb_decode(sub, pb_typemeta);
		} else if (num == 2 && wire == 2) {
			raw = sub;
		}
	}
	const char *kind = kube_json_get_str(tm, "kind", NULL);
	const char *av = kube_json_get_str(tm, "apiVersion", NULL);
	if (!kind || !raw.p)
		goto out;
	for (size_t i = 0; i < sizeof(pb_kinds) / sizeof(pb_kinds[0]); i++) {
		if (strcmp(pb_kinds[i].kind, kind) != 0)
			continue;
		obj = pb_decode(raw, pb_kinds[i].fields);
		if (obj) {
			cJSON_AddStringToObject(obj, "kind", kind);
			if (av)
				cJSON_AddStringToObject(obj, "apiVersion", av);
		}
	}
out:
	cJSON_Delete(tm);
	return obj;
}

/* ---- request parsing helpers */

static const char *query(struct MHD_Connection *conn, const char *key)
{
	return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

static const char *header(struct MHD_Connection *conn, const char *key)
{
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, key);
}

static int truthy(const char *v)
{
	return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0);
}

static int wants_table(struct MHD_Connection *conn)
{
	const char *accept = header(conn, "Accept");
	return accept && strstr(accept, "as=Table") != NULL;
}

/* Parses a JSON (or YAML) request body. NULL with *err set on failure. */
static cJSON *parse_body(const struct conn_req *cr, const char *content_type, int *code,
			 const char **err)
{
	const char *ct = content_type ? content_type : "application/json";
	if (strstr(ct, "protobuf") && cr->body) {
		cJSON *obj = decode_k8s_protobuf(cr->body, cr->len);
		if (obj)
			return obj;
	}
	if (strstr(ct, "protobuf") || strstr(ct, "cbor")) {
		*code = 415;
		*err = "the body of the request was in an unknown format - accepted media types "
		       "include: application/json, application/yaml";
		return NULL;
	}
	if (!cr->body || cr->len == 0) {
		*code = 400;
		*err = "the request body is empty";
		return NULL;
	}
	cJSON *obj = NULL;
	if (strstr(ct, "yaml")) {
		char *msg = NULL;
		if (kube_yaml_parse(cr->body, cr->len, &obj, &msg) != 0)
			obj = NULL;
		free(msg);
	} else {
		obj = cJSON_ParseWithLength(cr->body, cr->len);
	}
	if (!obj) {
		*code = 400;
		*err = "the request body could not be decoded as JSON";
	}
	return obj;
}

/* ---- discovery and fixed endpoints */

static enum MHD_Result serve_version(struct MHD_Connection *conn)
{
	return send_body(conn, 200,
			 strdup("{\"major\":\"1\",\"minor\":\"32\",\"gitVersion\":\"v1.32.0\","
				"\"gitCommit\":\"kubesim\",\"gitTreeState\":\"clean\","
				"\"buildDate\":\"2025-01-01T00:00:00Z\",\"goVersion\":\"go1.23.0\","
				"\"compiler\":\"gc\",\"platform\":\"linux/amd64\"}"),
			 NULL);
}

static enum MHD_Result serve_group(struct sim_server *srv, struct MHD_Connection *conn,
				   const char *group)
{
	cJSON *groups = sim_registry_api_groups(srv->reg);
	cJSON *g;
	cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(groups, "groups"))
	{
		if (strcmp(kube_json_get_str(g, "name", NULL), group) == 0) {
			cJSON *doc = cJSON_Duplicate(g, 1);
			cJSON_AddStringToObject(doc, "kind", "APIGroup");
			cJSON_AddStringToObject(doc, "apiVersion", "v1");
			enum MHD_Result r = send_json(conn, 200, doc);
			cJSON_Delete(doc);
			cJSON_Delete(groups);
			return r;
		}
	}
	cJSON_Delete(groups);
	return send_status(conn, 404, "NotFound", "the server could not find the requested resource");
}

static enum MHD_Result serve_resources(struct sim_server *srv, struct MHD_Connection *conn,
				       const char *group, const char *version)
{
	int found = 0;
	cJSON *doc = sim_registry_resources(srv->reg, group, version, &found);
	if (!found)
		return send_status(conn, 404, "NotFound",
				   "the server could not find the requested resource");
	enum MHD_Result r = send_json(conn, 200, doc);
	cJSON_Delete(doc);
	return r;
}

/* ---- resource requests */

struct api_path {
	const char *group, *version, *ns, *resource, *name, *sub;
};

/* Splits /api/v1/... or /apis/G/V/... in place. Returns 0, or -1 when the shape is unknown. */
static int parse_api_path(char *path, struct api_path *p)
{
	char *seg[12];
	int n = 0;
	char *save = NULL;
	memset(p, 0, sizeof(*p));
	for (char *tok = strtok_r(path, "/", &save); tok; tok = strtok_r(NULL, "/", &save)) {
		if (n == 12)
			return -1;
		seg[n++] = tok;
	}
	int i;
	if (n >= 2 && strcmp(seg[0], "api") == 0) {
		p->group = "";
		p->version = seg[1];
		i = 2;
	} else if (n >= 3 && strcmp(seg[0], "apis") == 0) {
		p->group = seg[1];
		p->version = seg[2];
		i = 3;
	} else {
		return -1;
	}
	int rest = n - i;
	if (rest <= 0)
		return -1;
	/* namespaces/NS/RES[/NAME[/SUB]] -- but namespaces/NAME[/status|finalize] is the
	 * namespace object itself. */
	if (strcmp(seg[i], "namespaces") == 0 && rest >= 3 && *p->group == '\0' && rest == 3 &&
	    (strcmp(seg[i + 2], "status") == 0 || strcmp(seg[i + 2], "finalize") == 0)) {
		p->resource = seg[i];
		p->name = seg[i + 1];
		p->sub = seg[i + 2];
		return 0;
	}
	if (strcmp(seg[i], "namespaces") == 0 && rest >= 3) {
		p->ns = seg[i + 1];
		i += 2;
		rest -= 2;
	}
	if (rest > 3)
		return -1;
	p->resource = seg[i];
	if (rest >= 2)
		p->name = seg[i + 1];
	if (rest == 3)
		p->sub = seg[i + 2];
	return 0;
}

static const char *list_api_version(const struct sim_rtype *t, const char *version, char *buf,
				    size_t len)
{
	if (*t->group)
		snprintf(buf, len, "%s/%s", t->group, version);
	else
		snprintf(buf, len, "%s", version);
	return buf;
}

/* Serializes a snapshot as a Table (when asked) or as the object / the List. */
static char *render(struct MHD_Connection *conn, const struct sim_rtype *t, const char *version,
		    struct sim_snap *snap, int as_list, int *code)
{
	if (wants_table(conn) && !(t && strcmp(t->kind, "Scale") == 0)) {
		int include = sim_table_parse_include(query(conn, "includeObject"));
		if (include < 0) {
			*code = 400;
			return NULL;
		}
		size_t n = sim_snap_len(snap);
		const cJSON **objs = calloc(n ? n : 1, sizeof(*objs));
		if (!objs)
			return NULL;
		for (size_t i = 0; i < n; i++)
			objs[i] = sim_snap_obj(snap, i);
		cJSON *table = sim_table_build(sim_rtype_crd_version(t, version), t->kind, objs, n,
					       include, sim_snap_rv(snap), time(NULL));
		free(objs);
		cJSON *md = as_list ? cJSON_GetObjectItemCaseSensitive(table, "metadata") : NULL;
		if (md && sim_snap_continue(snap))
			cJSON_AddStringToObject(md, "continue", sim_snap_continue(snap));
		if (md && sim_snap_remaining(snap) >= 0)
			cJSON_AddNumberToObject(md, "remainingItemCount",
						(double)sim_snap_remaining(snap));
		char *out = table ? cJSON_PrintUnformatted(table) : NULL;
		cJSON_Delete(table);
		return out;
	}
	if (!as_list) {
		const char *j = sim_snap_json(snap, 0);
		return j ? strdup(j) : NULL;
	}
	struct sb b = {0};
	char av[300];
	sb_str(&b, "{\"kind\":\"");
	sb_str(&b, t->list_kind);
	sb_str(&b, "\",\"apiVersion\":\"");
	sb_str(&b, list_api_version(t, version, av, sizeof(av)));
	sb_str(&b, "\",\"metadata\":{\"resourceVersion\":\"");
	sb_str(&b, sim_snap_rv(snap));
	if (sim_snap_continue(snap)) {
		/* base64url: nothing to escape */
		sb_str(&b, "\",\"continue\":\"");
		sb_str(&b, sim_snap_continue(snap));
	}
	sb_str(&b, "\"");
	if (sim_snap_remaining(snap) >= 0) {
		char num[32];
		snprintf(num, sizeof(num), ",\"remainingItemCount\":%ld", sim_snap_remaining(snap));
		sb_str(&b, num);
	}
	sb_str(&b, "},\"items\":[");
	for (size_t i = 0; i < sim_snap_len(snap); i++) {
		const char *j = sim_snap_json(snap, i);
		if (!j) {
			b.oom = 1;
			break;
		}
		if (i)
			sb_add(&b, ",", 1);
		sb_str(&b, j);
	}
	sb_str(&b, "]}");
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* ---- watch streams */

struct watch_stream {
	struct sim_server *srv;
	struct sim_watch *w;
	const struct sim_rtype *t;
	char version[64];
	int table, include, headers_sent;
	int bookmarks; /* allowWatchBookmarks */
	time_t deadline;
	struct sb out; /* formatted lines not yet handed to libmicrohttpd */
	struct timespec last_send;
	size_t off;
	int finish; /* end the stream once out is drained */
	struct MHD_Connection *conn;
	char path[512];
	unsigned long stall_gen; /* sim_fault generation at start */
	int stalled;             /* a stall-watches fault hit it: it sends nothing ever again */
};

static void watch_stream_free(void *cls)
{
	struct watch_stream *ws = cls;
	sim_watch_free(ws->w);
	free(ws->out.s);
	free(ws);
}

/* Appends one event line to ws->out. */
static int watch_line(struct watch_stream *ws, const char *type, const cJSON *obj,
		      const char *json)
{
	char *table_json = NULL;
	if (ws->table && strcmp(type, "BOOKMARK") != 0 && strcmp(type, "ERROR") != 0) {
		cJSON *parsed = NULL;
		if (!obj && json) {
			parsed = cJSON_Parse(json);
			obj = parsed;
		}
		const cJSON *objs[1] = {obj};
		cJSON *table = sim_table_build(sim_rtype_crd_version(ws->t, ws->version), ws->t->kind,
					       objs, 1, ws->include, NULL, time(NULL));
		if (table && ws->headers_sent) {
			/* Like the apiserver: column definitions only on the first event. */
			cJSON_ReplaceItemInObjectCaseSensitive(table, "columnDefinitions",
								cJSON_CreateArray());
		}
		ws->headers_sent = 1;
		table_json = table ? cJSON_PrintUnformatted(table) : NULL;
		cJSON_Delete(table);
		cJSON_Delete(parsed);
		json = table_json;
	}
	if (!json)
		return -1;
	sb_str(&ws->out, "{\"type\":\"");
	sb_str(&ws->out, type);
	sb_str(&ws->out, "\",\"object\":");
	sb_str(&ws->out, json);
	sb_str(&ws->out, "}\n");
	free(table_json);
	return ws->out.oom ? -1 : 0;
}

/* A BOOKMARK after BOOKMARK_IDLE_S without a send, so informers can resume from a recent
 * resourceVersion instead of one the history may already have dropped. */
#define BOOKMARK_IDLE_S 5

static int watch_bookmark(struct watch_stream *ws)
{
	struct timespec mono;
	uint64_t rv;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	if (mono.tv_sec - ws->last_send.tv_sec < BOOKMARK_IDLE_S)
		return 0;
	if (!sim_watch_bookmark_rv(ws->w, &rv))
		return 0;
	char line[600];
	char av[300];
	if (*ws->t->group)
		snprintf(av, sizeof(av), "%s/%s", ws->t->group, ws->version);
	else
		snprintf(av, sizeof(av), "%s", ws->version);
	snprintf(line, sizeof(line),
		 "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"%s\",\"apiVersion\":\"%s\","
		 "\"metadata\":{\"resourceVersion\":\"%llu\"}}}\n",
		 ws->t->kind, av, (unsigned long long)rv);
	sb_str(&ws->out, line);
	ws->last_send = mono;
	return ws->out.oom ? -1 : 0;
}

/* A stalled stream (sim_fault_stall_watches): sends nothing, keeps the connection, and
 * notices when the client goes away so its thread ends. Returns 1 to keep waiting, 0 when the
 * stream should end. */
static int watch_stall_wait(struct watch_stream *ws)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(ws->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (atomic_load(&ws->srv->stopping) || time(NULL) >= ws->deadline || !ci)
		return 0;
	struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
	if (poll(&p, 1, WATCH_SLICE_MS) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
		return 0;
	return 1;
}

/* True once a stall-watches fault hit this stream (sticky). */
static int watch_stalled(struct watch_stream *ws)
{
	if (!ws->stalled)
		ws->stalled = sim_fault_watch_stalled(ws->srv->fault, ws->stall_gen, ws->path);
	return ws->stalled;
}

static ssize_t watch_reader(void *cls, uint64_t pos, char *out, size_t max)
{
	struct watch_stream *ws = cls;
	(void)pos;
	if (ws->off >= ws->out.len || watch_stalled(ws)) {
		/* A stalled stream drops what it had not sent yet: nothing gets through a cut. */
		ws->off = 0;
		ws->out.len = 0;
	}
	while (ws->out.len == 0) {
		if (ws->finish || atomic_load(&ws->srv->stopping))
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (watch_stalled(ws)) {
			if (watch_stall_wait(ws))
				continue;
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		time_t now = time(NULL);
		if (now >= ws->deadline)
			return MHD_CONTENT_READER_END_OF_STREAM;
		long left_ms = (long)(ws->deadline - now) * 1000;
		int slice = left_ms < WATCH_SLICE_MS ? (int)left_ms : WATCH_SLICE_MS;
		enum sim_event_type type;
		const cJSON *obj = NULL;
		const char *json = NULL;
		int r = sim_watch_next(ws->w, slice, &type, &obj, &json);
		if (watch_stalled(ws))
			continue; /* stalled while waiting: this event never arrives */
		if (r == 0) {
			if (ws->bookmarks && watch_bookmark(ws))
				return MHD_CONTENT_READER_END_WITH_ERROR;
			continue;
		}
		if (r == SIM_WATCH_CLOSED)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (r == SIM_WATCH_EXPIRED) {
			if (watch_line(ws, "ERROR", obj, json))
				return MHD_CONTENT_READER_END_WITH_ERROR;
			ws->finish = 1;
			break;
		}
		if (watch_line(ws, sim_event_type_name(type), obj, json))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		/* Under a stream of events (the last send was moments ago), linger 1 ms so the
		 * writers' next events queue up, then send them together: one wakeup and one send
		 * per batch instead of per event, which is what keeps 10 watchers from costing 10
		 * context switches per write. An isolated event goes out at once. */
		struct timespec mono;
		clock_gettime(CLOCK_MONOTONIC, &mono);
		long since_us = (mono.tv_sec - ws->last_send.tv_sec) * 1000000L +
				(mono.tv_nsec - ws->last_send.tv_nsec) / 1000;
		if (since_us < 5000) {
			struct timespec linger = {0, 1000000L};
			nanosleep(&linger, NULL);
		}
		while (ws->out.len < max) {
			r = sim_watch_next(ws->w, 0, &type, &obj, &json);
			if (r != 1)
				break;
			if (watch_line(ws, sim_event_type_name(type), obj, json))
				return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (r == SIM_WATCH_EXPIRED || r == SIM_WATCH_CLOSED)
			ws->finish = 1;
	}
	size_t n = ws->out.len - ws->off;
	if (n > max)
		n = max;
	clock_gettime(CLOCK_MONOTONIC, &ws->last_send);
	memcpy(out, ws->out.s + ws->off, n);
	ws->off += n;
	return (ssize_t)n;
}

static enum MHD_Result start_watch(struct sim_server *srv, struct MHD_Connection *conn,
				   const struct sim_rtype *t, const struct api_path *p)
{
	if (atomic_load(&srv->stopping))
		return send_status(conn, 503, "ServiceUnavailable", "the server is shutting down");
	struct sim_watch_opts o = {
		.group = t->group,
		.resource = t->resource,
		.ns = p->ns,
		.label_selector = query(conn, "labelSelector"),
		.field_selector = query(conn, "fieldSelector"),
		.resource_version = query(conn, "resourceVersion"),
		.send_initial_events = truthy(query(conn, "sendInitialEvents")),
	};
	if (p->name) {
		/* GET .../NAME?watch=1 (deprecated form): a name field selector. */
		static __thread char fs[300];
		snprintf(fs, sizeof(fs), "metadata.name=%s", p->name);
		o.field_selector = fs;
	}
	struct sim_watch *w = NULL;
	cJSON *status = NULL;
	int rc = sim_store_watch(srv->store, &o, &w, &status);
	if (rc != 200)
		return send_store_error(conn, rc, status);
	struct watch_stream *ws = calloc(1, sizeof(*ws));
	if (!ws) {
		sim_watch_free(w);
		return send_status(conn, 500, "InternalError", "out of memory");
	}
	ws->srv = srv;
	ws->w = w;
	ws->t = t;
	ws->conn = conn;
	ws->stall_gen = sim_fault_watch_generation(srv->fault);
	/* The collection's path, which stall-watches rules match by prefix. */
	snprintf(ws->path, sizeof(ws->path), "/%s%s/%s%s%s/%s", *t->group ? "apis/" : "api",
		 t->group, p->version, p->ns ? "/namespaces/" : "", p->ns ? p->ns : "",
		 t->resource);
	snprintf(ws->version, sizeof(ws->version), "%s", p->version);
	ws->table = wants_table(conn);
	ws->bookmarks = truthy(query(conn, "allowWatchBookmarks")) && !ws->table;
	clock_gettime(CLOCK_MONOTONIC, &ws->last_send);
	ws->include = sim_table_parse_include(query(conn, "includeObject"));
	if (ws->include < 0)
		ws->include = SIM_TABLE_INCLUDE_METADATA;
	const char *ts = query(conn, "timeoutSeconds");
	long timeout = ts ? strtol(ts, NULL, 10) : DEFAULT_WATCH_TIMEOUT_S;
	if (timeout <= 0)
		timeout = DEFAULT_WATCH_TIMEOUT_S;
	ws->deadline = time(NULL) + timeout;
	struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
								     watch_reader, ws,
								     watch_stream_free);
	if (!resp) {
		watch_stream_free(ws);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-cache, private");
	enum MHD_Result r = MHD_queue_response(conn, 200, resp);
	MHD_destroy_response(resp);
	return r;
}

/* DeleteOptions from the body and/or the query. */
static void delete_options(struct MHD_Connection *conn, const cJSON *body, struct sim_req *r)
{
	const char *prop = query(conn, "propagationPolicy");
	const char *grace = query(conn, "gracePeriodSeconds");
	const char *orphan = query(conn, "orphanDependents");
	r->propagation = prop;
	r->grace_seconds = grace ? strtol(grace, NULL, 10) : -1;
	if (orphan && truthy(orphan) && !prop)
		r->propagation = "Orphan";
	if (!body)
		return;
	const char *bp = kube_json_get_str(body, "propagationPolicy", NULL);
	if (bp)
		r->propagation = bp;
	double g;
	if (kube_json_get_num(body, &g, "gracePeriodSeconds", NULL))
		r->grace_seconds = (long)g;
	const cJSON *od = cJSON_GetObjectItemCaseSensitive(body, "orphanDependents");
	if (cJSON_IsBool(od) && !bp)
		r->propagation = cJSON_IsTrue(od) ? "Orphan" : "Background";
	r->precondition_uid = kube_json_get_str(body, "preconditions", "uid", NULL);
	r->precondition_rv = kube_json_get_str(body, "preconditions", "resourceVersion", NULL);
	const cJSON *dry;
	cJSON_ArrayForEach(dry, cJSON_GetObjectItemCaseSensitive(body, "dryRun"))
	{
		if (cJSON_IsString(dry) && strcmp(dry->valuestring, "All") == 0)
			r->flags |= SIM_WRITE_DRY_RUN;
	}
}

/* The paging parameters of a list (a watch ignores limit, as the apiserver does). -1 for a
 * limit that is not an integer. */
static int list_paging(struct MHD_Connection *conn, struct sim_req *r)
{
	const char *limit = query(conn, "limit");
	r->continue_token = query(conn, "continue");
	r->resource_version = query(conn, "resourceVersion");
	if (!limit || !*limit)
		return 0;
	char *end = NULL;
	errno = 0;
	long n = strtol(limit, &end, 10);
	if (errno || !end || *end)
		return -1;
	r->limit = n;
	return 0;
}

static enum MHD_Result serve_resource(struct sim_server *srv, struct MHD_Connection *conn,
				      const char *method, const struct api_path *p,
				      const struct conn_req *cr)
{
	enum MHD_Result ret;
	cJSON *body = NULL, *status = NULL;
	struct sim_snap *snap = NULL;
	const struct sim_rtype *t = sim_registry_find_gvr(srv->reg, p->group, p->version,
							  p->resource);
	if (!t) {
		int found = 0;
		cJSON *doc = sim_registry_resources(srv->reg, p->group, p->version, &found);
		cJSON_Delete(doc);
		return send_status(conn, 404, "NotFound",
				   "the server could not find the requested resource");
	}
	if (p->ns && !t->namespaced)
		return send_status(conn, 404, "NotFound",
				   "the server could not find the requested resource");
	struct sim_req r = {
		.group = t->group,
		.version = p->version,
		.resource = t->resource,
		.ns = p->ns,
		.name = p->name,
		.subresource = p->sub,
		.label_selector = query(conn, "labelSelector"),
		.field_selector = query(conn, "fieldSelector"),
		.content_type = header(conn, "Content-Type"),
		.grace_seconds = -1,
	};
	const char *dry = query(conn, "dryRun");
	if (dry && strcmp(dry, "All") == 0)
		r.flags |= SIM_WRITE_DRY_RUN;
	const char *fv = query(conn, "fieldValidation");
	if (fv && strcmp(fv, "Strict") == 0)
		r.flags |= SIM_WRITE_FIELDS_STRICT;
	else if (fv && strcmp(fv, "Ignore") == 0)
		r.flags |= SIM_WRITE_FIELDS_IGNORE;
	int as_list = 0;
	if (strcmp(method, "GET") == 0) {
		if (truthy(query(conn, "watch")))
			return start_watch(srv, conn, t, p);
		if (p->sub && strcmp(p->sub, "status") != 0 && strcmp(p->sub, "scale") != 0)
			return send_status(conn, 404, "NotFound",
					   "the server could not find the requested resource");
		r.verb = p->name ? SIM_GET : SIM_LIST;
		as_list = !p->name;
		if (as_list && list_paging(conn, &r) != 0)
			return send_status(conn, 400, "BadRequest",
					   "limit: Invalid value: must be an integer");
	} else if (strcmp(method, "POST") == 0) {
		if (p->name)
			return send_status(conn, 405, "MethodNotAllowed",
					   "the server does not allow this method on the "
					   "requested resource");
		r.verb = SIM_CREATE;
	} else if (strcmp(method, "PUT") == 0) {
		r.verb = SIM_UPDATE;
	} else if (strcmp(method, "PATCH") == 0) {
		r.verb = SIM_PATCH;
	} else if (strcmp(method, "DELETE") == 0) {
		r.verb = p->name ? SIM_DELETE : SIM_DELETE_COLLECTION;
		as_list = !p->name;
	} else {
		return send_status(conn, 405, "MethodNotAllowed",
				   "the server does not allow this method on the requested resource");
	}
	if (r.verb == SIM_CREATE || r.verb == SIM_UPDATE || r.verb == SIM_PATCH) {
		int code = 400;
		const char *err = NULL;
		const char *ct = r.content_type;
		if (r.verb == SIM_PATCH && !ct)
			return send_status(conn, 415, "UnsupportedMediaType",
					   "the body of the request was in an unknown format");
		body = parse_body(cr, r.verb == SIM_PATCH && strstr(ct, "json") ? "application/json"
										  : ct,
				  &code, &err);
		if (!body)
			return send_status(conn, code, code == 415 ? "UnsupportedMediaType"
								   : "BadRequest",
					   err);
		r.body = body;
	} else if (r.verb == SIM_DELETE || r.verb == SIM_DELETE_COLLECTION) {
		if (cr->body && cr->len)
			body = cJSON_ParseWithLength(cr->body, cr->len);
		if (!body && cr->body && cr->len)
			body = decode_k8s_protobuf(cr->body, cr->len);
		delete_options(conn, body, &r);
	}
	cJSON *warnings = cJSON_CreateArray(); /* NULL (no warnings kept) on ENOMEM */
	r.warnings = warnings;
	int rc = sim_store_do(srv->store, &r, &snap, &status);
	if (rc >= 400) {
		ret = send_store_error(conn, rc, status);
		goto out;
	}
	int code = rc;
	const struct sim_rtype *view = t;
	char *out = NULL;
	if (p->sub && strcmp(p->sub, "scale") == 0) {
		const char *j = sim_snap_json(snap, 0);
		out = j ? strdup(j) : NULL;
	} else if (r.verb == SIM_DELETE_COLLECTION) {
		/* deletecollection answers with a List of the deleted objects */
		out = render(conn, view, p->version, snap, 1, &code);
	} else {
		out = render(conn, view, p->version, snap, as_list, &code);
	}
	if (!out) {
		ret = code == 400 ? send_status(conn, 400, "BadRequest", "invalid includeObject")
				  : send_status(conn, 500, "InternalError", "out of memory");
		goto out;
	}
	ret = send_body_warn(conn, code, out, NULL, warnings);
out:
	sim_snap_free(snap);
	cJSON_Delete(body);
	cJSON_Delete(warnings);
	return ret;
}

/* ---- dispatch */

/* Who is asking: the admin token (with --http: any request without one of the minted tokens)
 * is the superuser, a minted service-account token its service account. 0: unauthenticated. */
static int authenticate(struct sim_server *srv, struct MHD_Connection *conn,
			struct sim_rbac_user *u)
{
	const char *h = header(conn, "Authorization");
	const char *tok = h && strncmp(h, "Bearer ", 7) == 0 ? h + 7 : NULL;
	if (srv->opts.http || !srv->tls.token) {
		if (!tok || !sim_rbac_tokens_lookup(srv->tokens, tok, u))
			sim_rbac_user_admin(u);
		return 1;
	}
	if (!tok)
		return 0;
	if (strcmp(tok, srv->tls.token) == 0) {
		sim_rbac_user_admin(u);
		return 1;
	}
	return sim_rbac_tokens_lookup(srv->tokens, tok, u);
}

struct imp_groups {
	const char *v[SIM_RBAC_MAX_GROUPS];
	int n, overflow;
};

static enum MHD_Result collect_group(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	struct imp_groups *g = cls;
	(void)kind;
	if (key && value && strcasecmp(key, "Impersonate-Group") == 0) {
		if (g->n < SIM_RBAC_MAX_GROUPS)
			g->v[g->n++] = value;
		else
			g->overflow = 1;
	}
	return MHD_YES;
}

/* An answer built from a Status object (its code), 500 for NULL. */
static enum MHD_Result send_status_obj(struct MHD_Connection *conn, cJSON *st)
{
	double code = 500;
	kube_json_get_num(st, &code, "code", NULL);
	return send_store_error(conn, (int)code, st);
}

/* Authentication, impersonation (Impersonate-User / Impersonate-Group) and RBAC authorization
 * (sim_rbac.h); superusers are never evaluated, and only they reach the extra routes (the
 * control API). 1 to go on with *u the (impersonated) user, else 0 with *ret the answer. */
static int admit(struct sim_server *srv, struct MHD_Connection *conn, const char *url,
		 const char *method, struct sim_rbac_user *u, enum MHD_Result *ret)
{
	if (!authenticate(srv, conn, u)) {
		*ret = send_status(conn, 401, "Unauthorized", "Unauthorized");
		return 0;
	}
	const char *imp = header(conn, "Impersonate-User");
	struct imp_groups g = {.n = 0};
	MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_group, &g);
	if (imp || g.n) {
		cJSON *st = NULL;
		int rc = 400;
		if (g.overflow)
			st = sim_status_new(400, "BadRequest", "too many Impersonate-Group headers",
					    NULL);
		else
			rc = sim_rbac_impersonate(srv->store, u, imp, g.v, g.n, &st);
		if (rc) {
			*ret = send_status_obj(conn, st);
			return 0;
		}
	}
	if (sim_rbac_user_is_superuser(u))
		return 1;
	struct sim_rbac_attrs a;
	char reason[512] = "";
	int ok = sim_rbac_attrs_parse(&a, method, url, query(conn, "watch"),
				      query(conn, "fieldSelector")) == 0 &&
		 sim_rbac_authorize(srv->store, u, &a, reason, sizeof(reason)) == 1;
	for (int i = 0; i < srv->nroutes; i++)
		if (strncmp(url, srv->routes[i].prefix, strlen(srv->routes[i].prefix)) == 0)
			ok = 0;
	if (ok)
		return 1;
	*ret = send_status_obj(conn, sim_rbac_forbidden(u, &a, reason));
	return 0;
}

typedef cJSON *(*review_fn)(struct sim_store *s, const struct sim_rbac_user *u,
			    const cJSON *review, cJSON **status);

/* A review's JSON body into *body; else answers 400/415 into *r and returns 0. */
static int review_body(struct MHD_Connection *conn, const struct conn_req *cr, cJSON **body,
		       enum MHD_Result *r)
{
	int code = 400;
	const char *err = NULL;
	*body = parse_body(cr, header(conn, "Content-Type"), &code, &err);
	if (*body)
		return 1;
	*r = send_status(conn, code, code == 415 ? "UnsupportedMediaType" : "BadRequest", err);
	return 0;
}

/* 201 with the answered review (freed), or the Status of why there is none. */
static enum MHD_Result send_review(struct MHD_Connection *conn, cJSON *out, cJSON *status)
{
	if (!out)
		return status ? send_status_obj(conn, status)
			      : send_status(conn, 500, "InternalError", "out of memory");
	enum MHD_Result r = send_json(conn, 201, out);
	cJSON_Delete(out);
	return r;
}

/* POST /apis/authorization.k8s.io/v1/selfsubject{access,rules}reviews (kubectl auth can-i
 * [--list]), answered by fn. */
static enum MHD_Result serve_review(struct sim_server *srv, struct MHD_Connection *conn,
				    const struct sim_rbac_user *u, const struct conn_req *cr,
				    review_fn fn)
{
	cJSON *body = NULL;
	enum MHD_Result r;
	if (!review_body(conn, cr, &body, &r))
		return r;
	cJSON *status = NULL;
	cJSON *out = fn(srv->store, u, body, &status);
	cJSON_Delete(body);
	return send_review(conn, out, status);
}

/* POST .../tokenreviews (token 1) or .../subjectaccessreviews (token 0): the delegated
 * authentication and authorization a controller's metrics endpoint asks for. The caller's
 * own RBAC (create on the resource) was checked by admit(). */
static enum MHD_Result serve_delegated_review(struct sim_server *srv, struct MHD_Connection *conn,
					      const struct conn_req *cr, int token)
{
	cJSON *body = NULL;
	enum MHD_Result r;
	if (!review_body(conn, cr, &body, &r))
		return r;
	cJSON *status = NULL;
	cJSON *out = token ? sim_rbac_token_review(srv->tokens, srv->opts.http ? NULL
									    : srv->tls.token,
						   body, &status)
			   : sim_rbac_subject_access_review(srv->store, body, &status);
	cJSON_Delete(body);
	return send_review(conn, out, status);
}

/* POST /api/v1/namespaces/NS/serviceaccounts/NAME/token (kubectl create token). */
static enum MHD_Result serve_token_request(struct sim_server *srv, struct MHD_Connection *conn,
					   const struct api_path *p, const struct conn_req *cr)
{
	int code = 400;
	const char *err = NULL;
	cJSON *body = NULL;
	if (cr->body && cr->len) {
		body = parse_body(cr, header(conn, "Content-Type"), &code, &err);
		if (!body)
			return send_status(conn, code,
					   code == 415 ? "UnsupportedMediaType" : "BadRequest", err);
	}
	cJSON *status = NULL;
	cJSON *out = sim_rbac_token_request(srv->tokens, srv->store, p->ns, p->name, body,
					    &status);
	cJSON_Delete(body);
	if (!out)
		return send_status_obj(conn, status);
	enum MHD_Result r = send_json(conn, 201, out);
	cJSON_Delete(out);
	return r;
}

static int is_token_request(const char *method, const struct api_path *p)
{
	return strcmp(method, "POST") == 0 && *p->group == '\0' && p->ns && p->name && p->sub &&
	       strcmp(p->resource, "serviceaccounts") == 0 && strcmp(p->sub, "token") == 0;
}

/* ---- --run-pods: GET .../pods/NAME/log from the runtime's log files (sim_podlog.h) ---- */

struct log_stream {
	struct sim_server *srv;
	struct sim_podlog *log;
};

static ssize_t log_reader(void *cls, uint64_t pos, char *out, size_t max)
{
	struct log_stream *ls = cls;
	(void)pos;
	for (;;) {
		if (atomic_load(&ls->srv->stopping))
			return MHD_CONTENT_READER_END_OF_STREAM;
		ssize_t n = sim_podlog_read(ls->log, out, max, 200);
		if (n > 0)
			return n;
		if (n == 0)
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
}

static void log_stream_free(void *cls)
{
	struct log_stream *ls = cls;
	sim_podlog_free(ls->log);
	free(ls);
}

static int is_pod_log(const struct sim_server *srv, const char *method, const struct api_path *p)
{
	return srv->opts.runtime && strcmp(method, "GET") == 0 && *p->group == '\0' && p->ns &&
	       p->name && p->sub && strcmp(p->resource, "pods") == 0 && strcmp(p->sub, "log") == 0;
}

static enum MHD_Result serve_pod_log(struct sim_server *srv, struct MHD_Connection *conn,
				     const struct api_path *p)
{
	const char *tail = query(conn, "tailLines"), *limit = query(conn, "limitBytes");
	struct sim_podlog_query q = {
		.container = query(conn, "container"),
		.previous = truthy(query(conn, "previous")),
		.follow = truthy(query(conn, "follow")),
		.tail_lines = tail ? strtol(tail, NULL, 10) : -1,
		.limit_bytes = limit ? strtol(limit, NULL, 10) : -1,
		.timestamps = truthy(query(conn, "timestamps")),
	};
	char msg[600] = "";
	struct log_stream *ls = calloc(1, sizeof(*ls));
	if (!ls)
		return send_status(conn, 500, "InternalError", "out of memory");
	int code = sim_podlog_open(srv->store, srv->opts.runtime, p->ns, p->name, &q, &ls->log, msg,
				   sizeof(msg));
	if (code) {
		free(ls);
		return send_status(conn, code, code == 404 ? "NotFound" : "BadRequest", msg);
	}
	ls->srv = srv;
	struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024,
								     log_reader, ls, log_stream_free);
	if (!resp) {
		log_stream_free(ls);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "text/plain");
	enum MHD_Result r = MHD_queue_response(conn, 200, resp);
	MHD_destroy_response(resp);
	return r;
}

static int is_health(const char *url)
{
	return strcmp(url, "/healthz") == 0 || strcmp(url, "/livez") == 0 ||
	       strcmp(url, "/readyz") == 0;
}

static enum MHD_Result serve_route(struct sim_server *srv, struct MHD_Connection *conn,
				   const struct route *rt, const char *url, const char *method,
				   const struct conn_req *cr)
{
	struct sim_http_req req = {
		.method = method,
		.path = url,
		.content_type = header(conn, "Content-Type"),
		.accept = header(conn, "Accept"),
		.body = cr->body ? cr->body : "",
		.body_len = cr->len,
		.conn = conn,
	};
	struct sim_http_resp resp = {.status = 200};
	(void)srv;
	if (rt->fn(rt->ud, &req, &resp) < 0) {
		free(resp.body);
		return send_status(conn, 500, "InternalError", "the route handler failed");
	}
	return send_body(conn, resp.status, resp.body ? resp.body : strdup(""),
			 resp.content_type);
}

static enum MHD_Result dispatch(struct sim_server *srv, struct MHD_Connection *conn,
				const char *url, const char *method, const struct conn_req *cr)
{
	if (is_health(url))
		return send_body(conn, 200, strdup("ok"), "text/plain; charset=utf-8");
	struct sim_rbac_user user;
	enum MHD_Result denied;
	if (!admit(srv, conn, url, method, &user, &denied))
		return denied;
	for (int i = 0; i < srv->nroutes; i++)
		if (strncmp(url, srv->routes[i].prefix, strlen(srv->routes[i].prefix)) == 0)
			return serve_route(srv, conn, &srv->routes[i], url, method, cr);

	int delay_ms = 0;
	int fault = sim_fault_check(srv->fault, method, url, &delay_ms);
	if (delay_ms > 0)
		usleep((useconds_t)delay_ms * 1000);
	if (fault) {
		char msg[200];
		snprintf(msg, sizeof(msg), "injected fault: %d for %s %s", fault, method, url);
		return send_status(conn, fault, sim_fault_reason(fault), msg);
	}
	int retry_after_s = 0;
	if (sim_fault_check_rate(srv->fault, method, url, &retry_after_s))
		return send_throttled(conn, retry_after_s);

	if (strcmp(method, "POST") == 0 &&
	    strcmp(url, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") == 0)
		return serve_review(srv, conn, &user, cr, sim_rbac_access_review);
	if (strcmp(method, "POST") == 0 &&
	    strcmp(url, "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews") == 0)
		return serve_review(srv, conn, &user, cr, sim_rbac_rules_review);
	if (strcmp(method, "POST") == 0 &&
	    strcmp(url, "/apis/authorization.k8s.io/v1/subjectaccessreviews") == 0)
		return serve_delegated_review(srv, conn, cr, 0);
	if (strcmp(method, "POST") == 0 &&
	    strcmp(url, "/apis/authentication.k8s.io/v1/tokenreviews") == 0)
		return serve_delegated_review(srv, conn, cr, 1);
	if (strcmp(method, "POST") == 0 &&
	    strcmp(url, "/apis/authentication.k8s.io/v1/selfsubjectreviews") == 0) {
		/* kubectl auth whoami: the body says nothing but the kind */
		cJSON *out = sim_rbac_self_review(&user);
		enum MHD_Result r = out ? send_json(conn, 201, out)
					: send_status(conn, 500, "InternalError", "out of memory");
		cJSON_Delete(out);
		return r;
	}
	if (strcmp(url, "/version") == 0 || strcmp(url, "/version/") == 0)
		return serve_version(conn);
	if (strcmp(url, "/openapi/v2") == 0)
		return send_body(conn, 200, NULL,
				 "application/com.github.proto-openapi.spec.v2.v1.0+protobuf");
	if (strncmp(url, "/openapi/v3", 11) == 0) { /* CRD kinds only: sim_openapi.h */
		cJSON *doc = sim_openapi_v3(srv->reg, url);
		enum MHD_Result r = doc ? send_json(conn, 200, doc)
					: send_status(conn, 404, "NotFound", "the server could not find "
									     "the requested resource");
		cJSON_Delete(doc);
		return r;
	}
	if (strcmp(url, "/api") == 0 || strcmp(url, "/api/") == 0) {
		cJSON *doc = sim_registry_api_versions(srv->reg, srv->addr);
		enum MHD_Result r = send_json(conn, 200, doc);
		cJSON_Delete(doc);
		return r;
	}
	if (strcmp(url, "/apis") == 0 || strcmp(url, "/apis/") == 0) {
		cJSON *doc = sim_registry_api_groups(srv->reg);
		enum MHD_Result r = send_json(conn, 200, doc);
		cJSON_Delete(doc);
		return r;
	}
	char *path = strdup(url);
	if (!path)
		return MHD_NO;
	/* /api/v1, /apis/G, /apis/G/V: discovery */
	char *seg[4] = {0};
	int n = 0;
	char *save = NULL;
	char *copy = strdup(url);
	for (char *tok = copy ? strtok_r(copy, "/", &save) : NULL; tok && n < 4;
	     tok = strtok_r(NULL, "/", &save))
		seg[n++] = tok;
	enum MHD_Result r;
	if (n == 2 && strcmp(seg[0], "api") == 0) {
		r = serve_resources(srv, conn, "", seg[1]);
	} else if (n == 2 && strcmp(seg[0], "apis") == 0) {
		r = serve_group(srv, conn, seg[1]);
	} else if (n == 3 && strcmp(seg[0], "apis") == 0) {
		r = serve_resources(srv, conn, seg[1], seg[2]);
	} else {
		struct api_path p;
		int parsed = parse_api_path(path, &p) == 0;
		if (parsed && is_token_request(method, &p))
			r = serve_token_request(srv, conn, &p, cr);
		else if (parsed && is_pod_log(srv, method, &p))
			r = serve_pod_log(srv, conn, &p);
		else if (parsed)
			r = serve_resource(srv, conn, method, &p, cr);
		else
			r = send_status(conn, 404, "NotFound",
					"the server could not find the requested resource");
	}
	free(copy);
	free(path);
	return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct sim_server *srv = cls;
	struct conn_req *cr = *con_cls;
	(void)version;
	if (!cr) {
		cr = calloc(1, sizeof(*cr));
		if (!cr)
			return MHD_NO;
		*con_cls = cr;
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (cr->too_big || cr->len + n > MAX_BODY) {
			cr->too_big = 1;
			return MHD_YES;
		}
		if (cr->len + n + 1 > cr->cap) {
			size_t ncap = cr->cap ? cr->cap : 4096;
			while (ncap < cr->len + n + 1)
				ncap *= 2;
			char *nb = realloc(cr->body, ncap);
			if (!nb)
				return MHD_NO;
			cr->body = nb;
			cr->cap = ncap;
		}
		memcpy(cr->body + cr->len, upload_data, n);
		cr->len += n;
		cr->body[cr->len] = '\0';
		return MHD_YES;
	}
	if (srv->opts.verbose)
		kube_log(KUBE_LOG_INFO, "kubesim", "request", "method", method, "url", url, NULL);
	if (cr->too_big)
		return send_status(conn, 413, "RequestEntityTooLarge",
				   "the request body is too large");
	return dispatch(srv, conn, url, method, cr);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct conn_req *cr = *con_cls;
	(void)cls;
	(void)conn;
	(void)toe;
	if (!cr)
		return;
	free(cr->body);
	free(cr);
	*con_cls = NULL;
}

/* ---- lifecycle */

int sim_server_new(const struct sim_options *opts, struct sim_server **out)
{
	int rc = KUBE_ENOMEM;
	struct sim_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return KUBE_ENOMEM;
	srv->opts = *opts;
	srv->listen = strdup(opts->listen ? opts->listen : "127.0.0.1:0");
	srv->kubeconfig_out = opts->kubeconfig_out ? strdup(opts->kubeconfig_out) : NULL;
	srv->opts.listen = srv->listen;
	srv->opts.kubeconfig_out = srv->kubeconfig_out;
	if (srv->opts.nodes <= 0)
		srv->opts.nodes = 3;
	if (srv->opts.pod_ready_delay_ms < 0)
		srv->opts.pod_ready_delay_ms = 100;
	if (!srv->listen || (opts->kubeconfig_out && !srv->kubeconfig_out))
		goto fail;
	rc = sim_registry_new(&srv->reg);
	if (rc)
		goto fail;
	rc = sim_store_new(srv->reg, opts->history, &srv->store);
	if (rc)
		goto fail;
	rc = sim_fault_new(&srv->fault);
	if (rc)
		goto fail;
	rc = sim_rbac_tokens_new(&srv->tokens);
	if (rc)
		goto fail;
	if (!opts->http) {
		rc = sim_tls_generate(&srv->tls);
		if (rc)
			goto fail;
	}
	*out = srv;
	return 0;
fail:
	sim_server_free(srv);
	return rc;
}

static int parse_listen(const char *listen, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(listen, ':');
	if (!colon || (size_t)(colon - listen) >= sizeof(host))
		return -1;
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(colon + 1));
	if (strcmp(host, "localhost") == 0 || !*host)
		snprintf(host, sizeof(host), "127.0.0.1");
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

/* libmicrohttpd's own messages (TLS alerts from clients closing connections and the like) go
 * to the log at debug level: they are not failures of ours. */
static void mhd_logger(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	(void)cls;
	if (!kube_log_enabled(KUBE_LOG_DEBUG))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	kube_log(KUBE_LOG_DEBUG, "kubesim", "libmicrohttpd", "msg", msg, NULL);
}

/* Binds and listens ourselves, so the port (for :0) is known, and the URL set, before the
 * daemon's threads can read it. Returns the socket or -1. */
static int listen_socket(struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	socklen_t len = sizeof(*sa);
	if (bind(fd, (struct sockaddr *)sa, sizeof(*sa)) != 0 || listen(fd, 128) != 0 ||
	    getsockname(fd, (struct sockaddr *)sa, &len) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int sim_server_start(struct sim_server *srv)
{
	struct sockaddr_in sa;
	if (parse_listen(srv->listen, &sa) != 0) {
		kube_log(KUBE_LOG_ERROR, "kubesim", "bad --listen address", "listen", srv->listen,
			 NULL);
		return KUBE_EINVAL;
	}
	if (!srv->opts.http && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		kube_log(KUBE_LOG_ERROR, "kubesim", "libmicrohttpd has no TLS support; use --http",
			 NULL);
		return KUBE_EIO;
	}
	int fd = listen_socket(&sa);
	if (fd < 0) {
		kube_log(KUBE_LOG_ERROR, "kubesim", "cannot listen", "listen", srv->listen, NULL);
		return KUBE_EIO;
	}
	char host[INET_ADDRSTRLEN];
	unsigned port = ntohs(sa.sin_port);
	inet_ntop(AF_INET, &sa.sin_addr, host, sizeof(host));
	snprintf(srv->addr, sizeof(srv->addr), "%s:%u", host, port);
	snprintf(srv->url, sizeof(srv->url), "%s://%s:%u", srv->opts.http ? "http" : "https", host,
		 port);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	if (!srv->opts.http) {
		flags |= MHD_USE_TLS;
		srv->daemon = MHD_start_daemon(
			flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_LISTEN_SOCKET, fd,
			MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, srv, MHD_OPTION_NOTIFY_COMPLETED,
			on_completed, srv, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)0,
			MHD_OPTION_HTTPS_MEM_KEY, srv->tls.key_pem, MHD_OPTION_HTTPS_MEM_CERT,
			srv->tls.cert_pem, MHD_OPTION_END);
	} else {
		srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
					       MHD_OPTION_LISTEN_SOCKET, fd,
					       MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, srv,
					       MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
					       MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)0,
					       MHD_OPTION_END);
	}
	if (!srv->daemon) {
		close(fd);
		kube_log(KUBE_LOG_ERROR, "kubesim", "cannot start the HTTP server", "listen",
			 srv->listen, NULL);
		return KUBE_EIO;
	}
	if (srv->kubeconfig_out &&
	    sim_tls_write_kubeconfig(srv->kubeconfig_out, srv->url, sim_server_ca_pem(srv),
				     sim_server_token(srv)) != 0) {
		kube_log(KUBE_LOG_ERROR, "kubesim", "cannot write kubeconfig", "path",
			 srv->kubeconfig_out, NULL);
		return KUBE_EIO;
	}
	return 0;
}

void sim_server_stop(struct sim_server *srv)
{
	if (!srv || srv->stopped)
		return;
	srv->stopped = 1;
	atomic_store(&srv->stopping, 1);
	/* Wake every watch first so connection threads can finish; then MHD joins them. */
	if (srv->store)
		sim_store_close_watches(srv->store);
	if (srv->daemon) {
		MHD_stop_daemon(srv->daemon);
		srv->daemon = NULL;
	}
}

void sim_server_free(struct sim_server *srv)
{
	if (!srv)
		return;
	sim_server_stop(srv);
	sim_store_free(srv->store);
	sim_registry_free(srv->reg);
	sim_fault_free(srv->fault);
	sim_rbac_tokens_free(srv->tokens);
	sim_tls_release(&srv->tls);
	for (int i = 0; i < srv->nroutes; i++)
		free(srv->routes[i].prefix);
	free(srv->listen);
	free(srv->kubeconfig_out);
	free(srv);
}
