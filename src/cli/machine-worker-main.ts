// The machine thread's entry (MachineThread.ts starts it): the machine's code,
// loaded with source-mapped stack traces, and from V8's code cache when bundled.
// No top-level await: the bundle builds this file as CommonJS.
import { onceCodeWarm } from "../machine/CodeWarm.js"
import { loadCachedBundle } from "./CachedBundle.js"
import { importWithSourceMaps } from "./SourceMappedImport.js"

/** `./<file>.cjs` beside this one, into which scripts/build-bundles.mjs builds the machine's code; undefined in tsc's dist/. */
declare const BHYVE_MACHINE_BUNDLE: string | undefined

// A failure to load rejects unhandled, which ends the thread with an error event (MachineThread reports it).
if (typeof BHYVE_MACHINE_BUNDLE === "string") {
  void importWithSourceMaps(async () => loadCachedBundle<unknown>(new URL(BHYVE_MACHINE_BUNDLE, import.meta.url))).then((bundle) =>
    onceCodeWarm(bundle.saveCodeCache)
  )
} else {
  void importWithSourceMaps(() => import("../machine/MachineWorker.js"))
}
