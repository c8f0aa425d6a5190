/**
 * Base address registers: what kinds exist, and what a BAR register holds
 * after the guest writes it. Sizing falls out of the encoding: the address
 * bits below the BAR's size are hard-wired to zero, so writing all-ones
 * reads back the size mask with the type bits.
 */
export type BarKind = "io" | "mem32" | "mem64"

export interface BarSpec {
  readonly kind: BarKind
  /** Bytes; a power of two, at least 4 (I/O) or 16 (memory). */
  readonly size: number
  readonly prefetchable?: boolean
}

export const BAR_IO_SPACE = 0x1
export const BAR_MEM_64 = 0x4
export const BAR_PREFETCHABLE = 0x8

/** x86 has 64 KiB of port space; the upper bits of an I/O BAR read zero (bhyve masks them the same way). */
export const IO_PORT_LIMIT = 0x10000
/** 64-bit BARs larger than this go above 4 GiB, smaller ones into the 32-bit window (bhyve's rule: some drivers dislike high BARs). */
export const MEM64_HIGH_THRESHOLD = 128 * 1024 * 1024

const TWO_32 = 0x1_0000_0000

const isPowerOfTwo = (n: number) => Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n

/** Why a BAR cannot exist, or undefined when it can. */
export const barProblem = (spec: BarSpec): string | undefined => {
  if (!isPowerOfTwo(spec.size)) return `BAR size ${spec.size} is not a power of two`
  if (spec.kind === "io" && (spec.size < 4 || spec.size > 256)) return `I/O BAR size ${spec.size} is outside 4..256`
  if (spec.kind !== "io" && spec.size < 16) return `memory BAR size ${spec.size} is below 16`
  if (spec.kind === "mem32" && spec.size > 0x8000_0000) return `32-bit BAR size ${spec.size} does not fit below 4 GiB`
  return undefined
}

/** The read-only low bits that say what the BAR is. */
export const typeBits = (spec: BarSpec): number => {
  if (spec.kind === "io") return BAR_IO_SPACE
  return (spec.kind === "mem64" ? BAR_MEM_64 : 0) | (spec.prefetchable === true ? BAR_PREFETCHABLE : 0)
}

/** The low register after the guest writes `value`: address bits under the size read zero. */
export const lowRegister = (spec: BarSpec, value: number): number => {
  if (spec.kind === "io") return ((value & ~(spec.size - 1) & (IO_PORT_LIMIT - 1)) | BAR_IO_SPACE) >>> 0
  const sizeMask = spec.size >= TWO_32 ? 0 : ~(spec.size - 1)
  return ((value & sizeMask & ~0xf) | typeBits(spec)) >>> 0
}

/** The high register of a 64-bit BAR after the guest writes `value`. */
export const highRegister = (spec: BarSpec, value: number): number => {
  if (spec.size <= TWO_32) return value >>> 0
  return (value & ~(spec.size / TWO_32 - 1)) >>> 0
}

/** The address the registers decode. High halves past 2^20 make it unrepresentable (and unmappable): NaN-free but huge. */
export const decodeAddress = (spec: BarSpec, low: number, high: number): number => {
  if (spec.kind === "io") return low & 0xfffc
  const base = (low & ~0xf) >>> 0
  return spec.kind === "mem64" ? high * TWO_32 + base : base
}
