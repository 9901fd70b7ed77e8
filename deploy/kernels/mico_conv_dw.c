/* Depthwise convolution (groups == in_c == out_c), any containers.
 *
 * General path: the k_h input rows an output row needs are widened to int16 (with the horizontal
 * zero padding materialised) into a ring of k_h rows (mico_ring16), so each input row is converted
 * once; the weights are widened once per call to int16 in (tap, channel) order, and the inner loop
 * multiplies pairs of channels held in one 32-bit word. Scratch: k_h (in_w + 2 pad_w + 2) in_c +
 * k_h (k_w + 1) in_c int16 values.
 *
 * k_w == 3, stride_w == 1 (the common 3x3 depthwise; dw3_run) has its own paths, each over a ring of
 * channel-major rows (one row per channel), each leaving a row's raw sums to the shared
 * requantization pass, or, for 8-bit full-range outputs whose every shift is > 32, requantizing
 * each output as it is made (dw_rq8). On Cortex-M7 assembly rows walk every channel of an output
 * row, in both forms (requantized bytes, or raw sums for the shared pass):
 *   - int16 pairs (any containers): per kernel row of a channel, (w0, w1) / (w2, 0) weight words and
 *     two neighbouring outputs at once, SMLAD x0 x1 | x1 x2 and SMLABB / SMLATB x2 / x3: 6 products
 *     in 4 instructions and 3 loads;
 *   - byte fields (dwb; unsigned activations of at most 4 bits, 3 k_h max|w| max x <= 255 by
 *     container, e.g. W2A2, W4A2, W1A4 3x3): byte rows, 4 neighbouring outputs per MLA of a weight
 *     by one word load, 9 loads and 9 MLAs per 4 outputs of a 3x3;
 *   - byte groups (dwp; a byte holds the products of only g >= 2 taps, e.g. W4A4: 2, W2A4: 8):
 *     the same words, flushed every min(g, 3) taps into 16-bit lanes by UXTAB16.
 * Lower bits are faster where the products are narrow enough to share a register: 2-bit operands 4
 * to a MLA, 4-bit ones 4 to a MLA for 2 taps at a time; 8-bit operands go 2 to a SMLAD.
 * On AArch64 a NEON path (dw_neon) multiplies 8 channels per instruction pair instead.
 */
#include "mico_conv_check.h"
#include "mico_nn_support.h"

MICO_INLINE int32_t dw_mac_lo(int32_t acc, uint32_t x, uint32_t w) {
    return acc + (int32_t)(int16_t)(x & 0xFFFFu) * (int32_t)(int16_t)(w & 0xFFFFu);
}
MICO_INLINE int32_t dw_mac_hi(int32_t acc, uint32_t x, uint32_t w) {
    return acc + (int32_t)(int16_t)(x >> 16) * (int32_t)(int16_t)(w >> 16);
}

/* dw3 scratch (after 4-byte alignment): the requantization table (c entries), one output row's raw
 * sums (R = out_w rounded up to 4 pixels, pixel-major), R zero terms, then the path's ring and
 * weights. */
MICO_INLINE int32_t dw3_round(const mico_conv_params *p) { return (p->out_w + 3) & ~3; }

/* Byte fields (dwb): with unsigned activations of at most 4 bits and 3 k_h times the largest
 * weight magnitude times the largest activation (container bounds) at most 255, a channel's raw sum
 * s stays in a range of 256 values, so s + O (O = the largest activation times minus the sum of its
 * negative weights) fits a byte. One multiply of a weight by a word of 4 consecutive activations of a channel-major byte
 * row (one unaligned load) then adds that tap to 4 neighbouring outputs at once, and a 3x3 channel
 * takes 9 loads and 9 MLAs per 4 outputs. Exact: the accumulator starts at O in every byte, each
 * byte ends in [0, 255], so the 32-bit sum has no carries between bytes at the end (intermediate
 * wraps cancel modulo 2^32). O is taken out of the table's bias. */
MICO_INLINE int32_t dw_group(const mico_conv_params *p) { /* taps whose products a byte field holds */
    const int32_t wmax = p->w_cont == 1 ? 1 : 1 << (p->w_cont - 1);
    return p->in_signed || p->in_cont > 4 ? 0 : 255 / (wmax * ((1 << p->in_cont) - 1));
}

/* Byte groups (dwp): when a byte field holds the sum of only g >= 2 taps' products (W4A4: g = 2), the
 * taps go in groups of G = min(g, 3), each group's word of 4 byte fields starting at its own offset
 * O_g, and after each group the fields are added into two words of 16-bit lanes (UXTAB16: bytes 0 and
 * 2 into outputs 0 and 2, bytes 1 and 3 into outputs 1 and 3; the lanes never carry: at most 16 x 3
 * groups of 255). Taps run kernel row by row, columns 1, 2, 0 (the column-0 load of a row comes last
 * and moves the row pointer on the Cortex-M7). A channel's block: per group O_g and its weights, then
 * the table entry (b less the sum of the O_g). */
/* Where byte groups beat the int16 pairs (measured on Cortex-M7, instructions per MAC, W4A4 / int16):
 * rows of 12+ outputs in whole groups of 4 (16x16x32 2.70 / 3.02, 12x12x64 2.91 / 3.10); shorter or
 * ragged rows pay more per row and channel than the groups save (14x14x16 3.90 / 3.17, 7x7x64
 * 4.86 / 4.75, 4x4x96 6.73 / 4.65). */
MICO_INLINE int dwp_pays(const mico_conv_params *p) { return p->out_w >= 12 && (p->out_w & 3) == 0; }

static void dwp_prepare(const mico_conv_params *p, int32_t G, int32_t *wt, mico_chq *tab) {
    const int32_t c = p->in_c, taps = p->k_h * 3, xmax = (1 << p->in_cont) - 1, ng = (taps + G - 1) / G;
    for (int32_t ch = 0; ch < c; ch++) {
        const uint8_t *row = p->weights + ch * p->w_row_bytes;
        int32_t *wc = wt + ch * (ng + taps + 4), otot = 0, k = 0;
        for (int32_t i0 = 0; i0 < taps; i0 += G) {
            int32_t *og = wc + k++, neg = 0;
            for (int32_t i = i0; i < i0 + G && i < taps; i++) {
                const int32_t w = mico_get_w(row, i - i % 3 + (i % 3 + 1) % 3, p->w_cont);
                wc[k++] = w;
                neg += w < 0 ? w : 0;
            }
            *og = (int32_t)((uint32_t)(-neg * xmax) * 0x01010101u);
            otot += -neg * xmax;
        }
        tab[ch].b -= otot;
        memcpy(wc + ng + taps, &tab[ch], sizeof(mico_chq));
    }
}

