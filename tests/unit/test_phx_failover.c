/* Unit tests for the PhoenixService decision logic (controller/phoenixservice/phx_failover.c): tables of
 * observed pods -> expected ordered actions, classification, quantities, builders, status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kube_error.h"
#include "kube_json.h"
#include "phx_failover.h"

#define NOW INT64_C(1795000000000)

/* ---------------------------------------------------------------- quantities */

static void quantity__parse_and_scale(void **state)
{
	static const struct {
		const char *in;
		double factor;
		const char *want; /* NULL: invalid */
	} cases[] = {
		{ "100m", 2, "200m" },  { "250m", 2, "500m" },   { "1", 2, "2" },
		{ "0.5", 2, "1" },      { "0.5", 3, "1500m" },   { "128Mi", 2, "256Mi" },
		{ "1Gi", 2, "2Gi" },    { "1Gi", 1.5, "1536Mi" }, { "512Ki", 2, "1Mi" },
		{ "100M", 2, "200000000" }, { "2k", 2, "4000" }, { "1e3", 2, "2000" },
		{ "64Mi", 1, "64Mi" },  { "100m", 1.5, "150m" }, { "1m", 1.5, "2m" },
		{ "abc", 2, NULL },     { "", 2, NULL },         { "10Xi", 2, NULL },
		{ "-1", 2, NULL },      { "0x10", 2, NULL },     { "1Gi", 0, NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[48] = "";
		int rc = phx_quantity_scale(cases[i].in, cases[i].factor, out, sizeof(out));
		if (!cases[i].want) {
			assert_int_not_equal(rc, 0);
			continue;
		}
		assert_int_equal(rc, 0);
		if (strcmp(out, cases[i].want) != 0)
			fail_msg("scale(%s, %g) = %s, want %s", cases[i].in, cases[i].factor, out,
				 cases[i].want);
	}
	int64_t m;
	assert_int_equal(phx_quantity_parse("128Mi", &m), 0);
	assert_int_equal(m, INT64_C(128) * 1048576 * 1000);
	assert_int_equal(phx_quantity_parse("100m", &m), 0);
	assert_int_equal(m, 100);
}

static void time__parse_format(void **state)
{
	assert_int_equal(phx_time_parse_ms("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(phx_time_parse_ms("2026-01-01T00:00:00Z"), INT64_C(1767225600000));
	assert_int_equal(phx_time_parse_ms("2026-01-01T00:00:01.250Z"), INT64_C(1767225601250));
	assert_int_equal(phx_time_parse_ms("2026-01-01T01:00:00+01:00"), INT64_C(1767225600000));
	assert_int_equal(phx_time_parse_ms("garbage"), 0);
	char buf[32];
	phx_time_format(INT64_C(1767225601250), buf, sizeof(buf));
	assert_string_equal(buf, "2026-01-01T00:00:01Z");
}

/* ---------------------------------------------------------------- classification */

static void classify__table(void **state)
{
	static const struct {
		const char *name;
		const char *json;
		int ever_ready;
		int grace;
		enum phx_health health;
		enum phx_fail_reason reason;
	} cases[] = {
		{ "ready", "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\","
			   "\"status\":\"True\"}]}}", 1, 0, PHX_HEALTH_READY, PHX_FAIL_NONE },
		{ "starting", "{\"metadata\":{\"creationTimestamp\":\"2026-11-19T08:53:10Z\"},"
			      "\"status\":{\"phase\":\"Pending\"}}", 0, 0, PHX_HEALTH_STARTING,
		  PHX_FAIL_NONE },
		{ "old never ready", "{\"metadata\":{\"creationTimestamp\":\"2020-01-01T00:00:00Z\"},"
				     "\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":"
				     "\"Ready\",\"status\":\"False\"}]}}", 0, 0,
		  PHX_HEALTH_FAILED, PHX_FAIL_NOT_READY },
		{ "notready no grace", "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":"
				       "\"Ready\",\"status\":\"False\"}]}}", 1, 0, PHX_HEALTH_FAILED,
		  PHX_FAIL_NOT_READY },
		{ "notready in grace", "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":"
				       "\"Ready\",\"status\":\"False\"}]}}", 1, 10, PHX_HEALTH_GRACE,
		  PHX_FAIL_NONE },
		{ "notready grace over", "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":"
					 "\"Ready\",\"status\":\"False\",\"lastTransitionTime\":"
					 "\"2020-01-01T00:00:00Z\"}]}}", 1, 10, PHX_HEALTH_FAILED,
		  PHX_FAIL_NOT_READY },
		{ "terminating", "{\"metadata\":{\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"},"
				 "\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":"
				 "\"Ready\",\"status\":\"True\"}]}}", 1, 0, PHX_HEALTH_FAILED,
		  PHX_FAIL_TERMINATING },
		{ "failed", "{\"status\":{\"phase\":\"Failed\"}}", 1, 0, PHX_HEALTH_FAILED,
		  PHX_FAIL_PHASE_FAILED },
		{ "succeeded", "{\"status\":{\"phase\":\"Succeeded\"}}", 1, 0, PHX_HEALTH_FAILED,
		  PHX_FAIL_PHASE_SUCCEEDED },
		{ "unknown phase", "{\"status\":{\"phase\":\"Unknown\"}}", 1, 0, PHX_HEALTH_FAILED,
		  PHX_FAIL_NODE_LOST },
		{ "ready unknown", "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":"
				   "\"Ready\",\"status\":\"Unknown\"}]}}", 1, 0, PHX_HEALTH_FAILED,
		  PHX_FAIL_NODE_LOST },
		{ "oom now", "{\"status\":{\"phase\":\"Running\",\"containerStatuses\":[{\"state\":"
			     "{\"terminated\":{\"reason\":\"OOMKilled\"}}}]}}", 1, 0,
		  PHX_HEALTH_FAILED, PHX_FAIL_OOMKILLED },
		{ "oom last", "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\","
			      "\"status\":\"True\"}],\"containerStatuses\":[{\"restartCount\":1,"
			      "\"lastState\":{\"terminated\":{\"reason\":\"OOMKilled\"}}}]}}", 1, 0,
		  PHX_HEALTH_FAILED, PHX_FAIL_OOMKILLED },
		{ "crashloop", "{\"status\":{\"phase\":\"Running\",\"containerStatuses\":[{\"state\":"
			       "{\"waiting\":{\"reason\":\"CrashLoopBackOff\"}}}]}}", 0, 0,
		  PHX_HEALTH_FAILED, PHX_FAIL_CRASHED },
		{ "restarted", "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\","
			       "\"status\":\"True\"}],\"containerStatuses\":[{\"restartCount\":2}]}}",
		  1, 0, PHX_HEALTH_FAILED, PHX_FAIL_CRASHED },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *pod = cJSON_Parse(cases[i].json);
		struct phx_pod p;
		assert_non_null(pod);
		phx_pod_classify(pod, cases[i].ever_ready, cases[i].grace,
				 phx_time_parse_ms("2026-11-19T08:53:20Z"), &p);
		if (p.health != cases[i].health || p.reason != cases[i].reason)
			fail_msg("%s: health %d reason %s, want %d %s", cases[i].name, p.health,
				 phx_fail_reason_str(p.reason), cases[i].health,
				 phx_fail_reason_str(cases[i].reason));
		cJSON_Delete(pod);
	}
}

static void classify__labels(void **state)
{
	cJSON *pod = cJSON_Parse("{\"metadata\":{\"name\":\"web-a\",\"labels\":{"
				 "\"phoenix.fpai.io/role\":\"primary\",\"phoenix.fpai.io/serving\":"
				 "\"true\",\"phoenix.fpai.io/revision\":\"abc\"}},\"status\":{"
				 "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}");
	struct phx_pod p;
	phx_pod_classify(pod, false, 0, NOW, &p);
	assert_string_equal(p.name, "web-a");
	assert_int_equal(p.role, PHX_ROLE_PRIMARY);
	assert_true(p.serving);
	assert_string_equal(p.revision, "abc");
	cJSON_Delete(pod);
}

/* ---------------------------------------------------------------- planner tables */

/* Pod shorthand: "name:role:serving:health[:rev]" where role p|s|-, serving 1|0, health
 * R (ready) S (starting) G (grace) F (failed) T (terminating). rev defaults to "r1". */
static size_t parse_pods(const char *spec_txt, struct phx_pod *pods)
{
	size_t n = 0;
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", spec_txt);
	char *save = NULL;
	for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		struct phx_pod *p = &pods[n++];
		char name[64], role, health, rev[16] = "r1";
		int serving;
		memset(p, 0, sizeof(*p));
		int got = sscanf(tok, "%63[^:]:%c:%d:%c:%15s", name, &role, &serving, &health, rev);
		assert_true(got >= 4);
		snprintf(p->name, sizeof(p->name), "%s", name);
		p->role = role == 'p' ? PHX_ROLE_PRIMARY : role == 's' ? PHX_ROLE_STANDBY : PHX_ROLE_NONE;
		p->serving = serving;
		snprintf(p->revision, sizeof(p->revision), "%s", rev);
		p->created_ms = NOW - 100000 + (int64_t)n * 1000; /* listed order = age order */
		switch (health) {
		case 'R': p->health = PHX_HEALTH_READY; break;
		case 'S': p->health = PHX_HEALTH_STARTING; break;
		case 'G': p->health = PHX_HEALTH_GRACE; p->grace_left_ms = 1500; break;
		case 'T': p->health = PHX_HEALTH_FAILED; p->reason = PHX_FAIL_TERMINATING; break;
		default: p->health = PHX_HEALTH_FAILED; p->reason = PHX_FAIL_NOT_READY; break;
		}
	}
	return n;
}

/* Actions as text: "L name role serving", "D name" ("D name (fence)": in place of its label),
 * "C role serving", "X" (clear switchover). */
static void plan_text(const struct phx_plan *pl, char *out, size_t len)
{
	size_t off = 0;
	out[0] = '\0';
	for (size_t i = 0; i < pl->nacts && off < len; i++) {
		const struct phx_action *a = &pl->acts[i];
		const char *sep = i ? ", " : "";
		switch (a->kind) {
		case PHX_ACT_LABEL:
			off += (size_t)snprintf(out + off, len - off, "%sL %s %s %d", sep, a->pod,
						phx_role_str(a->role), a->serving);
			break;
		case PHX_ACT_DELETE:
			off += (size_t)snprintf(out + off, len - off, "%sD %s%s", sep, a->pod,
						a->fences ? " (fence)" : "");
			break;
		case PHX_ACT_CREATE:
			off += (size_t)snprintf(out + off, len - off, "%sC %s %d", sep,
						phx_role_str(a->role), a->serving);
			break;
		case PHX_ACT_CLEAR_SWITCHOVER:
			off += (size_t)snprintf(out + off, len - off, "%sX", sep);
			break;
		}
	}
}

struct plan_case {
	const char *name;
	int mode;           /* 0 surge, 1 promote */
	int standbys;
	const char *pods;
	const char *prev_primary;
	const char *switchover;
	int paused;
	const char *want;
	enum phx_plan_kind kind;
	int primary_failed;
	int degraded;
};

static const struct plan_case plan_cases[] = {
	{ "empty creates primary then standbys", 0, 2, "", "", "", 0,
	  "C primary 0, C standby 0, C standby 0", PHX_PLAN_CREATE, 0, 0 },
	{ "settled does nothing", 0, 2, "a:p:1:R b:s:0:R c:s:0:R", "a", "", 0, "",
	  PHX_PLAN_NONE, 0, 0 },
	{ "paused does nothing even when primary failed", 0, 2, "a:p:1:F b:s:0:R c:s:0:R", "a",
	  "", 1, "", PHX_PLAN_NONE, 0, 0 },
	{ "surge: all ready standbys serve, then failed primary out, deleted, replaced", 0, 2,
	  "a:p:1:F b:s:0:R c:s:0:R", "a", "", 0,
	  "L b primary 1, L c standby 1, D a (fence), C standby 0", PHX_PLAN_FAILOVER, 1,
	  0 },
	{ "surge: primary deleted from the API (gone from cache)", 0, 2, "b:s:0:R c:s:0:R", "a",
	  "", 0, "L b primary 1, L c standby 1, C standby 0", PHX_PLAN_FAILOVER, 1, 0 },
	{ "surge: terminating primary is taken out but not deleted twice", 0, 2,
	  "a:p:1:T b:s:0:R c:s:0:R", "a", "", 0,
	  "L b primary 1, L c standby 1, L a primary 0, C standby 0", PHX_PLAN_FAILOVER, 1, 0 },
	{ "surge: only ready standbys surge; starting one stays out", 0, 2,
	  "a:p:1:F b:s:0:S c:s:0:R", "a", "", 0,
	  "L c primary 1, D a (fence), C standby 0", PHX_PLAN_FAILOVER, 1, 0 },
	{ "promote: fence first, then exactly one standby", 1, 2, "a:p:1:F b:s:0:R c:s:0:R", "a",
	  "", 0, "D a (fence), L b primary 1, C standby 0", PHX_PLAN_FAILOVER, 1, 0 },
	{ "promote: deleted primary needs no fence", 1, 2, "b:s:0:R c:s:0:R", "a", "", 0,
	  "L b primary 1, C standby 0", PHX_PLAN_FAILOVER, 1, 0 },
	/* Surge keeps a failed pod that still serves until a Ready pod serves: it is the last
	 * endpoint (the Service publishes not-ready addresses). */
	{ "no ready standby: promote a starting one, failed pod keeps serving", 0, 2,
	  "a:p:1:F b:s:0:S c:s:0:S", "a", "", 0, "L b primary 0, C standby 0", PHX_PLAN_FAILOVER,
	  1, 1 },
	{ "no standby at all: create a primary, failed pod keeps serving", 0, 0, "a:p:1:F", "a",
	  "", 0, "C primary 0", PHX_PLAN_FAILOVER, 1, 1 },
	{ "degraded, new primary Ready: it serves first, then the failed pod goes", 0, 2,
	  "a:p:1:F b:p:0:R c:s:0:S", "a", "", 0, "L b primary 1, D a (fence), C standby 0",
	  PHX_PLAN_CREATE, 0, 0 },
	{ "promote, no ready standby: fence first all the same (never two serving)", 1, 2,
	  "a:p:1:F b:s:0:S c:s:0:S", "a", "", 0, "D a (fence), L b primary 0, C standby 0",
	  PHX_PLAN_FAILOVER, 1, 1 },
	{ "recovering: surged standby keeps serving until replacements are ready", 0, 2,
	  "b:p:1:R c:s:1:R d:s:0:S", "b", "", 0, "", PHX_PLAN_NONE, 0, 0 },
	{ "recovered: surged standby goes back to standby", 0, 2, "b:p:1:R c:s:1:R d:s:0:R", "b",
	  "", 0, "L c standby 0", PHX_PLAN_CREATE, 0, 0 },
	{ "leftover terminating primary after takeover is not a new failure", 0, 2,
	  "a:p:0:T b:p:1:R c:s:1:R d:s:0:S", "a", "", 0, "", PHX_PLAN_NONE, 0, 0 },
	{ "failed standby replaced", 0, 2, "a:p:1:R b:s:0:F c:s:0:R", "a", "", 0,
	  "D b, C standby 0", PHX_PLAN_CREATE, 0, 0 },
	{ "grace: no action, requeue", 0, 2, "a:p:1:G b:s:0:R c:s:0:R", "a", "", 0, "",
	  PHX_PLAN_NONE, 0, 0 },
	{ "promote: two serving after a crash mid-way -> fence the extra", 1, 2,
	  "a:p:1:R b:s:1:R c:s:0:R", "a", "", 0, "L b standby 0", PHX_PLAN_CREATE, 0, 0 },
	{ "two primaries: the ready one stays, the other demoted after", 0, 2,
	  "a:p:1:R b:p:1:R c:s:0:R", "a", "", 0, "L b standby 0", PHX_PLAN_CREATE, 0, 0 },
	{ "too many standbys: drop a non-serving one", 0, 1, "a:p:1:R b:s:0:R c:s:0:S", "a", "",
	  0, "D c", PHX_PLAN_CREATE, 0, 0 },
	{ "rollout: standbys first, one at a time", 0, 2, "a:p:1:R:r0 b:s:0:R:r0 c:s:0:R:r0",
	  "a", "", 0, "D b, C standby 0", PHX_PLAN_ROLLOUT, 0, 0 },
	{ "rollout: wait for the new standby", 0, 2, "a:p:1:R:r0 c:s:0:R:r0 d:s:0:S", "a", "", 0,
	  "", PHX_PLAN_NONE, 0, 0 },
	{ "rollout: second standby", 0, 2, "a:p:1:R:r0 c:s:0:R:r0 d:s:0:R", "a", "", 0,
	  "D c, C standby 0", PHX_PLAN_ROLLOUT, 0, 0 },
	{ "rollout: switch over to an updated standby (serve first)", 0, 2,
	  "a:p:1:R:r0 d:s:0:R e:s:0:R", "a", "", 0, "L d primary 1, L a standby 0",
	  PHX_PLAN_ROLLOUT, 0, 0 },
	{ "rollout promote mode: fence first", 1, 2, "a:p:1:R:r0 d:s:0:R e:s:0:R", "a", "", 0,
	  "L a standby 0, L d primary 1", PHX_PLAN_ROLLOUT, 0, 0 },
	{ "rollout: old primary replaced last", 0, 2, "d:p:1:R a:s:0:R:r0 e:s:0:R", "d", "", 0,
	  "D a, C standby 0", PHX_PLAN_ROLLOUT, 0, 0 },
	{ "rollout: a terminating old standby is not replaced twice", 0, 2,
	  "a:p:1:R:r0 b:s:0:T:r0 d:s:0:R e:s:0:R", "a", "", 0, "L d primary 1, L a standby 0",
	  PHX_PLAN_ROLLOUT, 0, 0 },
	{ "switchover to a named standby", 0, 2, "a:p:1:R b:s:0:R c:s:0:R", "a", "c", 0,
	  "L c primary 1, L a standby 0, X", PHX_PLAN_SWITCHOVER, 0, 0 },
	{ "switchover any", 1, 2, "a:p:1:R b:s:0:R c:s:0:R", "a", "any", 0,
	  "L a standby 0, L b primary 1, X", PHX_PLAN_SWITCHOVER, 0, 0 },
	{ "switchover to the primary itself just clears", 0, 2, "a:p:1:R b:s:0:R c:s:0:R", "a",
	  "a", 0, "X", PHX_PLAN_NONE, 0, 0 },
	{ "switchover to an unknown pod clears", 0, 2, "a:p:1:R b:s:0:R c:s:0:R", "a", "zz", 0,
	  "X", PHX_PLAN_NONE, 0, 0 },
	{ "switchover waits while not settled", 0, 2, "a:p:1:R b:s:0:R c:s:0:S", "a", "b", 0, "",
	  PHX_PLAN_NONE, 0, 0 },
	{ "primary label lost: serve again", 0, 2, "a:p:0:R b:s:0:R c:s:0:R", "a", "", 0,
	  "L a primary 1", PHX_PLAN_CREATE, 0, 0 },
	{ "a starting primary does not serve before it is Ready", 0, 2,
	  "a:p:0:S b:s:0:S c:s:0:S", "", "", 0, "", PHX_PLAN_NONE, 0, 0 },
	{ "... and serves once it is", 0, 2, "a:p:0:R b:s:0:S c:s:0:S", "", "", 0,
	  "L a primary 1", PHX_PLAN_CREATE, 0, 0 },
};

static void plan__table(void **state)
{
	for (size_t i = 0; i < sizeof(plan_cases) / sizeof(plan_cases[0]); i++) {
		const struct plan_case *c = &plan_cases[i];
		struct phx_spec spec;
		struct phx_pod pods[PHX_MAX_PODS];
		struct phx_plan pl;
		char got[1024];
		memset(&spec, 0, sizeof(spec));
		spec.standbys = c->standbys;
		spec.capacity = 2;
		spec.mode = c->mode ? PHX_MODE_PROMOTE : PHX_MODE_SURGE;
		spec.paused = c->paused;
		snprintf(spec.revision, sizeof(spec.revision), "r1");
		snprintf(spec.switchover_to, sizeof(spec.switchover_to), "%s", c->switchover);
		struct phx_plan_input in = {
			.spec = &spec, .pods = pods, .npods = parse_pods(c->pods, pods),
			.prev_primary = c->prev_primary,
		};
		phx_plan_compute(&in, &pl);
		plan_text(&pl, got, sizeof(got));
		if (strcmp(got, c->want) != 0)
			fail_msg("%s:\n got  [%s]\n want [%s]", c->name, got, c->want);
		if (pl.kind != c->kind || pl.primary_failed != (bool)c->primary_failed ||
		    pl.degraded != (bool)c->degraded)
			fail_msg("%s: kind %d failed %d degraded %d", c->name, pl.kind,
				 pl.primary_failed, pl.degraded);
	}
}

/* Applies a plan to the pod table as the API would (labels, deletes, creates start). */
static size_t apply(const struct phx_plan *pl, struct phx_pod *pods, size_t n, int *seq)
{
	for (size_t i = 0; i < pl->nacts; i++) {
		const struct phx_action *a = &pl->acts[i];
		if (a->kind == PHX_ACT_CREATE) {
			struct phx_pod *p = &pods[n++];
			memset(p, 0, sizeof(*p));
			snprintf(p->name, sizeof(p->name), "n%d", (*seq)++);
			p->role = a->role;
			p->serving = a->serving;
			p->health = PHX_HEALTH_STARTING;
			p->created_ms = NOW + *seq;
			snprintf(p->revision, sizeof(p->revision), "r1");
			continue;
		}
		for (size_t j = 0; j < n; j++) {
			if (strcmp(pods[j].name, a->pod) != 0)
				continue;
			if (a->kind == PHX_ACT_LABEL) {
				pods[j].role = a->role;
				pods[j].serving = a->serving;
			} else if (a->kind == PHX_ACT_DELETE) {
				pods[j] = pods[--n];
			}
			break;
		}
	}
	return n;
}

static size_t count_serving_ready(const struct phx_pod *pods, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += pods[i].serving && pods[i].health == PHX_HEALTH_READY;
	return k;
}

/* Drives a whole failover to the end, checking the invariants after every single action. */
static void run_failover(enum phx_mode mode)
{
	struct phx_spec spec = { .standbys = 2, .capacity = 2, .mode = mode };
	struct phx_pod pods[PHX_MAX_PODS];
	struct phx_plan pl;
	int seq = 0;
	snprintf(spec.revision, sizeof(spec.revision), "r1");
	size_t n = parse_pods("a:p:1:F b:s:0:R c:s:0:R", pods);
	for (int round = 0; round < 10; round++) {
		struct phx_plan_input in = { .spec = &spec, .pods = pods, .npods = n,
					     .prev_primary = "a" };
		phx_plan_compute(&in, &pl);
		if (pl.nacts == 0) {
			bool starting = false;
			for (size_t i = 0; i < n; i++)
				if (pods[i].health == PHX_HEALTH_STARTING) {
					pods[i].health = PHX_HEALTH_READY;
					starting = true;
				}
			if (!starting)
				break;
			continue;
		}
		for (size_t i = 0; i < pl.nacts; i++) {
			struct phx_plan one = pl;
			one.acts[0] = pl.acts[i];
			one.nacts = 1;
			n = apply(&one, pods, n, &seq);
			size_t s = count_serving_ready(pods, n);
			if (mode == PHX_MODE_PROMOTE)
				assert_true(s <= 1);
			if (round > 0 || i > 0)
				assert_true(s >= 1); /* never an empty endpoint set after step 1 */
		}
	}
	assert_true(phx_settled(&spec, pods, n));
	assert_int_equal(n, 3);
}

static void plan__surge_converges(void **state)
{
	run_failover(PHX_MODE_SURGE);
}

static void plan__promote_never_two_serving(void **state)
{
	run_failover(PHX_MODE_PROMOTE);
}

/* ---------------------------------------------------------------- spec + builders */

static const char *SVC =
	"{\"apiVersion\":\"phoenix.fpai.io/v1alpha1\",\"kind\":\"PhoenixService\","
	"\"metadata\":{\"name\":\"web\",\"namespace\":\"prod\",\"uid\":\"u-1\",\"generation\":3,"
	"\"annotations\":{\"phoenix.fpai.io/switchover-to\":\"any\"}},"
	"\"spec\":{\"standbys\":2,\"standbyCapacity\":2,\"failover\":{\"mode\":\"Promote\","
	"\"notReadyGraceSeconds\":4},\"heartbeat\":{\"path\":\"/health\",\"periodSeconds\":2,"
	"\"failureThreshold\":2},\"service\":{\"ports\":[{\"name\":\"http\",\"port\":80,"
	"\"targetPort\":8080}]},\"template\":{\"metadata\":{\"labels\":{\"team\":\"a\"}},"
	"\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"x\",\"ports\":[{\"name\":"
	"\"http\",\"containerPort\":8080}],\"resources\":{\"requests\":{\"cpu\":\"100m\","
	"\"memory\":\"128Mi\"},\"limits\":{\"cpu\":\"0.5\",\"memory\":\"1Gi\"}}}]}}}}";

static void spec__parse(void **state)
{
	cJSON *svc = cJSON_Parse(SVC);
	struct phx_spec spec;
	char err[256];
	assert_int_equal(phx_spec_parse(svc, &spec, err, sizeof(err)), 0);
	assert_int_equal(spec.standbys, 2);
	assert_int_equal(spec.mode, PHX_MODE_PROMOTE);
	assert_int_equal(spec.grace_s, 4);
	assert_string_equal(spec.switchover_to, "any");
	assert_int_equal(strlen(spec.revision), 10);
	/* The revision follows the template and nothing else. */
	struct phx_spec again;
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(svc, "spec"), "standbys",
				  cJSON_CreateNumber(3));
	phx_spec_parse(svc, &again, NULL, 0);
	assert_string_equal(spec.revision, again.revision);
	cJSON_ReplaceItemInObject((cJSON *)kube_json_get(svc, "spec", "template", "spec",
							 "containers", NULL)->child,
				  "image", cJSON_CreateString("y"));
	phx_spec_parse(svc, &again, NULL, 0);
	assert_string_not_equal(spec.revision, again.revision);
	cJSON_Delete(svc);
}

