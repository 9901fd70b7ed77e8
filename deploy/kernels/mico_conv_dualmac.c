/* Convolution (groups == 1) as im2col + a GEMM with 16-bit dual multiply-accumulates (SMLAD on
 * Cortex-M7; a C emulation elsewhere), in tiles of 2 output channels x 2 output pixels (or
 * 4 channels x 1 pixel for a single pixel, e.g. a linear layer).
 *
 * Weights are read straight from their packed rows. 8-bit weights are widened with SXTB16, which
 * yields lanes (w0, w2) and (w1, w3); sub-byte weights are made unsigned by flipping their sign
 * bit (w' = w + 2^(c-1)) and masked into 16-bit lanes (w_j, w_{j+16/c}) with one AND, no sign
 * extension; 1-bit weights are their bits w' (w = 2 w' - 1). The im2col buffer holds the two
 * pixels' activations as int16, interleaved word by word in exactly the lane order of the
 * weights, so the inner loop is one multi-word load, the weight loads / widenings and SMLADs.
 * The offsets are undone once per output: sum x w = alpha * sum x w' - o_w * sum x.
 * Scratch: 2 pixels x K (rounded up to 32) int16 values (mico_conv_get_buffer_size).
 */
#include "mico_conv_check.h"
#include "mico_nn_support.h"

/* int16 index of element k of pixel s (0 or 1) in the interleaved column buffer. */
MICO_INLINE int32_t dm_pos(int32_t k, int32_t s, const int32_t WC) {
    if (WC == 8) {
        const int32_t r = k & 3;
        return (k >> 2) * 8 + s * 4 + (r & 1) * 2 + (r >> 1);
    }
    const int32_t e = 32 / WC, h = 16 / WC;
    const int32_t kk = k % e;
    return ((k / e) * h + kk % h) * 4 + s * 2 + kk / h;
}

/* im2col of one output pixel; returns the sum of its activations (needed for sub-byte weights). */
MICO_INLINE int32_t dm_im2col_t(const mico_conv_params *p, const uint8_t *in, int32_t pix, int32_t s, int16_t *col,
                                int32_t kp, const int32_t WC, const int32_t IC) {
    const int32_t c = p->in_c, sg = p->in_signed;
    const int32_t oh = pix / p->out_w, ow = pix % p->out_w;
    const int fast8 = IC == 8 && WC == 8 && (c & 3) == 0;
    int32_t sum = 0, k = 0;
    for (int32_t kh = 0; kh < p->k_h; kh++) {
        const int32_t ih = oh * p->stride_h - p->pad_h + kh;
        for (int32_t kw = 0; kw < p->k_w; kw++, k += c) {
            const int32_t iw = ow * p->stride_w - p->pad_w + kw;
            const int outside = ih < 0 || ih >= p->in_h || iw < 0 || iw >= p->in_w;
            if (fast8) {
                uint32_t *dst = (uint32_t *)(void *)(col + (k >> 2) * 8 + s * 4);
                if (outside) {
                    for (int32_t ci = 0; ci < c; ci += 4, dst += 4) dst[0] = dst[1] = 0;
                    continue;
                }
                const uint8_t *src = in + (ih * p->in_w + iw) * c;
                if (sg) {
                    for (int32_t ci = 0; ci < c; ci += 4, src += 4, dst += 4) {
                        const uint32_t w = mico_load32(src);
                        dst[0] = mico_sxtb16(w);
                        dst[1] = mico_sxtb16_ror8(w);
                    }
                } else {
                    for (int32_t ci = 0; ci < c; ci += 4, src += 4, dst += 4) {
                        const uint32_t w = mico_load32(src);
                        dst[0] = w & 0x00FF00FFu;
                        dst[1] = (w >> 8) & 0x00FF00FFu;
                    }
                }
                continue;
            }
            if (outside) {
                for (int32_t ci = 0; ci < c; ci++) col[dm_pos(k + ci, s, WC)] = 0;
                continue;
            }
            const int32_t base = (ih * p->in_w + iw) * c;
            for (int32_t ci = 0; ci < c; ci++) {
                const int32_t v = mico_get(in, base + ci, IC, sg);
                col[dm_pos(k + ci, s, WC)] = (int16_t)v;
                sum += v;
            }
        }
    }
    for (; k < kp; k++) col[dm_pos(k, s, WC)] = 0;
    return sum;
}

