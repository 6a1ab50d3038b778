/*
 * test_err: the error detail, including the wrapping of the previous detail by the next one,
 * which every layer does ("fd 3 of pid 42: " + what the parser said).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"

static void test_set_and_clear(void **state)
{
	(void)state;
	err_clear();
	assert_string_equal(err_detail(), "");
	assert_int_equal(err_setf(22, "bad %s", "thing"), -22);
	assert_int_equal(err_setf(-5, "io"), -5);
	assert_string_equal(err_detail(), "io");
	err_clear();
	assert_string_equal(err_detail(), "");
}

static void test_wrap_previous(void **state)
{
	(void)state;
	err_setf(-22, "line 3: overlapping with the previous range");
	err_setf(-22, "cannot read the mappings of pid %d: %s", 42, err_detail());
	assert_string_equal(err_detail(),
			    "cannot read the mappings of pid 42: line 3: overlapping with the "
			    "previous range");
}

static void test_truncated_not_overrun(void **state)
{
	char big[3000];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	err_setf(-7, "%s", big);
	assert_true(strlen(err_detail()) < sizeof(big));
	err_setf(-7, "a: %s", err_detail());
	assert_memory_equal(err_detail(), "a: xxx", 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_and_clear),
		cmocka_unit_test(test_wrap_previous),
		cmocka_unit_test(test_truncated_not_overrun),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
