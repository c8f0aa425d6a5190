/**
 * The setup header of a Linux x86 bzImage (Documentation/arch/x86/boot.rst):
 * the fields a boot loader reads to place the protected-mode kernel and
 * enter it. Every offset is checked against the file before it is read, so
 * a cut-off or crafted image yields a typed error, never a RangeError.
 */
import * as Either from "effect/Either"
import { BzImageTooOld, MalformedBzImage, TruncatedBzImage } from "./LoaderError.js"

/** "HdrS" read as a little-endian u32 at 0x202. */
export const HDRS_MAGIC = 0x53726448
export const HDRS_OFFSET = 0x202
export const SETUP_HEADER_START = 0x1f1
export const BOOT_FLAG = 0xaa55

/** xloadflags bit: the kernel has the 64-bit entry point at load address + 0x200. */
export const XLF_KERNEL_64 = 0x1
/** xloadflags bit: kernel, boot_params, command line and initrd may live above 4 GiB. */
export const XLF_CAN_BE_LOADED_ABOVE_4G = 0x2

/** The first protocol version with xloadflags, and so with a declared 64-bit entry. */
export const MIN_PROTOCOL_64 = 0x020c

export interface SetupHeader {
  /** 512-byte setup sectors after the boot sector (0 means 4, as the protocol says). */
  readonly setupSects: number
  /** Size of the protected-mode code in 16-byte paragraphs. */
  readonly syssize: number
  /** Boot protocol version, major << 8 | minor (0x020f is 2.15). */
  readonly version: number
  readonly loadflags: number
  /** Highest address the initrd may end at (inclusive). */
  readonly initrdAddrMax: number
  readonly kernelAlignment: number
  readonly relocatable: boolean
  readonly xloadflags: number
  /** Maximum command line length without its NUL. */
  readonly cmdlineSize: number
  /** The compressed payload, relative to the start of the protected-mode kernel. */
  readonly payloadOffset: number
  readonly payloadLength: number
  /** Where the kernel prefers to be loaded (and decompresses to when it is not relocated). */
  readonly prefAddress: number
  /** Bytes the kernel needs from its (aligned) load address to decompress and run. */
  readonly initSize: number
  /** One past the last header byte (0x202 + the jump's displacement byte at 0x201): what a loader copies into boot_params. */
  readonly headerEnd: number
  /** File offset of the protected-mode kernel: (setup_sects + 1) * 512. */
  readonly kernelOffset: number
  /** Bytes of protected-mode kernel in the file from kernelOffset (syssize * 16). */
  readonly kernelSize: number
}

/** True when `bytes` carries the setup header magic: the file claims to be a bzImage. */
export const hasSetupHeader = (bytes: Uint8Array): boolean =>
  bytes.length >= HDRS_OFFSET + 4 &&
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(HDRS_OFFSET, true) === HDRS_MAGIC

const u64 = (v: DataView, o: number) => Number(v.getBigUint64(o, true))

/**
 * Reads the setup header. Fails with TruncatedBzImage when the file ends
 * before a field or before the protected-mode kernel the header describes,
 * MalformedBzImage when the header contradicts itself, BzImageTooOld for a
 * protocol before 2.12 (no xloadflags: nothing tells a 64-bit kernel).
 */
export const parseSetupHeader = (
  path: string,
  bytes: Uint8Array
): Either.Either<SetupHeader, TruncatedBzImage | MalformedBzImage | BzImageTooOld> => {
  const size = bytes.length
  const truncated = (what: string, offset: number, needed: number) =>
    Either.left(new TruncatedBzImage({ path, what, offset, needed, fileSize: size }))
  const malformed = (what: string) => Either.left(new MalformedBzImage({ path, what }))

  if (size < HDRS_OFFSET + 6) return truncated("setup header magic and version", SETUP_HEADER_START, HDRS_OFFSET + 6 - SETUP_HEADER_START)
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (v.getUint32(HDRS_OFFSET, true) !== HDRS_MAGIC) return malformed(`no "HdrS" signature at 0x${HDRS_OFFSET.toString(16)}`)
  const version = v.getUint16(0x206, true)
  if (version < MIN_PROTOCOL_64) return Either.left(new BzImageTooOld({ path, version, xloadflags: 0 }))

  const headerEnd = HDRS_OFFSET + bytes[0x201]
  // Protocol 2.12 ends with xloadflags..payload_length..pref_address..init_size at 0x264.
  if (headerEnd < 0x264) return malformed(`setup header ends at 0x${headerEnd.toString(16)}, before init_size (0x260) of protocol 2.12`)
  if (size < headerEnd) return truncated("setup header", SETUP_HEADER_START, headerEnd - SETUP_HEADER_START)
  const bootFlag = v.getUint16(0x1fe, true)
  if (bootFlag !== BOOT_FLAG) return malformed(`boot_flag is 0x${bootFlag.toString(16)}, expected 0xaa55`)

  const rawSects = bytes[0x1f1]
  const setupSects = rawSects === 0 ? 4 : rawSects
  const syssize = v.getUint32(0x1f4, true)
  const kernelOffset = (setupSects + 1) * 512
  const kernelSize = syssize * 16
  if (kernelOffset < headerEnd) return malformed(`setup_sects ${rawSects} puts the kernel at 0x${kernelOffset.toString(16)}, inside the setup header`)
  if (kernelSize === 0) return malformed("syssize is 0: no protected-mode kernel")
  if (kernelOffset + kernelSize > size) return truncated("protected-mode kernel (setup_sects and syssize)", kernelOffset, kernelSize)

  const kernelAlignment = v.getUint32(0x230, true)
  if (kernelAlignment === 0 || (kernelAlignment & (kernelAlignment - 1)) !== 0) {
    return malformed(`kernel_alignment 0x${kernelAlignment.toString(16)} is not a power of two`)
  }
  const payloadOffset = v.getUint32(0x248, true)
  const payloadLength = v.getUint32(0x24c, true)
  if (payloadOffset + payloadLength > kernelSize) {
    return malformed(`payload [0x${payloadOffset.toString(16)}, +0x${payloadLength.toString(16)}) runs past the protected-mode kernel (0x${kernelSize.toString(16)} bytes)`)
  }
  const initSize = v.getUint32(0x260, true)
  if (initSize < kernelSize) return malformed(`init_size 0x${initSize.toString(16)} is smaller than the kernel it must hold (0x${kernelSize.toString(16)})`)

  return Either.right({
    setupSects,
    syssize,
    version,
    loadflags: bytes[0x211],
    initrdAddrMax: v.getUint32(0x22c, true),
    kernelAlignment,
    relocatable: bytes[0x234] !== 0,
    xloadflags: v.getUint16(0x236, true),
    cmdlineSize: v.getUint32(0x238, true),
    payloadOffset,
    payloadLength,
    prefAddress: u64(v, 0x258),
    initSize,
    headerEnd,
    kernelOffset,
    kernelSize
  })
}

/** The header, when the kernel also declares the 64-bit entry point (XLF_KERNEL_64). */
export const require64BitEntry = (path: string, header: SetupHeader): Either.Either<SetupHeader, BzImageTooOld> =>
  (header.xloadflags & XLF_KERNEL_64) === 0
    ? Either.left(new BzImageTooOld({ path, version: header.version, xloadflags: header.xloadflags }))
    : Either.right(header)