static void spec__invalid(void **state)
{
	static const struct {
		const char *spec;
		const char *needle;
	} cases[] = {
		{ "{\"template\":{\"spec\":{\"containers\":[]}}}", "containers" },
		{ "{\"standbys\":9,\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\"}]}}}",
		  "standbys" },
		{ "{\"failover\":{\"mode\":\"Yolo\"},\"template\":{\"spec\":{\"containers\":[{"
		  "\"name\":\"a\",\"ports\":[{\"containerPort\":1}]}]}}}", "mode" },
		{ "{\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\"}]}}}", "nothing to expose" },
		{ "{\"template\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"ports\":[{"
		  "\"containerPort\":1}],\"resources\":{\"requests\":{\"cpu\":\"lots\"}}}]}}}",
		  "resources.requests.cpu" },
		{ "{\"service\":{\"ports\":[{\"port\":80,\"targetPort\":\"web\"}]},\"template\":{"
		  "\"spec\":{\"containers\":[{\"name\":\"a\"}]}}}", "targetPort web" },
		{ "{\"service\":{\"ports\":[{\"port\":80},{\"port\":81}]},\"template\":{\"spec\":{"
		  "\"containers\":[{\"name\":\"a\"}]}}}", "name is required" },
		{ "{\"heartbeat\":{\"port\":\"admin\"},\"template\":{\"spec\":{\"containers\":[{"
		  "\"name\":\"a\",\"ports\":[{\"containerPort\":1}]}]}}}", "heartbeat.port" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char txt[1024], err[256];
		struct phx_spec spec;
		snprintf(txt, sizeof(txt), "{\"metadata\":{\"name\":\"x\"},\"spec\":%s}",
			 cases[i].spec);
		cJSON *svc = cJSON_Parse(txt);
		assert_non_null(svc);
		assert_int_equal(phx_spec_parse(svc, &spec, err, sizeof(err)), KUBE_EINVAL);
		if (!strstr(err, cases[i].needle))
			fail_msg("case %zu: message '%s' lacks '%s'", i, err, cases[i].needle);
		cJSON_Delete(svc);
	}
}

static void build__pod(void **state)
{
	cJSON *svc = cJSON_Parse(SVC);
	struct phx_spec spec;
	phx_spec_parse(svc, &spec, NULL, 0);
	cJSON *pod = phx_pod_build(svc, &spec, "web-x1", PHX_ROLE_STANDBY, false);
	assert_non_null(pod);
	const cJSON *labels = kube_json_get(pod, "metadata", "labels", NULL);
	assert_string_equal(kube_json_get_str(labels, PHX_LABEL_SERVICE, NULL), "web");
	assert_string_equal(kube_json_get_str(labels, PHX_LABEL_ROLE, NULL), "standby");
	assert_string_equal(kube_json_get_str(labels, PHX_LABEL_SERVING, NULL), "false");
	assert_string_equal(kube_json_get_str(labels, PHX_LABEL_REVISION, NULL), spec.revision);
	assert_string_equal(kube_json_get_str(labels, "team", NULL), "a");
	assert_string_equal(kube_json_get_str(labels, "app.kubernetes.io/managed-by", NULL),
			    "phoenix-operator");
	assert_string_equal(kube_json_get_str(pod, "metadata", "namespace", NULL), "prod");
	const cJSON *owner = cJSON_GetArrayItem(kube_json_get(pod, "metadata", "ownerReferences",
							      NULL), 0);
	assert_string_equal(kube_json_get_str(owner, "uid", NULL), "u-1");
	assert_true(kube_json_get_bool(owner, false, "controller", NULL));
	assert_true(kube_json_get_bool(owner, false, "blockOwnerDeletion", NULL));
	const cJSON *c = cJSON_GetArrayItem(kube_json_get(pod, "spec", "containers", NULL), 0);
	assert_string_equal(kube_json_get_str(c, "resources", "requests", "cpu", NULL), "200m");
	assert_string_equal(kube_json_get_str(c, "resources", "requests", "memory", NULL), "256Mi");
	assert_string_equal(kube_json_get_str(c, "resources", "limits", "cpu", NULL), "1");
	assert_string_equal(kube_json_get_str(c, "resources", "limits", "memory", NULL), "2Gi");
	assert_string_equal(kube_json_get_str(c, "readinessProbe", "httpGet", "path", NULL),
			    "/health");
	int64_t v;
	assert_true(kube_json_get_int(c, &v, "readinessProbe", "httpGet", "port", NULL));
	assert_int_equal(v, 8080);
	assert_true(kube_json_get_int(c, &v, "readinessProbe", "periodSeconds", NULL));
	assert_int_equal(v, 2);
	assert_non_null(kube_json_get(pod, "spec", "affinity", "podAntiAffinity", NULL));
	cJSON_Delete(pod);

	/* A primary keeps the template's resources. */
	pod = phx_pod_build(svc, &spec, "web-x2", PHX_ROLE_PRIMARY, true);
	c = cJSON_GetArrayItem(kube_json_get(pod, "spec", "containers", NULL), 0);
	assert_string_equal(kube_json_get_str(c, "resources", "requests", "cpu", NULL), "100m");
	assert_string_equal(kube_json_get_str(pod, "metadata", "labels", PHX_LABEL_SERVING, NULL),
			    "true");
	cJSON_Delete(pod);

	/* No heartbeat fields (an object stored before the CRD defaulted them): the CRD's
	 * defaults, 1 s x 2. */
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(cJSON_GetObjectItem(svc, "spec"),
						       "heartbeat"), "periodSeconds");
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(cJSON_GetObjectItem(svc, "spec"),
						       "heartbeat"), "failureThreshold");
	pod = phx_pod_build(svc, &spec, "web-x3", PHX_ROLE_PRIMARY, true);
	c = cJSON_GetArrayItem(kube_json_get(pod, "spec", "containers", NULL), 0);
	assert_true(kube_json_get_int(c, &v, "readinessProbe", "periodSeconds", NULL));
	assert_int_equal(v, 1);
	assert_true(kube_json_get_int(c, &v, "readinessProbe", "failureThreshold", NULL));
	assert_int_equal(v, 2);
	cJSON_Delete(pod);
	cJSON_Delete(svc);
}

