/* Selectors and sizes shared by the assembly and C start-up code. */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H
#define KCODE     0x08   /* 64-bit kernel code */
#define KDATA     0x10   /* kernel data (also valid in 32-bit mode) */
#define UDATA     0x1b   /* user data, RPL 3 */
#define UCODE     0x23   /* 64-bit user code, RPL 3 */
#define TSS_SEL   0x28   /* 16-byte 64-bit TSS descriptor (GDT slots 5 and 6) */
#define TSS_IOMAP 0x68   /* I/O bitmap right after the 104-byte TSS */
#define TSS_LIMIT (TSS_IOMAP + 8192)  /* includes the 0xff terminator byte */
#define KCALL_MAGIC 0x6c61636b     /* "kcal": %eax tag of an int3 kcall */
#define KSTACK_SIZE 16384
#define USTACK_SIZE 65536
#endif
