/* elf64: a plain ELF64 kernel (no PVH note). The hypervisor enters it at
 * CPL0 in long mode with identity paging, a usable rsp, and %rsi pointing
 * at the hvm_start_info. Prints "elf64 ok" if the start_info magic is there
 * (the calls also prove the stack works), then powers off. CPL0 is emulated
 * here, so this stays short. */
	.text
	.code64
	.globl _start
_start:
	leaq ok_msg(%rip), %rdi
	cmpl $0x336ec578, (%rsi)        /* hvm_start_info magic */
	je 1f
	leaq bad_msg(%rip), %rdi
1:	call puts
	movw $0x3400, %ax               /* ACPI PM1a_CNT: SLP_TYP=5 | SLP_EN */
	movw $0x404, %dx
	outw %ax, %dx
2:	pause
	jmp 2b

/* puts(%rdi): polled COM1 output. */
puts:
	movzbl (%rdi), %ecx
	testb %cl, %cl
	jz 4f
	movw $0x3fd, %dx
3:	inb %dx, %al                    /* wait for THR empty (LSR bit 5) */
	testb $0x20, %al
	jz 3b
	movw $0x3f8, %dx
	movb %cl, %al
	outb %al, %dx
	incq %rdi
	jmp puts
4:	ret

	.section .rodata
ok_msg:  .asciz "elf64 ok\n"
bad_msg: .asciz "elf64 bad start_info\n"

	.section .note.GNU-stack, "", @progbits
