/* Convolution (groups == 1) as im2col + a GEMM with 16-bit dual multiply-accumulates (SMLAD on
 * Cortex-M7; a C emulation elsewhere), in tiles of 2 output channels x 2 output pixels (or
 * 4 channels x 1 pixel for a single pixel, e.g. a linear layer).
 *
 * Weights are read straight from their packed rows. 8-bit weights are widened with SXTB16, which
 * yields lanes (w0, w2) and (w1, w3); sub-byte weights are made unsigned by flipping their sign
 * bit (w' = w + 2^(c-1)) and masked into 16-bit lanes (w_j, w_{j+16/c}) with one AND, no sign
 * extension; 1-bit weights are their bits w' (w = 2 w' - 1). The im2col buffer holds the two
 * pixels' activations as int16, interleaved word by word in exactly the lane order of the
 * weights, so the inner loop is one multi-word load, the weight loads / widenings and SMLADs.
 * The offsets are undone once per output: sum x w = alpha * sum x w' - o_w * sum x.
 * Channel counts that fill whole words convert each input row once into a ring of k_h rows
 * (mico_ring_row) and copy the converted words into the columns of the pixels that read them.
 * Scratch: 2 pixels x K (rounded up to 32) int16 values, the gathered field, the requantization
 * table and raw sums, the row ring (mico_conv_get_buffer_size).
 */
#include "mico_conv_check.h"
#include "mico_nn_support.h"

/* Lanes (element r, element r + n/2) of a packed input word u holding n = 32/IC elements, as
 * two 16-bit values (r < n/2). For signed sub-byte inputs u has its fields' sign bits flipped
 * (x + 2^(IC-1), unsigned) and the offset is taken off per lane (SSUB16). */
MICO_INLINE uint32_t dm_lanes(uint32_t u, int32_t r, const int32_t IC, const int SG) {
    if (IC == 8) {
        if (SG) return r ? mico_sxtb16_ror8(u) : mico_sxtb16(u);
        return (u >> (8 * r)) & 0x00FF00FFu;
    }
    const uint32_t t = (u >> (IC * r)) & (IC == 4 ? 0x000F000Fu : 0x00030003u);
    return SG ? mico_ssub16(t, IC == 4 ? 0x00080008u : 0x00020002u) : t;
}

/* One 16-bit pair (group gi, pair j) of a block of input words u; see dm_tap. */
MICO_INLINE int32_t dm_pair(const uint32_t *u, uint32_t *dst, const int32_t gi, const int32_t j, const int32_t WC,
                            const int32_t IC, const int SG, int32_t sum, const int RG) {
    const int32_t n = 32 / IC, E = 32 / WC, h = E / 2, hn = n / 2;
    const int32_t e1 = gi * E + j, e2 = e1 + h;
    const int32_t r1 = e1 % n, r2 = e2 % n;
    const uint32_t A = dm_lanes(u[e1 / n], r1 % hn, IC, SG);
    uint32_t pair;
    if (e1 / n == e2 / n && r1 % hn == r2 % hn) {
        pair = A; /* (r1, r1 + n/2): already the pair */
    } else {
        const uint32_t Bw = dm_lanes(u[e2 / n], r2 % hn, IC, SG);
        if (r1 < hn && r2 < hn) pair = mico_pack_lo(A, Bw);
        else if (r1 >= hn && r2 >= hn) pair = mico_pack_hi(A, Bw);
        else pair = (r1 < hn ? (A & 0xFFFFu) : (A >> 16)) | (r2 < hn ? (Bw << 16) : (Bw & 0xFFFF0000u));
    }
    dst[RG ? gi * h + j : WC == 8 ? gi * 4 + j : (gi * h + j) * 2] = pair;
    return WC < 8 ? mico_smlad(pair, 0x00010001u, sum) : sum;
}

/* Word-at-a-time im2col of one tap (c channels, c a multiple of max(32/IC, 32/WC)): every
 * 16-bit pair the GEMM reads is built from whole input words with shifts / masks (or SXTB16)
 * and at most one half-word pack, instead of per-element extraction. Returns sum + the tap's
 * activations when the weights are sub-byte (WC < 8). */
