#!/usr/bin/env node
import { bhyveMain } from "./BhyveMain.js"

bhyveMain(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status
    // The machine thread is gone; don't wait on stdin or stray handles.
    setImmediate(() => process.exit(status))
  },
  (e: unknown) => {
    process.stderr.write(`bhyve: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`)
    process.exit(4)
  }
)
