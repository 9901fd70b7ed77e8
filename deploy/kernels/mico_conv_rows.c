/* First layers (1 to 3 input channels): a ring of widened input rows, no im2col.
 *
 * With c = in_c <= 3, im2col + GEMM spends most of a layer building every pixel's field: LeNet-5's
 * conv1 (1 channel, 5x5) gathers and widens 25 elements a pixel to share them among only 6
 * output channels (5.31 instructions per MAC at W8A8 that way, 2.92 here). Each input row is
 * widened once to int16 into a ring of k_h rows with its horizontal zero padding materialised
 * (mico_ring16, shared with the depthwise kernel). Kernel row kh of output pixel ow is then the
 * k_w * c consecutive values at ring[kh] + ow * stride_w * c, and of the next pixel stride_w * c
 * further: the weights of a kernel row, widened once per call to int16 pairs (zero-padded to an
 * even count), multiply 4 neighbouring pixels with 16-bit dual MACs (SMLAD on Cortex-M7;
 * unaligned 32-bit loads). The 4 pixels' raw sums then take the shared requantization pass
 * (mico_conv_store_pixels), two pixels at a time. Sub-byte operands take the path below instead
 * (rf_conv: 4-8 products per 64-bit multiply-accumulate).
 *
 * Scratch (4-byte aligned): the ring (k_h rows of L int16, L = (in_w + 2 pad_w + 3 stride_w) c + 2
 * rounded up to even: the zero-padded last weight pair and the pixels of a last, partial group of
 * 4 read past the padded row), the widened weights (out_c k_h ceil(k_w c / 2) words), the
 * requantization table and 4 out_c raw sums. mico_conv_rows_ok says whether that fits
 * mico_conv_get_buffer_size.
 */
#include "mico_conv_check.h"
#include "mico_nn_support.h"

int32_t mico_conv_rows_ok(const mico_conv_params *p);

MICO_INLINE int32_t rw_len(const mico_conv_params *p) {
    return ((p->in_w + 2 * p->pad_w + 3 * p->stride_w) * p->in_c + 3) & ~1;
}

MICO_INLINE int32_t rw_pairs(const mico_conv_params *p) { return (p->k_w * p->in_c + 1) / 2; }

static int32_t rw_need(const mico_conv_params *p) {
    return 4 + 2 * p->k_h * rw_len(p) + 4 * p->out_c * p->k_h * rw_pairs(p) + (int32_t)sizeof(mico_chq) * p->out_c +
           16 * p->out_c;
}

int32_t mico_conv_rows_ok(const mico_conv_params *p) {
    return p->groups == 1 && p->in_c >= 1 && p->in_c <= 3 && p->k_h <= 16 && p->k_h * p->k_w > 1 && p->out_w > 1 &&
           p->in_cont >= 2 && rw_need(p) <= mico_conv_get_buffer_size(p);
}

/* The raw sums of one output channel for 4 neighbouring output pixels (kernel rows start at
 * rp[kh] + off + i pw): every weight pair is loaded once for the 4 pixels, the sums stay in
 * registers. NP weight pairs a kernel row and PW values between pixels are compile-time
 * constants in the common first layers (0: the run-time np / pw), so every load is one
 * instruction with an immediate offset from the row pointer. */
MICO_INLINE void rw_quad(const int16_t *const *rp, int32_t kh_n, int32_t off, int32_t pw, const uint32_t *w, int32_t np,
                         int32_t *s, int32_t oc_n, const int32_t NP, const int32_t PW) {
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    const int32_t n = NP ? NP : np, d = PW ? PW : pw;
    for (int32_t kh = 0; kh < kh_n; kh++, w += n) {
        const int16_t *x0 = rp[kh] + off;
#pragma GCC unroll 8
        for (int32_t j = 0; j < n; j++) {
            const uint32_t wv = w[j];
            s0 = mico_smlad(mico_load32(x0 + 2 * j), wv, s0);
            s1 = mico_smlad(mico_load32(x0 + d + 2 * j), wv, s1);
            s2 = mico_smlad(mico_load32(x0 + 2 * d + 2 * j), wv, s2);
            s3 = mico_smlad(mico_load32(x0 + 3 * d + 2 * j), wv, s3);
        }
    }
    s[0] = s0;
    s[oc_n] = s1;
    s[2 * oc_n] = s2;
    s[3 * oc_n] = s3;
}

MICO_INLINE void rw_pixels(const mico_conv_params *p, const int16_t *const *rp, int32_t off, int32_t pw,
                           const uint32_t *wt, int32_t np, int32_t *sums, const int32_t NP, const int32_t PW) {
    const int32_t oc_n = p->out_c, step = p->k_h * (NP ? NP : np);
    for (int32_t oc = 0; oc < oc_n; oc++, wt += step) rw_quad(rp, p->k_h, off, pw, wt, np, sums + oc, oc_n, NP, PW);
}

