/* edgeconv C runtime: ADD and SUB for int8 and int16, bit-exact with TFLite Micro.
 *
 * Per element (x0, x1 raw int8):
 *   v_i   = (x_i + in_i_offset) * 2^left_shift                 |v_i| < 2^28, no overflow
 *   s_i   = MultiplyByQuantizedMultiplierSmallerThanOneExp(v_i, in_i_multiplier, in_i_shift)
 *   raw   = s0 + s1  (ADD)  or  s0 - s1  (SUB)                 |raw| < 2^29
 *   out   = clamp(MBQMSmallerThanOneExp(raw, output_multiplier, output_shift) + output_offset)
 * TFLite takes the same arithmetic on its broadcast and non-broadcast paths, so one loop
 * serves both.
 *
 * s_i depends on one int8 value only, so where the compiler provides tables (in0_table,
 * in1_table: s_0 and +-s_1 for each of the 256 values, computed at compile time with TFLite's
 * arithmetic) an element costs two loads and the output requantization: SMULL and three adds
 * for the doubling high multiply, then the rounding shift in three instructions
 * (ec_rounding_divide_by_pot_headroom: |q| <= |raw| < 2^29 and 2^(e-1) <= 2^30 leave the
 * headroom it needs), the zero point and the clamp (one SSAT when the activation is the whole
 * int8 range). The loops are specialised for the common inner-loop shapes: both inputs
 * contiguous, or one contiguous and the other constant along the run (broadcast), whose
 * table entry is then read once per run. Without tables, or for an output shift of 0 (which
 * the headroom form does not take), each element runs the three requantizations.
 *
 * int16 (ec_add_s16, ec_sub_s16) has no tables (65,536 entries per input) and runs the three
 * requantizations per element, with left_shift 15; see add_sub_s16 for its ranges.
 */
#include "ec_add.h"

#include "ec_fixedpoint.h"

/* The clamp to the whole int8 range: one SSAT on cores with the DSP extension (GCC does not
 * find it in the comparisons). */
#if defined(__ARM_FEATURE_DSP) && !defined(EC_NO_DSP)
#include <arm_acle.h>
#define EC_ADD_SAT8(r) ((int32_t)__ssat((r), 8))
#else
#define EC_ADD_SAT8(r) ec_clamp_i32((r), -128, 127)
#endif

/* The run loops are instantiated per clamp kind (run_tables_full, run_tables_act): inlining
 * them must not be left to the compiler's size heuristics. */
#if defined(__GNUC__)
#define EC_ADD_INLINE static inline __attribute__((always_inline))
#else
#define EC_ADD_INLINE static inline
#endif

static int8_t add_one(const ec_add_params_t *p, int32_t x0, int32_t x1, int subtract) {
    /* Multiplication, not <<: a left shift of a negative value is undefined in C99. */
    const int32_t shifted0 = (x0 + p->in0_offset) * ((int32_t)1 << p->left_shift);
    const int32_t shifted1 = (x1 + p->in1_offset) * ((int32_t)1 << p->left_shift);
    const int32_t scaled0 = ec_requantize_lt1(shifted0, p->in0_multiplier, p->in0_shift);
    const int32_t scaled1 = ec_requantize_lt1(shifted1, p->in1_multiplier, p->in1_shift);
    const int32_t raw = subtract ? scaled0 - scaled1 : scaled0 + scaled1;
    const int32_t result = ec_requantize_lt1(raw, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)ec_clamp_i32(result, p->act_min, p->act_max);
}

/* The output stage of the table path. The run loops copy its constants into locals (stores
 * through int8_t pointers could alias any memory, which would reload every field per
 * element). */
typedef struct {
    int32_t multiplier, exponent, half, offset, act_min, act_max;
} add_out_t;

#define EC_ADD_OUT_LOCALS(o)                                                         \
    const int32_t mult_ = (o)->multiplier, half_ = (o)->half, offset_ = (o)->offset; \
    const int32_t lo_ = (o)->act_min, hi_ = (o)->act_max;                            \
    const int exponent_ = (int)(o)->exponent

EC_ADD_INLINE int8_t add_out(int32_t raw, int32_t mult, int exponent, int32_t half, int32_t offset, int32_t lo,
                             int32_t hi, int full_range) {
    const int32_t r =
        ec_rounding_divide_by_pot_headroom(ec_rounding_doubling_high_mul_nosat(raw, mult), exponent, half) + offset;
    if (full_range) {
        return (int8_t)EC_ADD_SAT8(r);
    }
    return (int8_t)ec_clamp_i32(r, lo, hi);
}

/* Both inputs contiguous along the run. */
EC_ADD_INLINE void run_both(const add_out_t *o, EC_CREF(int32_t) t0, EC_CREF(int32_t) t1, const int8_t *a,
                            const int8_t *b, int8_t *out, int32_t n, int full_range) {
    EC_ADD_OUT_LOCALS(o);
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] =
            add_out(EC_C_S32(t0, a[i]) + EC_C_S32(t1, b[i]), mult_, exponent_, half_, offset_, lo_, hi_, full_range);
    }
}

