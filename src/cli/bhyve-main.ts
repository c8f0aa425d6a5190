#!/usr/bin/env node
// The machine thread starts first, so that its start-up and loading overlap
// this thread's loading of the command line and control socket code; `bhyve
// -h` loads none of it. No top-level await: the bundle builds this file as
// CommonJS (which Node starts without setting up its ES module loader).
import { startMachineWorker } from "./MachineThread.js"
import { importWithSourceMaps } from "./SourceMappedImport.js"

/** bhyveUsage, put here when scripts/build-bundles.mjs bundles this file (esbuild's define); undefined in tsc's dist/. */
declare const BHYVE_USAGE: string | undefined
/** `./<file>.cjs` beside this one, into which scripts/build-bundles.mjs builds the CLI's code; undefined in tsc's dist/. */
declare const BHYVE_CLI_BUNDLE: string | undefined

/** How long a running bhyve waits before writing its code cache, when it has not exited by then. */
const CODE_CACHE_AFTER_MS = 1000

type BhyveMain = typeof import("./BhyveMain.js").bhyveMain

/** The CLI's code: from the bundle with V8's code cache, or as ES modules in tsc's dist/. */
const loadCli = async (): Promise<{ readonly bhyveMain: BhyveMain; readonly saveCodeCache: () => void }> => {
  if (typeof BHYVE_CLI_BUNDLE === "string") {
    // Imported here: -h needs none of its node:crypto and node:vm.
    const { loadCachedBundle } = await import("./CachedBundle.js")
    const bundle = await importWithSourceMaps(async () =>
      loadCachedBundle<typeof import("./BhyveMain.js")>(new URL(BHYVE_CLI_BUNDLE, import.meta.url))
    )
    setTimeout(bundle.saveCodeCache, CODE_CACHE_AFTER_MS).unref()
    return { bhyveMain: bundle.exports.bhyveMain, saveCodeCache: bundle.saveCodeCache }
  } else {
    // An else, not code after the return: esbuild drops a branch its define makes dead, and with it this import.
    return { bhyveMain: (await importWithSourceMaps(() => import("./BhyveMain.js"))).bhyveMain, saveCodeCache: () => {} }
  }
}

const internalError = (e: unknown) => {
  process.stderr.write(`bhyve: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`)
  process.exit(4)
}

const argv = process.argv.slice(2)
const bundledUsage = typeof BHYVE_USAGE === "string" ? BHYVE_USAGE : undefined

if (bundledUsage !== undefined && (argv[0] === "-h" || argv[0] === "--help")) {
  // What parsing says: getopt's first option is -h, so the usage text, whatever follows.
  process.stdout.write(bundledUsage)
} else {
  const early = argv.includes("-h") || argv.includes("--help") ? undefined : startMachineWorker()
  loadCli().then(({ bhyveMain, saveCodeCache }) =>
    bhyveMain(argv, early).then((status) => {
      saveCodeCache()
      process.exitCode = status
      // The machine thread is gone; don't wait on stdin or stray handles.
      setImmediate(() => process.exit(status))
    })
  ).catch(internalError)
}
