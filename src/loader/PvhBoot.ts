/**
 * PVH boot (Xen's HVM direct boot ABI, also used by Linux and FreeBSD):
 * 32-bit flat protected mode, paging off, %ebx = hvm_start_info, %eip = the
 * XEN_ELFNOTE_PHYS32_ENTRY address.
 */
import { START_INFO_ADDR } from "./BootLayout.js"
import { type BootCpu, bootRegs, keptSregs } from "./BootCpu.js"
import { bootTss, flatCode32, flatData, noLdt, writeGdt } from "./Segments.js"

const CR0_PE = 0x1n
const CR0_ET = 0x10n

/** Writes the boot GDT into `lowMem` and returns the PVH entry state. */
export const pvhBoot = (lowMem: Uint8Array, entry: number): BootCpu => {
  const gdt = writeGdt(lowMem, flatCode32)
  return {
    regs: bootRegs({ rip: BigInt(entry), rbx: BigInt(START_INFO_ADDR) }),
    applySregs: (current) => ({
      ...keptSregs(current),
      cs: { ...flatCode32 }, ds: { ...flatData }, es: { ...flatData }, fs: { ...flatData },
      gs: { ...flatData }, ss: { ...flatData }, tr: { ...bootTss }, ldt: { ...noLdt },
      gdt: { ...gdt }, idt: { base: 0n, limit: 0 },
      cr0: CR0_PE | CR0_ET, cr3: 0n, cr4: 0n, efer: 0n
    })
  }
}
