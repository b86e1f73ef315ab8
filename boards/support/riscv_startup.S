/* edgeconv board support: RISC-V startup. Sets the stack and global pointers, copies .data
 * from flash, zeroes .bss and calls main; spins if main returns. Symbols come from the
 * linker script. With EC_STACK_PAINT (emulated runs), the free stack is painted with a
 * pattern before main and ec_stack_high_water() says how deep it was used since (as
 * cortex_m_startup.c does). */
#define EC_STACK_PATTERN 0x5AC3A53C

    .section .text.init, "ax"
    .globl _start
_start:
    .option push
    .option norelax
    la gp, __global_pointer$
    .option pop
    la sp, _estack
    la t0, _sidata
    la t1, _sdata
    la t2, _edata
1:  bgeu t1, t2, 2f
    lw t3, 0(t0)
    sw t3, 0(t1)
    addi t0, t0, 4
    addi t1, t1, 4
    j 1b
2:  la t1, _sbss
    la t2, _ebss
3:  bgeu t1, t2, 4f
    sw zero, 0(t1)
    addi t1, t1, 4
    j 3b
4:
#if defined(EC_STACK_PAINT)
    /* Registers only: nothing is on the stack yet. */
    la t1, _sstack
    li t3, EC_STACK_PATTERN
6:  bgeu t1, sp, 7f
    sw t3, 0(t1)
    addi t1, t1, 4
    j 6b
7:
#endif
    call main
5:  wfi
    j 5b

#if defined(EC_STACK_PAINT)
/* uint32_t ec_stack_high_water(void): bytes between the top of the stack and the lowest
 * word that no longer holds the pattern. */
    .section .text.ec_stack_high_water, "ax"
    .globl ec_stack_high_water
    .type ec_stack_high_water, @function
ec_stack_high_water:
    la t0, _sstack
    la t1, _estack
    li t2, EC_STACK_PATTERN
8:  bgeu t0, t1, 9f
    lw t3, 0(t0)
    bne t3, t2, 9f
    addi t0, t0, 4
    j 8b
9:  sub a0, t1, t0
    ret
    .size ec_stack_high_water, . - ec_stack_high_water
#endif
