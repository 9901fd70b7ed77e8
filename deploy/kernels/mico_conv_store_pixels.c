/* Internal: requantize and store the outputs of one or two consecutive output pixels of a GEMM
 * convolution from their raw per-channel sums.
 *
 * Output (pix0 + s, c) gets y = requant(acc[s * out_c + c] + tab[c].b - t[s]) (the contract's
 * requantization, mico_requant). The GEMM kernels store a pixel pair's raw tile sums into acc
 * and call this once per pair, so the tile loops keep only their accumulators live and the
 * requantization runs as one tight loop over channels. mico_conv_store_prepare fills the
 * per-channel table once per call (b = bias - o_x * sum w, and, on the fast path, the
 * multiplier, rounding constant and shift) and says which path applies: an output container of
 * 2, 4 or 8 bits is requantized and packed here (fast = 1 when every shift k > 32, 2 when some
 * shift is <= 32, 3 when all are: those channels take mico_requant_le32 with the table's 2^(k-1),
 * and every channel clamps to [lo, hi]), anything else goes through mico_store_out
 * (int32 / CHW outputs, fast = 0). With every k > 32, mico_requant's exact shortcut
 * y = clamp((hi32(v m) + 2^(k-33)) >> (k-32)) is one SMMLA and one shift (Cortex-M7), sub-byte
 * outputs are packed a whole byte at a time where a pixel's channels start on a byte boundary, and
 * the clamp is one USAT when the bounds are the container's full unsigned range. On Cortex-M7,
 * full-range outputs with fast 1 or 3 take sp_run: every pixel of the call in one pass, packed
 * into 32-bit words.
 */
#include "mico_nn_support.h"

#if defined(__aarch64__) && defined(__ARM_NEON) && !defined(MICO_NO_NEON)
#include <arm_neon.h>
#define SP_NEON 1

/* 4 channels at once (AArch64): clamp((hi32(v m) + rnd) >> (k - 32)), every k > 32; the table
 * entries (b, m, rnd, sh) de-interleaved by one LD4. */
MICO_INLINE int32x4_t sp_q4(const int32_t *a, const mico_chq *t, int32x4_t ts, int32x4_t lo, int32x4_t hi) {
    const int32x4x4_t q = vld4q_s32((const int32_t *)(const void *)t);
    const int32x4_t v = vsubq_s32(vaddq_s32(vld1q_s32(a), q.val[0]), ts);
    const int64x2_t pl = vmull_s32(vget_low_s32(v), vget_low_s32(q.val[1])), ph = vmull_high_s32(v, q.val[1]);
    const int32x4_t h = vshrn_high_n_s64(vshrn_n_s64(pl, 32), ph, 32);
    const int32x4_t y = vshlq_s32(vaddq_s32(h, q.val[2]), vnegq_s32(q.val[3]));
    return vminq_s32(vmaxq_s32(y, lo), hi);
}

/* 4 channels, any shift k (table: sh = k - 32): the contract's clamp((v m + 2^(k-1)) >> k) in 64-bit
 * lanes; SQXTN saturates to int32 before the clamp, so the result is exact for every v m. */
MICO_INLINE int32x4_t sp_q4_any(const int32_t *a, const mico_chq *t, int32x4_t ts, int32x4_t lo, int32x4_t hi) {
    const int32x4x4_t q = vld4q_s32((const int32_t *)(const void *)t);
    const int32x4_t v = vsubq_s32(vaddq_s32(vld1q_s32(a), q.val[0]), ts);
    const int32x4_t k = vaddq_s32(q.val[3], vdupq_n_s32(32));
    const int64x2_t kl = vmovl_s32(vget_low_s32(k)), kh = vmovl_high_s32(k), one = vdupq_n_s64(1);
    int64x2_t pl = vmull_s32(vget_low_s32(v), vget_low_s32(q.val[1])), ph = vmull_high_s32(v, q.val[1]);
    pl = vshlq_s64(vaddq_s64(pl, vshlq_s64(one, vsubq_s64(kl, one))), vnegq_s64(kl));
    ph = vshlq_s64(vaddq_s64(ph, vshlq_s64(one, vsubq_s64(kh, one))), vnegq_s64(kh));
    const int32x4_t y = vqmovn_high_s64(vqmovn_s64(pl), ph);
    return vminq_s32(vmaxq_s32(y, lo), hi);
}

