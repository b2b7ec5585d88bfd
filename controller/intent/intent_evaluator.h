/* The external evaluator of a GovernancePolicy (spec.evaluator): the Intent is POSTed as JSON to
 * the URL and the answer {"score": 0..1, "reasons": [...]} is folded into the governance report
 * (intent_governance_apply_evaluator). The calls run on the evaluator's own threads, never on a
 * reconcile worker: intent_evaluator_poll() starts a call and answers "pending" at once; when the
 * call ends (answer, error or the policy's timeout, capped at 60 s) the Intent's key is handed to
 * the done callback, which enqueues it again. See docs/design-decisions.md. */
#ifndef INTENT_EVALUATOR_H
#define INTENT_EVALUATOR_H

#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

#define INTENT_EVAL_BODY_MAX (64 * 1024) /* a longer answer is garbage */
#define INTENT_EVAL_TIMEOUT_MAX_S 60
#define INTENT_EVAL_THREADS 2

struct intent_evaluator;

/* done(key, ud) runs on an evaluator thread when a call ends; it must be quick (enqueue). */
typedef void (*intent_evaluator_done_fn)(const char *key, void *ud);

/* Starts the threads. NULL on failure. */
struct intent_evaluator *intent_evaluator_new(intent_evaluator_done_fn done, void *ud);

/* Stops the threads (a call in flight is aborted) and frees everything. NULL is a no-op. */
void intent_evaluator_free(struct intent_evaluator *ev);

/* The outcome of one call. */
struct intent_eval_result {
	int rc;            /* 0: a 2xx answer in body; < 0: kube_err (timeout, transport, HTTP) */
	long http_status;  /* 0 when no answer came */
	char detail[160];  /* what went wrong, for the `error` result ("" on success) */
	char *body;        /* the answer (NUL-terminated), owned by the caller; NULL on error */
	size_t len;
};

/* Asks for the evaluation of generation gen of the Intent `key` at url with body (the Intent as
 * JSON; copied). Returns 1 with *out filled (the caller frees out->body with free()) when a call
 * for this key, generation and URL has ended; 0 when it is pending (started now, or still
 * running); < 0 on bad arguments or allocation failure. A finished result is kept until a call
 * for another generation or URL replaces it or intent_evaluator_forget() drops it, so a retried
 * reconcile does not POST again. timeout_s is capped to 1..INTENT_EVAL_TIMEOUT_MAX_S. */
int intent_evaluator_poll(struct intent_evaluator *ev, const char *key, int64_t gen,
			  const char *url, int timeout_s, const char *body,
			  struct intent_eval_result *out);

/* Drops what is kept for key (the Intent is gone). A call in flight ends unreported. */
void intent_evaluator_forget(struct intent_evaluator *ev, const char *key);

/* Performs one call synchronously on the caller's thread (what the evaluator threads run; for
 * tests). abort_flag, when not NULL, aborts the call once it becomes non-zero. */
void intent_evaluator_call(const char *url, int timeout_s, const char *body,
			   const atomic_int *abort_flag, struct intent_eval_result *out);

#include <cjson/cJSON.h>

#include "intent_governance.h"
#include "intent_policy.h"

/* The body POSTed for an Intent: {apiVersion, kind, metadata {name, namespace, uid, generation,
 * labels}, spec} (no status, no managedFields). The caller frees it; NULL on allocation failure. */
char *intent_evaluator_body(const cJSON *intent);

/* The controller's step: with no evaluator in *policy returns 1 and leaves *rep alone. Else polls
 * ev for (key, the Intent's generation): pending -> 0; ended -> folds the outcome into *rep
 * (intent_governance_apply_evaluator; a failure names what went wrong in the `error` result's
 * message) and returns 1. Never blocks. */
int intent_evaluator_fold(struct intent_evaluator *ev, const char *key, const cJSON *intent,
			  const struct intent_policy *policy, struct intent_report *rep);

#endif