static int32_t dm_im2col(const mico_conv_params *p, const uint8_t *in, int32_t pix, int32_t s, int16_t *col,
                         int32_t kp) {
#define DM_CASE(W_, I_) \
    if (p->w_cont == (W_) && p->in_cont == (I_)) return dm_im2col_t(p, in, pix, s, col, kp, W_, I_);
    DM_CASE(8, 8) DM_CASE(8, 4) DM_CASE(8, 2)
    DM_CASE(4, 8) DM_CASE(4, 4) DM_CASE(4, 2)
    DM_CASE(2, 8) DM_CASE(2, 4) DM_CASE(2, 2)
    DM_CASE(1, 8) DM_CASE(1, 4) DM_CASE(1, 2)
#undef DM_CASE
    return 0;
}

/* 2 channels x 2 pixels: raw dot products over nw weight words. */
MICO_INLINE void dm_tile22(const uint8_t *ra, const uint8_t *rb, const uint32_t *x, int32_t nw, const int32_t WC,
                           int32_t acc[4]) {
    int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
    const uint32_t *wpa = (const uint32_t *)(const void *)ra, *wpb = (const uint32_t *)(const void *)rb;
    if (WC == 8) {
        for (int32_t t = 0; t < nw; t++, x += 4) {
            const uint32_t p0 = x[0], p1 = x[1], q0 = x[2], q1 = x[3];
            uint32_t w = *wpa++;
            uint32_t w0 = mico_sxtb16(w), w1 = mico_sxtb16_ror8(w);
            a00 = mico_smlad(w0, p0, a00);
            a00 = mico_smlad(w1, p1, a00);
            a01 = mico_smlad(w0, q0, a01);
            a01 = mico_smlad(w1, q1, a01);
            w = *wpb++;
            w0 = mico_sxtb16(w);
            w1 = mico_sxtb16_ror8(w);
            a10 = mico_smlad(w0, p0, a10);
            a10 = mico_smlad(w1, p1, a10);
            a11 = mico_smlad(w0, q0, a11);
            a11 = mico_smlad(w1, q1, a11);
        }
    } else {
        const int32_t h = 16 / WC;
        const uint32_t flip = WC == 4 ? 0x88888888u : WC == 2 ? 0xAAAAAAAAu : 0u;
        const uint32_t mask = WC == 4 ? 0x000F000Fu : WC == 2 ? 0x00030003u : 0x00010001u;
        for (int32_t t = 0; t < nw; t++) {
            const uint32_t wa = *wpa++ ^ flip, wb = *wpb++ ^ flip;
#pragma GCC unroll 16
            for (int32_t j = 0; j < h; j++, x += 2) {
                const uint32_t la = (wa >> (WC * j)) & mask, lb = (wb >> (WC * j)) & mask;
                const uint32_t p = x[0], q = x[1];
                a00 = mico_smlad(la, p, a00);
                a01 = mico_smlad(la, q, a01);
                a10 = mico_smlad(lb, p, a10);
                a11 = mico_smlad(lb, q, a11);
            }
        }
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* 4 channels x 1 pixel (pixel slot 0 of the interleaved buffer). */
MICO_INLINE void dm_tile41(const uint8_t *r0, int32_t rs, const uint32_t *x, int32_t nw, const int32_t WC,
                           int32_t acc[4]) {
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    const uint32_t *w0p = (const uint32_t *)(const void *)r0;
    const uint32_t *w1p = (const uint32_t *)(const void *)(r0 + rs);
    const uint32_t *w2p = (const uint32_t *)(const void *)(r0 + 2 * rs);
    const uint32_t *w3p = (const uint32_t *)(const void *)(r0 + 3 * rs);
    if (WC == 8) {
        for (int32_t t = 0; t < nw; t++, x += 4) {
            const uint32_t p0 = x[0], p1 = x[1];
            uint32_t w = *w0p++;
            a0 = mico_smlad(mico_sxtb16(w), p0, a0);
            a0 = mico_smlad(mico_sxtb16_ror8(w), p1, a0);
            w = *w1p++;
            a1 = mico_smlad(mico_sxtb16(w), p0, a1);
            a1 = mico_smlad(mico_sxtb16_ror8(w), p1, a1);
            w = *w2p++;
            a2 = mico_smlad(mico_sxtb16(w), p0, a2);
            a2 = mico_smlad(mico_sxtb16_ror8(w), p1, a2);
            w = *w3p++;
            a3 = mico_smlad(mico_sxtb16(w), p0, a3);
            a3 = mico_smlad(mico_sxtb16_ror8(w), p1, a3);
        }
    } else {
        const int32_t h = 16 / WC;
        const uint32_t flip = WC == 4 ? 0x88888888u : WC == 2 ? 0xAAAAAAAAu : 0u;
        const uint32_t mask = WC == 4 ? 0x000F000Fu : WC == 2 ? 0x00030003u : 0x00010001u;
        for (int32_t t = 0; t < nw; t++) {
            const uint32_t v0 = *w0p++ ^ flip, v1 = *w1p++ ^ flip, v2 = *w2p++ ^ flip, v3 = *w3p++ ^ flip;
#pragma GCC unroll 16
            for (int32_t j = 0; j < h; j++, x += 2) {
                const uint32_t p = x[0];
                a0 = mico_smlad((v0 >> (WC * j)) & mask, p, a0);
                a1 = mico_smlad((v1 >> (WC * j)) & mask, p, a1);
                a2 = mico_smlad((v2 >> (WC * j)) & mask, p, a2);
                a3 = mico_smlad((v3 >> (WC * j)) & mask, p, a3);
            }
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

MICO_INLINE void dm_gemm(const mico_conv_params *p, const uint32_t *x, int32_t s0, int32_t s1, int32_t pix0,
                         int32_t npix, int32_t nw, const int32_t WC, void *out) {
    const int32_t alpha = WC == 1 ? 2 : 1;
    const int32_t ow_off = WC == 8 ? 0 : WC == 1 ? 1 : (1 << (WC - 1));
    const int32_t rs = p->w_row_bytes;
    int32_t oc = 0;
    if (npix == 1) {
        for (; oc + 4 <= p->out_c; oc += 4) {
            int32_t acc[4];
            dm_tile41(p->weights + oc * rs, rs, x, nw, WC, acc);
            for (int32_t i = 0; i < 4; i++) mico_store_out(p, out, pix0, oc + i, p->bias[oc + i] + alpha * acc[i] - ow_off * s0);
        }
    }
    for (; oc < p->out_c; oc += 2) {
        const int two = oc + 1 < p->out_c;
        const uint8_t *ra = p->weights + oc * rs;
        int32_t acc[4];
        dm_tile22(ra, two ? ra + rs : ra, x, nw, WC, acc);
        const int32_t b0 = p->bias[oc];
        mico_store_out(p, out, pix0, oc, b0 + alpha * acc[0] - ow_off * s0);
        if (npix > 1) mico_store_out(p, out, pix0 + 1, oc, b0 + alpha * acc[1] - ow_off * s1);
        if (two) {
            const int32_t b1 = p->bias[oc + 1];
            mico_store_out(p, out, pix0, oc + 1, b1 + alpha * acc[2] - ow_off * s0);
            if (npix > 1) mico_store_out(p, out, pix0 + 1, oc + 1, b1 + alpha * acc[3] - ow_off * s1);
        }
    }
}

mico_status mico_conv_dualmac(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                              int32_t scratch_bytes) {
    mico_status st = mico_conv_check(p);
    if (st != MICO_OK) return st;
    if (p->groups != 1) return MICO_ERR_UNSUPPORTED;
    if (!scratch || scratch_bytes < mico_conv_get_buffer_size(p)) return MICO_ERR_SCRATCH;
    const int32_t k = p->k_h * p->k_w * p->in_c;
    const int32_t per_word = 32 / p->w_cont;
    const int32_t kp = (k + per_word - 1) / per_word * per_word;
    if (kp * p->w_cont / 8 > p->w_row_bytes || ((uintptr_t)p->weights & 3u) || (p->w_row_bytes & 3)) return MICO_ERR_ARG;
    const int32_t nw = kp / per_word;
    int16_t *col = (int16_t *)(((uintptr_t)scratch + 3u) & ~(uintptr_t)3u);
    const uint32_t *x = (const uint32_t *)(const void *)col;
    const int32_t npix = p->out_h * p->out_w;
    for (int32_t pix = 0; pix < npix; pix += 2) {
        const int32_t n = pix + 1 < npix ? 2 : 1;
        const int32_t s0 = dm_im2col(p, in, pix, 0, col, kp);
        const int32_t s1 = n == 2 ? dm_im2col(p, in, pix + 1, 1, col, kp) : 0;
        switch (p->w_cont) {
            case 8: dm_gemm(p, x, s0, s1, pix, n, nw, 8, out); break;
            case 4: dm_gemm(p, x, s0, s1, pix, n, nw, 4, out); break;
            case 2: dm_gemm(p, x, s0, s1, pix, n, nw, 2, out); break;
            default: dm_gemm(p, x, s0, s1, pix, n, nw, 1, out); break;
        }
    }
    return MICO_OK;
}
