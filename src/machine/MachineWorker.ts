/**
 * Entry point of the machine thread: builds the machine a `bhyve` command
 * line described and runs its vCPU here, off the process's main thread.
 * Device servers live on this thread too, so exits never cross threads.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { parentPort, workerData } from "node:worker_threads"
import * as Machine from "./Machine.js"
import { specFromConfig } from "./MachineFromConfig.js"
import { describeExit, exitStatus } from "./MachineExit.js"
import type { FromMachine, MachineWorkerData, ToMachine } from "./WorkerProtocol.js"

const port = parentPort
if (port === null) throw new Error("MachineWorker must run in a worker thread")
const post = (message: FromMachine) => port.postMessage(message)
const { config } = workerData as MachineWorkerData

const program = Effect.scoped(
  Effect.gen(function*() {
    const machine = yield* Machine.build(specFromConfig(config))
    post({ _tag: "Running", kickTokens: machine.vcpus.map((v) => v.kickToken) })
    return yield* machine.run
  })
)

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

const fiber = Effect.runFork(program)
let stopReason: string | undefined
port.on("message", (message: ToMachine) => {
  if (message._tag === "Stop") {
    stopReason = message.reason
    Effect.runFork(Fiber.interrupt(fiber))
  }
})

fiber.addObserver((exit) => {
  if (Exit.isSuccess(exit)) {
    post({ _tag: "Exited", status: exitStatus(exit.value), message: describeExit(exit.value) })
  } else if (stopReason !== undefined && Exit.isInterrupted(exit)) {
    post({ _tag: "Exited", status: -1, message: `stopped by ${stopReason}` })
  } else {
    post({ _tag: "Exited", status: 4, message: describeCause(exit.cause) })
  }
  port.close()
})

