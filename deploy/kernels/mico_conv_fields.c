/* 4-bit weights read in place (groups == 1, weight container 4, activation container 2 or 4): three
 * products per 32 x 32 -> 64-bit unsigned multiply-accumulate (UMLAL on Cortex-M7), with the weight
 * fields masked straight out of the packed rows, so no converted weights (the long-multiply kernel,
 * mico_conv_long.c, converts them once per call or at build time into 2.7x their flash) and no cost
 * that only many pixels repay. Linear layers are its main use.
 *
 * A packed weight word holds 8 nibbles w_0..w_7 at bits 4 j; with the sign bits flipped (w' = w + 8,
 * unsigned) the mask M = 0xF00F00F0 picks three of them at bits 4, 16 and 28:
 *     (u << 4) & M  =  2^4 (w'_0 + w'_3 2^12 + w'_6 2^24)
 *      u       & M  =  2^4 (w'_1 + w'_4 2^12 + w'_7 2^24)
 *     (u >> 4) & M  =  2^4 (w'_2 + w'_5 2^12)
 * one AND with a shifted register each. The column holds, per weight word, the three activation
 * words with the fields in reverse order,
 *     A0 = 2^4 (x'_6 + x'_3 2^12 + x'_0 2^24),  A1 = 2^4 (x'_7 + x'_4 2^12 + x'_1 2^24),
 *     A2 = 2^4 (x'_5 2^12 + x'_2 2^24),
 * so bits 32..43 of A W (the low 12 bits of the high word) hold the three-term dot, and the cross terms
 * land at bits 8 and 20 (below) or 44 and up (discarded). With P = max x' max w' (container maxima:
 * any container content is exact) a block of n multiplies stays exact while 3 n P < 2^12 and the lower
 * fields stay below bit 32 (mico_field_steps(3, 12, P), the long kernel's bound with D = 24, scaled by
 * 2^8): W4A4 6 (2 weight words a block), W4A2 30 (10 words); the block's dot field is then added to a
 * 32-bit sum (UBFX + ADD) and the next block starts from a fresh UMULL. Offsets as everywhere:
 * sum x w = sum x'w' - 8 sum x' - o_x sum w (the last in the requantization table).
 * 2 channels a step share the activation words: 8 MACs per channel and weight word take LDR, EOR,
 * 3 AND, 3 UMLAL. Scratch: the GEMM kernels' layout (column: 12 bytes per weight word, within their
 * 2-pixel int16 column; the gathered field; table and raw sums).
 */
#include "mico_conv_check.h"
#include "mico_nn_support.h"

int32_t mico_conv_fields_ok(const mico_conv_params *p);
int32_t mico_conv_fields_ok(const mico_conv_params *p) {
    return p && p->groups == 1 && p->w_cont == 4 && (p->in_cont == 2 || p->in_cont == 4) && p->wsum != 0;
}

/* Word t of the pixel's activations as 8 nibbles (x'_j at bit 4 j), from its packed stream src of
 * k CA-bit elements; elements past k are 0 (they meet padding weights). */
MICO_INLINE uint32_t fl_word(const uint8_t *src, int32_t t, int32_t k, uint32_t flip, const int32_t CA) {
    const int32_t bytes = CA, left = k - 8 * t; /* a word of 8 elements takes CA bytes */
    const uint8_t *b = src + bytes * t;
    uint32_t v;
    if (left >= 8) {
        v = CA == 4 ? mico_load32(b) : (uint32_t)b[0] | (uint32_t)b[1] << 8;
    } else {
        v = 0;
        for (int32_t i = 0; i < (left * CA + 7) / 8; i++) v |= (uint32_t)b[i] << (8 * i);
    }
    v ^= flip;
    if (CA == 2) { /* crumb j -> nibble j */
        v = (v | v << 8) & 0x00FF00FFu;
        v = (v | v << 4) & 0x0F0F0F0Fu;
        v = (v | v << 2) & 0x33333333u;
    }
    return left >= 8 ? v : v & ((1u << (4 * left)) - 1u);
}

/* The 3 activation words of one word X of 8 nibbles (see the header). */
MICO_INLINE void fl_put(uint32_t X, uint32_t *x) {
    const uint32_t R = __builtin_bswap32(X); /* REV: x'_6 x'_7 at bits 0..7, x'_0 x'_1 at 24..31 */
    x[0] = ((R << 4) & 0xF00000F0u) | ((X << 4) & 0x000F0000u);
    x[1] = (R & 0xF00000F0u) | (X & 0x000F0000u);
    x[2] = ((R << 12) & 0xF0000000u) | ((X >> 4) & 0x000F0000u);
}

/* Sum of the 8 nibbles of X. */
MICO_INLINE int32_t fl_nsum(uint32_t X) {
    const uint32_t v = (X & 0x0F0F0F0Fu) + ((X >> 4) & 0x0F0F0F0Fu);
    return (int32_t)((v * 0x01010101u) >> 24);
}

/* The column of one pixel: 3 activation words per weight word; returns sum x'. Whole words of 4-bit
 * activations are one load each (the byte sums of up to 8 words gathered in byte lanes). */
