/** Small synthetic bzImages for the loader tests: a boot sector, a setup header and a protected-mode kernel. */
import { pattern } from "./fixtures.js"

export interface BzImageOptions {
  /** major << 8 | minor; default 2.15. */
  readonly version?: number
  readonly xloadflags?: number
  /** Raw setup_sects byte (0 means 4). */
  readonly setupSects?: number
  readonly kernel?: Uint8Array
  readonly prefAddress?: number
  readonly initSize?: number
  readonly kernelAlignment?: number
  readonly relocatable?: boolean
  readonly cmdlineSize?: number
  readonly initrdAddrMax?: number
  readonly bootFlag?: number
  readonly loadflags?: number
  /** The compressed payload's place inside the protected-mode kernel. */
  readonly payload?: { readonly offset: number; readonly length: number }
}

export const MIB = 0x10_0000
export const BZ_KERNEL = pattern(0x1000, 11)
export const BZ_PREF = 16 * MIB
export const BZ_INIT_SIZE = 8 * MIB
/** 0x202 + this byte (0x6a) = 0x26c, the end of a 2.15 header. */
const JUMP_2_15 = 0x6a

export const writeBzImage = (o: BzImageOptions = {}): Uint8Array => {
  const rawSects = o.setupSects ?? 4
  const kernelOffset = ((rawSects === 0 ? 4 : rawSects) + 1) * 512
  const kernel = o.kernel ?? BZ_KERNEL
  const syssize = Math.ceil(kernel.length / 16)
  const bytes = new Uint8Array(kernelOffset + syssize * 16)
  const v = new DataView(bytes.buffer)
  bytes[0x1f1] = rawSects
  v.setUint32(0x1f4, syssize, true)
  v.setUint16(0x1fe, o.bootFlag ?? 0xaa55, true)
  bytes[0x200] = 0xeb
  bytes[0x201] = JUMP_2_15
  v.setUint32(0x202, 0x53726448, true)
  v.setUint16(0x206, o.version ?? 0x020f, true)
  bytes[0x211] = o.loadflags ?? 0x01
  v.setUint32(0x22c, o.initrdAddrMax ?? 0x7fffffff, true)
  v.setUint32(0x230, o.kernelAlignment ?? 0x20_0000, true)
  bytes[0x234] = (o.relocatable ?? true) ? 1 : 0
  v.setUint16(0x236, o.xloadflags ?? 0x3, true)
  v.setUint32(0x238, o.cmdlineSize ?? 2047, true)
  v.setUint32(0x248, o.payload?.offset ?? 0x100, true)
  v.setUint32(0x24c, o.payload?.length ?? 0x200, true)
  v.setBigUint64(0x258, BigInt(o.prefAddress ?? BZ_PREF), true)
  v.setUint32(0x260, o.initSize ?? BZ_INIT_SIZE, true)
  bytes.set(kernel, kernelOffset)
  return bytes
}

/** File offset of the protected-mode kernel in a writeBzImage image with the default setup_sects. */
export const BZ_KERNEL_OFFSET = 5 * 512
