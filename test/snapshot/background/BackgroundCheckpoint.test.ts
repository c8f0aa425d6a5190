import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { guestBackends } from "../../support/Kvm.js"
import { checkpointNow } from "../faults/ProcessHarness.js"
import { corruptLine, lastRound, type MemwriteProcess, startMemwrite, startRestore, waitForRound } from "./MemwriteProcess.js"

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
})
