/* pio-baseline: the smallest honest KVM VMM for the bhyve-ts test guests.
 *
 *   pio-baseline [-t] <guest.elf> [cmdline]
 *
 * Boots a PVH ELF (Xen PHYS32_ENTRY note: 32-bit protected mode, %ebx =
 * hvm_start_info) or a plain ELF64 (long mode, identity paging, %rsi =
 * hvm_start_info) in 256 MiB, copies COM1 output to stdout, and exits 0 on
 * the ACPI power-off write, 3 on a triple fault (KVM_EXIT_SHUTDOWN), 2 on
 * anything else. Each output line is timestamped when its '\n' arrives;
 * -t prints every line with its time (ms since KVM_RUN began) to stderr.
 * If the guest printed pio-start/pio-end/mmio-start/mmio-end, the exit cost
 * is reported on stderr as pio_ns_per_exit=.. mmio_ns_per_exit=.., using
 * pio=N and mmio=M from the cmdline (defaults as in piobench.c).
 *
 * This is the baseline the TypeScript VMM is benchmarked against: the exit
 * path does nothing but decode the port and store a byte. */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RAM_SIZE       (256UL << 20)
#define START_INFO_GPA 0x6000UL
#define CMDLINE_GPA    0x7000UL
#define MEMMAP_GPA     0x8000UL
#define PML4_GPA       0x9000UL   /* ELF64 entry only: PML4, PDPT, 4 PDs */
#define GDT_GPA        0x5000UL
#define ELF64_STACK    0x80000UL

struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};
struct hvm_memmap_entry { uint64_t addr, size; uint32_t type, reserved; };

static uint8_t *ram;

static void die(const char *what)
{
	perror(what);
	exit(2);
}

static int xioctl(int fd, unsigned long req, void *arg, const char *name)
{
	int r = ioctl(fd, req, arg);
	if (r < 0)
		die(name);
	return r;
}

static uint8_t *gpa(uint64_t a, uint64_t len)
{
	if (a > RAM_SIZE || len > RAM_SIZE - a) {
		fprintf(stderr, "guest address %#lx+%#lx outside RAM\n", (unsigned long)a, (unsigned long)len);
		exit(2);
	}
	return ram + a;
}

/* Load PT_LOAD segments (ELF32 or ELF64) by physical address. Returns the
 * PVH entry from the Xen note, or 0 (then *entry64 is the ELF entry). */
static uint32_t load_elf(const char *path, uint64_t *entry64)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		die(path);
	uint8_t *f = mmap(0, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (f == MAP_FAILED)
		die("mmap elf");
	close(fd);
	if (st.st_size < (off_t)sizeof(Elf32_Ehdr) || memcmp(f, ELFMAG, SELFMAG)) {
		fprintf(stderr, "%s: not an ELF file\n", path);
		exit(2);
	}
	int is64 = f[EI_CLASS] == ELFCLASS64;
	Elf64_Ehdr *e64 = (void *)f;
	Elf32_Ehdr *e32 = (void *)f;
	uint64_t phoff = is64 ? e64->e_phoff : e32->e_phoff;
	int phnum = is64 ? e64->e_phnum : e32->e_phnum;
	*entry64 = is64 ? e64->e_entry : e32->e_entry;
	uint32_t pvh = 0;
	for (int i = 0; i < phnum; i++) {
		uint64_t type, off, pa, filesz, memsz;
		if (is64) {
			Elf64_Phdr *p = (void *)(f + phoff) + i * sizeof *p;
			type = p->p_type; off = p->p_offset; pa = p->p_paddr; filesz = p->p_filesz; memsz = p->p_memsz;
		} else {
			Elf32_Phdr *p = (void *)(f + phoff) + i * sizeof *p;
			type = p->p_type; off = p->p_offset; pa = p->p_paddr; filesz = p->p_filesz; memsz = p->p_memsz;
		}
		if (off + filesz > (uint64_t)st.st_size) {
			fprintf(stderr, "%s: truncated segment\n", path);
			exit(2);
		}
		if (type == PT_LOAD) {
			memcpy(gpa(pa, memsz), f + off, filesz);
			memset(gpa(pa + filesz, memsz - filesz), 0, memsz - filesz);
		} else if (type == PT_NOTE) {
			/* notes: namesz, descsz, type, name (4-aligned), desc (4-aligned) */
			for (uint64_t n = off; n + 12 <= off + filesz;) {
				uint32_t *h = (uint32_t *)(f + n);
				uint64_t name = n + 12, desc = name + ((h[0] + 3) & ~3u);
				if (h[0] == 4 && !memcmp(f + name, "Xen", 4) && h[2] == 18 && h[1] >= 4)
					pvh = *(uint32_t *)(f + desc);
				n = desc + ((h[1] + 3) & ~3u);
			}
		}
	}
	munmap(f, st.st_size);
	return pvh;
}