MICO_INLINE int32_t dm_tap(const uint8_t *src, uint32_t *colw, int32_t k, int32_t c, int32_t s, const int32_t WC,
                           const int32_t IC, const int SG, int32_t sum, const int RG) {
    const int32_t n = 32 / IC, E = 32 / WC, h = E / 2, B = n > E ? n : E, nu = B / n;
    const uint32_t flip = (SG && IC == 4) ? 0x88888888u : (SG && IC == 2) ? 0xAAAAAAAAu : 0u;
    /* a group of E elements fills E words (both pixels); k is a multiple of E here. RG: into a
     * converted pixel of the row ring instead, its pairs in order (B / 2 words a block) */
    uint32_t *dst = RG ? colw : colw + k + (WC == 8 ? 2 * s : s);
    for (int32_t e = 0; e < c; e += B, src += 4 * nu, dst += RG ? B / 2 : B) {
        uint32_t u[8];
        /* fully unrolled by hand (the compile-time guards fold away): UBSan builds reject
         * unroll pragmas */
#define DM_LOAD(I) \
        if ((I) < nu) u[(I)] = mico_load32(src + 4 * (I)) ^ flip;
        DM_LOAD(0) DM_LOAD(1) DM_LOAD(2) DM_LOAD(3) DM_LOAD(4) DM_LOAD(5) DM_LOAD(6) DM_LOAD(7)
#undef DM_LOAD
#define DM_PAIR(T) \
        if ((T) < B / 2) sum = dm_pair(u, dst, (T) / h, (T) % h, WC, IC, SG, sum, RG);
        DM_PAIR(0) DM_PAIR(1) DM_PAIR(2) DM_PAIR(3) DM_PAIR(4) DM_PAIR(5) DM_PAIR(6) DM_PAIR(7)
        DM_PAIR(8) DM_PAIR(9) DM_PAIR(10) DM_PAIR(11) DM_PAIR(12) DM_PAIR(13) DM_PAIR(14) DM_PAIR(15)
#undef DM_PAIR
    }
    return sum;
}

/* Zero the words of one tap (c elements from k) for pixel s in the layout above. */
MICO_INLINE void dm_tap_zero(uint32_t *colw, int32_t k, int32_t c, int32_t s, const int32_t WC) {
    const int32_t E = 32 / WC, h = E / 2;
    for (int32_t g = k / E; g < (k + c) / E; g++)
        for (int32_t j = 0; j < h; j++) {
            if (WC == 8) colw[g * 4 + s * 2 + j] = 0;
            else colw[(g * h + j) * 2 + s] = 0;
        }
}

/* 8-bit activations x 8-bit weights: n words of 4 bytes from src into the lane order of SXTB16'd
 * weights, (x0, x2) and (x1, x3), at dst, dst + 1 (then, DS 4, the other pixel's two words; DS 2
 * in the row ring). */
MICO_INLINE void dm_words88(const uint8_t *src, uint32_t *dst, int32_t n, int32_t sg, const int32_t DS) {
    if (sg) {
        for (int32_t i = 0; i < n; i++, src += 4, dst += DS) {
            const uint32_t w = mico_load32(src);
            dst[0] = mico_sxtb16(w);
            dst[1] = mico_sxtb16_ror8(w);
        }
    } else {
        for (int32_t i = 0; i < n; i++, src += 4, dst += DS) {
            const uint32_t w = mico_load32(src);
            dst[0] = w & 0x00FF00FFu;
            dst[1] = (w >> 8) & 0x00FF00FFu;
        }
    }
}

/* im2col of one output pixel; returns the sum of its activations (needed for sub-byte weights).
 * Channel counts that fill whole words go tap by tap straight from the input; any other count
 * first gathers the pixel's field into one contiguous stream (mico_gather_field) and converts
 * that as a single tap. */
