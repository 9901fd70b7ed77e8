/* AArch64 NEON convolution (groups == 1).
 *
 * 8-bit weights: each pixel's im2col column is widened once to int16 (contiguous, 8 lanes per
 * vector); a tile of 2 output channels x 2 pixels loads 8 weights per row (LD1 + SXTL) and runs
 * 8 widening multiply-accumulates (SMLAL / SMLAL2, int16 x int16 -> int32x4) per 8-deep step:
 * 32 MACs per 14 instructions. Rows are read in whole 8-byte steps while they last and the tail
 * (K mod 8) in scalar code, so nothing past a row is read. Sub-byte weights (containers 4/2/1)
 * run the same int16 SMLAL tiles: a row is read 8 bytes (64/c weights) at a time and unpacked
 * with vector shifts into 8/c int8x8 vectors, one per bit field (SHL + SSHR sign-extends a
 * field; 1-bit: w = ~(2t) with t = SSHR(SHL(v)) in {0, -1}), then SXTL; the im2col column of a
 * full 64/c block is stored permuted in that field order (element e at (e mod 8/c) * 8 + e div
 * 8/c), the row's last 4-byte word as a half block on 4 lanes (column zero padded to
 * roundup(K, 32/c), so nothing past a row is read). With 2/4-bit activation containers the
 * column is narrowed to int8 and the tiles use SMLAL.8B into int16 lanes (8 MACs/instruction),
 * folded into int32 with SADALP every 16 blocks; 1-bit weights there are CMTST masks t = -w'
 * and sum x w = -2 sum x t - sum x. Elsewhere (no NEON) this is the dual-MAC kernel.
 * Scratch: 2 pixels x K (rounded up to 32) int16 (mico_conv_get_buffer_size).
 */
#include "mico_conv_check.h"
#include "mico_nn_support.h"

#if defined(__aarch64__) && defined(__ARM_NEON) && !defined(MICO_NO_NEON)
#include <arm_neon.h>

/* int16 im2col of one output pixel, zero padded to kp8: with fewer than 16 channels each kernel
 * row is one widened run (mico_widen), else each tap's channels in vectors. */
