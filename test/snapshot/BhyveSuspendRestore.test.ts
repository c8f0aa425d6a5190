import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { mkdtempSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { besidesBackendNote, runBhyve, runBhyvectl, startBhyve, waitFor } from "../support/BhyveProcess.js"
import { guestPath } from "../support/GuestRun.js"

const STEPS = 1_500_000
const EVERY = 50_000
const expected = () => execFileSync(guestPath("compute-reference"), [`steps=${STEPS}`, `every=${EVERY}`], { encoding: "utf8" })

const computeArgs = (socket: string, name: string) => [
  "-c", "1", "-m", "64M", "-l", "com1,stdio",
  "-o", `boot.kernel=${guestPath("compute.elf")}`,
  "-o", `boot.cmdline=steps=${STEPS} every=${EVERY}`,
  "-o", `control.socket=${socket}`,
  name
]

const lines = (s: string) => s.split("\n").length - 1

describe("bhyvectl --suspend / --checkpoint and bhyve -r, as separate processes", () => {
  it("suspend halfway, restore with -r alone: the two outputs together are the uninterrupted run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bhyve-suspend-"))
    const socket = join(dir, "ctl")
    const snapshot = join(dir, "vm.snap")
    const vm = startBhyve(computeArgs(socket, "suspender"))
    await waitFor("the guest's first lines", () => lines(vm.stdout()) >= 3)
    const ctl = runBhyvectl(["--vm=suspender", `--socket=${socket}`, `--suspend=${snapshot}`])
    expect(besidesBackendNote(ctl.stderr)).toBe("")
    expect(ctl.status).toBe(0)
    expect(await vm.exited).toBe(0)
    expect(lines(vm.stdout())).toBeLessThan(30)
    expect(statSync(snapshot).mode & 0o777).toBe(0o600)

    const restored = runBhyve(["-r", snapshot, "-o", `control.socket=${join(dir, "ctl2")}`], 60_000)
    expect(besidesBackendNote(restored.stderr)).toBe("")
    expect(restored.status).toBe(1)
    expect(vm.stdout() + restored.stdout).toBe(expected())
  }, 120_000)

  it("a mapped restore (-o snapshot.ram=map) and a bad restore option, from one suspended snapshot", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bhyve-lazy-cli-"))
    const socket = join(dir, "ctl")
    const snapshot = join(dir, "vm.snap")
    const vm = startBhyve(computeArgs(socket, "lazy"))
    await waitFor("the guest's first lines", () => lines(vm.stdout()) >= 3)
    expect(runBhyvectl(["--vm=lazy", `--socket=${socket}`, `--suspend=${snapshot}`]).status).toBe(0)
    expect(await vm.exited).toBe(0)

    const bad = runBhyve(["-r", snapshot, "-o", "snapshot.ram=mmap", "-o", `control.socket=${join(dir, "ctl2")}`])
    expect(bad.stderr).toBe("bhyve: -o snapshot.ram=mmap: expected lazy, copy or map\n")
    expect(bad.status).toBe(4)

    const restored = runBhyve(["-r", snapshot, "-o", "snapshot.ram=map", "-o", `control.socket=${join(dir, "ctl2")}`], 60_000)
    expect(besidesBackendNote(restored.stderr)).toBe("")
    expect(restored.status).toBe(1)
    expect(vm.stdout() + restored.stdout).toBe(expected())
  }, 120_000)

  it("checkpoint: the original runs on to the same end, and a restored copy does too", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bhyve-checkpoint-"))
    const socket = join(dir, "ctl")
    const snapshot = join(dir, "vm.snap")
    const vm = startBhyve(computeArgs(socket, "checkpointer"))
    await waitFor("the guest's first lines", () => lines(vm.stdout()) >= 3)
    const ctl = runBhyvectl(["--vm=checkpointer", `--socket=${socket}`, `--checkpoint=${snapshot}`])
    expect(ctl.status).toBe(0)
    expect(await vm.exited).toBe(1)
    expect(vm.stdout()).toBe(expected())

    const restored = runBhyve(["-r", snapshot, "-o", `control.socket=${join(dir, "ctl2")}`], 60_000)
    expect(restored.status).toBe(1)
    // The copy starts where the checkpoint was taken: partway, not from the beginning.
    expect(expected().endsWith(restored.stdout)).toBe(true)
    expect(restored.stdout.length).toBeGreaterThan(0)
    expect(restored.stdout.length).toBeLessThan(expected().length)
  }, 120_000)

  it("a PIT-interrupt guest keeps ticking at 100 Hz after restore", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bhyve-timer-"))
    const socket = join(dir, "ctl")
    const snapshot = join(dir, "timer.snap")
    const vm = startBhyve([
      "-m", "64M", "-l", "com1,stdio", "-o", `boot.kernel=${guestPath("timer.elf")}`, "-o", "boot.cmdline=ticks=500",
      "-o", `control.socket=${socket}`, "ticker"
    ])
    await waitFor("a few ticks", () => lines(vm.stdout()) >= 4)
    expect(runBhyvectl(["--vm=ticker", `--socket=${socket}`, `--suspend=${snapshot}`]).status).toBe(0)
    expect(await vm.exited).toBe(0)
    const started = Date.now()
    const restored = runBhyve(["-r", snapshot, "-o", `control.socket=${join(dir, "ctl2")}`], 60_000)
    const elapsed = Date.now() - started
    expect(restored.status).toBe(1)
    const ticks = Array.from({ length: 50 }, (_, i) => `tick ${(i + 1) * 10}\n`).join("") + "ticks done 500\n"
    expect(vm.stdout() + restored.stdout).toBe(ticks)
    // The remaining ticks took real time at 100 Hz, not an instant catch-up.
    const remaining = 500 - 10 * lines(vm.stdout())
    expect(elapsed).toBeGreaterThan(remaining * 10 * 0.8)
  }, 120_000)

  it("refuses flags that contradict the snapshot, listing each difference, with exit 4", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bhyve-conflict-"))
    const socket = join(dir, "ctl")
    const snapshot = join(dir, "vm.snap")
    const vm = startBhyve(computeArgs(socket, "conflicted"))
    await waitFor("the guest's first lines", () => lines(vm.stdout()) >= 1)
    expect(runBhyvectl(["--vm=conflicted", `--socket=${socket}`, `--suspend=${snapshot}`]).status).toBe(0)
    await vm.exited
    const r = runBhyve(["-r", snapshot, "-c", "2", "-m", "128M", "-o", `control.socket=${join(dir, "ctl2")}`])
    expect(r.status).toBe(4)
    expect(r.stderr).toContain("contradicts the snapshot")
    expect(r.stderr).toContain("cpus (-c): snapshot has 1, command line says 2")
    expect(r.stderr).toContain("memory (-m): snapshot has 67108864, command line says 134217728")
  }, 120_000)
})
