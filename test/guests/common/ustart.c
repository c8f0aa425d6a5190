/* First C code at CPL3: check the PVH start_info, take the cmdline, mask
 * the PIC, run the guest's main(), power off. */
#include "guest.h"
#include "layout.h"

#define HVM_START_MAGIC 0x336ec578

struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};

extern uint32_t start_info_pa;   /* saved by boot.S from %ebx */
void cmdline_init(const char *src);
void pic_remap(uint8_t master_mask, uint8_t slave_mask);

__attribute__((noreturn)) void ustart(void)
{
	const struct hvm_start_info *si = (const void *)(uint64_t)start_info_pa;
	if (!si || si->magic != HVM_START_MAGIC) {
		puts_serial("bad hvm_start_info\n");
		poweroff();
	}
	cmdline_init((const char *)si->cmdline_paddr);
	pic_remap(0xff, 0xff);   /* IF is on at CPL3: keep every IRQ masked */
	main();
	poweroff();
}

void kcall(void (*fn)(void))
{
	uint64_t tag = KCALL_MAGIC;   /* int3, not int $n: see vectors.S */
	__asm__ volatile("int3"
			 : "+D"(fn), "+a"(tag)
			 :
			 : "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "memory", "cc");
}
