/* Event delivery and I/O probes for the soft CPU (test/kernel/soft). One
 * case per boot, chosen by `case=` on the cmdline; each prints one line:
 *   <case> vec=<dec> err=<hex16> cr2=<hex16> rip=<hex16> want=<hex16>
 *          cs=<hex16> ss=<hex16> rsp=<hex16> frame=<hex16> kstack=<hex16>
 * where `want` is where RIP must point (the faulting instruction for a
 * fault, the next one for a trap or int n) and `frame` where the CPU put
 * its frame (on the TSS's RSP0 stack after a CPL3 -> CPL0 switch). */
#include "guest.h"

extern char stub_de[], stub_bp[], stub_ud[], stub_nm[], stub_gp[], stub_pf[], stub_3a[], stub_nmi[], stub_ext[], syscall_entry[];
extern char kstack_top[];

volatile uint64_t fault_vec = ~0ull, fault_err, fault_cr2, fault_rip, fault_cs, fault_rflags, fault_rsp, fault_ss,
		  fault_frame, resume_at, want_at, after_at;
volatile uint64_t sys_rcx, sys_r11, sys_cs, sys_ss, sys_rflags;

/* `insn` runs at label 1; resume_at is label 2 (just after it). */
#define TRY(setup, insn) \
	__asm__ volatile(setup "\n\tleaq 1f(%%rip), %%rax; movq %%rax, want_at(%%rip); leaq 2f(%%rip), %%rax; " \
			 "movq %%rax, resume_at(%%rip); movq %%rax, after_at(%%rip)\n1:\t" insn "\n2:" \
			 ::: "rax", "rcx", "rdx", "memory", "cc")

static void line(const char *name, uint64_t want)
{
	puts_serial(name);
	puts_serial(" vec="); put_dec(fault_vec);
	puts_serial(" err="); put_hex16(fault_err);
	puts_serial(" cr2="); put_hex16(fault_cr2);
	puts_serial(" rip="); put_hex16(fault_rip);
	puts_serial(" want="); put_hex16(want);
	puts_serial(" cs="); put_hex16(fault_cs);
	puts_serial(" ss="); put_hex16(fault_ss);
	puts_serial(" rsp="); put_hex16(fault_rsp);
	puts_serial(" frame="); put_hex16(fault_frame);
	puts_serial(" kstack="); put_hex16((uint64_t)kstack_top);
	puts_serial("\n");
}

static int is(const char *c, const char *name)
{
	while (*c && *c == *name) { c++; name++; }
	return *c == 0 && *name == 0;
}

static void k_read_np(void) { TRY("movabs $0x1234567000, %%rcx", "movq (%%rcx), %%rax"); }
static void k_rdmsr(void) { TRY("movl $0x12345, %%ecx", "rdmsr"); }
static void k_set_ts(void) { __asm__ volatile("movq %%cr0, %%rax; orq $8, %%rax; movq %%rax, %%cr0" ::: "rax"); }
static void k_syscall_on(void)
{
	/* STAR: kernel CS 0x08 (SS 0x10), sysret base 0x10 (CS 0x20|3, SS 0x18|3); SFMASK: IF|TF|DF|AC. */
	__asm__ volatile("movl $0xc0000081, %%ecx; xorl %%eax, %%eax; movl $0x00100008, %%edx; wrmsr\n\t"
			 "movl $0xc0000082, %%ecx; movq %0, %%rax; movq %%rax, %%rdx; shrq $32, %%rdx; wrmsr\n\t"
			 "movl $0xc0000084, %%ecx; movl $0x47700, %%eax; xorl %%edx, %%edx; wrmsr\n\t"
			 "movl $0xc0000080, %%ecx; rdmsr; orl $1, %%eax; wrmsr"
			 :: "r"((uint64_t)syscall_entry) : "rax", "rcx", "rdx");
}

/* mov $1, %eax; ret: code in RAM the guest and the host rewrite. */
static uint8_t fn_code[16] __attribute__((aligned(16))) = {0xb8, 1, 0, 0, 0, 0xc3};
typedef uint32_t (*fn_t)(void);

