/* kubesim --run-pods (see sim_runtime.h): pure helpers (back-off, image resolution, termination
 * messages, quantities) and the process spawner. The runtime object is in sim_runtime_pods.c. */
#include "sim_runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kube_error.h"

#define BACKOFF_BASE_MS 10000
#define BACKOFF_MAX_MS 300000
#define TERM_MSG_MAX 4096
#define TERM_LOG_LINES 80

int64_t sim_rt_backoff_ms(int restarts, double scale)
{
	int64_t d = BACKOFF_BASE_MS;
	int i;

	if (restarts <= 0)
		return 0;
	for (i = 1; i < restarts && d < BACKOFF_MAX_MS; i++)
		d *= 2;
	if (d > BACKOFF_MAX_MS)
		d = BACKOFF_MAX_MS;
	if (scale <= 0)
		scale = 1;
	return (int64_t)((double)d * scale);
}

void sim_rt_strv_free(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

void sim_rt_image_release(struct sim_rt_image *img)
{
	sim_rt_strv_free(img->argv);
	sim_rt_strv_free(img->env);
	free(img->workdir);
	img->argv = img->env = NULL;
	img->workdir = NULL;
}

/* Appends the strings of a JSON array (non-strings skipped) to a NULL-terminated vector. */
static int strv_add_json(char ***v, size_t *n, const cJSON *arr)
{
	const cJSON *s;

	cJSON_ArrayForEach(s, arr) {
		char **nv;

		if (!cJSON_IsString(s))
			continue;
		nv = realloc(*v, (*n + 2) * sizeof(**v));
		if (!nv)
			return KUBE_ENOMEM;
		*v = nv;
		nv[*n] = strdup(s->valuestring);
		if (!nv[*n])
			return KUBE_ENOMEM;
		nv[++*n] = NULL;
	}
	return 0;
}

int sim_rt_find_exe(const char *name, const char *path_env, const char *cwd, char *buf,
		    size_t len)
{
	const char *p, *colon;

	if (!name || !*name)
		return 0;
	if (name[0] == '/' || (strchr(name, '/') && !cwd)) {
		snprintf(buf, len, "%s", name);
		return access(buf, X_OK) == 0;
	}
	if (strchr(name, '/')) {
		snprintf(buf, len, "%s/%s", cwd, name);
		return access(buf, X_OK) == 0;
	}
	for (p = path_env ? path_env : "/usr/bin:/bin"; p && *p; p = colon ? colon + 1 : NULL) {
		colon = strchr(p, ':');
		snprintf(buf, len, "%.*s/%s", (int)(colon ? colon - p : (long)strlen(p)), p, name);
		if (access(buf, X_OK) == 0)
			return 1;
		if (!colon)
			break;
	}
	return 0;
}

static int first_is_exe(const cJSON *command, char *buf, size_t len)
{
	const cJSON *c0 = cJSON_GetArrayItem(command, 0);

	return cJSON_IsString(c0) && sim_rt_find_exe(c0->valuestring, getenv("PATH"), NULL, buf, len);
}

static char *read_file(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;

	if (!f)
		return NULL;
	buf = malloc(max + 1);
	if (buf)
		n = fread(buf, 1, max, f);
	fclose(f);
	if (buf)
		buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* The image's directory in the store, or 0. */
static int store_dir(const char *store, const char *image, char *buf, size_t len)
{
	char name[512];
	const char *slash = strrchr(image, '/');
	size_t i;
	struct stat st;

	snprintf(name, sizeof(name), "%s", image);
	for (i = 0; name[i]; i++) {
		if (name[i] == '/' || name[i] == ':')
			name[i] = '_';
	}
	snprintf(buf, len, "%s/%s/manifest.json", store, name);
	if (stat(buf, &st) == 0)
		return 1;
	if (!strchr(slash ? slash : image, ':')) {
		snprintf(buf, len, "%s/%s_latest/manifest.json", store, name);
		if (stat(buf, &st) == 0)
			return 1;
	}
	return 0;
}

/* Reads DIR/manifest.json: {"entrypoint":[...],"cmd":[...],"env":["K=V"],"workdir":"rel"};
 * a relative entrypoint[0] or workdir is relative to the image's dir. */
static int load_manifest(const char *manifest, cJSON **entry, cJSON **cmd, struct sim_rt_image *out,
			 char *err, size_t errlen)
{
	char dir[PATH_MAX], *text = read_file(manifest, 1 << 20, NULL);
	cJSON *doc = text ? cJSON_Parse(text) : NULL;
	const cJSON *wd, *e0;
	size_t n = 0;
	int rc = KUBE_ENOTFOUND;

	free(text);
	snprintf(dir, sizeof(dir), "%s", manifest);
	*strrchr(dir, '/') = '\0';
	if (!cJSON_IsObject(doc)) {
		snprintf(err, errlen, "image store: %s is not a JSON object", manifest);
		goto out;
	}
	*entry = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(doc, "entrypoint"), 1);
	*cmd = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(doc, "cmd"), 1);
	e0 = cJSON_GetArrayItem(*entry, 0);
	if (cJSON_IsString(e0) && e0->valuestring[0] != '/' && strchr(e0->valuestring, '/')) {
		char abs[PATH_MAX * 2];

		snprintf(abs, sizeof(abs), "%s/%s", dir, e0->valuestring);
		cJSON_SetValuestring((cJSON *)e0, abs);
	}
	rc = strv_add_json(&out->env, &n, cJSON_GetObjectItemCaseSensitive(doc, "env"));
	wd = cJSON_GetObjectItemCaseSensitive(doc, "workdir");
	if (rc == 0 && cJSON_IsString(wd) && *wd->valuestring) {
		char abs[PATH_MAX * 2];

		snprintf(abs, sizeof(abs), "%s/%s", dir, wd->valuestring);
		out->workdir = strdup(wd->valuestring[0] == '/' ? wd->valuestring : abs);
	} else if (rc == 0) {
		out->workdir = strdup(dir);
	}
out:
	cJSON_Delete(doc);
	return rc;
}

