/* RFC 3339 time as the Kubernetes API writes and reads it: strict parsing (a subset of what
 * Go's time.Parse(time.RFC3339, s) accepts, which metav1.Time uses) and formatting as metav1.Time
 * ("2006-01-02T15:04:05Z") and metav1.MicroTime ("2006-01-02T15:04:05.000000Z").
 * Invariants: every function is pure and thread-safe; no locale, no TZ, no libc time calls. */
#ifndef KUBE_TIME_H
#define KUBE_TIME_H

#include <stddef.h>
#include <stdint.h>

/* Buffer sizes, NUL included: metav1.Time and metav1.MicroTime. */
#define KUBE_TIME_LEN 21
#define KUBE_MICROTIME_LEN 28

/* Parses "YYYY-MM-DDTHH:MM:SS[.F+](Z|+hh:mm|-hh:mm)": upper-case T and Z, two-digit fields, a
 * real calendar day (leap years), hours 00-23, minutes and seconds 00-59 (no leap second),
 * offsets below 24:00, a '.' fraction of one digit or more (past nanoseconds dropped), nothing
 * after. Everything it accepts Go's time.Parse(time.RFC3339) accepts with the same value; it
 * refuses Go's laxer extras (one-digit fields, ',' fractions, offsets of 24 h or 60 min). *sec receives seconds since the Unix epoch in UTC (negative
 * before 1970) and *nsec the fraction in nanoseconds (0..999999999); either may be NULL.
 * Returns 0, or KUBE_EINVAL for NULL, empty or malformed input (outputs then untouched). */
int kube_time_parse(const char *s, int64_t *sec, int32_t *nsec);

/* As kube_time_parse, as milliseconds since the epoch (the fraction truncated). */
int kube_time_parse_ms(const char *s, int64_t *ms);

/* As kube_time_parse, as nanoseconds since the epoch (the kube_clock_wall unit). KUBE_EINVAL
 * also when the time does not fit (before 1677-09-21 or after 2262-04-11). */
int kube_time_parse_ns(const char *s, int64_t *ns);

/* Formats seconds since the epoch as metav1.Time, "2006-01-02T15:04:05Z", into buf (at least
 * KUBE_TIME_LEN bytes). Returns buf, or NULL (buf untouched) when buf is NULL or too small or
 * the year falls outside 0000..9999. */
char *kube_time_format(int64_t sec, char *buf, size_t len);

/* Formats nanoseconds since the epoch as metav1.MicroTime, "2006-01-02T15:04:05.000000Z"
 * (microseconds, truncated toward the past), into buf (at least KUBE_MICROTIME_LEN bytes).
 * Returns buf, or NULL as kube_time_format. */
char *kube_time_format_micro(int64_t wall_ns, char *buf, size_t len);

#endif
