/* Parsing and validation of Build step termination messages (phx_build_report.h). */
#include "build/phx_build_report.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kube_error.h"

enum form { ANY, WORD, HEX, DIGEST };

static bool all_of(const char *s, int (*pred)(int))
{
	for (; *s; s++)
		if (!pred((unsigned char)*s))
			return false;
	return true;
}

static int is_lower_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool phx_build_image_digest_valid(const char *s)
{
	const char *at = s ? strstr(s, "@sha256:") : NULL;
	if (!at || at == s || strlen(at + 8) != 64 || !all_of(at + 8, is_lower_hex))
		return false;
	for (const char *p = s; p < at; p++)
		if (isspace((unsigned char)*p) || *p == '@')
			return false;
	return true;
}

static bool form_ok(const char *v, enum form f)
{
	size_t n = strlen(v);
	switch (f) {
	case WORD: return n > 0 && all_of(v, isalnum);
	case HEX: return n >= 7 && n <= 64 && all_of(v, is_lower_hex);
	case DIGEST: return phx_build_image_digest_valid(v);
	case ANY: break;
	}
	return true;
}

/* Drops a UTF-8 sequence that a cut at the end of dst left incomplete. */
static void trim_partial_utf8(char *dst)
{
	size_t n = strlen(dst), j = n;
	while (j > 0 && n - j < 3 && ((unsigned char)dst[j - 1] & 0xc0) == 0x80)
		j--;
	if (j == 0 || (unsigned char)dst[j - 1] < 0xc0)
		return;
	unsigned char lead = (unsigned char)dst[j - 1];
	size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
	if (n - (j - 1) < want)
		dst[j - 1] = '\0';
}

/* Copies string field `key` into dst[cap] when it has the right type and form. */
static void take(const cJSON *o, const char *key, enum form f, char *dst, size_t cap,
		 struct phx_build_step_report *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!v)
		return;
	const char *s = cJSON_GetStringValue(v);
	if (s && strlen(s) < cap && form_ok(s, f)) {
		snprintf(dst, cap, "%s", s);
		return;
	}
	if (s && f == ANY) { /* free text: keep what fits */
		snprintf(dst, cap, "%s", s);
		trim_partial_utf8(dst);
		return;
	}
	if (!out->bad_field[0])
		snprintf(out->bad_field, sizeof(out->bad_field), "%s", key);
}

/* The last bytes of a non-JSON text, not starting inside a UTF-8 sequence. */
static void keep_tail(const char *text, char *dst, size_t cap)
{
	size_t n = strlen(text);
	const char *p = n >= cap ? text + n - (cap - 1) : text;
	while (*p && ((unsigned char)*p & 0xc0) == 0x80)
		p++;
	snprintf(dst, cap, "%s", p);
}

int phx_build_step_report_parse(const char *text, struct phx_build_step_report *out)
{
	cJSON *o = NULL;
	int rc = 0;
	if (!out)
		return KUBE_EINVAL;
	memset(out, 0, sizeof(*out));
	out->exit_code = -1;
	if (!text || !*text)
		goto out;
	o = cJSON_Parse(text);
	if (!cJSON_IsObject(o)) {
		keep_tail(text, out->message, sizeof(out->message));
		rc = KUBE_EPARSE;
		goto out;
	}
	out->json = true;
	take(o, "step", WORD, out->step, sizeof(out->step), out);
	take(o, "result", WORD, out->result, sizeof(out->result), out);
	take(o, "reason", WORD, out->reason, sizeof(out->reason), out);
	take(o, "warning", WORD, out->warning, sizeof(out->warning), out);
	take(o, "buildSystem", WORD, out->build_system, sizeof(out->build_system), out);
	take(o, "testCommand", ANY, out->test_command, sizeof(out->test_command), out);
	take(o, "commitSha", HEX, out->commit_sha, sizeof(out->commit_sha), out);
	take(o, "image", DIGEST, out->image, sizeof(out->image), out);
	take(o, "message", ANY, out->message, sizeof(out->message), out);
	const cJSON *ec = cJSON_GetObjectItemCaseSensitive(o, "exitCode");
	if (cJSON_IsNumber(ec) && ec->valuedouble >= 0 && ec->valuedouble <= 255)
		out->exit_code = (int)ec->valuedouble;
	else if (ec && !out->bad_field[0])
		snprintf(out->bad_field, sizeof(out->bad_field), "exitCode");
out:
	cJSON_Delete(o);
	return rc;
}