/* Per channel a block of 3 k_h + 5 words: O in every byte, the weights, then the channel's
 * requantization entry (b less O, m, rnd, sh). */
static void dwb_prepare(const mico_conv_params *p, int32_t *wt, mico_chq *tab) {
    const int32_t c = p->in_c, taps = p->k_h * 3, xmax = (1 << p->in_cont) - 1;
    for (int32_t ch = 0; ch < c; ch++) {
        const uint8_t *row = p->weights + ch * p->w_row_bytes;
        int32_t *wc = wt + ch * (taps + 5), neg = 0;
        for (int32_t t = 0; t < taps; t++) {
            const int32_t w = mico_get_w(row, t, p->w_cont);
            wc[1 + t] = w;
            neg += w < 0 ? w : 0;
        }
        wc[0] = (int32_t)((uint32_t)(-neg * xmax) * 0x01010101u); /* O in every byte */
        tab[ch].b -= -neg * xmax;
        memcpy(wc + 1 + taps, &tab[ch], sizeof(mico_chq));
    }
}

MICO_INLINE uint32_t dwb_tap(const uint8_t *r, int32_t w) { return (uint32_t)w * mico_load32(r); }

/* An opaque copy of a pointer: loads through it stay in the loop that makes it (the compiler cannot
 * hoist them and then spill what it hoisted: loading a kernel row's weights again costs less). */
MICO_INLINE const void *dw_fresh(const void *q) {
    __asm__("" : "+r"(q));
    return q;
}

/* One output of an 8-bit full-range layer whose every shift is > 32, with the channel's table entry
 * e: y = usat8((hi32((a + b) m) + rnd) >> sh), mico_rq_ldm's formula (ADD, SMMLA, ASR, USAT). */
MICO_INLINE uint8_t dw_rq8(int32_t a, mico_chq e) {
#if MICO_HAVE_DSP && defined(__thumb2__)
    int32_t y;
    __asm__("add %0, %1, %2\n\tsmmla %0, %0, %3, %4\n\tasr %0, %0, %5\n\tusat %0, #8, %0"
            : "=&r"(y)
            : "r"(a), "r"(e.b), "r"(e.m), "r"(e.rnd), "r"(e.sh));
    return (uint8_t)y;
#else
    const int32_t v = (int32_t)((uint32_t)a + (uint32_t)e.b);
    const int32_t y = ((int32_t)(((int64_t)v * e.m) >> 32) + e.rnd) >> e.sh;
    return (uint8_t)(y < 0 ? 0 : y > 255 ? 255 : y);
#endif
}

/* Whether dw3's outputs go straight out of the MAC loop (8-bit full-range outputs, every shift > 32)
 * rather than through a row of raw sums and the shared requantization pass. */
MICO_INLINE int dw_direct(const mico_conv_params *p, int32_t fast) {
    return fast == 1 && p->out_cont == 8 && p->out_lo == 0 && p->out_hi == 255;
}

/* The 4 byte fields of a: raw sums (plus the channel's offset) of outputs ob .. ob + n - 1, to the
 * row's sums (s, pixel stride c) or, direct, requantized to the output bytes (o, stride c). */
MICO_INLINE void dwb_put(uint32_t a, int32_t n, int32_t *s, uint8_t *o, const mico_chq *q, int32_t c, const int DQ) {
    if (DQ) {
        const mico_chq e = *(const mico_chq *)dw_fresh(q);
        o[0] = dw_rq8((int32_t)(a & 0xFFu), e);
        if (n > 1) o[c] = dw_rq8((int32_t)((a >> 8) & 0xFFu), e);
        if (n > 2) o[2 * c] = dw_rq8((int32_t)((a >> 16) & 0xFFu), e);
        if (n > 3) o[3 * c] = dw_rq8((int32_t)(a >> 24), e);
        return;
    }
    s[0] = (int32_t)(a & 0xFFu);
    s[c] = (int32_t)((a >> 8) & 0xFFu);
    s[2 * c] = (int32_t)((a >> 16) & 0xFFu);
    s[3 * c] = (int32_t)(a >> 24);
}

/* acc + bytes 0 and 2 (HI: 1 and 3) of a, into acc's 16-bit lanes (UXTAB16) */
MICO_INLINE uint32_t dw_lanes(uint32_t acc, uint32_t a, const int HI) {
#if MICO_HAVE_DSP && defined(__thumb2__)
    uint32_t y;
    if (HI) __asm__("uxtab16 %0, %1, %2, ror #8" : "=r"(y) : "r"(acc), "r"(a));
    else __asm__("uxtab16 %0, %1, %2" : "=r"(y) : "r"(acc), "r"(a));
    return y;
#else
    return acc + ((HI ? a >> 8 : a) & 0x00FF00FFu);
#endif
}

/* One channel's outputs of a row by byte groups (dwp), 4 at a time from output ob on. */
MICO_INLINE void dwp_channel(const uint8_t *const *r, const int32_t *wc, int32_t kh_n, int32_t G, int32_t ob,
                             int32_t ow_n, int32_t c, int32_t *s, uint8_t *o, const int DQ) {
    const int32_t taps = 3 * kh_n, ng = (taps + G - 1) / G;
    const mico_chq *q = (const mico_chq *)(const void *)(wc + ng + taps);
    s += ob * c;
    o += ob * c;
    for (; ob < ow_n; ob += 4, s += 4 * c, o += 4 * c) {
        const int32_t *w = (const int32_t *)dw_fresh(wc);
        uint32_t ev = 0, od = 0;
        int32_t kh = 0, col = 1;
        for (int32_t i0 = 0; i0 < taps; i0 += G) {
            uint32_t a = (uint32_t)*w++;
            for (int32_t i = i0; i < i0 + G && i < taps; i++) {
                a += dwb_tap(r[kh] + ob + col, *w++);
                if (col == 0) {
                    col = 1;
                    kh++;
                } else {
                    col = col == 2 ? 0 : 2;
                }
            }
            ev = dw_lanes(ev, a, 0);
            od = dw_lanes(od, a, 1);
        }
        const int32_t n = ow_n - ob;
        if (DQ) {
            const mico_chq e = *(const mico_chq *)dw_fresh(q);
            o[0] = dw_rq8((int32_t)(ev & 0xFFFFu), e);
            if (n > 1) o[c] = dw_rq8((int32_t)(od & 0xFFFFu), e);
            if (n > 2) o[2 * c] = dw_rq8((int32_t)(ev >> 16), e);
            if (n > 3) o[3 * c] = dw_rq8((int32_t)(od >> 16), e);
        } else {
            s[0] = (int32_t)(ev & 0xFFFFu);
            s[c] = (int32_t)(od & 0xFFFFu);
            s[2 * c] = (int32_t)(ev >> 16);
            s[3 * c] = (int32_t)(od >> 16);
        }
    }
}

