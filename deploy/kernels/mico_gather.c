/* Internal: the receptive field of one output pixel as one contiguous packed stream (im2col of a
 * pixel, before a kernel's own layout step).
 *
 * A kernel row (kh) of the field is k_w * c consecutive input elements in NHWC, so the field is
 * k_h runs of bits copied 32 at a time with a funnel shift (any container, any channel count,
 * any alignment), plus runs of zero fields where the window leaves the image (value 0 is the
 * field 0 for signed and unsigned containers alike). The stream is little-endian within a byte,
 * element order (kh, kw, c) as in the weight rows; after the K real elements it holds `tail`
 * fields up to n_out elements. dst must be 4-byte aligned and hold ceil(n_out * cont / 32)
 * words plus 4 bytes. Reads only bytes of `in` that hold elements of the field.
 */
#include "mico_nn_support.h"

typedef struct {
    uint32_t *w;   /* next output word */
    uint32_t acc;  /* pending bits (the low `fill` bits are valid) */
    int32_t fill;  /* 0..31 */
} mg_writer;

/* Append the n low bits of v (v < 2^n, 1 <= n <= 32). */
MICO_INLINE void mg_put(mg_writer *s, uint32_t v, int32_t n) {
    if (s->fill == 0) {
        if (n == 32) {
            *s->w++ = v;
            return;
        }
        s->acc = v;
        s->fill = n;
        return;
    }
    s->acc |= v << s->fill;
    const int32_t f = s->fill + n;
    if (f >= 32) {
        *s->w++ = s->acc;
        s->acc = v >> (32 - s->fill);
        s->fill = f - 32;
    } else {
        s->fill = f;
    }
}

/* Append n bits of a pattern whose period divides 32 (a repeated field value). */
MICO_INLINE void mg_fill(mg_writer *s, uint32_t pat, int32_t n) {
    for (; n >= 32; n -= 32) mg_put(s, pat, 32);
    if (n > 0) mg_put(s, pat & (0xFFFFFFFFu >> (32 - n)), n);
}

/* Append n bits of `src` starting at bit `off` (bit 0 = bit 0 of src[0]); `end` is the end of
 * the input tensor (a 32-bit load never reaches past it). */
static void mg_copy(mg_writer *s, const uint8_t *src, uint32_t off, int32_t n, const uint8_t *end) {
    const uint8_t *b = src + (off >> 3);
    const uint32_t sh = off & 7u;
    for (; n >= 32; n -= 32, b += 4) {
        uint32_t v = mico_load32(b) >> sh;
        if (sh) v |= (uint32_t)b[4] << (32 - sh);
        mg_put(s, v, 32);
    }
    if (n > 0) {
        uint32_t v;
        if (b + 4 <= end) {
            v = mico_load32(b) >> sh;
            if (sh + (uint32_t)n > 32u) v |= (uint32_t)b[4] << (32 - sh);
        } else { /* the last bytes of the tensor: only those that hold the n bits (at most 4) */
            const int32_t need = (int32_t)(sh + (uint32_t)n + 7u) >> 3;
            v = 0;
            for (int32_t i = need - 1; i >= 0; i--) v = (v << 8) | b[i];
            v >>= sh;
        }
        mg_put(s, v & (0xFFFFFFFFu >> (32 - n)), n);
    }
}

/* 8-bit containers: whole bytes, copied a word at a time (unaligned loads and stores). */
MICO_INLINE uint8_t *mg_bytes(uint8_t *d, const uint8_t *src, int32_t n) {
    for (; n >= 4; n -= 4, d += 4, src += 4) mico_store32(d, mico_load32(src));
    for (; n > 0; n--) *d++ = *src++;
    return d;
}

/* n bytes of a repeated byte pattern, in whole words: may write up to 3 bytes past d + n, which
 * the rest of the stream overwrites or which lie in the stream's slack (mico_conv_get_buffer_size). */
MICO_INLINE uint8_t *mg_set(uint8_t *d, uint32_t pat, int32_t n) {
    __asm__("" : "+r"(pat)); /* a short loop, not a call to memset */
    for (int32_t i = 0; i < n; i += 4) mico_store32(d + i, pat);
    return d + n;
}

