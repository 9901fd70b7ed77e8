/* Long-multiply field packing (groups == 1, several output pixels) for 1/2/4-bit weight x 2/4-bit
 * activation containers (1-bit weights as 2-bit containers, lg_row2): three products (four for
 * W2 x A2) per 32 x 32 -> 64-bit unsigned multiply-accumulate (UMLAL on Cortex-M7), accumulated
 * over up to 120 multiplies before one extraction.
 *
 * The polynomial-packing kernel (mico_conv_poly.c) gets two 4-bit products from a 32-bit MLA,
 * because only the low 32 bits of the product survive. The 64-bit product of UMLAL has room for a
 * third: with F fields of spacing S bits,
 *     x = sum_f a_f 2^(S f)              (activations, in the column)
 *     y = sum_f w_f 2^(S (F-1-f))        (weights, converted once per call into scratch)
 * the coefficient of 2^D, D = S (F-1), in x y is sum_f a_f w_f; cross terms land below D or at
 * D + S and above. Both operands are unsigned (x' = x + o_x, o_x = 2^(ca-1) for signed inputs,
 * w' = w + 2^(cw-1): the containers' sign bits flipped), so
 *     sum x w = sum x'w' - o_w sum x' - o_x sum w     (sum w = wsum, sum x' over the real K).
 * Layouts: W4/A4 and the mixed pairs F = 3, S = 14 (x and y fit 32 bits: 2 S + 4 <= 32);
 * W2 x A2 F = 4, S = 10 (3 S + 2 <= 32). With P = max x' max w' (container maxima, so any
 * container content is exact), n accumulated multiplies stay exact while
 *     n F P <= 2^S - 1                                (the dot field does not overflow) and
 *     n P sum_{j<F-1} (j+1) 2^(j S) <= 2^D - 1        (the lower fields never carry into bit D)
 * (mico_field_steps: W4A4 24, W2A2 28, W4A2 / W2A4 121). The K words are cut into nch blocks of
 * an even nbe <= that bound (W4A4 24, W2A2 28, W4A2 / W2A4 120) multiplies, padded with weight-0
 * words.
 * Each tap's c channels take tw = ceil(c / F) words; the fields past c hold weight 0 (so they add
 * nothing whatever the activation field holds). Column and weights interleave word by word (two
 * pixels, two channels), so one double-word load feeds both operands of four UMLALs: 2 channels
 * x 2 pixels x F products in 6 instructions. Each input row is converted once into the row ring
 * and copied into the columns of the pixels that read it (MICO_RING_TAPS, shared with poly).
 * Scratch (after the GEMM kernels' layout, whose table, raw sums and ring it shares): the column
 * (2 pixels x ntp = nch nbe words) and the converted weights (ceil(out_c / 2) channel pairs x 2
 * ntp words), within mico_conv_long_extra.
 */
#include "mico_conv_check.h"
#include "mico_nn_support.h"

/* Fields per word: 4 for W2 x A2, else 3. */
MICO_INLINE int32_t lg_fields(const mico_conv_params *p) { return p->w_cont <= 2 && p->in_cont == 2 ? 4 : 3; }

/* The shapes it runs: 2/4-bit containers, 4+ input channels (1-3: the rows kernel), 16+ output
 * pixels (converting the weights costs about as much as 10 pixels' multiplies) and K of 12+ words
 * (shorter columns, e.g. a 1x1 conv over 32 channels, run faster through the poly kernel: less
 * padding and no block overhead; results/kernel_bench.md). */
MICO_INLINE int lg_shape_ok(const mico_conv_params *p) {
#if defined(__aarch64__)
    (void)p;
    return 0; /* the NEON kernel serves AArch64, and its scratch (mico_conv_get_buffer_size) has no room for this one */
#else
    if (!p || p->groups != 1 || (p->w_cont != 1 && p->w_cont != 2 && p->w_cont != 4) ||
        (p->in_cont != 2 && p->in_cont != 4))
        return 0;
    const int32_t F = lg_fields(p);
    return p->in_c >= 4 && p->out_h * p->out_w >= 16 && p->k_h * p->k_w * ((p->in_c + F - 1) / F) >= 12;
#endif
}

int32_t mico_conv_long_ok(const mico_conv_params *p);
int32_t mico_conv_long_ok(const mico_conv_params *p) { return lg_shape_ok(p) && p->wsum != 0; }

/* Words a tap takes (tw = ceil(c / F)), and the column length ntp: nt = k_h k_w tw words padded
 * (with weight-0 words) to nch blocks of an even nbe <= nb words (mico_field_steps), so less than 2
 * words a block: within nt + ceil(nt / 5) + 4 (nb >= 24, so nch <= nt / 24 + 1). */
