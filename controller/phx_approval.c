/* The Approval object builder (phx_approval.h). */
#include "phx_approval.h"

#include <stdio.h>

#include "kube_json.h"

cJSON *phx_approval_new(const char *kind, const char *name, int64_t generation, const char *gate,
			const char *decision, const char *reason, const char *approver,
			const char *created_by)
{
	cJSON *apv = cJSON_CreateObject();
	char gname[300];

	if (!apv)
		return NULL;
	snprintf(gname, sizeof(gname), "%.200s-", name);
	for (char *p = gname; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	cJSON_AddStringToObject(apv, "apiVersion", "phoenix.fpai.io/v1alpha1");
	cJSON_AddStringToObject(apv, "kind", "Approval");
	cJSON *md = kube_json_ensure_obj(apv, "metadata");
	kube_json_set_str(md, "generateName", gname);
	if (created_by)
		kube_json_set_str(kube_json_ensure_obj(md, "annotations"),
				  "phoenix.fpai.io/created-by", created_by);
	cJSON *spec = kube_json_ensure_obj(apv, "spec");
	cJSON *ref = kube_json_ensure_obj(spec, "targetRef");
	kube_json_set_str(ref, "kind", kind);
	kube_json_set_str(ref, "name", name);
	if (generation > 0)
		cJSON_AddNumberToObject(ref, "generation", (double)generation);
	kube_json_set_str(spec, "gate", gate);
	kube_json_set_str(spec, "decision", decision);
	kube_json_set_str(spec, "reason", reason);
	kube_json_set_str(spec, "approver", approver);
	if (!md || !spec || !ref || !cJSON_GetObjectItem(spec, "approver")) {
		cJSON_Delete(apv);
		return NULL;
	}
	return apv;
}
