import * as Effect from "effect/Effect"
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { CpuUnavailable } from "../Cpu.js"

/**
 * The software CPU's addon (native/soft, target bhyve_soft): Unicorn 2.0.x
 * engines, one per vCPU, run on the calling thread. Unicorn is GPL-2 (its
 * QEMU part); the addon links the system's libunicorn dynamically and is
 * only built where it is installed (binding.gyp), so a checkout without it
 * still builds and runs on KVM.
 */

/** What `run` reports (native/soft/soft_machine.h RunCode). */
export const RUN = {
  QUANTUM_END: 0,
  KICKED: 1,
  HALTED: 2,
  IO_STOP: 3,
  SHUTDOWN: 4,
  ERROR: 5,
  YIELD: 6,
  /** An I/O handler made an interrupt pending while IF was set (onExit returned 2). */
  EVENT: 8
} as const

/** A vCPU's run state (soft_machine.h RunState). */
export const STATE = { RUNNING: 0, HALTED: 1, WAIT_FOR_SIPI: 2 } as const

/** Bits of `flags(i)` (soft_machine.h). */
export const FLAG = { IF: 1, SHADOW: 2, NMI_BLOCKED: 4, LONG: 8, PROTECTED: 16, NMI_PENDING: 32 } as const

/** Bytes of the exit buffer (struct kvm_run's layout up to the I/O data). */
export const EXIT_BUFFER_SIZE = 0x200
/** Bytes of a full vCPU state record (soft_state.h rec::SIZE). */
export const STATE_RECORD_SIZE = 1016

export interface SoftMachineOptions {
  readonly cpus: number
  /** Guest RAM: page-aligned host mappings, the first at guest-physical 0. */
  readonly ram: ReadonlyArray<{ readonly gpa: number; readonly buffer: ArrayBuffer }>
  /** Every other guest-physical range the guest may touch: MMIO, handled by onExit. */
  readonly mmio: ReadonlyArray<{ readonly base: number; readonly size: number }>
  /** EXIT_BUFFER_SIZE bytes laid out as struct kvm_run (exit reason at 8, io/mmio at 0x20). */
  readonly exitBuffer: ArrayBuffer
  /**
   * Called synchronously on this thread for each port or MMIO access, the
   * exit buffer filled; the reply goes into it. 0 goes on, 1 stops the
   * machine (the run returns IO_STOP), 2 says an interrupt is now pending
   * for this vCPU (the run returns EVENT if IF is set), 3 an NMI (EVENT
   * unless an NMI is being handled). An exception thrown here ends the run
   * and propagates out of `run`.
   */
  readonly onExit: () => number
}

/** One machine (native/soft/soft_addon.cc SoftMachine). Methods throw TypeError/RangeError on bad arguments. */
export interface SoftMachine {
  /** Kick token: `kick(token)` from any thread ends the current run or idle. */
  readonly token: number
  readonly count: number
  /** Runs vCPU i for at most budgetNs -> RUN code. */
  run(i: number, budgetNs: number): number
  /** Waits at most timeoutNs for a kick -> whether one came. */
  idle(timeoutNs: number): boolean
  kick(): void
  /** FLAG bits of vCPU i. */
  flags(i: number): number
  state(i: number): number
  setState(i: number, state: number): void
  /** Delivers external interrupt `vector` (16..255) now -> 0, RUN.SHUTDOWN or RUN.ERROR. */
  interrupt(i: number, vector: number): number
  /** An NMI: delivered now, or held (one) until the running NMI handler's iret -> 0, RUN.SHUTDOWN or RUN.ERROR. */
  nmi(i: number): number
  /** INIT: the vCPU resets and waits for a SIPI. */
  init(i: number): void
  /** SIPI: real mode at CS = vector << 8, IP 0. */
  sipi(i: number, vector: number): void
  /** struct kvm_regs (144 bytes). */
  getRegs(i: number, out: Uint8Array): void
  setRegs(i: number, bytes: Uint8Array): void
  /** struct kvm_sregs (312 bytes). */
  getSregs(i: number, out: Uint8Array): void
  /** -> undefined, or why the values are impossible (nothing changed then). */
  setSregs(i: number, bytes: Uint8Array): string | undefined
  /** STATE_RECORD_SIZE bytes (src/kernel/soft/SoftState.ts decodes them). */
  saveState(i: number, out: Uint8Array): void
  restoreState(i: number, bytes: Uint8Array): string | undefined
  /** One line: what failed, on which vCPU, at which RIP, in which mode. */
  lastError(i: number): string
  /** The host wrote guest RAM [gpa, gpa + length): every vCPU drops code it translated from it -> pages that had some. */
  invalidateCode(gpa: number, length: number): number
  /** Kicks the machine whenever this thread's event loop has work -> id or -errno. */
  loopWatchStart(): number
  loopWatchStop(id: number): number
  /** The machine clock the TSCs count (src/kernel/MachineClock.ts ClockFollower): running, value = CLOCK_MONOTONIC ns less guest ns; stopped, the guest ns. */
  setClock(running: boolean, value: bigint): void
  destroy(): void
}