/* One channel's outputs of a row, 4 at a time (rows r[kh], the channel's block wc), from output ob
 * on: per kernel row 3 word loads and 3 MLAs. */
MICO_INLINE void dwb_channel(const uint8_t *const *r, const int32_t *wc, int32_t kh_n, int32_t ob, int32_t ow_n,
                             int32_t c, int32_t *s, uint8_t *o, const int KH3, const int DQ) {
    const mico_chq *q = (const mico_chq *)(const void *)(wc + 1 + 3 * kh_n);
    s += ob * c;
    o += ob * c;
    for (; ob < ow_n; ob += 4, s += 4 * c, o += 4 * c) {
        const int32_t *w = (const int32_t *)dw_fresh(wc);
        uint32_t a = (uint32_t)w[0];
        for (int32_t kh = 0; kh < (KH3 ? 3 : kh_n); kh++) {
            const uint8_t *x = r[kh] + ob;
            a += dwb_tap(x, w[1 + 3 * kh]) + dwb_tap(x + 1, w[2 + 3 * kh]) + dwb_tap(x + 2, w[3 + 3 * kh]);
        }
        dwb_put(a, ow_n - ob, s, o, q, c, DQ);
    }
}

#if MICO_HAVE_DSP && defined(__thumb2__)
/* The 3x3 direct case's whole groups of 4 outputs on Cortex-M7, one channel of a row: per group
 * 4 LDMs (the channel's block: O and 3 weights, 3 weights, 3 weights, its table entry), 9 word
 * loads and 9 MLAs, and per output UBFX, ADD, SMMLA, ASR, USAT and STRB (dw_rq8). */
typedef struct {
    const uint8_t *r0, *r1, *r2; /* channel 0's kernel rows */
    const int32_t *w;            /* its block */
    uint8_t *o;                  /* its first output */
    int32_t c, groups;           /* output stride; groups of outputs a channel */
    int32_t nch, rstride, wstride; /* channels; bytes from a channel's rows / block to the next's */
    int32_t ostride;               /* bytes from a channel's first output to the next's (1, or 4: raw sums) */
} dwb_job;

/* Every channel of a row: the job's pointers are reloaded per channel and moved on to the next
 * channel in memory (the registers all serve the inner loop). */
#define DW_BEGIN "push {r0}\n\t2:\n\tldr r0, [sp]\n\tldm r0, {r0, r1, r2, r3, r4, r5, r6}\n\t1:\n\t"
#define DW_END                                                                           \
    "ldr r0, [sp]\n\tldm r0, {r1, r2, r3, r4, r5}\n\tldr r6, [r0, #32]\n\t"             \
    "add r1, r1, r6\n\tadd r2, r2, r6\n\tadd r3, r3, r6\n\tldr r6, [r0, #36]\n\t"     \
    "add r4, r4, r6\n\tldr r6, [r0, #40]\n\tadd r5, r5, r6\n\tstm r0, {r1, r2, r3, r4, r5}\n\t" \
    "ldr r6, [r0, #28]\n\tsubs r6, r6, #1\n\tstr r6, [r0, #28]\n\tbne 2b\n\tadd sp, sp, #4\n\t"
#define DW_CLOBBER "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory"
/* One assembly row function: BODY with the requantized outputs (NAME) and with raw sums (NAME_s). */
#define DW_ASM_PAIR(NAME, BODY_DQ, BODY_S)                                        \
    static void __attribute__((noinline)) NAME(dwb_job *job) {                    \
        register dwb_job *j __asm__("r0") = job;                                  \
        __asm__ volatile(DW_BEGIN BODY_DQ DW_END : "+r"(j) : : DW_CLOBBER);        \
    }                                                                             \
    static void __attribute__((noinline)) NAME##_s(dwb_job *job) {                \
        register dwb_job *j __asm__("r0") = job;                                  \
        __asm__ volatile(DW_BEGIN BODY_S DW_END : "+r"(j) : : DW_CLOBBER);         \
    }
/* requantize lr (or r7 / r8) with the entry in (B, M, R, S) and store the byte (dw_rq8) */
#define DW_RQ(Y, B, M, R, S, STORE) \
    "add " Y ", " Y ", " B "\n\tsmmla " Y ", " Y ", " M ", " R "\n\tasr " Y ", " Y ", " S "\n\tusat " Y ", #8, " Y "\n\t" STORE "\n\t"
#define DW_NEXT "subs r6, r6, #1\n\tbne 1b\n\t"

/* dwb: per kernel row an LDM of 3 weights (the first also O), 3 word loads, 3 MLAs */
#define DWB_ROW(R)                                                        \
    "ldr r11, [" R ", #1]\n\tmla r7, r9, r11, r7\n\t"                     \
    "ldr r11, [" R ", #2]\n\tmla r7, r10, r11, r7\n\t"                    \
    "ldr r11, [" R "], #4\n\tmla r7, r8, r11, r7\n\t"
#define DWB_MAC                                                               \
    "ldm r3!, {r7, r8, r9, r10}\n\t" DWB_ROW("r0")                            \
    "ldm r3!, {r8, r9, r10}\n\t" DWB_ROW("r1")                                \
    "ldm r3!, {r8, r9, r10}\n\t" DWB_ROW("r2")