MICO_INLINE int32_t dm_im2col_t(const mico_conv_params *p, const uint8_t *in, int32_t pix, int32_t s, int16_t *col,
                                int32_t kp, uint32_t *stream, int32_t *ring, const int32_t WC, const int32_t IC) {
    const int32_t c = p->in_c, sg = p->in_signed;
    const int32_t oh = pix / p->out_w, ow = pix % p->out_w;
    const int fast8 = IC == 8 && WC == 8 && (c & 3) == 0;
    const int32_t blk = (32 / IC > 32 / WC) ? 32 / IC : 32 / WC;
    const int words = !fast8 && (c % blk) == 0;
    uint32_t *colw = (uint32_t *)(void *)col;
    if (!fast8 && !words) {
        const int32_t ns = (kp + blk - 1) / blk * blk; /* zero tail: adds nothing to products or sums */
        mico_gather_field(p, in, pix, stream, ns, 0u);
        const uint8_t *src = (const uint8_t *)stream;
        if (IC == 8 && WC == 8) {
            dm_words88(src, colw + 2 * s, ns >> 2, sg, 4);
            return 0;
        }
        return sg ? dm_tap(src, colw, 0, ns, s, WC, IC, 1, 0, 0) : dm_tap(src, colw, 0, ns, s, WC, IC, 0, 0, 0);
    }
    const int32_t tw = c / 2; /* words of one pixel's tap: one per 16-bit pair */
    int32_t sum = 0, k = 0;
    for (int32_t kh = 0; kh < p->k_h; kh++) {
        const int32_t ih = oh * p->stride_h - p->pad_h + kh;
        const int32_t iw0 = ow * p->stride_w - p->pad_w;
        const uint32_t *row = 0, *psum = 0;
        if (ring && ih >= 0 && ih < p->in_h) {
            int fill;
            uint32_t *r = mico_ring_row(p, ring, ih, tw, &fill);
            uint32_t *ps = r + p->in_w * tw;
            if (fill) { /* convert the row once; prefix sums of its activations after its words */
                const uint8_t *src = in + ih * p->in_w * c * IC / 8;
                int32_t acc = 0;
                ps[0] = 0;
                for (int32_t iw = 0; iw < p->in_w; iw++, src += c * IC / 8) {
                    if (fast8) dm_words88(src, r + iw * tw, c >> 2, sg, 2);
                    else acc = sg ? dm_tap(src, r + iw * tw, 0, c, 0, WC, IC, 1, acc, 1)
                                  : dm_tap(src, r + iw * tw, 0, c, 0, WC, IC, 0, acc, 1);
                    ps[iw + 1] = (uint32_t)acc;
                }
            }
            row = r;
            psum = ps;
            if (p->stride_w == 1 && iw0 >= 0 && iw0 + p->k_w <= p->in_w) { /* the whole window row: one run */
                uint32_t *dst = colw + k + (WC == 8 ? 2 * s : s);
                mico_copy_slot(dst, row + iw0 * tw, p->k_w * tw, WC == 8);
                sum += (int32_t)(psum[iw0 + p->k_w] - psum[iw0]);
                k += p->k_w * c;
                continue;
            }
        }
        for (int32_t kw = 0; kw < p->k_w; kw++, k += c) {
            const int32_t iw = iw0 + kw;
            const int outside = ih < 0 || ih >= p->in_h || iw < 0 || iw >= p->in_w;
            if (row && !outside) {
                uint32_t *dst = colw + k + (WC == 8 ? 2 * s : s);
                mico_copy_slot(dst, row + iw * tw, tw, WC == 8);
                sum += (int32_t)(psum[iw + 1] - psum[iw]);
                continue;
            }
            if (fast8) {
                uint32_t *dst = (uint32_t *)(void *)(col + (k >> 2) * 8 + s * 4);
                if (outside) {
                    for (int32_t ci = 0; ci < c; ci += 4, dst += 4) dst[0] = dst[1] = 0;
                    continue;
                }
                dm_words88(in + (ih * p->in_w + iw) * c, dst, c >> 2, sg, 4);
                continue;
            }
            if (outside) {
                dm_tap_zero(colw, k, c, s, WC);
                continue;
            }
            const uint8_t *src = in + (ih * p->in_w + iw) * c * IC / 8;
            sum = sg ? dm_tap(src, colw, k, c, s, WC, IC, 1, sum, 0) : dm_tap(src, colw, k, c, s, WC, IC, 0, sum, 0);
        }
    }
    return sum; /* K is a multiple of the weight word here: kp == K, no zero tail */
}

static int32_t dm_im2col(const mico_conv_params *p, const uint8_t *in, int32_t pix, int32_t s, int16_t *col,
                         int32_t kp, uint32_t *stream, int32_t *ring) {
#define DM_CASE(W_, I_) \
    if (p->w_cont == (W_) && p->in_cont == (I_)) return dm_im2col_t(p, in, pix, s, col, kp, stream, ring, W_, I_);
    DM_CASE(8, 8) DM_CASE(8, 4) DM_CASE(8, 2)
    DM_CASE(4, 8) DM_CASE(4, 4) DM_CASE(4, 2)
    DM_CASE(2, 8) DM_CASE(2, 4) DM_CASE(2, 2)
    DM_CASE(1, 8) DM_CASE(1, 4) DM_CASE(1, 2)
#undef DM_CASE
    return 0;
}