static const char *mapped_path(const struct sim_runtime_config *cfg, const char *image)
{
	size_t i, n = strlen(image);

	for (i = 0; cfg && i < cfg->n_image_map; i++) {
		const char *m = cfg->image_map[i];

		if (strncmp(m, image, n) == 0 && m[n] == '=')
			return m + n + 1;
	}
	return NULL;
}

int sim_rt_image_resolve(const struct sim_runtime_config *cfg, const char *image,
			 const cJSON *command, const cJSON *args, struct sim_rt_image *out,
			 char *err, size_t errlen)
{
	const char *path = mapped_path(cfg, image ? image : "");
	cJSON *entry = NULL, *cmd = NULL;
	char manifest[PATH_MAX], exe[PATH_MAX];
	size_t n = 0;
	int rc = 0, has_cmd = cJSON_GetArraySize(command) > 0;

	memset(out, 0, sizeof(*out));
	if (path) {
		entry = cJSON_CreateArray();
		cJSON_AddItemToArray(entry, cJSON_CreateString(path));
	} else if (cfg && cfg->image_store && image &&
		   store_dir(cfg->image_store, image, manifest, sizeof(manifest))) {
		rc = load_manifest(manifest, &entry, &cmd, out, err, errlen);
		if (rc)
			goto out;
	} else if (!has_cmd || !first_is_exe(command, exe, sizeof(exe))) {
		snprintf(err, errlen,
			 "failed to pull and unpack image \"%s\": kubesim --run-pods: no --image-map "
			 "or --image-store entry for this image%s",
			 image ? image : "", has_cmd ? " and the command is not an executable" : "");
		rc = KUBE_ENOTFOUND;
		goto out;
	}
	if (has_cmd)
		rc = strv_add_json(&out->argv, &n, command);
	else
		rc = strv_add_json(&out->argv, &n, entry);
	if (rc == 0)
		rc = strv_add_json(&out->argv, &n, cJSON_GetArraySize(args) > 0 || has_cmd ? args : cmd);
	if (rc == 0 && n == 0) {
		snprintf(err, errlen, "image \"%s\" has no entrypoint and the container no command",
			 image ? image : "");
		rc = KUBE_ENOTFOUND;
	}
out:
	cJSON_Delete(entry);
	cJSON_Delete(cmd);
	if (rc)
		sim_rt_image_release(out);
	return rc;
}

