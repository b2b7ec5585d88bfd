/* phx_transform: the trimmed objects the informers cache must decide exactly as the whole
 * ones. The proof is the real classifier run on a kubesim pod and on its transform, in every
 * state the planner distinguishes; plus what each transform keeps and drops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "json_testutil.h"

#include "kube_json.h"
#include "phx_failover.h"
#include "phx_transform.h"

/* A pod as kubesim serves it (kubectl get pods -o json on manifests/samples/minimal.yaml),
 * with the managedFields, annotations, generateName and finalizers a real API server adds. */
static const char *const BASE_POD =
	"{'apiVersion':'v1','kind':'Pod','metadata':{'creationTimestamp':'2026-11-22T21:36:34Z','ge"
	"neration':2,'labels':{'app.kubernetes.io/instance':'hello','app.kubernetes.io/managed-by':"
	"'phoenix-operator','app.kubernetes.io/name':'hello','app.kubernetes.io/part-of':'hello','p"
	"hoenix.fpai.io/revision':'2c610a87e4','phoenix.fpai.io/role':'standby','phoenix.fpai.io/se"
	"rvice':'hello','phoenix.fpai.io/serving':'false'},'name':'hello-gqxtw','namespace':'defaul"
	"t','ownerReferences':[{'apiVersion':'phoenix.fpai.io/v1alpha1','blockOwnerDeletion':true,'"
	"controller':true,'kind':'PhoenixService','name':'hello','uid':'0726cd0a-6296-4c82-8de9-31d"
	"42b608d7d'}],'resourceVersion':'29','uid':'3f62cc12-312a-44f3-b6c7-db49dc336d2c','annotati"
	"ons':{'kubectl.kubernetes.io/last-applied-configuration':'{apiVersion: v1, kind: Pod, meta"
	"data: {name: hello-gqxtw}, spec: {containers: [{name: hello, image: hashicorp/http-echo:1."
	"0}]}}','note':'operator-irrelevant'},'managedFields':[{'apiVersion':'v1','fieldsType':'Fie"
	"ldsV1','fieldsV1':{'f:metadata':{'f:labels':{'.':{},'f:phoenix.fpai.io/role':{}}}},'manage"
	"r':'phoenix-controller','operation':'Update','time':'2026-11-22T21:36:34Z'}],'generateName"
	"':'hello-','finalizers':['example.com/keep']},'spec':{'affinity':{'podAntiAffinity':{'pref"
	"erredDuringSchedulingIgnoredDuringExecution':[{'podAffinityTerm':{'labelSelector':{'matchL"
	"abels':{'phoenix.fpai.io/service':'hello'}},'topologyKey':'kubernetes.io/hostname'},'weigh"
	"t':100}]}},'containers':[{'args':['-listen=:8080','-text=hello from a phoenix'],'image':'h"
	"ashicorp/http-echo:1.0','name':'hello','ports':[{'containerPort':8080}],'readinessProbe':{"
	"'failureThreshold':3,'httpGet':{'path':'/health','port':8080},'periodSeconds':5},'resource"
	"s':{'requests':{'cpu':'20m','memory':'32Mi'}}}],'dnsPolicy':'ClusterFirst','nodeName':'kub"
	"esim-node-3','restartPolicy':'Always','schedulerName':'default-scheduler','serviceAccountN"
	"ame':'default','terminationGracePeriodSeconds':30},'status':{'conditions':[{'lastProbeTime"
	"':null,'lastTransitionTime':'2026-11-22T21:36:34Z','status':'True','type':'PodScheduled'},"
	"{'lastProbeTime':null,'lastTransitionTime':'2026-11-22T21:36:34Z','status':'True','type':'"
	"PodReadyToStartContainers'},{'lastProbeTime':null,'lastTransitionTime':'2026-11-22T21:36:3"
	"4Z','status':'True','type':'Initialized'},{'lastProbeTime':null,'lastTransitionTime':'2026"
	"-11-22T21:36:34Z','status':'True','type':'ContainersReady'},{'lastProbeTime':null,'lastTra"
	"nsitionTime':'2026-11-22T21:36:34Z','status':'True','type':'Ready'}],'containerStatuses':["
	"{'containerID':'containerd://3f62cc12-312a-44f3-b6c7-000000000001','image':'hashicorp/http"
	"-echo:1.0','imageID':'kubesim.local/hashicorp/http-echo:1.0@sha256:00000000000000000000000"
	"00000000000000000000000000000000000000000','lastState':{},'name':'hello','ready':true,'res"
	"tartCount':0,'started':true,'state':{'running':{'startedAt':'2026-11-22T21:36:34Z'}}}],'ho"
	"stIP':'172.18.0.4','hostIPs':[{'ip':'172.18.0.4'}],'phase':'Running','podIP':'10.244.0.4',"
	"'podIPs':[{'ip':'10.244.0.4'}],'qosClass':'Burstable','startTime':'2026-11-22T21:36:34Z'}}";

