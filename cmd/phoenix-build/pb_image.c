/* The `local` image builder's pure parts (see pb_image.h). */
#include "pb_image.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *trim(char *s)
{
	while (*s && isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* The exec form (a JSON array of strings) or the shell form of ENTRYPOINT/CMD. */
static cJSON *command_of(const char *arg)
{
	if (arg[0] == '[') {
		cJSON *a = cJSON_Parse(arg);
		bool ok = cJSON_IsArray(a) && cJSON_GetArraySize(a) > 0;
		const cJSON *e;
		cJSON_ArrayForEach(e, a)
			ok = ok && cJSON_IsString(e);
		if (ok)
			return a;
		cJSON_Delete(a);
	}
	cJSON *a = cJSON_CreateArray();
	cJSON_AddItemToArray(a, cJSON_CreateString("/bin/sh"));
	cJSON_AddItemToArray(a, cJSON_CreateString("-c"));
	cJSON_AddItemToArray(a, cJSON_CreateString(arg));
	return a;
}

static void env_of(cJSON *env, char *arg)
{
	/* ENV KEY=VALUE [KEY=VALUE ...] or ENV KEY VALUE */
	char *eq = strchr(arg, '=');
	char *sp = strpbrk(arg, " \t");
	if (!eq || (sp && sp < eq)) {
		if (!sp)
			return;
		*sp = '\0';
		char kv[1024];
		snprintf(kv, sizeof(kv), "%s=%s", arg, trim(sp + 1));
		cJSON_AddItemToArray(env, cJSON_CreateString(kv));
		return;
	}
	for (char *tok = strtok(arg, " \t"); tok; tok = strtok(NULL, " \t")) {
		size_t n = strlen(tok);
		char *v = strchr(tok, '=');
		if (!v)
			continue;
		if (v[1] == '"' && n > 0 && tok[n - 1] == '"' && tok + n - 1 > v + 1) {
			tok[n - 1] = '\0';
			memmove(v + 1, v + 2, strlen(v + 2) + 1);
		}
		cJSON_AddItemToArray(env, cJSON_CreateString(tok));
	}
}

cJSON *pb_image_manifest(const char *dockerfile)
{
	if (!dockerfile)
		return NULL;
	char *text = strdup(dockerfile);
	if (!text)
		return NULL;
	/* join continuation lines */
	for (char *p = text; (p = strchr(p, '\\'));) {
		char *q = p + 1;
		while (*q == ' ' || *q == '\t' || *q == '\r')
			q++;
		if (*q == '\n') {
			*p = ' ';
			memset(p + 1, ' ', (size_t)(q - p));
			p = q + 1;
		} else {
			p++;
		}
	}
	cJSON *m = cJSON_CreateObject();
	cJSON *env = cJSON_CreateArray();
	cJSON *entry = NULL, *cmd = NULL;
	char *workdir = NULL;
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *l = trim(line);
		if (!*l || *l == '#')
			continue;
		char *arg = l + strcspn(l, " \t");
		if (*arg)
			*arg++ = '\0';
		arg = trim(arg);
		if (!strcasecmp(l, "ENTRYPOINT")) {
			cJSON_Delete(entry);
			entry = command_of(arg);
		} else if (!strcasecmp(l, "CMD")) {
			cJSON_Delete(cmd);
			cmd = command_of(arg);
		} else if (!strcasecmp(l, "WORKDIR")) {
			workdir = arg[0] == '/' ? NULL : arg;
		} else if (!strcasecmp(l, "ENV")) {
			env_of(env, arg);
		} else if (!strcasecmp(l, "FROM")) {
			/* a new stage: what it says replaces the earlier one's */
			cJSON_Delete(entry);
			cJSON_Delete(cmd);
			entry = cmd = NULL;
		}
	}
	if (!entry && !cmd) {
		cJSON_Delete(m);
		cJSON_Delete(env);
		free(text);
		return NULL;
	}
	if (entry)
		cJSON_AddItemToObject(m, "entrypoint", entry);
	if (cmd)
		cJSON_AddItemToObject(m, "cmd", cmd);
	if (cJSON_GetArraySize(env) > 0)
		cJSON_AddItemToObject(m, "env", env);
	else
		cJSON_Delete(env);
	if (workdir && *workdir)
		cJSON_AddStringToObject(m, "workdir", workdir);
	free(text);
	return m;
}

char *pb_image_name(const char *ref, char *out, size_t cap)
{
	snprintf(out, cap, "%s", ref ? ref : "");
	char *at = strchr(out, '@');
	if (at)
		*at = '\0';
	char *slash = strrchr(out, '/');
	char *colon = strrchr(slash ? slash : out, ':');
	if (colon)
		*colon = '\0';
	return out;
}

char *pb_image_store_name(const char *ref, char *out, size_t cap)
{
	snprintf(out, cap, "%s", ref ? ref : "");
	for (char *p = out; *p; p++)
		if (*p == '/' || *p == ':')
			*p = '_';
	return out;
}