MICO_INLINE int32_t lg_tw(const mico_conv_params *p, const int32_t F) { return (p->in_c + F - 1) / F; }
MICO_INLINE int32_t lg_cap(const mico_conv_params *p, const int32_t F) {
    const int32_t nt = p->k_h * p->k_w * lg_tw(p, F);
    return nt + (nt + 4) / 5 + 4;
}

/* Scratch bytes on top of the GEMM kernels' (see mico_conv_get_buffer_size): the two-pixel column
 * and the converted weights, each channel pair 2 x lg_cap words. */
int32_t mico_conv_long_extra(const mico_conv_params *p);
int32_t mico_conv_long_extra(const mico_conv_params *p) {
    if (!lg_shape_ok(p)) return 0;
    const int32_t w1 = p->w_cont == 1 ? 2 * ((p->k_h * p->k_w * p->in_c + 7) / 8) + 4 : 0; /* lg_row2 */
    return 8 * lg_cap(p, lg_fields(p)) * (1 + (p->out_c + 1) / 2) + 8 + w1;
}


/* Bits of elements e, e+1, ... of a packed CA-bit stream from bit 0, byte by byte (the second byte
 * read only when the n elements reach into it). */
MICO_INLINE uint32_t lg_win(const uint8_t *in, int32_t e, int32_t n, const int32_t CA) {
    const int32_t bit = (e * CA) & 7, b = (e * CA) >> 3;
    uint32_t v = in[b];
    if (bit + n * CA > 8) v |= (uint32_t)in[b + 1] << 8;
    return v >> bit;
}

/* The fields of a word of spacing S holding the low k CA-bit elements (REV 0: element f at bit S f,
 * the activations; REV 1: at S (F-1-f), the weights). */
MICO_INLINE uint32_t lg_fmask(int32_t k, const int32_t CA, const int32_t F, const int32_t S, const int REV) {
    uint32_t fm = 0;
    for (int32_t f = 0; f < k; f++) fm |= ((1u << CA) - 1u) << (REV ? S * (F - 1 - f) : S * f);
    return fm;
}

/* The low F CA-bit elements of t spread to fields of spacing S, masked by fm (lg_fmask): each field is
 * one shifted copy of those elements; S >= F CA keeps every other copy's bits out of it. */
MICO_INLINE uint32_t lg_spread(uint32_t t, uint32_t fm, const int32_t CA, const int32_t F, const int32_t S,
                               const int REV) {
    uint32_t w = 0;
    t &= (1u << (F * CA)) - 1u;
    for (int32_t f = 0; f < F; f++) {
        const int32_t to = REV ? S * (F - 1 - f) : S * f, from = CA * f;
        w |= to >= from ? t << (to - from) : t >> (from - to);
    }
    return w & fm;
}

/* c CA-bit elements from element e0 of the packed stream in (nbytes bytes), sign bits flipped by
 * flw, as ceil(c / F) words of fields (lg_spread) at dst[0], dst[DS], ...; returns the sum of their
 * fields. Where the elements' bytes end 4 or more bytes before the stream does, each word is one
 * unaligned 32-bit load at a running bit position and the sum one UMLAL a word against fields of 1
 * (its dot field, bits S (F-1).., sums the word's fields; exact for up to
 * mico_field_steps(F, S, 2^CA - 1) words: 364 at S 14, 85 at S 10, which sw says); else element
 * groups byte by byte. */
MICO_INLINE int32_t lg_words(const uint8_t *in, int32_t nbytes, int32_t e0, int32_t c, uint32_t flw, int sw,
                             uint32_t *dst, int32_t DS, const int32_t CA, const int32_t F, const int32_t S,
                             const int REV) {
    uint32_t fm = lg_fmask(F, CA, F, S, REV);
    const int32_t full = c - c % F;
    if (sw && (((e0 + c) * CA) >> 3) + 4 <= nbytes) {
        const uint32_t ones = lg_fmask(F, 1, F, S, 0);
        __asm__("" : "+r"(fm)); /* one AND with a register, not a chain of BICs */
        uint64_t acc = 0;
        uint32_t bp = (uint32_t)(e0 * CA);
        for (int32_t ci = 0; ci < full; ci += F, dst += DS, bp += (uint32_t)(F * CA)) {
            const uint32_t w = lg_spread((mico_load32(in + (bp >> 3)) >> (bp & 7)) ^ flw, fm, CA, F, S, REV);
            acc += (uint64_t)w * ones;
            *dst = w;
        }
        if (full < c) {
            const uint32_t w = lg_spread((mico_load32(in + (bp >> 3)) >> (bp & 7)) ^ flw,
                                         lg_fmask(c - full, CA, F, S, REV), CA, F, S, REV);
            acc += (uint64_t)w * ones;
            *dst = w;
        }
        return (int32_t)((uint32_t)(acc >> (S * (F - 1))) & ((1u << S) - 1u));
    }
    int32_t sum = 0;
    for (int32_t ci = 0; ci < c; ci += F, dst += DS) {
        const int32_t k = c - ci < F ? c - ci : F;
        const uint32_t t = lg_win(in, e0 + ci, k, CA) ^ flw;
        for (int32_t f = 0; f < k; f++) sum += (int32_t)((t >> (CA * f)) & ((1u << CA) - 1u));
        *dst = lg_spread(t, lg_fmask(k, CA, F, S, REV), CA, F, S, REV);
    }
    return sum;
}