/* Channels c.. of one pixel (starting on a byte of the output), requantized 16 at a time and packed
 * to CB-bit fields with vector shifts, then 4 at a time; returns the next channel (fewer than 4
 * left). */
MICO_INLINE int32_t sp_pixel16(const int32_t *a, const mico_chq *tab, int32_t ts, int32_t c, int32_t oc, int32_t lo,
                               int32_t hi, uint8_t *o, const int32_t CB, const int ANY) {
#define SP_Q4(I) (ANY ? sp_q4_any(a + c + (I), tab + c + (I), tv, lv, hv) : sp_q4(a + c + (I), tab + c + (I), tv, lv, hv))
    const int32x4_t lv = vdupq_n_s32(lo), hv = vdupq_n_s32(hi), tv = vdupq_n_s32(ts);
    for (; c + 16 <= oc; c += 16, o += 2 * CB) {
        const int16x8_t h0 = vcombine_s16(vmovn_s32(SP_Q4(0)), vmovn_s32(SP_Q4(4)));
        const int16x8_t h1 = vcombine_s16(vmovn_s32(SP_Q4(8)), vmovn_s32(SP_Q4(12)));
        uint8x16_t u = vreinterpretq_u8_s8(vcombine_s8(vmovn_s16(h0), vmovn_s16(h1)));
        if (CB == 8) {
            vst1q_u8(o, u);
        } else if (CB == 4) { /* byte j = u[2j] | u[2j+1] << 4 */
            const uint16x8_t w = vreinterpretq_u16_u8(vandq_u8(u, vdupq_n_u8(15)));
            vst1_u8(o, vmovn_u16(vorrq_u16(w, vshrq_n_u16(w, 4))));
        } else { /* byte j = u[4j] | u[4j+1] << 2 | u[4j+2] << 4 | u[4j+3] << 6 */
            uint32x4_t w = vreinterpretq_u32_u8(vandq_u8(u, vdupq_n_u8(3)));
            w = vorrq_u32(w, vshrq_n_u32(w, 6));
            w = vorrq_u32(w, vshrq_n_u32(w, 12));
            const uint8x8_t b = vmovn_u16(vcombine_u16(vmovn_u32(w), vdup_n_u16(0)));
            vst1_lane_u32((uint32_t *)(void *)o, vreinterpret_u32_u8(b), 0);
        }
    }
    for (; c + 4 <= oc; c += 4, o += CB / 2) { /* then 4 at a time */
        const int32x4_t y = SP_Q4(0);
        if (CB == 8) {
            vst1_lane_u32((uint32_t *)(void *)o, vreinterpret_u32_u8(vmovn_u16(vcombine_u16(vreinterpret_u16_s16(vmovn_s32(y)), vdup_n_u16(0)))), 0);
        } else {
            const uint32x4_t f = vandq_u32(vreinterpretq_u32_s32(y), vdupq_n_u32((1u << CB) - 1u));
            const uint32x4_t sh = CB == 4 ? vcombine_u32(vcreate_u32(0x0000000400000000ull), vcreate_u32(0x0000000400000000ull))
                                          : vcombine_u32(vcreate_u32(0x0000000200000000ull), vcreate_u32(0x0000000600000004ull));
            const uint32x4_t g = vshlq_u32(f, vreinterpretq_s32_u32(sh));
            if (CB == 4) {
                const uint32x2_t b = vorr_u32(vget_low_u32(g), vrev64_u32(vget_low_u32(g)));
                const uint32x2_t d = vorr_u32(vget_high_u32(g), vrev64_u32(vget_high_u32(g)));
                o[0] = (uint8_t)vget_lane_u32(b, 0);
                o[1] = (uint8_t)vget_lane_u32(d, 0);
            } else {
                o[0] = (uint8_t)vaddvq_u32(g);
            }
        }
    }
#undef SP_Q4
    return c;
}
#else
#define SP_NEON 0
#endif

