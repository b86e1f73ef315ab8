/* edgeconv C runtime: table-driven unary ops. Every int8 op whose output depends on its input
 * value alone (ABS, RSQRT, EXP, ELU, GELU) is one 256-entry table made at compile time with
 * the reference's own arithmetic (TFLite's LUTPopulate, or its integer kernel evaluated for
 * each of the 256 inputs); int16 EXP and GELU use TFLite's 513-entry interpolated table. */
#ifndef EC_LUT_H
#define EC_LUT_H

#include "ec_common.h"

typedef struct {
    int32_t size; /* elements */
    /* (ec_common.h: a reference) */
    EC_CREF(int8_t) table; /* 256 entries, indexed by the input's bits as uint8_t (TFLite's order) */
} ec_lut_s8_params_t;

typedef struct {
    int32_t size;           /* elements */
    EC_CREF(int16_t) table; /* (ec_common.h: a reference) 513 entries: TFLite's LUTPopulate<int16_t> */
} ec_lut_s16_params_t;

void ec_lut_s8(const ec_lut_s8_params_t *p, const int8_t *input, int8_t *output);
void ec_lut_s16(const ec_lut_s16_params_t *p, const int16_t *input, int16_t *output);

#endif /* EC_LUT_H */
