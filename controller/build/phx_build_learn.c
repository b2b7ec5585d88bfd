/* What Builds learn (see phx_build_learn.h). */
#include "phx_build_learn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_error.h"
#include "kube_json.h"
#include "kube_time.h"

static bool eq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static int clamp_factor(int64_t f)
{
	return f < 1 ? 1 : f > PHX_BUILD_LEARN_FACTOR_MAX ? PHX_BUILD_LEARN_FACTOR_MAX : (int)f;
}

char *phx_build_learn_key(const char *service, const char *build_system, char *buf, size_t len)
{
	if (!buf || !len)
		return buf;
	snprintf(buf, len, "%s.%s", service && *service ? service : "unknown",
		 build_system && *build_system ? build_system : "unknown");
	for (char *p = buf; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_'))
			*p = '_';
	return buf;
}

int phx_build_learn_parse(const char *value, struct phx_build_learned *out)
{
	if (!out)
		return KUBE_EINVAL;
	memset(out, 0, sizeof(*out));
	out->memory_factor = out->deadline_factor = 1;
	if (!value)
		return KUBE_EINVAL;
	cJSON *j = cJSON_Parse(value);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return KUBE_EINVAL;
	}
	int rc = 0;
	const cJSON *b = cJSON_GetObjectItem(j, "builds");
	const cJSON *f = cJSON_GetObjectItem(j, "failures");
	const cJSON *s = cJSON_GetObjectItem(j, "stepMs");
	if (!cJSON_IsNumber(b) || b->valuedouble < 0 || (f && !cJSON_IsObject(f)) ||
	    (s && !cJSON_IsObject(s))) {
		rc = KUBE_EINVAL;
		goto out;
	}
	out->builds = (int64_t)b->valuedouble;
	kube_json_get_int(j, &out->succeeded, "succeeded", NULL);
	int64_t v = 1;
	if (kube_json_get_int(j, &v, "memoryFactor", NULL))
		out->memory_factor = clamp_factor(v);
	v = 1;
	if (kube_json_get_int(j, &v, "deadlineFactor", NULL))
		out->deadline_factor = clamp_factor(v);
	const char *r = kube_json_get_str(j, "remediation", NULL);
	snprintf(out->remediation, sizeof(out->remediation), "%s", r ? r : "");
	const char *u = kube_json_get_str(j, "updatedAt", NULL);
	snprintf(out->updated_at, sizeof(out->updated_at), "%s", u ? u : "");
	const cJSON *e;
	cJSON_ArrayForEach(e, f) {
		if (!cJSON_IsNumber(e) || out->nfailures >= PHX_BUILD_LEARN_CLASSES)
			continue;
		snprintf(out->failures[out->nfailures].name, sizeof(out->failures[0].name), "%s",
			 e->string);
		out->failures[out->nfailures++].count = (int64_t)e->valuedouble;
	}
	cJSON_ArrayForEach(e, s) {
		if (!cJSON_IsNumber(e) || out->nsteps >= PHX_BUILD_LEARN_STEPS)
			continue;
		snprintf(out->steps[out->nsteps].name, sizeof(out->steps[0].name), "%s", e->string);
		out->steps[out->nsteps++].ms = (int64_t)e->valuedouble;
	}
out:
	cJSON_Delete(j);
	if (rc) {
		memset(out, 0, sizeof(*out));
		out->memory_factor = out->deadline_factor = 1;
	}
	return rc;
}

static char *format_n(const struct phx_build_learned *l, int nf, int ns)
{
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return NULL;
	cJSON_AddNumberToObject(j, "builds", (double)l->builds);
	cJSON_AddNumberToObject(j, "succeeded", (double)l->succeeded);
	cJSON *f = cJSON_AddObjectToObject(j, "failures");
	for (int i = l->nfailures - nf; i < l->nfailures; i++)
		cJSON_AddNumberToObject(f, l->failures[i].name, (double)l->failures[i].count);
	cJSON_AddNumberToObject(j, "memoryFactor", clamp_factor(l->memory_factor));
	cJSON_AddNumberToObject(j, "deadlineFactor", clamp_factor(l->deadline_factor));
	if (l->remediation[0])
		cJSON_AddStringToObject(j, "remediation", l->remediation);
	cJSON *s = cJSON_AddObjectToObject(j, "stepMs");
	for (int i = l->nsteps - ns; i < l->nsteps; i++)
		cJSON_AddNumberToObject(s, l->steps[i].name, (double)l->steps[i].ms);
	if (l->updated_at[0])
		cJSON_AddStringToObject(j, "updatedAt", l->updated_at);
	char *txt = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return txt;
}

