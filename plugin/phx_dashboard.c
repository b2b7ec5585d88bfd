/* The Phoenix dashboard in the terminal: turns PhoenixService objects into aligned tables.
 * Cells are padded before colour codes are added, so colour never breaks the alignment. */
#include "phx_dashboard.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube_json.h"
#include "kube_time.h"

#define C_RESET "\033[0m"
#define C_BOLD "\033[1m"
#define C_DIM "\033[2m"
#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_CYAN "\033[36m"

#define MAX_COLS 12

/* One table: rows of malloc'd cells, each with an optional colour. */
struct table {
	int ncol;
	int nrow;
	int cap;
	char **cells;        /* nrow * ncol */
	const char **colors; /* nrow * ncol, NULL = plain */
};

static int table_add_row(struct table *t)
{
	if (t->nrow == t->cap) {
		int cap = t->cap ? t->cap * 2 : 16;
		char **cells = realloc(t->cells, sizeof(*cells) * (size_t)cap * (size_t)t->ncol);
		if (!cells)
			return -1;
		t->cells = cells;
		const char **colors = realloc(t->colors, sizeof(*colors) * (size_t)cap * (size_t)t->ncol);
		if (!colors)
			return -1;
		t->colors = colors;
		t->cap = cap;
	}
	for (int c = 0; c < t->ncol; c++) {
		t->cells[t->nrow * t->ncol + c] = NULL;
		t->colors[t->nrow * t->ncol + c] = NULL;
	}
	t->nrow++;
	return 0;
}

/* Sets a cell of the last row; printf-style. A failed allocation leaves the cell empty. */
static void table_set(struct table *t, int col, const char *color, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void table_set(struct table *t, int col, const char *color, const char *fmt, ...)
{
	int i = (t->nrow - 1) * t->ncol + col;
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	free(t->cells[i]);
	t->cells[i] = s;
	t->colors[i] = color;
}

static void table_release(struct table *t)
{
	for (int i = 0; i < t->nrow * t->ncol; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->colors);
	memset(t, 0, sizeof(*t));
}

/* Display width of a UTF-8 string: counts code points, which is right for the text we print. */
static int utf8_width(const char *s)
{
	int w = 0;
	for (; s && *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	return w;
}

/* Prints the table with columns padded to the widest cell; after(row) runs after each row so
 * a caller can put detail lines right under a row without breaking the alignment. */
static void table_print(FILE *out, const struct table *t, const char *indent, bool color,
			int header_rows, void (*after)(FILE *out, int row, void *ud), void *ud)
{
	int width[MAX_COLS] = {0};

	for (int r = 0; r < t->nrow; r++)
		for (int c = 0; c < t->ncol; c++) {
			int w = utf8_width(t->cells[r * t->ncol + c]);
			if (w > width[c])
				width[c] = w;
		}
	for (int r = 0; r < t->nrow; r++) {
		fputs(indent, out);
		for (int c = 0; c < t->ncol; c++) {
			const char *cell = t->cells[r * t->ncol + c] ? t->cells[r * t->ncol + c] : "";
			const char *col = r < header_rows ? C_BOLD : t->colors[r * t->ncol + c];
			bool last = c == t->ncol - 1;
			int pad = last ? 0 : width[c] - utf8_width(cell) + 2;

			if (color && col)
				fprintf(out, "%s%s%s", col, cell, C_RESET);
			else
				fputs(cell, out);
			fprintf(out, "%*s", pad, "");
		}
		fputc('\n', out);
		if (after)
			after(out, r, ud);
	}
}

int phx_dash_parse_time(const char *s, time_t *out)
{
	int64_t sec;
	int32_t nsec;

	if (!s || kube_time_parse(s, &sec, &nsec) != 0)
		return -1;
	*out = (time_t)sec;
	return 0;
}

char *phx_dash_fmt_age(char *buf, size_t n, time_t now, time_t t)
{
	long d = (long)(now - t);

	if (t <= 0) {
		snprintf(buf, n, "-");
		return buf;
	}
	if (d < 0)
		d = 0;
	if (d < 60)
		snprintf(buf, n, "%lds", d);
	else if (d < 3600)
		snprintf(buf, n, "%ldm%02lds", d / 60, d % 60);
	else if (d < 86400)
		snprintf(buf, n, "%ldh%02ldm", d / 3600, d % 3600 / 60);
	else
		snprintf(buf, n, "%ldd%ldh", d / 86400, d % 86400 / 3600);
	return buf;
}

static const char *phase_color(const char *phase)
{
	if (!phase)
		return C_DIM;
	if (!strcmp(phase, "Healthy"))
		return C_GREEN;
	if (!strcmp(phase, "Degraded") || !strcmp(phase, "Invalid"))
		return C_RED;
	if (!strcmp(phase, "FailingOver") || !strcmp(phase, "Recovering"))
		return C_YELLOW;
	return C_CYAN;
}

static int64_t get_int(const cJSON *o, const char *a, const char *b, int64_t dflt)
{
	int64_t v = dflt;
	if (b)
		kube_json_get_int(o, &v, a, b, NULL);
	else
		kube_json_get_int(o, &v, a, NULL);
	return v;
}

/* Joins the strings of a JSON array with ", " into buf; "-" when empty or missing. */
static const char *join_names(char *buf, size_t n, const cJSON *arr)
{
	const cJSON *it;
	size_t len = 0;

	buf[0] = '\0';
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it))
			continue;
		int w = snprintf(buf + len, n - len, "%s%s", len ? ", " : "", it->valuestring);
		if (w < 0 || (size_t)w >= n - len) {
			/* Truncated: end with an ellipsis rather than a cut name. */
			if (n > 4)
				memcpy(buf + n - 4, "...", 4);
			break;
		}
		len += (size_t)w;
	}
	if (!buf[0])
		snprintf(buf, n, "-");
	return buf;
}

