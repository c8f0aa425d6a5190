import type { AccessSize } from "../../bus/DeviceHandlers.js"
import * as Bar from "./PciBar.js"
import type { CapabilitySpec, PlacedCapability } from "./PciCapability.js"
import type { PciFunctionState } from "./PciFunctionState.js"
import * as R from "./PciRegisters.js"

export interface PciIdentity {
  readonly vendorId: number
  readonly deviceId: number
  /** Base class << 16 | subclass << 8 | programming interface. */
  readonly classCode: number
  readonly revision?: number
  readonly subsystemVendorId?: number
  readonly subsystemId?: number
}

export interface PciFunctionSpec extends PciIdentity {
  /** By BAR number; a 64-bit BAR also takes the next number, which must be left undefined. */
  readonly bars?: ReadonlyArray<Bar.BarSpec | undefined>
  readonly capabilities?: ReadonlyArray<CapabilitySpec>
  /** The function raises INTA#. */
  readonly intx?: boolean
}

/** A BAR as the function currently decodes it. */
export interface BarWindow {
  readonly index: number
  readonly space: "pio" | "mmio"
  readonly base: number
  readonly length: number
}

const MSIX_CONTROL_ENABLE = 0x8000
const MSIX_CONTROL_FUNCTION_MASK = 0x4000

/**
 * One PCI function's configuration space as a pure state machine: a
 * type-0 header with BARs (sizing, moving, decode gated by the command
 * register), a capability list and INTx. It knows nothing of the bus it
 * sits on: `onChange` tells the owner to remap BARs after any config
 * write, `onIntx` carries the INTx level after the command register and
 * MSI-X have had their say.
 */
export class PciFunction {
  private readonly config = new Uint8Array(R.CONFIG_SPACE_SIZE)
  private readonly writable = new Uint8Array(R.CONFIG_SPACE_SIZE)
  private readonly barSpecs: ReadonlyArray<Bar.BarSpec | undefined>
  readonly capabilities: ReadonlyArray<PlacedCapability>
  private intxRequested = false
  private intxOutput = false
  /** Called after every config write and restore: the owner remaps BARs. */
  onChange: () => void = () => {}
  /** The INTx level the line should carry, on every change. */
  onIntx: (level: boolean) => void = () => {}

  constructor(readonly spec: PciFunctionSpec) {
    this.barSpecs = Array.from({ length: R.BAR_COUNT }, (_, i) => spec.bars?.[i])
    this.checkBars()
    this.set(R.VENDOR_ID, 2, spec.vendorId)
    this.set(R.DEVICE_ID, 2, spec.deviceId)
    this.set(R.REVISION_ID, 1, spec.revision ?? 0)
    this.set(R.CLASS_CODE, 1, spec.classCode & 0xff)
    this.set(R.CLASS_CODE + 1, 2, (spec.classCode >> 8) & 0xffff)
    this.set(R.SUBSYSTEM_VENDOR_ID, 2, spec.subsystemVendorId ?? 0)
    this.set(R.SUBSYSTEM_ID, 2, spec.subsystemId ?? 0)
    // bhyve starts every function with bus mastering on (a guest that never enumerates still gets DMA) and INTx unrouted.
    this.set(R.COMMAND, 2, R.COMMAND_BUS_MASTER)
    this.set(R.INTERRUPT_LINE, 1, 0xff)
    this.set(R.INTERRUPT_PIN, 1, spec.intx === true ? R.PIN_INTA : 0)
    this.setWritable(R.COMMAND, 2, R.COMMAND_WRITABLE)
    this.setWritable(R.CACHE_LINE_SIZE, 1, 0xff)
    this.setWritable(R.LATENCY_TIMER, 1, 0xff)
    this.setWritable(R.INTERRUPT_LINE, 1, 0xff)
    for (let i = 0; i < R.BAR_COUNT; i++) {
      const b = this.barSpecs[i]
      if (b !== undefined) this.set(R.BAR0 + 4 * i, 4, Bar.typeBits(b))
    }
    this.capabilities = this.placeCapabilities(spec.capabilities ?? [])
  }

