/* kubesim's subset of kubectl JSONPath, as used by CRD additionalPrinterColumns: field chains,
 * [n] indexes, [*] wildcards, [?(@.k=="v")] filters, escaped dots; plus kubectl-style printing. */
#ifndef SIM_JSONPATH_H
#define SIM_JSONPATH_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* Supported syntax: optional surrounding `{ }`, leading `.` or `$.`, `.field`, `['field']`,
 * `.field\.with\.dots` (escaped dots belong to the name), `[n]` (negative n counts from the end),
 * `[*]` / `.*`, `[?(@.a.b=="v")]` with == != < <= > >= against a string, number, true/false,
 * and `[?(@.a)]` (existence). Results are borrowed pointers into `root`: valid as long as root is
 * unchanged; never free them. Thread safety: none needed, no shared state. */

/* Evaluates expr and stores up to `max` results in out[] (document order); *n receives the
 * number of results found (which may exceed max). Returns 0 (zero results is not an error: a
 * missing field just yields none), or KUBE_EINVAL for a syntax error or NULL arguments. */
int sim_jsonpath_eval(const cJSON *root, const char *expr, const cJSON **out, size_t max,
		      size_t *n);

/* The first result of expr, or NULL when there is none or expr is invalid. */
const cJSON *sim_jsonpath_get(const cJSON *root, const char *expr);

/* Renders one value like kubectl's JSONPath printer: strings bare, integral numbers without a
 * fraction ("3", not "3.0"), other numbers in shortest form, true/false, a JSON null as "null",
 * objects and arrays as compact JSON (missing values never reach the printer). Returns a malloc'd string (caller frees), NULL for v == NULL or on ENOMEM. */
char *sim_jsonpath_render(const cJSON *v);

/* Evaluates expr and renders every result, joined with "," (as kubectl custom-columns does;
 * CRD printer columns use only the first result, see sim_jsonpath_get). NULL when there is no
 * result (the table shows <none>), on a syntax error or on ENOMEM. malloc'd; caller frees. */
char *sim_jsonpath_print(const cJSON *root, const char *expr);

#endif
