import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { writeSync } from "node:fs"
import { CpuBackend } from "../kernel/Cpu.js"
import { GuestMemory, type RamBacking } from "../kernel/GuestMemory.js"
import { MachineClock } from "../kernel/MachineClock.js"
import { ramRegions } from "../kernel/MemoryLayout.js"
import * as Machine from "../machine/Machine.js"
import { specFromConfig } from "../machine/MachineFromConfig.js"
import { DeviceServers } from "../servers/DeviceServer.js"
import * as ChunkCodec from "./format/ChunkCodec.js"
import type { Verify } from "./format/RamReader.js"
import { withFile } from "./format/FileOps.js"
import { matchRamRegions, verifyMappedRam } from "./format/RamReader.js"
import { type LazyRamSession, startLazyRam } from "./format/LazyRamRestore.js"
import { SnapshotFs } from "./format/SnapshotFs.js"
import { readSnapshot } from "./format/SnapshotReader.js"
import { MACHINE_CLOCK_CHUNK, machineClockCodec, machineClockOfOldSnapshot } from "./MachineClockChunk.js"
import { applyOverrides, type RestoreOverrides } from "./RestoreOverrides.js"

/** The snapshot and the machine rebuilt from it do not fit together. */
export class SnapshotMismatch extends Data.TaggedError("SnapshotMismatch")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `${this.path}: ${this.reason}`
  }
}

/**
 * How guest RAM comes back: "lazy" starts the guest on empty memory and a
 * userfaultfd handler fills each block, checked, when first touched, and the
 * rest in the background (the file must stay as it is until that is done);
 * "copy" reads (and checks) the whole RAM file into fresh memory before the
 * guest runs; "map" maps the file copy-on-write, checked up front with
 * verify=all, so pages are read when first touched (the file must then stay
 * as it is while the guest runs).
 */
export type RamRestoreMode = "lazy" | "copy" | "map"

export interface RestoreRequest {
  readonly path: string
  readonly overrides?: RestoreOverrides
  /** "all" checks every RAM block's checksum before the guest can read it (lazy: as it is installed); "state" only the state file. */
  readonly verify?: Verify
  /** "lazy" when not given. */
  readonly ram?: RamRestoreMode
}

export interface RestoreReport {
  readonly snapshotId: string
  readonly ramBytesRead: number
  /** From the request to a machine ready to run its first instruction. */
  readonly restoreMs: number
  /** How RAM came back: "copy" also when lazy was asked for and userfaultfd could not be had. */
  readonly ram: RamRestoreMode
  /** The lazy restore's handler, while it fills RAM. */
  readonly lazy?: LazyRamSession
}

/**
 * Rebuilds the machine a snapshot describes (no other command line needed)
 * and puts every piece of state back; the returned machine's `run` resumes
 * the guest where it stopped. Nothing runs unless everything fit.
 */
