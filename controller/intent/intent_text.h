/* intent_text: how specific a piece of prose is, for the governance rules and the SPEC verifier.
 * Pure and thread-safe. */
#ifndef INTENT_TEXT_H
#define INTENT_TEXT_H

#include <stddef.h>

/* Number of distinct content words in s: words of 4+ letters that are not filler ("stuff",
 * "things", "various", "service", "handle", ...), compared case-insensitively. Repeating a word
 * does not count twice, so padding does not raise it. Exact up to 64 distinct words (past that
 * every further content word counts, which only matters far above any threshold); counts at
 * most 1000. NULL gives 0. */
size_t intent_text_specificity(const char *s);

#endif