static bool is_paused(const cJSON *svc)
{
	return kube_json_get_bool(svc, false, "spec", "paused", NULL);
}

/* The message of the Invalid=True condition, or NULL when the spec is not known to be invalid.
 * Phase Invalid without the condition gets a generic text. */
static const char *invalid_message(const cJSON *st)
{
	const char *phase = kube_json_get_str(st, "phase", NULL);
	const cJSON *c;

	cJSON_ArrayForEach(c, kube_json_get(st, "conditions", NULL)) {
		const char *type = kube_json_get_str(c, "type", NULL);
		const char *status = kube_json_get_str(c, "status", NULL);
		const char *msg = kube_json_get_str(c, "message", NULL);

		if (type && status && !strcmp(type, "Invalid") && !strcmp(status, "True"))
			return msg && *msg ? msg : "the spec is invalid";
	}
	return phase && !strcmp(phase, "Invalid") ? "the spec is invalid" : NULL;
}

enum phx_dash_lease phx_dash_lease_classify(const cJSON *lease, time_t now,
					    struct phx_dash_operator *op)
{
	const char *holder = kube_json_get_str(lease, "spec", "holderIdentity", NULL);
	int64_t dur = 0;
	time_t renewed;

	kube_json_get_int(lease, &dur, "spec", "leaseDurationSeconds", NULL);
	if (phx_dash_parse_time(kube_json_get_str(lease, "spec", "renewTime", NULL), &renewed) != 0)
		renewed = 0;
	op->holder = holder && *holder ? holder : NULL;
	op->renewed = renewed;
	op->duration_s = (long)dur;
	op->state = op->holder && renewed > 0 && renewed + (time_t)dur > now
			    ? PHX_DASH_LEASE_CURRENT
			    : PHX_DASH_LEASE_EXPIRED;
	return op->state;
}

/* Seconds since status.lastReconcileTime when that is older than the threshold and no
 * replica holds the Lease; 0 when fresh, unknown (no such field: an older operator) or when
 * an operator is acting. */
static long stale_for(const cJSON *svc, const struct phx_dash_opts *o)
{
	long limit = o->stale_after_s > 0 ? o->stale_after_s : PHX_DASH_STALE_AFTER_S;
	time_t t;

	if (!o->op || o->op->state == PHX_DASH_LEASE_CURRENT)
		return 0;
	if (phx_dash_parse_time(kube_json_get_str(svc, "status", "lastReconcileTime", NULL), &t) != 0)
		return 0;
	return o->now - t > limit ? (long)(o->now - t) : 0;
}

