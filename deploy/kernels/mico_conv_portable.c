/* Direct convolution on packed data: the portable reference path for every parameter set. */
#include "mico_conv_check.h"
#include "mico_nn_support.h"

mico_status mico_conv_portable(const mico_conv_params *p, const uint8_t *in, void *out) {
    mico_status st = mico_conv_check(p);
    if (st != MICO_OK) return st;
    const int32_t cg = p->in_c / p->groups, og = p->out_c / p->groups;
    for (int32_t oh = 0; oh < p->out_h; oh++) {
        for (int32_t ow = 0; ow < p->out_w; ow++) {
            const int32_t pix = oh * p->out_w + ow;
            for (int32_t oc = 0; oc < p->out_c; oc++) {
                const uint8_t *row = p->weights + (int32_t)oc * p->w_row_bytes;
                const int32_t g = oc / og;
                int32_t acc = p->bias[oc];
                for (int32_t kh = 0; kh < p->k_h; kh++) {
                    const int32_t ih = oh * p->stride_h - p->pad_h + kh;
                    if (ih < 0 || ih >= p->in_h) continue;
                    for (int32_t kw = 0; kw < p->k_w; kw++) {
                        const int32_t iw = ow * p->stride_w - p->pad_w + kw;
                        if (iw < 0 || iw >= p->in_w) continue;
                        const int32_t base = (ih * p->in_w + iw) * p->in_c + g * cg;
                        const int32_t wbase = (kh * p->k_w + kw) * cg;
                        for (int32_t ci = 0; ci < cg; ci++) {
                            acc += mico_get(in, base + ci, p->in_cont, p->in_signed) *
                                   mico_get_w(row, wbase + ci, p->w_cont);
                        }
                    }
                }
                mico_store_out(p, out, pix, oc, acc);
            }
        }
    }
    return MICO_OK;
}
