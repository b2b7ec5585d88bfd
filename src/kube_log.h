/* Leveled, structured logging: one line per record with time, level, component, message and
 * key=value pairs. Thread-safe: each record is written with a single write(2). */
#ifndef KUBE_LOG_H
#define KUBE_LOG_H

#include <stdarg.h>

enum kube_log_level {
	KUBE_LOG_ERROR = 0,
	KUBE_LOG_WARN = 1,
	KUBE_LOG_INFO = 2,
	KUBE_LOG_DEBUG = 3, /* -v=1 */
	KUBE_LOG_TRACE = 4, /* -v=2 and above */
};

/* Records above this level are dropped. Default KUBE_LOG_INFO. Safe from any thread. */
void kube_log_set_level(enum kube_log_level level);
enum kube_log_level kube_log_get_level(void);
/* Maps a klog-style verbosity (-v=N) to a level: 0 info, 1 debug, >=2 trace. */
void kube_log_set_verbosity(int v);
/* Write records to this fd (default 2, stderr). */
void kube_log_set_fd(int fd);

/* Emits: `2026-11-22T20:00:00.123Z INFO  informer "watch restarted" resource=pods rv=42`.
 * `kv` is a NULL-terminated list of key, value C strings (values with spaces are quoted). */
void kube_log(enum kube_log_level level, const char *component, const char *msg, ...)
	__attribute__((sentinel));
/* printf-style message, no key=values. */
void kube_logf(enum kube_log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define kube_log_enabled(lvl) ((lvl) <= kube_log_get_level())

#endif
