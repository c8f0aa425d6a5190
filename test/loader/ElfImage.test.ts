import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { type ElfImage, parseElf } from "../../src/loader/ElfImage.js"
import type { ElfError } from "../../src/loader/LoaderError.js"
import { PHDR_FIELD, phdrOffset, writeElf, xenEntryNote } from "./elfWriter.js"
import { DATA_ADDR, DATA_MEMSZ, PVH_ENTRY, TEXT, TEXT_ADDR, elf64Kernel, pvhKernel } from "./fixtures.js"

const ok = (bytes: Uint8Array): ElfImage => {
  const r = parseElf("k.elf", bytes)
  if (Either.isLeft(r)) throw new Error(`expected success, got ${r.left.message}`)
  return r.right
}

const fail = (bytes: Uint8Array): ElfError => {
  const r = parseElf("k.elf", bytes)
  if (Either.isRight(r)) throw new Error("expected a parse error")
  return r.left
}

const patched = (bytes: Uint8Array, edit: (v: DataView) => void) => {
  const copy = bytes.slice()
  edit(new DataView(copy.buffer))
  return copy
}

describe("parseElf: valid kernels", () => {
  it("reads an ELF32 kernel's PT_LOAD segments", () => {
    const elf = ok(pvhKernel())
    expect(elf.elfClass).toBe(32)
    expect(elf.loadSegments.map((s) => [s.paddr, s.filesz, s.memsz])).toEqual([
      [TEXT_ADDR, TEXT.length, TEXT.length],
      [DATA_ADDR, 0x80, DATA_MEMSZ]
    ])
  })

  it("finds the PVH entry in the Xen note, after other notes", () => {
    expect(ok(pvhKernel()).pvhEntry).toBe(PVH_ENTRY)
  })

  it("accepts an 8-byte PHYS32_ENTRY descriptor, as Linux x86-64 emits", () => {
    expect(ok(pvhKernel(8)).pvhEntry).toBe(PVH_ENTRY)
  })

  it("reads an ELF64 kernel with no notes", () => {
    const elf = ok(elf64Kernel())
    expect(elf.elfClass).toBe(64)
    expect(elf.machine).toBe(62)
    expect(elf.pvhEntry).toBeUndefined()
    expect(elf.loadSegments).toHaveLength(2)
  })

  it("keeps a 64-bit e_entry exact", () => {
    const elf = ok(writeElf({ elfClass: 64, entry: 0xffffffff81000123n, segments: [] }))
    expect(elf.entry).toBe(0xffffffff81000123n)
  })
})

describe("parseElf: malformed input", () => {
  it("an empty file is not ELF", () => {
    expect(fail(new Uint8Array())).toMatchObject({ _tag: "NotElf", fileSize: 0 })
  })

  it("a file without the ELF magic is not ELF", () => {
    expect(fail(new TextEncoder().encode("#!/bin/sh\necho hi\n"))).toMatchObject({ _tag: "NotElf" })
  })

  it("a file cut inside the identification is truncated", () => {
    expect(fail(pvhKernel().subarray(0, 10))).toMatchObject({ _tag: "TruncatedElf", what: "ELF identification", needed: 16 })
  })

  it("a file cut inside the ELF header is truncated", () => {
    expect(fail(elf64Kernel().subarray(0, 40))).toMatchObject({ _tag: "TruncatedElf", what: "ELF header", needed: 64 })
  })

  it("rejects big-endian files", () => {
    const be = pvhKernel().slice()
    be[5] = 2
    expect(fail(be)).toMatchObject({ _tag: "UnsupportedElf", detail: "endianness", value: 2 })
  })

  it("rejects an unknown class", () => {
    const bad = pvhKernel().slice()
    bad[4] = 3
    expect(fail(bad)).toMatchObject({ _tag: "UnsupportedElf", detail: "class", value: 3 })
  })

  it("rejects a non-x86 machine", () => {
    const arm = writeElf({ elfClass: 64, machine: 183, entry: 0, segments: [] })
    expect(fail(arm)).toMatchObject({ _tag: "UnsupportedElf", detail: "machine", value: 183 })
  })

  it("rejects a shared object (ET_DYN)", () => {
    expect(fail(patched(elf64Kernel(), (v) => v.setUint16(16, 3, true)))).toMatchObject({ _tag: "UnsupportedElf", detail: "type", value: 3 })
  })

  it("reports program headers that run past the end of the file", () => {
    const e = fail(patched(pvhKernel(), (v) => v.setUint16(44, 400, true)))
    expect(e).toMatchObject({ _tag: "TruncatedElf", what: "program header table (400 entries)", offset: 52, needed: 400 * 32 })
  })

  it("reports a program header table offset far past the file", () => {
    const e = fail(patched(elf64Kernel(), (v) => v.setBigUint64(32, 0xffff_ffff_ffff_0000n, true)))
    expect(e._tag).toBe("TruncatedElf")
  })

  it("rejects a program header entry size smaller than the structure", () => {
    expect(fail(patched(elf64Kernel(), (v) => v.setUint16(54, 8, true)))._tag).toBe("MalformedElf")
  })

  it("reports segment data past the end of the file", () => {
    const bytes = elf64Kernel()
    const at = phdrOffset(64, 1) + PHDR_FIELD[64].filesz
    const e = fail(patched(bytes, (v) => v.setBigUint64(at, 0x10000n, true)))
    expect(e).toMatchObject({ _tag: "TruncatedElf", what: "PT_LOAD segment 1 data", needed: 0x10000 })
  })

  it("rejects p_filesz larger than p_memsz", () => {
    const at = phdrOffset(32, 1) + PHDR_FIELD[32].memsz
    const e = fail(patched(pvhKernel(), (v) => v.setUint32(at, 4, true)))
    expect(e).toMatchObject({ _tag: "MalformedElf" })
    expect(e.message).toContain("p_filesz")
  })

  it("reports a note whose descriptor runs past its PT_NOTE segment", () => {
    const bytes = writeElf({ elfClass: 32, entry: 0, notes: [xenEntryNote(PVH_ENTRY)], segments: [] })
    const noteAt = new DataView(bytes.buffer).getUint32(phdrOffset(32, 0) + PHDR_FIELD[32].offset, true)
    const e = fail(patched(bytes, (v) => v.setUint32(noteAt + 4, 0x1000, true)))
    expect(e).toMatchObject({ _tag: "TruncatedElf", what: "note in PT_NOTE segment 0", offset: noteAt })
  })

  it("rejects a PHYS32_ENTRY descriptor of an odd size", () => {
    const note = { name: "Xen", type: 18, desc: new Uint8Array(2) }
    expect(fail(writeElf({ elfClass: 32, entry: 0, notes: [note], segments: [] }))._tag).toBe("MalformedElf")
  })
})

describe("parseElf: edge cases that are still valid", () => {
  it("ignores e_phoff when there are no program headers", () => {
    const none = patched(writeElf({ elfClass: 64, entry: 0, segments: [] }), (v) => v.setBigUint64(32, 0xffff_ffffn, true))
    expect(ok(none).loadSegments).toEqual([])
  })
})
