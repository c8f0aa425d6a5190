/* piobench: N port writes (to the UART scratch register) and M MMIO writes
 * (to unclaimed 0xD0000000), each bracketed by lines the host timestamps.
 * cmdline: pio=N (default 100000) mmio=M (default 20000). */
#include "guest.h"

#define MMIO_TARGET ((volatile uint32_t *)0xd0000000UL)

int main(void)
{
	uint64_t n = cmdline_u64("pio", 100000), m = cmdline_u64("mmio", 20000);
	puts_serial("pio-start\n");
	for (uint64_t i = 0; i < n; i++)
		outb(COM1_SCR, (uint8_t)i);
	puts_serial("pio-end\n");
	puts_serial("mmio-start\n");
	for (uint64_t i = 0; i < m; i++)
		*MMIO_TARGET = (uint32_t)i;
	puts_serial("mmio-end\n");
	return 0;
}