/* ---- Sub-byte operands: several products per signed 32 x 32 -> 64-bit multiply-accumulate ----
 *
 * With 2/4-bit activation and 1/2/4-bit weight containers the 16-bit dual MAC wastes most of its
 * width. Here NX neighbouring output pixels share one 32-bit operand and two output channels the
 * other: X = sum_i x_i 2^(S i) (pixel i's input value at one kernel element), Y = w_0 + w_1
 * 2^(S NX) (the two channels' weights there). In the 64-bit product (SMLAL on Cortex-M7) each
 * pixel x channel product sits alone in its S-bit digit (i + j NX) and sums over the K kernel
 * elements stay there: the accumulator starts at B = sum_f 2^(S f + S - 1), so every digit holds
 * its dot product + 2^(S-1) in [0, 2^S) as long as K max|x| max|w| < 2^(S-1) (container maxima,
 * so any content is exact), and carries never cross digits. Signed values need no offsets: X and
 * Y are plain signed integers (|X|, |Y| < 2^31 for the layouts below) and the product is exact
 * integer arithmetic. The 2^(S-1) of each digit is the shared pass's per-pixel term t.
 * Layouts (rf_layout, largest NX whose bound holds): NX 4, S 7 (S 6 with 4-bit weights: Y fits
 * 31 bits); NX 3, S 9; NX 2, S 13: 8, 6 or 4 products a multiply, e.g. LeNet-5 conv1 (K 25) W4A4
 * 4, W2A2 6; a 3x3 first layer W2A2 8.
 * Input rows go through a ring of k_h rows of X words, one per element position of the padded
 * row: X[q] = sum_i x[q + i d] 2^(S i) (d = stride_w c), converted in place from the row's values;
 * the kernel row kh of the pixel group at ow is X[ow d + e], e < k_w c. Weights become Y words
 * once per call, two channel pairs interleaved so that one X load feeds two multiplies. */
MICO_INLINE int32_t rf_s(int32_t nx, int32_t mw) { return nx == 2 ? 13 : nx == 3 ? 9 : mw <= 2 ? 7 : 6; }

/* Pixels per X word (2-4), 0 where no layout's bound holds or the containers are not sub-byte. */
static int32_t rf_layout(const mico_conv_params *p) {
    if ((p->in_cont != 2 && p->in_cont != 4) || (p->w_cont != 1 && p->w_cont != 2 && p->w_cont != 4)) return 0;
    const int32_t mx = p->in_signed ? 1 << (p->in_cont - 1) : (1 << p->in_cont) - 1;
    const int32_t mw = p->w_cont == 1 ? 1 : 1 << (p->w_cont - 1);
    const int64_t b = (int64_t)p->k_h * p->k_w * p->in_c * mx * mw;
    for (int32_t nx = 4; nx >= 2; nx--)
        if (b < (1 << (rf_s(nx, mw) - 1))) return nx;
    return 0;
}

/* Ring row length (X words, with the NX - 1 pixel steps the in-place conversion reads past the last
 * group) */
MICO_INLINE int32_t rf_len(const mico_conv_params *p, int32_t nx) {
    const int32_t d = p->stride_w * p->in_c, g = (p->out_w + nx - 1) / nx;
    return (g * nx - 1) * d + p->k_w * p->in_c;
}

/* Scratch: alignment, the ring, the Y words (ceil(out_c / 2) pairs x K), the table and 4 pixels' sums */
static int32_t rf_need(const mico_conv_params *p, int32_t nx) {
    return 4 + 4 * p->k_h * rf_len(p, nx) + 4 * ((p->out_c + 1) / 2) * p->k_h * p->k_w * p->in_c +
           (int32_t)sizeof(mico_chq) * p->out_c + 16 * p->out_c;
}

/* Ring slot rows of input rows ih0 .. ih0 + k_h - 1 into rp; a row entering is converted to X words
 * (rows outside the image: 0). */
MICO_INLINE void rf_ring(const mico_conv_params *p, const uint8_t *in, int32_t *ring, int32_t len, int32_t *slot_row,
                         int32_t ih0, const int32_t **rp, const int32_t NX, const int32_t S) {
    const int32_t c = p->in_c, d = p->stride_w * c, lo = p->pad_w * c, n = p->in_w * c;
    for (int32_t kh = 0; kh < p->k_h; kh++) {
        const int32_t ih = ih0 + kh, slot = ((ih % p->k_h) + p->k_h) % p->k_h;
        int32_t *r = ring + slot * len;
        rp[kh] = r;
        if (slot_row[slot] == ih) continue;
        slot_row[slot] = ih;
        if (ih < 0 || ih >= p->in_h) {
            for (int32_t q = 0; q < len; q++) r[q] = 0;
            continue;
        }
        const int32_t e0 = ih * n;
        for (int32_t q = 0; q < len; q++) {
            const int32_t e = q - lo;
            r[q] = e >= 0 && e < n ? mico_get(in, e0 + e, p->in_cont, p->in_signed) : 0;
        }
        for (int32_t q = 0; q + (NX - 1) * d < len; q++) {
            int32_t x = r[q];
            for (int32_t i = 1; i < NX; i++) x += r[q + i * d] * (1 << (S * i));
            r[q] = x;
        }
    }
}