static void build__template_probe_and_affinity_win(void **state)
{
	cJSON *svc = cJSON_Parse("{\"metadata\":{\"name\":\"w\",\"uid\":\"u\"},\"spec\":{"
				 "\"template\":{\"spec\":{\"affinity\":{\"nodeAffinity\":{}},"
				 "\"containers\":[{\"name\":\"a\",\"readinessProbe\":{\"exec\":{}},"
				 "\"ports\":[{\"containerPort\":9}]}]}}}}");
	struct phx_spec spec;
	phx_spec_parse(svc, &spec, NULL, 0);
	cJSON *pod = phx_pod_build(svc, &spec, "w-1", PHX_ROLE_STANDBY, false);
	assert_null(kube_json_get(pod, "spec", "affinity", "podAntiAffinity", NULL));
	const cJSON *c = cJSON_GetArrayItem(kube_json_get(pod, "spec", "containers", NULL), 0);
	assert_non_null(kube_json_get(c, "readinessProbe", "exec", NULL));
	assert_null(kube_json_get(c, "readinessProbe", "httpGet", NULL));
	cJSON_Delete(pod);
	cJSON_Delete(svc);
}

static void build__service_and_pdb(void **state)
{
	cJSON *svc = cJSON_Parse(SVC);
	cJSON *s = phx_service_build(svc);
	assert_string_equal(kube_json_get_str(s, "spec", "selector", PHX_LABEL_SERVING, NULL),
			    "true");
	assert_string_equal(kube_json_get_str(s, "spec", "selector", PHX_LABEL_SERVICE, NULL),
			    "web");
	assert_string_equal(kube_json_get_str(s, "spec", "type", NULL), "ClusterIP");
	/* The serving label alone decides membership (see phx_service_build). */
	assert_true(kube_json_get_bool(s, 0, "spec", "publishNotReadyAddresses", NULL));
	const cJSON *p = cJSON_GetArrayItem(kube_json_get(s, "spec", "ports", NULL), 0);
	int64_t v;
	assert_true(kube_json_get_int(p, &v, "targetPort", NULL));
	assert_int_equal(v, 8080);
	cJSON *pdb = phx_pdb_build(svc);
	assert_true(kube_json_get_int(pdb, &v, "spec", "maxUnavailable", NULL));
	assert_int_equal(v, 1);
	assert_string_equal(kube_json_get_str(pdb, "apiVersion", NULL), "policy/v1");
	cJSON_Delete(s);
	cJSON_Delete(pdb);
	cJSON_Delete(svc);
}

