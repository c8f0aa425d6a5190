/**
 * Decompression by the stream's magic, for kernel payloads and modules:
 * gzip with node:zlib, xz and zstd with the xz(1) and zstd(1) tools (Node 20
 * has neither codec). Linux appends the uncompressed size (4 bytes) after xz
 * and zstd kernel payloads; xz's --single-stream and zstd's frame end both
 * stop before it.
 */
import { spawnSync } from "node:child_process"
import { gunzipSync } from "node:zlib"

export type Codec = "gzip" | "xz" | "zstd" | "none"

const startsWith = (b: Uint8Array, magic: ReadonlyArray<number>) => magic.every((m, i) => b[i] === m)

export const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]
export const GZIP_MAGIC = [0x1f, 0x8b]
export const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd]

export const codecOf = (b: Uint8Array): Codec =>
  startsWith(b, XZ_MAGIC) ? "xz" : startsWith(b, GZIP_MAGIC) ? "gzip" : startsWith(b, ZSTD_MAGIC) ? "zstd" : "none"

const MAX_OUTPUT = 1 << 30

const tool = (command: string, args: ReadonlyArray<string>, input: Uint8Array): Uint8Array | Error => {
  const r = spawnSync(command, args, { input, maxBuffer: MAX_OUTPUT })
  if (r.error !== undefined) return new Error(`${command}: ${r.error.message}`)
  if (r.status !== 0) return new Error(`${command} exited ${r.status}: ${r.stderr.toString().trim()}`)
  return new Uint8Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.byteLength)
}

/** The decompressed bytes, or an Error naming the codec and what failed (unknown magic included). */
export const decompress = (bytes: Uint8Array): Uint8Array | Error => {
  switch (codecOf(bytes)) {
    case "gzip":
      try {
        return new Uint8Array(gunzipSync(bytes))
      } catch (e) {
        return new Error(`gzip: ${e instanceof Error ? e.message : String(e)}`)
      }
    case "xz": return tool("xz", ["-dc", "--single-stream"], bytes)
    case "zstd": return tool("zstd", ["-dcq"], bytes)
    case "none": return new Error(`unknown compression (first bytes ${Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join(" ")})`)
  }
}