/* Digits of the 64-bit sums a of a channel pair (2 q + j, j <= TWO) into s[i oc + j], pixel i < NX. */
MICO_INLINE void rf_digits(uint64_t a, int32_t *s, int32_t oc, const int32_t TWO, const int32_t NX, const int32_t S) {
#pragma GCC unroll 2
    for (int32_t j = 0; j < 1 + TWO; j++)
#pragma GCC unroll 4
        for (int32_t i = 0; i < NX; i++) s[i * oc + j] = (int32_t)((uint32_t)(a >> (S * (i + j * NX))) & ((1u << S) - 1u));
}

/* One pixel group: kernel rows kh at rp[kh] + base, KWC (0: kwc) elements each, against PAIRS (1-3)
 * channel pairs whose Y words are interleaved word by word (y[k PAIRS + j]): each X load feeds
 * PAIRS multiplies. */
MICO_INLINE void rf_group(const int32_t *const *rp, int32_t kh_n, int32_t base, int32_t kwc, const int32_t *y,
                          uint64_t bias, uint64_t *a, const int32_t PAIRS, const int32_t KWC) {
    const int32_t n = KWC ? KWC : kwc;
#if defined(__thumb2__)
    /* each 64-bit sum as two 32-bit halves, so that the compiler keeps them in place for SMLAL */
    uint32_t l0 = (uint32_t)bias, h0 = (uint32_t)(bias >> 32), l1 = l0, h1 = h0, l2 = l0, h2 = h0;
#define RF_MAC(L, H, X, Y) __asm__("smlal %0, %1, %2, %3" : "+r"(L), "+r"(H) : "r"(X), "r"(Y))
#else
    int64_t a0 = (int64_t)bias, a1 = (int64_t)bias, a2 = (int64_t)bias;
#endif
    for (int32_t kh = 0; kh < kh_n; kh++) {
        const int32_t *x = rp[kh] + base;
        __asm__("" : "+r"(x), "+r"(y)); /* loads at immediate offsets from two running pointers */
#pragma GCC unroll 5
        for (int32_t e = 0; e < n; e++, y += PAIRS) {
#if defined(__thumb2__)
            const int32_t xv = x[e];
            RF_MAC(l0, h0, xv, y[0]);
            if (PAIRS > 1) RF_MAC(l1, h1, xv, y[1]);
            if (PAIRS > 2) RF_MAC(l2, h2, xv, y[2]);
#else
            const int64_t xv = x[e];
            a0 += xv * y[0];
            if (PAIRS > 1) a1 += xv * y[1];
            if (PAIRS > 2) a2 += xv * y[2];
#endif
        }
    }
#if defined(__thumb2__)
#undef RF_MAC
    a[0] = (uint64_t)h0 << 32 | l0;
    a[1] = (uint64_t)h1 << 32 | l1;
    a[2] = (uint64_t)h2 << 32 | l2;
#else
    a[0] = (uint64_t)a0;
    a[1] = (uint64_t)a1;
    a[2] = (uint64_t)a2;
#endif
}

/* Channel pairs in groups of 3 (then 2 or 1 for the rest): the number in the group starting at pair q */
MICO_INLINE int32_t rf_take(int32_t np, int32_t q) { return np - q >= 3 ? 3 : np - q; }

MICO_INLINE void rf_conv(const mico_conv_params *p, const uint8_t *in, void *out, uint8_t *base, const int32_t NX,
                         const int32_t S) {
    const int32_t c = p->in_c, oc = p->out_c, kwc = p->k_w * c, K = p->k_h * kwc, len = rf_len(p, NX);
    const int32_t d = p->stride_w * c, np = (oc + 1) / 2;
    int32_t *ring = (int32_t *)(void *)base;
    int32_t *yw = ring + p->k_h * len;
    mico_chq *tab = (mico_chq *)(void *)(yw + np * K);
    int32_t *sums = (int32_t *)(void *)(tab + oc);
    const int32_t fast = mico_conv_store_prepare(p, 0, tab);
    /* Y words: the pairs of each group (rf_take) interleaved word by word, yw[q0 K + k m + j] for pair
     * q0 + j of the group of m pairs starting at q0 */
    for (int32_t q0 = 0; q0 < np; q0 += rf_take(np, q0)) {
        const int32_t m = rf_take(np, q0);
        for (int32_t j = 0; j < m; j++) {
            const int32_t q = q0 + j;
            const uint8_t *r0 = p->weights + 2 * q * p->w_row_bytes, *r1 = r0 + p->w_row_bytes;
            for (int32_t k = 0; k < K; k++) {
                const int32_t w1 = 2 * q + 1 < oc ? mico_get_w(r1, k, p->w_cont) : 0;
                yw[q0 * K + k * m + j] = mico_get_w(r0, k, p->w_cont) + w1 * (1 << (S * NX));
            }
        }
    }
    uint64_t bias = 0;
    for (int32_t f = 0; f < 2 * NX; f++) bias |= (uint64_t)1 << (S * f + S - 1);
    int32_t t[4];
    for (int32_t i = 0; i < 4; i++) t[i] = 1 << (S - 1);
    int32_t slot_row[16];
    const int32_t *rp[16];
    mico_ring16_reset(slot_row, p->k_h);
    for (int32_t oh = 0; oh < p->out_h; oh++) {
        rf_ring(p, in, ring, len, slot_row, oh * p->stride_h - p->pad_h, rp, NX, S);
        for (int32_t ow = 0; ow < p->out_w; ow += NX) {
            const int32_t off = ow * d;
            uint64_t a[3];
            for (int32_t q = 0; q < np;) {
                const int32_t m = rf_take(np, q);
                const int32_t *y = yw + q * K;
#define RF_GROUP(M)                                                                   \
    if (kwc == 5) rf_group(rp, p->k_h, off, kwc, y, bias, a, (M), 5);                 \
    else if (kwc == 3) rf_group(rp, p->k_h, off, kwc, y, bias, a, (M), 3);            \
    else rf_group(rp, p->k_h, off, kwc, y, bias, a, (M), 0)
                if (m == 3) {
                    RF_GROUP(3);
                } else if (m == 2) {
                    RF_GROUP(2);
                } else {
                    RF_GROUP(1);
                }
#undef RF_GROUP
                for (int32_t j = 0; j < m; j++, q++) {
                    if (2 * q + 1 < oc) rf_digits(a[j], sums + 2 * q, oc, 1, NX, S);
                    else rf_digits(a[j], sums + 2 * q, oc, 0, NX, S);
                }
            }
            const int32_t n = p->out_w - ow < NX ? p->out_w - ow : NX;
            mico_conv_store_pixels(p, sums, tab, t, oh * p->out_w + ow, n, fast, out);
        }
    }
}

