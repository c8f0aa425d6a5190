import type { CpuInterruptsService } from "../CpuInterrupts.js"
import type { InlineIo } from "../Cpu.js"
import type { TimerQueue } from "../../servers/DeviceClock.js"
import { MmioExit, PioExit, type VcpuExit } from "../VcpuExit.js"
import { EXIT_BUFFER_SIZE, FLAG, RUN, type SoftMachine, STATE } from "./NativeSoft.js"

/** Tuning of the interleaving of vCPUs on one thread (see docs/soft-cpu.md for the measurements). */
export interface SchedulerOptions {
  /** The longest a vCPU runs before the next one gets its turn, when more than one can run. */
  readonly quantumNs: number
  /** The longest a vCPU runs while an interrupt waits for it to set IF (it is checked between runs). */
  readonly maskedQuantumNs: number
}

export const DEFAULT_SCHEDULER: SchedulerOptions = { quantumNs: 1_000_000, maskedQuantumNs: 100_000 }

const KVM_EXIT_IO = 2
/** onExit's answers (NativeSoft.ts SoftMachineOptions.onExit). */
const EXIT_CONTINUE = 0, EXIT_STOP = 1, EXIT_EVENT = 2, EXIT_NMI = 3

/**
 * Runs every vCPU of a soft machine on the calling thread, interleaved
 * round-robin, for vCPU 0's `run`: I/O through the caller's `io` inside
 * each run (CurrentVcpu says whose), device timers fired between runs and
 * every run bounded by the next deadline, interrupts, NMIs, INIT and SIPI
 * taken from the interrupt controllers before a vCPU resumes, and a native
 * wait (which a kick or the event-loop watch ends) when every vCPU halts.
 */
export class SoftScheduler {
  readonly pio: PioExit
  readonly mmio: MmioExit
  private readonly exitU32: Uint32Array
  private io: InlineIo | undefined
  /** vCPU whose guest code runs (or whose exit is being handled). */
  current = 0
  private next = 0
  private machine!: SoftMachine
  /** NMIs taken from the controllers by an I/O exit inside a run, handed to the vCPU once the run returns. */
  private nmiTaken: Array<boolean> = []

  /** The machine is made after the scheduler (it calls `onExit`): `bind` it before the first run. */
  constructor(
    exitBuffer: ArrayBuffer,
    private readonly interrupts: CpuInterruptsService,
    private readonly clock: TimerQueue,
    private readonly options: SchedulerOptions
  ) {
    if (exitBuffer.byteLength < EXIT_BUFFER_SIZE) throw new RangeError("exit buffer too small")
    const bytes = new Uint8Array(exitBuffer)
    this.exitU32 = new Uint32Array(exitBuffer, 0, EXIT_BUFFER_SIZE >> 2)
    this.pio = new PioExit(bytes, new Uint16Array(exitBuffer, 0, EXIT_BUFFER_SIZE >> 1), this.exitU32)
    this.mmio = new MmioExit(bytes, new DataView(exitBuffer))
  }

  bind(machine: SoftMachine): void {
    this.machine = machine
    this.nmiTaken = Array.from({ length: machine.count }, () => false)
  }

  /** The addon calls this for every port or MMIO access, synchronously, inside a run. */
  readonly onExit = (): number => {
    const io = this.io
    if (io === undefined) return EXIT_STOP
    const exit = this.exitU32[2] === KVM_EXIT_IO ? this.pio.load() : this.mmio.load()
    if (!io(exit)) return EXIT_STOP
    // A device may have raised an NMI or an interrupt for this vCPU (an IPI,
    // an MSI, a PIC unmask): end the run so it is taken after this instruction.
    const i = this.current
    if (this.interrupts.takeNmi(i)) {
      this.nmiTaken[i] = true
      return EXIT_NMI
    }
    return this.interrupts.hasInterrupt(i) ? EXIT_EVENT : EXIT_CONTINUE
  }

