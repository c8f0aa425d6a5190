/**
 * Little-endian byte assembly for firmware tables (ACPI, MP table, AML
 * resource descriptors): append fields in order, then take the bytes.
 */
export class ByteWriter {
  private readonly bytes: Array<number> = []

  get length(): number {
    return this.bytes.length
  }

  u8(value: number): this {
    this.bytes.push(value & 0xff)
    return this
  }

  u16(value: number): this {
    return this.u8(value).u8(value >>> 8)
  }

  u32(value: number): this {
    return this.u16(value & 0xffff).u16(Math.floor(value / 0x10000))
  }

  u64(value: number | bigint): this {
    const v = BigInt(value)
    return this.u32(Number(v & 0xffffffffn)).u32(Number((v >> 32n) & 0xffffffffn))
  }

  /** ASCII text padded with `pad` (or cut) to exactly `length` bytes. */
  ascii(text: string, length: number, pad = " "): this {
    const padded = text.padEnd(length, pad).slice(0, length)
    for (let i = 0; i < length; i++) this.u8(padded.charCodeAt(i))
    return this
  }

  zeros(count: number): this {
    for (let i = 0; i < count; i++) this.u8(0)
    return this
  }

  append(bytes: Uint8Array): this {
    for (const b of bytes) this.bytes.push(b)
    return this
  }

  toBytes(): Uint8Array {
    return Uint8Array.from(this.bytes)
  }
}

/** The byte to add so that `bytes` sum to zero modulo 256 (ACPI and MP checksums). */
export const checksumByte = (bytes: Uint8Array): number => {
  let sum = 0
  for (const b of bytes) sum = (sum + b) & 0xff
  return (256 - sum) & 0xff
}

/** Sets the checksum byte at `at` so that bytes [start, end) sum to zero. */
export const fixChecksum = (bytes: Uint8Array, at: number, start = 0, end = bytes.length): Uint8Array => {
  bytes[at] = 0
  bytes[at] = checksumByte(bytes.subarray(start, end))
  return bytes
}

/** Rounds `n` up to a multiple of `alignment`. */
export const alignUp = (n: number, alignment: number): number => Math.ceil(n / alignment) * alignment
