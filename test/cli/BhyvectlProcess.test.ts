import { describe, expect, it } from "@effect/vitest"
import { mkdtempSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runBhyve, runBhyvectl, startBhyve, waitFor } from "../support/BhyveProcess.js"
import { guestPath } from "../support/GuestRun.js"

const timerArgs = (socket: string, name: string, ticks = 3000) => [
  "-m", "64M", "-l", "com1,stdio", "-o", `boot.kernel=${guestPath("timer.elf")}`, "-o", `boot.cmdline=ticks=${ticks}`,
  "-o", `control.socket=${socket}`, name
]

describe("bhyvectl against a running bhyve", () => {
  it("a second bhyve with the same name refuses to start; --status, --pause, --resume and --destroy answer", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bhyvectl-"))
    const socket = join(dir, "ctl")
    const vm = startBhyve(timerArgs(socket, "busy"))
    await waitFor("the first tick", () => vm.stdout().includes("tick 10"))
    expect(statSync(socket).mode & 0o777).toBe(0o600)

    const second = runBhyve(timerArgs(socket, "busy"))
    expect(second.status).toBe(4)
    expect(second.stderr).toContain("already running")

    const status = runBhyvectl(["--vm=busy", `--socket=${socket}`, "--status", "--json"])
    expect(status.status).toBe(0)
    const reply = JSON.parse(status.stdout) as { name: string; state: string; devices: Array<{ id: string }> }
    expect(reply.name).toBe("busy")
    expect(reply.state).toBe("running")
    expect(reply.devices.map((d) => d.id)).toContain("com1")

    expect(runBhyvectl(["--vm=busy", `--socket=${socket}`, "--pause"]).status).toBe(0)
    // spawnSync held this process's event loop: let bhyve's output from before the pause arrive first.
    await new Promise((r) => setTimeout(r, 200))
    const whilePaused = vm.stdout()
    await new Promise((r) => setTimeout(r, 300))
    expect(vm.stdout()).toBe(whilePaused)
    expect(JSON.parse(runBhyvectl(["--vm=busy", `--socket=${socket}`, "--status", "--json"]).stdout).state).toBe("paused")
    expect(runBhyvectl(["--vm=busy", `--socket=${socket}`, "--resume"]).status).toBe(0)
    await waitFor("ticks after resuming", () => vm.stdout().length > whilePaused.length)

    expect(runBhyvectl(["--vm=busy", `--socket=${socket}`, "--destroy"]).status).toBe(0)
    expect(await vm.exited).toBe(4)
    expect(() => statSync(socket)).toThrow()
  }, 60_000)

  it("a checkpoint to a missing directory fails with a message and the guest runs on to its end", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bhyvectl-missing-"))
    const socket = join(dir, "ctl")
    const vm = startBhyve(timerArgs(socket, "survivor", 300))
    await waitFor("the first tick", () => vm.stdout().includes("tick 10"))
    const r = runBhyvectl(["--vm=survivor", `--socket=${socket}`, `--checkpoint=${join(dir, "no", "such", "dir", "x.snap")}`])
    expect(r.status).not.toBe(0)
    expect(r.stderr).toMatch(/^bhyvectl: .*checkpoint failed/)
    expect(await vm.exited).toBe(1)
    expect(vm.stdout().endsWith("ticks done 300\n")).toBe(true)
  }, 60_000)

  it("names a VM that is not running", () => {
    const r = runBhyvectl(["--vm=nobody", `--socket=${join(tmpdir(), "no-such-socket")}`, "--status"])
    expect(r.status).toBe(1)
    expect(r.stderr).toContain("nobody")
  })
})
