import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { writeSync } from "node:fs"
import type { ControlRequest } from "../control/ControlRequest.js"
import type { ControlResult } from "../control/ControlResult.js"
import { DeviceServers } from "../servers/DeviceServer.js"
import type { SnapshotFs } from "../snapshot/format/SnapshotFs.js"
import type { DescribedMachine } from "../snapshot/MachineSnapshots.js"
import type { SaveFailed } from "../snapshot/SaveErrors.js"
import type { SaveReport } from "../snapshot/SaveSnapshot.js"
import type { ControlOutcome } from "./WorkerProtocol.js"

/** A failed save as the reply states it: the step, and the device or vCPU at fault with the reason. */
const saveFailure = (e: SaveFailed) => ({
  reason: e.component === undefined ? e.reason : `${e.component}: ${e.reason}`,
  step: e.step
})

/** What the machine thread does once a request has been answered. */
export type AfterReply = "continue" | { readonly stop: number; readonly message: string }

const snapshotResult = (report: SaveReport) => ({
  path: report.path,
  bytes: report.stateBytes + report.ramBytesWritten,
  durationMs: report.totalMs,
  details: {
    ramPath: report.ramPath,
    stateBytes: report.stateBytes,
    ramBytesWritten: report.ramBytesWritten,
    pauseMs: report.pauseMs,
    downtimeMs: report.downtimeMs,
    ram: report.ram,
    ...(report.fallback === undefined ? {} : { fallback: report.fallback }),
    ...(report.tracking === undefined ? {} : { tracking: { ...report.tracking } })
  }
})

/**
 * Carries out one bhyvectl request on the machine thread. Failures become
 * a reason (and the step that failed) for the reply; the guest is never
 * left paused by a failed save.
 */
export const handleRequest = (
  machine: DescribedMachine,
  request: ControlRequest
): Effect.Effect<{ readonly outcome: ControlOutcome; readonly after: AfterReply }, never, SnapshotFs> => {
  const ok = (result: ControlResult, after: AfterReply = "continue") => ({ outcome: { ok: true, result } as const, after })
  const work: Effect.Effect<{ outcome: ControlOutcome; after: AfterReply }, { reason: string; step?: string }, SnapshotFs> = (() => {
    switch (request._tag) {
      case "Checkpoint":
        return Effect.map(Effect.mapError(machine.checkpoint(request.path), saveFailure), (r) => {
          // bhyvectl is silent on success: the one place a person sees that the guest was stopped for the whole save.
          if (r.fallback !== undefined) writeSync(2, `bhyve: ${machine.config.name}: checkpoint ${r.path} kept the guest paused while RAM was written: ${r.fallback}\n`)
          return ok({ _tag: "Checkpoint", ...snapshotResult(r) })
        })
      case "Suspend":
        return Effect.map(Effect.mapError(machine.suspend(request.path), saveFailure), (r) =>
          ok({ _tag: "Suspend", ...snapshotResult(r) }, { stop: 0, message: `suspended to ${r.path}` }))
      case "Destroy":
        return Effect.succeed(ok({ _tag: "Destroy", ok: true }, { stop: 4, message: "destroyed by bhyvectl --destroy" }))
      case "Pause":
        return Effect.as(Effect.mapError(machine.control.pause, (e) => ({ reason: e.message, step: "pause" })), ok({ _tag: "Pause", ok: true }))
      case "Resume":
        return Effect.as(machine.control.resume, ok({ _tag: "Resume", ok: true }))
      case "Status": {
        const devices = Context.get(machine.context, DeviceServers).map((s) => ({ id: s.id, kind: s.kind }))
        const state = machine.control.state === "running" ? "running" : "paused"
        const { config } = machine
        return Effect.succeed(ok({
          _tag: "Status",
          name: config.name,
          state,
          machine: { cpus: config.cpus, memoryBytes: config.memoryBytes, kernel: config.boot.kernel, cmdline: config.boot.cmdline },
          devices
        }))
      }
    }
  })()
  return Effect.catchAll(work, (failure) =>
    Effect.succeed({ outcome: { ok: false as const, ...failure }, after: "continue" as const })).pipe(
      // A bug (a defect) in a handler fails this request only: escaping, it would end the machine and the guest with it.
      Effect.catchAllDefect((defect) =>
        Effect.succeed({
          outcome: { ok: false as const, reason: `internal error: ${defect instanceof Error ? defect.message : String(defect)}` },
          after: "continue" as const
        })
      )
    )
}