#define DWB_DQ                                                                         \
    DWB_MAC "ldm r3, {r8, r9, r10, r11}\n\tsub r3, r3, #40\n\t"                        \
    "uxtb lr, r7\n\t" DW_RQ("lr", "r8", "r9", "r10", "r11", "strb lr, [r4]")             \
    "ubfx lr, r7, #8, #8\n\t" DW_RQ("lr", "r8", "r9", "r10", "r11", "strb lr, [r4, r5]") \
    "add r4, r4, r5, lsl #1\n\t"                                                       \
    "ubfx lr, r7, #16, #8\n\t" DW_RQ("lr", "r8", "r9", "r10", "r11", "strb lr, [r4]")    \
    "lsr lr, r7, #24\n\t" DW_RQ("lr", "r8", "r9", "r10", "r11", "strb lr, [r4, r5]")     \
    "add r4, r4, r5, lsl #1\n\t" DW_NEXT
#define DWB_S                                                                           \
    DWB_MAC "sub r3, r3, #40\n\t"                                                       \
    "uxtb lr, r7\n\tstr lr, [r4]\n\tubfx lr, r7, #8, #8\n\tstr lr, [r4, r5]\n\t"          \
    "add r4, r4, r5, lsl #1\n\t"                                                        \
    "ubfx lr, r7, #16, #8\n\tstr lr, [r4]\n\tlsr lr, r7, #24\n\tstr lr, [r4, r5]\n\t"     \
    "add r4, r4, r5, lsl #1\n\t" DW_NEXT
DW_ASM_PAIR(dwb_asm, DWB_DQ, DWB_S)

/* int16 pairs: per kernel row an LDM of the (w0, w1) / (w2, 0) words, 3 loads (x1 x2, x2 x3, x0 x1)
 * and 4 MACs (SMLAD, SMLABB, SMLATB; SMUAD / SMULBB start the row 0 sums) */
#define DWH_ROW(R, FIRST)                                                                  \
    "ldm r3!, {r9, r10}\n\t"                                                             \
    "ldr lr, [" R ", #2]\n\t" FIRST("smuad r8, lr, r9", "smlad r8, lr, r9, r8") "\n\t"  \
    "ldr lr, [" R ", #4]\n\t" FIRST("smulbb r7, lr, r10", "smlabb r7, lr, r10, r7") "\n\t" \
    "smlatb r8, lr, r10, r8\n\t"                                                        \
    "ldr lr, [" R "], #4\n\t"                                                           \
    "smlad r7, lr, r9, r7\n\t"
#define DW_FIRST(A, B) A
#define DW_LATER(A, B) B
#define DWH_MAC DWH_ROW("r0", DW_FIRST) DWH_ROW("r1", DW_LATER) DWH_ROW("r2", DW_LATER)
#define DWH_DQ                                                                  \
    DWH_MAC "ldm r3, {r9, r10, r11, lr}\n\tsub r3, r3, #24\n\t"                 \
    DW_RQ("r7", "r9", "r10", "r11", "lr", "strb r7, [r4]")                        \
    DW_RQ("r8", "r9", "r10", "r11", "lr", "strb r8, [r4, r5]")                    \
    "add r4, r4, r5, lsl #1\n\t" DW_NEXT
#define DWH_S DWH_MAC "sub r3, r3, #24\n\tstr r7, [r4]\n\tstr r8, [r4, r5]\n\tadd r4, r4, r5, lsl #1\n\t" DW_NEXT
DW_ASM_PAIR(dwh_asm, DWH_DQ, DWH_S)

/* dwp: G = 3 (a group per kernel row: LDM of O and 3 weights, 3 loads, 3 MLAs, 2 UXTAB16) or G = 2
 * (5 groups: pairs of taps, then one); the lanes give outputs 0 and 2 (r8), 1 and 3 (r9) */
#define DWP_LANES(FIRST) FIRST("uxtb16 r8, r7\n\tuxtb16 r9, r7, ror #8\n\t", \
                               "uxtab16 r8, r8, r7\n\tuxtab16 r9, r9, r7, ror #8\n\t")
#define DWP_ROW3(R, FIRST)                                                             \
    "ldm r3!, {r7, r10, r11, r12}\n\t"                                                 \
    "ldr lr, [" R ", #1]\n\tmla r7, r10, lr, r7\n\t"                                   \
    "ldr lr, [" R ", #2]\n\tmla r7, r11, lr, r7\n\t"                                   \
    "ldr lr, [" R "], #4\n\tmla r7, r12, lr, r7\n\t" DWP_LANES(FIRST)
#define DWP_PAIR(L0, L1, FIRST) \
    "ldm r3!, {r7, r10, r11}\n\t" L0 "\n\tmla r7, r10, lr, r7\n\t" L1 "\n\tmla r7, r11, lr, r7\n\t" DWP_LANES(FIRST)
#define DWP_MAC3 DWP_ROW3("r0", DW_FIRST) DWP_ROW3("r1", DW_LATER) DWP_ROW3("r2", DW_LATER)
#define DWP_MAC2                                                                         \
    DWP_PAIR("ldr lr, [r0, #1]", "ldr lr, [r0, #2]", DW_FIRST)                           \
    DWP_PAIR("ldr lr, [r0], #4", "ldr lr, [r1, #1]", DW_LATER)                           \
    DWP_PAIR("ldr lr, [r1, #2]", "ldr lr, [r1], #4", DW_LATER)                           \
    DWP_PAIR("ldr lr, [r2, #1]", "ldr lr, [r2, #2]", DW_LATER)                           \
    "ldm r3!, {r7, r10}\n\tldr lr, [r2], #4\n\tmla r7, r10, lr, r7\n\t" DWP_LANES(DW_LATER)
#define DWP_DQ(BACK)                                                                        \
    "ldm r3, {r10, r11, r12, lr}\n\tsub r3, r3, #" BACK "\n\t"                              \
    "uxth r7, r8\n\t" DW_RQ("r7", "r10", "r11", "r12", "lr", "strb r7, [r4]")                 \
    "uxth r7, r9\n\t" DW_RQ("r7", "r10", "r11", "r12", "lr", "strb r7, [r4, r5]")             \
    "add r4, r4, r5, lsl #1\n\t"                                                            \
    "lsr r7, r8, #16\n\t" DW_RQ("r7", "r10", "r11", "r12", "lr", "strb r7, [r4]")             \
    "lsr r7, r9, #16\n\t" DW_RQ("r7", "r10", "r11", "r12", "lr", "strb r7, [r4, r5]")         \
    "add r4, r4, r5, lsl #1\n\t" DW_NEXT