#if defined(__thumb2__) && MICO_HAVE_DSP
#define DM_ASM 1
/* Cortex-M7, sub-byte weights: all channel pairs of a pixel pair (2x2 tiles) or of one pixel (2x1,
 * over the pixel's column compacted by dm_compact) in one assembly block; the loop state lives in
 * the job (r0 at the pair boundaries, on the stack with the column end), so the tile loop keeps
 * every register. Per weight word: 2 LDR + 2 EOR (sign flip), then per 16-bit lane pair the two
 * channels' ANDs (M, u, LSR #(c j)) into separate registers ahead of the SMLADs, so that the
 * dual-issue pipeline pairs them (a 4-bit weight word: 35 instructions, priced at 31 cycles by llvm-mca;
 * compiled, the shifts and masks took separate instructions and the row pointers spilled: 45
 * instructions). 2x2: one LDRD of both pixels' words and 4 SMLADs a lane pair; registers r1
 * column, r2 / r3 rows, r4 M, r5-r8 sums, r9 / r10 weight words, r11 / r0 lanes, r12 / lr pixels.
 * 2x1: one LDM per 4 lane pairs and 2 SMLADs a pair; r5 / r6 sums, r7 / r8 weight words, r9 / r0
 * lanes, r10-r12 / lr pixel words. 1-bit weights double the sums (w = 2 w' - 1). */