int32_t mico_conv_store_prepare(const mico_conv_params *p, int32_t ox, mico_chq *tab) {
    const int32_t fast = p->out_cont == 2 || p->out_cont == 4 || p->out_cont == 8, n = p->out_c;
    const int32_t *bias = p->bias;
    if (ox) {
        for (int32_t c = 0; c < n; c++) tab[c].b = bias[c] - ox * p->wsum[c];
    } else {
        for (int32_t c = 0; c < n; c++) tab[c].b = bias[c];
    }
    if (!fast) return 0;
    int32_t le32 = 0;
    const int32_t *mult = p->mult;
    const int8_t *shift = p->shift;
    for (int32_t c = 0; c < n; c++) {
        const int32_t k = shift[c], s = k - 32;
        le32 += s <= 0;
        tab[c].m = mult[c];
        tab[c].rnd = (int32_t)(1u << (s > 0 ? s - 1 : k - 1));
        tab[c].sh = s;
    }
    return le32 ? (le32 == n ? 3 : 2) : 1;
}

/* hi32(v * m) + r (SMMLA: exact, truncating high word) */
MICO_INLINE int32_t sp_mmla(int32_t v, int32_t m, int32_t r) {
#if MICO_HAVE_DSP
    int32_t y;
    __asm__("smmla %0, %1, %2, %3" : "=r"(y) : "r"(v), "r"(m), "r"(r));
    return y;
#else
    return (int32_t)(((int64_t)v * m) >> 32) + r;
#endif
}

/* hi32(x * m + 2^31) (SMMULR: the rounded high word, exact) */
MICO_INLINE int32_t sp_mmulr(int32_t x, int32_t m) {
#if MICO_HAVE_DSP
    int32_t y;
    __asm__("smmulr %0, %1, %2" : "=r"(y) : "r"(x), "r"(m));
    return y;
#else
    return (int32_t)(((int64_t)x * m + 0x80000000LL) >> 32);
#endif
}

/* y = requant(v) for channel table entry q; FULL: clamp to [0, 2^CB - 1] (USAT); FULL == 2: some
 * shift is <= 32 (low-bit first layers, e.g. LeNet-5's conv1 at W2A2 has k = 32). Such a
 * channel takes one SMMULR when v fits 32 - t bits (t = 32 - k): then
 * floor((v m + 2^(k-1)) / 2^k) = floor((v 2^t m + 2^31) / 2^32) exactly; larger v take the
 * two-word path. Only FULL == 1 guarantees y within the container's unsigned range (sp_f masks
 * the others before packing). */
MICO_INLINE int32_t sp_q(int32_t v, const mico_chq *q, int32_t lo, int32_t hi, const int32_t CB, const int FULL) {
    if (FULL == 2 && q->sh <= 0) {
        const int32_t t = -q->sh, x = (int32_t)((uint32_t)v << t);
        if ((x >> t) != v) return mico_requant_le32(v, q->m, q->sh + 32, (uint32_t)q->rnd, lo, hi);
        const int32_t y = sp_mmulr(x, q->m);
        return y < lo ? lo : y > hi ? hi : y;
    }
    const int32_t y = sp_mmla(v, q->m, q->rnd) >> q->sh;
    if (FULL == 1) {
#if MICO_HAVE_DSP
        int32_t r;
        __asm__("usat %0, %1, %2" : "=r"(r) : "n"(CB), "r"(y));
        return r;
#else
        return y < 0 ? 0 : y > (1 << CB) - 1 ? (1 << CB) - 1 : y;
#endif
    }
    return y < lo ? lo : y > hi ? hi : y;
}

/* The CB-bit field of y for packing: y already in [0, 2^CB - 1] when FULL == 1. */
MICO_INLINE uint32_t sp_f(int32_t y, const int32_t CB, const int FULL) {
    return FULL == 1 ? (uint32_t)y : (uint32_t)y & ((1u << CB) - 1u);
}

#if MICO_HAVE_DSP && defined(__thumb2__) && !SP_NEON
#define SP_LDM 1
#define sp_q1 mico_rq_ldm /* mico_nn_support.h */