#define DWP_S(BACK)                                                                            \
    "sub r3, r3, #" BACK "\n\t"                                                                \
    "uxth r7, r8\n\tstr r7, [r4]\n\tuxth r7, r9\n\tstr r7, [r4, r5]\n\tadd r4, r4, r5, lsl #1\n\t" \
    "lsr r7, r8, #16\n\tstr r7, [r4]\n\tlsr r7, r9, #16\n\tstr r7, [r4, r5]\n\tadd r4, r4, r5, lsl #1\n\t" DW_NEXT
DW_ASM_PAIR(dwp_asm3, DWP_MAC3 DWP_DQ("48"), DWP_MAC3 DWP_S("48"))
DW_ASM_PAIR(dwp_asm2, DWP_MAC2 DWP_DQ("56"), DWP_MAC2 DWP_S("56"))
#undef DW_BEGIN
#undef DW_END
#undef DW_CLOBBER
#undef DW_ASM_PAIR
#undef DW_RQ
#undef DW_NEXT
#undef DWB_ROW
#undef DWB_MAC
#undef DWB_DQ
#undef DWB_S
#undef DWH_ROW
#undef DW_FIRST
#undef DW_LATER
#undef DWH_MAC
#undef DWH_DQ
#undef DWH_S
#undef DWP_LANES
#undef DWP_ROW3
#undef DWP_PAIR
#undef DWP_MAC3
#undef DWP_MAC2
#undef DWP_DQ
#undef DWP_S
#define DWB_ASM 1
#else
#define DWB_ASM 0
#endif

/* mico_ring8 out of line: its widening loops get the registers the channel loop would hold */
static void __attribute__((noinline)) dw_ring8(const mico_conv_params *p, const uint8_t *in, int8_t *rows, int32_t len,
                                               int32_t *slot_row, int32_t ih0, const int8_t **rp, int32_t wb) {
    mico_ring8(p, in, rows, len, slot_row, ih0, rp, p->pad_w, wb, 1);
}

/* mico_ring16 out of line (the int16 path's channel-major rows, w2 values a channel) */
static void __attribute__((noinline)) dw_ring16(const mico_conv_params *p, const uint8_t *in, int16_t *rows,
                                                int32_t len, int32_t *slot_row, int32_t ih0, const int16_t **rp,
                                                int32_t w2) {
    mico_ring16(p, in, rows, len, slot_row, ih0, rp, p->pad_w, w2, 1);
}

/* The byte-ring paths: dwb when G >= 3 k_h (no groups), else dwp with groups of G taps. */
static void dwb_run(const mico_conv_params *p, const uint8_t *in, void *out, int32_t fast, int32_t *sums,
                    const int32_t *t0, const mico_chq *tab, uint8_t *rows, const int32_t *wt, int32_t G) {
    const int32_t c = p->in_c, kh_n = p->k_h, R = dw3_round(p), wb = (R + 5) & ~3, ow_n = p->out_w, taps = 3 * kh_n;
    const int grouped = G < taps;
    const int32_t bs = grouped ? (taps + G - 1) / G + taps + 4 : taps + 5;
    /* requantized in the loop only where every output is in a whole group of 4 (on Cortex-M7) */
    const int dq = dw_direct(p, fast) && (!DWB_ASM || (ow_n & 3) == 0);
    int32_t slot_row[16];
    mico_ring16_reset(slot_row, kh_n);
    for (int32_t oh = 0; oh < p->out_h; oh++) {
        const int8_t *rp[16];
        /* channel-major byte rows: channel ch's pixels at ch * wb + pad_w */
        dw_ring8(p, in, (int8_t *)rows, c * wb, slot_row, oh * p->stride_h - p->pad_h, rp, wb);
        uint8_t *o = (uint8_t *)out + oh * ow_n * c;
        int32_t ob = 0;
#if DWB_ASM
        /* groups of 4 outputs of every channel: requantized bytes, whole groups only (the rest below), or
         * raw sums, every output: the sums hold R = out_w rounded up to 4 pixels and the ring rows' zero
         * slack (wb >= R + 4 bytes a channel) feeds the extra outputs (8-bit outputs, byte groups on 14x14x16
         * W4A4: 3.90 instead of 5.95 instructions per MAC; byte fields on 7x7x64 W2A2: 3.68 instead of
         * 4.68, when a row's last 1-3 outputs of each channel took the C loop) */
        if (kh_n == 3 && ow_n >= (dq ? 4 : 1)) {
            dwb_job job = {(const uint8_t *)rp[0], (const uint8_t *)rp[1], (const uint8_t *)rp[2], wt,
                           dq ? o : (uint8_t *)sums, dq ? c : 4 * c, dq ? ow_n / 4 : R / 4, c, wb, 4 * bs, dq ? 1 : 4};
            if (dq) {
                if (!grouped) dwb_asm(&job);
                else if (G == 3) dwp_asm3(&job);
                else dwp_asm2(&job);
            } else {
                if (!grouped) dwb_asm_s(&job);
                else if (G == 3) dwp_asm3_s(&job);
                else dwp_asm2_s(&job);
            }
            ob = dq ? ow_n & ~3 : ow_n;
        }
#endif
        for (int32_t ch = 0; ob < ow_n && ch < c; ch++) {
            const uint8_t *r[16];
            for (int32_t kh = 0; kh < kh_n; kh++) r[kh] = (const uint8_t *)rp[kh] + ch * wb;
            const int32_t *wc = wt + ch * bs;
            if (grouped) {
                if (dq) dwp_channel(r, wc, kh_n, G, ob, ow_n, c, sums + ch, o + ch, 1);
                else dwp_channel(r, wc, kh_n, G, ob, ow_n, c, sums + ch, o + ch, 0);
            } else if (kh_n == 3) {
                if (dq) dwb_channel(r, wc, 3, ob, ow_n, c, sums + ch, o + ch, 1, 1);
                else dwb_channel(r, wc, 3, ob, ow_n, c, sums + ch, o + ch, 1, 0);
            } else {
                if (dq) dwb_channel(r, wc, kh_n, ob, ow_n, c, sums + ch, o + ch, 0, 1);
                else dwb_channel(r, wc, kh_n, ob, ow_n, c, sums + ch, o + ch, 0, 0);
            }
        }
        if (!dq) mico_conv_store_pixels(p, sums, tab, t0, oh * ow_n, ow_n, fast, out);
    }
}

