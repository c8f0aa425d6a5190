/** 5.2.6 request types and status values. */
export const T_IN = 0
export const T_OUT = 1
export const T_FLUSH = 4
export const T_GET_ID = 8
export const T_DISCARD = 11
export const S_OK = 0
export const S_IOERR = 1
export const S_UNSUPP = 2

/** type (le32), reserved (le32), sector (le64). */
export const HEADER_SIZE = 16
/** struct virtio_blk_discard_write_zeroes: sector (le64), num_sectors (le32), flags (le32). */
export const DISCARD_SEGMENT_SIZE = 16
export const DISCARD_FLAG_UNMAP = 1

/** Bytes [start, start + length) of a scatter list as views of the same memory (no copy). */
export const sliceViews = (views: ReadonlyArray<Uint8Array>, start: number, length: number): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  let skip = start
  let want = length
  for (const v of views) {
    if (want === 0) break
    if (skip >= v.length) {
      skip -= v.length
      continue
    }
    const n = Math.min(v.length - skip, want)
    out.push(v.subarray(skip, skip + n))
    want -= n
    skip = 0
  }
  return out
}

/** A small copy out of a scatter list: headers and discard segments may be split across descriptors. */
export const gather = (views: ReadonlyArray<Uint8Array>, start: number, length: number): DataView => {
  const out = new Uint8Array(length)
  let at = 0
  for (const v of sliceViews(views, start, length)) {
    out.set(v, at)
    at += v.length
  }
  return new DataView(out.buffer)
}

/** Copies `bytes` into a scatter list from its start; returns how many fit. */
export const scatter = (views: ReadonlyArray<Uint8Array>, bytes: Uint8Array): number => {
  let at = 0
  for (const v of views) {
    if (at >= bytes.length) break
    const n = Math.min(v.length, bytes.length - at)
    v.set(bytes.subarray(at, at + n))
    at += n
  }
  return at
}

export interface BlkHeader {
  readonly type: number
  /** In 512-byte units whatever the logical sector size (5.2.6). */
  readonly sector: bigint
}

export const readHeader = (readable: ReadonlyArray<Uint8Array>): BlkHeader => {
  const view = gather(readable, 0, HEADER_SIZE)
  return { type: view.getUint32(0, true), sector: view.getBigUint64(8, true) }
}
