/* The Intent commands of kubectl-phoenix (see phx_intents.h): list Intents, show the ordered
 * queue, and approve or deny a gate with the caller's identity (SelfSubjectReview) as approver. */
#include "phx_intents.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kube_error.h"
#include "kube_json.h"
#include "phx_approval.h"
#include "kube_rest.h"

static const struct kube_gvr INTENTS = {"phoenix.fpai.io", "v1alpha1", "intents", true};
static const struct kube_gvr APPROVALS = {"phoenix.fpai.io", "v1alpha1", "approvals", true};
static const struct kube_gvr BUILDS = {"phoenix.fpai.io", "v1alpha1", "builds", true};

static const char *s_or(const char *s, const char *d)
{
	return s && *s ? s : d;
}

static void say_error(int rc, const struct kube_status *st, const char *what)
{
	const char *msg = st && st->message ? st->message : kube_strerror(rc);

	if (rc == KUBE_EFORBIDDEN)
		fprintf(stderr, "error: forbidden: %s\n", msg);
	else if (rc == KUBE_ENOTFOUND)
		fprintf(stderr, "error: %s not found (is the Phoenix CRD installed? kubectl get crd): %s\n",
			what, msg);
	else
		fprintf(stderr, "error: %s: %s\n", what, msg);
}

static const char *cond_field(const cJSON *o, const char *type, const char *field)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, kube_json_get(o, "status", "conditions", NULL)) {
		const char *t = kube_json_get_str(c, "type", NULL);
		if (t && !strcmp(t, type))
			return kube_json_get_str(c, field, NULL);
	}
	return NULL;
}

static int prio_rank(const cJSON *o)
{
	static const char *const P[] = {"critical", "high", "medium", "low"};
	const char *p = s_or(kube_json_get_str(o, "spec", "priority", NULL), "medium");

	for (int i = 0; i < 4; i++)
		if (!strcmp(p, P[i]))
			return i;
	return 2;
}

/* Queue order (controller/intent/intent_queue.h): namespace, priority, creation time, name. */
static int cmp_queue(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	int c = strcmp(s_or(kube_json_namespace(x), ""), s_or(kube_json_namespace(y), ""));

	if (c)
		return c;
	if (prio_rank(x) != prio_rank(y))
		return prio_rank(x) - prio_rank(y);
	c = strcmp(s_or(kube_json_get_str(x, "metadata", "creationTimestamp", NULL), ""),
		   s_or(kube_json_get_str(y, "metadata", "creationTimestamp", NULL), ""));
	return c ? c : strcmp(s_or(kube_json_name(x), ""), s_or(kube_json_name(y), ""));
}

static int list_intents(const struct phx_intents_args *a, cJSON **list, const cJSON ***v, int *n)
{
	struct kube_status st = {0};
	int rc = kube_list(a->client, &INTENTS, a->all_ns ? NULL : a->ns, NULL, list, &st);
	const cJSON *it;

	if (rc < 0) {
		say_error(rc, &st, "intents");
		kube_status_release(&st);
		return rc;
	}
	kube_status_release(&st);
	const cJSON *items = kube_json_get(*list, "items", NULL);
	*n = 0;
	*v = calloc((size_t)cJSON_GetArraySize(items) + 1, sizeof(**v));
	if (!*v)
		return KUBE_ENOMEM;
	cJSON_ArrayForEach(it, items)
		(*v)[(*n)++] = it;
	qsort(*v, (size_t)*n, sizeof(**v), cmp_queue);
	return 0;
}

