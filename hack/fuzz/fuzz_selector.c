/* libFuzzer harness: label and field selector parsing, printing, and matching against a fixed
 * object; the input is also tried as a JSON LabelSelector. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube_selector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static cJSON *obj;
	struct kube_selector *s = NULL;
	char *text = malloc(size + 1), *err = NULL, *str = NULL;
	cJSON *ls;

	if (text == NULL)
		return 0;
	if (obj == NULL)
		obj = cJSON_Parse("{\"metadata\":{\"name\":\"a\",\"namespace\":\"b\",\"labels\":"
				  "{\"app\":\"x\",\"tier\":\"db\",\"n\":\"5\"}},\"status\":"
				  "{\"phase\":\"Running\"},\"spec\":{\"nodeName\":\"n1\"}}");
	memcpy(text, data, size);
	text[size] = '\0';
	if (kube_selector_parse(text, &s, &err) == 0) {
		(void)kube_selector_matches_object(s, obj);
		(void)kube_selector_empty(s);
		if (kube_selector_to_string(s, &str) == 0)
			free(str);
	}
	kube_selector_free(s);
	free(err);
	s = NULL;
	err = NULL;
	if (kube_field_selector_parse(text, &s, &err) == 0)
		(void)kube_field_selector_matches(s, obj);
	kube_selector_free(s);
	free(err);
	s = NULL;
	err = NULL;
	ls = cJSON_ParseWithLength(text, size);
	if (kube_selector_from_object(ls, &s, &err) == 0)
		(void)kube_selector_matches_object(s, obj);
	kube_selector_free(s);
	free(err);
	cJSON_Delete(ls);
	free(text);
	return 0;
}