void mico_gather_field(const mico_conv_params *p, const uint8_t *in, int32_t pix, uint32_t *dst, int32_t n_out,
                       uint32_t tail) {
    const int32_t ca = p->in_cont, c = p->in_c, kw_n = p->k_w, kh_n = p->k_h;
    const int32_t oh = pix / p->out_w, ow = pix - oh * p->out_w;
    const int32_t ih0 = oh * p->stride_h - p->pad_h, iw0 = ow * p->stride_w - p->pad_w;
    const int32_t R = kw_n * c, k = kh_n * R, rs = p->in_w * c; /* elements per kernel row / input row */
    const int interior = ih0 >= 0 && ih0 + kh_n <= p->in_h && iw0 >= 0 && iw0 + kw_n <= p->in_w;
    /* the kernel columns [lo, hi) lie inside the image (used off the interior) */
    const int32_t lo = iw0 < 0 ? (-iw0 < kw_n ? -iw0 : kw_n) : 0;
    int32_t hi = p->in_w - iw0 < kw_n ? p->in_w - iw0 : kw_n;
    if (hi < lo) hi = lo;
    if (ca == 8) {
        uint8_t *d = (uint8_t *)dst;
        const uint8_t *src = in + ih0 * rs + iw0 * c;
        if (interior) {
            for (int32_t kh = 0; kh < kh_n; kh++, src += rs) d = mg_bytes(d, src, R);
        } else {
            for (int32_t kh = 0; kh < kh_n; kh++, src += rs) {
                const int32_t ih = ih0 + kh;
                if (ih < 0 || ih >= p->in_h || hi == lo) {
                    d = mg_set(d, 0u, R);
                    continue;
                }
                if (lo) d = mg_set(d, 0u, lo * c);
                d = mg_bytes(d, src + lo * c, (hi - lo) * c);
                if (hi < kw_n) d = mg_set(d, 0u, (kw_n - hi) * c);
            }
        }
        if (n_out > k) mg_set(d, tail * 0x01010101u, n_out - k);
        return;
    }
    const uint8_t *end = in + (p->in_h * rs * ca + 7) / 8;
    const int32_t cb = c * ca, rb = R * ca;          /* bits per input pixel / per kernel row */
    const uint32_t rsb = (uint32_t)(rs * ca);        /* bits per input row */
    uint32_t off = (uint32_t)((ih0 * rs + iw0 * c) * ca);
    mg_writer s = {dst, 0u, 0};
    if (interior && rb <= 25) {
        /* short rows (small channel counts): one 32-bit read per row (it starts at most 7 bits
         * into its first byte), except within 4 bytes of the tensor's end */
        const uint32_t rmask = 0xFFFFFFFFu >> (32 - rb);
        for (int32_t kh = 0; kh < kh_n; kh++, off += rsb) {
            const uint8_t *b = in + (off >> 3);
            if (b + 4 > end) {
                mg_copy(&s, in, off, rb, end);
                continue;
            }
            mg_put(&s, (mico_load32(b) >> (off & 7u)) & rmask, rb);
        }
    } else if (interior) {
        for (int32_t kh = 0; kh < kh_n; kh++, off += rsb) mg_copy(&s, in, off, rb, end);
    } else {
        for (int32_t kh = 0; kh < kh_n; kh++, off += rsb) {
            const int32_t ih = ih0 + kh;
            if (ih < 0 || ih >= p->in_h || hi == lo) {
                mg_fill(&s, 0u, rb);
                continue;
            }
            if (lo) mg_fill(&s, 0u, lo * cb);
            mg_copy(&s, in, off + (uint32_t)(lo * cb), (hi - lo) * cb, end);
            if (hi < kw_n) mg_fill(&s, 0u, (kw_n - hi) * cb);
        }
    }
    if (n_out > k) mg_fill(&s, ca == 4 ? tail * 0x11111111u : tail * 0x55555555u, (n_out - k) * ca);
    if (s.fill) *s.w = s.acc;
}
