import * as Data from "effect/Data"
import * as Effect from "effect/Effect"

/** One figure measured several times, in the row's unit. */
export interface Samples {
  /** Who produced it, e.g. "in-process", "bhyve CLI" or "C baseline". */
  readonly label: string
  readonly values: ReadonlyArray<number>
  /** Why `values` is empty: this side could not be measured on this host (no KVM, no QEMU); the row says so instead of failing. */
  readonly notMeasured?: string
}

/** A side of a row that this host cannot measure, with the reason (and what to do about it). */
export const notMeasured = (label: string, reason: string): Samples => ({ label, values: [], notMeasured: reason })

/**
 * One line of the report: the TypeScript figure, optionally the baseline
 * measured in the same run, and optionally the largest acceptable ratio
 * median(subject) / median(baseline).
 */
export interface Row {
  readonly id: string
  readonly label: string
  readonly unit: string
  readonly subject: Samples
  readonly baseline?: Samples
  readonly targetRatio?: number
  /** An absolute bound on median(subject), in the row's unit, for a row without a like-for-like baseline. */
  readonly targetMax?: number
  /** What the figures mean beyond the label (what the baseline is, what is included): printed under the table. */
  readonly note?: string
}

/** A benchmark is one file exporting one of these; run.ts lists them. */
export interface Benchmark {
  readonly name: string
  readonly run: Effect.Effect<ReadonlyArray<Row>, BenchFailure>
}

/** A measured run did not complete as expected: the bench exits non-zero. */
export class BenchFailure extends Data.TaggedError("BenchFailure")<{
  readonly what: string
  readonly reason: string
}> {
  override get message() {
    return `${this.what}: ${this.reason}`
  }
}

export const describe = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** The value, or a BenchFailure saying why a run produced none. */
export const present = <A>(value: A | undefined, what: string, reason: string): Effect.Effect<A, BenchFailure> =>
  value === undefined ? Effect.fail(new BenchFailure({ what, reason })) : Effect.succeed(value)