/* RFC 7386 merge patch (null deletes), enough to derive pod states from BASE_POD. */
static void merge(cJSON *target, const cJSON *patch)
{
	const cJSON *p;

	cJSON_ArrayForEach(p, patch) {
		cJSON *t = cJSON_GetObjectItemCaseSensitive(target, p->string);

		if (cJSON_IsNull(p)) {
			cJSON_DeleteItemFromObjectCaseSensitive(target, p->string);
		} else if (cJSON_IsObject(p) && cJSON_IsObject(t)) {
			merge(t, p);
		} else {
			cJSON *copy = cJSON_Duplicate(p, true);
			assert_non_null(copy);
			if (t != NULL)
				cJSON_ReplaceItemViaPointer(target, t, copy);
			else
				cJSON_AddItemToObject(target, p->string, copy);
		}
	}
}

static cJSON *pod_with(const char *patch)
{
	cJSON *pod = J(BASE_POD);
	cJSON *p = J(patch);

	merge(pod, p);
	cJSON_Delete(p);
	return pod;
}

#define T0 "2026-11-22T21:36:34Z"

struct classify_case {
	const char *name;
	const char *patch;
	bool ever_ready;
	int grace_s;
	int64_t now_after_t0_ms;
	enum phx_health health;
	enum phx_fail_reason reason;
};

static const struct classify_case CASES[] = {
	{"ready", "{}", true, 10, 1000, PHX_HEALTH_READY, PHX_FAIL_NONE},
	{"starting", "{'status':{'conditions':[{'type':'Ready','status':'False',"
		     "'lastTransitionTime':'" T0 "'}]}}",
	 false, 10, 1000, PHX_HEALTH_STARTING, PHX_FAIL_NONE},
	{"not ready in grace", "{'status':{'conditions':[{'type':'Ready','status':'False',"
			       "'lastTransitionTime':'2026-11-22T21:40:00Z','reason':'x',"
			       "'lastProbeTime':null}]}}",
	 true, 10, 210000, PHX_HEALTH_GRACE, PHX_FAIL_NONE},
	{"not ready past grace", "{'status':{'conditions':[{'type':'PodScheduled','status':'True'},"
				 "{'type':'Ready','status':'False','lastTransitionTime':'" T0 "'}]}}",
	 true, 10, 120000, PHX_HEALTH_FAILED, PHX_FAIL_NOT_READY},
	{"terminating", "{'metadata':{'deletionTimestamp':'2026-11-22T21:37:00Z',"
			"'deletionGracePeriodSeconds':30}}",
	 true, 10, 1000, PHX_HEALTH_FAILED, PHX_FAIL_TERMINATING},
	{"crashed (restarted)",
	 "{'status':{'containerStatuses':[{'name':'hello','ready':true,'restartCount':1,"
	 "'state':{'running':{'startedAt':'" T0 "'}},'lastState':{'terminated':{'exitCode':1,"
	 "'reason':'Error','message':'boom','startedAt':'" T0 "','finishedAt':'" T0 "',"
	 "'containerID':'c'}}}]}}",
	 true, 10, 1000, PHX_HEALTH_FAILED, PHX_FAIL_CRASHED},
	{"crash loop", "{'status':{'containerStatuses':[{'name':'hello','ready':false,"
		       "'restartCount':0,'state':{'waiting':{'reason':'CrashLoopBackOff',"
		       "'message':'back-off 10s'}},'lastState':{}}]}}",
	 true, 10, 1000, PHX_HEALTH_FAILED, PHX_FAIL_CRASHED},
	{"OOMKilled now", "{'status':{'containerStatuses':[{'name':'hello','ready':false,"
			  "'restartCount':0,'state':{'terminated':{'exitCode':137,"
			  "'reason':'OOMKilled','finishedAt':'" T0 "'}},'lastState':{}}]}}",
	 true, 10, 1000, PHX_HEALTH_FAILED, PHX_FAIL_OOMKILLED},
	{"OOMKilled before", "{'status':{'containerStatuses':[{'name':'hello','ready':true,"
			     "'restartCount':1,'state':{'running':{}},'lastState':{'terminated':"
			     "{'exitCode':137,'reason':'OOMKilled'}}}]}}",
	 true, 10, 1000, PHX_HEALTH_FAILED, PHX_FAIL_OOMKILLED},
	{"node lost (Ready Unknown)", "{'status':{'conditions':[{'type':'Ready','status':'Unknown',"
				      "'lastTransitionTime':'" T0 "'}]}}",
	 true, 10, 1000, PHX_HEALTH_FAILED, PHX_FAIL_NODE_LOST},
	{"node lost (reason)", "{'status':{'reason':'NodeLost','message':'node gone'}}", true, 10,
	 1000, PHX_HEALTH_FAILED, PHX_FAIL_NODE_LOST},
	{"phase Unknown", "{'status':{'phase':'Unknown'}}", true, 10, 1000, PHX_HEALTH_FAILED,
	 PHX_FAIL_NODE_LOST},
	{"phase Failed", "{'status':{'phase':'Failed','reason':'Evicted','message':'low memory'}}",
	 true, 10, 1000, PHX_HEALTH_FAILED, PHX_FAIL_PHASE_FAILED},
	{"phase Succeeded", "{'status':{'phase':'Succeeded'}}", true, 10, 1000, PHX_HEALTH_FAILED,
	 PHX_FAIL_PHASE_SUCCEEDED},
	{"primary serving", "{'metadata':{'labels':{'phoenix.fpai.io/role':'primary',"
			    "'phoenix.fpai.io/serving':'true'}}}",
	 true, 10, 1000, PHX_HEALTH_READY, PHX_FAIL_NONE},
};

