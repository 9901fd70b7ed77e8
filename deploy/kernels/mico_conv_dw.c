/* Depthwise convolution (groups == in_c == out_c), any containers.
 *
 * The k_h input rows a output row needs are widened to int16 (with the horizontal zero padding
 * materialised) into a ring of k_h rows (mico_ring16), so each input row is converted once; the
 * weights are widened once per call to int16 in (tap, channel) order. The inner loop then multiplies pairs of
 * channels held in one 32-bit word (SMLABB / SMLATT on Cortex-M7) with no bounds checks.
 * Scratch: k_h * (in_w + 2 pad_w + 2) * in_c + k_h * (k_w + 1) * in_c int16 values.
 *
 * k_w == 3, stride_w == 1 (the common 3x3 depthwise) has its own path: the ring rows are stored
 * channel-major (one int16 row per channel), the weights of a channel stay in registers as
 * (w0, w1) / (w2, 0) pairs, and two neighbouring output pixels are computed together: per kernel
 * row two SMLADs and two 16x16 MACs for six products (x0 x1 | x1 x2 pairs, x2 / x3 singles).
 * On AArch64 a NEON path (dw_neon) multiplies 8 channels per instruction pair instead.
 */
#include "mico_conv_check.h"
#include "mico_nn_support.h"

MICO_INLINE int32_t dw_mac_lo(int32_t acc, uint32_t x, uint32_t w) {
    return acc + (int32_t)(int16_t)(x & 0xFFFFu) * (int32_t)(int16_t)(w & 0xFFFFu);
}
MICO_INLINE int32_t dw_mac_hi(int32_t acc, uint32_t x, uint32_t w) {
    return acc + (int32_t)(int16_t)(x >> 16) * (int32_t)(int16_t)(w >> 16);
}

static mico_status dw3_run(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch) {
    const int32_t c = p->in_c, kh_n = p->k_h;
    const int32_t w2 = p->in_w + 2 * p->pad_w + 2; /* one channel's row, 2 slack values */
    int16_t *rows = (int16_t *)(((uintptr_t)scratch + 3u) & ~(uintptr_t)3u);
    uint32_t *wt = (uint32_t *)(void *)(rows + kh_n * c * w2 + (kh_n * c * w2 & 1));
    int32_t slot_row[16];
    mico_ring16_reset(slot_row, kh_n);
    for (int32_t ch = 0; ch < c; ch++) {
        const uint8_t *row = p->weights + ch * p->w_row_bytes;
        for (int32_t kh = 0; kh < kh_n; kh++) {
            const uint32_t w0 = (uint16_t)mico_get_w(row, kh * 3, p->w_cont);
            const uint32_t w1 = (uint16_t)mico_get_w(row, kh * 3 + 1, p->w_cont);
            const uint32_t w2v = (uint16_t)mico_get_w(row, kh * 3 + 2, p->w_cont);
            wt[(ch * kh_n + kh) * 2] = w0 | (w1 << 16);
            wt[(ch * kh_n + kh) * 2 + 1] = w2v;
        }
    }
    for (int32_t oh = 0; oh < p->out_h; oh++) {
        const int16_t *rp[16];
        /* channel-major ring rows: channel ch's pixels at ch * w2 + pad_w */
        mico_ring16(p, in, rows, c * w2, slot_row, oh * p->stride_h - p->pad_h, rp, p->pad_w, w2, 1);
        const int32_t pix0 = oh * p->out_w;
        for (int32_t ch = 0; ch < c; ch++) {
            const uint32_t *wc = wt + ch * kh_n * 2;
            const mico_rq q = mico_rq_init(p, ch);
            const int32_t bias = p->bias[ch];
            const int32_t off = ch * w2;
            for (int32_t ow = 0; ow < p->out_w; ow += 2) {
                int32_t a0 = bias, a1 = bias;
                if (kh_n == 3) {
#pragma GCC unroll 3
                    for (int32_t kh = 0; kh < 3; kh++) {
                        const int16_t *x = rp[kh] + off + ow;
                        const uint32_t w01 = wc[2 * kh], w2v = wc[2 * kh + 1];
                        const uint32_t x01 = mico_load32(x), x12 = mico_load32(x + 1), x23 = mico_load32(x + 2);
                        a0 = mico_smlad(x01, w01, a0);
                        a1 = mico_smlad(x12, w01, a1);
                        a0 = mico_smlabb(x23, w2v, a0);
                        a1 = mico_smlatb(x23, w2v, a1);
                    }
                } else {
                    for (int32_t kh = 0; kh < kh_n; kh++) {
                        const int16_t *x = rp[kh] + off + ow;
                        const uint32_t w01 = wc[2 * kh], w2v = wc[2 * kh + 1];
                        const uint32_t x01 = mico_load32(x), x12 = mico_load32(x + 1), x23 = mico_load32(x + 2);
                        a0 = mico_smlad(x01, w01, a0);
                        a1 = mico_smlad(x12, w01, a1);
                        a0 = mico_smlabb(x23, w2v, a0);
                        a1 = mico_smlatb(x23, w2v, a1);
                    }
                }
                mico_rq_store(p, out, pix0 + ow, ch, a0, &q);
                if (ow + 1 < p->out_w) mico_rq_store(p, out, pix0 + ow + 1, ch, a1, &q);
            }
        }
    }
    return MICO_OK;
}

