/* intent_queue: priority then creation time then name; admission under the per-namespace cap;
 * positions for the first 20 waiting only; SLA deadlines and breaches from an injected now. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intent/intent_queue.h"
#include "kube_error.h"

#define C INTENT_PRIO_CRITICAL
#define H INTENT_PRIO_HIGH
#define M INTENT_PRIO_MEDIUM
#define L INTENT_PRIO_LOW

static void order_is(const struct intent_queue_item *it, size_t n, const char *const *want)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(it[i].name, want[i]) != 0)
			fail_msg("queue[%zu] is %s, want %s", i, it[i].name, want[i]);
}

static void sort__priority_then_time_then_name(void **state)
{
	struct intent_queue_item it[] = {
		{"low-old", L, 100, 0, 0, 0},   {"med-new", M, 500, 0, 0, 0},  {"crit-new", C, 900, 0, 0, 0},
		{"high-b", H, 300, 0, 0, 0},    {"high-a", H, 300, 0, 0, 0},   {"med-old", M, 200, 0, 0, 0},
		{"crit-old", C, 50, 0, 0, 0},
	};
	static const char *const want[] = {"crit-old", "crit-new", "high-a", "high-b", "med-old", "med-new", "low-old"};

	(void)state;
	intent_queue_sort(it, 7);
	order_is(it, 7, want);
	intent_queue_sort(NULL, 0);
}

static void admit__cap_of_one(void **state)
{
	struct intent_queue_item it[] = {
		{"a-low", L, 1, 0, 0, 0}, {"b-high", H, 5, 0, 0, 0}, {"c-crit", C, 9, 0, 0, 0}, {"d-med", M, 2, 0, 0, 0},
	};
	size_t admit[4];

	(void)state;
	assert_int_equal(intent_queue_admit(it, 4, 1, admit), 1);
	assert_string_equal(it[admit[0]].name, "c-crit");
	assert_true(it[0].admitted);
	/* positions of the waiting, in order */
	assert_string_equal(it[1].name, "b-high");
	assert_int_equal(it[1].position, 1);
	assert_int_equal(it[2].position, 2);
	assert_int_equal(it[3].position, 3);
	assert_int_equal(it[0].position, 0);
	/* the slot is held: nothing more */
	assert_int_equal(intent_queue_admit(it, 4, 1, admit), 0);
	/* the critical one finishes (leaves the list): high is next */
	assert_int_equal(intent_queue_admit(it + 1, 3, 1, admit), 1);
	assert_string_equal(it[1 + admit[0]].name, "b-high");
	assert_int_equal(it[2].position, 1);
}

static void admit__cap_counts_running(void **state)
{
	struct intent_queue_item it[] = {
		{"run1", L, 1, 1, 0, 0}, {"run2", L, 2, 1, 0, 0}, {"w1", C, 3, 0, 0, 0}, {"w2", C, 4, 0, 0, 0}, {"w3", M, 1, 0, 0, 0},
	};
	size_t admit[5];

	(void)state;
	assert_int_equal(intent_queue_admit(it, 5, 3, admit), 1);
	assert_string_equal(it[admit[0]].name, "w1");
	assert_int_equal(intent_queue_admit(it, 5, 0, admit), 0);
	assert_int_equal(intent_queue_admit(it, 5, 10, admit), 2);
	assert_int_equal(intent_queue_admit(NULL, 3, 1, admit), KUBE_EINVAL);
	assert_int_equal(intent_queue_admit(NULL, 0, 1, NULL), 0);
}

static void admit__positions_for_first_20_only(void **state)
{
	enum { N = 50 };
	struct intent_queue_item it[N];
	char names[N][8];
	size_t admit[N];
	int with_pos = 0;

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "i%02d", i);
		it[i] = (struct intent_queue_item){names[i], (enum intent_priority)(i % 4), 1000 - i, 0, 0, 0};
	}
	assert_int_equal(intent_queue_admit(it, N, 2, admit), 2);
	for (int i = 0; i < N; i++) {
		if (it[i].position)
			with_pos++;
		if (i >= 2 && i < 22)
			assert_int_equal(it[i].position, i - 1);
		else
			assert_int_equal(it[i].position, 0);
	}
	assert_int_equal(with_pos, INTENT_QUEUE_POSITIONS);
	/* the admitted are the two newest criticals (i48, i44): creation time orders them */
	assert_string_equal(it[0].name, "i48");
	assert_string_equal(it[1].name, "i44");
}