static void phx_transform__pod_classifies_like_the_original(void **state)
{
	int64_t t0 = phx_time_parse_ms(T0);

	(void)state;
	assert_true(t0 > 0);
	for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
		const struct classify_case *c = &CASES[i];
		cJSON *orig = pod_with(c->patch);
		cJSON *trim = cJSON_Duplicate(orig, true);
		struct phx_pod a, b;

		assert_ptr_equal(phx_pod_transform(trim, NULL), trim);
		phx_pod_classify(orig, c->ever_ready, c->grace_s, t0 + c->now_after_t0_ms, &a);
		phx_pod_classify(trim, c->ever_ready, c->grace_s, t0 + c->now_after_t0_ms, &b);
		if (a.health != c->health || a.reason != c->reason)
			fail_msg("%s: original classified %d/%d, want %d/%d", c->name, a.health,
				 a.reason, c->health, c->reason);
		if (memcmp(&a, &b, sizeof(a)) != 0)
			fail_msg("%s: transformed pod classifies %d/%d (role %d serving %d), "
				 "original %d/%d (role %d serving %d)",
				 c->name, b.health, b.reason, b.role, b.serving, a.health, a.reason,
				 a.role, a.serving);
		assert_int_equal(phx_pod_is_ready(orig), phx_pod_is_ready(trim));
		cJSON_Delete(orig);
		cJSON_Delete(trim);
	}
}

static void phx_transform__pod_keeps_identity_and_drops_the_rest(void **state)
{
	cJSON *pod = J(BASE_POD);
	cJSON *again;
	char *before = kube_json_print(pod), *after;

	(void)state;
	phx_pod_transform(pod, NULL);
	after = kube_json_print(pod);
	assert_json_eq(pod,
		       "{'apiVersion':'v1','kind':'Pod','metadata':{"
		       "'creationTimestamp':'2026-11-22T21:36:34Z','generation':2,'labels':{"
		       "'app.kubernetes.io/instance':'hello',"
		       "'app.kubernetes.io/managed-by':'phoenix-operator',"
		       "'app.kubernetes.io/name':'hello','app.kubernetes.io/part-of':'hello',"
		       "'phoenix.fpai.io/revision':'2c610a87e4','phoenix.fpai.io/role':'standby',"
		       "'phoenix.fpai.io/service':'hello','phoenix.fpai.io/serving':'false'},"
		       "'name':'hello-gqxtw','namespace':'default','ownerReferences':[{"
		       "'apiVersion':'phoenix.fpai.io/v1alpha1','blockOwnerDeletion':true,"
		       "'controller':true,'kind':'PhoenixService','name':'hello',"
		       "'uid':'0726cd0a-6296-4c82-8de9-31d42b608d7d'}],'resourceVersion':'29',"
		       "'uid':'3f62cc12-312a-44f3-b6c7-db49dc336d2c'},"
		       "'spec':{'nodeName':'kubesim-node-3'},"
		       "'status':{'conditions':[{'lastTransitionTime':'2026-11-22T21:36:34Z',"
		       "'status':'True','type':'Ready'}],'containerStatuses':[{'lastState':{},"
		       "'name':'hello','ready':true,'restartCount':0,'state':{'running':{}}}],"
		       "'phase':'Running'}}",
		       "transformed pod");
	/* Deterministic and idempotent: a second pass changes nothing. */
	again = cJSON_Duplicate(pod, true);
	phx_pod_transform(again, NULL);
	assert_true(cJSON_Compare(pod, again, true));
	/* The point of it: the realistic pod shrinks to well under half. */
	assert_true(strlen(after) * 3 < strlen(before));
	free(before);
	free(after);
	cJSON_Delete(again);
	cJSON_Delete(pod);
	assert_null(phx_pod_transform(NULL, NULL));
}