/* One line on whether an operator is acting, from the Lease; a WARNING when none is. */
static void print_operator(FILE *out, const char *indent, const struct phx_dash_opts *o)
{
	const struct phx_dash_operator *op = o->op;
	const char *red = o->color ? C_RED C_BOLD : "", *dim = o->color ? C_DIM : "";
	const char *rst = o->color ? C_RESET : "";
	char age[32];

	if (!op)
		return;
	switch (op->state) {
	case PHX_DASH_LEASE_CURRENT:
		fprintf(out, "%s%soperator: %s leads (Lease %s/%s renewed %s ago)%s\n", indent, dim,
			op->holder, op->ns, op->name,
			phx_dash_fmt_age(age, sizeof(age), o->now, op->renewed), rst);
		break;
	case PHX_DASH_LEASE_EXPIRED:
		fprintf(out, "%s%sWARNING: no operator is acting%s: ", indent, red, rst);
		if (op->holder)
			fprintf(out, "Lease %s/%s, last held by %s, expired %s ago", op->ns, op->name,
				op->holder,
				phx_dash_fmt_age(age, sizeof(age), o->now,
						 op->renewed + (time_t)op->duration_s));
		else
			fprintf(out, "Lease %s/%s has no holder (last renewed %s ago)", op->ns,
				op->name, phx_dash_fmt_age(age, sizeof(age), o->now, op->renewed));
		fprintf(out, ". Nothing fails over, heals or updates the status, which may be stale "
			"(check: kubectl -n %s get pods,leases)\n", op->ns);
		break;
	case PHX_DASH_LEASE_MISSING:
		fprintf(out, "%snote: no Lease %s/%s: cannot tell whether an operator is acting (it may "
			"run without --leader-elect, or with another Lease: see --operator-namespace, "
			"--leader-election-id)\n", indent, op->ns, op->name);
		break;
	case PHX_DASH_LEASE_FORBIDDEN:
		fprintf(out, "%snote: cannot tell whether an operator is acting: not allowed to read "
			"Leases in namespace %s (%s)\n", indent, op->ns,
			op->detail ? op->detail : "forbidden");
		break;
	case PHX_DASH_LEASE_ERROR:
		fprintf(out, "%snote: cannot tell whether an operator is acting: reading Lease %s/%s "
			"failed (%s)\n", indent, op->ns, op->name, op->detail ? op->detail : "error");
		break;
	case PHX_DASH_LEASE_UNCHECKED:
		break;
	}
}

/* "3/3" from readyDisplay, or from the counts when the controller has not written it yet. */
static void fmt_ready(char *buf, size_t n, const cJSON *st)
{
	const char *disp = kube_json_get_str(st, "readyDisplay", NULL);
	if (disp)
		snprintf(buf, n, "%s", disp);
	else if (kube_json_get(st, "readyInstances", NULL))
		snprintf(buf, n, "%lld/%lld", (long long)get_int(st, "readyInstances", NULL, 0),
			 (long long)get_int(st, "totalInstances", NULL, 0));
	else
		snprintf(buf, n, "-");
}

static void fmt_capacity(char *buf, size_t n, const cJSON *st)
{
	const char *disp = kube_json_get_str(st, "capacityDisplay", NULL);
	if (disp)
		snprintf(buf, n, "%s", disp);
	else if (kube_json_get(st, "capacityPercent", NULL))
		snprintf(buf, n, "%lld%%", (long long)get_int(st, "capacityPercent", NULL, 0));
	else
		snprintf(buf, n, "-");
}

static bool all_ready(const cJSON *st)
{
	int64_t r = get_int(st, "readyInstances", NULL, -1), t = get_int(st, "totalInstances", NULL, -2);
	return r == t;
}

static void fmt_time_ago(char *buf, size_t n, time_t now, const char *ts)
{
	time_t t;
	if (phx_dash_parse_time(ts, &t) == 0) {
		char age[32];
		snprintf(buf, n, "%s ago", phx_dash_fmt_age(age, sizeof(age), now, t));
	} else {
		snprintf(buf, n, "never");
	}
}

