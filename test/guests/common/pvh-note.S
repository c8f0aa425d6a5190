/* The PVH ELF note: tells the hypervisor the 32-bit physical entry point. */
	.section .note.Xen, "a"
	.balign 4
	.long 4                 /* namesz: "Xen\0" */
	.long 4                 /* descsz */
	.long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long pvh_start         /* desc: physical entry address */
	.balign 4
	.section .note.GNU-stack, "", @progbits