/* The same for a channel with shift k <= 32 (table: sh = k - 32, rnd = 2^(k-1)): with t = 32 - k and
 * x = v 2^t, floor((v m + 2^(k-1)) / 2^k) = SMMULR(x, m), exact while x fits 32 bits. A larger
 * |v| (rare: it saturates the output) takes the 64-bit contract path. */
MICO_INLINE uint32_t sp_q3(int32_t a, const mico_chq **q, int32_t ts, const int32_t CB) {
    register int32_t b __asm__("r8"), m __asm__("r9"), r __asm__("r10"), sh __asm__("r11");
    const mico_chq *e = *q;
    __asm__("ldm %[e]!, {r8, r9, r10, r11}" : [e] "+r"(e), "=r"(b), "=r"(m), "=r"(r), "=r"(sh) : "m"(*e));
    *q = e;
    const int32_t v = a + b - ts, t = -sh, x = (int32_t)((uint32_t)v << t);
    if (__builtin_expect((x >> t) != v, 0)) return (uint32_t)mico_requant_le32(v, m, sh + 32, (uint32_t)r, 0, (1 << CB) - 1);
    int32_t y;
    __asm__("smmulr %0, %1, %2\n\tusat %0, %3, %0" : "=&r"(y) : "r"(x), "r"(m), "n"(CB));
    return (uint32_t)y;
}

/* Append the n-bit value v at bit nb of the word w; a full word goes out to *o (unaligned STR). */
MICO_INLINE void sp_put(uint32_t v, uint32_t n, uint32_t *w, uint32_t *nb, uint8_t **o) {
    *w |= v << *nb;
    *nb += n;
    if (*nb == 32) {
        mico_store32(*o, *w);
        *o += 4;
        *w = 0;
        *nb = 0;
    }
}

/* Full-range outputs on Cortex-M7, all npix pixels in one pass: their npix * oc fields are one
 * contiguous run of the output (i0 = pix0 * oc onwards), requantized in order by sp_q1, or sp_q3
 * when every shift is <= 32 (LE; the table pointer restarts
 * at each pixel) and packed into a 32-bit word w that goes out whole (one unaligned STR) when its
 * nb bits reach 32. A pixel whose channels start on a word boundary of w packs 32 / CB fields per
 * word at fixed shifts; the rest of its fields go two at a time when oc is even (every pixel then
 * starts on a multiple of 2 CB bits), else one at a time. The first byte's bits below i0 and the
 * last byte's bits above the run keep their values. */
MICO_INLINE void sp_run(const int32_t *a, const mico_chq *tab, const int32_t *t, int32_t i0, int32_t npix,
                        int32_t oc, void *out, const int32_t CB, const int LE, const int32_t SB) {
#define SP_Q(A) (LE ? sp_q3((A), &q, ts, SB) : sp_q1((A), &q, ts, SB))
    if (CB == 8) { /* a byte per output: one flat loop over the npix oc outputs, the table restarting per pixel */
        uint8_t *o = (uint8_t *)out + i0, *const end = o + npix * oc;
        const mico_chq *q = tab;
        int32_t ts = t[0], c = oc;
        if (!(oc & 1)) { /* two outputs a step */
            while (o < end) {
                o[0] = (uint8_t)SP_Q(a[0]);
                o[1] = (uint8_t)SP_Q(a[1]);
                o += 2;
                a += 2;
                if ((c -= 2) == 0 && o < end) {
                    c = oc;
                    q = tab;
                    ts = *++t;
                }
            }
            return;
        }
        while (o < end) {
            *o++ = (uint8_t)SP_Q(*a++);
            if (--c == 0 && o < end) {
                c = oc;
                q = tab;
                ts = *++t;
            }
        }
        return;
    }
    const int32_t FW = 32 / CB;
    const uint32_t b0 = (uint32_t)i0 * (uint32_t)CB;
    uint8_t *o = (uint8_t *)out + (b0 >> 3);
    uint32_t nb = b0 & 7u, w = nb ? *o & ((1u << nb) - 1u) : 0u;
    for (int32_t s = 0; s < npix; s++) {
        const mico_chq *q = tab;
        const int32_t ts = t[s];
        int32_t c = 0;
        if (nb == 0) {
            for (; c + FW <= oc; c += FW) {
                uint32_t v = 0;
#pragma GCC unroll 16
                for (int32_t j = 0; j < FW; j++) v |= SP_Q(*a++) << (CB * j);
                mico_store32(o, v);
                o += 4;
            }
        }
        if (CB == 8) { /* nb stays 0: the rest byte by byte */
            for (; c < oc; c++) *o++ = (uint8_t)SP_Q(*a++);
            continue;
        }
        if (oc & 1) {
            for (; c < oc; c++) sp_put(SP_Q(*a++), (uint32_t)CB, &w, &nb, &o);
        } else { /* every pixel starts on a multiple of 2 CB bits: two fields at a time */
            for (; c < oc; c += 2) {
                const uint32_t y0 = SP_Q(*a++);
                sp_put(y0 | SP_Q(*a++) << CB, 2u * (uint32_t)CB, &w, &nb, &o);
            }
        }
    }
    for (; nb >= 8; nb -= 8, w >>= 8) *o++ = (uint8_t)w;
    if (nb) *o = (uint8_t)((*o & ~((1u << nb) - 1u)) | w);
#undef SP_Q
}
#else
#define SP_LDM 0
#endif