int phx_cmd_intents(const struct phx_intents_args *a)
{
	cJSON *list = NULL;
	const cJSON **v = NULL;
	int n = 0;

	if (list_intents(a, &list, &v, &n) < 0) {
		cJSON_Delete(list);
		free(v);
		return 1;
	}
	if (n == 0)
		printf("No Intents in %s%s.\n", a->all_ns ? "any namespace" : "namespace ",
		       a->all_ns ? "" : a->ns);
	else
		printf("%-16s %-24s %-24s %-4s %-8s %-16s %-5s %s\n", "NAMESPACE", "NAME", "SERVICE",
		       "TIER", "PRIORITY", "PHASE", "SCORE", "DECISION");
	for (int i = 0; i < n; i++) {
		const cJSON *o = v[i];
		double score = -1, tier = -1;
		char sc[16] = "-", ti[8] = "-";
		if (kube_json_get_num(o, &score, "status", "governance", "score", NULL))
			snprintf(sc, sizeof(sc), "%.2f", score);
		if (kube_json_get_num(o, &tier, "spec", "tier", NULL))
			snprintf(ti, sizeof(ti), "%d", (int)tier);
		printf("%-16s %-24s %-24s %-4s %-8s %-16s %-5s %s\n", s_or(kube_json_namespace(o), "-"),
		       s_or(kube_json_name(o), "-"), s_or(kube_json_get_str(o, "spec", "serviceName", NULL), "-"),
		       ti, s_or(kube_json_get_str(o, "spec", "priority", NULL), "medium"),
		       s_or(kube_json_get_str(o, "status", "phase", NULL), "Pending"), sc,
		       s_or(kube_json_get_str(o, "status", "governance", "decision", NULL), "-"));
	}
	cJSON_Delete(list);
	free(v);
	return 0;
}

/* The whole queue, in the order the operator serves it: the Intents holding a pipeline slot,
 * then every waiting one (not only the first 20 whose position the operator writes). */
int phx_cmd_queue(const struct phx_intents_args *a)
{
	cJSON *list = NULL;
	const cJSON **v = NULL;
	int n = 0, shown = 0;
	char last_ns[256] = "";
	int pos = 0;

	if (list_intents(a, &list, &v, &n) < 0) {
		cJSON_Delete(list);
		free(v);
		return 1;
	}
	printf("%-16s %-8s %-24s %-8s %-9s %-21s %s\n", "NAMESPACE", "POSITION", "NAME", "PRIORITY",
	       "STATE", "ENQUEUED", "SLA-DEADLINE");
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < n; i++) {
			const cJSON *o = v[i];
			const char *qs = cond_field(o, "Queued", "status");
			const char *qr = cond_field(o, "Queued", "reason");
			const char *ns = s_or(kube_json_namespace(o), "");
			int waiting = qs && !strcmp(qs, "True");
			int running = qs && !strcmp(qs, "False") && qr && !strcmp(qr, "Admitted") &&
				      !kube_json_get_str(o, "status", "serviceRef", "name", NULL) &&
				      !cond_field(o, "Ready", "status");
			const char *phase = s_or(kube_json_get_str(o, "status", "phase", NULL), "");
			if (running && (!strcmp(phase, "Failed") || !strcmp(phase, "Deploying") ||
					!strcmp(phase, "Ready") || !strcmp(phase, "SpecReady")))
				running = 0;
			if ((pass == 0 && !running) || (pass == 1 && !waiting))
				continue;
			char p[16] = "running";
			if (pass == 1) {
				if (strcmp(last_ns, ns)) {
					snprintf(last_ns, sizeof(last_ns), "%s", ns);
					pos = 0;
				}
				snprintf(p, sizeof(p), "%d", ++pos);
			}
			printf("%-16s %-8s %-24s %-8s %-9s %-21s %s\n", ns, p, s_or(kube_json_name(o), "-"),
			       s_or(kube_json_get_str(o, "spec", "priority", NULL), "medium"),
			       pass == 0 ? "Admitted" : "Waiting",
			       s_or(kube_json_get_str(o, "status", "queue", "enqueuedAt", NULL), "-"),
			       s_or(kube_json_get_str(o, "status", "queue", "slaDeadline", NULL), "none"));
			shown++;
		}
	}
	if (shown == 0)
		printf("(the queue is empty)\n");
	cJSON_Delete(list);
	free(v);
	return 0;
}

