/* CPL0 stubs for the soft CPU's event-delivery tests: each records the
 * vector, the error code (or -1 where the CPU pushes none), CR2 and the
 * frame the CPU pushed (RIP, CS, RFLAGS, RSP, SS) and where that frame
 * sits, then resumes at resume_at (past the faulting instruction). */
	.text
	.code64

.macro STUB name, vec, err
	.globl \name
\name:
	.if \err
	popq fault_err(%rip)
	.else
	movq $-1, fault_err(%rip)
	.endif
	pushq %rax
	movq $\vec, %rax
	movq %rax, fault_vec(%rip)
	movq %cr2, %rax
	movq %rax, fault_cr2(%rip)
	movq 8(%rsp), %rax
	movq %rax, fault_rip(%rip)
	movq 16(%rsp), %rax
	movq %rax, fault_cs(%rip)
	movq 24(%rsp), %rax
	movq %rax, fault_rflags(%rip)
	movq 32(%rsp), %rax
	movq %rax, fault_rsp(%rip)
	movq 40(%rsp), %rax
	movq %rax, fault_ss(%rip)
	leaq 8(%rsp), %rax
	movq %rax, fault_frame(%rip)
	movq resume_at(%rip), %rax
	movq %rax, 8(%rsp)
	popq %rax
	iretq
.endm

	STUB stub_de, 0, 0
	STUB stub_bp, 3, 0
	STUB stub_ud, 6, 0
	STUB stub_nm, 7, 0
	STUB stub_gp, 13, 1
	STUB stub_pf, 14, 1
	STUB stub_3a, 0x3a, 0
	STUB stub_nmi, 2, 0
	STUB stub_ext, 0x31, 0

/* syscall lands here at CPL0 (LSTAR): record RCX/R11/CS/SS and return. */
	.globl syscall_entry
syscall_entry:
	movq %rcx, sys_rcx(%rip)
	movq %r11, sys_r11(%rip)
	movq %cs, %rax
	movq %rax, sys_cs(%rip)
	movq %ss, %rax
	movq %rax, sys_ss(%rip)
	pushfq
	popq %rax
	movq %rax, sys_rflags(%rip)
	sysretq

	.section .note.GNU-stack, "", @progbits
