/* IDT entry points (installed by kinit.c). All run at CPL0, which is
 * emulated here, so they are as short as possible. */
#include "layout.h"

	.text
	.code64

/* Exceptions: push a dummy error code where the CPU does not, then the
 * vector, and report (on_exception never returns). */
.macro EXC n, has_err=0
exc\n:
	.if !\has_err
	pushq $0
	.endif
	pushq $\n
	jmp exc_common
.endm
	EXC 0
	EXC 1
	EXC 2
	EXC 3
	EXC 4
	EXC 5
	EXC 6
	EXC 7
	EXC 8, 1
	EXC 9
	EXC 10, 1
	EXC 11, 1
	EXC 12, 1
	EXC 13, 1
	EXC 14, 1
	EXC 15
	EXC 16
	EXC 17, 1
	EXC 18
	EXC 19
	EXC 20
	EXC 21, 1
	EXC 22
	EXC 23
	EXC 24
	EXC 25
	EXC 26
	EXC 27
	EXC 28
	EXC 29, 1
	EXC 30, 1
	EXC 31

exc_common:
	movq %rsp, %rdi                 /* frame: vector, error, rip, cs, ... */
	andq $-16, %rsp
	call on_exception

	.section .rodata
	.globl exc_table
	.balign 8
exc_table:
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad exc\n
	.endr

	.text
/* IRQ0 (PIT), vector 0x20: count the tick, EOI the master PIC. */
	.globl irq0_entry
irq0_entry:
	incq ticks(%rip)
	pushq %rax
	movb $0x20, %al
	outb %al, $0x20
	popq %rax
	iretq

/* Vectors 0x21-0x2f: IRQs the guests never unmask; EOI both PICs. */
	.globl irq_other_entry
irq_other_entry:
	pushq %rax
	movb $0x20, %al
	outb %al, $0xa0
	outb %al, $0x20
	popq %rax
	iretq

/* #BP (vector 3, DPL3 gate) doubles as the CPL3 -> CPL0 call: on this host
 * `int n` at CPL3 raises #UD for every n, but `int3` is delivered. With
 * KCALL_MAGIC in %eax, call the function in %rdi at CPL0 and return after
 * the int3; otherwise it is a real breakpoint: report it. The CPU left rsp
 * 8 mod 16; re-align for the C ABI. */
	.globl kcall_entry
kcall_entry:
	cmpl $KCALL_MAGIC, %eax
	jne exc3
	subq $8, %rsp
	call *%rdi
	addq $8, %rsp
	iretq

/* Vectors 0x30-0x3F (installed by lapic.c): MSI/MSI-X and the LAPIC's
 * spurious vector. Count the interrupt in lapic_irqs[vector - 0x30] and
 * write the LAPIC's EOI register (at 0xFEE000B0, mapped uncached); an EOI
 * with nothing in service (the spurious vector) is harmless. Eight
 * instructions at CPL0. */
.macro LAPIC_IRQ n
lapic_irq\n:
	pushq %rax
	movl $\n, %eax
	jmp lapic_irq_common
.endm
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	LAPIC_IRQ \n
	.endr
lapic_irq_common:
	incq lapic_irqs(,%rax,8)
	movl $0xfee000b0, %eax
	movl $0, (%rax)
	popq %rax
	iretq

	.section .rodata
	.globl lapic_irq_table
	.balign 8
lapic_irq_table:
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
	.quad lapic_irq\n
	.endr

	.section .note.GNU-stack, "", @progbits
