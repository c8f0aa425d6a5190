import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { sendControlRequest } from "../../../src/control/ControlClient.js"
import { CHECKPOINT_FAULTS_ENV } from "../../../src/snapshot/CheckpointFaults.js"
import { guestBackends } from "../../support/Kvm.js"
import {
  corruptLine,
  lastRound,
  type MemwriteProcess,
  startMemwrite,
  startRestore,
  waitForRound
} from "../background/MemwriteProcess.js"
import { watchDir } from "./ProcessHarness.js"

/**
 * A background checkpoint (the guest runs while RAM is written) that fails
 * or is killed part way, with a guest rewriting every page of 32 MiB
 * (memwrite.elf): the RAM file write failing with ENOSPC or EIO (injected,
 * and a real full tmpfs), the writer thread or the write-protect handler
 * thread stopping, and SIGKILL at each phase. The guest always runs on
 * (more rounds, every page checked, no `corrupt`), and nothing is left
 * at the path that looks like a snapshot but restores wrong: `bhyve -r`
 * exits 4 saying why, or restores to exactly the pause.
 */

const SIZE_MIB = 32
const ROUND_TIMEOUT_MS = 60_000

const stop = async (p: MemwriteProcess) => {
  p.kill("SIGKILL")
  await p.closed
}

const tempDir = (tag: string) => mkdtempSync(join(tmpdir(), `bg-faults-${tag}-`))

/** Names in `dir` that are neither the control socket nor our own scratch. */
const saveFiles = (dir: string) => readdirSync(dir).filter((n) => n.includes("vm.snap"))

const checkpoint = (socket: string, path: string) =>
  Effect.runPromise(Effect.either(sendControlRequest({ name: "bgf", path: socket }, { _tag: "Checkpoint", path })))

/** The guest goes on: two more rounds, each page checked, nothing corrupt. */
const runsOn = async (vm: MemwriteProcess) => {
  await waitForRound(vm, lastRound(vm) + 2, ROUND_TIMEOUT_MS)
  expect(corruptLine(vm)).toBeUndefined()
}

/** `bhyve -r path`: exits 4 saying why, or restores to a guest that checks every page twice with no corrupt line. */
const restoresRightOrRefuses = async (path: string, socket: string) => {
  const restored = startRestore(path, socket)
  try {
    const outcome = await Promise.race([
      restored.closed.then((status) => ({ status })),
      waitForRound(restored, 2, ROUND_TIMEOUT_MS).then(() => "running" as const)
    ])
    if (outcome === "running") {
      await waitForRound(restored, lastRound(restored) + 2, ROUND_TIMEOUT_MS)
      expect(corruptLine(restored)).toBeUndefined()
      return "restored"
    }
    expect(outcome.status, restored.stderr()).toBe(4)
    expect(restored.stderr()).toMatch(/bhyve: /)
    return "refused"
  } finally {
    await stop(restored)
  }
}

const FAULTS: ReadonlyArray<{ readonly name: string; readonly spec: string; readonly says: RegExp }> = [
  { name: "the 3rd RAM write failing with ENOSPC", spec: "failWriteAt=2,errno=ENOSPC", says: /ENOSPC/ },
  { name: "the 1st RAM write failing with EIO", spec: "failWriteAt=0,errno=EIO", says: /EIO/ },
  { name: "the writer thread stopping at block 3", spec: "writerDieAt=3", says: /writer thread stopped/ },
  { name: "the write-protect handler thread stopping after 5 faults", spec: "handlerDieAfter=5,blockDelayMs=20", says: /handler thread stopped/ }
]

