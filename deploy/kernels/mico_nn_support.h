/* Internal helpers of the MiCo kernels (not part of the public interface). */
#ifndef MICO_NN_SUPPORT_H
#define MICO_NN_SUPPORT_H

#include <stdint.h>
#include <string.h>

#include "mico_nn.h"

#if defined(__ARM_FEATURE_DSP) && !defined(MICO_NO_DSP)
#include <arm_acle.h>
#define MICO_HAVE_DSP 1
#else
#define MICO_HAVE_DSP 0
#endif

#define MICO_INLINE static inline __attribute__((always_inline))

/* The receptive field of output pixel `pix` as one contiguous packed stream of in_cont-bit fields
 * (mico_gather.c): elements outside the image are 0, elements K..n_out-1 are `tail`. */
void mico_gather_field(const mico_conv_params *p, const uint8_t *in, int32_t pix, uint32_t *dst, int32_t n_out,
                       uint32_t tail);

/* Raw per-channel sums of 1 or 2 pixels -> requantized outputs (mico_conv_store_pixels.c):
 * the per-channel table is filled once per call by mico_conv_store_prepare. */
typedef struct {
    int32_t b, m, rnd, sh; /* bias - o_x sum w; multiplier, rounding constant (2^(k-33) for k > 32, else 2^(k-1)), k - 32 */
} mico_chq;
int32_t mico_conv_store_prepare(const mico_conv_params *p, int32_t ox, mico_chq *tab);

/* One output of the requantization pass's common case (every shift k > 32, output clamped to
 * [0, 2^CB - 1]): y = clamp((hi32((a + b - ts) m) + 2^(k-33)) >> (k-32)), exactly mico_requant, with
 * the table entry {b, m, rnd, sh} of *q (post-incremented). On Cortex-M7 the entry comes in one LDM
 * (fixed registers, as LDM lists them in ascending order), then ADD, SUB, SMMLA, ASR and USAT. */
MICO_INLINE uint32_t mico_rq_ldm(int32_t a, const mico_chq **q, int32_t ts, const int32_t CB) {
#if MICO_HAVE_DSP && defined(__thumb2__)
    register int32_t b __asm__("r8"), m __asm__("r9"), r __asm__("r10"), sh __asm__("r11");
    const mico_chq *e = *q;
    __asm__("ldm %[e]!, {r8, r9, r10, r11}" : [e] "+r"(e), "=r"(b), "=r"(m), "=r"(r), "=r"(sh) : "m"(*e));
    *q = e;
    int32_t y;
    if (__builtin_constant_p(ts) && ts == 0) /* no per-pixel shift (already in the table's b) */
        __asm__("add %0, %1, %2\n\tsmmla %0, %0, %3, %4\n\tasr %0, %0, %5\n\tusat %0, %6, %0"
                : "=&r"(y)
                : "r"(a), "r"(b), "r"(m), "r"(r), "r"(sh), "n"(CB));
    else
        __asm__("add %0, %1, %2\n\tsub %0, %0, %3\n\tsmmla %0, %0, %4, %5\n\tasr %0, %0, %6\n\tusat %0, %7, %0"
                : "=&r"(y)
                : "r"(a), "r"(b), "r"(ts), "r"(m), "r"(r), "r"(sh), "n"(CB));
    return (uint32_t)y;
#else
    const mico_chq *e = (*q)++;
    const int32_t v = (int32_t)((uint32_t)a + (uint32_t)e->b - (uint32_t)ts);
    const int32_t y = ((int32_t)(((int64_t)v * e->m) >> 32) + e->rnd) >> e->sh;
    return (uint32_t)(y < 0 ? 0 : y > (1 << CB) - 1 ? (1 << CB) - 1 : y);
#endif
}
void mico_conv_store_pixels(const mico_conv_params *p, const int32_t *acc, const mico_chq *tab, const int32_t *t,
                            int32_t pix0, int32_t npix, int32_t fast, void *out);

/* Fused pooling's pass (mico_maxpool.c): in8 holds the conv's requantized out_h x out_w x out_c map a
 * byte per element (int8 when out_signed); out gets its pool_h x pool_w maxima at out_cont. */
