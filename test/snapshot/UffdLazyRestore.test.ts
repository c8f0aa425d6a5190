import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, writeSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { CpuBackendName } from "../../src/kernel/Cpu.js"
import { GuestMemory } from "../../src/kernel/GuestMemory.js"
import type { MachineConfig } from "../../src/machine/MachineConfig.js"
import { lazyRestoreOf } from "../../src/snapshot/format/LazyRamRestore.js"
import * as SnapshotFsLive from "../../src/snapshot/format/SnapshotFsLive.js"
import { readManifest } from "../../src/snapshot/format/SnapshotReader.js"
import * as MachineSnapshots from "../../src/snapshot/MachineSnapshots.js"
import { spawn } from "node:child_process"
import { bhyveBin, startBhyve } from "../support/BhyveProcess.js"
import { guestPath } from "../support/GuestRun.js"
import { guestBackends } from "../support/Kvm.js"

/*
 * snapshot.ram=lazy (the default restore): guest RAM is empty anonymous
 * memory registered with userfaultfd, and a native thread fills each 1 MiB
 * block, checked against the manifest's SHA-256, when the guest first
 * touches it, and the rest in the background. The guest is memtouch.elf
 * with 64 MiB (64 blocks) written in a pattern it checks every 256 lines.
 */

const TOUCH_MIB = 64
const sleep = (ms: number) => Effect.promise(() => new Promise((r) => setTimeout(r, ms)))
const ramFileOf = (dir: string) => join(dir, readdirSync(dir).find((f) => f.endsWith(".ram")) ?? "missing.ram")

const memtouchConfig = (backend: CpuBackendName, out: string): MachineConfig => ({
  name: `lazy-${backend}`,
  cpus: 1,
  memoryBytes: 256 << 20,
  boot: { kernel: guestPath("memtouch.elf"), cmdline: `touch=${TOUCH_MIB}` },
  serial: [{ port: "com1", backend: { _tag: "file", path: out } }],
  slots: [],
  strictBus: false,
  options: { "cpu.backend": backend }
})

const read = (path: string) => {
  try {
    return readFileSync(path, "utf8")
  } catch {
    return ""
  }
}

const waitForLine = (path: string, line: RegExp, timeoutMs: number) =>
  Effect.gen(function*() {
    const deadline = performance.now() + timeoutMs
    while (!line.test(read(path))) {
      if (performance.now() > deadline) return yield* Effect.die(new Error(`no ${line} in ${path} after ${timeoutMs} ms: ${read(path).slice(-200)}`))
      yield* sleep(20)
    }
  })

/** A memtouch guest checkpointed after it filled its memory and printed a few lines; the snapshot's path. */
const memtouchSnapshot = (backend: CpuBackendName) =>
  Effect.scoped(Effect.gen(function*() {
    const dir = mkdtempSync(join(tmpdir(), `bhyve-uffd-${backend}-`))
    const out = join(dir, "original.txt")
    const machine = yield* MachineSnapshots.fromConfig(memtouchConfig(backend, out))
    const running = yield* Effect.fork(machine.run)
    yield* waitForLine(out, /alive 20\n/, 60_000)
    yield* machine.checkpoint(join(dir, "vm.snap"))
    yield* Fiber.interrupt(running)
    return join(dir, "vm.snap")
  }).pipe(Effect.provide(SnapshotFsLive.layer)))

const restoreLazily = (path: string, out: string) =>
  MachineSnapshots.restore({ path, overrides: { serial: [{ port: "com1", backend: { _tag: "file", path: out } }] } })
    .pipe(Effect.provide(SnapshotFsLive.layer))

