import { statSync } from "node:fs"
import { parentPort, workerData } from "node:worker_threads"
import { monotonicMs } from "./MonotonicClock.js"
import { CONTROL_STOP, DATA_FIRST_GROWTH_AT, DATA_PEAK_RSS, DATA_SAMPLES, type WatchOptions, views } from "./OutputWatchShared.js"

/**
 * The body of an OutputWatch thread. The machine runs on the main thread,
 * which gives its event loop a turn only between vCPU slices (up to 20 ms),
 * so a timer there could neither stamp the guest's first output byte nor
 * see RSS while a save runs synchronously. This thread can: it polls the
 * watched file's size and the process RSS every `intervalMs`, sleeping in
 * Atomics.wait so that a stop request wakes it at once.
 */
const options = workerData as WatchOptions
const { control, data } = views(options.shared)

const sample = () => {
  data[DATA_PEAK_RSS] = Math.max(data[DATA_PEAK_RSS], process.memoryUsage.rss())
  data[DATA_SAMPLES]++
  if (options.path !== undefined && Number.isNaN(data[DATA_FIRST_GROWTH_AT])) {
    const size = statSync(options.path, { throwIfNoEntry: false })?.size ?? 0
    if (size > 0) data[DATA_FIRST_GROWTH_AT] = monotonicMs()
  }
}

sample()
// Posted before the loop blocks this thread's event loop for good.
parentPort?.postMessage("ready")
while (Atomics.load(control, CONTROL_STOP) === 0) {
  Atomics.wait(control, CONTROL_STOP, 0, options.intervalMs)
  sample()
}
