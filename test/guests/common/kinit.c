/* CPL0 set-up (emulated on this host, so keep it short): fill the IDT,
 * point the GDT's TSS descriptor at the TSS, load IDTR and TR. Also the
 * exception reporter. */
#include "guest.h"
#include "layout.h"

struct idt_gate {
	uint16_t off0, sel;
	uint8_t ist, type;
	uint16_t off1;
	uint32_t off2, zero;
} __attribute__((packed));

struct table_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

extern uint64_t gdt[];
extern char tss[];
extern void *const exc_table[32];
extern char irq0_entry[], irq_other_entry[], kcall_entry[];

volatile uint64_t ticks;
volatile uint64_t lapic_irqs[16];
/* exceptions, the 16 PIC vectors, then 0x30-0x3F for MSI/MSI-X: lapic.c
 * fills those from CPL3 (the IDT is in user-accessible RAM) only in the
 * guests that use them, so the others' CPL0 set-up stays as short. */
static struct idt_gate idt[0x40];

void set_gate(int vec, void *handler, int dpl)
{
	uint64_t a = (uint64_t)handler;
	idt[vec].off0 = (uint16_t)a;
	idt[vec].sel = KCODE;
	idt[vec].type = (uint8_t)(0x8e | dpl << 5);   /* present 64-bit interrupt gate */
	idt[vec].off1 = (uint16_t)(a >> 16);
	idt[vec].off2 = (uint32_t)(a >> 32);
}

void kinit(void)
{
	for (int v = 0; v < 32; v++)
		set_gate(v, exc_table[v], 0);
	set_gate(3, kcall_entry, 3);   /* int3 from CPL3: kcall or breakpoint */
	set_gate(0x20, irq0_entry, 0);
	for (int v = 0x21; v < 0x30; v++)
		set_gate(v, irq_other_entry, 0);

	uint64_t b = (uint64_t)tss, lim = TSS_LIMIT;
	gdt[TSS_SEL / 8] = (lim & 0xffff) | (b & 0xffffff) << 16 | 0x89ULL << 40 |
		((lim >> 16) & 0xf) << 48 | ((b >> 24) & 0xff) << 56;
	gdt[TSS_SEL / 8 + 1] = b >> 32;

	struct table_ptr idtr = { sizeof idt - 1, (uint64_t)idt };
	__asm__ volatile("lidt %0" :: "m"(idtr));
	__asm__ volatile("ltr %w0" :: "r"(TSS_SEL));
}

/* frame: vector, error code, then the CPU's rip, cs, rflags, rsp, ss. */
__attribute__((noreturn)) void on_exception(const uint64_t *frame)
{
	puts_serial("exception ");
	put_dec(frame[0]);
	puts_serial(" at ");
	put_hex16(frame[2]);
	puts_serial(" err ");
	put_hex16(frame[1]);
	putc_serial('\n');
	poweroff();
}