export const restoreMachine = (request: RestoreRequest) =>
  Effect.gen(function*() {
    const started = performance.now()
    const { path } = request
    const snapshot = yield* readSnapshot(path)
    const { manifest } = snapshot
    const config = applyOverrides(path, manifest.machine, request.overrides ?? {})
    if (config instanceof Error) return yield* config
    if (manifest.vcpuCount !== config.cpus) {
      return yield* new SnapshotMismatch({ path, reason: `manifest says ${manifest.vcpuCount} vCPUs but its machine has ${config.cpus}` })
    }
    const mapped = request.ram === "map"
    // A lazy restore maps the file's regions as they are: the machine's RAM must be laid out the same.
    if (mapped) yield* matchRamRegions(snapshot.ramPath, manifest, ramRegions(config.memoryBytes))
    const fs = yield* SnapshotFs
    // For a lazy restore the RAM file is open while the machine maps it; the mappings keep it afterwards.
    const build = (ramBacking?: RamBacking) => Machine.build(specFromConfig(config), { loadKernel: false, ramBacking })
    const offsetOf = (gpa: number) => manifest.ram.regions.find((r) => r.gpa === gpa)?.fileOffset
    const machine = yield* (mapped
      ? withFile(fs, snapshot.ramPath, "read", (file) => build({ fd: file.fd, path: snapshot.ramPath, offsetOf }))
      : build())
    const servers = Context.get(machine.context, DeviceServers)
    const saved = manifest.devices.map((d) => `${d.id}:${d.kind}`).sort()
    const built = servers.map((s) => `${s.id}:${s.kind}`).sort()
    if (saved.join(",") !== built.join(",")) {
      return yield* new SnapshotMismatch({ path, reason: `devices differ: snapshot has [${saved.join(", ")}], this build made [${built.join(", ")}]` })
    }
    // A device's host side (a disk image) must be what the guest was using, unless the user says otherwise.
    const conflicts = servers.flatMap((server) => {
      const recorded = manifest.devices.find((d) => d.id === server.id)?.config
      const reason = recorded !== null && typeof recorded === "object" && !Array.isArray(recorded)
        ? server.restoreConflict?.(recorded as { readonly [key: string]: unknown })
        : undefined
      return reason === undefined ? [] : [`${server.id}: ${reason}`]
    })
    if (conflicts.length > 0 && config.options["snapshot.ignore_device_changes"] !== "true") {
      return yield* new SnapshotMismatch({
        path,
        reason: `the devices' host side changed since the save:\n  ${conflicts.join("\n  ")}\n(-o snapshot.ignore_device_changes=true restores anyway)`
      })
    }
    const backend = Context.get(machine.context, CpuBackend)
    // Every chunk must be state this build puts back: none is silently dropped.
    const understood = new Set([MACHINE_CLOCK_CHUNK, ...backend.stateParts.map((p) => p.id), ...servers.map((s) => `device/${s.id}`)])
    const unread = manifest.chunks.filter((c) => !understood.has(c.id)).map((c) => `${c.id} (${c.kind}/${c.schema} v${c.version})`)
    if (unread.length > 0) {
      return yield* new SnapshotMismatch({ path, reason: `holds state this build cannot restore: ${unread.join(", ")}` })
    }
    const guestRam = Context.get(machine.context, GuestMemory)
    const verify = request.verify ?? "all"
    const asked = request.ram ?? "lazy"
    // Lazy: nothing read up front; where userfaultfd cannot be had, one line says so and RAM is copied.
    const lazy = asked !== "lazy" ? undefined : yield* Effect.catchTag(
      startLazyRam(fs, snapshot.ramPath, manifest, guestRam, verify),
      "LazyRestoreUnavailable",
      (e) => Effect.as(Effect.sync(() => writeSync(2, `bhyve: -o snapshot.ram=lazy: ${e.message}: copying RAM instead\n`)), undefined)
    )
    const ram = lazy !== undefined
      ? { bytesRead: 0 }
      : !mapped
      ? yield* snapshot.restoreRam(guestRam, { verify })
      : verify === "all"
      ? yield* verifyMappedRam(fs, snapshot.ramPath, manifest, guestRam)
      : { bytesRead: 0 }
    // Everything decoded first, then put back back-to-back: the clocks in it (TSC, PM timer, PIT) resume from one instant.
    const cpuStates = yield* Effect.forEach(backend.stateParts, (part) => snapshot.decode(ChunkCodec.make(part), part.id))
    const deviceStates = yield* Effect.forEach(servers, (server) => snapshot.decode(ChunkCodec.fromDeviceServer(server), `device/${server.id}`))
    const clockState = manifest.chunks.some((c) => c.id === MACHINE_CLOCK_CHUNK)
      ? yield* snapshot.decode(machineClockCodec, MACHINE_CLOCK_CHUNK)
      : machineClockOfOldSnapshot(cpuStates)
    // The machine clock first, stopped at the saved instant until the guest runs: everything after is restored relative to it.
    const clock = Context.get(machine.context, MachineClock)
    clock.stop()
    clock.set(clockState.ns)
    for (const [i, part] of backend.stateParts.entries()) {
      yield* Effect.mapError(part.restore(cpuStates[i]), (e) => new SnapshotMismatch({ path, reason: part.id === "vm" ? `chunk vm: ${e.message}` : e.message }))
    }
    servers.forEach((server, i) => server.restore(deviceStates[i]))
    const report: RestoreReport = {
      snapshotId: manifest.snapshotId,
      ramBytesRead: ram.bytesRead,
      restoreMs: performance.now() - started,
      ram: lazy !== undefined ? "lazy" : mapped ? "map" : "copy",
      lazy
    }
    return { machine, config, report }
  })