#if defined(__aarch64__) && defined(__ARM_NEON) && !defined(MICO_NO_NEON)
#include <arm_neon.h>

/* AArch64 (NEON): channels in vector lanes. The pixel-major ring (channels padded to pairs) and the
 * int16 weights in (tap, channel) order as on the generic path; per output pixel 8 channels a step
 * take one SMLAL / SMLAL2 pair a tap (then 4 channels, then single ones), and the pixel's raw sums
 * take the shared requantization pass (mico_conv_store_pixels). */
static mico_status dw_neon(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch) {
    const int32_t c = p->in_c, cp = (c + 1) & ~1, wpad = p->in_w + 2 * p->pad_w, taps = p->k_h * p->k_w;
    int16_t *rows = (int16_t *)(((uintptr_t)scratch + 15u) & ~(uintptr_t)15u);
    int16_t *wt = rows + p->k_h * wpad * cp;
    mico_chq *tab = (mico_chq *)(void *)(((uintptr_t)(wt + taps * cp) + 15u) & ~(uintptr_t)15u);
    int32_t *sums = (int32_t *)(void *)(tab + c);
    int32_t slot_row[16];
    const int32_t t0[1] = {0};
    mico_ring16_reset(slot_row, p->k_h);
    for (int32_t t = 0; t < taps; t++) {
        for (int32_t ch = 0; ch < c; ch++) wt[t * cp + ch] = (int16_t)mico_get_w(p->weights + ch * p->w_row_bytes, t, p->w_cont);
        if (cp != c) wt[t * cp + c] = 0;
    }
    const int32_t fast = mico_conv_store_prepare(p, 0, tab);
    for (int32_t oh = 0; oh < p->out_h; oh++) {
        const int16_t *rp[16];
        mico_ring16(p, in, rows, wpad * cp, slot_row, oh * p->stride_h - p->pad_h, rp, p->pad_w * cp, 1, cp);
        for (int32_t ow = 0; ow < p->out_w; ow++) {
            const int32_t off = ow * p->stride_w * cp;
            int32_t ch = 0;
            for (; ch + 8 <= c; ch += 8) {
                int32x4_t a0 = vdupq_n_s32(0), a1 = a0;
                const int16_t *w = wt + ch;
                for (int32_t kh = 0; kh < p->k_h; kh++) {
                    const int16_t *r = rp[kh] + off + ch;
                    for (int32_t kw = 0; kw < p->k_w; kw++, r += cp, w += cp) {
                        const int16x8_t x = vld1q_s16(r), wv = vld1q_s16(w);
                        a0 = vmlal_s16(a0, vget_low_s16(x), vget_low_s16(wv));
                        a1 = vmlal_high_s16(a1, x, wv);
                    }
                }
                vst1q_s32(sums + ch, a0);
                vst1q_s32(sums + ch + 4, a1);
            }
            for (; ch + 4 <= c; ch += 4) {
                int32x4_t a0 = vdupq_n_s32(0);
                const int16_t *w = wt + ch;
                for (int32_t kh = 0; kh < p->k_h; kh++) {
                    const int16_t *r = rp[kh] + off + ch;
                    for (int32_t kw = 0; kw < p->k_w; kw++, r += cp, w += cp) a0 = vmlal_s16(a0, vld1_s16(r), vld1_s16(w));
                }
                vst1q_s32(sums + ch, a0);
            }
            for (; ch < c; ch++) {
                int32_t a = 0;
                const int16_t *w = wt + ch;
                for (int32_t kh = 0; kh < p->k_h; kh++) {
                    const int16_t *r = rp[kh] + off + ch;
                    for (int32_t kw = 0; kw < p->k_w; kw++, r += cp, w += cp) a += (int32_t)*r * *w;
                }
                sums[ch] = a;
            }
            mico_conv_store_pixels(p, sums, tab, t0, oh * p->out_w + ow, 1, fast, out);
        }
    }
    return MICO_OK;
}
#endif