/* Int16 channel pairs (the rest): the ring rows are int16 and channel-major, the weights of a
 * channel stay in registers as (w0, w1) / (w2, 0) pairs, and two neighbouring output pixels are
 * computed together: per kernel row two SMLADs and two 16x16 MACs for six products. Both paths
 * leave a row's raw sums to the shared requantization pass (mico_conv_store_pixels). */
static mico_status dw3_run(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch) {
    const int32_t c = p->in_c, kh_n = p->k_h, R = dw3_round(p);
    const int32_t w2 = p->in_w + 2 * p->pad_w + 2; /* one channel's row, 2 slack values */
    mico_chq *tab = (mico_chq *)(void *)(((uintptr_t)scratch + 3u) & ~(uintptr_t)3u);
    int32_t *sums = (int32_t *)(void *)(tab + c), *t0 = sums + R * c;
    int16_t *rows = (int16_t *)(void *)(t0 + R);
    uint32_t *wt = (uint32_t *)(void *)(rows + kh_n * c * w2 + (kh_n * c * w2 & 1));
    const int32_t fast = mico_conv_store_prepare(p, 0, tab);
    memset(t0, 0, (size_t)R * 4u);
    /* the byte path: its int32 weights and offsets, then its byte ring, where the int16 ring would be */
    int32_t *wtb = (int32_t *)(void *)rows;
    const int32_t g = dw_group(p), taps = 3 * kh_n;
    if (g >= taps || (g >= 2 && dwp_pays(p))) {
        const int32_t G = g >= taps ? taps : g < 3 ? g : 3;
        if (G == taps) dwb_prepare(p, wtb, tab);
        else dwp_prepare(p, G, wtb, tab);
        const int32_t bs = G == taps ? taps + 5 : (taps + G - 1) / G + taps + 4;
        dwb_run(p, in, out, fast, sums, t0, tab, (uint8_t *)(void *)(wtb + bs * c), wtb, G);
        return MICO_OK;
    }
    const int32_t bs = 2 * kh_n + 4; /* per channel: (w0, w1) / (w2, 0) per kernel row, the table entry */
    const int dq = dw_direct(p, fast);
    int32_t slot_row[16];
    mico_ring16_reset(slot_row, kh_n);
    for (int32_t ch = 0; ch < c; ch++) {
        const uint8_t *row = p->weights + ch * p->w_row_bytes;
        uint32_t *wc = wt + ch * bs;
        for (int32_t kh = 0; kh < kh_n; kh++) {
            const uint32_t w0 = (uint16_t)mico_get_w(row, kh * 3, p->w_cont);
            const uint32_t w1 = (uint16_t)mico_get_w(row, kh * 3 + 1, p->w_cont);
            const uint32_t w2v = (uint16_t)mico_get_w(row, kh * 3 + 2, p->w_cont);
            wc[2 * kh] = w0 | (w1 << 16);
            wc[2 * kh + 1] = w2v;
        }
        memcpy(wc + 2 * kh_n, &tab[ch], sizeof(mico_chq));
    }
    for (int32_t oh = 0; oh < p->out_h; oh++) {
        const int16_t *rp[16];
        /* channel-major ring rows: channel ch's pixels at ch * w2 + pad_w */
        dw_ring16(p, in, rows, c * w2, slot_row, oh * p->stride_h - p->pad_h, rp, w2);
        uint8_t *o = (uint8_t *)out + oh * p->out_w * c;
        int32_t ow0 = 0;
#if DWB_ASM
        if (kh_n == 3 && p->out_w >= 2) { /* whole pairs of every channel: outputs, or raw sums */
            dwb_job job = {(const uint8_t *)rp[0], (const uint8_t *)rp[1], (const uint8_t *)rp[2], (const int32_t *)wt,
                           dq ? o : (uint8_t *)sums, dq ? c : 4 * c, p->out_w / 2, c, 2 * w2, 4 * bs, dq ? 1 : 4};
            if (dq) dwh_asm(&job);
            else dwh_asm_s(&job);
            ow0 = p->out_w & ~1;
        }
#endif
        for (int32_t ch = 0; ow0 < p->out_w && ch < c; ch++) {
            const uint32_t *wc = wt + ch * bs;
            const int32_t off = ch * w2;
            int32_t ow = ow0;
            int32_t *s = sums + ow * c + ch;
            for (; ow < p->out_w; ow += 2, s += 2 * c) {
                int32_t a0 = 0, a1 = 0;
                if (kh_n == 3) {
#pragma GCC unroll 3
                    for (int32_t kh = 0; kh < 3; kh++) {
                        const int16_t *x = rp[kh] + off + ow;
                        const uint32_t w01 = wc[2 * kh], w2v = wc[2 * kh + 1];
                        const uint32_t x01 = mico_load32(x), x12 = mico_load32(x + 1), x23 = mico_load32(x + 2);
                        a0 = mico_smlad(x01, w01, a0);
                        a1 = mico_smlad(x12, w01, a1);
                        a0 = mico_smlabb(x23, w2v, a0);
                        a1 = mico_smlatb(x23, w2v, a1);
                    }
                } else {
                    for (int32_t kh = 0; kh < kh_n; kh++) {
                        const int16_t *x = rp[kh] + off + ow;
                        const uint32_t w01 = wc[2 * kh], w2v = wc[2 * kh + 1];
                        const uint32_t x01 = mico_load32(x), x12 = mico_load32(x + 1), x23 = mico_load32(x + 2);
                        a0 = mico_smlad(x01, w01, a0);
                        a1 = mico_smlad(x12, w01, a1);
                        a0 = mico_smlabb(x23, w2v, a0);
                        a1 = mico_smlatb(x23, w2v, a1);
                    }
                }
                if (dq) {
                    const mico_chq e = *(const mico_chq *)dw_fresh(wc + 2 * kh_n);
                    o[ow * c + ch] = dw_rq8(a0, e);
                    if (ow + 1 < p->out_w) o[(ow + 1) * c + ch] = dw_rq8(a1, e);
                } else {
                    s[0] = a0;
                    s[c] = a1;
                }
            }
        }
        if (!dq) mico_conv_store_pixels(p, sums, tab, t0, oh * p->out_w, p->out_w, fast, out);
    }
    return MICO_OK;
}

