/* timer: PIT channel 0 at 100 Hz through the 8259 (IRQ0 -> vector 0x20).
 * cmdline: ticks=N (default 100). CPL3 spins on the tick counter that the
 * CPL0 interrupt handler increments. */
#include "guest.h"

void pic_remap(uint8_t master_mask, uint8_t slave_mask);

#define PIT_HZ      1193182
#define PIT_DIVISOR 11932          /* 1193182 / 11932 = 100.0 Hz */

int main(void)
{
	uint64_t n = cmdline_u64("ticks", 100), next = 10;
	pic_remap(0xfe, 0xff);         /* only IRQ0 */
	outb(0x43, 0x34);              /* channel 0, lo/hi byte, mode 2 (rate generator) */
	outb(0x40, PIT_DIVISOR & 0xff);
	outb(0x40, PIT_DIVISOR >> 8);
	for (;;) {
		uint64_t t = ticks;
		for (; next <= t && next <= n; next += 10) {
			puts_serial("tick ");
			put_dec(next);
			putc_serial('\n');
		}
		if (t >= n)
			break;
		__asm__ volatile("pause");
	}
	outb(0x21, 0xff);              /* quiet again before power-off */
	puts_serial("ticks done ");
	put_dec(n);
	putc_serial('\n');
	return 0;
}