MICO_INLINE int32_t fl_column(const uint8_t *src, int32_t k, int32_t nw, uint32_t flip, uint32_t *x, const int32_t CA) {
    int32_t sum = 0, t = 0;
    if (CA == 4) {
        for (; 8 * t + 64 <= k;) {
            uint32_t lanes = 0;
            for (const int32_t e = t + 8; t < e; t++, x += 3) {
                const uint32_t X = mico_load32(src + 4 * t) ^ flip;
                lanes += (X & 0x0F0F0F0Fu) + ((X >> 4) & 0x0F0F0F0Fu);
                fl_put(X, x);
            }
            sum += (int32_t)((((lanes & 0x00FF00FFu) + ((lanes >> 8) & 0x00FF00FFu)) * 0x10001u) >> 16);
        }
    }
    for (; t < nw; t++, x += 3) {
        const uint32_t X = fl_word(src, t, k, flip, CA);
        sum += fl_nsum(X);
        fl_put(X, x);
    }
    return sum;
}

/* Raw sums x'w' of channels a and b (rows wa, wb) over nw weight words, in blocks of nb words. */
MICO_INLINE void fl_pair(const uint32_t *wa, const uint32_t *wb, const uint32_t *x, int32_t nw, int32_t nb,
                         int32_t *sa, int32_t *sb) {
    const uint32_t M = 0xF00F00F0u, flip = 0x88888888u;
    uint32_t a = 0, b = 0;
    for (int32_t t = 0; t < nw;) {
        const int32_t e = nw - t < nb ? nw : t + nb;
        uint64_t pa = 0, pb = 0;
        for (; t < e; t++, x += 3) {
            const uint32_t u = wa[t] ^ flip, v = wb[t] ^ flip;
            pa += (uint64_t)x[0] * ((u << 4) & M) + (uint64_t)x[1] * (u & M) + (uint64_t)x[2] * ((u >> 4) & M);
            pb += (uint64_t)x[0] * ((v << 4) & M) + (uint64_t)x[1] * (v & M) + (uint64_t)x[2] * ((v >> 4) & M);
        }
        a += (uint32_t)(pa >> 32) & 0xFFFu;
        b += (uint32_t)(pb >> 32) & 0xFFFu;
    }
    *sa = (int32_t)a;
    *sb = (int32_t)b;
}

#if defined(__thumb2__)
#define FL_ASM 1
/* Cortex-M7: every channel in one assembly loop (one channel at a time: an LDM of the 3 activation
 * words, then LDR, EOR, 3 x (AND, UMLAL) per weight word; blocks of 2 words start with UMULL and
 * end with UBFX + ADD; 2 blocks per loop test). The three ANDs go to three registers ahead of the
 * UMLALs, so the dual-issue pipeline pairs them (llvm-mca: 8 cycles a word instead of 10).
 * Registers: r0 job (column end, raw sums pointer and row padding in it), r1 column, r2 weight row,
 * r3 M, r4:r5 product, r6 sum, r7 / r12 / lr fields, r8-r10 activation words, r11 weight word. */
typedef struct {
    const uint8_t *w;   /* 0: first row */
    int32_t pad;        /* 4: row stride - 4 nw */
    const uint32_t *xb; /* 8: column */
    const uint32_t *xe; /* 12: column end */
    int32_t rem;        /* 16: nw % 4, then the entry address for it */
    int32_t *send;      /* 20: raw sums end */
    int32_t *sums;      /* 24: raw sums */
} fl_job;
#define FL_WORD(MUL)                                                                       \
    "ldm r1!, {r8, r9, r10}\n\tldr r11, [r2], #4\n\teor r11, r11, #0x88888888\n\t"     \
    "and r7, r3, r11, lsl #4\n\tand r12, r3, r11\n\tand lr, r3, r11, lsr #4\n\t"          \
    MUL " r4, r5, r8, r7\n\tumlal r4, r5, r9, r12\n\tumlal r4, r5, r10, lr\n\t"
#define FL_FLUSH "ubfx r7, r5, #0, #12\n\tadd r6, r6, r7\n\t"
/* The loop body is 4 words (2 blocks); a channel enters it at the word that leaves nw % 4 words
 * before the first full pass: 0 and 2 at a block start, 1 and 3 at a block's second word with a zero
 * product (the entry address is found once per call). The raw sums pointer walks in the job. */
