/* Max pooling (NHWC, implicit -inf padding); the output keeps the input's quantization. */
#include "mico_nn_support.h"

mico_status mico_maxpool(const mico_pool_params *p, const uint8_t *in, uint8_t *out) {
    if (!p || !in || !out || p->k_h < 1 || p->k_w < 1) return MICO_ERR_ARG;
    for (int32_t oh = 0; oh < p->out_h; oh++)
        for (int32_t ow = 0; ow < p->out_w; ow++)
            for (int32_t c = 0; c < p->c; c++) {
                int32_t best = INT32_MIN;
                for (int32_t kh = 0; kh < p->k_h; kh++) {
                    const int32_t ih = oh * p->stride_h - p->pad_h + kh;
                    if (ih < 0 || ih >= p->in_h) continue;
                    for (int32_t kw = 0; kw < p->k_w; kw++) {
                        const int32_t iw = ow * p->stride_w - p->pad_w + kw;
                        if (iw < 0 || iw >= p->in_w) continue;
                        int32_t v = mico_get(in, (ih * p->in_w + iw) * p->c + c, p->in_cont, p->in_signed);
                        if (v > best) best = v;
                    }
                }
                mico_set(out, (oh * p->out_w + ow) * p->c + c, p->in_cont, best);
            }
    return MICO_OK;
}