void mico_pool_bytes(const mico_conv_params *p, const uint8_t *in8, uint8_t *out);

/* Scratch layout of the groups == 1 GEMM kernels (bytes from the 4-byte aligned start): the
 * column buffer (at most 2 pixels x K rounded up to 32, int16), the gathered field of one pixel
 * (at most K rounded up to 32 bytes, plus slack), then the out_c-entry mico_chq table and
 * 2 x out_c int32 raw sums; mico_conv_get_buffer_size adds it up. */
MICO_INLINE int32_t mico_stream_offset(const mico_conv_params *p) {
    return 4 * ((p->k_h * p->k_w * p->in_c + 31) / 32 * 32);
}

MICO_INLINE int32_t mico_sums_offset(const mico_conv_params *p) {
    return 5 * ((p->k_h * p->k_w * p->in_c + 31) / 32 * 32) + 8;
}

/* Then a ring of k_h converted input rows: k_h row tags (the input row a slot holds, -1 for none),
 * then k_h slots of in_w pixels x tw words (tw <= in_c / 2: a kernel's column words of one tap)
 * followed by in_w + 1 prefix sums of the pixels' activations. A kernel whose im2col converts
 * whole words converts each input row once into the slot ih % k_h and copies the converted words
 * into the columns of every pixel that reads them (one run per kernel row where the pixel's
 * window lies inside the row), instead of converting them once per tap. It pays when a pixel is
 * read more than once on average (k_h k_w > stride_h stride_w); the k_h rows of one output
 * pixel fall into distinct slots. */
MICO_INLINE int32_t mico_ring_offset(const mico_conv_params *p) { return mico_sums_offset(p) + 24 * p->out_c; }

MICO_INLINE int mico_ring_pays(const mico_conv_params *p) { return p->k_h * p->k_w > p->stride_h * p->stride_w; }

MICO_INLINE int32_t *mico_ring_reset(const mico_conv_params *p, void *col) {
    int32_t *ring = (int32_t *)(void *)((uint8_t *)col + mico_ring_offset(p));
    for (int32_t i = 0; i < p->k_h; i++) ring[i] = -1;
    return ring;
}

/* The slot of input row ih (tw words a pixel, then the in_w + 1 prefix sums); *fill = 1 when the
 * caller must convert the row into it first. */
MICO_INLINE uint32_t *mico_ring_row(const mico_conv_params *p, int32_t *ring, int32_t ih, int32_t tw, int *fill) {
    const int32_t slot = ih % p->k_h;
    *fill = ring[slot] != ih;
    ring[slot] = ih;
    return (uint32_t *)(void *)(ring + p->k_h) + slot * (p->in_w * (tw + 1) + 1);
}

/* Converted words (n, even) from the row ring into one pixel slot of a two-pixel column:
 * PAIRS 0: dst[2 i] = src[i] (the pixels alternate every word, poly and sub-byte dual-MAC);
 * PAIRS 1: dst[4 i + j] = src[2 i + j], j < 2 (they alternate every two words, 8-bit weights). */
MICO_INLINE void mico_copy_slot(uint32_t *dst, const uint32_t *src, int32_t n, const int PAIRS) {
#if defined(__thumb2__)
    if (n & 2) {
        const uint32_t a = src[0], b = src[1];
        dst[0] = a;
        dst[PAIRS ? 1 : 2] = b;
        src += 2;
        dst += 4;
    }
    n &= ~3;
    if (n > 0) {
        uint32_t a, b, c, d;
#define MICO_COPY_OPS                                                                                        \
    : [s] "+r"(src), [o] "+r"(dst), [n] "+r"(n), [a] "=&r"(a), [b] "=&r"(b), [c] "=&r"(c), [d] "=&r"(d) \
    :                                                                                                    \
    : "cc", "memory"
        if (PAIRS)
            __asm__ volatile("1:\n\tldrd %[a], %[b], [%[s]], #8\n\tldrd %[c], %[d], [%[s]], #8\n\t"
                             "strd %[a], %[b], [%[o]], #16\n\tstrd %[c], %[d], [%[o]], #16\n\t"
                             "subs %[n], #4\n\tbne 1b\n\t" MICO_COPY_OPS);
        else
            __asm__ volatile("1:\n\tldrd %[a], %[b], [%[s]], #8\n\tldrd %[c], %[d], [%[s]], #8\n\t"
                             "str %[a], [%[o]], #8\n\tstr %[b], [%[o]], #8\n\tstr %[c], [%[o]], #8\n\t"
                             "str %[d], [%[o]], #8\n\tsubs %[n], #4\n\tbne 1b\n\t" MICO_COPY_OPS);
#undef MICO_COPY_OPS
    }
#else
    for (int32_t i = 0; i < n; i += 2) {
        const uint32_t a = src[i], b = src[i + 1];
        dst[2 * i] = a;
        dst[PAIRS ? 2 * i + 1 : 2 * i + 2] = b;
    }
#endif
}

