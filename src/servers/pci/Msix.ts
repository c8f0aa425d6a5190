import type { AccessSize } from "../../bus/DeviceHandlers.js"
import type { MsiRoute, MsiSinkService } from "./MsiSink.js"
import type { MsixState } from "./MsixState.js"
import { type CapabilitySpec, leBytes } from "./PciCapability.js"
import { CAP_MSIX } from "./PciRegisters.js"
import { bitsOf } from "./AccessValue.js"

export const MSIX_ENTRY_SIZE = 16
const PAGE = 4096
/** The PCI limit: 2048 vectors. */
export const MSIX_MAX_VECTORS = 2048

/** Where a function's MSI-X table and PBA sit in their BAR: table at 0, PBA on the next page (bhyve's layout). */
export interface MsixLayout {
  readonly vectors: number
  readonly bar: number
  readonly tableOffset: number
  readonly pbaOffset: number
  /** Bytes of BAR the table and PBA need, a power of two. */
  readonly barSize: number
}

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to
const nextPowerOfTwo = (n: number) => 2 ** Math.ceil(Math.log2(n))

export const msixLayout = (vectors: number, bar: number): MsixLayout => {
  const pbaOffset = roundUp(vectors * MSIX_ENTRY_SIZE, PAGE)
  return { vectors, bar, tableOffset: 0, pbaOffset, barSize: nextPowerOfTwo(pbaOffset + roundUp(Math.ceil(vectors / 64) * 8, PAGE)) }
}

/**
 * The MSI-X table and pending-bit array of one function. A message whose
 * entry (or the whole function) is masked waits as a pending bit and goes
 * out when unmasked, as PCI 3.0 6.8.2 requires; bhyve drops it instead.
 */
export class MsixTable {
  private readonly words: Uint32Array
  private readonly pending: Uint8Array
  /** Each vector's route, made the first time it fires (routes are host state: not saved). */
  private readonly routes: Array<MsiRoute | undefined>
  /** Message control as the function's config space holds it (enable bit 15, function mask bit 14). */
  private control: () => { readonly enabled: boolean; readonly functionMasked: boolean } = () => ({ enabled: false, functionMasked: false })

  constructor(readonly layout: MsixLayout, private readonly sink: MsiSinkService) {
    this.words = new Uint32Array(layout.vectors * 4)
    this.pending = new Uint8Array(layout.vectors)
    this.routes = new Array<MsiRoute | undefined>(layout.vectors)
    for (let v = 0; v < layout.vectors; v++) this.words[v * 4 + 3] = 1 // every vector starts masked
  }

  /** Connects the table to the capability's message control bits (they live in the function's config space). */
  bindControl(control: () => { readonly enabled: boolean; readonly functionMasked: boolean }): void {
    this.control = control
  }

  /** The capability: message control (table size - 1; enable and function mask writable), table and PBA locations. */
  capability(): CapabilitySpec {
    const { vectors, bar, tableOffset, pbaOffset } = this.layout
    return {
      id: CAP_MSIX,
      body: leBytes([[vectors - 1, 2], [tableOffset | bar, 4], [pbaOffset | bar, 4]]),
      writable: Uint8Array.of(0x00, 0xc0),
      afterWrite: () => this.deliverPending()
    }
  }

  get enabled(): boolean {
    return this.control().enabled
  }

  /** Sends vector `v`, or marks it pending while masked. False when MSI-X is off: the caller falls back to INTx. */
  notify(v: number): boolean {
    if (!this.control().enabled) return false
    if (!Number.isInteger(v) || v < 0 || v >= this.layout.vectors) return true
    if (this.control().functionMasked || this.masked(v)) this.pending[v] = 1
    else this.send(v)
    return true
  }

  isPending(v: number): boolean {
    return this.pending[v] === 1
  }

  /** A read inside the BAR's table/PBA part; dword or qword, naturally aligned (others read zero). */
  read(offset: number, size: AccessSize): number | bigint {
    if ((size !== 4 && size !== 8) || offset % size !== 0) return size === 8 ? 0n : 0
    if (size === 8) return BigInt(this.readDword(offset)) | (BigInt(this.readDword(offset + 4)) << 32n)
    return this.readDword(offset)
  }

  write(offset: number, size: AccessSize, value: number | bigint): void {
    if ((size !== 4 && size !== 8) || offset % size !== 0) return
    const v = bitsOf(value)
    this.writeDword(offset, Number(v & 0xffffffffn))
    if (size === 8) this.writeDword(offset + 4, Number((v >> 32n) & 0xffffffffn))
  }

  save(): MsixState {
    const entries = Array.from({ length: this.layout.vectors }, (_, v) => ({
      addressLow: this.words[v * 4],
      addressHigh: this.words[v * 4 + 1],
      data: this.words[v * 4 + 2],
      control: this.words[v * 4 + 3] & 1
    }))
    return { entries, pending: Array.from(this.pending, (p) => p === 1) }
  }

  /** Entries beyond this table's size are ignored; missing ones stay masked. */
  restore(state: MsixState): void {
    for (let v = 0; v < this.layout.vectors; v++) {
      const e = state.entries[v]
      this.words.set(e === undefined ? [0, 0, 0, 1] : [e.addressLow, e.addressHigh, e.data, e.control], v * 4)
      this.pending[v] = state.pending[v] === true ? 1 : 0
    }
  }

  private readDword(offset: number): number {
    const { tableOffset, pbaOffset, vectors } = this.layout
    if (offset >= tableOffset && offset < tableOffset + vectors * MSIX_ENTRY_SIZE) return this.words[(offset - tableOffset) / 4]
    if (offset >= pbaOffset) {
      let bits = 0
      const first = ((offset - pbaOffset) / 4) * 32
      for (let i = 0; i < 32 && first + i < vectors; i++) bits |= this.pending[first + i] << i
      return bits >>> 0
    }
    return 0
  }

  private writeDword(offset: number, value: number): void {
    const { tableOffset, vectors } = this.layout
    // The PBA is read-only; so is everything outside the table.
    if (offset < tableOffset || offset >= tableOffset + vectors * MSIX_ENTRY_SIZE) return
    const word = (offset - tableOffset) / 4
    // Vector control keeps only its mask bit; the rest is reserved.
    this.words[word] = word % 4 === 3 ? value & 1 : value >>> 0
    if (word % 4 === 3) this.deliverPending()
  }

  private masked(v: number): boolean {
    return (this.words[v * 4 + 3] & 1) === 1
  }

  private deliverPending(): void {
    const { enabled, functionMasked } = this.control()
    if (!enabled || functionMasked) return
    for (let v = 0; v < this.layout.vectors; v++) {
      if (this.pending[v] === 1 && !this.masked(v)) {
        this.pending[v] = 0
        this.send(v)
      }
    }
  }

  private send(v: number): void {
    const address = (BigInt(this.words[v * 4 + 1]) << 32n) | BigInt(this.words[v * 4])
    const route = (this.routes[v] ??= this.sink.route())
    route.send(address, this.words[v * 4 + 2])
  }
}
