/* edgeconv C runtime: DIV for int8 (int32 at the end), bit-exact with TFLite Micro's
 * reference_ops::Div and BroadcastDivSlow (DivElementwise, kernels/internal/reference/div.h),
 * which compute per element, with n = x0 - zp0 and d = x1 - zp1 (both in [-255, 255]):
 *   if d < 0: n = -n, d = -d
 *   inv, rs = GetReciprocal(d, 31)          1 / d normalized to (1/2, 1] in Q0, d ~ 2^rs
 *   h = CountLeadingSignBits(n)
 *   q = SaturatingRoundingDoublingHighMul(n * 2^h, inv)
 *   out = clamp(zp_out + RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(q, m),
 *                                            h + rs - output_shift))
 * GetReciprocal depends on the divisor value alone, so the compiler tabulates inv and
 * rs - output_shift for each of the 256 int8 divisor values (recip, recip_exp).
 *
 * Ranges: n * 2^h fits int32 by the definition of h (it is the value, not a wrapped one);
 * no recip entry is INT32_MIN (the compiler checks it; all are positive but the zero
 * divisor's) and the multiplier is in [0, 2^31), so neither doubling high multiply can meet
 * the one saturating case (INT32_MIN * INT32_MIN) and the nosat form is exact; the
 * exponent h + recip_exp is in [0, 31] for every numerator and divisor the model can feed
 * (the compiler refuses the op otherwise: TFLite would shift by a negative amount or by 32
 * bits or more, undefined in C). The rounded quotient plus the output zero point is added
 * wrapping, as TFLite's int32 + wraps on its builds (it cannot wrap for the exponents above 8
 * that real models have).
 *
 * A zero divisor (x1 == zp1, which any non-constant divisor can hold): TFLite's reference
 * stops with an error at run time; TFLite Micro computes GetReciprocal(0), i.e. shifts 0 left
 * by 32 bits (undefined in C, 0 on every target) and runs the Newton-Raphson reciprocal on
 * -1.0, and so gives a saturated value of the numerator's sign. The compiler puts that
 * reciprocal (computed without undefined behaviour, ec_get_reciprocal) in the table, so the
 * output equals TFLite Micro's there too. */
#include "ec_div.h"

#include "ec_fixedpoint.h"

static int8_t div_one(const ec_div_params_t *p, int32_t a, int32_t b) {
    int32_t n = a + p->in0_offset;
    const int32_t d = b + p->in1_offset;
    const uint8_t k = (uint8_t)(b & 0xFF); /* the divisor's bits as uint8_t: its table index */
    int h;
    int32_t q, result;
    if (d < 0) {
        n = -n; /* |n| <= 255 */
    }
    h = ec_count_leading_sign_bits(n);
    q = ec_rounding_doubling_high_mul_nosat(ec_shift_left_wrapping(n, h), EC_C_S32(p->recip, k));
    q = ec_rounding_doubling_high_mul_nosat(q, p->output_multiplier);
    result = ec_add_wrapping(ec_rounding_divide_by_pot(q, h + EC_C_S8(p->recip_exp, k)), p->output_offset);
    return (int8_t)ec_clamp_i32(result, p->act_min, p->act_max);
}

void ec_div_s8(const ec_div_params_t *p, const int8_t *in0, const int8_t *in1, int8_t *out) {
    EC_BROADCAST_EACH(p, i0, i1, *out++ = div_one(p, in0[i0], in1[i1]););
}

/* int32, TFLite Micro's reference_ops::Div<int32_t> / BroadcastDivSlow<int32_t>: C's truncating
 * a / b, clamped to the fused activation's range. Two quotients are undefined in C and in
 * TFLite, and trap on x86 (TFLite Micro's x86 build dies with SIGFPE; TFLite's reference
 * refuses a zero divisor at run time): b == 0 and INT32_MIN / -1. Here they give what a
 * Cortex-M's SDIV gives (division by zero not trapped, its reset default): 0, and INT32_MIN
 * (the quotient 2^31 wrapped). */
static int32_t div_s32_one(int32_t a, int32_t b) {
    if (b == 0) {
        return 0;
    }
    if (b == -1) {
        return ec_sub_wrapping(0, a); /* -a; INT32_MIN stays INT32_MIN */
    }
    return a / b;
}

void ec_div_s32(const ec_div_s32_params_t *p, const int32_t *in0, const int32_t *in1, int32_t *out) {
    EC_BROADCAST_EACH(p, i0, i1, *out++ = ec_clamp_i32(div_s32_one(in0[i0], in1[i1]), p->act_min, p->act_max););
}