describe.each(guestBackends)("a background checkpoint that fails on the %s CPU", (backend) => {
  for (const fault of FAULTS) {
    it.live(`${fault.name}: the save fails saying so, leaves nothing at the path, and the guest runs on`, () =>
      Effect.promise(async () => {
        const dir = tempDir("inj")
        const socket = join(dir, "vm.sock")
        const path = join(dir, "vm.snap")
        const vm = startMemwrite({ backend, memory: "256M", sizeMib: SIZE_MIB, everyUs: 20_000, socket, name: "bgf", env: { [CHECKPOINT_FAULTS_ENV]: fault.spec } })
        try {
          await waitForRound(vm, 2, ROUND_TIMEOUT_MS)
          const reply = await checkpoint(socket, path)
          expect(reply._tag, JSON.stringify(reply)).toBe("Left")
          if (reply._tag === "Left") expect(reply.left.message).toMatch(fault.says)
          expect(saveFiles(dir)).toEqual([])
          await runsOn(vm)
        } finally {
          await stop(vm)
          rmSync(dir, { recursive: true, force: true })
        }
      }), 180_000)
  }

  it.live("a real full disk (a 16 MiB tmpfs): the save fails with ENOSPC, leaves nothing, and the guest runs on", () =>
    Effect.promise(async () => {
      const dir = tempDir("full")
      const mnt = join(dir, "mnt")
      mkdirSync(mnt)
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", mnt], { stdio: "pipe" })
      const socket = join(dir, "vm.sock")
      const path = join(mnt, "vm.snap")
      const vm = startMemwrite({ backend, memory: "256M", sizeMib: SIZE_MIB, everyUs: 20_000, socket, name: "bgf" })
      try {
        await waitForRound(vm, 2, ROUND_TIMEOUT_MS)
        const reply = await checkpoint(socket, path)
        expect(reply._tag, JSON.stringify(reply)).toBe("Left")
        if (reply._tag === "Left") expect(reply.left.message).toMatch(/ENOSPC/)
        expect(saveFiles(mnt)).toEqual([])
        await runsOn(vm)
      } finally {
        await stop(vm)
        execFileSync("umount", [mnt], { stdio: "pipe" })
        rmSync(dir, { recursive: true, force: true })
      }
    }), 180_000)
})

/** What a kill is timed from: a file the save creates, and how long after it appears. */
const KILLS: ReadonlyArray<{ readonly anchor: RegExp; readonly what: string; readonly delayMs: number; readonly outcome: "refused" | "restored" | "either" }> = [
  { anchor: /^\.vm\.snap\.[0-9a-f]{16}\.ram\.tmp$/, what: "the RAM temp file appears", delayMs: 0, outcome: "refused" },
  { anchor: /^\.vm\.snap\.[0-9a-f]{16}\.ram\.tmp$/, what: "the RAM temp file appears", delayMs: 100, outcome: "refused" },
  { anchor: /^vm\.snap\.[0-9a-f]{16}\.ram$/, what: "the RAM file is renamed", delayMs: 0, outcome: "refused" },
  // The state phase lasts a few ms: the kill may land before or after the commit; either way it must not restore wrong.
  { anchor: /^\.vm\.snap\.[0-9a-f]{16}\.tmp$/, what: "the state temp file appears", delayMs: 0, outcome: "either" },
  // Renamed into place, the snapshot is whole: it must restore, to exactly the pause.
  { anchor: /^vm\.snap$/, what: "the commit rename", delayMs: 0, outcome: "restored" }
]

describe.each(guestBackends)("bhyve killed during a background checkpoint on the %s CPU", (backend) => {
  for (const kill of KILLS) {
    it.live(`SIGKILL ${kill.delayMs} ms after ${kill.what}: bhyve -r ${kill.outcome === "refused" ? "exits 4 saying why" : kill.outcome === "restored" ? "restores to exactly the pause" : "exits 4 or restores to exactly the pause"}`, () =>
      Effect.promise(async () => {
        const dir = tempDir("kill")
        const socket = join(dir, "vm.sock")
        const path = join(dir, "vm.snap")
        // A slow disk (5 ms per MiB block) spreads the RAM phase over ~0.2 s while the guest writes on.
        const vm = startMemwrite({ backend, memory: "256M", sizeMib: SIZE_MIB, everyUs: 20_000, socket, name: "bgf", env: { [CHECKPOINT_FAULTS_ENV]: "blockDelayMs=5" } })
        const watcher = watchDir(dir, (event) => {
          if (kill.anchor.test(event.name)) setTimeout(() => vm.kill("SIGKILL"), kill.delayMs)
        })
        try {
          await waitForRound(vm, 2, ROUND_TIMEOUT_MS)
          await checkpoint(socket, path)
          await vm.closed
          const outcome = await restoresRightOrRefuses(path, join(dir, "restored.sock"))
          if (kill.outcome !== "either") expect(outcome).toBe(kill.outcome)
        } finally {
          watcher.close()
          await stop(vm)
          rmSync(dir, { recursive: true, force: true })
        }
      }), 180_000)
  }
})
