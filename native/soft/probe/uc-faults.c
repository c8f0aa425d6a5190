/* How plain Unicorn 2.0.1 (no addon) reports what a guest does: the facts
 * docs/soft-cpu.md's table comes from. Build and run:
 *   gcc -O2 -o /tmp/uc-faults native/soft/probe/uc-faults.c -lunicorn && /tmp/uc-faults
 * Each case runs a few bytes of 64-bit code at CPL0 under 4-level paging
 * (identity map of the first 1 GiB, 2 MiB pages, except the 2 MiB page at
 * 0x200000, left not present) and prints what UC_HOOK_INTR saw (vector,
 * RIP then, CR2), what uc_emu_start returned, and RIP and RAX/RDX after. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unicorn/unicorn.h>

#define RAM (64u << 20)
static uint8_t *ram;
static int hooked, intno = -1;
static uint64_t hookRip, hookCr2;

static void onIntr(uc_engine *uc, uint32_t n, void *u)
{
	(void)u;
	intno = (int)n;
	uc_reg_read(uc, UC_X86_REG_RIP, &hookRip);
	uc_reg_read(uc, UC_X86_REG_CR2, &hookCr2);
	uc_emu_stop(uc);
}

static bool onInvalid(uc_engine *uc, void *u)
{
	(void)u;
	uc_reg_read(uc, UC_X86_REG_RIP, &hookRip);
	intno = 6;
	return false;  /* not handled: UC_ERR_INSN_INVALID */
}

static void run(const char *name, const uint8_t *code, size_t n, uint64_t cr0)
{
	uc_engine *uc;
	uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
	uc_mem_map_ptr(uc, 0, RAM, UC_PROT_ALL, ram);
	uint64_t *pml4 = (uint64_t *)(ram + 0x1000), *pdpt = (uint64_t *)(ram + 0x2000), *pd = (uint64_t *)(ram + 0x3000);
	memset(ram + 0x1000, 0, 0x3000);
	pml4[0] = 0x2000 | 3;
	pdpt[0] = 0x3000 | 3;
	for (int i = 0; i < 512; i++) pd[i] = i == 1 ? 0 : ((uint64_t)i << 21) | 0x83;
	uint64_t cr3 = 0x1000, cr4 = 0x20, rsp = 0x7000, zero = 0;
	uc_x86_msr efer = {0xc0000080, 0x500}, lstar = {0xc0000082, 0x100000};
	uc_reg_write(uc, UC_X86_REG_CR3, &cr3);
	uc_reg_write(uc, UC_X86_REG_CR4, &cr4);
	uc_reg_write(uc, UC_X86_REG_MSR, &efer);
	uc_reg_write(uc, UC_X86_REG_MSR, &lstar);
	uc_reg_write(uc, UC_X86_REG_CR0, &cr0);
	uc_reg_write(uc, UC_X86_REG_RSP, &rsp);
	uc_reg_write(uc, UC_X86_REG_RAX, &zero);
	uc_x86_mmr gdtr = {0, 0x500, 0x17, 0};
	uc_reg_write(uc, UC_X86_REG_GDTR, &gdtr);
	uc_hook h;
	if (hooked) uc_hook_add(uc, &h, UC_HOOK_INTR, onIntr, NULL, 1, 0);
	uc_hook_add(uc, &h, UC_HOOK_INSN_INVALID, onInvalid, NULL, 1, 0);
	memset(ram + 0x10000, 0xf4, 64);
	memcpy(ram + 0x10000 + 8, code, n);  /* 8 nops first: shows whether RIP is that of the block start */
	memset(ram + 0x10000, 0x90, 8);
	intno = -1;
	hookRip = hookCr2 = 0;
	uc_err e = uc_emu_start(uc, 0x10000, 0, 0, 100);
	uint64_t rip, rax, rdx;
	uc_reg_read(uc, UC_X86_REG_RIP, &rip);
	uc_reg_read(uc, UC_X86_REG_RAX, &rax);
	uc_reg_read(uc, UC_X86_REG_RDX, &rdx);
	printf("%-34s insn at 0x10008: hook vector %3d rip 0x%lx cr2 0x%lx | %-28s rip 0x%lx rax 0x%lx rdx 0x%lx\n", name, intno,
	       hookRip, hookCr2, uc_strerror(e), rip, rax, rdx);
	uc_close(uc);
}

