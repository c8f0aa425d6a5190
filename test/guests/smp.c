/* smp: the BSP starts every AP the LAPIC way (INIT, SIPI, SIPI to a
 * real-mode trampoline at 0x10000), each AP reports "cpu <apic id> up",
 * then all CPUs sum compute_step(COMPUTE_H0, i) over disjoint ranges of
 * i in [0, steps) and the BSP prints the total, which does not depend on the
 * CPU count. cmdline: cpus=N (default 1, at most 64; must match the VMM's
 * vCPU count), steps=S (default 20000; one step is ~1 us of CPL3 work),
 * pio=P (default 0): once all are up, the BSP and then AP 1 each do P
 * `outb` to the UART scratch register between "bsp-pio-start"/"bsp-pio-end"
 * (and "ap-pio-start"/"ap-pio-end") lines, to time an AP's exits against
 * the BSP's; the BSP spins meanwhile. off=K (default 0): CPU K powers the
 * machine off once the result is printed (K > 0: from an AP).
 *
 * Output, exactly:  smp cpus=<N> / cpu 1 up / ... / cpu <N-1> up /
 * smp done <sum as 16 hex>, then power off. APs are started one at a time
 * and the BSP waits for each one's line, so the order is fixed. An AP that
 * is up halts (sti; hlt) until the BSP's "go" IPI, and halts for good when
 * its share is done, so that waiting vCPUs do not spin on the host's cores.
 *
 * CPL0 work per AP (emulated on kvm_pvm hosts) is only the trampoline and
 * the descriptor-table loads: everything else, including filling the AP's
 * GDT and TSS and the LAPIC accesses, runs at CPL3. */
#include "guest.h"
#include "layout.h"
#include "compute-hash.h"

#define MAX_CPUS     64
#define TRAMP_BASE   0x10000UL             /* 4 KiB aligned, below 1 MiB */
#define SIPI_VECTOR  (TRAMP_BASE >> 12)
#define LAPIC        ((volatile uint32_t *)0xfee00000UL)
#define LAPIC_ID     (0x20 / 4)
#define LAPIC_SVR    (0xf0 / 4)
#define LAPIC_ICR_LO (0x300 / 4)
#define LAPIC_ICR_HI (0x310 / 4)
#define ICR_INIT     0x4500                /* INIT, assert, edge */
#define ICR_SIPI     0x4600                /* start-up, assert, edge */
#define ICR_ALL_BUT_SELF 0xc4000           /* fixed, assert, shorthand: all excluding self */
#define GO_VECTOR    0x2f                  /* kinit's gate: EOIs the PICs (a no-op here), iretq */

/* Per-AP area in the NOLOAD .stack section: TSS (104 bytes + 8 KiB I/O
 * bitmap + terminator), a GDT with that TSS, a CPL0 stack for exceptions
 * and kcall, and the CPL3 stack. */
#define AP_AREA      0x8000
#define AP_GDT       0x2100
#define AP_KSTACK    0x4000                /* top */
#define AP_USTACK    0x8000                /* top */
#define GDT_SLOTS    7

struct dtr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

/* Read by the AP's start-up code (ap_entry64, CPL0): set by the BSP before
 * each INIT/SIPI, and left alone until that AP has reported in. */
struct dtr ap_gdtr, ap_idtr;
uint64_t ap_kstack, ap_ustack, ap_index;

extern uint64_t gdt[];
extern char ap_tramp[], ap_tramp_end[], ap_area[];

static volatile uint32_t print_lock;
static volatile uint64_t ap_up, ap_done, go, pio_go, pio_done, off_go;
static volatile uint64_t partial[MAX_CPUS];
static uint64_t ncpus, nsteps, npio, off_cpu;

/* Real mode at 0x1000:0000 -> 32-bit protected mode -> long mode, on the
 * trampoline's own GDT (copied along with the code), then a jump to
 * ap_entry64 in the image proper. Position dependent on TRAMP_BASE. */
