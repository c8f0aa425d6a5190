/** Virtio 1.2 numbers this transport uses (spec sections in comments). */

/** 2.1 Device status field. */
export const STATUS_ACKNOWLEDGE = 0x01
export const STATUS_DRIVER = 0x02
export const STATUS_DRIVER_OK = 0x04
export const STATUS_FEATURES_OK = 0x08
export const STATUS_DEVICE_NEEDS_RESET = 0x40
export const STATUS_FAILED = 0x80

/** 6 Reserved feature bits. */
export const F_INDIRECT_DESC = 1n << 28n
export const F_EVENT_IDX = 1n << 29n
export const F_VERSION_1 = 1n << 32n

/** What the transport offers for every device, on top of the device's own bits. */
export const TRANSPORT_FEATURES = F_VERSION_1 | F_EVENT_IDX | F_INDIRECT_DESC

/** 2.7.5 Split virtqueue descriptor flags. */
export const DESC_F_NEXT = 1
export const DESC_F_WRITE = 2
export const DESC_F_INDIRECT = 4
export const DESC_SIZE = 16

/** 2.7.7 / 2.7.10 ring flags. */
export const AVAIL_F_NO_INTERRUPT = 1

/** 2.7 Split virtqueues hold at most 32768 entries. */
export const MAX_QUEUE_SIZE = 32768

/** 4.1.4.3 No MSI-X vector. */
export const NO_VECTOR = 0xffff

/** 4.1.4 PCI capability cfg_type values. */
export const PCI_CAP_COMMON_CFG = 1
export const PCI_CAP_NOTIFY_CFG = 2
export const PCI_CAP_ISR_CFG = 3
export const PCI_CAP_DEVICE_CFG = 4
export const PCI_CAP_PCI_CFG = 5

/** 4.1.2 PCI ids: vendor 0x1AF4, device 0x1040 + virtio device id, revision 1 for modern-only devices. */
export const PCI_VENDOR_ID = 0x1af4
export const PCI_DEVICE_ID_BASE = 0x1040
export const PCI_REVISION = 1

/** 4.1.4.5 ISR status bits. */
export const ISR_QUEUE = 0x1
export const ISR_CONFIG = 0x2
