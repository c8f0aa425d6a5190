import type { AccessSize, MmioHandler } from "../../bus/DeviceHandlers.js"
import { type CapabilitySpec, leBytes } from "../pci/PciCapability.js"
import { CAP_VENDOR_SPECIFIC } from "../pci/PciRegisters.js"
import { COMMON_CFG_LENGTH } from "./CommonConfig.js"
import * as V from "./VirtioConstants.js"
import { low32 } from "../pci/AccessValue.js"

/**
 * Where the virtio structures sit: MSI-X table and PBA in BAR 1 (32-bit),
 * the virtio structures in BAR 4 (64-bit, not prefetchable: ISR reads have
 * side effects), one 4 KiB page each so the notify page can later be given
 * to KVM (ioeventfd) without taking the others along. QEMU uses the same
 * BAR numbers, which keeps guest-visible layouts familiar.
 */
export const MSIX_BAR = 1
export const VIRTIO_BAR = 4
export const VIRTIO_BAR_SIZE = 0x4000
export const COMMON_OFFSET = 0x0000
export const ISR_OFFSET = 0x1000
export const DEVICE_OFFSET = 0x2000
export const NOTIFY_OFFSET = 0x3000
export const PAGE = 0x1000
/** Each queue's doorbell is 4 bytes apart: queue_notify_off = queue index. */
export const NOTIFY_MULTIPLIER = 4

/** struct virtio_pci_cap after id and next: cap_len, cfg_type, bar, id, padding[2], offset, length. */
const virtioCap = (cfgType: number, offset: number, length: number, extra: ReadonlyArray<readonly [number, 1 | 2 | 4]> = []): Uint8Array =>
  leBytes([[16 + 4 * extra.length, 1], [cfgType, 1], [VIRTIO_BAR, 1], [0, 1], [0, 2], [offset, 4], [length, 4], ...extra])

/**
 * VIRTIO_PCI_CAP_PCI_CFG (4.1.4.9): a window into the BARs through config
 * space. The driver writes bar, offset and length, then reads or writes
 * pci_cfg_data; the device performs that access on the BAR.
 */
const pciCfgCapability = (bars: (bar: number) => MmioHandler | undefined): CapabilitySpec => {
  const DATA = 16
  const window = (stored: Uint8Array) => {
    const view = new DataView(stored.buffer, stored.byteOffset, stored.byteLength)
    const length = view.getUint32(12, true)
    const offset = view.getUint32(8, true)
    const handler = bars(view.getUint8(4))
    const size: AccessSize | undefined = length === 1 ? 1 : length === 2 ? 2 : length === 4 ? 4 : undefined
    return handler !== undefined && size !== undefined && offset % size === 0 ? { handler, offset, length: size } : undefined
  }
  const writable = new Uint8Array(18)
  writable[2] = 0xff // cap.bar
  writable.fill(0xff, 6, 14) // cap.offset, cap.length
  return {
    id: CAP_VENDOR_SPECIFIC,
    body: virtioCap(V.PCI_CAP_PCI_CFG, 0, 0, [[0, 4]]),
    writable,
    read: (offset, size, stored) => {
      if (offset < DATA) return undefined
      const w = window(stored)
      const v = w === undefined ? 0 : low32(w.handler.read(w.offset, w.length))
      return (v >>> (8 * (offset - DATA))) & (size === 4 ? 0xffffffff : (1 << (8 * size)) - 1)
    },
    write: (offset, _size, value, stored) => {
      if (offset < DATA) return false
      const w = window(stored)
      if (w !== undefined && offset === DATA) w.handler.write(w.offset, w.length, value)
      return true
    }
  }
}

/** The vendor capabilities of a modern virtio device: common, notify, ISR, device-specific and PCI_CFG. */
export const virtioCapabilities = (
  queues: number,
  deviceConfigLength: number,
  bars: (bar: number) => MmioHandler | undefined
): ReadonlyArray<CapabilitySpec> => [
  { id: CAP_VENDOR_SPECIFIC, body: virtioCap(V.PCI_CAP_COMMON_CFG, COMMON_OFFSET, COMMON_CFG_LENGTH) },
  { id: CAP_VENDOR_SPECIFIC, body: virtioCap(V.PCI_CAP_NOTIFY_CFG, NOTIFY_OFFSET, Math.max(1, queues) * NOTIFY_MULTIPLIER, [[NOTIFY_MULTIPLIER, 4]]) },
  { id: CAP_VENDOR_SPECIFIC, body: virtioCap(V.PCI_CAP_ISR_CFG, ISR_OFFSET, 1) },
  ...(deviceConfigLength > 0 ? [{ id: CAP_VENDOR_SPECIFIC, body: virtioCap(V.PCI_CAP_DEVICE_CFG, DEVICE_OFFSET, deviceConfigLength) }] : []),
  pciCfgCapability(bars)
]
