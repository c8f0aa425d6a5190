/* memwrite: the background checkpoint's guest. Rewrites the first word of
 * every 4 KiB page of [base, base+size) MiB in rounds, checking before each
 * write that the page still holds what the previous round wrote, and prints
 * a tick every `every` us so that the host can read the guest's longest
 * stall from the gaps between tick lines.
 * cmdline: size=MiB (default 256), base=MiB (default 16; the image and its
 * stacks sit below 2 MiB, 3-4 GiB is the uncached hole), every=us (default
 * 500; 0 = no ticks), tsc_khz=kHz (default 0: measure the TSC against the
 * ACPI PM timer at 0x408, which only bhyve has there; QEMU's microvm has no
 * PM timer, so the bench passes the host's TSC rate, which KVM and TCG
 * guests read).
 *
 * Output, exactly:  memwrite <size>  once, then for rounds r = 1, 2, ...
 * round <r>  after the round; between pages  tick <n>  (n = 1, 2, ...) once
 * at least `every` us of TSC time passed since the previous tick (no
 * catching up: a stall shows as one long gap, not a burst). The TSC is read
 * every CHECK_PAGES pages, to keep the check cheap. A page whose
 * first word is not v(p, r-1) prints  corrupt at <address, 16 hex> round <r>
 * and powers off. It never powers off otherwise. Everything but the tick
 * timing is deterministic.
 *
 * Why: a snapshot of a paused instant restores the page words of exactly
 * one round boundary position; a page captured later than the pause holds a
 * future round's value and the restored guest prints corrupt. */
#include "guest.h"

#define MIB    (1ULL << 20)
#define PAGE   4096ULL
#define PM_TMR 0x408        /* ACPI PM timer: 3.579545 MHz, 24 bits */
#define PM_HZ  3579545ULL
#define CHECK_PAGES 64

/* v(p, 0) = 0 (never-written RAM); for r >= 1 never 0 and different for
 * every (page, round): round in the high half, page number in the low. */
static inline uint64_t value(uint64_t page_addr, uint64_t round)
{
	return round == 0 ? 0 : (round << 32) | (uint32_t)(page_addr / PAGE);
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static inline uint32_t pm_timer(void)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"((uint16_t)PM_TMR));
	return v & 0xffffff;
}

/* TSC ticks per ms, measured over 20 ms of the PM timer (works whatever
 * rate the CPU's TSC runs at: the host's on KVM, 1 GHz on the soft CPU). */
static uint64_t tsc_per_ms(void)
{
	const uint32_t span = (uint32_t)(PM_HZ * 20 / 1000);
	uint32_t start = pm_timer(), now;
	while ((now = pm_timer()) == start)   /* start on an edge */
		;
	start = now;
	uint64_t t0 = rdtsc();
	while (((pm_timer() - start) & 0xffffff) < span)
		;
	uint64_t per_ms = (rdtsc() - t0) / 20;
	return per_ms ? per_ms : 1;
}

int main(void)
{
	uint64_t size = cmdline_u64("size", 256), base = cmdline_u64("base", 16);
	uint64_t every = cmdline_u64("every", 500);
	if (base < 2 || size == 0 || size > 3072 || base + size > 3072) {
		puts_serial("memwrite: bad base/size\n");
		return 0;
	}
	uint64_t start = base * MIB, end = start + size * MIB;
	uint64_t tsc_khz = cmdline_u64("tsc_khz", 0);
	uint64_t tick_tsc = every ? (tsc_khz ? tsc_khz : tsc_per_ms()) * every / 1000 : 0;
	if (every && tick_tsc == 0)
		tick_tsc = 1;
	puts_serial("memwrite ");
	put_dec(size);
	putc_serial('\n');

	uint64_t tick = 0, next_tick = rdtsc() + tick_tsc;
	for (uint64_t r = 1;; r++) {
		for (uint64_t p = start; p < end; p += PAGE) {
			volatile uint64_t *w = (volatile uint64_t *)p;
			if (*w != value(p, r - 1)) {
				puts_serial("corrupt at ");
				put_hex16(p);
				puts_serial(" round ");
				put_dec(r);
				putc_serial('\n');
				poweroff();
			}
			*w = value(p, r);
			if (tick_tsc && (p & (CHECK_PAGES * PAGE - 1)) == 0) {
				uint64_t now = rdtsc();
				if (now >= next_tick) {
					puts_serial("tick ");
					put_dec(++tick);
					putc_serial('\n');
					next_tick = now + tick_tsc;
				}
			}
		}
		puts_serial("round ");
		put_dec(r);
		putc_serial('\n');
	}
}
