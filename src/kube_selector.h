/* Kubernetes label selectors (text form and LabelSelector objects) and field selectors: parse
 * once, match many times. An immutable parsed selector may be shared by threads. */
#ifndef KUBE_SELECTOR_H
#define KUBE_SELECTOR_H

#include <stdbool.h>

#include <cjson/cJSON.h>

struct kube_selector;

/* Parses the text syntax: requirements separated by commas (AND) of the forms
 *   key=value  key==value  key!=value  key in (v1,v2)  key notin (v1,v2)  key  !key
 * Keys may carry a DNS prefix ("app.kubernetes.io/name"); values may be empty. Whitespace around
 * tokens is ignored. NULL or "" gives the empty selector (matches everything).
 * Returns 0 with *out a new selector (free with kube_selector_free), KUBE_EPARSE with, if errmsg
 * is non-NULL, a malloc'd message naming the position and what was expected, KUBE_EINVAL (out
 * NULL), KUBE_ENOMEM. Reentrant. */
int kube_selector_parse(const char *text, struct kube_selector **out, char **errmsg);

/* Builds a selector from a metav1.LabelSelector object {"matchLabels":{..},"matchExpressions":
 * [{"key":..,"operator":"In|NotIn|Exists|DoesNotExist","values":[..]}]}. NULL or {} matches
 * everything (as Kubernetes does for e.g. a PDB's selector). Errors as kube_selector_parse
 * (KUBE_EPARSE for an unknown operator, In/NotIn without values, Exists with values, ...). */
int kube_selector_from_object(const cJSON *label_selector, struct kube_selector **out,
			      char **errmsg);

/* Field selectors: only key=value, key==value, key!=value, comma-separated; keys are dotted
 * paths into the object ("metadata.name", "spec.nodeName", "status.phase"). */
int kube_field_selector_parse(const char *text, struct kube_selector **out, char **errmsg);

/* True when every requirement holds for `labels` (a JSON object of string values, or NULL = no
 * labels). Pure; thread-safe. */
bool kube_selector_matches(const struct kube_selector *s, const cJSON *labels);

/* Same, reading obj.metadata.labels. */
bool kube_selector_matches_object(const struct kube_selector *s, const cJSON *obj);

/* For a field selector: resolves each dotted key in obj (non-string scalars compare by their
 * text, missing fields as ""). */
bool kube_field_selector_matches(const struct kube_selector *s, const cJSON *obj);

/* True when the selector has no requirements (matches everything). */
bool kube_selector_empty(const struct kube_selector *s);

/* Canonical text form, suitable for a labelSelector query parameter; "" for the empty selector.
 * Returns 0 with *out malloc'd (caller frees) or KUBE_ENOMEM. */
int kube_selector_to_string(const struct kube_selector *s, char **out);

/* NULL-safe. */
void kube_selector_free(struct kube_selector *s);

#endif
