/* libFuzzer harness: an exec credential plugin's stdout (ExecCredential JSON), checked against
 * both accepted apiVersions. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "kube_exec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const versions[] = { "client.authentication.k8s.io/v1",
						"client.authentication.k8s.io/v1beta1" };
	for (size_t i = 0; i < 2; i++) {
		struct kube_exec_cred cred;
		char *err = NULL;
		if (kube_exec_parse_output(versions[i], (const char *)data, size, &cred, &err) == 0)
			kube_exec_cred_release(&cred);
		free(err);
	}
	return 0;
}