MICO_INLINE void sp_pixel(const mico_conv_params *p, const int32_t *a, const mico_chq *tab, int32_t ts, int32_t i0,
                          int32_t lo, int32_t hi, void *out, const int32_t CB, const int FULL) {
    const int32_t oc = p->out_c;
    if (CB == 8) {
        uint8_t *o = (uint8_t *)out + i0;
        int32_t c = 0;
#if SP_NEON
        c = sp_pixel16(a, tab, ts, 0, oc, lo, hi, o, 8, FULL == 2);
#endif
        for (; c < oc; c++) o[c] = (uint8_t)sp_q(a[c] + tab[c].b - ts, &tab[c], lo, hi, CB, FULL);
        return;
    }
    /* sub-byte: element by element up to a byte boundary, whole bytes, then the rest */
    const int32_t per = 8 / CB;
    int32_t c = 0;
    for (; c < oc && ((i0 + c) & (per - 1)); c++)
        mico_set((uint8_t *)out, i0 + c, CB, sp_q(a[c] + tab[c].b - ts, &tab[c], lo, hi, CB, FULL));
    uint8_t *o = (uint8_t *)out + ((i0 + c) / per);
#if SP_NEON
    {
        const int32_t c1 = sp_pixel16(a, tab, ts, c, oc, lo, hi, o, CB, FULL == 2);
        o += (c1 - c) / per;
        c = c1;
    }
#endif
    if (FULL == 1 && !SP_NEON) { /* whole bytes: pointers that run on, one requantization after another */
        const int32_t *ap = a + c;
        const mico_chq *q = tab + c;
        for (; c + per <= oc; c += per) {
            uint32_t b = 0;
#pragma GCC unroll 4
            for (int32_t j = 0; j < per; j++, q++) b |= sp_f(sp_q(*ap++ + q->b - ts, q, lo, hi, CB, 1), CB, 1) << (CB * j);
            *o++ = (uint8_t)b;
        }
    } else if (CB == 4) {
        for (; c + 2 <= oc; c += 2)
            *o++ = (uint8_t)(sp_f(sp_q(a[c] + tab[c].b - ts, &tab[c], lo, hi, CB, FULL), CB, FULL) |
                             (sp_f(sp_q(a[c + 1] + tab[c + 1].b - ts, &tab[c + 1], lo, hi, CB, FULL), CB, FULL) << 4));
    } else {
        for (; c + 4 <= oc; c += 4) {
            uint32_t b = sp_f(sp_q(a[c] + tab[c].b - ts, &tab[c], lo, hi, CB, FULL), CB, FULL);
            b |= sp_f(sp_q(a[c + 1] + tab[c + 1].b - ts, &tab[c + 1], lo, hi, CB, FULL), CB, FULL) << 2;
            b |= sp_f(sp_q(a[c + 2] + tab[c + 2].b - ts, &tab[c + 2], lo, hi, CB, FULL), CB, FULL) << 4;
            b |= sp_f(sp_q(a[c + 3] + tab[c + 3].b - ts, &tab[c + 3], lo, hi, CB, FULL), CB, FULL) << 6;
            *o++ = (uint8_t)b;
        }
    }
    for (; c < oc; c++) mico_set((uint8_t *)out, i0 + c, CB, sp_q(a[c] + tab[c].b - ts, &tab[c], lo, hi, CB, FULL));
}

