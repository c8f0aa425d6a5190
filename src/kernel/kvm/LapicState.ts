/** struct kvm_lapic_state is the 1 KiB APIC register page; registers are u32 at their MMIO offsets. */
const LVT_LINT0 = 0x350
const LVT_LINT1 = 0x360
const DELIVERY_MODE_MASK = 0x700
const EXTINT = 7
const NMI = 4

const setDeliveryMode = (v: DataView, offset: number, mode: number) => {
  const reg = v.getUint32(offset, true)
  v.setUint32(offset, ((reg & ~DELIVERY_MODE_MASK) | (mode << 8)) >>> 0, true)
}

/**
 * LINT0 as ExtINT and LINT1 as NMI, as firmware leaves the BSP's LAPIC
 * (Firecracker's set_lint): without it the in-kernel PIC's interrupts
 * never reach the CPU.
 */
export const withVirtualWire = (lapic: Uint8Array): Uint8Array => {
  const bytes = new Uint8Array(lapic)
  const v = new DataView(bytes.buffer)
  setDeliveryMode(v, LVT_LINT0, EXTINT)
  setDeliveryMode(v, LVT_LINT1, NMI)
  return bytes
}
