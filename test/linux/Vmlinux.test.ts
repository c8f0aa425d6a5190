import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { gzipSync } from "node:zlib"
import { writeBzImage } from "../loader/bzImageWriter.js"
import { extractVmlinux } from "./Vmlinux.js"

const ELF = Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, ...new Array(56).fill(7)])

/**
 * A bzImage whose protected-mode kernel holds `payload` at payload_offset
 * 0x40; Linux appends the uncompressed size (4 bytes) to xz and zstd payloads, not to gzip ones.
 */
const withPayload = (payload: Uint8Array, sizeAppended: boolean) => {
  const extra = sizeAppended ? 4 : 0
  const kernel = new Uint8Array(0x40 + payload.length + extra + 16)
  kernel.set(payload, 0x40)
  if (sizeAppended) new DataView(kernel.buffer).setUint32(0x40 + payload.length, ELF.length, true)
  return writeBzImage({ kernel, payload: { offset: 0x40, length: payload.length + extra } })
}

describe("vmlinux from a bzImage", () => {
  it("decompresses an xz payload, ignoring the size Linux appends", () => {
    const xz = execFileSync("xz", ["-c", "--check=crc32"], { input: ELF })
    expect(extractVmlinux("k", withPayload(xz, true))).toEqual(ELF)
  })

  it("decompresses a gzip payload", () => {
    expect(extractVmlinux("k", withPayload(gzipSync(ELF), false))).toEqual(ELF)
  })

  it("says what it found when the payload is not compressed as expected", () => {
    expect(String(extractVmlinux("k", withPayload(Uint8Array.from([1, 2, 3, 4, 5, 6]), false)))).toBe(
      "Error: k: payload at file offset 0xa40: unknown compression (first bytes 01 02 03 04 05 06)")
  })

  it("refuses a payload that does not decompress to an ELF file", () => {
    expect(String(extractVmlinux("k", withPayload(gzipSync(new Uint8Array(64)), false)))).toContain("not an ELF file")
  })
})
