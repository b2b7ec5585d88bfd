/* intent_spec: SPEC.md builder, verifier, optimizer and the gated loop. A SPEC is a title and
 * eight "## " sections; each is written by one generator in two modes (draft: only what the
 * Intent states; complete: with assumptions marked) and checked by one verifier. */
#include "intent_spec.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intent_text.h"
#include "kube_error.h"

enum section { S_PURPOSE, S_FEATURES, S_CONTRACT, S_DEPS, S_CONFIG, S_TESTS, S_DEPLOY, S_SLO, S_COUNT };

static const char *const SECTION_NAMES[S_COUNT] = {
	"Purpose", "Features", "Contract", "Dependencies", "Configuration", "Tests", "Deployment", "SLOs",
};

/* Finding name prefix -> the section the optimizer rewrites for it. */
static const struct {
	const char *prefix;
	enum section s;
} FINDING_SECTIONS[] = {
	{"purpose", S_PURPOSE}, {"feature", S_FEATURES}, {"acceptance", S_FEATURES},
	{"contract", S_CONTRACT}, {"dependency", S_DEPS}, {"configuration", S_CONFIG},
	{"tests", S_TESTS}, {"deployment", S_DEPLOY}, {"slo", S_SLO},
};

static const struct {
	const char *method, *path, *request, *response;
} CONTRACT[] = {
	{"GET", "/health", "none", "{\"status\": \"active\" | \"draining\", \"service\": \"<name>\", \"uptimeSeconds\": <number>}"},
	{"GET", "/capabilities", "none", "{\"service\": \"<name>\", \"features\": [\"<feature>\"], \"dependencies\": [\"<service>\"]}"},
	{"GET", "/state", "none", "{\"service\": \"<name>\", \"requests\": <int>, \"messagesAccepted\": <int>, \"messagesRejected\": <int>, \"inFlight\": <int>}"},
	{"GET", "/dependencies", "none", "{\"service\": \"<name>\", \"dependencies\": [{\"name\": \"<service>\", \"status\": \"active\" | \"unhealthy\" | \"unreachable\", \"latencyMs\": <number>}], \"allHealthy\": true | false}"},
	{"POST", "/message", "{\"from\": \"<service>\", \"type\": \"<message type>\", \"payload\": {}}", "{\"accepted\": true, \"id\": <int>, \"service\": \"<name>\"}"},
};
#define NCONTRACT (sizeof(CONTRACT) / sizeof(CONTRACT[0]))

/* Points per section (sum 100). */
static const int POINTS[S_COUNT] = {15, 20, 20, 10, 8, 10, 7, 10};

/* ---- a growable string; after an allocation failure it stays failed and appends nothing */

struct sb {
	char *p;
	size_t len, cap;
	int oom;
};

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || b->len + (size_t)n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 1024) + (n > 0 ? (size_t)n : 0);
		char *p = n < 0 ? NULL : realloc(b->p, cap);

		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void sb_append(struct sb *b, const char *s, size_t n)
{
	sb_printf(b, "%.*s", (int)n, s);
}

/* The string, handed to the caller; KUBE_ENOMEM (and nothing) after a failure. */
static int sb_take(struct sb *b, char **out)
{
	if (!b->oom && !b->p)
		sb_printf(b, "%s", "");
	if (b->oom) {
		free(b->p);
		return KUBE_ENOMEM;
	}
	*out = b->p;
	return 0;
}

/* ---- the Intent, read once */

struct view {
	const char *service, *purpose, *type;
	const cJSON *features, *deps;
	int tier, port;
};

