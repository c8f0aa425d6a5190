/* PVH entry: 32-bit protected mode, paging off, %ebx = hvm_start_info.
 * Switch to long mode, zero .bss, set up IDT/TSS (kinit.c), drop to CPL3. */
#include "layout.h"

	.section .text.boot, "ax"
	.code32
	.globl pvh_start
pvh_start:
	movl %ebx, start_info_pa        /* read later by ustart.c at CPL3 */
	lgdt gdt_ptr
	movl $KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl $kstack_top, %esp
	movl %cr4, %eax
	orl $0x20, %eax                 /* PAE */
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx          /* EFER.LME */
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax           /* PG (+PE): long mode is now active */
	movl %eax, %cr0
	ljmp $KCODE, $long_entry

	.code64
long_entry:
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs
	movl $__bss_start, %edi         /* zero .bss: one string op, not a loop, as CPL0 is emulated */
	movl $__bss_end, %ecx
	subl %edi, %ecx
	shrl $3, %ecx
	rep stosq
	call kinit
	pushq $UDATA                    /* iretq frame: ss, rsp, rflags, cs, rip */
	pushq $ustack_top
	pushq $0x202                    /* IF=1: the PIC is masked until a guest unmasks */
	pushq $UCODE
	pushq $user_entry
	iretq

/* CPL3 from here on; rsp is 16-byte aligned, as a call would leave it. */
user_entry:
	call ustart                     /* never returns */
	ud2

	.section .data
	.globl start_info_pa
	.balign 4
start_info_pa:
	.long 0

	.section .note.GNU-stack, "", @progbits
