/**
 * The memory-size cells firmware reads from CMOS. bhyve writes the UEFI
 * ones (0x34/0x35, 0x5b-0x5d); the PC BIOS ones (0x15-0x18, 0x30/0x31) are
 * filled too for loaders that look there. All little-endian.
 */
const KiB = 1024
const MiB = 1024 * KiB
const CHUNK = 64 * KiB

const put = (cmos: Uint8Array, cell: number, value: number, bytes: number) => {
  for (let i = 0; i < bytes; i++) cmos[cell + i] = Math.floor(value / 2 ** (8 * i)) & 0xff
}

export const fillMemorySize = (cmos: Uint8Array, lowmem: number, highmem: number): void => {
  // Conventional memory below 640 KiB, in KiB.
  put(cmos, 0x15, Math.min(640, Math.floor(lowmem / KiB)), 2)
  // Extended memory above 1 MiB, in KiB, saturating at 64 MiB as the 16-bit cell must.
  const extended = Math.min(0xffff, Math.max(0, Math.floor((lowmem - MiB) / KiB)))
  put(cmos, 0x17, extended, 2)
  put(cmos, 0x30, extended, 2)
  // Memory between 16 MiB and the end of low memory, in 64 KiB chunks.
  put(cmos, 0x34, Math.min(0xffff, Math.max(0, Math.floor((lowmem - 16 * MiB) / CHUNK))), 2)
  // Memory above 4 GiB, in 64 KiB chunks (24 bits: up to 1 TiB).
  put(cmos, 0x5b, Math.min(0xffffff, Math.max(0, Math.floor(highmem / CHUNK))), 3)
  // The PC BIOS checksum over 0x10-0x2d, big-endian at 0x2e.
  let sum = 0
  for (let cell = 0x10; cell <= 0x2d; cell++) sum += cmos[cell]
  cmos[0x2e] = (sum >> 8) & 0xff
  cmos[0x2f] = sum & 0xff
}
