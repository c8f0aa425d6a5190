import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { CpuBackend, type CpuStatePart } from "../kernel/Cpu.js"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { GuestMemory } from "../kernel/GuestMemory.js"
import { MachineClock, type MachineClockService } from "../kernel/MachineClock.js"
import type { BuiltMachine } from "../machine/Machine.js"
import type { MachineConfig } from "../machine/MachineConfig.js"
import { type DeviceServer, DeviceServers } from "../servers/DeviceServer.js"
import * as ChunkCodec from "./format/ChunkCodec.js"
import type { SnapshotFs } from "./format/SnapshotFs.js"
import { lazyRestoreOf } from "./format/LazyRamRestore.js"
import { trackedRam } from "./format/RamWriter.js"
import { DEFAULT_BLOCK_SIZE, writeSnapshot } from "./format/SnapshotWriter.js"
import { WriteTracking } from "../kernel/WriteTracking.js"
import { checkpointFaults } from "./CheckpointFaults.js"
import { hostInfo } from "./HostInfo.js"
import { MACHINE_CLOCK_CHUNK, machineClockCodec } from "./MachineClockChunk.js"
import { SaveFailed, type SaveStep } from "./SaveErrors.js"

export interface SaveDeadlines {
  /** Until every vCPU is parked. */
  readonly pauseMs: number
  /** Per device, to finish its in-flight work. */
  readonly quiesceMs: number
}

export const DEFAULT_DEADLINES: SaveDeadlines = { pauseMs: 5_000, quiesceMs: 10_000 }

export interface SaveRequest {
  readonly path: string
  /** checkpoint: the guest runs on afterwards; suspend: it stays paused for the caller to destroy. */
  readonly mode: "checkpoint" | "suspend"
  readonly config: MachineConfig
  readonly deadlines?: SaveDeadlines
}

export interface SaveReport {
  readonly path: string
  readonly ramPath: string
  readonly stateBytes: number
  readonly ramBytesWritten: number
  /** Time from the request until every vCPU was parked. */
  readonly pauseMs: number
  /** Time the guest did not run: until it resumed (a background checkpoint), else until the save was durable. */
  readonly downtimeMs: number
  readonly totalMs: number
  /** How RAM was written: while the guest ran (write tracking) or while it stayed paused. */
  readonly ram: "background" | "paused"
  /** Why a checkpoint stopped and copied instead of writing RAM in the background. */
  readonly fallback?: string
  /** What write tracking did during a background write. */
  readonly tracking?: { readonly faults: number; readonly pagesCopied: number; readonly sidePagesPeak: number }
}

const failAt = (step: SaveStep, component?: string) => (reason: unknown) =>
  new SaveFailed({ step, reason: reason instanceof Error ? reason.message : String(reason), component })

/** A defect (a device's bug: a throw, an Effect.die) as a failure of the step, so it cannot escape past the reply and end the machine. */
const crashed = (defect: unknown) =>
  Effect.fail(`crashed: ${defect instanceof Error ? defect.message : String(defect)}`)

/** Runs one step of the protocol with a deadline; a late, failed or crashed step names itself. */
const step = <A, E>(name: SaveStep, effect: Effect.Effect<A, E>, deadlineMs: number | undefined, component?: string) => {
  const bounded = deadlineMs === undefined
    ? effect
    : Effect.timeoutFail(effect, {
      duration: Duration.millis(deadlineMs),
      onTimeout: () => `did not finish within ${deadlineMs} ms`
    })
  return Effect.mapError(Effect.catchAllDefect(bounded, crashed), failAt(name, component))
}

const partName = (part: CpuStatePart) => (part.id === "vm" ? "VM" : part.id.replace("vcpu/", "vCPU "))

/**
 * Every piece of state, then encoded, the machine clock first. The clocks
 * the guest can compare (a vCPU's TSC, the ACPI PM timer, the PIT) all read
 * the machine clock, which stands still while the machine is paused, so they
 * are saved at one instant however long collecting takes (on KVM the TSC is
 * the hardware's and still runs: reading everything before encoding any
 * keeps it close).
 */
