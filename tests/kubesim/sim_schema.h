/* kubesim structural OpenAPI v3 schema handling for custom resources: pruning, defaulting and
 * validation against a CRD version's openAPIV3Schema, with apiserver-style error causes. */
#ifndef SIM_SCHEMA_H
#define SIM_SCHEMA_H

#include <cjson/cJSON.h>

/* Order on write, like the apiserver: prune, default, validate. `schema` is always the
 * openAPIV3Schema object (borrowed, never modified). A NULL schema means "no schema": prune and
 * default do nothing, validate accepts everything. Thread safety: none needed, no shared state. */

/* Removes every field the schema does not list, recursively through properties, items and
 * additionalProperties, except below `x-kubernetes-preserve-unknown-fields: true`. At the root
 * (and in x-kubernetes-embedded-resource objects) apiVersion, kind and metadata are always kept;
 * of the root metadata only fields ObjectMeta does not have are dropped (embedded metadata is
 * kept whole). Modifies obj in place. Returns 0 or KUBE_EINVAL (obj NULL). */
int sim_schema_prune(cJSON *obj, const cJSON *schema);

/* sim_schema_prune, and when `pruned` is non-NULL it receives a new array (caller frees with
 * cJSON_Delete) of the removed fields' paths as the apiserver names them in strict field
 * validation ("spec.foo", "spec.ports[0].bar"), or NULL when nothing was removed. Returns 0,
 * KUBE_EINVAL (obj NULL) or KUBE_ENOMEM (then *pruned is NULL and obj may be partly pruned). */
int sim_schema_prune_report(cJSON *obj, const cJSON *schema, cJSON **pruned);

/* Adds `default` values for missing properties. Defaults inside an object apply only when that
 * object exists; a default that is itself an object is then defaulted further. Array items are
 * defaulted through `items`. Modifies obj in place; on KUBE_ENOMEM some defaults may already be
 * applied. Returns 0, KUBE_EINVAL (obj NULL) or KUBE_ENOMEM. */
int sim_schema_default(cJSON *obj, const cJSON *schema);

/* Validates: type (object, array, string, integer, number, boolean; integer rejects 1.5),
 * nullable, required, enum, minimum/maximum (+exclusiveMinimum/exclusiveMaximum),
 * minLength/maxLength, minItems/maxItems, minProperties/maxProperties, pattern (POSIX ERE),
 * x-kubernetes-int-or-string. Of root metadata only name and generateName are checked, against
 * the schema's metadata.properties (all a structural schema may say there; the rest of
 * ObjectMeta is the apiserver's own validation).
 * Returns 0 when valid (*causes set to NULL), KUBE_EINVALID when not, with *causes a new array
 * (caller frees with cJSON_Delete) of StatusCause objects exactly as the apiserver puts them in
 * details.causes -- the message is the error body without the field prefix:
 * {"reason":"FieldValueInvalid","message":"Invalid value: 9: spec.standbys in body should be
 *  less than or equal to 5","field":"spec.standbys"}; reasons FieldValueRequired ("Required
 * value"), FieldValueInvalid, FieldValueNotSupported ("Unsupported value: \"Foo\": supported
 * values: \"Surge\", \"Promote\""), FieldValueTypeInvalid. Or KUBE_ENOMEM (*causes NULL).
 * `causes` may be NULL. Paths use "." for fields and "[i]" for array items. */
int sim_schema_validate(const cJSON *obj, const cJSON *schema, cJSON **causes);

/* The Status message for a 422 Invalid: `<qualified_kind> "<name>" is invalid: <field>: <msg>`
 * for one cause, `... is invalid: [<field1>: <msg1>, <field2>: <msg2>]` for several. qualified_kind is e.g.
 * "PhoenixService.phoenix.fpai.io". Returns a malloc'd string (caller frees) or NULL on ENOMEM. */
char *sim_schema_causes_message(const cJSON *causes, const char *qualified_kind,
				const char *name);

#endif