/* 10,000 queued with a cap of 10: once the positions are in status, a freed slot costs the
 * admitted Intent plus the 20 positions that shift, not 10,000 writes. */
static void changed__one_admission_costs_at_most_21_writes(void **state)
{
	enum { N = 10000 };
	struct intent_queue_item *it = calloc(N, sizeof(*it));
	size_t *idx = calloc(N, sizeof(*idx));
	char (*names)[8] = calloc(N, 8);
	int n;

	(void)state;
	assert_non_null(it);
	assert_non_null(idx);
	assert_non_null(names);
	for (int i = 0; i < N; i++) {
		snprintf(names[i], 8, "q%05d", i);
		it[i] = (struct intent_queue_item){names[i], (enum intent_priority)(i % 4), i, 0, 0, 0};
	}
	assert_int_equal(intent_queue_admit(it, N, 10, idx), 10);
	assert_int_equal(intent_queue_changed(it, N, idx), 20); /* first write of the 20 positions */
	for (int i = 0; i < N; i++)
		it[i].status_position = it[i].position;
	assert_int_equal(intent_queue_changed(it, N, idx), 0);
	/* the first admitted finishes: it leaves the list, one waiting Intent is admitted */
	memmove(it, it + 1, (N - 1) * sizeof(*it));
	assert_int_equal(intent_queue_admit(it, N - 1, 10, idx), 1);
	n = intent_queue_changed(it, N - 1, idx);
	assert_true(n <= INTENT_QUEUE_POSITIONS + 1);
	assert_int_equal(n, 21);
	assert_int_equal(intent_queue_changed(NULL, 3, idx), KUBE_EINVAL);
	assert_int_equal(intent_queue_changed(NULL, 0, NULL), 0);
	free(it);
	free(idx);
	free(names);
}

static void sla__deadlines_and_breach(void **state)
{
	struct intent_policy p;
	int64_t d = 0;
	const int64_t t0 = 1700000000000;

	(void)state;
	assert_int_equal(intent_sla_deadline(NULL, C, t0, &d), 0);
	assert_int_equal(d, t0 + 5 * 60000);
	assert_int_equal(intent_sla_deadline(NULL, H, t0, &d), 0);
	assert_int_equal(d, t0 + 15 * 60000);
	assert_int_equal(intent_sla_deadline(NULL, M, t0, &d), 0);
	assert_int_equal(d, t0 + 3600000);
	assert_int_equal(intent_sla_deadline(NULL, L, t0, &d), KUBE_ENOTFOUND);
	intent_policy_defaults(&p);
	p.sla_ms[L] = 1000;
	assert_int_equal(intent_sla_deadline(&p, L, t0, &d), 0);
	assert_int_equal(d, t0 + 1000);
	assert_false(intent_sla_breached(d, t0 + 999));
	assert_false(intent_sla_breached(d, t0 + 1000));
	assert_true(intent_sla_breached(d, t0 + 1001));
	assert_int_equal(intent_sla_deadline(&p, (enum intent_priority)7, t0, &d), KUBE_EINVAL);
	assert_int_equal(intent_sla_deadline(&p, C, t0, NULL), KUBE_EINVAL);
}

static int collect_fn(const struct intent_queue_entry *e, void *ud)
{
	const struct intent_queue_entry **out = ud;
	for (; *out; out++)
		;
	*out = e;
	return 0;
}

/* The entries of ns, NULL-terminated, into out (room for 8). */
static size_t entries(const struct intent_queue_index *idx, const char *ns,
		      const struct intent_queue_entry **out)
{
	size_t n = 0;
	memset(out, 0, 8 * sizeof(*out));
	assert_int_equal(intent_queue_index_foreach(idx, ns, collect_fn, out), 0);
	while (out[n])
		n++;
	return n;
}