static void print_failover_progress(FILE *out, const cJSON *fip, const char *indent,
				    const struct phx_dash_opts *o)
{
	char promoted[512], spawning[512], age[32];
	const char *failed = kube_json_get_str(fip, "failedPod", NULL);
	time_t started;

	if (phx_dash_parse_time(kube_json_get_str(fip, "startedAt", NULL), &started) != 0)
		started = 0;
	join_names(promoted, sizeof(promoted), kube_json_get(fip, "promoted", NULL));
	join_names(spawning, sizeof(spawning), kube_json_get(fip, "spawning", NULL));
	fprintf(out, "%s%s↳ failover in progress%s for %s: failed %s%s%s · promoted %s · spawning %s\n",
		indent, o->color ? C_YELLOW C_BOLD : "", o->color ? C_RESET : "",
		phx_dash_fmt_age(age, sizeof(age), o->now, started),
		o->color ? C_RED : "", failed ? failed : "?", o->color ? C_RESET : "",
		promoted, spawning);
}

struct list_ctx {
	const cJSON *items;
	const struct phx_dash_opts *o;
};

/* Row r of the overview (r >= 1) is item r-1: show its failover in progress under it. */
static void list_after_row(FILE *out, int row, void *ud)
{
	struct list_ctx *ctx = ud;
	const cJSON *svc, *fip;
	const char *invalid;
	long stale;

	if (row < 1)
		return;
	svc = cJSON_GetArrayItem(ctx->items, row - 1);
	fip = kube_json_get(svc, "status", "failoverInProgress", NULL);
	invalid = invalid_message(kube_json_get(svc, "status", NULL));
	stale = stale_for(svc, ctx->o);
	if (cJSON_IsObject(fip))
		print_failover_progress(out, fip, "  ", ctx->o);
	if (invalid)
		fprintf(out, "  %s↳ invalid spec:%s %s\n", ctx->o->color ? C_RED : "",
			ctx->o->color ? C_RESET : "", invalid);
	if (stale) {
		char age[32];

		fprintf(out, "  %s↳ stale:%s last reconciled %s ago\n", ctx->o->color ? C_YELLOW : "",
			ctx->o->color ? C_RESET : "",
			phx_dash_fmt_age(age, sizeof(age), ctx->o->now, ctx->o->now - stale));
	}
}

