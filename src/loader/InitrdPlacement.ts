/**
 * Where the initrd goes: as high in low guest RAM as it fits (as QEMU and
 * GRUB put it), page aligned, below a limit, clear of the kernel and of
 * every reserved area. The kernel then finds it through the PVH module list
 * or boot_params.ramdisk_image.
 */
import * as Either from "effect/Either"
import { type GuestRam, ramSlice } from "../kernel/MemoryLayout.js"
import { InitrdEmpty, InitrdTooBig } from "./LoaderError.js"

export const PAGE_SIZE = 0x1000

export interface BusyRange {
  readonly start: number
  readonly end: number
}

export interface InitrdFile {
  /** For error messages only; the caller reads the file. */
  readonly path: string
  readonly image: Uint8Array
}

export interface PlacedInitrd {
  readonly start: number
  readonly end: number
  /** Guest RAM at [start, end), for the copy once every check has passed. */
  readonly target: Uint8Array
}

const alignDown = (n: number, a: number) => Math.floor(n / a) * a

/** The gaps of [floor, limit) that no busy range covers, highest first. */
export const freeGaps = (floor: number, limit: number, busy: ReadonlyArray<BusyRange>): ReadonlyArray<BusyRange> => {
  const sorted = busy.filter((b) => b.end > floor && b.start < limit).sort((a, b) => b.end - a.end)
  const gaps: Array<BusyRange> = []
  let top = limit
  for (const b of sorted) {
    if (b.end < top) gaps.push({ start: Math.max(b.end, floor), end: top })
    top = Math.min(top, b.start)
    if (top <= floor) break
  }
  if (top > floor) gaps.push({ start: floor, end: top })
  return gaps.filter((g) => g.end > g.start)
}

/**
 * The highest page-aligned home for `initrd` in the first RAM region, below
 * `limit` (exclusive) and at or above `floor`, overlapping no busy range.
 */
export const placeInitrd = (
  initrd: InitrdFile,
  ram: GuestRam,
  options: { readonly floor: number; readonly limit: number; readonly busy: ReadonlyArray<BusyRange> }
): Either.Either<PlacedInitrd, InitrdEmpty | InitrdTooBig> => {
  const size = initrd.image.length
  if (size === 0) return Either.left(new InitrdEmpty({ path: initrd.path }))
  const low = ram.regions[0]
  const limit = Math.min(options.limit, low.gpa + low.size)
  const gaps = freeGaps(options.floor, limit, options.busy)
  for (const gap of gaps) {
    const start = alignDown(gap.end - size, PAGE_SIZE)
    const target = start >= gap.start ? ramSlice(ram, start, size) : undefined
    if (target !== undefined) return Either.right({ start, end: start + size, target })
  }
  const largestFree = gaps.reduce((m, g) => Math.max(m, g.end - Math.ceil(g.start / PAGE_SIZE) * PAGE_SIZE), 0)
  return Either.left(new InitrdTooBig({ path: initrd.path, size, largestFree: Math.max(0, largestFree), limit }))
}
