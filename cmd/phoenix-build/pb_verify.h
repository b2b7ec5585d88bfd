/* `phoenix-build verify`: the verify step of a Build (docs/builds.md, "Verify"). One Job after
 * the deploy calls the five contract endpoints (GET /health, /capabilities, /state,
 * /dependencies; POST /message) through the PhoenixService's Service and checks that each
 * answers as the contract says (examples/contract-service/README.md); the first missing or
 * wrong one is named in the termination message (reason VerifyFailed). */
#ifndef PB_VERIFY_H
#define PB_VERIFY_H

#include <stdbool.h>
#include <stddef.h>

/* The contract's endpoints, in the order they are checked: "GET /health", ... "POST /message". */
#define PB_VERIFY_ENDPOINTS 5
extern const char *const pb_verify_endpoints[PB_VERIFY_ENDPOINTS];

/* The JSON body verify POSTs to /message. */
#define PB_VERIFY_MESSAGE "{\"type\":\"phoenix.verify\",\"from\":\"phoenix-build\"}"

/* Whether one answer (HTTP status, body; body may be NULL) of `path` ("/health", ...) is what
 * the contract says. False with what is wrong and what was wanted in why[len]. Pure. */
bool pb_verify_check(const char *path, long http_status, const char *body, char *why, size_t len);

/* The subcommand: argv[1] is "verify". Reads PHOENIX_VERIFY_URL (the Service's base URL, e.g.
 * http://NAME.NS.svc:PORT; or --url), PHOENIX_VERIFY_ADDRESS (optional: the Service's
 * clusterIP, every request connects there with the URL's Host, what cluster DNS would answer),
 * PHOENIX_VERIFY_ENDPOINTS (optional: comma-separated paths, a subset of the five),
 * PHOENIX_VERIFY_TIMEOUT (seconds, default 30: how long a refused or unanswered endpoint is
 * retried, the Service's endpoints may lag its pod), PHOENIX_TERMINATION_LOG. Exit 0 when all
 * pass, 1 (VerifyFailed) otherwise, 64 on bad input. */
int pb_verify_main(int argc, char **argv);

#endif
