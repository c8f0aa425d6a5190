/**
 * Direct 64-bit entry for ELF64 kernels without a PVH note: long mode at CPL0
 * with the first 4 GiB identity-mapped, %rsi = hvm_start_info, a small stack
 * in the boot area, %rip = e_entry.
 */
import { STACK_TOP, START_INFO_ADDR } from "./BootLayout.js"
import { type BootCpu, bootRegs, keptSregs } from "./BootCpu.js"
import { writeIdentityPageTables } from "./PageTables.js"
import { bootTss, flatCode64, flatData, noLdt, writeGdt } from "./Segments.js"

/** PE | MP | ET | NE | WP | PG */
export const CR0_LONG = 0x8005_0033n
export const CR4_PAE = 0x20n
/** LME | LMA */
export const EFER_LONG = 0x500n

/**
 * Writes page tables and the GDT into `lowMem` and returns the long-mode
 * entry state; %rsi = `bootInfo` (hvm_start_info, or Linux's zero page).
 */
export const elf64Boot = (lowMem: Uint8Array, entry: number, bootInfo: number = START_INFO_ADDR): BootCpu => {
  const cr3 = writeIdentityPageTables(lowMem)
  const gdt = writeGdt(lowMem, flatCode64)
  return {
    regs: bootRegs({ rip: BigInt(entry), rsi: BigInt(bootInfo), rsp: BigInt(STACK_TOP) }),
    applySregs: (current) => ({
      ...keptSregs(current),
      cs: { ...flatCode64 }, ds: { ...flatData }, es: { ...flatData }, fs: { ...flatData },
      gs: { ...flatData }, ss: { ...flatData }, tr: { ...bootTss }, ldt: { ...noLdt },
      gdt: { ...gdt }, idt: { base: 0n, limit: 0 },
      cr0: CR0_LONG, cr3: BigInt(cr3), cr4: CR4_PAE, efer: EFER_LONG
    })
  }
}
