/* Tests for kubesim's server-side printing: kubectl's HumanDuration, RFC 3339 parsing, CRD
 * printer columns (types, priorities, missing values), the built-in printers and row objects.
 * JSON in the tables uses single quotes; J() turns them into double quotes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_testutil.h"

#include "kube_error.h"
#include "sim_table.h"

/* 2025-01-01T01:00:00Z: every "now" below; objects are created at 00:00:00Z (age 1h). */
#define NOW ((time_t)1735693200)

/* Builds a one-object table and checks its only row's cells. */
static cJSON *table_of(const cJSON *crd_version, const char *kind, const char *obj_json)
{
	cJSON *obj = J(obj_json);
	const cJSON *objs[1] = { obj };
	cJSON *t = sim_table_build(crd_version, kind, objs, 1, SIM_TABLE_INCLUDE_METADATA, "42",
				   NOW);

	assert_non_null(t);
	cJSON_Delete(obj);
	return t;
}

static const cJSON *cells_of(const cJSON *t, int row)
{
	return cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "rows"), row), "cells");
}

/* "Name,Ready,..." of the column definitions, to compare with one string. */
static char *column_names(const cJSON *t)
{
	const cJSON *c;
	char *out = calloc(1, 1024);

	assert_non_null(out);
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(t, "columnDefinitions")) {
		if (out[0])
			strcat(out, ",");
		strcat(out, cJSON_GetObjectItem(c, "name")->valuestring);
		if (cJSON_GetObjectItem(c, "priority")->valuedouble > 0)
			strcat(out, "*");
	}
	return out;
}

/* ---- HumanDuration and time parsing ------------------------------------------------------ */

