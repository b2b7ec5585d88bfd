/* Termination-message formatting for phoenix-build (see pb_report.h). */
#include "pb_report.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kube_error.h"

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 when invalid: overlong forms,
 * surrogates and code points above U+10FFFF are invalid too (RFC 3629), as a strict JSON
 * reader requires. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (len > n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* Copies s into a new string safe for JSON and UTF-8 (see pb_report_format). */
static char *sanitize(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(n + 1);
	size_t o = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t len = utf8_seq((const unsigned char *)s + i, n - i);
		if (len == 0) {
			out[o++] = '?';
			i++;
		} else if (len == 1) {
			out[o++] = (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? ' ' : (char)c;
			i++;
		} else {
			memcpy(out + o, s + i, len);
			o += len;
			i += len;
		}
	}
	out[o] = '\0';
	return out;
}

char *pb_report_sanitize(const char *s)
{
	return s ? sanitize(s) : NULL;
}

static void add_str(cJSON *o, const char *key, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, key, v);
}

/* Formats with the message text `msg`; returns the malloc'd line or NULL. */
static char *format_once(const struct pb_report *r, const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *line = NULL;
	if (!o)
		return NULL;
	add_str(o, "step", r->step);
	add_str(o, "result", r->result);
	add_str(o, "reason", r->reason);
	add_str(o, "warning", r->warning);
	add_str(o, "buildSystem", r->build_system);
	add_str(o, "testCommand", r->test_command);
	add_str(o, "commitSha", r->commit_sha);
	add_str(o, "image", r->image);
	add_str(o, "contextDir", r->context_dir);
	add_str(o, "language", r->language);
	if (r->exit_code >= 0)
		cJSON_AddNumberToObject(o, "exitCode", r->exit_code);
	add_str(o, "message", msg);
	line = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return line;
}

/* Builds message + "\n" + tail[skip..], skipping UTF-8 continuation bytes at the cut. */
static char *join(const char *msg, const char *tail, size_t skip, size_t msg_max)
{
	size_t ml = msg ? strlen(msg) : 0;
	size_t tl = tail ? strlen(tail) : 0;
	if (ml > msg_max) {
		ml = msg_max;
		while (ml > 0 && ((unsigned char)msg[ml] & 0xc0) == 0x80)
			ml--;
	}
	while (skip < tl && ((unsigned char)tail[skip] & 0xc0) == 0x80)
		skip++;
	tl = skip < tl ? tl - skip : 0;
	char *s = malloc(ml + tl + 2);
	if (!s)
		return NULL;
	memcpy(s, msg ? msg : "", ml);
	size_t o = ml;
	if (tl) {
		if (ml)
			s[o++] = '\n';
		memcpy(s + o, tail + skip, tl);
		o += tl;
	}
	s[o] = '\0';
	return s;
}

int pb_report_format(const struct pb_report *r, char *out, size_t cap)
{
	char *msg = NULL, *tail = NULL, *line = NULL;
	int rc = KUBE_ENOMEM;
	if (!r || !out || cap == 0 || cap > PB_REPORT_MAX)
		return KUBE_EINVAL;
	msg = r->message ? sanitize(r->message) : NULL;
	tail = r->tail ? sanitize(r->tail) : NULL;
	if ((r->message && !msg) || (r->tail && !tail))
		goto out;
	size_t tl = tail ? strlen(tail) : 0;
	size_t skip = 0, msg_max = msg ? strlen(msg) : 0;
	for (;;) {
		char *text = (msg || tail) ? join(msg, tail, skip, msg_max) : NULL;
		if ((msg || tail) && !text)
			goto out;
		free(line);
		line = format_once(r, text);
		free(text);
		if (!line)
			goto out;
		size_t len = strlen(line);
		if (len < cap)
			break;
		size_t excess = len - cap + 1;
		if (skip < tl)
			skip += excess / 2 + 16; /* an escaped byte is at most 2: no overshoot */
		else if (msg_max > 0)
			msg_max = msg_max > excess / 2 + 16 ? msg_max - excess / 2 - 16 : 0;
		else {
			rc = KUBE_ETOOBIG; /* the fixed fields alone do not fit */
			goto out;
		}
	}
	memcpy(out, line, strlen(line) + 1);
	rc = (int)strlen(line);
out:
	free(msg);
	free(tail);
	free(line);
	return rc;
}

int pb_report_write(const char *path, const struct pb_report *r, size_t cap)
{
	char line[PB_REPORT_MAX];
	int n = pb_report_format(r, line, cap);
	if (n == KUBE_ETOOBIG) {
		/* Long fixed fields (command, contextDir): the outcome matters more than they do. */
		struct pb_report brief = { .step = r->step, .result = r->result, .reason = r->reason,
					   .warning = r->warning, .build_system = r->build_system,
					   .commit_sha = r->commit_sha, .image = r->image,
					   .exit_code = r->exit_code };
		n = pb_report_format(&brief, line, cap);
	}
	if (n < 0)
		return n;
	fprintf(stderr, "phoenix-build: %s\n", line);
	FILE *f = path ? fopen(path, "w") : NULL;
	if (!f)
		return KUBE_EIO;
	bool ok = fwrite(line, 1, (size_t)n, f) == (size_t)n;
	ok = (fclose(f) == 0) && ok;
	return ok ? 0 : KUBE_EIO;
}