__asm__(
	"	.pushsection .rodata\n"
	"	.balign 16\n"
	"	.code16\n"
	"ap_tramp:\n"
	"	cli\n"
	"	lgdtl %cs:tramp_gdtr - ap_tramp\n"
	"	movl %cr0, %eax\n"
	"	orl $1, %eax\n"                        /* PE */
	"	movl %eax, %cr0\n"
	"	ljmpl $0x08, $(0x10000 + tramp32 - ap_tramp)\n"
	"	.code32\n"
	"tramp32:\n"
	"	movl $0x10, %eax\n"
	"	movl %eax, %ds\n"
	"	movl %eax, %es\n"
	"	movl %eax, %ss\n"
	"	movl %cr4, %eax\n"
	"	orl $0x20, %eax\n"                     /* PAE */
	"	movl %eax, %cr4\n"
	"	movl $pml4, %eax\n"                    /* the BSP's identity map (tables.S) */
	"	movl %eax, %cr3\n"
	"	movl $0xc0000080, %ecx\n"              /* EFER.LME */
	"	rdmsr\n"
	"	orl $0x100, %eax\n"
	"	wrmsr\n"
	"	movl %cr0, %eax\n"
	"	orl $0x80000000, %eax\n"               /* PG: compatibility mode */
	"	movl %eax, %cr0\n"
	"	ljmp $0x18, $(0x10000 + tramp64 - ap_tramp)\n"
	"	.code64\n"
	"tramp64:\n"
	"	movl $ap_entry64, %eax\n"
	"	jmp *%rax\n"
	"	.balign 8\n"
	"tramp_gdt:\n"
	"	.quad 0\n"
	"	.quad 0x00cf9b000000ffff\n"            /* 0x08 code32 */
	"	.quad 0x00cf93000000ffff\n"            /* 0x10 data */
	"	.quad 0x00af9b000000ffff\n"            /* 0x18 code64 */
	"tramp_gdtr:\n"
	"	.word 31\n"
	"	.long 0x10000 + tramp_gdt - ap_tramp\n"
	"ap_tramp_end:\n"
	"	.popsection\n"
	"\n"
	/* Long mode, CPL0: this AP's GDT (with its own TSS), the shared IDT,
	 * its stacks, then iretq to ap_main(ap_index) at CPL3 with IF=0. */
	"	.pushsection .text\n"
	"	.code64\n"
	"ap_entry64:\n"
	"	lgdt ap_gdtr(%rip)\n"
	"	lidt ap_idtr(%rip)\n"
	"	movl $0x10, %eax\n"
	"	movl %eax, %ds\n"
	"	movl %eax, %es\n"
	"	movl %eax, %ss\n"
	"	xorl %eax, %eax\n"
	"	movl %eax, %fs\n"
	"	movl %eax, %gs\n"
	"	movq ap_kstack(%rip), %rsp\n"
	"	pushq $0x08\n"
	"	leaq 1f(%rip), %rax\n"
	"	pushq %rax\n"
	"	lretq\n"
	"1:	movl $0x28, %eax\n"
	"	ltr %ax\n"
	"	movq ap_index(%rip), %rdi\n"
	"	pushq $0x1b\n"                         /* UDATA */
	"	pushq ap_ustack(%rip)\n"
	"	pushq $0x2\n"                          /* IF=0: APs take no interrupts */
	"	pushq $0x23\n"                         /* UCODE */
	"	leaq ap_user(%rip), %rax\n"
	"	pushq %rax\n"
	"	iretq\n"
	"ap_user:\n"
	"	call ap_main\n"
	"	ud2\n"
	"	.popsection\n"
	"\n"
	"	.pushsection .stack, \"aw\", @nobits\n"
	"	.balign 4096\n"
	"ap_area:\n"
	"	.skip 0x8000 * 64\n"
	"	.popsection\n");

_Static_assert(AP_AREA == 0x8000 && MAX_CPUS == 64, "keep the .skip above in step");
_Static_assert(KDATA == 0x10 && KCODE == 0x08 && TSS_SEL == 0x28 && UDATA == 0x1b && UCODE == 0x23,
	       "ap_entry64 hard-codes the selectors of layout.h");

static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static void lock(void)
{
	while (__atomic_exchange_n(&print_lock, 1, __ATOMIC_ACQUIRE))
		while (print_lock)
			cpu_relax();
}

static void unlock(void) { __atomic_store_n(&print_lock, 0, __ATOMIC_RELEASE); }

static uint64_t sum_range(uint64_t cpu)
{
	uint64_t from = nsteps * cpu / ncpus, to = nsteps * (cpu + 1) / ncpus, h = 0;
	for (uint64_t i = from; i < to; i++)
		h += compute_step(COMPUTE_H0, i);
	return h;
}

static void pio_bench(const char *who)
{
	lock();
	puts_serial(who);
	puts_serial("-pio-start\n");
	for (uint64_t i = 0; i < npio; i++)
		outb(COM1_SCR, (uint8_t)i);
	puts_serial(who);
	puts_serial("-pio-end\n");
	unlock();
}

static void save_idtr(void) { __asm__ volatile("sidt %0" : "=m"(ap_idtr)); }

/* CPL0, IF=0 (kcall enters through an interrupt gate): sleep in KVM until
 * the go IPI. An IPI that came before the sti is pending and ends the hlt. */
static void wait_for_go(void)
{
	while (!go)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
}