int phx_dash_render_list(FILE *out, const cJSON *list, const struct phx_dash_opts *o)
{
	const cJSON *items = kube_json_get(list, "items", NULL), *svc;
	struct table t = {.ncol = 0};
	int64_t ready = 0, total = 0, failovers = 0, in_progress = 0, healthy = 0, n = 0, stale = 0;
	int col0 = o->all_namespaces ? 1 : 0;
	struct list_ctx ctx = {.items = items, .o = o};

	t.ncol = 9 + col0;
	if (table_add_row(&t) < 0)
		goto oom;
	if (col0)
		table_set(&t, 0, NULL, "NAMESPACE");
	table_set(&t, col0 + 0, NULL, "SERVICE");
	table_set(&t, col0 + 1, NULL, "PHASE");
	table_set(&t, col0 + 2, NULL, "READY");
	table_set(&t, col0 + 3, NULL, "CAPACITY");
	table_set(&t, col0 + 4, NULL, "FAILOVERS");
	table_set(&t, col0 + 5, NULL, "LAST FAILOVER");
	table_set(&t, col0 + 6, NULL, "REACTION");
	table_set(&t, col0 + 7, NULL, "MODE");
	table_set(&t, col0 + 8, NULL, "PRIMARY");

	cJSON_ArrayForEach(svc, items) {
		const cJSON *st = kube_json_get(svc, "status", NULL);
		const char *phase = kube_json_get_str(st, "phase", NULL);
		const char *primary = kube_json_get_str(st, "primary", NULL);
		const char *mode = kube_json_get_str(svc, "spec", "failover", "mode", NULL);
		char buf[64];
		int64_t fo = get_int(st, "failovers", NULL, 0);

		n++;
		ready += get_int(st, "readyInstances", NULL, 0);
		total += get_int(st, "totalInstances", NULL, 0);
		failovers += fo;
		if (kube_json_get(st, "failoverInProgress", NULL))
			in_progress++;
		if (phase && !strcmp(phase, "Healthy"))
			healthy++;
		if (stale_for(svc, o))
			stale++;
		if (table_add_row(&t) < 0)
			goto oom;
		if (col0)
			table_set(&t, 0, NULL, "%s", kube_json_namespace(svc));
		table_set(&t, col0 + 0, C_BOLD, "%s", kube_json_name(svc));
		if (is_paused(svc) && !(phase && !strcmp(phase, "Paused")))
			table_set(&t, col0 + 1, C_CYAN, "%s (paused)", phase ? phase : "Pending");
		else
			table_set(&t, col0 + 1, phase_color(phase), "%s", phase ? phase : "-");
		fmt_ready(buf, sizeof(buf), st);
		table_set(&t, col0 + 2, all_ready(st) ? C_GREEN : C_YELLOW, "%s", buf);
		fmt_capacity(buf, sizeof(buf), st);
		table_set(&t, col0 + 3, NULL, "%s", buf);
		table_set(&t, col0 + 4, fo ? C_YELLOW : NULL, "%lld", (long long)fo);
		fmt_time_ago(buf, sizeof(buf), o->now, kube_json_get_str(st, "lastFailoverTime", NULL));
		table_set(&t, col0 + 5, NULL, "%s", buf);
		if (kube_json_get(st, "lastFailoverReactionMs", NULL))
			table_set(&t, col0 + 6, NULL, "%lld ms",
				  (long long)get_int(st, "lastFailoverReactionMs", NULL, 0));
		else
			table_set(&t, col0 + 6, NULL, "-");
		table_set(&t, col0 + 7, NULL, "%s", mode ? mode : "Surge");
		table_set(&t, col0 + 8, primary ? NULL : C_RED, "%s", primary ? primary : "none");
	}

	fprintf(out, "%sPHOENIX%s  %s · %lld service%s (%lld healthy) · %lld/%lld instances ready · "
		"%lld failover%s · %lld in progress\n\n",
		o->color ? C_BOLD : "", o->color ? C_RESET : "", o->scope, (long long)n,
		n == 1 ? "" : "s", (long long)healthy, (long long)ready, (long long)total,
		(long long)failovers, failovers == 1 ? "" : "s", (long long)in_progress);
	print_operator(out, "", o);
	if (stale)
		fprintf(out, "%sWARNING: %lld service%s not reconciled for over %lds and no operator "
			"holds the Lease: the status shown may be stale%s\n",
			o->color ? C_YELLOW C_BOLD : "", (long long)stale, stale == 1 ? "" : "s",
			o->stale_after_s > 0 ? o->stale_after_s : (long)PHX_DASH_STALE_AFTER_S,
			o->color ? C_RESET : "");
	if (o->op || stale)
		fputc('\n', out);
	if (n == 0) {
		fprintf(out, "No PhoenixServices found. Try: kubectl apply -f manifests/samples/minimal.yaml\n");
		goto out;
	}
	table_print(out, &t, "", o->color, 1, list_after_row, &ctx);
out:
	table_release(&t);
	return ferror(out) ? -1 : 0;
oom:
	table_release(&t);
	return -1;
}

static const char *pod_ready(const cJSON *pod)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, kube_json_get(pod, "status", "conditions", NULL)) {
		const char *type = kube_json_get_str(c, "type", NULL);
		if (type && !strcmp(type, "Ready"))
			return kube_json_get_str(c, "status", NULL);
	}
	return NULL;
}

