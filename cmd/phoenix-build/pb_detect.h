/* Build-system detection for the phoenix-build step program: which system a source tree uses
 * (first match in a fixed, documented order) and the conventional test command for it.
 * Reads only the files it names in the directory; no commands are run, no globals. */
#ifndef PB_DETECT_H
#define PB_DETECT_H

#include <stdbool.h>
#include <stddef.h>

/* Detection order: the first system whose marker file exists wins (docs/build-steps.md). */
enum pb_system {
	PB_SYSTEM_NONE = 0,
	PB_SYSTEM_CARGO,      /* Cargo.toml */
	PB_SYSTEM_NPM,        /* package.json */
	PB_SYSTEM_PYTHON,     /* pyproject.toml, setup.py, requirements.txt */
	PB_SYSTEM_MAVEN,      /* pom.xml */
	PB_SYSTEM_GRADLE,     /* build.gradle, build.gradle.kts, settings.gradle(.kts), gradlew */
	PB_SYSTEM_MAKE,       /* GNUmakefile, Makefile, makefile */
	PB_SYSTEM_DOCKERFILE, /* Dockerfile only: nothing to test */
};

#define PB_COMMAND_MAX 256
#define PB_MARKER_MAX 32

struct pb_detection {
	enum pb_system system;
	char marker[PB_MARKER_MAX];         /* the file that decided, e.g. "pyproject.toml" */
	char test_command[PB_COMMAND_MAX];  /* "" when no_tests */
	bool no_tests;                      /* NoTestsDefined: a warning, the step still succeeds */
	char note[128];                     /* why no tests, or which fallback was taken; may be "" */
};

/* Facts about the machine that change the command choice; tests inject them. */
struct pb_env {
	bool have_pytest; /* `python3 -m pytest` works; otherwise unittest discovery */
};

/* Stable name for JSON and docs: "cargo", "npm", "python", "maven", "gradle", "make",
 * "dockerfile"; "" for PB_SYSTEM_NONE. Static string. */
const char *pb_system_name(enum pb_system s);

/* Inspects directory `dir` and fills *out (always fully written). Returns 0 when a system was
 * found, KUBE_ENOTFOUND when none was (out->system == PB_SYSTEM_NONE), KUBE_EINVAL when dir
 * is NULL or not a readable directory. Thread-safe; reads files only. */
int pb_detect(const char *dir, const struct pb_env *env, struct pb_detection *out);

/* True when the Makefile text `text` (NUL-terminated) defines a rule for target `target`
 * (a line "a b target c: ..." outside a recipe; "target := x" assignments do not count).
 * Pure function. */
bool pb_make_has_target(const char *text, const char *target);

/* Classifies a package.json text: returns 1 when scripts.test is a real test script, 0 when it
 * is missing or npm's default "no test specified" placeholder, KUBE_EPARSE when the text is
 * not a JSON object. Pure function. */
int pb_npm_has_test_script(const char *json_text);

#endif
