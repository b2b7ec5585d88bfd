/* Error codes shared by the whole library: 0 is success, negatives are failures. Kubernetes
 * outcomes have their own codes so callers can branch on them (libuv style). */
#ifndef KUBE_ERROR_H
#define KUBE_ERROR_H

enum kube_err {
	KUBE_OK = 0,
	KUBE_ENOMEM = -1,          /* allocation failed */
	KUBE_EINVAL = -2,          /* bad argument from the caller */
	KUBE_EIO = -3,             /* transport failure: connect, TLS, reset */
	KUBE_ETIMEDOUT = -4,       /* request or stream timed out (client side) */
	KUBE_EPARSE = -5,          /* a response or file could not be parsed */
	KUBE_ECONFIG = -6,         /* kubeconfig / in-cluster configuration is unusable */
	KUBE_ESHUTDOWN = -7,       /* the object was shut down */
	KUBE_ENOTLEADER = -8,      /* a write was refused because this process lost leadership */
	KUBE_ECANCELED = -9,       /* the caller canceled the operation (e.g. a watch being stopped) */
	KUBE_ETOOBIG = -10,        /* a result grew past a client-side bound (e.g. kube_list's max_items) */
	KUBE_ENOTFOUND = -404,     /* HTTP 404, reason NotFound */
	KUBE_EALREADYEXISTS = -1409, /* HTTP 409, reason AlreadyExists */
	KUBE_ECONFLICT = -409,     /* HTTP 409, reason Conflict (stale resourceVersion) */
	KUBE_EGONE = -410,         /* HTTP 410 or reason Expired/Gone: relist */
	KUBE_EFORBIDDEN = -403,    /* HTTP 403 */
	KUBE_EUNAUTHORIZED = -401, /* HTTP 401 */
	KUBE_EINVALID = -422,      /* HTTP 422, reason Invalid */
	KUBE_EBADREQUEST = -400,   /* HTTP 400 */
	KUBE_EUNSUPPORTED = -415,  /* HTTP 415 (e.g. strategic merge patch on a custom resource) */
	KUBE_ETOOMANY = -429,      /* HTTP 429 TooManyRequests */
	KUBE_ESERVER = -500,       /* HTTP 5xx */
	KUBE_ESERVERTIMEOUT = -504, /* HTTP 504 or reason Timeout */
	KUBE_EHTTP = -999,         /* any other non-2xx status */
};

/* A static string naming the error; never NULL. */
const char *kube_strerror(int err);

/* Maps an HTTP status code and (optional) Status reason to a code. 2xx maps to KUBE_OK. */
int kube_err_from_http(long http_status, const char *reason);

#endif