/* ---- 2-bit activations: table lookup (rl_*) ----
 *
 * With 2-bit activations a kernel row of k_w c <= 16 elements splits into G = ceil(k_w c / 4)
 * groups of g = ceil(k_w c / G) consecutive elements (the last one nl <= g): the 4^g contents of a
 * group are few, so every (kernel row, group) gets a table of the partial sums of all out_c
 * channels for every content, built once per call from the weights in scratch (entry by entry: the
 * entry without its top element plus that element's contribution, one word add per entry word; the
 * last group's table repeats its 4^nl entries up to 4^g, so every index is a whole byte). An
 * output pixel is then k_h G lookups and no multiply: LeNet-5's conv1 (5x5, 6 channels) takes 10
 * lookups of 2 words for its 150 products. An entry holds the channels' sums in F-bit fields,
 * cpw = 32 / F a word, nw words an entry, every sum shifted up by its group's bound n max|x| max|w|
 * (container maxima) so no field goes negative; F is the smallest width that holds the total over
 * all K elements, 2 K max|x| max|w|, so the word adds never carry between fields, and the
 * requantization pass subtracts the total shift (its t). The group contents come from a ring of
 * window rows, element-major and doubled: byte e 2 k_h + s holds the g elements from e of the
 * zero-padded input row in slot s (element e in the low bits), input row ih in slots ih mod k_h and
 * that + k_h, made once per input row; the k_h rows of an output row are then k_h consecutive
 * slots, and every lookup of a pixel one byte at a constant offset from one running pointer. */
typedef struct {
    int32_t G, g, F, cpw, nw, erow, lw, off;
} rl_plan_t;

/* The plan of the lookup path (returns its scratch bytes; 0 where it does not apply or does not pay:
 * fewer output pixels than table entries per kernel row) */
static int32_t rl_plan(const mico_conv_params *p, rl_plan_t *L) {
    if (!p || p->groups != 1 || p->in_c < 1 || p->in_c > 3 || p->k_h < 1 || p->k_h > 16 || p->k_h * p->k_w < 2 ||
        p->out_w < 2 || p->in_cont != 2 || (p->w_cont != 1 && p->w_cont != 2 && p->w_cont != 4 && p->w_cont != 8))
        return 0;
    const int32_t kwc = p->k_w * p->in_c;
    if (kwc > 16 || p->out_c < 1) return 0;
    L->G = (kwc + 3) / 4;
    L->g = (kwc + L->G - 1) / L->G;
    const int32_t mx = p->in_signed ? 2 : 3, mw = p->w_cont == 1 ? 1 : 1 << (p->w_cont - 1);
    L->off = p->k_h * kwc * mx * mw;
    L->F = 1;
    while ((1 << L->F) <= 2 * L->off) L->F++;
    if (L->F > 16) return 0;
    L->cpw = 32 / L->F;
    L->nw = (p->out_c + L->cpw - 1) / L->cpw;
    L->nw += L->nw == 5 || L->nw == 7; /* entries of 1-4, 6 or 8 words (rl_conv's cases) */
    L->erow = L->G << (2 * L->g);
    L->lw = (p->in_w + 2 * p->pad_w) * p->in_c + L->g;
    if (L->nw > 8 || p->out_h * p->out_w < L->erow) return 0;
    return 68 + 4 * p->k_h * L->erow * L->nw + (int32_t)sizeof(mico_chq) * p->out_c + 4 * p->out_w * (p->out_c + 1) +
           2 * p->k_h * L->lw;
}

