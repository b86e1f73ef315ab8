/* edgeconv C runtime: GATHER with run-time int32 indices, 1-, 2- and 4-byte elements.
 *
 * The loop of TFLite Micro's gather.cc: for each batch, each outer slice and each index, one
 * contiguous run of `inner` values is copied from the indexed slice along the axis. TFLite
 * Micro does not check the indices (it reads outside its input on a bad one) and TFLite
 * returns an error; here an index outside [0, axis_size) yields a run of `fill` values (the
 * output zero point: real 0), so that no input is ever read out of bounds. Constant indices
 * are checked at compile time, so this only concerns indices computed at run time.
 */
#ifndef EC_GATHER_H
#define EC_GATHER_H

#include "ec_common.h"

typedef struct {
    int32_t batch;     /* product of the batch_dims leading dimensions */
    int32_t outer;     /* product of the input dimensions between batch_dims and the axis */
    int32_t coords;    /* indices per batch */
    int32_t axis_size; /* the input dimension indexed */
    int32_t inner;     /* product of the input dimensions after the axis */
    int32_t fill;      /* what an out-of-range index gives */
} ec_gather_params_t;

void ec_gather_s8(const ec_gather_params_t *p, const int8_t *input, const int32_t *coords, int8_t *output);
void ec_gather_s16(const ec_gather_params_t *p, const int16_t *input, const int32_t *coords, int16_t *output);
void ec_gather_s32(const ec_gather_params_t *p, const int32_t *input, const int32_t *coords, int32_t *output);

#endif /* EC_GATHER_H */
