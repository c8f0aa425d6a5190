import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { sha256 } from "../../../src/snapshot/format/Digest.js"
import { decodeRamHeader, encodeRamHeader, RAM_HEADER_LENGTH } from "../../../src/snapshot/format/RamHeader.js"
import { decodeStateHeader, encodeStateHeader, STATE_HEADER_LENGTH } from "../../../src/snapshot/format/StateHeader.js"

const latin1 = (b: Uint8Array) => Buffer.from(b).toString("latin1")

describe("state file header layout (docs/snapshot-format.md)", () => {
  const manifestSha256 = sha256(new TextEncoder().encode("{}"))
  const bytes = encodeStateHeader({ manifestOffset: 1234, manifestLength: 2, manifestSha256 })
  const view = new DataView(bytes.buffer)

  it("is 96 bytes: magic, version 1.0, header length, manifest offset/length/SHA-256, header SHA-256", () => {
    expect(bytes.length).toBe(STATE_HEADER_LENGTH)
    expect(latin1(bytes.subarray(0, 8))).toBe("BHYVESNP")
    expect([view.getUint16(8, true), view.getUint16(10, true), view.getUint32(12, true)]).toEqual([1, 0, 96])
    expect([view.getBigUint64(16, true), view.getBigUint64(24, true)]).toEqual([1234n, 2n])
    expect(bytes.subarray(32, 64)).toEqual(manifestSha256)
    expect(bytes.subarray(64, 96)).toEqual(sha256(bytes.subarray(0, 64)))
  })

  it("decodes what it encodes", () => {
    const h = Either.getOrThrow(decodeStateHeader("f", bytes, 5000))
    expect(h).toMatchObject({ version: { major: 1, minor: 0 }, headerLength: 96, manifestOffset: 1234, manifestLength: 2 })
  })

  it("refuses offsets beyond 2^53 even with a correct checksum", () => {
    const bad = bytes.slice()
    new DataView(bad.buffer).setBigUint64(24, 2n ** 60n, true)
    bad.set(sha256(bad.subarray(0, 64)), 64)
    expect(Either.getLeft(decodeStateHeader("f", bad, 5000)).pipe((e) => e._tag === "Some" && e.value._tag)).toBe("HeaderInvalid")
  })
})

describe("RAM file header layout", () => {
  const bytes = encodeRamHeader({ snapshotId: "0123456789abcdef", fileSize: 4096 + 8192 })
  const view = new DataView(bytes.buffer)

  it("is one page: magic, version, length, snapshot id, file size, and a SHA-256 of the rest in the last 32 bytes", () => {
    expect(bytes.length).toBe(RAM_HEADER_LENGTH)
    expect(latin1(bytes.subarray(0, 8))).toBe("BHYVERAM")
    expect([view.getUint16(8, true), view.getUint16(10, true), view.getUint32(12, true)]).toEqual([1, 0, 4096])
    expect(latin1(bytes.subarray(16, 32))).toBe("0123456789abcdef")
    expect(view.getBigUint64(32, true)).toBe(12288n)
    expect(bytes.subarray(40, 4064).every((b) => b === 0)).toBe(true)
    expect(bytes.subarray(4064)).toEqual(sha256(bytes.subarray(0, 4064)))
  })

  it("decodes what it encodes", () => {
    expect(Either.getOrThrow(decodeRamHeader("r", bytes, 12288))).toEqual({ snapshotId: "0123456789abcdef", fileSize: 12288 })
  })
})
