import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { besidesBackendNote, runBhyve, runBhyvectl, startBhyve, waitFor } from "../support/BhyveProcess.js"
import { guestPath } from "../support/GuestRun.js"

const SECTORS = 16384

/** What vblk.elf writes to the image, and the hash it prints, per the host reference. */
const reference = () => {
  const r = spawnSync(guestPath("vblk-reference"), [`sectors=${SECTORS}`, "seed=1"], { maxBuffer: 64 << 20 })
  return { image: r.stdout, hash: r.stderr.toString().trim().replace("write done ", "") }
}

const vblkArgs = (dir: string, name: string) => [
  "-c", "1", "-m", "256M", "-s", "0,hostbridge", "-s", `2,virtio-blk,${join(dir, "disk.img")}`, "-s", "31,lpc",
  "-l", "com1,stdio", "-o", `boot.kernel=${guestPath("vblk.elf")}`, "-o", `boot.cmdline=sectors=${SECTORS}`,
  "-o", `control.socket=${join(dir, "ctl")}`, name
]

describe("a guest with its own virtio-blk driver", () => {
  it("writes and reads back thousands of sectors; the image holds exactly the expected bytes", () => {
    const dir = mkdtempSync(join(tmpdir(), "bhyve-vblk-"))
    writeFileSync(join(dir, "disk.img"), new Uint8Array(16 << 20))
    const r = runBhyve(vblkArgs(dir, "vblk-a"), 120_000)
    const { image, hash } = reference()
    expect(r.status).toBe(1)
    expect(r.stdout).toContain(`write done ${hash}\n`)
    expect(r.stdout.endsWith(`verify ok ${hash}\n`)).toBe(true)
    expect(Buffer.compare(readFileSync(join(dir, "disk.img")).subarray(0, SECTORS * 512), image)).toBe(0)
  }, 150_000)

  it("suspended in the middle of its writes and restored with bhyve -r alone, finishes with the same hash and image", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bhyve-vblk-snap-"))
    writeFileSync(join(dir, "disk.img"), new Uint8Array(16 << 20))
    const vm = startBhyve(vblkArgs(dir, "vblk-b"))
    await waitFor("the first writes", () => vm.stdout().includes("written 1024"), 60_000)
    const ctl = runBhyvectl(["--vm=vblk-b", `--socket=${join(dir, "ctl")}`, `--suspend=${join(dir, "vm.snap")}`])
    expect(besidesBackendNote(ctl.stderr)).toBe("")
    expect(ctl.status).toBe(0)
    expect(await vm.exited).toBe(0)
    expect(vm.stdout()).not.toContain("write done")
    const restored = runBhyve(["-r", join(dir, "vm.snap"), "-o", `control.socket=${join(dir, "ctl2")}`], 120_000)
    expect(besidesBackendNote(restored.stderr)).toBe("")
    expect(restored.status).toBe(1)
    const { image, hash } = reference()
    const all = vm.stdout() + restored.stdout
    expect(all).toContain(`write done ${hash}\n`)
    expect(all.endsWith(`verify ok ${hash}\n`)).toBe(true)
    expect(Buffer.compare(readFileSync(join(dir, "disk.img")).subarray(0, SECTORS * 512), image)).toBe(0)
  }, 180_000)
})
