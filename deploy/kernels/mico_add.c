/* Residual add: y = clamp((a * m_a + b * m_b + 2^(k-1)) >> k, lo, hi), 64-bit. */
#include "mico_nn_support.h"

mico_status mico_add(const mico_add_params *p, const uint8_t *a, const uint8_t *b, uint8_t *out) {
    if (!p || !a || !b || !out || p->shift < 1 || p->shift > 62) return MICO_ERR_ARG;
    const int64_t half = (int64_t)1 << (p->shift - 1);
    for (int32_t i = 0; i < p->n; i++) {
        int64_t s = (int64_t)mico_get(a, i, p->a_cont, p->a_signed) * p->m_a +
                    (int64_t)mico_get(b, i, p->b_cont, p->b_signed) * p->m_b + half;
        int64_t y = s >> p->shift;
        if (y < p->out_lo) y = p->out_lo;
        if (y > p->out_hi) y = p->out_hi;
        mico_set(out, i, p->out_cont, (int32_t)y);
    }
    return MICO_OK;
}
