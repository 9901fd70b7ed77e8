/* Packed-multiply convolution (groups == 1) for 1/2-bit weights x 2-bit-container activations:
 * four products per 32-bit MUL / MLA, straight from the packed weight rows.
 *
 * Activations become unsigned x' = x + o_x (o_x = 2 for signed tensors: the container's sign bit
 * is flipped), weights unsigned w' (2-bit: sign bit flipped, w = w' - 2; 1-bit: w = 2 w' - 1).
 * One shift + AND of a weight word puts four weights in the four bytes of a register
 * (w_a, w_b, w_c, w_d) = elements (j, j + L, j + 2L, j + 3L) of its group, L = 8 / c; the im2col
 * buffer holds the matching activations in reversed byte order. The 32-bit product then has the
 * four-term dot product in bits 24..31 and the lower partial sums stay below 2^24 while
 * 4 * steps * max(x') * max(w') < 256 (at most 4 * 8 * 3 * 1 = 96 or 4 * 4 * 3 * 3 = 144 per
 * weight word here); after every weight word the top byte is added to the int32 accumulator.
 * A 2x2 tile (2 channels x 2 pixels) costs per weight word 2 loads + 2 XOR, per step 2 shift/AND
 * pairs, one LDRD and 4 MLA (16 MACs), and 4 ADD (LSR #24) per word.
 * Offsets are undone once per output: sum x w = alpha sum x'w' - o_w sum x' - o_x sum w.
 * The 2-bit input word path (in_c a multiple of 16, 2-bit weights) builds four column words per
 * input word with one shift / AND / REV each. Scratch: 2 pixels x K (rounded up) bytes.
 */
#include "mico_conv_check.h"
#include "mico_nn_support.h"

int32_t mico_conv_packed_ok(const mico_conv_params *p);
int32_t mico_conv_packed_ok(const mico_conv_params *p) {
    return p && p->groups == 1 && (p->w_cont == 1 || p->w_cont == 2) && p->in_cont == 2 && p->wsum != 0;
}

MICO_INLINE uint32_t pk_rev(uint32_t v) { return __builtin_bswap32(v); /* REV */ }

/* byte offset of element k (of the K-long column) of pixel slot s */
MICO_INLINE int32_t pk_pos(int32_t k, int32_t s, const int32_t WC) {
    const int32_t E = 32 / WC, L = 8 / WC;
    const int32_t t = k / E, e = k % E, j = e % L, b = 3 - e / L;
    return ((t * L + j) * 2 + s) * 4 + b;
}

