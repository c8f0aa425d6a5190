/* Polled COM1 output (no interrupts): wait for THR empty, write THR. */
#include "guest.h"

void putc_serial(char c)
{
	while (!(inb(COM1_LSR) & 0x20))
		;
	outb(COM1, (uint8_t)c);
}

void puts_serial(const char *s)
{
	while (*s)
		putc_serial(*s++);
}

void put_dec(uint64_t v)
{
	char buf[21];
	int i = 20;
	buf[i] = 0;
	do { buf[--i] = (char)('0' + v % 10); v /= 10; } while (v);
	puts_serial(buf + i);
}

/* Always 16 lower-case hex digits, matching printf("%016llx"). */
void put_hex16(uint64_t v)
{
	for (int s = 60; s >= 0; s -= 4)
		putc_serial("0123456789abcdef"[(v >> s) & 15]);
}
