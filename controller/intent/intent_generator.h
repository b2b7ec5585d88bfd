/* The pluggable SPEC generator (Intent spec.generator): instead of the built-in builder and
 * optimizer, N Jobs (spec.generator.parallelism) run the generator image. Each gets, in a
 * ConfigMap volume at INTENT_GEN_MOUNT, the Intent (intent.json), the current SPEC (SPEC.md, the
 * built-in draft) and the verifier's findings on it (findings.json), and prints the new SPEC on
 * stdout between the INTENT_GEN_BEGIN and INTENT_GEN_END lines. The operator reads each log
 * through pods/log (at most INTENT_GEN_LOG_MAX bytes), verifies every SPEC, and the best score
 * wins. A Job that fails, or prints no SPEC between the markers, is a failed run; an attempt
 * with no SPEC is retried after 10 s, 30 s, 60 s (status.generator.retries), then the Intent
 * falls back to human review. Jobs: no service-account token, the restricted Pod Security
 * profile, deterministic names (a restarted operator finds the Jobs it made). */
#ifndef INTENT_GENERATOR_H
#define INTENT_GENERATOR_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "intent_spec.h"
#include "kube_controller.h"
#include "kube_rest.h"

struct kube_events;

/* The generator Jobs. Spelled out: tests/e2e/32_manifests.sh reads GVRs from the source. */
static const struct kube_gvr INTENT_GEN_JOB_GVR = {"batch", "v1", "jobs", true};

#define INTENT_GEN_BEGIN "----- BEGIN PHOENIX SPEC -----"
#define INTENT_GEN_END "----- END PHOENIX SPEC -----"
#define INTENT_GEN_LOG_MAX (256 * 1024)
#define INTENT_GEN_RETRIES 3
#define INTENT_GEN_CONTAINER "generator"
#define INTENT_GEN_MOUNT "/phoenix/input"
#define INTENT_GEN_INPUT_SUFFIX "-generator"
#define INTENT_GEN_DEADLINE_S 600
#define INTENT_GEN_LABEL_ATTEMPT "phoenix.fpai.io/generator-attempt"

/* 1 with the image and the parallelism (1-8; 1 when absent) when the Intent has spec.generator
 * with an image; 0 otherwise. */
int intent_generator_of(const cJSON *intent, const char **image, int *parallelism);

/* Seconds to wait before retry number `failures` (1: 10, 2: 30, 3: 60); -1 when the retries are
 * used up. */
int intent_generator_backoff_s(int failures);

/* "<intent, at most 40>-gen-<8 hex of uid and generation>-<attempt>-<index>": the same for the
 * same Intent, generation, attempt and index, at most 63 characters (a valid label value). */
void intent_generator_job_name(const char *intent, const char *uid, int64_t gen, int attempt,
			       int index, char *buf, size_t len);

/* The Job for (generation, attempt, index) of the Intent object: owned by the Intent, labelled
 * INTENT_LABEL=<intent>, backoffLimit 0, a deadline of INTENT_GEN_DEADLINE_S, the input
 * ConfigMap mounted read-only, automountServiceAccountToken false and the restricted security
 * context. The caller frees it; NULL on allocation failure. */
cJSON *intent_generator_job(const cJSON *intent, const char *image, int64_t gen, int attempt,
			    int index, const char *input_cm);

/* The SPEC printed between the marker lines of log (len bytes, not NUL-terminated); *md is a
 * new string (caller frees). KUBE_EPARSE with why in msg when there are no markers, the end
 * marker is missing, or the text between them is blank; KUBE_ENOMEM. */
int intent_generator_extract(const char *log, size_t len, char **md, char *msg, size_t msglen);

/* A Job's outcome: 0 running, 1 succeeded, -1 failed (why in msg). */
int intent_generator_job_state(const cJSON *job, char *msg, size_t msglen);

/* The finished generator Jobs' pods/log reads (up to 30 s each), off the reconcile worker: one
 * thread of its own reads them in turn and calls done(intent key "ns/name") when one is in, so
 * the reconcile that asked comes back for it (the evaluator's pattern). Thread-safe. */
struct intent_gen_logs;

/* NULL on allocation or thread failure. done runs on the reader's thread. */
struct intent_gen_logs *intent_gen_logs_new(struct kube_client *client,
					    void (*done)(const char *intent_key, void *ud), void *ud);

/* Stops the thread (after the read under way) and frees everything. NULL is a no-op. */
void intent_gen_logs_free(struct intent_gen_logs *l);

/* Reads (and results) held: asked for and not yet taken by a reconcile. */
size_t intent_gen_logs_len(struct intent_gen_logs *l);

/* Asks for the log of Job ns/job, whose finished read brings back the Intent intent ("ns/name":
 * done(intent) on the reader's thread). 1 when it is in (take it), 0 while it is being read
 * (queued now if it was not), KUBE_ENOMEM, or KUBE_ETOOBIG when too many reads are held (read
 * it on the caller's thread instead). Results nobody takes are dropped after 10 minutes. */
int intent_gen_logs_ask(struct intent_gen_logs *l, const char *ns, const char *job,
			const char *intent);

/* Takes the read intent_gen_logs_ask() said is in: what the pods/log read answered (0, or a
 * kube_err with why in msg), the log in *out (out->buf the caller frees; at most
 * INTENT_GEN_LOG_MAX bytes: a longer log is cut, not an error). KUBE_ENOTFOUND when no such
 * read is in. The read is removed either way. */
struct intent_gen_log {
	char *buf;
	size_t len;
};
int intent_gen_logs_take(struct intent_gen_logs *l, const char *ns, const char *job,
			 struct intent_gen_log *out, char *msg, size_t msglen);

/* What the controller lends the step. */
struct intent_gen_io {
	struct kube_client *client;
	struct kube_cache *jobs;        /* the Jobs the Intents own (INTENT_LABEL) */
	struct kube_cache *cms;         /* the ConfigMaps the Intents own (INTENT_LABEL) */
	struct kube_events *events;
	struct intent_gen_logs *logs;   /* NULL: the logs are read on the caller's thread */
};

enum intent_gen_state { INTENT_GEN_PENDING, INTENT_GEN_DONE, INTENT_GEN_FAILED };

struct intent_gen_result {
	enum intent_gen_state state;
	char *md;                            /* DONE: the winning SPEC (caller frees) */
	struct intent_spec_verdict verdict;  /* DONE: its verdict */
	int64_t requeue_ms;                  /* PENDING: look again after (0: a Job event will) */
	char message[640];                   /* what is going on / why it failed */
};

/* One reconcile's worth of the generator for generation gen of the Intent: keeps its state in
 * status.generator (reset for a new generation), writes the input ConfigMap and the Jobs it
 * lacks, collects finished Jobs' SPECs, schedules retries and records Events on a retry and on
 * giving up. now is RFC 3339, now_ms the same instant. With io->logs the finished Jobs' logs
 * are read on its thread: PENDING ("reading ...") until they are in, done() then brings the
 * Intent back. Returns 0 with *out filled, or a kube_err from the API (retry the reconcile). */
int intent_generator_step(const struct intent_gen_io *io, const cJSON *intent, int64_t gen,
			  const char *now, int64_t now_ms, cJSON *status,
			  struct intent_gen_result *out);

/* Deletes the generator Jobs of the Intent (spec.state Cancelled). Returns 0 or a kube_err. */
int intent_generator_stop(const struct intent_gen_io *io, const cJSON *intent);

#endif