/* ---------------------------------------------------------------- status */

static void status__capacity_phase_conditions(void **state)
{
	struct phx_spec spec = { .standbys = 2, .capacity = 2 };
	struct phx_pod pods[PHX_MAX_PODS];
	snprintf(spec.revision, sizeof(spec.revision), "r1");
	size_t n = parse_pods("a:p:1:R b:s:0:R c:s:0:R", pods);
	assert_int_equal(phx_capacity_percent(&spec, pods, n), 500);
	spec.capacity = 1.5;
	assert_int_equal(phx_capacity_percent(&spec, pods, n), 400);
	spec.capacity = 2;

	cJSON *prev = cJSON_Parse("{\"phase\":\"Healthy\",\"conditions\":[{\"type\":"
				  "\"Available\",\"status\":\"True\",\"lastTransitionTime\":"
				  "\"2020-01-01T00:00:00Z\"}]}");
	struct phx_status_input in = {
		.spec = &spec, .pods = pods, .npods = n, .prev_status = prev, .generation = 7,
		.now_ms = NOW, .last_reaction_ms = -1, .last_recovery_s = -1,
	};
	cJSON *st = phx_status_build(&in);
	assert_string_equal(kube_json_get_str(st, "phase", NULL), "Healthy");
	assert_string_equal(kube_json_get_str(st, "readyDisplay", NULL), "3/3");
	assert_string_equal(kube_json_get_str(st, "capacityDisplay", NULL), "500%");
	assert_string_equal(kube_json_get_str(st, "primary", NULL), "a");
	const cJSON *c = cJSON_GetArrayItem(kube_json_get(st, "conditions", NULL), 0);
	assert_string_equal(kube_json_get_str(c, "type", NULL), "Available");
	assert_string_equal(kube_json_get_str(c, "lastTransitionTime", NULL),
			    "2020-01-01T00:00:00Z");
	cJSON_Delete(st);

	static const struct {
		const char *pods;
		int in_progress;
		long failovers;
		const char *prev;
		const char *want;
	} phases[] = {
		{ "", 0, 0, "", "Pending" },
		{ "a:p:1:S", 0, 0, "", "Pending" },
		{ "a:p:1:R b:s:0:S c:s:0:S", 0, 0, "Pending", "Pending" },
		{ "a:p:1:F b:s:0:R c:s:0:R", 1, 1, "Healthy", "FailingOver" },
		{ "a:p:1:F", 1, 1, "Healthy", "Degraded" },
		{ "b:p:1:R c:s:1:R d:s:0:S", 1, 1, "FailingOver", "Recovering" },
		{ "a:p:1:R b:s:0:R c:s:0:R:r0", 0, 0, "Healthy", "Updating" },
		{ "a:p:1:R b:s:0:R c:s:0:S", 0, 2, "Healthy", "Recovering" },
		{ "a:p:1:R b:s:0:R", 0, 2, "Healthy", "Degraded" },
		{ "a:p:1:R b:s:0:R c:s:0:R", 0, 2, "Degraded", "Healthy" },
		{ "x:p:0:T a:p:1:R b:s:0:R c:s:0:R", 0, 2, "Recovering", "Healthy" },
		{ "x:p:1:T a:p:1:R b:s:0:R c:s:0:R", 0, 2, "Recovering", "Recovering" },
	};
	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		cJSON *ps = cJSON_CreateObject();
		cJSON_AddStringToObject(ps, "phase", phases[i].prev);
		in.npods = parse_pods(phases[i].pods, pods);
		in.prev_status = ps;
		in.in_progress = phases[i].in_progress;
		in.failovers = phases[i].failovers;
		const char *got = phx_phase_compute(&in);
		if (strcmp(got, phases[i].want) != 0)
			fail_msg("phase case %zu: %s want %s", i, got, phases[i].want);
		cJSON_Delete(ps);
	}
	cJSON_Delete(prev);
}

