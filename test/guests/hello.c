/* hello: echo the cmdline, then power off; with `halt=1` in it, stop with
 * interrupts disabled instead (bhyve's "halted" exit). */
#include "guest.h"

static void halt_for_good(void)
{
	__asm__ volatile("cli; hlt");
}

int main(void)
{
	puts_serial("hello: ");
	puts_serial(cmdline_raw());
	puts_serial("\n");
	if (cmdline_get("halt") != 0)
		kcall(halt_for_good);
	puts_serial("bye\n");
	return 0;
}
