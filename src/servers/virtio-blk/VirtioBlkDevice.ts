import type { ReportOnce } from "../pci/ReportOnce.js"
import type { Chain } from "../virtio/SplitVirtqueue.js"
import type { QueueHandle, VirtioDevice } from "../virtio/VirtioDevice.js"
import type { BlockBackend } from "./BlockBackend.js"
import * as C from "./VirtioBlkConfig.js"
import * as Q from "./VirtioBlkRequest.js"

export interface VirtioBlkDeviceOptions {
  readonly logicalSectorSize: number
  readonly physicalSectorSize: number
  readonly discard: boolean
  /** The 20-byte id GET_ID returns. */
  readonly serial: string
  /** Names the device in reports. */
  readonly name: string
  readonly report: ReportOnce
}

/** What a request resolved to before any I/O: a status now, or an operation to run. */
type Plan =
  | { readonly status: number; readonly written: number }
  | { readonly run: () => Promise<void>; readonly written: number }

/**
 * virtio-blk (5.2) over a BlockBackend: read, write, flush, get-id and
 * discard. Requests that need the backend run asynchronously and in
 * parallel, as many as the driver queues; each completes on the event loop
 * by writing its status byte and returning its chain. `drained()` and
 * `pendingIo()` let a save wait for them and the run loop see them.
 */
export class VirtioBlkDevice implements VirtioDevice {
  readonly deviceId = C.VIRTIO_ID_BLOCK
  readonly queueSizes = [C.BLK_QUEUE_SIZE]
  readonly features: bigint
  private readonly configSpace: Uint8Array
  private readonly capacityBytes: number
  private readonly serial: Uint8Array
  private inFlight = 0
  private waiters: Array<() => void> = []

  constructor(private readonly backend: BlockBackend, private readonly options: VirtioBlkDeviceOptions) {
    const geometry = { ...options, capacityBytes: backend.sizeBytes, readOnly: backend.readOnly }
    this.features = C.blkFeatures(geometry)
    this.configSpace = C.blkConfigSpace(geometry)
    this.capacityBytes = C.capacitySectors(geometry) * C.SECTOR
    this.serial = new TextEncoder().encode(options.serial).subarray(0, 20)
  }

  config = (): Uint8Array => this.configSpace

  notify = (queue: QueueHandle): void => {
    for (let chain = queue.next(); chain !== undefined; chain = queue.next()) this.start(queue, chain)
    // Requests answered without I/O are returned above; one interrupt covers them.
    queue.signal()
  }

  /** Requests started and not yet completed (including any whose driver reset meanwhile). */
  pendingIo(): number {
    return this.inFlight
  }