static void view_init(const cJSON *intent, struct view *v)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(intent, "spec");
	const cJSON *tier = cJSON_GetObjectItemCaseSensitive(spec, "tier");
	const cJSON *port = cJSON_GetObjectItemCaseSensitive(spec, "port");
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(spec, "keyFeatures");
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(spec, "dependencies");

	v->service = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "serviceName"));
	v->purpose = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "purpose"));
	v->type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "serviceType"));
	v->features = cJSON_IsArray(f) ? f : NULL;
	v->deps = cJSON_IsArray(d) ? d : NULL;
	v->tier = cJSON_IsNumber(tier) && tier->valueint >= 0 && tier->valueint <= 3 ? tier->valueint : 2;
	v->port = cJSON_IsNumber(port) && port->valueint > 0 && port->valueint < 65536 ? port->valueint : 8080;
	if (!v->service)
		v->service = "service";
	if (!v->type)
		v->type = "domain";
}

static size_t count_strings(const cJSON *arr)
{
	const cJSON *it;
	size_t n = 0;

	cJSON_ArrayForEach(it, arr)
		n += cJSON_IsString(it) ? 1 : 0;
	return n;
}

/* ---- generators: one per section; complete adds what the Intent implies, marked */

static void gen_purpose(struct sb *b, const struct view *v, int complete)
{
	(void)complete;
	sb_printf(b, "%s\n", v->purpose ? v->purpose : "(the Intent states no purpose)");
}

static void gen_features(struct sb *b, const struct view *v, int complete)
{
	const cJSON *f;
	int i = 0;

	cJSON_ArrayForEach(f, v->features) {
		if (!cJSON_IsString(f))
			continue;
		sb_printf(b, "### %d. %s\n\n", ++i, f->valuestring);
		if (complete)
			sb_printf(b, "- Acceptance: %s given a valid request exercising \"%s\", when a client calls the service, then it answers 200 with the documented result within the latency SLO; an invalid request answers 400 naming the field.\n\n",
				  INTENT_SPEC_ASSUMPTION, f->valuestring);
	}
	if (i == 0)
		sb_printf(b, "(the Intent lists no features)\n");
}

static void gen_contract(struct sb *b, const struct view *v, int complete)
{
	(void)v;
	(void)complete;
	sb_printf(b, "Every Phoenix service answers these five endpoints (JSON over HTTP).\n\n");
	for (size_t i = 0; i < NCONTRACT; i++)
		sb_printf(b, "### %s %s\n\n- Request: %s\n- Response: %s\n\n", CONTRACT[i].method, CONTRACT[i].path,
			  CONTRACT[i].request, CONTRACT[i].response);
}

static void gen_deps(struct sb *b, const struct view *v, int complete)
{
	const cJSON *d;
	size_t n = 0;

	cJSON_ArrayForEach(d, v->deps) {
		if (!cJSON_IsString(d))
			continue;
		n++;
		sb_printf(b, "- `%s`: called over HTTP.", d->valuestring);
		if (complete)
			sb_printf(b, " On failure: %s retry twice with backoff, then report `%s` down in /health and /dependencies and answer 503 for requests that need it.",
				  INTENT_SPEC_ASSUMPTION, d->valuestring);
		sb_printf(b, "\n");
	}
	if (n == 0)
		sb_printf(b, "None.\n");
}

static void dep_env(char *env, size_t len, const char *dep)
{
	size_t i = 0;

	for (; dep[i] && i + 1 < len; i++)
		env[i] = dep[i] == '-' ? '_' : (char)toupper((unsigned char)dep[i]);
	env[i] = '\0';
}

static void gen_config(struct sb *b, const struct view *v, int complete)
{
	const cJSON *d;

	(void)complete;
	sb_printf(b, "- `PORT`: %d, the port the service listens on.\n", v->port);
	sb_printf(b, "- `SERVICE_NAME`: %s, reported by /capabilities.\n", v->service);
	cJSON_ArrayForEach(d, v->deps) {
		char env[64];

		if (!cJSON_IsString(d))
			continue;
		dep_env(env, sizeof(env), d->valuestring);
		sb_printf(b, "- `%s_URL`: base URL of dependency %s.\n", env, d->valuestring);
	}
}