char *sim_rt_termination_message(const char *file_text, size_t file_len, const char *log_text,
				 size_t log_len, int fallback_to_logs, int failed)
{
	const char *start;
	size_t n, lines = 0;
	char *out;

	if (file_text && file_len > 0) {
		n = file_len < TERM_MSG_MAX ? file_len : TERM_MSG_MAX;
		out = malloc(n + 1);
		if (out) {
			memcpy(out, file_text, n);
			out[n] = '\0';
		}
		return out;
	}
	if (!fallback_to_logs || !failed || !log_text || log_len == 0)
		return NULL;
	/* The last 80 lines, then the last 4096 bytes of them. */
	start = log_text + log_len;
	if (start > log_text && start[-1] == '\n')
		start--;
	while (start > log_text) {
		if (start[-1] == '\n' && ++lines >= TERM_LOG_LINES)
			break;
		start--;
	}
	n = (size_t)(log_text + log_len - start);
	if (n > TERM_MSG_MAX) {
		start += n - TERM_MSG_MAX;
		n = TERM_MSG_MAX;
	}
	out = malloc(n + 1);
	if (out) {
		memcpy(out, start, n);
		out[n] = '\0';
	}
	return out;
}

int64_t sim_rt_quantity_bytes(const char *q)
{
	static const struct {
		const char *sfx;
		double mul;
	} units[] = {
		{"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
		{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"m", 1e-3}, {"", 1},
	};
	char *end = NULL;
	double v;
	size_t i;

	if (!q || !*q)
		return -1;
	errno = 0;
	v = strtod(q, &end);
	if (errno || end == q || v < 0)
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].sfx) == 0)
			return (int64_t)(v * units[i].mul);
	}
	return -1;
}

int sim_rt_name_ok(const char *name)
{
	size_t i, n = name ? strlen(name) : 0;

	if (n == 0 || n > 63 || name[0] == '-' || name[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	return 1;
}

void sim_rt_log_file(const char *pod_dir, const char *ctr, int run, char *buf, size_t len)
{
	snprintf(buf, len, "%s/logs/%s/%d.log", pod_dir, ctr, run);
}

void sim_rt_ts_file(const char *pod_dir, const char *ctr, int run, char *buf, size_t len)
{
	snprintf(buf, len, "%s/logs/%s/%d.ts", pod_dir, ctr, run);
}

pid_t sim_rt_spawn(char *const *argv, char *const *envp, const char *cwd, const char *out_path,
		   int new_pgrp)
{
	pid_t parent = getpid(), pid;
	sigset_t all;

	sigemptyset(&all);
	pid = fork();
	if (pid != 0)
		return pid < 0 ? -1 : pid;
	/* The child: async-signal-safe calls only, nothing allocated. */
	if (new_pgrp)
		setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_DFL);
	{
		int in = open("/dev/null", O_RDONLY);
		int out = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (in < 0 || out < 0)
			_exit(127);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
	}
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
#endif
	{
		int fd;

		for (fd = 3; fd < 4096; fd++)
			close(fd);
	}
	if (cwd && chdir(cwd) != 0)
		_exit(127);
	execve(argv[0], argv, envp);
	_exit(127);
}
