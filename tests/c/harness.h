/* edgeconv kernel tests: the case description and the runner every main shares.
 *
 * A case is one small one-op model (cases/<name>/<name>.c/.h, emitted by edgeconv from
 * cases/<name>/<name>.tflite) plus cases/<name>/vectors.c: its input samples and the outputs
 * the oracle (TFLite Micro) computed for them, written once by make_vectors.py. The runner
 * writes each sample into the model's inputs, invokes it and compares every output element
 * bit for bit. C99 and <stdint.h>/<string.h> only, so it runs on the host and on bare metal. */
#ifndef EC_TEST_HARNESS_H
#define EC_TEST_HARNESS_H

#include <stdint.h>

/* How a tensor's elements are compared (bitwise always) and printed. */
enum { EC_TEST_SIGNED = 0, EC_TEST_UNSIGNED = 1, EC_TEST_FLOAT = 2 };

typedef struct {
    const void *data;   /* every sample's values back to back */
    int32_t size;       /* elements per sample */
    int32_t elem_bytes; /* 1, 2, 4 or 8 */
    int32_t kind;       /* EC_TEST_SIGNED, EC_TEST_UNSIGNED or EC_TEST_FLOAT (as its bits) */
    const char *name;   /* the tensor's name in the model */
} ec_test_tensor_t;

typedef struct {
    const char *name;
    const char *kernels; /* the kernel entry points the model calls */
    void *(*input)(int index);
    const void *(*output)(int index);
    int (*invoke)(void);
    int32_t samples;
    int32_t num_inputs, num_outputs;
    const ec_test_tensor_t *inputs;   /* num_inputs of them */
    const ec_test_tensor_t *expected; /* num_outputs of them */
} ec_test_case_t;

/* Runs every sample of the case and writes one line (without a newline) saying PASS or FAIL,
 * and for a failure how many elements differ and the first of them. Returns the number of
 * differing elements (0: bit-exact), or 1 when the model's input/output pointers are missing. */
int32_t ec_test_run(const ec_test_case_t *c, char *line, int32_t line_len);

#endif /* EC_TEST_HARNESS_H */
