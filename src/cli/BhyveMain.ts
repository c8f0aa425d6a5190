/**
 * The `bhyve` process's main thread: parses the command line, starts the
 * machine thread, connects the terminal and signals to it, and exits with
 * bhyve(8)'s status: 0 reset, 1 powered off, 2 halted, 3 triple fault,
 * 4 error.
 */
import * as Effect from "effect/Effect"
import { Worker } from "node:worker_threads"
import { loadNativeKvm } from "../kernel/NativeKvm.js"
import type { MachineConfig } from "../machine/MachineConfig.js"
import type { FromMachine, MachineWorkerData, ToMachine } from "../machine/WorkerProtocol.js"
import { parseBhyveArgs } from "./BhyveArgs.js"
import { BHYVE_USAGE_EXIT_STATUS } from "./BhyveUsageError.js"

const EXIT_ERROR = 4
const SIGNAL_STATUS: Record<string, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 }

const fail = (message: string, status = EXIT_ERROR) => {
  process.stderr.write(`bhyve: ${message}\n`)
  return status
}

/** Runs the machine on its own thread; resolves with the process exit status. */
const runMachine = (config: MachineConfig): Promise<number> =>
  new Promise((resolve) => {
    const usesStdio = config.serial.some((s) => s.backend._tag === "stdio")
    const worker = new Worker(new URL("../machine/MachineWorker.js", import.meta.url), {
      workerData: { config } satisfies MachineWorkerData,
      stdin: usesStdio
    })
    let kickTokens: ReadonlyArray<number> = []
    let settled = false
    let signalled: string | undefined
    const native = Effect.runSync(Effect.either(loadNativeKvm))
    // The machine thread only reads its messages between guest slices; a
    // kick makes that happen now rather than at the next watchdog tick.
    const kick = () => {
      if (native._tag === "Right") for (const t of kickTokens) native.right.kick(t)
    }
    const send = (message: ToMachine) => {
      worker.postMessage(message)
      kick()
    }

    const stdin = process.stdin
    const rawTty = usesStdio && stdin.isTTY === true
    const onInput = (bytes: Buffer) => {
      worker.stdin?.write(bytes)
      kick()
    }
    if (usesStdio) {
      if (rawTty) stdin.setRawMode(true)
      stdin.on("data", onInput)
      stdin.on("end", () => worker.stdin?.end())
    }
    const onSignal = (signal: NodeJS.Signals) => {
      signalled = signal
      send({ _tag: "Stop", reason: signal })
    }
    const signals: ReadonlyArray<NodeJS.Signals> = ["SIGINT", "SIGTERM", "SIGHUP"]
    for (const s of signals) process.on(s, onSignal)

    const finish = (status: number) => {
      if (settled) return
      settled = true
      for (const s of signals) process.off(s, onSignal)
      if (usesStdio) {
        stdin.off("data", onInput)
        if (rawTty) stdin.setRawMode(false)
        stdin.pause()
      }
      resolve(status)
    }
    worker.on("message", (message: FromMachine) => {
      switch (message._tag) {
        case "Running":
          kickTokens = message.kickTokens
          break
        case "Exited":
          if (message.status === -1) {
            process.stderr.write(`bhyve: ${message.message}\n`)
            finish(SIGNAL_STATUS[signalled ?? "SIGTERM"] ?? EXIT_ERROR)
          } else if (message.status === EXIT_ERROR) {
            finish(fail(message.message))
          } else {
            finish(message.status)
          }
          break
      }
    })
    worker.on("error", (e) => finish(fail(`machine thread failed: ${e.stack ?? e.message}`)))
    worker.on("exit", (code) => finish(fail(`machine thread ended unexpectedly (code ${code})`)))
  })

export const bhyveMain = async (argv: ReadonlyArray<string>): Promise<number> => {
  const parsed = await Effect.runPromise(Effect.either(parseBhyveArgs(argv)))
  if (parsed._tag === "Left") return fail(parsed.left.message, BHYVE_USAGE_EXIT_STATUS)
  const invocation = parsed.right
  switch (invocation._tag) {
    case "Help":
      process.stdout.write(invocation.text.endsWith("\n") ? invocation.text : `${invocation.text}\n`)
      return 0
    case "Restore":
      return fail(`-r ${invocation.snapshot}: restoring snapshots is not supported by this build yet`)
    case "Boot":
      return runMachine(invocation.config)
  }
}
