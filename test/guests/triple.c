/* triple: load an empty IDT at CPL0 and fault: #UD cannot be delivered, nor
 * the #GP, nor the #DF, so the CPU shuts down (KVM_EXIT_SHUTDOWN). */
#include "guest.h"

static void triple_fault(void)
{
	static const struct { uint16_t limit; uint64_t base; } __attribute__((packed)) empty = { 0, 0 };
	__asm__ volatile("lidt %0; ud2" :: "m"(empty));
}

int main(void)
{
	puts_serial("about to triple fault\n");
	kcall(triple_fault);
	puts_serial("still alive after triple fault?\n");
	return 1;
}