/* Invalid and paused services have their own phase (not Pending, which says no operator acts);
 * the conditions still describe the pods, and a refused pod create is a condition. */
static void status__invalid_paused_and_create_refused(void **state)
{
	(void)state;
	struct phx_spec spec = { .standbys = 2, .capacity = 2 };
	struct phx_pod pods[PHX_MAX_PODS];
	snprintf(spec.revision, sizeof(spec.revision), "r1");
	size_t n = parse_pods("a:p:1:F b:s:0:R c:s:0:R", pods);
	struct phx_status_input in = {
		.spec = &spec, .pods = pods, .npods = n, .generation = 3, .now_ms = NOW,
		.last_reaction_ms = -1, .last_recovery_s = -1, .in_progress = true, .failovers = 1,
		.invalid = true, .invalid_msg = "spec.x: bad",
	};
	assert_string_equal(phx_phase_compute(&in), "Invalid");
	cJSON *st = phx_status_build(&in);
	const cJSON *c;
	int seen = 0;
	cJSON_ArrayForEach(c, kube_json_get(st, "conditions", NULL)) {
		const char *type = kube_json_get_str(c, "type", NULL);
		const char *status = kube_json_get_str(c, "status", NULL);
		if (!strcmp(type, "Degraded")) {
			/* the pods' truth, not "Invalid" */
			assert_string_equal(status, "True");
			assert_string_equal(kube_json_get_str(c, "reason", NULL), "FailingOver");
			seen++;
		} else if (!strcmp(type, "PodCreateFailed")) {
			assert_string_equal(status, "False");
			seen++;
		}
	}
	assert_int_equal(seen, 2);
	cJSON_Delete(st);

	in.invalid = false;
	spec.paused = true;
	assert_string_equal(phx_phase_compute(&in), "Paused");
	spec.paused = false;
	assert_string_equal(phx_phase_compute(&in), "FailingOver");

	in.create_fail_reason = "Forbidden";
	in.create_fail_msg = "pods \"x\" is forbidden: violates PodSecurity";
	st = phx_status_build(&in);
	cJSON_ArrayForEach(c, kube_json_get(st, "conditions", NULL)) {
		if (strcmp(kube_json_get_str(c, "type", NULL), "PodCreateFailed") != 0)
			continue;
		assert_string_equal(kube_json_get_str(c, "status", NULL), "True");
		assert_string_equal(kube_json_get_str(c, "reason", NULL), "Forbidden");
		assert_non_null(strstr(kube_json_get_str(c, "message", NULL), "PodSecurity"));
		seen++;
	}
	assert_int_equal(seen, 3);
	cJSON_Delete(st);

	/* A new service whose pods the API refuses is not Pending (on its way) but Degraded. */
	in.npods = 0;
	in.failovers = 0;
	in.in_progress = false;
	assert_string_equal(phx_phase_compute(&in), "Degraded");
	in.create_fail_msg = NULL;
	assert_string_equal(phx_phase_compute(&in), "Pending");
}

