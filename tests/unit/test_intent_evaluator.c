/* intent_evaluator: real HTTP calls to a local server (fake_server.h) on the evaluator's own
 * threads — a good answer combined by the weight, garbage, HTTP 500, a timeout (bounded by the
 * policy), connection refused, one call per generation, forget, and a quick shutdown with a
 * call in flight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "fake_server.h"
#include "json_testutil.h"

#include "intent/intent_evaluator.h"
#include "kube_error.h"
#include "kube_json.h"

#define PURPOSE "'purpose':'Computes daily revenue per product line from the billing ledger for the finance team and exposes it to dashboards'"
#define INTENT "{'apiVersion':'phoenix.fpai.io/v1alpha1','kind':'Intent','metadata':{'name':'rev','namespace':'ns','generation':%d,'managedFields':[{}]},'spec':{'serviceName':'revenue-analytics','tier':2,'priority':'high'," PURPOSE ",'keyFeatures':['Aggregate ledger entries into daily revenue per product line','fast']},'status':{'phase':'Pending'}}"

static atomic_int dones;

static void on_done(const char *key, void *ud)
{
	(void)ud;
	if (strcmp(key, "ns/rev") == 0)
		atomic_fetch_add(&dones, 1);
}

static void set_fallback(struct fake_server *fs, struct fake_resp r)
{
	pthread_mutex_lock(&fs->mu);
	fs->fallback = r;
	pthread_mutex_unlock(&fs->mu);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static cJSON *intent_gen(int gen)
{
	char buf[2048];
	snprintf(buf, sizeof(buf), INTENT, gen);
	return J(buf);
}

static void policy_for(const char *url, int timeout_s, struct intent_policy *pol)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "{'spec':{'mode':'autonomous','evaluator':{'url':'%s','timeoutSeconds':%d,'weight':0.5}}}",
		 url, timeout_s);
	cJSON *p = J(buf);
	assert_int_equal(intent_policy_parse(p, pol, NULL, 0), 0);
	cJSON_Delete(p);
}

/* Folds until the evaluator has answered (pending first, then one done callback); returns the
 * milliseconds it took. */
static int64_t fold_wait(struct intent_evaluator *ev, const cJSON *intent, const struct intent_policy *pol,
			 struct intent_report *rep)
{
	int64_t t0 = mono_ms();
	int before = atomic_load(&dones);

	assert_int_equal(intent_governance_evaluate(intent, NULL, pol, rep), 0);
	assert_int_equal(intent_evaluator_fold(ev, "ns/rev", intent, pol, rep), 0);
	while (atomic_load(&dones) == before && mono_ms() - t0 < 20000) {
		struct timespec ts = {0, 5 * 1000000L};
		nanosleep(&ts, NULL);
	}
	assert_int_not_equal(atomic_load(&dones), before);
	assert_int_equal(intent_evaluator_fold(ev, "ns/rev", intent, pol, rep), 1);
	return mono_ms() - t0;
}

struct fold_case {
	const char *name;
	int status;
	const char *body;     /* NULL: the stream is held open (a timeout) */
	enum intent_result want;
	const char *msg;
};

static void fold__answers(void **state)
{
	static const struct fold_case cases[] = {
		{"good", 200, "{\"score\":0.2,\"reasons\":[\"overlaps billing\"]}", INTENT_PASS, "score 0.20; overlaps billing"},
		{"garbage", 200, "<html>not json</html>", INTENT_ERROR, "answered no {\"score\""},
		{"score out of range", 200, "{\"score\":3}", INTENT_ERROR, "HTTP 200"},
		{"server error", 500, "{\"score\":0.9}", INTENT_ERROR, "failed (HTTP 500)"},
		{"timeout", 200, NULL, INTENT_ERROR, "failed (no answer within 1 s)"},
	};
	struct fake_server fs;
	(void)state;
	assert_int_equal(fake_server_start(&fs), 0);
	struct intent_evaluator *ev = intent_evaluator_new(on_done, NULL);
	assert_non_null(ev);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct fold_case *c = &cases[i];
		struct intent_policy pol;
		struct intent_report rep;
		cJSON *in = intent_gen((int)i + 1);
		struct fake_resp r = {.status = c->status, .body = c->body, .hold = c->body == NULL};

		fake_reset(&fs);
		if (c->body)
			fake_push(&fs, c->status, c->body);
		else
			fake_push_resp(&fs, &r);
		policy_for(fs.url, 1, &pol);
		int64_t ms = fold_wait(ev, in, &pol, &rep);
		double want = c->want == INTENT_PASS ? round((0.5 * rep.rule_score + 0.5 * 0.2) * 100) / 100
						     : rep.rule_score;
		if (!rep.has_evaluator || rep.evaluator.result != c->want || !strstr(rep.evaluator.message, c->msg) ||
		    rep.score < want - 1e-9 || rep.score > want + 1e-9)
			fail_msg("%s: %s %.2f (rules %.2f) \"%s\"", c->name, intent_result_name(rep.evaluator.result),
				 rep.score, rep.rule_score, rep.evaluator.message);
		/* Bounded by the policy's timeout (1 s), with slack for a loaded machine. */
		if (ms > 8000)
			fail_msg("%s: took %lld ms", c->name, (long long)ms);
		/* The body is the Intent without status or managedFields. */
		assert_int_equal(fake_nreqs(&fs), 1);
		pthread_mutex_lock(&fs.mu);
		assert_string_equal(fs.reqs[0].method, "POST");
		assert_string_equal(fs.reqs[0].content_type, "application/json");
		cJSON *sent = cJSON_Parse(fs.reqs[0].body);
		pthread_mutex_unlock(&fs.mu);
		assert_non_null(sent);
		assert_non_null(kube_json_get(sent, "spec", "purpose", NULL));
		assert_null(kube_json_get(sent, "status", NULL));
		assert_null(kube_json_get(sent, "metadata", "managedFields", NULL));
		cJSON_Delete(sent);
		/* Asked again for the same generation: the kept answer, no second POST. */
		assert_int_equal(intent_evaluator_fold(ev, "ns/rev", in, &pol, &rep), 1);
		assert_int_equal(fake_nreqs(&fs), 1);
		intent_policy_release(&pol);
		cJSON_Delete(in);
	}
	intent_evaluator_free(ev);
	fake_server_stop(&fs);
}

