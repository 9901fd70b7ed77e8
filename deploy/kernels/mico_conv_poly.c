/* Polynomial-packing convolution (groups == 1) for 1/2/4-bit weight containers x 2/4-bit activation
 * containers: several products per 32-bit multiply-accumulate, straight from the packed weight
 * rows (no re-packing, flash layout unchanged).
 *
 * Operands are made unsigned: x' = x + o_x (o_x = 2^(ca-1) for signed inputs, else 0; the
 * container's sign bit is flipped), w' = w + 2^(cw-1) (sign bit flipped), so
 *     sum x w = sum x'w' - o_w sum x' - o_x sum w     (sum w = wsum, sum x' over the real K).
 * 1-bit weights (w = 2 w' - 1, w' the stored bit) meet 2 x' in the column instead of x', so the
 * same formula holds with o_w = 1: sum x w = sum (2 x') w' - sum x' - o_x sum w.
 * A weight word u' (E = 32/cw elements) is split into G groups of F fields of spacing S bits
 * (F S = 32) with ONE shift + AND: y_g = (u' >> cw g) & M holds element g + f G at bit f S
 * (f = 0..F-1; S / cw = G makes the fields line up). The im2col buffer holds the matching
 * activations reversed: x_g has a_{g + f G} at bit (F-1-f) S. In the 32-bit product x_g y_g the
 * field at bit D = (F-1) S collects sum_f a_{g+fG} w_{g+fG} (the dot product of the group);
 * every cross term lands either below D or at/above bit 32 (discarded: MUL/MLA keep the low
 * 32 bits). Layouts (products per multiply, flush interval):
 *     W4 x A4: S = 16, F = 2, G = 4, M = 0x000F000F
 *     W4 x A2: S = 8,  F = 4, G = 2, M = 0x0F0F0F0F
 *     W2 x A2: S = 8,  F = 4, G = 4, M = 0x03030303
 *     W2 x A4: S = 8,  F = 4, G = 4, M = 0x03030303
 *     W1 x A2, W1 x A4: S = 8, F = 4, G = 8, M = 0x01010101
 * Bounds (P = max x' * max w' with container maxima, so any container content is exact): after
 * n accumulated multiplies the dot field holds at most n F P and field j < F-1 (j+1 products
 * per multiply) at most n (j+1) P. The extraction (acc >> D) is exact while
 *     n F P <= 2^S - 1                                  (dot field does not overflow) and
 *     n P sum_{j<F-1} (j+1) 2^(j S) <= 2^D - 1           (lower fields never carry into bit D),
 * mico_field_steps() returns the largest such n (W4A4: 145, W2A2: 7, W1A2: 10, W4A2 / W2A4: 1, W1A4: 2;
 * 1-bit weights count P with 2 x'). With n >= G a whole
 * number of weight words (n / G) is accumulated per extraction (MLA); otherwise every product
 * is extracted on its own (MUL + ADD with LSR, still F products per multiply).
 * Tiles: 2 output channels x 2 pixels; x words of the two pixels are interleaved, so one
 * double-word load feeds 4 multiplies. The K tail (K not a multiple of E) holds x' = 0 (adds
 * nothing, not counted in sum x'); pixels outside the image are x = 0, i.e. x' = o_x.
 * Scratch: 2 pixels x ceil(K/E) words x G words = at most 2 K (rounded up to 32) bytes, then the
 * gathered field of one pixel (channel counts that do not fill whole weight words) and, for
 * channel counts that do, the ring of converted input rows (G c / E words a pixel), within
 * mico_conv_get_buffer_size.
 */
#include "mico_conv_check.h"
#include "mico_nn_support.h"

int32_t mico_conv_poly_ok(const mico_conv_params *p);
int32_t mico_conv_poly_ok(const mico_conv_params *p) {
    return p && p->groups == 1 && (p->w_cont == 1 || p->w_cont == 2 || p->w_cont == 4) &&
           (p->in_cont == 2 || p->in_cont == 4) &&
           p->wsum != 0;
}

MICO_INLINE uint32_t pl_rev(uint32_t v) { return __builtin_bswap32(v); /* REV */ }
MICO_INLINE uint32_t pl_ror16(uint32_t v) { return (v >> 16) | (v << 16); /* ROR #16 */ }

/* acc + x * y (MLA). On Thumb-2 as inline assembly so that the compiler keeps one accumulate
 * chain per accumulator (left to itself it re-associates the sums and spills). */
MICO_INLINE uint32_t pl_mla(uint32_t x, uint32_t y, uint32_t acc) {
#if defined(__thumb2__)
    __asm__("mla %0, %1, %2, %0" : "+r"(acc) : "r"(x), "r"(y));
    return acc;
#else
    return acc + x * y;
#endif
}


/* Group words in the column's reversed field order: ROR #16 for two 16-bit fields, REV for four
 * bytes. */
MICO_INLINE uint32_t pl_field_word(uint32_t f, const int32_t CA) { return CA == 4 ? pl_ror16(f) : pl_rev(f); }

/* Sum of the CONT-bit fields (2 or 4) of v. */
MICO_INLINE uint32_t pl_fsum(uint32_t v, const int32_t CONT) {
    if (CONT == 2) v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    v = (v & 0x0F0F0F0Fu) + ((v >> 4) & 0x0F0F0F0Fu);
    return (v * 0x01010101u) >> 24;
}

/* The x words of n elements (a whole number of weight words, n / E of them) from the packed input
 * at src to dst: word (t G + g) DS of weight word t, group g (DS 2: a pixel slot of the column,
 * DS 1: a converted pixel of the row ring); returns sum x'. */
