import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import {
  checkpointNow,
  DONE_LINE,
  manifestIdAt,
  referenceOf,
  restoreRun,
  startBhyvectl,
  startCompute,
  waitForLines
} from "./ProcessHarness.js"

/**
 * Checkpoints through bhyvectl into small tmpfs mounts that cannot hold the
 * snapshot: the RAM file does not fit; the RAM file fits but the state file
 * does not; an older snapshot fits but not a second one beside it. Each
 * time bhyvectl must exit non-zero naming the write failure (ENOSPC), the
 * writer must have removed everything it created (the file system's free
 * space is back where it was), and the guest must run on to its end.
 */

const STEPS = 2_000_000
const EVERY = 100_000
const PAGE = 4096

const mountTmpfs = (dir: string, bytes: number): string | undefined => {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${bytes},mode=0700`, "tmpfs", dir], { stdio: "pipe" })
    return undefined
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim()
    return stderr || String(e)
  }
}

const unmount = (dir: string) => {
  try {
    execFileSync("umount", [dir], { stdio: "pipe" })
  } catch {
    // Already gone, or still busy: the next line of the log says which.
    console.warn(`could not unmount ${dir}`)
  }
}

const isMounted = (dir: string) => readFileSync("/proc/self/mounts", "utf8").split("\n").some((line) => line.split(" ")[1] === dir)

const freeBytes = (dir: string) => {
  const s = statfsSync(dir)
  return s.bfree * s.bsize
}

const pages = (bytes: number) => Math.ceil(bytes / PAGE)

describe("checkpoint into a file system that is too small", () => {
  it("bhyvectl exits 1 naming ENOSPC, nothing is left behind, the older snapshot stays, and the guest ends as the reference", async ({ skip }) => {
    const root = mkdtempSync(join(tmpdir(), "bhyve-full-"))
    const probe = join(root, "probe")
    mkdirSync(probe)
    const refused = process.getuid?.() !== 0 ? "not running as root" : mountTmpfs(probe, 2 << 20)
    if (refused !== undefined) {
      console.log(`full-disk checkpoint test skipped: cannot mount a tmpfs here (${refused})`)
      skip()
      return
    }
    unmount(probe)

    const name = `full-${process.pid}`
    const socket = join(root, "ctl")
    const vm = startCompute({ name, socket, memory: "64M", steps: STEPS, every: EVERY })
    const mounted: Array<string> = []
    const mountAt = (leaf: string, bytes: number) => {
      const dir = join(root, leaf)
      mkdirSync(dir)
      const failed = mountTmpfs(dir, bytes)
      if (failed !== undefined) throw new Error(`mount ${dir}: ${failed}`)
      mounted.push(dir)
      return dir
    }
    try {
      await waitForLines(vm, 1)
      // How big this guest's snapshot is, from one written where there is room.
      const sized = await checkpointNow(name, socket, join(root, "sizing.snap"))
      const ramPages = 1 + pages(Number(sized.details.ramBytesWritten)) // the RAM header page, then the non-zero blocks
      const statePages = pages(Number(sized.details.stateBytes))
      expect(statePages).toBeGreaterThan(2)

      const checkpointFails = async (dir: string) => {
        const ctl = startBhyvectl([`--vm=${name}`, `--socket=${socket}`, `--checkpoint=${join(dir, "vm.snap")}`])
        const status = await ctl.closed
        expect(status).toBe(1)
        expect(ctl.stderr()).toMatch(/^bhyvectl: checkpoint failed at write: .*ENOSPC/)
        return ctl.stderr()
      }

      // 1. Not even the RAM file fits.
      const tiny = mountAt("tiny", (ramPages - 8) * PAGE)
      const tinyFree = freeBytes(tiny)
      const tinyError = await checkpointFails(tiny)
      expect(tinyError).toMatch(/\.ram\.tmp failed \(ENOSPC\)/)
      expect(readdirSync(tiny)).toEqual([])
      expect(freeBytes(tiny)).toBe(tinyFree)

      // 2. The RAM file fits (and is renamed into place), the state file does not: the RAM file must go too.
      const tight = mountAt("tight", (ramPages + 2) * PAGE)
      const tightFree = freeBytes(tight)
      const tightError = await checkpointFails(tight)
      expect(tightError).toMatch(/vm\.snap\.[0-9a-f]{16}\.tmp failed \(ENOSPC\)/)
      expect(readdirSync(tight)).toEqual([])
      expect(freeBytes(tight)).toBe(tightFree)

      // 3. One snapshot fits, a second beside it (before the first can go) does not: the first stays, whole.
      const one = mountAt("one", (2 * ramPages + statePages - 16) * PAGE)
      const older = join(one, "vm.snap")
      const ok = startBhyvectl([`--vm=${name}`, `--socket=${socket}`, `--checkpoint=${older}`])
      expect(await ok.closed, ok.stderr()).toBe(0)
      const olderFiles = readdirSync(one).sort()
      const olderId = await manifestIdAt(older)
      expect(olderId).toBeDefined()
      const oneFree = freeBytes(one)
      await checkpointFails(one)
      expect(readdirSync(one).sort()).toEqual(olderFiles)
      expect(freeBytes(one)).toBe(oneFree)
      expect(await manifestIdAt(older)).toBe(olderId)

      // The guest ran on through all of it.
      expect(await vm.closed).toBe(1)
      const reference = referenceOf(STEPS, EVERY)
      expect(vm.stdout()).toBe(reference)

      const restored = await restoreRun(older, join(root, "ctl2"))
      expect(restored.status, restored.stderr).toBe(1)
      expect(reference.endsWith(restored.stdout)).toBe(true)
      expect(restored.stdout).toMatch(DONE_LINE)
      console.log(
        `full disk: snapshot of a 64 MiB compute guest is ${ramPages} RAM pages + ${statePages} state pages; ` +
          `bhyvectl said:\n  ${tinyError.trim()}\n  ${tightError.trim()}`
      )
    } finally {
      vm.kill("SIGKILL")
      await vm.closed
      for (const dir of mounted) unmount(dir)
      if (mounted.every((dir) => !isMounted(dir))) rmSync(root, { recursive: true, force: true })
    }
  }, 60_000)
})
