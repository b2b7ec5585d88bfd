/* Small cJSON helpers shared by the library, kubesim and the operator: read a value at a path of
 * keys without a chain of NULL checks, and the handful of metadata fields everybody needs. */
#ifndef KUBE_JSON_H
#define KUBE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* Walks `root` through a NULL-terminated list of object keys, e.g.
 * kube_json_get(pod, "metadata", "labels", "app.kubernetes.io/name", NULL). Keys are separate
 * arguments (not a dotted string) because label keys contain dots. Returns a borrowed pointer
 * into `root`, or NULL when root is NULL, a step is missing or a step is not an object. Keys are
 * compared case-sensitively. Pure function; thread-safe as long as nobody mutates root. */
const cJSON *kube_json_get(const cJSON *root, ...) __attribute__((sentinel));

/* Like kube_json_get, but returns the string value (borrowed), or NULL when the value is missing
 * or not a string. */
const char *kube_json_get_str(const cJSON *root, ...) __attribute__((sentinel));

/* Like kube_json_get, but stores a number in *out and returns true; returns false (leaving *out
 * alone) when the value is missing or not a number. */
bool kube_json_get_num(const cJSON *root, double *out, ...) __attribute__((sentinel));

/* Like kube_json_get_num, for integers: numbers are truncated (and clamped to the int64 range),
 * strings are not converted. */
bool kube_json_get_int(const cJSON *root, int64_t *out, ...) __attribute__((sentinel));

/* Like kube_json_get, but a missing value or one that is not a bool gives `dflt`. */
bool kube_json_get_bool(const cJSON *root, int dflt, ...) __attribute__((sentinel));

/* Shortcuts for metadata fields; borrowed strings or NULL when missing. */
const char *kube_json_name(const cJSON *obj);
const char *kube_json_namespace(const cJSON *obj);
const char *kube_json_uid(const cJSON *obj);
const char *kube_json_resource_version(const cJSON *obj);

/* Returns the object's child `key`, creating an empty object there (replacing a non-object
 * value) when needed: kube_json_ensure_obj(kube_json_ensure_obj(pod, "metadata"), "labels").
 * Returns a borrowed pointer into obj, or NULL when obj is NULL/not an object or on ENOMEM. */
cJSON *kube_json_ensure_obj(cJSON *obj, const char *key);

/* Sets obj[key] to a copy of the string, replacing any existing value. Returns 0, KUBE_EINVAL
 * when obj is not an object or an argument is NULL, KUBE_ENOMEM; on error obj is unchanged. */
int kube_json_set_str(cJSON *obj, const char *key, const char *value);

/* Parses exactly `len` bytes (no NUL needed). Returns a new tree the caller frees with
 * cJSON_Delete, or NULL when the bytes are not a single JSON value. */
cJSON *kube_json_parse_len(const char *buf, size_t len);

/* Compact serialisation; the caller frees the string with free(). NULL on ENOMEM. */
char *kube_json_print(const cJSON *obj);

/* Namespace/name key as informers and workqueues use it: "ns/name", or "name" for cluster-scoped
 * objects. Returns a malloc'd string or NULL when the object has no name (or ENOMEM). */
char *kube_json_key(const cJSON *obj);

#endif
