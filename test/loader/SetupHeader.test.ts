import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { readFileSync } from "node:fs"
import { parseElf } from "../../src/loader/ElfImage.js"
import { hasSetupHeader, parseSetupHeader, require64BitEntry, XLF_KERNEL_64 } from "../../src/loader/SetupHeader.js"
import { linuxGuest, skipReason } from "../support/LinuxGuest.js"
import { BZ_INIT_SIZE, BZ_KERNEL, BZ_KERNEL_OFFSET, BZ_PREF, writeBzImage } from "./bzImageWriter.js"

const parse = (bytes: Uint8Array) => parseSetupHeader("k.bz", bytes)
const failure = (bytes: Uint8Array) => {
  const r = parse(bytes)
  return Either.isLeft(r) ? r.left : undefined
}
const guest = await linuxGuest()

describe("setup header: crafted images", () => {
  it("reads the fields a loader needs", () => {
    expect(Either.getOrThrow(parse(writeBzImage()))).toEqual({
      setupSects: 4, syssize: BZ_KERNEL.length / 16, version: 0x020f, loadflags: 0x01, initrdAddrMax: 0x7fffffff,
      kernelAlignment: 0x20_0000, relocatable: true, xloadflags: 0x3, cmdlineSize: 2047, payloadOffset: 0x100,
      payloadLength: 0x200, prefAddress: BZ_PREF, initSize: BZ_INIT_SIZE, headerEnd: 0x26c,
      kernelOffset: BZ_KERNEL_OFFSET, kernelSize: BZ_KERNEL.length
    })
  })

  it("takes setup_sects 0 as 4", () => {
    expect(Either.getOrThrow(parse(writeBzImage({ setupSects: 0 }))).kernelOffset).toBe(5 * 512)
  })

  it("does not see a setup header without the HdrS signature", () => {
    const bytes = writeBzImage()
    bytes[0x202] = 0x68
    expect(hasSetupHeader(bytes)).toBe(false)
    expect(failure(bytes)).toMatchObject({ _tag: "MalformedBzImage" })
  })

  it("refuses boot protocol 2.10 as too old for the 64-bit entry", () => {
    const e = failure(writeBzImage({ version: 0x020a }))
    expect(e).toMatchObject({ _tag: "BzImageTooOld", version: 0x020a })
    expect(e?.message).toBe("kernel k.bz is a bzImage with boot protocol 2.10; the 64-bit entry needs 2.12 or later")
  })

  it("refuses a kernel without XLF_KERNEL_64 as a 32-bit kernel", () => {
    const header = Either.getOrThrow(parse(writeBzImage({ xloadflags: 0 })))
    const r = require64BitEntry("k.bz", header)
    expect(Either.isLeft(r) ? r.left.message : "").toBe("kernel k.bz is a bzImage without a 64-bit entry point (xloadflags 0x0 lacks XLF_KERNEL_64): a 32-bit kernel")
    expect(Either.isRight(require64BitEntry("k.bz", { ...header, xloadflags: XLF_KERNEL_64 }))).toBe(true)
  })

  it("refuses a file cut inside the setup header", () => {
    expect(failure(writeBzImage().subarray(0, 0x240))).toMatchObject({ _tag: "TruncatedBzImage", what: "setup header", fileSize: 0x240 })
  })

  it("refuses a file cut inside the protected-mode kernel", () => {
    const e = failure(writeBzImage().subarray(0, BZ_KERNEL_OFFSET + 0x10))
    expect(e).toMatchObject({ _tag: "TruncatedBzImage", offset: BZ_KERNEL_OFFSET, needed: BZ_KERNEL.length })
    expect(e?.message).toContain("is a truncated bzImage: protected-mode kernel")
  })

  it("refuses a boot sector without the 0xAA55 boot flag", () => {
    expect(failure(writeBzImage({ bootFlag: 0x1234 }))).toMatchObject({ _tag: "MalformedBzImage", what: "boot_flag is 0x1234, expected 0xaa55" })
  })

  it("refuses a payload that runs past the protected-mode kernel", () => {
    expect(failure(writeBzImage({ payload: { offset: 0x800, length: 0x900 } }))).toMatchObject({ _tag: "MalformedBzImage" })
  })

  it("refuses an init_size smaller than the kernel", () => {
    expect(failure(writeBzImage({ initSize: 0x10 }))).toMatchObject({ _tag: "MalformedBzImage" })
  })
})

describe(`setup header: Debian's kernel${skipReason(guest)}`, () => {
  it.skipIf(!guest.available)("is a relocatable 64-bit bzImage whose payload the header locates", () => {
    if (!guest.available) return
    const bytes = new Uint8Array(readFileSync(guest.artifacts.bzImage))
    const h = Either.getOrThrow(parse(bytes))
    expect(h.version).toBeGreaterThanOrEqual(0x020c)
    expect(h.xloadflags & XLF_KERNEL_64).toBe(XLF_KERNEL_64)
    expect(h.relocatable).toBe(true)
    expect(h.kernelOffset).toBe((bytes[0x1f1] + 1) * 512)
    expect(h.prefAddress).toBe(0x100_0000)
    const payload = bytes.subarray(h.kernelOffset + h.payloadOffset, h.kernelOffset + h.payloadOffset + 6)
    // xz (Debian 12 and 13), or gzip/zstd on kernels built otherwise.
    expect([[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], [0x1f, 0x8b], [0x28, 0xb5, 0x2f, 0xfd]]
      .some((magic) => magic.every((b, i) => payload[i] === b))).toBe(true)
  })

  it.skipIf(!guest.available)("gives a vmlinux with the PVH entry note inside its first segment", () => {
    if (!guest.available) return
    const elf = Either.getOrThrow(parseElf("vmlinux", new Uint8Array(readFileSync(guest.artifacts.vmlinux))))
    const first = elf.loadSegments[0]
    expect(elf.pvhEntry).toBeDefined()
    expect(elf.pvhEntry! >= first.paddr && elf.pvhEntry! < first.paddr + first.memsz).toBe(true)
  })
})
