/**
 * Entry point of the machine thread: builds (or restores) the machine a
 * `bhyve` command line described and runs its vCPU here, off the process's
 * main thread. Device servers live on this thread too, so exits never cross
 * threads; bhyvectl requests arrive as messages between guest slices.
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import { writeSync } from "node:fs"
import { parentPort, workerData } from "node:worker_threads"
import { CpuBackend } from "../kernel/Cpu.js"
import * as SnapshotFsLive from "../snapshot/format/SnapshotFsLive.js"
import * as MachineSnapshots from "../snapshot/MachineSnapshots.js"
import { codeIsWarm } from "./CodeWarm.js"
import { handleRequest } from "./MachineCommands.js"
import { describeExit, exitStatus, type MachineExit } from "./MachineExit.js"
import type { FromMachine, MachineWorkerData, ToMachine } from "./WorkerProtocol.js"

const port = parentPort
if (port === null) throw new Error("MachineWorker must run in a worker thread")
const post = (message: FromMachine) => port.postMessage(message)

/** Exit status and message decided by a request (suspend, destroy) rather than by the guest. */
let stopWith: { status: number; message: string } | undefined

const program = (data: MachineWorkerData) => Effect.scoped(
  Effect.gen(function*() {
    const machine = data._tag === "Boot"
      ? yield* MachineSnapshots.fromConfig(data.config)
      : (yield* MachineSnapshots.restore({ path: data.path, overrides: data.overrides, verify: data.verify, ram: data.ram })).machine
    const requests = yield* Queue.unbounded<Extract<ToMachine, { _tag: "Control" }>>()
    port.on("message", (message: ToMachine) => {
      if (message._tag === "Control") Queue.unsafeOffer(requests, message)
    })
    // Requests on this thread, while the guest loop yields between slices: one at a time, except that a
    // checkpoint, which writes RAM while the guest runs, is answered when durable without holding up the
    // others (status, pause, a second save, which it refuses). Forked into this scope, it is interrupted
    // (temp files removed, write tracking lifted) before the machine it saves is torn down.
    const scope = yield* Effect.scope
    const serve = Effect.forever(
      Effect.gen(function*() {
        const { id, request } = yield* Queue.take(requests)
        const handled = Effect.map(handleRequest(machine, request), ({ outcome, after }) => {
          post({ _tag: "ControlReply", id, reply: outcome })
          return after
        })
        if (request._tag === "Checkpoint") {
          yield* Effect.forkIn(handled, scope)
          return
        }
        const after = yield* handled
        if (after !== "continue") {
          stopWith = { status: after.stop, message: after.message }
          return yield* Effect.interrupt
        }
      })
    )
    // -o cpu.announce=true: say which CPU runs the guest (the demo shows it; bhyve is otherwise quiet).
    if (machine.config.options["cpu.announce"] === "true") {
      // Written through at once (a worker's process.stderr is relayed by the main thread, after the guest's first output).
      writeSync(2, `bhyve: ${machine.config.name}: running on ${Context.get(machine.context, CpuBackend).description}\n`)
    }
    post({ _tag: "Running", kickHandles: machine.vcpus.map((v) => v.kickHandle), name: machine.config.name })
    codeIsWarm()
    return yield* Effect.raceFirst(machine.run, serve)
  })
).pipe(Effect.provide(SnapshotFsLive.layer))

/** One line for a person: the typed error's message, or the defect with its stack. */
const describeCause = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") {
    const e = failure.value
    return e instanceof Error ? e.message : String(e)
  }
  const defect = Cause.dieOption(cause)
  if (defect._tag === "Some") {
    const d = defect.value
    return `internal error: ${d instanceof Error ? d.stack ?? d.message : String(d)}`
  }
  return Cause.pretty(cause)
}

let stopReason: string | undefined

const start = (data: MachineWorkerData) => {
  const fiber = Effect.runFork(program(data))
  port.on("message", (message: ToMachine) => {
    if (message._tag === "Stop") {
      stopReason = message.reason
      Effect.runFork(Fiber.interrupt(fiber))
    }
  })
  fiber.addObserver(report)
}

const report = (exit: Exit.Exit<MachineExit, unknown>) => {
  if (Exit.isSuccess(exit)) {
    post({ _tag: "Exited", status: exitStatus(exit.value), message: describeExit(exit.value) })
  } else if (stopWith !== undefined && Exit.isInterrupted(exit)) {
    post({ _tag: "Exited", status: stopWith.status, message: stopWith.message })
  } else if (stopReason !== undefined && Exit.isInterrupted(exit)) {
    post({ _tag: "Exited", status: -1, message: `stopped by ${stopReason}` })
  } else {
    post({ _tag: "Exited", status: 4, message: describeCause(exit.cause) })
  }
  port.close()
}

if (workerData !== null && workerData !== undefined) {
  start(workerData as MachineWorkerData)
} else {
  port.once("message", (message: ToMachine) => {
    if (message._tag === "Start") start(message.data)
    else port.close()
  })
}
