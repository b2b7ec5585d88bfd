/* Build-system detection and test-command choice for phoenix-build (see pb_detect.h and
 * docs/build-steps.md for the order and the commands). */
#include "pb_detect.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "kube_error.h"

/* Files larger than this are not read for targets/scripts (a marker still counts). */
#define PB_READ_MAX (1024 * 1024)

static const char *const npm_placeholder = "no test specified";

const char *pb_system_name(enum pb_system s)
{
	switch (s) {
	case PB_SYSTEM_CARGO: return "cargo";
	case PB_SYSTEM_NPM: return "npm";
	case PB_SYSTEM_PYTHON: return "python";
	case PB_SYSTEM_MAVEN: return "maven";
	case PB_SYSTEM_GRADLE: return "gradle";
	case PB_SYSTEM_MAKE: return "make";
	case PB_SYSTEM_DOCKERFILE: return "dockerfile";
	case PB_SYSTEM_NONE: break;
	}
	return "";
}

static bool file_in(const char *dir, const char *name, bool want_exec)
{
	char path[4096];
	struct stat st;
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return false;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return false;
	return !want_exec || access(path, X_OK) == 0;
}

/* Reads dir/name into a malloc'd NUL-terminated buffer, or NULL. */
static char *read_in(const char *dir, const char *name)
{
	char path[4096];
	char *buf = NULL;
	FILE *f = NULL;
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		goto out;
	f = fopen(path, "rb");
	if (!f)
		goto out;
	buf = malloc(PB_READ_MAX + 1);
	if (!buf)
		goto out;
	size_t n = fread(buf, 1, PB_READ_MAX, f);
	buf[n] = '\0';
out:
	if (f)
		fclose(f);
	return buf;
}

static bool word_in(const char *s, size_t len, const char *word)
{
	size_t wl = strlen(word);
	size_t i = 0;
	while (i < len) {
		while (i < len && isspace((unsigned char)s[i]))
			i++;
		size_t start = i;
		while (i < len && !isspace((unsigned char)s[i]))
			i++;
		if (i - start == wl && memcmp(s + start, word, wl) == 0)
			return true;
	}
	return false;
}

bool pb_make_has_target(const char *text, const char *target)
{
	const char *line = text;
	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		/* Recipes start with a tab; comments and directives have no rule colon. */
		if (len > 0 && line[0] != '\t' && line[0] != '#') {
			const char *colon = memchr(line, ':', len);
			bool assign = colon && (size_t)(colon - line) + 1 < len && colon[1] == '=';
			const char *eq = memchr(line, '=', len);
			if (colon && !assign && (!eq || eq > colon) &&
			    word_in(line, (size_t)(colon - line), target))
				return true;
		}
		line = end ? end + 1 : NULL;
	}
	return false;
}

int pb_npm_has_test_script(const char *json_text)
{
	cJSON *root = cJSON_Parse(json_text);
	int rc = 0;
	if (!cJSON_IsObject(root)) {
		rc = KUBE_EPARSE;
		goto out;
	}
	const cJSON *scripts = cJSON_GetObjectItemCaseSensitive(root, "scripts");
	const cJSON *test = cJSON_GetObjectItemCaseSensitive(scripts, "test");
	const char *s = cJSON_GetStringValue(test);
	if (!s)
		goto out;
	while (isspace((unsigned char)*s))
		s++;
	rc = (*s && !strstr(s, npm_placeholder)) ? 1 : 0;
out:
	cJSON_Delete(root);
	return rc;
}

static void set_cmd(struct pb_detection *d, const char *marker, const char *cmd)
{
	snprintf(d->marker, sizeof(d->marker), "%s", marker);
	snprintf(d->test_command, sizeof(d->test_command), "%s", cmd);
}

static void set_no_tests(struct pb_detection *d, const char *marker, const char *note)
{
	snprintf(d->marker, sizeof(d->marker), "%s", marker);
	d->test_command[0] = '\0';
	d->no_tests = true;
	snprintf(d->note, sizeof(d->note), "%s", note);
}

