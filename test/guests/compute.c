/* compute: the hash chain of compute-hash.h at CPL3.
 * cmdline: steps=N (default 1000) every=K (default 100, 0 = no step lines). */
#include "guest.h"
#include "compute-hash.h"

int main(void)
{
	uint64_t steps = cmdline_u64("steps", 1000), every = cmdline_u64("every", 100);
	uint64_t h = COMPUTE_H0;
	for (uint64_t i = 0; i < steps; i++) {
		h = compute_step(h, i);
		if (every && (i + 1) % every == 0) {
			puts_serial("step ");
			put_dec(i + 1);
			putc_serial(' ');
			put_hex16(h);
			putc_serial('\n');
		}
	}
	puts_serial("done ");
	put_hex16(h);
	putc_serial('\n');
	return 0;
}