/* The ring slot of input row IH (inside the image) into ROW and its in_w + 1 prefix sums into PSUM
 * (const uint32_t *); a row entering the ring is converted first (CONV as in MICO_RING_TAPS). */
#define MICO_RING_GET(P, RING, IH, TW, CONV, ROW, PSUM)                                                        \
    do {                                                                                                     \
        int fill_;                                                                                           \
        uint32_t *r_ = mico_ring_row((P), (RING), (IH), (TW), &fill_);                                        \
        uint32_t *ps_ = r_ + (P)->in_w * (TW);                                                               \
        if (fill_) { /* convert the row once; prefix sums of its pixels' sums after its words */              \
            uint32_t acc_ = 0;                                                                               \
            ps_[0] = 0;                                                                                      \
            for (int32_t iw_ = 0; iw_ < (P)->in_w; iw_++) {                                                  \
                acc_ += (uint32_t)(CONV(((IH) * (P)->in_w + iw_) * (P)->in_c, r_ + iw_ * (TW), 1));          \
                ps_[iw_ + 1] = acc_;                                                                         \
            }                                                                                                \
        }                                                                                                    \
        (ROW) = r_;                                                                                          \
        (PSUM) = ps_;                                                                                        \
    } while (0)

/* The column of one output pixel, tap by tap, for kernels that convert a pixel's c = in_c channels
 * into tw whole words (poly, long): into slot words DST[0], DST[2], ... (two pixels interleaved),
 * from the row ring RING (mico_ring_row; 0: each tap converted straight from the input). A row
 * entering the ring is converted once, with the prefix sums of its pixels' sums after its words;
 * a window row inside the image (stride_w 1) is one run of k_w tw words; taps outside the image
 * get the words OPAT and the sum OSUM. CONV(E0, D, DS) converts the pixel whose channels start at
 * element E0 of the input into D[0], D[DS], ... and evaluates to their sum. Adds the pixel's sum to
 * SUM (int32_t). */