static void duration__kubectl_rules(void **state)
{
	static const struct {
		long s;
		const char *want;
	} cases[] = {
		{ -5, "<invalid>" }, { -2, "<invalid>" }, { -1, "0s" }, { 0, "0s" }, { 5, "5s" },
		{ 119, "119s" }, { 120, "2m" }, { 150, "2m30s" }, { 599, "9m59s" }, { 600, "10m" },
		{ 3 * 3600 - 1, "179m" }, { 3 * 3600, "3h" }, { 3 * 3600 + 1800, "3h30m" },
		{ 8 * 3600, "8h" }, { 47 * 3600 + 59 * 60, "47h" }, { 48 * 3600, "2d" },
		{ 52 * 3600, "2d4h" }, { 8 * 86400, "8d" }, { 729L * 86400, "729d" },
		{ 730L * 86400, "2y" }, { 740L * 86400, "2y10d" }, { 9L * 365 * 86400, "9y" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = sim_duration_human(cases[i].s);

		assert_non_null(s);
		if (strcmp(s, cases[i].want) != 0)
			fail_msg("%ld s: got '%s', want '%s'", cases[i].s, s, cases[i].want);
		free(s);
	}
}

static void time__rfc3339(void **state)
{
	time_t t;

	(void)state;
	assert_int_equal(sim_time_parse("2025-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, NOW - 3600);
	assert_int_equal(sim_time_parse("2025-01-01T00:00:00.123456Z", &t), 0);
	assert_int_equal(t, NOW - 3600);
	assert_int_equal(sim_time_parse("2025-01-01T02:00:00+02:00", &t), 0);
	assert_int_equal(t, NOW - 3600);
	assert_int_equal(sim_time_parse("2024-12-31T23:30:00-00:30", &t), 0);
	assert_int_equal(t, NOW - 3600);
	assert_int_equal(sim_time_parse("2025-01-01", &t), KUBE_EINVAL);
	assert_int_equal(sim_time_parse("2025-01-01T00:00:00", &t), KUBE_EINVAL);
	assert_int_equal(sim_time_parse("2025-13-01T00:00:00Z", &t), KUBE_EINVAL);
	assert_int_equal(sim_time_parse("yesterday at noon!!", &t), KUBE_EINVAL);
	assert_int_equal(sim_time_parse("2025-01-01T00:00:00Zjunk", &t), KUBE_EINVAL);
	assert_int_equal(sim_time_parse(NULL, &t), KUBE_EINVAL);
}

static void include__parse(void **state)
{
	(void)state;
	assert_int_equal(sim_table_parse_include(NULL), SIM_TABLE_INCLUDE_METADATA);
	assert_int_equal(sim_table_parse_include(""), SIM_TABLE_INCLUDE_METADATA);
	assert_int_equal(sim_table_parse_include("Metadata"), SIM_TABLE_INCLUDE_METADATA);
	assert_int_equal(sim_table_parse_include("None"), SIM_TABLE_INCLUDE_NONE);
	assert_int_equal(sim_table_parse_include("Object"), SIM_TABLE_INCLUDE_OBJECT);
	assert_int_equal(sim_table_parse_include("object"), -1);
}

/* ---- CRD columns ------------------------------------------------------------------------- */

/* The PhoenixService version from manifests/crds (columns only). */
static const char *PHX_VERSION =
	"{'name':'v1alpha1','additionalPrinterColumns':["
	"{'name':'Primary','type':'string','jsonPath':'.status.primary'},"
	"{'name':'Ready','type':'string','jsonPath':'.status.readyDisplay'},"
	"{'name':'Phase','type':'string','jsonPath':'.status.phase'},"
	"{'name':'Failovers','type':'integer','jsonPath':'.status.failovers'},"
	"{'name':'Last Failover','type':'date','jsonPath':'.status.lastFailoverTime'},"
	"{'name':'Age','type':'date','jsonPath':'.metadata.creationTimestamp'},"
	"{'name':'Mode','type':'string','priority':1,'jsonPath':'.spec.failover.mode',"
	" 'description':'Failover mode'},"
	"{'name':'Reaction-ms','type':'integer','priority':1,"
	" 'jsonPath':'.status.lastFailoverReactionMs'}]}";

static const char *PHX_OBJ =
	"{'apiVersion':'phoenix.fpai.io/v1alpha1','kind':'PhoenixService',"
	"'metadata':{'name':'web','namespace':'default','uid':'u1','resourceVersion':'41',"
	"  'creationTimestamp':'2025-01-01T00:00:00Z','labels':{'app':'web'}},"
	"'spec':{'failover':{'mode':'Surge'}},"
	"'status':{'primary':'web-abc','readyDisplay':'3/3','phase':'Healthy','failovers':2,"
	"  'lastFailoverTime':'2025-01-01T00:55:00Z','lastFailoverReactionMs':17}}";

static void crd__printer_columns_with_wide(void **state)
{
	cJSON *ver = J(PHX_VERSION);
	cJSON *t = table_of(ver, "PhoenixService", PHX_OBJ);
	const cJSON *defs = cJSON_GetObjectItem(t, "columnDefinitions");
	char *names = column_names(t);

	(void)state;
	assert_string_equal(cJSON_GetObjectItem(t, "kind")->valuestring, "Table");
	assert_string_equal(cJSON_GetObjectItem(t, "apiVersion")->valuestring, "meta.k8s.io/v1");
	assert_json_eq(cJSON_GetObjectItem(t, "metadata"), "{'resourceVersion':'42'}", "meta");
	assert_string_equal(names, "Name,Primary,Ready,Phase,Failovers,Last Failover,Age,Mode*,"
			    "Reaction-ms*");
	free(names);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(defs, 0), "format")->valuestring,
			    "name");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(defs, 4), "type")->valuestring,
			    "integer");
	assert_string_equal(
		cJSON_GetObjectItem(cJSON_GetArrayItem(defs, 1), "description")->valuestring,
		"Custom resource definition column (in JSONPath format): .status.primary");
	assert_string_equal(
		cJSON_GetObjectItem(cJSON_GetArrayItem(defs, 7), "description")->valuestring,
		"Failover mode");
	assert_json_eq(cells_of(t, 0), "['web','web-abc','3/3','Healthy',2,'5m','60m','Surge',17]",
		       "phx cells");
	assert_json_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "rows"), 0),
					   "object"),
		       "{'kind':'PartialObjectMetadata','apiVersion':'meta.k8s.io/v1',"
		       "'metadata':{'name':'web','namespace':'default','uid':'u1',"
		       "'resourceVersion':'41','creationTimestamp':'2025-01-01T00:00:00Z',"
		       "'labels':{'app':'web'}}}",
		       "partial object metadata");
	cJSON_Delete(t);
	cJSON_Delete(ver);
}

