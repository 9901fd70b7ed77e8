/* Test harness: reads packed inputs from inputs.bin, runs model_run on each, writes the int32
 * logits to logits.bin. On Cortex-M7 the files go through semihosting. Each model_run call is
 * bracketed by marker instructions that the MiCo QEMU plugin counts between. */
#include <stdint.h>
#include <stdio.h>

#include "model.h"

#if defined(__thumb__)
#define MICO_MARK() __asm__ volatile("mov r11, r11" ::: "memory")
#elif defined(__aarch64__)
#define MICO_MARK() __asm__ volatile("orr x28, x28, x28" ::: "memory")
#else
#define MICO_MARK() __asm__ volatile("" ::: "memory")
#endif

static uint8_t in_buf[MODEL_INPUT_BYTES + 8] __attribute__((aligned(8)));
static int32_t out_buf[MODEL_OUTPUT_LEN];

int main(void) {
    FILE *fi = fopen("inputs.bin", "rb");
    FILE *fo = fopen("logits.bin", "wb");
    if (!fi || !fo) {
        printf("MICO_ERROR cannot open inputs.bin / logits.bin\n");
        return 2;
    }
    int n = 0;
    while (fread(in_buf, 1, MODEL_INPUT_BYTES, fi) == MODEL_INPUT_BYTES) {
        MICO_MARK();
        int rc = model_run(in_buf, out_buf);
        MICO_MARK();
        if (rc != 0) {
            printf("MICO_ERROR model_run returned %d at op %d\n", rc, model_failed_op);
            return 3;
        }
        if (fwrite(out_buf, sizeof(int32_t), MODEL_OUTPUT_LEN, fo) != MODEL_OUTPUT_LEN) {
            printf("MICO_ERROR cannot write logits.bin\n");
            return 4;
        }
        n++;
    }
    fclose(fi);
    fclose(fo);
    printf("MICO_DONE %d\n", n);
    return 0;
}
