import type { AccessSize } from "../../bus/DeviceHandlers.js"

/**
 * One entry of a function's capability list, as a device model describes
 * it. The function places it (dword-aligned from 0x40), fills in the id and
 * the next pointer, and applies guest writes through `writable`.
 */
export interface CapabilitySpec {
  readonly id: number
  /** The bytes after the id and next-pointer bytes. */
  readonly body: Uint8Array
  /** Guest-writable bits of `body`, byte for byte; bytes past its end are read-only. */
  readonly writable?: Uint8Array
  /**
   * Reads that are not plain stored bytes; offset from the capability's
   * first byte, `stored` its bytes as they are now. Undefined: the stored bytes.
   */
  readonly read?: (offset: number, size: AccessSize, stored: Uint8Array) => number | undefined
  /** Writes with side effects; true when handled here (nothing is stored). */
  readonly write?: (offset: number, size: AccessSize, value: number, stored: Uint8Array) => boolean
  /** After a plain write landed in this capability (MSI-X: enable or function mask changed). */
  readonly afterWrite?: () => void
}

export interface PlacedCapability {
  readonly offset: number
  /** Bytes including id and next pointer. */
  readonly length: number
  readonly spec: CapabilitySpec
}

/** Little-endian bytes, for building capability bodies. */
export const leBytes = (fields: ReadonlyArray<readonly [value: number, size: 1 | 2 | 4]>): Uint8Array => {
  const total = fields.reduce((n, [, size]) => n + size, 0)
  const out = new Uint8Array(total)
  const view = new DataView(out.buffer)
  let at = 0
  for (const [value, size] of fields) {
    if (size === 1) view.setUint8(at, value)
    else if (size === 2) view.setUint16(at, value, true)
    else view.setUint32(at, value >>> 0, true)
    at += size
  }
  return out
}
