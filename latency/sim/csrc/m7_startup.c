/* Minimal Cortex-M7 start-up for QEMU mps2-an500 (latency simulator harness).
 * Vector table at address 0; the reset handler enables the FPU (CP10/CP11 full access),
 * then enters newlib's rdimon start-up (_start), which clears .bss, calls main and exits
 * through semihosting. Faults end the run via the semihosting exit call with an error code. */
#include <stdint.h>
extern void _start(void);
extern uint32_t __stack_top;

static void semihost_exit(uint32_t code) {
    uint32_t block[2] = {0x20026u, code}; /* ADP_Stopped_ApplicationExit */
    register uint32_t r0 __asm__("r0") = 0x20; /* SYS_EXIT_EXTENDED */
    register uint32_t *r1 __asm__("r1") = block;
    __asm__ volatile("bkpt 0xab" : : "r"(r0), "r"(r1) : "memory");
    for (;;) {}
}

void Fault_Handler(void) { semihost_exit(99); }

void Reset_Handler(void) {
    volatile uint32_t *cpacr = (volatile uint32_t *)0xE000ED88u;
    *cpacr |= (0xFu << 20);
    __asm__ volatile("dsb\n isb");
    _start();
    semihost_exit(98);
}

__attribute__((section(".vectors"), used)) const void *const vector_table[16] = {
    &__stack_top, (void *)Reset_Handler, (void *)Fault_Handler, (void *)Fault_Handler,
    (void *)Fault_Handler, (void *)Fault_Handler, (void *)Fault_Handler, 0, 0, 0, 0,
    (void *)Fault_Handler, (void *)Fault_Handler, 0, (void *)Fault_Handler, (void *)Fault_Handler,
};
