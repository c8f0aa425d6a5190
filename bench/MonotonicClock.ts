/**
 * Milliseconds on CLOCK_MONOTONIC, the same clock in every thread of the
 * process: stamps taken by a Worker (OutputWatch) and by the main thread
 * can be subtracted. performance.now() cannot do that: each thread counts
 * from its own time origin.
 */
export const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6
