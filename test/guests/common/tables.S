/* Static descriptor tables, page tables, TSS and stacks. Everything that can
 * be computed at link time is, because CPL0 code is emulated (slow) here. */
#include "layout.h"

	.section .data.tables, "aw"
	.balign 16
	.globl gdt, gdt_ptr
gdt:
	.quad 0                         /* null */
	.quad 0x00af9b000000ffff        /* 0x08 kernel code: L=1, DPL0, accessed */
	.quad 0x00cf93000000ffff        /* 0x10 kernel data: flat 4 GiB, DPL0 */
	.quad 0x00cff3000000ffff        /* 0x18 user data: DPL3 */
	.quad 0x00affb000000ffff        /* 0x20 user code: L=1, DPL3 */
	.quad 0, 0                      /* 0x28 TSS: base is split, filled by kinit */
gdt_end:
gdt_ptr:
	.word gdt_end - gdt - 1
	.quad gdt                       /* lgdt in 32-bit mode reads the low 4 bytes */

/* 64-bit TSS. rsp0 is the stack used when an interrupt/exception/int 0x80
 * arrives at CPL3. The all-zero I/O bitmap lets CPL3 use every port (IOPL=3
 * is ignored on this host). */
	.balign 16
	.globl tss
tss:
	.long 0
	.quad kstack_top                /* rsp0 */
	.fill TSS_IOMAP - 14, 1, 0      /* rsp1, rsp2, ist1-7, reserved */
	.word TSS_IOMAP                 /* I/O map base, at offset 0x66 */
	.fill 8192, 1, 0                /* I/O bitmap: all ports allowed */
	.byte 0xff                      /* the CPU may read one byte past the map */

/* Identity map of the first 4 GiB with 2 MiB pages, U/S set everywhere so
 * CPL3 can reach RAM, the start_info in low memory and the MMIO bench page.
 * A and D are preset so nothing has to write the tables back. */
	.section .data.pagetables, "aw"
	.balign 4096
	.globl pml4
pml4:
	.quad pdpt + 0x27               /* P RW US A */
	.fill 511, 8, 0
pdpt:
	.quad pd + 0x0000 + 0x27
	.quad pd + 0x1000 + 0x27
	.quad pd + 0x2000 + 0x27
	.quad pd + 0x3000 + 0x27
	.fill 508, 8, 0
pd:
	.set page, 0
	.rept 1536                      /* 0-3 GiB: RAM, write-back */
	.quad (page << 21) | 0xe7       /* P RW US A D PS */
	.set page, page + 1
	.endr
	.rept 512                       /* 3-4 GiB: PCI hole, MMIO bench, uncached */
	.quad (page << 21) | 0xff       /* ... + PWT PCD */
	.set page, page + 1
	.endr

/* Stacks are not in .bss, which is zeroed after the kernel stack is in use. */
	.section .stack, "aw", @nobits
	.balign 16
	.globl kstack_top, ustack_top
	.skip KSTACK_SIZE
kstack_top:
	.skip USTACK_SIZE
ustack_top:

	.section .note.GNU-stack, "", @progbits