#define MICO_RING_TAPS(P, PIX, DST, TW, RING, OPAT, OSUM, SUM, CONV)                                          \
    do {                                                                                                     \
        const int32_t oh_ = (PIX) / (P)->out_w, ow_ = (PIX) % (P)->out_w, tw_ = (TW);                          \
        uint32_t *d_ = (DST);                                                                                \
        for (int32_t kh_ = 0; kh_ < (P)->k_h; kh_++) {                                                        \
            const int32_t ih_ = oh_ * (P)->stride_h - (P)->pad_h + kh_;                                       \
            const int rowin_ = ih_ >= 0 && ih_ < (P)->in_h;                                                   \
            const int32_t iw0_ = ow_ * (P)->stride_w - (P)->pad_w;                                            \
            const uint32_t *row_ = 0, *psum_ = 0;                                                            \
            if ((RING) && rowin_) {                                                                          \
                MICO_RING_GET(P, RING, ih_, tw_, CONV, row_, psum_);                                         \
                if ((P)->stride_w == 1 && iw0_ >= 0 && iw0_ + (P)->k_w <= (P)->in_w) { /* one run */       \
                    const int32_t n_ = (P)->k_w * tw_;                                                       \
                    mico_copy_slot(d_, row_ + iw0_ * tw_, n_ & ~1, 0);                                       \
                    if (n_ & 1) d_[2 * (n_ - 1)] = row_[iw0_ * tw_ + n_ - 1];                                \
                    (SUM) += (int32_t)(psum_[iw0_ + (P)->k_w] - psum_[iw0_]);                                \
                    d_ += 2 * n_;                                                                            \
                    continue;                                                                                \
                }                                                                                            \
            }                                                                                                \
            for (int32_t kw_ = 0; kw_ < (P)->k_w; kw_++, d_ += 2 * tw_) {                                     \
                const int32_t iw_ = iw0_ + kw_;                                                              \
                if (!rowin_ || iw_ < 0 || iw_ >= (P)->in_w) {                                                \
                    for (int32_t i_ = 0; i_ < tw_; i_++) d_[2 * i_] = (OPAT);                                \
                    (SUM) += (int32_t)(OSUM);                                                                \
                } else if (row_) {                                                                           \
                    for (int32_t i_ = 0; i_ < tw_; i_++) d_[2 * i_] = row_[iw_ * tw_ + i_];                  \
                    (SUM) += (int32_t)(psum_[iw_ + 1] - psum_[iw_]);                                         \
                } else {                                                                                     \
                    (SUM) += (int32_t)(CONV((ih_ * (P)->in_w + iw_) * (P)->in_c, d_, 2));                     \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
    } while (0)

/* Field packing (the poly and long kernels): a multiply of two words of F fields of spacing S
 * bits, one in reversed order, holds an F-term dot product in bits D = (F-1) S .. D+S-1. The
 * largest number n of accumulated multiplies whose dot field stays exact when every product is
 * at most P: n F P <= 2^S - 1 (the dot field does not overflow) and
 * n P sum_{j<F-1} (j+1) 2^(j S) <= 2^D - 1 (the lower fields never carry into bit D). */
MICO_INLINE int32_t mico_field_steps(int32_t F, int32_t S, uint32_t P) {
    const uint64_t D = (uint64_t)(F - 1) * (uint64_t)S;
    uint64_t lower = 0;
    for (int32_t j = 0; j < F - 1; j++) lower += (uint64_t)(j + 1) << (j * S);
    int64_t n = (int64_t)(((1u << S) - 1u) / ((uint32_t)F * P));
    while (n > 0 && (uint64_t)n * P * lower > ((uint64_t)1 << D) - 1u) n--;
    return (int32_t)n;
}

/* Element i of a packed stream of `cont`-bit fields (2, 4, 8). */
MICO_INLINE int32_t mico_get(const uint8_t *buf, int32_t i, int32_t cont, int32_t is_signed) {
    if (cont == 8) return is_signed ? (int32_t)(int8_t)buf[i] : (int32_t)buf[i];
    if (cont == 4) {
        uint32_t v = (buf[i >> 1] >> ((i & 1) << 2)) & 0xFu;
        return is_signed ? (int32_t)((v ^ 8u)) - 8 : (int32_t)v;
    }
    uint32_t v = (buf[i >> 2] >> ((i & 3) << 1)) & 0x3u;
    return is_signed ? (int32_t)((v ^ 2u)) - 2 : (int32_t)v;
}

/* Weight element i of a packed row (container 1, 2, 4, 8); 1-bit: bit 1 = +1, bit 0 = -1. */
MICO_INLINE int32_t mico_get_w(const uint8_t *row, int32_t i, int32_t cont) {
    if (cont == 1) return ((row[i >> 3] >> (i & 7)) & 1u) ? 1 : -1;
    return mico_get(row, i, cont, 1);
}

/* Widen n_px input pixels of c = in_c channels, starting at element e0 of `in`, to int16 (ES 2) or
 * int8 (ES 1, activation containers of at most 4 bits): channel ch of pixel i goes to d[ch * ch_stride + i * px_stride] (the depthwise kernel's channel-major
 * rows, or a contiguous run with ch_stride 1 and px_stride c). Sub-byte containers are read a
 * byte at a time and split with shifts (little-endian within a byte, as deploy packs them) when
 * every pixel starts on a byte (4-bit with even c, 2-bit with c a multiple of 4) or the run is
 * contiguous and starts on a byte; the rest reads mico_get per element. Activations use 2/4/8-bit
 * containers. */
MICO_INLINE int16_t mico_widen_one(uint32_t b, const int32_t CA, const int32_t SG) {
    return (int16_t)(SG ? (int32_t)(b << (32 - CA)) >> (32 - CA) : (int32_t)(b & ((1u << CA) - 1u)));
}

/* the loops of mico_widen_t for output elements of type T */
#define MICO_WIDEN_LOOPS(T)                                                                        \
    do {                                                                                           \
        T *d = (T *)dv;                                                                            \
        if (ch_stride == 1 && px_stride == c) { /* one contiguous run of n_px * c elements */     \
            const int32_t n = n_px * c;                                                            \
            int32_t i = 0;                                                                         \
            for (; i + per <= n; i += per, s++) {                                                  \
                uint32_t b = *s;                                                                   \
                for (int32_t j = 0; j < per; j++, b >>= CA) *d++ = (T)mico_widen_one(b, CA, SG);   \
            }                                                                                      \
            for (uint32_t b = i < n ? *s : 0u; i < n; i++, b >>= CA) *d++ = (T)mico_widen_one(b, CA, SG); \
            return;                                                                                \
        }                                                                                          \
        for (int32_t i = 0; i < n_px; i++, d += px_stride) {                                       \
            T *q = d;                                                                              \
            for (int32_t ch = 0; ch < c; ch += per, s++) {                                         \
                uint32_t b = *s;                                                                   \
                if (per == 1) {                                                                    \
                    *q = (T)mico_widen_one(b, CA, SG);                                             \
                    q += ch_stride;                                                                \
                    continue;                                                                      \
                }                                                                                  \
                _Pragma("GCC unroll 8")                                                            \
                for (int32_t j = 0; j < per; j++, b >>= CA, q += ch_stride) *q = (T)mico_widen_one(b, CA, SG); \
            }                                                                                      \
        }                                                                                          \
    } while (0)

MICO_INLINE void mico_widen_t(const uint8_t *s, int32_t n_px, int32_t c, void *dv, int32_t ch_stride,
                              int32_t px_stride, const int32_t CA, const int32_t SG, const int ES) {
    const int32_t per = 8 / CA;
    if (ES == 2) MICO_WIDEN_LOOPS(int16_t);
    else MICO_WIDEN_LOOPS(int8_t);
}
#undef MICO_WIDEN_LOOPS

MICO_INLINE void mico_widen(const mico_conv_params *p, const uint8_t *in, int32_t e0, int32_t n_px, void *d,
                            int32_t ch_stride, int32_t px_stride, const int ES) {
    const int32_t c = p->in_c, ca = p->in_cont, per = 8 / ca, sg = p->in_signed;
    if (e0 % per == 0 && (c % per == 0 || (ch_stride == 1 && px_stride == c))) {
        const uint8_t *s = in + e0 / per;
#define MICO_WIDEN(CA)                                                                  \
        if (ca == (CA)) {                                                               \
            if (sg) mico_widen_t(s, n_px, c, d, ch_stride, px_stride, CA, 1, ES);       \
            else mico_widen_t(s, n_px, c, d, ch_stride, px_stride, CA, 0, ES);          \
            return;                                                                     \
        }
        MICO_WIDEN(8)
        MICO_WIDEN(4)
        MICO_WIDEN(2)
#undef MICO_WIDEN
    }
    int16_t *d16 = (int16_t *)d;
    int8_t *d8 = (int8_t *)d;
    for (int32_t i = 0; i < n_px; i++, d16 += px_stride, d8 += px_stride)
        for (int32_t ch = 0; ch < c; ch++) {
            const int32_t v = mico_get(in, e0 + i * c + ch, ca, sg);
            if (ES == 2) d16[ch * ch_stride] = (int16_t)v;
            else d8[ch * ch_stride] = (int8_t)v;
        }
}

/* A ring of k_h widened input rows (the depthwise and first-layer kernels): slot = row mod k_h,
 * slot_row[slot] the input row it holds (mico_ring16_reset: none). After mico_ring16, rp[kh] is
 * the slot of input row ih0 + kh for every kh < k_h. A row entering the ring is zeroed (len
 * int16: the horizontal padding, any slack and rows outside the image stay 0) and its in_w pixels
 * are widened (mico_widen) at first with the caller's channel / pixel strides. */
MICO_INLINE void mico_ring16_reset(int32_t *slot_row, int32_t k_h) {
    for (int32_t i = 0; i < k_h; i++) slot_row[i] = INT32_MIN;
}

/* the body of mico_ring16 / mico_ring8 for ring elements of type T (ES bytes) */
#define MICO_RING_BODY(T, ES)                                                                                  \
    do {                                                                                                     \
        const int32_t kh_n = p->k_h;                                                                         \
        for (int32_t kh = 0; kh < kh_n; kh++) {                                                              \
            const int32_t ih = ih0 + kh, slot = ((ih % kh_n) + kh_n) % kh_n;                                 \
            T *r = ring + slot * len;                                                                        \
            rp[kh] = r;                                                                                      \
            if (slot_row[slot] == ih) continue;                                                              \
            slot_row[slot] = ih;                                                                             \
            memset(r, 0, (size_t)len * (ES));                                                                \
            if (ih >= 0 && ih < p->in_h)                                                                     \
                mico_widen(p, in, ih * p->in_w * p->in_c, p->in_w, r + first, ch_stride, px_stride, (ES));   \
        }                                                                                                    \
    } while (0)

MICO_INLINE void mico_ring16(const mico_conv_params *p, const uint8_t *in, int16_t *ring, int32_t len, int32_t *slot_row,
                             int32_t ih0, const int16_t **rp, int32_t first, int32_t ch_stride, int32_t px_stride) {
    MICO_RING_BODY(int16_t, 2);
}

/* The same ring of int8 rows (activation containers of at most 4 bits; len int8). */
MICO_INLINE void mico_ring8(const mico_conv_params *p, const uint8_t *in, int8_t *ring, int32_t len, int32_t *slot_row,
                            int32_t ih0, const int8_t **rp, int32_t first, int32_t ch_stride, int32_t px_stride) {
    MICO_RING_BODY(int8_t, 1);
}
#undef MICO_RING_BODY

/* Store v (already in range) as element i of a packed stream; other fields are kept. */
MICO_INLINE void mico_set(uint8_t *buf, int32_t i, int32_t cont, int32_t v) {
    if (cont == 8) {
        buf[i] = (uint8_t)v;
        return;
    }
    uint32_t per_shift = cont == 4 ? 1u : 2u;
    uint32_t sh = ((uint32_t)i & ((1u << per_shift) - 1u)) * (uint32_t)cont;
    uint32_t mask = ((1u << cont) - 1u) << sh;
    uint8_t *b = &buf[i >> per_shift];
    *b = (uint8_t)((*b & ~mask) | (((uint32_t)v << sh) & mask));
}

/* clamp(H >> k, lo, hi) for a 64-bit H (the rounding constant already added), 1 <= k <= 62. With
 * H = h 2^32 + l (l unsigned): for k <= 32, H >> k = h 2^(32-k) + (l >> k), which fits in 32 bits
 * exactly when h >> (k-1) is 0 or -1 (otherwise it lies beyond any int32 bound); for k > 32 it is
 * h >> (k-32) (l < 2^32 never reaches bit k). Word shifts instead of a 64-bit shift (Cortex-M has
 * no 64-bit shifter). */
MICO_INLINE int32_t mico_shift_clamp64(int64_t H, int32_t k, int32_t lo, int32_t hi) {
#if UINTPTR_MAX > 0xFFFFFFFFu && !defined(MICO_REQUANT_WORDS)
    /* 64-bit machines (Cortex-A53, host) shift the 64-bit word in one instruction (the host tests
     * build with MICO_REQUANT_WORDS too, to check the 32-bit path) */
    const int64_t w = H >> k;
    return w < lo ? lo : w > hi ? hi : (int32_t)w;
#endif
    const int32_t h = (int32_t)(H >> 32);
    if (k > 32) {
        const int32_t v = h >> (k - 32);
        return v < lo ? lo : v > hi ? hi : v;
    }
    const uint32_t l = (uint32_t)H;
    const int32_t top = h >> (k - 1);
    if (top != 0 && top != -1) return top < 0 ? lo : hi;
    const int32_t v = (int32_t)(((uint32_t)h << (32 - k)) | ((l >> (k - 1)) >> 1));
    return v < lo ? lo : v > hi ? hi : v;
}

/* The contract's requantization for a shift k <= 32, r = 2^(k-1) (as an unsigned word). */
MICO_INLINE int32_t mico_requant_le32(int32_t acc, int32_t m, int32_t k, uint32_t r, int32_t lo, int32_t hi) {
    return mico_shift_clamp64((int64_t)acc * m + r, k, lo, hi);
}

/* The contract's requantization: clamp((acc * m + 2^(k-1)) >> k, lo, hi), 64-bit product. */
MICO_INLINE int32_t mico_requant(int32_t acc, int32_t m, int32_t k, int32_t lo, int32_t hi) {
    if (k > 32) {
        /* exact shortcut: the rounding constant only touches the high word, and the low word is
         * shifted out entirely: floor((h 2^32 + l + 2^(k-1)) / 2^k) = (h + 2^(k-33)) >> (k-32) */
        const int32_t h = (int32_t)(((int64_t)acc * m) >> 32);
        const int32_t v = (h + (int32_t)(1u << (k - 33))) >> (k - 32);
        return v < lo ? lo : v > hi ? hi : v;
    }
    return mico_requant_le32(acc, m, k, 1u << (k - 1), lo, hi);
}

/* Fused max pooling (mico_nn.h pool_h / pool_w; mico_conv.c runs it). */
MICO_INLINE int mico_pooled(const mico_conv_params *p) { return p->pool_h > 1 || p->pool_w > 1; }

/* Pooled with a requantized output: mico_conv runs the kernel into a byte per element, then pools. */
MICO_INLINE int mico_pooled_out(const mico_conv_params *p) { return mico_pooled(p) && p->out_cont != 32; }

/* Store a conv result: int32 accumulators or requantized packed values. */
MICO_INLINE void mico_store_out(const mico_conv_params *p, void *out, int32_t pix, int32_t oc, int32_t acc) {
    if (p->out_cont == 32) {
        int32_t idx = p->out_chw ? oc * (p->out_h * p->out_w) + pix : pix * p->out_c + oc;
        ((int32_t *)out)[idx] = acc;
    } else {
        int32_t y = mico_requant(acc, p->mult[oc], p->shift[oc], p->out_lo, p->out_hi);
        mico_set((uint8_t *)out, pix * p->out_c + oc, p->out_cont, y);
    }
}

/* Per-channel requantization constants hoisted out of a kernel's pixel loop: the common case
 * (8-bit output container, shift k > 32) is y = clamp((hi32(acc * m) + 2^(k-33)) >> (k-32)),
 * exactly mico_requant; anything else goes through mico_store_out. */
typedef struct {
    int32_t m, rnd, sh, fast8;
} mico_rq;

MICO_INLINE mico_rq mico_rq_init(const mico_conv_params *p, int32_t oc) {
    mico_rq q = {0, 0, 0, 0};
    if (p->out_cont == 8 && p->shift[oc] > 32) {
        q.fast8 = 1;
        q.m = p->mult[oc];
        q.sh = p->shift[oc] - 32;
        q.rnd = (int32_t)(1u << (p->shift[oc] - 33));
    }
    return q;
}

MICO_INLINE void mico_rq_store(const mico_conv_params *p, void *out, int32_t pix, int32_t oc, int32_t acc,
                               const mico_rq *q) {
    if (q->fast8) {
        const int32_t h = (int32_t)(((int64_t)acc * q->m) >> 32);
        int32_t v = (h + q->rnd) >> q->sh;
        v = v < p->out_lo ? p->out_lo : v > p->out_hi ? p->out_hi : v;
        ((uint8_t *)out)[pix * p->out_c + oc] = (uint8_t)v;
    } else {
        mico_store_out(p, out, pix, oc, acc);
    }
}

/* 16-bit dual multiply-accumulate: acc + lo(x)*lo(y) + hi(x)*hi(y) (SMLAD), wrapping. */
MICO_INLINE int32_t mico_smlad(uint32_t x, uint32_t y, int32_t acc) {
#if MICO_HAVE_DSP
    return __smlad(x, y, acc);
#else
    int32_t lo = (int32_t)(int16_t)(x & 0xFFFFu) * (int32_t)(int16_t)(y & 0xFFFFu);
    int32_t hi = (int32_t)(int16_t)(x >> 16) * (int32_t)(int16_t)(y >> 16);
    return (int32_t)((uint32_t)acc + (uint32_t)lo + (uint32_t)hi);
#endif
}

/* Sign-extend bytes 0 and 2 of x into two 16-bit lanes (SXTB16). */
MICO_INLINE uint32_t mico_sxtb16(uint32_t x) {
#if MICO_HAVE_DSP
    return __sxtb16(x);
#else
    uint32_t lo = (uint32_t)(int32_t)(int8_t)(x & 0xFFu) & 0xFFFFu;
    uint32_t hi = (uint32_t)(int32_t)(int8_t)((x >> 16) & 0xFFu) & 0xFFFFu;
    return lo | (hi << 16);
#endif
}

/* SXTB16 of x rotated right by 8: lanes (byte 1, byte 3) sign-extended. */
MICO_INLINE uint32_t mico_sxtb16_ror8(uint32_t x) {
#if MICO_HAVE_DSP
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
#else
    return mico_sxtb16((x >> 8) | (x << 24));
#endif
}

/* Two 16-bit lane-wise subtractions (SSUB16), no borrow between the lanes. */
MICO_INLINE uint32_t mico_ssub16(uint32_t x, uint32_t y) {
#if MICO_HAVE_DSP
    return (uint32_t)__ssub16((int16x2_t)x, (int16x2_t)y);
#else
    const uint32_t lo = (x - y) & 0xFFFFu;
    const uint32_t hi = ((x >> 16) - (y >> 16)) & 0xFFFFu;
    return lo | (hi << 16);
#endif
}

/* acc + lo(x) * lo(y) (SMLABB) and acc + hi(x) * lo(y) (SMLATB), 16 x 16 -> 32 bits. */
MICO_INLINE int32_t mico_smlabb(uint32_t x, uint32_t y, int32_t acc) {
#if MICO_HAVE_DSP
    return __smlabb((int32_t)x, (int32_t)y, acc);
#else
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int16_t)(x & 0xFFFFu) * (int32_t)(int16_t)(y & 0xFFFFu)));
#endif
}

