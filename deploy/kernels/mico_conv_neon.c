/* AArch64 NEON convolution (groups == 1).
 *
 * 8-bit weights: each pixel's im2col column is widened once to int16 (contiguous, 8 lanes per
 * vector); a tile of 2 output channels x 2 pixels loads 8 weights per row (LD1 + SXTL) and runs
 * 8 widening multiply-accumulates (SMLAL / SMLAL2, int16 x int16 -> int32x4) per 8-deep step:
 * 32 MACs per 14 instructions. Rows are read in whole 8-byte steps while they last and the tail
 * (K mod 8) in scalar code, so nothing past a row is read. Sub-byte weights use the dual-MAC
 * algorithm (compiled for AArch64). Elsewhere (no NEON) this is the dual-MAC kernel.
 * Scratch: 2 pixels x K (rounded up to 32) int16 (mico_conv_get_buffer_size).
 */
#include "mico_conv_check.h"
#include "mico_nn_support.h"

#if defined(__aarch64__) && defined(__ARM_NEON) && !defined(MICO_NO_NEON)
#include <arm_neon.h>

/* int16 im2col of one output pixel, zero padded to kp8. */
static void nz_im2col(const mico_conv_params *p, const uint8_t *in, int32_t pix, int16_t *col, int32_t kp8) {
    const int32_t c = p->in_c, sg = p->in_signed;
    const int32_t oh = pix / p->out_w, ow = pix % p->out_w;
    int32_t k = 0;
    for (int32_t kh = 0; kh < p->k_h; kh++) {
        const int32_t ih = oh * p->stride_h - p->pad_h + kh;
        for (int32_t kw = 0; kw < p->k_w; kw++, k += c) {
            const int32_t iw = ow * p->stride_w - p->pad_w + kw;
            int16_t *d = col + k;
            if (ih < 0 || ih >= p->in_h || iw < 0 || iw >= p->in_w) {
                memset(d, 0, (size_t)c * 2);
                continue;
            }
            const int32_t base = (ih * p->in_w + iw) * c;
            int32_t ci = 0;
            if (p->in_cont == 8) {
                const uint8_t *s = in + base;
                if (sg)
                    for (; ci + 8 <= c; ci += 8) vst1q_s16(d + ci, vmovl_s8(vld1_s8((const int8_t *)s + ci)));
                else
                    for (; ci + 8 <= c; ci += 8) vst1q_s16(d + ci, vreinterpretq_s16_u16(vmovl_u8(vld1_u8(s + ci))));
            }
            for (; ci < c; ci++) d[ci] = (int16_t)mico_get(in, base + ci, p->in_cont, sg);
        }
    }
    for (; k < kp8; k++) col[k] = 0;
}

static void nz_tile(const int8_t *ra, const int8_t *rb, const int16_t *x0, const int16_t *x1, int32_t kk,
                    int32_t acc[4]) {
    int32x4_t a00 = vdupq_n_s32(0), a01 = a00, a10 = a00, a11 = a00;
    int32_t k = 0;
    for (; k + 8 <= kk; k += 8) {
        const int16x8_t wa = vmovl_s8(vld1_s8(ra + k)), wb = vmovl_s8(vld1_s8(rb + k));
        const int16x8_t p = vld1q_s16(x0 + k), q = vld1q_s16(x1 + k);
        a00 = vmlal_s16(a00, vget_low_s16(wa), vget_low_s16(p));
        a00 = vmlal_high_s16(a00, wa, p);
        a01 = vmlal_s16(a01, vget_low_s16(wa), vget_low_s16(q));
        a01 = vmlal_high_s16(a01, wa, q);
        a10 = vmlal_s16(a10, vget_low_s16(wb), vget_low_s16(p));
        a10 = vmlal_high_s16(a10, wb, p);
        a11 = vmlal_s16(a11, vget_low_s16(wb), vget_low_s16(q));
        a11 = vmlal_high_s16(a11, wb, q);
    }
    int32_t s00 = vaddvq_s32(a00), s01 = vaddvq_s32(a01), s10 = vaddvq_s32(a10), s11 = vaddvq_s32(a11);
    for (; k < kk; k++) {
        s00 += ra[k] * x0[k];
        s01 += ra[k] * x1[k];
        s10 += rb[k] * x0[k];
        s11 += rb[k] * x1[k];
    }
    acc[0] = s00;
    acc[1] = s01;
    acc[2] = s10;
    acc[3] = s11;
}

static mico_status nz_run(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch) {
    const int32_t kk = p->k_h * p->k_w * p->in_c;
    const int32_t kp8 = (kk + 7) & ~7;
    int16_t *c0 = (int16_t *)(((uintptr_t)scratch + 15u) & ~(uintptr_t)15u);
    int16_t *c1 = c0 + kp8;
    const int32_t npix = p->out_h * p->out_w, rs = p->w_row_bytes;
    for (int32_t pix = 0; pix < npix; pix += 2) {
        const int two_p = pix + 1 < npix;
        nz_im2col(p, in, pix, c0, kp8);
        if (two_p) nz_im2col(p, in, pix + 1, c1, kp8);
        const int16_t *x1 = two_p ? c1 : c0;
        for (int32_t oc = 0; oc < p->out_c; oc += 2) {
            const int two_c = oc + 1 < p->out_c;
            const int8_t *ra = (const int8_t *)p->weights + oc * rs;
            const int8_t *rb = two_c ? ra + rs : ra;
            int32_t acc[4];
            nz_tile(ra, rb, c0, x1, kk, acc);
            const mico_rq q0 = mico_rq_init(p, oc);
            mico_rq_store(p, out, pix, oc, p->bias[oc] + acc[0], &q0);
            if (two_p) mico_rq_store(p, out, pix + 1, oc, p->bias[oc] + acc[1], &q0);
            if (two_c) {
                const mico_rq q1 = mico_rq_init(p, oc + 1);
                mico_rq_store(p, out, pix, oc + 1, p->bias[oc + 1] + acc[2], &q1);
                if (two_p) mico_rq_store(p, out, pix + 1, oc + 1, p->bias[oc + 1] + acc[3], &q1);
            }
        }
    }
    return MICO_OK;
}
#endif

mico_status mico_conv_neon(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                           int32_t scratch_bytes) {
#if defined(__aarch64__) && defined(__ARM_NEON) && !defined(MICO_NO_NEON)
    mico_status st = mico_conv_check(p);
    if (st != MICO_OK) return st;
    if (p->groups != 1) return MICO_ERR_UNSUPPORTED;
    if (p->w_cont == 8) {
        if (!scratch || scratch_bytes < mico_conv_get_buffer_size(p)) return MICO_ERR_SCRATCH;
        if (p->k_h * p->k_w * p->in_c > p->w_row_bytes) return MICO_ERR_ARG;
        return nz_run(p, in, out, scratch);
    }
#endif
    return mico_conv_dualmac(p, in, out, scratch, scratch_bytes);
}
