import type { ReportOnce } from "../pci/ReportOnce.js"
import type { SerialBackendHandle } from "../serial-backend/SerialBackend.js"
import { scatter, sliceViews } from "../virtio-blk/VirtioBlkRequest.js"
import type { QueueHandle, VirtioDevice } from "../virtio/VirtioDevice.js"

/** virtio console device id (5.3). */
export const VIRTIO_ID_CONSOLE = 3
/** bhyve's ring size for virtio-console. */
export const CONSOLE_QUEUE_SIZE = 64
export const RECEIVEQ = 0
export const TRANSMITQ = 1
/** 5.3.3: VIRTIO_CONSOLE_F_EMERG_WRITE (no F_SIZE, no F_MULTIPORT: one port, port 0). */
export const F_EMERG_WRITE = 1n << 2n
/** 5.3.4: cols u16, rows u16, max_nr_ports u32, emerg_wr u32. */
export const CONSOLE_CONFIG_SIZE = 12
const EMERG_WR = 8
/** Host input held while the guest has no receive buffers; beyond it new input is dropped (counted). */
export const MAX_PENDING_INPUT = 64 * 1024
/** Bytes taken from one transmit chain at most: a guest posting a huge buffer must not make the host copy gigabytes. */
export const MAX_TX_PER_CHAIN = 64 * 1024

export interface VirtioConsoleDeviceOptions {
  readonly backend: SerialBackendHandle
  /** Names the device in reports. */
  readonly name: string
  readonly report: ReportOnce
}

/**
 * virtio-console (5.3) with a single port and no multiport control queue:
 * receiveq 0 carries host input into the guest, transmitq 1 carries guest
 * output to a serial backend (stdio, UNIX socket, memory). Host input that
 * arrives while the guest has no receive buffer posted is held, up to
 * MAX_PENDING_INPUT bytes, and delivered when the guest posts buffers; it
 * survives a driver reset and is part of the saved state.
 */
export class VirtioConsoleDevice implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_CONSOLE
  readonly queueSizes = [CONSOLE_QUEUE_SIZE, CONSOLE_QUEUE_SIZE]
  readonly features = F_EMERG_WRITE
  private pending: Array<Uint8Array> = []
  private pendingBytes = 0
  private droppedInput = 0
  private handles: ReadonlyArray<QueueHandle> | undefined
  private readonly unsubscribe: () => void
  private readonly configSpace = new Uint8Array(CONSOLE_CONFIG_SIZE)

  constructor(private readonly options: VirtioConsoleDeviceOptions) {
    new DataView(this.configSpace.buffer).setUint32(4, 1, true)
    this.unsubscribe = options.backend.onInput((bytes) => this.input(bytes))
  }

  /** The transport's queue handles, so input arriving on the event loop can be delivered without a notify. */
  bind(handles: ReadonlyArray<QueueHandle>): void {
    this.handles = handles
    this.deliver()
  }

  config = (): Uint8Array => this.configSpace

  writeConfig = (offset: number, size: number, value: number): void => {
    // emerg_wr: one character, written whether or not the port is set up (5.3.6.1).
    if (offset === EMERG_WR && size === 4) this.options.backend.write(Uint8Array.of(value & 0xff))
  }

  notify = (queue: QueueHandle): void => {
    if (queue.index === RECEIVEQ) return this.deliver(queue)
    if (queue.index !== TRANSMITQ) return
    for (let chain = queue.next(); chain !== undefined; chain = queue.next()) {
      const n = Math.min(chain.readableLength, MAX_TX_PER_CHAIN)
      if (chain.readableLength > n) {
        this.options.report(`${this.options.name}:tx-long`, `${this.options.name}: transmit buffer of ${chain.readableLength} bytes cut to ${MAX_TX_PER_CHAIN}`)
      }
      for (const v of sliceViews(chain.readable, 0, n)) if (v.length > 0) this.options.backend.write(v)
      queue.push(chain, 0)
    }
    queue.signal()
  }

  /** Host input: held, then delivered into whatever receive buffers the guest has posted. */
  input(bytes: Uint8Array): void {
    const room = MAX_PENDING_INPUT - this.pendingBytes
    const take = Math.min(room, bytes.length)
    this.droppedInput += bytes.length - take
    if (take > 0) {
      this.pending.push(Uint8Array.from(bytes.subarray(0, take)))
      this.pendingBytes += take
    }
    this.deliver()
  }

  /** Bytes of host input not yet in the guest. */
  pendingInput(): Uint8Array {
    const all = new Uint8Array(this.pendingBytes)
    let at = 0
    for (const c of this.pending) {
      all.set(c, at)
      at += c.length
    }
    return all
  }

  /** Input bytes dropped because MAX_PENDING_INPUT were already held. */
  dropped(): number {
    return this.droppedInput
  }

  /** After a restore: the input the old machine held, delivered if the guest has buffers waiting. */
  restorePending(bytes: Uint8Array): void {
    const kept = bytes.subarray(0, MAX_PENDING_INPUT)
    this.pending = kept.length === 0 ? [] : [Uint8Array.from(kept)]
    this.pendingBytes = kept.length
    this.deliver()
  }

  close(): void {
    this.unsubscribe()
  }

  private deliver(queue: QueueHandle | undefined = this.handles?.[RECEIVEQ]): void {
    if (queue === undefined) return
    let returned = false
    while (this.pendingBytes > 0) {
      const chain = queue.next()
      if (chain === undefined) break
      const data = this.take(chain.writableLength)
      queue.push(chain, scatter(chain.writable, data))
      returned = true
    }
    if (returned) queue.signal()
  }

  /** Removes up to `max` bytes from the front of the pending input. */
  private take(max: number): Uint8Array {
    const n = Math.min(max, this.pendingBytes)
    const out = new Uint8Array(n)
    let at = 0
    while (at < n) {
      const head = this.pending[0]
      const k = Math.min(head.length, n - at)
      out.set(head.subarray(0, k), at)
      at += k
      if (k === head.length) this.pending.shift()
      else this.pending[0] = head.subarray(k)
    }
    this.pendingBytes -= n
    return out
  }
}
