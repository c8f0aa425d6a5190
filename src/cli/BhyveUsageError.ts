import * as Data from "effect/Data"

/**
 * The command line cannot be turned into a machine. `message` says what is
 * wrong and where ("-m 12Q: unknown size suffix 'Q'"); the entry point prints
 * it as "bhyve: <message>" and exits with status 4, as bhyve(8) does.
 */
export class BhyveUsageError extends Data.TaggedError("BhyveUsageError")<{
  readonly message: string
}> {}

/** bhyve(8) exits with this status when its arguments are unusable. */
export const BHYVE_USAGE_EXIT_STATUS = 4
