/** What the main thread and an OutputWatch worker share: options and the layout of their SharedArrayBuffer. */
export interface WatchOptions {
  /** The file whose first byte is stamped; none to sample RSS only. */
  readonly path: string | undefined
  readonly intervalMs: number
  readonly shared: SharedArrayBuffer
}

export const CONTROL_STOP = 0
/** monotonicMs() when the file was first seen non-empty; NaN until then. */
export const DATA_FIRST_GROWTH_AT = 0
/** Largest process RSS seen, bytes. */
export const DATA_PEAK_RSS = 1
export const DATA_SAMPLES = 2

const CONTROL_WORDS = 2
const DATA_WORDS = 3
export const SHARED_BYTES = CONTROL_WORDS * 4 + DATA_WORDS * 8

export const views = (shared: SharedArrayBuffer) => ({
  control: new Int32Array(shared, 0, CONTROL_WORDS),
  data: new Float64Array(shared, CONTROL_WORDS * 4, DATA_WORDS)
})