describe.each(guestBackends)("lazy restore through userfaultfd on the %s CPU", (backend) => {
  it.scoped("the restored guest checks all 64 touched MiB and goes on, with nothing of the RAM file read up front", () =>
    Effect.gen(function*() {
      const path = yield* memtouchSnapshot(backend)
      const out = join(path, "..", "restored.txt")
      const { machine, report } = yield* restoreLazily(path, out)
      expect(report.ram).toBe("lazy")
      expect(report.ramBytesRead).toBe(0)
      const running = yield* Effect.fork(machine.run)
      yield* waitForLine(out, /verified \d+\n/, 60_000)
      const lines = read(out).split("\n")
      expect(lines.some((l) => l.startsWith("corrupt"))).toBe(false)
      // It picked up where it was saved (mid-line, maybe): its first whole line comes after the snapshot's 20th.
      const first = lines.map((l) => /^alive (\d+)$/.exec(l)).find((m) => m !== null)
      expect(Number(first?.[1])).toBeGreaterThan(20)
      yield* Fiber.interrupt(running)
    }), 180_000)

  it.scoped("with the background pass held back, page faults alone fill the touched memory, each block checked, and the guest verifies it", () =>
    Effect.gen(function*() {
      const path = yield* memtouchSnapshot(backend)
      const out = join(path, "..", "restored.txt")
      const ENV = "BHYVE_TEST_LAZY_RESTORE_BACKGROUND_DELAY_MS"
      yield* Effect.acquireRelease(Effect.sync(() => (process.env[ENV] = "120000")), () => Effect.sync(() => delete process.env[ENV]))
      const { machine, report } = yield* restoreLazily(path, out)
      const lazy = report.lazy
      if (lazy === undefined) return yield* Effect.die(new Error("the restore was not lazy"))
      const running = yield* Effect.fork(machine.run)
      yield* waitForLine(out, /verified \d+\n/, 60_000)
      expect(read(out)).not.toMatch(/corrupt/)
      const stats = yield* lazy.stats
      // The guest's check read all 64 touched blocks: each came through a fault (KVM: EPT fault -> get_user_pages; soft: a host load).
      expect(stats.backgroundBlocks).toBe(0)
      expect(stats.faultBlocks).toBeGreaterThanOrEqual(TOUCH_MIB)
      expect(stats.registered).toBe(true)
      yield* Fiber.interrupt(running)
    }), 180_000)

  it.scopedLive("the background pass installs every block, then unregisters guest RAM from the userfaultfd", () =>
    Effect.gen(function*() {
      const path = yield* memtouchSnapshot(backend)
      const { manifest } = yield* readManifest(path).pipe(Effect.provide(SnapshotFsLive.layer))
      const dataBlocks = manifest.ram.regions.flatMap((r) => r.blocks).filter((b) => b !== "zero").length
      const { machine, report } = yield* restoreLazily(path, join(path, "..", "restored.txt"))
      const lazy = report.lazy
      if (lazy === undefined) return yield* Effect.die(new Error("the restore was not lazy"))
      expect((yield* lazy.stats).registered).toBe(true)
      // What a background checkpoint asks before it registers guest RAM itself.
      expect(lazyRestoreOf(Context.get(machine.context, GuestMemory))).toBe(lazy)
      const running = yield* Effect.fork(machine.run)
      yield* Effect.timeoutFail(lazy.complete, { duration: 60_000, onTimeout: () => new Error("the background pass did not complete in 60 s") })
      const stats = yield* lazy.stats
      expect(stats).toMatchObject({ complete: true, registered: false, blocks: manifest.ram.regions.reduce((n, r) => n + r.blocks.length, 0) })
      // Every block passed once, by a fault or by the background pass; every data block was read.
      expect(stats.faultBlocks + stats.backgroundBlocks).toBeLessThanOrEqual(stats.blocks)
      expect(stats.bytesRead).toBeGreaterThanOrEqual(dataBlocks * manifest.ram.blockSize)
      expect(dataBlocks).toBeGreaterThanOrEqual(TOUCH_MIB)
      yield* Fiber.interrupt(running)
    }), 180_000)
})

/** bhyve -r of `path` as a process, until it exits by itself (or 60 s). */
const bhyveRestore = (path: string, env: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const saved = { ...process.env }
    Object.assign(process.env, env)
    const vm = startBhyve(["-r", path, "-o", `control.socket=${join(path, "..", "ctl")}`, "-l", "com1,stdio"])
    process.env = saved
    const timer = setTimeout(() => vm.kill("SIGKILL"), 60_000)
    const status = await vm.exited
    clearTimeout(timer)
    return { status, stdout: vm.stdout(), stderr: vm.stderr() }
  })