char *phx_build_learn_format(const struct phx_build_learned *l)
{
	if (!l)
		return NULL;
	int nf = l->nfailures, ns = l->nsteps;
	for (;;) {
		char *txt = format_n(l, nf, ns);
		if (!txt || strlen(txt) < PHX_BUILD_LEARN_VALUE_MAX || (nf == 0 && ns == 0))
			return txt;
		free(txt);
		if (nf > 0)
			nf--;
		else
			ns--;
	}
}

static void count_failure(struct phx_build_learned *l, const char *cls)
{
	for (int i = 0; i < l->nfailures; i++)
		if (eq(l->failures[i].name, cls)) {
			l->failures[i].count++;
			return;
		}
	if (l->nfailures == PHX_BUILD_LEARN_CLASSES) {
		memmove(&l->failures[0], &l->failures[1],
			sizeof(l->failures[0]) * (PHX_BUILD_LEARN_CLASSES - 1));
		l->nfailures--;
	}
	snprintf(l->failures[l->nfailures].name, sizeof(l->failures[0].name), "%s", cls);
	l->failures[l->nfailures++].count = 1;
}

static void observe_step(struct phx_build_learned *l, const char *name, int64_t ms)
{
	for (int i = 0; i < l->nsteps; i++)
		if (eq(l->steps[i].name, name)) {
			l->steps[i].ms = (3 * l->steps[i].ms + ms) / 4;
			return;
		}
	if (l->nsteps == PHX_BUILD_LEARN_STEPS)
		return;
	snprintf(l->steps[l->nsteps].name, sizeof(l->steps[0].name), "%s", name);
	l->steps[l->nsteps++].ms = ms;
}

void phx_build_learn_update(struct phx_build_learned *l, const cJSON *status, const char *result,
			    const char *now)
{
	if (!l || !status)
		return;
	l->builds++;
	bool ok = eq(result, "Succeeded");
	if (ok)
		l->succeeded++;
	const cJSON *h;
	const char *fixed_by = NULL;
	cJSON_ArrayForEach(h, kube_json_get(status, "history", NULL)) {
		const char *cls = kube_json_get_str(h, "class", NULL);
		if (cls && *cls && !eq(cls, "Succeeded"))
			count_failure(l, cls);
		const char *rem = kube_json_get_str(h, "remediation", NULL);
		if (eq(kube_json_get_str(h, "outcome", NULL), "Retried") && rem && !eq(rem, "None"))
			fixed_by = rem;
	}
	if (ok) {
		int64_t mf = 1, df = 1;
		kube_json_get_int(status, &mf, "retry", "memoryFactor", NULL);
		kube_json_get_int(status, &df, "retry", "deadlineFactor", NULL);
		l->memory_factor = clamp_factor(mf);
		l->deadline_factor = clamp_factor(df);
		snprintf(l->remediation, sizeof(l->remediation), "%s", fixed_by ? fixed_by : "");
	}
	const cJSON *s;
	cJSON_ArrayForEach(s, kube_json_get(status, "steps", NULL)) {
		int64_t a = 0, b = 0;
		const char *n = kube_json_get_str(s, "name", NULL);
		const char *sa = kube_json_get_str(s, "startTime", NULL);
		const char *ca = kube_json_get_str(s, "completionTime", NULL);
		if (!n || !sa || !ca || !eq(kube_json_get_str(s, "phase", NULL), "Succeeded") ||
		    kube_time_parse_ms(sa, &a) != 0 || kube_time_parse_ms(ca, &b) != 0 || b < a)
			continue;
		observe_step(l, n, b - a);
	}
	snprintf(l->updated_at, sizeof(l->updated_at), "%s", now ? now : "");
}

