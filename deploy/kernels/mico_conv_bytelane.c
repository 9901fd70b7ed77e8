/* Sub-byte convolution (groups == 1, weight container 1/2/4): four low-bit products per 32-bit
 * multiply-accumulate.
 *
 * Activations become unsigned x' = x + o_x (o_x = 2^(b-1) for signed b-bit tensors) and weights
 * unsigned w' (sign bit flipped: w' = w + 2^(c-1); 1-bit: w = 2 w' - 1). One masked shift of a
 * weight word puts four weights in the four bytes of a register, (w_a, w_b, w_c, w_d); the im2col
 * buffer holds the matching activations in reversed byte order, (x_d, x_c, x_b, x_a). Their
 * 32-bit product has the dot product x_a w_a + x_b w_b + x_c w_c + x_d w_d in bits 24..31, and
 * the lower partial sums stay below 2^24, as long as fewer than 256 / (4 max(x') max(w')) steps
 * are accumulated; the byte is then added to the int32 accumulator (acc += part >> 24). The
 * offsets are undone once per output: sum x w = alpha sum x'w' - o_w sum x' - o_x sum w.
 * Scratch: 2 pixels x K (rounded up to 32) bytes.
 */
#include "mico_conv_check.h"
#include "mico_nn_support.h"

/* Largest number of accumulation steps before the top byte could overflow (0: not applicable). */
static int32_t bl_steps(const mico_conv_params *p) {
    if (p->w_cont == 8 || p->in_bits < 1 || p->in_bits > 8) return 0;
    const int32_t xmax = (1 << p->in_bits) - 1;
    const int32_t wmax = p->w_cont == 1 ? 1 : (1 << (p->w_cont - 1)) + (1 << (p->w_bits - 1)) - 1;
    return 255 / (4 * xmax * wmax);
}

int32_t mico_conv_bytelane_steps(const mico_conv_params *p);
int32_t mico_conv_bytelane_steps(const mico_conv_params *p) { return bl_steps(p); }

static inline int32_t bl_pos(int32_t k, int32_t wc) {
    const int32_t e = 32 / wc, l = 8 / wc;
    const int32_t kk = k % e;
    return k - kk + 4 * (kk % l) + 3 - kk / l;
}

static int32_t bl_im2col(const mico_conv_params *p, const uint8_t *in, int32_t oh, int32_t ow, uint8_t *col,
                         int32_t kp, int32_t ox) {
    const int32_t wc = p->w_cont, c = p->in_c;
    int32_t sum = 0, k = 0;
    for (int32_t kh = 0; kh < p->k_h; kh++) {
        const int32_t ih = oh * p->stride_h - p->pad_h + kh;
        for (int32_t kw = 0; kw < p->k_w; kw++, k += c) {
            const int32_t iw = ow * p->stride_w - p->pad_w + kw;
            if (ih < 0 || ih >= p->in_h || iw < 0 || iw >= p->in_w) {
                for (int32_t ci = 0; ci < c; ci++) col[bl_pos(k + ci, wc)] = (uint8_t)ox;
                sum += ox * c;
                continue;
            }
            const int32_t base = (ih * p->in_w + iw) * c;
            if (wc == 2 && p->in_cont == 2 && (c & 15) == 0) {
                /* whole words: 16 two-bit activations -> four byte-lane words with one masked
                 * shift and a byte reverse each; the offset is a per-byte constant (no carries) */
                const uint32_t flip = p->in_signed ? 0xAAAAAAAAu : 0u;
                const uint32_t sub = p->in_signed ? (uint32_t)(2 - ox) * 0x01010101u : 0u;
                const uint8_t *src = in + base / 4;
                uint32_t *dst = (uint32_t *)(void *)(col + k);
                for (int32_t ci = 0; ci < c; ci += 16, src += 4, dst += 4) {
                    const uint32_t u = mico_load32(src) ^ flip;
                    for (int32_t j = 0; j < 4; j++) {
                        const uint32_t v = __builtin_bswap32((u >> (2 * j)) & 0x03030303u) - sub;
                        dst[j] = v;
                        sum += (int32_t)((v * 0x01010101u) >> 24);
                    }
                }
                continue;
            }
            for (int32_t ci = 0; ci < c; ci++) {
                int32_t v = mico_get(in, base + ci, p->in_cont, p->in_signed) + ox;
                col[bl_pos(k + ci, wc)] = (uint8_t)v;
                sum += v;
            }
        }
    }
    for (; k < kp; k++) col[bl_pos(k, wc)] = 0;
    return sum;
}

#define BL_STEP(J)                                                  \
    do {                                                            \
        const uint32_t la = (wa >> (WC * (J))) & mask;              \
        const uint32_t lb = (wb >> (WC * (J))) & mask;              \
        const uint32_t p = x0[(J)], q = x1[(J)];                    \
        p00 += p * la;                                              \
        p01 += q * la;                                              \
        p10 += p * lb;                                              \
        p11 += q * lb;                                              \
    } while (0)

#define BL_FLUSH()        \
    do {                  \
        a00 += p00 >> 24; \
        a01 += p01 >> 24; \
        a10 += p10 >> 24; \
        a11 += p11 >> 24; \
        p00 = p01 = p10 = p11 = 0; \
    } while (0)

/* One 2x2 tile; WC = weight container, FS = steps between flushes within a word (FS < L), or
 * FS == L and TW words between flushes. */
