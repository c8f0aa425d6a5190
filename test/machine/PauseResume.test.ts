import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { execFileSync } from "node:child_process"
import * as Machine from "../../src/machine/Machine.js"
import * as PmServer from "../../src/servers/pm/PmServer.js"
import * as UartServer from "../../src/servers/uart/UartServer.js"
import { guestPath, lineRecorder } from "../support/GuestRun.js"

const sleep = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))

describe("pausing a running machine", () => {
  it.scoped("stops the guest until resumed, and it then finishes exactly as an uninterrupted run", () =>
    Effect.gen(function*() {
      const args = "steps=2000000 every=100000"
      const expected = execFileSync(guestPath("compute-reference"), args.split(" "), { encoding: "utf8" })
      const recorder = lineRecorder()
      const machine = yield* Machine.build({
        memoryBytes: 64 << 20,
        boot: { kernel: guestPath("compute.elf"), cmdline: args },
        devices: [UartServer.layer({ id: "com1", backend: recorder.backend }), PmServer.layer()]
      })
      const running = yield* Effect.fork(machine.run)
      yield* sleep(300)
      yield* machine.control.pause
      expect(machine.control.state).toBe("paused")
      const linesAtPause = recorder.lines.length
      const regs = yield* machine.vcpus[0].getRegs()
      yield* sleep(300)
      expect(recorder.lines.length).toBe(linesAtPause)
      expect(yield* machine.vcpus[0].getRegs()).toEqual(regs)
      yield* machine.control.resume
      const exit = yield* Fiber.join(running)
      expect(exit._tag).toBe("PoweredOff")
      expect(linesAtPause).toBeGreaterThan(0)
      expect(linesAtPause).toBeLessThan(21)
      expect(recorder.text()).toBe(expected)
    }))
})