void phx_build_learn_start(const struct phx_build_learned *l, int64_t deadline_s,
			   int *memory_factor, int *deadline_factor)
{
	int mf = 1, df = 1;
	if (l) {
		mf = clamp_factor(l->memory_factor);
		df = clamp_factor(l->deadline_factor);
		int64_t total = 0;
		for (int i = 0; i < l->nsteps; i++)
			total += l->steps[i].ms > 0 ? l->steps[i].ms : 0;
		if (deadline_s > 0) {
			int64_t need = (3 * total + deadline_s * 1000 - 1) / (deadline_s * 1000);
			int f = 1;
			while (f < need && f < PHX_BUILD_LEARN_FACTOR_MAX)
				f *= 2;
			if (f > df)
				df = clamp_factor(f);
		}
	}
	if (memory_factor)
		*memory_factor = mf;
	if (deadline_factor)
		*deadline_factor = df;
}

int phx_build_learn_pick(const cJSON *data, const char *service, struct phx_build_learned *out,
			 char *key, size_t key_len)
{
	if (!out)
		return KUBE_EINVAL;
	phx_build_learn_parse(NULL, out);
	if (key && key_len)
		key[0] = '\0';
	if (!service)
		return 0;
	char prefix[160];
	phx_build_learn_key(service, "", prefix, sizeof(prefix));
	size_t pl = strlen(prefix) - strlen("unknown");
	const cJSON *e, *best = NULL;
	char best_at[32] = "";
	struct phx_build_learned tmp;
	cJSON_ArrayForEach(e, data) {
		if (!e->string || strncmp(e->string, prefix, pl) || !cJSON_IsString(e))
			continue;
		const char *at = phx_build_learn_parse(e->valuestring, &tmp) == 0 ? tmp.updated_at
										   : "";
		if (!best || strcmp(at, best_at) > 0) {
			best = e;
			snprintf(best_at, sizeof(best_at), "%s", at);
		}
	}
	if (!best)
		return 0;
	if (key && key_len)
		snprintf(key, key_len, "%s", best->string);
	return phx_build_learn_parse(best->valuestring, out) == 0 ? 1 : KUBE_EINVAL;
}

cJSON *phx_build_learn_patch(const cJSON *data, const char *key, const char *value,
			     int *corrupt)
{
	int bad = 0;
	cJSON *p = cJSON_CreateObject();
	cJSON *d = p ? cJSON_AddObjectToObject(p, "data") : NULL;
	if (!d || !key || !value) {
		cJSON_Delete(p);
		return NULL;
	}
	cJSON_AddStringToObject(d, key, value);
	/* The others, valid ones by updatedAt; corrupt ones go. */
	struct ent { const char *key; char at[32]; } ents[PHX_BUILD_LEARN_MAX_KEYS * 2];
	int n = 0;
	const cJSON *e;
	struct phx_build_learned tmp;
	cJSON_ArrayForEach(e, data) {
		if (!e->string || eq(e->string, key))
			continue;
		if (!cJSON_IsString(e) || phx_build_learn_parse(e->valuestring, &tmp) != 0) {
			bad++;
			cJSON_AddNullToObject(d, e->string);
			continue;
		}
		if (n < (int)(sizeof(ents) / sizeof(ents[0]))) {
			ents[n].key = e->string;
			snprintf(ents[n].at, sizeof(ents[n].at), "%s", tmp.updated_at);
			n++;
		} else {
			cJSON_AddNullToObject(d, e->string);
		}
	}
	/* Keep the newest MAX_KEYS - 1 besides key. */
	while (n > PHX_BUILD_LEARN_MAX_KEYS - 1) {
		int old = 0;
		for (int i = 1; i < n; i++)
			if (strcmp(ents[i].at, ents[old].at) < 0)
				old = i;
		cJSON_AddNullToObject(d, ents[old].key);
		ents[old] = ents[--n];
	}
	if (corrupt)
		*corrupt = bad;
	return p;
}
