/* edgeconv C runtime: MUL for int8, bit-exact with TFLite Micro's reference_integer_ops::Mul
 * and BroadcastMul6DSlow (the same arithmetic on both paths):
 *   out = clamp(MultiplyByQuantizedMultiplier((x0 - zp0) * (x1 - zp1)) + output_zp)
 * The product is at most 255 * 256 in magnitude, so it never overflows int32. The rescaled
 * value may be anywhere in int32 (a left shift of up to 30 bits, wrapping as TFLite's does),
 * so adding the zero point wraps too instead of overflowing; the clamp follows.
 *
 * The common case, a right shift (output_shift < 0: the product of the input scales below the
 * output scale), has its own loops: the doubling high multiply (SMULL and three adds) and the
 * rounding shift in three instructions (ec_rounding_divide_by_pot_headroom: |q| <= |product|
 * <= 65280, far from overflow), constants in registers, the clamp one SSAT when the activation
 * is the whole int8 range: about 17 instructions per element on a Cortex-M4. A broadcast input
 * constant along the run has its offset value computed once per run. (Loading four int8 at
 * once with SXTAB16 offsets and SMULBB/SMULTT products saves the loads and adds but spills
 * registers across the four requantizations: no faster on GCC 12.)
 */
#include "ec_mul.h"

#include "ec_dot.h"
#include "ec_fixedpoint.h"

#if defined(__GNUC__)
#define EC_MUL_INLINE static inline __attribute__((always_inline))
#else
#define EC_MUL_INLINE static inline
#endif

#ifdef EC_DOT_DSP
#include <arm_acle.h>
#define EC_MUL_SAT8(r) ((int32_t)__ssat((r), 8))
#else
#define EC_MUL_SAT8(r) ec_clamp_i32((r), -128, 127)
#endif

/* The right-shift output stage, its constants copied out of the params (stores through int8_t
 * pointers could alias the params). */
typedef struct {
    int32_t in0_offset, in1_offset, multiplier, exponent, half, offset, act_min, act_max;
} mul_ctx_t;

EC_MUL_INLINE int8_t mul_out(const mul_ctx_t *c, int32_t product, int full_range) {
    const int32_t r = ec_rounding_divide_by_pot_headroom(ec_rounding_doubling_high_mul_nosat(product, c->multiplier),
                                                         (int)c->exponent, c->half) +
                      c->offset;
    return (int8_t)(full_range ? EC_MUL_SAT8(r) : ec_clamp_i32(r, c->act_min, c->act_max));
}

/* Both inputs contiguous along the run. */
EC_MUL_INLINE void run_both(const mul_ctx_t *cp, const int8_t *a, const int8_t *b, int8_t *out, int32_t n,
                            int full_range) {
    const mul_ctx_t c = *cp;
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = mul_out(&c, (a[i] + c.in0_offset) * (b[i] + c.in1_offset), full_range);
    }
}

/* Input a contiguous, the other input's offset value k constant along the run. */
EC_MUL_INLINE void run_one(const mul_ctx_t *cp, int32_t a_offset, const int8_t *a, int32_t k, int8_t *out, int32_t n,
                           int full_range) {
    const mul_ctx_t c = *cp;
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = mul_out(&c, (a[i] + a_offset) * k, full_range);
    }
}

EC_MUL_INLINE void run_strided(const mul_ctx_t *cp, const int8_t *a, int32_t step0, const int8_t *b, int32_t step1,
                               int8_t *out, int32_t n, int full_range) {
    const mul_ctx_t c = *cp;
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = mul_out(&c, (a[i * step0] + c.in0_offset) * (b[i * step1] + c.in1_offset), full_range);
    }
}

EC_MUL_INLINE void run(const mul_ctx_t *c, const int8_t *a, int32_t step0, const int8_t *b, int32_t step1, int8_t *out,
                       int32_t n, int full_range) {
    if (step0 == 1 && step1 == 1) {
        run_both(c, a, b, out, n, full_range);
    } else if (step0 == 1 && step1 == 0) {
        run_one(c, c->in0_offset, a, b[0] + c->in1_offset, out, n, full_range);
    } else if (step0 == 0 && step1 == 1) {
        run_one(c, c->in1_offset, b, a[0] + c->in0_offset, out, n, full_range);
    } else {
        run_strided(c, a, step0, b, step1, out, n, full_range);
    }
}