static void gen_tests(struct sb *b, const struct view *v, int complete)
{
	const cJSON *f;

	sb_printf(b, "- Contract test: each of the five endpoints answers with its documented response shape.\n");
	if (!complete)
		return;
	cJSON_ArrayForEach(f, v->features)
		if (cJSON_IsString(f))
			sb_printf(b, "- Feature test %s: the acceptance criterion of \"%s\" holds, including the invalid request case.\n",
				  INTENT_SPEC_ASSUMPTION, f->valuestring);
}

static void gen_deploy(struct sb *b, const struct view *v, int complete)
{
	(void)complete;
	sb_printf(b, "Deployed as PhoenixService `%s` (one primary plus hot standbys, instant failover) listening on port %d, tier %d, type %s.\n",
		  v->service, v->port, v->tier, v->type);
}

static void gen_slo(struct sb *b, const struct view *v, int complete)
{
	static const char *const avail[] = {"99.99", "99.9", "99.5", "99"};
	static const int p99[] = {100, 200, 500, 1000};

	if (!complete) {
		sb_printf(b, "(to be agreed)\n");
		return;
	}
	sb_printf(b, "- Availability: %s %s%% per 30 days (tier %d).\n- Latency: %s p99 under %d ms for every endpoint.\n",
		  INTENT_SPEC_ASSUMPTION, avail[v->tier], v->tier, INTENT_SPEC_ASSUMPTION, p99[v->tier]);
}

static void (*const GEN[S_COUNT])(struct sb *, const struct view *, int) = {
	gen_purpose, gen_features, gen_contract, gen_deps, gen_config, gen_tests, gen_deploy, gen_slo,
};

static void gen_section(struct sb *b, const struct view *v, enum section s, int complete)
{
	sb_printf(b, "## %s\n\n", SECTION_NAMES[s]);
	GEN[s](b, v, complete);
	sb_printf(b, "\n");
}

int intent_spec_build(const cJSON *intent, char **md)
{
	struct sb b = {0};
	struct view v;

	if (!md)
		return KUBE_EINVAL;
	view_init(intent, &v);
	sb_printf(&b, "# SPEC: %s\n\n", v.service);
	for (int s = 0; s < S_COUNT; s++)
		gen_section(&b, &v, (enum section)s, 0);
	return sb_take(&b, md);
}

/* ---- parsing a SPEC into sections */

struct span {
	const char *p;
	size_t n;
};

/* The body of "## name" (up to the next "## " line), or {NULL, 0}. */
static struct span find_section(const char *md, const char *name)
{
	struct span sp = {NULL, 0};
	size_t nl = strlen(name);

	for (const char *l = md; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		const char *end;

		if (strncmp(l, "## ", 3) != 0 || strncmp(l + 3, name, nl) != 0 || (l[3 + nl] != '\n' && l[3 + nl]))
			continue;
		sp.p = l + 3 + nl;
		end = strstr(sp.p, "\n## ");
		sp.n = end ? (size_t)(end - sp.p) + 1 : strlen(sp.p);
		return sp;
	}
	return sp;
}

/* A NUL-terminated copy of a span's line at *pos, advancing it; 0 at the end. */
static int next_line(struct span sp, size_t *pos, char *line, size_t len)
{
	size_t start = *pos, n;

	if (!sp.p || start >= sp.n)
		return 0;
	while (*pos < sp.n && sp.p[*pos] != '\n')
		(*pos)++;
	n = *pos - start < len - 1 ? *pos - start : len - 1;
	memcpy(line, sp.p + start, n);
	line[n] = '\0';
	if (*pos < sp.n)
		(*pos)++;
	return 1;
}

static int span_has(struct span sp, const char *needle)
{
	size_t nn = strlen(needle);

	for (size_t i = 0; sp.p && nn <= sp.n && i + nn <= sp.n; i++)
		if (memcmp(sp.p + i, needle, nn) == 0)
			return 1;
	return 0;
}

/* ---- verifier */

