import * as Schema from "effect/Schema"

/**
 * What `bhyvectl` can ask a running `bhyve` to do. The snapshot paths must be
 * absolute: bhyve and bhyvectl have different working directories, so
 * bhyvectl resolves relative paths before sending and bhyve refuses any it
 * would otherwise have to guess about.
 */
const SnapshotPath = Schema.String.pipe(
  Schema.filter((p) => p.startsWith("/") || "the snapshot path must be absolute"),
  Schema.filter((p) => !p.includes("\0") || "the snapshot path must not contain NUL bytes"),
  Schema.annotations({ identifier: "SnapshotPath" })
)

/** Save the machine to `path` and keep it running (bhyvectl --checkpoint). */
export const Checkpoint = Schema.TaggedStruct("Checkpoint", { path: SnapshotPath })
/** Save the machine to `path`, then stop it (bhyvectl --suspend). */
export const Suspend = Schema.TaggedStruct("Suspend", { path: SnapshotPath })
/** Stop the machine now, without saving it (bhyvectl --destroy). */
export const Destroy = Schema.TaggedStruct("Destroy", {})
/** Stop running the vCPUs; devices and memory stay as they are. */
export const Pause = Schema.TaggedStruct("Pause", {})
/** Run the vCPUs again after Pause. */
export const Resume = Schema.TaggedStruct("Resume", {})
/** Describe the machine; the one request answered even while another is in progress. */
export const Status = Schema.TaggedStruct("Status", {})

export const ControlRequest = Schema.Union(Checkpoint, Suspend, Destroy, Pause, Resume, Status)
export type ControlRequest = typeof ControlRequest.Type

export const RequestTag = Schema.Literal("Checkpoint", "Suspend", "Destroy", "Pause", "Resume", "Status")
export type RequestTag = typeof RequestTag.Type

/** "Checkpoint" → "checkpoint", for messages that read as sentences. */
export const describeRequest = (tag: RequestTag): string => tag.toLowerCase()
