/* Reading a Build step's termination message (docs/build-steps.md): the one JSON line that
 * phoenix-build, or a custom generator/builder image, leaves in its container's status. Pure
 * parsing with every field checked and bounded, so a hostile or broken step cannot put
 * anything unbounded or malformed into the Build's status. */
#ifndef PHX_BUILD_REPORT_H
#define PHX_BUILD_REPORT_H

#include <stdbool.h>

#define PHX_BUILD_WORD_MAX 64
#define PHX_BUILD_CMD_MAX 256
#define PHX_BUILD_SHA_MAX 65
#define PHX_BUILD_IMAGE_MAX 512
#define PHX_BUILD_TEXT_MAX 1024

struct phx_build_step_report {
	bool json;                        /* the message was one JSON object */
	char step[PHX_BUILD_WORD_MAX];
	char result[PHX_BUILD_WORD_MAX];  /* "Succeeded", "Failed" or "" */
	char reason[PHX_BUILD_WORD_MAX];  /* one word ([A-Za-z0-9]) or "" */
	char warning[PHX_BUILD_WORD_MAX];
	char build_system[PHX_BUILD_WORD_MAX];
	char test_command[PHX_BUILD_CMD_MAX];
	char commit_sha[PHX_BUILD_SHA_MAX]; /* 7..64 lowercase hex, or "" */
	char image[PHX_BUILD_IMAGE_MAX];  /* "name@sha256:<64 hex>", or "" */
	char message[PHX_BUILD_TEXT_MAX]; /* the message text; for a non-JSON message (a log tail
					     from FallbackToLogsOnError) its last bytes */
	int exit_code;                    /* -1 when absent */
	char bad_field[PHX_BUILD_WORD_MAX]; /* first field dropped for a wrong type or form */
};

/* Parses `text` (may be NULL or empty: all fields empty) into *out, always fully written.
 * Strings too long are cut; a field of the wrong type or form (a reason with spaces, a
 * commitSha that is not hex, an image not pinned by sha256 digest) is left empty and named in
 * bad_field. Returns 0 for a JSON object, KUBE_EPARSE otherwise (out->message then keeps the
 * text's tail), KUBE_EINVAL when out is NULL. Pure function; thread-safe. */
int phx_build_step_report_parse(const char *text, struct phx_build_step_report *out);

/* True when s is "name@sha256:" followed by 64 lowercase hex digits, name non-empty without
 * whitespace. Pure function. */
bool phx_build_image_digest_valid(const char *s);

#endif
