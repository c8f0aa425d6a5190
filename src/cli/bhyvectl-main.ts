#!/usr/bin/env node
// No top-level await: the bundle builds this file as CommonJS.
import { importWithSourceMaps } from "./SourceMappedImport.js"

/** `./<file>.cjs` beside this one, into which scripts/build-bundles.mjs builds the command's code; undefined in tsc's dist/. */
declare const BHYVECTL_CLI_BUNDLE: string | undefined

type BhyvectlMain = typeof import("./BhyvectlMain.js").bhyvectlMain

/** The command's code: from the bundle with V8's code cache, or as ES modules in tsc's dist/. */
const load = async (): Promise<{ readonly bhyvectlMain: BhyvectlMain; readonly saveCodeCache: () => void }> => {
  if (typeof BHYVECTL_CLI_BUNDLE === "string") {
    const { loadCachedBundle } = await import("./CachedBundle.js")
    const bundle = await importWithSourceMaps(async () =>
      loadCachedBundle<typeof import("./BhyvectlMain.js")>(new URL(BHYVECTL_CLI_BUNDLE, import.meta.url))
    )
    return { bhyvectlMain: bundle.exports.bhyvectlMain, saveCodeCache: bundle.saveCodeCache }
  } else {
    // An else, not code after the return: esbuild drops a branch its define makes dead, and with it this import.
    return { bhyvectlMain: (await importWithSourceMaps(() => import("./BhyvectlMain.js"))).bhyvectlMain, saveCodeCache: () => {} }
  }
}

// exitCode rather than process.exit(): let a piped --status --json finish writing.
load().then(({ bhyvectlMain, saveCodeCache }) =>
  bhyvectlMain(process.argv.slice(2)).then((status) => {
    saveCodeCache()
    process.exitCode = status
  })
).catch((e: unknown) => {
  process.stderr.write(`bhyvectl: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`)
  process.exitCode = 1
})
