import { type GuestRam, ramSlice } from "../../kernel/MemoryLayout.js"
import { DESC_F_INDIRECT, DESC_F_NEXT, DESC_F_WRITE, DESC_SIZE } from "./VirtioConstants.js"

/** The buffers of one request: what the device reads, then what it writes, as views straight into guest RAM. */
export interface ChainBuffers {
  readonly readable: ReadonlyArray<Uint8Array>
  readonly writable: ReadonlyArray<Uint8Array>
  readonly readableLength: number
  readonly writableLength: number
}

/** Why a chain cannot be used. Returned, never thrown: a hostile guest must not be able to crash the VMM. */
export class ChainFault {
  constructor(readonly reason: string) {}
}

/** An indirect table larger than this is refused (QEMU's bound too); Linux never comes near it. */
export const MAX_INDIRECT_DESCRIPTORS = 1024
const U32_MAX = 0xffffffff
const EMPTY = new Uint8Array(0)

const hex = (n: number) => `0x${n.toString(16)}`

/**
 * Walks the descriptor chain that starts at `head` in `table` (the queue's
 * descriptor table, `queueSize` entries). Every step is bounded: indices
 * inside their table, at most `queueSize` descriptors in the direct chain
 * and at most the table's length in an indirect one (so loops end), every
 * buffer inside guest RAM, device-writable buffers after readable ones,
 * and each direction under 4 GiB (used lengths are 32-bit).
 */
export const walkChain = (
  ram: GuestRam,
  table: DataView,
  queueSize: number,
  head: number,
  indirectAllowed: boolean
): ChainBuffers | ChainFault => {
  const readable: Array<Uint8Array> = []
  const writable: Array<Uint8Array> = []
  let readableLength = 0
  let writableLength = 0
  let view = table
  let entries = queueSize
  let budget = queueSize
  let indirect = false
  let i = head
  for (;;) {
    if (i >= entries) return new ChainFault(`descriptor ${i} is outside its ${indirect ? "indirect " : ""}table of ${entries}`)
    if (budget-- === 0) {
      return new ChainFault(indirect ? `indirect chain loops or runs past its ${entries} descriptors` : `chain longer than the queue size ${queueSize} (a loop?)`)
    }
    const at = i * DESC_SIZE
    const address = view.getUint32(at + 4, true) * 0x1_0000_0000 + view.getUint32(at, true)
    const length = view.getUint32(at + 8, true)
    const flags = view.getUint16(at + 12, true)
    const next = view.getUint16(at + 14, true)
    if ((flags & DESC_F_INDIRECT) !== 0) {
      if (!indirectAllowed) return new ChainFault("indirect descriptor without VIRTIO_F_INDIRECT_DESC")
      if (indirect) return new ChainFault("indirect descriptor inside an indirect table")
      if ((flags & DESC_F_NEXT) !== 0) return new ChainFault("descriptor has both INDIRECT and NEXT")
      if (length === 0 || length % DESC_SIZE !== 0) return new ChainFault(`indirect table length ${length} is not a non-zero multiple of 16`)
      if (length / DESC_SIZE > MAX_INDIRECT_DESCRIPTORS) return new ChainFault(`indirect table of ${length / DESC_SIZE} descriptors (at most ${MAX_INDIRECT_DESCRIPTORS})`)
      const bytes = ramSlice(ram, address, length)
      if (bytes === undefined) return new ChainFault(`indirect table at ${hex(address)}+${length} is outside RAM`)
      view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
      entries = budget = length / DESC_SIZE
      indirect = true
      i = 0
      continue
    }
    const buffer = length === 0 ? EMPTY : ramSlice(ram, address, length)
    if (buffer === undefined) return new ChainFault(`buffer at ${hex(address)}+${length} is outside RAM`)
    if ((flags & DESC_F_WRITE) !== 0) {
      writable.push(buffer)
      writableLength += length
    } else {
      if (writable.length > 0) return new ChainFault("device-readable buffer after a device-writable one")
      readable.push(buffer)
      readableLength += length
    }
    if (readableLength > U32_MAX || writableLength > U32_MAX) return new ChainFault("chain carries 4 GiB or more")
    if ((flags & DESC_F_NEXT) === 0) return { readable, writable, readableLength, writableLength }
    i = next
  }
}
