/* GET /dashboard: the reconciler's per-service snapshot as JSON, for the kubectl plugin and
 * humans with curl. Read-only; answers 405 to anything but GET/HEAD. */
#include "phx_dashboard.h"

#include <stdlib.h>
#include <string.h>

#include "kube_error.h"
#include "kube_httpd.h"
#include "kube_json.h"
#include "phx_service.h"

static int serve(void *data, const struct kube_http_request *req, struct kube_http_response *resp)
{
	struct phx_reconciler *r = data;
	const char *method = kube_http_request_method(req);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		static const char msg[] = "{\"error\":\"method not allowed\"}";
		return kube_http_response_set(resp, 405, "application/json", msg, sizeof(msg) - 1);
	}
	cJSON *snap = phx_reconciler_dashboard(r);
	if (!snap)
		return KUBE_ENOMEM;
	char *txt = kube_http_request_query(req, "pretty") ? cJSON_Print(snap) : kube_json_print(snap);
	cJSON_Delete(snap);
	if (!txt)
		return KUBE_ENOMEM;
	resp->status = 200;
	resp->body = txt;
	resp->body_len = strlen(txt);
	return 0;
}

int phx_dashboard_register(struct kube_httpd *h, struct phx_reconciler *r)
{
	return kube_httpd_handle(h, "/dashboard", serve, r);
}