typedef struct {
    const uint32_t *xb, *xe; /* 0, 4: the column and its end */
    const uint8_t *w;        /* 8: row of the next pair's first channel */
    int32_t rs, n;           /* 12, 16: row stride, channel pairs left (>= 1) */
    int32_t *sa, *sb;        /* 20, 24: raw sums of pixel 0 (channels c, c + 1), of pixel 1 */
} dm_job;
/* T: the register that holds the column end, row stride and counts between uses */
#define DM_PAIRS_ASM(NAME, T, MASK_HI, LOADW, FLIP, JS, ZERO, DBL, STORE)                                       \
    static void __attribute__((noinline)) NAME(dm_job *job) {                                                  \
        register dm_job *j __asm__("r0") = job;                                                                \
        __asm__ volatile("ldr " T ", [r0, #4]\n\tpush {r0, " T "}\n\t"                                         \
                         "movw r4, #" MASK_HI "\n\tmovt r4, #" MASK_HI "\n\t"                                   \
                         "0:\n\tldr r1, [r0]\n\tldr r2, [r0, #8]\n\tldr " T ", [r0, #12]\n\t"                   \
                         "add r3, r2, " T "\n\tadd " T ", r3, " T "\n\tstr " T ", [r0, #8]\n\t" ZERO            \
                         "1:\n\t" LOADW FLIP JS "ldr " T ", [sp, #4]\n\tcmp r1, " T "\n\tbne 1b\n\t" DBL       \
                         "ldr r0, [sp]\n\t" STORE "ldr " T ", [r0, #16]\n\tsubs " T ", " T ", #1\n\t"           \
                         "str " T ", [r0, #16]\n\tbne 0b\n\tpop {r0, " T "}\n\t"                              \
                         : "+r"(j)                                                                              \
                         :                                                                                      \
                         : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr",    \
                           "cc", "memory");                                                                    \
    }
#define DM_FLIP(A, B, F) "eor " A ", " A ", #" F "\n\teor " B ", " B ", #" F "\n\t"
/* 2x2 */
#define DM_J(SH)                                                                                      \
    "ldrd r12, lr, [r1], #8\n\tand r11, r4, r9" SH "\n\tand r0, r4, r10" SH "\n\t"                       \
    "smlad r5, r11, r12, r5\n\tsmlad r6, r11, lr, r6\n\tsmlad r7, r0, r12, r7\n\tsmlad r8, r0, lr, r8\n\t"
#define DM_J4(A, B, C, D) DM_J(A) DM_J(B) DM_J(C) DM_J(D)
#define DM_W22 "ldr r9, [r2], #4\n\tldr r10, [r3], #4\n\t"
#define DM_Z22 "mov r5, #0\n\tmov r6, #0\n\tmov r7, #0\n\tmov r8, #0\n\t"
#define DM_D22 "lsl r5, r5, #1\n\tlsl r6, r6, #1\n\tlsl r7, r7, #1\n\tlsl r8, r8, #1\n\t"
#define DM_S22                                                                                     \
    "ldr r11, [r0, #20]\n\tstrd r5, r7, [r11], #8\n\tstr r11, [r0, #20]\n\t"                      \
    "ldr r11, [r0, #24]\n\tstrd r6, r8, [r11], #8\n\tstr r11, [r0, #24]\n\t"
#define DM_JS4 DM_J4("", ", lsr #4", ", lsr #8", ", lsr #12")
#define DM_JS2 DM_J4("", ", lsr #2", ", lsr #4", ", lsr #6") DM_J4(", lsr #8", ", lsr #10", ", lsr #12", ", lsr #14")
#define DM_JS1                                                                                                \
    DM_J4("", ", lsr #1", ", lsr #2", ", lsr #3") DM_J4(", lsr #4", ", lsr #5", ", lsr #6", ", lsr #7")     \
    DM_J4(", lsr #8", ", lsr #9", ", lsr #10", ", lsr #11") DM_J4(", lsr #12", ", lsr #13", ", lsr #14", ", lsr #15")
DM_PAIRS_ASM(dm_pairs22_w4, "r11", "0xF", DM_W22, DM_FLIP("r9", "r10", "0x88888888"), DM_JS4, DM_Z22, "", DM_S22)
DM_PAIRS_ASM(dm_pairs22_w2, "r11", "0x3", DM_W22, DM_FLIP("r9", "r10", "0xAAAAAAAA"), DM_JS2, DM_Z22, "", DM_S22)
DM_PAIRS_ASM(dm_pairs22_w1, "r11", "0x1", DM_W22, "", DM_JS1, DM_Z22, DM_D22, DM_S22)
/* 2x1 */
#define DM_P(SH, P) \
    "and r9, r4, r7" SH "\n\tand r0, r4, r8" SH "\n\tsmlad r5, r9, " P ", r5\n\tsmlad r6, r0, " P ", r6\n\t"
#define DM_P4(A, B, C, D)                                                                                   \
    "ldm r1!, {r10, r11, r12, lr}\n\t" DM_P(A, "r10")                                                  \
    DM_P(B, "r11") DM_P(C, "r12") DM_P(D, "lr")
#define DM_W21 "ldr r7, [r2], #4\n\tldr r8, [r3], #4\n\t"
#define DM_Z21 "mov r5, #0\n\tmov r6, #0\n\t"
#define DM_S21 "ldr r9, [r0, #20]\n\tstrd r5, r6, [r9], #8\n\tstr r9, [r0, #20]\n\t"
DM_PAIRS_ASM(dm_pairs21_w4, "r9", "0xF", DM_W21, DM_FLIP("r7", "r8", "0x88888888"),
             DM_P4("", ", lsr #4", ", lsr #8", ", lsr #12"), DM_Z21, "", DM_S21)
DM_PAIRS_ASM(dm_pairs21_w2, "r9", "0x3", DM_W21, DM_FLIP("r7", "r8", "0xAAAAAAAA"),
             DM_P4("", ", lsr #2", ", lsr #4", ", lsr #6") DM_P4(", lsr #8", ", lsr #10", ", lsr #12", ", lsr #14"),
             DM_Z21, "", DM_S21)
DM_PAIRS_ASM(dm_pairs21_w1, "r9", "0x1", DM_W21, "",
             DM_P4("", ", lsr #1", ", lsr #2", ", lsr #3") DM_P4(", lsr #4", ", lsr #5", ", lsr #6", ", lsr #7")
             DM_P4(", lsr #8", ", lsr #9", ", lsr #10", ", lsr #11")
             DM_P4(", lsr #12", ", lsr #13", ", lsr #14", ", lsr #15"), DM_Z21, "lsl r5, r5, #1\n\tlsl r6, r6, #1\n\t", DM_S21)
#undef DM_P
#undef DM_P4
#undef DM_J
#undef DM_J4
#undef DM_JS4
#undef DM_JS2
#undef DM_JS1
#undef DM_W22
#undef DM_Z22
#undef DM_D22
#undef DM_S22
#undef DM_W21
#undef DM_Z21
#undef DM_S21
#undef DM_FLIP
#undef DM_PAIRS_ASM
#else
#define DM_ASM 0
#endif

/* Whether the sub-byte weights' assembly pair loops run: on Cortex-M7, at every K. Against the compiled
 * tiles (measured, conv 3x3 16x16x16->16 W4A8): 1.52 instead of 1.92 instructions per MAC, and 1.42
 * simulated cycles per MAC against W8A8's 1.43. Session 13 ran one assembly call per tile and kept it
 * to K >= 256, where its setup paid off; the pair loops set up once per pixel pair. */
MICO_INLINE int dm_asm_pays(const mico_conv_params *p) { return DM_ASM && p->w_cont < 8; }

#if DM_ASM
/* The pair loop of a job for this weight container: two pixels (2x2) or one (2x1). */
MICO_INLINE void dm_pairs(dm_job *job, int two_pixels, const int32_t WC) {
    if (two_pixels) {
        if (WC == 4) dm_pairs22_w4(job);
        else if (WC == 2) dm_pairs22_w2(job);
        else dm_pairs22_w1(job);
    } else {
        if (WC == 4) dm_pairs21_w4(job);
        else if (WC == 2) dm_pairs21_w2(job);
        else dm_pairs21_w1(job);
    }
}
#endif

/* 2 channels x 2 pixels: raw dot products over nw weight words. */
MICO_INLINE void dm_tile22(const uint8_t *ra, const uint8_t *rb, const uint32_t *x, int32_t nw, const int32_t WC,
                           int32_t acc[4]) {
    int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
    const uint32_t *wpa = (const uint32_t *)(const void *)ra, *wpb = (const uint32_t *)(const void *)rb;
    if (WC == 8) {
        const uint32_t *xe = x + 4 * nw;
        for (; x < xe; x += 4) {
            const uint32_t p0 = x[0], p1 = x[1], q0 = x[2], q1 = x[3];
            uint32_t w = *wpa++;
            uint32_t w0 = mico_sxtb16(w), w1 = mico_sxtb16_ror8(w);
            a00 = mico_smlad(w0, p0, a00);
            a00 = mico_smlad(w1, p1, a00);
            a01 = mico_smlad(w0, q0, a01);
            a01 = mico_smlad(w1, q1, a01);
            w = *wpb++;
            w0 = mico_sxtb16(w);
            w1 = mico_sxtb16_ror8(w);
            a10 = mico_smlad(w0, p0, a10);
            a10 = mico_smlad(w1, p1, a10);
            a11 = mico_smlad(w0, q0, a11);
            a11 = mico_smlad(w1, q1, a11);
        }
    } else {
        const int32_t h = 16 / WC;
        const uint32_t flip = WC == 4 ? 0x88888888u : WC == 2 ? 0xAAAAAAAAu : 0u;
        const uint32_t mask = WC == 4 ? 0x000F000Fu : WC == 2 ? 0x00030003u : 0x00010001u;
        for (int32_t t = 0; t < nw; t++) {
            const uint32_t wa = *wpa++ ^ flip, wb = *wpb++ ^ flip;
#pragma GCC unroll 16
            for (int32_t j = 0; j < h; j++, x += 2) {
                const uint32_t la = (wa >> (WC * j)) & mask, lb = (wb >> (WC * j)) & mask;
                const uint32_t p = x[0], q = x[1];
                a00 = mico_smlad(la, p, a00);
                a01 = mico_smlad(la, q, a01);
                a10 = mico_smlad(lb, p, a10);
                a11 = mico_smlad(lb, q, a11);
            }
        }
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* 4 channels x 1 pixel (pixel slot 0 of the interleaved buffer). */
MICO_INLINE void dm_tile41(const uint8_t *r0, int32_t rs, const uint32_t *x, int32_t nw, const int32_t WC,
                           int32_t acc[4]) {
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    const uint32_t *w0p = (const uint32_t *)(const void *)r0;
    const uint32_t *w1p = (const uint32_t *)(const void *)(r0 + rs);
    const uint32_t *w2p = (const uint32_t *)(const void *)(r0 + 2 * rs);
    const uint32_t *w3p = (const uint32_t *)(const void *)(r0 + 3 * rs);
    if (WC == 8) {
        const uint32_t *xe = x + 4 * nw;
        for (; x < xe; x += 4) {
            const uint32_t p0 = x[0], p1 = x[1];
            uint32_t w = *w0p++;
            a0 = mico_smlad(mico_sxtb16(w), p0, a0);
            a0 = mico_smlad(mico_sxtb16_ror8(w), p1, a0);
            w = *w1p++;
            a1 = mico_smlad(mico_sxtb16(w), p0, a1);
            a1 = mico_smlad(mico_sxtb16_ror8(w), p1, a1);
            w = *w2p++;
            a2 = mico_smlad(mico_sxtb16(w), p0, a2);
            a2 = mico_smlad(mico_sxtb16_ror8(w), p1, a2);
            w = *w3p++;
            a3 = mico_smlad(mico_sxtb16(w), p0, a3);
            a3 = mico_smlad(mico_sxtb16_ror8(w), p1, a3);
        }
    } else {
        const int32_t h = 16 / WC;
        const uint32_t flip = WC == 4 ? 0x88888888u : WC == 2 ? 0xAAAAAAAAu : 0u;
        const uint32_t mask = WC == 4 ? 0x000F000Fu : WC == 2 ? 0x00030003u : 0x00010001u;
        for (int32_t t = 0; t < nw; t++) {
            const uint32_t v0 = *w0p++ ^ flip, v1 = *w1p++ ^ flip, v2 = *w2p++ ^ flip, v3 = *w3p++ ^ flip;
#pragma GCC unroll 16
            for (int32_t j = 0; j < h; j++, x += 2) {
                const uint32_t p = x[0];
                a0 = mico_smlad((v0 >> (WC * j)) & mask, p, a0);
                a1 = mico_smlad((v1 >> (WC * j)) & mask, p, a1);
                a2 = mico_smlad((v2 >> (WC * j)) & mask, p, a2);
                a3 = mico_smlad((v3 >> (WC * j)) & mask, p, a3);
            }
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* One pixel's column words (slot 0 of the two-pixel layout, every other word) moved together in place
 * (word j from word 2 j: each is read before it is overwritten), for the one-pixel assembly loop. */
MICO_INLINE void dm_compact(uint32_t *x, int32_t n) {
    for (int32_t i = 1; i < n; i++) x[i] = x[2 * i];
}

/* All output channels of 1 or 2 pixels: raw tile sums into sums[s * out_c + c], then one
 * requantization pass (mico_conv_store_pixels). */
MICO_INLINE void dm_gemm(const mico_conv_params *p, const uint32_t *x, int32_t s0, int32_t s1, int32_t pix0,
                         int32_t npix, int32_t nw, int32_t *sums, const mico_chq *tab, int32_t fast, const int32_t WC,
                         void *out) {
    const int32_t alpha = WC == 1 ? 2 : 1;
    const int32_t ow_off = WC == 8 ? 0 : WC == 1 ? 1 : (1 << (WC - 1));
    const int32_t rs = p->w_row_bytes, out_c = p->out_c;
    int32_t *sa = sums, *sb = sums + out_c;
    int32_t oc = 0;
#if DM_ASM
    if (dm_asm_pays(p) && (npix == 1 || out_c >= 2)) { /* the assembly pair loops */
        dm_job job = {x, x + (npix == 2 ? 32 : 16) / WC * nw, p->weights, rs, out_c / 2, sa, sb};
        if (out_c >= 2) dm_pairs(&job, npix == 2, WC);
        if (npix == 2) {
            oc = out_c & ~1; /* an odd last channel: the compiled tile below */
        } else {
            /* one pixel, over the compacted column (dm_compact): an odd last channel as a pair of its
             * row with itself (the second sum lands in sums[out_c], unused with one pixel) */
            if (out_c & 1) {
                dm_job last = {x, job.xe, p->weights + (out_c - 1) * rs, 0, 1, sa + out_c - 1, 0};
                dm_pairs(&last, 0, WC);
            }
            oc = out_c;
        }
    }
#endif
    if (npix == 1) {
        for (; oc + 4 <= out_c; oc += 4) {
            int32_t acc[4];
            dm_tile41(p->weights + oc * rs, rs, x, nw, WC, acc);
            for (int32_t i = 0; i < 4; i++) sa[oc + i] = alpha * acc[i];
        }
    }
    for (; oc < out_c; oc += 2) {
        const int two = oc + 1 < out_c;
        const uint8_t *ra = p->weights + oc * rs;
        int32_t acc[4];
        dm_tile22(ra, two ? ra + rs : ra, x, nw, WC, acc);
        sa[oc] = alpha * acc[0];
        sb[oc] = alpha * acc[1];
        if (two) {
            sa[oc + 1] = alpha * acc[2];
            sb[oc + 1] = alpha * acc[3];
        }
    }
    const int32_t t[2] = {ow_off * s0, ow_off * s1};
    mico_conv_store_pixels(p, sums, tab, t, pix0, npix, fast, out);
}

/* The sub-byte containers' GEMMs out of line, each with its own register allocation; the 8-bit one
 * stays inlined in the pixel loop (out of line, its call per pixel pair cost 1-2 % on conv layers;
 * inlined together with the others, its tile loop lost registers: fc 256->64 2.14 instructions per
 * MAC instead of 2.01). */
#define DM_GEMM_FN(NAME, WC)                                                                                      \
    static __attribute__((noinline)) void NAME(const mico_conv_params *p, const uint32_t *x, int32_t s0, int32_t s1, \
                                               int32_t pix0, int32_t npix, int32_t nw, int32_t *sums,              \
                                               const mico_chq *tab, int32_t fast, void *out) {                     \
        dm_gemm(p, x, s0, s1, pix0, npix, nw, sums, tab, fast, WC, out);                                          \
    }
DM_GEMM_FN(dm_gemm_4, 4)
DM_GEMM_FN(dm_gemm_2, 2)
DM_GEMM_FN(dm_gemm_1, 1)
#undef DM_GEMM_FN

mico_status mico_conv_dualmac(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                              int32_t scratch_bytes) {
    mico_status st = mico_conv_check(p);
    if (st != MICO_OK) return st;
    if (p->groups != 1) return MICO_ERR_UNSUPPORTED;
    if (!scratch || scratch_bytes < mico_conv_get_buffer_size(p)) return MICO_ERR_SCRATCH;
    const int32_t k = p->k_h * p->k_w * p->in_c;
    const int32_t per_word = 32 / p->w_cont;
    const int32_t kp = (k + per_word - 1) / per_word * per_word;
    if (kp * p->w_cont / 8 > p->w_row_bytes || ((uintptr_t)p->weights & 3u) || (p->w_row_bytes & 3)) return MICO_ERR_ARG;
    const int32_t nw = kp / per_word;
    int16_t *col = (int16_t *)(((uintptr_t)scratch + 3u) & ~(uintptr_t)3u);
    const uint32_t *x = (const uint32_t *)(const void *)col;
    uint32_t *stream = (uint32_t *)(void *)((uint8_t *)col + mico_stream_offset(p));
    mico_chq *tab = (mico_chq *)(void *)((uint8_t *)col + mico_sums_offset(p));
    int32_t *sums = (int32_t *)(void *)(tab + p->out_c);
    const int32_t fast = mico_conv_store_prepare(p, 0, tab);
    /* whole-word im2col (see dm_im2col_t) converts each input row once into the row ring */
    const int32_t blk = 32 / p->in_cont > per_word ? 32 / p->in_cont : per_word;
    const int whole = (p->w_cont == 8 && p->in_cont == 8) ? (p->in_c & 3) == 0 : p->in_c % blk == 0;
    int32_t *ring = whole && mico_ring_pays(p) ? mico_ring_reset(p, col) : 0;
    const int32_t npix = p->out_h * p->out_w;
    for (int32_t pix = 0; pix < npix; pix += 2) {
        const int32_t n = pix + 1 < npix ? 2 : 1;
        const int32_t s0 = dm_im2col(p, in, pix, 0, col, kp, stream, ring);
        const int32_t s1 = n == 2 ? dm_im2col(p, in, pix + 1, 1, col, kp, stream, ring) : 0;
        if (n == 1 && dm_asm_pays(p)) dm_compact((uint32_t *)(void *)col, kp / 2);
        switch (p->w_cont) {
            case 8: dm_gemm(p, x, s0, s1, pix, n, nw, sums, tab, fast, 8, out); break;
            case 4: dm_gemm_4(p, x, s0, s1, pix, n, nw, sums, tab, fast, out); break;
            case 2: dm_gemm_2(p, x, s0, s1, pix, n, nw, sums, tab, fast, out); break;
            default: dm_gemm_1(p, x, s0, s1, pix, n, nw, sums, tab, fast, out); break;
        }
    }
    return MICO_OK;
}
