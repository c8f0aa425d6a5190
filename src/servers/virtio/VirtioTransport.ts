import type { AccessSize } from "../../bus/DeviceHandlers.js"
import type { GuestRam } from "../../kernel/MemoryLayout.js"
import type { ReportOnce } from "../pci/ReportOnce.js"
import { ChainFault } from "./DescriptorChain.js"
import { type Chain, SplitVirtqueue } from "./SplitVirtqueue.js"
import * as V from "./VirtioConstants.js"
import type { QueueHandle, VirtioDevice } from "./VirtioDevice.js"
import type { VirtioTransportState } from "./VirtioTransportState.js"

/** How the transport interrupts the driver: MSI-X vectors when enabled, otherwise INTx backed by the ISR. */
export interface VirtioInterrupts {
  readonly msixEnabled: () => boolean
  readonly msix: (vector: number) => void
  readonly intx: (level: boolean) => void
}

export interface VirtioTransportOptions {
  readonly device: VirtioDevice
  readonly ram: GuestRam
  readonly interrupts: VirtioInterrupts
  /** MSI-X table size: vectors at or past it are refused (read back as NO_VECTOR). */
  readonly msixVectors: number
  /** Names the device in reports, e.g. "virtio-blk.pci.0.4.0". */
  readonly name: string
  readonly report: ReportOnce
}

/**
 * The virtio 1.x device side that every device shares: the status state
 * machine (incl. DEVICE_NEEDS_RESET), feature negotiation, queues, and
 * interrupts with EVENT_IDX suppression. Register decoding is CommonConfig's;
 * what requests mean is the device's.
 */
export class VirtioTransport {
  status = 0
  deviceFeatureSelect = 0
  driverFeatureSelect = 0
  driverFeatures = 0n
  configMsixVector = V.NO_VECTOR
  queueSelect = 0
  isr = 0
  configGeneration = 0
  readonly queues: ReadonlyArray<SplitVirtqueue>
  readonly handles: ReadonlyArray<QueueHandle>
  readonly offered: bigint
  readonly device: VirtioDevice

  constructor(private readonly options: VirtioTransportOptions) {
    this.device = options.device
    this.offered = options.device.features | V.TRANSPORT_FEATURES
    this.queues = options.device.queueSizes.map((size, i) => new SplitVirtqueue(i, size))
    this.handles = this.queues.map((q) => this.handle(q))
  }

  /** Features in force: the driver's, once FEATURES_OK stuck. */
  get negotiated(): bigint {
    return (this.status & V.STATUS_FEATURES_OK) !== 0 ? this.driverFeatures : 0n
  }

  /** The device runs requests: DRIVER_OK, not broken, not failed. */
  get live(): boolean {
    return (this.status & (V.STATUS_DRIVER_OK | V.STATUS_DEVICE_NEEDS_RESET | V.STATUS_FAILED)) === V.STATUS_DRIVER_OK
  }

  get selected(): SplitVirtqueue | undefined {
    return this.queues[this.queueSelect]
  }

  writeStatus(value: number): void {
    const v = value & 0xff
    if (v === 0) return this.reset()
    const before = this.status
    // DEVICE_NEEDS_RESET is the device's to set; the driver cannot set or clear it.
    let next = (v & ~V.STATUS_DEVICE_NEEDS_RESET) | (before & V.STATUS_DEVICE_NEEDS_RESET)
    // 3.1.1: features the device cannot accept leave FEATURES_OK clear for the driver to see.
    if ((next & V.STATUS_FEATURES_OK) !== 0 && (before & V.STATUS_FEATURES_OK) === 0 && !this.featuresAcceptable()) next &= ~V.STATUS_FEATURES_OK
    this.status = next
    if ((next & V.STATUS_DRIVER_OK) !== 0 && (before & V.STATUS_DRIVER_OK) === 0 && (next & V.STATUS_FEATURES_OK) === 0) {
      this.fail("driver set DRIVER_OK without FEATURES_OK")
    }
  }

  /** Driver features are frozen once FEATURES_OK is set. */
  writeDriverFeatures(select: number, value: number): void {
    if ((this.status & V.STATUS_FEATURES_OK) !== 0 || select > 1) return
    const shift = BigInt(32 * select)
    this.driverFeatures = (this.driverFeatures & ~(0xffffffffn << shift)) | (BigInt(value >>> 0) << shift)
  }

  /** A vector the MSI-X table has, or NO_VECTOR (4.1.4.3: the device reports a mapping it cannot make that way). */
  acceptVector(v: number): number {
    return v < this.options.msixVectors ? v : V.NO_VECTOR
  }

  /** queue_enable = 1: the queue's rings must be in RAM, or the device needs a reset. */
  enableSelected(): void {
    const q = this.selected
    if (q === undefined || q.enabled) return
    q.enabled = true
    const problem = q.attach(this.options.ram)
    if (problem !== undefined) this.fail(problem)
  }

  /** The driver wrote queue `index`'s notify register. */
  notify(index: number): void {
    const q = this.queues[index]
    if (q === undefined || !this.live || !q.ready) return
    this.options.device.notify(this.handles[index])
  }

  /** Reading the ISR returns and clears it, and lowers INTx (4.1.4.5). */
  readIsr(): number {
    const v = this.isr
    if (v !== 0) {
      this.isr = 0
      this.options.interrupts.intx(false)
    }
    return v
  }

  readDeviceConfig(offset: number, size: AccessSize): number | bigint {
    const bytes = this.options.device.config()
    if (offset < 0 || offset + size > bytes.length) return size === 8 ? 0n : 0
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    switch (size) {
      case 1:
        return view.getUint8(offset)
      case 2:
        return view.getUint16(offset, true)
      case 4:
        return view.getUint32(offset, true)
      case 8:
        return view.getBigUint64(offset, true)
    }
  }