MICO_INLINE int32_t mico_smlatb(uint32_t x, uint32_t y, int32_t acc) {
#if MICO_HAVE_DSP
    return __smlatb((int32_t)x, (int32_t)y, acc);
#else
    return (int32_t)((uint32_t)acc + (uint32_t)((int32_t)(int16_t)(x >> 16) * (int32_t)(int16_t)(y & 0xFFFFu)));
#endif
}

/* Half-word packs: (lo(a), lo(b)) = PKHBT a, b, LSL #16 and (hi(a), hi(b)) = PKHTB b, a, ASR #16. */
MICO_INLINE uint32_t mico_pack_lo(uint32_t a, uint32_t b) {
#if MICO_HAVE_DSP
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (a & 0xFFFFu) | (b << 16);
#endif
}

MICO_INLINE uint32_t mico_pack_hi(uint32_t a, uint32_t b) {
#if MICO_HAVE_DSP
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(b), "r"(a));
    return r;
#else
    return (a >> 16) | (b & 0xFFFF0000u);
#endif
}

MICO_INLINE uint32_t mico_ror8(uint32_t x) { return (x >> 8) | (x << 24); }

/* Load a 32-bit word from any address (unaligned loads are fine on Cortex-M7 and AArch64). */
MICO_INLINE uint32_t mico_load32(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

MICO_INLINE void mico_store32(void *p, uint32_t v) { memcpy(p, &v, 4); }

#endif /* MICO_NN_SUPPORT_H */