/* Entries lo..4 lo - 1 of a table (element k = log4(lo) of the group at 1..3): entry i + v lo = entry i
 * + cv[v], NW words an entry */
MICO_INLINE void rl_fill(uint32_t *t, int32_t lo, const uint32_t (*cv)[8], const int32_t NW) {
    for (int32_t v = 1; v < 4; v++) {
        uint32_t *d = t + v * lo * NW;
        const uint32_t *a = t;
        for (int32_t i = 0; i < lo; i++, a += NW, d += NW)
#pragma GCC unroll 8
            for (int32_t w = 0; w < NW; w++) d[w] = a[w] + cv[v][w];
    }
}

/* The tables: T + (kh G + j) 4^g nw words for group j of kernel row kh, entry by entry */
static __attribute__((noinline)) void rl_tables(const mico_conv_params *p, const rl_plan_t *L, uint32_t *T) {
    const int32_t kwc = p->k_w * p->in_c, nw = L->nw, mx = p->in_signed ? 2 : 3, full = 1 << (2 * L->g);
    const int32_t mw = p->w_cont == 1 ? 1 : 1 << (p->w_cont - 1);
    for (int32_t kh = 0; kh < p->k_h; kh++)
        for (int32_t j = 0; j < L->G; j++) {
            const int32_t e0 = j * L->g, n = kwc - e0 < L->g ? kwc - e0 : L->g;
            uint32_t *t = T + (kh * L->G + j) * full * nw;
            for (int32_t w = 0; w < nw; w++) t[w] = 0;
            for (int32_t c = 0; c < p->out_c; c++) t[c / L->cpw] += (uint32_t)(n * mx * mw) << (L->F * (c % L->cpw));
            for (int32_t k = 0; k < n; k++) {
                uint32_t cv[4][8];
                for (int32_t v = 1; v < 4; v++)
                    for (int32_t w = 0; w < nw; w++) cv[v][w] = 0;
                for (int32_t c = 0, w = 0, f = 0; c < p->out_c; c++) {
                    const int32_t wv = mico_get_w(p->weights + c * p->w_row_bytes, kh * kwc + e0 + k, p->w_cont);
                    for (int32_t v = 1; v < 4; v++)
                        cv[v][w] += (uint32_t)((p->in_signed ? (int32_t)((uint32_t)v ^ 2u) - 2 : v) * wv) << f;
                    f += L->F;
                    if (f + L->F > 32) w++, f = 0;
                }
                const int32_t lo = 1 << (2 * k);
                if (nw == 1) rl_fill(t, lo, cv, 1);
                else if (nw == 2) rl_fill(t, lo, cv, 2);
                else if (nw == 3) rl_fill(t, lo, cv, 3);
                else if (nw == 4) rl_fill(t, lo, cv, 4);
                else if (nw == 6) rl_fill(t, lo, cv, 6);
                else rl_fill(t, lo, cv, 8);
            }
            /* bits above the group's n elements are ignored: entry i = entry i mod 4^n */
            for (int32_t u = nw << (2 * n), s = u; u < full * nw; u++) t[u] = t[u - s];
        }
}

/* Input row ih into slots s and s + k_h of the window ring (r: slot s of element 0; stride 2 k_h
 * between elements), one pass forward: w holds the g elements from e (element e + g - 1 enters at the
 * top), elements inside the row come four to a byte once their index is byte-aligned */
static __attribute__((noinline)) void rl_window(const mico_conv_params *p, const uint8_t *in, int32_t ih,
                                                const rl_plan_t *L, uint8_t *r) {
    const int32_t kh = p->k_h, st = 2 * kh, lw = L->lw, g = L->g, sh = 2 * (g - 1);
    if (ih < 0 || ih >= p->in_h) {
        for (int32_t e = 0; e < lw; e++, r += st) r[0] = r[kh] = 0;
        return;
    }
    const int32_t lo = p->pad_w * p->in_c, n = p->in_w * p->in_c, e0 = ih * n, end = lw + g - 1;
#define RL_X(K) ((K) >= lo && (K) < lo + n ? (in[(e0 + (K) - lo) >> 2] >> (((e0 + (K) - lo) & 3) << 1)) & 3u : 0u)
#define RL_STEP(X)                             \
    do {                                       \
        w = (w >> 2) | ((uint32_t)(X) << sh); \
        r[0] = r[kh] = (uint8_t)w;             \
        r += st;                               \
    } while (0)
    uint32_t w = 0;
    int32_t k = 0; /* the next element to enter */
    for (; k < g - 1; k++) w = (w >> 2) | (RL_X(k) << sh);
    for (; k < lo && k < end; k++) RL_STEP(0u);
    for (; k < lo + n && k < end && ((e0 + k - lo) & 3); k++) RL_STEP(RL_X(k));
    const uint8_t *src = in + ((e0 + k - lo) >> 2);
    for (; k + 4 <= lo + n && k + 4 <= end; k += 4) {
        const uint32_t v = *src++;
        RL_STEP(v & 3u);
        RL_STEP((v >> 2) & 3u);
        RL_STEP((v >> 4) & 3u);
        RL_STEP(v >> 6);
    }
    for (; k < end; k++) RL_STEP(RL_X(k));
#undef RL_STEP
#undef RL_X
}

