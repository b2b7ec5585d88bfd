/* YAML -> cJSON conversion with libyaml: used for kubeconfig files and to load manifests.
 * Plain scalars are typed the YAML 1.1 core way (null, bools, ints, floats); quoted ones stay strings. */
#ifndef KUBE_YAML_H
#define KUBE_YAML_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Parses the first document of `len` bytes of YAML (JSON is YAML, so JSON works too).
 * On success *out is a new tree (caller frees with cJSON_Delete); an empty document gives a cJSON
 * null. Mapping keys must be scalars; aliases are expanded (at most 2^20 nodes per
 * stream, all documents together, against alias bombs).
 * Returns 0, KUBE_EPARSE (and, if errmsg is non-NULL, a malloc'd message with line and column
 * the caller frees), KUBE_EINVAL for NULL arguments, KUBE_ENOMEM. On error *out is NULL.
 * Reentrant: no shared state. */
int kube_yaml_parse(const char *buf, size_t len, cJSON **out, char **errmsg);

/* Parses every document of a multi-document stream ("---" separated) into a new cJSON array, one
 * element per non-empty document, in order. Same errors and ownership as kube_yaml_parse. */
int kube_yaml_parse_all(const char *buf, size_t len, cJSON **out, char **errmsg);

/* Reads and parses the first document of a file. A missing/unreadable file is KUBE_ECONFIG with
 * errmsg naming the file and errno text; bad YAML is KUBE_EPARSE with file:line:column. */
int kube_yaml_load_file(const char *path, cJSON **out, char **errmsg);

#endif
