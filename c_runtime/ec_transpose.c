/* edgeconv C runtime: TRANSPOSE for int8: the output is written in order, each element read
 * from the input through the permuted strides. A pure data movement, so bit-exactness only
 * needs the right permutation; the innermost run is copied with memcpy when it is contiguous
 * in the input (the compile-time simplification makes that the case whenever it can be). */
#include <string.h>

#include "ec_transpose.h"

void ec_transpose_s8(const ec_transpose_params_t *p, const int8_t *input, int8_t *output) {
    const int32_t *d = p->out_dims;
    const int32_t *s = p->in_strides;
    int32_t i0, i1, i2, i3, i4, i5;
    for (i0 = 0; i0 < d[0]; ++i0) {
        const int8_t *r0 = input + i0 * s[0];
        for (i1 = 0; i1 < d[1]; ++i1) {
            const int8_t *r1 = r0 + i1 * s[1];
            for (i2 = 0; i2 < d[2]; ++i2) {
                const int8_t *r2 = r1 + i2 * s[2];
                for (i3 = 0; i3 < d[3]; ++i3) {
                    const int8_t *r3 = r2 + i3 * s[3];
                    for (i4 = 0; i4 < d[4]; ++i4) {
                        const int8_t *r4 = r3 + i4 * s[4];
                        if (s[5] == 1) {
                            memcpy(output, r4, (size_t)d[5]);
                            output += d[5];
                        } else {
                            for (i5 = 0; i5 < d[5]; ++i5) {
                                *output++ = r4[i5 * s[5]];
                            }
                        }
                    }
                }
            }
        }
    }
}