int main(void)
{
	ram = mmap(0, RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	const uint8_t pf[] = {0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0xf4};                   /* mov 0x200000,%rax */
	const uint8_t unmapped[] = {0x48, 0xa1, 0, 0, 0, 0, 0x80, 0, 0, 0, 0xf4};                        /* mov 0x8000000000,%rax */
	const uint8_t noncanon[] = {0x48, 0xa1, 0, 0, 0, 0, 0, 0, 0, 0x80, 0xf4};                        /* mov 0x8000000000000000,%rax */
	const uint8_t gp[] = {0xb8, 0x38, 0x12, 0, 0, 0x8e, 0xd8, 0xf4};                                  /* mov $0x1238,%eax; mov %eax,%ds */
	const uint8_t de[] = {0x31, 0xc9, 0x48, 0xf7, 0xf1, 0xf4};                                         /* xor %ecx,%ecx; div %rcx */
	const uint8_t ud[] = {0x0f, 0x0b, 0xf4};                                                           /* ud2 */
	const uint8_t nm[] = {0x0f, 0x28, 0xc8, 0xf4};                                                     /* movaps %xmm0,%xmm1 (CR0.TS) */
	const uint8_t badmsr[] = {0xb9, 0x45, 0x23, 0x01, 0x00, 0x0f, 0x32, 0xf4};                         /* rdmsr 0x12345 */
	const uint8_t tscmsr[] = {0xb9, 0x10, 0, 0, 0, 0x0f, 0x32, 0xf4};                                  /* rdmsr 0x10 */
	const uint8_t rdtsc[] = {0x0f, 0x31, 0xf4};
	const uint8_t sysc[] = {0x0f, 0x05, 0xf4};                                                         /* syscall (LSTAR 0x100000) */
	const uint8_t intn[] = {0xcd, 0x80, 0xf4};
	const uint8_t hlt[] = {0xf4};
	const uint64_t PG = 0x80000011;
	for (hooked = 1; hooked >= 0; hooked--) {
		printf(hooked ? "--- with UC_HOOK_INTR\n" : "--- without UC_HOOK_INTR\n");
		run("#PF (page not present)", pf, sizeof pf, PG);
		run("linear address outside every region", unmapped, sizeof unmapped, PG);
		run("non-canonical address", noncanon, sizeof noncanon, PG);
		run("#GP (selector beyond GDT limit)", gp, sizeof gp, PG);
		run("#DE", de, sizeof de, PG);
		run("#UD (ud2)", ud, sizeof ud, PG);
		run("#NM (SSE, CR0.TS)", nm, sizeof nm, PG | 8);
		run("rdmsr of an unknown MSR", badmsr, sizeof badmsr, PG);
		run("rdmsr IA32_TSC", tscmsr, sizeof tscmsr, PG);
		run("rdtsc", rdtsc, sizeof rdtsc, PG);
		run("syscall", sysc, sizeof sysc, PG);
		run("int $0x80", intn, sizeof intn, PG);
		run("hlt", hlt, sizeof hlt, PG);
	}
	uc_engine *uc;
	uc_hook h;
	uc_open(UC_ARCH_X86, UC_MODE_64, &uc);
	uc_err e = uc_hook_add(uc, &h, UC_HOOK_INSN, (void *)onIntr, NULL, 1, 0, UC_X86_INS_RDTSC);
	printf("UC_HOOK_INSN on UC_X86_INS_RDTSC: %s\n", uc_strerror(e));
	return 0;
}
