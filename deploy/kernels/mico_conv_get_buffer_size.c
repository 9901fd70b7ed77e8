/* Scratch bytes mico_conv needs for these parameters (the maximum over the variants it may pick;
 * deploy/lower.py:conv_scratch_bytes computes the same number, its aarch64 flag for the terms of
 * the AArch64 paths). */
#include "mico_nn_support.h"

#if defined(__aarch64__)
/* The AArch64 paths (mico_conv_neon.c, mico_conv_dw.c) on top of the GEMM scratch: the int8 path's
 * 5 int8 columns of K rounded up to 128, the table and 4 pixels' raw sums and a ring of k_h int8
 * rows with padding and 16 of slack; its short-column path (K w_cont < 128 bits, out_c <= 128):
 * the int8 weights transposed with out_c rounded up to 16; single-channel layers: rows ring and
 * widened weights; depthwise: the table and one pixel's raw sums. */
static int32_t mico_a64_scratch(const mico_conv_params *p, int32_t base) {
    const int32_t k = p->k_h * p->k_w * p->in_c;
    if (p->groups != 1) return base + 20 * ((p->in_c + 1) & ~1) + 32;
    const int32_t ring8 = p->k_h * ((p->in_w + 2 * p->pad_w) * p->in_c + 16), ocp = (p->out_c + 15) & ~15;
    const int32_t n8 = 47 + 5 * ((k + 127) / 128 * 128) + 32 * ((p->out_c + 3) & ~3) + ring8;
    const int32_t outer = k * p->w_cont < 128 && p->out_c <= 128 ? 96 + k * ocp + k + 20 * ocp + ring8 : 0;
    /* single-channel layers with stride_w 1 (nr_run): int16 row ring, int16 weights, the table,
     * 16 pixels' sums and one pixel's */
    const int32_t rows1 = p->in_c == 1 && p->stride_w == 1
                              ? 64 + 2 * p->k_h * (p->in_w + 2 * p->pad_w + 32) + p->out_c * (2 * p->k_h * p->k_w + 84)
                              : 0;
    int32_t m = base > n8 ? base : n8;
    m = m > outer ? m : outer;
    return m > rows1 ? m : rows1;
}
#define MICO_SCRATCH(P, B) mico_a64_scratch((P), (B))
#else
/* elsewhere the long-multiply kernel's column and converted weights (mico_conv_long.c) on top */
int32_t mico_conv_long_extra(const mico_conv_params *p);
#define MICO_SCRATCH(P, B) ((B) + mico_conv_long_extra(P))
#endif

/* first layers with 2-bit activations by table lookup (mico_conv_rows.c): the tables, window rows,
 * the table and a whole output row's sums; the largest term where that path applies */
int32_t mico_conv_rows_lut_bytes(const mico_conv_params *p);

static int32_t mico_conv_kernel_scratch(const mico_conv_params *p);

/* With fused pooling and a requantized output (mico_conv_pooled), the conv's map at a byte per element
 * (and 4 bytes of slack) follows the kernel's own scratch. */
int32_t mico_conv_get_buffer_size(const mico_conv_params *p) {
    if (!p) return 0;
    const int32_t k = mico_conv_kernel_scratch(p);
    return mico_pooled_out(p) ? ((k + 3) & ~3) + p->out_h * p->out_w * p->out_c + 4 : k;
}

static int32_t mico_conv_kernel_scratch(const mico_conv_params *p) {
    if (p->groups < 1) return 0;
    if (p->groups == 1) {
        const int32_t k = p->k_h * p->k_w * p->in_c;
        const int32_t kp = (k + 31) / 32 * 32;
        /* dual-MAC: 2 pixels x kp int16; byte-lane: 2 x kp bytes; poly: 2 pixels x ceil(k / E)
         * weight words x G column words (E = 32 / w_cont elements per weight word, G words per
         * weight word: 4 for W4A4 / W2A2 / W2A4, 2 for W4A2, 8 for 1-bit weights), at most 2 kp bytes; then
         * the gathered field of one pixel (mico_gather.c, at most kp bytes and 8 of slack), the
         * per-channel requantization table (16 bytes a channel) and 2 x out_c int32 raw sums
         * (mico_conv_store_pixels.c), plus up to 3 bytes of alignment; then the ring of k_h
         * converted input rows (mico_ring_row: k_h tags; a row: in_w pixels of at most in_c / 2
         * words and in_w + 1 prefix sums); first layers (1-3 input channels, mico_conv_rows.c)
         * also keep their weights widened to int16 pairs (out_c k_h ceil(k_w in_c / 2) words) and
         * the raw sums of 4 pixels instead of 2 */
        const int32_t rows_w = p->in_c <= 3 ? 4 * p->out_c * p->k_h * ((p->k_w * p->in_c + 1) / 2) + 8 * p->out_c : 0;
        const int32_t s = MICO_SCRATCH(p, 5 * kp + 24 * p->out_c + 16 + 8 * p->k_h + p->k_h * p->in_w * (2 * p->in_c + 4) + rows_w);
        const int32_t lut = mico_conv_rows_lut_bytes(p);
        return s > lut ? s : lut;
    }
    if (p->groups == p->in_c && p->out_c == p->in_c) {
        const int32_t cp = (p->in_c + 1) & ~1;
        const int32_t gen = 2 * p->k_h * (p->in_w + 2 * p->pad_w + 2) * cp + 2 * p->k_h * (p->k_w + 1) * cp + 16;
#if !defined(__aarch64__)
        const int32_t c = p->in_c, kh = p->k_h;
        /* the 3-wide stride-1 paths (mico_conv_dw.c dw3_run): table, a row's raw sums (R = out_w
         * rounded up to 4) and R zero terms, then the larger of the int16 ring + weight pairs and
         * the byte path's int32 weights, offsets and byte ring (rows of (R + 5) & ~3) */
        if (p->k_w == 3 && p->stride_w == 1 && kh <= 16) {
            const int32_t R = (p->out_w + 3) & ~3, w2 = p->in_w + 2 * p->pad_w + 2;
            const int32_t r16 = 2 * kh * c * w2 + 2 + (8 * kh + 16) * c, r8 = 4 * (3 * kh + 4 + (3 * kh + 1) / 2) * c + kh * c * ((R + 5) & ~3);
            const int32_t d3 = 4 + 16 * c + 4 * R * c + 4 * R + (r16 > r8 ? r16 : r8);
            return MICO_SCRATCH(p, gen > d3 ? gen : d3);
        }
#endif
        return MICO_SCRATCH(p, gen);
    }
    return 0;
}