/* One input contiguous (table t), the other's term c constant along the run. */
EC_ADD_INLINE void run_one(const add_out_t *o, EC_CREF(int32_t) t, int32_t c, const int8_t *a, int8_t *out, int32_t n,
                           int full_range) {
    EC_ADD_OUT_LOCALS(o);
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = add_out(EC_C_S32(t, a[i]) + c, mult_, exponent_, half_, offset_, lo_, hi_, full_range);
    }
}

/* Any strides. */
EC_ADD_INLINE void run_strided(const add_out_t *o, EC_CREF(int32_t) t0, EC_CREF(int32_t) t1, const int8_t *a,
                               int32_t step0, const int8_t *b, int32_t step1, int8_t *out, int32_t n, int full_range) {
    EC_ADD_OUT_LOCALS(o);
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = add_out(EC_C_S32(t0, a[i * step0]) + EC_C_S32(t1, b[i * step1]), mult_, exponent_, half_, offset_, lo_,
                         hi_, full_range);
    }
}

EC_ADD_INLINE void run_tables(EC_CREF(int32_t) t0, EC_CREF(int32_t) t1, const add_out_t *o, const int8_t *a,
                              const int8_t *b, int32_t step0, int32_t step1, int8_t *out, int32_t n, int full_range) {
    if (step0 == 1 && step1 == 1) {
        run_both(o, t0, t1, a, b, out, n, full_range);
    } else if (step0 == 1 && step1 == 0) {
        run_one(o, t0, EC_C_S32(t1, b[0]), a, out, n, full_range);
    } else if (step0 == 0 && step1 == 1) {
        run_one(o, t1, EC_C_S32(t0, a[0]), b, out, n, full_range);
    } else {
        run_strided(o, t0, t1, a, step0, b, step1, out, n, full_range);
    }
}

/* One run of the output per call; full_range fixed per function so that each has its own
 * loops with the clamp it needs. */
static void run_tables_full(EC_CREF(int32_t) t0, EC_CREF(int32_t) t1, const add_out_t *o, const int8_t *a,
                            const int8_t *b, int32_t step0, int32_t step1, int8_t *out, int32_t n) {
    run_tables(t0, t1, o, a, b, step0, step1, out, n, 1);
}

static void run_tables_act(EC_CREF(int32_t) t0, EC_CREF(int32_t) t1, const add_out_t *o, const int8_t *a,
                           const int8_t *b, int32_t step0, int32_t step1, int8_t *out, int32_t n) {
    run_tables(t0, t1, o, a, b, step0, step1, out, n, 0);
}

/* add_sub_s16 below walks the same broadcast runs for int16 (no tables, a rescale per term):
 * kept apart so a firmware links only the type it uses. */
static void add_sub(const ec_add_params_t *p, const int8_t *in0, const int8_t *in1, int8_t *out, int subtract) {
    const int32_t inner = p->out_dims[EC_MAX_DIMS - 1];
    const int32_t step0 = p->in0_strides[EC_MAX_DIMS - 1];
    const int32_t step1 = p->in1_strides[EC_MAX_DIMS - 1];
    ec_broadcast_iter_t it;
    int32_t n, i;
    ec_broadcast_begin(p->out_dims, &it);
    if (p->in0_table && p->in1_table && p->output_shift < 0) {
        /* Indexed by the int8 value itself: the middle of the 256 entries. */
        EC_CREF(int32_t) const t0 = EC_CADD(p->in0_table, 128, int32_t);
        EC_CREF(int32_t) const t1 = EC_CADD(p->in1_table, 128, int32_t);
        add_out_t o;
        if (inner <= 0) { /* an empty output: the runs would read an element of each input */
            return;
        }
        const int full_range = p->act_min == -128 && p->act_max == 127;
        /* The output stage ec_mul.c fills into its mul_ctx_t: separate structs, as MUL's also
         * carries the input offsets (ADD's tables apply them). */
        o.multiplier = p->output_multiplier;
        o.exponent = -p->output_shift;
        o.half = (int32_t)1 << (o.exponent - 1);
        o.offset = p->output_offset;
        o.act_min = p->act_min;
        o.act_max = p->act_max;
        for (n = 0; n < it.runs; ++n) {
            if (full_range) {
                run_tables_full(t0, t1, &o, in0 + it.off0, in1 + it.off1, step0, step1, out, inner);
            } else {
                run_tables_act(t0, t1, &o, in0 + it.off0, in1 + it.off1, step0, step1, out, inner);
            }
            out += inner;
            ec_broadcast_next(p->out_dims, p->in0_strides, p->in1_strides, &it);
        }
        return;
    }
    for (n = 0; n < it.runs; ++n) {
        for (i = 0; i < inner; ++i) {
            *out++ = add_one(p, in0[it.off0 + i * step0], in1[it.off1 + i * step1], subtract);
        }
        ec_broadcast_next(p->out_dims, p->in0_strides, p->in1_strides, &it);
    }
}