  /**
   * Takes what the interrupt controllers hold for vCPU i and delivers what
   * it can take now. Returns a final exit (a triple fault while delivering,
   * or an emulation failure), or undefined.
   */
  private takeEvents(i: number): VcpuExit | undefined {
    const m = this.machine
    let state = m.state(i)
    for (;;) {
      const signal = this.interrupts.takeStartup(i)
      if (signal === undefined) break
      if (signal.kind === "init") {
        m.init(i)
      } else if (state === STATE.WAIT_FOR_SIPI) {
        m.sipi(i, signal.vector)
      }
      state = m.state(i)
    }
    if (state === STATE.WAIT_FOR_SIPI) return undefined
    // The vCPU holds one NMI while an NMI handler runs (and delivers it after the iret).
    if (this.interrupts.takeNmi(i)) {
      const r = m.nmi(i)
      if (r !== 0) return this.failure(i, r)
    }
    const flags = m.flags(i)
    if ((flags & FLAG.IF) && !(flags & FLAG.SHADOW) && this.interrupts.hasInterrupt(i)) {
      const vector = this.interrupts.acknowledge(i)
      if (vector >= 16) {
        const r = m.interrupt(i, vector)
        if (r !== 0) return this.failure(i, r)
      }
    }
    return undefined
  }

  private failure(i: number, code: number): VcpuExit {
    return code === RUN.SHUTDOWN ? { _tag: "Shutdown" } : { _tag: "EmulationFailed", reason: this.machine.lastError(i) }
  }

  /** Every vCPU halted with IF clear, or waiting for a SIPI: nothing left to wake any of them. */
  private haltedForGood(): boolean {
    const m = this.machine
    for (let i = 0; i < m.count; i++) {
      const s = m.state(i)
      if (s === STATE.WAIT_FOR_SIPI) continue
      if (s !== STATE.HALTED || (m.flags(i) & (FLAG.IF | FLAG.NMI_PENDING))) return false
    }
    return true
  }

  /** vCPU 0's run: every vCPU, at most `timeoutMs`. */
  run(timeoutMs: number, io: InlineIo): VcpuExit {
    const m = this.machine
    const clock = this.clock
    const deadline = clock.nowNs() + Math.max(0, timeoutMs) * 1e6
    const count = m.count
    this.io = io
    try {
      for (;;) {
        let now = clock.nowNs()
        clock.fireDue(now)
        if (now >= deadline) return { _tag: "Interrupted" }
        let ran = false
        for (let k = 0; k < count; k++) {
          const i = (this.next + k) % count
          const failed = this.takeEvents(i)
          if (failed !== undefined) return failed
          if (m.state(i) !== STATE.RUNNING) continue
          ran = true
          // Bound the run by the timeout, the next device timer, and (when
          // others wait, or an interrupt waits for IF) a quantum.
          const masked = (m.flags(i) & FLAG.NMI_PENDING) !== 0 || this.interrupts.hasInterrupt(i)
          let until = Math.min(deadline, clock.next())
          if (masked) until = Math.min(until, now + this.options.maskedQuantumNs)
          else if (count > 1) until = Math.min(until, now + this.options.quantumNs)
          this.current = i
          const code = m.run(i, Math.max(0, Math.ceil(until - now)))
          if (this.nmiTaken[i]) {
            // Held by the vCPU right away, so it is in its state whatever happens next (a snapshot).
            this.nmiTaken[i] = false
            const r = m.nmi(i)
            if (r !== 0) return this.failure(i, r)
          }
          switch (code) {
            case RUN.QUANTUM_END:
            case RUN.YIELD:
            case RUN.EVENT:
            case RUN.HALTED:
              break
            case RUN.KICKED:
            case RUN.IO_STOP:
              this.next = (i + 1) % count
              return { _tag: "Interrupted" }
            case RUN.SHUTDOWN:
              return { _tag: "Shutdown" }
            default:
              return { _tag: "EmulationFailed", reason: m.lastError(i) }
          }
          now = clock.nowNs()
          clock.fireDue(now)
          if (now >= deadline) {
            this.next = (i + 1) % count
            return { _tag: "Interrupted" }
          }
        }
        this.next = (this.next + 1) % count
        if (!ran) {
          if (this.haltedForGood()) return { _tag: "Halted" }
          // Every vCPU waits for an interrupt: sleep until the next device
          // timer or the timeout, or until kicked (by the event-loop watch
          // when a completion or a message arrives, or by kick()).
          const wait = Math.min(deadline, clock.next()) - clock.nowNs()
          if (wait > 0 && m.idle(Math.ceil(wait))) return { _tag: "Interrupted" }
        }
      }
    } finally {
      this.io = undefined
    }
  }
}
