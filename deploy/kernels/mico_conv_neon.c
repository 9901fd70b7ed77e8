/* AArch64 NEON convolution (groups == 1). mico_conv_neon picks one of four paths (each described
 * at its section below):
 *   single-channel layers with stride_w 1 (nr_run): output pixels in the lanes over a ring of
 *     input rows, no im2col;
 *   short columns (n8_outer): output channels in the lanes, weights transposed once per call;
 *   the int8 path (n8_run): 2/4-bit activation containers, or 8-bit ones with sub-byte weights
 *     (flipped to x - 128), 16-lane MLA / SMLAL tiles over 16-byte weight blocks;
 *   the int16 path (nz_run): 8-bit activations with 8-bit weights (or wherever the int8 scratch
 *     does not fit): int16 columns, 2x2 tiles of SMLAL / SMLAL2 on 8-deep int16 vectors (32 MACs
 *     per 14 instructions), sub-byte weights unpacked with SHL + SSHR into 8-byte field vectors.
 * Every path ends in the shared requantization pass (mico_conv_store_pixels). Elsewhere (no NEON)
 * this is the dual-MAC kernel. Scratch: mico_conv_get_buffer_size (its AArch64 terms).
 */
#include "mico_conv_check.h"
#include "mico_nn_support.h"

#if defined(__aarch64__) && defined(__ARM_NEON) && !defined(MICO_NO_NEON)
#include <arm_neon.h>

/* im2col of one output pixel, zero padded to kp: int16 elements (ES 2), or int8 (ES 1, activation
 * containers of at most 4 bits). With fewer than 16 channels each kernel row is one widened run
 * (mico_widen), else each tap's channels in vectors. */
MICO_INLINE void nz_im2col_t(const mico_conv_params *p, const uint8_t *in, int32_t pix, void *colv, int32_t kp,
                             const int ES) {
    const int32_t c = p->in_c, sg = p->in_signed;
    const int32_t oh = pix / p->out_w, ow = pix % p->out_w;
    int16_t *col = (int16_t *)colv;
    int8_t *col8 = (int8_t *)colv;
#define NZ_AT(K) (ES == 2 ? (void *)(col + (K)) : (void *)(col8 + (K)))
#define NZ_PUT(K, V) (ES == 2 ? (void)(col[K] = (int16_t)(V)) : (void)(col8[K] = (int8_t)(V)))
    int32_t k = 0;
    for (int32_t kh = 0; kh < p->k_h; kh++) {
        const int32_t ih = oh * p->stride_h - p->pad_h + kh;
        if (c < 16) { /* few channels: a kernel row's pixels inside the image are one contiguous run */
            const int32_t iw0 = ow * p->stride_w - p->pad_w;
            int32_t lo = iw0 < 0 ? -iw0 : 0, hi = p->in_w - iw0 < p->k_w ? p->in_w - iw0 : p->k_w;
            if (ih < 0 || ih >= p->in_h || hi <= lo) lo = hi = 0; /* the whole kernel row is padding */
            if (lo > 0) memset(NZ_AT(k), 0, (size_t)(lo * c * ES));
            if (hi > lo) { /* the run, from the next byte boundary on as one contiguous mico_widen */
                int32_t e = (ih * p->in_w + iw0 + lo) * c, n = (hi - lo) * c, q = k + lo * c;
                for (; n > 0 && e % (8 / p->in_cont) != 0; e++, n--, q++) NZ_PUT(q, mico_get(in, e, p->in_cont, sg));
                mico_conv_params run = *p;
                run.in_c = n;
                if (n > 0) mico_widen(&run, in, e, 1, NZ_AT(q), 1, n, ES);
            }
            if (hi < p->k_w) memset(NZ_AT(k + hi * c), 0, (size_t)((p->k_w - hi) * c * ES));
            k += p->k_w * c;
            continue;
        }
        for (int32_t kw = 0; kw < p->k_w; kw++, k += c) {
            const int32_t iw = ow * p->stride_w - p->pad_w + kw;
            if (ih < 0 || ih >= p->in_h || iw < 0 || iw >= p->in_w) {
                memset(NZ_AT(k), 0, (size_t)(c * ES));
                continue;
            }
            const int32_t base = (ih * p->in_w + iw) * c;
            int16_t *d = col + k;
            int8_t *d8 = col8 + k;
            int32_t ci = 0;
            if (ES == 1 && p->in_cont == 8)
                for (; ci + 16 <= c; ci += 16) vst1q_s8(d8 + ci, vld1q_s8((const int8_t *)in + base + ci));
            if (ES == 2 && p->in_cont == 8) {
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
                    int8x8_t e0, e1;
                    if (sg) {
                        const int8x8_t lo = vshr_n_s8(vshl_n_s8(vreinterpret_s8_u8(v), 4), 4);
                        const int8x8_t hi = vshr_n_s8(vreinterpret_s8_u8(v), 4);
                        e0 = vzip1_s8(lo, hi);
                        e1 = vzip2_s8(lo, hi);
                    } else {
                        const uint8x8_t lo = vand_u8(v, vdup_n_u8(15)), hi = vshr_n_u8(v, 4);
                        e0 = vreinterpret_s8_u8(vzip1_u8(lo, hi));
                        e1 = vreinterpret_s8_u8(vzip2_u8(lo, hi));
                    }
                    if (ES == 2) {
                        vst1q_s16(d + ci, vmovl_s8(e0));
                        vst1q_s16(d + ci + 8, vmovl_s8(e1));
                    } else {
                        vst1q_s8(d8 + ci, vcombine_s8(e0, e1));
                    }
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
                    if (ES == 2) {
                        vst1q_s16(d + ci, vmovl_s8(vget_low_s8(t0)));
                        vst1q_s16(d + ci + 8, vmovl_high_s8(t0));
                    } else {
                        vst1q_s8(d8 + ci, t0);
                    }
                }
            }
            for (; ci < c; ci++) NZ_PUT(k + ci, mico_get(in, base + ci, p->in_cont, sg));
        }
    }
    if (k < kp) memset(NZ_AT(k), 0, (size_t)((kp - k) * ES));