static void index__rv_change_rereads_same_rv_does_not(void **state)
{
	(void)state;
	struct intent_queue_index *idx = intent_queue_index_new();
	char ns[] = "team-a", name[] = "i1", rv[] = "10";
	struct intent_queue_entry e = {ns, name, rv, L, 100, 1, 0, 1, 0, 0, NULL, 0, NULL, 0, 0};
	const struct intent_queue_entry *got[8];

	assert_non_null(idx);
	assert_int_equal(intent_queue_index_put(idx, &e), 1);
	/* The index owns copies: the caller's buffers may change. */
	strcpy(rv, "11");
	assert_int_equal(intent_queue_index_fresh(idx, "team-a", "i1", "10"), 1);
	assert_int_equal(intent_queue_index_fresh(idx, "team-a", "i1", "11"), 0);
	strcpy(rv, "10");
	e.priority = C;
	assert_int_equal(intent_queue_index_put(idx, &e), 0); /* same rv: not re-read */
	assert_int_equal(entries(idx, "team-a", got), 1);
	assert_int_equal(got[0]->priority, L);
	strcpy(rv, "12");
	e.gen = 2;
	e.position = 3;
	assert_int_equal(intent_queue_index_put(idx, &e), 1); /* new rv: re-read */
	assert_int_equal(entries(idx, "team-a", got), 1);
	assert_int_equal(got[0]->priority, C);
	assert_int_equal(got[0]->gen, 2);
	assert_int_equal(got[0]->position, 3);
	assert_string_equal(got[0]->rv, "12");
	assert_string_equal(got[0]->name, "i1");
	assert_string_equal(got[0]->ns, "team-a");
	assert_int_equal(intent_queue_index_len(idx), 1);
	intent_queue_index_free(idx);
}

static void index__delete_leaves_the_queue_namespaces_apart(void **state)
{
	(void)state;
	struct intent_queue_index *idx = intent_queue_index_new();
	struct intent_queue_entry a = {"ns1", "a", "1", M, 1, 1, 0, 1, 0, 0, NULL, 0, NULL, 0, 0};
	struct intent_queue_entry b = {"ns1", "b", "2", M, 2, 1, 0, 1, 0, 0, NULL, 0, NULL, 0, 0};
	struct intent_queue_entry c = {"ns2", "a", NULL, H, 3, 1, 0, 1, 0, 0, NULL, 0, NULL, 0, 0};
	const struct intent_queue_entry *got[8];

	assert_int_equal(intent_queue_index_put(idx, &a), 1);
	assert_int_equal(intent_queue_index_put(idx, &b), 1);
	assert_int_equal(intent_queue_index_put(idx, &c), 1);
	/* No resourceVersion: never fresh, always re-read. */
	assert_int_equal(intent_queue_index_fresh(idx, "ns2", "a", NULL), 0);
	assert_int_equal(intent_queue_index_put(idx, &c), 1);
	assert_int_equal(intent_queue_index_len(idx), 3);
	assert_int_equal(entries(idx, "ns1", got), 2);
	assert_int_equal(entries(idx, "ns2", got), 1);
	assert_int_equal(got[0]->priority, H);
	intent_queue_index_del(idx, "ns1", "a");
	intent_queue_index_del(idx, "ns1", "nope");
	intent_queue_index_del(idx, "nope", "a");
	assert_int_equal(entries(idx, "ns1", got), 1);
	assert_string_equal(got[0]->name, "b");
	assert_int_equal(intent_queue_index_fresh(idx, "ns1", "a", "1"), 0);
	intent_queue_index_del(idx, "ns1", "b");
	assert_int_equal(entries(idx, "ns1", got), 0);
	assert_int_equal(entries(idx, "ns2", got), 1);
	assert_int_equal(intent_queue_index_len(idx), 1);
	assert_int_equal(intent_queue_index_put(idx, &(struct intent_queue_entry){.ns = "x"}),
			 KUBE_EINVAL);
	intent_queue_index_free(idx); /* frees what is left (ASan: no leak) */
	intent_queue_index_free(NULL);
}