static void crd__missing_values_are_null(void **state)
{
	cJSON *ver = J(PHX_VERSION);
	cJSON *t = table_of(ver, "PhoenixService",
			    "{'metadata':{'name':'new','creationTimestamp':'2025-01-01T00:59:58Z'},"
			    "'spec':{}}");

	(void)state;
	assert_json_eq(cells_of(t, 0), "['new',null,null,null,null,null,'2s',null,null]",
		       "missing");
	cJSON_Delete(t);
	cJSON_Delete(ver);
}

static void crd__cell_types(void **state)
{
	cJSON *ver = J("{'additionalPrinterColumns':["
		       "{'name':'I','type':'integer','jsonPath':'.a.f'},"
		       "{'name':'N','type':'number','jsonPath':'.a.f'},"
		       "{'name':'B','type':'boolean','jsonPath':'.a.b'},"
		       "{'name':'S','type':'string','jsonPath':'.a.i'},"
		       "{'name':'O','type':'string','jsonPath':'.a.o'},"
		       "{'name':'Mismatch','type':'integer','jsonPath':'.a.s'},"
		       "{'name':'BadDate','type':'date','jsonPath':'.a.s'},"
		       "{'name':'NotDate','type':'date','jsonPath':'.a.i'},"
		       "{'name':'Future','type':'date','jsonPath':'.a.future'},"
		       "{'name':'Cond','type':'string',"
		       " 'jsonPath':'.status.conditions[?(@.type==\\'Ready\\')].status'},"
		       "{'name':'First','type':'string','jsonPath':'.a.list[*]'},"
		       "{'name':'Null','type':'string','jsonPath':'.a.n'},"
		       "{'name':'Label','type':'string',"
		       " 'jsonPath':'.metadata.labels.app\\\\.kubernetes\\\\.io/name'}]}");
	cJSON *t = table_of(ver, "Thing",
			    "{'metadata':{'name':'x','labels':{'app.kubernetes.io/name':'phx'}},"
			    "'a':{'f':2.7,'b':true,'i':7,'o':{'k':[1]},'s':'soon',"
			    "'future':'2025-01-01T02:00:00Z','list':['p','q'],'n':null},"
			    "'status':{'conditions':[{'type':'Ready','status':'True'}]}}");

	(void)state;
	assert_json_eq(cells_of(t, 0),
		       "['x',2,2.7,true,'7','{\\'k\\':[1]}',null,'<invalid>',null,'<invalid>',"
		       "'True','p',null,'phx']",
		       "types");
	cJSON_Delete(t);
	cJSON_Delete(ver);
}

static void crd__no_columns_gets_age(void **state)
{
	cJSON *ver = J("{'name':'v1','served':true}");
	cJSON *t = table_of(ver, "Thing",
			    "{'metadata':{'name':'x','creationTimestamp':'2024-12-30T01:00:00Z'}}");
	char *names = column_names(t);

	(void)state;
	assert_string_equal(names, "Name,Age");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(t,
		"columnDefinitions"), 1), "type")->valuestring, "date");
	assert_json_eq(cells_of(t, 0), "['x','2d']", "age");
	free(names);
	cJSON_Delete(t);
	cJSON_Delete(ver);
}

static void table__include_object_and_empty(void **state)
{
	cJSON *a = J("{'kind':'ConfigMap','metadata':{'name':'a'},'data':{'k':'v'}}");
	cJSON *b = J("{'kind':'ConfigMap','metadata':{'name':'b'}}");
	const cJSON *objs[2] = { a, b };
	cJSON *t;

	(void)state;
	t = sim_table_build(NULL, "ConfigMap", objs, 2, SIM_TABLE_INCLUDE_OBJECT, NULL, NOW);
	assert_non_null(t);
	assert_json_eq(cJSON_GetObjectItem(t, "metadata"), "{}", "no rv");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(t, "rows")), 2);
	assert_true(cJSON_Compare(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(t,
		"rows"), 1), "object"), b, 1));
	cJSON_Delete(t);
	t = sim_table_build(NULL, "ConfigMap", objs, 1, SIM_TABLE_INCLUDE_NONE, "1", NOW);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(t,
		"rows"), 0), "object")));
	cJSON_Delete(t);
	t = sim_table_build(NULL, "Pod", NULL, 0, SIM_TABLE_INCLUDE_METADATA, "7", NOW);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(t, "rows")), 0);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(t, "columnDefinitions")), 9);
	cJSON_Delete(t);
	cJSON_Delete(a);
	cJSON_Delete(b);
}