/* Waits for interrupts forever with IF set: the vCPU halts, nothing wakes it. */
static void k_idle(void)
{
	for (;;)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static void k_write_tsc(void)
{
	__asm__ volatile("movl $0x10, %%ecx; xorl %%eax, %%eax; movl $0x100, %%edx; wrmsr" ::: "rax", "rcx", "rdx");
}

static volatile uint64_t msr_tsc;
static void k_read_tsc_msr(void)
{
	uint32_t lo, hi;
	__asm__ volatile("movl $0x10, %%ecx; rdmsr" : "=a"(lo), "=d"(hi) :: "rcx");
	msr_tsc = (uint64_t)hi << 32 | lo;
}

static uint32_t inl(uint16_t p) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static uint16_t inw(uint16_t p) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static void outl(uint16_t p, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(p)); }

int main(void)
{
	const char *c = cmdline_get("case");
	if (c == 0) c = "";
	set_gate(0, stub_de, 0);
	set_gate(6, stub_ud, 0);
	set_gate(7, stub_nm, 0);
	set_gate(13, stub_gp, 0);
	set_gate(14, stub_pf, 0);
	if (is(c, "pf")) {            /* CPL3 write to a page the tables do not map */
		TRY("movabs $0x1234567000, %%rcx", "movq $1, (%%rcx)");
		line(c, want_at);
	} else if (is(c, "pfr")) {    /* CPL3 read */
		TRY("movabs $0x1234567000, %%rcx", "movq (%%rcx), %%rax");
		line(c, want_at);
	} else if (is(c, "pfk")) {    /* CPL0 read: no stack switch */
		kcall(k_read_np);
		line(c, want_at);
	} else if (is(c, "ud")) {
		TRY("", "ud2");
		line(c, want_at);
	} else if (is(c, "gp")) {     /* non-canonical address */
		TRY("movabs $0x8000000000000000, %%rcx", "movq (%%rcx), %%rax");
		line(c, want_at);
	} else if (is(c, "gph")) {    /* privileged instruction at CPL3 */
		TRY("", "hlt");
		line(c, want_at);
	} else if (is(c, "de")) {
		TRY("xorl %%ecx, %%ecx", "divq %%rcx");
		line(c, want_at);
	} else if (is(c, "nm")) {     /* SSE with CR0.TS set */
		kcall(k_set_ts);
		TRY("", "movaps %%xmm0, %%xmm1");
		line(c, want_at);
	} else if (is(c, "msr")) {    /* rdmsr of an MSR nothing implements, at CPL0 */
		kcall(k_rdmsr);
		line(c, want_at);
	} else if (is(c, "int3")) {   /* through a DPL3 gate: a trap, RIP after it */
		set_gate(3, stub_bp, 3);
		TRY("", "int3");
		line(c, after_at);
	} else if (is(c, "intn")) {
		set_gate(0x3a, stub_3a, 3);
		TRY("", "int $0x3a");
		line(c, after_at);
	} else if (is(c, "intdpl")) { /* gate DPL 0 < CPL 3: #GP(vector * 8 + 2) at the int */
		set_gate(0x3b, stub_3a, 0);
		TRY("", "int $0x3b");
		line(c, want_at);
	} else if (is(c, "intlimit")) {  /* beyond the IDT's limit (0x40 gates) */
		TRY("", "int $0x80");
		line(c, want_at);
	} else if (is(c, "syscall")) {
		TRY("", "syscall");              /* EFER.SCE clear: #UD */
		line("syscall-off", want_at);
		kcall(k_syscall_on);
		uint64_t rflags;
		__asm__ volatile("syscall; pushfq; popq %0" : "=r"(rflags) :: "rcx", "r11", "rax", "memory");
		puts_serial("syscall rcx="); put_hex16(sys_rcx);
		puts_serial(" r11="); put_hex16(sys_r11);
		puts_serial(" cs="); put_hex16(sys_cs);
		puts_serial(" ss="); put_hex16(sys_ss);
		puts_serial(" kflags="); put_hex16(sys_rflags);
		puts_serial(" uflags="); put_hex16(rflags);
		puts_serial("\n");
	} else if (is(c, "pio")) {    /* IN replies reach the register, OUT carries what the guest computed */
		uint32_t a = inl(0x510);
		uint16_t b = inw(0x512);
		uint8_t d = inb(0x514);
		outl(0x518, a + 1);
		outl(0x518, (uint32_t)b + 2);
		outl(0x518, (uint32_t)d + 3);
		puts_serial("pio done\n");
	} else if (is(c, "mmio")) {
		volatile uint32_t *m32 = (volatile uint32_t *)0xd0000000UL;
		volatile uint64_t *m64 = (volatile uint64_t *)0xd0000008UL;
		volatile uint8_t *m8 = (volatile uint8_t *)0xd0000010UL;
		uint32_t a = *m32;
		uint64_t b = *m64;
		uint8_t d = *m8;
		*m64 = b + 1;
		*m32 = a + 1;
		*m8 = (uint8_t)(d + 1);
		puts_serial("mmio "); put_hex16(a); putc_serial(' '); put_hex16(b); putc_serial(' '); put_hex16(d); putc_serial('\n');
	} else if (is(c, "nmi") || is(c, "irq")) {
		/* Ask the host (port 0xe1: NMI, 0xe2: vector 0x31) and spin at CPL3 until it arrives. */
		int nmi = is(c, "nmi");
		set_gate(nmi ? 2 : 0x31, nmi ? stub_nmi : stub_ext, 0);
		if (nmi)
			__asm__ volatile("leaq 2f(%%rip), %%rax; movq %%rax, resume_at(%%rip); outb %%al, $0xe1\n1: jmp 1b\n2:" ::: "rax", "memory");
		else
			__asm__ volatile("leaq 2f(%%rip), %%rax; movq %%rax, resume_at(%%rip); outb %%al, $0xe2\n1: jmp 1b\n2:" ::: "rax", "memory");
		line(c, fault_rip);
	} else if (is(c, "cpuid")) {
		uint32_t r[4];
		const uint32_t leaves[] = {0, 1, 7, 0x40000000, 0x80000001, 0x80000008};
		puts_serial("cpuid");
		for (unsigned i = 0; i < sizeof leaves / sizeof leaves[0]; i++) {
			__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaves[i]), "c"(0));
			for (int k = 0; k < 4; k++) { putc_serial(' '); put_hex16(r[k]); }
		}
		putc_serial('\n');
	} else if (is(c, "tsc")) {   /* port 0xe3: the host may snapshot and restore the machine here */
		uint64_t t1 = rdtsc();
		outb(0xe3, 0);
		uint64_t t2 = rdtsc();
		kcall(k_write_tsc);        /* IA32_TSC = 0x10000000000 */
		uint64_t t3 = rdtsc();
		kcall(k_read_tsc_msr);
		uint64_t t4 = rdtsc();
		puts_serial("tsc "); put_hex16(t1); putc_serial(' '); put_hex16(t2); putc_serial(' ');
		put_hex16(t3); putc_serial(' '); put_hex16(msr_tsc); putc_serial(' '); put_hex16(t4); putc_serial('\n');
	} else if (is(c, "stores")) {  /* store-heavy: 16 passes over 16 MiB at 16 MiB */
		volatile uint64_t *buf = (volatile uint64_t *)(16UL << 20);
		uint64_t sum = 0;
		for (uint64_t pass = 0; pass < 16; pass++)
			for (uint64_t i = 0; i < (16UL << 20) / 8; i++)
				buf[i] = i ^ pass;
		for (uint64_t i = 0; i < (16UL << 20) / 8; i++)
			sum += buf[i];
		puts_serial("stores "); put_hex16(sum); putc_serial('\n');
	} else if (is(c, "smc")) {   /* code rewritten by the guest itself, then by the host (port 0x520: where) */
		*(volatile uint8_t *)&fn_code[15] = 0;  /* a store to the page before it holds code */
		uint32_t r1 = ((fn_t)fn_code)();
		*(volatile uint8_t *)&fn_code[1] = 9;
		uint32_t r2 = ((fn_t)fn_code)();
		outl(0x520, (uint32_t)(uint64_t)fn_code);
		uint32_t r3 = ((fn_t)fn_code)();
		puts_serial("smc "); put_dec(r1); putc_serial(' '); put_dec(r2); putc_serial(' '); put_dec(r3); putc_serial('\n');
	} else if (is(c, "mmiofetch")) {  /* jump into MMIO: nothing the soft CPU can execute */
		puts_serial("jumping\n");
		((void (*)(void))0xd0000000UL)();
	} else if (is(c, "idle")) {
		puts_serial("idle\n");
		kcall(k_idle);
	} else if (is(c, "spin")) {
		puts_serial("spin\n");
		for (;;)
			__asm__ volatile("" ::: "memory");
	} else {
		puts_serial("unknown case\n");
	}
	return 0;
}
