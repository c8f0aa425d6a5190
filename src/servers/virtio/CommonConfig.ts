import type { AccessSize } from "../../bus/DeviceHandlers.js"
import type { SplitVirtqueue } from "./SplitVirtqueue.js"
import type { VirtioTransport } from "./VirtioTransport.js"
import { bitsOf } from "../pci/AccessValue.js"

/**
 * struct virtio_pci_common_cfg (virtio 1.2, 4.1.4.3), up to queue_device:
 * the 1.2 additions (queue_notif_config_data, queue_reset) belong to
 * features we do not offer. Fields are accessed at their own width; 64-bit
 * fields also as two dwords (what Linux does). Anything else reads zero
 * and writes nothing.
 */
export const COMMON_CFG_LENGTH = 0x38

const DEVICE_FEATURE_SELECT = 0x00
const DEVICE_FEATURE = 0x04
const DRIVER_FEATURE_SELECT = 0x08
const DRIVER_FEATURE = 0x0c
const CONFIG_MSIX_VECTOR = 0x10
const NUM_QUEUES = 0x12
const DEVICE_STATUS = 0x14
const CONFIG_GENERATION = 0x15
const QUEUE_SELECT = 0x16
const QUEUE_SIZE = 0x18
const QUEUE_MSIX_VECTOR = 0x1a
const QUEUE_ENABLE = 0x1c
const QUEUE_NOTIFY_OFF = 0x1e
const QUEUE_DESC = 0x20
const QUEUE_DRIVER = 0x28
const QUEUE_DEVICE = 0x30

type Address = "descAddr" | "driverAddr" | "deviceAddr"
const ADDRESS_FIELDS: ReadonlyArray<readonly [number, Address]> = [
  [QUEUE_DESC, "descAddr"],
  [QUEUE_DRIVER, "driverAddr"],
  [QUEUE_DEVICE, "deviceAddr"]
]

/** Which 64-bit queue address an access hits, and which part: 0 whole, 1 low dword, 2 high dword. */
const addressField = (offset: number, size: AccessSize): readonly [Address, 0 | 1 | 2] | undefined => {
  for (const [at, field] of ADDRESS_FIELDS) {
    if (offset === at && size === 8) return [field, 0]
    if (offset === at && size === 4) return [field, 1]
    if (offset === at + 4 && size === 4) return [field, 2]
  }
  return undefined
}

export const read = (t: VirtioTransport, offset: number, size: AccessSize): number | bigint => {
  const q = t.selected
  const address = addressField(offset, size)
  if (address !== undefined) {
    const v = q?.[address[0]] ?? 0n
    return address[1] === 0 ? v : Number(address[1] === 1 ? v & 0xffffffffn : v >> 32n)
  }
  switch (offset * 16 + size) {
    case DEVICE_FEATURE_SELECT * 16 + 4:
      return t.deviceFeatureSelect
    case DEVICE_FEATURE * 16 + 4:
      return t.deviceFeatureSelect > 1 ? 0 : Number((t.offered >> BigInt(32 * t.deviceFeatureSelect)) & 0xffffffffn)
    case DRIVER_FEATURE_SELECT * 16 + 4:
      return t.driverFeatureSelect
    case DRIVER_FEATURE * 16 + 4:
      return t.driverFeatureSelect > 1 ? 0 : Number((t.driverFeatures >> BigInt(32 * t.driverFeatureSelect)) & 0xffffffffn)
    case CONFIG_MSIX_VECTOR * 16 + 2:
      return t.configMsixVector
    case NUM_QUEUES * 16 + 2:
      return t.queues.length
    case DEVICE_STATUS * 16 + 1:
      return t.status
    case CONFIG_GENERATION * 16 + 1:
      return t.configGeneration
    case QUEUE_SELECT * 16 + 2:
      return t.queueSelect
    case QUEUE_SIZE * 16 + 2:
      return q?.size ?? 0 // 0: no such queue
    case QUEUE_MSIX_VECTOR * 16 + 2:
      return q?.msixVector ?? 0xffff
    case QUEUE_ENABLE * 16 + 2:
      return q?.enabled === true ? 1 : 0
    case QUEUE_NOTIFY_OFF * 16 + 2:
      return q?.index ?? 0 // each queue has its own doorbell
    default:
      return size === 8 ? 0n : 0
  }
}

/** Queue registers are the driver's to set only while the queue is disabled (4.1.4.3.2). */
const configurable = (q: SplitVirtqueue | undefined): q is SplitVirtqueue => q !== undefined && !q.enabled

export const write = (t: VirtioTransport, offset: number, size: AccessSize, value: number | bigint): void => {
  const q = t.selected
  const address = addressField(offset, size)
  if (address !== undefined) {
    if (!configurable(q)) return
    const [field, part] = address
    const v = bitsOf(value)
    if (part === 0) q[field] = BigInt.asUintN(64, v)
    else if (part === 1) q[field] = (q[field] & ~0xffffffffn) | (v & 0xffffffffn)
    else q[field] = (q[field] & 0xffffffffn) | ((v & 0xffffffffn) << 32n)
    return
  }
  // Only the access's own bytes: a 2-byte register never holds more than 16 bits.
  const v = Number(bitsOf(value) & ((1n << BigInt(8 * Math.min(size, 4))) - 1n))
  switch (offset * 16 + size) {
    case DEVICE_FEATURE_SELECT * 16 + 4:
      t.deviceFeatureSelect = v
      return
    case DRIVER_FEATURE_SELECT * 16 + 4:
      t.driverFeatureSelect = v
      return
    case DRIVER_FEATURE * 16 + 4:
      t.writeDriverFeatures(t.driverFeatureSelect, v)
      return
    case CONFIG_MSIX_VECTOR * 16 + 2:
      t.configMsixVector = t.acceptVector(v)
      return
    case DEVICE_STATUS * 16 + 1:
      t.writeStatus(v)
      return
    case QUEUE_SELECT * 16 + 2:
      t.queueSelect = v
      return
    case QUEUE_SIZE * 16 + 2:
      // A size the queue cannot take is ignored: the driver reads back the old one.
      if (configurable(q) && q.acceptsSize(v)) q.size = v
      return
    case QUEUE_MSIX_VECTOR * 16 + 2:
      if (q !== undefined) q.msixVector = t.acceptVector(v)
      return
    case QUEUE_ENABLE * 16 + 2:
      // Only 1 means anything: a queue is disabled by resetting the device.
      if (v === 1) t.enableSelected()
      return
    default:
      return
  }
}