/* ---- built-in printers ------------------------------------------------------------------- */

struct builtin_case {
	const char *name, *kind, *columns, *obj, *cells;
};

#define META(n) "'metadata':{'name':'" n "','creationTimestamp':'2025-01-01T00:00:00Z'}"
#define POD_COLS "Name,Ready,Status,Restarts,Age,IP*,Node*,Nominated Node*,Readiness Gates*"

static const struct builtin_case builtin_cases[] = {
	{ "pod_running", "Pod", POD_COLS,
	  "{" META("web-0") ",'spec':{'nodeName':'node-1','containers':[{'name':'c'}]},"
	  "'status':{'phase':'Running','podIP':'10.0.0.5','conditions':[{'type':'Ready',"
	  "'status':'True'}],'containerStatuses':[{'name':'c','ready':true,'restartCount':0,"
	  "'state':{'running':{'startedAt':'2025-01-01T00:00:05Z'}}}]}}",
	  "['web-0','1/1','Running','0','60m','10.0.0.5','node-1','<none>','<none>']" },
	{ "pod_pending", "Pod", POD_COLS,
	  "{" META("p") ",'spec':{'containers':[{'name':'a'},{'name':'b'}]},"
	  "'status':{'phase':'Pending'}}",
	  "['p','0/2','Pending','0','60m','<none>','<none>','<none>','<none>']" },
	{ "pod_crashloop", "Pod", POD_COLS,
	  "{" META("p") ",'spec':{'containers':[{'name':'c'}]},'status':{'phase':'Running',"
	  "'containerStatuses':[{'name':'c','ready':false,'restartCount':3,"
	  "'state':{'waiting':{'reason':'CrashLoopBackOff'}},"
	  "'lastState':{'terminated':{'exitCode':1,'reason':'Error',"
	  "'finishedAt':'2025-01-01T00:55:00Z'}}}]}}",
	  "['p','0/1','CrashLoopBackOff','3 (5m ago)','60m','<none>','<none>','<none>','<none>']" },
	{ "pod_oomkilled", "Pod", POD_COLS,
	  "{" META("p") ",'spec':{'containers':[{'name':'c'}]},'status':{'phase':'Running',"
	  "'containerStatuses':[{'name':'c','ready':false,'restartCount':0,"
	  "'state':{'terminated':{'exitCode':137,'reason':'OOMKilled'}}}]}}",
	  "['p','0/1','OOMKilled','0','60m','<none>','<none>','<none>','<none>']" },
	{ "pod_exitcode_without_reason", "Pod", POD_COLS,
	  "{" META("p") ",'spec':{'containers':[{'name':'c'}]},'status':{'phase':'Failed',"
	  "'containerStatuses':[{'name':'c','state':{'terminated':{'exitCode':2}}}]}}",
	  "['p','0/1','ExitCode:2','0','60m','<none>','<none>','<none>','<none>']" },
	{ "pod_completed", "Pod", POD_COLS,
	  "{" META("job-x") ",'spec':{'containers':[{'name':'c'}]},'status':{'phase':'Succeeded',"
	  "'containerStatuses':[{'name':'c','ready':false,"
	  "'state':{'terminated':{'exitCode':0,'reason':'Completed'}}}]}}",
	  "['job-x','0/1','Completed','0','60m','<none>','<none>','<none>','<none>']" },
	{ "pod_init_running", "Pod", POD_COLS,
	  "{" META("p") ",'spec':{'initContainers':[{'name':'i1'},{'name':'i2'}],"
	  "'containers':[{'name':'c'}]},'status':{'phase':'Pending',"
	  "'initContainerStatuses':[{'name':'i1','state':{'terminated':{'exitCode':0}}},"
	  "{'name':'i2','state':{'running':{}}}],"
	  "'containerStatuses':[{'name':'c','state':{'waiting':{'reason':'PodInitializing'}}}]}}",
	  "['p','0/1','Init:1/2','0','60m','<none>','<none>','<none>','<none>']" },
	{ "pod_init_failed", "Pod", POD_COLS,
	  "{" META("p") ",'spec':{'initContainers':[{'name':'i1'}],'containers':[{'name':'c'}]},"
	  "'status':{'phase':'Pending','initContainerStatuses':[{'name':'i1','restartCount':1,"
	  "'state':{'terminated':{'exitCode':1,'reason':'Error'}}}]}}",
	  "['p','0/1','Init:Error','1','60m','<none>','<none>','<none>','<none>']" },
	{ "pod_terminating", "Pod", POD_COLS,
	  "{'metadata':{'name':'p','creationTimestamp':'2025-01-01T00:00:00Z',"
	  "'deletionTimestamp':'2025-01-01T00:59:00Z'},'spec':{'containers':[{'name':'c'}]},"
	  "'status':{'phase':'Running','podIPs':[{'ip':'10.1.1.1'}],'containerStatuses':[{'name':"
	  "'c','ready':true,'state':{'running':{}}}]}}",
	  "['p','1/1','Terminating','0','60m','10.1.1.1','<none>','<none>','<none>']" },
	{ "pod_evicted", "Pod", POD_COLS,
	  "{" META("p") ",'spec':{'containers':[{'name':'c'}]},'status':{'phase':'Failed',"
	  "'reason':'Evicted'}}",
	  "['p','0/1','Evicted','0','60m','<none>','<none>','<none>','<none>']" },
	{ "pod_node_lost", "Pod", POD_COLS,
	  "{'metadata':{'name':'p','creationTimestamp':'2025-01-01T00:00:00Z',"
	  "'deletionTimestamp':'2025-01-01T00:59:00Z'},'spec':{'nodeName':'n2',"
	  "'containers':[{'name':'c'}]},'status':{'phase':'Running','reason':'NodeLost'}}",
	  "['p','0/1','Unknown','0','60m','<none>','n2','<none>','<none>']" },
	{ "pod_sidecar_completed_other_running", "Pod", POD_COLS,
	  "{" META("p") ",'spec':{'containers':[{'name':'a'},{'name':'b'}],"
	  "'readinessGates':[{'conditionType':'x/ok'},{'conditionType':'x/no'}]},"
	  "'status':{'phase':'Running','conditions':[{'type':'Ready','status':'False'},"
	  "{'type':'x/ok','status':'True'}],'containerStatuses':["
	  "{'name':'a','ready':true,'state':{'running':{}}},"
	  "{'name':'b','ready':false,'state':{'terminated':{'exitCode':0,'reason':'Completed'}}}]}}",
	  "['p','1/2','NotReady','0','60m','<none>','<none>','<none>','1/2']" },
	{ "service_clusterip", "Service",
	  "Name,Type,Cluster-IP,External-IP,Port(s),Age,Selector*",
	  "{" META("web") ",'spec':{'type':'ClusterIP','clusterIP':'10.96.0.10',"
	  "'clusterIPs':['10.96.0.10'],'selector':{'tier':'fe','app':'web'},"
	  "'ports':[{'port':80,'protocol':'TCP'},{'port':53,'protocol':'UDP'}]}}",
	  "['web','ClusterIP','10.96.0.10','<none>','80/TCP,53/UDP','60m','app=web,tier=fe']" },
	{ "service_nodeport_defaults", "Service",
	  "Name,Type,Cluster-IP,External-IP,Port(s),Age,Selector*",
	  "{" META("np") ",'spec':{'type':'NodePort','clusterIP':'10.96.0.11',"
	  "'ports':[{'port':80,'nodePort':30080}]}}",
	  "['np','NodePort','10.96.0.11','<none>','80:30080/TCP','60m','<none>']" },
	{ "service_lb_pending", "Service",
	  "Name,Type,Cluster-IP,External-IP,Port(s),Age,Selector*",
	  "{" META("lb") ",'spec':{'type':'LoadBalancer','clusterIP':'None'}}",
	  "['lb','LoadBalancer','None','<pending>','<none>','60m','<none>']" },
	{ "service_lb_ingress", "Service",
	  "Name,Type,Cluster-IP,External-IP,Port(s),Age,Selector*",
	  "{" META("lb") ",'spec':{'type':'LoadBalancer','clusterIP':'10.0.0.1',"
	  "'externalIPs':['1.2.3.4']},'status':{'loadBalancer':{'ingress':[{'ip':'5.6.7.8'}]}}}",
	  "['lb','LoadBalancer','10.0.0.1','5.6.7.8,1.2.3.4','<none>','60m','<none>']" },
	{ "deployment", "Deployment",
	  "Name,Ready,Up-to-date,Available,Age,Containers*,Images*,Selector*",
	  "{" META("web") ",'spec':{'replicas':3,'selector':{'matchLabels':{'app':'web'}},"
	  "'template':{'spec':{'containers':[{'name':'web','image':'nginx:1'},"
	  "{'name':'side','image':'envoy:2'}]}}},"
	  "'status':{'readyReplicas':2,'updatedReplicas':3,'availableReplicas':2}}",
	  "['web','2/3',3,2,'60m','web,side','nginx:1,envoy:2','app=web']" },
	{ "deployment_no_status", "Deployment",
	  "Name,Ready,Up-to-date,Available,Age,Containers*,Images*,Selector*",
	  "{" META("d") ",'spec':{'template':{'spec':{'containers':[]}}}}",
	  "['d','0/1',0,0,'60m','','','']" },
	{ "replicaset", "ReplicaSet",
	  "Name,Desired,Current,Ready,Age,Containers*,Images*,Selector*",
	  "{" META("web-5d9") ",'spec':{'replicas':2,'selector':{'matchLabels':{'app':'web'}},"
	  "'template':{'spec':{'containers':[{'name':'web','image':'nginx:1'}]}}},"
	  "'status':{'replicas':2,'readyReplicas':1}}",
	  "['web-5d9',2,2,1,'60m','web','nginx:1','app=web']" },
	{ "job_complete", "Job",
	  "Name,Status,Completions,Duration,Age,Containers*,Images*,Selector*",
	  "{" META("migrate") ",'spec':{'completions':1,'template':{'spec':{'containers':"
	  "[{'name':'m','image':'busybox'}]}}},'status':{'succeeded':1,"
	  "'startTime':'2025-01-01T00:00:00Z','completionTime':'2025-01-01T00:00:42Z',"
	  "'conditions':[{'type':'SuccessCriteriaMet','status':'True'},"
	  "{'type':'Complete','status':'True'}]}}",
	  "['migrate','Complete','1/1','42s','60m','m','busybox','']" },
	{ "job_running_parallel", "Job",
	  "Name,Status,Completions,Duration,Age,Containers*,Images*,Selector*",
	  "{" META("j") ",'spec':{'parallelism':3},"
	  "'status':{'active':3,'startTime':'2025-01-01T00:58:00Z'}}",
	  "['j','Running','0/1 of 3','2m','60m','','','']" },
	{ "job_failed_not_started", "Job",
	  "Name,Status,Completions,Duration,Age,Containers*,Images*,Selector*",
	  "{" META("j") ",'spec':{},'status':{'failed':1,'conditions':[{'type':'Failed',"
	  "'status':'True','reason':'BackoffLimitExceeded'}]}}",
	  "['j','Failed','0/1','','60m','','','']" },
	{ "namespace", "Namespace", "Name,Status,Age",
	  "{" META("default") ",'status':{'phase':'Active'}}", "['default','Active','60m']" },
	{ "namespace_terminating", "Namespace", "Name,Status,Age",
	  "{" META("gone") ",'status':{'phase':'Terminating'}}", "['gone','Terminating','60m']" },
	{ "configmap", "ConfigMap", "Name,Data,Age",
	  "{" META("cfg") ",'data':{'a':'1','b':'2'},'binaryData':{'c':'AA=='}}",
	  "['cfg',3,'60m']" },
	{ "secret", "Secret", "Name,Type,Data,Age",
	  "{" META("sh.helm.release.v1.x.v1") ",'type':'helm.sh/release.v1','data':{'release':'x'}}",
	  "['sh.helm.release.v1.x.v1','helm.sh/release.v1',1,'60m']" },
	{ "serviceaccount", "ServiceAccount", "Name,Secrets,Age", "{" META("default") "}",
	  "['default',0,'60m']" },
	{ "lease", "Lease", "Name,Holder,Age",
	  "{" META("phoenix-leader") ",'spec':{'holderIdentity':'op-1'}}",
	  "['phoenix-leader','op-1','60m']" },
	{ "node", "Node",
	  "Name,Status,Roles,Age,Version,Internal-IP*,External-IP*,OS-Image*,Kernel-Version*,"
	  "Container-Runtime*",
	  "{'metadata':{'name':'node-1','creationTimestamp':'2025-01-01T00:00:00Z','labels':"
	  "{'node-role.kubernetes.io/worker':'','node-role.kubernetes.io/control-plane':''}},"
	  "'spec':{'unschedulable':true},'status':{'conditions':[{'type':'Ready',"
	  "'status':'True'}],'addresses':[{'type':'InternalIP','address':'192.168.0.2'}],"
	  "'nodeInfo':{'kubeletVersion':'v1.32.0'}}}",
	  "['node-1','Ready,SchedulingDisabled','control-plane,worker','60m','v1.32.0',"
	  "'192.168.0.2','<none>','<unknown>','<unknown>','<unknown>']" },
	{ "event", "Event",
	  "Last Seen,Type,Reason,Object,Subobject*,Source*,Message,First Seen*,Count*,Name*",
	  "{'metadata':{'name':'web.1','creationTimestamp':'2025-01-01T00:00:00Z'},"
	  "'involvedObject':{'kind':'PhoenixService','name':'web','fieldPath':''},"
	  "'reason':'FailoverStarted','message':' primary web-0 failed \\n','type':'Warning',"
	  "'source':{'component':'phoenix-operator'},'firstTimestamp':'2025-01-01T00:50:00Z',"
	  "'lastTimestamp':'2025-01-01T00:59:00Z','count':4}",
	  "['60s','Warning','FailoverStarted','phoenixservice/web','','phoenix-operator',"
	  "'primary web-0 failed','10m',4,'web.1']" },
	{ "event_new_api_singleton", "Event",
	  "Last Seen,Type,Reason,Object,Subobject*,Source*,Message,First Seen*,Count*,Name*",
	  "{'metadata':{'name':'e'},'regarding':{'kind':'Pod','name':'p'},'note':'hi',"
	  "'type':'Normal','reason':'Started','eventTime':'2025-01-01T00:58:00.000000Z',"
	  "'reportingController':'kubesim','reportingInstance':'node-1'}",
	  "['2m','Normal','Started','pod/p','','kubesim, node-1','hi','2m',1,'e']" },
	{ "crd_kind_default", "CustomResourceDefinition", "Name,Created At",
	  "{'metadata':{'name':'phoenixservices.phoenix.fpai.io',"
	  "'creationTimestamp':'2025-01-01T00:00:00Z'}}",
	  "['phoenixservices.phoenix.fpai.io','2025-01-01T00:00:00Z']" },
	{ "unknown_kind_default", "Role", "Name,Created At",
	  "{'metadata':{'name':'r','creationTimestamp':'2025-01-01T02:00:00+01:00'}}",
	  "['r','2025-01-01T01:00:00Z']" },
	{ "unknown_kind_no_timestamp", NULL, "Name,Created At", "{'metadata':{'name':'r'}}",
	  "['r','0001-01-01T00:00:00Z']" },
};