const collectAll = (clock: MachineClockService, parts: ReadonlyArray<CpuStatePart>, servers: ReadonlyArray<DeviceServer>) =>
  Effect.gen(function*() {
    const clockChunk = yield* Effect.mapError(
      ChunkCodec.encodeChunk(machineClockCodec, MACHINE_CLOCK_CHUNK, { ns: Math.max(0, Math.floor(clock.nowNs())) }),
      failAt("collect", "machine clock")
    )
    const cpuStates = yield* Effect.forEach(parts, (part) => Effect.mapError(part.save(), failAt("collect", partName(part))))
    const deviceStates = yield* Effect.forEach(servers, (server) =>
      Effect.mapError(
        Effect.try({ try: () => server.save(), catch: (e) => `crashed: ${e instanceof Error ? e.message : String(e)}` }),
        failAt("collect", server.id)
      ))
    const cpuChunks = yield* Effect.forEach(parts, (part, i) =>
      Effect.mapError(ChunkCodec.encodeChunk(ChunkCodec.make(part), part.id, cpuStates[i]), failAt("collect", partName(part))))
    const deviceChunks = yield* Effect.forEach(servers, (server, i) =>
      Effect.mapError(
        ChunkCodec.encodeChunk(ChunkCodec.fromDeviceServer(server), `device/${server.id}`, deviceStates[i]),
        failAt("collect", server.id)
      ))
    return [clockChunk, ...cpuChunks, ...deviceChunks]
  })

/** Machines with a save under way: a second one is refused (a background checkpoint leaves the guest running meanwhile). */
const saving = new WeakSet<BuiltMachine>()

/**
 * Save = check, pause, quiesce, collect, write; then (checkpoint) resume.
 * A checkpoint arms write tracking on guest RAM while paused and resumes
 * the guest at once; RAM is then written in the background as it was at
 * the pause (copy-before-write), and the reply waits until the snapshot is
 * durable. Where tracking cannot be had it stops and copies, and says why
 * in the report. Any failure or missed deadline aborts the save and
 * resumes the guest as it was; the snapshot writer leaves nothing at the
 * target that looks like a snapshot. Runs on the machine's own thread.
 */
export const saveSnapshot = (machine: BuiltMachine, request: SaveRequest): Effect.Effect<SaveReport, SaveFailed, SnapshotFs> =>
  Effect.suspend(() => {
    if (saving.has(machine)) {
      return Effect.fail(new SaveFailed({ step: "check", reason: "another snapshot of this machine is being written; try again when it is done" }))
    }
    saving.add(machine)
    return Effect.ensuring(saveOnce(machine, request), Effect.sync(() => saving.delete(machine)))
  })

