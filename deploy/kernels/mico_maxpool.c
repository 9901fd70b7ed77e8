/* Max pooling (NHWC, implicit -inf padding); the output keeps the input's quantization. Cortex-M7
 * (USUB8 / SEL) and AArch64 (NEON UMAX) compare fields 4 bytes at a time (mp_word); elsewhere, and
 * for windows without a valid tap, element by element. */
#include "mico_nn_support.h"

#if MICO_HAVE_DSP
#define MP_WORDS 1
/* Byte-wise unsigned maximum of a and b (USUB8 sets the GE flags, SEL picks per byte). */
MICO_INLINE uint32_t mp_max8(uint32_t a, uint32_t b) {
    uint32_t r;
    __asm__("usub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
}
#elif defined(__aarch64__) && defined(__ARM_NEON) && !defined(MICO_NO_NEON)
#define MP_WORDS 1
#include <arm_neon.h>
/* Byte-wise unsigned maximum of a and b (NEON UMAX on the low 4 lanes). */
MICO_INLINE uint32_t mp_max8(uint32_t a, uint32_t b) {
    return vget_lane_u32(vreinterpret_u32_u8(vmax_u8(vcreate_u8(a), vcreate_u8(b))), 0);
}
#else
#define MP_WORDS 0
#endif

#if MP_WORDS

/* The bits at bit offset off of the input, shifted down to bit 0 (one 32-bit load, or byte loads
 * within 4 bytes of the input's end). */
MICO_INLINE uint32_t mp_bits(const uint8_t *in, const uint8_t *end, uint32_t off) {
    const uint8_t *b = in + (off >> 3);
    if (b + 4 <= end) return mico_load32(b) >> (off & 7u);
    uint32_t v = 0;
    for (int32_t i = (int32_t)(end - b) - 1; i >= 0; i--) v = (v << 8) | b[i];
    return v >> (off & 7u);
}

/* Maximum of the fields of a chunk of each valid tap's pixel over the window: the fields are
 * made unsigned (sign bit flipped), split into byte lanes (one lane set per field position) and
 * compared four bytes at a time. BITS = 0: the chunk is n (<= 4) bytes at byte `off` of pixels of
 * pb bytes; BITS = 1: the chunk is the bits selected by fm at bit `off` of pixels of pb bits. */
MICO_INLINE uint32_t mp_word(const mico_pool_params *p, const uint8_t *in, const uint8_t *end, int32_t oh, int32_t ow,
                             int32_t off, int32_t n, uint32_t flip, int32_t pb, uint32_t fm, const int BITS) {
    const int32_t cont = p->in_cont;
    const uint32_t m = cont == 8 ? 0xFFFFFFFFu : cont == 4 ? 0x0F0F0F0Fu : 0x03030303u;
    uint32_t b0 = 0, b1 = 0, b2 = 0, b3 = 0; /* every field is >= 0 once unsigned */
    for (int32_t kh = 0; kh < p->k_h; kh++) {
        const int32_t ih = oh * p->stride_h - p->pad_h + kh;
        if (ih < 0 || ih >= p->in_h) continue;
        for (int32_t kw = 0; kw < p->k_w; kw++) {
            const int32_t iw = ow * p->stride_w - p->pad_w + kw;
            if (iw < 0 || iw >= p->in_w) continue;
            uint32_t w;
            if (BITS) {
                w = mp_bits(in, end, (uint32_t)((ih * p->in_w + iw) * pb + off)) & fm;
            } else {
                const uint8_t *src = in + (ih * p->in_w + iw) * pb + off;
                if (n == 4) {
                    w = mico_load32(src);
                } else {
                    w = 0;
                    for (int32_t i = 0; i < n; i++) w |= (uint32_t)src[i] << (8 * i);
                }
            }
            w ^= flip;
            b0 = mp_max8(b0, w & m);
            if (cont <= 4) b1 = mp_max8(b1, (w >> cont) & m);
            if (cont == 2) {
                b2 = mp_max8(b2, (w >> 4) & m);
                b3 = mp_max8(b3, (w >> 6) & m);
            }
        }
    }
    const uint32_t r = cont == 8 ? b0 : cont == 4 ? b0 | (b1 << 4) : b0 | (b1 << 2) | (b2 << 4) | (b3 << 6);
    return r ^ flip;
}

/* Sub-byte pixels that do not fill whole bytes (c * cont % 8 != 0, e.g. 6 channels of 2 bits):
 * the same lane maxima on chunks of at most 24 bits read at any bit offset, written back
 * field-exact. */
MICO_INLINE void mp_put_bits(uint8_t *out, uint32_t off, uint32_t v, int32_t n) {
    uint8_t *b = out + (off >> 3);
    uint32_t sh = off & 7u;
    while (n > 0) {
        const int32_t take = (int32_t)(8u - sh) < n ? (int32_t)(8u - sh) : n;
        const uint32_t mask = ((1u << take) - 1u) << sh;
        *b = (uint8_t)((*b & ~mask) | ((v << sh) & mask));
        v >>= take;
        n -= take;
        sh = 0;
        b++;
    }
}

static void mp_subbyte(const mico_pool_params *p, const uint8_t *in, uint8_t *out, uint32_t flip) {
    const int32_t bits = p->c * p->in_cont;
    const uint8_t *end = in + (p->in_h * p->in_w * bits + 7) / 8;
    for (int32_t oh = 0; oh < p->out_h; oh++)
        for (int32_t ow = 0; ow < p->out_w; ow++) {
            const uint32_t obase = (uint32_t)((oh * p->out_w + ow) * bits);
            for (int32_t off = 0; off < bits; off += 24) {
                const int32_t nb = bits - off < 24 ? bits - off : 24;
                const uint32_t fm = (1u << nb) - 1u;
                const uint32_t r = mp_word(p, in, end, oh, ow, off, 0, flip & fm, bits, fm, 1);
                mp_put_bits(out, obase + (uint32_t)off, r & fm, nb);
            }
        }
}
#endif

mico_status mico_maxpool(const mico_pool_params *p, const uint8_t *in, uint8_t *out) {
    if (!p || !in || !out || p->k_h < 1 || p->k_w < 1) return MICO_ERR_ARG;
#if MP_WORDS
    /* whole bytes per pixel and no window without a valid tap: four bytes of fields at a time */
    const int32_t bits = p->c * p->in_cont;
    if ((p->in_cont == 8 || p->in_cont == 4 || p->in_cont == 2) && bits % 8 == 0 && p->pad_h < p->k_h &&
        p->pad_w < p->k_w && (p->out_h - 1) * p->stride_h - p->pad_h < p->in_h &&
        (p->out_w - 1) * p->stride_w - p->pad_w < p->in_w) {
        const int32_t pb = bits / 8;
        const uint32_t flip = !p->in_signed ? 0u : p->in_cont == 8 ? 0x80808080u : p->in_cont == 4 ? 0x88888888u
                                                                                                  : 0xAAAAAAAAu;
        for (int32_t oh = 0; oh < p->out_h; oh++)
            for (int32_t ow = 0; ow < p->out_w; ow++) {
                uint8_t *dst = out + (oh * p->out_w + ow) * pb;
                int32_t off = 0;
                for (; off + 4 <= pb; off += 4) mico_store32(dst + off, mp_word(p, in, in, oh, ow, off, 4, flip, pb, 0u, 0));
                if (off < pb) {
                    const uint32_t r = mp_word(p, in, in, oh, ow, off, pb - off, flip, pb, 0u, 0);
                    for (int32_t i = 0; off + i < pb; i++) dst[off + i] = (uint8_t)(r >> (8 * i));
                }
            }
        return MICO_OK;
    }
    if ((p->in_cont == 4 || p->in_cont == 2) && p->pad_h < p->k_h && p->pad_w < p->k_w &&
        (p->out_h - 1) * p->stride_h - p->pad_h < p->in_h && (p->out_w - 1) * p->stride_w - p->pad_w < p->in_w) {
        mp_subbyte(p, in, out, !p->in_signed ? 0u : p->in_cont == 4 ? 0x88888888u : 0xAAAAAAAAu);
        return MICO_OK;
    }
#endif
    for (int32_t oh = 0; oh < p->out_h; oh++)
        for (int32_t ow = 0; ow < p->out_w; ow++)
            for (int32_t c = 0; c < p->c; c++) {
                int32_t best = INT32_MIN;
                for (int32_t kh = 0; kh < p->k_h; kh++) {
                    const int32_t ih = oh * p->stride_h - p->pad_h + kh;
                    if (ih < 0 || ih >= p->in_h) continue;
                    for (int32_t kw = 0; kw < p->k_w; kw++) {
                        const int32_t iw = ow * p->stride_w - p->pad_w + kw;
                        if (iw < 0 || iw >= p->in_w) continue;
                        int32_t v = mico_get(in, (ih * p->in_w + iw) * p->c + c, p->in_cont, p->in_signed);
                        if (v > best) best = v;
                    }
                }
                mico_set(out, (oh * p->out_w + ow) * p->c + c, p->in_cont, best);
            }
    return MICO_OK;
}