static void write_boot_info(const char *cmdline)
{
	struct hvm_start_info *si = (void *)gpa(START_INFO_GPA, sizeof *si);
	struct hvm_memmap_entry *mm = (void *)gpa(MEMMAP_GPA, 2 * sizeof *mm);
	size_t len = strlen(cmdline);
	if (len >= 0x1000)
		len = 0xfff;
	memcpy(gpa(CMDLINE_GPA, len + 1), cmdline, len);
	ram[CMDLINE_GPA + len] = 0;
	mm[0] = (struct hvm_memmap_entry){ 0, 0x9fc00, 1, 0 };
	mm[1] = (struct hvm_memmap_entry){ 0x100000, RAM_SIZE - 0x100000, 1, 0 };
	*si = (struct hvm_start_info){ .magic = 0x336ec578, .version = 1,
		.cmdline_paddr = CMDLINE_GPA, .memmap_paddr = MEMMAP_GPA, .memmap_entries = 2 };
}

static struct kvm_segment flat_seg(uint16_t sel, uint8_t type, int is_long)
{
	return (struct kvm_segment){ .base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = !is_long, .s = 1, .l = is_long, .g = 1 };
}

/* 32-bit flat protected mode, paging off: the PVH entry state. */
static void sregs_pvh(struct kvm_sregs *s)
{
	s->cs = flat_seg(0x08, 11, 0);
	s->ds = s->es = s->fs = s->gs = s->ss = flat_seg(0x10, 3, 0);
	s->cr0 = 0x11;          /* PE | ET */
	s->cr4 = 0;
	s->efer = 0;
}

/* Long mode, identity map of 0-4 GiB with 2 MiB pages: the ELF64 entry state. */
static void sregs_long(struct kvm_sregs *s)
{
	uint64_t *pml4 = (void *)gpa(PML4_GPA, 6 * 4096), *pdpt = pml4 + 512, *pd = pml4 + 1024;
	uint64_t *gdt = (void *)gpa(GDT_GPA, 24);
	pml4[0] = (PML4_GPA + 0x1000) | 3;
	for (int i = 0; i < 4; i++)
		pdpt[i] = (PML4_GPA + 0x2000 + i * 0x1000) | 3;
	for (uint64_t i = 0; i < 2048; i++)
		pd[i] = (i << 21) | 0x83;       /* P RW PS */
	gdt[0] = 0;
	gdt[1] = 0x00af9b000000ffffULL;    /* 0x08 code64 */
	gdt[2] = 0x00cf93000000ffffULL;    /* 0x10 data */
	s->gdt.base = GDT_GPA;
	s->gdt.limit = 23;
	s->cs = flat_seg(0x08, 11, 1);
	s->ds = s->es = s->fs = s->gs = s->ss = flat_seg(0x10, 3, 0);
	s->cr3 = PML4_GPA;
	s->cr4 = 0x20;          /* PAE */
	s->cr0 = 0x80000011;    /* PG | ET | PE */
	s->efer = 0x500;        /* LME | LMA */
}

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

static uint64_t cmdline_u64(const char *cmdline, const char *key, uint64_t dflt)
{
	size_t kl = strlen(key);
	for (const char *w = cmdline; (w = strstr(w, key)); w += kl)
		if ((w == cmdline || w[-1] == ' ') && w[kl] == '=')
			return strtoull(w + kl + 1, 0, 10);
	return dflt;
}

/* Serial line assembly and the benchmark markers. */
static char line[4096];
static size_t line_len;
static int stamp_lines;
static double t_start, t_pio_start, t_pio_end, t_mmio_start, t_mmio_end;

static void serial_byte(uint8_t c)
{
	if (c != '\n') {
		if (line_len < sizeof line - 1)
			line[line_len++] = (char)c;
		return;
	}
	double t = now_ns();
	line[line_len] = 0;
	if (!strcmp(line, "pio-start")) t_pio_start = t;
	else if (!strcmp(line, "pio-end")) t_pio_end = t;
	else if (!strcmp(line, "mmio-start")) t_mmio_start = t;
	else if (!strcmp(line, "mmio-end")) t_mmio_end = t;
	line[line_len++] = '\n';
	if (write(1, line, line_len) < 0)
		die("write stdout");
	if (stamp_lines)
		fprintf(stderr, "[%10.3f ms] %.*s", (t - t_start) / 1e6, (int)line_len, line);
	line_len = 0;
}

static void finish(int status, const char *cmdline)
{
	if (line_len)
		serial_byte('\n');   /* flush a last unterminated line */
	if (t_pio_end > t_pio_start && t_pio_start > 0 && t_mmio_end > t_mmio_start && t_mmio_start > 0) {
		uint64_t n = cmdline_u64(cmdline, "pio", 100000), m = cmdline_u64(cmdline, "mmio", 20000);
		fprintf(stderr, "pio_ns_per_exit=%.1f mmio_ns_per_exit=%.1f\n",
			(t_pio_end - t_pio_start) / (n ? n : 1), (t_mmio_end - t_mmio_start) / (m ? m : 1));
	}
	if (stamp_lines)
		fprintf(stderr, "run_ms=%.3f\n", (now_ns() - t_start) / 1e6);
	exit(status);
}

