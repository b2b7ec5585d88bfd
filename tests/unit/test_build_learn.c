/* Unit tests for what Builds learn (controller/build/phx_build_learn.c): keys, parse/format
 * round trip, updates from a finished Build, where the next Build starts, the ConfigMap patch
 * (bounded, corrupt entries dropped). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "build/phx_build_learn.h"
#include "json_testutil.h"
#include "kube_error.h"
#include "kube_json.h"

static void learn__key_and_parse(void **state)
{
	(void)state;
	char k[128];
	assert_string_equal(phx_build_learn_key("revenue", "npm", k, sizeof(k)), "revenue.npm");
	assert_string_equal(phx_build_learn_key("revenue", NULL, k, sizeof(k)), "revenue.unknown");
	assert_string_equal(phx_build_learn_key("a/b", "x y", k, sizeof(k)), "a_b.x_y");
	struct phx_build_learned l;
	assert_int_equal(phx_build_learn_parse("not json", &l), KUBE_EINVAL);
	assert_int_equal(l.memory_factor, 1);
	assert_int_equal(phx_build_learn_parse("[1]", &l), KUBE_EINVAL);
	assert_int_equal(phx_build_learn_parse("{\"builds\":\"x\"}", &l), KUBE_EINVAL);
	assert_int_equal(phx_build_learn_parse("{\"builds\":1,\"failures\":3}", &l), KUBE_EINVAL);
	assert_int_equal(phx_build_learn_parse(NULL, &l), KUBE_EINVAL);
	assert_int_equal(phx_build_learn_parse("{\"builds\":2,\"memoryFactor\":99}", &l), 0);
	assert_int_equal(l.memory_factor, PHX_BUILD_LEARN_FACTOR_MAX);
	assert_int_equal(l.builds, 2);
}

/* An OOM fixed by twice the memory, then success: the next Build starts with memory x2. */
static void learn__update_and_start(void **state)
{
	(void)state;
	struct phx_build_learned l;
	phx_build_learn_parse("{\"builds\":0}", &l);
	cJSON *st = J("{'retry':{'memoryFactor':2,'deadlineFactor':1},'history':["
			 "{'class':'OutOfMemory','remediation':'DoubleMemory','outcome':'Retried'},"
			 "{'class':'Succeeded','remediation':'None','outcome':'Succeeded'}],"
			 "'steps':[{'name':'fetch','phase':'Succeeded','startTime':'2026-12-01T20:00:00Z',"
			 "'completionTime':'2026-12-01T20:00:04Z'},{'name':'test','phase':'Succeeded',"
			 "'startTime':'2026-12-01T20:00:04Z','completionTime':'2026-12-01T20:01:44Z'},"
			 "{'name':'image','phase':'Running','startTime':'2026-12-01T20:01:44Z'}]}");
	phx_build_learn_update(&l, st, "Succeeded", "2026-12-01T20:02:00Z");
	assert_int_equal(l.builds, 1);
	assert_int_equal(l.succeeded, 1);
	assert_int_equal(l.memory_factor, 2);
	assert_string_equal(l.remediation, "DoubleMemory");
	assert_int_equal(l.nfailures, 1);
	assert_string_equal(l.failures[0].name, "OutOfMemory");
	assert_int_equal(l.nsteps, 2);
	assert_int_equal(l.steps[1].ms, 100000);
	int mf = 0, df = 0;
	phx_build_learn_start(&l, 1800, &mf, &df);
	assert_int_equal(mf, 2);
	assert_int_equal(df, 1);
	/* 104 s of steps, three times that is more than a 60 s deadline: x8 (powers of two) */
	phx_build_learn_start(&l, 60, &mf, &df);
	assert_int_equal(df, 8);
	phx_build_learn_start(NULL, 60, &mf, &df);
	assert_int_equal(mf, 1);
	assert_int_equal(df, 1);
	/* a failed Build: counted, the factors that worked stay; the average moves by a quarter */
	phx_build_learn_update(&l, st, "Failed", "2026-12-01T21:00:00Z");
	assert_int_equal(l.builds, 2);
	assert_int_equal(l.succeeded, 1);
	assert_int_equal(l.failures[0].count, 2);
	assert_int_equal(l.memory_factor, 2);
	/* round trip */
	char *txt = phx_build_learn_format(&l);
	assert_true(strlen(txt) < PHX_BUILD_LEARN_VALUE_MAX);
	struct phx_build_learned back;
	assert_int_equal(phx_build_learn_parse(txt, &back), 0);
	assert_int_equal(back.memory_factor, 2);
	assert_int_equal(back.builds, 2);
	assert_string_equal(back.updated_at, "2026-12-01T21:00:00Z");
	assert_string_equal(back.steps[0].name, "fetch");
	free(txt);
	cJSON_Delete(st);
	/* bounded: many long class names still fit */
	for (int i = 0; i < 40; i++) {
		char cls[64];
		snprintf(cls, sizeof(cls), "SomeVeryLongFailureClassName%02d", i);
		cJSON *h = J("{'history':[]}");
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "class", cls);
		cJSON_AddItemToArray(cJSON_GetObjectItem(h, "history"), e);
		phx_build_learn_update(&l, h, "Failed", "2026-12-01T22:00:00Z");
		cJSON_Delete(h);
	}
	assert_int_equal(l.nfailures, PHX_BUILD_LEARN_CLASSES);
	txt = phx_build_learn_format(&l);
	assert_true(strlen(txt) < PHX_BUILD_LEARN_VALUE_MAX);
	free(txt);
}