static void fold__connection_refused_and_no_evaluator(void **state)
{
	struct intent_policy pol;
	struct intent_report rep;
	cJSON *in = intent_gen(1);
	struct intent_evaluator *ev = intent_evaluator_new(on_done, NULL);

	(void)state;
	policy_for("http://127.0.0.1:1/", 2, &pol);
	fold_wait(ev, in, &pol, &rep);
	assert_int_equal(rep.evaluator.result, INTENT_ERROR);
	assert_non_null(strstr(rep.evaluator.message, "http://127.0.0.1:1/ failed ("));
	assert_true(rep.score == rep.rule_score);
	/* No evaluator running: an error result at once, never a crash. */
	assert_int_equal(intent_governance_evaluate(in, NULL, &pol, &rep), 0);
	assert_int_equal(intent_evaluator_fold(NULL, "ns/rev", in, &pol, &rep), 1);
	assert_int_equal(rep.evaluator.result, INTENT_ERROR);
	intent_policy_release(&pol);
	/* No evaluator in the policy: nothing to do. */
	intent_policy_defaults(&pol);
	assert_int_equal(intent_governance_evaluate(in, NULL, &pol, &rep), 0);
	assert_int_equal(intent_evaluator_fold(ev, "ns/rev", in, &pol, &rep), 1);
	assert_false(rep.has_evaluator);
	intent_policy_release(&pol);
	assert_int_equal(intent_evaluator_poll(ev, NULL, 1, "http://x/", 1, "{}", &(struct intent_eval_result){0}), KUBE_EINVAL);
	intent_evaluator_free(ev);
	cJSON_Delete(in);
}

/* A new generation asks again; forget drops the kept answer; freeing with a call in flight
 * aborts it quickly (the server would hold it for 10 s). */
static void poll__generations_forget_and_shutdown(void **state)
{
	struct fake_server fs;
	struct intent_policy pol;
	struct intent_report rep;
	cJSON *g1 = intent_gen(1), *g2 = intent_gen(2);

	(void)state;
	assert_int_equal(fake_server_start(&fs), 0);
	set_fallback(&fs, (struct fake_resp){.status = 200, .body = "{\"score\":1}"});
	struct intent_evaluator *ev = intent_evaluator_new(on_done, NULL);
	policy_for(fs.url, 5, &pol);
	fold_wait(ev, g1, &pol, &rep);
	fold_wait(ev, g2, &pol, &rep);
	assert_int_equal(fake_nreqs(&fs), 2);
	intent_evaluator_forget(ev, "ns/rev");
	fold_wait(ev, g2, &pol, &rep);
	assert_int_equal(fake_nreqs(&fs), 3);
	assert_int_equal(rep.evaluator.result, INTENT_PASS);

	set_fallback(&fs, (struct fake_resp){.status = 200, .hold = true});
	intent_evaluator_forget(ev, "ns/rev");
	assert_int_equal(intent_governance_evaluate(g2, NULL, &pol, &rep), 0);
	assert_int_equal(intent_evaluator_fold(ev, "ns/rev", g2, &pol, &rep), 0);
	while (atomic_load(&fs.holding) == 0) {
		struct timespec ts = {0, 5 * 1000000L};
		nanosleep(&ts, NULL);
	}
	int64_t t0 = mono_ms();
	intent_evaluator_free(ev);
	assert_true(mono_ms() - t0 < 3000);
	intent_policy_release(&pol);
	fake_server_stop(&fs);
	cJSON_Delete(g1);
	cJSON_Delete(g2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fold__answers),
		cmocka_unit_test(fold__connection_refused_and_no_evaluator),
		cmocka_unit_test(poll__generations_forget_and_shutdown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