  /** A config read; `offset` is naturally aligned for `size` (the bus checks). Past 256 bytes: zero. */
  readConfig(offset: number, size: AccessSize): number {
    if (offset + size > R.CONFIG_SPACE_SIZE) return 0
    const cap = this.capabilityAt(offset)
    const hooked = cap?.spec.read?.(offset - cap.offset, size, this.stored(cap))
    if (hooked !== undefined) return hooked >>> 0
    return this.get(offset, size)
  }

  writeConfig(offset: number, size: AccessSize, value: number): void {
    if (offset + size > R.CONFIG_SPACE_SIZE) return
    if (offset >= R.BAR0 && offset < R.BAR0 + 4 * R.BAR_COUNT) {
      // BARs are written as whole dwords; narrower writes are ignored, as bhyve does.
      if (size === 4) this.writeBar((offset - R.BAR0) / 4, value)
    } else {
      const cap = this.capabilityAt(offset)
      if (cap?.spec.write?.(offset - cap.offset, size, value, this.stored(cap)) !== true) {
        for (let i = 0; i < size; i++) {
          const at = offset + i
          const mask = this.writable[at]
          this.config[at] = (this.config[at] & ~mask) | (((value >>> (8 * i)) & 0xff) & mask)
        }
        cap?.spec.afterWrite?.()
      }
    }
    this.changed()
  }

  /** The BARs the function decodes right now (decode enabled in the command register). */
  windows(): ReadonlyArray<BarWindow> {
    const command = this.get(R.COMMAND, 2)
    const out: Array<BarWindow> = []
    for (let i = 0; i < R.BAR_COUNT; i++) {
      const b = this.barSpecs[i]
      if (b === undefined) continue
      const enabled = (command & (b.kind === "io" ? R.COMMAND_IO : R.COMMAND_MEMORY)) !== 0
      if (!enabled) continue
      const high = b.kind === "mem64" ? this.get(R.BAR0 + 4 * (i + 1), 4) : 0
      const base = Bar.decodeAddress(b, this.get(R.BAR0 + 4 * i, 4), high)
      out.push({ index: i, space: b.kind === "io" ? "pio" : "mmio", base, length: b.size })
    }
    return out
  }

  bar(index: number): Bar.BarSpec | undefined {
    return this.barSpecs[index]
  }

  /** The VMM placing a BAR at creation and turning its decoding on, so a guest that never enumerates finds it working. */
  programBar(index: number, address: number): void {
    const b = this.barSpecs[index]
    if (b === undefined) return
    this.set(R.BAR0 + 4 * index, 4, Bar.lowRegister(b, address % 0x1_0000_0000))
    if (b.kind === "mem64") this.set(R.BAR0 + 4 * (index + 1), 4, Bar.highRegister(b, Math.floor(address / 0x1_0000_0000)))
    const command = this.get(R.COMMAND, 2)
    this.set(R.COMMAND, 2, command | (b.kind === "io" ? R.COMMAND_IO : R.COMMAND_MEMORY))
    this.changed()
  }

  /** Where INTA# reaches the interrupt controller, for the guest to read (the routing itself is fixed by the slot). */
  setInterruptLine(line: number): void {
    this.set(R.INTERRUPT_LINE, 1, line)
  }

  get interruptPin(): number {
    return this.get(R.INTERRUPT_PIN, 1)
  }

  /** The device's interrupt condition. The line follows it unless INTx is disabled or MSI-X is on. */
  setIntx(level: boolean): void {
    if (level === this.intxRequested) return
    this.intxRequested = level
    const status = this.get(R.STATUS, 2)
    this.set(R.STATUS, 2, level ? status | R.STATUS_INTERRUPT : status & ~R.STATUS_INTERRUPT)
    this.updateIntx()
  }

  get intxLevel(): boolean {
    return this.intxOutput
  }

  msixEnabled(): boolean {
    return (this.msixControl() & MSIX_CONTROL_ENABLE) !== 0
  }

  msixFunctionMasked(): boolean {
    return (this.msixControl() & MSIX_CONTROL_FUNCTION_MASK) !== 0
  }

  capabilityOffset(id: number): number | undefined {
    return this.capabilities.find((c) => c.spec.id === id)?.offset
  }

  save(): PciFunctionState {
    return { config: Buffer.from(this.config).toString("hex") }
  }