/* A row of K 1-bit weights (bit 1: +1, bit 0: -1) as 2-bit containers (+1: 01, -1: 11) in dst (K / 4
 * bytes and 4 of slack): each byte's bits spread to every other bit position, a byte at a time. */
MICO_INLINE void lg_row2(const uint8_t *row, int32_t k, uint8_t *dst) {
    for (int32_t i = 0; i < (k + 7) / 8; i++) {
        uint32_t x = (uint32_t)(uint8_t)~row[i]; /* 1 where the weight is -1 */
        x = (x | (x << 4)) & 0x0F0Fu;
        x = (x | (x << 2)) & 0x3333u;
        x = (x | (x << 1)) & 0x5555u;
        const uint32_t v = (x << 1) | 0x5555u;
        dst[2 * i] = (uint8_t)v;
        dst[2 * i + 1] = (uint8_t)(v >> 8);
    }
    for (int32_t i = 2 * ((k + 7) / 8); i < 2 * ((k + 7) / 8) + 4; i++) dst[i] = 0;
}

/* The weights of every output channel as F-field words (element j at bit S (F-1-j)), channel pairs
 * interleaved word by word: wb[(q ntp + t) 2 + j] is word t of channel 2q + j (the last channel
 * repeated for odd out_c); padding words and fields 0. A channel's taps are one run of
 * k_h k_w c elements, converted a tap at a time (a tap's last word holds c mod F fields). WC 1:
 * each row goes through lg_row2 into row2 first and is converted as 2-bit containers. */
MICO_INLINE void lg_weights(const mico_conv_params *p, uint32_t *wb, int32_t tw, int32_t ntp, uint8_t *row2,
                            const int32_t WC, const int32_t F, const int32_t S) {
    const int32_t c = p->in_c, taps = p->k_h * p->k_w, out_c = p->out_c, nbytes = out_c * p->w_row_bytes;
    const int32_t CW = WC == 1 ? 2 : WC;
    const uint32_t flw = CW == 4 ? 0x888u : 0xAAu; /* every field's sign bit */
    for (int32_t oc = 0; oc < ((out_c + 1) & ~1); oc++) {
        const int32_t r = oc < out_c ? oc : out_c - 1;
        const uint8_t *row = p->weights + r * p->w_row_bytes;
        int32_t rb = nbytes - r * p->w_row_bytes;
        if (WC == 1) {
            lg_row2(row, taps * c, row2);
            row = row2;
            rb = 2 * ((taps * c + 7) / 8) + 4;
        }
        uint32_t *dst = wb + (oc >> 1) * 2 * ntp + (oc & 1);
        for (int32_t tap = 0; tap < taps; tap++, dst += 2 * tw)
            (void)lg_words(row, rb, tap * c, c, flw, 1, dst, 2, CW, F, S, 1);
        for (int32_t t = taps * tw; t < ntp; t++, dst += 2) *dst = 0;
    }
}

/* lg_weights out of line, one function per layout (inlined into lg_conv its loop runs short of registers) */
#define LG_WEIGHTS_FN(NAME, WC, F, S)                                                                                  \
    static __attribute__((noinline)) void NAME(const mico_conv_params *p, uint32_t *wb, int32_t tw, int32_t ntp,        \
                                               uint8_t *row2) {                                                       \
        lg_weights(p, wb, tw, ntp, row2, WC, F, S);                                                                   \
    }
LG_WEIGHTS_FN(lg_weights_w4f3, 4, 3, 14)
LG_WEIGHTS_FN(lg_weights_w2f3, 2, 3, 14)
LG_WEIGHTS_FN(lg_weights_w2f4, 2, 4, 10)
LG_WEIGHTS_FN(lg_weights_w1f3, 1, 3, 14)
LG_WEIGHTS_FN(lg_weights_w1f4, 1, 4, 10)
#undef LG_WEIGHTS_FN

