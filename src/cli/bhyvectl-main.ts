#!/usr/bin/env node
import { importWithSourceMaps } from "./SourceMappedImport.js"

const { bhyvectlMain } = await importWithSourceMaps(() => import("./BhyvectlMain.js"))

// exitCode rather than process.exit(): let a piped --status --json finish writing.
bhyvectlMain(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status
  },
  (e: unknown) => {
    process.stderr.write(`bhyvectl: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`)
    process.exitCode = 1
  }
)
