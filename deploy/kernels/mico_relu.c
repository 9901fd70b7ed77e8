/* ReLU that could not be fused: max(x, 0), same quantization as the input. */
#include "mico_nn_support.h"

mico_status mico_relu(const mico_relu_params *p, const uint8_t *in, uint8_t *out) {
    if (!p || !in || !out) return MICO_ERR_ARG;
    for (int32_t i = 0; i < p->n; i++) {
        int32_t v = mico_get(in, i, p->cont, p->is_signed);
        mico_set(out, i, p->cont, v < 0 ? 0 : v);
    }
    return MICO_OK;
}
