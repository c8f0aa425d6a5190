import { type GuestRam, ramSlice } from "../../kernel/MemoryLayout.js"
import { type ChainBuffers, ChainFault, walkChain } from "./DescriptorChain.js"
import { AVAIL_F_NO_INTERRUPT, DESC_SIZE, MAX_QUEUE_SIZE, NO_VECTOR } from "./VirtioConstants.js"
import type { VirtqueueState } from "./VirtqueueState.js"

/** A chain taken off the available ring: its head (to return it) and its buffers. */
export interface Chain extends ChainBuffers {
  readonly queue: number
  readonly head: number
  /** The queue's generation when the chain was taken; a reset since makes completing it a no-op. */
  readonly generation: number
}

interface Rings {
  readonly desc: DataView
  readonly avail: DataView
  readonly used: DataView
}

const view = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0
const hex = (n: bigint) => `0x${n.toString(16)}`

/**
 * One split virtqueue (virtio 1.2, 2.7): the driver-programmed registers,
 * the device's progress through the rings, and bounded access to the rings
 * in guest RAM. Nothing here throws on guest data: problems come back as
 * `ChainFault`s for the transport to act on.
 */
export class SplitVirtqueue {
  size: number
  enabled = false
  msixVector = NO_VECTOR
  descAddr = 0n
  driverAddr = 0n
  deviceAddr = 0n
  /** Next available-ring index the device will read. */
  lastAvailIdx = 0
  /** Next used-ring index the device will write (the used ring's idx). */
  usedIdx = 0
  /** The used idx when the device last decided whether to interrupt (EVENT_IDX needs it). */
  signalledUsedIdx = 0
  generation = 0
  private rings: Rings | undefined

  constructor(readonly index: number, readonly maxSize: number) {
    this.size = maxSize
  }

  reset(): void {
    this.size = this.maxSize
    this.enabled = false
    this.msixVector = NO_VECTOR
    this.descAddr = this.driverAddr = this.deviceAddr = 0n
    this.lastAvailIdx = this.usedIdx = this.signalledUsedIdx = 0
    this.generation++
    this.rings = undefined
  }

  /** A size the driver may choose: a power of two up to what the device offers (2.7.10.1). */
  acceptsSize(size: number): boolean {
    return isPowerOfTwo(size) && size <= this.maxSize && size <= MAX_QUEUE_SIZE
  }

  /** Finds the three rings in RAM (aligned, wholly inside RAM, event fields included); the reason when they are not. */
  attach(ram: GuestRam): string | undefined {
    this.rings = undefined
    if (!this.acceptsSize(this.size)) return `queue ${this.index}: size ${this.size} is not a power of two up to ${this.maxSize}`
    const parts: Array<[string, bigint, number, number]> = [
      ["descriptor table", this.descAddr, DESC_SIZE * this.size, 16],
      ["available ring", this.driverAddr, 6 + 2 * this.size, 2],
      ["used ring", this.deviceAddr, 6 + 8 * this.size, 4]
    ]
    const views: Array<DataView> = []
    for (const [name, address, length, align] of parts) {
      if (address % BigInt(align) !== 0n) return `queue ${this.index}: ${name} at ${hex(address)} is not ${align}-byte aligned`
      const bytes = address < 2n ** 52n ? ramSlice(ram, Number(address), length) : undefined
      if (bytes === undefined) return `queue ${this.index}: ${name} at ${hex(address)}+${length} is outside RAM`
      views.push(view(bytes))
    }
    this.rings = { desc: views[0], avail: views[1], used: views[2] }
    return undefined
  }

  get ready(): boolean {
    return this.enabled && this.rings !== undefined
  }

  /** Takes the next available chain: undefined when none is available, a fault when the ring or chain is bad. */
  pop(ram: GuestRam, indirectAllowed: boolean): Chain | ChainFault | undefined {
    const rings = this.rings
    if (rings === undefined || !this.enabled) return undefined
    const availIdx = rings.avail.getUint16(2, true)
    const waiting = (availIdx - this.lastAvailIdx) & 0xffff
    if (waiting === 0) return undefined
    if (waiting > this.size) return new ChainFault(`queue ${this.index}: available idx ${availIdx} is ${waiting} ahead of the device on a queue of ${this.size}`)
    const head = rings.avail.getUint16(4 + 2 * (this.lastAvailIdx % this.size), true)
    this.lastAvailIdx = (this.lastAvailIdx + 1) & 0xffff
    if (head >= this.size) return new ChainFault(`queue ${this.index}: head ${head} is outside the queue of ${this.size}`)
    const buffers = walkChain(ram, rings.desc, this.size, head, indirectAllowed)
    if (buffers instanceof ChainFault) return new ChainFault(`queue ${this.index}: ${buffers.reason}`)
    return { ...buffers, queue: this.index, head, generation: this.generation }
  }

  /** Whether the driver has made more chains available than the device has taken. */
  hasAvailable(): boolean {
    return this.rings !== undefined && this.enabled && this.rings.avail.getUint16(2, true) !== this.lastAvailIdx
  }

  /** Returns a chain in the used ring; the element is written before the index that publishes it. */
  push(head: number, written: number): void {
    const rings = this.rings
    if (rings === undefined) return
    const at = 4 + 8 * (this.usedIdx % this.size)
    rings.used.setUint32(at, head, true)
    rings.used.setUint32(at + 4, written, true)
    this.usedIdx = (this.usedIdx + 1) & 0xffff
    rings.used.setUint16(2, this.usedIdx, true)
  }

  /**
   * Whether the chains pushed since the last call deserve an interrupt:
   * with EVENT_IDX, when the used index crossed the driver's used_event
   * (2.7.10.2's vring_need_event); without, unless the driver set
   * NO_INTERRUPT.
   */
  needsInterrupt(eventIdx: boolean): boolean {
    const rings = this.rings
    const old = this.signalledUsedIdx
    const now = this.usedIdx
    this.signalledUsedIdx = now
    if (rings === undefined || old === now) return false
    if (!eventIdx) return (rings.avail.getUint16(0, true) & AVAIL_F_NO_INTERRUPT) === 0
    const usedEvent = rings.avail.getUint16(4 + 2 * this.size, true)
    return ((now - usedEvent - 1) & 0xffff) < ((now - old) & 0xffff)
  }

  /** With EVENT_IDX: ask to be notified once the driver makes available index `lastAvailIdx` (2.7.10.2's avail_event). */
  publishAvailEvent(): void {
    this.rings?.used.setUint16(4 + 8 * this.size, this.lastAvailIdx, true)
  }

  save(): VirtqueueState {
    return {
      size: this.size,
      enabled: this.enabled,
      msixVector: this.msixVector,
      descAddr: this.descAddr,
      driverAddr: this.driverAddr,
      deviceAddr: this.deviceAddr,
      lastAvailIdx: this.lastAvailIdx,
      usedIdx: this.usedIdx,
      signalledUsedIdx: this.signalledUsedIdx
    }
  }

  /** Puts the registers back and finds the rings again; the reason when an enabled queue's rings are not in RAM. */
  restore(state: VirtqueueState, ram: GuestRam): string | undefined {
    this.size = state.size
    this.enabled = state.enabled
    this.msixVector = state.msixVector
    this.descAddr = state.descAddr
    this.driverAddr = state.driverAddr
    this.deviceAddr = state.deviceAddr
    this.lastAvailIdx = state.lastAvailIdx
    this.usedIdx = state.usedIdx
    this.signalledUsedIdx = state.signalledUsedIdx
    this.generation++
    this.rings = undefined
    return state.enabled ? this.attach(ram) : undefined
  }
}
