/* daemon/request_gate.c: per_cn calls of one CN through at once, the rest started in arrival
 * order as places are left, half of per_cn while another CN is present, a start that leaves
 * at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "request_gate.h"

static int started[16];
static int nstarted;

static void record(void *arg)
{
	started[nstarted++] = (int)(intptr_t)arg;
}

static struct request_gate *leaving_gate;

static void fail_at_once(void *arg)
{
	record(arg);
	request_gate_leave(leaving_gate, "a");
}

static int64_t fake_now_us;

static int64_t fake_clock(void)
{
	return fake_now_us;
}

static void per_cn_then_in_order(void **state)
{
	(void)state;
	nstarted = 0;
	struct request_gate *g = request_gate_new(2);
	assert_non_null(g);
	request_gate_set_clock(g, fake_clock);
	fake_now_us = 1000000000;
	for (intptr_t i = 1; i <= 5; i++)
		assert_true(request_gate_enter(g, "greedy", record, (void *)i));
	assert_int_equal(nstarted, 2);
	assert_int_equal(request_gate_waiting(g), 3);
	request_gate_leave(g, "greedy");
	assert_int_equal(nstarted, 3);
	assert_int_equal(started[2], 3);
	request_gate_leave(g, "greedy");
	request_gate_leave(g, "greedy");
	assert_int_equal(nstarted, 5);
	assert_int_equal(started[3], 4);
	assert_int_equal(started[4], 5);
	assert_int_equal(request_gate_waiting(g), 0);
	request_gate_leave(g, "greedy");
	request_gate_leave(g, "greedy");
	request_gate_leave(g, "nobody"); /* ignored */
	request_gate_free(g);
	request_gate_free(NULL);
}

/* Another CN present: it is not held up, and the greedy one is down to half its places until
 * the other has been gone a second; then both places fill again, in order. */
static void another_cn_halves_the_limit(void **state)
{
	(void)state;
	nstarted = 0;
	struct request_gate *g = request_gate_new(2);
	assert_non_null(g);
	request_gate_set_clock(g, fake_clock);
	fake_now_us = 2000000000;
	for (intptr_t i = 1; i <= 5; i++)
		assert_true(request_gate_enter(g, "greedy", record, (void *)i));
	assert_int_equal(nstarted, 2);
	assert_true(request_gate_enter(g, "staff", record, (void *)9));
	assert_int_equal(nstarted, 3);
	assert_int_equal(started[2], 9);
	request_gate_leave(g, "greedy"); /* 1 through: the shared limit */
	assert_int_equal(nstarted, 3);
	request_gate_leave(g, "staff");
	fake_now_us += 500000; /* staff started half a second ago: still present */
	request_gate_leave(g, "greedy");
	assert_int_equal(nstarted, 4);
	assert_int_equal(started[3], 3);
	assert_int_equal(request_gate_waiting(g), 2);
	/* A new greedy call waits behind the older ones even with a place free later. */
	assert_true(request_gate_enter(g, "greedy", record, (void *)6));
	assert_int_equal(nstarted, 4);
	fake_now_us += 600000; /* staff gone for over a second: both places again */
	request_gate_leave(g, "greedy");
	assert_int_equal(nstarted, 6);
	assert_int_equal(started[4], 4);
	assert_int_equal(started[5], 5);
	request_gate_leave(g, "greedy");
	assert_int_equal(nstarted, 7);
	assert_int_equal(started[6], 6);
	assert_int_equal(request_gate_waiting(g), 0);
	request_gate_leave(g, "greedy");
	request_gate_leave(g, "greedy");
	request_gate_free(g);
}

static void a_start_that_leaves_at_once_starts_the_next(void **state)
{
	(void)state;
	nstarted = 0;
	struct request_gate *g = request_gate_new(1);
	assert_non_null(g);
	leaving_gate = g;
	assert_true(request_gate_enter(g, "a", record, (void *)1));
	assert_true(request_gate_enter(g, "a", fail_at_once, (void *)2));
	assert_true(request_gate_enter(g, "a", fail_at_once, (void *)3));
	assert_true(request_gate_enter(g, "a", record, (void *)4));
	assert_int_equal(nstarted, 1);
	request_gate_leave(g, "a"); /* 2 and 3 fail at once in turn, then 4 runs */
	assert_int_equal(nstarted, 4);
	assert_int_equal(started[3], 4);
	assert_int_equal(request_gate_waiting(g), 0);
	request_gate_leave(g, "a");
	/* Freed with calls still waiting: they are dropped, not started. */
	assert_true(request_gate_enter(g, "a", record, (void *)5));
	assert_true(request_gate_enter(g, "a", record, (void *)6));
	assert_int_equal(nstarted, 5);
	request_gate_free(g);
	assert_int_equal(nstarted, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(per_cn_then_in_order),
	    cmocka_unit_test(another_cn_halves_the_limit),
	    cmocka_unit_test(a_start_that_leaves_at_once_starts_the_next),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
