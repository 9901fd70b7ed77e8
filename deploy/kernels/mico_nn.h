/* MiCo kernel library: public interface.
 *
 * Integer contract (mico/quant.py, deploy/README.md): weights per output channel, symmetric,
 * stored in 1/2/4/8-bit containers (1-bit: bit 1 = +1, bit 0 = -1); activations per tensor,
 * zero-point 0, signed or unsigned, stored in 2/4/8-bit containers, NHWC, flat, little-endian
 * within a byte. Accumulate in int32, requantize per channel with
 *     y = clamp((acc * (int64)m + (1 << (k - 1))) >> k, lo, hi).
 * Every function returns a mico_status; none allocates memory; scratch memory is owned by the
 * caller and sized by the sibling *_get_buffer_size function.
 */
#ifndef MICO_NN_H
#define MICO_NN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    MICO_OK = 0,
    MICO_ERR_ARG = -1,         /* a parameter is out of range or inconsistent */
    MICO_ERR_SCRATCH = -2,     /* scratch buffer missing or too small */
    MICO_ERR_UNSUPPORTED = -3  /* this kernel variant cannot run these parameters */
} mico_status;

/* Which implementation of a convolution to run (MICO_CONV_AUTO lets the dispatcher pick). */
typedef enum {
    MICO_CONV_AUTO = 0,
    MICO_CONV_PORTABLE = 1, /* direct convolution on packed data, any parameters */
    MICO_CONV_DUALMAC = 2,  /* im2col + 2x2 tiles of 16-bit dual MACs (SMLAD on Cortex-M7) */
    MICO_CONV_BYTELANE = 3, /* sub-byte: four low-bit products per 32-bit multiply */
    MICO_CONV_DW = 4,       /* depthwise (groups == in_c == out_c) */
    MICO_CONV_NEON = 5,     /* AArch64 NEON (widening multiply-accumulate) */
    /* 6: the retired packed-multiply kernel (1/2-bit weights x 2-bit activations), which the poly
     * kernel's 1-bit-weight layouts replaced */
    MICO_CONV_POLY = 7,     /* 1/2/4-bit weight x 2/4-bit activation containers: polynomial packing */
    MICO_CONV_ROWS = 8,     /* 1-3 input channels (first layers): ring of widened rows, no im2col */
    MICO_CONV_LONG = 9,     /* 2/4-bit containers, several pixels: 3-4 products per 64-bit multiply-accumulate */
    MICO_CONV_FIELDS = 10   /* 4-bit weights read in place, 2/4-bit activations: 3 products per 64-bit multiply-accumulate */
} mico_conv_variant;

/* Convolution, conv1d (in_h = out_h = k_h = 1) and linear (1x1 conv on a 1x1 image). */
typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w, stride_h, stride_w, pad_h, pad_w, groups;
    int32_t w_bits, w_cont;               /* weight bits 1..8 and container 1/2/4/8 */
    int32_t in_bits, in_cont, in_signed;  /* input activation bits, container 2/4/8, signedness */
    int32_t out_cont, out_signed;         /* output container 2/4/8, or 32 = int32 accumulators */
    int32_t out_lo, out_hi;               /* clamp bounds (fused ReLU / ReLU6) */
    int32_t out_chw;                      /* int32 output in (C, H, W) order instead of NHWC */
    int32_t w_row_bytes;                  /* bytes per packed weight row (a multiple of 4) */
    int32_t pool_h, pool_w;               /* fused max pooling (0 or 1: none): the output is the maximum over
                                           * pool_h x pool_w windows of stride pool_h x pool_w of the
                                           * out_h x out_w map above (floor: rows and columns past the last
                                           * whole window dropped), out_h / pool_h x out_w / pool_w pixels */
    const uint8_t *weights;               /* out_c rows of k_h*k_w*(in_c/groups) elements */
    const int32_t *bias;                  /* per output channel */
    const int32_t *mult;                  /* per output channel, < 2^31 */
    const int8_t *shift;                  /* per output channel, 1..62 */
    const int32_t *wsum;                  /* per output channel: sum of the row's weight values */
    const void *prep;                     /* NULL, or the kernel's constant data made once by
                                           * mico_conv_prepare (4-byte aligned): the call then skips
                                           * making it in scratch */
} mico_conv_params;

typedef struct {
    int32_t n;
    int32_t a_cont, a_signed, b_cont, b_signed, out_cont;
    int32_t out_lo, out_hi;
    int32_t m_a, m_b, shift;
} mico_add_params;

typedef struct {
    int32_t in_h, in_w, c, out_h, out_w;
    int32_t k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int32_t in_cont, in_signed;
    int32_t out_cont, out_lo, out_hi; /* average pooling only */
    int32_t mult, shift;              /* average pooling only */
} mico_pool_params;

typedef struct {
    int32_t n, cont, is_signed;
} mico_relu_params;

mico_status mico_conv(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                      int32_t scratch_bytes);
mico_status mico_conv_variant_run(mico_conv_variant v, const mico_conv_params *p, const uint8_t *in,
                                  void *out, void *scratch, int32_t scratch_bytes);
int32_t mico_conv_get_buffer_size(const mico_conv_params *p);
/* The constant data the kernel mico_conv picks makes from the weights on every call (converted weight
 * words, lookup tables), made once: returns its bytes (0: none for these parameters) and writes it to
 * dst when dst_bytes allows; keep it (e.g. as a const array in flash) and set p->prep to it. */
int32_t mico_conv_prepare(const mico_conv_params *p, void *dst, int32_t dst_bytes);
mico_conv_variant mico_conv_select(const mico_conv_params *p);

mico_status mico_conv_portable(const mico_conv_params *p, const uint8_t *in, void *out);
mico_status mico_conv_dualmac(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                              int32_t scratch_bytes);
mico_status mico_conv_bytelane(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                               int32_t scratch_bytes);
mico_status mico_conv_dw(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                         int32_t scratch_bytes);
mico_status mico_conv_poly(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                           int32_t scratch_bytes);
mico_status mico_conv_neon(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                           int32_t scratch_bytes);
mico_status mico_conv_rows(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                           int32_t scratch_bytes);
mico_status mico_conv_long(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                           int32_t scratch_bytes);
mico_status mico_conv_fields(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                             int32_t scratch_bytes);

mico_status mico_add(const mico_add_params *p, const uint8_t *a, const uint8_t *b, uint8_t *out);
mico_status mico_maxpool(const mico_pool_params *p, const uint8_t *in, uint8_t *out);
mico_status mico_avgpool(const mico_pool_params *p, const uint8_t *in, uint8_t *out);
mico_status mico_relu(const mico_relu_params *p, const uint8_t *in, uint8_t *out);

#ifdef __cplusplus
}
#endif
#endif /* MICO_NN_H */
