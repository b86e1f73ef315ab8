/* edgeconv C runtime: FULLY_CONNECTED for int8.
 *
 * Bit-exact with TFLite's reference FullyConnected (per tensor) and FullyConnectedPerChannel.
 * There is no padding, so the input zero point folds into the bias completely. Offsets are
 * below the tensors' element counts; the accumulator (check_accumulator), the requantization
 * and the addition of the output zero point (check_requantize) are proved to stay in int32
 * at compile time in edgeconv/ops/conv.py.
 */
#include "ec_fully_connected.h"
#include "ec_dot.h"
#include "ec_fixedpoint.h"

void ec_fully_connected_s8(const ec_fully_connected_params_t *p, const int8_t *input,
                           int8_t *output) {
    int32_t b, u;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = input + b * p->depth;
        int8_t *out = output + b * p->units;
        for (u = 0; u < p->units; ++u) {
            const int8_t *w = p->weights + u * p->depth;
            const int32_t ch = p->per_channel ? u : 0;
            const int32_t acc0 = p->bias ? p->bias[u] : 0;
            int32_t acc = ec_dot_s8(x, w, p->depth, acc0);
            acc = ec_requantize(acc, p->multiplier[ch], (int)p->shift[ch]);
            acc += p->output_zp;
            out[u] = (int8_t)ec_clamp_i32(acc, p->act_min, p->act_max);
        }
    }
}
