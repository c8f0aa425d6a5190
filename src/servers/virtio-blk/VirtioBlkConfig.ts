import { leBytes } from "../pci/PciCapability.js"

/** virtio block device id. */
export const VIRTIO_ID_BLOCK = 2
/** bhyve's ring size for virtio-blk. */
export const BLK_QUEUE_SIZE = 128
/** Data segments per request: the queue size less the header and status descriptors. */
export const SEG_MAX = BLK_QUEUE_SIZE - 2
/** Discard limits offered: 2 GiB per segment (in 512-byte sectors), 32 segments per request. */
export const MAX_DISCARD_SECTORS = 0x40_0000
export const MAX_DISCARD_SEG = 32
export const SECTOR = 512

/** 5.2.3 feature bits. */
export const F_SEG_MAX = 1n << 2n
export const F_RO = 1n << 5n
export const F_BLK_SIZE = 1n << 6n
export const F_FLUSH = 1n << 9n
export const F_TOPOLOGY = 1n << 10n
export const F_DISCARD = 1n << 13n

export interface BlkGeometry {
  readonly capacityBytes: number
  readonly logicalSectorSize: number
  readonly physicalSectorSize: number
  readonly readOnly: boolean
  readonly discard: boolean
}

export const blkFeatures = (g: BlkGeometry): bigint =>
  F_SEG_MAX | F_BLK_SIZE | F_FLUSH | F_TOPOLOGY | (g.readOnly ? F_RO : 0n) | (g.discard && !g.readOnly ? F_DISCARD : 0n)

/** Capacity in 512-byte sectors, whole logical sectors only (a tail shorter than one is not exposed). */
export const capacitySectors = (g: BlkGeometry): number =>
  (Math.floor(g.capacityBytes / g.logicalSectorSize) * g.logicalSectorSize) / SECTOR

/**
 * struct virtio_blk_config (5.2.4) up to discard_sector_alignment: capacity,
 * size_max (unused), seg_max, geometry (unused), blk_size, topology,
 * writeback/num_queues (unused) and the discard limits.
 */
export const blkConfigSpace = (g: BlkGeometry): Uint8Array => {
  const capacity = capacitySectors(g)
  const physicalExp = Math.log2(g.physicalSectorSize / g.logicalSectorSize)
  return leBytes([
    [capacity % 0x1_0000_0000, 4],
    [Math.floor(capacity / 0x1_0000_0000), 4],
    [0, 4], // size_max
    [SEG_MAX, 4],
    [0, 4], // geometry
    [g.logicalSectorSize, 4],
    [physicalExp, 1], // topology: physical_block_exp
    [0, 1], // alignment_offset
    [1, 2], // min_io_size, in logical blocks
    [0, 4], // opt_io_size
    [0, 1], // writeback
    [0, 1],
    [0, 2], // num_queues
    [MAX_DISCARD_SECTORS, 4],
    [MAX_DISCARD_SEG, 4],
    [g.logicalSectorSize / SECTOR, 4] // discard_sector_alignment
  ])
}
