import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { IoctlFd } from "./Ioctl.js"
import { EXIT, STRUCT_SIZE } from "./KvmIoctls.js"
import { KvmError } from "../KvmError.js"
import type { KvmSystemInfo } from "./KvmSystem.js"
import type { NativeKvm } from "../NativeKvm.js"
import { decodeRegs, decodeSregs, encodeRegs, encodeSregs, type Regs, REGS_SIZE, type Sregs, SREGS_SIZE } from "../VcpuRegisters.js"
import { MmioExit, PioExit, type VcpuExit } from "../VcpuExit.js"
import type { KickHandle, VirtualCpu } from "../Cpu.js"
import type { VmHandle } from "./Vm.js"
import { patchCpuid } from "./Cpuid.js"
import { withVirtualWire } from "./LapicState.js"

const EINTR = 4
const IO = 0x20
const KVM_MP_STATE_HALTED = 3
const RFLAGS_IF = 0x200n

export interface MsrValue {
  readonly index: number
  readonly value: bigint
}

/**
 * One KVM vCPU: its fd, its struct kvm_run mapping, state accessors and the
 * synchronous run call. `run()` executes KVM_RUN on the calling thread and
 * returns PIO/MMIO exits for the caller to dispatch (their replies are
 * applied by the next KVM_RUN), so it never calls the inline `io`.
 */
export class KvmVcpu implements VirtualCpu {
  readonly pio: PioExit
  readonly mmio: MmioExit
  /** Size of this host's XSAVE area (KVM_CAP_XSAVE2, at least 4 KiB). */
  readonly xsaveBytes: number
  readonly kickHandle: KickHandle
  private readonly runBytes: Uint8Array
  private readonly runU32: Uint32Array
  private readonly runView: DataView

  constructor(
    readonly id: number,
    readonly fd: IoctlFd,
    private readonly native: NativeKvm,
    runBuffer: ArrayBuffer,
    /** Kick token: lets any thread force this vCPU out of KVM_RUN. */
    readonly kickToken: number,
    private readonly msrIndices: ReadonlyArray<number>,
    private readonly xsaveSize: number
  ) {
    this.xsaveBytes = xsaveSize
    this.kickHandle = { backend: "kvm", token: kickToken }
    this.runBytes = new Uint8Array(runBuffer)
    this.runU32 = new Uint32Array(runBuffer, 0, 0x100)
    this.runView = new DataView(runBuffer)
    this.pio = new PioExit(this.runBytes, new Uint16Array(runBuffer, 0, 0x80), this.runU32)
    this.mmio = new MmioExit(this.runBytes, this.runView)
  }

  /**
   * Enters the guest until its next exit. Blocks the calling thread while
   * the guest runs, at most `timeoutMs` (then it returns Interrupted).
   */
  run(timeoutMs = 0, _io?: unknown): VcpuExit {
    return this.exitFrom(this.native.run(this.kickToken, this.fd.fd, timeoutMs))
  }

  /**
   * `hlt` with interrupts disabled parks the vCPU inside KVM for good (the
   * in-kernel LAPIC never exits for it); bhyve reports that as "halted".
   */
  readonly haltedForGood = (): Effect.Effect<boolean, KvmError> =>
    Effect.gen(this, function*() {
      if ((yield* this.getMpState()) !== KVM_MP_STATE_HALTED) return false
      return ((yield* this.getRegs()).rflags & RFLAGS_IF) === 0n
    })

