import * as Data from "effect/Data"
import { ramRegions } from "../kernel/MemoryLayout.js"

const hex = (n: number | bigint) => `0x${n.toString(16)}`

/** The kernel file could not be read (raised by the caller that reads it). */
export class KernelNotFound extends Data.TaggedError("KernelNotFound")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `cannot read kernel ${this.path}: ${this.reason}`
  }
}

/** The file starts with neither the ELF magic nor a bzImage setup header. */
export class NotElf extends Data.TaggedError("NotElf")<{
  readonly path: string
  readonly fileSize: number
}> {
  override get message() {
    return this.fileSize === 0
      ? `kernel ${this.path} is an empty file, not an ELF kernel`
      : `kernel ${this.path} is not an ELF file (no \\x7fELF magic) and not a Linux bzImage (no "HdrS" at 0x202)`
  }
}

export type UnsupportedField = "class" | "endianness" | "version" | "machine" | "type"

/** A well-formed ELF this loader cannot boot: wrong class, byte order, machine or file type. */
export class UnsupportedElf extends Data.TaggedError("UnsupportedElf")<{
  readonly path: string
  readonly detail: UnsupportedField
  readonly value: number
}> {
  override get message() {
    const wanted: Record<UnsupportedField, string> = {
      class: "ELFCLASS32 (1) or ELFCLASS64 (2)",
      endianness: "little-endian (ELFDATA2LSB, 1)",
      version: "EV_CURRENT (1)",
      machine: "EM_386 (3) or EM_X86_64 (62)",
      type: "ET_EXEC (2)"
    }
    return `kernel ${this.path}: unsupported ELF ${this.detail} ${this.value}, expected ${wanted[this.detail]}`
  }
}

/** A structure the headers describe runs past the end of the file (or of its containing segment). */
export class TruncatedElf extends Data.TaggedError("TruncatedElf")<{
  readonly path: string
  readonly what: string
  readonly offset: number
  readonly needed: number
  /** Bytes actually present from `offset` to the end of the file or containing segment. */
  readonly available: number
  readonly fileSize: number
}> {
  override get message() {
    return `kernel ${this.path} is truncated: ${this.what} needs ${this.needed} bytes at file offset ${hex(this.offset)}, ` +
      `only ${Math.max(0, this.available)} available (file is ${this.fileSize} bytes)`
  }
}

/** Headers that contradict themselves (e.g. p_filesz > p_memsz, a program header entry too small). */
export class MalformedElf extends Data.TaggedError("MalformedElf")<{
  readonly path: string
  readonly what: string
}> {
  override get message() {
    return `kernel ${this.path} is malformed: ${this.what}`
  }
}

/** A PT_LOAD segment's [start, end) is not wholly inside one guest RAM region. */
export class SegmentOutsideRam extends Data.TaggedError("SegmentOutsideRam")<{
  readonly path: string
  readonly index: number
  readonly start: number
  readonly end: number
  readonly ramSize: number
}> {
  override get message() {
    const ram = ramRegions(this.ramSize).map((r) => `[${hex(r.gpa)}, ${hex(r.gpa + r.size)})`).join(" and ")
    return `kernel ${this.path}: segment ${this.index} [${hex(this.start)}, ${hex(this.end)}) is not inside guest RAM ${ram}`
  }
}

/** A PT_LOAD segment would overwrite memory the loader or the firmware map reserve. */
export class SegmentOverlapsReserved extends Data.TaggedError("SegmentOverlapsReserved")<{
  readonly path: string
  readonly index: number
  readonly start: number
  readonly end: number
  readonly reservedName: string
  readonly reservedStart: number
  readonly reservedEnd: number
}> {
  override get message() {
    return `kernel ${this.path}: segment ${this.index} [${hex(this.start)}, ${hex(this.end)}) overlaps the ` +
      `${this.reservedName} [${hex(this.reservedStart)}, ${hex(this.reservedEnd)})`
  }
}

/** There is no usable entry point (ELF32 without the PVH note, or an entry outside the loaded image). */
export class NoEntry extends Data.TaggedError("NoEntry")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `kernel ${this.path} cannot be booted: ${this.reason}`
  }
}

/** The command line (UTF-8 bytes, without the NUL) does not fit its area. */
export class CmdlineTooLong extends Data.TaggedError("CmdlineTooLong")<{
  readonly length: number
  readonly max: number
}> {
  override get message() {
    return `kernel command line is ${this.length} bytes, the maximum is ${this.max}`
  }
}

/** More memory map entries than the memmap area holds. */
export class MemmapTooLong extends Data.TaggedError("MemmapTooLong")<{
  readonly entries: number
  readonly max: number
}> {
  override get message() {
    return `memory map has ${this.entries} entries, the boot area holds at most ${this.max}`
  }
}

