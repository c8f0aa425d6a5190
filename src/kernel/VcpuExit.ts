/**
 * The vCPU kernel's only output. PIO and MMIO exits are reused objects
 * (one of each per vCPU) whose fields are refreshed from struct kvm_run on
 * every exit, so the hot path allocates nothing; the rare exits are fresh
 * values.
 */
import type { AccessSize } from "../bus/DeviceHandlers.js"

const IO = 0x20 // offset of the exit union in struct kvm_run

export class PioExit {
  readonly _tag = "PioExit"
  direction: "in" | "out" = "out"
  port = 0
  size: AccessSize = 1
  /** More than 1 for string I/O (rep ins/outs). */
  count = 1
  private dataOffset = 0

  constructor(private readonly bytes: Uint8Array, private readonly u16: Uint16Array, private readonly u32: Uint32Array) {}

  /** Refreshes the fields from struct kvm_run's io member. */
  load(): this {
    this.direction = this.bytes[IO] === 0 ? "in" : "out"
    this.size = this.bytes[IO + 1] as AccessSize
    this.port = this.u16[(IO + 2) >> 1]
    this.count = this.u32[(IO + 4) >> 2]
    this.dataOffset = this.u32[(IO + 8) >> 2]
    return this
  }

  /** The i-th value the guest wrote. */
  value(i: number): number {
    const o = this.dataOffset + i * this.size
    const b = this.bytes
    switch (this.size) {
      case 1: return b[o]
      case 2: return b[o] | (b[o + 1] << 8)
      default: return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0
    }
  }

  /** The reply to an `in`: the value the guest reads; applied by the next KVM_RUN. */
  reply(i: number, value: number): void {
    const o = this.dataOffset + i * this.size
    const b = this.bytes
    b[o] = value & 0xff
    if (this.size >= 2) b[o + 1] = (value >>> 8) & 0xff
    if (this.size === 4) {
      b[o + 2] = (value >>> 16) & 0xff
      b[o + 3] = (value >>> 24) & 0xff
    }
  }
}

export class MmioExit {
  readonly _tag = "MmioExit"
  address = 0
  size: AccessSize = 4
  isWrite = false

  constructor(private readonly bytes: Uint8Array, private readonly view: DataView) {}

  load(): this {
    this.address = Number(this.view.getBigUint64(IO, true))
    this.size = this.view.getUint32(IO + 16, true) as AccessSize
    this.isWrite = this.bytes[IO + 20] !== 0
    return this
  }

  /** What the guest wrote: a number for 1-4 bytes, a bigint for 8. */
  value(): number | bigint {
    const v = this.view
    switch (this.size) {
      case 1: return this.bytes[IO + 8]
      case 2: return v.getUint16(IO + 8, true)
      case 4: return v.getUint32(IO + 8, true)
      default: return v.getBigUint64(IO + 8, true)
    }
  }

  reply(value: number | bigint): void {
    const v = this.view
    switch (this.size) {
      case 1: this.bytes[IO + 8] = Number(value) & 0xff; break
      case 2: v.setUint16(IO + 8, Number(value) & 0xffff, true); break
      case 4: v.setUint32(IO + 8, Number(value) >>> 0, true); break
      default: v.setBigUint64(IO + 8, BigInt.asUintN(64, BigInt(value)), true)
    }
  }
}

/** KVM_EXIT_SHUTDOWN: the guest triple-faulted. */
export interface Shutdown { readonly _tag: "Shutdown" }
/** KVM_EXIT_SYSTEM_EVENT: e.g. a PSCI/ACPI shutdown or reset handled in-kernel. */
export interface SystemEvent { readonly _tag: "SystemEvent"; readonly type: number }
/** KVM_EXIT_INTERNAL_ERROR: KVM could not emulate an instruction. */
export interface InternalError { readonly _tag: "InternalError"; readonly suberror: number; readonly data: ReadonlyArray<bigint> }
/** KVM_EXIT_FAIL_ENTRY: the hardware refused to enter the guest. */
export interface FailEntry { readonly _tag: "FailEntry"; readonly reason: bigint }
/** KVM_RUN returned EINTR: someone kicked this vCPU. */
export interface Interrupted { readonly _tag: "Interrupted" }
/** An exit reason this VMM does not handle. */
export interface UnknownExit { readonly _tag: "UnknownExit"; readonly reason: number }

/** KVM_RUN itself failed with an errno other than EINTR. */
export interface RunFailed { readonly _tag: "RunFailed"; readonly errno: number }

/** Every vCPU sits in `hlt` with interrupts disabled and nothing can wake it (bhyve exit 2); reported by the software CPU. */
export interface Halted { readonly _tag: "Halted" }

/** The software CPU could not go on: one line saying what, on which vCPU, at which RIP, in which CPU mode. */
export interface EmulationFailed { readonly _tag: "EmulationFailed"; readonly reason: string }

export type VcpuExit =
  | PioExit
  | MmioExit
  | Shutdown
  | SystemEvent
  | InternalError
  | FailEntry
  | Interrupted
  | UnknownExit
  | RunFailed
  | Halted
  | EmulationFailed

export const SYSTEM_EVENT = { SHUTDOWN: 1, RESET: 2, CRASH: 3 } as const
