/* What a test guest's main() may use. main() runs at CPL3 (natively on this
 * host); returning from it powers the machine off. */
#ifndef GUEST_H
#define GUEST_H
#include <stdint.h>
#include "io.h"

int main(void);

/* serial.c: polled COM1 output */
void putc_serial(char c);
void puts_serial(const char *s);
void put_dec(uint64_t v);
void put_hex16(uint64_t v);

/* cmdline.c: the PVH cmdline, split into space-separated key=value words */
const char *cmdline_raw(void);
const char *cmdline_get(const char *key);          /* value, or 0 if absent */
uint64_t cmdline_u64(const char *key, uint64_t dflt);

/* kinit.c: incremented by the IRQ0 (vector 0x20) handler at CPL0 */
extern volatile uint64_t ticks;

/* kinit.c: interrupts counted per vector 0x30-0x3F by their CPL0 handlers
 * (vectors.S), once lapic.c installed them. */
extern volatile uint64_t lapic_irqs[16];
/* kinit.c: IDT gate `vec` -> handler (present 64-bit interrupt gate). The
 * IDT is in user-accessible RAM: callable at CPL3. */
void set_gate(int vec, void *handler, int dpl);

/* Run fn at CPL0 (through the DPL3 int3 gate, see vectors.S). CPL0 is emulated on
 * this host: keep fn tiny, integer-only. */
void kcall(void (*fn)(void));
#endif
