import * as Effect from "effect/Effect"
import { constants } from "node:fs"
import { type FileHandle, open } from "node:fs/promises"
import { resolve } from "node:path"
import type { BlockBackend } from "./BlockBackend.js"
import { DiskOpenFailed } from "./DiskErrors.js"
import { diskIdentity, type DiskIdentity } from "./DiskIdentity.js"

/** Drops the first `n` bytes of a scatter list (what a partial readv/writev already moved). */
const advance = (views: ReadonlyArray<Uint8Array>, n: number): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  let skip = n
  for (const v of views) {
    if (skip >= v.length) skip -= v.length
    else {
      out.push(skip === 0 ? v : v.subarray(skip))
      skip = 0
    }
  }
  return out
}

const total = (views: ReadonlyArray<Uint8Array>) => views.reduce((n, v) => n + v.length, 0)

/**
 * A raw disk image file. I/O is node:fs's positional readv/writev on the
 * libuv thread pool, straight into and out of the views given (guest RAM,
 * no copies); requests run in parallel as far as the pool allows
 * (UV_THREADPOOL_SIZE, 4 by default). Partial transfers are continued;
 * a read that meets end of file is an error (the image shrank underneath).
 */
export class DiskImage implements BlockBackend {
  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly sizeBytes: number,
    readonly readOnly: boolean
  ) {}

  /** Opens the image for the life of the scope. Only regular files: a block device's size needs an ioctl. */
  static open(path: string, options: { readonly readOnly: boolean; readonly sync: boolean }) {
    const absolute = resolve(path)
    const flags = (options.readOnly ? constants.O_RDONLY : constants.O_RDWR) | (options.sync ? constants.O_SYNC : 0)
    return Effect.acquireRelease(
      Effect.tryPromise({
        try: async () => {
          const handle = await open(absolute, flags)
          const stat = await handle.stat().catch(async (e: unknown) => {
            await handle.close()
            throw e
          })
          if (!stat.isFile()) {
            await handle.close()
            throw new Error("not a regular file")
          }
          return new DiskImage(absolute, handle, stat.size, options.readOnly)
        },
        catch: (e) => new DiskOpenFailed({ path: absolute, reason: (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e)) })
      }),
      (disk) => Effect.promise(() => disk.handle.close().catch(() => undefined))
    )
  }

  async read(views: ReadonlyArray<Uint8Array>, position: number): Promise<void> {
    let rest = views.filter((v) => v.length > 0)
    let at = position
    while (rest.length > 0) {
      const { bytesRead } = await this.handle.readv(rest, at)
      if (bytesRead === 0) throw new Error(`end of file at ${at}, ${total(rest)} bytes short`)
      at += bytesRead
      rest = advance(rest, bytesRead)
    }
  }

  async write(views: ReadonlyArray<Uint8Array>, position: number): Promise<void> {
    let rest = views.filter((v) => v.length > 0)
    let at = position
    while (rest.length > 0) {
      const { bytesWritten } = await this.handle.writev(rest, at)
      if (bytesWritten === 0) throw new Error(`no progress writing at ${at}`)
      at += bytesWritten
      rest = advance(rest, bytesWritten)
    }
  }

  flush(): Promise<void> {
    return this.handle.datasync()
  }

  identity(): Promise<DiskIdentity> {
    return diskIdentity(this.handle, this.path)
  }
}
