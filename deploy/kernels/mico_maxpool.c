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

/* Fold a word of fields (made unsigned) into the running lane maxima b[0..3]: the fields are split
 * into byte lanes (one lane set per field position) and compared four bytes at a time. */
MICO_INLINE void mp_fold(uint32_t w, uint32_t *b, const int32_t cont) {
    const uint32_t m = cont == 8 ? 0xFFFFFFFFu : cont == 4 ? 0x0F0F0F0Fu : 0x03030303u;
    b[0] = mp_max8(b[0], w & m);
    if (cont <= 4) b[1] = mp_max8(b[1], (w >> cont) & m);
    if (cont == 2) {
        b[2] = mp_max8(b[2], (w >> 4) & m);
        b[3] = mp_max8(b[3], (w >> 6) & m);
    }
}

/* The lane maxima joined back into a word of fields. */
MICO_INLINE uint32_t mp_join(const uint32_t *b, const int32_t cont) {
    return cont == 8 ? b[0] : cont == 4 ? b[0] | (b[1] << 4) : b[0] | (b[1] << 2) | (b[2] << 4) | (b[3] << 6);
}

/* Maximum of the fields of a chunk of each valid tap's pixel over the window (mp_fold, sign bits
 * flipped on the way in and out). BITS = 0: the chunk is n (<= 4) bytes at byte `off` of pixels of
 * pb bytes; BITS = 1: the chunk is the bits selected by fm at bit `off` of pixels of pb bits. */
MICO_INLINE uint32_t mp_word(const mico_pool_params *p, const uint8_t *in, const uint8_t *end, int32_t oh, int32_t ow,
                             int32_t off, int32_t n, uint32_t flip, int32_t pb, uint32_t fm, const int BITS) {
    const int32_t cont = p->in_cont;
    uint32_t b[4] = {0, 0, 0, 0}; /* every field is >= 0 once unsigned */
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
            if (cont == 8) mp_fold(w ^ flip, b, 8);
            else if (cont == 4) mp_fold(w ^ flip, b, 4);
            else mp_fold(w ^ flip, b, 2);
        }
    }
    return (cont == 8 ? mp_join(b, 8) : cont == 4 ? mp_join(b, 4) : mp_join(b, 2)) ^ flip;
}

/* 2x2 windows of stride 2 inside the input (the usual pooling after a convolution), whole-byte
 * pixels of pb bytes: per chunk of 4 bytes, the four taps' words at fixed offsets, no bounds checks.
 * A pixel's last chunk may be shorter: it is still read and written as a word while that stays
 * inside the input and the output (the extra bytes written belong to the next output pixel, which
 * is written after it), else byte by byte. */