  writeDeviceConfig(offset: number, size: AccessSize, value: number): void {
    this.options.device.writeConfig?.(offset, size, value)
  }

  /** The device changed its config space: a new generation, and a configuration change interrupt. */
  configChanged(): void {
    this.configGeneration = (this.configGeneration + 1) & 0xff
    if ((this.status & V.STATUS_DRIVER_OK) !== 0) this.interruptConfig()
  }

  /**
   * The device cannot go on (a malformed ring or chain): DEVICE_NEEDS_RESET,
   * and a configuration change interrupt once the driver is running (2.1.2).
   * Requests stop until the driver resets the device. Reported once per reason.
   */
  fail(reason: string): void {
    // Keyed without the numbers: a guest resetting and faulting at ever new addresses still gets one line per kind of fault.
    this.options.report(`${this.options.name}:${reason.replace(/0x[0-9a-f]+|\d+/g, "#")}`, `${this.options.name}: ${reason}; the device needs a reset`)
    if ((this.status & V.STATUS_DEVICE_NEEDS_RESET) !== 0) return
    this.status |= V.STATUS_DEVICE_NEEDS_RESET
    if ((this.status & V.STATUS_DRIVER_OK) !== 0) this.interruptConfig()
  }

  save(): VirtioTransportState {
    return {
      status: this.status,
      deviceFeatureSelect: this.deviceFeatureSelect,
      driverFeatureSelect: this.driverFeatureSelect,
      driverFeatures: this.driverFeatures,
      configMsixVector: this.configMsixVector,
      queueSelect: this.queueSelect,
      isr: this.isr,
      configGeneration: this.configGeneration,
      queues: this.queues.map((q) => q.save())
    }
  }

  restore(state: VirtioTransportState): void {
    this.status = state.status
    this.deviceFeatureSelect = state.deviceFeatureSelect
    this.driverFeatureSelect = state.driverFeatureSelect
    this.driverFeatures = state.driverFeatures
    this.configMsixVector = state.configMsixVector
    this.queueSelect = state.queueSelect
    this.isr = state.isr
    this.configGeneration = state.configGeneration
    this.queues.forEach((q, i) => {
      const saved = state.queues[i]
      if (saved === undefined) return q.reset()
      const problem = q.restore(saved, this.options.ram)
      if (problem !== undefined) this.fail(problem)
    })
    if (state.queues.length !== this.queues.length) this.fail(`saved state has ${state.queues.length} queues, the device ${this.queues.length}`)
    this.options.interrupts.intx(this.isr !== 0)
  }

  private reset(): void {
    this.options.device.reset?.()
    for (const q of this.queues) q.reset()
    this.status = 0
    this.deviceFeatureSelect = this.driverFeatureSelect = 0
    this.driverFeatures = 0n
    this.configMsixVector = V.NO_VECTOR
    this.queueSelect = 0
    if (this.isr !== 0) {
      this.isr = 0
      this.options.interrupts.intx(false)
    }
  }

  private featuresAcceptable(): boolean {
    return (this.driverFeatures & ~this.offered) === 0n && (this.driverFeatures & V.F_VERSION_1) !== 0n
  }

  private interruptQueue(q: SplitVirtqueue): void {
    if (this.options.interrupts.msixEnabled()) {
      if (q.msixVector !== V.NO_VECTOR) this.options.interrupts.msix(q.msixVector)
      return
    }
    this.isr |= V.ISR_QUEUE
    this.options.interrupts.intx(true)
  }

  private interruptConfig(): void {
    if (this.options.interrupts.msixEnabled()) {
      if (this.configMsixVector !== V.NO_VECTOR) this.options.interrupts.msix(this.configMsixVector)
      return
    }
    this.isr |= V.ISR_CONFIG
    this.options.interrupts.intx(true)
  }

  private handle(q: SplitVirtqueue): QueueHandle {
    const isCurrent = (chain: Chain) => chain.generation === q.generation && this.live
    const push = (chain: Chain, written: number) => {
      if (!isCurrent(chain)) return
      const length = Math.min(written, chain.writableLength) >>> 0
      // The device wrote guest RAM behind the CPU's back: a CPU caching translated code must hear of it.
      const wrote = this.options.ram.hostWrote
      if (wrote !== undefined) {
        let left = length
        for (const buffer of chain.writable) {
          if (left <= 0) break
          wrote(buffer.subarray(0, Math.min(left, buffer.length)))
          left -= buffer.length
        }
      }
      q.push(chain.head, length)
    }
    const signal = () => {
      if (this.live && q.needsInterrupt((this.negotiated & V.F_EVENT_IDX) !== 0n)) this.interruptQueue(q)
    }
    const next = (): Chain | undefined => {
      const eventIdx = (this.negotiated & V.F_EVENT_IDX) !== 0n
      const indirect = (this.negotiated & V.F_INDIRECT_DESC) !== 0n
      while (this.live) {
        const popped = q.pop(this.options.ram, indirect)
        if (popped instanceof ChainFault) {
          this.fail(popped.reason)
          return undefined
        }
        if (popped !== undefined) return popped
        if (!eventIdx) return undefined
        // Ask for a notification at the next buffer, then look once more: the driver may have added one meanwhile.
        q.publishAvailEvent()
        if (!q.hasAvailable()) return undefined
      }
      return undefined
    }
    return {
      index: q.index,
      features: () => this.negotiated,
      next,
      push,
      signal,
      complete: (chain, written) => {
        push(chain, written)
        signal()
      },
      isCurrent
    }
  }
}