MICO_INLINE int32_t pk_im2col(const mico_conv_params *p, const uint8_t *in, int32_t pix, int32_t s, uint8_t *col,
                              int32_t kp, int32_t ox, const int32_t WC) {
    const int32_t c = p->in_c, sg = p->in_signed;
    const int32_t oh = pix / p->out_w, ow = pix % p->out_w;
    const int words = WC == 2 && (c & 15) == 0;
    const uint32_t flip = sg ? 0xAAAAAAAAu : 0u;
    int32_t sum = 0, k = 0;
    for (int32_t kh = 0; kh < p->k_h; kh++) {
        const int32_t ih = oh * p->stride_h - p->pad_h + kh;
        for (int32_t kw = 0; kw < p->k_w; kw++, k += c) {
            const int32_t iw = ow * p->stride_w - p->pad_w + kw;
            const int outside = ih < 0 || ih >= p->in_h || iw < 0 || iw >= p->in_w;
            if (words) {
                uint32_t *dst = (uint32_t *)(void *)col + (k / 16) * 8 + s;
                if (outside) {
                    const uint32_t f = (uint32_t)ox * 0x01010101u;
                    for (int32_t ci = 0; ci < c; ci += 16, dst += 8) dst[0] = dst[2] = dst[4] = dst[6] = f;
                    sum += ox * c;
                    continue;
                }
                const uint8_t *src = in + (ih * p->in_w + iw) * c / 4;
                for (int32_t ci = 0; ci < c; ci += 16, src += 4, dst += 8) {
                    const uint32_t u = mico_load32(src) ^ flip;
                    const uint32_t v0 = u & 0x03030303u, v1 = (u >> 2) & 0x03030303u;
                    const uint32_t v2 = (u >> 4) & 0x03030303u, v3 = (u >> 6) & 0x03030303u;
                    dst[0] = pk_rev(v0);
                    dst[2] = pk_rev(v1);
                    dst[4] = pk_rev(v2);
                    dst[6] = pk_rev(v3);
                    sum += (int32_t)(((v0 + v1 + v2 + v3) * 0x01010101u) >> 24);
                }
                continue;
            }
            if (WC == 1 && (c & 15) == 0) {
                /* 1-bit weights: 16 activations fill one half (bytes 3,2 or 1,0) of eight column
                 * words; element j / 8 + j of the input word pair up in bytes 0 / 2 after one
                 * shift + AND and are moved to their reversed byte places */
                const uint8_t *src = in + (ih * p->in_w + iw) * c / 4;
                for (int32_t ci = 0; ci < c; ci += 16, src += 4) {
                    const int32_t kk = k + ci;
                    uint32_t *dst = (uint32_t *)(void *)col + (kk >> 5) * 16 + s;
                    if (outside) {
                        const uint32_t a = (uint32_t)ox * 0x00010001u;
                        const uint32_t hi = (a << 24) | (a & 0x00FF0000u), lo = ((a & 0xFFu) << 8) | (a >> 16);
                        if ((kk >> 4) & 1)
                            for (int32_t j = 0; j < 16; j += 2) dst[j] |= lo;
                        else
                            for (int32_t j = 0; j < 16; j += 2) dst[j] = hi;
                        sum += 16 * ox;
                        continue;
                    }
                    const uint32_t u = mico_load32(src) ^ flip;
                    const uint32_t u8 = u >> 8;
                    /* a_j = (u >> (2 (j & 3) + 8 (j >> 2))) & 0x00030003 */
#define PK_A(J) ((((J) < 4 ? u : u8) >> (2 * ((J) & 3))) & 0x00030003u)
                    if ((kk >> 4) & 1) {
#define PK_LO(J) dst[2 * (J)] |= ((PK_A(J) & 0xFFu) << 8) | (PK_A(J) >> 16);
                        PK_LO(0) PK_LO(1) PK_LO(2) PK_LO(3) PK_LO(4) PK_LO(5) PK_LO(6) PK_LO(7)
#undef PK_LO
                    } else {
#define PK_HI(J) dst[2 * (J)] = (PK_A(J) << 24) | (PK_A(J) & 0x00FF0000u);
                        PK_HI(0) PK_HI(1) PK_HI(2) PK_HI(3) PK_HI(4) PK_HI(5) PK_HI(6) PK_HI(7)
#undef PK_HI
                    }
#undef PK_A
                    const uint32_t t = (u & 0x33333333u) + ((u >> 2) & 0x33333333u); /* 2-bit pair sums */
                    const uint32_t t2 = (t & 0x0F0F0F0Fu) + ((t >> 4) & 0x0F0F0F0Fu);
                    sum += (int32_t)((t2 * 0x01010101u) >> 24);
                }
                continue;
            }
            if (outside) {
                for (int32_t ci = 0; ci < c; ci++) col[pk_pos(k + ci, s, WC)] = (uint8_t)ox;
                sum += ox * c;
                continue;
            }
            const int32_t base = (ih * p->in_w + iw) * c;
            for (int32_t ci = 0; ci < c; ci++) {
                const int32_t v = mico_get(in, base + ci, 2, sg) + ox;
                col[pk_pos(k + ci, s, WC)] = (uint8_t)v;
                sum += v;
            }
        }
    }
    for (; k < kp; k++) col[pk_pos(k, s, WC)] = 0;
    return sum;
}

#define PK_STEP(J)                                                   \
    do {                                                             \
        const uint32_t la = ((J) ? (wa >> (WC * (J))) : wa) & mask;  \
        const uint32_t lb = ((J) ? (wb >> (WC * (J))) : wb) & mask;  \
        const uint32_t xp = x[2 * (J)], xq = x[2 * (J) + 1];         \
        if ((J) == 0) {                                              \
            p00 = xp * la;                                           \
            p10 = xp * lb;                                           \
            if (P2) {                                                \
                p01 = xq * la;                                       \
                p11 = xq * lb;                                       \
            }                                                        \
        } else {                                                     \
            p00 += xp * la;                                          \
            p10 += xp * lb;                                          \
            if (P2) {                                                \
                p01 += xq * la;                                      \
                p11 += xq * lb;                                      \
            }                                                        \
        }                                                            \
    } while (0)

