/* Port I/O and power-off helpers. Usable at CPL0 and at CPL3 (the TSS I/O
 * bitmap allows every port at CPL3; IOPL is ignored on this host). */
#ifndef GUEST_IO_H
#define GUEST_IO_H
#include <stdint.h>

#define COM1      0x3F8
#define COM1_LSR  0x3FD
#define COM1_SCR  0x3FF   /* scratch register: the PIO benchmark target */
#define PM1A_CNT  0x404   /* ACPI PM1a_CNT: write SLP_TYP=5|SLP_EN to power off */

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline __attribute__((noreturn)) void poweroff(void)
{
	outw(PM1A_CNT, 0x3400);
	for (;;) __asm__ volatile("pause");   /* the hypervisor should have stopped us */
}
#endif