static void add_finding(struct intent_spec_verdict *v, int lost, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void add_finding(struct intent_spec_verdict *v, int lost, const char *name, const char *fmt, ...)
{
	struct intent_spec_finding *f;
	va_list ap;

	v->score -= lost;
	if (v->nfindings >= INTENT_SPEC_MAX_FINDINGS)
		return;
	f = &v->findings[v->nfindings++];
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->lost = lost;
	va_start(ap, fmt);
	vsnprintf(f->message, sizeof(f->message), fmt, ap);
	va_end(ap);
}

static void verify_purpose(struct span sp, const struct view *v, struct intent_spec_verdict *out)
{
	char text[4096] = "";
	size_t n;

	(void)v;
	if (sp.p)
		snprintf(text, sizeof(text), "%.*s", (int)sp.n, sp.p);
	n = intent_text_specificity(text);
	if (n < 3)
		add_finding(out, POINTS[S_PURPOSE], "purpose-vague", "the purpose says too little (%zu distinct content words, 6 wanted): say who uses the service and for what", n);
	else if (n < 6)
		add_finding(out, POINTS[S_PURPOSE] / 2, "purpose-thin", "the purpose is thin (%zu distinct content words, 6 wanted)", n);
}

/* Features: a "### " heading with 3+ content words and a "- Acceptance:" line with 3+. */
struct feature_scan {
	size_t found, good, first_bad;
	int open, specific, accepted;
	const char *bad_kind;
};

static void feature_close(struct feature_scan *st)
{
	if (!st->open)
		return;
	st->open = 0;
	if (st->specific && st->accepted) {
		st->good++;
		return;
	}
	if (!st->bad_kind) {
		st->bad_kind = st->specific ? "acceptance-missing" : "feature-vague";
		st->first_bad = st->found;
	}
}

static void verify_features(struct span sp, const struct view *v, struct intent_spec_verdict *out)
{
	struct feature_scan st = {0};
	size_t pos = 0, want = count_strings(v->features);
	char line[1024];

	while (next_line(sp, &pos, line, sizeof(line))) {
		if (strncmp(line, "### ", 4) == 0) {
			feature_close(&st);
			st.found++;
			st.open = 1;
			st.specific = intent_text_specificity(line + 4) >= 3;
			st.accepted = 0;
		} else if (strncmp(line, "- Acceptance:", 13) == 0 && intent_text_specificity(line + 13) >= 3) {
			st.accepted = 1;
		}
	}
	feature_close(&st);
	if (want < st.found)
		want = st.found;
	if (want == 0) {
		add_finding(out, POINTS[S_FEATURES], "features-missing", "no features: the Intent's keyFeatures become one section each");
		return;
	}
	if (st.good >= want)
		return;
	add_finding(out, (int)(POINTS[S_FEATURES] * (want - st.good) / want), st.bad_kind ? st.bad_kind : "features-missing",
		    "%zu of %zu features lack a specific description or an acceptance criterion (first: feature %zu)",
		    want - st.good, want, st.first_bad ? st.first_bad : st.found + 1);
}

static void verify_contract(struct span sp, struct intent_spec_verdict *out)
{
	for (size_t i = 0; i < NCONTRACT; i++) {
		char head[64], name[48];
		const char *h;
		struct span ep;

		snprintf(head, sizeof(head), "### %s %s\n", CONTRACT[i].method, CONTRACT[i].path);
		snprintf(name, sizeof(name), "contract-%s", CONTRACT[i].path + 1);
		h = sp.p ? strstr(sp.p, head) : NULL;
		if (!h || h >= sp.p + sp.n) {
			add_finding(out, POINTS[S_CONTRACT] / (int)NCONTRACT, name, "endpoint %s %s is not specified", CONTRACT[i].method, CONTRACT[i].path);
			continue;
		}
		ep.p = h + strlen(head);
		ep.n = (size_t)(sp.p + sp.n - ep.p);
		if (strstr(ep.p, "\n### ") && strstr(ep.p, "\n### ") < ep.p + ep.n)
			ep.n = (size_t)(strstr(ep.p, "\n### ") - ep.p);
		if (!span_has(ep, "- Request:") || !span_has(ep, "- Response: {"))
			add_finding(out, POINTS[S_CONTRACT] / (int)NCONTRACT, name, "endpoint %s lacks its request or JSON response shape", CONTRACT[i].path);
	}
}

static void verify_deps(struct span sp, const struct view *v, struct intent_spec_verdict *out)
{
	const cJSON *d;
	size_t want = count_strings(v->deps), ok = 0;
	const char *first = NULL;

	if (want == 0) {
		if (!span_has(sp, "None"))
			add_finding(out, POINTS[S_DEPS], "dependency-none", "say that the service has no dependencies");
		return;
	}
	cJSON_ArrayForEach(d, v->deps) {
		char key[300];
		size_t pos = 0;
		char line[1024];
		int good = 0;

		if (!cJSON_IsString(d))
			continue;
		snprintf(key, sizeof(key), "`%s`", d->valuestring);
		while (!good && next_line(sp, &pos, line, sizeof(line))) {
			const char *f = strstr(line, "On failure:");

			good = strstr(line, key) && f && intent_text_specificity(f + 11) >= 3;
		}
		if (good)
			ok++;
		else if (!first)
			first = d->valuestring;
	}
	if (ok < want)
		add_finding(out, (int)(POINTS[S_DEPS] * (want - ok) / want), "dependency-failure",
			    "%zu of %zu dependencies have no failure behaviour (first: %s)", want - ok, want, first);
}

static void verify_config(struct span sp, const struct view *v, struct intent_spec_verdict *out)
{
	char port[16];

	snprintf(port, sizeof(port), "%d", v->port);
	if (!span_has(sp, "- `"))
		add_finding(out, POINTS[S_CONFIG], "configuration", "no configuration variables are listed");
	else if (!span_has(sp, port))
		add_finding(out, POINTS[S_CONFIG] / 2, "configuration-port", "the configuration does not give port %d", v->port);
}

static void verify_tests(struct span sp, const struct view *v, struct intent_spec_verdict *out)
{
	size_t pos = 0, want = count_strings(v->features) + 1, got = 0;
	char line[1024];

	while (next_line(sp, &pos, line, sizeof(line)))
		if (strncmp(line, "- ", 2) == 0 && intent_text_specificity(line + 2) >= 3)
			got++;
	if (got < want)
		add_finding(out, (int)(POINTS[S_TESTS] * (want - got) / want), "tests-missing",
			    "%zu tests for %zu features plus the contract (one each wanted)", got, want - 1);
}

static void verify_deploy(struct span sp, const struct view *v, struct intent_spec_verdict *out)
{
	char name[128];

	snprintf(name, sizeof(name), "`%s`", v->service);
	if (!span_has(sp, "PhoenixService") || !span_has(sp, name))
		add_finding(out, POINTS[S_DEPLOY], "deployment", "say that it is deployed as PhoenixService %s", v->service);
}

/* A number followed by '%' (availability) and one followed by " ms" (latency). */
static void verify_slo(struct span sp, struct intent_spec_verdict *out)
{
	int pct = 0, ms = 0;

	for (size_t i = 1; sp.p && i < sp.n; i++) {
		if (!isdigit((unsigned char)sp.p[i - 1]))
			continue;
		pct |= sp.p[i] == '%';
		ms |= i + 2 < sp.n && sp.p[i] == ' ' && sp.p[i + 1] == 'm' && sp.p[i + 2] == 's';
	}
	if (!pct)
		add_finding(out, POINTS[S_SLO] / 2, "slo-availability", "no availability objective (a percentage)");
	if (!ms)
		add_finding(out, POINTS[S_SLO] / 2, "slo-latency", "no latency objective (milliseconds)");
}

int intent_spec_verify(const char *md, const cJSON *intent, struct intent_spec_verdict *out)
{
	struct span sp[S_COUNT];
	struct view v;

	if (!out)
		return KUBE_EINVAL;
	memset(out, 0, sizeof(*out));
	out->score = 100;
	view_init(intent, &v);
	if (!md) {
		add_finding(out, 100, "spec-missing", "there is no SPEC");
		return 0;
	}
	for (int s = 0; s < S_COUNT; s++)
		sp[s] = find_section(md, SECTION_NAMES[s]);
	verify_purpose(sp[S_PURPOSE], &v, out);
	verify_features(sp[S_FEATURES], &v, out);
	verify_contract(sp[S_CONTRACT], out);
	verify_deps(sp[S_DEPS], &v, out);
	verify_config(sp[S_CONFIG], &v, out);
	verify_tests(sp[S_TESTS], &v, out);
	verify_deploy(sp[S_DEPLOY], &v, out);
	verify_slo(sp[S_SLO], out);
	if (out->score < 0)
		out->score = 0;
	return 0;
}

/* ---- optimizer */

static int section_of(const char *finding)
{
	for (size_t i = 0; i < sizeof(FINDING_SECTIONS) / sizeof(FINDING_SECTIONS[0]); i++)
		if (strncmp(finding, FINDING_SECTIONS[i].prefix, strlen(FINDING_SECTIONS[i].prefix)) == 0)
			return (int)FINDING_SECTIONS[i].s;
	return -1;
}

int intent_spec_optimize(const char *md, const cJSON *intent, const struct intent_spec_verdict *verdict,
			 char **out)
{
	int redo[S_COUNT] = {0};
	struct sb b = {0};
	struct view v;
	const char *cur;

	if (!md || !verdict || !out)
		return KUBE_EINVAL;
	view_init(intent, &v);
	for (size_t i = 0; i < verdict->nfindings; i++) {
		int s = section_of(verdict->findings[i].name);

		if (s >= 0)
			redo[s] = 1;
	}
	/* Keep what md says outside the named sections, in its order; rewrite the named ones. */
	cur = md;
	while (*cur) {
		const char *next = strstr(cur + 1, "\n## ");
		size_t n = next ? (size_t)(next - cur) + 1 : strlen(cur);
		int s = -1;

		for (int k = 0; k < S_COUNT && strncmp(cur, "## ", 3) == 0; k++)
			if (find_section(cur, SECTION_NAMES[k]).p == cur + 3 + strlen(SECTION_NAMES[k]))
				s = k;
		if (s >= 0 && redo[s])
			gen_section(&b, &v, (enum section)s, 1);
		else
			sb_append(&b, cur, n);
		cur += n;
	}
	for (int s = 0; s < S_COUNT; s++)
		if (!find_section(md, SECTION_NAMES[s]).p)
			gen_section(&b, &v, (enum section)s, 1);
	return sb_take(&b, out);
}

/* ---- the gated loop */

void intent_spec_outcome_release(struct intent_spec_outcome *out)
{
	if (!out)
		return;
	free(out->md);
	out->md = NULL;
}

int intent_spec_run(const cJSON *intent, const char *start_md, int gate, int max_passes,
		    struct intent_spec_outcome *out)
{
	char *md = NULL, *next = NULL;
	struct intent_spec_verdict nv;
	int rc;

	if (!out || max_passes < 1)
		return KUBE_EINVAL;
	memset(out, 0, sizeof(*out));
	if (start_md) {
		md = strdup(start_md);
		rc = md ? 0 : KUBE_ENOMEM;
	} else
		rc = intent_spec_build(intent, &md);
	if (rc < 0)
		goto out;
	intent_spec_verify(md, intent, &out->verdict);
	out->passes = 1;
	while (out->verdict.score < gate && out->passes < max_passes) {
		rc = intent_spec_optimize(md, intent, &out->verdict, &next);
		if (rc < 0)
			goto out;
		intent_spec_verify(next, intent, &nv);
		out->passes++;
		if (nv.score <= out->verdict.score) {
			free(next);
			break;
		}
		free(md);
		md = next;
		out->verdict = nv;
	}
	out->passed = out->verdict.score >= gate;
	out->md = md;
	md = NULL;
out:
	free(md);
	return rc;
}
