/* memtouch: the save/restore benchmark's guest. Fills [base, base+touch)
 * MiB with a pattern that depends on each word's address, then runs for
 * ever so that a snapshot can be taken at any point and its restored copy
 * can prove that RAM came back intact.
 * cmdline: touch=MiB (default 256), base=MiB (default 16; the image and its
 * stacks sit below 2 MiB, 3-4 GiB is the uncached hole).
 *
 * Output, exactly:  touched <touch>  then for n = 1, 2, ...  alive <n>
 * after each ~1 ms of CPL3 work (1000 compute steps), and after every 256th
 * alive line  verified <n>  (the same n) once every touched word has been
 * checked, or  corrupt at <address, 16 hex>  and power off. It never powers
 * off otherwise. Everything runs at CPL3 (native speed on kvm_pvm hosts). */
#include "guest.h"
#include "compute-hash.h"

#define MIB          (1ULL << 20)
#define PAGE         4096ULL
#define VERIFY_EVERY 256
#define WORK_STEPS   1000   /* compute steps of ~1 us each */

/* Different in every word and never zero, so every page (and so every
 * snapshot RAM block) holds data, and a page restored to the wrong place
 * or left zero fails the check. */
static inline uint64_t pattern(uint64_t addr)
{
	return ((addr >> 3) * 0x9e3779b97f4a7c15ULL) | 1;
}

static void fill(uint64_t start, uint64_t end)
{
	for (uint64_t a = start; a < end; a += 8)
		*(volatile uint64_t *)a = pattern(a);
}

/* Address of the first wrong word, or 0 if all are right. */
static uint64_t check(uint64_t start, uint64_t end)
{
	for (uint64_t a = start; a < end; a += 8)
		if (*(volatile uint64_t *)a != pattern(a))
			return a;
	return 0;
}

static volatile uint64_t sink;   /* keeps the busy work from being optimized away */

int main(void)
{
	uint64_t touch = cmdline_u64("touch", 256), base = cmdline_u64("base", 16);
	if (base < 2 || touch > 3072 || base + touch > 3072) {
		puts_serial("memtouch: bad base/touch\n");
		return 0;
	}
	uint64_t start = base * MIB, end = start + touch * MIB;
	fill(start, end);
	puts_serial("touched ");
	put_dec(touch);
	putc_serial('\n');

	uint64_t h = COMPUTE_H0;
	for (uint64_t n = 1;; n++) {
		for (uint64_t i = 0; i < WORK_STEPS; i++)
			h = compute_step(h, i);
		sink = h;
		puts_serial("alive ");
		put_dec(n);
		putc_serial('\n');
		if (n % VERIFY_EVERY != 0)
			continue;
		uint64_t bad = check(start, end);
		if (bad) {
			puts_serial("corrupt at ");
			put_hex16(bad);
			putc_serial('\n');
			poweroff();
		}
		puts_serial("verified ");
		put_dec(n);
		putc_serial('\n');
	}
}
