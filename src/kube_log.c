/* Structured logging; see kube_log.h. */
#include "kube_log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = KUBE_LOG_INFO;
static atomic_int log_fd = 2;

static const char *level_names[] = {"ERROR", "WARN ", "INFO ", "DEBUG", "TRACE"};

void kube_log_set_level(enum kube_log_level level) { atomic_store(&log_level, (int)level); }
enum kube_log_level kube_log_get_level(void) { return (enum kube_log_level)atomic_load(&log_level); }
void kube_log_set_fd(int fd) { atomic_store(&log_fd, fd); }

void kube_log_set_verbosity(int v)
{
	kube_log_set_level(v <= 0 ? KUBE_LOG_INFO : v == 1 ? KUBE_LOG_DEBUG : KUBE_LOG_TRACE);
}

/* Appends to buf at *len without overflowing; output is truncated at the buffer's end. */
static void append(char *buf, size_t cap, size_t *len, const char *s)
{
	size_t n = strlen(s);
	if (*len + n >= cap)
		n = cap - 1 - *len;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
}

static void append_value(char *buf, size_t cap, size_t *len, const char *v)
{
	if (v == NULL) {
		append(buf, cap, len, "<nil>");
		return;
	}
	if (*v != '\0' && strpbrk(v, " \t\n\"=") == NULL) {
		append(buf, cap, len, v);
		return;
	}
	append(buf, cap, len, "\"");
	for (const char *p = v; *p && *len < cap - 3; p++) {
		char esc[3] = {'\\', *p, 0};
		if (*p == '"' || *p == '\\')
			append(buf, cap, len, esc);
		else if (*p == '\n')
			append(buf, cap, len, "\\n");
		else {
			char c[2] = {*p, 0};
			append(buf, cap, len, c);
		}
	}
	append(buf, cap, len, "\"");
}

static size_t prefix(char *buf, size_t cap, enum kube_log_level level, const char *component)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 ts.tv_nsec / 1000000, level_names[level], component ? component : "-");
	return n < 0 ? 0 : ((size_t)n >= cap ? cap - 1 : (size_t)n);
}

static void emit(char *buf, size_t cap, size_t len)
{
	if (len >= cap - 1)
		len = cap - 2;
	buf[len++] = '\n';
	ssize_t w = write(atomic_load(&log_fd), buf, len);
	(void)w;
}

void kube_log(enum kube_log_level level, const char *component, const char *msg, ...)
{
	if (!kube_log_enabled(level))
		return;
	char buf[4096];
	size_t len = prefix(buf, sizeof(buf), level, component);
	append_value(buf, sizeof(buf), &len, msg);
	va_list ap;
	va_start(ap, msg);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (k == NULL)
			break;
		const char *v = va_arg(ap, const char *);
		append(buf, sizeof(buf), &len, " ");
		append(buf, sizeof(buf), &len, k);
		append(buf, sizeof(buf), &len, "=");
		append_value(buf, sizeof(buf), &len, v);
	}
	va_end(ap);
	emit(buf, sizeof(buf), len);
}

void kube_logf(enum kube_log_level level, const char *component, const char *fmt, ...)
{
	if (!kube_log_enabled(level))
		return;
	char buf[4096];
	size_t len = prefix(buf, sizeof(buf), level, component);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + len, sizeof(buf) - len, fmt, ap);
	va_end(ap);
	if (n > 0)
		len += (size_t)n < sizeof(buf) - len ? (size_t)n : sizeof(buf) - len - 1;
	emit(buf, sizeof(buf), len);
}