  /** Puts back what the guest had written; identity, type bits and read-only bytes stay this function's own. */
  restore(state: PciFunctionState): void {
    const saved = Buffer.from(state.config, "hex")
    for (let at = 0; at < R.CONFIG_SPACE_SIZE; at++) {
      const mask = this.writable[at]
      this.config[at] = (this.config[at] & ~mask) | (saved[at] & mask)
    }
    for (let i = 0; i < R.BAR_COUNT; i++) this.writeBar(i, saved.readUInt32LE(R.BAR0 + 4 * i))
    for (const cap of this.capabilities) cap.spec.afterWrite?.()
    this.changed()
  }

  private writeBar(index: number, value: number): void {
    const b = this.barSpecs[index]
    if (b !== undefined) {
      this.set(R.BAR0 + 4 * index, 4, Bar.lowRegister(b, value))
      return
    }
    const lower = index > 0 ? this.barSpecs[index - 1] : undefined
    if (lower?.kind === "mem64") this.set(R.BAR0 + 4 * index, 4, Bar.highRegister(lower, value))
  }

  private msixControl(): number {
    const at = this.capabilityOffset(R.CAP_MSIX)
    return at === undefined ? 0 : this.get(at + 2, 2)
  }

  private changed(): void {
    this.updateIntx()
    this.onChange()
  }

  private updateIntx(): void {
    const disabled = (this.get(R.COMMAND, 2) & R.COMMAND_INTX_DISABLE) !== 0
    const level = this.intxRequested && this.interruptPin !== 0 && !disabled && !this.msixEnabled()
    if (level === this.intxOutput) return
    this.intxOutput = level
    this.onIntx(level)
  }

  private stored(cap: PlacedCapability): Uint8Array {
    return this.config.subarray(cap.offset, cap.offset + cap.length)
  }

  private capabilityAt(offset: number): PlacedCapability | undefined {
    if (offset < R.CAPABILITIES_START) return undefined
    for (const cap of this.capabilities) if (offset >= cap.offset && offset < cap.offset + cap.length) return cap
    return undefined
  }

  private placeCapabilities(specs: ReadonlyArray<CapabilitySpec>): ReadonlyArray<PlacedCapability> {
    const placed: Array<PlacedCapability> = []
    let at = R.CAPABILITIES_START
    for (const spec of specs) {
      const length = 2 + spec.body.length
      if (at + length > R.CONFIG_SPACE_SIZE) throw new Error(`capabilities do not fit in config space (0x${spec.id.toString(16)} at 0x${at.toString(16)})`)
      this.config[at] = spec.id
      this.config.set(spec.body, at + 2)
      if (spec.writable !== undefined) this.writable.set(spec.writable.subarray(0, spec.body.length), at + 2)
      if (placed.length === 0) this.set(R.CAPABILITIES_POINTER, 1, at)
      else this.config[placed[placed.length - 1].offset + 1] = at
      placed.push({ offset: at, length, spec })
      at += (length + 3) & ~3
    }
    if (placed.length > 0) this.set(R.STATUS, 2, this.get(R.STATUS, 2) | R.STATUS_CAPABILITIES)
    return placed
  }

  private checkBars(): void {
    for (let i = 0; i < R.BAR_COUNT; i++) {
      const b = this.barSpecs[i]
      if (b === undefined) continue
      const problem = Bar.barProblem(b)
      if (problem !== undefined) throw new Error(`BAR ${i}: ${problem}`)
      if (b.kind === "mem64" && (i === R.BAR_COUNT - 1 || this.barSpecs[i + 1] !== undefined)) {
        throw new Error(`BAR ${i} is 64-bit: BAR ${i + 1} must be free for its upper half`)
      }
    }
  }

  private get(offset: number, size: number): number {
    let v = 0
    for (let i = size - 1; i >= 0; i--) v = v * 256 + this.config[offset + i]
    return v
  }

  private set(offset: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) this.config[offset + i] = Math.floor(value / 2 ** (8 * i)) & 0xff
  }

  private setWritable(offset: number, size: number, mask: number): void {
    for (let i = 0; i < size; i++) this.writable[offset + i] = (mask >>> (8 * i)) & 0xff
  }
}