/* One pixel's converted words (lg_words), with the locals LG_LOCALS declares in its callers */
#define LG_CONV(E0, D, DS) lg_words(in, nbytes, (E0), c, flw, sw, (D), (DS), CA, F, S, 0)
#define LG_LOCALS                                                                                            \
    const int32_t c = p->in_c, nbytes = (p->in_h * p->in_w * c * CA + 7) >> 3;                              \
    const uint32_t flw = p->in_signed ? (CA == 4 ? 0x888u : 0xAAu) : 0u /* every field's sign bit */

/* Column of pixel slot s (col[2 t + s], t < k_h k_w tw; the padding words after it are zeroed once
 * per call); returns sum x' over the real K. */
MICO_INLINE int32_t lg_im2col(const mico_conv_params *p, const uint8_t *in, int32_t pix, int32_t s, uint32_t *col,
                              int32_t tw, uint32_t ox, int32_t *ring, int sw, const int32_t CA, const int32_t F,
                              const int32_t S) {
    LG_LOCALS;
    uint32_t opat = 0; /* an outside pixel: x' = o_x in every field (padding fields meet weight 0) */
    for (int32_t f = 0; f < F; f++) opat |= ox << (S * f);
    int32_t sum = 0;
    MICO_RING_TAPS(p, pix, col + s, tw, ring, opat, ox * (uint32_t)c, sum, LG_CONV);
    return sum;
}

/* The ring rows and prefix sums of the k_h input rows of output row oh (rows[kh], ps[kh]), converting
 * those that enter the ring; 0 when one of them lies outside the image. One function per activation
 * layout (CA, F, S), out of line: inlined into lg_conv the conversion loop would run short of registers. */
#define LG_ROWS_FN(NAME, CA_, F_, S_)                                                                               \
    static __attribute__((noinline)) int NAME(const mico_conv_params *p, const uint8_t *in, int32_t oh, int32_t *ring, \
                                              int32_t tw, int sw, const uint32_t **rows, const uint32_t **ps) {      \
        const int32_t CA = (CA_), F = (F_), S = (S_);                                                               \
        LG_LOCALS;                                                                                                  \
        for (int32_t kh = 0; kh < p->k_h; kh++) {                                                                   \
            const int32_t ih = oh * p->stride_h - p->pad_h + kh;                                                    \
            if (ih < 0 || ih >= p->in_h) return 0;                                                                  \
            MICO_RING_GET(p, ring, ih, tw, LG_CONV, rows[kh], ps[kh]);                                              \
        }                                                                                                           \
        return 1;                                                                                                   \
    }
LG_ROWS_FN(lg_rows_a4, 4, 3, 14) /* 4-bit activations (W4A4, W2A4, W1A4) */
LG_ROWS_FN(lg_rows_a2, 2, 3, 14) /* W4A2 */
LG_ROWS_FN(lg_rows_a2f4, 2, 4, 10) /* W2A2, W1A2 */
#undef LG_ROWS_FN
#undef LG_LOCALS
#undef LG_CONV

/* The two-pixel column of neighbouring output pixels whose windows lie inside the image (stride_w 1):
 * kernel row kh of pixel ow is the run of k_w tw words at rows[kh] + (ow - pad_w) tw, of pixel ow + 1
 * tw words further, so both slots fill in one pass (on Cortex-M7 two LDRD and two STRD per two words
 * of each); returns the two sums (prefix sums) in s[0], s[1]. */
MICO_INLINE void lg_pair_col(const mico_conv_params *p, const uint32_t *const *rows, const uint32_t *const *ps,
                             int32_t iw0, int32_t tw, uint32_t *col, int32_t *s) {
    const int32_t n = p->k_w * tw;
    int32_t s0 = 0, s1 = 0;
    uint32_t *d = col;
    for (int32_t kh = 0; kh < p->k_h; kh++) {
        const uint32_t *a = rows[kh] + iw0 * tw, *b = a + tw;
        int32_t m = n & ~1;
#if defined(__thumb2__)
        if (m > 0) {
            uint32_t a0, a1, b0, b1;
            __asm__ volatile("1:\n\tldrd %[a0], %[a1], [%[a]], #8\n\tldrd %[b0], %[b1], [%[b]], #8\n\t"
                             "strd %[a0], %[b0], [%[d]], #8\n\tstrd %[a1], %[b1], [%[d]], #8\n\t"
                             "subs %[m], #2\n\tbne 1b\n\t"
                             : [a] "+r"(a), [b] "+r"(b), [d] "+r"(d), [m] "+r"(m), [a0] "=&r"(a0), [a1] "=&r"(a1),
                               [b0] "=&r"(b0), [b1] "=&r"(b1)
                             :
                             : "cc", "memory");
        }
#else
        for (; m > 0; m -= 2, a += 2, b += 2, d += 4) {
            d[0] = a[0];
            d[1] = b[0];
            d[2] = a[1];
            d[3] = b[1];
        }
#endif
        if (n & 1) {
            d[0] = a[0];
            d[1] = b[0];
            d += 2;
        }
        s0 += (int32_t)(ps[kh][iw0 + p->k_w] - ps[kh][iw0]);
        s1 += (int32_t)(ps[kh][iw0 + 1 + p->k_w] - ps[kh][iw0 + 1]);
    }
    s[0] = s0;
    s[1] = s1;
}