static void print_conditions(FILE *out, const cJSON *st, const struct phx_dash_opts *o)
{
	const cJSON *conds = kube_json_get(st, "conditions", NULL), *c;
	struct table t = {.ncol = 5};

	if (cJSON_GetArraySize(conds) == 0)
		return;
	if (table_add_row(&t) < 0)
		goto out;
	table_set(&t, 0, NULL, "CONDITION");
	table_set(&t, 1, NULL, "STATUS");
	table_set(&t, 2, NULL, "REASON");
	table_set(&t, 3, NULL, "SINCE");
	table_set(&t, 4, NULL, "MESSAGE");
	cJSON_ArrayForEach(c, conds) {
		const char *type = kube_json_get_str(c, "type", NULL);
		const char *status = kube_json_get_str(c, "status", NULL);
		const char *reason = kube_json_get_str(c, "reason", NULL);
		const char *msg = kube_json_get_str(c, "message", NULL);
		/* Available=True is good news; Degraded/Invalid=True is bad news. */
		bool good_when_true = type && (!strcmp(type, "Available") || !strcmp(type, "Ready"));
		bool is_true = status && !strcmp(status, "True");
		const char *col = (is_true == good_when_true) ? C_GREEN : C_YELLOW;
		time_t since;
		char age[32];

		if (phx_dash_parse_time(kube_json_get_str(c, "lastTransitionTime", NULL), &since) != 0)
			since = 0;
		if (table_add_row(&t) < 0)
			goto out;
		table_set(&t, 0, NULL, "%s", type ? type : "?");
		table_set(&t, 1, type && !strcmp(type, "Progressing") ? NULL : col, "%s",
			  status ? status : "?");
		table_set(&t, 2, NULL, "%s", reason ? reason : "-");
		table_set(&t, 3, NULL, "%s", phx_dash_fmt_age(age, sizeof(age), o->now, since));
		table_set(&t, 4, NULL, "%s", msg ? msg : "");
	}
	fputc('\n', out);
	table_print(out, &t, "  ", o->color, 1, NULL, NULL);
out:
	table_release(&t);
}

static void print_pods(FILE *out, const cJSON *pods, const struct phx_dash_opts *o)
{
	const cJSON *items = kube_json_get(pods, "items", NULL), *p;
	struct table t = {.ncol = 7};

	if (cJSON_GetArraySize(items) == 0)
		return;
	if (table_add_row(&t) < 0)
		goto out;
	table_set(&t, 0, NULL, "INSTANCE");
	table_set(&t, 1, NULL, "ROLE");
	table_set(&t, 2, NULL, "SERVING");
	table_set(&t, 3, NULL, "READY");
	table_set(&t, 4, NULL, "PHASE");
	table_set(&t, 5, NULL, "NODE");
	table_set(&t, 6, NULL, "AGE");
	cJSON_ArrayForEach(p, items) {
		const char *role = kube_json_get_str(p, "metadata", "labels", "phoenix.fpai.io/role", NULL);
		const char *serving =
			kube_json_get_str(p, "metadata", "labels", "phoenix.fpai.io/serving", NULL);
		const char *ready = pod_ready(p);
		const char *phase = kube_json_get_str(p, "status", "phase", NULL);
		const char *node = kube_json_get_str(p, "spec", "nodeName", NULL);
		bool terminating = kube_json_get(p, "metadata", "deletionTimestamp", NULL) != NULL;
		bool is_serving = serving && !strcmp(serving, "true");
		bool is_ready = ready && !strcmp(ready, "True");
		time_t created;
		char age[32];

		if (phx_dash_parse_time(kube_json_get_str(p, "metadata", "creationTimestamp", NULL),
					&created) != 0)
			created = 0;
		if (table_add_row(&t) < 0)
			goto out;
		table_set(&t, 0, C_BOLD, "%s", kube_json_name(p));
		table_set(&t, 1, role && !strcmp(role, "primary") ? C_CYAN : NULL, "%s",
			  role ? role : "-");
		table_set(&t, 2, is_serving ? C_GREEN : C_DIM, "%s", is_serving ? "yes" : "no");
		table_set(&t, 3, is_ready ? C_GREEN : C_RED, "%s", is_ready ? "yes" : "no");
		if (terminating)
			table_set(&t, 4, C_RED, "Terminating");
		else
			table_set(&t, 4, NULL, "%s", phase ? phase : "-");
		table_set(&t, 5, NULL, "%s", node ? node : "-");
		table_set(&t, 6, NULL, "%s", phx_dash_fmt_age(age, sizeof(age), o->now, created));
	}
	fputc('\n', out);
	table_print(out, &t, "  ", o->color, 1, NULL, NULL);
out:
	table_release(&t);
}

/* Whether the PodList `pods` has a pod named `name`. */
static bool pod_listed(const cJSON *pods, const char *name)
{
	const cJSON *p;

	cJSON_ArrayForEach(p, kube_json_get(pods, "items", NULL)) {
		const char *n = kube_json_name(p);

		if (n && !strcmp(n, name))
			return true;
	}
	return false;
}

