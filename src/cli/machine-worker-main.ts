// The machine thread's entry (MachineThread.ts starts it): the machine's code,
// loaded with source-mapped stack traces.
import { importWithSourceMaps } from "./SourceMappedImport.js"

await importWithSourceMaps(() => import("../machine/MachineWorker.js"))
