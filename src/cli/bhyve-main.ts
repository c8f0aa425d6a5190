#!/usr/bin/env node
// The machine thread starts loading its code now, while this thread loads its own.
import { startMachineWorker } from "./MachineThread.js"

const argv = process.argv.slice(2)
const early = argv.includes("-h") || argv.includes("--help") ? undefined : startMachineWorker()
const { bhyveMain } = await import("./BhyveMain.js")

bhyveMain(argv, early).then(
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