/* "last reconciled 12s ago" from status.lastReconcileTime (nothing when absent), with a
 * warning when that is stale and no operator is acting. */
static void print_reconciled(FILE *out, const cJSON *svc, const struct phx_dash_opts *o)
{
	const char *ts = kube_json_get_str(svc, "status", "lastReconcileTime", NULL);
	char ago[64];

	if (!ts)
		return;
	fmt_time_ago(ago, sizeof(ago), o->now, ts);
	fprintf(out, "  last reconciled %s", ago);
	if (stale_for(svc, o))
		fprintf(out, " %s(stale: no operator holds the Lease)%s", o->color ? C_YELLOW C_BOLD : "",
			o->color ? C_RESET : "");
	fputc('\n', out);
}

int phx_dash_render_one(FILE *out, const cJSON *svc, const cJSON *pods,
			const struct phx_dash_opts *o)
{
	const cJSON *spec = kube_json_get(svc, "spec", NULL);
	const cJSON *st = kube_json_get(svc, "status", NULL);
	const cJSON *fip = kube_json_get(st, "failoverInProgress", NULL);
	const char *phase = kube_json_get_str(st, "phase", NULL);
	const char *mode = kube_json_get_str(spec, "failover", "mode", NULL);
	const char *hb_path = kube_json_get_str(spec, "heartbeat", "path", NULL);
	const char *primary = kube_json_get_str(st, "primary", NULL);
	double cap = 2;
	char ready[64], capacity[64], last[64], buf[1024];
	int64_t fo = get_int(st, "failovers", NULL, 0);
	int64_t gen = get_int(svc, "metadata", "generation", 0);
	int64_t observed = get_int(st, "observedGeneration", NULL, 0);

	kube_json_get_num(spec, &cap, "standbyCapacity", NULL);
	fmt_ready(ready, sizeof(ready), st);
	fmt_capacity(capacity, sizeof(capacity), st);
	fmt_time_ago(last, sizeof(last), o->now, kube_json_get_str(st, "lastFailoverTime", NULL));

	fprintf(out, "%sPhoenixService %s/%s%s  %s%s%s%s\n", o->color ? C_BOLD : "",
		kube_json_namespace(svc), kube_json_name(svc), o->color ? C_RESET : "",
		o->color ? phase_color(phase) : "", phase ? phase : "(no status yet)",
		o->color ? C_RESET : "", is_paused(svc) ? "  [paused: the operator takes no action]" : "");
	fprintf(out, "  mode %s · %lld standby(s) at %gx capacity · heartbeat GET %s every %llds, "
		"NotReady after %lld failures · grace %llds\n",
		mode ? mode : "Surge", (long long)get_int(spec, "standbys", NULL, 2), cap,
		hb_path ? hb_path : "/health", (long long)get_int(spec, "heartbeat", "periodSeconds", 5),
		(long long)get_int(spec, "heartbeat", "failureThreshold", 3),
		(long long)get_int(spec, "failover", "notReadyGraceSeconds", 0));
	fprintf(out, "  ready %s · capacity %s · failovers %lld", ready, capacity, (long long)fo);
	if (fo > 0) {
		fprintf(out, " (last %s", last);
		if (kube_json_get(st, "lastFailoverReactionMs", NULL))
			fprintf(out, ", reaction %lld ms",
				(long long)get_int(st, "lastFailoverReactionMs", NULL, 0));
		double rec;
		if (kube_json_get_num(st, &rec, "lastRecoverySeconds", NULL))
			fprintf(out, ", recovery %.1f s", rec);
		fputc(')', out);
	}
	fputc('\n', out);
	print_operator(out, "  ", o);
	if (invalid_message(st))
		fprintf(out, "  %sinvalid spec:%s %s (fix it: kubectl -n %s edit phx %s)\n",
			o->color ? C_RED C_BOLD : "", o->color ? C_RESET : "", invalid_message(st),
			kube_json_namespace(svc), kube_json_name(svc));
	print_reconciled(out, svc, o);
	if (gen && observed && observed < gen)
		fprintf(out, "  status reflects generation %lld; spec is at %lld (operator catching up)\n",
			(long long)observed, (long long)gen);
	fprintf(out, "\n  primary    %s%s%s%s\n", o->color && primary ? C_CYAN : "",
		primary ? primary : "none", o->color && primary ? C_RESET : "",
		primary && pods && !pod_listed(pods, primary) ? "  (no such pod: the status is out of date)"
							      : "");
	fprintf(out, "  standbys   %s\n", join_names(buf, sizeof(buf), kube_json_get(st, "standbys", NULL)));
	fprintf(out, "  serving    %s\n", join_names(buf, sizeof(buf), kube_json_get(st, "serving", NULL)));
	if (cJSON_IsObject(fip))
		print_failover_progress(out, fip, "  ", o);
	print_conditions(out, st, o);
	print_pods(out, pods, o);
	return ferror(out) ? -1 : 0;
}