MICO_INLINE int32_t pl_words(const uint8_t *src, uint32_t *dst, int32_t n, int32_t sg, const int32_t WC,
                             const int32_t CA, const int32_t DS) {
    const int32_t E = 32 / WC, G = E / (WC == 4 && CA == 4 ? 2 : 4);
    const uint32_t fl4 = sg ? 0x88888888u : 0u, fl2 = sg ? 0xAAAAAAAAu : 0u;
    int32_t sum = 0;
    for (int32_t ci = 0; ci < n; ci += E, dst += DS * G, src += E * CA / 8) {
        if (WC == CA) { /* W4A4: 8 nibbles, x_g = ror16((v >> 4g) & 0x000F000F); W2A2: 16 crumbs,
                         * x_g = rev((v >> 2g) & 0x03030303) */
            const uint32_t M = CA == 4 ? 0x000F000Fu : 0x03030303u;
            const uint32_t v = mico_load32(src) ^ (CA == 4 ? fl4 : fl2);
            dst[0] = pl_field_word(v & M, CA);
            dst[DS] = pl_field_word((v >> CA) & M, CA);
            dst[2 * DS] = pl_field_word((v >> (2 * CA)) & M, CA);
            dst[3 * DS] = pl_field_word((v >> (3 * CA)) & M, CA);
            sum += (int32_t)pl_fsum(v, CA);
        } else if (WC == 4 && CA == 2) { /* 8 crumbs (16 bits): nibble f -> byte f */
            const uint32_t h = ((uint32_t)src[0] | ((uint32_t)src[1] << 8)) ^ (fl2 & 0xFFFFu);
            uint32_t t = (h | (h << 8)) & 0x00FF00FFu;
            t = (t | (t << 4)) & 0x0F0F0F0Fu;
            dst[0] = pl_rev(t & 0x03030303u);
            dst[DS] = pl_rev((t >> 2) & 0x03030303u);
            const uint32_t q = (t & 0x03030303u) + ((t >> 2) & 0x03030303u);
            sum += (int32_t)((q * 0x01010101u) >> 24);
        } else if (WC == 1 && CA == 2) { /* 32 crumbs in two words; x_g bytes (3..0) = 2 a_{g+8f}, f = 0..3 */
            const uint32_t v0 = mico_load32(src) ^ fl2, v1 = mico_load32(src + 4) ^ fl2;
#pragma GCC unroll 8
            for (int32_t g = 0; g < 8; g++) {
                const uint32_t A = (v0 >> (2 * g)) & 0x00030003u, B = (v1 >> (2 * g)) & 0x00030003u;
                dst[DS * g] = (A << 25) | ((A & 0x00030000u) << 1) | ((B & 0x3u) << 9) | (B >> 15);
            }
            sum += (int32_t)(pl_fsum(v0, 2) + pl_fsum(v1, 2));
        } else if (WC == 1) { /* W1 x A4: 32 nibbles in four words; x_g bytes (3..0) = 2 a_{g+8f}, f = 0..3 */
            const uint32_t v0 = mico_load32(src) ^ fl4, v1 = mico_load32(src + 4) ^ fl4;
            const uint32_t v2 = mico_load32(src + 8) ^ fl4, v3 = mico_load32(src + 12) ^ fl4;
            /* byte j of lo (hi): nibble g = 2j (2j + 1) of words (0, 1, 2, 3), i.e. a_{g+8f}, f = 0..3, at bits 15..0 */
            const uint32_t lo01 = ((v0 & 0x0F0F0F0Fu) << 4) | (v1 & 0x0F0F0F0Fu);
            const uint32_t hi01 = (v0 & 0xF0F0F0F0u) | ((v1 >> 4) & 0x0F0F0F0Fu);
            const uint32_t lo23 = ((v2 & 0x0F0F0F0Fu) << 4) | (v3 & 0x0F0F0F0Fu);
            const uint32_t hi23 = (v2 & 0xF0F0F0F0u) | ((v3 >> 4) & 0x0F0F0F0Fu);
#pragma GCC unroll 4
            for (int32_t j = 0; j < 4; j++) { /* four nibbles n3..n0 -> bytes 3..0, doubled */
                uint32_t l = (((lo01 >> (8 * j)) & 0xFFu) << 8) | ((lo23 >> (8 * j)) & 0xFFu);
                uint32_t h = (((hi01 >> (8 * j)) & 0xFFu) << 8) | ((hi23 >> (8 * j)) & 0xFFu);
                l = (l | (l << 8)) & 0x00FF00FFu;
                h = (h | (h << 8)) & 0x00FF00FFu;
                dst[DS * (2 * j)] = ((l | (l << 4)) & 0x0F0F0F0Fu) << 1;
                dst[DS * (2 * j + 1)] = ((h | (h << 4)) & 0x0F0F0F0Fu) << 1;
            }
            sum += (int32_t)(pl_fsum(v0, 4) + pl_fsum(v1, 4) + pl_fsum(v2, 4) + pl_fsum(v3, 4));
        } else { /* W2 x A4: 16 nibbles in two words; x_g bytes (3..0) = a_g, a_g+4, a_g+8, a_g+12 */
            const uint32_t v0 = mico_load32(src) ^ fl4, v1 = mico_load32(src + 4) ^ fl4;
            for (int32_t g = 0; g < 4; g++) {
                const uint32_t A = (v0 >> (4 * g)) & 0x000F000Fu, B = (v1 >> (4 * g)) & 0x000F000Fu;
                dst[DS * g] = (A << 24) | (A & 0x000F0000u) | ((B & 0xFu) << 8) | (B >> 16);
            }
            const uint32_t t = (v0 & 0x0F0F0F0Fu) + ((v0 >> 4) & 0x0F0F0F0Fu) + (v1 & 0x0F0F0F0Fu) +
                               ((v1 >> 4) & 0x0F0F0F0Fu);
            sum += (int32_t)((t * 0x01010101u) >> 24);
        }
    }
    return sum;
}

/* Build the x words of pixel slot s: col word (t G + g) 2 + s is group g of weight word t.
 * Returns sum x' over the K real elements. Channel counts that fill whole weight words go tap by
 * tap: with a row ring (mico_ring_row) each input row is converted once and its pixels' words
 * are copied, else each tap is converted straight from the input; any other count first gathers
 * the pixel's field into one contiguous stream whose tail (to nw E elements) holds x' = 0. */
MICO_INLINE int32_t pl_im2col(const mico_conv_params *p, const uint8_t *in, int32_t pix, int32_t s, uint32_t *col,
                              int32_t nw, uint32_t ox, uint32_t *stream, int32_t *ring, const int32_t WC,
                              const int32_t CA, const int32_t S) {
    const int32_t F = 32 / S, E = 32 / WC, G = E / F;
    const int32_t c = p->in_c, sg = p->in_signed;
    if (c % E != 0) {
        mico_gather_field(p, in, pix, stream, nw * E, sg ? 1u << (CA - 1) : 0u);
        return pl_words((const uint8_t *)stream, col + s, nw * E, sg, WC, CA, 2);
    }
    /* x' pattern of an outside pixel: o_x in every field */
    const uint32_t opat = ox * (S == 16 ? 0x00010001u : 0x01010101u) * (WC == 1 ? 2u : 1u);
    const int32_t tw = G * (c / E); /* column words of one tap (one pixel) */
    int32_t sum = 0;
#define PL_CONV(E0, D, DS) pl_words(in + (E0) * CA / 8, (D), c, sg, WC, CA, (DS))
    MICO_RING_TAPS(p, pix, col + s, tw, ring, opat, ox * (uint32_t)c, sum, PL_CONV);
#undef PL_CONV
    return sum;
}

#if defined(__thumb2__) && MICO_HAVE_DSP
#define PL_ASM 1
/* Thumb-2 inner loops (Cortex-M7) as inline assembly: left to itself the compiler re-associates
 * the multiply-accumulate chains and hoists the loads, and the spills cost more than the MACs.
 * Each loop runs whole weight words until the column pointer reaches xe; the "m" operands tell
 * the compiler which memory the loop reads (weight rows and the column buffer). */
