import * as Data from "effect/Data"

export type SaveStep = "check" | "pause" | "quiesce" | "collect" | "write"

/** A save that did not happen; the guest runs on (a checkpoint) or is still paused for a retry (never half-written). */
export class SaveFailed extends Data.TaggedError("SaveFailed")<{
  readonly step: SaveStep
  readonly reason: string
  /** The device or vCPU at fault, when there is one. */
  readonly component?: string
}> {
  override get message() {
    const who = this.component === undefined ? "" : ` (${this.component})`
    return `snapshot failed at ${this.step}${who}: ${this.reason}`
  }
}
