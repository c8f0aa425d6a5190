import type { StartupSignal } from "../../kernel/CpuInterrupts.js"

/** INIT and start-ups wait for the vCPU in order; three hold the INIT, SIPI, SIPI of the MP start-up sequence. */
export const STARTUP_QUEUE_LIMIT = 3

const QUEUED_INIT = 0x100
const INIT_SIGNAL: StartupSignal = Object.freeze({ kind: "init" })
// One object per vector, made once: taking a signal must not allocate.
const SIPI_SIGNALS: ReadonlyArray<StartupSignal> = Array.from({ length: 256 }, (_, vector) => Object.freeze({ kind: "sipi", vector }))

/**
 * What a LAPIC holds for its CPU outside the IRR: a latched NMI (one, as
 * the CPU latches it) and the INIT and start-up IPIs not yet taken, in
 * order. An INIT empties the queue before it: the CPU it resets would have
 * gone through whatever was queued and ended up reset all the same. A
 * start-up beyond the queue's room is dropped, as one sent to a CPU that
 * is not waiting for it is.
 */
export class LapicSignals {
  private nmi = false
  private readonly queue = new Int16Array(STARTUP_QUEUE_LIMIT)
  private length = 0

  raiseNmi(): void {
    this.nmi = true
  }

  takeNmi(): boolean {
    const pending = this.nmi
    this.nmi = false
    return pending
  }

  clearNmi(): void {
    this.nmi = false
  }

  init(): void {
    this.queue[0] = QUEUED_INIT
    this.length = 1
  }

  startup(vector: number): void {
    if (this.length < STARTUP_QUEUE_LIMIT) this.queue[this.length++] = vector & 0xff
  }

  takeStartup(): StartupSignal | undefined {
    if (this.length === 0) return undefined
    const head = this.queue[0]
    this.queue.copyWithin(0, 1)
    this.length--
    return head === QUEUED_INIT ? INIT_SIGNAL : SIPI_SIGNALS[head]
  }

  save(): { readonly nmiPending: boolean; readonly startup: Array<StartupSignal> } {
    return {
      nmiPending: this.nmi,
      startup: Array.from(this.queue.subarray(0, this.length), (q) => (q === QUEUED_INIT ? INIT_SIGNAL : SIPI_SIGNALS[q]))
    }
  }

  restore(nmiPending: boolean, startup: ReadonlyArray<StartupSignal>): void {
    this.nmi = nmiPending
    this.length = Math.min(startup.length, STARTUP_QUEUE_LIMIT)
    for (let i = 0; i < this.length; i++) {
      const signal = startup[i]
      this.queue[i] = signal.kind === "init" ? QUEUED_INIT : signal.vector
    }
  }
}
