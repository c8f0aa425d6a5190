import * as Schema from "effect/Schema"
import { MAX_SAVED_ELAPSED_NS } from "./PitChannel.js"

/** Bumped, with a migration, whenever the saved shape changes. */
export const PIT_STATE_VERSION = 1

/** Port 0x61 bits kept as written besides GATE2 (bit 0, which channel 2 keeps): speaker data, parity and channel-check enables. */
export const PORT_B_STORED = 0x0e

const Byte = Schema.Int.pipe(Schema.between(0, 255))
const Word = Schema.Int.pipe(Schema.between(0, 0xffff))

/**
 * One 8254 counter. No absolute time is stored: a counting channel keeps
 * how long it has been counting (reduced below a bound by whole periods or
 * 16-bit wraps, which no guest can tell apart), so a restore onto any host
 * clock continues from the same point. A snapshot is hostile input: every
 * field is bounded to what PitChannel can produce.
 */
export const PitChannelState = Schema.Struct({
  /** Control word mode bits, as programmed (6 and 7 behave as 2 and 3). */
  mode: Schema.Int.pipe(Schema.between(0, 7)),
  /** RW: 1 LSB, 2 MSB, 3 LSB then MSB. */
  access: Schema.Int.pipe(Schema.between(1, 3)),
  /** N the counter runs with, 1-65536 (a written 0 is 65536). */
  count: Schema.Int.pipe(Schema.between(1, 0x10000)),
  /** The count register: the last count written. */
  initial: Schema.Int.pipe(Schema.between(1, 0x10000)),
  /** Read and write flip-flops: the next byte is the MSB. */
  readMsb: Schema.Boolean,
  writeMsb: Schema.Boolean,
  /** An LSB written, waiting for its MSB. */
  writeLatch: Byte,
  /** Latched count bytes still to read: 0 none, 1 LSB, 2 MSB, 3 LSB then MSB. */
  latchPending: Schema.Int.pipe(Schema.between(0, 3)),
  latched: Word,
  statusLatched: Schema.Boolean,
  status: Byte,
  nullCount: Schema.Boolean,
  gate: Schema.Boolean,
  phase: Schema.Literal("stopped", "armed", "counting"),
  /** The counting element while stopped or armed. */
  held: Word,
  /** Nanoseconds counted since the count was loaded (0 unless counting). */
  elapsedNs: Schema.Finite.pipe(Schema.greaterThanOrEqualTo(0), Schema.lessThan(MAX_SAVED_ELAPSED_NS))
}).pipe(
  Schema.filter((s) => {
    if (s.phase === "armed" && s.mode !== 1 && s.mode !== 5) return "only modes 1 and 5 wait for a GATE trigger"
    if (s.access !== 3 && (s.readMsb || s.writeMsb)) return "the byte flip-flops exist only with LSB-then-MSB access"
    if (s.phase !== "counting" && s.elapsedNs !== 0) return "a channel that is not counting has no elapsed time"
    return true
  })
).annotations({ identifier: "PitChannelState" })
export type PitChannelState = typeof PitChannelState.Type

/** The three counters and port 0x61 (NMI status and control, "port B"). */
export const PitState = Schema.Struct({
  channels: Schema.Tuple(PitChannelState, PitChannelState, PitChannelState),
  /** Port 0x61 bits 1-3 as written. */
  portB: Schema.Int.pipe(Schema.between(0, 0xff)).pipe(
    Schema.filter((v) => (v & ~PORT_B_STORED) === 0 || `port 0x61 keeps only bits 0x${PORT_B_STORED.toString(16)}`)
  ),
  /** Port 0x61 bit 4, which toggles on every read. */
  refresh: Schema.Boolean
}).pipe(
  Schema.filter((s) => s.channels[0].gate && s.channels[1].gate || "GATE of channels 0 and 1 is tied high on a PC")
).annotations({ identifier: "PitState" })
export type PitState = typeof PitState.Type
