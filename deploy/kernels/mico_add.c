/* Residual add: y = clamp((a * m_a + b * m_b + 2^(k-1)) >> k, lo, hi), 64-bit.
 *
 * Equal containers (the common case) run a copy of the loop with the containers as constants:
 * one load per element (sub-byte: and a shift), SMULL + SMLAL and word shifts
 * (mico_shift_clamp64), and sub-byte outputs collected into whole bytes. Mixed containers take
 * the same loop with run-time containers. */
#include "mico_nn_support.h"

MICO_INLINE void add_run(const mico_add_params *p, const uint8_t *a, const uint8_t *b, uint8_t *out, const int32_t AC,
                         const int32_t BC, const int32_t OC) {
    const int32_t n = p->n, k = p->shift, lo = p->out_lo, hi = p->out_hi, sa = p->a_signed, sb = p->b_signed;
    const int64_t ma = p->m_a, mb = p->m_b, half = (int64_t)1 << (k - 1);
    const int32_t per = 8 / OC;
    int32_t i = 0;
    if (OC < 8) /* whole output bytes */
        for (; i + per <= n; i += per) {
            uint32_t byte = 0;
            for (int32_t j = 0; j < per; j++) {
                const int64_t H = mico_get(a, i + j, AC, sa) * ma + mico_get(b, i + j, BC, sb) * mb + half;
                byte |= ((uint32_t)mico_shift_clamp64(H, k, lo, hi) & ((1u << OC) - 1u)) << (j * OC);
            }
            out[i / per] = (uint8_t)byte;
        }
    for (; i < n; i++) {
        const int64_t H = mico_get(a, i, AC, sa) * ma + mico_get(b, i, BC, sb) * mb + half;
        mico_set(out, i, OC, mico_shift_clamp64(H, k, lo, hi));
    }
}

mico_status mico_add(const mico_add_params *p, const uint8_t *a, const uint8_t *b, uint8_t *out) {
    if (!p || !a || !b || !out || p->shift < 1 || p->shift > 62) return MICO_ERR_ARG;
    const int32_t c = p->out_cont;
    if (p->a_cont == c && p->b_cont == c) {
        if (c == 8) add_run(p, a, b, out, 8, 8, 8);
        else if (c == 4) add_run(p, a, b, out, 4, 4, 4);
        else add_run(p, a, b, out, 2, 2, 2);
    } else {
        add_run(p, a, b, out, p->a_cont, p->b_cont, c);
    }
    return MICO_OK;
}
