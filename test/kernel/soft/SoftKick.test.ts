import { beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Worker } from "node:worker_threads"
import { boot, buildKitGuest, buildSoft, Console, softAvailable, type SoftServices } from "./SoftHarness.js"

/**
 * kick() from any thread ends vCPU 0's run: a busy guest's (the watchdog
 * stops the engine) and an idle one's (every vCPU halted: the native wait).
 * The kicker is a worker thread (this thread is inside `run`); it reaches
 * the machine by its kick token through the addon, as RemoteKick does.
 */
const kickFromWorker = (soft: SoftServices, afterMs: number): Worker => {
  const { token } = soft.backend.vcpus[0].kickHandle
  return new Worker(
    `const { workerData } = require("node:worker_threads");
     const { createRequire } = require("node:module");
     const addon = createRequire(workerData.from)(workerData.addon);
     setTimeout(() => addon.kick(workerData.token), workerData.afterMs);`,
    {
      eval: true,
      workerData: { token, afterMs, from: import.meta.url, addon: "../../../build/Release/bhyve_soft.node" }
    }
  )
}

describe.skipIf(!softAvailable())("kicking the soft machine", () => {
  let elf = ""
  beforeAll(() => {
    elf = buildKitGuest("faults")
  })

  for (const [which, what] of [["spin", "a busy guest's run"], ["idle", "a run with every vCPU halted (IF set)"]] as const) {
    it.scoped(`a kick from another thread ends ${what} at once`, () =>
      Effect.gen(function*() {
        const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 << 20 })
        yield* boot(soft, elf, `case=${which}`)
        const bsp = soft.backend.vcpus[0]
        const console = new Console()
        while (!console.output.includes(`${which}\n`)) bsp.run(10, console.io)
        bsp.run(20, console.io) // into the loop (or the hlt)
        const worker = kickFromWorker(soft, 150)
        yield* Effect.addFinalizer(() => Effect.promise(() => worker.terminate()))
        yield* Effect.promise(() => new Promise((resolve) => worker.once("online", resolve)))
        const start = performance.now()
        const exit = bsp.run(20_000, console.io)
        const took = performance.now() - start
        expect(exit._tag).toBe("Interrupted")
        expect(took).toBeGreaterThan(100)
        expect(took).toBeLessThan(2_000)
      }))
  }

  it.scoped("with the event loop watched, work arriving for this thread's loop ends the run (a message from a worker here)", () =>
    Effect.gen(function*() {
      const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 << 20 })
      yield* boot(soft, elf, "case=spin")
      const bsp = soft.backend.vcpus[0]
      const console = new Console()
      while (!console.output.includes("spin\n")) bsp.run(10, console.io)
      expect(yield* soft.backend.watchEventLoop).toBe(true)
      const worker = new Worker(
        `const { parentPort } = require("node:worker_threads"); setTimeout(() => parentPort.postMessage("done"), 150);`,
        { eval: true }
      )
      yield* Effect.addFinalizer(() => Effect.promise(() => worker.terminate()))
      yield* Effect.promise(() => new Promise((resolve) => worker.once("online", resolve)))
      let received = false
      worker.once("message", () => (received = true))
      const start = performance.now()
      const exit = bsp.run(20_000, console.io)
      const took = performance.now() - start
      expect(exit._tag).toBe("Interrupted")
      expect(took).toBeLessThan(2_000)
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 10)))
      expect(received).toBe(true)
    }))

  it.scoped("a kick while no run is in progress ends the next run at once", () =>
    Effect.gen(function*() {
      const soft = yield* buildSoft({ cpus: 1, memoryBytes: 64 << 20 })
      yield* boot(soft, elf, "case=spin")
      const bsp = soft.backend.vcpus[0]
      bsp.kick()
      const start = performance.now()
      expect(bsp.run(20_000, new Console().io)._tag).toBe("Interrupted")
      expect(performance.now() - start).toBeLessThan(100)
    }))
})
