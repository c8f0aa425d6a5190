/**
 * The ELF kernel inside a bzImage: the compressed payload the setup header
 * locates (payload_offset/payload_length, from the protected-mode kernel),
 * decompressed. For a kernel built with CONFIG_PVH it carries the Xen
 * PHYS32_ENTRY note, so the loader can boot it the PVH way.
 */
import * as Either from "effect/Either"
import { parseSetupHeader } from "../../src/loader/SetupHeader.js"
import { codecOf, decompress } from "./Decompress.js"

/** The vmlinux bytes, or an Error saying why they could not be had. */
export const extractVmlinux = (path: string, bzImage: Uint8Array): Uint8Array | Error => {
  const header = parseSetupHeader(path, bzImage)
  if (Either.isLeft(header)) return new Error(header.left.message)
  const { kernelOffset, payloadOffset, payloadLength } = header.right
  const start = kernelOffset + payloadOffset
  const payload = bzImage.subarray(start, start + payloadLength)
  // zstd would read the size Linux appends (4 bytes) as the start of another frame.
  const out = decompress(codecOf(payload) === "zstd" ? payload.subarray(0, payload.length - 4) : payload)
  if (out instanceof Error) return new Error(`${path}: payload at file offset 0x${start.toString(16)}: ${out.message}`)
  if (!(out[0] === 0x7f && out[1] === 0x45 && out[2] === 0x4c && out[3] === 0x46)) {
    return new Error(`${path}: the decompressed payload is not an ELF file`)
  }
  return out
}