static void halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* CPL3 on each AP. */
__attribute__((used, noreturn)) void ap_main(uint64_t index)
{
	uint32_t id = LAPIC[LAPIC_ID] >> 24;
	LAPIC[LAPIC_SVR] = 0x1ff;   /* software-enabled, or the go IPI is dropped */
	lock();
	puts_serial("cpu ");
	put_dec(id);
	puts_serial(" up\n");
	unlock();
	__atomic_add_fetch(&ap_up, 1, __ATOMIC_SEQ_CST);
	kcall(wait_for_go);
	if (index == 1 && npio) {
		while (!pio_go)
			cpu_relax();
		pio_bench("ap");
		pio_done = 1;
	}
	partial[index] = sum_range(index);
	__atomic_add_fetch(&ap_done, 1, __ATOMIC_SEQ_CST);
	if (index == off_cpu) {
		while (!off_go)
			cpu_relax();
		poweroff();
	}
	kcall(halt_forever);   /* cli; hlt at CPL0: the vCPU sleeps in KVM */
	for (;;)
		cpu_relax();
}

static void prepare_ap(uint64_t i)
{
	uint8_t *area = (uint8_t *)ap_area + i * AP_AREA, *tss = area;
	for (int b = 0; b < TSS_LIMIT; b++)
		tss[b] = 0;
	tss[TSS_LIMIT] = 0xff;
	*(volatile uint64_t *)(tss + 4) = (uint64_t)(area + AP_KSTACK);   /* rsp0 */
	*(volatile uint16_t *)(tss + 0x66) = TSS_IOMAP;
	uint64_t *g = (uint64_t *)(area + AP_GDT), b = (uint64_t)tss, lim = TSS_LIMIT;
	for (int s = 0; s < TSS_SEL / 8; s++)
		g[s] = gdt[s];
	g[TSS_SEL / 8] = (lim & 0xffff) | (b & 0xffffff) << 16 | 0x89ULL << 40 |
		((lim >> 16) & 0xf) << 48 | ((b >> 24) & 0xff) << 56;
	g[TSS_SEL / 8 + 1] = b >> 32;
	ap_gdtr.limit = GDT_SLOTS * 8 - 1;
	ap_gdtr.base = (uint64_t)g;
	ap_kstack = (uint64_t)(area + AP_KSTACK);
	ap_ustack = (uint64_t)(area + AP_USTACK);
	ap_index = i;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void send_ipi(uint64_t apic_id, uint32_t icr)
{
	LAPIC[LAPIC_ICR_HI] = (uint32_t)apic_id << 24;
	LAPIC[LAPIC_ICR_LO] = icr;
}

static void wait_until(volatile uint64_t *counter, uint64_t value, const char *what, uint64_t cpu)
{
	uint64_t start = rdtsc();
	while (*counter < value) {
		cpu_relax();
		if (rdtsc() - start > 30000000000ULL) {   /* ~10 s: something is broken */
			lock();
			puts_serial("smp: timed out waiting for ");
			puts_serial(what);
			putc_serial(' ');
			put_dec(cpu);
			putc_serial('\n');
			unlock();
			poweroff();
		}
	}
}

int main(void)
{
	ncpus = cmdline_u64("cpus", 1);
	nsteps = cmdline_u64("steps", 20000);
	npio = cmdline_u64("pio", 0);
	off_cpu = cmdline_u64("off", 0);
	if (ncpus < 1)
		ncpus = 1;
	if (ncpus > MAX_CPUS)
		ncpus = MAX_CPUS;
	puts_serial("smp cpus=");
	put_dec(ncpus);
	putc_serial('\n');

	if (ncpus > 1) {
		kcall(save_idtr);
		for (char *s = ap_tramp, *d = (char *)TRAMP_BASE; s < ap_tramp_end; s++, d++)
			*d = *s;
		LAPIC[LAPIC_SVR] = 0x1ff;   /* software-enable the BSP's LAPIC */
		for (uint64_t i = 1; i < ncpus; i++) {
			prepare_ap(i);
			send_ipi(i, ICR_INIT);
			send_ipi(i, ICR_SIPI | SIPI_VECTOR);
			send_ipi(i, ICR_SIPI | SIPI_VECTOR);   /* ignored unless the first was lost */
			wait_until(&ap_up, i, "cpu", i);
		}
	}

	if (npio)
		pio_bench("bsp");   /* the APs are halted meanwhile */

	go = 1;
	if (ncpus > 1)
		LAPIC[LAPIC_ICR_LO] = ICR_ALL_BUT_SELF | GO_VECTOR;
	if (npio && ncpus > 1) {
		pio_go = 1;
		wait_until(&pio_done, 1, "the PIO run of cpu", 1);
	}
	uint64_t h = sum_range(0);
	wait_until(&ap_done, ncpus - 1, "the sums of", ncpus - 1);
	for (uint64_t i = 1; i < ncpus; i++)
		h += partial[i];
	lock();
	puts_serial("smp done ");
	put_hex16(h);
	putc_serial('\n');
	unlock();
	if (off_cpu > 0 && off_cpu < ncpus) {
		off_go = 1;
		for (;;)
			cpu_relax();   /* CPU off_cpu powers off */
	}
	return 0;
}