/* nbe (even, >= 2) steps of 2 channels x 2 pixels from zero, then the dot field of each 64-bit sum
 * added to s: s[0] += slot 0 x channel a, s[1] += slot 0 x b, s[2] += slot 1 x a, s[3] += slot 1 x b. */
MICO_INLINE void lg_block(const uint32_t *w, const uint32_t *x, int32_t nbe, int32_t D, uint32_t mask, uint32_t s[4]) {
    uint64_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
    for (int32_t t = 0; t < nbe; t++, w += 2, x += 2) {
        a00 += (uint64_t)x[0] * w[0];
        a01 += (uint64_t)x[1] * w[0];
        a10 += (uint64_t)x[0] * w[1];
        a11 += (uint64_t)x[1] * w[1];
    }
    s[0] += (uint32_t)(a00 >> D) & mask;
    s[1] += (uint32_t)(a10 >> D) & mask;
    s[2] += (uint32_t)(a01 >> D) & mask;
    s[3] += (uint32_t)(a11 >> D) & mask;
}

#if defined(__thumb2__)
#define LG_ASM 1
/* Cortex-M7: the whole pair loop as one assembly block (as the poly kernel's pl_pairs_44). The 8
 * accumulator words, 4 operand words and the two data pointers take 14 registers; the loop state
 * (jump address, pair count, sums pointers, the pair's running sums) lives in memory operands. The
 * weights of consecutive pairs follow each other, so w just runs on. A block: two steps with
 * UMULL (the reset) and UMLAL, then a jump (its address computed once per call) into a fully unrolled
 * run of NMAX - 2 steps that executes the block's last nbe - 2 (no loop test inside a block), then
 * each sum's dot field (bits D..D+S-1 of lo:hi) added to its running sum with two shifted ADDs and a
 * UBFX. */
#define LG_STEP(OP)                                                                              \
    "ldrd %[ya], %[yb], [%[w]], #8\n\tldrd %[x0], %[x1], [%[x]], #8\n\t"                         \
    OP " %[l00], %[h00], %[x0], %[ya]\n\t" OP " %[l01], %[h01], %[x1], %[ya]\n\t"                \
    OP " %[l10], %[h10], %[x0], %[yb]\n\t" OP " %[l11], %[h11], %[x1], %[yb]\n\t"
/* running sum R += the dot field of L:H (bits D..D+S-1: L >> D plus the low W = D + S - 32 bits of
 * H shifted up by 32 - D), T a scratch register */
#define LG_FIELD(R, L, H, T, D, W)                                                                 \
    "add %[" R "], %[" R "], %[" L "], lsr #" #D "\n\tubfx %[" T "], %[" H "], #0, #" #W "\n\t"      \
    "add %[" R "], %[" R "], %[" T "], lsl #(32-" #D ")\n\t"
