/* The pipeline pages of the web dashboard: the summary (Intents today, completed, failed,
 * success rate, mean pipeline duration, the active pipelines with their phase; Builds total /
 * queued / running / completed / failed / success rate / mean build time), the queue with
 * positions, the Intents and Builds awaiting approval (score, governance results, the SPEC) with
 * Approve / Deny, and a Build's detail (its steps, live). JSON under /api/v1/pipeline,
 * /api/v1/approvals and /api/v1/builds/NS/NAME (each also live: .../events, SSE); each item
 * shown needs `get intents` / `get builds` in its namespace (SubjectAccessReview for the
 * TokenReview'd user), a step's log (.../log) also `get pods/log` there. An Approve / Deny needs
 * `create approvals` in the target's namespace and creates the Approval with that user as
 * approver: the one path where the approver is proven, not claimed. */
#ifndef DASH_PIPELINE_H
#define DASH_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct dash_server;
struct kube_client;

/* Registers the routes on d (NULL: dash_server_default(); no-op 0 without one), reading
 * Intents and Builds through informers of its own on client (borrowed: must outlive d; reads
 * only, and the Approvals it creates bypass the leader gate: a user's action, not the
 * controller's) in namespace ns ("" or NULL = all). Returns 0 or a kube_err. */
int dash_pipeline_register(struct dash_server *d, struct kube_client *client, const char *ns);

/* The pure parts (the summary, which gate waits) are in dash_summary.h. */

#endif
