import * as Effect from "effect/Effect"
import * as Machine from "../src/machine/Machine.js"
import type { CpuBackendName } from "../src/kernel/Cpu.js"
import type { MachineConfig } from "../src/machine/MachineConfig.js"
import { legacyDevices } from "../src/machine/MachineFromConfig.js"
import { describeExit } from "../src/machine/MachineExit.js"
import * as UartServer from "../src/servers/uart/UartServer.js"
import { BenchFailure, describe } from "./Benchmark.js"
import { type LineClock, makeLineClock } from "./LineClock.js"

/** The C baseline's RAM size, so both VMMs map the same guest. */
export const GUEST_MEMORY_BYTES = 256 << 20

/** Timestamps (performance.now(), ms) of one guest run inside this process. */
export interface InProcessRun {
  readonly buildStartedAt: number
  readonly runStartedAt: number
  readonly endedAt: number
  readonly output: LineClock
}

/**
 * Boots `kernel` through Machine.build/run on this thread with the devices
 * every bhyve machine has (legacyDevices) and COM1 on a line-stamping memory
 * backend, and fails unless the guest powers itself off. `cpuBackend` is
 * passed explicitly (see HostCpu.ts), never left to `auto`.
 */
export const runInProcess = (kernel: string, cmdline: string, cpuBackend: CpuBackendName): Effect.Effect<InProcessRun, BenchFailure> => {
  const what = `in-process (${cpuBackend}) ${kernel.split("/").pop()} ${cmdline}`.trim()
  const output = makeLineClock()
  const config: MachineConfig = {
    name: "bench",
    cpus: 1,
    memoryBytes: GUEST_MEMORY_BYTES,
    boot: { kernel, cmdline },
    serial: [],
    slots: [],
    strictBus: false,
    options: {}
  }
  const devices = [...legacyDevices(config), UartServer.layer({ id: "com1", backend: output.backend })]
  return Effect.scoped(
    Effect.gen(function*() {
      const buildStartedAt = performance.now()
      const machine = yield* Machine.build({ ...config, devices, cpuBackend })
      const runStartedAt = performance.now()
      const exit = yield* machine.run
      const endedAt = performance.now()
      if (exit._tag !== "PoweredOff") return yield* new BenchFailure({ what, reason: describeExit(exit) })
      return { buildStartedAt, runStartedAt, endedAt, output }
    })
  ).pipe(Effect.catchAll((e) => (e instanceof BenchFailure ? Effect.fail(e) : Effect.fail(new BenchFailure({ what, reason: describe(e) })))))
}