#define LG_PAIRS_FN(NAME, D, W, NMAX)                                                                            \
    static __attribute__((noinline)) void NAME(const uint32_t *w, const uint32_t *xb, int32_t ntp, int32_t nbe,   \
                                               int32_t n, int32_t *sa, int32_t *sb) {                            \
        const uint32_t *xe = xb + 2 * ntp;                                                                       \
        const int32_t skip = 24 * (NMAX - nbe); /* bytes of unrolled steps a block jumps over (6 x 4 each) */    \
        uint64_t t01, t23;                                                                                       \
        uint32_t l00, h00, l01, h01, l10, h10, l11, h11, ya, yb, x0, x1, entry;                                  \
        const uint32_t *x;                                                                                       \
        __asm__ volatile("adr.w %[ya], 8f\n\tldr %[yb], %[skip]\n\tadd %[ya], %[ya], %[yb]\n\t"                     \
                         "orr %[ya], %[ya], #1\n\tstr %[ya], %[entry]\n\t"                                         \
                         "0:\n\tldr %[x], %[xb]\n\tmovs %[ya], #0\n\tmovs %[yb], #0\n\t"                             \
                         "strd %[ya], %[yb], %[t01]\n\tstrd %[ya], %[yb], %[t23]\n"                              \
                         "1:\n\t" LG_STEP("umull") LG_STEP("umlal")                                              \
                         "ldr %[ya], %[entry]\n\tbx %[ya]\n\t.balign 4\n"                                          \
                         "8:\n\t.rept " #NMAX " - 2\n\t" LG_STEP("umlal") ".endr\n"                                  \
                         "3:\n\tldrd %[ya], %[yb], %[t01]\n\t" LG_FIELD("ya", "l00", "h00", "x0", D, W)         \
                         LG_FIELD("yb", "l10", "h10", "x0", D, W) "strd %[ya], %[yb], %[t01]\n\t"                 \
                         "ldrd %[x0], %[x1], %[t23]\n\t" LG_FIELD("x0", "l01", "h01", "l00", D, W)                \
                         LG_FIELD("x1", "l11", "h11", "l00", D, W) "strd %[x0], %[x1], %[t23]\n\t"                \
                         "ldr %[l00], %[xe]\n\tcmp %[x], %[l00]\n\tbne 1b\n\t"                                      \
                         "ldr %[l00], %[sa]\n\tstrd %[ya], %[yb], [%[l00]], #8\n\tstr %[l00], %[sa]\n\t"             \
                         "ldr %[l00], %[sb]\n\tstrd %[x0], %[x1], [%[l00]], #8\n\tstr %[l00], %[sb]\n\t"             \
                         "ldr %[l00], %[n]\n\tsubs %[l00], %[l00], #1\n\tstr %[l00], %[n]\n\tbne 0b\n\t"           \
                         : [l00] "=&r"(l00), [h00] "=&r"(h00), [l01] "=&r"(l01), [h01] "=&r"(h01),                 \
                           [l10] "=&r"(l10), [h10] "=&r"(h10), [l11] "=&r"(l11), [h11] "=&r"(h11),                 \
                           [ya] "=&r"(ya), [yb] "=&r"(yb), [x0] "=&r"(x0), [x1] "=&r"(x1), [w] "+r"(w),           \
                           [x] "=&r"(x), [entry] "=m"(entry), [t01] "+m"(t01), [t23] "+m"(t23), [n] "+m"(n),     \
                           [sa] "+m"(sa), [sb] "+m"(sb)                                                          \
                         : [xb] "m"(xb), [xe] "m"(xe), [skip] "m"(skip)                                          \
                         : "cc", "memory");                                                                      \
    }
/* NMAX: the longest block of the layouts each serves (nbe <= mico_field_steps of container maxima, so
 * the jump never lands before the run) */
LG_PAIRS_FN(lg_pairs_f3, 28, 10, 120) /* S 14: bits 28..41; W4A4 blocks of up to 24, W4A2 / W2A4 120 */
LG_PAIRS_FN(lg_pairs_f4, 30, 8, 28)   /* S 10: bits 30..39; W2A2 blocks of up to 28 */
#undef LG_PAIRS_FN
#undef LG_FIELD
#undef LG_STEP
#else
#define LG_ASM 0
#endif

/* Every channel pair of a two-pixel column: raw sums of x'w' into sa[c] (slot 0), sb[c] (slot 1). */
MICO_INLINE void lg_pairs(const uint32_t *wb, const uint32_t *col, int32_t ntp, int32_t nbe, int32_t out_c,
                          int32_t *sa, int32_t *sb, const int32_t F, const int32_t S) {
    const int32_t D = S * (F - 1);
    int32_t oc = 0;
#if LG_ASM
    if (out_c >= 2) { /* the assembly loop runs at least one pair (zero would wrap its count) */
        if (F == 3) lg_pairs_f3(wb, col, ntp, nbe, out_c / 2, sa, sb);
        else lg_pairs_f4(wb, col, ntp, nbe, out_c / 2, sa, sb);
        oc = out_c & ~1;
        wb += oc * ntp;
    }
#endif
    for (; oc < out_c; oc += 2, wb += 2 * ntp) {
        uint32_t s4[4] = {0, 0, 0, 0};
        for (int32_t t = 0; t < ntp; t += nbe) lg_block(wb + 2 * t, col + 2 * t, nbe, D, (1u << S) - 1u, s4);
        sa[oc] = (int32_t)s4[0];
        sb[oc] = (int32_t)s4[2];
        if (oc + 1 < out_c) {
            sa[oc + 1] = (int32_t)s4[1];
            sb[oc + 1] = (int32_t)s4[3];
        }
    }
}

