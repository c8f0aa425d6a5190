#!/usr/bin/env node
// The rest loads on demand: MachineThread first, to start the machine thread,
// then the command line and control socket code while that thread loads the
// machine's, and none of it for `bhyve -h`.
import { importWithSourceMaps } from "./SourceMappedImport.js"

/** bhyveUsage, put here when scripts/build-bundles.mjs bundles this file (esbuild's define); undefined in tsc's dist/. */
declare const BHYVE_USAGE: string | undefined
/** `./<file>.cjs` beside this one, into which scripts/build-bundles.mjs builds the CLI's code; undefined in tsc's dist/. */
declare const BHYVE_CLI_BUNDLE: string | undefined

/** How long a running bhyve waits before writing its code cache, when it has not exited by then. */
const CODE_CACHE_AFTER_MS = 1000

const argv = process.argv.slice(2)
const bundledUsage = typeof BHYVE_USAGE === "string" ? BHYVE_USAGE : undefined

if (bundledUsage !== undefined && (argv[0] === "-h" || argv[0] === "--help")) {
  // What parsing says: getopt's first option is -h, so the usage text, whatever follows.
  process.stdout.write(bundledUsage)
} else {
  const early = argv.includes("-h") || argv.includes("--help")
    ? undefined
    : (await importWithSourceMaps(() => import("./MachineThread.js"))).startMachineWorker()
  let saveCodeCache = () => {}
  let bhyveMain: typeof import("./BhyveMain.js").bhyveMain
  if (typeof BHYVE_CLI_BUNDLE === "string") {
    // Imported here: -h needs none of its node:crypto and node:vm.
    const { loadCachedBundle } = await import("./CachedBundle.js")
    const bundle = await importWithSourceMaps(async () =>
      loadCachedBundle<typeof import("./BhyveMain.js")>(new URL(BHYVE_CLI_BUNDLE, import.meta.url))
    )
    bhyveMain = bundle.exports.bhyveMain
    saveCodeCache = bundle.saveCodeCache
    setTimeout(saveCodeCache, CODE_CACHE_AFTER_MS).unref()
  } else {
    bhyveMain = (await importWithSourceMaps(() => import("./BhyveMain.js"))).bhyveMain
  }

  bhyveMain(argv, early).then(
    (status) => {
      saveCodeCache()
      process.exitCode = status
      // The machine thread is gone; don't wait on stdin or stray handles.
      setImmediate(() => process.exit(status))
    },
    (e: unknown) => {
      process.stderr.write(`bhyve: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`)
      process.exit(4)
    }
  )
}
