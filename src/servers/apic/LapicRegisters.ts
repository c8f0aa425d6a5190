import * as DeliveryMode from "./DeliveryMode.js"

/** The xAPIC register page, where the firmware tables say it is (FirmwarePlatform.LAPIC_ADDRESS). */
export const LAPIC_BASE = 0xfee0_0000
export const LAPIC_MMIO_SIZE = 0x1000

/* Register offsets in the page (SDM table 10-1); each register is 32 bits at a 16-byte boundary. */
export const REG_ID = 0x020
export const REG_VERSION = 0x030
export const REG_TPR = 0x080
export const REG_APR = 0x090
export const REG_PPR = 0x0a0
export const REG_EOI = 0x0b0
export const REG_RRD = 0x0c0
export const REG_LDR = 0x0d0
export const REG_DFR = 0x0e0
export const REG_SVR = 0x0f0
export const REG_ISR = 0x100
export const REG_TMR = 0x180
export const REG_IRR = 0x200
export const REG_ESR = 0x280
export const REG_ICR_LOW = 0x300
export const REG_ICR_HIGH = 0x310
export const REG_LVT_TIMER = 0x320
export const REG_LVT_ERROR = 0x370
export const REG_TIMER_INITIAL = 0x380
export const REG_TIMER_CURRENT = 0x390
export const REG_TIMER_DIVIDE = 0x3e0

/** Version 0x14 with six LVT entries (max LVT 5 in bits 16-23): what KVM and QEMU report. */
export const LAPIC_VERSION = 0x0005_0014

/** The LVT entries in register order, 0x320 + 0x10 * index. (CMCI at 0x2f0 is not offered: the version says six.) */
export const LVT_TIMER = 0
export const LVT_THERMAL = 1
export const LVT_PERF = 2
export const LVT_LINT0 = 3
export const LVT_LINT1 = 4
export const LVT_ERROR = 5
export const LVT_COUNT = 6
export const LVT_NAMES = ["timer", "thermal", "perf", "lint0", "lint1", "error"] as const

export const LVT_VECTOR = 0xff
export const LVT_DELIVERY_MODE_SHIFT = 8
export const LVT_DELIVERY_MODE = 0x700
export const LVT_POLARITY_LOW = 1 << 13
export const LVT_LEVEL = 1 << 15
export const LVT_MASKED = 1 << 16
export const LVT_TIMER_PERIODIC = 1 << 17
/** Timer mode 10b (bits 17-18) selects TSC-deadline, which this LAPIC does not offer. */
export const LVT_TIMER_MODE_TSC_DEADLINE = 2

/**
 * What a write keeps in each entry (KVM's apic_lvt_mask): the timer and
 * error entries have no delivery mode; only LINT0/1 have polarity and
 * trigger; delivery status and LINT remote IRR are read-only and read 0
 * here, since every message is accepted at once.
 */
export const LVT_WRITABLE: ReadonlyArray<number> = [
  LVT_MASKED | LVT_TIMER_PERIODIC | LVT_VECTOR,
  LVT_MASKED | LVT_DELIVERY_MODE | LVT_VECTOR,
  LVT_MASKED | LVT_DELIVERY_MODE | LVT_VECTOR,
  LVT_MASKED | LVT_LEVEL | LVT_POLARITY_LOW | LVT_DELIVERY_MODE | LVT_VECTOR,
  LVT_MASKED | LVT_LEVEL | LVT_POLARITY_LOW | LVT_DELIVERY_MODE | LVT_VECTOR,
  LVT_MASKED | LVT_VECTOR
]

export const lvtDeliveryMode = (entry: number): number => (entry & LVT_DELIVERY_MODE) >>> LVT_DELIVERY_MODE_SHIFT

/** SVR: spurious vector in bits 0-7, software enable in bit 8, focus processor checking in bit 9. */
export const SVR_ENABLED = 1 << 8
export const SVR_WRITABLE = 0x3ff
export const SVR_RESET = 0xff

/** LDR keeps the logical ID in bits 24-31; DFR the model in bits 28-31, the rest reading as ones. */
export const LDR_WRITABLE = 0xff00_0000 >>> 0
export const DFR_MODEL_SHIFT = 28
export const DFR_RESERVED_ONES = 0x0fff_ffff
export const DFR_FLAT = 0xf
export const DFR_CLUSTER = 0x0

/** ICR low: what is stored (delivery status, bit 12, always reads 0; bits 13, 16-17 and 20-31 are reserved). */
export const ICR_LOW_WRITABLE = 0xc_cfff
export const ICR_HIGH_WRITABLE = 0xff00_0000 >>> 0

/** Error status bits this LAPIC reports (SDM 10.5.3). */
export const ESR_SEND_ILLEGAL_VECTOR = 1 << 5
export const ESR_RECEIVE_ILLEGAL_VECTOR = 1 << 6
export const ESR_BITS = 0xff

/** The divide configuration keeps bits 0, 1 and 3. */
export const DIVIDE_WRITABLE = 0xb

/** Destination shorthands, ICR bits 18-19. */
export const SHORTHAND_NONE = 0
export const SHORTHAND_SELF = 1
export const SHORTHAND_ALL = 2
export const SHORTHAND_OTHERS = 3

/** Physical destination 0xff addresses every LAPIC. */
export const BROADCAST = 0xff

/**
 * Why an unmasked LVT entry could never be delivered, or undefined. A
 * masked entry may hold anything. Entries without a delivery-mode field
 * (timer, error) read mode 0, fixed.
 */
export const lvtEntryIssue = (entry: number): string | undefined => {
  if ((entry & LVT_MASKED) !== 0) return undefined
  const mode = lvtDeliveryMode(entry)
  if (DeliveryMode.reservedForLvt(mode)) return `delivery mode ${mode} is reserved`
  if (DeliveryMode.illegalVector(mode, entry & LVT_VECTOR)) return `vector ${entry & LVT_VECTOR} is below 16, illegal for fixed delivery`
  return undefined
}
