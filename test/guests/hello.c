/* hello: echo the cmdline, then power off. */
#include "guest.h"

int main(void)
{
	puts_serial("hello: ");
	puts_serial(cmdline_raw());
	puts_serial("\nbye\n");
	return 0;
}