/* The candidates in queue order, with room for 512. */
struct ordered {
	const struct intent_queue_entry *v[512];
	size_t n;
};

static int ordered_fn(const struct intent_queue_entry *e, void *ud)
{
	struct ordered *o = ud;
	assert_true(o->n < 512);
	o->v[o->n++] = e;
	return 0;
}

static size_t ordered(const struct intent_queue_index *idx, const char *ns, struct ordered *o)
{
	o->n = 0;
	assert_int_equal(intent_queue_index_foreach_ordered(idx, ns, ordered_fn, o), 0);
	for (size_t i = 1; i < o->n; i++)
		assert_true(intent_queue_entry_cmp(o->v[i - 1], o->v[i]) < 0);
	return o->n;
}

/* The index keeps its candidates in queue order through puts that move them (priority,
 * approval), deletes and non-candidates: the order a sort of the same set gives, at every step. */
static void index__ordered_as_sorted_through_changes(void **state)
{
	(void)state;
	struct intent_queue_index *idx = intent_queue_index_new();
	struct ordered o;
	char names[300][8], rvs[300][8];
	int cand[300] = {0}, prio[300] = {0};
	unsigned seed = 12345;

	for (int i = 0; i < 300; i++)
		snprintf(names[i], sizeof(names[i]), "i%03d", i);
	for (int step = 0; step < 3000; step++) {
		seed = seed * 1103515245u + 12345u;
		int i = (int)((seed >> 8) % 300), op = (int)((seed >> 20) % 5);
		if (op == 0) {
			intent_queue_index_del(idx, "ns", names[i]);
			cand[i] = 0;
			continue;
		}
		prio[i] = (int)((seed >> 4) % INTENT_PRIO_COUNT);
		cand[i] = op != 1;
		snprintf(rvs[i], sizeof(rvs[i]), "%d", step);
		struct intent_queue_entry e = {.ns = "ns", .name = names[i], .rv = rvs[i],
					       .priority = prio[i], .created_ms = i % 7,
					       .candidate = cand[i]};
		assert_int_equal(intent_queue_index_put(idx, &e), 1);
		if (step % 100 == 0) {
			size_t want = 0;
			for (int j = 0; j < 300; j++)
				want += cand[j] ? 1 : 0;
			assert_int_equal(ordered(idx, "ns", &o), want);
		}
	}
	/* Against a sort of the same candidates. */
	struct intent_queue_item items[300];
	size_t n = 0;
	for (int j = 0; j < 300; j++)
		if (cand[j])
			items[n++] = (struct intent_queue_item){.name = names[j], .priority = prio[j],
								 .created_ms = j % 7};
	intent_queue_sort(items, n);
	assert_int_equal(ordered(idx, "ns", &o), n);
	for (size_t j = 0; j < n; j++)
		assert_string_equal(o.v[j]->name, items[j].name);
	assert_int_equal(ordered(idx, "other", &o), 0);
	/* admit_sorted on that order admits and positions exactly as admit (which sorts). */
	struct intent_queue_item a[300], b[300];
	size_t ia[300], ib[300];
	memcpy(a, items, n * sizeof(*a));
	memcpy(b, items, n * sizeof(*b));
	for (size_t j = n; j-- > 1;) { /* b reversed: admit must sort it */
		struct intent_queue_item t = b[j];
		b[j] = b[n - 1 - j];
		b[n - 1 - j] = t;
		if (j <= n / 2)
			break;
	}
	int na = intent_queue_admit_sorted(a, n, 3, ia), nb = intent_queue_admit(b, n, 3, ib);
	assert_int_equal(na, nb);
	for (size_t j = 0; j < n; j++) {
		assert_string_equal(a[j].name, b[j].name);
		assert_int_equal(a[j].position, b[j].position);
		assert_int_equal(a[j].admitted, b[j].admitted);
	}
	intent_queue_index_free(idx); /* ASan: the order arrays too */
}