MICO_INLINE void bl_tile(const uint8_t *ra, const uint8_t *rb, const uint32_t *x0, const uint32_t *x1, int32_t nw,
                         const int32_t WC, const int32_t FS, int32_t tw, int32_t acc[4]) {
    const int32_t L = 8 / WC;
    const uint32_t flip = WC == 4 ? 0x88888888u : WC == 2 ? 0xAAAAAAAAu : 0u;
    const uint32_t mask = ((1u << WC) - 1u) * 0x01010101u;
    uint32_t p00 = 0, p01 = 0, p10 = 0, p11 = 0;
    int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0;
    int32_t cnt = 0;
    for (int32_t t = 0; t < nw; t++, x0 += L, x1 += L) {
        const uint32_t wa = mico_load32(ra + 4 * t) ^ flip, wb = mico_load32(rb + 4 * t) ^ flip;
        for (int32_t j = 0; j < L; j++) {
            BL_STEP(j);
            if (FS < L && (j % FS) == FS - 1) BL_FLUSH();
        }
        if (FS == L && ++cnt == tw) {
            BL_FLUSH();
            cnt = 0;
        }
    }
    BL_FLUSH();
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

MICO_INLINE void bl_gemm(const mico_conv_params *p, const uint8_t *c0, const uint8_t *c1, int32_t s0, int32_t s1,
                         int32_t pix0, int32_t npix, int32_t nw, const int32_t WC, const int32_t FS, int32_t tw,
                         int32_t ox, void *out) {
    const int32_t alpha = WC == 1 ? 2 : 1;
    const int32_t ow_off = WC == 1 ? 1 : (1 << (WC - 1));
    const uint32_t *x0 = (const uint32_t *)(const void *)c0, *x1 = (const uint32_t *)(const void *)c1;
    for (int32_t oc = 0; oc < p->out_c; oc += 2) {
        const int two = oc + 1 < p->out_c;
        const uint8_t *ra = p->weights + oc * p->w_row_bytes;
        const uint8_t *rb = two ? ra + p->w_row_bytes : ra;
        int32_t acc[4];
        bl_tile(ra, rb, x0, x1, nw, WC, FS, tw, acc);
        const int32_t b0 = p->bias[oc] - ox * p->wsum[oc];
        mico_store_out(p, out, pix0, oc, b0 + alpha * acc[0] - ow_off * s0);
        if (npix > 1) mico_store_out(p, out, pix0 + 1, oc, b0 + alpha * acc[1] - ow_off * s1);
        if (two) {
            const int32_t b1 = p->bias[oc + 1] - ox * p->wsum[oc + 1];
            mico_store_out(p, out, pix0, oc + 1, b1 + alpha * acc[2] - ow_off * s0);
            if (npix > 1) mico_store_out(p, out, pix0 + 1, oc + 1, b1 + alpha * acc[3] - ow_off * s1);
        }
    }
}

mico_status mico_conv_bytelane(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                               int32_t scratch_bytes) {
    mico_status st = mico_conv_check(p);
    if (st != MICO_OK) return st;
    const int32_t steps = bl_steps(p);
    if (p->groups != 1 || steps < 1 || !p->wsum) return MICO_ERR_UNSUPPORTED;
    if (!scratch || scratch_bytes < mico_conv_get_buffer_size(p)) return MICO_ERR_SCRATCH;
    const int32_t wc = p->w_cont, l = 8 / wc;
    const int32_t k = p->k_h * p->k_w * p->in_c;
    const int32_t per_word = 32 / wc;
    const int32_t kp = (k + per_word - 1) / per_word * per_word;
    if (kp * wc / 8 > p->w_row_bytes) return MICO_ERR_ARG;
    const int32_t nw = kp / per_word;
    const int32_t ox = p->in_signed ? (1 << (p->in_bits - 1)) : 0;
    int32_t fs = 1;
    while (fs * 2 <= steps && fs * 2 <= l) fs *= 2;
    const int32_t tw = fs == l ? steps / l : 1;
    uint8_t *c0 = (uint8_t *)(((uintptr_t)scratch + 3u) & ~(uintptr_t)3u);
    uint8_t *c1 = c0 + kp;
    const int32_t npix = p->out_h * p->out_w;
    for (int32_t pix = 0; pix < npix; pix += 2) {
        const int32_t n = pix + 1 < npix ? 2 : 1;
        const int32_t s0 = bl_im2col(p, in, pix / p->out_w, pix % p->out_w, c0, kp, ox);
        int32_t s1 = 0;
        if (n == 2) s1 = bl_im2col(p, in, (pix + 1) / p->out_w, (pix + 1) % p->out_w, c1, kp, ox);
        const uint8_t *cc1 = n == 2 ? c1 : c0;
#define BL_CASE(WC_, FS_) \
    if (wc == (WC_) && fs == (FS_)) { bl_gemm(p, c0, cc1, s0, s1, pix, n, nw, WC_, FS_, tw, ox, out); continue; }
        BL_CASE(4, 1) BL_CASE(4, 2)
        BL_CASE(2, 1) BL_CASE(2, 2) BL_CASE(2, 4)
        BL_CASE(1, 1) BL_CASE(1, 2) BL_CASE(1, 4) BL_CASE(1, 8)
#undef BL_CASE
        return MICO_ERR_ARG;
    }
    return MICO_OK;
}
