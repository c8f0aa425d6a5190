import { createHash } from "node:crypto"

/** SHA-256 of a view, hashed in place (no copy); a plain Uint8Array, not a Buffer. */
export const sha256 = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash("sha256").update(bytes).digest())

export const sha256Hex = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex")

export const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.compare(a, b) === 0

// Compared against with memcmp (Buffer.compare): about 6x faster than a
// BigUint64Array loop in JS, and it stops at the first differing byte.
const ZERO = new Uint8Array(1 << 20)

export const isAllZero = (bytes: Uint8Array): boolean => {
  for (let at = 0; at < bytes.length; at += ZERO.length) {
    const part = bytes.subarray(at, Math.min(bytes.length, at + ZERO.length))
    if (Buffer.compare(part, ZERO.subarray(0, part.length)) !== 0) return false
  }
  return true
}