#if defined(__aarch64__) && defined(__ARM_NEON) && !defined(MICO_NO_NEON)
#include <arm_neon.h>

/* AArch64 (NEON): channels in vector lanes. The pixel-major ring (channels padded to pairs) and the
 * int16 weights in (tap, channel) order as on the generic path; per output pixel 8 channels a step
 * take one SMLAL / SMLAL2 pair a tap (then 4 channels, then single ones), and the pixel's raw sums
 * take the shared requantization pass (mico_conv_store_pixels). */
/* Activations of at most 4 bits (int8 whether signed or not) with every tap sum inside int16
 * (k_h k_w max|w| max|x| <= 32767, container bounds): an int8 ring and int8 weights, 16 channels
 * per SMLAL / SMLAL2 pair of int8 lanes into int16 sums (twice dw_neon's 8 channels), widened to
 * int32 once per pixel. The ring, weights, table and sums sit where dw_neon's would (int8 needs half
 * of its int16 rows and weights). */
static mico_status dw_neon8(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch) {
    const int32_t c = p->in_c, cp = (c + 1) & ~1, wpad = p->in_w + 2 * p->pad_w, taps = p->k_h * p->k_w;
    int16_t *rows16 = (int16_t *)(((uintptr_t)scratch + 15u) & ~(uintptr_t)15u);
    int8_t *rows = (int8_t *)rows16, *wt = (int8_t *)(rows16 + p->k_h * wpad * cp);
    mico_chq *tab = (mico_chq *)(void *)(((uintptr_t)(rows16 + p->k_h * wpad * cp + taps * cp) + 15u) & ~(uintptr_t)15u);
    int32_t *sums = (int32_t *)(void *)(tab + c);
    int32_t slot_row[16];
    const int32_t t0[1] = {0};
    mico_ring16_reset(slot_row, p->k_h);
    for (int32_t t = 0; t < taps; t++)
        for (int32_t ch = 0; ch < c; ch++) wt[t * c + ch] = (int8_t)mico_get_w(p->weights + ch * p->w_row_bytes, t, p->w_cont);
    const int32_t fast = mico_conv_store_prepare(p, 0, tab);
    for (int32_t oh = 0; oh < p->out_h; oh++) {
        const int8_t *rp[16];
        mico_ring8(p, in, rows, wpad * c, slot_row, oh * p->stride_h - p->pad_h, rp, p->pad_w * c, 1, c);
        for (int32_t ow = 0; ow < p->out_w; ow++) {
            const int32_t off = ow * p->stride_w * c;
            int32_t ch = 0;
            for (; ch + 16 <= c; ch += 16) {
                int16x8_t a0 = vdupq_n_s16(0), a1 = a0;
                const int8_t *w = wt + ch;
                for (int32_t kh = 0; kh < p->k_h; kh++) {
                    const int8_t *r = rp[kh] + off + ch;
                    for (int32_t kw = 0; kw < p->k_w; kw++, r += c, w += c) {
                        const int8x16_t x = vld1q_s8(r), wv = vld1q_s8(w);
                        a0 = vmlal_s8(a0, vget_low_s8(x), vget_low_s8(wv));
                        a1 = vmlal_high_s8(a1, x, wv);
                    }
                }
                vst1q_s32(sums + ch, vmovl_s16(vget_low_s16(a0)));
                vst1q_s32(sums + ch + 4, vmovl_high_s16(a0));
                vst1q_s32(sums + ch + 8, vmovl_s16(vget_low_s16(a1)));
                vst1q_s32(sums + ch + 12, vmovl_high_s16(a1));
            }
            for (; ch + 8 <= c; ch += 8) {
                int16x8_t a0 = vdupq_n_s16(0);
                const int8_t *w = wt + ch;
                for (int32_t kh = 0; kh < p->k_h; kh++) {
                    const int8_t *r = rp[kh] + off + ch;
                    for (int32_t kw = 0; kw < p->k_w; kw++, r += c, w += c) a0 = vmlal_s8(a0, vld1_s8(r), vld1_s8(w));
                }
                vst1q_s32(sums + ch, vmovl_s16(vget_low_s16(a0)));
                vst1q_s32(sums + ch + 4, vmovl_high_s16(a0));
            }
            for (; ch < c; ch++) {
                int32_t a = 0;
                const int8_t *w = wt + ch;
                for (int32_t kh = 0; kh < p->k_h; kh++) {
                    const int8_t *r = rp[kh] + off + ch;
                    for (int32_t kw = 0; kw < p->k_w; kw++, r += c, w += c) a += (int32_t)*r * *w;
                }
                sums[ch] = a;
            }
            mico_conv_store_pixels(p, sums, tab, t0, oh * p->out_w + ow, 1, fast, out);
        }
    }
    return MICO_OK;
}

MICO_INLINE int dw_neon8_applies(const mico_conv_params *p) {
    const int32_t wmag = p->w_cont == 1 ? 1 : 1 << (p->w_cont - 1);
    const int32_t xmag = p->in_signed ? 1 << (p->in_cont - 1) : (1 << p->in_cont) - 1;
    return p->in_cont <= 4 && p->k_h * p->k_w * wmag * xmag <= 32767;
}

