import type { ReportOnce } from "../pci/ReportOnce.js"
import { scatter, sliceViews } from "../virtio-blk/VirtioBlkRequest.js"
import type { QueueHandle, VirtioDevice } from "../virtio/VirtioDevice.js"
import type { NetBackend } from "./NetBackend.js"

/** virtio network device id (5.1). */
export const VIRTIO_ID_NET = 1
export const NET_QUEUE_SIZE = 256
export const RECEIVEQ = 0
export const TRANSMITQ = 1
/** 5.1.3 feature bits offered: a MAC in config space and a link status. No offloads, no mergeable buffers, no control queue. */
export const F_MAC = 1n << 5n
export const F_STATUS = 1n << 16n
export const NET_FEATURES = F_MAC | F_STATUS
/** 5.1.4: mac[6], status u16, max_virtqueue_pairs u16, mtu u16 (read only with F_MTU, not offered). */
export const NET_CONFIG_SIZE = 12
export const S_LINK_UP = 1
/** 5.1.6: struct virtio_net_hdr with num_buffers, as VERSION_1 always has it. */
export const NET_HDR_SIZE = 12
export const ETH_HLEN = 14
/** The largest frame either way: 1500-byte MTU, Ethernet header and a VLAN tag (what a guest without offloads posts buffers for). */
export const MAX_FRAME = 1518
/** Received frames held for the guest at most; more are dropped (counted) as a NIC with a full ring drops them. */
export const MAX_PENDING_RX = 256

export interface NetCounters {
  readonly txFrames: number
  readonly txDropped: number
  readonly rxFrames: number
  readonly rxDropped: number
}

export interface VirtioNetDeviceOptions {
  readonly mac: Uint8Array
  readonly backend: NetBackend
  readonly name: string
  readonly report: ReportOnce
}

/**
 * virtio-net (5.1), one queue pair: transmitq frames go to the backend as
 * they come (their virtio_net_hdr skipped: with no offloads negotiated it
 * asks for nothing), received frames are held (MAX_PENDING_RX at most) and
 * put in receive buffers behind a zeroed header as the guest posts them.
 */
export class VirtioNetDevice implements VirtioDevice {
  readonly deviceId = VIRTIO_ID_NET
  readonly queueSizes = [NET_QUEUE_SIZE, NET_QUEUE_SIZE]
  readonly features = NET_FEATURES
  private readonly configSpace = new Uint8Array(NET_CONFIG_SIZE)
  private pending: Array<Uint8Array> = []
  private handles: ReadonlyArray<QueueHandle> | undefined
  private readonly unsubscribe: () => void
  private counts = { txFrames: 0, txDropped: 0, rxFrames: 0, rxDropped: 0 }

  constructor(private readonly options: VirtioNetDeviceOptions) {
    this.setMac(options.mac)
    const view = new DataView(this.configSpace.buffer)
    view.setUint16(6, S_LINK_UP, true)
    view.setUint16(8, 1, true)
    view.setUint16(10, 1500, true)
    this.unsubscribe = options.backend.onFrame((frame) => this.receive(frame))
  }

  /** The transport's queue handles, so frames arriving on the event loop reach posted buffers without a notify. */
  bind(handles: ReadonlyArray<QueueHandle>): void {
    this.handles = handles
    this.deliver()
  }

  config = (): Uint8Array => this.configSpace

  mac(): Uint8Array {
    return this.configSpace.slice(0, 6)
  }

  setMac(mac: Uint8Array): void {
    this.configSpace.set(mac.subarray(0, 6), 0)
  }

  counters(): NetCounters {
    return { ...this.counts }
  }

  /** Frames received and not yet in the guest. */
  pendingRx(): number {
    return this.pending.length
  }

  /** After a restore: the counters as saved; frames that were waiting then are gone. */
  restoreCounters(counters: NetCounters): void {
    this.counts = { ...counters }
    this.pending = []
  }

  notify = (queue: QueueHandle): void => {
    if (queue.index === RECEIVEQ) return this.deliver(queue)
    if (queue.index !== TRANSMITQ) return
    for (let chain = queue.next(); chain !== undefined; chain = queue.next()) {
      const length = chain.readableLength - NET_HDR_SIZE
      if (length < ETH_HLEN || length > MAX_FRAME) {
        this.counts.txDropped++
        this.options.report(`${this.options.name}:tx-length`, `${this.options.name}: transmit of ${chain.readableLength} bytes (header included) dropped`)
      } else {
        const frame = new Uint8Array(length)
        scatterInto(frame, sliceViews(chain.readable, NET_HDR_SIZE, length))
        if (this.options.backend.send(frame)) this.counts.txFrames++
        else this.counts.txDropped++
      }
      queue.push(chain, 0)
    }
    queue.signal()
  }

  reset = (): void => {
    // Frames in flight to a driver that went away are lost, as on a real NIC.
    this.counts.rxDropped += this.pending.length
    this.pending = []
  }

  close(): void {
    this.unsubscribe()
  }

  /** A frame from the backend. */
  receive(frame: Uint8Array): void {
    if (frame.length < ETH_HLEN || frame.length > MAX_FRAME || this.pending.length >= MAX_PENDING_RX) {
      this.counts.rxDropped++
      return
    }
    this.pending.push(Uint8Array.from(frame))
    this.deliver()
  }

  private deliver(queue: QueueHandle | undefined = this.handles?.[RECEIVEQ]): void {
    if (queue === undefined) return
    let returned = false
    while (this.pending.length > 0) {
      const chain = queue.next()
      if (chain === undefined) break
      const frame = this.pending.shift()
      if (frame === undefined) break
      returned = true
      if (chain.writableLength < NET_HDR_SIZE + frame.length) {
        // A buffer too small for the frame: given back empty (the driver counts a length error), the frame dropped.
        this.counts.rxDropped++
        queue.push(chain, 0)
        continue
      }
      const header = new Uint8Array(NET_HDR_SIZE)
      header[10] = 1 // num_buffers
      scatter(chain.writable, header)
      scatter(sliceViews(chain.writable, NET_HDR_SIZE, frame.length), frame)
      this.counts.rxFrames++
      queue.push(chain, NET_HDR_SIZE + frame.length)
    }
    if (returned) queue.signal()
  }
}

const scatterInto = (out: Uint8Array, views: ReadonlyArray<Uint8Array>): void => {
  let at = 0
  for (const v of views) {
    out.set(v, at)
    at += v.length
  }
}
