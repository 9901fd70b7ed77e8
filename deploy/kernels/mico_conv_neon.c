/* AArch64 NEON convolution (groups == 1): placeholder until the NEON path lands. */
#include "mico_nn.h"

mico_status mico_conv_neon(const mico_conv_params *p, const uint8_t *in, void *out, void *scratch,
                           int32_t scratch_bytes) {
    return mico_conv_dualmac(p, in, out, scratch, scratch_bytes);
}
