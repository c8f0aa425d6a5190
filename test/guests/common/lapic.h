/* The local APIC for MSI/MSI-X (x2APIC off, xAPIC MMIO at 0xFEE00000, which
 * the page tables map uncached and user-accessible): all of it from CPL3. */
#ifndef GUEST_LAPIC_H
#define GUEST_LAPIC_H
#include <stdint.h>

#define LAPIC_BASE        0xfee00000ULL
#define LAPIC_VECTOR_BASE 0x30   /* vectors 0x30-0x3E for devices */
#define LAPIC_SPURIOUS    0x3f

/* Installs the counting handlers for vectors 0x30-0x3F (guest.h:
 * lapic_irqs[]) and software-enables the LAPIC (SVR bit 8, spurious
 * vector 0x3F). Interrupts are on at CPL3 already. Returns the APIC id. */
uint8_t lapic_enable(void);

/* Interrupts counted on `vector` (0x30-0x3F) so far. */
uint64_t lapic_count(uint8_t vector);
#endif