/* The raw sums (shifted up by the plan's off) of the n pixels of one output row: kernel row kh of
 * pixel i reads ring bytes b + ((i d + j g) 2 k_h + kh), j < G. NW words an entry; KH, G, GS (0:
 * the plan's) compile-time in the common first layers, so every load has an immediate offset */
MICO_INLINE void rl_pixels(const uint8_t *b, const uint32_t *T, const rl_plan_t *L, int32_t kh_n, int32_t d, int32_t n,
                           int32_t oc, int32_t *sums, const int32_t NW, const int32_t KH, const int32_t G,
                           const int32_t GS, const int32_t CPW, const int32_t SB, const mico_chq *tab, uint8_t *o,
                           const int32_t FF) {
    const int32_t kh_c = KH ? KH : kh_n, G_c = G ? G : L->G, gs = GS ? GS : L->g;
    const int32_t st = 2 * kh_c, full = 1 << (2 * gs), step = d * st, gst = gs * st;
    const int32_t F = FF ? FF : L->F, cpw = CPW ? CPW : L->cpw; /* FF: the field width, compile-time */
    const uint32_t fm = (1u << F) - 1u;
    for (int32_t i = 0; i < n; i++, b += step, sums += oc) {
        uint32_t acc[8];
#pragma GCC unroll 8
        for (int32_t w = 0; w < NW; w++) acc[w] = 0;
        if (KH && G) { /* constant counts: every load at an immediate offset */
#pragma GCC unroll 16
            for (int32_t kh = 0; kh < KH; kh++)
#pragma GCC unroll 4
                for (int32_t j = 0; j < G; j++) {
                    const uint32_t *e = T + (int32_t)b[j * gst + kh] * NW;
                    __asm__("" : "+r"(e)); /* the table's offset below as the loads' immediate */
#pragma GCC unroll 8
                    for (int32_t w = 0; w < NW; w++) acc[w] += e[(kh * G + j) * full * NW + w];
                }
        } else { /* the tables in (kernel row, group) order: one running table pointer */
            const uint32_t *tp = T;
            for (int32_t kh = 0; kh < kh_c; kh++) {
                const uint8_t *q = b + kh;
                for (int32_t j = 0; j < G_c; j++, q += gst, tp += full * NW) {
                    const uint32_t *e = tp + (int32_t)*q * NW;
#pragma GCC unroll 8
                    for (int32_t w = 0; w < NW; w++) acc[w] += e[w];
                }
            }
        }
        if (SB) { /* a byte per output (rl_direct): the fields requantized right here, no sums */
            const mico_chq *q = tab;
            int32_t c = 0;
#pragma GCC unroll 8
            for (int32_t w = 0; w < NW; w++)
#pragma GCC unroll 8
                for (int32_t k = 0; k < CPW; k++, c++)
                    if (w < NW - 1 || c < oc) *o++ = (uint8_t)mico_rq_ldm((int32_t)((acc[w] >> (F * k)) & fm), &q, 0, SB);
            continue;
        }
        /* all NW cpw fields (past oc into the next pixel's, the last pixel's into the sums' slack) */
        int32_t *s = sums;
#pragma GCC unroll 8
        for (int32_t w = 0; w < NW; w++) {
            uint32_t a = acc[w];
#pragma GCC unroll 8
            for (int32_t k = 0; k < cpw; k++, a >>= F) *s++ = (int32_t)(a & fm);
        }
    }
}

/* One output row: the common first layers with constant loops (5x5 single-channel kernels: LeNet-5's
 * conv1; 3x3 single-channel kernels), the rest through the plan's counts (one function, out of line:
 * inlined into rl_conv its register allocation got worse) */
