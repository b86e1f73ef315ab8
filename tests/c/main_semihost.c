/* edgeconv kernel tests: bare-metal firmware running every case (ec_test_cases, listed by the
 * Makefile in all_cases.c) on an emulated Arm core. Lines go out through semihosting
 * (SYS_WRITE0); the exit reason tells QEMU's exit status: 0 when every case is exact. */
#include <stdint.h>

#include "harness.h"

extern const ec_test_case_t *const ec_test_cases[];
extern const int32_t ec_test_case_count;

enum { SYS_WRITE0 = 0x04, SYS_EXIT = 0x18 };

static int semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt #0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static void write_line(const char *s) {
    (void)semihost(SYS_WRITE0, s);
    (void)semihost(SYS_WRITE0, "\n");
}

static void put_count(char *buf, int32_t v) {
    char digits[12];
    int n = 0, i = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0) {
        buf[i++] = digits[--n];
    }
    buf[i] = '\0';
}

int main(void);

int main(void) {
    static char line[600];
    char passed[12], total[12];
    int32_t i, failed = 0;
    for (i = 0; i < ec_test_case_count; ++i) {
        if (ec_test_run(ec_test_cases[i], line, (int32_t)sizeof line) != 0) {
            ++failed;
        }
        write_line(line);
    }
    put_count(passed, ec_test_case_count - failed);
    put_count(total, ec_test_case_count);
    (void)semihost(SYS_WRITE0, "cortex-m4: ");
    (void)semihost(SYS_WRITE0, passed);
    (void)semihost(SYS_WRITE0, " of ");
    (void)semihost(SYS_WRITE0, total);
    write_line(" cases bit-exact");
    /* ADP_Stopped_ApplicationExit: QEMU exits 0; ADP_Stopped_RunTimeErrorUnknown: 1. */
    (void)semihost(SYS_EXIT, (const void *)(uintptr_t)(failed == 0 ? 0x20026u : 0x20023u));
    return failed;
}
