import * as Effect from "effect/Effect"
import { join } from "node:path"
import { sendControlRequest } from "../src/control/ControlClient.js"
import type { CpuBackendName } from "../src/kernel/Cpu.js"
import { BenchFailure } from "./Benchmark.js"
import { backendArgs } from "./HostCpu.js"
import { spawnLive } from "./LiveProcess.js"
import { MEMORY_MIB, MEMWRITE, MEMWRITE_FATAL, memwriteCmdline } from "./MemwriteGuest.js"
import { BHYVE_CLI } from "./Paths.js"

/**
 * memwrite.elf under a `bhyve` process (COM1 on its stdout, stamped here)
 * and checkpoints of it through its control socket, as `bhyvectl
 * --checkpoint` sends them, minus bhyvectl's own start-up: the request is
 * sent from this process, as the QEMU side's QMP commands are.
 */
export const VM_NAME = "ckptbench"

export const controlSocket = (dir: string) => join(dir, "ctl")

export const spawnBhyveMemwrite = (backend: CpuBackendName, dir: string) =>
  spawnLive(process.execPath, [
    BHYVE_CLI,
    ...backendArgs(backend),
    "-c", "1",
    "-m", `${MEMORY_MIB}M`,
    "-l", "com1,stdio",
    "-o", `boot.kernel=${MEMWRITE}`,
    "-o", `boot.cmdline=${memwriteCmdline()}`,
    "-o", `control.socket=${controlSocket(dir)}`,
    VM_NAME
  ], MEMWRITE_FATAL)

export interface BhyveSave {
  /** Request sent to the reply that the snapshot is durable, ms. */
  readonly totalMs: number
  /** What bhyve reports: the guest's vCPUs paused (pause to resume), ms. */
  readonly downtimeMs: number | undefined
  /** The same report's time from the request to the vCPUs paused, ms. */
  readonly pauseMs: number | undefined
}

const figure = (details: Readonly<Record<string, unknown>>, key: string) => {
  const value = details[key]
  return typeof value === "number" ? value : undefined
}

/** One checkpoint of the running VM to `path`, request to durable reply. */
export const bhyveCheckpoint = (dir: string, path: string) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    const result = yield* sendControlRequest({ name: VM_NAME, path: controlSocket(dir) }, { _tag: "Checkpoint", path })
    const save: BhyveSave = {
      totalMs: performance.now() - t0,
      downtimeMs: figure(result.details, "downtimeMs"),
      pauseMs: figure(result.details, "pauseMs")
    }
    return save
  }).pipe(Effect.mapError((e) => new BenchFailure({ what: `bhyve checkpoint to ${path}`, reason: e.message })))
