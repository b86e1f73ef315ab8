/* edgeconv C runtime: table lookups, bit-exact with TFLite's LUTLookup (int8: a plain lookup;
 * int16: 512 segments interpolated on the low 7 bits, ec_lut_lookup_i16). Each output element
 * is written after its input element is read, so the output may share the input's buffer. */
#include "ec_lut.h"
#include "ec_fixedpoint.h"

void ec_lut_s8(const ec_lut_s8_params_t *p, const int8_t *input, int8_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        /* int8_t -> uint8_t is defined (modulo 256): -1 reads entry 255, as in TFLite. */
        output[i] = EC_C_S8(p->table, (uint8_t)input[i]);
    }
}

void ec_lut_s16(const ec_lut_s16_params_t *p, const int16_t *input, int16_t *output) {
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        output[i] = (int16_t)ec_lut_lookup_i16(input[i], p->table);
    }
}