static __attribute__((noinline)) int rl_row(const uint8_t *b, const uint32_t *T, const rl_plan_t *L, int32_t kh_n,
                                            int32_t d, int32_t n, int32_t oc, int32_t *sums, int32_t sb,
                                            const mico_chq *tab, uint8_t *o) {
    const int32_t nw = L->nw;
    /* LeNet-5's conv1 at W2A2 into the byte map of its fused pooling: requantized in place (returns 1;
     * every other case leaves the raw sums for the requantization pass and returns 0) */
    if (sb == 2) { /* rl_conv checked the shape (and F: 9 or 10 bits) */
        if (L->F == 9) rl_pixels(b, T, L, kh_n, d, n, oc, sums, 2, 5, 2, 3, 3, 2, tab, o, 9);
        else rl_pixels(b, T, L, kh_n, d, n, oc, sums, 2, 5, 2, 3, 3, 2, tab, o, 10);
        return 1;
    }
#define RL_ROW(NW, KH, G, GS)                                                                               \
    if (L->cpw == 3) rl_pixels(b, T, L, kh_n, d, n, oc, sums, (NW), (KH), (G), (GS), 3, 0, tab, o, 0);       \
    else if (L->cpw == 4) rl_pixels(b, T, L, kh_n, d, n, oc, sums, (NW), (KH), (G), (GS), 4, 0, tab, o, 0);  \
    else rl_pixels(b, T, L, kh_n, d, n, oc, sums, (NW), (KH), (G), (GS), 0, 0, tab, o, 0)
    if (kh_n == 5 && L->G == 2 && L->g == 3 && nw <= 3) {
        if (nw == 2) {
            RL_ROW(2, 5, 2, 3);
        } else if (nw == 3) {
            RL_ROW(3, 5, 2, 3);
        } else {
            RL_ROW(1, 5, 2, 3);
        }
    } else if (kh_n == 3 && L->G == 1 && L->g == 3 && nw <= 4) {
        if (nw == 4) {
            RL_ROW(4, 3, 1, 3);
        } else if (nw == 3) {
            RL_ROW(3, 3, 1, 3);
        } else if (nw == 2) {
            RL_ROW(2, 3, 1, 3);
        } else {
            RL_ROW(1, 3, 1, 3);
        }
    } else if (nw == 1) rl_pixels(b, T, L, kh_n, d, n, oc, sums, 1, 0, 0, 0, 0, 0, tab, o, 0);
    else if (nw == 2) rl_pixels(b, T, L, kh_n, d, n, oc, sums, 2, 0, 0, 0, 0, 0, tab, o, 0);
    else if (nw == 3) rl_pixels(b, T, L, kh_n, d, n, oc, sums, 3, 0, 0, 0, 0, 0, tab, o, 0);
    else if (nw == 4) rl_pixels(b, T, L, kh_n, d, n, oc, sums, 4, 0, 0, 0, 0, 0, tab, o, 0);
    else if (nw == 6) rl_pixels(b, T, L, kh_n, d, n, oc, sums, 6, 0, 0, 0, 0, 0, tab, o, 0);
    else rl_pixels(b, T, L, kh_n, d, n, oc, sums, 8, 0, 0, 0, 0, 0, tab, o, 0);
#undef RL_ROW
    return 0;
}

static void rl_conv(const mico_conv_params *p, const uint8_t *in, void *out, uint8_t *base, const rl_plan_t *L) {
    const int32_t oc = p->out_c, nw = L->nw, d = p->stride_w * p->in_c, kh_n = p->k_h;
    uint32_t *T = (uint32_t *)(void *)base;
    mico_chq *tab = (mico_chq *)(void *)(T + kh_n * L->erow * nw);
    int32_t *t = (int32_t *)(void *)(tab + oc), *sums = t + p->out_w; /* then 64 bytes of slack */
    uint8_t *ring = (uint8_t *)(sums + p->out_w * oc + 16);
    const int32_t fast = mico_conv_store_prepare(p, 0, tab);
    const uint32_t *Tq = (const uint32_t *)p->prep;
    if (!Tq) {
        rl_tables(p, L, T);
        Tq = T;
    }
    for (int32_t i = 0; i < p->out_w; i++) t[i] = L->off;
    /* byte outputs clamped to [0, 2^sb - 1] with every shift > 32 (e.g. the map of a fused pooling) are
     * requantized by rl_pixels itself where its case is compiled (rl_row), else through the sums */
    const int32_t sb = fast == 1 && p->out_cont == 8 && p->out_lo == 0 && p->out_hi == 3 && L->nw == 2 && kh_n == 5 &&
                               L->G == 2 && L->g == 3 && L->cpw == 3
                           ? 2
                           : 0; /* rl_row's compiled case */
    if (sb) /* there the fields' shift comes off b, not per output */
        for (int32_t c = 0; c < oc; c++) tab[c].b -= L->off;
    int32_t slot_row[16];
    for (int32_t i = 0; i < kh_n; i++) slot_row[i] = -0x7fffffff;
    for (int32_t oh = 0; oh < p->out_h; oh++) {
        const int32_t ih0 = oh * p->stride_h - p->pad_h, s0 = ((ih0 % kh_n) + kh_n) % kh_n;
        for (int32_t kh = 0; kh < kh_n; kh++) {
            const int32_t ih = ih0 + kh, slot = (s0 + kh) % kh_n;
            if (slot_row[slot] != ih) {
                slot_row[slot] = ih;
                rl_window(p, in, ih, L, ring + slot);
            }
        }
        uint8_t *o = (uint8_t *)out + oh * p->out_w * oc;
        if (!rl_row(ring + s0, Tq, L, kh_n, d, p->out_w, oc, sums, sb, tab, o))
            mico_conv_store_pixels(p, sums, tab, t, oh * p->out_w, p->out_w, fast, out); /* sb == 0 */
    }
}

/* Scratch bytes of the lookup path (0: it does not apply); mico_conv_get_buffer_size takes it into
 * account, deploy/lower.py:rows_lut_bytes mirrors it. */
int32_t mico_conv_rows_lut_bytes(const mico_conv_params *p);
int32_t mico_conv_rows_lut_bytes(const mico_conv_params *p) {
    rl_plan_t L;
    return rl_plan(p, &L);
}

