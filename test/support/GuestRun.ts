import * as Effect from "effect/Effect"
import { fileURLToPath } from "node:url"
import type { CpuBackendChoice } from "../../src/kernel/Kernel.js"
import * as Machine from "../../src/machine/Machine.js"
import type { MachineExit } from "../../src/machine/MachineExit.js"
import * as PmServer from "../../src/servers/pm/PmServer.js"
import * as ResetServer from "../../src/servers/reset/ResetServer.js"
import type { SerialBackendHandle } from "../../src/servers/serial-backend/SerialBackend.js"
import * as UartServer from "../../src/servers/uart/UartServer.js"

export const guestPath = (name: string) => fileURLToPath(new URL(`../guests/build/${name}`, import.meta.url))

export interface TimedLine {
  readonly atMs: number
  readonly text: string
}

/** A COM1 backend that records each output line with the time its newline arrived. */
export const lineRecorder = () => {
  const lines: Array<TimedLine> = []
  let partial = ""
  const backend: SerialBackendHandle = {
    kind: "memory",
    write: (bytes) => {
      for (const b of bytes) {
        if (b === 10) {
          lines.push({ atMs: performance.now(), text: partial })
          partial = ""
        } else {
          partial += String.fromCharCode(b)
        }
      }
    },
    onInput: () => () => {},
    close: () => {}
  }
  return { backend, lines, text: () => lines.map((l) => `${l.text}\n`).join("") + partial }
}

/** Boots a test guest with COM1, ACPI PM and reset, and returns how it stopped plus its output. */
export const runGuest = (name: string, cmdline = "", memoryBytes = 64 << 20, cpus = 1, cpuBackend: CpuBackendChoice = "auto") =>
  Effect.gen(function*() {
    const recorder = lineRecorder()
    const exit: MachineExit = yield* Machine.run({
      cpus,
      cpuBackend,
      memoryBytes,
      boot: { kernel: guestPath(name), cmdline },
      devices: [UartServer.layer({ id: "com1", backend: recorder.backend }), PmServer.layer(), ResetServer.layer]
    })
    return { exit, output: recorder.text(), lines: recorder.lines }
  })