/* One run per call; the clamp kind fixed per function, so that each has its own loops. */
static void run_full(const mul_ctx_t *c, const int8_t *a, int32_t step0, const int8_t *b, int32_t step1, int8_t *out,
                     int32_t n) {
    run(c, a, step0, b, step1, out, n, 1);
}

static void run_act(const mul_ctx_t *c, const int8_t *a, int32_t step0, const int8_t *b, int32_t step1, int8_t *out,
                    int32_t n) {
    run(c, a, step0, b, step1, out, n, 0);
}

void ec_mul_s8(const ec_mul_params_t *p, const int8_t *in0, const int8_t *in1, int8_t *out) {
    const int32_t inner = p->out_dims[EC_MAX_DIMS - 1];
    const int32_t step0 = p->in0_strides[EC_MAX_DIMS - 1];
    const int32_t step1 = p->in1_strides[EC_MAX_DIMS - 1];
    ec_broadcast_iter_t it;
    int32_t n, i;
    ec_broadcast_begin(p->out_dims, &it);
    if (p->output_shift < 0) {
        mul_ctx_t c;
        const int full_range = p->act_min == -128 && p->act_max == 127;
        if (inner <= 0) { /* an empty output: the runs would read an element of each input */
            return;
        }
        c.in0_offset = p->in0_offset;
        c.in1_offset = p->in1_offset;
        /* ADD's table path (ec_add.c) fills the same output stage into its add_out_t: each op
         * keeps its own struct. */
        c.multiplier = p->output_multiplier;
        c.exponent = -p->output_shift;
        c.half = (int32_t)1 << (c.exponent - 1);
        c.offset = p->output_offset;
        c.act_min = p->act_min;
        c.act_max = p->act_max;
        for (n = 0; n < it.runs; ++n) {
            if (full_range) {
                run_full(&c, in0 + it.off0, step0, in1 + it.off1, step1, out, inner);
            } else {
                run_act(&c, in0 + it.off0, step0, in1 + it.off1, step1, out, inner);
            }
            out += inner;
            ec_broadcast_next(p->out_dims, p->in0_strides, p->in1_strides, &it);
        }
        return;
    }
    for (n = 0; n < it.runs; ++n) {
        for (i = 0; i < inner; ++i) {
            const int32_t a = in0[it.off0 + i * step0] + p->in0_offset;
            const int32_t b = in1[it.off1 + i * step1] + p->in1_offset;
            const int32_t result =
                ec_add_wrapping(ec_requantize(a * b, p->output_multiplier, p->output_shift), p->output_offset);
            *out++ = (int8_t)ec_clamp_i32(result, p->act_min, p->act_max);
        }
        ec_broadcast_next(p->out_dims, p->in0_strides, p->in1_strides, &it);
    }
}

/* int16 (16x8 models), TFLite Micro's reference_integer_ops::Mul<int16_t> and
 * BroadcastMul6DSlow: the int8 arithmetic. TFLite Micro's Prepare requires all three zero
 * points 0 (the lowering refuses others), so the product x0 * x1 is at most 2^30 in magnitude
 * and fits int32; the rescaling's left shift (up to 30 bits) wraps as TFLite's x * (1 << shift)
 * does (ec_requantize), and so does adding the output zero point; then the clamp. */
void ec_mul_s16(const ec_mul_params_t *p, const int16_t *in0, const int16_t *in1, int16_t *out) {
    EC_BROADCAST_EACH(p, i0, i1, {
        const int32_t a = in0[i0] + p->in0_offset;
        const int32_t b = in1[i1] + p->in1_offset;
        const int32_t result =
            ec_add_wrapping(ec_requantize(a * b, p->output_multiplier, (int)p->output_shift), p->output_offset);
        *out++ = (int16_t)ec_clamp_i32(result, p->act_min, p->act_max);
    });
}
