import * as DeliveryMode from "./DeliveryMode.js"

/** The IOAPIC's MMIO window, where the firmware tables say it is (FirmwarePlatform.IOAPIC_ADDRESS). */
export const IOAPIC_BASE = 0xfec0_0000
export const IOAPIC_MMIO_SIZE = 0x1000
export const IOAPIC_PINS = 24

/** Offsets in the window: the index register, the data window, and the EOI register of version 0x20 parts. */
export const IOREGSEL = 0x00
export const IOWIN = 0x10
export const IOEOI = 0x40

/** Indirect registers, selected through IOREGSEL. */
export const REG_ID = 0x00
export const REG_VERSION = 0x01
export const REG_ARBITRATION = 0x02
/** Pin n's redirection entry: low dword at 0x10 + 2n, high dword at 0x11 + 2n. */
export const REG_REDIRECTION_BASE = 0x10

/** Version 0x11, maximum redirection entry 23 in bits 16-23 (KVM's and bhyve's IOAPIC). */
export const IOAPIC_VERSION = 0x11 | ((IOAPIC_PINS - 1) << 16)

/* Redirection entry, low dword (82093AA datasheet 3.2.4). */
export const RTE_VECTOR = 0xff
export const RTE_DELIVERY_MODE_SHIFT = 8
export const RTE_DEST_LOGICAL = 1 << 11
export const RTE_DELIVERY_STATUS = 1 << 12
export const RTE_POLARITY_LOW = 1 << 13
export const RTE_REMOTE_IRR = 1 << 14
export const RTE_LEVEL = 1 << 15
export const RTE_MASKED = 1 << 16
/** What a guest write keeps: every field but the two read-only status bits; bits 17-31 are reserved. */
export const RTE_LOW_WRITABLE = 0x1_afff
/** The high dword holds only the destination, in bits 24-31 (56-63 of the entry). */
export const RTE_HIGH_WRITABLE = 0xff00_0000 >>> 0
export const RTE_DESTINATION_SHIFT = 24

export const deliveryMode = (low: number): number => (low >>> RTE_DELIVERY_MODE_SHIFT) & 7

/**
 * Level semantics (remote IRR, EOI) apply only to fixed and lowest-priority
 * entries: the datasheet has SMI, NMI, INIT and ExtINT always edge, and no
 * EOI would ever come for them.
 */
export const isLevelTriggered = (low: number): boolean =>
  (low & RTE_LEVEL) !== 0 && DeliveryMode.isFixedLike(deliveryMode(low))

/**
 * Why an unmasked entry could never be delivered, or undefined. A masked
 * entry may hold anything (it is never used). The device masks an entry
 * the guest writes this way, and a snapshot holding one is refused: the
 * same rules KVM's restore applies to its IOAPIC (kernel/kvm/KvmVmState).
 */
export const liveEntryIssue = (low: number): string | undefined => {
  if ((low & RTE_MASKED) !== 0) return undefined
  const mode = deliveryMode(low)
  if (DeliveryMode.reservedForMessages(mode)) return `delivery mode ${mode} is reserved`
  if (DeliveryMode.illegalVector(mode, low & RTE_VECTOR)) return `vector ${low & RTE_VECTOR} is below 16, illegal for fixed and lowest-priority delivery`
  return undefined
}

/** After reset every entry is masked, edge, fixed, vector 0 (datasheet 3.2.4). */
export const RTE_RESET_LOW = RTE_MASKED