static bool detect_npm(const char *dir, struct pb_detection *d)
{
	if (!file_in(dir, "package.json", false))
		return false;
	d->system = PB_SYSTEM_NPM;
	char *text = read_in(dir, "package.json");
	int has = text ? pb_npm_has_test_script(text) : KUBE_EPARSE;
	free(text);
	if (has == 1)
		set_cmd(d, "package.json", "npm test");
	else if (has == 0)
		set_no_tests(d, "package.json", "package.json has no test script (or npm's default "
			     "\"no test specified\" one)");
	else
		set_cmd(d, "package.json", "npm test"); /* let npm name what is wrong with it */
	return true;
}

static bool detect_python(const char *dir, const struct pb_env *env, struct pb_detection *d)
{
	static const char *const markers[] = { "pyproject.toml", "setup.py", "requirements.txt" };
	for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++) {
		if (!file_in(dir, markers[i], false))
			continue;
		d->system = PB_SYSTEM_PYTHON;
		if (env && env->have_pytest) {
			set_cmd(d, markers[i], "python3 -m pytest");
		} else {
			set_cmd(d, markers[i], "python3 -m unittest discover");
			snprintf(d->note, sizeof(d->note), "pytest not installed: unittest discovery");
		}
		return true;
	}
	return false;
}

static bool detect_jvm(const char *dir, struct pb_detection *d)
{
	if (file_in(dir, "pom.xml", false)) {
		d->system = PB_SYSTEM_MAVEN;
		set_cmd(d, "pom.xml", file_in(dir, "mvnw", true) ? "./mvnw -B test" : "mvn -B test");
		return true;
	}
	static const char *const markers[] = { "build.gradle", "build.gradle.kts", "settings.gradle",
						"settings.gradle.kts", "gradlew" };
	for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++) {
		if (!file_in(dir, markers[i], false))
			continue;
		d->system = PB_SYSTEM_GRADLE;
		if (file_in(dir, "gradlew", true))
			set_cmd(d, markers[i], "./gradlew test");
		else if (file_in(dir, "gradlew", false))
			set_cmd(d, markers[i], "sh ./gradlew test");
		else
			set_cmd(d, markers[i], "gradle test");
		return true;
	}
	return false;
}

static bool detect_make(const char *dir, struct pb_detection *d)
{
	static const char *const markers[] = { "GNUmakefile", "Makefile", "makefile" };
	for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++) {
		if (!file_in(dir, markers[i], false))
			continue;
		d->system = PB_SYSTEM_MAKE;
		char *text = read_in(dir, markers[i]);
		if (text && pb_make_has_target(text, "test"))
			set_cmd(d, markers[i], "make test");
		else if (text && pb_make_has_target(text, "check"))
			set_cmd(d, markers[i], "make check");
		else
			set_no_tests(d, markers[i], "the Makefile has no test or check target");
		free(text);
		return true;
	}
	return false;
}

int pb_detect(const char *dir, const struct pb_env *env, struct pb_detection *out)
{
	struct stat st;
	memset(out, 0, sizeof(*out));
	if (!dir || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return KUBE_EINVAL;
	if (file_in(dir, "Cargo.toml", false)) {
		out->system = PB_SYSTEM_CARGO;
		set_cmd(out, "Cargo.toml", "cargo test");
		return 0;
	}
	if (detect_npm(dir, out) || detect_python(dir, env, out) || detect_jvm(dir, out) ||
	    detect_make(dir, out))
		return 0;
	if (file_in(dir, "Dockerfile", false)) {
		out->system = PB_SYSTEM_DOCKERFILE;
		set_no_tests(out, "Dockerfile", "only a Dockerfile: no test command is known");
		return 0;
	}
	return KUBE_ENOTFOUND;
}
