/* intent_transform: the projection the Intent informer caches keeps what the queue pass, the
 * peer rules and the watch mappings read, decides the queue's predicates exactly as the whole
 * Intent does, and drops the rest (managedFields, annotations, purpose, features, governance
 * results, SPEC findings, audit, messages, phase, the conditions no cache reader tests). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "json_testutil.h"

#include "intent/intent_state.h"
#include "intent/intent_transform.h"
#include "kube_json.h"

/* An Intent as the API server serves it after governance, admission and a SPEC. */
static const char *const WHOLE =
	"{'apiVersion':'phoenix.fpai.io/v1alpha1','kind':'Intent','metadata':{'name':'pay','names"
	"pace':'team','uid':'u-1','resourceVersion':'42','generation':2,'creationTimestamp':'2026-"
	"12-01T10:00:00Z','labels':{'team':'a'},'finalizers':['phoenix.fpai.io/intent-cleanup'],'"
	"annotations':{'kubectl.kubernetes.io/last-applied-configuration':'{...whole spec...}'},'ma"
	"nagedFields':[{'manager':'kubectl','operation':'Update','fieldsType':'FieldsV1','fieldsV1"
	"':{'f:spec':{'f:purpose':{}}}}]},'spec':{'serviceName':'payments','serviceType':'domain',"
	"'tier':2,'priority':'high','purpose':'Settles card payments for the shop','keyFeatures':["
	"'refunds within 24 h','idempotent charges'],'dependencies':['billing-ledger'],'port':8080"
	",'autoBuild':true,'approvalMode':'auto','image':'registry/pay:1','state':'Active'},'statu"
	"s':{'observedGeneration':2,'phase':'Queued','queue':{'priority':'high','enqueuedAt':'2026"
	"-12-01T10:00:01Z','position':3},'governance':{'score':0.92,'decision':'AutoApproved','res"
	"ults':[{'rule':'purpose','result':'pass','severity':'high','message':'specific'}]},'spec'"
	":{'configMap':'pay-spec','score':95,'findings':[]},'audit':{'count':2,'entries':[{'time':"
	"'2026-12-01T10:00:01Z','actor':'operator','action':'Evaluated'}]},'conditions':[{'type':'"
	"Evaluated','status':'True','reason':'AutoApproved','message':'score 0.92 in autonomous mo"
	"de','observedGeneration':2,'lastTransitionTime':'2026-12-01T10:00:01Z'},{'type':'Approved"
	"','status':'True','reason':'AutoApproved','message':'approved by the policy','observedGen"
	"eration':2,'lastTransitionTime':'2026-12-01T10:00:01Z'},{'type':'Queued','status':'False'"
	",'reason':'Admitted','message':'holds a pipeline slot','observedGeneration':2,'lastTransit"
	"ionTime':'2026-12-01T10:00:02Z'}]}}";

static void keeps_what_is_read(void **state)
{
	(void)state;
	cJSON *o = intent_transform(J(WHOLE), NULL);

	assert_json_eq(o,
		       "{'apiVersion':'phoenix.fpai.io/v1alpha1','kind':'Intent','metadata':{'name':'pa"
		       "y','namespace':'team','uid':'u-1','resourceVersion':'42','generation':2,'creatio"
		       "nTimestamp':'2026-12-01T10:00:00Z','labels':{'team':'a'}},'spec':{'serviceName':"
		       "'payments','priority':'high','dependencies':['billing-ledger'],'port':8080,'auto"
		       "Build':true,'state':'Active'},'status':{'queue':{'position':3},'conditions':[{'t"
		       "ype':'Approved','status':'True','reason':'AutoApproved','observedGeneration':2},"
		       "{'type':'Queued','status':'False','reason':'Admitted','observedGeneration':2}]}}",
		       "projection");
	char *text = cJSON_PrintUnformatted(o);
	assert_non_null(text);
	assert_true(strlen(text) < 560);
	free(text);
	cJSON_Delete(o);
}

/* The queue's and the phase's predicates answer the same on the projection. */
static void same_answers(void **state)
{
	(void)state;
	static const char *const types[] = {"Approved", "Denied", "Queued", "SpecReady",
					    "SpecApproved", "BuildSucceeded", NULL};
	static const char *const statuses[] = {"True", "False", "Unknown", NULL};
	cJSON *whole = J(WHOLE), *proj = intent_transform(J(WHOLE), NULL);
	const cJSON *wc = kube_json_get(whole, "status", "conditions", NULL);
	const cJSON *pc = kube_json_get(proj, "status", "conditions", NULL);

	for (int t = 0; types[t]; t++)
		for (int s = 0; statuses[s]; s++)
			for (int64_t g = -1; g <= 3; g++)
				assert_int_equal(intent_cond_is(wc, types[t], statuses[s], g),
						 intent_cond_is(pc, types[t], statuses[s], g));
	/* Not read from the cache (the reconcile GETs its Intent): dropped. */
	assert_null(intent_cond_find(pc, "Evaluated"));
	assert_null(kube_json_get(proj, "status", "phase", NULL));
	assert_string_equal(kube_json_get_str(intent_cond_find(wc, "Queued"), "reason", NULL),
			    kube_json_get_str(intent_cond_find(pc, "Queued"), "reason", NULL));
	cJSON_Delete(whole);
	cJSON_Delete(proj);
}

/* Odd shapes lose nothing they should keep and never crash. */
static void odd_shapes(void **state)
{
	(void)state;
	cJSON *o = intent_transform(J("{'metadata':{'name':'x','deletionTimestamp':'t'},'spec':'str"
				      "ing','status':{'conditions':[1,'x',{'type':'Ready','message':"
				      "'m'},{'type':'Queued','message':'m'},{'message':'m'}],'queue':[]}}"),
				    NULL);
	assert_json_eq(o,
		       "{'metadata':{'name':'x','deletionTimestamp':'t'},'spec':'string','status':{'cond"
		       "itions':[1,'x',{'type':'Queued'},{}],'queue':[]}}",
		       "odd shapes");
	cJSON_Delete(o);
	assert_null(intent_transform(NULL, NULL));
	o = intent_transform(J("[]"), NULL);
	assert_true(cJSON_IsArray(o));
	cJSON_Delete(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keeps_what_is_read),
		cmocka_unit_test(same_answers),
		cmocka_unit_test(odd_shapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