#define PL_AND(Y, U, SH) "and %[" Y "], %[M], %[" U "]" SH "\n\t"
#define PL_LSR(N) ", lsr #" #N

/* The inputs and clobbers of every tile loop below: the mask, the column end (memory), and the weight
 * rows and column the loop reads. */
#define PL_LOOP_IN                                                                                         \
    : [M] "r"(M), [xe] "m"(xe), "m"(*(const uint32_t(*)[])wa), "m"(*(const uint32_t(*)[])wb),               \
      "m"(*(const uint32_t(*)[])x)                                                                        \
    : "cc"

/* W4 x A4 (S 16), 2 channels x 2 pixels: p += x'w' products, no extraction inside. */
#define PL_A_GRP(SH)                                                                      \
    "ldrd %[x0], %[x1], [%[x]], #8\n\t" PL_AND("y", "ua", SH) PL_AND("t", "ub", SH)       \
    "mla %[p00], %[x0], %[y], %[p00]\n\tmla %[p01], %[x1], %[y], %[p01]\n\t"                 \
    "mla %[p10], %[x0], %[t], %[p10]\n\tmla %[p11], %[x1], %[t], %[p11]\n\t"
#define PL_A_WORD                                                                                \
    "ldr %[ua], [%[wa]], #4\n\tldr %[ub], [%[wb]], #4\n\t"                                     \
    "eor %[ua], %[ua], #0x88888888\n\teor %[ub], %[ub], #0x88888888\n\t" PL_A_GRP("")          \
        PL_A_GRP(PL_LSR(4)) PL_A_GRP(PL_LSR(8)) PL_A_GRP(PL_LSR(12))
#define PL_A_OPS                                                                                  \
    : [p00] "+r"(p00), [p01] "+r"(p01), [p10] "+r"(p10), [p11] "+r"(p11), [wa] "+r"(wa), [wb] "+r"(wb), \
      [x] "+r"(x), [ua] "=&r"(ua), [ub] "=&r"(ub), [y] "=&r"(y), [t] "=&r"(t), [x0] "=&r"(x0), [x1] "=&r"(x1) \
    PL_LOOP_IN
/* n >= 1 weight words: an odd one first, then two words per loop iteration */
MICO_INLINE void pl_a22(const uint32_t *wa, const uint32_t *wb, const uint32_t *x, const uint32_t *xe, int32_t n,
                        uint32_t M, uint32_t p[4]) {
    uint32_t p00 = p[0], p01 = p[1], p10 = p[2], p11 = p[3], ua, ub, y, t, x0, x1;
    if (n & 1) __asm__ volatile(PL_A_WORD PL_A_OPS);
    if (n > 1) __asm__ volatile("1:\n\t" PL_A_WORD PL_A_WORD "ldr %[y], %[xe]\n\tcmp %[x], %[y]\n\tbne 1b\n\t" PL_A_OPS);
    p[0] = p00;
    p[1] = p01;
    p[2] = p10;
    p[3] = p11;
}

/* One weight word of both channels (pl_b22, the pair loops): per channel the word, then per group the
 * two pixels' column words (LDRD) and two multiplies; the next group's field is masked into the other
 * of y / y2 ahead of them, so that the dual-issue pipeline pairs the AND with a multiply (llvm-mca:
 * 36 instead of 42 cycles a W2 x A2 word, 60 instead of 74 a W1 x A2 word). W2: four groups, sign
 * bits flipped; W1: eight groups (shift 1 apart), the bit is w'. */
#define PL_BLA(OFF) "ldrd %[x0], %[x1], [%[x], #" OFF "]\n\t" /* channel a: column words in place */
#define PL_BLB "ldrd %[x0], %[x1], [%[x]], #8\n\t"             /* channel b: and step past them */
#define PL_BMUL(Y) "mul %[q0], %[x0], %[" Y "]\n\tmul %[q1], %[x1], %[" Y "]\n\t"
#define PL_BMLA(Y) "mla %[q0], %[x0], %[" Y "], %[q0]\n\tmla %[q1], %[x1], %[" Y "], %[q1]\n\t"
#define PL_B_FLUSH(A) "pkhtb %[y], %[q1], %[q0], asr #16\n\tuxtab16 %[" A "], %[" A "], %[y], ror #8\n\t"
#define PL_B2_CH(W, L0, L1, L2, L3, A)                                                                         \
    "ldr %[u], [%[" W "]], #4\n\teor %[u], %[u], #0xAAAAAAAA\n\t" PL_AND("y", "u", "") L0                       \
        PL_AND("y2", "u", PL_LSR(2)) PL_BMUL("y") L1 PL_AND("y", "u", PL_LSR(4)) PL_BMLA("y2") L2            \
            PL_AND("y2", "u", PL_LSR(6)) PL_BMLA("y") L3 PL_BMLA("y2") PL_B_FLUSH(A)
#define PL_B1_CH(W, L0, L1, L2, L3, L4, L5, L6, L7, A)                                                         \
    "ldr %[u], [%[" W "]], #4\n\t" PL_AND("y", "u", "") L0 PL_AND("y2", "u", PL_LSR(1)) PL_BMUL("y") L1         \
        PL_AND("y", "u", PL_LSR(2)) PL_BMLA("y2") L2 PL_AND("y2", "u", PL_LSR(3)) PL_BMLA("y") L3              \
            PL_AND("y", "u", PL_LSR(4)) PL_BMLA("y2") L4 PL_AND("y2", "u", PL_LSR(5)) PL_BMLA("y") L5          \
                PL_AND("y", "u", PL_LSR(6)) PL_BMLA("y2") L6 PL_AND("y2", "u", PL_LSR(7)) PL_BMLA("y") L7      \
                    PL_BMLA("y2") PL_B_FLUSH(A)
#define PL_B_BODY                                                                              \
    PL_B2_CH("wa", PL_BLA("0"), PL_BLA("8"), PL_BLA("16"), PL_BLA("24"), "a0")                    \
    PL_B2_CH("wb", PL_BLB, PL_BLB, PL_BLB, PL_BLB, "a1")
#define PL_B1_BODY                                                                                            \
    PL_B1_CH("wa", PL_BLA("0"), PL_BLA("8"), PL_BLA("16"), PL_BLA("24"), PL_BLA("32"), PL_BLA("40"), PL_BLA("48"), \
             PL_BLA("56"), "a0")                                                                              \
    PL_B1_CH("wb", PL_BLB, PL_BLB, PL_BLB, PL_BLB, PL_BLB, PL_BLB, PL_BLB, PL_BLB, "a1")

