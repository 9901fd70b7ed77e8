/* Internal: parameter validation shared by the conv kernels. */
#ifndef MICO_CONV_CHECK_H
#define MICO_CONV_CHECK_H
#include "mico_nn.h"

static inline mico_status mico_conv_check(const mico_conv_params *p) {
    if (!p || !p->weights || !p->bias) return MICO_ERR_ARG;
    if (p->groups < 1 || p->in_c % p->groups || p->out_c % p->groups) return MICO_ERR_ARG;
    if (p->w_cont != 1 && p->w_cont != 2 && p->w_cont != 4 && p->w_cont != 8) return MICO_ERR_ARG;
    if (p->in_cont != 2 && p->in_cont != 4 && p->in_cont != 8) return MICO_ERR_ARG;
    if (p->out_cont != 2 && p->out_cont != 4 && p->out_cont != 8 && p->out_cont != 32) return MICO_ERR_ARG;
    if (p->out_cont != 32 && (!p->mult || !p->shift)) return MICO_ERR_ARG;
    if (p->k_h < 1 || p->k_w < 1 || p->stride_h < 1 || p->stride_w < 1) return MICO_ERR_ARG;
    if (p->pool_h > 1 || p->pool_w > 1) return MICO_ERR_UNSUPPORTED; /* fused pooling runs through mico_conv */
    return MICO_OK;
}
#endif
