/**
 * Lists a newc cpio archive (gzip-compressed or not) back: what the tests
 * use to check an initramfs holds /init, busybox and the modules.
 */
import { gunzipSync } from "node:zlib"
import { NEWC_HEADER_SIZE, NEWC_MAGIC, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG, TRAILER } from "./Cpio.js"

export interface CpioListing {
  readonly path: string
  readonly type: "dir" | "file" | "symlink" | "chardev" | "other"
  readonly mode: number
  readonly data: Uint8Array
  readonly rdevMajor: number
  readonly rdevMinor: number
}

const decoder = new TextDecoder()
const align4 = (n: number) => Math.ceil(n / 4) * 4

const typeOf = (mode: number): CpioListing["type"] => {
  switch (mode & 0o170000) {
    case S_IFDIR: return "dir"
    case S_IFREG: return "file"
    case S_IFLNK: return "symlink"
    case S_IFCHR: return "chardev"
    default: return "other"
  }
}

/** Every entry up to the trailer; throws on a malformed archive (a test helper: a throw is a failed test). */
export const readCpio = (archive: Uint8Array): ReadonlyArray<CpioListing> => {
  const bytes = archive[0] === 0x1f && archive[1] === 0x8b ? new Uint8Array(gunzipSync(archive)) : archive
  const out: Array<CpioListing> = []
  let at = 0
  for (;;) {
    if (at + NEWC_HEADER_SIZE > bytes.length) throw new Error(`cpio: header at ${at} runs past the end (${bytes.length} bytes)`)
    const text = decoder.decode(bytes.subarray(at, at + NEWC_HEADER_SIZE))
    if (!text.startsWith(NEWC_MAGIC)) throw new Error(`cpio: no newc magic at ${at}`)
    const field = (i: number) => parseInt(text.slice(6 + i * 8, 14 + i * 8), 16)
    const mode = field(1)
    const fileSize = field(6)
    const nameSize = field(11)
    const nameStart = at + NEWC_HEADER_SIZE
    const path = decoder.decode(bytes.subarray(nameStart, nameStart + nameSize - 1))
    const dataStart = align4(nameStart + nameSize)
    if (dataStart + fileSize > bytes.length) throw new Error(`cpio: ${path} data runs past the end`)
    if (path === TRAILER) return out
    out.push({
      path, type: typeOf(mode), mode, data: bytes.subarray(dataStart, dataStart + fileSize),
      rdevMajor: field(9), rdevMinor: field(10)
    })
    at = align4(dataStart + fileSize)
  }
}