void ec_add_s8(const ec_add_params_t *p, const int8_t *in0, const int8_t *in1, int8_t *out) {
    add_sub(p, in0, in1, out, 0);
}

void ec_sub_s8(const ec_add_params_t *p, const int8_t *in0, const int8_t *in1, int8_t *out) {
    add_sub(p, in0, in1, out, 1);
}

/* ---- int16 (16x8 models) -------------------------------------------------------------------
 *
 * TFLite Micro's int16 ADD (reference_ops::AddGeneralParamScale, BroadcastAdd6DSlow) and SUB
 * (SubElementwise, BroadcastQuantSubSlow): the int8 arithmetic with left_shift 15. Ranges, for
 * zero points in int16 (the reader checks them) and x int16:
 *   |x + in_offset| <= 65535, so v = (x + in_offset) * 2^15 <= 2^31 - 2^15 fits int32 (the
 *   reason TFLite shifts by 15, sub_common.cc);
 *   each input ratio r_i = s_i / (2 max(s_0, s_1)) <= 1/2 and r_0 + r_1 <= 1, so the rescaled
 *   terms (within 2 of v_i * r_i) sum or differ to at most 2^31 - 2^15 + 4 in magnitude, and
 *   neither is INT32_MIN (ec_requantize_lt1's contract);
 *   the rescaled output (multiplier < 1) is as large as that when the output scale is small,
 *   so adding a zero point could leave int32: that sum wraps (ec_add_wrapping) as TFLite's
 *   int32 addition does on its builds, then the clamp.
 * A term whose input is constant along the run (a broadcast input) is rescaled once per run. */
static int32_t add_term_s16(const ec_add_params_t *p, int32_t x, int32_t offset, int32_t multiplier, int32_t shift) {
    /* Multiplication, not <<: a left shift of a negative value is undefined in C99. */
    return ec_requantize_lt1((x + offset) * ((int32_t)1 << p->left_shift), multiplier, (int)shift);
}

static int16_t add_out_s16(const ec_add_params_t *p, int32_t raw) {
    const int32_t r =
        ec_add_wrapping(ec_requantize_lt1(raw, p->output_multiplier, (int)p->output_shift), p->output_offset);
    return (int16_t)ec_clamp_i32(r, p->act_min, p->act_max);
}

/* The int16 twin of add_sub above: kept apart so a firmware links only the type it uses. */
static void add_sub_s16(const ec_add_params_t *p, const int16_t *in0, const int16_t *in1, int16_t *out, int subtract) {
    const int32_t inner = p->out_dims[EC_MAX_DIMS - 1];
    const int32_t step0 = p->in0_strides[EC_MAX_DIMS - 1];
    const int32_t step1 = p->in1_strides[EC_MAX_DIMS - 1];
    ec_broadcast_iter_t it;
    int32_t n, i;
    if (inner <= 0) { /* an empty output: a run would read an element of each input */
        return;
    }
    ec_broadcast_begin(p->out_dims, &it);
    for (n = 0; n < it.runs; ++n) {
        const int16_t *a = in0 + it.off0, *b = in1 + it.off1;
        if (step1 == 0) {
            const int32_t s1 = add_term_s16(p, b[0], p->in1_offset, p->in1_multiplier, p->in1_shift);
            for (i = 0; i < inner; ++i) {
                const int32_t s0 = add_term_s16(p, a[i * step0], p->in0_offset, p->in0_multiplier, p->in0_shift);
                *out++ = add_out_s16(p, subtract ? s0 - s1 : s0 + s1);
            }
        } else if (step0 == 0) {
            const int32_t s0 = add_term_s16(p, a[0], p->in0_offset, p->in0_multiplier, p->in0_shift);
            for (i = 0; i < inner; ++i) {
                const int32_t s1 = add_term_s16(p, b[i * step1], p->in1_offset, p->in1_multiplier, p->in1_shift);
                *out++ = add_out_s16(p, subtract ? s0 - s1 : s0 + s1);
            }
        } else {
            for (i = 0; i < inner; ++i) {
                const int32_t s0 = add_term_s16(p, a[i * step0], p->in0_offset, p->in0_multiplier, p->in0_shift);
                const int32_t s1 = add_term_s16(p, b[i * step1], p->in1_offset, p->in1_multiplier, p->in1_shift);
                *out++ = add_out_s16(p, subtract ? s0 - s1 : s0 + s1);
            }
        }
        ec_broadcast_next(p->out_dims, p->in0_strides, p->in1_strides, &it);
    }
}

void ec_add_s16(const ec_add_params_t *p, const int16_t *in0, const int16_t *in1, int16_t *out) {
    add_sub_s16(p, in0, in1, out, 0);
}

void ec_sub_s16(const ec_add_params_t *p, const int16_t *in0, const int16_t *in1, int16_t *out) {
    add_sub_s16(p, in0, in1, out, 1);
}
