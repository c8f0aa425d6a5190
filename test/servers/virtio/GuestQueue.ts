import { expect } from "@effect/vitest"
import { FastCheck } from "effect"
import type { GuestRam } from "../../../src/kernel/MemoryLayout.js"
import { SplitVirtqueue } from "../../../src/servers/virtio/SplitVirtqueue.js"
import { testRam } from "../pci/PciTestMachine.js"

export interface Buffer {
  readonly addr: number
  readonly len: number
  readonly write?: boolean
}

const NEXT = 1
const WRITE = 2
const INDIRECT = 4

/**
 * The driver's side of one split virtqueue, laid out in test RAM at `base`:
 * descriptor table, available ring, then the used ring 4-byte aligned.
 * Writes descriptors and ring entries exactly as a guest driver would.
 */
export class GuestQueue {
  readonly descAddr: number
  readonly availAddr: number
  readonly usedAddr: number
  readonly view: DataView
  private nextDesc = 0
  availIdx = 0
  private lastUsed = 0

  constructor(ram: GuestRam, base: number, readonly size: number) {
    const bytes = ram.regions[0].bytes
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.descAddr = base
    this.availAddr = base + 16 * size
    this.usedAddr = Math.ceil((this.availAddr + 6 + 2 * size) / 4) * 4
  }

  /** Bytes the three rings take. */
  get footprint(): number {
    return this.usedAddr + 6 + 8 * this.size - this.descAddr
  }

  writeDesc(table: number, i: number, addr: number, len: number, flags: number, next: number): void {
    const at = table + 16 * i
    this.view.setUint32(at, addr % 0x1_0000_0000, true)
    this.view.setUint32(at + 4, Math.floor(addr / 0x1_0000_0000), true)
    this.view.setUint32(at + 8, len, true)
    this.view.setUint16(at + 12, flags, true)
    this.view.setUint16(at + 14, next, true)
  }

  /** Puts a chain in the descriptor table (next free entries) and makes it available; returns its head. */
  add(buffers: ReadonlyArray<Buffer>): number {
    const head = this.nextDesc % this.size
    buffers.forEach((b, k) => {
      const i = (this.nextDesc + k) % this.size
      const last = k === buffers.length - 1
      this.writeDesc(this.descAddr, i, b.addr, b.len, (b.write === true ? WRITE : 0) | (last ? 0 : NEXT), (i + 1) % this.size)
    })
    this.nextDesc += buffers.length
    this.publish(head)
    return head
  }

  /** A chain of one INDIRECT descriptor pointing at a table written at `tableAddr`. */
  addIndirect(tableAddr: number, buffers: ReadonlyArray<Buffer>): number {
    buffers.forEach((b, k) =>
      this.writeDesc(tableAddr, k, b.addr, b.len, (b.write === true ? WRITE : 0) | (k === buffers.length - 1 ? 0 : NEXT), k + 1))
    const head = this.nextDesc % this.size
    this.writeDesc(this.descAddr, head, tableAddr, 16 * buffers.length, INDIRECT, 0)
    this.nextDesc += 1
    this.publish(head)
    return head
  }

  /** Makes `head` available (whatever the descriptor table says). */
  publish(head: number): void {
    this.view.setUint16(this.availAddr + 4 + 2 * (this.availIdx % this.size), head, true)
    this.availIdx = (this.availIdx + 1) & 0xffff
    this.view.setUint16(this.availAddr + 2, this.availIdx, true)
  }

  setAvailIdx(idx: number): void {
    this.availIdx = idx & 0xffff
    this.lastUsed = idx & 0xffff
    this.view.setUint16(this.availAddr + 2, this.availIdx, true)
  }

  /** used_event (EVENT_IDX): interrupt me when the used index passes this. */
  setUsedEvent(v: number): void {
    this.view.setUint16(this.availAddr + 4 + 2 * this.size, v, true)
  }

  setNoInterrupt(on: boolean): void {
    this.view.setUint16(this.availAddr, on ? 1 : 0, true)
  }

  get usedIdx(): number {
    return this.view.getUint16(this.usedAddr + 2, true)
  }

  /** avail_event (EVENT_IDX): the device wants a notification when the available index reaches this. */
  get availEvent(): number {
    return this.view.getUint16(this.usedAddr + 4 + 8 * this.size, true)
  }

  /** Used elements returned since the last call. */
  takeUsed(): Array<{ id: number; len: number }> {
    const out: Array<{ id: number; len: number }> = []
    while (this.lastUsed !== this.usedIdx) {
      const at = this.usedAddr + 4 + 8 * (this.lastUsed % this.size)
      out.push({ id: this.view.getUint32(at, true), len: this.view.getUint32(at + 4, true) })
      this.lastUsed = (this.lastUsed + 1) & 0xffff
    }
    return out
  }
}

export const RAM = 1 << 20
export const RINGS = 0x1000
export const DATA = 0x10000

/** A device-side queue of `size` in fresh RAM, programmed and enabled as a driver would, with the driver's view of it. */
export const queueInRam = (size = 16, ram = testRam(RAM)) => {
  const guest = new GuestQueue(ram, RINGS, size)
  const q = new SplitVirtqueue(0, size)
  q.descAddr = BigInt(guest.descAddr)
  q.driverAddr = BigInt(guest.availAddr)
  q.deviceAddr = BigInt(guest.usedAddr)
  q.enabled = true
  const problem = q.attach(ram)
  if (problem !== undefined) throw new Error(problem)
  return { q, guest, ram, bytes: ram.regions[0].bytes }
}

/**
 * One descriptor as a hostile driver might write it: addresses in or far
 * outside RAM, absurd lengths, any flags, `next` up to `maxNext`.
 */
export const hostileDescriptor = (maxNext: number) =>
  FastCheck.record({
    addr: FastCheck.oneof(FastCheck.integer({ min: 0, max: 0x40_0000 }), FastCheck.constant(0xffff_fff0)),
    len: FastCheck.oneof(FastCheck.integer({ min: 0, max: 0x2000 }), FastCheck.constant(0xffff_ffff)),
    flags: FastCheck.integer({ min: 0, max: 7 }),
    next: FastCheck.integer({ min: 0, max: maxNext })
  })

/**
 * Random descriptor tables (fixed seed) published on either queue of a
 * two-queue device: notifying the device, then `poke` (input arriving from
 * its backend), never throws. `start` sets both queues up afresh for each
 * case and `clear` wipes what the case wrote.
 */
export const assertHostileTablesNeverThrow = (options: {
  readonly maxNext: number
  readonly start: () => { readonly rx: GuestQueue; readonly tx: GuestQueue }
  readonly notify: (queue: number) => void
  readonly poke: () => void
  readonly clear: () => void
  readonly seed: number
}): void =>
  FastCheck.assert(
    FastCheck.property(
      FastCheck.array(hostileDescriptor(options.maxNext), { minLength: 1, maxLength: 8 }),
      FastCheck.integer({ min: 0, max: 1 }),
      (descs, queue) => {
        const { rx, tx } = options.start()
        const q = queue === 0 ? rx : tx
        descs.forEach((d, i) => q.writeDesc(q.descAddr, i, d.addr, d.len, d.flags, d.next))
        q.publish(0)
        expect(() => {
          options.notify(queue)
          options.poke()
        }).not.toThrow()
        options.clear()
      }
    ),
    { seed: options.seed, numRuns: 150 }
  )
