/* Error names and the HTTP -> error mapping; see kube_error.h. */
#include "kube_error.h"

#include <string.h>

const char *kube_strerror(int err)
{
	switch (err) {
	case KUBE_OK: return "ok";
	case KUBE_ENOMEM: return "out of memory";
	case KUBE_EINVAL: return "invalid argument";
	case KUBE_EIO: return "transport error";
	case KUBE_ETIMEDOUT: return "timed out";
	case KUBE_EPARSE: return "parse error";
	case KUBE_ECONFIG: return "configuration error";
	case KUBE_ESHUTDOWN: return "shut down";
	case KUBE_ENOTLEADER: return "not the leader";
	case KUBE_ECANCELED: return "canceled";
	case KUBE_ETOOBIG: return "result too large";
	case KUBE_ENOTFOUND: return "not found";
	case KUBE_EALREADYEXISTS: return "already exists";
	case KUBE_ECONFLICT: return "conflict";
	case KUBE_EGONE: return "gone (resource version too old)";
	case KUBE_EFORBIDDEN: return "forbidden";
	case KUBE_EUNAUTHORIZED: return "unauthorized";
	case KUBE_EINVALID: return "invalid";
	case KUBE_EBADREQUEST: return "bad request";
	case KUBE_EUNSUPPORTED: return "unsupported media type";
	case KUBE_ETOOMANY: return "too many requests";
	case KUBE_ESERVER: return "server error";
	case KUBE_ESERVERTIMEOUT: return "server timeout";
	case KUBE_EHTTP: return "unexpected HTTP status";
	default: return "unknown error";
	}
}

int kube_err_from_http(long status, const char *reason)
{
	if (status >= 200 && status < 300)
		return KUBE_OK;
	if (reason != NULL) {
		if (strcmp(reason, "AlreadyExists") == 0)
			return KUBE_EALREADYEXISTS;
		if (strcmp(reason, "Conflict") == 0)
			return KUBE_ECONFLICT;
		if (strcmp(reason, "Expired") == 0 || strcmp(reason, "Gone") == 0)
			return KUBE_EGONE;
		if (strcmp(reason, "Timeout") == 0)
			return KUBE_ESERVERTIMEOUT;
	}
	switch (status) {
	case 400: return KUBE_EBADREQUEST;
	case 401: return KUBE_EUNAUTHORIZED;
	case 403: return KUBE_EFORBIDDEN;
	case 404: return KUBE_ENOTFOUND;
	case 409: return KUBE_ECONFLICT;
	case 410: return KUBE_EGONE;
	case 415: return KUBE_EUNSUPPORTED;
	case 422: return KUBE_EINVALID;
	case 429: return KUBE_ETOOMANY;
	case 504: return KUBE_ESERVERTIMEOUT;
	default: return status >= 500 && status < 600 ? KUBE_ESERVER : KUBE_EHTTP;
	}
}
