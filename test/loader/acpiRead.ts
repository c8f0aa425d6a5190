/** Reads ACPI tables back out of guest-physical memory (a buffer indexed by address), checking what a guest would check. */
export const sum8 = (bytes: Uint8Array): number => bytes.reduce((s, b) => (s + b) & 0xff, 0)

const ascii = (bytes: Uint8Array) => String.fromCharCode(...bytes)
const view = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)

export interface ReadTable {
  readonly signature: string
  readonly address: number
  readonly revision: number
  readonly bytes: Uint8Array
  readonly view: DataView
}

export const readTable = (memory: Uint8Array, address: number): ReadTable => {
  const length = view(memory).getUint32(address + 4, true)
  const bytes = memory.subarray(address, address + length)
  if (sum8(bytes) !== 0) throw new Error(`table at 0x${address.toString(16)} has a bad checksum`)
  return { signature: ascii(bytes.subarray(0, 4)), address, revision: bytes[8], bytes, view: view(bytes) }
}

export interface ReadRsdp {
  readonly revision: number
  readonly rsdt: number
  readonly xsdt: number
  readonly length: number
}

export const readRsdp = (memory: Uint8Array, address: number): ReadRsdp => {
  const bytes = memory.subarray(address, address + 36)
  if (ascii(bytes.subarray(0, 8)) !== "RSD PTR ") throw new Error("no RSDP signature")
  if (sum8(bytes.subarray(0, 20)) !== 0) throw new Error("RSDP 1.0 checksum")
  if (sum8(bytes) !== 0) throw new Error("RSDP extended checksum")
  const v = view(bytes)
  return { revision: bytes[15], rsdt: v.getUint32(16, true), length: v.getUint32(20, true), xsdt: Number(v.getBigUint64(24, true)) }
}

/** Every table the XSDT lists, by signature, plus the FACS and DSDT the FADT points at. */
export const readAllTables = (memory: Uint8Array, rsdpAddress: number) => {
  const rsdp = readRsdp(memory, rsdpAddress)
  const xsdt = readTable(memory, rsdp.xsdt)
  const rsdt = readTable(memory, rsdp.rsdt)
  const byName = new Map<string, ReadTable>()
  for (let o = 36; o < xsdt.bytes.length; o += 8) {
    const t = readTable(memory, Number(xsdt.view.getBigUint64(o, true)))
    byName.set(t.signature, t)
  }
  const fadt = byName.get("FACP")
  if (fadt === undefined) throw new Error("no FADT")
  const dsdt = readTable(memory, Number(fadt.view.getBigUint64(140, true)))
  const facsAddress = Number(fadt.view.getBigUint64(132, true))
  return { rsdp, xsdt, rsdt, byName, fadt, dsdt, facsAddress }
}

export interface MadtEntry {
  readonly type: number
  readonly bytes: Uint8Array
}

export const madtEntries = (madt: ReadTable): ReadonlyArray<MadtEntry> => {
  const entries: Array<MadtEntry> = []
  for (let o = 44; o < madt.bytes.length; o += madt.bytes[o + 1]) entries.push({ type: madt.bytes[o], bytes: madt.bytes.subarray(o, o + madt.bytes[o + 1]) })
  return entries
}
