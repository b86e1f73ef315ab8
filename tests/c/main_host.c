/* edgeconv kernel tests: the host runner of one case (EC_TEST_CASE names its description,
 * given by the Makefile). Prints one line; exit status 0 only when every element is exact. */
#include <stdio.h>

#include "harness.h"

#ifndef EC_TEST_CASE
#error "build with -DEC_TEST_CASE=<case>_test (the Makefile does)"
#endif

extern const ec_test_case_t EC_TEST_CASE;

int main(void) {
    char line[600];
    int32_t bad = ec_test_run(&EC_TEST_CASE, line, (int32_t)sizeof line);
    puts(line);
    return bad == 0 ? 0 : 1;
}
