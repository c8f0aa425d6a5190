/**
 * A cpio archive in the "newc" format (070701), the one the Linux kernel
 * unpacks as an initramfs (Documentation/driver-api/early-userspace/buffer-format.rst).
 * Written here rather than by cpio(1), which is not installed everywhere,
 * and because device nodes (/dev/console) need no root this way.
 */
export type CpioEntry =
  | { readonly type: "dir"; readonly path: string; readonly mode?: number }
  | { readonly type: "file"; readonly path: string; readonly data: Uint8Array; readonly mode?: number }
  | { readonly type: "symlink"; readonly path: string; readonly target: string }
  | { readonly type: "chardev"; readonly path: string; readonly major: number; readonly minor: number; readonly mode?: number }

export const S_IFDIR = 0o040000
export const S_IFREG = 0o100000
export const S_IFLNK = 0o120000
export const S_IFCHR = 0o020000
export const NEWC_MAGIC = "070701"
export const NEWC_HEADER_SIZE = 110
export const TRAILER = "TRAILER!!!"

const encoder = new TextEncoder()
const hex8 = (n: number) => n.toString(16).padStart(8, "0")
const pad4 = (n: number) => (4 - (n % 4)) % 4

interface Record {
  readonly name: string
  readonly mode: number
  readonly data: Uint8Array
  readonly rdevMajor: number
  readonly rdevMinor: number
}

const record = (e: CpioEntry): Record => {
  const name = e.path.replace(/^\/+/, "")
  switch (e.type) {
    case "dir": return { name, mode: S_IFDIR | (e.mode ?? 0o755), data: new Uint8Array(0), rdevMajor: 0, rdevMinor: 0 }
    case "file": return { name, mode: S_IFREG | (e.mode ?? 0o644), data: e.data, rdevMajor: 0, rdevMinor: 0 }
    case "symlink": return { name, mode: S_IFLNK | 0o777, data: encoder.encode(e.target), rdevMajor: 0, rdevMinor: 0 }
    case "chardev": return { name, mode: S_IFCHR | (e.mode ?? 0o600), data: new Uint8Array(0), rdevMajor: e.major, rdevMinor: e.minor }
  }
}

const header = (ino: number, r: Record, nameSize: number) => encoder.encode(
  NEWC_MAGIC + [
    ino, r.mode, 0 /* uid */, 0 /* gid */, r.mode & S_IFDIR ? 2 : 1 /* nlink */, 0 /* mtime */, r.data.length,
    0, 0 /* dev major/minor */, r.rdevMajor, r.rdevMinor, nameSize, 0 /* check */
  ].map(hex8).join("")
)

/**
 * The archive bytes: each entry as header, NUL-terminated name and data,
 * both padded to 4 bytes, then the TRAILER!!! entry. Owner root, mtime 0,
 * so the same entries always give the same bytes. Parents must come before
 * their children (the kernel creates entries in order).
 */
export const writeCpio = (entries: ReadonlyArray<CpioEntry>): Uint8Array => {
  const chunks: Array<Uint8Array> = []
  let length = 0
  const push = (b: Uint8Array) => {
    chunks.push(b)
    length += b.length
  }
  const zeros = (n: number) => push(new Uint8Array(n))
  const records = [...entries.map(record), { name: TRAILER, mode: 0, data: new Uint8Array(0), rdevMajor: 0, rdevMinor: 0 }]
  records.forEach((r, i) => {
    const name = encoder.encode(r.name)
    push(header(r.name === TRAILER ? 0 : i + 1, r, name.length + 1))
    push(name)
    zeros(1 + pad4(NEWC_HEADER_SIZE + name.length + 1))
    push(r.data)
    zeros(pad4(r.data.length))
  })
  const out = new Uint8Array(length)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}
