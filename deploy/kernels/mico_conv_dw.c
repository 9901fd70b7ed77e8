/* Depthwise convolution (groups == in_c == out_c), any containers.
 *
 * The k_h input rows a output row needs are widened to int16 (with the horizontal zero padding
 * materialised) into a ring of k_h rows, so each input row is converted once; the weights are
 * widened once per call to int16 in (tap, channel) order. The inner loop then multiplies pairs of
 * channels held in one 32-bit word (SMLABB / SMLATT on Cortex-M7) with no bounds checks.
 * Scratch: k_h * (in_w + 2 pad_w) * in_c + k_h * k_w * in_c int16 values.
 */
#include "mico_conv_check.h"
#include "mico_nn_support.h"

MICO_INLINE int32_t dw_mac_lo(int32_t acc, uint32_t x, uint32_t w) {
    return acc + (int32_t)(int16_t)(x & 0xFFFFu) * (int32_t)(int16_t)(w & 0xFFFFu);
}
MICO_INLINE int32_t dw_mac_hi(int32_t acc, uint32_t x, uint32_t w) {
    return acc + (int32_t)(int16_t)(x >> 16) * (int32_t)(int16_t)(w >> 16);
}

mico_status mico_conv_dw(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                         int32_t scratch_bytes) {
    mico_status st = mico_conv_check(p);
    if (st != MICO_OK) return st;
    if (p->groups != p->in_c || p->out_c != p->in_c) return MICO_ERR_UNSUPPORTED;
    const int32_t c = p->in_c, cp = (c + 1) & ~1;  /* channels padded to pairs */
    const int32_t wpad = p->in_w + 2 * p->pad_w;
    if (!scratch || scratch_bytes < 2 * p->k_h * wpad * cp + 2 * p->k_h * p->k_w * cp + 16) return MICO_ERR_SCRATCH;
    const int32_t taps = p->k_h * p->k_w;
    int16_t *rows = (int16_t *)(((uintptr_t)scratch + 3u) & ~(uintptr_t)3u);
    int16_t *wt = rows + p->k_h * wpad * cp;
    int32_t slot_row[16];
    if (p->k_h > 16) return MICO_ERR_UNSUPPORTED;
    for (int32_t i = 0; i < p->k_h; i++) slot_row[i] = INT32_MIN;
    for (int32_t t = 0; t < taps; t++) {
        for (int32_t ch = 0; ch < c; ch++) wt[t * cp + ch] = (int16_t)mico_get_w(p->weights + ch * p->w_row_bytes, t, p->w_cont);
        if (cp != c) wt[t * cp + c] = 0;
    }
    for (int32_t oh = 0; oh < p->out_h; oh++) {
        /* make sure rows ih0 .. ih0 + k_h - 1 are in the ring (slot = ih mod k_h) */
        const int32_t ih0 = oh * p->stride_h - p->pad_h;
        for (int32_t kh = 0; kh < p->k_h; kh++) {
            const int32_t ih = ih0 + kh;
            const int32_t slot = ((ih % p->k_h) + p->k_h) % p->k_h;
            if (slot_row[slot] == ih) continue;
            slot_row[slot] = ih;
            int16_t *r = rows + slot * wpad * cp;
            if (ih < 0 || ih >= p->in_h) {
                memset(r, 0, (size_t)wpad * cp * 2);
                continue;
            }
            memset(r, 0, (size_t)p->pad_w * cp * 2);
            memset(r + (p->pad_w + p->in_w) * cp, 0, (size_t)p->pad_w * cp * 2);
            int16_t *d = r + p->pad_w * cp;
            const int32_t base = ih * p->in_w * c;
            if (p->in_cont == 8 && cp == c) {
                const uint8_t *s = in + base;
                const int32_t n = p->in_w * c;
                if (p->in_signed)
                    for (int32_t i = 0; i < n; i++) d[i] = (int8_t)s[i];
                else
                    for (int32_t i = 0; i < n; i++) d[i] = s[i];
            } else {
                for (int32_t iw = 0; iw < p->in_w; iw++) {
                    for (int32_t ch = 0; ch < c; ch++)
                        d[iw * cp + ch] = (int16_t)mico_get(in, base + iw * c + ch, p->in_cont, p->in_signed);
                    if (cp != c) d[iw * cp + c] = 0;
                }
            }
        }
        const int16_t *rp[16];
        for (int32_t kh = 0; kh < p->k_h; kh++) {
            const int32_t ih = ih0 + kh;
            rp[kh] = rows + (((ih % p->k_h) + p->k_h) % p->k_h) * wpad * cp;
        }
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