/* W2 x A2 / W1 x A2 (S 8), 2 channels x 2 pixels: per weight word the dot bytes of both pixels go
 * into the two 16-bit lanes of a0 (channel a) / a1 (channel b) with PKHTB + UXTAB16; the column
 * words are read once per channel (fewer live registers than keeping both weight words). */
#define PL_B_OPS                                                                                                \
    : [a0] "+r"(a0), [a1] "+r"(a1), [wa] "+r"(wa), [wb] "+r"(wb), [x] "+r"(x), [q0] "=&r"(q0), [q1] "=&r"(q1), \
      [u] "=&r"(u), [y] "=&r"(y), [y2] "=&r"(y2), [x0] "=&r"(x0), [x1] "=&r"(x1)                              \
    PL_LOOP_IN
MICO_INLINE void pl_b22(const uint32_t *wa, const uint32_t *wb, const uint32_t *x, const uint32_t *xe, uint32_t M,
                        uint32_t *a0p, uint32_t *a1p, const int32_t WC) {
    uint32_t a0 = *a0p, a1 = *a1p, q0, q1, u, y, y2, x0, x1;
    if (WC == 1) __asm__ volatile("1:\n\t" PL_B1_BODY "ldr %[y], %[xe]\n\tcmp %[x], %[y]\n\tbne 1b\n\t" PL_B_OPS);
    else __asm__ volatile("1:\n\t" PL_B_BODY "ldr %[y], %[xe]\n\tcmp %[x], %[y]\n\tbne 1b\n\t" PL_B_OPS);
    *a0p = a0;
    *a1p = a1;
}

/* W4 x A2 / W2 x A4 (S 8, every product extracted), 2 channels x 2 pixels: the dot bytes of the
 * two pixels' products go into the 16-bit lanes of a0 / a1 (PKHTB + UXTAB16). */
#define PL_C_GRP(SH)                                                                            \
    "ldrd %[x0], %[x1], [%[x]], #8\n\t" PL_AND("y", "ua", SH) PL_AND("y2", "ub", SH)              \
    "mul %[t0], %[x0], %[y]\n\tmul %[t1], %[x1], %[y]\n\tmul %[y], %[x0], %[y2]\n\t"               \
    "pkhtb %[t0], %[t1], %[t0], asr #16\n\tmul %[t1], %[x1], %[y2]\n\t"                           \
    "uxtab16 %[a0], %[a0], %[t0], ror #8\n\tpkhtb %[t0], %[t1], %[y], asr #16\n\t"                  \
    "uxtab16 %[a1], %[a1], %[t0], ror #8\n\t"
#define PL_C_OPS                                                                                         \
    : [a0] "+r"(a0), [a1] "+r"(a1), [wa] "+r"(wa), [wb] "+r"(wb), [x] "+r"(x), [ua] "=&r"(ua), [ub] "=&r"(ub), \
      [y] "=&r"(y), [y2] "=&r"(y2), [x0] "=&r"(x0), [x1] "=&r"(x1), [t0] "=&r"(t0), [t1] "=&r"(t1)       \
    PL_LOOP_IN
MICO_INLINE void pl_c22(const uint32_t *wa, const uint32_t *wb, const uint32_t *x, const uint32_t *xe, uint32_t M,
                        uint32_t *a0p, uint32_t *a1p, const int32_t WC) {
    uint32_t a0 = *a0p, a1 = *a1p, ua, ub, y, y2, x0, x1, t0, t1;
    if (WC == 1) /* W1 x A4: eight groups, no sign flip */
        __asm__ volatile("1:\n\t"
                         "ldr %[ua], [%[wa]], #4\n\tldr %[ub], [%[wb]], #4\n\t"
                         PL_C_GRP("") PL_C_GRP(PL_LSR(1)) PL_C_GRP(PL_LSR(2)) PL_C_GRP(PL_LSR(3))
                         PL_C_GRP(PL_LSR(4)) PL_C_GRP(PL_LSR(5)) PL_C_GRP(PL_LSR(6)) PL_C_GRP(PL_LSR(7))
                         "ldr %[y], %[xe]\n\tcmp %[x], %[y]\n\tbne 1b\n\t" PL_C_OPS);
    else if (WC == 4)
        __asm__ volatile("1:\n\t"
                         "ldr %[ua], [%[wa]], #4\n\tldr %[ub], [%[wb]], #4\n\t"
                         "eor %[ua], %[ua], #0x88888888\n\teor %[ub], %[ub], #0x88888888\n\t"
                         PL_C_GRP("") PL_C_GRP(PL_LSR(4))
                         "ldr %[y], %[xe]\n\tcmp %[x], %[y]\n\tbne 1b\n\t" PL_C_OPS);
    else
        __asm__ volatile("1:\n\t"
                         "ldr %[ua], [%[wa]], #4\n\tldr %[ub], [%[wb]], #4\n\t"
                         "eor %[ua], %[ua], #0xAAAAAAAA\n\teor %[ub], %[ub], #0xAAAAAAAA\n\t"
                         PL_C_GRP("") PL_C_GRP(PL_LSR(2)) PL_C_GRP(PL_LSR(4)) PL_C_GRP(PL_LSR(6))
                         "ldr %[y], %[xe]\n\tcmp %[x], %[y]\n\tbne 1b\n\t" PL_C_OPS);
    *a0p = a0;
    *a1p = a1;
}

/* Single pixel (linear layers, odd pixel counts), 2 channels: slot-0 column words (stride 2). */
#define PL_1_OPS                                                                                          \
    : [a0] "+r"(a0), [a1] "+r"(a1), [wa] "+r"(wa), [wb] "+r"(wb), [x] "+r"(x), [ua] "=&r"(ua), [ub] "=&r"(ub), \
      [y] "=&r"(y), [t] "=&r"(t), [x0] "=&r"(x0), [q0] "=&r"(q0), [q1] "=&r"(q1)                          \
    PL_LOOP_IN
#define PL_1_LOAD(FL) "1:\n\tldr %[ua], [%[wa]], #4\n\tldr %[ub], [%[wb]], #4\n\t" \
    "eor %[ua], %[ua], #" FL "\n\teor %[ub], %[ub], #" FL "\n\t"
#define PL_1_LOAD1 "1:\n\tldr %[ua], [%[wa]], #4\n\tldr %[ub], [%[wb]], #4\n\t" /* 1-bit: no flip */
#define PL_1_END "ldr %[y], %[xe]\n\tcmp %[x], %[y]\n\tbne 1b\n\t"
/* Each group: the column word, both channels' fields (AND into y and t, ahead of the multiplies, so
 * that the dual-issue pipeline pairs them with the load and the adds), then the two multiplies. */
