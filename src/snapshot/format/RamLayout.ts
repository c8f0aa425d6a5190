import * as Either from "effect/Either"
import type { GuestRam } from "../../kernel/MemoryLayout.js"
import { PAGE_SIZE } from "./Manifest.js"
import { RAM_HEADER_LENGTH } from "./RamHeader.js"

/**
 * Where each RAM region goes in the RAM file: back to back after the header
 * page, so every region starts page aligned and every byte of the file is
 * either header or guest RAM (a flipped byte anywhere is caught).
 */

export interface RegionLayout {
  readonly slot: number
  readonly gpa: number
  readonly size: number
  readonly fileOffset: number
  readonly bytes: Uint8Array
}

export interface RamLayout {
  readonly fileSize: number
  readonly regions: ReadonlyArray<RegionLayout>
}

/** Left: why this GuestRam cannot be saved. */
export const layoutRam = (ram: GuestRam): Either.Either<RamLayout, string> => {
  let offset = RAM_HEADER_LENGTH
  const regions: Array<RegionLayout> = []
  for (const r of ram.regions) {
    const name = `region slot ${r.slot} at gpa 0x${r.gpa.toString(16)}`
    if (r.size <= 0 || r.size % PAGE_SIZE !== 0) return Either.left(`${name}: size ${r.size} is not a positive multiple of ${PAGE_SIZE}`)
    if (r.gpa % PAGE_SIZE !== 0) return Either.left(`${name}: gpa is not page aligned`)
    if (r.bytes.length !== r.size) return Either.left(`${name}: view is ${r.bytes.length} bytes, region is ${r.size}`)
    const overlap = regions.find((o) => r.gpa < o.gpa + o.size && o.gpa < r.gpa + r.size)
    if (overlap) return Either.left(`${name}: overlaps slot ${overlap.slot}`)
    regions.push({ slot: r.slot, gpa: r.gpa, size: r.size, fileOffset: offset, bytes: r.bytes })
    offset += r.size
  }
  return Either.right({ fileSize: offset, regions })
}
