/*
 * A stand-in firmware for checking what the loader puts in RAM on QEMU:
 * from the reset vector, load the loader's GDT, enter the mode its BootPlan
 * asks for (32-bit protected mode for PVH, long mode with the loader's page
 * tables for a bzImage or ELF64), set the registers the plan gives and jump
 * to its entry. QEMU's TCG is then the CPU, and everything the kernel reads
 * (start info, module list, zero page, E820, page tables, GDT) is the loader's.
 *
 * Linked at 0xFF000 (offset 0xF000 of a 64 KiB -bios image mapped at
 * 0xF0000); real mode runs it as F000:F000. The parameter block at
 * PARAMS (0xFFE00) is filled in by qemu-loader-check.ts.
 */
#define PARAMS      0xffe00
#define P_MODE      (PARAMS + 0x00)  /* u32: 32 = PVH protected mode, 64 = long mode */
#define P_GDTR      (PARAMS + 0x04)  /* u16 limit, u32 base */
#define P_CR3       (PARAMS + 0x0c)  /* u32 */
#define P_ENTRY     (PARAMS + 0x10)  /* u64 */
#define P_RBX       (PARAMS + 0x18)
#define P_RSI       (PARAMS + 0x20)
#define P_RSP       (PARAMS + 0x28)
#define SEG(a)      ((a) - 0xf0000)

	.text
	.code16
	.globl start
start:
	cli
	cld
	lgdtl	%cs:SEG(P_GDTR)
	cmpl	$64, %cs:SEG(P_MODE)
	je	long

	/* PVH: flat 32-bit protected mode, paging off. */
	movl	%cr0, %eax
	orl	$1, %eax
	movl	%eax, %cr0
	ljmpl	$0x8, $pm32

long:
	/* Long mode straight from real mode: PAE, the loader's CR3, EFER.LME, then PE|PG together. */
	movl	$0x20, %eax
	movl	%eax, %cr4
	movl	%cs:SEG(P_CR3), %eax
	movl	%eax, %cr3
	movl	$0xc0000080, %ecx
	rdmsr
	orl	$0x100, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$0x80000001, %eax
	movl	%eax, %cr0
	ljmpl	$0x8, $lm64

	.code32
pm32:
	movw	$0x10, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	%ax, %fs
	movw	%ax, %gs
	movl	P_RBX, %ebx
	movl	P_RSI, %esi
	movl	P_RSP, %esp
	jmp	*P_ENTRY

	.code64
lm64:
	movw	$0x10, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	%ax, %fs
	movw	%ax, %gs
	movq	P_RBX, %rbx
	movq	P_RSI, %rsi
	movq	P_RSP, %rsp
	jmpq	*P_ENTRY
