/**
 * ACPI resource descriptors (ACPI 6.x section 6.4) for a _CRS
 * ResourceTemplate: the few a PCI host bridge needs. Each returns the
 * descriptor's raw bytes; resourceTemplate wraps them in a Buffer with the
 * end tag.
 */
import { ByteWriter } from "../ByteWriter.js"
import { type Aml, buffer } from "./Aml.js"

const WORD_ADDRESS_SPACE = 0x88
const DWORD_ADDRESS_SPACE = 0x87
const QWORD_ADDRESS_SPACE = 0x8a
const IO_PORT = 0x47
const MEMORY32_FIXED = 0x86
const END_TAG = 0x79

const RESOURCE_MEMORY = 0
const RESOURCE_IO = 1
const RESOURCE_BUS_NUMBER = 2

/** General flags: producer (bit 0 clear), positive decode, MinFixed (bit 2), MaxFixed (bit 3). */
const PRODUCER_FIXED = 0x0c
/** I/O type-specific flags: EntireRange (ISA and non-ISA), TypeStatic. */
const IO_ENTIRE_RANGE = 0x03
/** Memory type-specific flags: ReadWrite, NonCacheable. */
const MEMORY_READ_WRITE = 0x01

export interface AddressRange {
  readonly min: number
  /** Inclusive. */
  readonly max: number
}

const length = (r: AddressRange) => r.max - r.min + 1

const wordAddress = (type: number, typeFlags: number, r: AddressRange) =>
  new ByteWriter().u8(WORD_ADDRESS_SPACE).u16(13).u8(type).u8(PRODUCER_FIXED).u8(typeFlags)
    .u16(0).u16(r.min).u16(r.max).u16(0).u16(length(r)).toBytes()

/** WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, ...). */
export const wordBusNumber = (r: AddressRange): Uint8Array => wordAddress(RESOURCE_BUS_NUMBER, 0, r)

/** WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, ...). */
export const wordIo = (r: AddressRange): Uint8Array => wordAddress(RESOURCE_IO, IO_ENTIRE_RANGE, r)

/** IO(Decode16, min, min, alignment, length): a fixed port range. */
export const ioPort = (base: number, size: number, alignment = 1): Uint8Array =>
  new ByteWriter().u8(IO_PORT).u8(1 /* 16-bit decode */).u16(base).u16(base).u8(alignment).u8(size).toBytes()

/** DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite, ...). */
export const dwordMemory = (r: AddressRange): Uint8Array =>
  new ByteWriter().u8(DWORD_ADDRESS_SPACE).u16(23).u8(RESOURCE_MEMORY).u8(PRODUCER_FIXED).u8(MEMORY_READ_WRITE)
    .u32(0).u32(r.min).u32(r.max).u32(0).u32(length(r)).toBytes()

/** QWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite, ...). */
export const qwordMemory = (r: AddressRange): Uint8Array =>
  new ByteWriter().u8(QWORD_ADDRESS_SPACE).u16(43).u8(RESOURCE_MEMORY).u8(PRODUCER_FIXED).u8(MEMORY_READ_WRITE)
    .u64(0).u64(r.min).u64(r.max).u64(0).u64(length(r)).toBytes()

/** Memory32Fixed(ReadWrite, base, size): a consumed range (motherboard resources). */
export const memory32Fixed = (base: number, size: number): Uint8Array =>
  new ByteWriter().u8(MEMORY32_FIXED).u16(9).u8(1 /* read-write */).u32(base).u32(size).toBytes()

/** ResourceTemplate() { descriptors }: a Buffer ending in the end tag (checksum 0: "not computed", as iasl writes it). */
export const resourceTemplate = (...descriptors: ReadonlyArray<Uint8Array>): Aml => {
  const w = new ByteWriter()
  for (const d of descriptors) w.append(d)
  return buffer(w.u8(END_TAG).u8(0).toBytes())
}
