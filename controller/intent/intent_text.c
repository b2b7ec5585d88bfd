/* intent_text: distinct content words of a text, the measure of "specific" used by the rules. */
#include "intent_text.h"

#include <ctype.h>
#include <string.h>

#define MAX_WORDS 1000
#define WORD_MAX 32

static const char *const FILLER[] = {
	"stuff", "thing", "things", "something", "anything", "everything", "various", "misc",
	"some", "service", "services", "system", "handle", "handles", "manage", "manages", "data",
	"good", "nice", "does", "make", "makes", "work", "works", "with", "that", "this", "from",
	"into", "will", "should", "able", "also", "more", "very", "just", "like", "what", "whatever",
	"stuffs", "needed", "need", "needs", "etc.", "other", "others", "feature", "features", "thingy",
	"lots", "many", "much", "really", "basic", "simple", "generic", "general", "support", "have",
	"been", "being", "they", "them", "their", "there", "which", "when", "where", "your", "ours",
};

static int is_filler(const char *w)
{
	for (size_t i = 0; i < sizeof(FILLER) / sizeof(FILLER[0]); i++)
		if (strcmp(FILLER[i], w) == 0)
			return 1;
	return 0;
}

/* Reads the next word (letters and digits, lower-cased, truncated to WORD_MAX-1) from *s. */
static size_t next_word(const char **s, char *w)
{
	size_t n = 0;

	while (**s && !isalnum((unsigned char)**s))
		(*s)++;
	while (**s && (isalnum((unsigned char)**s) || **s == '-')) {
		if (n < WORD_MAX - 1)
			w[n++] = (char)tolower((unsigned char)**s);
		(*s)++;
	}
	w[n] = '\0';
	return n;
}

size_t intent_text_specificity(const char *s)
{
	static const size_t cap = MAX_WORDS;
	char seen[64][WORD_MAX];
	char w[WORD_MAX];
	size_t nseen = 0, count = 0;

	if (!s)
		return 0;
	while (*s && count < cap) {
		int dup = 0;

		if (next_word(&s, w) < 4 || is_filler(w))
			continue;
		for (size_t i = 0; i < nseen && !dup; i++)
			dup = strcmp(seen[i], w) == 0;
		if (dup)
			continue;
		if (nseen < 64)
			memcpy(seen[nseen++], w, WORD_MAX);
		count++;
	}
	return count;
}
