import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Effect from "effect/Effect"
import type * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { KvmError } from "./KvmError.js"
import type { Regs, Sregs } from "./VcpuRegisters.js"
import type { MmioExit, PioExit, VcpuExit } from "./VcpuExit.js"

/**
 * The one seam between the machine and whatever executes guest code
 * (Cloud Hypervisor's `hypervisor` crate, QEMU's accelerator interface):
 * KVM (src/kernel/kvm) or the software CPU on Unicorn (src/kernel/soft).
 * Machine, servers, snapshot and cli see only what this file declares.
 */
export type CpuBackendName = "kvm" | "soft"

/** A software-CPU operation that failed (engine refused a register, a mapping, a mode). */
export class CpuError extends Data.TaggedError("CpuError")<{
  readonly operation: string
  readonly detail: string
}> {
  override get message() {
    return `${this.operation} failed: ${this.detail}`
  }
}

/** The CPU backend asked for cannot be had here (no /dev/kvm, no libunicorn); says what to do. */
export class CpuUnavailable extends Data.TaggedError("CpuUnavailable")<{
  readonly backend: CpuBackendName
  readonly reason: string
}> {
  override get message() {
    return this.reason
  }
}

export type KernelError = KvmError | CpuError

/**
 * Handles one PIO or MMIO access on the vCPU's own thread, replying into the
 * exit; false when the machine must stop (a device asked to power off, the
 * bus faulted), which ends `run` at once with an Interrupted exit.
 */
export type InlineIo = (exit: PioExit | MmioExit) => boolean

/**
 * What another thread of the process needs to kick a vCPU: plain data, so
 * it can cross a worker boundary (kernel/RemoteKick.ts acts on it).
 */
export interface KickHandle {
  readonly backend: CpuBackendName
  readonly token: number
}

export interface VirtualCpu {
  /** Index = APIC ID. */
  readonly id: number
  readonly kickHandle: KickHandle
  /**
   * Runs guest code on the calling thread until an exit the caller must
   * handle, at most about `timeoutMs` (then Interrupted). A backend either
   * returns PIO/MMIO exits for the caller to dispatch, their replies applied
   * by the next run (KVM), or handles them inline through `io` (the software
   * CPU must: an IN or an MMIO read needs its value before the instruction
   * completes). Either way the caller passes `io` and handles what comes out.
   */
  readonly run: (timeoutMs: number, io: InlineIo) => VcpuExit
  /** Makes a running `run` return soon (Interrupted), from any thread. */
  readonly kick: () => void
  /** Applies a PIO-in/MMIO-read reply still pending from the last exit, before any state is read or written. */
  readonly flushPendingIo: () => Effect.Effect<void, KernelError>
  readonly getRegs: () => Effect.Effect<Regs, KernelError>
  readonly setRegs: (regs: Regs) => Effect.Effect<void, KernelError>
  readonly getSregs: () => Effect.Effect<Sregs, KernelError>
  readonly setSregs: (sregs: Sregs) => Effect.Effect<void, KernelError>
  /**
   * After an Interrupted exit of a uniprocessor guest: whether it sits in
   * `hlt` with interrupts disabled for good (bhyve exit 2). A backend that
   * reports that case itself with a Halted exit answers false.
   */
  readonly haltedForGood: () => Effect.Effect<boolean, KernelError>
}

/**
 * The vCPUs 1..N-1 of a backend that runs each on a host thread of its own
 * (KVM). Their exits are handed to the machine thread, which dispatches them
 * exactly as the BSP's (machine/ApRunner.ts). A backend that interleaves
 * every vCPU inside the BSP's `run` (the software CPU) says "inline".
 */
export interface ApThreads {
  /** Starts a thread running `vcpu` -> thread id, or -errno. */
  readonly start: (vcpu: VirtualCpu) => number
  /** Fills `out` with the ids of threads whose exit is unread -> how many. */
  readonly pending: (out: Int32Array) => number
  /** The exit of thread `id` (marks it read); undefined when it woke without one (run it again). */
  readonly exitOf: (id: number, vcpu: VirtualCpu) => VcpuExit | undefined
  readonly resume: (id: number) => number
  readonly stop: (id: number) => number
  /** Blocks until some thread has an unread exit, at most `timeoutMs` -> how many have one. */
  readonly wait: (timeoutMs: number) => number
}

/**
 * One part of the CPU side's state in a snapshot (a chunk): the VM-wide
 * state of an in-kernel irqchip, one vCPU's registers. Described by a
 * versioned Schema like a device server's state.
 */
export interface CpuStatePart<A = unknown, I = unknown> {
  /** Chunk id, e.g. "vm", "vcpu/0". */
  readonly id: string
  /** Manifest kind: "vm" or "vcpu". */
  readonly kind: string
  /** Manifest schema, e.g. "x86-vcpu" (KVM) or "x86-soft-vcpu"; a snapshot of one backend never decodes as the other's. */
  readonly schemaId: string
  readonly version: number
  readonly schema: Schema.Schema<A, I>
  /** Collects the state; every vCPU paused with its pending I/O applied. */
  readonly save: () => Effect.Effect<A, KernelError>
  /** Puts it back into a freshly built machine before anything runs. */
  readonly restore: (state: A) => Effect.Effect<void, KernelError>
}

export interface CpuBackendService {
  readonly name: CpuBackendName
  /** For people: "KVM (/dev/kvm)", "software CPU (Unicorn 2.0.1)". */
  readonly description: string
  readonly vcpus: ReadonlyArray<VirtualCpu>
  /**
   * Where the PIC, IOAPIC, LAPICs and PIT live: in the kernel (KVM's
   * irqchip: the backend also provides InterruptController and MsiSink), or
   * in userspace as device servers the machine adds (servers/apic, pic, pit).
   */
  readonly irqchip: "in-kernel" | "userspace"
  /** How vCPUs 1..N-1 run: threads of their own whose exits the machine thread handles, or inside vCPU 0's `run`. */
  readonly apThreads: ApThreads | "inline"
  /**
   * For the life of the scope, makes the BSP's `run` return as soon as the
   * calling thread's event loop has work ready (a disk completion, a frame),
   * instead of at the end of its time slice. False when it cannot watch.
   */
  readonly watchEventLoop: Effect.Effect<boolean, never, Scope.Scope>
  /** The state a snapshot must hold for this CPU side, in restore order. */
  readonly stateParts: ReadonlyArray<CpuStatePart>
}

export class CpuBackend extends Context.Tag("bhyve-ts/CpuBackend")<CpuBackend, CpuBackendService>() {}