describe.each(guestBackends)("a lazy restore that cannot go on, on the %s CPU: exit 4, one line, never the guest on bad memory", (backend) => {
  const flippedBlock = (backgroundDelayMs?: number) =>
    Effect.gen(function*() {
      const path = yield* memtouchSnapshot(backend)
      const { manifest } = yield* readManifest(path).pipe(Effect.provide(SnapshotFsLive.layer))
      const region = manifest.ram.regions[0]
      const { blockSize } = manifest.ram
      // A block inside the touched range (from 16 MiB), which the guest reads at its next check.
      const index = (16 << 20) / blockSize + 10
      expect(region.blocks[index]).not.toBe("zero")
      const ram = ramFileOf(join(path, ".."))
      const at = region.fileOffset + index * blockSize + 4242
      const fd = openSync(ram, "r+")
      const byte = new Uint8Array(1)
      readSync(fd, byte, 0, 1, at)
      writeSync(fd, Uint8Array.of(byte[0] ^ 0x01), 0, 1, at)
      closeSync(fd)
      const run = yield* bhyveRestore(path, backgroundDelayMs === undefined ? {} : { BHYVE_TEST_LAZY_RESTORE_BACKGROUND_DELAY_MS: String(backgroundDelayMs) })
      expect(run.status).toBe(4)
      expect(run.stderr.trim()).toBe(`bhyve: ${ram}: checksum mismatch in ram block ${index} (gpa 0x${(region.gpa + index * blockSize).toString(16)}): the file is corrupt`)
      // Whatever it printed before the block was reached, it never read that block: no verdict on its memory.
      expect(run.stdout).not.toMatch(/verified|corrupt/)
      return run
    })

  it.scoped("a RAM block with one flipped byte: bhyve -r exits 4 naming the RAM file and the block, and the guest never gets to check that memory", () =>
    flippedBlock(), 180_000)

  it.scoped("the same block reached by the guest's own read (background pass held back): the fault is never served, exit 4 before the guest's check ends", () =>
    Effect.gen(function*() {
      const run = yield* flippedBlock(120_000)
      // It ran on (blocks filled by faults) until its check reached the bad block.
      expect(run.stdout).toMatch(/alive \d+\n/)
    }), 180_000)

  it.scoped("a handler thread that dies partway ends the VM with exit 4 and says so, never a hang", () =>
    Effect.gen(function*() {
      const path = yield* memtouchSnapshot(backend)
      const run = yield* bhyveRestore(path, { BHYVE_TEST_LAZY_RESTORE_DIE_AFTER: "5" })
      expect(run.status).toBe(4)
      expect(run.stderr.trim()).toMatch(
        new RegExp(`^bhyve: ${ramFileOf(join(path, "..")).replace(/[.]/g, "\\.")}: lazy restore: the page-fault handler thread stopped \\(injected failure\\) with 5 of \\d+ blocks done; the guest cannot go on$`)
      )
      expect(run.stdout).not.toMatch(/verified|corrupt/)
    }), 180_000)
})

/*
 * In a user namespace, root there lacks CAP_SYS_PTRACE in the host's, so
 * with vm.unprivileged_userfaultfd=0 (Debian's default) userfaultfd(2)
 * gives EPERM, while the files and /dev/kvm (owned by the same uid) stay
 * usable: a machine where lazy restore cannot be had.
 */
const unprivilegedUffd = read("/proc/sys/vm/unprivileged_userfaultfd").trim()

describe.each(guestBackends)("lazy restore without userfaultfd, on the %s CPU", (backend) => {
  it.runIf(unprivilegedUffd === "0")("says so in one line and copies RAM instead; the guest checks its memory and goes on", () =>
    Effect.runPromise(Effect.gen(function*() {
      const path = yield* memtouchSnapshot(backend)
      const run = yield* Effect.promise(() =>
        new Promise<{ stdout: string; stderr: string; status: number | null }>((resolve) => {
          const child = spawn("unshare", ["-r", process.execPath, bhyveBin, "-r", path, "-l", "com1,stdio", "-o", `control.socket=${join(path, "..", "ctl")}`], {
            stdio: ["ignore", "pipe", "pipe"]
          })
          let stdout = ""
          let stderr = ""
          const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
          child.stdout.setEncoding("utf8").on("data", (text: string) => {
            stdout += text
            if (/verified \d+\n/.test(stdout)) child.kill("SIGTERM")
          })
          child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text))
          child.on("close", (status) => {
            clearTimeout(timer)
            resolve({ stdout, stderr, status })
          })
        })
      )
      expect(run.stderr.split("\n")[0]).toBe("bhyve: -o snapshot.ram=lazy: userfaultfd unavailable (EPERM): copying RAM instead")
      expect(run.stdout).toMatch(/verified \d+\n/)
      expect(run.stdout).not.toMatch(/corrupt/)
      expect(run.status).toBe(143)
    })), 180_000)
})
