import * as Schema from "effect/Schema"
import { Bytes } from "./format/Bytes.js"

/**
 * Building blocks for the kernel-side state chunks. Registers are named
 * fields (readable in the file, checked on decode); structs KVM defines as
 * opaque-ish blobs (XSAVE, LAPIC page, PIT) are base64 of exactly the size
 * the ioctl reads, so a short value can never make KVM read past a buffer.
 */
export const U64 = Schema.BigInt.pipe(Schema.betweenBigInt(0n, 0xffff_ffff_ffff_ffffn)).annotations({ identifier: "U64" })
export const U32 = Schema.Int.pipe(Schema.between(0, 0xffff_ffff)).annotations({ identifier: "U32" })
export const U16 = Schema.Int.pipe(Schema.between(0, 0xffff)).annotations({ identifier: "U16" })
export const U8 = Schema.Int.pipe(Schema.between(0, 0xff)).annotations({ identifier: "U8" })
export const Bit = Schema.Int.pipe(Schema.between(0, 1)).annotations({ identifier: "Bit" })

export const FixedBytes = (size: number, name: string) =>
  Bytes(size).pipe(
    Schema.filter((b) => b.length === size || `${name} must be exactly ${size} bytes, got ${b.length}`)
  ).annotations({ identifier: `${name}(${size} bytes)` })