static void phx_transform__object_drops_only_managed_fields_and_last_applied(void **state)
{
	cJSON *svc = J("{'apiVersion':'phoenix.fpai.io/v1alpha1','kind':'PhoenixService',"
		       "'metadata':{'name':'a','namespace':'default','uid':'u','resourceVersion':'7',"
		       "'generation':3,'managedFields':[{'manager':'kubectl'}],'annotations':{"
		       "'kubectl.kubernetes.io/last-applied-configuration':'{}',"
		       "'phoenix.fpai.io/switchover-to':'a-x'}},"
		       "'spec':{'standbys':2,'template':{'spec':{'containers':[{'name':'c'}]}}},"
		       "'status':{'phase':'Healthy','primary':'a-y'}}");

	(void)state;
	assert_ptr_equal(phx_object_transform(svc, NULL), svc);
	assert_json_eq(svc,
		       "{'apiVersion':'phoenix.fpai.io/v1alpha1','kind':'PhoenixService',"
		       "'metadata':{'name':'a','namespace':'default','uid':'u','resourceVersion':'7',"
		       "'generation':3,'annotations':{'phoenix.fpai.io/switchover-to':'a-x'}},"
		       "'spec':{'standbys':2,'template':{'spec':{'containers':[{'name':'c'}]}}},"
		       "'status':{'phase':'Healthy','primary':'a-y'}}",
		       "transformed PhoenixService");
	cJSON_Delete(svc);
}

static void phx_transform__service_keeps_what_the_reconciler_compares(void **state)
{
	cJSON *svc = J("{'apiVersion':'v1','kind':'Service','metadata':{'name':'hello',"
		       "'namespace':'default','uid':'u','resourceVersion':'16','labels':{"
		       "'phoenix.fpai.io/service':'hello'},'ownerReferences':[{'kind':"
		       "'PhoenixService','name':'hello','uid':'o'}],'managedFields':[{}]},"
		       "'spec':{'clusterIP':'10.96.0.10','clusterIPs':['10.96.0.10'],'ports':[{"
		       "'name':'default','port':8080,'protocol':'TCP','targetPort':8080}],"
		       "'publishNotReadyAddresses':true,'selector':{'phoenix.fpai.io/service':"
		       "'hello','phoenix.fpai.io/serving':'true'},'sessionAffinity':'None',"
		       "'type':'ClusterIP'},'status':{'loadBalancer':{}}}");
	cJSON *pdb = J("{'apiVersion':'policy/v1','kind':'PodDisruptionBudget','metadata':{"
		       "'name':'hello','namespace':'default','uid':'p','resourceVersion':'22'},"
		       "'spec':{'maxUnavailable':1,'selector':{'matchLabels':{"
		       "'phoenix.fpai.io/service':'hello'}}},'status':{'currentHealthy':3}}");

	(void)state;
	assert_ptr_equal(phx_service_transform(svc, NULL), svc);
	assert_json_eq(svc,
		       "{'apiVersion':'v1','kind':'Service','metadata':{'name':'hello',"
		       "'namespace':'default','uid':'u','resourceVersion':'16','labels':{"
		       "'phoenix.fpai.io/service':'hello'},'ownerReferences':[{'kind':"
		       "'PhoenixService','name':'hello','uid':'o'}]},"
		       "'spec':{'clusterIP':'10.96.0.10','ports':[{'name':'default','port':8080,"
		       "'protocol':'TCP','targetPort':8080}],'publishNotReadyAddresses':true,"
		       "'selector':{'phoenix.fpai.io/service':'hello','phoenix.fpai.io/serving':"
		       "'true'},'type':'ClusterIP'}}",
		       "transformed Service");
	assert_ptr_equal(phx_pdb_transform(pdb, NULL), pdb);
	assert_null(kube_json_get(pdb, "status", NULL));
	assert_string_equal(kube_json_name(pdb), "hello");
	assert_int_equal(cJSON_GetArraySize(kube_json_get(pdb, "spec", NULL)), 2);
	cJSON_Delete(svc);
	cJSON_Delete(pdb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(phx_transform__pod_classifies_like_the_original),
		cmocka_unit_test(phx_transform__pod_keeps_identity_and_drops_the_rest),
		cmocka_unit_test(phx_transform__object_drops_only_managed_fields_and_last_applied),
		cmocka_unit_test(phx_transform__service_keeps_what_the_reconciler_compares),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
