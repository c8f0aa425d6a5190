import * as Data from "effect/Data"

/** A machine description that cannot be built as given. */
export class MachineConfigError extends Data.TaggedError("MachineConfigError")<{
  readonly field: string
  readonly reason: string
}> {
  override get message() {
    return `${this.field}: ${this.reason}`
  }
}
