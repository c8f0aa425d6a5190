import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { closeSync, mkdtempSync, openSync, writeFileSync, writeSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { besidesBackendNote, runBhyve, runBhyvectl, startBhyve, waitFor } from "../support/BhyveProcess.js"
import { guestPath } from "../support/GuestRun.js"

const args = (dir: string, name: string) => [
  "-m", "64M", "-s", "0,hostbridge", "-s", `2,virtio-blk,${join(dir, "disk.img")}`, "-s", "3,virtio-rnd", "-s", "31,lpc",
  "-l", "com1,stdio", "-o", `boot.kernel=${guestPath("compute.elf")}`, "-o", "boot.cmdline=steps=2000000 every=100000",
  "-o", `control.socket=${join(dir, "ctl")}`, name
]

const suspendMidway = async (dir: string, name: string) => {
  writeFileSync(join(dir, "disk.img"), new Uint8Array(4 << 20))
  const vm = startBhyve(args(dir, name))
  await waitFor("the guest's first lines", () => vm.stdout().split("\n").length > 2)
  expect(runBhyvectl([`--vm=${name}`, `--socket=${join(dir, "ctl")}`, `--suspend=${join(dir, "vm.snap")}`]).status).toBe(0)
  expect(await vm.exited).toBe(0)
  return vm.stdout()
}

describe("a machine with PCI devices", () => {
  it("is suspended and restored with bhyve -r alone, its PCI devices rebuilt from the manifest", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bhyve-pci-"))
    const before = await suspendMidway(dir, "pci-a")
    const restored = runBhyve(["-r", join(dir, "vm.snap"), "-o", `control.socket=${join(dir, "ctl2")}`], 60_000)
    expect(besidesBackendNote(restored.stderr)).toBe("")
    expect(restored.status).toBe(1)
    const expected = execFileSync(guestPath("compute-reference"), ["steps=2000000", "every=100000"], { encoding: "utf8" })
    expect(before + restored.stdout).toBe(expected)
  }, 90_000)

  it("is not restored onto a disk image that changed since the save, unless told to", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bhyve-pci-disk-"))
    await suspendMidway(dir, "pci-b")
    const fd = openSync(join(dir, "disk.img"), "r+")
    writeSync(fd, Buffer.from("someone else's data"), 0, 19, 4096)
    closeSync(fd)
    const refused = runBhyve(["-r", join(dir, "vm.snap"), "-o", `control.socket=${join(dir, "ctl2")}`])
    expect(refused.status).toBe(4)
    expect(refused.stderr).toContain("virtio-blk.pci.0.2.0")
    expect(refused.stderr).toContain("fingerprint differs")
    const forced = runBhyve(["-r", join(dir, "vm.snap"), "-o", `control.socket=${join(dir, "ctl3")}`, "-o", "snapshot.ignore_device_changes=true"], 60_000)
    expect(forced.status).toBe(1)
  }, 90_000)
})