#undef NZ_AT
#undef NZ_PUT
}

static void nz_im2col(const mico_conv_params *p, const uint8_t *in, int32_t pix, int16_t *col, int32_t kp8) {
    nz_im2col_t(p, in, pix, col, kp8, 2);
}

/* A ring of k_h converted input rows (mico_ring16 / mico_ring8, the
 * horizontal padding materialised, 16 elements of zero slack), so each input row is converted once
 * and kernel row kh of output pixel ow is the k_w c consecutive elements at rp[kh] + ow stride_w c.
 * Ring length in elements; 0 when the ring does not apply. */
MICO_INLINE int32_t nz_ring_len(const mico_conv_params *p) {
    return p->k_h <= 16 && p->out_w > 1 ? (p->in_w + 2 * p->pad_w) * p->in_c + 16 : 0;
}

/* A pixel's column from the ring (sizes in bytes): k_h segments of n bytes at rp[kh] + off, copied
 * 16 bytes at a time (up to 15 bytes past k: the caller's slack), then zero from k to kp. */
MICO_INLINE void nz_ring_col(uint8_t *d, const void *const *rp, int32_t kh_n, int32_t off, int32_t n, int32_t k,
                             int32_t kp) {
    uint8_t *q = d;
    for (int32_t kh = 0; kh < kh_n; kh++, q += n) {
        const uint8_t *s = (const uint8_t *)rp[kh] + off;
        for (int32_t i = 0; i < n; i += 16) vst1q_u8(q + i, vld1q_u8(s + i));
    }
    memset(d + k, 0, (size_t)(kp - k));
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

/* ---- The int8 path: activations in 2/4-bit containers (they fit int8), or 8-bit ones with sub-byte
 * weights (flipped to x - 128, sum x w = sum x' w + 128 sum w); weights 1/2/4/8 ----
 *
 * A 16-byte weight block holds E = 128 / WC elements; field j (F = 8 / WC fields a byte) of its
 * byte l is element l F + j, split off with vector shifts into the 16 int8 lanes of one vector
 * (SHL + SSHR sign-extends a field; 1-bit: t = CMTST(v, 1 << j) in {0, -1} = -bit, and
 * sum x w = -2 sum x t - sum x with w = 2 bit - 1). Each pixel's int8 im2col column is permuted
 * into the same field order (LD2 / LD4) and the NP pixels of a tile are interleaved per field, so
 * one LD1 of NP vectors feeds NP multiplies. A tile of NC output channels x NP pixels then runs
 * per block and field NC x NP multiply-accumulates of 16 lanes:
 *   MLA.16B into int8 lanes when the F products a block adds to a lane fit int8 (F P <= 127, P the
 *     largest |w x|: W2A2, W2A4, W4A2, W1A2, W1A4): 16 MACs an instruction, folded into int16
 *     lanes (SADALP) every nb = 127 / (F P) blocks;
 *   SMLAL / SMLAL2 .8B -> .8H otherwise (W4A4, W8A2, W8A4): 8 MACs an instruction, 2 F P a block
 *     per int16 lane, folded into the int32 sums (SADDLV) every 32767 / (2 F P) blocks.
 * Convolutions take 2 channels x 4 pixels; single-pixel layers (linear) 4 channels x 1 pixel.
 * The last partial block of a row is loaded in 4/8/12-byte pieces (nothing past a row is read);
 * the column is zero past K, so padding lanes add nothing. The raw sums of the tile's pixels go
 * through the shared requantization pass (mico_conv_store_pixels).
 * Scratch (16-byte aligned): NP interleaved columns and one natural column (kpE = K rounded up
 * to E bytes each), the requantization table and NP out_c raw sums; n8_need says whether that fits
 * mico_conv_get_buffer_size (else the int16 path runs). */

/* field j of a weight block as int8 lanes */
MICO_INLINE int8x16_t n8_field(int8x16_t v, const int32_t J, const int32_t WC) {
    if (WC == 8) return v;
    if (WC == 4) return J == 0 ? vshrq_n_s8(vshlq_n_s8(v, 4), 4) : vshrq_n_s8(v, 4);
    if (WC == 2) {
        switch (J) {
            case 0: return vshrq_n_s8(vshlq_n_s8(v, 6), 6);
            case 1: return vshrq_n_s8(vshlq_n_s8(v, 4), 6);
            case 2: return vshrq_n_s8(vshlq_n_s8(v, 2), 6);
            default: return vshrq_n_s8(v, 6);
        }
    }
    return vreinterpretq_s8_u8(vtstq_s8(v, vdupq_n_s8((int8_t)(1u << J))));
}

/* Largest |w x| of one product with container maxima (8-bit activations as the flipped x - 128). */
static int32_t n8_pmax(const mico_conv_params *p) {
    const int32_t xm = p->in_signed || p->in_cont == 8 ? 1 << (p->in_cont - 1) : (1 << p->in_cont) - 1;
    return (p->w_cont == 1 ? 1 : 1 << (p->w_cont - 1)) * xm;
}

MICO_INLINE int32_t n8_kpe(const mico_conv_params *p) {
    const int32_t e = 128 / p->w_cont, k = p->k_h * p->k_w * p->in_c;
    return (k + e - 1) / e * e;
}

static int32_t n8_need(const mico_conv_params *p, int32_t np) {
    return 31 + (np + 1) * n8_kpe(p) + p->out_c * (int32_t)sizeof(mico_chq) + 4 * np * ((p->out_c + 3) & ~3) +
           p->k_h * nz_ring_len(p);
}

/* Natural column nat (kpE int8) of pixel slot s -> field order, NP slots interleaved. */
MICO_INLINE void n8_place(const int8_t *nat, int8_t *col, int32_t nblk, int32_t s, const int32_t WC, const int32_t NP) {
    const int32_t F = 8 / WC;
    for (int32_t b = 0; b < nblk; b++) {
        int8_t *d = col + (b * F * NP + s) * 16;
        if (WC == 8) {
            vst1q_s8(d, vld1q_s8(nat + 16 * b));
        } else if (WC == 4) {
            const int8x16x2_t v = vld2q_s8(nat + 32 * b);
            vst1q_s8(d, v.val[0]);
            vst1q_s8(d + 16 * NP, v.val[1]);
        } else if (WC == 2) {
            const int8x16x4_t v = vld4q_s8(nat + 64 * b);
            for (int32_t j = 0; j < 4; j++) vst1q_s8(d + 16 * NP * j, v.val[j]);
        } else {
            const int8x16x4_t a = vld4q_s8(nat + 128 * b), c = vld4q_s8(nat + 128 * b + 64);
            for (int32_t j = 0; j < 4; j++) {
                vst1q_s8(d + 16 * NP * j, vuzp1q_s8(a.val[j], c.val[j]));
                vst1q_s8(d + 16 * NP * (j + 4), vuzp2q_s8(a.val[j], c.val[j]));
            }
        }
    }
}

MICO_INLINE void n8_loadx(int8x16_t *x, const int8_t *c, const int32_t NP) {
    if (NP == 4) {
        const int8x16x4_t v = vld1q_s8_x4(c);
        x[0] = v.val[0];
        x[1] = v.val[1];
        x[2] = v.val[2];
        x[3] = v.val[3];
    } else {
        x[0] = vld1q_s8(c);
    }
}

/* The last, partial block of a row: `last` (< 16) readable bytes, the rest of the vector zero. */
MICO_INLINE int8x16_t n8_part(const uint8_t *r, int32_t last) {
    const int8x8_t z = vdup_n_s8(0);
    if (last == 4) return vcombine_s8(vreinterpret_s8_u32(vset_lane_u32(mico_load32(r), vdup_n_u32(0), 0)), z);
    if (last == 8) return vcombine_s8(vld1_s8((const int8_t *)r), z);
    if (last == 12)
        return vcombine_s8(vld1_s8((const int8_t *)r),
                           vreinterpret_s8_u32(vset_lane_u32(mico_load32(r + 8), vdup_n_u32(0), 0)));
    uint8_t t[16] = {0};
    memcpy(t, r, (size_t)last);
    return vld1q_s8((const int8_t *)t);
}

/* One block (weight vectors v of the NC rows, column xc): MLA into the int8 lanes m, else SMLAL
 * into the int16 lanes h. */
MICO_INLINE void n8_block(int8x16_t *m, int16x8_t *h, const int8x16_t *v, const int8_t *xc, const int32_t WC,
                          const int32_t NC, const int32_t NP, const int MLA) {
#pragma GCC unroll 8
    for (int32_t j = 0; j < 8 / WC; j++, xc += 16 * NP) {
        int8x16_t x[4];
        n8_loadx(x, xc, NP);
#pragma GCC unroll 8
        for (int32_t c = 0; c < NC; c++) {
            const int8x16_t w = n8_field(v[c], j, WC);
#pragma GCC unroll 8
            for (int32_t s = 0; s < NP; s++) {
                if (MLA) {
                    m[c * NP + s] = vmlaq_s8(m[c * NP + s], w, x[s]);
                } else {
                    h[c * NP + s] = vmlal_s8(h[c * NP + s], vget_low_s8(w), vget_low_s8(x[s]));
                    h[c * NP + s] = vmlal_high_s8(h[c * NP + s], w, x[s]);
                }
            }
        }
    }
}

/* Raw sums of NC rows r[c] x NP pixels: nfull blocks read straight from the rows, then (last > 0)
 * one partial block of `last` readable bytes. MLA: blocks per int8 fold nb, else blocks per int16
 * fold nf. Sum (c, s) goes to dst[s * ldo + c] (1-bit weights: -2 sum x t). */
MICO_INLINE void n8_tile(const uint8_t *const *r, const int8_t *col, int32_t nfull, int32_t last, int32_t nb,
                         int32_t nf, int32_t *dst, int32_t ldo, const int32_t WC, const int32_t NC, const int32_t NP,
                         const int MLA) {
    const int32_t F = 8 / WC, A = NC * NP, nblk = nfull + (last > 0);
    const uint8_t *rr[4];
    int16x8_t h[8];
    int32_t acc[8];
#pragma GCC unroll 8
    for (int32_t c = 0; c < NC; c++) rr[c] = r[c];
#pragma GCC unroll 8
    for (int32_t i = 0; i < A; i++) {
        h[i] = vdupq_n_s16(0);
        acc[i] = 0;
    }
    int32_t folds = 0; /* int8 folds into h since the last int32 fold (MLA) */
    for (int32_t b = 0; b < nblk;) {
        const int32_t end = MLA ? (nblk - b > nb ? b + nb : nblk) : (nblk - b > nf ? b + nf : nblk);
        int8x16_t m[8], v[4];
#pragma GCC unroll 8
        for (int32_t i = 0; i < A; i++) m[i] = vdupq_n_s8(0);
        for (; b < end && b < nfull; b++) {
#pragma GCC unroll 8
            for (int32_t c = 0; c < NC; c++) v[c] = vld1q_s8((const int8_t *)rr[c] + 16 * b);
            n8_block(m, h, v, col + b * F * NP * 16, WC, NC, NP, MLA);
        }
        if (b < end) { /* the partial block */
#pragma GCC unroll 8
            for (int32_t c = 0; c < NC; c++) v[c] = n8_part(rr[c] + 16 * b, last);
            n8_block(m, h, v, col + b * F * NP * 16, WC, NC, NP, MLA);
            b++;
        }
        if (MLA) {
#pragma GCC unroll 8
            for (int32_t i = 0; i < A; i++) h[i] = vpadalq_s8(h[i], m[i]);
            if (++folds < 128 && b < nblk) continue; /* 128 folds of at most 2 x 127 fit int16 */
            folds = 0;
        }
#pragma GCC unroll 8
        for (int32_t i = 0; i < A; i++) {
            acc[i] += vaddlvq_s16(h[i]);
            h[i] = vdupq_n_s16(0);
        }
    }
#pragma GCC unroll 8
    for (int32_t s = 0; s < NP; s++)
#pragma GCC unroll 8
        for (int32_t c = 0; c < NC; c++) dst[s * ldo + c] = WC == 1 ? -2 * acc[c * NP + s] : acc[c * NP + s];
}

/* One out-of-line tile per layout (its own register allocation) */
#define N8_TILE_FN(NAME, WC, NC, NP, MLA)                                                                   \
    static __attribute__((noinline)) void NAME(const uint8_t *const *r, const int8_t *col, int32_t nfull,  \
                                               int32_t last, int32_t nb, int32_t nf, int32_t *dst,          \
                                               int32_t ldo) {                                                \
        n8_tile(r, col, nfull, last, nb, nf, dst, ldo, WC, NC, NP, MLA);                                    \
    }
#define N8_TILES(WC) N8_TILE_FN(n8_conv_mla_##WC, WC, 2, 4, 1) N8_TILE_FN(n8_conv_mul_##WC, WC, 2, 4, 0) \
    N8_TILE_FN(n8_fc_mla_##WC, WC, 4, 1, 1) N8_TILE_FN(n8_fc_mul_##WC, WC, 4, 1, 0)
N8_TILES(1)
N8_TILES(2)
N8_TILES(4)
N8_TILE_FN(n8_conv_mul_8, 8, 2, 4, 0)
N8_TILE_FN(n8_fc_mul_8, 8, 4, 1, 0)

typedef void (*n8_tile_fn)(const uint8_t *const *, const int8_t *, int32_t, int32_t, int32_t, int32_t, int32_t *,
                           int32_t);

static n8_tile_fn n8_pick(int32_t wc, int32_t np, int mla) {
    switch (wc) {
        case 1: return np == 4 ? (mla ? n8_conv_mla_1 : n8_conv_mul_1) : (mla ? n8_fc_mla_1 : n8_fc_mul_1);
        case 2: return np == 4 ? (mla ? n8_conv_mla_2 : n8_conv_mul_2) : (mla ? n8_fc_mla_2 : n8_fc_mul_2);
        case 4: return np == 4 ? (mla ? n8_conv_mla_4 : n8_conv_mul_4) : (mla ? n8_fc_mla_4 : n8_fc_mul_4);
        default: return np == 4 ? n8_conv_mul_8 : n8_fc_mul_8;
    }
}

static void n8_place_any(const int8_t *nat, int8_t *col, int32_t nblk, int32_t s, int32_t wc, int32_t np) {
    if (np == 4) {
        switch (wc) {
            case 1: n8_place(nat, col, nblk, s, 1, 4); return;
            case 2: n8_place(nat, col, nblk, s, 2, 4); return;
            case 4: n8_place(nat, col, nblk, s, 4, 4); return;
            default: n8_place(nat, col, nblk, s, 8, 4); return;
        }
    }
    switch (wc) {
        case 1: n8_place(nat, col, nblk, s, 1, 1); return;
        case 2: n8_place(nat, col, nblk, s, 2, 1); return;
        case 4: n8_place(nat, col, nblk, s, 4, 1); return;
        default: n8_place(nat, col, nblk, s, 8, 1); return;
    }
}

/* Where a pixel's natural int8 column comes from: the ring of converted rows (L > 0) or im2col. */
typedef struct {
    int8_t *ring;
    int32_t L, oh, slot_row[16];
    const int8_t *rp[16];
} n8_src;

static void n8_src_init(const mico_conv_params *p, n8_src *q, int8_t *ring) {
    q->ring = ring;
    q->L = nz_ring_len(p);
    q->oh = -1;
    if (q->L) mico_ring16_reset(q->slot_row, p->k_h);
}

/* The natural column of pixel pix (kp int8, zero past K; unsigned 8-bit activations flipped to
 * x - 128); returns sum x' over it when `sum`. */
static int32_t n8_column(const mico_conv_params *p, const uint8_t *in, n8_src *q, int32_t pix, int8_t *nat, int32_t kp,
                         int flip, int sum) {
    const int32_t kk = p->k_h * p->k_w * p->in_c;
    if (q->L) {
        const int32_t oh = pix / p->out_w, ow = pix % p->out_w;
        if (oh != q->oh) {
            mico_ring8(p, in, q->ring, q->L, q->slot_row, oh * p->stride_h - p->pad_h, q->rp, p->pad_w * p->in_c, 1,
                       p->in_c);
            q->oh = oh;
        }
        nz_ring_col((uint8_t *)nat, (const void *const *)q->rp, p->k_h, ow * p->stride_w * p->in_c, p->k_w * p->in_c, kk,
                    kp);
    } else {
        nz_im2col_t(p, in, pix, nat, kp, 1);
    }
    if (flip) {
        int32_t i = 0;
        for (; i + 16 <= kk; i += 16) vst1q_s8(nat + i, veorq_s8(vld1q_s8(nat + i), vdupq_n_s8(-128)));
        for (; i < kk; i++) nat[i] = (int8_t)(nat[i] ^ -128);
    }
    int32_t cs = 0;
    if (sum)
        for (int32_t i = 0; i < kp; i += 16) cs += vaddlvq_s8(vld1q_s8(nat + i));
    return cs;
}

static mico_status n8_run(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch, int32_t np) {
    const int32_t wc = p->w_cont, F = 8 / wc, kpe = n8_kpe(p), nblk = kpe / (128 / wc);
    const int32_t out_c = p->out_c, npix = p->out_h * p->out_w, rs = p->w_row_bytes;
    const int32_t nfull = rs >= 16 * nblk ? nblk : nblk - 1, last = nfull == nblk ? 0 : rs - 16 * nfull;
    const int32_t pm = n8_pmax(p), mla = F * pm <= 127, nc = np == 4 ? 2 : 4, ldo = (out_c + 3) & ~3;
    const int32_t nb = mla ? 127 / (F * pm) : 0, nf = mla ? 0 : 32767 / (2 * F * pm);
    int8_t *col = (int8_t *)(((uintptr_t)scratch + 15u) & ~(uintptr_t)15u);
    int8_t *nat = col + np * kpe;
    mico_chq *tab = (mico_chq *)(void *)(nat + kpe + 16); /* 16 bytes of slack after the column */
    int32_t *sums = (int32_t *)(void *)(tab + out_c);
    /* unsigned 8-bit activations enter as x' = x - 128 (XOR 0x80): sum x w = sum x' w + 128 sum w */
    const int flip = p->in_cont == 8 && !p->in_signed;
    const int32_t fast = mico_conv_store_prepare(p, flip ? -128 : 0, tab);
    const n8_tile_fn tile = n8_pick(wc, np, mla);
    n8_src src;
    n8_src_init(p, &src, (int8_t *)(void *)(sums + np * ldo));
    for (int32_t pix = 0; pix < npix; pix += np) {
        const int32_t n = npix - pix < np ? npix - pix : np;
        int32_t t[4] = {0, 0, 0, 0};
        for (int32_t s = 0; s < n; s++) {
            t[s] = n8_column(p, in, &src, pix + s, nat, kpe, flip, wc == 1); /* 1-bit: sum x */
            n8_place_any(nat, col, nblk, s, wc, np);
        }
        const uint8_t *r[4];
        for (int32_t oc = 0; oc < out_c; oc += nc) {
            for (int32_t c = 0; c < nc; c++) r[c] = p->weights + (oc + c < out_c ? oc + c : out_c - 1) * rs;
            tile(r, col, nfull, last, nb, nf, sums + oc, ldo);
        }
        for (int32_t s = 0; s < n; s++) mico_conv_store_pixels(p, sums + s * ldo, tab, t + s, pix + s, 1, fast, out);
    }
    return MICO_OK;
}

/* Short columns (K w_cont < 128 bits: less than one weight block, e.g. pointwise layers of few
 * channels): output channels in the lanes instead. The weights are transposed once per call to
 * int8 rows wt[k][oc] (out_c rounded up to 16); per pixel, each column element x_k is broadcast
 * (DUP) and multiplies the 16-channel vectors of row k: MLA.16B into int8 lanes, folded into int16
 * (SADDW) every 127 / P elements, where P = max |w x| <= 42; else SMLAL into int16 lanes, folded
 * into the int32 sums every 32767 / P elements. Taken where its lanes are fuller than the tiles'. At most 8 vectors of 16 channels (out_c <= 128). */
MICO_INLINE int32_t n8_outer_ok(const mico_conv_params *p) {
    const int32_t kk = p->k_h * p->k_w * p->in_c;
    /* and only where it fills more of its lanes (out_c of out_c rounded up to 16) than the tiles
     * fill theirs (K of K rounded up to a block) */
    return kk * p->w_cont < 128 && p->out_c <= 128 && p->out_h * p->out_w > 1 &&
           p->out_c * n8_kpe(p) > kk * ((p->out_c + 15) & ~15);
}

MICO_INLINE int32_t n8_outer_need(const mico_conv_params *p) {
    const int32_t ocp = (p->out_c + 15) & ~15, kk = p->k_h * p->k_w * p->in_c;
    return 63 + kk * ocp + ((kk + 15) & ~15) + 16 + (int32_t)sizeof(mico_chq) * p->out_c + 4 * ocp +
           p->k_h * nz_ring_len(p);
}

MICO_INLINE void n8_outer_px(const int8_t *wt, const int8_t *x, int32_t kk, int32_t step, int32_t *sums, const int32_t G,
                             const int MLA) {
    const int32_t ocp = 16 * G;
    int16x8_t hl[8], hh[8];
#pragma GCC unroll 8
    for (int32_t g = 0; g < G; g++) hl[g] = hh[g] = vdupq_n_s16(0);
    for (int32_t i = 0; i < ocp; i += 4) vst1q_s32(sums + i, vdupq_n_s32(0));
    for (int32_t k0 = 0; k0 < kk; k0 += step) {
        const int32_t k1 = kk - k0 < step ? kk : k0 + step;
        int8x16_t m[8];
#pragma GCC unroll 8
        for (int32_t g = 0; g < G; g++) m[g] = vdupq_n_s8(0);
        for (int32_t k = k0; k < k1; k++) {
            const int8x16_t xv = vdupq_n_s8(x[k]);
            const int8_t *w = wt + k * ocp;
#pragma GCC unroll 8
            for (int32_t g = 0; g < G; g++) {
                const int8x16_t wv = vld1q_s8(w + 16 * g);
                if (MLA) {
                    m[g] = vmlaq_s8(m[g], wv, xv);
                } else {
                    hl[g] = vmlal_s8(hl[g], vget_low_s8(wv), vget_low_s8(xv));
                    hh[g] = vmlal_high_s8(hh[g], wv, xv);
                }
            }
        }
        /* MLA: chunks of 127 / P elements of at most P a lane; the int16 lanes take 256 of them */
        const int fold = !MLA || k1 == kk || (k1 / step) % 256 == 0;
#pragma GCC unroll 8
        for (int32_t g = 0; g < G; g++) {
            if (MLA) {
                hl[g] = vaddw_s8(hl[g], vget_low_s8(m[g]));
                hh[g] = vaddw_high_s8(hh[g], m[g]);
            }
            if (fold) {
                int32_t *d = sums + 16 * g;
                vst1q_s32(d, vaddw_s16(vld1q_s32(d), vget_low_s16(hl[g])));
                vst1q_s32(d + 4, vaddw_high_s16(vld1q_s32(d + 4), hl[g]));
                vst1q_s32(d + 8, vaddw_s16(vld1q_s32(d + 8), vget_low_s16(hh[g])));
                vst1q_s32(d + 12, vaddw_high_s16(vld1q_s32(d + 12), hh[g]));
                hl[g] = hh[g] = vdupq_n_s16(0);
            }
        }
    }
}

#define N8_OUTER_FN(G)                                                                                     \
    static __attribute__((noinline)) void n8_outer_##G(const int8_t *wt, const int8_t *x, int32_t kk,       \
                                                       int32_t step, int32_t *sums, int mla) {             \
        if (mla) n8_outer_px(wt, x, kk, step, sums, G, 1);                                                  \
        else n8_outer_px(wt, x, kk, step, sums, G, 0);                                                      \
    }
N8_OUTER_FN(1)
N8_OUTER_FN(2)
N8_OUTER_FN(3)
N8_OUTER_FN(4)
N8_OUTER_FN(5)
N8_OUTER_FN(6)
N8_OUTER_FN(7)
N8_OUTER_FN(8)

static mico_status n8_outer(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch) {
    const int32_t out_c = p->out_c, ocp = (out_c + 15) & ~15, G = ocp / 16, kk = p->k_h * p->k_w * p->in_c;
    const int32_t kp = (kk + 15) & ~15, npix = p->out_h * p->out_w;
    int8_t *wt = (int8_t *)(((uintptr_t)scratch + 15u) & ~(uintptr_t)15u);
    int8_t *nat = wt + kk * ocp;
    mico_chq *tab = (mico_chq *)(void *)(nat + kp + 16);
    int32_t *sums = (int32_t *)(void *)(tab + out_c);
    const int flip = p->in_cont == 8 && !p->in_signed;
    const int32_t fast = mico_conv_store_prepare(p, flip ? -128 : 0, tab);
    /* P: the largest |w x| (weights as values here, 1-bit ones +-1) */
    const int32_t pm = n8_pmax(p), mla = 127 / pm >= 3; /* MLA pays from 3 elements a fold */
    const int32_t step = mla ? 127 / pm : 32767 / pm;
    for (int32_t k = 0; k < kk; k++) {
        for (int32_t oc = 0; oc < out_c; oc++) wt[k * ocp + oc] = (int8_t)mico_get_w(p->weights + oc * p->w_row_bytes, k, p->w_cont);
        for (int32_t oc = out_c; oc < ocp; oc++) wt[k * ocp + oc] = 0;
    }
    n8_src src;
    n8_src_init(p, &src, (int8_t *)(void *)(sums + ocp));
    const int32_t t0[1] = {0};
    for (int32_t pix = 0; pix < npix; pix++) {
        n8_column(p, in, &src, pix, nat, kp, flip, 0);
        switch (G) {
            case 1: n8_outer_1(wt, nat, kk, step, sums, mla); break;
            case 2: n8_outer_2(wt, nat, kk, step, sums, mla); break;
            case 3: n8_outer_3(wt, nat, kk, step, sums, mla); break;
            case 4: n8_outer_4(wt, nat, kk, step, sums, mla); break;
            case 5: n8_outer_5(wt, nat, kk, step, sums, mla); break;
            case 6: n8_outer_6(wt, nat, kk, step, sums, mla); break;
            case 7: n8_outer_7(wt, nat, kk, step, sums, mla); break;
            default: n8_outer_8(wt, nat, kk, step, sums, mla); break;
        }
        mico_conv_store_pixels(p, sums, tab, t0, pix, 1, fast, out);
    }
    return MICO_OK;
}

/* Single-channel layers with stride_w 1 (first layers: LeNet-5 5x5, the Fashion-MNIST CNNs' 3x3):
 * output pixels in the lanes. Input rows go into a ring (mico_ring8 / mico_ring16 with the
 * horizontal padding materialised), so the kernel tap (kh, kw) of 16 neighbouring output pixels is
 * one unaligned load at ring[kh] + ow + kw; each tap's weight is broadcast (LD1R) and multiplied:
 * MLA.16B into int8 lanes where 127 / P >= 3 taps fit between folds (P = max |w x| with container
 * maxima, activation containers of at most 4 bits), else SMLAL into int16 lanes, or (8-bit
 * activations) SMLAL / SMLAL2 on two int16 vectors into int32. No im2col; the 16 pixels' sums per
 * channel then go through the shared requantization pass. */
MICO_INLINE int32_t nr_ok(const mico_conv_params *p) {
    return p->groups == 1 && p->in_c == 1 && p->stride_w == 1 && p->k_h <= 16 && p->k_h * p->k_w <= 256 &&
           p->out_w > 1;
}

MICO_INLINE int32_t nr_len(const mico_conv_params *p) { return p->in_w + 2 * p->pad_w + 32; }

MICO_INLINE int32_t nr_need(const mico_conv_params *p) {
    return 64 + 2 * p->k_h * nr_len(p) + p->out_c * (2 * p->k_h * p->k_w + (int32_t)sizeof(mico_chq) + 68);
}

/* One channel's sums for 16 pixels: taps over k_h rows x k_w, weights w (ES-byte elements). */
MICO_INLINE void nr_chan(const void *const *rp, int32_t ow, int32_t kh_n, int32_t kw_n, const void *w, int32_t nb,
                         int32_t *d, const int ES, const int MLA) {
    int32x4_t s0 = vdupq_n_s32(0), s1 = s0, s2 = s0, s3 = s0;
    if (ES == 2) {
        const int16_t *wt = (const int16_t *)w;
        for (int32_t kh = 0; kh < kh_n; kh++) {
            const int16_t *x = (const int16_t *)rp[kh] + ow;
            for (int32_t kw = 0; kw < kw_n; kw++) {
                const int16x8_t wv = vld1q_dup_s16(wt++), a = vld1q_s16(x + kw), b = vld1q_s16(x + kw + 8);
                s0 = vmlal_s16(s0, vget_low_s16(a), vget_low_s16(wv));
                s1 = vmlal_high_s16(s1, a, wv);
                s2 = vmlal_s16(s2, vget_low_s16(b), vget_low_s16(wv));
                s3 = vmlal_high_s16(s3, b, wv);
            }
        }
    } else {
        const int8_t *wt = (const int8_t *)w;
        int16x8_t hl = vdupq_n_s16(0), hh = hl;
        int8x16_t m = vdupq_n_s8(0);
        int32_t n = 0;
        for (int32_t kh = 0; kh < kh_n; kh++) {
            const int8_t *x = (const int8_t *)rp[kh] + ow;
            for (int32_t kw = 0; kw < kw_n; kw++) {
                const int8x16_t wv = vld1q_dup_s8(wt++), xv = vld1q_s8(x + kw);
                if (MLA) {
                    m = vmlaq_s8(m, xv, wv);
                    if (++n == nb) { /* nb taps of at most P = 127 / nb a lane: fold into int16 */
                        hl = vaddw_s8(hl, vget_low_s8(m));
                        hh = vaddw_high_s8(hh, m);
                        m = vdupq_n_s8(0);
                        n = 0;
                    }
                } else {
                    hl = vmlal_s8(hl, vget_low_s8(xv), vget_low_s8(wv));
                    hh = vmlal_high_s8(hh, xv, wv);
                    if (++n == nb) { /* nb taps of at most P = 32767 / nb a lane: fold into int32 */
                        s0 = vaddw_s16(s0, vget_low_s16(hl));
                        s1 = vaddw_high_s16(s1, hl);
                        s2 = vaddw_s16(s2, vget_low_s16(hh));
                        s3 = vaddw_high_s16(s3, hh);
                        hl = hh = vdupq_n_s16(0);
                        n = 0;
                    }
                }
            }
        }
        if (MLA) {
            hl = vaddw_s8(hl, vget_low_s8(m));
            hh = vaddw_high_s8(hh, m);
        }
        s0 = vaddw_s16(s0, vget_low_s16(hl)); /* at most 16 x 16 taps of 127 (MLA) fit int16 */
        s1 = vaddw_high_s16(s1, hl);
        s2 = vaddw_s16(s2, vget_low_s16(hh));
        s3 = vaddw_high_s16(s3, hh);
    }
    vst1q_s32(d, s0);
    vst1q_s32(d + 4, s1);
    vst1q_s32(d + 8, s2);
    vst1q_s32(d + 12, s3);
}

#define NR_CHAN_FN(NAME, ES, MLA)                                                                           \
    static __attribute__((noinline)) void NAME(const void *const *rp, int32_t ow, int32_t kh_n, int32_t kw_n, \
                                               const void *w, int32_t nb, int32_t *d) {                     \
        nr_chan(rp, ow, kh_n, kw_n, w, nb, d, ES, MLA);                                                     \
    }
NR_CHAN_FN(nr_chan16, 2, 0)
NR_CHAN_FN(nr_chan8_mla, 1, 1)
NR_CHAN_FN(nr_chan8_mul, 1, 0)

static mico_status nr_run(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch) {
    const int ES = p->in_cont < 8 ? 1 : 2, kh_n = p->k_h, kw_n = p->k_w, taps = kh_n * kw_n;
    const int32_t out_c = p->out_c, L = nr_len(p);
    uint8_t *ring = (uint8_t *)(((uintptr_t)scratch + 15u) & ~(uintptr_t)15u);
    uint8_t *wt = ring + ((2 * kh_n * L + 15) & ~15);
    mico_chq *tab = (mico_chq *)(void *)(wt + ((2 * out_c * taps + 15) & ~15));
    int32_t *sums = (int32_t *)(void *)(tab + out_c), *px = sums + 16 * out_c;
    const int32_t pm = n8_pmax(p); /* only the int8 lanes (ES 1) use it */
    const int mla = ES == 1 && 127 / pm >= 3;
    const int32_t nb = mla ? 127 / pm : 32767 / pm;
    for (int32_t oc = 0; oc < out_c; oc++)
        for (int32_t t = 0; t < taps; t++) {
            const int32_t v = mico_get_w(p->weights + oc * p->w_row_bytes, t, p->w_cont);
            if (ES == 2) ((int16_t *)(void *)wt)[oc * taps + t] = (int16_t)v;
            else ((int8_t *)wt)[oc * taps + t] = (int8_t)v;
        }
    const int32_t fast = mico_conv_store_prepare(p, 0, tab), t0[1] = {0};
    int32_t slot_row[16];
    const void *rp[16];
    const int16_t *rp16[16];
    const int8_t *rp8[16];
    mico_ring16_reset(slot_row, kh_n);
    for (int32_t oh = 0; oh < p->out_h; oh++) {
        const int32_t ih0 = oh * p->stride_h - p->pad_h;
        if (ES == 2) mico_ring16(p, in, (int16_t *)(void *)ring, L, slot_row, ih0, rp16, p->pad_w, 1, 1);
        else mico_ring8(p, in, (int8_t *)ring, L, slot_row, ih0, rp8, p->pad_w, 1, 1);
        for (int32_t kh = 0; kh < kh_n; kh++) rp[kh] = ES == 2 ? (const void *)rp16[kh] : (const void *)rp8[kh];
        for (int32_t ow = 0; ow < p->out_w; ow += 16) {
            const int32_t n = p->out_w - ow < 16 ? p->out_w - ow : 16;
            for (int32_t oc = 0; oc < out_c; oc++) {
                const void *w = wt + ES * oc * taps;
                if (ES == 2) nr_chan16(rp, ow, kh_n, kw_n, w, nb, sums + 16 * oc);
                else if (mla) nr_chan8_mla(rp, ow, kh_n, kw_n, w, nb, sums + 16 * oc);
                else nr_chan8_mul(rp, ow, kh_n, kw_n, w, nb, sums + 16 * oc);
            }
            for (int32_t i = 0; i < n; i++) {
                for (int32_t oc = 0; oc < out_c; oc++) px[oc] = sums[16 * oc + i];
                mico_conv_store_pixels(p, px, tab, t0, oh * p->out_w + ow + i, 1, fast, out);
            }
        }
    }
    return MICO_OK;
}

static void nz_tile_any(const mico_conv_params *p, const uint8_t *ra, const uint8_t *rb, const int16_t *x0,
                        const int16_t *x1, int32_t kk, int32_t acc[4]) {
    switch (p->w_cont) {
        case 8: nz_tile((const int8_t *)ra, (const int8_t *)rb, x0, x1, kk, acc); break;
        case 4: nz_tile_sub(ra, rb, x0, x1, (kk + 7) & ~7, 4, acc); break;
        case 2: nz_tile_sub(ra, rb, x0, x1, (kk + 15) & ~15, 2, acc); break;
        default: nz_tile_sub(ra, rb, x0, x1, (kk + 31) & ~31, 1, acc); break;
    }
}

/* The int16 path (8-bit activations, or scratch too small for the int8 path): 2 channels x 2
 * pixels a tile; the raw sums of a pixel pair then take the shared requantization pass. */
static mico_status nz_run(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch) {
    const int32_t kk = p->k_h * p->k_w * p->in_c;
    /* sub-byte: the column is zero padded to the row's 4-byte boundary, roundup(K, 32 / c) */
    const int32_t per4 = p->w_cont == 8 ? 8 : 32 / p->w_cont;
    const int32_t kp8 = (kk + per4 - 1) / per4 * per4;
    int16_t *c0 = (int16_t *)(((uintptr_t)scratch + 15u) & ~(uintptr_t)15u);
    int16_t *c1 = c0 + kp8;
    mico_chq *tab = (mico_chq *)(void *)(c1 + kp8 + 8); /* 16 bytes of slack after the columns */
    int32_t *sums = (int32_t *)(void *)(tab + p->out_c);
    const int32_t fast = mico_conv_store_prepare(p, 0, tab), t0[2] = {0, 0};
    const int32_t npix = p->out_h * p->out_w, rs = p->w_row_bytes, out_c = p->out_c;
    /* the ring of converted rows where it fits the scratch */
    int16_t *ring = (int16_t *)(void *)(sums + 2 * out_c);
    const int32_t L0 = nz_ring_len(p);
    const int32_t L = L0 && (uint8_t *)(ring + p->k_h * L0) <= (uint8_t *)scratch + mico_conv_get_buffer_size(p) ? L0 : 0;
    const int32_t kr2 = 2 * p->k_w * p->in_c;
    int32_t slot_row[16], oh_ring = -1;
    const int16_t *rp[16];
    if (L) mico_ring16_reset(slot_row, p->k_h);
    for (int32_t pix = 0; pix < npix; pix += 2) {
        const int two_p = pix + 1 < npix;
        for (int32_t s = 0; s < 1 + two_p; s++) {
            int16_t *cs = s ? c1 : c0;
            const int32_t oh = (pix + s) / p->out_w, ow = (pix + s) % p->out_w;
            if (!L) {
                nz_im2col(p, in, pix + s, cs, kp8);
                continue;
            }
            if (oh != oh_ring) {
                mico_ring16(p, in, ring, L, slot_row, oh * p->stride_h - p->pad_h, rp, p->pad_w * p->in_c, 1, p->in_c);
                oh_ring = oh;
            }
            nz_ring_col((uint8_t *)cs, (const void *const *)rp, p->k_h, 2 * ow * p->stride_w * p->in_c, kr2, 2 * kk,
                        2 * kp8);
        }
        if (p->w_cont < 8) {
            nz_permute(c0, kp8, p->w_cont);
            if (two_p) nz_permute(c1, kp8, p->w_cont);
        }
        const int16_t *x1 = two_p ? c1 : c0;
        for (int32_t oc = 0; oc < out_c; oc += 2) {
            const int two_c = oc + 1 < out_c;
            const uint8_t *ra = p->weights + oc * rs;
            const uint8_t *rb = two_c ? ra + rs : ra;
            int32_t acc[4];
            nz_tile_any(p, ra, rb, c0, x1, kk, acc);
            sums[oc] = acc[0];
            sums[out_c + oc] = acc[1];
            if (two_c) {
                sums[oc + 1] = acc[2];
                sums[out_c + oc + 1] = acc[3];
            }
        }
        mico_conv_store_pixels(p, sums, tab, t0, pix, two_p ? 2 : 1, fast, out);
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
    if (nr_ok(p) && nr_need(p) <= scratch_bytes && nr_need(p) <= mico_conv_get_buffer_size(p))
        return nr_run(p, in, out, scratch);
    /* int8 activations (2/4-bit containers, or 8-bit ones with sub-byte weights: unsigned ones
     * flipped to x - 128, which needs sum w): 4 pixels a tile for convolutions, 1 for linear layers */
    if (p->in_cont < 8 || (p->w_cont < 8 && p->wsum)) {
        if (n8_outer_ok(p) && n8_outer_need(p) <= scratch_bytes && n8_outer_need(p) <= mico_conv_get_buffer_size(p))
            return n8_outer(p, in, out, scratch);
        const int32_t np = p->out_h * p->out_w > 1 ? 4 : 1;
        if (n8_need(p, np) <= scratch_bytes && n8_need(p, np) <= mico_conv_get_buffer_size(p))
            return n8_run(p, in, out, scratch, np);
    }
    return nz_run(p, in, out, scratch);
#else
    return mico_conv_dualmac(p, in, out, scratch, scratch_bytes);
#endif
}
