/* edgeconv board support: Cortex-M startup. The vector table, a reset handler that copies
 * .data from flash, zeroes .bss and calls main, and fault handlers that stop the core with a
 * breakpoint (a debugger or emulator sees where). Symbols come from the linker script.
 * With EC_STACK_PAINT (emulated runs), the free stack is painted with a pattern before main
 * and ec_stack_high_water() says how deep it was used since. */
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;
int main(void);

void Reset_Handler(void);
void Default_Handler(void);

void Default_Handler(void) {
    for (;;) {
        __asm__ volatile("bkpt #0");
    }
}

#if defined(EC_STACK_PAINT)
#define EC_STACK_PATTERN 0x5AC3A53Cu

uint32_t ec_stack_high_water(void);

/* Bytes between the top of the stack and the lowest word that no longer holds the pattern. */
uint32_t ec_stack_high_water(void) {
    const volatile uint32_t *p = &_sstack;
    while (p < &_estack && *p == EC_STACK_PATTERN) {
        ++p;
    }
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
}
#endif

void Reset_Handler(void) {
    uint32_t *src = &_sidata;
    uint32_t *dst = &_sdata;
    while (dst < &_edata) {
        *dst++ = *src++;
    }
    for (dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0;
    }
#if defined(__ARM_FP)
    /* Enable CP10/CP11 (the FPU): float model edges (QUANTIZE/DEQUANTIZE) use it. */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb");
#endif
#if defined(EC_STACK_PAINT)
    {
        /* Volatile stores: an inline loop that uses no stack below sp while it paints. */
        uint32_t sp;
        volatile uint32_t *p = &_sstack;
        __asm__ volatile("mov %0, sp" : "=r"(sp));
        while ((uintptr_t)p < sp) {
            *p++ = EC_STACK_PATTERN;
        }
    }
#endif
    (void)main();
    for (;;) {
        __asm__ volatile("bkpt #0");
    }
}

/* Initial stack pointer, reset, NMI, HardFault, MemManage, BusFault, UsageFault, then the
 * rest of the 16 system entries. */
__attribute__((section(".vectors"), used)) void (*const ec_vectors[16])(void) = {
    (void (*)(void))(&_estack),
    Reset_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    Default_Handler,
    0,
    0,
    0,
    0,
    Default_Handler,
    Default_Handler,
    0,
    Default_Handler,
    Default_Handler,
};