mico_status mico_conv_dw(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                         int32_t scratch_bytes) {
    mico_status st = mico_conv_check(p);
    if (st != MICO_OK) return st;
    if (p->groups != p->in_c || p->out_c != p->in_c) return MICO_ERR_UNSUPPORTED;
    const int32_t c = p->in_c, cp = (c + 1) & ~1;  /* channels padded to pairs */
    const int32_t wpad = p->in_w + 2 * p->pad_w;
    if (!scratch || scratch_bytes < mico_conv_get_buffer_size(p)) return MICO_ERR_SCRATCH;
#if defined(__aarch64__) && defined(__ARM_NEON) && !defined(MICO_NO_NEON)
    if (p->k_h <= 16) return dw_neon(p, in, out, scratch);
#endif
    if (p->k_w == 3 && p->stride_w == 1 && p->k_h <= 16) return dw3_run(p, in, out, scratch);
    const int32_t taps = p->k_h * p->k_w;
    int16_t *rows = (int16_t *)(((uintptr_t)scratch + 3u) & ~(uintptr_t)3u);
    int16_t *wt = rows + p->k_h * wpad * cp;
    int32_t slot_row[16];
    if (p->k_h > 16) return MICO_ERR_UNSUPPORTED;
    mico_ring16_reset(slot_row, p->k_h);
    for (int32_t t = 0; t < taps; t++) {
        for (int32_t ch = 0; ch < c; ch++) wt[t * cp + ch] = (int16_t)mico_get_w(p->weights + ch * p->w_row_bytes, t, p->w_cont);
        if (cp != c) wt[t * cp + c] = 0;
    }
    for (int32_t oh = 0; oh < p->out_h; oh++) {
        /* pixel-major ring rows, channels padded to pairs (the pad channel stays 0) */
        const int16_t *rp[16];
        mico_ring16(p, in, rows, wpad * cp, slot_row, oh * p->stride_h - p->pad_h, rp, p->pad_w * cp, 1, cp);
        const int32_t kw_n = p->k_w;
        for (int32_t ow = 0; ow < p->out_w; ow++) {
            const int32_t pix = oh * p->out_w + ow;
            const int32_t off = ow * p->stride_w * cp;
            for (int32_t ch = 0; ch < c; ch += 2) {
                int32_t acc0 = p->bias[ch];
                int32_t acc1 = ch + 1 < c ? p->bias[ch + 1] : 0;
                const int16_t *w = wt + ch;
                if (kw_n == 3) {
                    for (int32_t kh = 0; kh < p->k_h; kh++, w += 3 * cp) {
                        const int16_t *r = rp[kh] + off + ch;
                        uint32_t xv = mico_load32(r), wv = mico_load32(w);
                        acc0 = dw_mac_lo(acc0, xv, wv);
                        acc1 = dw_mac_hi(acc1, xv, wv);
                        xv = mico_load32(r + cp);
                        wv = mico_load32(w + cp);
                        acc0 = dw_mac_lo(acc0, xv, wv);
                        acc1 = dw_mac_hi(acc1, xv, wv);
                        xv = mico_load32(r + 2 * cp);
                        wv = mico_load32(w + 2 * cp);
                        acc0 = dw_mac_lo(acc0, xv, wv);
                        acc1 = dw_mac_hi(acc1, xv, wv);
                    }
                } else for (int32_t kh = 0; kh < p->k_h; kh++) {
                    const int16_t *r = rp[kh] + off + ch;
                    for (int32_t kw = 0; kw < kw_n; kw++, r += cp, w += cp) {
                        const uint32_t xv = mico_load32(r), wv = mico_load32(w);
                        acc0 = dw_mac_lo(acc0, xv, wv);
                        acc1 = dw_mac_hi(acc1, xv, wv);
                    }
                }
                mico_store_out(p, out, pix, ch, acc0);
                if (ch + 1 < c) mico_store_out(p, out, pix, ch + 1, acc1);
            }
        }
    }
    return MICO_OK;
}
