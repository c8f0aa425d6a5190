import { createHash } from "node:crypto"
import type { FileHandle } from "node:fs/promises"

/**
 * What identifies a disk image for a snapshot's manifest: a restore can
 * check that the image it is given is the one the guest was using, without
 * hashing gigabytes. `sha256` covers the size and the first and last MiB:
 * cheap, and it catches the usual mix-ups (another image, a reinstalled
 * one, a copy from before the save). The mtime is recorded beside it, not
 * hashed: a faithful copy of the image (cp without -p) has a new mtime and
 * the same contents, and should still restore.
 */
export interface DiskIdentity {
  readonly path: string
  readonly sizeBytes: number
  readonly mtimeMs: number
  readonly sha256: string
}

export const FINGERPRINT_SPAN = 1024 * 1024

const readAt = async (handle: FileHandle, position: number, length: number): Promise<Uint8Array> => {
  const buffer = new Uint8Array(length)
  let done = 0
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done)
    if (bytesRead === 0) break
    done += bytesRead
  }
  return buffer.subarray(0, done)
}

export const diskIdentity = async (handle: FileHandle, path: string): Promise<DiskIdentity> => {
  const stat = await handle.stat()
  const size = stat.size
  const hash = createHash("sha256").update(`${size}\n`)
  hash.update(await readAt(handle, 0, Math.min(size, FINGERPRINT_SPAN)))
  const tail = Math.max(0, size - FINGERPRINT_SPAN)
  hash.update(await readAt(handle, tail, size - tail))
  return { path, sizeBytes: size, mtimeMs: stat.mtimeMs, sha256: hash.digest("hex") }
}

/** Why the image now is not the one a snapshot recorded, or undefined when it is (mtime aside). */
export const identityMismatch = (
  recorded: { readonly sizeBytes: number; readonly sha256: string },
  now: DiskIdentity
): string | undefined => {
  if (recorded.sizeBytes !== now.sizeBytes) return `${now.path} is ${now.sizeBytes} bytes; the snapshot's disk was ${recorded.sizeBytes}`
  if (recorded.sha256 !== now.sha256) return `${now.path} does not hold the data the snapshot's disk held (fingerprint differs)`
  return undefined
}
