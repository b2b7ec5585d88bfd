/* libFuzzer harness: kubesim's list paging with an arbitrary continue token, given raw (the
 * base64 layer) or base64url-encoded (the JSON inside), over a store with a few objects, a
 * deletion and a compaction behind it. Must answer 200, 400 or 410 and never crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sim_registry.h"
#include "sim_store.h"

static struct sim_store *store;

static void create(const char *name)
{
	char text[160];
	snprintf(text, sizeof(text),
		 "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"%s\","
		 "\"namespace\":\"default\"},\"data\":{\"k\":\"v\"}}", name);
	cJSON *body = cJSON_Parse(text);
	struct sim_req r = { .verb = SIM_CREATE, .version = "v1", .resource = "configmaps",
			     .ns = "default", .body = body, .grace_seconds = -1 };
	cJSON *status = NULL;
	sim_store_do(store, &r, NULL, &status);
	cJSON_Delete(status);
	cJSON_Delete(body);
}

static void setup_once(void)
{
	struct sim_registry *reg = NULL;
	if (store || sim_registry_new(&reg) != 0 || sim_store_new(reg, 16, &store) != 0)
		return;
	const char *names[] = { "a", "b", "c", "d", "e", "f", "g" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		create(names[i]);
	struct sim_req del = { .verb = SIM_DELETE, .version = "v1", .resource = "configmaps",
			       .ns = "default", .name = "c", .grace_seconds = -1 };
	cJSON *status = NULL;
	sim_store_do(store, &del, NULL, &status);
	cJSON_Delete(status);
}

static char *b64url(const uint8_t *d, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *out = malloc(4 * (n / 3 + 1) + 1), *p = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
			     (i + 2 < n ? d[i + 2] : 0);
		*p++ = tab[v >> 18 & 63];
		*p++ = tab[v >> 12 & 63];
		if (i + 1 < n)
			*p++ = tab[v >> 6 & 63];
		if (i + 2 < n)
			*p++ = tab[v & 63];
	}
	*p = '\0';
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup_once();
	if (!store || size < 1)
		return 0;
	char *tok;
	if (data[0] & 1) {
		tok = b64url(data + 1, size - 1);
	} else {
		tok = malloc(size);
		if (tok) {
			memcpy(tok, data + 1, size - 1);
			tok[size - 1] = '\0';
		}
	}
	if (!tok)
		return 0;
	struct sim_req r = { .verb = SIM_LIST, .version = "v1", .resource = "configmaps",
			     .ns = (data[0] & 2) ? "default" : NULL, .limit = (data[0] >> 2) & 3,
			     .continue_token = tok, .grace_seconds = -1 };
	struct sim_snap *snap = NULL;
	cJSON *status = NULL;
	int code = sim_store_do(store, &r, &snap, &status);
	if (code != 200 && code != 400 && code != 410)
		abort();
	for (size_t i = 0; snap && i < sim_snap_len(snap); i++)
		(void)sim_snap_json(snap, i);
	sim_snap_free(snap);
	cJSON_Delete(status);
	free(tok);
	return 0;
}
