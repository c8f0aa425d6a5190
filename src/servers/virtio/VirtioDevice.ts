import type { AccessSize } from "../../bus/DeviceHandlers.js"
import type { Chain } from "./SplitVirtqueue.js"

/** A device's view of one of its queues; the transport enforces the rules behind it. */
export interface QueueHandle {
  readonly index: number
  /** The features the driver accepted (FEATURES_OK), for behaviour that depends on them. */
  readonly features: () => bigint
  /** The next chain the driver made available; undefined when there is none, or the device is broken or not running. */
  readonly next: () => Chain | undefined
  /** Returns a chain to the driver, `written` bytes written into its device-writable buffers; no interrupt yet. */
  readonly push: (chain: Chain, written: number) => void
  /** Interrupts the driver if chains were returned since the last signal and its suppression settings allow. */
  readonly signal: () => void
  /** push, then signal: how an asynchronous completion finishes. */
  readonly complete: (chain: Chain, written: number) => void
  /** False once the driver reset the device (or it broke) after the chain was taken: its buffers are no longer ours to write. */
  readonly isCurrent: (chain: Chain) => boolean
}

/**
 * What a device model gives the shared virtio transport: its identity, its
 * queues and features, its config space and what it does when the driver
 * notifies a queue. Everything about status, feature negotiation, rings
 * and interrupts is the transport's.
 */
export interface VirtioDevice {
  /** The virtio device id (2 block, 4 entropy...). */
  readonly deviceId: number
  /** The largest size of each queue, by queue index. */
  readonly queueSizes: ReadonlyArray<number>
  /** Device-specific feature bits offered (the transport adds VERSION_1, EVENT_IDX and INDIRECT_DESC). */
  readonly features: bigint
  /** The device-specific configuration structure as it reads now. */
  readonly config: () => Uint8Array
  /** A driver write into device-specific config (most fields are read-only; default: ignored). */
  readonly writeConfig?: (offset: number, size: AccessSize, value: number) => void
  /** The driver made buffers available on `queue` (only called while DRIVER_OK and the queue is enabled). */
  readonly notify: (queue: QueueHandle) => void
  /** The driver reset the device: forget queued work; completions of work in flight will be refused by `isCurrent`. */
  readonly reset?: () => void
}