/* The layout of the block loop: nch blocks of nbe steps (even, <= nb), ntp = nch nbe >= nt words a
 * channel, at most lg_cap; returns ntp, nbe in *nbe_out */
MICO_INLINE int32_t lg_ntp(const mico_conv_params *p, int32_t *nbe_out, const int32_t WC, const int32_t CA,
                           const int32_t F, const int32_t S) {
    const int32_t nt = p->k_h * p->k_w * lg_tw(p, F);
    const int32_t CW = WC == 1 ? 2 : WC; /* 1-bit weights run as 2-bit containers (lg_row2) */
    const uint32_t P = ((1u << CA) - 1u) * ((1u << CW) - 1u);
    const int32_t nb = mico_field_steps(F, S, P) & ~1, nch = (nt + nb - 1) / nb;
    const int32_t per = (nt + nch - 1) / nch, nbe = per + (per & 1);
    *nbe_out = nbe;
    return nch * nbe;
}

/* The converted weights of a call (p->prep, or made into wb): WC 1 rows go through row2 */
MICO_INLINE const uint32_t *lg_wb(const mico_conv_params *p, uint32_t *wb, int32_t tw, int32_t ntp, uint8_t *row2,
                                  const int32_t WC, const int32_t F) {
    if (p->prep) return (const uint32_t *)p->prep;
    if (WC == 4) lg_weights_w4f3(p, wb, tw, ntp, row2);
    else if (WC == 2) (F == 3 ? lg_weights_w2f3 : lg_weights_w2f4)(p, wb, tw, ntp, row2);
    else (F == 3 ? lg_weights_w1f3 : lg_weights_w1f4)(p, wb, tw, ntp, row2);
    return wb;
}

MICO_INLINE void lg_conv(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch, uint8_t *base,
                         const int32_t WC, const int32_t CA, const int32_t F, const int32_t S) {
    const int32_t tw = lg_tw(p, F), nt = p->k_h * p->k_w * tw;
    const int32_t CW = WC == 1 ? 2 : WC; /* 1-bit weights run as 2-bit containers (lg_row2) */
    int32_t nbe;
    const int32_t ntp = lg_ntp(p, &nbe, WC, CA, F, S);
    const int32_t ox = p->in_signed ? 1 << (CA - 1) : 0;
    /* after the GEMM kernels' scratch (which ends within scratch + gemm), 8-byte aligned */
    const int32_t gemm = mico_conv_get_buffer_size(p) - mico_conv_long_extra(p);
    uint32_t *col = (uint32_t *)(((uintptr_t)scratch + (uintptr_t)gemm + 7u) & ~(uintptr_t)7u);
    uint32_t *wb = col + 2 * ntp;
    uint8_t *row2 = (uint8_t *)(wb + ((p->out_c + 1) / 2) * 2 * ntp); /* 1-bit weights: lg_row2 */
    mico_chq *tab = (mico_chq *)(void *)(base + mico_sums_offset(p));
    int32_t *sums = (int32_t *)(void *)(tab + p->out_c);
    const int32_t fast = mico_conv_store_prepare(p, ox, tab);
    const uint32_t *wq = lg_wb(p, wb, tw, ntp, row2, WC, F);
    for (int32_t t = 2 * nt; t < 2 * ntp; t++) col[t] = 0;
    int32_t *ring = mico_ring_pays(p) ? mico_ring_reset(p, base) : 0;
    const int32_t npix = p->out_h * p->out_w, ow_off = 1 << (CW - 1);
    const int sw = tw <= mico_field_steps(F, S, (1u << CA) - 1u); /* lg_words sums by UMLAL */
    /* ring rows of the current output row for pairs inside the image (stride_w 1): rows_oh = -1 none yet */
    const uint32_t *rows[16], *ps[16];
    int32_t rows_oh = -1, rows_in = 0;
    const int pairs = ring && p->stride_w == 1 && p->k_h <= 16;
    for (int32_t pix = 0; pix < npix; pix += 2) {
        const int32_t n = pix + 1 < npix ? 2 : 1, oh = pix / p->out_w, ow = pix - oh * p->out_w;
        const int32_t iw0 = ow - p->pad_w;
        int32_t sp[2] = {0, 0};
        if (pairs && n == 2 && ow + 1 < p->out_w && iw0 >= 0 && iw0 + 1 + p->k_w <= p->in_w) {
            if (oh != rows_oh) { /* the rows of one output row stay in the ring while its pixels run */
                rows_in = CA == 4 ? lg_rows_a4(p, in, oh, ring, tw, sw, rows, ps)
                          : F == 3  ? lg_rows_a2(p, in, oh, ring, tw, sw, rows, ps)
                                    : lg_rows_a2f4(p, in, oh, ring, tw, sw, rows, ps);
                rows_oh = oh;
            }
        }
        if (pairs && n == 2 && ow + 1 < p->out_w && iw0 >= 0 && iw0 + 1 + p->k_w <= p->in_w && rows_in) {
            lg_pair_col(p, rows, ps, iw0, tw, col, sp);
        } else {
            sp[0] = lg_im2col(p, in, pix, 0, col, tw, (uint32_t)ox, ring, sw, CA, F, S);
            if (n == 2) sp[1] = lg_im2col(p, in, pix + 1, 1, col, tw, (uint32_t)ox, ring, sw, CA, F, S);
            else
                for (int32_t t = 0; t < nt; t++) col[2 * t + 1] = 0;
        }
        lg_pairs(wq, col, ntp, nbe, p->out_c, sums, sums + p->out_c, F, S);
        const int32_t t[2] = {ow_off * sp[0], ow_off * sp[1]};
        mico_conv_store_pixels(p, sums, tab, t, pix, n, fast, out);
    }
}

