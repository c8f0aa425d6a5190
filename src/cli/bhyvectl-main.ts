#!/usr/bin/env node
import { loadCachedBundle } from "./CachedBundle.js"
import { importWithSourceMaps } from "./SourceMappedImport.js"

/** `./<file>.cjs` beside this one, into which scripts/build-bundles.mjs builds the command's code; undefined in tsc's dist/. */
declare const BHYVECTL_CLI_BUNDLE: string | undefined

const { bhyvectlMain, saveCodeCache } = typeof BHYVECTL_CLI_BUNDLE === "string"
  ? await importWithSourceMaps(async () => {
    const bundle = loadCachedBundle<typeof import("./BhyvectlMain.js")>(new URL(BHYVECTL_CLI_BUNDLE, import.meta.url))
    return { bhyvectlMain: bundle.exports.bhyvectlMain, saveCodeCache: bundle.saveCodeCache }
  })
  : { bhyvectlMain: (await importWithSourceMaps(() => import("./BhyvectlMain.js"))).bhyvectlMain, saveCodeCache: () => {} }

// exitCode rather than process.exit(): let a piped --status --json finish writing.
bhyvectlMain(process.argv.slice(2)).then(
  (status) => {
    saveCodeCache()
    process.exitCode = status
  },
  (e: unknown) => {
    process.stderr.write(`bhyvectl: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`)
    process.exitCode = 1
  }
)
