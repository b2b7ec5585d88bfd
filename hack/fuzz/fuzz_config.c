/* libFuzzer harness: a kubeconfig file with arbitrary contents (written to a temp file, since
 * the loader reads paths), current context and a named one. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kube_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct kube_config cfg = {0};
	char *err = NULL;
	FILE *f;

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "/tmp/fuzz-kubeconfig-%d", (int)getpid());
	f = fopen(path, "wb");
	if (f == NULL)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	if (kube_config_load_file(path, NULL, &cfg, &err) == 0)
		kube_config_release(&cfg);
	free(err);
	err = NULL;
	if (kube_config_load_file(path, "dev", &cfg, &err) == 0)
		kube_config_release(&cfg);
	free(err);
	return 0;
}