  /**
   * The exit of a KVM_RUN that returned `rc` (0 or -errno), read from this
   * vCPU's struct kvm_run: what `run()` returns, for a KVM_RUN made on
   * another thread (an AP's own, see machine/ApRunner.ts).
   */
  exitFrom(rc: number): VcpuExit {
    if (rc < 0) {
      if (-rc === EINTR) {
        this.runBytes[1] = 0 // immediate_exit: consumed
        return { _tag: "Interrupted" }
      }
      return { _tag: "RunFailed", errno: -rc }
    }
    const reason = this.runU32[2]
    switch (reason) {
      case EXIT.IO: return this.pio.load()
      case EXIT.MMIO: return this.mmio.load()
      case EXIT.SHUTDOWN: return { _tag: "Shutdown" }
      case EXIT.INTR: {
        this.runBytes[1] = 0
        return { _tag: "Interrupted" }
      }
      case EXIT.SYSTEM_EVENT: return { _tag: "SystemEvent", type: this.runU32[IO >> 2] }
      case EXIT.INTERNAL_ERROR: {
        const ndata = Math.min(this.runU32[(IO + 4) >> 2], 16)
        const data = Array.from({ length: ndata }, (_, i) => this.runView.getBigUint64(IO + 8 + i * 8, true))
        return { _tag: "InternalError", suberror: this.runU32[IO >> 2], data }
      }
      case EXIT.FAIL_ENTRY: return { _tag: "FailEntry", reason: this.runView.getBigUint64(IO, true) }
      default: return { _tag: "UnknownExit", reason }
    }
  }

  /** Forces the vCPU out of KVM_RUN (or makes its next KVM_RUN return at once). Safe from any thread. */
  readonly kick = (): void => {
    this.native.kick(this.kickToken)
  }

  /**
   * Applies a pending PIO-in/MMIO-read completion without running guest
   * code: KVM_RUN with immediate_exit set. Must precede any state read or
   * write after an exit (KVM API: "completion of in-flight I/O").
   */
  readonly flushPendingIo = (): Effect.Effect<void, KvmError> =>
    Effect.suspend(() => {
      this.runBytes[1] = 1
      const rc = this.native.run(this.kickToken, this.fd.fd)
      this.runBytes[1] = 0
      return rc < 0 && -rc !== EINTR
        ? Effect.fail(new KvmError({ operation: `KVM_RUN (immediate_exit) on vCPU ${this.id}`, errno: -rc }))
        : Effect.void
    })

  readonly getRegs = () => Effect.map(this.fd.get("GET_REGS", REGS_SIZE), decodeRegs)
  readonly setRegs = (regs: Regs) => this.fd.set("SET_REGS", encodeRegs(regs))
  readonly getSregs = () => Effect.map(this.fd.get("GET_SREGS", SREGS_SIZE), decodeSregs)
  readonly setSregs = (sregs: Sregs) => this.fd.set("SET_SREGS", encodeSregs(sregs))
  readonly getFpu = () => this.fd.get("GET_FPU", STRUCT_SIZE.fpu)
  readonly setFpu = (bytes: Uint8Array) => this.fd.set("SET_FPU", bytes)
  /** KVM_GET_XSAVE2 when the area is larger than 4 KiB (AMX), KVM_GET_XSAVE otherwise. */
  readonly getXsave = () => this.fd.get(this.xsaveSize > 4096 ? "GET_XSAVE2" : "GET_XSAVE", this.xsaveSize)
  readonly setXsave = (bytes: Uint8Array) => this.fd.set("SET_XSAVE", bytes)
  readonly getXcrs = () => this.fd.get("GET_XCRS", STRUCT_SIZE.xcrs)
  readonly setXcrs = (bytes: Uint8Array) => this.fd.set("SET_XCRS", bytes)
  readonly getLapic = () => this.fd.get("GET_LAPIC", STRUCT_SIZE.lapic)
  readonly setLapic = (bytes: Uint8Array) => this.fd.set("SET_LAPIC", bytes)
  readonly getEvents = () => this.fd.get("GET_VCPU_EVENTS", STRUCT_SIZE.vcpuEvents)
  readonly setEvents = (bytes: Uint8Array) => this.fd.set("SET_VCPU_EVENTS", bytes)
  readonly getDebugRegs = () => this.fd.get("GET_DEBUGREGS", STRUCT_SIZE.debugregs)
  readonly setDebugRegs = (bytes: Uint8Array) => this.fd.set("SET_DEBUGREGS", bytes)
  readonly getMpState = () => Effect.map(this.fd.get("GET_MP_STATE", STRUCT_SIZE.mpState), (b) => new DataView(b.buffer).getUint32(0, true))
  readonly setMpState = (state: number) =>
    Effect.suspend(() => {
      const bytes = new Uint8Array(4)
      new DataView(bytes.buffer).setUint32(0, state, true)
      return this.fd.set("SET_MP_STATE", bytes)
    })

