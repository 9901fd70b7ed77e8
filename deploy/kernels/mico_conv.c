/* Convolution dispatcher: picks the fastest kernel compiled for this target and these shapes, and runs
 * fused max pooling around it. */
#include "mico_nn_support.h"

int32_t mico_conv_bytelane_steps(const mico_conv_params *p);
int32_t mico_conv_fields_ok(const mico_conv_params *p);
int32_t mico_conv_long_ok(const mico_conv_params *p);
int32_t mico_conv_poly_ok(const mico_conv_params *p);
int32_t mico_conv_rows_ok(const mico_conv_params *p);

mico_conv_variant mico_conv_select(const mico_conv_params *p) {
#if defined(MICO_FORCE_PORTABLE)
    (void)p;
    return MICO_CONV_PORTABLE;
#else
    if (p->groups == p->in_c && p->out_c == p->in_c && p->groups > 1) return MICO_CONV_DW;
    if (p->groups != 1) return MICO_CONV_PORTABLE;
#if defined(__aarch64__) && defined(__ARM_NEON) && !defined(MICO_NO_NEON)
    return MICO_CONV_NEON;
#else
    /* measured (results/kernel_bench.md, LeNet-5 layers; QEMU instruction counts on Cortex-M7):
     * 1/2/4-bit weight containers x 2/4-bit activation containers: the polynomial-packing kernel
     * beats dual-MAC and byte-lane (and the packed-multiply kernel it replaced) on every benchmark and LeNet-5 layer, at any channel
     * count (1-bit weights x 2-bit activations, conv 1x1 16x16x32->32: 1.50 instructions per MAC vs
     * packed's 2.32; conv 1x1 over 12 channels: 4.62 vs byte-lane's 9.59) */
    /* 1-3 input channels (first layers): no per-pixel field at all (LeNet-5 conv1 W8A8: 2.92
     * instructions per MAC vs 5.31 through gather + dual-MAC in session 4, results/lowbit_e2e_m7.md), at any
     * bit pair */
    if (mico_conv_rows_ok(p)) return MICO_CONV_ROWS;
    /* 2/4-bit containers with 4+ input channels and 16+ output pixels: three (W2A2 four)
     * products per UMLAL beat the two of the poly kernel's MLA (results/kernel_bench.md) */
    if (mico_conv_long_ok(p)) return MICO_CONV_LONG;
    /* 4-bit weights on a single pixel (linear layers): three products per UMLAL with the weights
     * masked in place beat poly's two per MLA (fc 256->64 W4A4: 1.61 vs 2.08 instructions per MAC;
     * with two or more pixels poly's shared weight words win, results/kernel_bench.md) */
    if (p->out_h * p->out_w == 1 && mico_conv_fields_ok(p)) return MICO_CONV_FIELDS;
    if (mico_conv_poly_ok(p)) return MICO_CONV_POLY;
    if (p->w_cont < 1 || p->w_cont > 8 || p->in_cont < 2 || p->in_cont > 8) return MICO_CONV_DUALMAC; /* rejects */
    /* the dual-MAC GEMM with its word-at-a-time im2col beats the byte-lane kernel whenever the
     * channel count allows whole-word unpacking; byte-lane only pays off on convolutions (several
     * pixels): on linear layers (LeNet-5 fc 400-120-84, 1-bit weights) dual-MAC is faster */
    const int32_t ew = 32 / p->w_cont, ea = 32 / p->in_cont;
    const int32_t blk = ew > ea ? ew : ea;
    if (p->w_cont < 8 && p->in_c % blk != 0 && p->out_h * p->out_w > 1 && mico_conv_bytelane_steps(p) >= 1)
        return MICO_CONV_BYTELANE;
    return MICO_CONV_DUALMAC;
#endif
#endif
}

static mico_status mico_conv_run(mico_conv_variant v, const mico_conv_params *p, const uint8_t *in, void *out,
                                 void *scratch, int32_t scratch_bytes) {
    switch (v) {
        case MICO_CONV_PORTABLE: return mico_conv_portable(p, in, out);
        case MICO_CONV_DUALMAC: return mico_conv_dualmac(p, in, out, scratch, scratch_bytes);
        case MICO_CONV_BYTELANE: return mico_conv_bytelane(p, in, out, scratch, scratch_bytes);
        case MICO_CONV_DW: return mico_conv_dw(p, in, out, scratch, scratch_bytes);
        case MICO_CONV_POLY: return mico_conv_poly(p, in, out, scratch, scratch_bytes);
        case MICO_CONV_NEON: return mico_conv_neon(p, in, out, scratch, scratch_bytes);
        case MICO_CONV_ROWS: return mico_conv_rows(p, in, out, scratch, scratch_bytes);
        case MICO_CONV_LONG: return mico_conv_long(p, in, out, scratch, scratch_bytes);
        case MICO_CONV_FIELDS: return mico_conv_fields(p, in, out, scratch, scratch_bytes);
        default: return MICO_ERR_ARG;
    }
}

/* Fused max pooling (pool_h / pool_w, mico_nn.h): the kernel requantizes into a byte per element
 * (the same clamp, so the same values) in scratch after its own, then one pass takes the windows'
 * maxima four channels at a time and packs them at the output container (mico_pool_bytes). No
 * pooled-away tensor at its container, and no sub-byte packing of the map the pooling discards. */
static mico_status mico_conv_pooled(mico_conv_variant v, const mico_conv_params *p, const uint8_t *in, void *out,
                                    void *scratch, int32_t scratch_bytes) {
    if (p->pool_h < 1 || p->pool_w < 1 || p->out_h < p->pool_h || p->out_w < p->pool_w || p->out_chw)
        return MICO_ERR_ARG;
    if (p->out_cont != 2 && p->out_cont != 4 && p->out_cont != 8) return MICO_ERR_ARG;
    if (!scratch || scratch_bytes < mico_conv_get_buffer_size(p)) return MICO_ERR_SCRATCH;
    mico_conv_params raw = *p;
    raw.out_cont = 8;
    raw.pool_h = raw.pool_w = 0;
    const int32_t k = mico_conv_get_buffer_size(&raw);
    uint8_t *map = (uint8_t *)scratch + ((k + 3) & ~3);
    const mico_status st = mico_conv_run(v, &raw, in, map, scratch, k);
    if (st != MICO_OK) return st;
    mico_pool_bytes(p, map, (uint8_t *)out);
    return MICO_OK;
}

mico_status mico_conv_variant_run(mico_conv_variant v, const mico_conv_params *p, const uint8_t *in, void *out,
                                  void *scratch, int32_t scratch_bytes) {
    if (!p) return MICO_ERR_ARG;
    if (v == MICO_CONV_AUTO) v = mico_conv_select(p);
    if (mico_pooled_out(p)) return mico_conv_pooled(v, p, in, out, scratch, scratch_bytes);
    if (mico_pooled(p)) return MICO_ERR_UNSUPPORTED; /* pooling of int32 accumulators */
    return mico_conv_run(v, p, in, out, scratch, scratch_bytes);
}

mico_status mico_conv(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch, int32_t scratch_bytes) {
    return mico_conv_variant_run(MICO_CONV_AUTO, p, in, out, scratch, scratch_bytes);
}
