/**
 * Guest physical memory as bhyve lays it out: RAM from 0 up to the start of
 * the PCI hole (3 GiB), the rest above 4 GiB. MMIO devices (IOAPIC, LAPIC,
 * PCI BARs) live in the hole.
 */
export const LOWMEM_LIMIT = 0xc000_0000
export const HIGHMEM_BASE = 0x1_0000_0000

export interface RamRegion {
  /** KVM memory slot number. */
  readonly slot: number
  /** Guest physical address of the first byte. */
  readonly gpa: number
  readonly size: number
}

export const ramRegions = (bytes: number): ReadonlyArray<RamRegion> => {
  const low = Math.min(bytes, LOWMEM_LIMIT)
  const high = bytes - low
  return high > 0
    ? [{ slot: 0, gpa: 0, size: low }, { slot: 1, gpa: HIGHMEM_BASE, size: high }]
    : [{ slot: 0, gpa: 0, size: low }]
}

/** Guest RAM as host-visible bytes, one view per region. */
export interface GuestRam {
  readonly size: number
  readonly regions: ReadonlyArray<RamRegion & { readonly bytes: Uint8Array }>
  /**
   * Tells the CPU that the host (a device's DMA) wrote these bytes, a view
   * into one of `regions`: a CPU that keeps code it translated from guest
   * RAM (the software CPU) drops what came from them. Absent where the CPU
   * needs no telling (KVM: the hardware sees every write).
   */
  readonly hostWrote?: (bytes: Uint8Array) => void
}

/** The bytes at [gpa, gpa+length), or undefined when any of them is not RAM. */
export const ramSlice = (ram: GuestRam, gpa: number, length: number): Uint8Array | undefined => {
  for (const r of ram.regions) {
    if (gpa >= r.gpa && gpa + length <= r.gpa + r.size) return r.bytes.subarray(gpa - r.gpa, gpa - r.gpa + length)
  }
  return undefined
}
