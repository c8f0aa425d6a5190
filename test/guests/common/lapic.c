/* Local APIC set-up for MSI/MSI-X: see lapic.h. */
#include "guest.h"
#include "lapic.h"
#include "virtio-pci.h"

#define LAPIC_ID  0x020
#define LAPIC_SVR 0x0f0

extern void *const lapic_irq_table[16];

uint8_t lapic_enable(void)
{
	for (int v = 0; v < 16; v++)
		set_gate(LAPIC_VECTOR_BASE + v, lapic_irq_table[v], 0);
	mw32(LAPIC_BASE + LAPIC_SVR, 0x100 | LAPIC_SPURIOUS);
	return (uint8_t)(mr32(LAPIC_BASE + LAPIC_ID) >> 24);
}

uint64_t lapic_count(uint8_t vector)
{
	return lapic_irqs[(vector - LAPIC_VECTOR_BASE) & 15];
}