/* The caller as the API server sees it (SelfSubjectReview), or NULL (reported). */
static char *whoami(struct kube_client *c)
{
	struct kube_status st = {0};
	cJSON *out = NULL;
	const char *body = "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"SelfSubjectReview\"}";
	int rc = kube_request(c, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", NULL,
			      "application/json", body, 0, &out, &st);
	const char *u = kube_json_get_str(out, "status", "userInfo", "username", NULL);
	char *who = u && *u ? strdup(u) : NULL;

	if (rc < 0)
		say_error(rc, &st, "SelfSubjectReview (who am I)");
	else if (!who)
		fprintf(stderr, "error: the API server's SelfSubjectReview named no user\n");
	kube_status_release(&st);
	cJSON_Delete(out);
	return who;
}

int phx_cmd_decide(const struct phx_intents_args *a, bool approve)
{
	const char *t = a->target, *slash = strchr(t, '/');
	const char *kind = "Intent", *name = t;
	const struct kube_gvr *gvr = &INTENTS;
	struct kube_status st = {0};
	cJSON *target = NULL, *apv = NULL, *out = NULL;
	char *who = NULL;
	int code = 1, rc;

	if (slash) {
		size_t k = (size_t)(slash - t);
		name = slash + 1;
		if (k == 6 && !strncmp(t, "intent", k)) {
			kind = "Intent";
		} else if (k == 5 && !strncmp(t, "build", k)) {
			kind = "Build";
			gvr = &BUILDS;
		} else {
			fprintf(stderr, "error: %s: want intent/NAME or build/NAME\n", t);
			return 2;
		}
	}
	const char *gate = a->gate ? a->gate : !strcmp(kind, "Build") ? "Deploy" : "Governance";
	if (strcmp(gate, "Governance") && strcmp(gate, "Spec") && strcmp(gate, "Deploy")) {
		fprintf(stderr, "error: --gate wants Governance, Spec or Deploy, got %s\n", gate);
		return 2;
	}
	if (!a->reason || !*a->reason) {
		fprintf(stderr, "error: --reason \"...\" is required: it is recorded with the decision\n");
		return 2;
	}
	if (!*name) {
		fprintf(stderr, "error: %s: no name\n", t);
		return 2;
	}
	rc = kube_get(a->client, gvr, a->ns, name, NULL, &target, &st);
	if (rc < 0) {
		char what[300];
		snprintf(what, sizeof(what), "%s %s in namespace %s", kind, name, a->ns);
		say_error(rc, &st, what);
		goto out;
	}
	who = whoami(a->client);
	if (!who)
		goto out;
	int64_t gen = 0;
	kube_json_get_int(target, &gen, "metadata", "generation", NULL);
	apv = phx_approval_new(kind, name, gen, gate, approve ? "Approve" : "Deny", a->reason, who,
			       NULL);
	if (!apv) {
		fprintf(stderr, "error: out of memory\n");
		goto out;
	}
	kube_status_release(&st);
	rc = kube_create(a->client, &APPROVALS, a->ns, apv, &out, &st);
	if (rc < 0) {
		say_error(rc, &st, "creating the Approval");
		goto out;
	}
	printf("approval/%s created: %s %s/%s (generation %lld) at gate %s as %s\n",
	       s_or(kube_json_name(out), "?"), approve ? "approve" : "deny", kind, name,
	       (long long)gen, gate, who);
	printf("outcome: kubectl get approval %s -n %s -o jsonpath='{.status.outcome}'\n",
	       s_or(kube_json_name(out), "?"), a->ns);
	code = 0;
out:
	kube_status_release(&st);
	cJSON_Delete(target);
	cJSON_Delete(apv);
	cJSON_Delete(out);
	free(who);
	return code;
}