#define PL_1G(SH) "ldr %[x0], [%[x]], #8\n\t" PL_AND("y", "ua", SH) PL_AND("t", "ub", SH)
/* accumulate (mode A: a += x'w', extracted by the caller per block) */
#define PL_1A(SH) PL_1G(SH) "mla %[a0], %[x0], %[y], %[a0]\n\tmla %[a1], %[x0], %[t], %[a1]\n\t"
/* per word (mode B): q = sum of the word's products, a += q >> 24 */
#define PL_1B(OP, SH) PL_1G(SH) #OP " %[q0], %[x0], %[y]" PL_1B_##OP("q0") "\n\t" \
    #OP " %[q1], %[x0], %[t]" PL_1B_##OP("q1") "\n\t"
#define PL_1B_mul(Q) ""
#define PL_1B_mla(Q) ", %[" Q "]"
/* every product (mode C): a += (x'y) >> 24 */
#define PL_1C(SH) PL_1G(SH) "mul %[q0], %[x0], %[y]\n\tmul %[q1], %[x0], %[t]\n\t" \
    "add %[a0], %[a0], %[q0], lsr #24\n\tadd %[a1], %[a1], %[q1], lsr #24\n\t"
MICO_INLINE void pl_x21(const uint32_t *wa, const uint32_t *wb, const uint32_t *x, const uint32_t *xe, uint32_t M,
                        uint32_t *a0p, uint32_t *a1p, const int32_t WC, const int32_t S, const int FE) {
    uint32_t a0 = *a0p, a1 = *a1p, ua, ub, y, t, x0, q0, q1;
    if (S == 16)
        __asm__ volatile(PL_1_LOAD("0x88888888") PL_1A("") PL_1A(PL_LSR(4)) PL_1A(PL_LSR(8)) PL_1A(PL_LSR(12))
                         PL_1_END PL_1_OPS);
    else if (!FE && WC == 1)
        __asm__ volatile(PL_1_LOAD1 PL_1B(mul, "") PL_1B(mla, PL_LSR(1)) PL_1B(mla, PL_LSR(2)) PL_1B(mla, PL_LSR(3))
                         PL_1B(mla, PL_LSR(4)) PL_1B(mla, PL_LSR(5)) PL_1B(mla, PL_LSR(6)) PL_1B(mla, PL_LSR(7))
                         "add %[a0], %[a0], %[q0], lsr #24\n\tadd %[a1], %[a1], %[q1], lsr #24\n\t" PL_1_END PL_1_OPS);
    else if (!FE)
        __asm__ volatile(PL_1_LOAD("0xAAAAAAAA") PL_1B(mul, "") PL_1B(mla, PL_LSR(2)) PL_1B(mla, PL_LSR(4))
                         PL_1B(mla, PL_LSR(6)) "add %[a0], %[a0], %[q0], lsr #24\n\t"
                         "add %[a1], %[a1], %[q1], lsr #24\n\t" PL_1_END PL_1_OPS);
    else if (WC == 4)
        __asm__ volatile(PL_1_LOAD("0x88888888") PL_1C("") PL_1C(PL_LSR(4)) PL_1_END PL_1_OPS);
    else if (WC == 1)
        __asm__ volatile(PL_1_LOAD1 PL_1C("") PL_1C(PL_LSR(1)) PL_1C(PL_LSR(2)) PL_1C(PL_LSR(3)) PL_1C(PL_LSR(4))
                         PL_1C(PL_LSR(5)) PL_1C(PL_LSR(6)) PL_1C(PL_LSR(7)) PL_1_END PL_1_OPS);
    else
        __asm__ volatile(PL_1_LOAD("0xAAAAAAAA") PL_1C("") PL_1C(PL_LSR(2)) PL_1C(PL_LSR(4)) PL_1C(PL_LSR(6))
                         PL_1_END PL_1_OPS);
    *a0p = a0;
    *a1p = a1;
}
#else
#define PL_ASM 0
#endif

/* 2 channels x (1 or 2) pixels: raw sums of x'w' over nw weight words; nb words per extraction
 * (FE: every product extracted on its own); lw: words per flush of 16-bit lane accumulators. */
