import type { BusRouter } from "../../../src/bus/Bus.js"
import * as V from "../../../src/servers/virtio/VirtioConstants.js"
import { barAddress, cfgRead, cfgWrite } from "../pci/PciTestMachine.js"
import { GuestQueue } from "./GuestQueue.js"
import type { GuestRam } from "../../../src/kernel/MemoryLayout.js"

/** Common config offsets (virtio 1.2, 4.1.4.3). */
export const CC = {
  deviceFeatureSelect: 0x00,
  deviceFeature: 0x04,
  driverFeatureSelect: 0x08,
  driverFeature: 0x0c,
  configMsixVector: 0x10,
  numQueues: 0x12,
  status: 0x14,
  configGeneration: 0x15,
  queueSelect: 0x16,
  queueSize: 0x18,
  queueMsixVector: 0x1a,
  queueEnable: 0x1c,
  queueNotifyOff: 0x1e,
  queueDesc: 0x20,
  queueDriver: 0x28,
  queueDevice: 0x30
} as const

export const ISR = 0x1000
export const DEVICE_CFG = 0x2000
export const NOTIFY = 0x3000

/**
 * A virtio-pci driver in miniature, talking to the device only through
 * config space, its BARs on the Bus and guest RAM, as Linux's
 * virtio_pci_modern does: reset, ACKNOWLEDGE|DRIVER, features, FEATURES_OK,
 * queue setup, DRIVER_OK.
 */
export class VirtioDriver {
  readonly bar: number
  readonly queues: Array<GuestQueue> = []

  constructor(readonly bus: BusRouter, readonly ram: GuestRam, readonly slot: number) {
    this.bar = barAddress(bus, slot, 4)
  }

  read(offset: number, size: 1 | 2 | 4 | 8 = 4): number | bigint {
    return this.bus.mmioRead(this.bar + offset, size)
  }

  num(offset: number, size: 1 | 2 | 4 = 4): number {
    return Number(this.read(offset, size))
  }

  write(offset: number, size: 1 | 2 | 4 | 8, value: number | bigint): void {
    this.bus.mmioWrite(this.bar + offset, size, value)
  }

  get status(): number {
    return this.num(CC.status, 1)
  }

  deviceFeatures(): bigint {
    this.write(CC.deviceFeatureSelect, 4, 0)
    const low = BigInt(this.num(CC.deviceFeature))
    this.write(CC.deviceFeatureSelect, 4, 1)
    return (BigInt(this.num(CC.deviceFeature)) << 32n) | low
  }

  /** Negotiates `wanted` (VERSION_1 always); true when FEATURES_OK stuck. */
  negotiate(wanted: bigint): boolean {
    this.write(CC.status, 1, 0)
    this.write(CC.status, 1, V.STATUS_ACKNOWLEDGE | V.STATUS_DRIVER)
    const features = (wanted | V.F_VERSION_1) & this.deviceFeatures()
    this.write(CC.driverFeatureSelect, 4, 0)
    this.write(CC.driverFeature, 4, Number(features & 0xffffffffn))
    this.write(CC.driverFeatureSelect, 4, 1)
    this.write(CC.driverFeature, 4, Number(features >> 32n))
    this.write(CC.status, 1, this.status | V.STATUS_FEATURES_OK)
    return (this.status & V.STATUS_FEATURES_OK) !== 0
  }

  /** Sets up queue `index` with its rings at `base`; `size` defaults to the device's maximum. */
  setupQueue(index: number, base: number, size?: number, vector?: number): GuestQueue {
    this.write(CC.queueSelect, 2, index)
    const max = this.num(CC.queueSize, 2)
    const n = size ?? max
    this.write(CC.queueSize, 2, n)
    const q = new GuestQueue(this.ram, base, n)
    this.write(CC.queueDesc, 4, q.descAddr)
    this.write(CC.queueDesc + 4, 4, 0)
    this.write(CC.queueDriver, 8, BigInt(q.availAddr))
    this.write(CC.queueDevice, 4, q.usedAddr)
    this.write(CC.queueDevice + 4, 4, 0)
    if (vector !== undefined) this.write(CC.queueMsixVector, 2, vector)
    this.write(CC.queueEnable, 2, 1)
    this.queues[index] = q
    return q
  }

  driverOk(): void {
    this.write(CC.status, 1, this.status | V.STATUS_DRIVER_OK)
  }

  /** The whole bring-up with one queue at `base`. */
  start(base: number, wanted: bigint = V.F_EVENT_IDX | V.F_INDIRECT_DESC): GuestQueue {
    if (!this.negotiate(wanted)) throw new Error("FEATURES_OK refused")
    const q = this.setupQueue(0, base)
    this.driverOk()
    return q
  }

  notify(queue = 0): void {
    this.write(NOTIFY + 4 * queue, 2, queue)
  }

  readIsr(): number {
    return this.num(ISR, 1)
  }

  /** Turns MSI-X on in the capability (and optionally masks the function). */
  enableMsix(functionMask = false): void {
    const cap = findCap(this.bus, this.slot, 0x11)
    cfgWrite(this.bus, this.slot, cap + 2, 0x8000 | (functionMask ? 0x4000 : 0), 2)
  }

  /** Programs MSI-X table entry `v` (in BAR 1) and unmasks it. */
  programVector(v: number, address: number, data: number, masked = false): void {
    const table = barAddress(this.bus, this.slot, 1)
    this.bus.mmioWrite(table + 16 * v, 4, address)
    this.bus.mmioWrite(table + 16 * v + 4, 4, 0)
    this.bus.mmioWrite(table + 16 * v + 8, 4, data)
    this.bus.mmioWrite(table + 16 * v + 12, 4, masked ? 1 : 0)
  }
}

export const findCap = (bus: BusRouter, slot: number, id: number): number => {
  let at = cfgRead(bus, slot, 0x34, 1)
  while (at !== 0) {
    if (cfgRead(bus, slot, at, 1) === id) return at
    at = cfgRead(bus, slot, at + 1, 1)
  }
  throw new Error(`no capability 0x${id.toString(16)}`)
}
