/* Build attempt failure classification and retry policy, as pure functions: what went wrong
 * with an attempt's pod (from its status, not the exit code alone) and what the controller does
 * next (retry with more memory or a longer deadline, retry without counting, fail fast).
 * Nothing here does I/O or reads a clock; docs/build-steps.md lists the classes. */
#ifndef PHX_BUILD_CLASSIFY_H
#define PHX_BUILD_CLASSIFY_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* phoenix-build's exit codes (cmd/phoenix-build/pb_report.h PB_EXIT_*; a test checks both). */
#define PHX_BUILD_EXIT_STEP_FAILED 1
#define PHX_BUILD_EXIT_INVALID_INPUT 64
#define PHX_BUILD_EXIT_NO_BUILD_SYSTEM 65
#define PHX_BUILD_EXIT_TIMED_OUT 124

/* An image pull error this old (since the pod started, or was created) fails the attempt. */
#define PHX_BUILD_PULL_FAIL_AFTER_MS_DEFAULT 120000
/* Disruptions retried without counting an attempt, at most this many per Build. */
#define PHX_BUILD_MAX_UNCOUNTED 5

enum phx_build_class {
	PHX_BUILD_CLASS_RUNNING = 0,  /* nothing to decide yet (incl. a young pull error) */
	PHX_BUILD_CLASS_SUCCEEDED,
	PHX_BUILD_CLASS_OOM,          /* a step's container terminated with reason OOMKilled */
	PHX_BUILD_CLASS_DEADLINE,     /* Job or pod DeadlineExceeded */
	PHX_BUILD_CLASS_IMAGE_PULL,   /* pull error older than the bound, or an invalid image */
	PHX_BUILD_CLASS_INVALID_INPUT, /* a step exited PHX_BUILD_EXIT_INVALID_INPUT */
	PHX_BUILD_CLASS_NO_BUILD_SYSTEM, /* a step exited PHX_BUILD_EXIT_NO_BUILD_SYSTEM */
	PHX_BUILD_CLASS_TESTS_FAILED, /* the test step failed (or timed out) */
	PHX_BUILD_CLASS_DISRUPTED,    /* evicted, preempted, node lost or shut down */
	PHX_BUILD_CLASS_STEP_FAILED,  /* any other failure (fetch, generate, image, exit 137, ...) */
};

#define PHX_BUILD_STEP_MAX 64
#define PHX_BUILD_MESSAGE_MAX 512

struct phx_build_verdict {
	enum phx_build_class cls;
	const char *reason;       /* the Build reason this class fails with (static), "" if none */
	char step[PHX_BUILD_STEP_MAX]; /* the container that decided, "" for pod/Job level */
	int exit_code;            /* that container's exit code, -1 when none */
	int64_t pending_ms;       /* for pull errors: how long the pod has waited */
	char message[PHX_BUILD_MESSAGE_MAX]; /* one line for status and Events */
};

/* Classifies an attempt from its pod and/or Job (either may be NULL, not both; borrowed, not
 * modified). Precedence: the Job or pod DeadlineExceeded, then a disruption (DisruptionTarget
 * condition, Evicted / NodeLost / Terminated / Shutdown pod reasons), then the first failing
 * container (init containers in order, then the others), then pull errors waiting longer than
 * pull_fail_after_ms (<= 0: the default), then the pod or Job phase. now_ms is wall-clock
 * milliseconds. Returns 0 with *out filled, KUBE_EINVAL when out is NULL or both inputs are.
 * Pure function; thread-safe. */
int phx_build_classify(const cJSON *pod, const cJSON *job, int64_t now_ms,
		       int64_t pull_fail_after_ms, struct phx_build_verdict *out);

/* Stable name of a class for status.history and metrics: "OOMKilled", "DeadlineExceeded",
 * "ImagePull", "InvalidInput", "NoBuildSystem", "TestsFailed", "Disrupted", "StepFailed",
 * "Succeeded", "Running". Static string. */
const char *phx_build_class_name(enum phx_build_class c);

/* What happened before this attempt, from the Build's status. */
struct phx_build_history {
	int attempt;        /* the finished attempt's number, counted attempts only, from 1 */
	int max_attempts;   /* spec.retry.maxAttempts (<= 0: 3) */
	int tests_failed;   /* earlier attempts that ended TestsFailed */
	int uncounted;      /* earlier retries that did not count (disruptions) */
};

enum phx_build_action {
	PHX_BUILD_WAIT = 0,  /* attempt still running: nothing to do */
	PHX_BUILD_DONE,      /* succeeded */
	PHX_BUILD_RETRY,     /* start a new attempt after delay_ms */
	PHX_BUILD_FAIL,      /* Succeeded=False with fail_reason */
};

struct phx_build_decision {
	enum phx_build_action action;
	bool counts;            /* RETRY: the next attempt number is attempt+1 (else the same) */
	double memory_factor;   /* RETRY: multiply the step memory limits (1: unchanged) */
	double deadline_factor; /* RETRY: multiply activeDeadlineSeconds (1: unchanged) */
	int64_t delay_ms;       /* RETRY: backoff before the next Job */
	const char *fail_reason; /* FAIL: the Build reason (static) */
	const char *remediation; /* one word for status.history (static): "DoubleMemory", ... */
};

/* The retry policy: OOM -> twice the memory; DeadlineExceeded -> twice the deadline; pull
 * errors, invalid input, no build system -> fail fast; failing tests -> one retry, then
 * TestsFailed; disruptions -> retry without counting (up to PHX_BUILD_MAX_UNCOUNTED, then they
 * count); other step failures -> plain retry; retryable classes out of attempts ->
 * RetriesExhausted. Returns 0, KUBE_EINVAL on NULL. Pure function. */
int phx_build_decide(const struct phx_build_verdict *v, const struct phx_build_history *h,
		     struct phx_build_decision *out);

/* Backoff before retry number n (1-based): 10 s, 30 s, then 60 s for every later one. */
int64_t phx_build_backoff_ms(int n);

#endif
