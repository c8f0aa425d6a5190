/**
 * A tiny ELF writer for loader tests: a header, program headers (PT_NOTE
 * first when there are notes, then one PT_LOAD per segment), the note blob,
 * then each segment's file bytes.
 */
export interface SegmentSpec {
  readonly paddr: number
  readonly data: Uint8Array
  /** Defaults to data.length; larger means zero-filled bss. */
  readonly memsz?: number
}

export interface NoteSpec {
  readonly name: string
  readonly type: number
  readonly desc: Uint8Array
}

export interface ElfSpec {
  readonly elfClass: 32 | 64
  readonly entry: number | bigint
  readonly machine?: number
  readonly segments: ReadonlyArray<SegmentSpec>
  readonly notes?: ReadonlyArray<NoteSpec>
}

export const EHSIZE = { 32: 52, 64: 64 } as const
export const PHENTSIZE = { 32: 32, 64: 56 } as const

/** File offset of program header `index`. */
export const phdrOffset = (elfClass: 32 | 64, index: number) => EHSIZE[elfClass] + index * PHENTSIZE[elfClass]

/** Offsets of p_offset / p_filesz / p_memsz / p_paddr inside a program header. */
export const PHDR_FIELD = {
  32: { offset: 4, paddr: 12, filesz: 16, memsz: 20 },
  64: { offset: 8, paddr: 24, filesz: 32, memsz: 40 }
} as const

const align = (n: number, a: number) => Math.ceil(n / a) * a

export const encodeNotes = (notes: ReadonlyArray<NoteSpec>): Uint8Array => {
  const parts = notes.map((n) => {
    const name = new TextEncoder().encode(`${n.name}\0`)
    const out = new Uint8Array(12 + align(name.length, 4) + align(n.desc.length, 4))
    const v = new DataView(out.buffer)
    v.setUint32(0, name.length, true)
    v.setUint32(4, n.desc.length, true)
    v.setUint32(8, n.type, true)
    out.set(name, 12)
    out.set(n.desc, 12 + align(name.length, 4))
    return out
  })
  const blob = new Uint8Array(parts.reduce((s, p) => s + p.length, 0))
  parts.reduce((o, p) => (blob.set(p, o), o + p.length), 0)
  return blob
}

/** XEN_ELFNOTE_PHYS32_ENTRY with a 4- or 8-byte descriptor. */
export const xenEntryNote = (entry: number, descSize: 4 | 8 = 4): NoteSpec => {
  const desc = new Uint8Array(descSize)
  new DataView(desc.buffer).setUint32(0, entry, true)
  return { name: "Xen", type: 18, desc }
}

export const writeElf = (spec: ElfSpec): Uint8Array => {
  const c = spec.elfClass
  const notes = spec.notes && spec.notes.length > 0 ? encodeNotes(spec.notes) : undefined
  const phnum = spec.segments.length + (notes ? 1 : 0)
  let cursor = align(phdrOffset(c, phnum), 16)
  const noteOffset = cursor
  if (notes) cursor = align(cursor + notes.length, 16)
  const segOffsets = spec.segments.map((s) => {
    const at = cursor
    cursor = align(cursor + s.data.length, 16)
    return at
  })
  const out = new Uint8Array(cursor)
  const v = new DataView(out.buffer)

  out.set([0x7f, 0x45, 0x4c, 0x46, c === 32 ? 1 : 2, 1, 1])
  v.setUint16(16, 2, true) // ET_EXEC
  v.setUint16(18, spec.machine ?? (c === 32 ? 3 : 62), true)
  v.setUint32(20, 1, true)
  if (c === 32) {
    v.setUint32(24, Number(spec.entry), true)
    v.setUint32(28, EHSIZE[32], true)
    v.setUint16(40, EHSIZE[32], true)
    v.setUint16(42, PHENTSIZE[32], true)
    v.setUint16(44, phnum, true)
  } else {
    v.setBigUint64(24, BigInt(spec.entry), true)
    v.setBigUint64(32, BigInt(EHSIZE[64]), true)
    v.setUint16(52, EHSIZE[64], true)
    v.setUint16(54, PHENTSIZE[64], true)
    v.setUint16(56, phnum, true)
  }

  const phdr = (index: number, type: number, offset: number, paddr: number, filesz: number, memsz: number, palign: number) => {
    const o = phdrOffset(c, index)
    v.setUint32(o, type, true)
    if (c === 32) {
      v.setUint32(o + 4, offset, true)
      v.setUint32(o + 8, paddr, true)
      v.setUint32(o + 12, paddr, true)
      v.setUint32(o + 16, filesz, true)
      v.setUint32(o + 20, memsz, true)
      v.setUint32(o + 28, palign, true)
    } else {
      v.setBigUint64(o + 8, BigInt(offset), true)
      v.setBigUint64(o + 16, BigInt(paddr), true)
      v.setBigUint64(o + 24, BigInt(paddr), true)
      v.setBigUint64(o + 32, BigInt(filesz), true)
      v.setBigUint64(o + 40, BigInt(memsz), true)
      v.setBigUint64(o + 48, BigInt(palign), true)
    }
  }
  if (notes) {
    out.set(notes, noteOffset)
    phdr(0, 4, noteOffset, 0, notes.length, notes.length, 4)
  }
  spec.segments.forEach((s, i) => {
    out.set(s.data, segOffsets[i])
    phdr(i + (notes ? 1 : 0), 1, segOffsets[i], s.paddr, s.data.length, s.memsz ?? s.data.length, 0x1000)
  })
  return out
}