  /** Every MSR in KVM_GET_MSR_INDEX_LIST (or the given ones). */
  readonly getMsrs = (indices: ReadonlyArray<number> = this.msrIndices): Effect.Effect<Array<MsrValue>, KvmError> =>
    Effect.gen(this, function*() {
      const bytes = msrsStruct(indices.map((index) => ({ index, value: 0n })))
      const read = yield* this.fd.buffer("GET_MSRS", bytes)
      if (read !== indices.length) {
        return yield* new KvmError({
          operation: `KVM_GET_MSRS on vCPU ${this.id}`,
          errno: 22,
          detail: `MSR 0x${indices[read].toString(16)} could not be read`
        })
      }
      const v = new DataView(bytes.buffer)
      return indices.map((index, i) => ({ index, value: v.getBigUint64(8 + i * 16 + 8, true) }))
    })

  readonly setMsrs = (msrs: ReadonlyArray<MsrValue>): Effect.Effect<void, KvmError> =>
    Effect.gen(this, function*() {
      const written = yield* this.fd.buffer("SET_MSRS", msrsStruct(msrs))
      if (written !== msrs.length) {
        return yield* new KvmError({
          operation: `KVM_SET_MSRS on vCPU ${this.id}`,
          errno: 22,
          detail: `MSR 0x${msrs[written].index.toString(16)} was refused`
        })
      }
    })
}

/** struct kvm_msrs { u32 nmsrs; u32 pad; struct kvm_msr_entry { u32 index; u32 reserved; u64 data; } entries[]; } */
const msrsStruct = (msrs: ReadonlyArray<MsrValue>): Uint8Array => {
  const bytes = new Uint8Array(8 + msrs.length * 16)
  const v = new DataView(bytes.buffer)
  v.setUint32(0, msrs.length, true)
  msrs.forEach((m, i) => {
    v.setUint32(8 + i * 16, m.index, true)
    v.setBigUint64(8 + i * 16 + 8, BigInt.asUintN(64, m.value), true)
  })
  return bytes
}

/** Creates vCPU `id` with CPUID from KVM's supported set and its LAPIC wired as firmware leaves it. */
export const createVcpu = (kvm: KvmSystemInfo, vm: VmHandle, id: number, count: number): Effect.Effect<KvmVcpu, KvmError, Scope.Scope> =>
  Effect.gen(function*() {
    const { native } = kvm
    const fd = yield* Effect.acquireRelease(
      Effect.map(vm.fd.value("CREATE_VCPU", id), (vcpuFd) => new IoctlFd(native, vcpuFd, `vCPU ${id}`)),
      (f) => f.close()
    )
    const runBuffer = yield* Effect.acquireRelease(
      Effect.suspend(() => {
        const mapped = native.mapFd(fd.fd, kvm.vcpuMmapSize, 0)
        return typeof mapped === "number"
          ? Effect.fail(new KvmError({ operation: `mmap of kvm_run for vCPU ${id}`, errno: -mapped }))
          : Effect.succeed(mapped)
      }),
      (b) => Effect.sync(() => native.unmap(b))
    )
    // Unregistered before the mapping is released (finalizers run in reverse).
    const token = yield* Effect.acquireRelease(
      Effect.sync(() => native.kickRegister(runBuffer)),
      (t) => Effect.sync(() => native.kickUnregister(t))
    )
    const vcpu = new KvmVcpu(id, fd, native, runBuffer, token, kvm.msrIndices, kvm.xsaveSize)
    yield* fd.set("SET_CPUID2", patchCpuid(kvm.supportedCpuid, id, count))
    const lapic = yield* vcpu.getLapic()
    yield* vcpu.setLapic(withVirtualWire(lapic))
    return vcpu
  })
