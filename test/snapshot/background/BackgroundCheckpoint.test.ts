import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { sendControlRequest } from "../../../src/control/ControlClient.js"
import { CHECKPOINT_FAULTS_ENV } from "../../../src/snapshot/CheckpointFaults.js"
import { guestBackends } from "../../support/Kvm.js"
import { checkpointNow } from "../faults/ProcessHarness.js"
import { corruptLine, lastRound, type MemwriteProcess, spawnBhyve, startMemwrite, startRestore, waitForRound } from "./MemwriteProcess.js"

/**
 * `bhyvectl --checkpoint` of a guest that rewrites every page of 64 MiB
 * over and over (memwrite.elf): the guest is paused only to collect state
 * and arm write tracking, runs on while RAM is written, and the snapshot
 * holds RAM exactly as of the pause: `bhyve -r` of it goes on checking
 * and rewriting every page with no `corrupt` line (a page saved as of a
 * later instant would hold a future round's value and be caught).
 */

const SIZE_MIB = 64
// First-touch faults make round 1 slow on kvm_pvm (~3 s for 64 MiB); the soft CPU is quicker.
const ROUND_TIMEOUT_MS = 60_000

const withDir = <A>(use: (dir: string) => Promise<A>) =>
  Effect.promise(async () => {
    const dir = mkdtempSync(join(tmpdir(), "bg-checkpoint-"))
    try {
      return await use(dir)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

const stop = async (p: MemwriteProcess) => {
  p.kill("SIGKILL")
  await p.closed
}

describe.each(guestBackends)("a background checkpoint on the %s CPU", (backend) => {
  it.live("writes RAM while the guest runs on, paused far shorter than the save took, and restores to exactly the pause", () =>
    withDir(async (dir) => {
      const socket = join(dir, "vm.sock")
      const path = join(dir, "vm.snap")
      const vm = startMemwrite({ backend, memory: "512M", sizeMib: SIZE_MIB, everyUs: 20_000, socket, name: "bgcp" })
      try {
        await waitForRound(vm, 2, ROUND_TIMEOUT_MS)
        const result = await checkpointNow("bgcp", socket, path)
        expect(result._tag).toBe("Checkpoint")
        if (result._tag !== "Checkpoint") return
        const details = result.details
        expect(details.ram, JSON.stringify(details)).toBe("background")
        expect(typeof details.downtimeMs).toBe("number")
        expect(Number(details.downtimeMs), JSON.stringify(details)).toBeLessThan(result.durationMs / 2)
        // The original runs on: more rounds, all checked.
        const atReply = lastRound(vm)
        await waitForRound(vm, atReply + 2, ROUND_TIMEOUT_MS)
      } finally {
        await stop(vm)
      }
      const restored = startRestore(path, join(dir, "restored.sock"))
      try {
        // Two more complete rounds: every page was read back and checked at least once.
        await waitForRound(restored, 2, ROUND_TIMEOUT_MS)
        const first = lastRound(restored)
        await waitForRound(restored, first + 2, ROUND_TIMEOUT_MS)
        expect(corruptLine(restored)).toBeUndefined()
      } finally {
        await stop(restored)
      }
    }), 240_000)

  // A slow disk (10 ms per 1 MiB block of a 128 MiB guest) keeps the RAM phase going for over a second.
  const slowDisk = { [CHECKPOINT_FAULTS_ENV]: "blockDelayMs=10" }
  const request = (socket: string, req: Parameters<typeof sendControlRequest>[1]) =>
    Effect.runPromise(Effect.either(sendControlRequest({ name: "bgcp", path: socket }, req)))

  it.live("answers other requests while it writes RAM, and refuses a second save until it is done", () =>
    withDir(async (dir) => {
      const socket = join(dir, "vm.sock")
      const vm = startMemwrite({ backend, memory: "128M", sizeMib: 32, everyUs: 20_000, socket, name: "bgcp", env: slowDisk })
      try {
        await waitForRound(vm, 2, ROUND_TIMEOUT_MS)
        let firstDone = false
        const first = request(socket, { _tag: "Checkpoint", path: join(dir, "first.snap") }).then((r) => {
          firstDone = true
          return r
        })
        await new Promise((resolve) => setTimeout(resolve, 300))
        const status = await request(socket, { _tag: "Status" })
        expect(status._tag, JSON.stringify(status)).toBe("Right")
        expect(firstDone).toBe(false)
        const second = await request(socket, { _tag: "Checkpoint", path: join(dir, "second.snap") })
        expect(second._tag).toBe("Left")
        if (second._tag === "Left") expect(second.left.message).toContain("a checkpoint request is in progress")
        const done = await first
        expect(done._tag, JSON.stringify(done)).toBe("Right")
        if (done._tag === "Right" && done.right._tag === "Checkpoint") expect(done.right.details.ram).toBe("background")
      } finally {
        await stop(vm)
      }
    }), 240_000)

  it.live("bhyve stopped (SIGTERM) while it writes RAM leaves no file behind", () =>
    withDir(async (dir) => {
      const socket = join(dir, "vm.sock")
      const vm = startMemwrite({ backend, memory: "128M", sizeMib: 32, everyUs: 20_000, socket, name: "bgcp", env: slowDisk })
      try {
        await waitForRound(vm, 2, ROUND_TIMEOUT_MS)
        const saving = request(socket, { _tag: "Checkpoint", path: join(dir, "vm.snap") })
        await new Promise((resolve) => setTimeout(resolve, 300))
        vm.kill("SIGTERM")
        await vm.closed
        expect(vm.stderr()).toContain("stopped by SIGTERM")
        expect((await saving)._tag).toBe("Left")
        expect(readdirSync(dir).filter((n) => n.includes("vm.snap"))).toEqual([])
      } finally {
        await stop(vm)
      }
    }), 240_000)

  /** A 16 MiB memwrite checkpointed to dir/vm.snap, restored by `bhyve -r` with `args` and `env`, and checkpointed again once it runs. */
  const checkpointOfRestored = async (dir: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
    const socket = join(dir, "vm.sock")
    const path = join(dir, "vm.snap")
    const vm = startMemwrite({ backend, memory: "128M", sizeMib: 16, everyUs: 20_000, socket, name: "bgcp" })
    try {
      await waitForRound(vm, 2, ROUND_TIMEOUT_MS)
      expect((await request(socket, { _tag: "Checkpoint", path }))._tag).toBe("Right")
    } finally {
      await stop(vm)
    }
    const restoredSocket = join(dir, "restored.sock")
    const restored = spawnBhyve(["-r", path, ...args, "-l", "com1,stdio", "-o", `control.socket=${restoredSocket}`], env)
    try {
      await waitForRound(restored, lastRound(restored) + 1, ROUND_TIMEOUT_MS)
      const again = await request(restoredSocket, { _tag: "Checkpoint", path: join(dir, "again.snap") })
      if (again._tag !== "Right" || again.right._tag !== "Checkpoint") throw new Error(`the second checkpoint failed: ${JSON.stringify(again)}`)
      return { details: again.right.details, stderr: restored.stderr() }
    } finally {
      await stop(restored)
    }
  }

  it.live("where write tracking cannot be had (RAM mapped from the snapshot file) stops and copies, and says why", () =>
    withDir(async (dir) => {
      const { details, stderr } = await checkpointOfRestored(dir, ["-o", "snapshot.ram=map"])
      expect(details.ram).toBe("paused")
      expect(String(details.fallback)).toContain("snapshot.ram=map")
      expect(stderr).toContain("kept the guest paused while RAM was written")
    }), 240_000)

  it.live("right after a lazy restore (its userfaultfd still owns RAM) waits for it to finish, then writes in the background", () =>
    withDir(async (dir) => {
      // The lazy restore's background pass held back 2 s: RAM stays registered with its userfaultfd meanwhile.
      const { details } = await checkpointOfRestored(dir, [], { BHYVE_TEST_LAZY_RESTORE_BACKGROUND_DELAY_MS: "2000" })
      expect(details.ram, JSON.stringify(details)).toBe("background")
    }), 240_000)
})
