import { Worker } from "node:worker_threads"
import type { ControlRequest } from "../control/ControlRequest.js"
import type { KickHandle } from "../kernel/Cpu.js"
import type { ControlOutcome, FromMachine, MachineWorkerData, ToMachine } from "../machine/WorkerProtocol.js"

export interface MachineThreadExit {
  /** bhyve(8) status, or -1 when stopped by a signal. */
  readonly status: number
  readonly message: string
}

/**
 * Starts the machine thread before it knows what to run, so that its module
 * loading (about as long as the main thread's) overlaps the main thread's.
 * Its stdin is always a pipe; a machine without a stdio port never reads it.
 */
export const startMachineWorker = (): Worker =>
  new Worker(new URL(typeof BHYVE_WORKER_ENTRY === "string" ? BHYVE_WORKER_ENTRY : "./machine-worker-main.js", import.meta.url), {
    stdin: true
  })

/**
 * `./<file>.cjs`: the machine thread's entry beside this module in dist/bundle/, put here by
 * scripts/build-bundles.mjs (a CommonJS entry starts a worker ~20-30 ms sooner than an ES module:
 * no ES module loader to set up); undefined in tsc's dist/cli/, where it is machine-worker-main.js.
 */
declare const BHYVE_WORKER_ENTRY: string | undefined

/**
 * The worker thread that owns the machine, seen from the main thread:
 * messages to it are followed by a kick, because the machine thread reads
 * its messages only between guest slices.
 */
export class MachineThread {
  private readonly worker: Worker
  private kickHandles: ReadonlyArray<KickHandle> = []
  private nextId = 1
  private readonly pending = new Map<number, (outcome: ControlOutcome) => void>()
  private onExit: ((exit: MachineThreadExit) => void) | undefined
  private exit: MachineThreadExit | undefined
  /** Resolves when the guest is about to run, with the VM's name. */
  readonly running: Promise<string>

  /** `worker` is one started by `startMachineWorker` (its code already loading); it is told what to run here. */
  constructor(
    data: MachineWorkerData,
    private readonly kickRemote: ((handles: ReadonlyArray<KickHandle>) => void) | undefined,
    worker: Worker = startMachineWorker()
  ) {
    this.worker = worker
    this.worker.postMessage({ _tag: "Start", data } satisfies ToMachine)
    let started: (name: string) => void = () => {}
    this.running = new Promise((resolve) => {
      started = resolve
    })
    this.worker.on("message", (message: FromMachine) => {
      switch (message._tag) {
        case "Running":
          this.kickHandles = message.kickHandles
          started(message.name)
          break
        case "ControlReply":
          this.pending.get(message.id)?.(message.reply)
          this.pending.delete(message.id)
          break
        case "Exited":
          this.finish({ status: message.status, message: message.message })
          break
      }
    })
    this.worker.on("error", (e) => this.finish({ status: 4, message: `machine thread failed: ${e.stack ?? e.message}` }))
    this.worker.on("exit", (code) => this.finish({ status: 4, message: `machine thread ended unexpectedly (code ${code})` }))
  }

  private finish(exit: MachineThreadExit) {
    if (this.exit !== undefined) return
    this.exit = exit
    for (const reply of this.pending.values()) reply({ ok: false, reason: `the machine stopped: ${exit.message}` })
    this.pending.clear()
    this.onExit?.(exit)
  }

  /** Resolves once the machine has released everything. */
  readonly exited = (): Promise<MachineThreadExit> =>
    new Promise((resolve) => {
      if (this.exit !== undefined) resolve(this.exit)
      else this.onExit = resolve
    })

  private kick() {
    this.kickRemote?.(this.kickHandles)
  }

  private post(message: ToMachine) {
    this.worker.postMessage(message)
    this.kick()
  }

  request(request: ControlRequest): Promise<ControlOutcome> {
    if (this.exit !== undefined) return Promise.resolve({ ok: false, reason: `the machine stopped: ${this.exit.message}` })
    const id = this.nextId++
    return new Promise((resolve) => {
      this.pending.set(id, resolve)
      this.post({ _tag: "Control", id, request })
    })
  }

  stop(reason: string) {
    this.post({ _tag: "Stop", reason })
  }

  /** Host terminal input for a stdio serial port. */
  input(bytes: Uint8Array) {
    this.worker.stdin?.write(bytes)
    this.kick()
  }

  endInput() {
    this.worker.stdin?.end()
  }
}