int main(int argc, char **argv)
{
	int a = 1;
	if (a < argc && !strcmp(argv[a], "-t")) {
		stamp_lines = 1;
		a++;
	}
	if (a >= argc) {
		fprintf(stderr, "usage: %s [-t] <guest.elf> [cmdline]\n", argv[0]);
		return 2;
	}
	const char *elf = argv[a], *cmdline = a + 1 < argc ? argv[a + 1] : "";

	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	int vm = xioctl(kvm, KVM_CREATE_VM, 0, "KVM_CREATE_VM");
	xioctl(vm, KVM_SET_TSS_ADDR, (void *)0xfffbd000UL, "KVM_SET_TSS_ADDR");
	uint64_t idmap = 0xfffbc000;
	xioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &idmap, "KVM_SET_IDENTITY_MAP_ADDR");
	xioctl(vm, KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP");
	struct kvm_pit_config pit = { .flags = 0 };
	xioctl(vm, KVM_CREATE_PIT2, &pit, "KVM_CREATE_PIT2");

	ram = mmap(0, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED)
		die("mmap ram");
	struct kvm_userspace_memory_region region = { .slot = 0, .guest_phys_addr = 0,
		.memory_size = RAM_SIZE, .userspace_addr = (uint64_t)ram };
	xioctl(vm, KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");

	uint64_t entry64;
	uint32_t pvh = load_elf(elf, &entry64);
	write_boot_info(cmdline);

	int vcpu = xioctl(vm, KVM_CREATE_VCPU, 0, "KVM_CREATE_VCPU");
	int run_size = xioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
	struct kvm_run *run = mmap(0, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");

	struct { struct kvm_cpuid2 c; struct kvm_cpuid_entry2 e[256]; } cpuid = { .c.nent = 256 };
	xioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid, "KVM_GET_SUPPORTED_CPUID");
	xioctl(vcpu, KVM_SET_CPUID2, &cpuid, "KVM_SET_CPUID2");

	/* LINT0 = ExtINT (the PIC's virtual wire), LINT1 = NMI, both unmasked. */
	struct kvm_lapic_state lapic;
	xioctl(vcpu, KVM_GET_LAPIC, &lapic, "KVM_GET_LAPIC");
	*(uint32_t *)(lapic.regs + 0x350) = 7 << 8;
	*(uint32_t *)(lapic.regs + 0x360) = 4 << 8;
	xioctl(vcpu, KVM_SET_LAPIC, &lapic, "KVM_SET_LAPIC");

	struct kvm_sregs sregs;
	xioctl(vcpu, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
	struct kvm_regs regs = { .rflags = 2 };
	if (pvh) {
		sregs_pvh(&sregs);
		regs.rip = pvh;
		regs.rbx = START_INFO_GPA;
	} else {
		sregs_long(&sregs);
		regs.rip = entry64;
		regs.rsi = START_INFO_GPA;
		regs.rsp = ELF64_STACK;
	}
	xioctl(vcpu, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
	xioctl(vcpu, KVM_SET_REGS, &regs, "KVM_SET_REGS");

	uint8_t scratch = 0;
	t_start = now_ns();
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("KVM_RUN");
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO: {
			uint8_t *d = (uint8_t *)run + run->io.data_offset;
			uint16_t port = run->io.port;
			if (run->io.direction == KVM_EXIT_IO_OUT) {
				if (port == 0x3ff)
					scratch = d[(run->io.count - 1) * run->io.size];
				else if (port == 0x3f8)
					for (uint32_t i = 0; i < run->io.count; i++)
						serial_byte(d[i * run->io.size]);
				else if (port == 0x404 && run->io.size == 2 && *(uint16_t *)d == 0x3400)
					finish(0, cmdline);
			} else {
				uint8_t v = port == 0x3fd ? 0x60 : port == 0x3ff ? scratch : 0xff;
				memset(d, port == 0x3fd || port == 0x3ff ? 0 : 0xff, run->io.size * run->io.count);
				for (uint32_t i = 0; i < run->io.count; i++)
					d[i * run->io.size] = v;
			}
			break;
		}
		case KVM_EXIT_MMIO:
			if (!run->mmio.is_write)
				memset(run->mmio.data, 0xff, run->mmio.len);
			break;
		case KVM_EXIT_SHUTDOWN:
			fprintf(stderr, "triple fault\n");
			finish(3, cmdline);
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			fprintf(stderr, "KVM_EXIT_INTERNAL_ERROR suberror %u\n", run->internal.suberror);
			xioctl(vcpu, KVM_GET_REGS, &regs, "KVM_GET_REGS");
			fprintf(stderr, "rip=%#llx\n", regs.rip);
			finish(2, cmdline);
			break;
		default:
			fprintf(stderr, "unexpected exit reason %u\n", run->exit_reason);
			xioctl(vcpu, KVM_GET_REGS, &regs, "KVM_GET_REGS");
			fprintf(stderr, "rip=%#llx\n", regs.rip);
			finish(2, cmdline);
		}
	}
}