void mico_conv_store_pixels(const mico_conv_params *p, const int32_t *acc, const mico_chq *tab, const int32_t *t,
                            int32_t pix0, int32_t npix, int32_t fast, void *out) {
    const int32_t oc = p->out_c;
    if (!fast) {
        for (int32_t s = 0; s < npix; s++)
            for (int32_t c = 0; c < oc; c++) mico_store_out(p, out, pix0 + s, c, acc[s * oc + c] + tab[c].b - t[s]);
        return;
    }
    const int32_t lo = p->out_lo, hi = p->out_hi, cb = p->out_cont;
#if SP_LDM
    if (fast != 2 && lo == 0 && hi == (1 << cb) - 1) {
        const int32_t i0 = pix0 * oc;
        if (fast == 3) {
            if (cb == 8) sp_run(acc, tab, t, i0, npix, oc, out, 8, 1, 8);
            else if (cb == 4) sp_run(acc, tab, t, i0, npix, oc, out, 4, 1, 4);
            else sp_run(acc, tab, t, i0, npix, oc, out, 2, 1, 2);
        } else {
            if (cb == 8) sp_run(acc, tab, t, i0, npix, oc, out, 8, 0, 8);
            else if (cb == 4) sp_run(acc, tab, t, i0, npix, oc, out, 4, 0, 4);
            else sp_run(acc, tab, t, i0, npix, oc, out, 2, 0, 2);
        }
        return;
    }
    /* a byte per element clamped to a 2- or 4-bit range (the map of a conv with fused pooling) */
    if (fast != 2 && cb == 8 && lo == 0 && (hi == 3 || hi == 15)) {
        const int32_t i0 = pix0 * oc;
        if (fast == 3) {
            if (hi == 3) sp_run(acc, tab, t, i0, npix, oc, out, 8, 1, 2);
            else sp_run(acc, tab, t, i0, npix, oc, out, 8, 1, 4);
        } else {
            if (hi == 3) sp_run(acc, tab, t, i0, npix, oc, out, 8, 0, 2);
            else sp_run(acc, tab, t, i0, npix, oc, out, 8, 0, 4);
        }
        return;
    }
#endif
    const int full = fast >= 2 ? 2 : lo == 0 && hi == (1 << cb) - 1;
    for (int32_t s = 0; s < npix; s++) {
        const int32_t *a = acc + s * oc;
        const int32_t ts = t[s], i0 = (pix0 + s) * oc;
        if (cb == 8) {
            if (full == 1) sp_pixel(p, a, tab, ts, i0, lo, hi, out, 8, 1);
            else if (full == 2) sp_pixel(p, a, tab, ts, i0, lo, hi, out, 8, 2);
            else sp_pixel(p, a, tab, ts, i0, lo, hi, out, 8, 0);
        } else if (cb == 4) {
            if (full == 1) sp_pixel(p, a, tab, ts, i0, lo, hi, out, 4, 1);
            else if (full == 2) sp_pixel(p, a, tab, ts, i0, lo, hi, out, 4, 2);
            else sp_pixel(p, a, tab, ts, i0, lo, hi, out, 4, 0);
        } else {
            if (full == 1) sp_pixel(p, a, tab, ts, i0, lo, hi, out, 2, 1);
            else if (full == 2) sp_pixel(p, a, tab, ts, i0, lo, hi, out, 2, 2);
            else sp_pixel(p, a, tab, ts, i0, lo, hi, out, 2, 0);
        }
    }
}