/* ---- the pipeline summary (dash_summary.h's shape) ---- */

static void fmt_ms(char *buf, size_t n, const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	double ms = cJSON_GetNumberValue(v);

	if (!cJSON_IsNumber(v))
		snprintf(buf, n, "-");
	else if (ms < 1000)
		snprintf(buf, n, "%.0f ms", ms);
	else if (ms < 120000)
		snprintf(buf, n, "%.1f s", ms / 1000);
	else
		snprintf(buf, n, "%.1f min", ms / 60000);
}

static double num_of(const cJSON *o, const char *key)
{
	return cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* "50%", or "-" while nothing has finished (the summary leaves successRate out then). */
static const char *rate_of(const cJSON *o, char *buf, size_t len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "successRate");

	if (!cJSON_IsNumber(v))
		return "-";
	snprintf(buf, len, "%g%%", v->valuedouble);
	return buf;
}

int phx_dash_render_pipeline(FILE *out, const cJSON *summary, const struct phx_dash_opts *o)
{
	const cJSON *in = kube_json_get(summary, "intents", NULL);
	const cJSON *bu = kube_json_get(summary, "builds", NULL);
	const cJSON *queue = kube_json_get(summary, "queue", NULL), *e;
	const char *b = o->color ? C_BOLD : "", *r = o->color ? C_RESET : "";
	const char *bad = o->color ? C_RED : "";
	char d1[32], d2[32], ir[32], br[32];
	int i = 0;

	fmt_ms(d1, sizeof(d1), in, "avgDurationMs");
	fmt_ms(d2, sizeof(d2), bu, "avgBuildMs");
	fprintf(out, "\n%sPipeline:%s %.0f intents today, %.0f completed, %s%.0f failed%s "
		"(success %s), %.0f active, %d queued; mean pipeline %s\n", b, r,
		num_of(in, "today"), num_of(in, "completed"), num_of(in, "failed") > 0 ? bad : "",
		num_of(in, "failed"), num_of(in, "failed") > 0 ? r : "", rate_of(in, ir, sizeof(ir)),
		num_of(in, "active"), cJSON_GetArraySize(queue), d1);
	fprintf(out, "%sBuilds:%s %.0f total, %.0f queued, %.0f running, %.0f completed, "
		"%s%.0f failed%s (success %s); mean build %s\n", b, r, num_of(bu, "total"),
		num_of(bu, "queued"), num_of(bu, "running"), num_of(bu, "completed"),
		num_of(bu, "failed") > 0 ? bad : "", num_of(bu, "failed"),
		num_of(bu, "failed") > 0 ? r : "", rate_of(bu, br, sizeof(br)), d2);
	cJSON_ArrayForEach(e, queue) {
		const char *ns = kube_json_get_str(e, "namespace", NULL);

		fprintf(out, "%s %.0f %s%s%s%s (%s)%s", i++ ? "," : "Queue:", num_of(e, "position"),
			o->all_namespaces && ns ? ns : "", o->all_namespaces && ns ? "/" : "",
			kube_json_get_str(e, "name", NULL) ? kube_json_get_str(e, "name", NULL) : "?",
			cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "slaBreached"))
				? " SLA breached" : "",
			kube_json_get_str(e, "priority", NULL) ? kube_json_get_str(e, "priority", NULL)
							       : "-", "");
	}
	if (i)
		fputc('\n', out);
	return ferror(out) ? -1 : 0;
}
