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
 * (mico_conv_store_pixels), two pixels at a time.
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

mico_status mico_conv_rows(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                           int32_t scratch_bytes) {
    mico_status st = mico_conv_check(p);
    if (st != MICO_OK) return st;
    if (!mico_conv_rows_ok(p)) return MICO_ERR_UNSUPPORTED;
    if (!scratch || scratch_bytes < mico_conv_get_buffer_size(p)) return MICO_ERR_SCRATCH;
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