static void learn__configmap(void **state)
{
	(void)state;
	cJSON *data = J("{'rev.npm':'{\\'builds\\':1,\\'memoryFactor\\':4,\\'updatedAt\\':"
			   "\\'2026-12-01T20:00:00Z\\'}','rev.make':'{\\'builds\\':1,\\'updatedAt\\':"
			   "\\'2026-12-01T19:00:00Z\\'}','other.npm':'{\\'builds\\':1}',"
			   "'revx.npm':'{\\'builds\\':9,\\'updatedAt\\':\\'2027-01-01T00:00:00Z\\'}',"
			   "'bad.npm':'{{'}");
	struct phx_build_learned l;
	char key[128];
	assert_int_equal(phx_build_learn_pick(data, "rev", &l, key, sizeof(key)), 1);
	assert_string_equal(key, "rev.npm");
	assert_int_equal(l.memory_factor, 4);
	assert_int_equal(phx_build_learn_pick(data, "none", &l, key, sizeof(key)), 0);
	assert_int_equal(phx_build_learn_pick(data, "bad", &l, key, sizeof(key)), KUBE_EINVAL);
	assert_int_equal(phx_build_learn_pick(NULL, "rev", &l, key, sizeof(key)), 0);
	int corrupt = -1;
	cJSON *p = phx_build_learn_patch(data, "rev.npm", "{\"builds\":2}", &corrupt);
	assert_int_equal(corrupt, 1);
	assert_true(cJSON_IsNull(kube_json_get(p, "data", "bad.npm", NULL)));
	assert_string_equal(kube_json_get_str(p, "data", "rev.npm", NULL), "{\"builds\":2}");
	assert_null(kube_json_get(p, "data", "rev.make", NULL));
	cJSON_Delete(p);
	/* bounded: beyond PHX_BUILD_LEARN_MAX_KEYS the least recently updated go */
	cJSON *big = cJSON_CreateObject();
	for (int i = 0; i < PHX_BUILD_LEARN_MAX_KEYS + 5; i++) {
		char k[32], v[96];
		snprintf(k, sizeof(k), "s%02d.npm", i);
		snprintf(v, sizeof(v), "{\"builds\":1,\"updatedAt\":\"2026-12-01T20:%02d:00Z\"}", i);
		cJSON_AddStringToObject(big, k, v);
	}
	p = phx_build_learn_patch(big, "new.npm", "{\"builds\":1}", &corrupt);
	assert_int_equal(corrupt, 0);
	int nulls = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(p, "data"))
		nulls += cJSON_IsNull(e);
	assert_int_equal(nulls, 6);
	for (int i = 0; i < 6; i++) {
		char k[32];
		snprintf(k, sizeof(k), "s%02d.npm", i);
		assert_true(cJSON_IsNull(kube_json_get(p, "data", k, NULL)));
	}
	cJSON_Delete(p);
	cJSON_Delete(big);
	cJSON_Delete(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(learn__key_and_parse),
		cmocka_unit_test(learn__update_and_start),
		cmocka_unit_test(learn__configmap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