MICO_INLINE void pl_tile(const uint32_t *wa, const uint32_t *wb, const uint32_t *x, int32_t nw, int32_t nb, int32_t lw,
                         const int32_t WC, const int32_t S, const int FE, const int P2, int32_t acc[4]) {
    const int32_t F = 32 / S, G = 32 / WC / F, D = (F - 1) * S;
    uint32_t M = WC == 4 ? (S == 16 ? 0x000F000Fu : 0x0F0F0F0Fu) : WC == 2 ? 0x03030303u : 0x01010101u;
    /* keep the mask in a register: each field selection is then one AND with a shifted operand */
    __asm__("" : "+r"(M));
    const uint32_t flip = WC == 4 ? 0x88888888u : WC == 2 ? 0xAAAAAAAAu : 0u;
    uint32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
    (void)lw;
#if PL_ASM
    if (P2 && nw > 0) {
        if (!FE && S == 16 && nw <= nb) { /* W4 x A4, one block (K <= 8 nb): extract bits 16..31 */
            uint32_t pp[4] = {0, 0, 0, 0};
            pl_a22(wa, wb, x, x + 2 * G * nw, nw, M, pp);
            acc[0] = (int32_t)(pp[0] >> D);
            acc[1] = (int32_t)(pp[1] >> D);
            acc[2] = (int32_t)(pp[2] >> D);
            acc[3] = (int32_t)(pp[3] >> D);
            return;
        }
        if (!FE && S == 16) { /* W4 x A4: blocks of nb words, then extract bits 16..31 */
            for (int32_t t = 0; t < nw; t += nb) {
                const int32_t n = nw - t > nb ? nb : nw - t;
                uint32_t pp[4] = {0, 0, 0, 0};
                pl_a22(wa + t, wb + t, x + 2 * G * t, x + 2 * G * (t + n), n, M, pp);
                a00 += pp[0] >> D;
                a01 += pp[1] >> D;
                a10 += pp[2] >> D;
                a11 += pp[3] >> D;
            }
        } else if (nw <= lw) { /* 16-bit lanes, one chunk */
            uint32_t l0 = 0, l1 = 0;
            if (FE) pl_c22(wa, wb, x, x + 2 * G * nw, M, &l0, &l1, WC);
            else pl_b22(wa, wb, x, x + 2 * G * nw, M, &l0, &l1, WC);
            acc[0] = (int32_t)(l0 & 0xFFFFu);
            acc[1] = (int32_t)(l0 >> 16);
            acc[2] = (int32_t)(l1 & 0xFFFFu);
            acc[3] = (int32_t)(l1 >> 16);
            return;
        } else { /* 16-bit lanes: each word adds at most E P <= 720 per lane */
            const int32_t chunk = lw;
            for (int32_t t = 0; t < nw; t += chunk) {
                const int32_t n = nw - t > chunk ? chunk : nw - t;
                uint32_t l0 = 0, l1 = 0;
                if (FE) pl_c22(wa + t, wb + t, x + 2 * G * t, x + 2 * G * (t + n), M, &l0, &l1, WC);
                else pl_b22(wa + t, wb + t, x + 2 * G * t, x + 2 * G * (t + n), M, &l0, &l1, WC);
                a00 += l0 & 0xFFFFu;
                a01 += l0 >> 16;
                a10 += l1 & 0xFFFFu;
                a11 += l1 >> 16;
            }
        }
        acc[0] = (int32_t)a00;
        acc[1] = (int32_t)a01;
        acc[2] = (int32_t)a10;
        acc[3] = (int32_t)a11;
        return;
    }
    if (!P2 && nw > 0) {
        if (!FE && S == 16) {
            for (int32_t t = 0; t < nw; t += nb) {
                const int32_t n = nw - t > nb ? nb : nw - t;
                uint32_t q0 = 0, q1 = 0;
                pl_x21(wa + t, wb + t, x + 2 * G * t, x + 2 * G * (t + n), M, &q0, &q1, WC, S, FE);
                a00 += q0 >> D;
                a10 += q1 >> D;
            }
        } else {
            pl_x21(wa, wb, x, x + 2 * G * nw, M, &a00, &a10, WC, S, FE);
        }
        acc[0] = (int32_t)a00;
        acc[1] = 0;
        acc[2] = (int32_t)a10;
        acc[3] = 0;
        return;
    }
#endif
    if (FE) {
        for (int32_t t = 0; t < nw; t++, x += 2 * G) {
            const uint32_t ua = wa[t] ^ flip, ub = wb[t] ^ flip;
#pragma GCC unroll 8
            for (int32_t g = 0; g < G; g++) {
                const uint32_t ya = (ua >> (WC * g)) & M, yb = (ub >> (WC * g)) & M;
                const uint32_t x0 = x[2 * g], x1 = x[2 * g + 1];
                a00 += (x0 * ya) >> D;
                a10 += (x0 * yb) >> D;
                if (P2) {
                    a01 += (x1 * ya) >> D;
                    a11 += (x1 * yb) >> D;
                }
            }
        }
    } else {
        int32_t t = 0;
        while (t < nw) {
            const int32_t end = nw - t > nb ? t + nb : nw;
            uint32_t p00 = 0, p01 = 0, p10 = 0, p11 = 0;
            for (; t < end; t++, x += 2 * G) {
                const uint32_t ua = wa[t] ^ flip, ub = wb[t] ^ flip;
#pragma GCC unroll 8
                for (int32_t g = 0; g < G; g++) {
                    const uint32_t ya = (ua >> (WC * g)) & M, yb = (ub >> (WC * g)) & M;
                    const uint32_t x0 = x[2 * g], x1 = x[2 * g + 1];
                    p00 = pl_mla(x0, ya, p00);
                    p10 = pl_mla(x0, yb, p10);
                    if (P2) {
                        p01 = pl_mla(x1, ya, p01);
                        p11 = pl_mla(x1, yb, p11);
                    }
                }
            }
            a00 += p00 >> D;
            a10 += p10 >> D;
            if (P2) {
                a01 += p01 >> D;
                a11 += p11 >> D;
            }
        }
    }
    acc[0] = (int32_t)a00;
    acc[1] = (int32_t)a01;
    acc[2] = (int32_t)a10;
    acc[3] = (int32_t)a11;
}

#if PL_ASM
/* Every full channel pair of a two-pixel tile whose K fits one extraction block (W4A4) or one
 * 16-bit lane chunk (the others): the tile loop per pair with only the row pointer, the sums
 * pointers and the pair count live besides it (the general path keeps its whole block / chunk
 * schedule live, and its spills cost about as much as two weight words). */
MICO_INLINE void pl_pairs(const uint8_t *w, int32_t rs, const uint32_t *x, int32_t nw, int32_t npairs, int32_t *sa,
                          int32_t *sb, const int32_t WC) {
    /* W4A2 / W2A4 / W1A4 (S 8, every product extracted): the compiled pl_c22 per pair */
    uint32_t M = WC == 4 ? 0x0F0F0F0Fu : WC == 2 ? 0x03030303u : 0x01010101u;
    __asm__("" : "+r"(M));
    const uint32_t *xe = x + 2 * (WC == 4 ? 2 : WC == 2 ? 4 : 8) * nw;
    for (; npairs > 0; npairs--, w += 2 * rs, sa += 2, sb += 2) {
        uint32_t l0 = 0, l1 = 0;
        pl_c22((const uint32_t *)(const void *)w, (const uint32_t *)(const void *)(w + rs), x, xe, M, &l0, &l1, WC);
        sa[0] = (int32_t)(l0 & 0xFFFFu);
        sb[0] = (int32_t)(l0 >> 16);
        sa[1] = (int32_t)(l1 & 0xFFFFu);
        sb[1] = (int32_t)(l1 >> 16);
    }
}

/* one out-of-line copy per layout (its own register allocation) */
#define PL_PAIRS_FN(NAME, WC)                                                                                \
    static __attribute__((noinline)) void NAME(const uint8_t *w, int32_t rs, const uint32_t *x, int32_t nw,  \
                                               int32_t npairs, int32_t *sa, int32_t *sb) {                  \
        pl_pairs(w, rs, x, nw, npairs, sa, sb, WC);                                                        \
    }

/* the pair loops' row pointers (wa, wb = wa + rs; w += 2 rs) and their pair count (n -= 1) */
#define PL_PAIR_ROWS \
    "ldr %[wa], %[w]\n\tldr %[y], %[rs]\n\tadd %[wb], %[wa], %[y]\n\t" \
    "ldr %[y], %[rs2]\n\tadd %[y], %[wa], %[y]\n\tstr %[y], %[w]\n\t"
#define PL_PAIR_NEXT "ldr %[y], %[n]\n\tsubs %[y], %[y], #1\n\tstr %[y], %[n]\n\tbne 0b\n\t"

/* W4 x A4: the whole pair loop as one assembly block. The loop state (row pointer, pair count,
 * sums pointers, ...) lives in memory operands, so the tile loop keeps all 13 registers it needs
 * and a pair costs about 30 instructions outside its weight words (about 50 when compiled). */
