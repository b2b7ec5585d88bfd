/* libFuzzer harness: kube_yaml_parse and kube_yaml_parse_all on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "kube_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *out = NULL;
	char *err = NULL;

	kube_yaml_parse((const char *)data, size, &out, &err);
	cJSON_Delete(out);
	free(err);
	out = NULL;
	err = NULL;
	kube_yaml_parse_all((const char *)data, size, &out, &err);
	cJSON_Delete(out);
	free(err);
	return 0;
}
