import * as Schema from "effect/Schema"

export const I8042_STATE_VERSION = 1

const Byte = Schema.Int.pipe(Schema.between(0, 255))

/** The parts of an 8042 keyboard controller with no keyboard or mouse behind it. */
export const I8042State = Schema.Struct({
  /** The controller configuration byte (commands 0x20/0x60). */
  commandByte: Byte,
  /** The output port (commands 0xD0/0xD1). */
  outputPort: Byte,
  /** Byte waiting on port 0x60 for the guest, if any. */
  outputFull: Schema.Boolean,
  outputByte: Byte,
  /**
   * A command whose parameter byte the next port 0x60 write supplies; 0 for
   * none. Only 0x60 (write command byte) and 0xD1 (write output port) take
   * one (stricter than v1 was, same stored form: the version stays 1).
   */
  awaitingData: Byte.pipe(
    Schema.filter((b) => b === 0 || b === 0x60 || b === 0xd1 || `0x${b.toString(16)} is not a command that waits for data (0, 0x60 or 0xd1)`)
  ),
  /** Status bit 3: whether the last write went to the command port. */
  lastWasCommand: Schema.Boolean
}).annotations({ identifier: "I8042State" })
export type I8042State = typeof I8042State.Type
