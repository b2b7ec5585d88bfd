/* libFuzzer harness: the watch stream decoder, fed the input in two chunks split at its first
 * byte's value, then whole, with a small line cap so the cap is reached too. */
#include <stddef.h>
#include <stdint.h>

#include "kube_watch.h"

static int cb(enum kube_watch_type type, const cJSON *obj, void *ud)
{
	(void)type;
	(void)ud;
	return cJSON_GetArraySize(obj) > 1000 ? 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kube_watch_decoder *d = NULL;
	size_t split = size > 0 ? data[0] % (size + 1) : 0;

	if (kube_watch_decoder_new(cb, NULL, &d) != 0)
		return 0;
	kube_watch_decoder_set_max_line(d, 4096);
	if (kube_watch_decoder_feed(d, (const char *)data, split) == 0)
		kube_watch_decoder_feed(d, (const char *)data + split, size - split);
	(void)kube_watch_decoder_pending(d);
	kube_watch_decoder_free(d);
	return 0;
}
