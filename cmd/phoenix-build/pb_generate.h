/* The built-in generator of phoenix-build (`phoenix-build generate`): reads a SPEC (the SPEC.md
 * an Intent writes, or one written by hand) and writes a small Python service into a directory:
 * the five contract endpoints, a stub endpoint per key feature, unittest tests of all of them, a
 * Makefile whose `test` target runs them, and a Dockerfile the `local` builder honours.
 * Python 3 standard library only (http.server, json, unittest, urllib). docs/builds.md. */
#ifndef PB_GENERATE_H
#define PB_GENERATE_H

#include <stddef.h>

#define PB_GEN_SPEC_MAX (256 * 1024) /* bytes of SPEC read; a ConfigMap holds at most 1 MiB */
#define PB_GEN_MAX_FEATURES 32
#define PB_GEN_MAX_DEPS 32
#define PB_GEN_NAME_MAX 200 /* bytes of a feature's name kept */
#define PB_GEN_SLUG_MAX 40

struct pb_gen_feature {
	char name[PB_GEN_NAME_MAX + 1]; /* valid UTF-8, no control bytes */
	char slug[PB_GEN_SLUG_MAX + 16]; /* [a-z0-9-], unique: its endpoint is /features/<slug> */
};

struct pb_gen_spec {
	char service[64]; /* a DNS-1123 label */
	int port;
	int nfeatures;
	struct pb_gen_feature features[PB_GEN_MAX_FEATURES];
	int ndeps;
	char deps[PB_GEN_MAX_DEPS][64]; /* DNS-1123 labels */
};

/* Parses the SPEC text md. service (may be NULL) overrides the SPEC's "# SPEC: <name>" title,
 * port (> 0) its "`PORT`: N" configuration line (default 8080). Features are the "### "
 * headings of "## Features" (a leading "1. " dropped), or its top-level "- " items when it has
 * no headings; dependencies the top-level "- " items of "## Dependencies" (the name in
 * backquotes, or up to ':' or a space; "None." is none). Returns 0, or -1 with a message for
 * people in err (an empty SPEC, no features, too many, a name that is not a DNS label...). */
int pb_gen_parse(const char *md, const char *service, int port, struct pb_gen_spec *out,
		 char *err, size_t errlen);

/* Writes the service into dir (which must exist); files gets the names written, ", "
 * separated. Returns the number of files, or -1 with err set. */
int pb_gen_write(const char *dir, const struct pb_gen_spec *s, char *files, size_t fileslen,
		 char *err, size_t errlen);

/* The generated service's language and build system (for the step's report). */
#define PB_GEN_LANGUAGE "python"
#define PB_GEN_BUILD_SYSTEM "make"

#endif
