import { describe, expect, it } from "@effect/vitest"
import { existsSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { besidesBackendNote, runBhyve, startBhyve, waitFor } from "../support/BhyveProcess.js"
import { guestPath } from "../support/GuestRun.js"

const boot = (kernel: string, cmdline?: string) => [
  "-c", "1", "-m", "256M", "-l", "com1,stdio",
  "-o", `boot.kernel=${kernel}`,
  ...(cmdline === undefined ? [] : ["-o", `boot.cmdline=${cmdline}`]),
  "vm1"
]

describe("the bhyve command", () => {
  it("boots a PVH guest, shows its console on stdout and exits 1 when it powers off", () => {
    const r = runBhyve(boot(guestPath("hello.elf"), "console=com1 quiet"))
    expect(r.stdout).toBe("hello: console=com1 quiet\nbye\n")
    expect(besidesBackendNote(r.stderr)).toBe("")
    expect(r.status).toBe(1)
  })

  it("exits 3 when the guest triple-faults", () => {
    const r = runBhyve(boot(guestPath("triple.elf")))
    expect(r.stdout).toBe("about to triple fault\n")
    expect(r.status).toBe(3)
  })

  it("exits 4 naming a kernel file that does not exist", () => {
    const r = runBhyve(boot("/nonexistent/kernel.elf"))
    expect(r.status).toBe(4)
    expect(r.stderr).toBe("bhyve: cannot read kernel /nonexistent/kernel.elf: ENOENT\n")
  })

  it("exits 4 for a kernel that is not an ELF file", () => {
    const path = join(tmpdir(), `not-elf-${process.pid}`)
    writeFileSync(path, "#!/bin/sh\necho not a kernel\n")
    const r = runBhyve(boot(path))
    expect(r.status).toBe(4)
    expect(r.stderr).toContain(`kernel ${path} is not an ELF file`)
  })

  it("exits 4 for a truncated kernel, saying where", () => {
    const path = join(tmpdir(), `truncated-${process.pid}.elf`)
    writeFileSync(path, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0]))
    const r = runBhyve(boot(path))
    expect(r.status).toBe(4)
    expect(besidesBackendNote(r.stderr)).toMatch(/^bhyve: .*truncated/)
  })

  it("exits 4 for an unknown flag without starting a machine", () => {
    const r = runBhyve(["-Z", "vm1"])
    expect(r.status).toBe(4)
    expect(r.stderr).toBe("bhyve: unknown option -Z\n")
  })

  it("exits 4 for a bad memory size", () => {
    const r = runBhyve(["-m", "12Q", "-o", `boot.kernel=${guestPath("hello.elf")}`, "vm1"])
    expect(r.status).toBe(4)
    expect(r.stderr).toBe("bhyve: -m 12Q: unknown size suffix 'Q' (expected K, M, G or T)\n")
  })

  it("exits 4 when no kernel is given", () => {
    const r = runBhyve(["-m", "64M", "vm1"])
    expect(r.status).toBe(4)
    expect(r.stderr).toBe("bhyve: boot.kernel is required: pass -o boot.kernel=PATH\n")
  })

  it("prints its usage with --help and exits 0", () => {
    const r = runBhyve(["--help"])
    expect(r.status).toBe(0)
    expect(r.stdout).toContain("Usage: bhyve")
  })
})

describe("stopping bhyve from outside", () => {
  it("SIGTERM stops the guest, releases the VM and its control socket, and exits 143", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bhyve-term-"))
    const socket = join(dir, "ctl")
    const vm = startBhyve([
      "-m", "64M", "-l", "com1,stdio", "-o", `boot.kernel=${guestPath("timer.elf")}`, "-o", "boot.cmdline=ticks=100000",
      "-o", `control.socket=${socket}`, "terminated"
    ])
    await waitFor("the first tick", () => vm.stdout().includes("tick 10"))
    vm.kill("SIGTERM")
    expect(await vm.exited).toBe(143)
    expect(besidesBackendNote(vm.stderr())).toBe("bhyve: stopped by SIGTERM\n")
    expect(existsSync(socket)).toBe(false)
  }, 30_000)
})