static void nz_im2col(const mico_conv_params *p, const uint8_t *in, int32_t pix, int16_t *col, int32_t kp8) {
    const int32_t c = p->in_c, sg = p->in_signed;
    const int32_t oh = pix / p->out_w, ow = pix % p->out_w;
    int32_t k = 0;
    for (int32_t kh = 0; kh < p->k_h; kh++) {
        const int32_t ih = oh * p->stride_h - p->pad_h + kh;
        if (c < 16) { /* few channels: a kernel row's pixels inside the image are one contiguous run */
            const int32_t iw0 = ow * p->stride_w - p->pad_w;
            int32_t lo = iw0 < 0 ? -iw0 : 0, hi = p->in_w - iw0 < p->k_w ? p->in_w - iw0 : p->k_w;
            if (ih < 0 || ih >= p->in_h || hi <= lo) lo = hi = 0; /* the whole kernel row is padding */
            int16_t *d = col + k;
            if (lo > 0) memset(d, 0, (size_t)lo * c * 2);
            if (hi > lo) { /* the run, from the next byte boundary on as one contiguous mico_widen */
                int32_t e = (ih * p->in_w + iw0 + lo) * c, n = (hi - lo) * c;
                int16_t *q = d + lo * c;
                for (; n > 0 && e % (8 / p->in_cont) != 0; e++, n--) *q++ = (int16_t)mico_get(in, e, p->in_cont, sg);
                mico_conv_params run = *p;
                run.in_c = n;
                if (n > 0) mico_widen(&run, in, e, 1, q, 1, n);
            }
            if (hi < p->k_w) memset(d + hi * c, 0, (size_t)(p->k_w - hi) * c * 2);
            k += p->k_w * c;
            continue;
        }
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
            if (p->in_cont == 4 && (c & 1) == 0) { /* 16 nibbles per 8 bytes: split, re-interleave, widen */
                const uint8_t *s = in + base / 2;
                for (; ci + 16 <= c; ci += 16, s += 8) {
                    const uint8x8_t v = vld1_u8(s);
                    int16x8_t e0, e1;
                    if (sg) {
                        const int8x8_t lo = vshr_n_s8(vshl_n_s8(vreinterpret_s8_u8(v), 4), 4);
                        const int8x8_t hi = vshr_n_s8(vreinterpret_s8_u8(v), 4);
                        e0 = vmovl_s8(vzip1_s8(lo, hi));
                        e1 = vmovl_s8(vzip2_s8(lo, hi));
                    } else {
                        const uint8x8_t lo = vand_u8(v, vdup_n_u8(15)), hi = vshr_n_u8(v, 4);
                        e0 = vreinterpretq_s16_u16(vmovl_u8(vzip1_u8(lo, hi)));
                        e1 = vreinterpretq_s16_u16(vmovl_u8(vzip2_u8(lo, hi)));
                    }
                    vst1q_s16(d + ci, e0);
                    vst1q_s16(d + ci + 8, e1);
                }
            } else if (p->in_cont == 2 && (c & 3) == 0) { /* 16 two-bit fields per 4 bytes */
                const uint8_t *s = in + base / 4;
                for (; ci + 16 <= c; ci += 16, s += 4) {
                    const int8x8_t v = vcreate_s8((uint64_t)mico_load32(s));
                    int8x8x4_t q;
                    if (sg) {
                        q.val[0] = vshr_n_s8(vshl_n_s8(v, 6), 6);
                        q.val[1] = vshr_n_s8(vshl_n_s8(v, 4), 6);
                        q.val[2] = vshr_n_s8(vshl_n_s8(v, 2), 6);
                        q.val[3] = vshr_n_s8(v, 6);
                    } else {
                        const uint8x8_t u = vreinterpret_u8_s8(v), m = vdup_n_u8(3);
                        q.val[0] = vreinterpret_s8_u8(vand_u8(u, m));
                        q.val[1] = vreinterpret_s8_u8(vand_u8(vshr_n_u8(u, 2), m));
                        q.val[2] = vreinterpret_s8_u8(vand_u8(vshr_n_u8(u, 4), m));
                        q.val[3] = vreinterpret_s8_u8(vshr_n_u8(u, 6));
                    }
                    int8_t tmp[32];
                    vst4_s8(tmp, q); /* interleave back to element order; bytes 0..15 are ours */
                    const int8x16_t t0 = vld1q_s8(tmp);
                    vst1q_s16(d + ci, vmovl_s8(vget_low_s8(t0)));
                    vst1q_s16(d + ci + 8, vmovl_high_s8(t0));
                }
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

static void nz_permute_tail(int16_t *col, int32_t kk, int32_t wc) {
    const int32_t B = 64 / wc, F = 8 / wc;
    int16_t tmp[32];
    const int32_t b = kk / B * B;
    if (b == kk) return;
    /* kk is a multiple of B / 2 here: one half block, 4 lanes per field */
    for (int32_t e = 0; e < B / 2; e++) tmp[(e % F) * 4 + e / F] = col[b + e];
    memcpy(col + b, tmp, (size_t)B);
}

/* Permute the full 64/c blocks (and the final 32/c half block) of a natural-order column,
 * zero padded to a multiple of 32/c, into the field order of nz_block / nz_half. */
static void nz_permute(int16_t *col, int32_t kk, int32_t wc) {
    const int32_t B = 64 / wc;
    nz_permute_tail(col, kk, wc);
    if (wc == 4) { /* de-interleave pairs: LD2 */
        for (int32_t b = 0; b + B <= kk; b += B) {
            const int16x8x2_t v = vld2q_s16(col + b);
            vst1q_s16(col + b, v.val[0]);
            vst1q_s16(col + b + 8, v.val[1]);
        }
        return;
    }
    if (wc == 1) { /* 8-way de-interleave: LD4, then even / odd lanes (UZP1 / UZP2) */
        int32_t b = 0;
        for (; b + B <= kk; b += B) {
            const int16x8x4_t a = vld4q_s16(col + b), c = vld4q_s16(col + b + 32);
            for (int32_t f = 0; f < 4; f++) {
                vst1q_s16(col + b + f * 8, vuzp1q_s16(a.val[f], c.val[f]));
                vst1q_s16(col + b + (f + 4) * 8, vuzp2q_s16(a.val[f], c.val[f]));
            }
        }
        return;
    }
    /* wc == 2: de-interleave quads: LD4 */
    {
        for (int32_t b = 0; b + B <= kk; b += B) {
            const int16x8x4_t v = vld4q_s16(col + b);
            vst1q_s16(col + b, v.val[0]);
            vst1q_s16(col + b + 8, v.val[1]);
            vst1q_s16(col + b + 16, v.val[2]);
            vst1q_s16(col + b + 24, v.val[3]);
        }
    }
}

MICO_INLINE void nz_mac(int32x4_t *a0, int32x4_t *a1, int8x8_t w8, const int16_t *x0, const int16_t *x1) {
    const int16x8_t w = vmovl_s8(w8), p = vld1q_s16(x0), q = vld1q_s16(x1);
    *a0 = vmlal_s16(*a0, vget_low_s16(w), vget_low_s16(p));
    *a0 = vmlal_high_s16(*a0, w, p);
    *a1 = vmlal_s16(*a1, vget_low_s16(w), vget_low_s16(q));
    *a1 = vmlal_high_s16(*a1, w, q);
}

#define NZ_W1(V, J) vmvn_s8(vadd_s8(vshr_n_s8(vshl_n_s8((V), 7 - (J)), 7), vshr_n_s8(vshl_n_s8((V), 7 - (J)), 7)))

/* One 8-byte block of a sub-byte row: multiply-accumulate its 64/WC weights with both columns. */
MICO_INLINE void nz_block(int32x4_t *a0, int32x4_t *a1, const uint8_t *r, const int16_t *x0, const int16_t *x1,
                          const int32_t WC) {
    const int8x8_t v = vld1_s8((const int8_t *)r);
    if (WC == 4) {
        nz_mac(a0, a1, vshr_n_s8(vshl_n_s8(v, 4), 4), x0, x1);
        nz_mac(a0, a1, vshr_n_s8(v, 4), x0 + 8, x1 + 8);
    } else if (WC == 2) {
        nz_mac(a0, a1, vshr_n_s8(vshl_n_s8(v, 6), 6), x0, x1);
        nz_mac(a0, a1, vshr_n_s8(vshl_n_s8(v, 4), 6), x0 + 8, x1 + 8);
        nz_mac(a0, a1, vshr_n_s8(vshl_n_s8(v, 2), 6), x0 + 16, x1 + 16);
        nz_mac(a0, a1, vshr_n_s8(v, 6), x0 + 24, x1 + 24);
    } else {
        nz_mac(a0, a1, NZ_W1(v, 0), x0, x1);
        nz_mac(a0, a1, NZ_W1(v, 1), x0 + 8, x1 + 8);
        nz_mac(a0, a1, NZ_W1(v, 2), x0 + 16, x1 + 16);
        nz_mac(a0, a1, NZ_W1(v, 3), x0 + 24, x1 + 24);
        nz_mac(a0, a1, NZ_W1(v, 4), x0 + 32, x1 + 32);
        nz_mac(a0, a1, NZ_W1(v, 5), x0 + 40, x1 + 40);
        nz_mac(a0, a1, NZ_W1(v, 6), x0 + 48, x1 + 48);
        nz_mac(a0, a1, vmvn_s8(vadd_s8(vshr_n_s8(v, 7), vshr_n_s8(v, 7))), x0 + 56, x1 + 56);
    }
}

MICO_INLINE void nz_mac4(int32x4_t *a0, int32x4_t *a1, int8x8_t w8, const int16_t *x0, const int16_t *x1) {
    const int16x4_t w = vget_low_s16(vmovl_s8(w8));
    *a0 = vmlal_s16(*a0, w, vld1_s16(x0));
    *a1 = vmlal_s16(*a1, w, vld1_s16(x1));
}

/* The final 4-byte half block of a row (32/WC weights, 4 lanes per field). */
MICO_INLINE void nz_half(int32x4_t *a0, int32x4_t *a1, const uint8_t *r, const int16_t *x0, const int16_t *x1,
                         const int32_t WC) {
    const int8x8_t v = vreinterpret_s8_u32(vdup_n_u32(mico_load32(r)));
    if (WC == 4) {
        nz_mac4(a0, a1, vshr_n_s8(vshl_n_s8(v, 4), 4), x0, x1);
        nz_mac4(a0, a1, vshr_n_s8(v, 4), x0 + 4, x1 + 4);
    } else if (WC == 2) {
        nz_mac4(a0, a1, vshr_n_s8(vshl_n_s8(v, 6), 6), x0, x1);
        nz_mac4(a0, a1, vshr_n_s8(vshl_n_s8(v, 4), 6), x0 + 4, x1 + 4);
        nz_mac4(a0, a1, vshr_n_s8(vshl_n_s8(v, 2), 6), x0 + 8, x1 + 8);
        nz_mac4(a0, a1, vshr_n_s8(v, 6), x0 + 12, x1 + 12);
    } else {
        nz_mac4(a0, a1, NZ_W1(v, 0), x0, x1);
        nz_mac4(a0, a1, NZ_W1(v, 1), x0 + 4, x1 + 4);
        nz_mac4(a0, a1, NZ_W1(v, 2), x0 + 8, x1 + 8);
        nz_mac4(a0, a1, NZ_W1(v, 3), x0 + 12, x1 + 12);
        nz_mac4(a0, a1, NZ_W1(v, 4), x0 + 16, x1 + 16);
        nz_mac4(a0, a1, NZ_W1(v, 5), x0 + 20, x1 + 20);
        nz_mac4(a0, a1, NZ_W1(v, 6), x0 + 24, x1 + 24);
        nz_mac4(a0, a1, vmvn_s8(vadd_s8(vshr_n_s8(v, 7), vshr_n_s8(v, 7))), x0 + 28, x1 + 28);
    }
}

MICO_INLINE void nz_tile_sub(const uint8_t *ra, const uint8_t *rb, const int16_t *x0, const int16_t *x1, int32_t kk,
                             const int32_t WC, int32_t acc[4]) {
    const int32_t B = 64 / WC;
    int32x4_t a00 = vdupq_n_s32(0), a01 = a00, a10 = a00, a11 = a00;
    int32_t k = 0;
    /* kk: K rounded up to a whole 4-byte word of the row (the column is zero there) */
    for (; k + B <= kk; k += B, ra += 8, rb += 8) {
        nz_block(&a00, &a01, ra, x0 + k, x1 + k, WC);
        nz_block(&a10, &a11, rb, x0 + k, x1 + k, WC);
    }
    if (k < kk) {
        nz_half(&a00, &a01, ra, x0 + k, x1 + k, WC);
        nz_half(&a10, &a11, rb, x0 + k, x1 + k, WC);
    }
    acc[0] = vaddvq_s32(a00);
    acc[1] = vaddvq_s32(a01);
    acc[2] = vaddvq_s32(a10);
    acc[3] = vaddvq_s32(a11);
}

/* int8 x int8 tiles (activations fit int8: 2/4-bit containers): SMLAL.8B into int16 lanes,
 * 8 MACs per instruction. A block adds one product per field vector to each lane, at most
 * 2 x 8 x 15 = 240 (W4; W2: 4 x 2 x 15, W1: 8 x 15), so 16 blocks plus a half block stay far
 * below 2^15 before SADALP folds the lanes into int32. */
#define NZ_F8(A0, A1, W, OFF) \
    do { \
        const int8x8_t w_ = (W); \
        *(A0) = vmlal_s8(*(A0), w_, vld1_s8(x0 + (OFF))); \
        *(A1) = vmlal_s8(*(A1), w_, vld1_s8(x1 + (OFF))); \
    } while (0)

MICO_INLINE void nz_fields8(int16x8_t *a0, int16x8_t *a1, int8x8_t v, const int8_t *x0, const int8_t *x1,
                            const int32_t WC, const int32_t S, int8x8_t lm) {
    if (WC == 4) {
        NZ_F8(a0, a1, vand_s8(vshr_n_s8(vshl_n_s8(v, 4), 4), lm), 0);
        NZ_F8(a0, a1, vand_s8(vshr_n_s8(v, 4), lm), S);
    } else if (WC == 2) {
        NZ_F8(a0, a1, vand_s8(vshr_n_s8(vshl_n_s8(v, 6), 6), lm), 0);
        NZ_F8(a0, a1, vand_s8(vshr_n_s8(vshl_n_s8(v, 4), 6), lm), S);
        NZ_F8(a0, a1, vand_s8(vshr_n_s8(vshl_n_s8(v, 2), 6), lm), 2 * S);
        NZ_F8(a0, a1, vand_s8(vshr_n_s8(v, 6), lm), 3 * S);
    } else {
        /* 1-bit: t = CMTST(v, bit j) in {0, -1} = -w'; the caller maps sum x t to sum x w = -2 sum x t - sum x */
        const int8x8_t vm = vand_s8(v, lm);
#define NZ_T(J) vreinterpret_s8_u8(vtst_s8(vm, vdup_n_s8((int8_t)(1u << (J)))))
        NZ_F8(a0, a1, NZ_T(0), 0);
        NZ_F8(a0, a1, NZ_T(1), S);
        NZ_F8(a0, a1, NZ_T(2), 2 * S);
        NZ_F8(a0, a1, NZ_T(3), 3 * S);
        NZ_F8(a0, a1, NZ_T(4), 4 * S);
        NZ_F8(a0, a1, NZ_T(5), 5 * S);
        NZ_F8(a0, a1, NZ_T(6), 6 * S);
        NZ_F8(a0, a1, NZ_T(7), 7 * S);
#undef NZ_T
    }
}

MICO_INLINE void nz_tile8(const uint8_t *ra, const uint8_t *rb, const int8_t *x0, const int8_t *x1, int32_t kk,
                          const int32_t WC, int32_t acc[4]) {
    const int32_t B = 64 / WC;
    const int8x8_t all = vdup_n_s8(-1), lo4 = vcreate_s8(0x00000000FFFFFFFFull);
    int32x4_t s00 = vdupq_n_s32(0), s01 = s00, s10 = s00, s11 = s00;
    int32_t k = 0;
    while (k < kk) {
        int16x8_t h00 = vdupq_n_s16(0), h01 = h00, h10 = h00, h11 = h00;
        for (int32_t n = 0; n < 16 && k + B <= kk; n++, k += B, ra += 8, rb += 8) {
            nz_fields8(&h00, &h01, vld1_s8((const int8_t *)ra), x0 + k, x1 + k, WC, 8, all);
            nz_fields8(&h10, &h11, vld1_s8((const int8_t *)rb), x0 + k, x1 + k, WC, 8, all);
        }
        if (k < kk && k + B > kk) { /* the row's last 4-byte word: a half block, upper lanes masked */
            nz_fields8(&h00, &h01, vcreate_s8((uint64_t)mico_load32(ra)), x0 + k, x1 + k, WC, 4, lo4);
            nz_fields8(&h10, &h11, vcreate_s8((uint64_t)mico_load32(rb)), x0 + k, x1 + k, WC, 4, lo4);
            k = kk;
        }
        s00 = vpadalq_s16(s00, h00);
        s01 = vpadalq_s16(s01, h01);
        s10 = vpadalq_s16(s10, h10);
        s11 = vpadalq_s16(s11, h11);
    }
    acc[0] = vaddvq_s32(s00);
    acc[1] = vaddvq_s32(s01);
    acc[2] = vaddvq_s32(s10);
    acc[3] = vaddvq_s32(s11);
}

/* Narrow a column to int8 in place (element i moves from byte 2i to byte i). */
static void nz_narrow(int16_t *col, int32_t n) {
    int8_t *d = (int8_t *)col;
    for (int32_t i = 0; i < n; i += 8) vst1_s8(d + i, vmovn_s16(vld1q_s16(col + i)));
}

static int32_t nz_colsum(const int8_t *x, int32_t n) {
    int32_t sum = 0;
    for (int32_t i = 0; i < n; i += 8) sum += vaddlv_s8(vld1_s8(x + i));
    return sum;
}

static void nz_tile_any(const mico_conv_params *p, const uint8_t *ra, const uint8_t *rb, const int16_t *x0,
                        const int16_t *x1, int32_t kk, int32_t c0, int32_t c1, int32_t acc[4]) {
    if (p->w_cont < 8 && p->in_cont < 8) {
        const int8_t *y0 = (const int8_t *)x0, *y1 = (const int8_t *)x1;
        switch (p->w_cont) {
            case 4: nz_tile8(ra, rb, y0, y1, (kk + 7) & ~7, 4, acc); return;
            case 2: nz_tile8(ra, rb, y0, y1, (kk + 15) & ~15, 2, acc); return;
            default: {
                /* sum x w = -2 sum x t - sum x (column sums c0, c1 from nz_run) */
                const int32_t kp = (kk + 31) & ~31;
                nz_tile8(ra, rb, y0, y1, kp, 1, acc);
                acc[0] = -2 * acc[0] - c0;
                acc[1] = -2 * acc[1] - c1;
                acc[2] = -2 * acc[2] - c0;
                acc[3] = -2 * acc[3] - c1;
                return;
            }
        }
    }
    switch (p->w_cont) {
        case 8: nz_tile((const int8_t *)ra, (const int8_t *)rb, x0, x1, kk, acc); break;
        case 4: nz_tile_sub(ra, rb, x0, x1, (kk + 7) & ~7, 4, acc); break;
        case 2: nz_tile_sub(ra, rb, x0, x1, (kk + 15) & ~15, 2, acc); break;
        default: nz_tile_sub(ra, rb, x0, x1, (kk + 31) & ~31, 1, acc); break;
    }
}

static mico_status nz_run(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch) {
    const int32_t kk = p->k_h * p->k_w * p->in_c;
    /* sub-byte: the column is zero padded to the row's 4-byte boundary, roundup(K, 32 / c) */
    const int32_t per4 = p->w_cont == 8 ? 8 : 32 / p->w_cont;
    const int32_t kp8 = (kk + per4 - 1) / per4 * per4;
    int16_t *c0 = (int16_t *)(((uintptr_t)scratch + 15u) & ~(uintptr_t)15u);
    int16_t *c1 = c0 + kp8;
    const int32_t npix = p->out_h * p->out_w, rs = p->w_row_bytes;
    for (int32_t pix = 0; pix < npix; pix += 2) {
        const int two_p = pix + 1 < npix;
        int32_t cs0 = 0, cs1 = 0;
        nz_im2col(p, in, pix, c0, kp8);
        if (two_p) nz_im2col(p, in, pix + 1, c1, kp8);
        if (p->w_cont < 8) {
            nz_permute(c0, kp8, p->w_cont);
            if (two_p) nz_permute(c1, kp8, p->w_cont);
            if (p->in_cont < 8) { /* activations fit int8: the SMLAL.8B tiles */
                nz_narrow(c0, kp8);
                if (two_p) nz_narrow(c1, kp8);
                if (p->w_cont == 1) {
                    cs0 = nz_colsum((const int8_t *)c0, kp8);
                    cs1 = two_p ? nz_colsum((const int8_t *)c1, kp8) : cs0;
                }
            }
        }
        const int16_t *x1 = two_p ? c1 : c0;
        for (int32_t oc = 0; oc < p->out_c; oc += 2) {
            const int two_c = oc + 1 < p->out_c;
            const uint8_t *ra = p->weights + oc * rs;
            const uint8_t *rb = two_c ? ra + rs : ra;
            int32_t acc[4];
            nz_tile_any(p, ra, rb, c0, x1, kk, cs0, cs1, acc);
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
    if (!scratch || scratch_bytes < mico_conv_get_buffer_size(p)) return MICO_ERR_SCRATCH;
    if ((p->k_h * p->k_w * p->in_c * p->w_cont + 7) / 8 > p->w_row_bytes) return MICO_ERR_ARG;
    return nz_run(p, in, out, scratch);
#else
    return mico_conv_dualmac(p, in, out, scratch, scratch_bytes);
#endif
}