  /** Resolves once nothing is in flight. */
  drained(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve))
  }

  private start(queue: QueueHandle, chain: Chain): void {
    const status = lastByte(chain.writable)
    if (status === undefined) {
      // No byte to put a status in: the request cannot be answered, only given back.
      this.options.report(`${this.options.name}:no-status`, `${this.options.name}: request without a writable status byte dropped`)
      queue.push(chain, 0)
      return
    }
    const plan = this.plan(queue, chain)
    if ("status" in plan) {
      status[0] = plan.status
      queue.push(chain, plan.written)
      return
    }
    this.inFlight++
    let op: Promise<void>
    try {
      op = plan.run()
    } catch (e) {
      op = Promise.reject(e)
    }
    op.then(
      () => Q.S_OK,
      (e: unknown) => {
        this.options.report(`${this.options.name}:io:${e instanceof Error ? e.message : String(e)}`, `${this.options.name}: I/O error: ${e instanceof Error ? e.message : String(e)}`)
        return Q.S_IOERR
      }
    ).then((result) => {
      // After a reset the buffers are no longer ours: the data may have landed, the status must not.
      if (queue.isCurrent(chain)) {
        status[0] = result
        queue.complete(chain, result === Q.S_OK ? plan.written : 1)
      }
      this.finished()
    })
  }

  private plan(queue: QueueHandle, chain: Chain): Plan {
    const fail = (status: number) => ({ status, written: 1 })
    if (chain.readableLength < Q.HEADER_SIZE) return fail(Q.S_IOERR)
    const { type, sector } = Q.readHeader(chain.readable)
    const dataIn = chain.writableLength - 1
    const dataOut = chain.readableLength - Q.HEADER_SIZE
    switch (type) {
      case Q.T_IN: {
        const position = this.range(sector, dataIn)
        if (position === undefined) return fail(Q.S_IOERR)
        const views = Q.sliceViews(chain.writable, 0, dataIn)
        return { run: () => this.backend.read(views, position), written: dataIn + 1 }
      }
      case Q.T_OUT: {
        if (this.backend.readOnly) return fail(Q.S_IOERR)
        const position = this.range(sector, dataOut)
        if (position === undefined) return fail(Q.S_IOERR)
        const views = Q.sliceViews(chain.readable, Q.HEADER_SIZE, dataOut)
        // Without FLUSH negotiated the driver expects write-through (5.2.6.2).
        const writeThrough = (queue.features() & C.F_FLUSH) === 0n
        return { run: () => this.backend.write(views, position).then(() => (writeThrough ? this.backend.flush() : undefined)), written: 1 }
      }
      case Q.T_FLUSH:
        return this.backend.readOnly ? { status: Q.S_OK, written: 1 } : { run: () => this.backend.flush(), written: 1 }
      case Q.T_GET_ID: {
        const n = Q.scatter(Q.sliceViews(chain.writable, 0, dataIn), this.serial)
        // A shorter id is NUL-terminated when there is room.
        if (n < dataIn && n < 20) Q.scatter(Q.sliceViews(chain.writable, n, 1), Uint8Array.of(0))
        return { status: Q.S_OK, written: Math.min(dataIn, 20) + 1 }
      }
      case Q.T_DISCARD:
        return { status: this.discard(queue, chain.readable, dataOut), written: 1 }
      default:
        return fail(Q.S_UNSUPP)
    }
  }

  /**
   * Checks a discard's segments. The sectors are left as they are: node:fs
   * cannot punch holes, and discarded data may legitimately read back
   * unchanged (5.2.6.2 makes discard a hint).
   */
  private discard(queue: QueueHandle, readable: ReadonlyArray<Uint8Array>, length: number): number {
    if (!this.options.discard || (queue.features() & C.F_DISCARD) === 0n) return Q.S_UNSUPP
    if (this.backend.readOnly) return Q.S_IOERR
    if (length === 0 || length % Q.DISCARD_SEGMENT_SIZE !== 0 || length / Q.DISCARD_SEGMENT_SIZE > C.MAX_DISCARD_SEG) return Q.S_IOERR
    const segments = Q.gather(readable, Q.HEADER_SIZE, length)
    for (let at = 0; at < length; at += Q.DISCARD_SEGMENT_SIZE) {
      const sector = segments.getBigUint64(at, true)
      const count = segments.getUint32(at + 8, true)
      const flags = segments.getUint32(at + 12, true)
      if ((flags & ~Q.DISCARD_FLAG_UNMAP) !== 0) return Q.S_UNSUPP
      if (count > C.MAX_DISCARD_SECTORS || this.range(sector, count * C.SECTOR) === undefined) return Q.S_IOERR
    }
    return Q.S_OK
  }

  /** The byte position of [sector, +length) when it is whole 512-byte sectors inside the disk. */
  private range(sector: bigint, length: number): number | undefined {
    if (length < 0 || length % C.SECTOR !== 0) return undefined
    const position = sector * BigInt(C.SECTOR)
    if (position + BigInt(length) > BigInt(this.capacityBytes)) return undefined
    return Number(position)
  }

  private finished(): void {
    this.inFlight--
    if (this.inFlight > 0) return
    const waiting = this.waiters
    this.waiters = []
    for (const wake of waiting) wake()
  }
}

/** The last byte of the device-writable buffers: where the status goes (5.2.6). */
const lastByte = (writable: ReadonlyArray<Uint8Array>): Uint8Array | undefined => {
  for (let i = writable.length - 1; i >= 0; i--) {
    const v = writable[i]
    if (v.length > 0) return v.subarray(v.length - 1)
  }
  return undefined
}