static void __attribute__((noinline)) fl_chans(fl_job *job) {
    register fl_job *j __asm__("r0") = job;
    __asm__ volatile("movw r3, #0x00F0\n\tmovt r3, #0xF00F\n\tldr r2, [r0]\n\tldr r7, [r0, #16]\n\t"
                     "cmp r7, #1\n\tbeq 21f\n\tcmp r7, #2\n\tbeq 22f\n\tcmp r7, #3\n\tbeq 23f\n\t"
                     "adr.w r7, 1f\n\tb 24f\n\t"
                     "21:\n\tadr.w r7, 8f\n\tb 24f\n\t"
                     "22:\n\tadr.w r7, 2f\n\tb 24f\n\t"
                     "23:\n\tadr.w r7, 9f\n\t"
                     "24:\n\torr r7, r7, #1\n\tstr r7, [r0, #16]\n\tb 0f\n\t"
                     "8:\n\tmovs r4, #0\n\tmovs r5, #0\n\tb 11f\n\t"
                     "9:\n\tmovs r4, #0\n\tmovs r5, #0\n\tb 10f\n\t"
                     "0:\n\tldr r1, [r0, #8]\n\tmovs r6, #0\n\tldr r7, [r0, #16]\n\tbx r7\n\t"
                     "1:\n\t" FL_WORD("umull") "10:\n\t" FL_WORD("umlal") FL_FLUSH
                     "2:\n\t" FL_WORD("umull") "11:\n\t" FL_WORD("umlal") FL_FLUSH
                     "ldr r7, [r0, #12]\n\tcmp r1, r7\n\tbne 1b\n\t"
                     "ldr r7, [r0, #24]\n\tstr r6, [r7], #4\n\tstr r7, [r0, #24]\n\tldr r12, [r0, #4]\n\t"
                     "add r2, r2, r12\n\tldr r12, [r0, #20]\n\tcmp r7, r12\n\tbne 0b\n\t"
                     : "+r"(j)
                     :
                     : "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc",
                       "memory");
}
#undef FL_WORD
#undef FL_FLUSH
#else
#define FL_ASM 0
#endif

MICO_INLINE void fl_run(const mico_conv_params *p, const uint8_t *in, void *out, uint32_t *col, int32_t nw,
                        int32_t nb, int32_t ox, const int32_t CA) {
    uint32_t *stream = (uint32_t *)(void *)((uint8_t *)col + mico_stream_offset(p));
    mico_chq *tab = (mico_chq *)(void *)((uint8_t *)col + mico_sums_offset(p));
    int32_t *sums = (int32_t *)(void *)(tab + p->out_c);
    const int32_t fast = mico_conv_store_prepare(p, ox, tab);
    const int32_t k = p->k_h * p->k_w * p->in_c, rs = p->w_row_bytes, npix = p->out_h * p->out_w;
    const uint32_t flip = !p->in_signed ? 0u : CA == 4 ? 0x88888888u : 0xAAAAu;
    /* a 1x1 window over whole bytes reads the pixel in place; any other field is gathered first */
    const int direct = p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_h == 0 &&
                       p->pad_w == 0 && (p->in_c * CA) % 8 == 0;
    for (int32_t pix = 0; pix < npix; pix++) {
        const uint8_t *src = in + pix * (p->in_c * CA / 8);
        if (!direct) {
            mico_gather_field(p, in, pix, stream, 8 * nw, 0u);
            src = (const uint8_t *)stream;
        }
        const int32_t s = fl_column(src, k, nw, flip, col, CA);
#if FL_ASM
        /* blocks of at most 2 words: within every container pair's bound (nb >= 2) */
        fl_job job = {p->weights, rs - 4 * nw, col, col + 3 * nw, nw & 3, sums + p->out_c, sums};
        (void)nb;
        fl_chans(&job);
#else
        for (int32_t oc = 0; oc < p->out_c; oc += 2) {
            const int two = oc + 1 < p->out_c;
            const uint32_t *ra = (const uint32_t *)(const void *)(p->weights + oc * rs);
            int32_t sb;
            fl_pair(ra, two ? (const uint32_t *)(const void *)(p->weights + (oc + 1) * rs) : ra, col, nw, nb,
                    &sums[oc], &sb);
            if (two) sums[oc + 1] = sb;
        }
#endif
        const int32_t t[2] = {8 * s, 0};
        mico_conv_store_pixels(p, sums, tab, t, pix, 1, fast, out);
    }
}

mico_status mico_conv_fields(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                             int32_t scratch_bytes) {
    mico_status st = mico_conv_check(p);
    if (st != MICO_OK) return st;
    if (!mico_conv_fields_ok(p)) return MICO_ERR_UNSUPPORTED;
    if (!scratch || scratch_bytes < mico_conv_get_buffer_size(p)) return MICO_ERR_SCRATCH;
    const int32_t k = p->k_h * p->k_w * p->in_c, nw = (k + 7) / 8;
    if (nw * 4 > p->w_row_bytes || ((uintptr_t)p->weights & 3u) || (p->w_row_bytes & 3)) return MICO_ERR_ARG;
    const int32_t ca = p->in_cont, ox = p->in_signed ? 1 << (ca - 1) : 0;
    const int32_t nb = mico_field_steps(3, 12, ((1u << ca) - 1u) * 15u) / 3; /* weight words a block */
    uint32_t *col = (uint32_t *)(((uintptr_t)scratch + 3u) & ~(uintptr_t)3u);
    if (ca == 4) fl_run(p, in, out, col, nw, nb, ox, 4);
    else fl_run(p, in, out, col, nw, nb, ox, 2);
    return MICO_OK;
}
