/* edgeconv C runtime: FULLY_CONNECTED, int8, per-tensor or per-channel weights. */
#ifndef EC_FULLY_CONNECTED_H
#define EC_FULLY_CONNECTED_H

#include "ec_common.h"

/* Output units are computed EC_FC_ROWS at a time, sharing each load of four inputs. */
#define EC_FC_ROWS 4

/* Weight layout (arranged by the compiler, edgeconv/lowering/ops/fully_connected.py), the same for
 * both forms. Every row is zero-padded to 4 * depth_words weights, in groups of four (the
 * kernel never reads the input past depth: it pads the last partial group with zeros
 * itself). Rows 0 .. units - units % EC_FC_ROWS - 1 come in blocks of EC_FC_ROWS rows,
 * interleaved by groups: row u = b * EC_FC_ROWS + r, group k, weight j is element
 * ((b * depth_words + k) * EC_FC_ROWS + r) * 4 + slot(j). The remaining rows follow, each
 * contiguous: row u, group k, weight j is element (u * depth_words + k) * 4 + slot(j). So a
 * block or a row starts at element u * 4 * depth_words. slot(j) = j for int8 weights; int16
 * weights are stored (w0, w2, w1, w3) in each group, the halfword pairs that SXTB16 makes of
 * four int8 inputs: (x0, x2) and (x1, x3). */
typedef struct {
    int32_t batches;     /* input elements / depth */
    int32_t depth;       /* input features */
    int32_t depth_words; /* (depth + 3) / 4: groups of four weights per row */
    int32_t units;       /* output features */
    int32_t output_zp;
    int32_t act_min, act_max;
    int32_t per_channel;
    EC_CREF(int8_t) weights;    /* int8 form, or NULL */
    EC_CREF(int16_t) weights16; /* int16 form, or NULL; exactly one of the two is set */
    EC_CREF(int32_t) bias;      /* model bias - input_zp * sum(weights row), per unit */
    EC_CREF(int32_t) multiplier;
    EC_CREF(int32_t) shift;
} ec_fully_connected_params_t;

/* Two entry points, one per weight form, so that a firmware links only the loops its layers
 * use: ec_fully_connected_s8 reads the int8 form (weights), ec_fully_connected_s8_w16 the int16
 * form (weights16). (Without the DSP path both read whichever form is set.) */
void ec_fully_connected_s8(const ec_fully_connected_params_t *p, const int8_t *input, int8_t *output);
void ec_fully_connected_s8_w16(const ec_fully_connected_params_t *p, const int8_t *input, int8_t *output);

/* FULLY_CONNECTED 16x8: int16 activations (zero points 0, as TFLite requires), int8 weights
 * (per channel or per tensor), int64 or int32 bias: TFLite's reference FullyConnected /
 * FullyConnectedPerChannel for int16 (ec_mac16_output). Weights: the units padded with zero
 * rows to a multiple of 4, in blocks of 4; each row zero padded to 4 * depth_words and cut
 * into quads; a block stores quad by quad the 4 rows' quads, each as (w0, w2, w1, w3)
 * (ec_dot.h, EC_S16_SLOT): unit u, input d is byte
 * (((u / 4) * depth_words + d / 4) * 4 + u % 4) * 4 + EC_S16_SLOT(d % 4). */
typedef struct {
    int32_t batches;     /* input elements / depth */
    int32_t depth;       /* input features */
    int32_t depth_words; /* (depth + 3) / 4 */
    int32_t units;       /* output features */
    int32_t act_min, act_max;
    int32_t per_channel; /* 0: one requant pair for every unit */
    int32_t sum32;       /* 1: every unit's partial sums fit int32 (proved by the compiler) */
    int32_t acc32;       /* 1: TFLite's accumulator is int32 (int32 bias): see ec_mac16_output */
    EC_CREF(int8_t) weights;
    EC_CREF(int64_t) bias;    /* per unit: ec_mac16_output's bias (NULL: none, int32 accumulator only) */
    EC_CREF(int32_t) requant; /* per unit (or one): a pair, ec_mac16_output's rq */
} ec_fully_connected_s16_params_t;

void ec_fully_connected_s16(const ec_fully_connected_s16_params_t *p, const int16_t *input, int16_t *output);

#endif /* EC_FULLY_CONNECTED_H */
