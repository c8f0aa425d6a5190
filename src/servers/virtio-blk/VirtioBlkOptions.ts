import * as Either from "effect/Either"
import { splitOptions } from "../pci/SlotOptions.js"

export interface VirtioBlkOptions {
  /** The raw disk image. */
  readonly path: string
  readonly readOnly: boolean
  /** Bytes per logical sector the guest is told to use (blk_size). */
  readonly logicalSectorSize: number
  /** Bytes per physical sector (topology), at least the logical size. */
  readonly physicalSectorSize: number
  /** The id GET_ID returns (at most 20 bytes); derived from the path when absent, as bhyve does. */
  readonly serial: string | undefined
  /** Offer DISCARD (bhyve's `nodelete` turns it off). */
  readonly discard: boolean
  /** Open with O_SYNC: every write durable before it completes. */
  readonly sync: boolean
}

export const SERIAL_BYTES = 20

const sectorSize = (text: string): number | undefined => {
  const n = /^[0-9]{3,5}$/.test(text) ? Number(text) : NaN
  return Number.isInteger(n) && n >= 512 && n <= 32768 && (n & (n - 1)) === 0 ? n : undefined
}

/**
 * bhyve's virtio-blk options: `PATH[,ro][,sectorsize=LOGICAL[/PHYSICAL]][,ser=ID][,nodelete][,sync]`
 * (`path=PATH` also works). Options bhyve has and this build does not
 * (nocache, direct) are refused by name rather than silently ignored.
 */
export const parseVirtioBlkOptions = (text: string): Either.Either<VirtioBlkOptions, string> =>
  Either.gen(function* () {
    const opts = yield* splitOptions(text, ["path", "sectorsize", "ser"], ["ro", "nodelete", "sync"], true)
    if (opts.positional !== undefined && opts.values.path !== undefined) return yield* Either.left("the path is given twice")
    const path = opts.positional ?? opts.values.path
    if (path === undefined || path === "") return yield* Either.left("a disk image path is required (virtio-blk,PATH[,ro][,sectorsize=N])")
    let logical = 512
    let physical = 512
    if (opts.values.sectorsize !== undefined) {
      const [l, p, extra] = opts.values.sectorsize.split("/")
      const ls = sectorSize(l)
      const ps = p === undefined ? ls : sectorSize(p)
      if (extra !== undefined || ls === undefined || ps === undefined || ps < ls) {
        return yield* Either.left(`sectorsize=${opts.values.sectorsize}: expected LOGICAL[/PHYSICAL], powers of two from 512 to 32768, physical >= logical`)
      }
      logical = ls
      physical = ps
    }
    const serial = opts.values.ser
    if (serial !== undefined && (Buffer.byteLength(serial) > SERIAL_BYTES || !/^[\x20-\x7e]*$/.test(serial))) {
      return yield* Either.left(`ser=${serial}: at most ${SERIAL_BYTES} printable ASCII characters`)
    }
    return {
      path,
      readOnly: opts.flags.has("ro"),
      logicalSectorSize: logical,
      physicalSectorSize: physical,
      serial,
      discard: !opts.flags.has("nodelete"),
      sync: opts.flags.has("sync")
    }
  })