static __attribute__((noinline)) void pl_pairs_44(const uint8_t *w, int32_t rs, const uint32_t *xb, int32_t nw,
                                                   int32_t n, int32_t *sa, int32_t *sb) {
    const int32_t rs2 = 2 * rs, odd = nw & 1;
    const uint32_t *xe = xb + 8 * nw;
    uint32_t M = 0x000F000Fu;
    uint32_t p00, p01, p10, p11, ua, ub, y, t, x0, x1;
    const uint32_t *wa, *wb, *x;
    __asm__ volatile("0:\n\t"
                     PL_PAIR_ROWS
                     "ldr %[x], %[xb]\n\tmovs %[p00], #0\n\tmovs %[p01], #0\n\tmovs %[p10], #0\n\t"
                     "movs %[p11], #0\n\tldr %[y], %[odd]\n\tcmp %[y], #0\n\tbeq 2f\n\t" PL_A_WORD
                     "2:\n\tldr %[y], %[xe]\n\tcmp %[x], %[y]\n\tbeq 3f\n\t"
                     "1:\n\t" PL_A_WORD PL_A_WORD "ldr %[y], %[xe]\n\tcmp %[x], %[y]\n\tbne 1b\n\t"
                     "3:\n\tlsrs %[p00], %[p00], #16\n\tlsrs %[p01], %[p01], #16\n\t"
                     "lsrs %[p10], %[p10], #16\n\tlsrs %[p11], %[p11], #16\n\t"
                     "ldr %[y], %[sa]\n\tstr %[p00], [%[y]], #4\n\tstr %[p10], [%[y]], #4\n\tstr %[y], %[sa]\n\t"
                     "ldr %[y], %[sb]\n\tstr %[p01], [%[y]], #4\n\tstr %[p11], [%[y]], #4\n\tstr %[y], %[sb]\n\t"
                     PL_PAIR_NEXT
                     : [p00] "=&r"(p00), [p01] "=&r"(p01), [p10] "=&r"(p10), [p11] "=&r"(p11), [wa] "=&r"(wa),
                       [wb] "=&r"(wb), [x] "=&r"(x), [ua] "=&r"(ua), [ub] "=&r"(ub), [y] "=&r"(y), [t] "=&r"(t),
                       [x0] "=&r"(x0), [x1] "=&r"(x1), [w] "+m"(w), [n] "+m"(n), [sa] "+m"(sa), [sb] "+m"(sb)
                     : [M] "r"(M), [rs] "m"(rs), [rs2] "m"(rs2), [xb] "m"(xb), [xe] "m"(xe), [odd] "m"(odd)
                     : "cc", "memory");
}

/* W2 x A2 (BODY PL_B_BODY) and W1 x A2 (PL_B1_BODY): the whole pair loop as one assembly block
 * (as pl_pairs_44). */
#define PL_PAIRS_B(NAME, BODY, XW)                                                                               \
    static __attribute__((noinline)) void NAME(const uint8_t *w, int32_t rs, const uint32_t *xb, int32_t nw,      \
                                               int32_t n, int32_t *sa, int32_t *sb) {                            \
        const int32_t rs2 = 2 * rs;                                                                              \
        const uint32_t *xe = xb + (XW) * nw;                                                                     \
        uint32_t M = (XW) == 8 ? 0x03030303u : 0x01010101u;                                                       \
        uint32_t a0, a1, q0, q1, u, y, y2, x0, x1;                                                               \
        const uint32_t *wa, *wb, *x;                                                                             \
        __asm__ volatile("0:\n\t" PL_PAIR_ROWS "ldr %[x], %[xb]\n\tmovs %[a0], #0\n\tmovs %[a1], #0\n\t"          \
                         "1:\n\t" BODY "ldr %[y], %[xe]\n\tcmp %[x], %[y]\n\tbne 1b\n\t"                          \
                         "uxth %[y], %[a0]\n\tlsrs %[a0], %[a0], #16\n\tuxth %[q0], %[a1]\n\tlsrs %[a1], %[a1], #16\n\t" \
                         "ldr %[u], %[sa]\n\tstr %[y], [%[u]], #4\n\tstr %[q0], [%[u]], #4\n\tstr %[u], %[sa]\n\t"   \
                         "ldr %[u], %[sb]\n\tstr %[a0], [%[u]], #4\n\tstr %[a1], [%[u]], #4\n\tstr %[u], %[sb]\n\t"  \
                         PL_PAIR_NEXT                                                                            \
                         : [a0] "=&r"(a0), [a1] "=&r"(a1), [wa] "=&r"(wa), [wb] "=&r"(wb), [x] "=&r"(x),        \
                           [q0] "=&r"(q0), [q1] "=&r"(q1), [u] "=&r"(u), [y] "=&r"(y), [y2] "=&r"(y2), [x0] "=&r"(x0), \
                           [x1] "=&r"(x1), [w] "+m"(w), [n] "+m"(n), [sa] "+m"(sa), [sb] "+m"(sb)               \
                         : [M] "r"(M), [rs] "m"(rs), [rs2] "m"(rs2), [xb] "m"(xb), [xe] "m"(xe)                 \
                         : "cc", "memory");                                                                      \
    }
PL_PAIRS_B(pl_pairs_22, PL_B_BODY, 8)
PL_PAIRS_B(pl_pairs_12, PL_B1_BODY, 16)
PL_PAIRS_FN(pl_pairs_42, 4)
PL_PAIRS_FN(pl_pairs_24, 2)
PL_PAIRS_FN(pl_pairs_14, 1)
#endif

/* The channel pairs of 1 or 2 output pixels: raw tile sums into sums[s * out_c + c], then one
 * requantization pass over the pixels' channels (mico_conv_store_pixels). */
MICO_INLINE void pl_gemm(const mico_conv_params *p, const uint32_t *x, int32_t s0, int32_t s1, int32_t pix0,
                         int32_t npix, int32_t nw, int32_t nb, int32_t lw, int32_t *sums, const mico_chq *tab,
                         int32_t fast, const int32_t WC, const int32_t S, const int FE, void *out) {
    const int32_t rs = p->w_row_bytes, out_c = p->out_c;
    const uint8_t *wts = p->weights;
    int32_t *sa = sums, *sb = sums + out_c;
    int32_t oc = 0;
#if PL_ASM
    /* out_c >= 2: the assembly pair loops run at least one pair (a single channel would wrap their count) */
    if (npix > 1 && nw > 0 && out_c >= 2 && (!FE && S == 16 ? nw <= nb : nw <= lw)) {
        if (WC == 4 && S == 16) pl_pairs_44(wts, rs, x, nw, out_c / 2, sa, sb);
        else if (WC == 2 && !FE) pl_pairs_22(wts, rs, x, nw, out_c / 2, sa, sb);
        else if (WC == 1 && !FE) pl_pairs_12(wts, rs, x, nw, out_c / 2, sa, sb);
        else if (WC == 4) pl_pairs_42(wts, rs, x, nw, out_c / 2, sa, sb);
        else if (WC == 2) pl_pairs_24(wts, rs, x, nw, out_c / 2, sa, sb);
        else pl_pairs_14(wts, rs, x, nw, out_c / 2, sa, sb);
        oc = out_c & ~1;
    }
#endif
    for (; oc < out_c; oc += 2) {
        const int two = oc + 1 < out_c;
        const uint32_t *ra = (const uint32_t *)(const void *)(wts + oc * rs);
        const uint32_t *rb = two ? (const uint32_t *)(const void *)(wts + (oc + 1) * rs) : ra;
        int32_t acc[4];
        if (npix > 1) pl_tile(ra, rb, x, nw, nb, lw, WC, S, FE, 1, acc);
        else pl_tile(ra, rb, x, nw, nb, lw, WC, S, FE, 0, acc);
        sa[oc] = acc[0];
        sb[oc] = acc[1];
        if (two) {
            sa[oc + 1] = acc[2];
            sb[oc + 1] = acc[3];
        }
    }
    const int32_t ow_off = 1 << (WC - 1);
    const int32_t t[2] = {ow_off * s0, ow_off * s1};
    mico_conv_store_pixels(p, sums, tab, t, pix0, npix, fast, out);
}