/* The failover count never goes backwards before the record is confirmed, and a confirmed
 * record undoes hand edits either way. */
static void status__failover_count_merge(void **state)
{
	(void)state;
	static const struct {
		int64_t ours, live;
		bool confirmed;
		int64_t want;
	} cases[] = {
		{ 8, 9, false, 9 },    /* stale seed, previous leader's 9 arrives: keep 9 */
		{ 9, 8, false, 9 },    /* never lower than ours */
		{ 9, 9, false, 9 },
		{ 9, 999, true, 9 },   /* confirmed: a hand edit is undone */
		{ 9, 3, true, 9 },
		{ 0, 0, false, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (phx_failovers_merge(cases[i].ours, cases[i].live, cases[i].confirmed) !=
		    cases[i].want)
			fail_msg("merge case %zu", i);
}

/* Time paused is not reaction: pause, kill, resume starts the clock at the resume. */
static void status__reaction_start_skips_paused_time(void **state)
{
	(void)state;
	assert_int_equal(phx_reaction_start(1000, 0, 1500), 1000);
	assert_int_equal(phx_reaction_start(1000, 7000, 7005), 7000); /* killed while paused */
	assert_int_equal(phx_reaction_start(8000, 7000, 8005), 8000); /* killed after resume */
	assert_int_equal(phx_reaction_start(0, 0, 42), 42);
	assert_int_equal(phx_reaction_start(99, 0, 42), 42);          /* never in the future */
	assert_true(phx_status_refresh_due(0, NOW));
	assert_false(phx_status_refresh_due(NOW - 1000, NOW));
	assert_true(phx_status_refresh_due(NOW - PHX_STATUS_REFRESH_MS, NOW));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(quantity__parse_and_scale),
		cmocka_unit_test(time__parse_format),
		cmocka_unit_test(classify__table),
		cmocka_unit_test(classify__labels),
		cmocka_unit_test(plan__table),
		cmocka_unit_test(plan__surge_converges),
		cmocka_unit_test(plan__promote_never_two_serving),
		cmocka_unit_test(spec__parse),
		cmocka_unit_test(spec__invalid),
		cmocka_unit_test(build__pod),
		cmocka_unit_test(build__template_probe_and_affinity_win),
		cmocka_unit_test(build__service_and_pdb),
		cmocka_unit_test(status__capacity_phase_conditions),
		cmocka_unit_test(status__invalid_paused_and_create_refused),
		cmocka_unit_test(status__failover_count_merge),
		cmocka_unit_test(status__reaction_start_skips_paused_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
