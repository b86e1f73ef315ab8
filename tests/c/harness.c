/* edgeconv kernel tests: the runner (see harness.h). No printf: lines are built by hand so
 * that the same code runs on bare-metal firmware without a C library. */
#include "harness.h"

#include <string.h>

typedef struct {
    char *buf;
    int32_t len, cap;
} text_t;

static void put_str(text_t *t, const char *s) {
    while (*s != '\0' && t->len + 1 < t->cap) {
        t->buf[t->len++] = *s++;
    }
    t->buf[t->len] = '\0';
}

static void put_u64(text_t *t, uint64_t v) {
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    while (n > 0 && t->len + 1 < t->cap) {
        t->buf[t->len++] = digits[--n];
    }
    t->buf[t->len] = '\0';
}

static void put_i64(text_t *t, int64_t v) {
    if (v < 0) {
        put_str(t, "-");
        put_u64(t, 0u - (uint64_t)v); /* modular: exact for INT64_MIN too */
    } else {
        put_u64(t, (uint64_t)v);
    }
}

static void put_hex32(text_t *t, uint32_t v) {
    static const char hex[] = "0123456789abcdef";
    char s[11];
    int i;
    s[0] = '0';
    s[1] = 'x';
    for (i = 0; i < 8; ++i) {
        s[2 + i] = hex[(v >> (28 - 4 * i)) & 0xFu];
    }
    s[10] = '\0';
    put_str(t, s);
}

/* Element `i` of a tensor's bytes, printed as its type reads. */
static void put_value(text_t *t, const uint8_t *p, int32_t elem_bytes, int32_t kind) {
    if (kind == EC_TEST_FLOAT) {
        uint32_t bits;
        memcpy(&bits, p, 4);
        put_str(t, "float bits ");
        put_hex32(t, bits);
    } else if (elem_bytes == 1) {
        if (kind == EC_TEST_UNSIGNED) {
            put_u64(t, *p);
        } else {
            int8_t v;
            memcpy(&v, p, 1);
            put_i64(t, v);
        }
    } else if (elem_bytes == 2) {
        int16_t v;
        memcpy(&v, p, 2);
        put_i64(t, v);
    } else if (elem_bytes == 4) {
        int32_t v;
        memcpy(&v, p, 4);
        put_i64(t, v);
    } else {
        int64_t v;
        memcpy(&v, p, 8);
        put_i64(t, v);
    }
}

/* Bitwise equality of one element (no memcmp: board_libc.c has memcpy/memmove/memset only). */
static int same_bytes(const uint8_t *a, const uint8_t *b, int32_t n) {
    int32_t i;
    for (i = 0; i < n; ++i) {
        if (a[i] != b[i]) {
            return 0;
        }
    }
    return 1;
}

int32_t ec_test_run(const ec_test_case_t *c, char *line, int32_t line_len) {
    text_t t;
    int32_t s, i, bad = 0, compared = 0;
    int32_t first_sample = -1, first_output = 0, first_index = 0;
    const uint8_t *first_got = 0, *first_want = 0;
    uint8_t got_copy[8];
    t.buf = line;
    t.len = 0;
    t.cap = line_len;
    line[0] = '\0';
    for (s = 0; s < c->samples; ++s) {
        for (i = 0; i < c->num_inputs; ++i) {
            const ec_test_tensor_t *in = &c->inputs[i];
            int32_t bytes = in->size * in->elem_bytes;
            void *dst = c->input(i);
            /* Like the missing-output check below, but for an input: four put_ calls, kept inline */
            if (dst == 0) {
                put_str(&t, "FAIL ");
                put_str(&t, c->name);
                put_str(&t, ": the model has no input ");
                put_i64(&t, i);
                return 1;
            }
            memcpy(dst, (const uint8_t *)in->data + (uint32_t)s * (uint32_t)bytes, (uint32_t)bytes);
        }
        (void)c->invoke();
        for (i = 0; i < c->num_outputs; ++i) {
            const ec_test_tensor_t *want = &c->expected[i];
            int32_t e, eb = want->elem_bytes;
            const uint8_t *got = (const uint8_t *)c->output(i);
            const uint8_t *exp = (const uint8_t *)want->data + (uint32_t)s * (uint32_t)(want->size * eb);
            /* Like the missing-input check above, but for an output: four put_ calls, kept inline */
            if (got == 0) {
                put_str(&t, "FAIL ");
                put_str(&t, c->name);
                put_str(&t, ": the model has no output ");
                put_i64(&t, i);
                return 1;
            }
            for (e = 0; e < want->size; ++e) {
                if (!same_bytes(got + e * eb, exp + e * eb, eb)) {
                    if (bad == 0) {
                        first_sample = s;
                        first_output = i;
                        first_index = e;
                        memcpy(got_copy, got + e * eb, (uint32_t)eb); /* the next invoke overwrites it */
                        first_got = got_copy;
                        first_want = exp + e * eb;
                    }
                    ++bad;
                }
            }
            compared += want->size;
        }
    }
    if (bad == 0) {
        put_str(&t, "PASS ");
        put_str(&t, c->name);
        put_str(&t, " (");
        put_i64(&t, compared);
        put_str(&t, " elements, ");
        put_i64(&t, c->samples);
        put_str(&t, " samples; ");
        put_str(&t, c->kernels);
        put_str(&t, ")");
        return 0;
    }
    put_str(&t, "FAIL ");
    put_str(&t, c->name);
    put_str(&t, ": ");
    put_i64(&t, bad);
    put_str(&t, " of ");
    put_i64(&t, compared);
    put_str(&t, " elements differ from the oracle; first: sample ");
    put_i64(&t, first_sample);
    put_str(&t, ", output ");
    put_i64(&t, first_output);
    put_str(&t, " '");
    put_str(&t, c->expected[first_output].name);
    put_str(&t, "'");
    put_str(&t, ", element ");
    put_i64(&t, first_index);
    put_str(&t, ": got ");
    put_value(&t, first_got, c->expected[first_output].elem_bytes, c->expected[first_output].kind);
    put_str(&t, ", expected ");
    put_value(&t, first_want, c->expected[first_output].elem_bytes, c->expected[first_output].kind);
    put_str(&t, " (");
    put_str(&t, c->kernels);
    put_str(&t, ")");
    return bad;
}
