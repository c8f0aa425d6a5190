/**
 * ELF note scanning, for the one note the loader cares about: Xen's
 * XEN_ELFNOTE_PHYS32_ENTRY, which marks a kernel bootable the PVH way and gives
 * its 32-bit protected-mode entry point.
 */
import * as Either from "effect/Either"
import { MalformedElf, TruncatedElf } from "./LoaderError.js"
import type { ElfSegment } from "./ElfImage.js"

export const XEN_ELFNOTE_PHYS32_ENTRY = 18
const NOTE_HEADER = 12

const alignUp = (n: number, a: number) => Math.ceil(n / a) * a

/** "Xen", with or without its NUL (toolchains differ on namesz). */
const isXenName = (name: Uint8Array) => {
  const end = name.indexOf(0) === -1 ? name.length : name.indexOf(0)
  return end === 3 && name[0] === 0x58 && name[1] === 0x65 && name[2] === 0x6e
}

/**
 * The PVH entry from the first Xen PHYS32_ENTRY note in `notes` (PT_NOTE
 * segments already checked to lie inside the file), or undefined.
 */
export const findPvhEntry = (
  path: string,
  bytes: Uint8Array,
  notes: ReadonlyArray<ElfSegment>
): Either.Either<number | undefined, TruncatedElf | MalformedElf> => {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  for (const seg of notes) {
    // Notes are 4-byte aligned, except in segments that declare 8 (newer GNU toolchains).
    const align = seg.align === 8 ? 8 : 4
    let pos = 0
    while (pos + NOTE_HEADER <= seg.filesz) {
      const at = seg.offset + pos
      const namesz = v.getUint32(at, true)
      const descsz = v.getUint32(at + 4, true)
      const type = v.getUint32(at + 8, true)
      const descPos = pos + NOTE_HEADER + alignUp(namesz, align)
      if (descPos + descsz > seg.filesz) {
        return Either.left(new TruncatedElf({
          path,
          what: `note in PT_NOTE segment ${seg.index}`,
          offset: at,
          needed: descPos + descsz - pos,
          available: seg.filesz - pos,
          fileSize: bytes.length
        }))
      }
      const name = bytes.subarray(at + NOTE_HEADER, at + NOTE_HEADER + namesz)
      if (type === XEN_ELFNOTE_PHYS32_ENTRY && isXenName(name)) {
        return readEntry(path, v, seg.offset + descPos, descsz)
      }
      pos = alignUp(descPos + descsz, align)
    }
  }
  return Either.right(undefined)
}

/** The descriptor is a 32-bit address, stored as 4 bytes or (Linux on x86-64) as an 8-byte pointer. */
const readEntry = (path: string, v: DataView, at: number, descsz: number): Either.Either<number, MalformedElf> => {
  if (descsz === 4) return Either.right(v.getUint32(at, true))
  if (descsz === 8) {
    const entry = v.getBigUint64(at, true)
    return entry <= 0xffffffffn
      ? Either.right(Number(entry))
      : Either.left(new MalformedElf({ path, what: `XEN_ELFNOTE_PHYS32_ENTRY 0x${entry.toString(16)} is above 4 GiB` }))
  }
  return Either.left(new MalformedElf({ path, what: `XEN_ELFNOTE_PHYS32_ENTRY descriptor is ${descsz} bytes, expected 4 or 8` }))
}