const saveOnce = (machine: BuiltMachine, request: SaveRequest): Effect.Effect<SaveReport, SaveFailed, SnapshotFs> =>
  Effect.gen(function*() {
    const deadlines = request.deadlines ?? DEFAULT_DEADLINES
    const servers = Context.get(machine.context, DeviceServers)
    const backend = Context.get(machine.context, CpuBackend)
    const ram = Context.get(machine.context, GuestMemory)
    const tracking = Context.getOption(machine.context, WriteTracking)
    const refusing = servers.find((s) => s.unsupported !== undefined)
    if (refusing !== undefined) {
      return yield* new SaveFailed({ step: "check", component: refusing.id, reason: `device ${refusing.id} (${refusing.kind}) cannot be saved: ${refusing.unsupported}` })
    }
    // A lazy restore still filling RAM owns it with its userfaultfd (arming would get EBUSY): let it finish first, guest running.
    const filling = request.mode === "checkpoint" && Option.isSome(tracking) ? lazyRestoreOf(ram) : undefined
    if (filling !== undefined) yield* filling.complete
    // Paused by someone else (bhyvectl --pause): the save must leave it paused, not resume it.
    const wasPaused = machine.control.state === "paused"
    const started = performance.now()
    // A deadline can fire after the loop has already granted the pause: then it is ours to undo.
    yield* step("pause", machine.control.pause, deadlines.pauseMs).pipe(
      Effect.tapError(() => (wasPaused ? Effect.void : machine.control.resume))
    )
    const pausedAt = performance.now()
    let keepPaused = false
    let resumed = false
    let resumedAt: number | undefined

    // Every device is told to take up its work, and the vCPUs resume, whatever one device's resumeWork does.
    const resumeDevices = Effect.forEach(servers, (server) =>
      server.resumeWork === undefined
        ? Effect.void
        : Effect.catchAllDefect(server.resumeWork, (defect) =>
          Effect.logError(`device ${server.id} could not take up its work after the save`, Cause.die(defect))), { discard: true })
    const resumeOnce = Effect.suspend(() => {
      if (resumed) return Effect.void
      resumed = true
      return Effect.ensuring(resumeDevices, wasPaused ? Effect.void : machine.control.resume).pipe(
        Effect.ensuring(Effect.sync(() => void (resumedAt = performance.now())))
      )
    })

    const save = Effect.gen(function*() {
      for (const server of servers) {
        if (server.quiesce !== undefined) yield* step("quiesce", server.quiesce, deadlines.quiesceMs, server.id)
      }
      const chunks = yield* collectAll(Context.get(machine.context, MachineClock), backend.stateParts, servers)
      const faults = checkpointFaults()
      // A checkpoint freezes RAM as of now and lets the guest run while it is written; a suspend stops and copies.
      const armed = request.mode === "checkpoint" && Option.isSome(tracking)
        ? yield* Effect.either(tracking.value.arm({ blockSize: DEFAULT_BLOCK_SIZE, handlerDieAfter: faults.handlerDieAfter }))
        : undefined
      const session = armed !== undefined && Either.isRight(armed) ? armed.right : undefined
      const fallback = request.mode === "suspend"
        ? undefined
        : Option.isNone(tracking)
        ? "this CPU backend offers no write tracking"
        : armed !== undefined && Either.isLeft(armed)
        ? armed.left.reason
        : undefined
      if (session !== undefined) yield* resumeOnce
      // Not guest state: read once the guest runs again.
      const host = yield* hostInfo
      const written = yield* writeSnapshot({
        path: request.path,
        manifest: {
          host,
          // The CPU that ran it: a restore rebuilds the machine on the same one (its chunks are that CPU's).
          machine: { ...request.config, options: { ...request.config.options, "cpu.backend": backend.name } },
          vcpuCount: machine.vcpus.length,
          devices: servers.map((s) => ({ id: s.id, kind: s.kind, config: s.config ?? null }))
        },
        chunks,
        ram,
        ...(session === undefined ? {} : { ramSource: trackedRam(session, faults.write) })
      }).pipe(Effect.mapError(failAt("write")))
      const stats = session === undefined ? undefined : yield* session.stats
      keepPaused = request.mode === "suspend"
      const done = performance.now()
      const report: SaveReport = {
        path: written.path,
        ramPath: written.ramPath,
        stateBytes: written.stateBytes,
        ramBytesWritten: written.ramBytesWritten,
        pauseMs: pausedAt - started,
        downtimeMs: (resumedAt ?? done) - started,
        totalMs: done - started,
        ram: session === undefined ? "paused" : "background",
        ...(fallback === undefined ? {} : { fallback }),
        ...(stats === undefined ? {} : { tracking: { faults: stats.faults, pagesCopied: stats.pagesCopied, sidePagesPeak: stats.sidePagesPeak } })
      }
      return report
    })

    return yield* Effect.scoped(save).pipe(Effect.ensuring(Effect.suspend(() => (keepPaused ? Effect.void : resumeOnce))))
  })
