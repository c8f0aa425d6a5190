/* 8259 PIC pair: remap to vectors 0x20/0x28 (away from the exceptions) and
 * set the interrupt masks. Plain port I/O: callable at CPL3. */
#include "guest.h"

void pic_remap(uint8_t master_mask, uint8_t slave_mask)
{
	outb(0x20, 0x11); outb(0xa0, 0x11);   /* ICW1: edge, cascade, ICW4 */
	outb(0x21, 0x20); outb(0xa1, 0x28);   /* ICW2: vector bases */
	outb(0x21, 0x04); outb(0xa1, 0x02);   /* ICW3: slave on IRQ2 */
	outb(0x21, 0x01); outb(0xa1, 0x01);   /* ICW4: 8086 mode */
	outb(0x21, master_mask); outb(0xa1, slave_mask);
}