export interface SoftInfo {
  /** "2.0.1" */
  readonly unicorn: string
  /** The self-test passed: the soft CPU can run here. */
  readonly ok: boolean
  /** What the self-test found, a line per item. */
  readonly report: string
  /** Unicorn's identity mapping of linear to physical addresses is corrected (non-identity paging works). */
  readonly pagingFix: boolean
  readonly counts: Readonly<Record<string, number>>
}

export interface NativeSoft {
  readonly SoftMachine: new (options: SoftMachineOptions) => SoftMachine
  /** 0, or -ESRCH for a token no machine holds. Any thread. */
  readonly kick: (token: number) => number
  readonly info: () => SoftInfo
}

const ADDON = "build/Release/bhyve_soft.node"

const findAddon = (): string => {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(join(dir, ADDON))) return join(dir, ADDON)
    const parent = dirname(dir)
    if (parent === dir) return fileURLToPath(new URL(`../../../${ADDON}`, import.meta.url))
    dir = parent
  }
}

const HOW_TO = "install Unicorn 2 (apt-get install libunicorn-dev) and rerun npm install"

let cached: NativeSoft | undefined

/** The addon, loaded once; CpuUnavailable (saying how to get it) when it is not built or cannot run here. */
export const loadNativeSoft: Effect.Effect<NativeSoft, CpuUnavailable> = Effect.suspend(() => {
  if (cached !== undefined) return Effect.succeed(cached)
  const path = findAddon()
  if (!existsSync(path)) {
    return Effect.fail(new CpuUnavailable({ backend: "soft", reason: `software CPU not built (no ${path}): ${HOW_TO}` }))
  }
  return Effect.try({
    try: () => {
      cached = createRequire(import.meta.url)(path) as NativeSoft
      return cached
    },
    catch: (e) =>
      new CpuUnavailable({
        backend: "soft",
        reason: `software CPU addon ${path} failed to load (${e instanceof Error ? e.message : String(e)}): ${HOW_TO}`
      })
  })
})

/** The addon, checked by its self-test (layout, bound replacements, paging fix). */
export const loadCheckedSoft: Effect.Effect<{ readonly native: NativeSoft; readonly info: SoftInfo }, CpuUnavailable> =
  Effect.flatMap(loadNativeSoft, (native) =>
    Effect.suspend(() => {
      const info = native.info()
      return info.ok
        ? Effect.succeed({ native, info })
        : Effect.fail(
          new CpuUnavailable({
            backend: "soft",
            reason: `software CPU cannot run on Unicorn ${info.unicorn}: ${info.report.trim().replace(/\n/g, "; ")}`
          })
        )
    }))
