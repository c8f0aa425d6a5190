import * as Schema from "effect/Schema"
import type { RequestTag } from "./ControlRequest.js"
import { JsonValue } from "./JsonValue.js"

/**
 * What bhyve replies when a request succeeds. Each result carries the tag of
 * the request it answers, so a client can check it got the answer to its own
 * question and the server can refuse a handler that answers the wrong one.
 */

const snapshotFields = {
  /** Where the snapshot is, as bhyve opened it. */
  path: Schema.String,
  /** Size of the snapshot on disk. */
  bytes: Schema.NonNegativeInt,
  /** Wall time from the request arriving to the snapshot being durable. */
  durationMs: Schema.NonNegative,
  /** Anything else worth reporting (pause time, per-device sizes, ...). */
  details: Schema.Record({ key: Schema.String, value: JsonValue })
}

/** The snapshot is durably on disk and the machine runs on. */
export const CheckpointResult = Schema.TaggedStruct("Checkpoint", snapshotFields)
/** The snapshot is durably on disk and the machine is stopping. */
export const SuspendResult = Schema.TaggedStruct("Suspend", snapshotFields)

/** What the machine is doing; "saving" while a checkpoint or suspend is being written. */
export const VmState = Schema.Literal("starting", "running", "paused", "saving", "restoring", "stopping")
export type VmState = typeof VmState.Type

export const DeviceSummary = Schema.Struct({ id: Schema.String, kind: Schema.String })
export type DeviceSummary = typeof DeviceSummary.Type

export const StatusResult = Schema.TaggedStruct("Status", {
  name: Schema.String,
  state: VmState,
  /** Free-form description of the machine (CPUs, memory, ...), for humans and --json. */
  machine: JsonValue,
  devices: Schema.Array(DeviceSummary)
})

/** Destroy, Pause and Resume have nothing to report beyond having been done. */
export const DestroyResult = Schema.TaggedStruct("Destroy", { ok: Schema.Literal(true) })
export const PauseResult = Schema.TaggedStruct("Pause", { ok: Schema.Literal(true) })
export const ResumeResult = Schema.TaggedStruct("Resume", { ok: Schema.Literal(true) })

export const ControlResult = Schema.Union(
  CheckpointResult,
  SuspendResult,
  StatusResult,
  DestroyResult,
  PauseResult,
  ResumeResult
)
export type ControlResult = typeof ControlResult.Type

/** The result that answers a request with tag T. */
export type ResultFor<T extends RequestTag> = Extract<ControlResult, { readonly _tag: T }>

/** The `{ ok: true }` result for Destroy, Pause or Resume. */
export const done = <T extends "Destroy" | "Pause" | "Resume">(tag: T): ResultFor<T> =>
  ({ _tag: tag, ok: true }) as ResultFor<T>
