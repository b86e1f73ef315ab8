/* edgeconv C runtime: SOFTMAX, int8 in, int8 out (scale 1/256, zero point -128); int16 in, int16 out. */
#ifndef EC_SOFTMAX_H
#define EC_SOFTMAX_H

#include "ec_common.h"

typedef struct {
    int32_t rows;  /* product of all but the last dimension */
    int32_t depth; /* last dimension */
    int32_t input_multiplier;
    int32_t input_left_shift;
    int32_t diff_min; /* differences below this give exp() == 0 at 8-bit output */
} ec_softmax_params_t;

void ec_softmax_s8(const ec_softmax_params_t *p, const int8_t *input, int8_t *output);

/* int8 in, int16 out (scale 1/65536, zero point -32768): the same arithmetic, 16 output bits
 * (TFLite's Softmax<int8_t, int16_t>); depth below 8192 (see ec_softmax.c). */
void ec_softmax_s8_s16(const ec_softmax_params_t *p, const int8_t *input, int16_t *output);

/* SOFTMAX int16 in (zero point 0), int16 out (scale 1/32768, zero point 0): TFLite Micro's
 * SoftmaxInt16, with the exp and 1 / (1 + x) tables it builds in Prepare made at compile time. */
typedef struct {
    int32_t rows;                             /* product of all but the last dimension */
    int32_t depth;                            /* last dimension, at most 65538 (the int32 sum of exps) */
    int32_t input_multiplier;                 /* input scale * beta / (10 / 65535), Q31: maps [-10, 0] to [-65535, 0] */
    int32_t input_shift;                      /* its exponent, in [-31, 30] */
    EC_CREF(int16_t) exp_lut;                 /* (ec_common.h: references) 513 entries: exp(x) for x in [-10, 0], Q15 */
    EC_CREF(int16_t) one_over_one_plus_x_lut; /* 513 entries: 1 / (1 + x) for x in [0, 1], Q15 */
} ec_softmax_s16_params_t;

void ec_softmax_s16(const ec_softmax_s16_params_t *p, const int16_t *input, int16_t *output);

#endif /* EC_SOFTMAX_H */
