/* Build-time preparation of a convolution's constant data (mico_nn.h: mico_conv_prepare). The
 * long-multiply kernel converts every weight row into F-field words and the first layers' lookup
 * path builds its tables from the weights on every call; both depend on the weights and the shape
 * only, so a deployment makes them once (deploy's lowering through the host library; the latency
 * profile before each measured call) and passes them in p->prep. */
#include "mico_nn.h"

int32_t mico_conv_long_prepare(const mico_conv_params *p, void *dst, int32_t dst_bytes);
int32_t mico_conv_rows_prepare(const mico_conv_params *p, void *dst, int32_t dst_bytes);

int32_t mico_conv_prepare(const mico_conv_params *p, void *dst, int32_t dst_bytes) {
    if (!p || !p->weights) return 0;
    switch (mico_conv_select(p)) {
        case MICO_CONV_LONG: return mico_conv_long_prepare(p, dst, dst_bytes);
        case MICO_CONV_ROWS: return mico_conv_rows_prepare(p, dst, dst_bytes);
        default: return 0;
    }
}