/* The peer lookups of governance: by serviceName and by port, neither self nor an Intent
 * being deleted, kept right through replace (a changed serviceName or port) and delete. */
static void index__find_by_service_and_port(void **state)
{
	(void)state;
	struct intent_queue_index *idx = intent_queue_index_new();
	const char *deps[] = {"ledger", NULL, "db"};
	struct intent_queue_entry a = {.ns = "ns", .name = "a", .rv = "1", .svc = "web", .port = 8080,
				       .deps = deps, .ndeps = 3};
	struct intent_queue_entry b = {.ns = "ns", .name = "b", .rv = "1", .svc = "web", .port = 9090};
	const struct intent_queue_entry *f;

	assert_int_equal(intent_queue_index_put(idx, &a), 1);
	assert_int_equal(intent_queue_index_put(idx, &b), 1);
	assert_int_equal(intent_queue_index_put(idx, &(struct intent_queue_entry){
		.ns = "other", .name = "c", .svc = "api", .port = 7070}), 1);
	f = intent_queue_index_find(idx, "ns", NULL, 8080, NULL);
	assert_non_null(f);
	assert_string_equal(f->name, "a");
	assert_int_equal(f->ndeps, 2); /* the NULL dependency is left out */
	assert_string_equal(f->deps[0], "ledger");
	assert_string_equal(f->deps[1], "db");
	assert_null(intent_queue_index_find(idx, "ns", NULL, 8080, "a")); /* self is no peer */
	f = intent_queue_index_find(idx, "ns", "web", 0, "a");
	assert_non_null(f);
	assert_string_equal(f->name, "b");
	assert_null(intent_queue_index_find(idx, "ns", "api", 0, NULL)); /* another namespace */
	assert_null(intent_queue_index_find(idx, "ns", NULL, 7070, NULL));
	assert_null(intent_queue_index_find(idx, "ns", NULL, 0, NULL));
	assert_null(intent_queue_index_find(NULL, "ns", "web", 0, NULL));
	/* b moves to serviceName api and port 8080; then it is being deleted. */
	b.rv = "2";
	b.svc = "api";
	b.port = 8080;
	assert_int_equal(intent_queue_index_put(idx, &b), 1);
	assert_null(intent_queue_index_find(idx, "ns", "web", 0, "a"));
	assert_null(intent_queue_index_find(idx, "ns", NULL, 9090, NULL));
	f = intent_queue_index_find(idx, "ns", "api", 0, NULL);
	assert_non_null(f);
	assert_string_equal(f->name, "b");
	assert_non_null(intent_queue_index_find(idx, "ns", NULL, 8080, "a"));
	b.rv = "3";
	b.deleting = 1;
	assert_int_equal(intent_queue_index_put(idx, &b), 1);
	assert_null(intent_queue_index_find(idx, "ns", "api", 0, NULL));
	assert_null(intent_queue_index_find(idx, "ns", NULL, 8080, "a"));
	intent_queue_index_del(idx, "ns", "a");
	assert_null(intent_queue_index_find(idx, "ns", "web", 0, NULL));
	assert_null(intent_queue_index_find(idx, "ns", NULL, 8080, NULL));
	intent_queue_index_del(idx, "ns", "b");
	assert_int_equal(intent_queue_index_len(idx), 1);
	intent_queue_index_free(idx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sort__priority_then_time_then_name),
		cmocka_unit_test(admit__cap_of_one),
		cmocka_unit_test(admit__cap_counts_running),
		cmocka_unit_test(admit__positions_for_first_20_only),
		cmocka_unit_test(changed__one_admission_costs_at_most_21_writes),
		cmocka_unit_test(sla__deadlines_and_breach),
		cmocka_unit_test(index__rv_change_rereads_same_rv_does_not),
		cmocka_unit_test(index__delete_leaves_the_queue_namespaces_apart),
		cmocka_unit_test(index__find_by_service_and_port),
		cmocka_unit_test(index__ordered_as_sorted_through_changes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
