/**
 * A bounds-checked ELF reader for x86 kernels: the file header, program
 * headers, PT_LOAD segments and the Xen PVH entry note. Every range is checked
 * against the file before it is read, so malformed input yields a typed error,
 * never a RangeError.
 *
 * 64-bit fields are read as numbers: values above 2^53 lose precision but are
 * only ever compared against the file size or guest RAM, which they exceed
 * either way. e_entry is kept exact as a bigint.
 */
import * as Either from "effect/Either"
import { type ElfError, MalformedElf, NotElf, TruncatedElf, UnsupportedElf } from "./LoaderError.js"
import { findPvhEntry } from "./ElfNotes.js"

export const EM_386 = 3
export const EM_X86_64 = 62
const ET_EXEC = 2
const PT_LOAD = 1
const PT_NOTE = 4
/** e_phnum value meaning "the real count is in section header 0": kernels never use it. */
const PN_XNUM = 0xffff

export interface ElfSegment {
  /** Index of the program header, for error messages. */
  readonly index: number
  readonly offset: number
  readonly vaddr: number
  readonly paddr: number
  readonly filesz: number
  readonly memsz: number
  readonly align: number
}

export interface ElfImage {
  readonly elfClass: 32 | 64
  readonly machine: number
  readonly entry: bigint
  /** PT_LOAD segments in program-header order (including empty ones). */
  readonly loadSegments: ReadonlyArray<ElfSegment>
  /** XEN_ELFNOTE_PHYS32_ENTRY, the 32-bit PVH entry point, when present. */
  readonly pvhEntry: number | undefined
}

interface Layout {
  readonly ehsize: number
  readonly phentsize: number
  readonly entry: (v: DataView) => bigint
  readonly phoff: (v: DataView) => number
  readonly phentsizeAt: number
  readonly phnumAt: number
  readonly phdr: (v: DataView, o: number) => Omit<ElfSegment, "index"> & { readonly type: number }
}

const u64 = (v: DataView, o: number) => Number(v.getBigUint64(o, true))

const ELF32: Layout = {
  ehsize: 52,
  phentsize: 32,
  entry: (v) => BigInt(v.getUint32(24, true)),
  phoff: (v) => v.getUint32(28, true),
  phentsizeAt: 42,
  phnumAt: 44,
  phdr: (v, o) => ({
    type: v.getUint32(o, true),
    offset: v.getUint32(o + 4, true),
    vaddr: v.getUint32(o + 8, true),
    paddr: v.getUint32(o + 12, true),
    filesz: v.getUint32(o + 16, true),
    memsz: v.getUint32(o + 20, true),
    align: v.getUint32(o + 28, true)
  })
}

const ELF64: Layout = {
  ehsize: 64,
  phentsize: 56,
  entry: (v) => v.getBigUint64(24, true),
  phoff: (v) => u64(v, 32),
  phentsizeAt: 54,
  phnumAt: 56,
  phdr: (v, o) => ({
    type: v.getUint32(o, true),
    offset: u64(v, o + 8),
    vaddr: u64(v, o + 16),
    paddr: u64(v, o + 24),
    filesz: u64(v, o + 32),
    memsz: u64(v, o + 40),
    align: u64(v, o + 48)
  })
}

const MAGIC = [0x7f, 0x45, 0x4c, 0x46]

export const parseElf = (path: string, bytes: Uint8Array): Either.Either<ElfImage, ElfError> => {
  const size = bytes.length
  const truncated = (what: string, offset: number, needed: number) =>
    Either.left(new TruncatedElf({ path, what, offset, needed, available: size - offset, fileSize: size }))
  const unsupported = (detail: UnsupportedElf["detail"], value: number) =>
    Either.left(new UnsupportedElf({ path, detail, value }))

  // A file that is a proper prefix of the magic is a cut-off ELF, anything else is not ELF at all.
  const magicBytes = Math.min(size, 4)
  if (size === 0 || MAGIC.slice(0, magicBytes).some((b, i) => bytes[i] !== b)) {
    return Either.left(new NotElf({ path, fileSize: size }))
  }
  if (size < 16) return truncated("ELF identification", 0, 16)
  if (bytes[4] !== 1 && bytes[4] !== 2) return unsupported("class", bytes[4])
  if (bytes[5] !== 1) return unsupported("endianness", bytes[5])
  if (bytes[6] !== 1) return unsupported("version", bytes[6])

  const layout = bytes[4] === 1 ? ELF32 : ELF64
  if (size < layout.ehsize) return truncated("ELF header", 0, layout.ehsize)
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const type = v.getUint16(16, true)
  if (type !== ET_EXEC) return unsupported("type", type)
  const machine = v.getUint16(18, true)
  if (machine !== EM_386 && machine !== EM_X86_64) return unsupported("machine", machine)

  const phoff = layout.phoff(v)
  const phentsize = v.getUint16(layout.phentsizeAt, true)
  const phnum = v.getUint16(layout.phnumAt, true)
  if (phnum === PN_XNUM) return Either.left(new MalformedElf({ path, what: "extended program header count (PN_XNUM) is not supported" }))
  if (phnum > 0 && phentsize < layout.phentsize) {
    return Either.left(new MalformedElf({ path, what: `e_phentsize ${phentsize} is smaller than a program header (${layout.phentsize})` }))
  }
  // With no program headers e_phoff means nothing, so only check it when there are some.
  if (phnum > 0 && phoff + phnum * phentsize > size) return truncated(`program header table (${phnum} entries)`, phoff, phnum * phentsize)

  const loadSegments: Array<ElfSegment> = []
  const notes: Array<ElfSegment> = []
  for (let index = 0; index < phnum; index++) {
    const { type: ptype, ...fields } = layout.phdr(v, phoff + index * phentsize)
    if (ptype !== PT_LOAD && ptype !== PT_NOTE) continue
    const seg: ElfSegment = { index, ...fields }
    const kind = ptype === PT_LOAD ? "PT_LOAD" : "PT_NOTE"
    if (seg.filesz > 0 && seg.offset + seg.filesz > size) {
      return truncated(`${kind} segment ${index} data`, seg.offset, seg.filesz)
    }
    if (ptype === PT_NOTE) {
      notes.push(seg)
    } else if (seg.filesz > seg.memsz) {
      return Either.left(new MalformedElf({ path, what: `segment ${index} has p_filesz ${seg.filesz} > p_memsz ${seg.memsz}` }))
    } else {
      loadSegments.push(seg)
    }
  }

  return Either.map(findPvhEntry(path, bytes, notes), (pvhEntry) => ({
    elfClass: layout === ELF32 ? 32 : 64,
    machine,
    entry: layout.entry(v),
    loadSegments,
    pvhEntry
  }))
}
