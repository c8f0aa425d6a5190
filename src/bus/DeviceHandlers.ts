/**
 * What a device server exposes to the bus. Handlers are plain synchronous
 * functions on purpose: they run on the vCPU's own thread for every exit, and
 * wrapping each call in an Effect would allocate on the hot path.
 * Offsets are relative to the start of the registered range.
 */
export type AccessSize = 1 | 2 | 4 | 8

export interface PioHandler {
  /** Value read; only the low `size` bytes are used. */
  readonly read: (offset: number, size: AccessSize) => number
  readonly write: (offset: number, size: AccessSize, value: number) => void
}

export interface MmioHandler {
  /** Value read as a bigint only for 8-byte accesses; numbers otherwise. */
  readonly read: (offset: number, size: AccessSize) => number | bigint
  readonly write: (offset: number, size: AccessSize, value: number | bigint) => void
}

/** What an access reads where nothing answers: every bit set, `size` bytes wide (8 bytes: the low 32 bits). */
export const allOnes = (size: AccessSize): number => (size >= 4 ? 0xffffffff : (1 << (size * 8)) - 1)