static void builtin__printers_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(builtin_cases) / sizeof(builtin_cases[0]); i++) {
		const struct builtin_case *c = &builtin_cases[i];
		cJSON *t = table_of(NULL, c->kind, c->obj);
		char *names = column_names(t);
		const cJSON *d;

		if (strcmp(names, c->columns) != 0)
			fail_msg("case %s: columns '%s', want '%s'", c->name, names, c->columns);
		free(names);
		/* every row has exactly one cell per column definition */
		assert_int_equal(cJSON_GetArraySize(cells_of(t, 0)),
				 cJSON_GetArraySize(cJSON_GetObjectItem(t, "columnDefinitions")));
		cJSON_ArrayForEach(d, cJSON_GetObjectItem(t, "columnDefinitions")) {
			assert_true(cJSON_IsString(cJSON_GetObjectItem(d, "description")));
			assert_true(cJSON_IsString(cJSON_GetObjectItem(d, "format")));
		}
		assert_json_eq(cells_of(t, 0), c->cells, c->name);
		cJSON_Delete(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(duration__kubectl_rules),
		cmocka_unit_test(time__rfc3339),
		cmocka_unit_test(include__parse),
		cmocka_unit_test(crd__printer_columns_with_wide),
		cmocka_unit_test(crd__missing_values_are_null),
		cmocka_unit_test(crd__cell_types),
		cmocka_unit_test(crd__no_columns_gets_age),
		cmocka_unit_test(table__include_object_and_empty),
		cmocka_unit_test(builtin__printers_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