MICO_INLINE void mp_2x2(const mico_pool_params *p, const uint8_t *in, uint8_t *out, int32_t pb, uint32_t flip,
                        const int32_t CONT) {
    const int32_t row = p->in_w * pb;
    const uint8_t *in_end = in + p->in_h * row, *out_end = out + p->out_h * p->out_w * pb;
    for (int32_t oh = 0; oh < p->out_h; oh++) {
        const uint8_t *r0 = in + 2 * oh * row;
        for (int32_t ow = 0; ow < p->out_w; ow++, r0 += 2 * pb)
            for (int32_t off = 0; off < pb; off += 4) {
                const int32_t n = pb - off < 4 ? pb - off : 4;
                uint32_t b[4] = {0, 0, 0, 0};
                if (n == 4 || (r0 + row + pb + off + 4 <= in_end && out + 4 <= out_end)) {
                    mp_fold(mico_load32(r0 + off) ^ flip, b, CONT);
                    mp_fold(mico_load32(r0 + pb + off) ^ flip, b, CONT);
                    mp_fold(mico_load32(r0 + row + off) ^ flip, b, CONT);
                    mp_fold(mico_load32(r0 + row + pb + off) ^ flip, b, CONT);
                    mico_store32(out, mp_join(b, CONT) ^ flip);
                    out += n;
                    continue;
                }
                for (int32_t i = 0; i < n; i++, out++) {
                    const uint32_t f = flip & 0xFFu;
                    b[0] = b[1] = b[2] = b[3] = 0;
                    mp_fold(r0[off + i] ^ f, b, CONT);
                    mp_fold(r0[pb + off + i] ^ f, b, CONT);
                    mp_fold(r0[row + off + i] ^ f, b, CONT);
                    mp_fold(r0[row + pb + off + i] ^ f, b, CONT);
                    *out = (uint8_t)(mp_join(b, CONT) ^ f);
                }
            }
    }
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

/* 2x2 windows of stride 2 inside the input over such pixels: the four taps' chunks at fixed bit
 * offsets, and the output, whose pixels follow each other bit after bit, written a byte at a time
 * from a running bit buffer (its last byte's spare bits are the tensor's own padding). */
MICO_INLINE void mp_2x2_bits(const mico_pool_params *p, const uint8_t *in, const uint8_t *end, uint8_t *out,
                             uint32_t flip, int32_t bits, const int32_t CONT) {
    const uint32_t row = (uint32_t)(p->in_w * bits);
    uint32_t acc = 0;
    int32_t na = 0; /* bits in acc */
    for (int32_t oh = 0; oh < p->out_h; oh++)
        for (int32_t ow = 0; ow < p->out_w; ow++) {
            const uint32_t t0 = 2u * (uint32_t)oh * row + 2u * (uint32_t)(ow * bits);
            for (int32_t off = 0; off < bits; off += 24) {
                const int32_t nb = bits - off < 24 ? bits - off : 24;
                const uint32_t fm = (1u << nb) - 1u, f = flip & fm, o = t0 + (uint32_t)off;
                uint32_t b[4] = {0, 0, 0, 0};
                mp_fold((mp_bits(in, end, o) & fm) ^ f, b, CONT);
                mp_fold((mp_bits(in, end, o + (uint32_t)bits) & fm) ^ f, b, CONT);
                mp_fold((mp_bits(in, end, o + row) & fm) ^ f, b, CONT);
                mp_fold((mp_bits(in, end, o + row + (uint32_t)bits) & fm) ^ f, b, CONT);
                acc |= ((mp_join(b, CONT) ^ f) & fm) << na; /* na < 8, nb <= 24 */
                for (na += nb; na >= 8; na -= 8, acc >>= 8) *out++ = (uint8_t)acc;
            }
        }
    if (na > 0) *out = (uint8_t)acc;
}

static void mp_subbyte(const mico_pool_params *p, const uint8_t *in, uint8_t *out, uint32_t flip) {
    const int32_t bits = p->c * p->in_cont;
    const uint8_t *end = in + (p->in_h * p->in_w * bits + 7) / 8;
    if (p->k_h == 2 && p->k_w == 2 && p->stride_h == 2 && p->stride_w == 2 && p->pad_h == 0 && p->pad_w == 0 &&
        2 * p->out_h <= p->in_h && 2 * p->out_w <= p->in_w) {
        if (p->in_cont == 4) mp_2x2_bits(p, in, end, out, flip, bits, 4);
        else mp_2x2_bits(p, in, end, out, flip, bits, 2);
        return;
    }
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
        if (p->k_h == 2 && p->k_w == 2 && p->stride_h == 2 && p->stride_w == 2 && p->pad_h == 0 && p->pad_w == 0 &&
            2 * p->out_h <= p->in_h && 2 * p->out_w <= p->in_w) {
            if (p->in_cont == 8) mp_2x2(p, in, out, pb, flip, 8);
            else if (p->in_cont == 4) mp_2x2(p, in, out, pb, flip, 4);
            else mp_2x2(p, in, out, pb, flip, 2);
            return MICO_OK;
        }
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

/* Fused pooling's pass (mico_conv.c, mico_conv_pooled): windows of pool_h x pool_w at their own
 * stride over a map of one byte per element (int8 when out_signed; values already clamped to the
 * output's range), the maxima packed at out_cont into a running bit buffer (pooled pixels follow
 * each other field after field). 2x2 windows on targets with byte-wise maxima (MP_WORDS): four
 * channels a word, their bytes packed to fields by shifts; elsewhere element by element. */
MICO_INLINE void pb_put24(uint32_t v, int32_t n, uint32_t *acc, int32_t *na, uint8_t **o) {
    *acc |= v << *na; /* *na < 8, n <= 24 */
    for (*na += n; *na >= 8; *na -= 8, *acc >>= 8) *(*o)++ = (uint8_t)*acc;
}

/* Append the n-bit value v (n <= 32) to the output's running bit buffer */
MICO_INLINE void pb_put(uint32_t v, int32_t n, uint32_t *acc, int32_t *na, uint8_t **o) {
    if (*na == 0 && n == 32) { /* whole words while the output stays byte-aligned */
        mico_store32(*o, v);
        *o += 4;
        return;
    }
    if (n > 24) {
        pb_put24(v & 0xFFFFu, 16, acc, na, o);
        v >>= 16;
        n -= 16;
    }
    pb_put24(v, n, acc, na, o);
}

/* Bytes b0..b3 of w (fields of CB bits each, already in range) -> one 4 CB-bit value */
MICO_INLINE uint32_t pb_pack4(uint32_t w, const int32_t CB) {
    if (CB == 8) return w;
    if (CB == 2) /* byte i times 2^(18 - 6 i) lands at bit 18 + 2 i; the other products stay below bit 18
                  * (at most 3 2^16 + 3 2^14 + 3 2^12 + ... < 2^18) or above bit 25 */
        return ((w * 0x41041u) >> 18) & 0xFFu;
    const uint32_t m = (1u << CB) - 1u;
    return (w & m) | ((w >> (8 - CB)) & (m << CB)) | ((w >> (16 - 2 * CB)) & (m << (2 * CB))) |
           ((w >> (24 - 3 * CB)) & (m << (3 * CB)));
}

MICO_INLINE void pb_run(const mico_conv_params *p, const uint8_t *in8, uint8_t *o, const int32_t CB, const int SG) {
    const int32_t oc = p->out_c, ph = p->out_h / p->pool_h, pw = p->out_w / p->pool_w;
    uint32_t acc = 0;
    int32_t na = 0;
#if MP_WORDS
    if (p->pool_h == 2 && p->pool_w == 2) {
        /* the last chunk of a pixel reads up to 3 bytes past its channels (the map's 4 bytes of slack at
         * its end) and keeps its n bytes */
        const int32_t row = p->out_w * oc;
        const uint32_t flip = SG ? 0x80808080u : 0u;
        for (int32_t y = 0; y < ph; y++) {
            const uint8_t *r = in8 + 2 * y * row;
            for (int32_t x = 0; x < pw; x++, r += 2 * oc) {
#define PB_MAX4(C)                                                                                             \
    (mp_max8(mp_max8(mico_load32(r + (C)) ^ flip, mico_load32(r + oc + (C)) ^ flip),                           \
             mp_max8(mico_load32(r + row + (C)) ^ flip, mico_load32(r + row + oc + (C)) ^ flip)) ^                \
     flip)
                int32_t c = 0;
                for (; c + 4 <= oc; c += 4) {
                    const uint32_t v = pb_pack4(PB_MAX4(c), CB);
                    if (CB == 8) pb_put(v, 32, &acc, &na, &o);
                    else pb_put24(v, 4 * CB, &acc, &na, &o);
                }
                if (c < oc) { /* the last 1-3 channels */
                    const int32_t nb = (oc - c) * CB;
                    pb_put24(pb_pack4(PB_MAX4(c), CB) & ((1u << nb) - 1u), nb, &acc, &na, &o);
                }
#undef PB_MAX4
            }
        }
        if (na > 0) *o = (uint8_t)acc;
        return;
    }
#endif
    for (int32_t y = 0; y < ph; y++)
        for (int32_t x = 0; x < pw; x++)
            for (int32_t c = 0; c < oc; c++) {
                int32_t best = INT32_MIN;
                for (int32_t i = 0; i < p->pool_h; i++)
                    for (int32_t j = 0; j < p->pool_w; j++) {
                        const uint8_t b = in8[((y * p->pool_h + i) * p->out_w + x * p->pool_w + j) * oc + c];
                        const int32_t v = SG ? (int32_t)(int8_t)b : (int32_t)b;
                        best = v > best ? v : best;
                    }
                pb_put((uint32_t)best & ((1u << CB) - 1u), CB, &acc, &na, &o);
            }
    if (na > 0) *o = (uint8_t)acc;
}

void mico_pool_bytes(const mico_conv_params *p, const uint8_t *in8, uint8_t *out) {
    const int sg = p->out_signed != 0;
    if (p->out_cont == 8) sg ? pb_run(p, in8, out, 8, 1) : pb_run(p, in8, out, 8, 0);
    else if (p->out_cont == 4) sg ? pb_run(p, in8, out, 4, 1) : pb_run(p, in8, out, 4, 0);
    else sg ? pb_run(p, in8, out, 2, 1) : pb_run(p, in8, out, 2, 0);
}
