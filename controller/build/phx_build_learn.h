/* What Builds learn, per namespace: one ConfigMap (PHX_BUILD_LEARN_CM) whose data keys are
 * "<service>.<buildSystem>" and whose values are one small JSON object each: how many Builds
 * ended, the failure classes seen (counts), the remediation that worked (the memory and deadline
 * factors of the last Build that succeeded after a retry) and typical step durations (a moving
 * average). The next Build of the service starts from what worked. Bounded: at most
 * PHX_BUILD_LEARN_MAX_KEYS entries (the least recently updated go first), each at most
 * PHX_BUILD_LEARN_VALUE_MAX bytes. A value that does not parse is corrupt: ignored (the caller
 * records a Warning Event) and rewritten. Pure functions, no I/O; thread-safe. */
#ifndef PHX_BUILD_LEARN_H
#define PHX_BUILD_LEARN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define PHX_BUILD_LEARN_CM "phoenix-build-learning"
#define PHX_BUILD_LEARN_MAX_KEYS 64
#define PHX_BUILD_LEARN_VALUE_MAX 1024
#define PHX_BUILD_LEARN_CLASSES 12
#define PHX_BUILD_LEARN_STEPS 6
#define PHX_BUILD_LEARN_FACTOR_MAX 16

struct phx_build_learned {
	int64_t builds;          /* Builds that ended */
	int64_t succeeded;
	struct { char name[32]; int64_t count; } failures[PHX_BUILD_LEARN_CLASSES];
	int nfailures;
	int memory_factor;       /* >= 1: what the last success needed */
	int deadline_factor;     /* >= 1 */
	char remediation[64];    /* the remediation that made it work ("" when none was needed) */
	struct { char name[16]; int64_t ms; } steps[PHX_BUILD_LEARN_STEPS]; /* moving average */
	int nsteps;
	char updated_at[32];     /* RFC 3339 */
};

/* The data key of a service and build system (an empty or NULL one: "unknown"), into buf;
 * characters a ConfigMap key cannot hold become '_'. Returns buf. */
char *phx_build_learn_key(const char *service, const char *build_system, char *buf, size_t len);

/* Parses one value into *out (zeroed first; factors default to 1). 0, or KUBE_EINVAL when it is
 * not a JSON object of this shape (corrupt), KUBE_EINVAL for NULL arguments. */
int phx_build_learn_parse(const char *value, struct phx_build_learned *out);

/* One line of JSON, at most PHX_BUILD_LEARN_VALUE_MAX bytes (the oldest failure classes and
 * steps are dropped to fit); caller frees. NULL on ENOMEM. */
char *phx_build_learn_format(const struct phx_build_learned *l);

/* Folds a Build that just ended (its final status: result "Succeeded"/"Failed"/"Cancelled")
 * into *l: counts, the failure classes of status.history, on success the factors in
 * status.retry and the remediation of the last retried attempt, the step durations of
 * status.steps (average new = (3 old + observed) / 4). `now` is RFC 3339. */
void phx_build_learn_update(struct phx_build_learned *l, const cJSON *status, const char *result,
			    const char *now);

/* Where the next Build starts: the memory factor that worked, and the larger of the deadline
 * factor that worked and what the typical step durations need (3 times their sum must fit in
 * deadline_s). Both 1..PHX_BUILD_LEARN_FACTOR_MAX. */
void phx_build_learn_start(const struct phx_build_learned *l, int64_t deadline_s,
			   int *memory_factor, int *deadline_factor);

/* The learning of `service` in a ConfigMap's data (borrowed): the most recently updated of its
 * "<service>.*" entries. 1 when one was found and parsed into *out, 0 when none, KUBE_EINVAL
 * when it is corrupt (*out zeroed). */
int phx_build_learn_pick(const cJSON *data, const char *service, struct phx_build_learned *out,
			 char *key, size_t key_len);

/* The merge patch {"data":{...}} that sets data[key] = value and, beyond
 * PHX_BUILD_LEARN_MAX_KEYS, removes (null) the least recently updated entries; corrupt entries
 * (other than key) are removed too. *corrupt: how many were. Caller frees; NULL on ENOMEM. */
cJSON *phx_build_learn_patch(const cJSON *data, const char *key, const char *value,
			     int *corrupt);

#endif
