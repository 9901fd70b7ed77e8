/* Bare-metal startup for Cortex-M7 on QEMU mps2-an500 (our own: vector table, reset handler,
 * FPU enable, fault handlers that end the run through semihosting with an error code). */
#include <stdint.h>

extern uint32_t __stack_top, __data_load, __data_start, __data_end, __bss_start, __bss_end;
extern int main(void);
extern void initialise_monitor_handles(void);
extern void exit(int code);

/* Semihosting SYS_EXIT_EXTENDED: QEMU exits with `code`. */
__attribute__((noreturn)) void mico_semihost_exit(int code) {
    volatile uint32_t block[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, (uint32_t)code};
    register uint32_t r0 __asm__("r0") = 0x20u;
    register uint32_t r1 __asm__("r1") = (uint32_t)block;
    __asm__ volatile("bkpt 0xab" : : "r"(r0), "r"(r1) : "memory");
    for (;;) {
    }
}

void Reset_Handler(void);
void Fault_Handler(void);
void Default_Handler(void);

__attribute__((noreturn)) void Fault_Handler(void) {
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    mico_semihost_exit(100 + (int)(ipsr & 0x1ff)); /* 103 hard fault, 104 memmanage, 105 bus, 106 usage */
}

__attribute__((noreturn)) void Default_Handler(void) { mico_semihost_exit(99); }

__attribute__((section(".isr_vector"), used)) const void *const mico_vectors[16] = {
    &__stack_top, (const void *)Reset_Handler, (const void *)Default_Handler /* NMI */,
    (const void *)Fault_Handler, (const void *)Fault_Handler, (const void *)Fault_Handler,
    (const void *)Fault_Handler, 0, 0, 0, 0, (const void *)Default_Handler /* SVC */,
    (const void *)Default_Handler, 0, (const void *)Default_Handler /* PendSV */,
    (const void *)Default_Handler /* SysTick */,
};

void _init(void);
void _fini(void);
void _init(void) {}
void _fini(void) {}

__attribute__((noreturn)) void Reset_Handler(void) {
    /* enable CP10/CP11 (the FPU) before any float instruction */
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20);
    __asm__ volatile("dsb\n isb" ::: "memory");
    /* enable the usage / bus / memmanage fault handlers */
    *(volatile uint32_t *)0xE000ED24u |= (7u << 16);
    for (uint32_t *s = &__data_load, *d = &__data_start; d < &__data_end;) *d++ = *s++;
    for (uint32_t *d = &__bss_start; d < &__bss_end;) *d++ = 0;
    initialise_monitor_handles();
    int rc = main();
    exit(rc);
    mico_semihost_exit(rc);
}
