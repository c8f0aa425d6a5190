import * as Data from "effect/Data"

/** A disk image that cannot be used: missing, unreadable, not a regular file, read-only when asked for writing... */
export class DiskOpenFailed extends Data.TaggedError("DiskOpenFailed")<{
  readonly path: string
  readonly reason: string
}> {
  override get message() {
    return `disk image ${this.path}: ${this.reason}`
  }
}
