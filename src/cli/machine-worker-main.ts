// The machine thread's entry (MachineThread.ts starts it): the machine's code,
// loaded with source-mapped stack traces, and from V8's code cache when bundled.
import { loadCachedBundle } from "./CachedBundle.js"
import { onceCodeWarm } from "../machine/CodeWarm.js"
import { importWithSourceMaps } from "./SourceMappedImport.js"

/** `./<file>.cjs` beside this one, into which scripts/build-bundles.mjs builds the machine's code; undefined in tsc's dist/. */
declare const BHYVE_MACHINE_BUNDLE: string | undefined

if (typeof BHYVE_MACHINE_BUNDLE === "string") {
  const bundle = await importWithSourceMaps(async () => loadCachedBundle<unknown>(new URL(BHYVE_MACHINE_BUNDLE, import.meta.url)))
  onceCodeWarm(bundle.saveCodeCache)
} else {
  await importWithSourceMaps(() => import("../machine/MachineWorker.js"))
}
