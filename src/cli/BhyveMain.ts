/**
 * The `bhyve` process's main thread: parses the command line, opens the
 * VM's control socket, starts the machine thread, connects the terminal
 * and signals to it, and exits with bhyve(8)'s status: 0 reset (or
 * suspended), 1 powered off, 2 halted, 3 triple fault, 4 error.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { RequestFailed } from "../control/ControlFailure.js"
import type { ControlRequest } from "../control/ControlRequest.js"
import { makeControlServer } from "../control/ControlServer.js"
import { makeRemoteKick, preloadCpuAddon } from "../kernel/RemoteKick.js"
import type { MachineWorkerData } from "../machine/WorkerProtocol.js"
import * as SnapshotFsLive from "../snapshot/format/SnapshotFsLive.js"
import { readManifest } from "../snapshot/format/SnapshotReader.js"
import { type BhyveInvocation, parseBhyveArgs } from "./BhyveArgs.js"
import { BHYVE_USAGE_EXIT_STATUS, BhyveUsageError } from "./BhyveUsageError.js"
import { parseRestoreOptions } from "./RestoreOptions.js"
import { existsSync } from "node:fs"
import type { Worker } from "node:worker_threads"
import { MachineThread } from "./MachineThread.js"

const EXIT_ERROR = 4
const SIGNAL_STATUS: Record<string, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 }
const SIGNALS: ReadonlyArray<NodeJS.Signals> = ["SIGINT", "SIGTERM", "SIGHUP"]

const complain = (message: string) => process.stderr.write(`bhyve: ${message}\n`)

interface Launch {
  readonly data: MachineWorkerData
  readonly name: string
  readonly socketPath: string | undefined
  readonly usesStdio: boolean
  /** Whether the guest surely runs on the software CPU (said so, or auto without /dev/kvm). */
  readonly soft: boolean
}

/** `-o cpu.backend`: soft, or auto on a host without /dev/kvm (where auto cannot take KVM). */
const surelySoft = (backend: string | undefined): boolean =>
  backend === "soft" || ((backend === undefined || backend === "auto") && !existsSync(KVM_DEVICE))

/** The device auto tries (MachineFromConfig.ts passes no other). */
const KVM_DEVICE = "/dev/kvm"

/** What to start: a fresh boot, or a restore whose name and ports come from the snapshot unless the flags rebind them. */
const launchOf = (invocation: Extract<BhyveInvocation, { _tag: "Boot" | "Restore" }>) =>
  Effect.gen(function*() {
    if (invocation._tag === "Boot") {
      const { config } = invocation
      return {
        data: { _tag: "Boot", config },
        name: config.name,
        socketPath: config.options["control.socket"],
        usesStdio: config.serial.some((s) => s.backend._tag === "stdio"),
        soft: surelySoft(config.options["cpu.backend"])
      } satisfies Launch
    }
    const { snapshot, overrides } = invocation
    const { manifest } = yield* readManifest(snapshot).pipe(Effect.provide(SnapshotFsLive.layer))
    const serial = manifest.machine.serial.map((s) => overrides.serial.find((o) => o.port === s.port) ?? s)
    const options = { ...manifest.machine.options, ...overrides.options }
    const restore = parseRestoreOptions(options)
    if (Either.isLeft(restore)) return yield* new BhyveUsageError({ message: restore.left })
    return {
      data: {
        _tag: "Restore",
        path: snapshot,
        overrides: { ...overrides, serial: overrides.serial },
        verify: restore.right.verify,
        ram: restore.right.ram
      },
      name: overrides.name ?? manifest.machine.name,
      socketPath: options["control.socket"],
      usesStdio: serial.some((s) => s.backend._tag === "stdio"),
      soft: false
    } satisfies Launch
  })

/** The terminal and signals wired to the machine thread for the life of the scope. */
const connectProcess = (thread: MachineThread, usesStdio: boolean, signalled: { name?: string }) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const stdin = process.stdin
      const rawTty = usesStdio && stdin.isTTY === true
      const onInput = (bytes: Buffer) => thread.input(bytes)
      const onEnd = () => thread.endInput()
      if (usesStdio) {
        if (rawTty) stdin.setRawMode(true)
        stdin.on("data", onInput)
        stdin.on("end", onEnd)
      }
      const onSignal = (signal: NodeJS.Signals) => {
        signalled.name = signal
        thread.stop(signal)
      }
      for (const s of SIGNALS) process.on(s, onSignal)
      return () => {
        for (const s of SIGNALS) process.off(s, onSignal)
        if (usesStdio) {
          stdin.off("data", onInput)
          stdin.off("end", onEnd)
          if (rawTty) stdin.setRawMode(false)
          stdin.pause()
        }
      }
    }),
    (disconnect) => Effect.sync(disconnect)
  )

/** Forwards a bhyvectl request to the machine thread and turns its outcome into a reply. */
const forward = (thread: () => MachineThread | undefined) => (request: ControlRequest) =>
  Effect.flatMap(
    Effect.promise(() => thread()?.request(request) ?? Promise.resolve({ ok: false as const, reason: "the machine is still starting" })),
    (outcome) =>
      outcome.ok
        ? Effect.succeed(outcome.result)
        : Effect.fail(new RequestFailed({ request: request._tag, reason: outcome.reason, step: outcome.step }))
  )

const runVm = (invocation: Extract<BhyveInvocation, { _tag: "Boot" | "Restore" }>, early: Worker | undefined) =>
  Effect.scoped(
    Effect.gen(function*() {
      const launch = yield* launchOf(invocation)
      const kickRemote = makeRemoteKick()
      let thread: MachineThread | undefined
      // The socket first: a second bhyve with the same name stops here, before building anything.
      yield* makeControlServer({ name: launch.name, socketPath: launch.socketPath }, forward(() => thread))
      const machine = yield* Effect.acquireRelease(
        Effect.sync(() => (thread = new MachineThread(launch.data, kickRemote, early))),
        (t) => Effect.promise(() => {
          t.stop("shutdown")
          return t.exited()
        })
      )
      // Unicorn loads here, on this otherwise idle thread, while the machine thread is still loading its code.
      if (launch.soft) setImmediate(() => preloadCpuAddon("soft"))
      const signalled: { name?: string } = {}
      yield* connectProcess(machine, launch.usesStdio, signalled)
      const exit = yield* Effect.promise(() => machine.exited())
      if (exit.status === -1) {
        complain(exit.message)
        return SIGNAL_STATUS[signalled.name ?? "SIGTERM"] ?? EXIT_ERROR
      }
      if (exit.status === EXIT_ERROR) complain(exit.message)
      return exit.status
    })
  )

/** `early`: a machine thread already loading its code (startMachineWorker); ended unused when no VM runs. */
export const bhyveMain = async (argv: ReadonlyArray<string>, early?: Worker): Promise<number> => {
  const parsed = await Effect.runPromise(Effect.either(parseBhyveArgs(argv)))
  if (parsed._tag === "Left" || parsed.right._tag === "Help") void early?.terminate()
  if (parsed._tag === "Left") {
    complain(parsed.left.message)
    return BHYVE_USAGE_EXIT_STATUS
  }
  const invocation = parsed.right
  if (invocation._tag === "Help") {
    process.stdout.write(invocation.text.endsWith("\n") ? invocation.text : `${invocation.text}\n`)
    return 0
  }
  return Effect.runPromise(
    runVm(invocation, early).pipe(
      Effect.catchAll((e) =>
        Effect.sync(() => {
          complain(e.message)
          return EXIT_ERROR
        })
      )
    )
  )
}