mico_status mico_conv_long(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                           int32_t scratch_bytes) {
    mico_status st = mico_conv_check(p);
    if (st != MICO_OK) return st;
    if (!mico_conv_long_ok(p)) return MICO_ERR_UNSUPPORTED;
    if (!scratch || scratch_bytes < mico_conv_get_buffer_size(p)) return MICO_ERR_SCRATCH;
    uint8_t *base = (uint8_t *)(((uintptr_t)scratch + 3u) & ~(uintptr_t)3u);
    if (p->w_cont == 4 && p->in_cont == 4) lg_conv(p, in, out, scratch, base, 4, 4, 3, 14);
    else if (p->w_cont == 2 && p->in_cont == 2) lg_conv(p, in, out, scratch, base, 2, 2, 4, 10);
    else if (p->w_cont == 1 && p->in_cont == 2) lg_conv(p, in, out, scratch, base, 1, 2, 4, 10);
    else if (p->w_cont == 1) lg_conv(p, in, out, scratch, base, 1, 4, 3, 14);
    else if (p->w_cont == 4) lg_conv(p, in, out, scratch, base, 4, 2, 3, 14);
    else lg_conv(p, in, out, scratch, base, 2, 4, 3, 14);
    return MICO_OK;
}

/* mico_conv_prepare for this kernel: the converted weights (and, for 1-bit weights, the row of 2-bit
 * containers they go through, at the end) */
MICO_INLINE int32_t lg_prepare(const mico_conv_params *p, void *dst, int32_t dst_bytes, const int32_t WC,
                               const int32_t CA, const int32_t F, const int32_t S) {
    int32_t nbe;
    const int32_t ntp = lg_ntp(p, &nbe, WC, CA, F, S), words = ((p->out_c + 1) / 2) * 2 * ntp;
    const int32_t w1 = WC == 1 ? (2 * ((p->k_h * p->k_w * p->in_c + 7) / 8) + 4 + 3) & ~3 : 0;
    const int32_t need = 4 * words + w1;
    if (!dst || dst_bytes < need) return need;
    uint32_t *wb = (uint32_t *)dst;
    mico_conv_params q = *p;
    q.prep = 0;
    (void)lg_wb(&q, wb, lg_tw(p, F), ntp, (uint8_t *)(wb + words), WC, F);
    return need;
}

int32_t mico_conv_long_prepare(const mico_conv_params *p, void *dst, int32_t dst_bytes);
int32_t mico_conv_long_prepare(const mico_conv_params *p, void *dst, int32_t dst_bytes) {
    if (!mico_conv_long_ok(p)) return 0;
    if (p->w_cont == 4 && p->in_cont == 4) return lg_prepare(p, dst, dst_bytes, 4, 4, 3, 14);
    if (p->w_cont == 2 && p->in_cont == 2) return lg_prepare(p, dst, dst_bytes, 2, 2, 4, 10);
    if (p->w_cont == 1 && p->in_cont == 2) return lg_prepare(p, dst, dst_bytes, 1, 2, 4, 10);
    if (p->w_cont == 1) return lg_prepare(p, dst, dst_bytes, 1, 4, 3, 14);
    if (p->w_cont == 4) return lg_prepare(p, dst, dst_bytes, 4, 2, 3, 14);
    return lg_prepare(p, dst, dst_bytes, 2, 4, 3, 14);
}