/** Guest RAM does not even cover the loader's low-memory boot data area. */
export class RamTooSmall extends Data.TaggedError("RamTooSmall")<{
  readonly ramSize: number
  readonly needed: number
}> {
  override get message() {
    return `guest RAM of ${this.ramSize} bytes is too small: the boot data needs the first ${this.needed} bytes`
  }
}

const version = (v: number) => `${v >> 8}.${v & 0xff}`

/** A bzImage whose setup header or protected-mode kernel is cut off. */
export class TruncatedBzImage extends Data.TaggedError("TruncatedBzImage")<{
  readonly path: string
  readonly what: string
  readonly offset: number
  readonly needed: number
  readonly fileSize: number
}> {
  override get message() {
    return `kernel ${this.path} is a truncated bzImage: ${this.what} needs ${this.needed} bytes at file offset ${hex(this.offset)}, ` +
      `the file is ${this.fileSize} bytes`
  }
}

/** A bzImage setup header that contradicts itself (bad boot_flag, setup_sects, payload, init_size). */
export class MalformedBzImage extends Data.TaggedError("MalformedBzImage")<{
  readonly path: string
  readonly what: string
}> {
  override get message() {
    return `kernel ${this.path} is a malformed bzImage: ${this.what}`
  }
}

/** A bzImage without the 64-bit entry point: boot protocol before 2.12, or no XLF_KERNEL_64 (a 32-bit kernel). */
export class BzImageTooOld extends Data.TaggedError("BzImageTooOld")<{
  readonly path: string
  /** major << 8 | minor. */
  readonly version: number
  readonly xloadflags: number
}> {
  override get message() {
    return this.version < 0x020c
      ? `kernel ${this.path} is a bzImage with boot protocol ${version(this.version)}; the 64-bit entry needs 2.12 or later`
      : `kernel ${this.path} is a bzImage without a 64-bit entry point (xloadflags ${hex(this.xloadflags)} lacks XLF_KERNEL_64): a 32-bit kernel`
  }
}

/** The memory a bzImage needs to decompress and run ([load address, + init_size)) is not free guest RAM. */
export class BzImageTooBig extends Data.TaggedError("BzImageTooBig")<{
  readonly path: string
  readonly start: number
  readonly end: number
  readonly ramSize: number
  /** What is in the way: "guest RAM" when it runs past the end, else the reserved area's name. */
  readonly conflict: string
}> {
  override get message() {
    const where = this.conflict === "guest RAM"
      ? `is not inside guest RAM (${this.ramSize} bytes)`
      : `overlaps the ${this.conflict}`
    return `kernel ${this.path} needs [${hex(this.start)}, ${hex(this.end)}) to decompress and run, which ${where}`
  }
}

/** The initrd file could not be read (raised by the caller that reads it). */
export class InitrdNotFound extends Data.TaggedError("InitrdNotFound")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `cannot read initrd ${this.path}: ${this.reason}`
  }
}

/** An initrd of zero bytes: nothing a kernel could unpack. */
export class InitrdEmpty extends Data.TaggedError("InitrdEmpty")<{
  readonly path: string
}> {
  override get message() {
    return `initrd ${this.path} is an empty file`
  }
}

/** No free, page-aligned range of low guest RAM below `limit` holds the initrd. */
export class InitrdTooBig extends Data.TaggedError("InitrdTooBig")<{
  readonly path: string
  readonly size: number
  /** The largest free range found, in bytes. */
  readonly largestFree: number
  /** The initrd must end at or below this address (top of low RAM, or the kernel's initrd_addr_max). */
  readonly limit: number
}> {
  override get message() {
    return `initrd ${this.path} is ${this.size} bytes; the largest free range of guest RAM below ${hex(this.limit)} ` +
      `clear of the kernel and the reserved areas is ${this.largestFree} bytes`
  }
}

/** An initrd given with a kernel whose boot convention has no way to pass one. */
export class InitrdNotSupported extends Data.TaggedError("InitrdNotSupported")<{
  readonly path: string
  readonly kernelPath: string
  readonly reason: string
}> {
  override get message() {
    return `initrd ${this.path} cannot be passed to kernel ${this.kernelPath}: ${this.reason}`
  }
}

/** What parsing a bzImage's setup header can fail with. */
export type BzImageError = TruncatedBzImage | MalformedBzImage | BzImageTooOld

/** What parsing an ELF file can fail with. */
export type ElfError = NotElf | UnsupportedElf | TruncatedElf | MalformedElf

export type LoaderError =
  | KernelNotFound
  | ElfError
  | SegmentOutsideRam
  | SegmentOverlapsReserved
  | NoEntry
  | CmdlineTooLong
  | MemmapTooLong
  | RamTooSmall
  | BzImageError
  | BzImageTooBig
  | InitrdNotFound
  | InitrdEmpty
  | InitrdTooBig
  | InitrdNotSupported
