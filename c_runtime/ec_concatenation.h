/* edgeconv C runtime: CONCATENATION and PACK (many inputs, one output) and their inverses
 * SPLIT, SPLIT_V and UNPACK (one input, many outputs), for 1-, 2- and 4-byte elements.
 *
 * TFLite never requantizes in these ops (TFLite Micro refuses int8 concatenation inputs whose
 * scale or zero point differ from the output's), so each is a pure copy: for each slice before
 * the axis, each input (output) contributes one contiguous run of copy_sizes[i] values, in
 * order. PACK is a concatenation along a new axis; UNPACK a split into runs of one slice.
 */
#ifndef EC_CONCATENATION_H
#define EC_CONCATENATION_H

#include "ec_common.h"

typedef struct {
    int32_t num_inputs;
    int32_t outer; /* product of the output dimensions before the axis */
    /* (ec_common.h: a reference) */
    EC_CREF(int32_t) copy_sizes; /* per input: its axis dimension * product of those after */
} ec_concatenation_params_t;

typedef struct {
    int32_t num_outputs;
    int32_t outer; /* product of the input dimensions before the axis */
    /* (ec_common.h: a reference) */
    EC_CREF(int32_t) copy_sizes; /* per output: its axis dimension * product of those after */
} ec_split_params_t;

void ec_concatenation_s8(const ec_concatenation_params_t *p, const int8_t *const *inputs, int8_t *output);
void ec_concatenation_s16(const ec_concatenation_params_t *p, const int16_t *const *inputs, int16_t *output);
void ec_concatenation_s32(const ec_concatenation_params_t *p, const int32_t *const *inputs, int32_t *output);

void ec_split_s8(const ec_split_params_t *p, const int8_t *input, int8_t *const *outputs);
void ec_split_s16(const ec_split_params_t *p, const int16_t *input, int16_t *const *outputs);
void ec_split_s32(const ec_split_params_t *p, const int32_t *input, int32_t *const *outputs);

#endif /* EC_CONCATENATION_H */