/* One out-of-line copy per layout: a separate register allocation keeps the tile loop's
 * variables in registers (inlined into the pixel loop they live on the stack). */
#define PL_GEMM_FN(NAME, WC, S, FE)                                                                          \
    static __attribute__((noinline)) void NAME(const mico_conv_params *p, const uint32_t *x, int32_t s0,    \
                                               int32_t s1, int32_t pix0, int32_t npix, int32_t nw, int32_t nb, \
                                               int32_t lw, int32_t *sums, const mico_chq *tab, int32_t fast,  \
                                               void *out) {                                                 \
        pl_gemm(p, x, s0, s1, pix0, npix, nw, nb, lw, sums, tab, fast, WC, S, FE, out);                   \
    }
PL_GEMM_FN(pl_gemm_44, 4, 16, 0)
PL_GEMM_FN(pl_gemm_22, 2, 8, 0)
PL_GEMM_FN(pl_gemm_42, 4, 8, 1)
PL_GEMM_FN(pl_gemm_24, 2, 8, 1)
PL_GEMM_FN(pl_gemm_12, 1, 8, 0)
PL_GEMM_FN(pl_gemm_14, 1, 8, 1)

MICO_INLINE void pl_run(const mico_conv_params *p, const uint8_t *in, void *out, uint32_t *col, int32_t nw,
                        int32_t nb, int32_t lw, int32_t ox, const int32_t WC, const int32_t CA, const int32_t S, const int FE) {
    uint32_t *stream = (uint32_t *)(void *)((uint8_t *)col + mico_stream_offset(p));
    /* channel offsets bias - o_x sum w (sum x w = sum x'w' - o_w sum x' - o_x sum w) */
    mico_chq *tab = (mico_chq *)(void *)((uint8_t *)col + mico_sums_offset(p));
    int32_t *sums = (int32_t *)(void *)(tab + p->out_c);
    const int32_t fast = mico_conv_store_prepare(p, ox, tab);
    int32_t *ring = p->in_c % (32 / WC) == 0 && mico_ring_pays(p) ? mico_ring_reset(p, col) : 0;
    const int32_t npix = p->out_h * p->out_w;
    for (int32_t pix = 0; pix < npix; pix += 2) {
        const int32_t n = pix + 1 < npix ? 2 : 1;
        const int32_t s0 = pl_im2col(p, in, pix, 0, col, nw, (uint32_t)ox, stream, ring, WC, CA, S);
        const int32_t s1 = n == 2 ? pl_im2col(p, in, pix + 1, 1, col, nw, (uint32_t)ox, stream, ring, WC, CA, S) : 0;
        if (WC == 4 && S == 16) pl_gemm_44(p, col, s0, s1, pix, n, nw, nb, lw, sums, tab, fast, out);
        else if (WC == 2 && !FE) pl_gemm_22(p, col, s0, s1, pix, n, nw, nb, lw, sums, tab, fast, out);
        else if (WC == 1 && !FE) pl_gemm_12(p, col, s0, s1, pix, n, nw, nb, lw, sums, tab, fast, out);
        else if (WC == 4) pl_gemm_42(p, col, s0, s1, pix, n, nw, nb, lw, sums, tab, fast, out);
        else if (WC == 2) pl_gemm_24(p, col, s0, s1, pix, n, nw, nb, lw, sums, tab, fast, out);
        else pl_gemm_14(p, col, s0, s1, pix, n, nw, nb, lw, sums, tab, fast, out);
    }
}

mico_status mico_conv_poly(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                           int32_t scratch_bytes) {
    mico_status st = mico_conv_check(p);
    if (st != MICO_OK) return st;
    if (!mico_conv_poly_ok(p)) return MICO_ERR_UNSUPPORTED;
    if (!scratch || scratch_bytes < mico_conv_get_buffer_size(p)) return MICO_ERR_SCRATCH;
    const int32_t wc = p->w_cont, ca = p->in_cont, E = 32 / wc;
    const int32_t k = p->k_h * p->k_w * p->in_c;
    const int32_t nw = (k + E - 1) / E;
    if (nw * 4 > p->w_row_bytes || ((uintptr_t)p->weights & 3u) || (p->w_row_bytes & 3)) return MICO_ERR_ARG;
    const int32_t ox = p->in_signed ? 1 << (ca - 1) : 0;
    const int32_t S = wc == 4 && ca == 4 ? 16 : 8, F = 32 / S, G = E / F;
    /* largest product of the column and weight fields (1-bit weights: 2 x' against the bit) */
    const uint32_t P = ((1u << ca) - 1u) * (wc == 1 ? 2u : (1u << wc) - 1u);
    const int32_t nb = mico_field_steps(F, S, P) / G; /* weight words per extraction; 0: every product */
    /* a 16-bit lane accumulator gets at most E P per weight word (G dots of F products) */
    const int32_t lw = (int32_t)(65535u / ((uint32_t)E * P));
    uint32_t *col = (uint32_t *)(((uintptr_t)scratch + 3u) & ~(uintptr_t)3u);
    if (wc == 4 && ca == 4) pl_run(p, in, out, col, nw, nb, lw, ox, 4, 4, 16, 0);
    else if (wc == 2 && ca == 2) pl_run(p, in, out, col, nw, nb, lw, ox, 2, 2, 8, 0);
    else if (wc == 4) pl_run(p, in, out, col, nw, nb, lw, ox, 4, 2, 8, 1);
    else if (wc == 2) pl_run(p, in, out, col, nw, nb, lw, ox, 2, 4, 8, 1);
    else if (ca == 2) pl_run(p, in, out, col, nw, nb, lw, ox, 1, 2, 8, 0);
    else pl_run(p, in, out, col, nw, nb, lw, ox, 1, 4, 8, 1);
    return MICO_OK;
}
