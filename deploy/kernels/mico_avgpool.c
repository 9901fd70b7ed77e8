/* Average pooling (no padding): int32 window sum, requantized with M = s_in / (n s_out). */
#include "mico_nn_support.h"

mico_status mico_avgpool(const mico_pool_params *p, const uint8_t *in, uint8_t *out) {
    if (!p || !in || !out || p->shift < 1 || p->shift > 62 || p->pad_h || p->pad_w) return MICO_ERR_ARG;
    for (int32_t oh = 0; oh < p->out_h; oh++)
        for (int32_t ow = 0; ow < p->out_w; ow++)
            for (int32_t c = 0; c < p->c; c++) {
                int32_t sum = 0;
                for (int32_t kh = 0; kh < p->k_h; kh++) {
                    const int32_t ih = oh * p->stride_h + kh;
                    for (int32_t kw = 0; kw < p->k_w; kw++) {
                        const int32_t iw = ow * p->stride_w + kw;
                        sum += mico_get(in, (ih * p->in_w + iw) * p->c + c, p->in_cont, p->in_signed);
                    }
                }
                mico_set(out, (oh * p->out_w + ow) * p->c + c, p->out_cont,
                         mico_requant(sum, p->mult, p->shift, p->out_lo, p->out_hi));
            }
    return MICO_OK;
}