/* mico_conv_prepare for this kernel: the lookup path's tables (the other paths prepare nothing) */
int32_t mico_conv_rows_prepare(const mico_conv_params *p, void *dst, int32_t dst_bytes);
int32_t mico_conv_rows_prepare(const mico_conv_params *p, void *dst, int32_t dst_bytes) {
    rl_plan_t L;
    if (!mico_conv_rows_ok(p) || !rl_plan(p, &L)) return 0;
    const int32_t need = 4 * p->k_h * L.erow * L.nw;
    if (dst && dst_bytes >= need) rl_tables(p, &L, (uint32_t *)dst);
    return need;
}

/* Pixels per X word of the sub-byte path these parameters take (0: the 16-bit dual MAC path); the
 * latency model and the tests ask it. */
int32_t mico_conv_rows_fields(const mico_conv_params *p);
int32_t mico_conv_rows_fields(const mico_conv_params *p) {
    if (!p || !mico_conv_rows_ok(p)) return 0;
    const int32_t nx = rf_layout(p);
    return nx && rf_need(p, nx) <= mico_conv_get_buffer_size(p) ? nx : 0;
}

mico_status mico_conv_rows(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                           int32_t scratch_bytes) {
    mico_status st = mico_conv_check(p);
    if (st != MICO_OK) return st;
    if (!mico_conv_rows_ok(p)) return MICO_ERR_UNSUPPORTED;
    if (!scratch || scratch_bytes < mico_conv_get_buffer_size(p)) return MICO_ERR_SCRATCH;
    rl_plan_t lp;
    if (rl_plan(p, &lp)) {
        rl_conv(p, in, out, (uint8_t *)(((uintptr_t)scratch + 3u) & ~(uintptr_t)3u), &lp);
        return MICO_OK;
    }
    const int32_t nx = mico_conv_rows_fields(p);
    if (nx) {
        uint8_t *b = (uint8_t *)(((uintptr_t)scratch + 3u) & ~(uintptr_t)3u);
        const int32_t mw = p->w_cont == 1 ? 1 : 1 << (p->w_cont - 1);
        if (nx == 2) rf_conv(p, in, out, b, 2, 13);
        else if (nx == 3) rf_conv(p, in, out, b, 3, 9);
        else if (mw <= 2) rf_conv(p, in, out, b, 4, 7);
        else rf_conv(p, in, out, b, 4, 6);
        return MICO_OK;
    }
    const int32_t c = p->in_c, kh_n = p->k_h, L = rw_len(p), np = rw_pairs(p), kr = p->k_w * c;
    int16_t *ring = (int16_t *)(((uintptr_t)scratch + 3u) & ~(uintptr_t)3u);
    uint32_t *wt = (uint32_t *)(void *)(ring + kh_n * L);
    mico_chq *tab = (mico_chq *)(void *)(wt + p->out_c * kh_n * np);
    int32_t *sums = (int32_t *)(void *)(tab + p->out_c);
    const int32_t fast = mico_conv_store_prepare(p, 0, tab);
    for (int32_t oc = 0; oc < p->out_c; oc++) {
        const uint8_t *row = p->weights + oc * p->w_row_bytes;
        for (int32_t kh = 0; kh < kh_n; kh++)
            for (int32_t j = 0; j < np; j++) {
                const int32_t e = kh * kr + 2 * j;
                const uint32_t lo = (uint16_t)mico_get_w(row, e, p->w_cont);
                const uint32_t hi = 2 * j + 1 < kr ? (uint16_t)mico_get_w(row, e + 1, p->w_cont) : 0u;
                wt[(oc * kh_n + kh) * np + j] = lo | (hi << 16);
            }
    }
    int32_t slot_row[16];
    const int16_t *rp[16];
    mico_ring16_reset(slot_row, kh_n);
    const int32_t t0[2] = {0, 0};
    const int32_t pw = p->stride_w * c; /* ring values between neighbouring output pixels */
    for (int32_t oh = 0; oh < p->out_h; oh++) {
        mico_ring16(p, in, ring, L, slot_row, oh * p->stride_h - p->pad_h, rp, p->pad_w * c, 1, c);
        for (int32_t ow = 0; ow < p->out_w; ow += 4) {
            const int32_t n = p->out_w - ow < 4 ? p->out_w - ow : 4, off = ow * pw;
            /* LeNet-5 / Fashion-MNIST conv1 (1 channel, 5x5 / 3x3), RGB 3x3 / 5x5 (3 channels), stride 1 */
#define RW_CASE(NP, PW) if (np == (NP) && pw == (PW)) rw_pixels(p, rp, off, pw, wt, np, sums, NP, PW); else
            RW_CASE(3, 1) RW_CASE(2, 1) RW_CASE(4, 1) RW_CASE(5, 3) RW_CASE(8, 3) RW_CASE(2, 2) RW_CASE(3, 2)
            rw_pixels(p, rp, off, pw, wt, np, sums, 0, 0);
#undef RW_CASE
            const int32_t pix = oh * p->out_w + ow;
            mico_conv_store_pixels(p, sums, tab, t0, pix, n < 2 ? n : 2, fast, out);
            if (n > 2) mico_conv_store_pixels(p, sums + 2 * p->out_c, tab, t0, pix + 2, n - 2, fast, out);
        }
    }
    return MICO_OK;
}