/* 2 channels x (1 or 2) pixels: raw sums of x'w' over nw weight words. */
MICO_INLINE void pk_tile(const uint8_t *ra, const uint8_t *rb, const uint32_t *x, int32_t nw, const int32_t WC,
                         const int P2, int32_t acc[4]) {
    const uint32_t flip = WC == 2 ? 0xAAAAAAAAu : 0u;
    const uint32_t mask = WC == 2 ? 0x03030303u : 0x01010101u;
    const uint32_t *wpa = (const uint32_t *)(const void *)ra, *wpb = (const uint32_t *)(const void *)rb;
    uint32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
    for (int32_t t = 0; t < nw; t++) {
        const uint32_t wa = *wpa++ ^ flip, wb = *wpb++ ^ flip;
        uint32_t p00, p01 = 0, p10, p11 = 0;
        PK_STEP(0);
        PK_STEP(1);
        PK_STEP(2);
        PK_STEP(3);
        if (WC == 1) {
            PK_STEP(4);
            PK_STEP(5);
            PK_STEP(6);
            PK_STEP(7);
        }
        x += 16 / WC;
        a00 += p00 >> 24;
        a10 += p10 >> 24;
        if (P2) {
            a01 += p01 >> 24;
            a11 += p11 >> 24;
        }
    }
    acc[0] = (int32_t)a00;
    acc[1] = (int32_t)a01;
    acc[2] = (int32_t)a10;
    acc[3] = (int32_t)a11;
}

MICO_INLINE void pk_gemm(const mico_conv_params *p, const uint32_t *x, int32_t s0, int32_t s1, int32_t pix0,
                         int32_t npix, int32_t nw, int32_t ox, const int32_t WC, void *out) {
    const int32_t alpha = WC == 1 ? 2 : 1, ow_off = WC == 1 ? 1 : 2;
    const int32_t rs = p->w_row_bytes;
    for (int32_t oc = 0; oc < p->out_c; oc += 2) {
        const int two = oc + 1 < p->out_c;
        const uint8_t *ra = p->weights + oc * rs;
        int32_t acc[4];
        if (npix > 1) pk_tile(ra, two ? ra + rs : ra, x, nw, WC, 1, acc);
        else pk_tile(ra, two ? ra + rs : ra, x, nw, WC, 0, acc);
        const int32_t b0 = p->bias[oc] - ox * p->wsum[oc];
        const mico_rq q0 = mico_rq_init(p, oc);
        mico_rq_store(p, out, pix0, oc, b0 + alpha * acc[0] - ow_off * s0, &q0);
        if (npix > 1) mico_rq_store(p, out, pix0 + 1, oc, b0 + alpha * acc[1] - ow_off * s1, &q0);
        if (two) {
            const int32_t b1 = p->bias[oc + 1] - ox * p->wsum[oc + 1];
            const mico_rq q1 = mico_rq_init(p, oc + 1);
            mico_rq_store(p, out, pix0, oc + 1, b1 + alpha * acc[2] - ow_off * s0, &q1);
            if (npix > 1) mico_rq_store(p, out, pix0 + 1, oc + 1, b1 + alpha * acc[3] - ow_off * s1, &q1);
        }
    }
}

MICO_INLINE void pk_run(const mico_conv_params *p, const uint8_t *in, void *out, uint8_t *col, int32_t kp,
                        int32_t nw, int32_t ox, const int32_t WC) {
    const uint32_t *x = (const uint32_t *)(const void *)col;
    const int32_t npix = p->out_h * p->out_w;
    for (int32_t pix = 0; pix < npix; pix += 2) {
        const int32_t n = pix + 1 < npix ? 2 : 1;
        const int32_t s0 = pk_im2col(p, in, pix, 0, col, kp, ox, WC);
        const int32_t s1 = n == 2 ? pk_im2col(p, in, pix + 1, 1, col, kp, ox, WC) : 0;
        pk_gemm(p, x, s0, s1, pix, n, nw, ox, WC, out);
    }
}

mico_status mico_conv_packed(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                             int32_t scratch_bytes) {
    mico_status st = mico_conv_check(p);
    if (st != MICO_OK) return st;
    if (!mico_conv_packed_ok(p)) return MICO_ERR_UNSUPPORTED;
    if (!scratch || scratch_bytes < mico_conv_get_buffer_size(p)) return MICO_ERR_SCRATCH;
    const int32_t wc = p->w_cont, per_word = 32 / wc;
    const int32_t k = p->k_h * p->k_w * p->in_c;
    const int32_t kp = (k + per_word - 1) / per_word * per_word;
    if (kp * wc / 8 > p->w_row_bytes || ((uintptr_t)p->weights & 3u) || (p->w_row_bytes & 3)) return MICO_ERR_ARG;
    const int32_t ox = p->in_signed ? 2 : 0;
    uint8_t *col = (uint8_t *)(((uintptr_t)scratch + 3u) & ~(uintptr_t)3u);
    if (wc == 2) pk_run(p, in, out, col, kp, kp / per_word, ox, 2);
    else pk_run(p, in, out, col, kp, kp / per_word, ox, 1);
    return MICO_OK;
}