static mico_status dw_neon(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch) {
    const int32_t c = p->in_c, cp = (c + 1) & ~1, wpad = p->in_w + 2 * p->pad_w, taps = p->k_h * p->k_w;
    if (dw_neon8_applies(p)) return dw_neon8(p, in, out, scratch);
    int16_t *rows = (int16_t *)(((uintptr_t)scratch + 15u) & ~(uintptr_t)15u);
    int16_t *wt = rows + p->k_h * wpad * cp;
    mico_chq *tab = (mico_chq *)(void *)(((uintptr_t)(wt + taps * cp) + 15u) & ~(uintptr_t)15u);
    int32_t *sums = (int32_t *)(void *)(tab + c);
    int32_t slot_row[16];
    const int32_t t0[1] = {0};
    mico_ring16_reset(slot_row, p->k_h);
    for (int32_t t = 0; t < taps; t++) {
        for (int32_t ch = 0; ch < c; ch++) wt[t * cp + ch] = (int16_t)mico_get_w(p->weights + ch * p->w_row_bytes, t, p->w_cont);
        if (cp != c) wt[t * cp + c] = 0;
    }
    const int32_t fast = mico_conv_store_prepare(p, 0, tab);
    for (int32_t oh = 0; oh < p->out_h; oh++) {
        const int16_t *rp[16];
        mico_ring16(p, in, rows, wpad * cp, slot_row, oh * p->stride_h - p->pad_h, rp, p->pad_w * cp, 1, cp);
        for (int32_t ow = 0; ow < p->out_w; ow++) {
            const int32_t off = ow * p->stride_w * cp;
            int32_t ch = 0;
            for (; ch + 8 <= c; ch += 8) {
                int32x4_t a0 = vdupq_n_s32(0), a1 = a0;
                const int16_t *w = wt + ch;
                for (int32_t kh = 0; kh < p->k_h; kh++) {
                    const int16_t *r = rp[kh] + off + ch;
                    for (int32_t kw = 0; kw < p->k_w; kw++, r += cp, w += cp) {
                        const int16x8_t x = vld1q_s16(r), wv = vld1q_s16(w);
                        a0 = vmlal_s16(a0, vget_low_s16(x), vget_low_s16(wv));
                        a1 = vmlal_high_s16(a1, x, wv);
                    }
                }
                vst1q_s32(sums + ch, a0);
                vst1q_s32(sums + ch + 4, a1);
            }
            for (; ch + 4 <= c; ch += 4) {
                int32x4_t a0 = vdupq_n_s32(0);
                const int16_t *w = wt + ch;
                for (int32_t kh = 0; kh < p->k_h; kh++) {
                    const int16_t *r = rp[kh] + off + ch;
                    for (int32_t kw = 0; kw < p->k_w; kw++, r += cp, w += cp) a0 = vmlal_s16(a0, vld1_s16(r), vld1_s16(w));
                }
                vst1q_s32(sums + ch, a0);
            }
            for (; ch < c; ch++) {
                int32_t a = 0;
                const int16_t *w = wt + ch;
                for (int32_t kh = 0; kh < p->k_h; kh++) {
                    const int16_t *r = rp[kh] + off + ch;
                    for (int32_t kw = 0; kw < p->k_w; kw++, r += cp, w += cp) a += (int32_t)*r * *w;
                }
                sums[ch] = a;
            }
            mico_conv_store_pixels(p, sums, tab, t0, oh * p->out_w + ow, 1, fast, out);
        }
    }
    return MICO_OK;
}
#endif

mico_status mico_conv_dw(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                         int32_t scratch_bytes) {
    mico_status st = mico_conv_check(p);
    if (st != MICO_OK) return st;
    if (p->groups != p->in_c || p->out_c != p->in_c) return MICO_ERR_UNSUPPORTED;
    const int32_t c = p->in_c, cp = (c + 1) & ~1;  /* channels padded to pairs */
    const int32_t wpad = p->in_w + 2 * p->pad_w;
    if (!scratch || scratch_bytes < mico_conv_get_buffer_size(p)) return MICO_ERR_SCRATCH;
#if defined(__aarch64__) && defined(__ARM_NEON) && !defined(MICO_NO_NEON)
    if (p->k_h <= 16) return dw_neon(p, in, out, scratch);
#endif
    if (p->k_w == 3 && p->stride_w == 1 && p->k_h <= 16) return dw3_run(p, in, out, scratch);
    const int32_t taps = p->k_h * p->k_w;
    int16_t *rows = (int16_t *)(((uintptr_t)scratch + 3u) & ~(uintptr_t)3u);
    int16_t *wt = rows + p->k_h * wpad * cp;
    int32_t slot_row[16];
    if (p->k_h > 16) return MICO_ERR_UNSUPPORTED;
    mico_ring16_reset(slot_row, p->k_h);
    for (int32_t t = 0; t < taps; t++) {
        for (int32_t ch = 0; ch < c; ch++) wt[t * cp + ch] = (int16_t)mico_get_w(p->weights + ch * p->w_row_bytes, t, p->w_cont);
        if (cp != c) wt[t * cp + c] = 0;
    }
    for (int32_t oh = 0; oh < p->out_h; oh++) {
        /* pixel-major ring rows, channels padded to pairs (the pad channel stays 0) */
        const int16_t *rp[16];
        mico_ring16(p, in, rows, wpad * cp, slot_row, oh * p->stride_h - p->pad_h, rp, p->pad_w * cp, 1, cp);
        const int32_t kw_n = p->k_w;
        for (int32_t ow = 0; ow < p->out_w; ow++) {
            const int32_t pix = oh * p->out_w + ow;
            const int32_t off = ow * p->stride_w * cp;
            for (int32_t ch = 0; ch < c; ch += 2) {
                int32_t acc0 = p->bias[ch];
                int32_t acc1 = ch + 1 < c ? p->bias[ch + 1] : 0;
                const int16_t *w = wt + ch;
                if (kw_n == 3) {
                    for (int32_t kh = 0; kh < p->k_h; kh++, w += 3 * cp) {
                        const int16_t *r = rp[kh] + off + ch;
                        uint32_t xv = mico_load32(r), wv = mico_load32(w);
                        acc0 = dw_mac_lo(acc0, xv, wv);
                        acc1 = dw_mac_hi(acc1, xv, wv);
                        xv = mico_load32(r + cp);
                        wv = mico_load32(w + cp);
                        acc0 = dw_mac_lo(acc0, xv, wv);
                        acc1 = dw_mac_hi(acc1, xv, wv);
                        xv = mico_load32(r + 2 * cp);
                        wv = mico_load32(w + 2 * cp);
                        acc0 = dw_mac_lo(acc0, xv, wv);
                        acc1 = dw_mac_hi(acc1, xv, wv);
                    }
                } else for (int32_t kh = 0; kh < p->k_h; kh++) {
                    const int16_t *r = rp[kh] + off + ch;
                    for (int32_t kw = 0; kw < kw_n; kw++, r += cp, w += cp) {
                        const uint32_t xv = mico_load32(r), wv = mico_load32(w);
                        acc0 = dw_mac_lo(acc0, xv, wv);
                        acc1 = dw_mac_hi(acc1, xv, wv);
                    }
                }
                mico_store_out(p, out, pix, ch, acc0);
                if (ch + 1 < c) mico_store_out(p, out, pix, ch + 1, acc1);
            }
        }
    }
    return MICO_OK;
}
