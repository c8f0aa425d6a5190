import * as Effect from "effect/Effect"
import { once } from "node:events"
import { Worker } from "node:worker_threads"
import { BenchFailure, describe } from "./Benchmark.js"
import { CONTROL_STOP, DATA_FIRST_GROWTH_AT, DATA_PEAK_RSS, DATA_SAMPLES, SHARED_BYTES, views, type WatchOptions } from "./OutputWatchShared.js"

/** Stamps a file's first byte and the process's peak RSS from a thread of its own (see OutputWatchWorker). */
export interface OutputWatch {
  /** monotonicMs() when the file was first seen non-empty. */
  readonly firstByteAt: () => number | undefined
  readonly peakRss: () => number
  readonly samples: () => number
}

/** Poll period: a stat and an RSS read cost ~10 us, so this keeps the watcher under ~10 % of a core. */
const INTERVAL_MS = 0.25

/**
 * Starts a watcher thread for the life of the scope; it is sampling by the
 * time this succeeds, and is stopped and joined when the scope closes.
 */
export const watchOutput = (path: string | undefined) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const shared = new SharedArrayBuffer(SHARED_BYTES)
        const { control, data } = views(shared)
        data[DATA_FIRST_GROWTH_AT] = Number.NaN
        const workerData: WatchOptions = { path, intervalMs: INTERVAL_MS, shared }
        const worker = new Worker(new URL("./OutputWatchWorker.js", import.meta.url), { workerData })
        // Not the "online" event: that fires before the worker's code has run.
        await once(worker, "message")
        const watch: OutputWatch = {
          firstByteAt: () => (Number.isNaN(data[DATA_FIRST_GROWTH_AT]) ? undefined : data[DATA_FIRST_GROWTH_AT]),
          peakRss: () => data[DATA_PEAK_RSS],
          samples: () => data[DATA_SAMPLES]
        }
        return { watch, worker, control }
      },
      catch: (e) => new BenchFailure({ what: "output watcher thread", reason: describe(e) })
    }),
    ({ control, worker }) =>
      Effect.promise(async () => {
        Atomics.store(control, CONTROL_STOP, 1)
        Atomics.notify(control, CONTROL_STOP)
        // Resolves whether the loop has already ended or not (unlike waiting for "exit").
        await worker.terminate()
      })
  ).pipe(Effect.map(({ watch }) => watch))
